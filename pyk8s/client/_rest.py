"""The async REST client.

Every verb addresses a resource as ``(group, version, plural)`` plus namespace, name and
subresource, sends and receives JSON through orjson, and raises the typed errors of
``_errors`` for Status answers and ``TransportError`` for everything below HTTP.

The informers' verbs, ``list`` and ``watch``, are GETs over the client's own asyncio
connections (``_http``); the other verbs go through one aiohttp session (keep-alive pool),
imported at the first of them: a component whose informers list and watch and whose writes
take another path (the scheduler's pipelined bindings) never pays for importing aiohttp.

Watches stream: ``watch()`` returns a ``WatchStream`` that reads the chunked body piece by
piece and yields one ``(type, object)`` per newline-delimited JSON line, so a watch that
runs for hours holds only the line being assembled.
"""

from __future__ import annotations

import _ssl
import asyncio
import enum
import ssl
import sys
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

import orjson

from pyk8s.client._config import ClientConfig, load_kubeconfig
from pyk8s.client._errors import TransportError, error_from_response
from pyk8s.client._http import ConnectionPool, HttpResponse, open_get
from pyk8s.client._resources import Resource
from pyk8s.client._wire import Endpoint

if TYPE_CHECKING:
    import aiohttp


class _DeferredDefaultCertsContext(ssl.SSLContext):
    """An SSLContext that reads the system's CA certificates (``set_default_verify_paths``)
    at its first handshake or certificate query rather than when it is made."""

    _default_certs_pending = False

    def _load_default_certs(self) -> None:
        if self._default_certs_pending:
            self._default_certs_pending = False
            _ssl._SSLContext.set_default_verify_paths(self)

    def set_default_verify_paths(self) -> None:
        self._default_certs_pending = True

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        self._load_default_certs()
        return super().wrap_socket(*args, **kwargs)

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        self._load_default_certs()
        return super().wrap_bio(*args, **kwargs)

    def get_ca_certs(self, *args: Any, **kwargs: Any) -> list:
        self._load_default_certs()
        return super().get_ca_certs(*args, **kwargs)

    def cert_store_stats(self) -> dict:
        self._load_default_certs()
        return super().cert_store_stats()


def _defer_default_certs(context: ssl.SSLContext) -> None:
    context.__class__ = _DeferredDefaultCertsContext
    context._default_certs_pending = True


_aiohttp_module = None


def _import_aiohttp():
    """aiohttp, imported at the first verb that needs it.  aiohttp builds two default SSL
    contexts when it is imported, and reading the system's CA bundle into them costs ~0.1 s
    of CPU, though pyk8s gives aiohttp its own context for https
    (``ClientConfig.ssl_context``) and none for plain http: those two contexts read the
    bundle at their first use instead, if ever."""
    global _aiohttp_module
    if _aiohttp_module is not None:
        return _aiohttp_module
    if "aiohttp" not in sys.modules:
        ssl.SSLContext.set_default_verify_paths = _defer_default_certs
        try:
            import aiohttp
        finally:
            del ssl.SSLContext.set_default_verify_paths
    import aiohttp

    _aiohttp_module = aiohttp
    return aiohttp


__all__ = ["ApiClient", "Resource", "PatchType", "WatchStream"]

Obj = dict[str, Any]
_loads = orjson.loads


class PatchType(str, enum.Enum):
    MERGE = "application/merge-patch+json"
    STRATEGIC = "application/strategic-merge-patch+json"
    JSON = "application/json-patch+json"


_PATCH_ALIASES = {"merge": PatchType.MERGE, "strategic": PatchType.STRATEGIC, "json": PatchType.JSON}

# A watch has no total deadline; this much silence past its timeoutSeconds means the
# connection is dead (half-open) rather than idle, and the read fails.
_WATCH_SILENCE_GRACE = 30.0
_DEFAULT_WATCH_SILENCE = 330.0


