"""``GET .../pods/{name}/log``: the container's log, proxied from the node's kubelet.

As upstream's pkg/registry/core/pod/rest/log.go (LogREST.Get) and pod.LogLocation: the
PodLogOptions from the query are converted and validated (400 for a value that is not
one, 422 for ValidatePodLogOptions), the pod must exist (404) and name one of its
containers (400), an unscheduled pod has an empty log (a LocationStreamer without a
location: 200, no body), and otherwise the kubelet's ``/containerLogs/{ns}/{pod}/{container}``
is fetched over plain HTTP from the node's address and daemon endpoint port, its body streamed
through as text/plain (``follow=true`` until either side closes).  A kubelet that cannot be
located or reached is a 503 ServiceUnavailable with the Go client's wording (upstream sends
it as a reasonless 500; here a 500 always means a bug in this server); a kubelet's error
answer goes through GenericHttpResponseChecker.

``PodLogs.locate`` is synchronous (store reads); ``stream_log`` is the asyncio half on the RSGI path.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime, timezone
from typing import Any, NamedTuple
from urllib.parse import urlencode

import orjson

from pyk8s.api import errors
from pyk8s.api.errors import StatusError, bad_request, forbidden, invalid_value
from pyk8s.apiserver.routing import Route
from pyk8s.store import Storage

__all__ = ["LogTarget", "PodLogs", "stream_log", "kubelet_query", "LOG_HEADERS", "KUBELET_CONNECT_TIMEOUT"]

log = logging.getLogger(__name__)

LOG_HEADERS = [("content-type", "text/plain")]
# Seconds to open a connection to a kubelet; an unreachable node is an error, never a hang.
# There is no limit on the answer itself: a followed log of a quiet container sends nothing
# (not even headers) until it writes a line.
KUBELET_CONNECT_TIMEOUT = 5.0
# kube-apiserver's --kubelet-port default, for a node that reports no daemon endpoint.
DEFAULT_KUBELET_PORT = 10250
# Node address types in the order they are tried (the InternalIP first, as clusters whose
# node names do not resolve configure --kubelet-preferred-address-types).
ADDRESS_TYPES = ("InternalIP", "Hostname", "InternalDNS", "ExternalIP", "ExternalDNS")
# GenericHttpResponseChecker reads at most this much of a kubelet's error answer.
_MAX_ERROR_BODY = 50000
_READ_SIZE = 65536
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_INT64_MAX = 2**63 - 1


class LogTarget(NamedTuple):
    host: str
    port: int
    path: str  # /containerLogs/... with its query
    pod: str  # the pod's name, for error messages

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{self.path}"


# -- PodLogOptions from the query (upstream's query parameter conversions) ---------------------


def _query_bool(value: str) -> bool:
    # Convert_Slice_string_To_bool: only "0" and "false" (any case) are false; even an empty
    # value is true (``?follow``).
    return not (value == "0" or value.lower() == "false")


def _query_int(value: str) -> int:
    # strconv.ParseInt(value, 10, 64), whose errors the request decoding reports as 400s.
    digits = value[1:] if value[:1] in "+-" else value
    if not digits or not digits.isascii() or not digits.isdigit():
        raise bad_request(f'strconv.ParseInt: parsing "{value}": invalid syntax')
    number = int(value)
    if not -_INT64_MAX - 1 <= number <= _INT64_MAX:
        raise bad_request(f'strconv.ParseInt: parsing "{value}": value out of range')
    return number


def _query_time(value: str) -> str:
    """metav1.Time's UnmarshalQueryParameter (RFC 3339; empty is the zero time), formatted
    back with second precision in UTC, as LogLocation passes it to the kubelet."""
    if value in ("", "null"):
        return "0001-01-01T00:00:00Z"
    if not _RFC3339.match(value):
        raise bad_request(f'parsing time "{value}" as "2006-01-02T15:04:05Z07:00": cannot parse "{value}" as RFC 3339')
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise bad_request(f'parsing time "{value}": {exc}') from None
    return parsed.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def kubelet_query(name: str, params: dict[str, str]) -> tuple[str, str]:
    """``(container, query)``: the container asked for, and the kubelet's query string
    (url.Values.Encode: sorted keys) after ValidatePodLogOptions (422 PodLogOptions)."""
    query: dict[str, str] = {}
    for flag in ("follow", "previous", "timestamps"):
        if flag in params and _query_bool(params[flag]):
            query[flag] = "true"
    numbers = {key: _query_int(params[key]) for key in ("sinceSeconds", "tailLines", "limitBytes") if key in params}
    since_time = _query_time(params["sinceTime"]) if "sinceTime" in params else None
    causes = []
    tail = numbers.get("tailLines")
    if tail is not None and tail < 0:
        causes.append(invalid_value("tailLines", tail, "must be greater than or equal to 0"))
    limit = numbers.get("limitBytes")
    if limit is not None and limit < 1:
        causes.append(invalid_value("limitBytes", limit, "must be greater than 0"))
    since = numbers.get("sinceSeconds")
    if since is not None and since_time is not None:
        causes.append(forbidden("", "at most one of `sinceTime` or `sinceSeconds` may be specified"))
    elif since is not None and since < 1:
        causes.append(invalid_value("sinceSeconds", since, "must be greater than 0"))
    if causes:
        raise errors.invalid("PodLogOptions", name, causes)
    for key, number in numbers.items():
        query[key] = str(number)
    if since_time is not None:
        query["sinceTime"] = since_time
    return params.get("container", ""), urlencode(sorted(query.items()))


def _container_names(spec: dict[str, Any]) -> list[str]:
    # podutil.VisitContainers' order: init containers, containers, ephemeral containers.
    names = []
    for key in ("initContainers", "containers", "ephemeralContainers"):
        names.extend(c.get("name", "") for c in spec.get(key) or () if isinstance(c, dict))
    return names


def _choose_container(container: str, pod: dict[str, Any]) -> str:
    """validateContainer: a named container must be the pod's; without one, the pod's only
    (regular) container."""
    spec = pod.get("spec") or {}
    name = pod["metadata"]["name"]
    if container:
        if container not in _container_names(spec):
            raise bad_request(f"container {container} is not valid for pod {name}")
        return container
    containers = spec.get("containers") or []
    if len(containers) == 1:
        return containers[0].get("name", "")
    if not containers:
        raise bad_request(f"a container name must be specified for pod {name}")
    # Go's %v of a []string: [a b c]
    choices = "[" + " ".join(_container_names(spec)) + "]"
    raise bad_request(f"a container name must be specified for pod {name}, choose one of: {choices}")


def _node_address(node: dict[str, Any]) -> str:
    addresses = [a for a in (node.get("status") or {}).get("addresses") or () if isinstance(a, dict)]
    for wanted in ADDRESS_TYPES:
        for address in addresses:
            if address.get("type") == wanted and address.get("address"):
                return address["address"]
    # nodeutil.GetPreferredNodeAddress's NoMatchError, which upstream reports unconverted.
    known = " ".join("{%s %s}" % (a.get("type", ""), a.get("address", "")) for a in addresses)
    raise StatusError(503, "ServiceUnavailable", f"no preferred addresses found; known addresses: [{known}]")


def _kubelet_port(node: dict[str, Any]) -> int:
    endpoint = ((node.get("status") or {}).get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}
    port = endpoint.get("Port")
    return port if type(port) is int and 0 < port < 65536 else DEFAULT_KUBELET_PORT


class PodLogs:
    def __init__(self, store: Storage) -> None:
        self.store = store

    def locate(self, route: Route, params: dict[str, str]) -> LogTarget | None:
        """Where the log is, or None for a pod no node runs yet (an empty log).  Raises
        StatusError in LogREST.Get's order: options, pod, container, node."""
        container, query = kubelet_query(route.name, params)
        found = self.store.get("pods", route.namespace, route.name)
        if found is None:
            raise errors.not_found("pods", route.name)
        pod = orjson.loads(found[0])
        container = _choose_container(container, pod)
        node_name = (pod.get("spec") or {}).get("nodeName", "")
        if not node_name:
            return None
        node_found = self.store.get("nodes", "", node_name)
        if node_found is None:
            raise errors.not_found("nodes", node_name)
        node = orjson.loads(node_found[0])
        path = f"/containerLogs/{route.namespace}/{route.name}/{container}"
        if query:
            path += "?" + query
        return LogTarget(_node_address(node), _kubelet_port(node), path, route.name)


