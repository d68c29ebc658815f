"""The RSGI application: the only module that speaks granian's protocol.

``APIServer.handle`` is the synchronous core (method, path, query, content type, body ->
status, body) that unit tests call directly; ``__rsgi__`` reads the request off the wire,
calls it, and writes the answer, or hands a watch to the ``WatchHub`` and a pod's log to
``podlogs`` (streamed from the kubelet).  Every failure becomes a ``kind: Status`` body;
only a bug in this code produces a 500.

Around the resource handlers: the non-resource paths (``/version``, discovery, OpenAPI,
``/metrics``), the Accept header (406, or a Table / PartialObjectMetadata conversion of
a GET's answer), and the request metrics, one dict increment per request.
"""

from __future__ import annotations

import asyncio
import logging
import random
from time import perf_counter
from typing import Any, NamedTuple

from pyk8s.api import errors
from pyk8s.api.kinds import BINDINGS, default_registry
from pyk8s.api.errors import MAX_BODY_BYTES, StatusError, bad_request
from pyk8s.api.patch import JSON_MEDIA_TYPE, check_body_type, check_patch_type, json_body
from pyk8s.api.registry import Registry
from pyk8s.apiserver.admission import DEFAULT_TOLERATION_SECONDS
from pyk8s.apiserver.bootstrap import bootstrap
from pyk8s.apiserver.compaction import Compactor
from pyk8s.apiserver.events import DEFAULT_EVENT_TTL, EventReaper
from pyk8s.apiserver.handlers import ResourceHandlers
from pyk8s.apiserver.options import parse_list_options, parse_query
from pyk8s.apiserver.podlogs import LOG_HEADERS, PodLogs, stream_log
from pyk8s.apiserver.routing import Route, route, unserved_path_message
from pyk8s.apiserver.subresources import Subresources
from pyk8s.apiserver.discovery import Discovery
from pyk8s.apiserver.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from pyk8s.apiserver.metrics import Metrics, RequestKey
from pyk8s.apiserver.negotiation import negotiate_resource
from pyk8s.apiserver.openapi import openapi_response
from pyk8s.apiserver.options import parse_bool
from pyk8s.apiserver.tables import Converter, include_object_option
from pyk8s.apiserver.watch import DEFAULT_BOOKMARK_INTERVAL, WATCH_HEADERS, WatchHub, WatchSpec, error_event
from pyk8s.store import ExpiredError, FutureRevisionError, Storage, open_store

__all__ = ["APIServer", "Response"]

log = logging.getLogger(__name__)

try:  # granian's "client went away" errors; both are RuntimeErrors
    from granian.rsgi import ProtocolClosed, ProtocolError

    _PROTOCOL_CLOSED: tuple[type[BaseException], ...] = (ProtocolClosed, ProtocolError)
except ImportError:  # pragma: no cover - another RSGI server
    _PROTOCOL_CLOSED = (RuntimeError,)

JSON_HEADERS = [("content-type", "application/json")]
TEXT_HEADERS = [("content-type", "text/plain; charset=utf-8"), ("x-content-type-options", "nosniff")]
HEALTH_PATHS = frozenset(("/health", "/healthz", "/livez", "/readyz"))
_WRITE_METHODS = frozenset(("POST", "PUT", "PATCH", "DELETE"))
# Subresources that answer in their own media types (pods/log is text/plain): the Accept
# header's JSON representations do not apply to them.
_NON_JSON_SUBRESOURCES = frozenset(("log", "exec", "attach", "portforward", "proxy"))


class Response(NamedTuple):
    status: int
    body: bytes
    headers: list[tuple[str, str]] = JSON_HEADERS


# The verb a request metric reports for a method on a collection (upstream's LIST, ...).
_COLLECTION_VERBS = {"GET": "LIST", "DELETE": "DELETECOLLECTION"}

# Content-Type header -> media type; clients send a handful of distinct values.
_MEDIA_TYPES: dict[str, str] = {}
_MEDIA_TYPES_MAX = 256
# Paths -> routes: a bounded memo (collection paths repeat on every create and list).
_ROUTES_MAX = 8192


def _media_type(content_type: str | None) -> str:
    if not content_type:
        return ""
    media = _MEDIA_TYPES.get(content_type)
    if media is None:
        media = content_type.split(";", 1)[0].strip().lower()
        if len(_MEDIA_TYPES) < _MEDIA_TYPES_MAX:
            _MEDIA_TYPES[content_type] = media
    return media