def _query(**params: Any) -> dict[str, str]:
    """Kubernetes' query names from keyword arguments; None and empty values are left out."""
    out: dict[str, str] = {}
    for key, value in params.items():
        if value is None or value == "":
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        out[key] = str(value)
    return out


class ApiClient:
    """An async client for one API server.

    ``ApiClient(server="http://127.0.0.1:8080")`` or ``ApiClient.from_kubeconfig()``; use as
    ``async with`` or call ``close()``.  ``timeout`` bounds each ordinary request end to end;
    ``connect_timeout`` bounds establishing a connection (watches included).
    """

    def __init__(
        self,
        server: str | None = None,
        *,
        config: ClientConfig | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 5.0,
        max_connections: int = 256,
        user_agent: str = "pyk8s-client",
    ) -> None:
        if (server is None) == (config is None):
            raise ValueError("give exactly one of server= or config=")
        self.config = config or ClientConfig(server=server.rstrip("/"))
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_connections = max_connections
        self.user_agent = user_agent
        self._headers = {"Accept": "application/json", "User-Agent": user_agent, **self.config.auth_headers()}
        self._ssl = self.config.ssl_context()
        self._session: aiohttp.ClientSession | None = None
        self._get_endpoint: Endpoint | None = None
        self._get_pool: ConnectionPool | None = None

    @classmethod
    def from_kubeconfig(cls, path: str | None = None, context: str | None = None, **kwargs: Any) -> ApiClient:
        return cls(config=load_kubeconfig(path, context), **kwargs)

    @property
    def server(self) -> str:
        return self.config.server

    @property
    def namespace(self) -> str:
        """The kubeconfig context's namespace (``default`` otherwise)."""
        return self.config.namespace

    def _session_for_loop(self) -> aiohttp.ClientSession:
        # Created lazily so the client can be built outside a running loop.
        if self._session is None or self._session.closed:
            aiohttp = _import_aiohttp()
            connector = aiohttp.TCPConnector(
                limit=self.max_connections, ssl=self._ssl if self._ssl is not None else False,
                keepalive_timeout=30.0,
            )
            self._session = aiohttp.ClientSession(
                connector=connector, headers=self._headers,
            )
        return self._session

    def _endpoint(self) -> Endpoint:
        if self._get_endpoint is None:
            self._get_endpoint = Endpoint(self.config, self.user_agent, self._ssl)
        return self._get_endpoint

    async def close(self) -> None:
        if self._get_pool is not None:
            self._get_pool.close()
            self._get_pool = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- the wire --------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float | None = None,
        decode: bool = True,
    ) -> Any:
        """One request; the decoded JSON answer (the raw bytes with ``decode=False``, for
        ``pods/log`` and other non-JSON answers), or a typed error."""
        session = self._session_for_loop()
        aiohttp = _import_aiohttp()
        data = None if body is None else (body if isinstance(body, bytes) else orjson.dumps(body))
        headers = {"Content-Type": content_type} if data is not None else None
        client_timeout = aiohttp.ClientTimeout(total=timeout or self.timeout, connect=self.connect_timeout)
        try:
            async with session.request(
                method, self.server + path, params=query, data=data, headers=headers,
                timeout=client_timeout, server_hostname=self.config.tls_server_name,
            ) as response:
                payload = await response.read()
                status = response.status
        except (TimeoutError, aiohttp.ClientError, OSError) as error:
            raise TransportError(f"{method} {path}: {error!r}") from error
        if status >= 400:
            raise error_from_response(status, payload)
        if not decode:
            return payload
        if not payload:
            return None
        try:
            return orjson.loads(payload)
        except orjson.JSONDecodeError as error:
            raise TransportError(f"{method} {path}: answer is not JSON: {error}") from None

    # -- verbs -----------------------------------------------------------------------------

    async def get(
        self, resource: Resource, name: str, *, namespace: str | None = None, subresource: str | None = None,
        resource_version: str | None = None,
    ) -> Obj:
        return await self.request(
            "GET", resource.path(namespace, name, subresource), query=_query(resourceVersion=resource_version),
        )

    async def list(
        self,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
        resource_version_match: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
        timeout_seconds: int | None = None,
    ) -> Obj:
        """One page of the list (``metadata.continue`` names the next when ``limit`` cut it)."""
        query = _query(
            labelSelector=label_selector, fieldSelector=field_selector, resourceVersion=resource_version,
            resourceVersionMatch=resource_version_match, limit=limit, timeoutSeconds=timeout_seconds,
        )
        if continue_token:
            query["continue"] = continue_token
        return await self._get_json(resource.path(namespace), query)

    async def _get_json(self, path: str, query: dict[str, str]) -> Any:
        """A list's GET over the client's own connections (``_http``), bounded by ``timeout``
        end to end as ``request`` is."""
        if self._get_pool is None:
            self._get_pool = ConnectionPool(self._endpoint())
        response = None
        try:
            async with asyncio.timeout(self.timeout):
                response = await open_get(self._endpoint(), path, query, connect_timeout=self.connect_timeout,
                                          read_timeout=None, pool=self._get_pool)
                payload = await response.read_all()
        except (TimeoutError, OSError, ValueError) as error:
            raise TransportError(f"GET {path}: {error!r}") from error
        finally:
            if response is not None:
                response.close()  # a no-op once a complete answer gave the connection back
        if response.status >= 300:  # the API does not redirect: a 3xx is an error here
            raise error_from_response(response.status, payload)
        try:
            return orjson.loads(payload)
        except orjson.JSONDecodeError as error:
            raise TransportError(f"GET {path}: answer is not JSON: {error}") from None

    async def list_all(self, resource: Resource, *, page_size: int | None = 500, **kwargs: Any) -> Obj:
        """Every page of a list joined into one list object carrying the first page's
        resourceVersion (the snapshot every page was read at)."""
        first = await self.list(resource, limit=page_size, **kwargs)
        items = list(first.get("items") or ())
        token = (first.get("metadata") or {}).get("continue")
        while token:
            page = await self.list(resource, limit=page_size, continue_token=token, **kwargs)
            items.extend(page.get("items") or ())
            token = (page.get("metadata") or {}).get("continue")
        first["items"] = items
        first.setdefault("metadata", {}).pop("continue", None)
        first["metadata"].pop("remainingItemCount", None)
        return first

    async def create(
        self, resource: Resource, body: Obj, *, namespace: str | None = None, subresource: str | None = None,
        name: str | None = None, dry_run: bool = False, field_manager: str | None = None,
    ) -> Obj:
        """POST; the namespace defaults to the body's ``metadata.namespace``.  ``name`` and
        ``subresource`` address a subresource create such as ``pods/<name>/binding``."""
        namespace = namespace or (body.get("metadata") or {}).get("namespace")
        query = _query(dryRun="All" if dry_run else None, fieldManager=field_manager)
        return await self.request("POST", resource.path(namespace, name, subresource), query=query, body=body)

    async def update(
        self, resource: Resource, body: Obj, *, namespace: str | None = None, name: str | None = None,
        subresource: str | None = None, dry_run: bool = False, field_manager: str | None = None,
    ) -> Obj:
        """PUT; the body's ``metadata.resourceVersion`` (when set) makes it a compare-and-swap
        that fails with ``Conflict``."""
        metadata = body.get("metadata") or {}
        namespace = namespace or metadata.get("namespace")
        name = name or metadata.get("name")
        if not name:
            raise ValueError("update needs a name (argument or metadata.name)")
        query = _query(dryRun="All" if dry_run else None, fieldManager=field_manager)
        return await self.request("PUT", resource.path(namespace, name, subresource), query=query, body=body)

    async def patch(
        self, resource: Resource, name: str, patch: Any, *, namespace: str | None = None,
        patch_type: PatchType | str = PatchType.MERGE, subresource: str | None = None,
        dry_run: bool = False, field_manager: str | None = None,
    ) -> Obj:
        """``patch_type``: ``"merge"`` (RFC 7386), ``"strategic"``, ``"json"`` (RFC 6902), or a
        ``PatchType``."""
        content_type = _PATCH_ALIASES.get(patch_type, patch_type) if isinstance(patch_type, str) else patch_type
        content_type = PatchType(content_type)
        query = _query(dryRun="All" if dry_run else None, fieldManager=field_manager)
        return await self.request(
            "PATCH", resource.path(namespace, name, subresource), query=query, body=patch,
            content_type=content_type.value,
        )

    async def delete(
        self, resource: Resource, name: str, *, namespace: str | None = None,
        propagation_policy: str | None = None, grace_period_seconds: int | None = None,
        preconditions: Obj | None = None, dry_run: bool = False,
    ) -> Obj:
        """DELETE; the answer is the object (while finalizers keep it) or a Success Status.
        ``preconditions``: ``{"uid": ..., "resourceVersion": ...}``."""
        options = self._delete_options(propagation_policy, grace_period_seconds, preconditions, dry_run)
        return await self.request("DELETE", resource.path(namespace, name), body=options)

    async def delete_collection(
        self, resource: Resource, *, namespace: str | None = None, label_selector: str | None = None,
        field_selector: str | None = None, propagation_policy: str | None = None,
        grace_period_seconds: int | None = None, dry_run: bool = False,
    ) -> Obj:
        options = self._delete_options(propagation_policy, grace_period_seconds, None, dry_run)
        query = _query(labelSelector=label_selector, fieldSelector=field_selector)
        return await self.request("DELETE", resource.path(namespace), query=query, body=options)

    @staticmethod
    def _delete_options(
        propagation_policy: str | None, grace_period_seconds: int | None, preconditions: Obj | None, dry_run: bool,
    ) -> Obj | None:
        options: Obj = {}
        if propagation_policy:
            options["propagationPolicy"] = propagation_policy
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        if preconditions:
            options["preconditions"] = preconditions
        if dry_run:
            options["dryRun"] = ["All"]
        if not options:
            return None
        return {"kind": "DeleteOptions", "apiVersion": "v1", **options}

    def watch(
        self,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
        allow_watch_bookmarks: bool = True,
        timeout_seconds: int | None = None,
        send_initial_events: bool | None = None,
    ) -> WatchStream:
        """A watch stream; iterate it with ``async for event_type, obj in stream``, inside
        ``async with`` (or call ``close()``) so the connection is released when you stop early."""
        query = _query(
            watch=True, labelSelector=label_selector, fieldSelector=field_selector,
            resourceVersion=resource_version, allowWatchBookmarks=allow_watch_bookmarks or None,
            timeoutSeconds=timeout_seconds, sendInitialEvents=send_initial_events,
        )
        if send_initial_events:
            query["resourceVersionMatch"] = "NotOlderThan"
        silence = (timeout_seconds + _WATCH_SILENCE_GRACE) if timeout_seconds else _DEFAULT_WATCH_SILENCE
        return WatchStream(self, resource.path(namespace), query, silence)