# -- the kubelet's answer, streamed ------------------------------------------------------------


def _transport_error(target: LogTarget, detail: str) -> StatusError:
    # Upstream's StreamObject makes this a reasonless 500; the kubelet being away is no bug here.
    return StatusError(503, "ServiceUnavailable", f'Get "{target.url}": {detail}')


def _kubelet_error(target: LogTarget, code: int, text: str) -> StatusError:
    """GenericHttpResponseChecker for a non-2xx kubelet answer."""
    if code == 500:
        return errors.internal_error(text)
    if code == 400:
        return bad_request(text)
    details = {"name": target.pod, "kind": "pods/log", "causes": [{"reason": "UnexpectedServerResponse", "message": text}]}
    if code == 404:
        return StatusError(404, "NotFound", f"the server could not find the requested resource ( pods/log {target.pod})", details)
    if code == 403:
        return StatusError(403, "Forbidden", f"{text} ( pods/log {target.pod})", details)
    if code == 503:
        return StatusError(503, "ServiceUnavailable", f"the server is currently unable to handle the request ( pods/log {target.pod})", details)
    if code > 500:
        return StatusError(code, "InternalError", f"an error on the server ({text!r}) has prevented the request from succeeding ( pods/log {target.pod})", details)
    return StatusError(code, "", f"the server responded with the status code {code} but did not return more information ( pods/log {target.pod})", details)


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    status_line = await reader.readline()
    parts = status_line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        raise ValueError(f"malformed HTTP response {status_line[:100]!r}")
    headers: dict[str, str] = {}
    while True:
        line = await reader.readline()
        if not line:
            raise ValueError("connection closed before the end of the response headers")
        if line in (b"\r\n", b"\n"):
            return int(parts[1]), headers
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()