_new_tuple = tuple.__new__


def _response(reply: tuple) -> Response:
    """``Response(*reply)`` for a handler's ``(status, body[, headers])``; the common
    two-part reply is built without the NamedTuple's Python-level ``__new__``."""
    if len(reply) == 2:
        return _new_tuple(Response, (reply[0], reply[1], JSON_HEADERS))
    return Response(*reply)


def _error_response(error: StatusError) -> Response:
    return Response(error.code, error.body())


class APIServer:
    """An API server over one store.  ``compaction_interval`` 0 disables periodic
    compaction; ``compaction_retention`` is how many seconds of history watches and
    continue tokens may reach back into."""

    def __init__(
        self,
        store: Storage | None = None,
        *,
        storage: str = "native",
        registry: Registry | None = None,
        compaction_interval: float = 60.0,
        compaction_retention: float = 300.0,
        event_ttl: float = DEFAULT_EVENT_TTL,
        bookmark_interval: float = DEFAULT_BOOKMARK_INTERVAL,
        server_address: str = "",
        min_request_timeout: float = 1800.0,
        default_not_ready_toleration_seconds: int = DEFAULT_TOLERATION_SECONDS,
        default_unreachable_toleration_seconds: int = DEFAULT_TOLERATION_SECONDS,
    ) -> None:
        self.store = store if store is not None else open_store(storage)
        self.registry = registry if registry is not None else default_registry()
        for resource in self.registry:
            if resource.indexed_fields is not None:
                self.store.index_fields(resource.plural, sorted(resource.indexed_fields))
        self.handlers = ResourceHandlers(self.store)
        self.handlers.admission.not_ready_toleration_seconds = default_not_ready_toleration_seconds
        self.handlers.admission.unreachable_toleration_seconds = default_unreachable_toleration_seconds
        self.subresources = Subresources(self.handlers)
        self.pod_logs = PodLogs(self.store)
        bootstrap(self.handlers)
        # event_ttl: seconds events live after they last happened (--event-ttl); 0 keeps them.
        self.event_reaper = EventReaper(self.store, event_ttl)
        self.watches = WatchHub(self.store, bookmark_interval)
        # server_address: host:port clients reach this server at (/api's serverAddressByClientCIDRs)
        self.discovery = Discovery(self.registry, server_address)
        self.metrics = Metrics()
        # A watch without timeoutSeconds ends after this long times a random factor in [1, 2),
        # as kube-apiserver's --min-request-timeout spreads re-watches out; 0 never ends it.
        self.min_request_timeout = min_request_timeout
        self.compactor = Compactor(self.store, compaction_interval, compaction_retention)
        self._routes: dict[str, Route | None] = {}
        self._routes_registered = len(self.registry)
        # (method, path) -> its request metric labels, made from the path's memoized route
        # and forgotten with it.
        self._request_keys: dict[tuple[str, str], RequestKey] = {}

    # -- lifecycle (granian calls these in the worker, on its loop) -----------------------

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.watches.attach(loop)
        self.compactor.start(loop)
        self.event_reaper.start(loop)

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.shutdown()
        self.watches.detach()

    def shutdown(self) -> None:
        """End open watch streams and stop background work, so the HTTP server's graceful
        stop does not wait on streams that would never end by themselves."""
        self.watches.shutdown()
        self.compactor.stop()
        self.event_reaper.stop()

    # -- the synchronous core -------------------------------------------------------------

    def handle(
        self,
        method: str,
        path: str,
        query_string: str = "",
        content_type: str | None = None,
        body: bytes = b"",
        accept: str | None = None,
        if_none_match: str | None = None,
    ) -> Response:
        """Serve a non-watch request.  Never raises.  ``accept`` and ``if_none_match`` are
        those request headers (content negotiation; OpenAPI's ETags)."""
        started = perf_counter()
        # The memo's hit inline (most requests); ``_route`` for the rest.
        found = self._routes.get(path, False)
        if found is False or self._routes_registered != len(self.registry):
            found = self._route(path)
        try:
            if method == "GET":
                response = self._serve(method, path, query_string, content_type, body, accept, found, if_none_match)
            else:  # only a GET is negotiated or may be a non-resource path
                response = self._dispatch(method, path, query_string, content_type, body, found)
        except StatusError as error:
            response = _error_response(error)
        except RecursionError:
            response = _error_response(bad_request("the request is nested too deeply"))
        except Exception as exc:  # a bug: still answer with a Status, and say so in the log
            log.exception("internal error serving %s %s", method, path)
            response = _error_response(errors.internal_error(f"{type(exc).__name__}: {exc}"))
        # A path that is not served is not counted: a scan of random paths must not grow the
        # label sets without bound.
        if found is not None or response.status != 404:
            key = self._request_keys.get((method, path))
            if key is None:
                key = self._remember_request_key(method, path, found)
            self.metrics.observe(key, response.status, perf_counter() - started)
        return response

    def _remember_request_key(self, method: str, path: str, found: Route | None) -> RequestKey:
        """``_request_key`` of a request, memoized with ``handle``'s lookup of it: a route
        depends on the path and the registry only, and ``_route`` forgets these with the
        routes they were made from."""
        keys = self._request_keys
        if len(keys) >= _ROUTES_MAX:
            keys.clear()
        key = keys[(method, path)] = self._request_key(method, path, found)
        return key

    def _route(self, path: str) -> Route | None:
        """``route(registry, path)``, memoized; forgotten wholesale when full or when the
        registry has changed."""
        routes = self._routes
        found = routes.get(path, False)
        if found is not False and self._routes_registered == len(self.registry):
            return found  # type: ignore[return-value]
        found = route(self.registry, path)
        if len(routes) >= _ROUTES_MAX or self._routes_registered != len(self.registry):
            routes.clear()
            self._request_keys.clear()
            self._routes_registered = len(self.registry)
        routes[path] = found
        return found

    # -- non-resource paths, Accept negotiation and conversions -------------------------------

    def _serve(
        self,
        method: str,
        path: str,
        query_string: str,
        content_type: str | None,
        body: bytes,
        accept: str | None,
        found: Route | None,
        if_none_match: str | None = None,
    ) -> Response:
        if method == "GET":
            if found is None:
                served = self._serve_non_resource(path, query_string, accept, if_none_match)
                if served is not None:
                    return served
            elif not found.legacy_watch and found.subresource not in _NON_JSON_SUBRESOURCES:
                media = negotiate_resource(accept, not found.name)
                if media.convert:
                    params = parse_query(query_string)
                    converter = Converter(media, include_object_option(params.get("includeObject")))
                    response = self._dispatch(method, path, query_string, content_type, body, found)
                    served_type = dict(response.headers).get("content-type", "")
                    if response.status == 200 and served_type.startswith("application/json"):
                        return Response(200, converter.convert(response.body))
                    return response
        return self._dispatch(method, path, query_string, content_type, body, found)

    def _serve_non_resource(
        self, path: str, query_string: str, accept: str | None, if_none_match: str | None
    ) -> Response | None:
        served = self.discovery.serve(path, accept, if_none_match)
        if served is not None:
            return Response(*served)
        if path.startswith("/openapi/"):
            document = openapi_response(self.registry, path, parse_query(query_string), accept, if_none_match)
            if document is None:
                return None
            status, headers, body = document
            return Response(status, body, headers)
        if path == "/metrics":
            return Response(200, self.metrics.render(self._storage_objects), [("content-type", METRICS_CONTENT_TYPE)])
        if path == "/":
            return Response(200, self.discovery.root_paths(("/metrics", *HEALTH_PATHS)))
        return None

    def _storage_objects(self):
        for resource in self.registry:
            if "list" not in resource.verbs:
                continue  # nothing stored (bindings)
            name = f"{resource.plural}.{resource.group}" if resource.group else resource.plural
            yield name, self.store.count(resource.plural)

    @staticmethod
    def _request_key(method: str, path: str, found: Route | None, verb: str = "") -> RequestKey:
        """Upstream's request metric labels; a non-resource path goes in ``subresource``."""
        if found is None:
            return (method, "", "", "", path, "")
        resource = found.resource
        if not verb:
            verb = method
            if not found.name:
                verb = _COLLECTION_VERBS.get(method, method)
        # Upstream CleanScope: a named object or a create is "resource" scope.
        if found.name or verb == "POST":
            scope = "resource"
        else:
            scope = "namespace" if found.namespace else "cluster"
        return (verb, resource.group, resource.version, resource.plural, found.subresource, scope)

    def _dispatch(
        self, method: str, path: str, query_string: str, content_type: str | None, body: bytes, found: Route | None
    ) -> Response:
        """``found`` is ``route(path)``, computed once by ``handle``."""
        if path in HEALTH_PATHS:
            return Response(200, b"ok", TEXT_HEADERS)
        if found is None:
            unserved = unserved_path_message(path)
            if unserved is not None:
                # Still a 404 (a path this server does not serve), with the reason in words.
                raise StatusError(404, "NotFound", unserved, {})
            raise errors.path_not_found()
        if len(body) > MAX_BODY_BYTES:
            raise errors.request_entity_too_large()
        return self._serve_resource(found, method, query_string, content_type, body)

    def _serve_resource(
        self, found: Route, method: str, query_string: str, content_type: str | None, body: bytes
    ) -> Response:
        """The verbs on a resource path: collection, object, or one of its subresources."""
        handlers = self.handlers
        params = parse_query(query_string) if query_string else {}
        if found.resource is BINDINGS:  # create only; nothing is stored under it
            if method == "POST" and not found.name and not found.legacy_watch:
                body = self._check_content_type(content_type, body)
                return _response(self.subresources.create_binding(found, body, params))
            raise errors.method_not_allowed()
        if not found.name:
            if method == "GET":
                options = parse_list_options(found.resource, params, found.legacy_watch)
                if options.watch:
                    raise bad_request("watch requests are served by the streaming path")
                return _response(handlers.list(found, options))
            if method == "POST":
                body = self._check_content_type(content_type, body)
                return _response(handlers.create(found, body, params))
            if method == "DELETE" and not found.legacy_watch:
                if body.strip():
                    body = self._check_content_type(content_type, body)
                return _response(handlers.delete_collection(found, body, params))
            raise errors.method_not_allowed()
        if found.legacy_watch:
            raise errors.method_not_allowed()
        if found.subresource:
            return self._serve_subresource(found, method, params, content_type, body)
        if method == "GET":
            return _response(handlers.get(found))
        if method == "PUT":
            body = self._check_content_type(content_type, body)
            return _response(handlers.update(found, body, params))
        if method == "PATCH":
            return _response(handlers.patch(found, body, self._check_patch_type(content_type), params))
        if method == "DELETE":
            if body.strip():
                body = self._check_content_type(content_type, body)
            return _response(handlers.delete(found, body, params))
        raise errors.method_not_allowed()

    def _serve_subresource(
        self, found: Route, method: str, params: dict[str, str], content_type: str | None, body: bytes
    ) -> Response:
        sub = found.subresource
        if not found.resource.has_subresource(sub):
            raise errors.path_not_found()
        subresources = self.subresources
        if sub == "status":
            if method == "GET":
                return _response(self.handlers.get(found))
            if method == "PUT":
                return _response(self.handlers.update(found, self._check_content_type(content_type, body), params))
            if method == "PATCH":
                return _response(self.handlers.patch(found, body, self._check_patch_type(content_type), params))
        elif sub == "scale":
            if method == "GET":
                return _response(subresources.get_scale(found))
            if method == "PUT":
                return _response(subresources.update_scale(found, self._check_content_type(content_type, body), params))
            if method == "PATCH":
                return _response(subresources.patch_scale(found, body, self._check_patch_type(content_type), params))
        elif method == "POST" and sub == "binding":
            return _response(subresources.bind(found, self._check_content_type(content_type, body), params))
        elif method == "POST" and sub == "eviction":
            return _response(subresources.evict(found, self._check_content_type(content_type, body), params))
        elif method == "PUT" and sub == "finalize":
            return _response(subresources.finalize(found, self._check_content_type(content_type, body), params))
        elif method == "GET" and sub == "log":
            # Everything but the kubelet's answer: checks, and the empty log of an unscheduled pod.
            if self.pod_logs.locate(found, params) is None:
                return Response(200, b"", LOG_HEADERS)
            raise bad_request("a log from a node is served by the streaming path")
        raise errors.method_not_allowed()

    @staticmethod
    def _check_content_type(content_type: str | None, body: bytes) -> bytes:
        """The body of a POST/PUT/DELETE as JSON: JSON (or no Content-Type) as sent, YAML
        and protobuf converted (pyk8s.api.patch.json_body); 415 for anything else."""
        if not content_type or content_type == JSON_MEDIA_TYPE:
            return body  # the usual header, exactly: its media type is itself
        media = _media_type(content_type)
        if media == JSON_MEDIA_TYPE or not media:
            return body  # what check_body_type accepts and json_body passes through unchanged
        check_body_type(media)
        return json_body(media, body)

    @staticmethod
    def _check_patch_type(content_type: str | None) -> str:
        """The patch type of a PATCH (pyk8s.api.patch.PATCH_TYPES); 415 for the rest,
        with a clear word for server-side apply."""
        return check_patch_type(_media_type(content_type))

    def open_watch(self, path: str, query_string: str, accept: str | None = None) -> tuple[WatchSpec | None, bytes]:
        """``(spec, b"")`` for a watch request, or ``(None, line)`` when the watch ends at
        once with an ERROR event (410 from a compacted revision).  Raises StatusError for a
        request that is not a valid watch."""
        found = self._watch_route(path)
        resource = found.resource
        if "watch" not in resource.verbs:
            raise errors.method_not_allowed()
        params = parse_query(query_string)
        options = parse_list_options(resource, params, force_watch=True)
        allow_bookmarks = parse_bool("allowWatchBookmarks", params.get("allowWatchBookmarks", ""))
        send_initial = self._watch_list_mode(options)
        media = negotiate_resource(accept, False)
        converter = None
        if media.convert:
            converter = Converter(media, include_object_option(params.get("includeObject")))
        field_selector = options.field_selector
        if found.name:
            # Watching one object (GET .../pods/x?watch=true, /watch/.../pods/x), as upstream
            # serves it: the collection's watch narrowed to that name.
            field_selector = (*field_selector, ("metadata.name", "=", found.name))
        if self.watches.closing:
            raise StatusError(503, "ServiceUnavailable", "the server is shutting down")
        selection = (resource.plural, found.namespace, options.label_selector, field_selector)
        initial: list[bytes] | None = None
        initial_revision = 0
        try:
            if send_initial:
                initial, initial_revision = self._initial_state(selection, options.revision)
                from_revision = initial_revision
            else:
                from_revision = options.revision
            watcher = self.store.watch(*selection, from_revision=from_revision, notifier=self.watches.notifier)
        except ExpiredError as exc:
            return None, error_event(errors.resource_version_too_old(exc.requested, exc.compacted))
        except FutureRevisionError as exc:
            return None, error_event(errors.too_large_resource_version(exc.requested, exc.current))
        timeout = float(options.timeout_seconds)
        if not timeout and self.min_request_timeout > 0:
            timeout = self.min_request_timeout * (1.0 + random.random())
        spec = WatchSpec(
            watcher,
            resource.plural,
            timeout,
            b'"kind":"%s","apiVersion":"%s"' % (resource.kind.encode(), resource.api_version.encode()),
            allow_bookmarks,
            initial,
            initial_revision,
            converter,
            found,
        )
        return spec, b""

    @staticmethod
    def _watch_list_mode(options) -> bool:
        """Whether the watch starts with the current state (ADDED events), after upstream's
        SetListOptionsDefaults (a watch from "" or "0" is a watch-list) and
        validateWatchOptions (422 on combinations it forbids)."""
        send_initial, match = options.send_initial_events, options.resource_version_match
        if send_initial is None and not match and options.resource_version in ("", "0"):
            send_initial, match = True, "NotOlderThan"
        causes = []
        if send_initial is not None and match != "NotOlderThan":
            causes.append(errors.forbidden(
                "resourceVersionMatch", "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"
            ))
        if match:
            if send_initial is None:
                causes.append(errors.forbidden(
                    "resourceVersionMatch", "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"
                ))
            if match != "NotOlderThan":
                causes.append(errors.not_supported("resourceVersionMatch", match, ("NotOlderThan",)))
        if causes:
            error = errors.invalid("ListOptions", "", causes, "meta.k8s.io")
            error.details.pop("name", None)
            raise error
        return bool(send_initial)

    def _initial_state(self, selection: tuple, not_older_than: int) -> tuple[list[bytes], int]:
        """The matching objects now, and the revision they are at (at least ``not_older_than``);
        the stream's live part starts after that revision."""
        if not_older_than:
            current = self.store.current_revision()
            if not_older_than > current:
                raise FutureRevisionError(not_older_than, current)
        result = self.store.list(*selection)
        return result.items(), result.revision

    def _watch_route(self, path: str) -> Route:
        found = route(self.registry, path)
        if found is None or found.subresource:
            raise errors.path_not_found()
        return found

    def is_watch(self, method: str, path: str, query_string: str) -> bool:
        if method != "GET":
            return False
        if "/watch/" in path:
            found = route(self.registry, path)
            if found is not None and found.legacy_watch:
                return True
        if "watch=" not in query_string:
            return False
        value = parse_query(query_string).get("watch", "")
        return value in ("1", "t", "T", "true", "TRUE", "True")

    # -- RSGI -----------------------------------------------------------------------------

    async def __rsgi__(self, scope: Any, protocol: Any) -> None:
        if scope.proto != "http":
            return
        method = scope.method
        path = scope.path
        query_string = scope.query_string
        try:
            if self.is_watch(method, path, query_string):
                await self._serve_watch(path, query_string, protocol, scope.headers.get("accept"))
                return
            if method == "GET" and path.rstrip("/").endswith("/log"):
                found = route(self.registry, path)
                if found is not None and found.subresource == "log" and found.name:
                    await self._serve_log(path, found, query_string, protocol)
                    return
            body = b""
            content_type = None
            accept = None
            if_none_match = None
            headers = scope.headers  # built on each access: read it once
            if method in _WRITE_METHODS:
                content_type = headers.get("content-type")
                try:
                    body = await self._read_body(headers, protocol)
                except _PROTOCOL_CLOSED:
                    return  # the client went away while sending its body
            else:
                accept = headers.get("accept")
                if method == "GET":
                    if_none_match = headers.get("if-none-match")
            response = self.handle(method, path, query_string, content_type, body, accept, if_none_match)
        except StatusError as error:
            response = _error_response(error)
        except Exception as exc:
            log.exception("internal error serving %s %s", method, path)
            response = _error_response(errors.internal_error(f"{type(exc).__name__}: {exc}"))
        protocol.response_bytes(response.status, response.headers, response.body)

    @staticmethod
    async def _read_body(headers: Any, protocol: Any) -> bytes:
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                raise bad_request(f"invalid Content-Length: {length!r}")
            if int(length) > MAX_BODY_BYTES:
                raise errors.request_entity_too_large()
            return await protocol()
        # Chunked: stop reading as soon as the limit is passed.
        chunks = []
        size = 0
        async for chunk in protocol:
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise errors.request_entity_too_large()
            chunks.append(chunk)
        return b"".join(chunks)

    async def _serve_log(self, path: str, found: Route, query_string: str, protocol: Any) -> None:
        """pods/log: checked and located synchronously, then the kubelet's answer streamed."""
        started = perf_counter()
        try:
            target = self.pod_logs.locate(found, parse_query(query_string))
        except StatusError as error:
            target, response = None, _error_response(error)
        except Exception as exc:
            log.exception("internal error serving GET %s", path)
            target, response = None, _error_response(errors.internal_error(f"{type(exc).__name__}: {exc}"))
        else:
            response = Response(200, b"", LOG_HEADERS)  # an unscheduled pod's empty log
        if target is None:
            protocol.response_bytes(response.status, response.headers, response.body)
            status = response.status
        else:
            status = await stream_log(target, protocol)
        self.metrics.observe(self._request_key("GET", path, found), status, perf_counter() - started)

    async def _serve_watch(self, path: str, query_string: str, protocol: Any, accept: str | None = None) -> None:
        started = perf_counter()
        spec, error_line = self.open_watch(path, query_string, accept)
        if spec is None:
            transport = protocol.response_stream(200, WATCH_HEADERS)
            try:
                await transport.send_bytes(error_line)
            except RuntimeError:
                pass  # client gone
            return
        resource = spec.route.resource
        watched = (resource.group, resource.version, resource.kind)
        metrics = self.metrics
        metrics.watcher_opened(watched)
        try:
            await self.watches.stream(protocol, spec)
        finally:
            metrics.watcher_closed(watched)
            metrics.observe(self._request_key("GET", path, spec.route, "WATCH"), 200, perf_counter() - started)