class WatchStream:
    """One watch request.  Yields ``(type, object)``: ``ADDED``/``MODIFIED``/``DELETED`` with
    the object, ``BOOKMARK`` with an object carrying only ``metadata.resourceVersion``, and
    ``ERROR`` with a Status (``error_from_status`` turns it into an exception; a 410 there
    means the requested resourceVersion is gone).  Opening the stream raises the typed error
    when the server refuses it outright; a connection lost mid-stream raises ``TransportError``.
    The iteration ends when the server ends the response (its timeoutSeconds, or shutdown).
    """

    def __init__(self, client: ApiClient, path: str, query: dict[str, str], silence_timeout: float) -> None:
        self._client = client
        self._path = path
        self._query = query
        self._silence_timeout = silence_timeout
        self._response: HttpResponse | None = None
        self._iterator: AsyncIterator[tuple[str, Obj]] | None = None

    async def __aenter__(self) -> WatchStream:
        await self._open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._response is not None:
            self._response.close()
            self._response = None

    async def _open(self) -> None:
        if self._response is not None:
            return
        client = self._client
        try:
            response = await open_get(client._endpoint(), self._path, self._query,
                                      connect_timeout=client.connect_timeout, read_timeout=self._silence_timeout)
        except (TimeoutError, OSError, ValueError) as error:
            raise TransportError(f"watch {self._path}: {error!r}") from error
        if response.status >= 300:
            try:
                body = await response.read_all()
            except (TimeoutError, OSError, ValueError):
                body = b""
            response.close()
            raise error_from_response(response.status, body)
        self._response = response

    def __aiter__(self) -> AsyncIterator[tuple[str, Obj]]:
        if self._iterator is None:
            self._iterator = self._events()
        return self._iterator

    async def _events(self) -> AsyncIterator[tuple[str, Obj]]:
        async for batch in self.batches():
            for event in batch:
                yield event

    async def batches(self) -> AsyncIterator[list[tuple[str, Obj]]]:
        """The events as they arrive, a list per read from the connection (a busy watch
        delivers dozens per read; one resumption of the consumer per read, not per event)."""
        await self._open()
        response = self._response
        # A busy watch's reads end at a line end (the server writes whole events), so each
        # read is cut at its line ends as it is; a line cut by a read is assembled in
        # ``pending``, and only the new data is searched for line ends, so an object spread
        # over many reads costs linear time.
        pending = bytearray()
        decode_lines = self._decode_lines
        try:
            while chunk := await response.read_any():
                end = chunk.find(b"\n")
                if end < 0:
                    pending += chunk
                    continue
                if pending:
                    pending += chunk[:end]
                    first = bytes(pending)
                    pending.clear()
                else:
                    first = chunk[:end]
                batch = decode_lines(first, chunk, end + 1)
                tail = chunk.rfind(b"\n") + 1
                if tail < len(chunk):
                    pending += chunk[tail:]
                if batch:
                    yield batch
            if bytes(pending).strip():
                yield [self._decode(bytes(pending))]
        except (TimeoutError, OSError, ValueError) as error:
            raise TransportError(f"watch {self._path}: stream lost: {error!r}") from error
        finally:
            await self.close()

    def _decode_lines(self, first: bytes, data: bytes, start: int) -> list[tuple[str, Obj]]:
        """The events of ``first`` (a complete line) and of the complete lines of ``data``
        from ``start`` on (blank lines skipped).  Lines are found with ``find`` (memchr):
        ``bytes.split`` compares byte by byte, which cost as much as a tenth of decoding."""
        events = []
        try:
            if first.strip():
                event = _loads(first)
                events.append((event["type"], event["object"]))
            end = data.find(b"\n", start)
            while end >= 0:
                if end > start:
                    line = data[start:end]
                    try:
                        event = _loads(line)
                    except orjson.JSONDecodeError:
                        if line.strip():
                            raise
                    else:
                        events.append((event["type"], event["object"]))
                start = end + 1
                end = data.find(b"\n", start)
        except (orjson.JSONDecodeError, KeyError, TypeError) as error:
            raise TransportError(f"watch {self._path}: malformed event line: {error}") from None
        return events

    def _decode(self, line: bytes) -> tuple[str, Obj]:
        try:
            event = orjson.loads(line)
            return event["type"], event["object"]
        except (orjson.JSONDecodeError, KeyError, TypeError) as error:
            raise TransportError(f"watch {self._path}: malformed event line: {error}") from None