async def _body_chunks(reader: asyncio.StreamReader, headers: dict[str, str]):
    """The response body as it arrives: chunked, Content-Length or until the close."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            size_line = await reader.readline()
            if not size_line:
                return  # closed mid-stream: what arrived is what there is
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                return
            yield await reader.readexactly(size)
            await reader.readline()  # the CRLF after the chunk
    elif "content-length" in headers:
        remaining = int(headers["content-length"])
        while remaining > 0:
            data = await reader.read(min(remaining, _READ_SIZE))
            if not data:
                return
            remaining -= len(data)
            yield data
    else:
        while data := await reader.read(_READ_SIZE):
            yield data


async def stream_log(target: LogTarget, protocol: Any) -> int:
    """Fetch the log from the kubelet and stream it to the RSGI ``protocol``; the status
    code sent.  A client that goes away closes the kubelet connection."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(target.host, target.port), KUBELET_CONNECT_TIMEOUT)
    except asyncio.TimeoutError:
        return _send_error(protocol, _transport_error(target, f"dial tcp {target.host}:{target.port}: i/o timeout"))
    except OSError as exc:
        return _send_error(protocol, _transport_error(target, f"dial tcp {target.host}:{target.port}: {exc.strerror or exc}"))
    disconnected = asyncio.ensure_future(protocol.client_disconnect())
    # Closing the kubelet side ends a pending read with EOF, so a followed log that is quiet
    # still notices its client leaving.
    disconnected.add_done_callback(lambda _: writer.close())
    try:
        host = f"[{target.host}]" if ":" in target.host else target.host
        writer.write(
            f"GET {target.path} HTTP/1.1\r\nHost: {host}:{target.port}\r\nUser-Agent: pyk8s-apiserver\r\n"
            "Accept-Encoding: identity\r\nConnection: close\r\n\r\n".encode()
        )
        try:
            await writer.drain()
            code, headers = await _read_head(reader)
        except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
            if disconnected.done():
                return 200
            return _send_error(protocol, _transport_error(target, str(exc) or type(exc).__name__))
        if not 200 <= code <= 206:
            text = b""
            try:
                async for data in _body_chunks(reader, headers):
                    text += data
                    if len(text) >= _MAX_ERROR_BODY:
                        break
            except (OSError, ValueError, asyncio.IncompleteReadError):
                pass
            return _send_error(protocol, _kubelet_error(target, code, text[:_MAX_ERROR_BODY].decode("utf-8", "replace")))
        transport = protocol.response_stream(200, LOG_HEADERS)
        try:
            async for data in _body_chunks(reader, headers):
                await transport.send_bytes(data)
        except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
            log.debug("log stream from %s ended: %s", target.url, exc)
        except RuntimeError as exc:  # granian's ProtocolClosed: the client is gone
            log.debug("log stream to the client ended: %s", exc)
        return 200
    finally:
        disconnected.cancel()
        writer.close()


def _send_error(protocol: Any, error: StatusError) -> int:
    protocol.response_bytes(error.code, [("content-type", "application/json")], error.body())
    return error.code
