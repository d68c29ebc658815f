"""The RSGI application: the only module that speaks granian's protocol.

``APIServer.handle`` is the synchronous core (method, path, query, content type, body ->
status, body) that unit tests call directly; ``__rsgi__`` reads the request off the wire,
calls it, and writes the answer, or hands a watch to the ``WatchHub``.  Every failure
becomes a ``kind: Status`` body; only a bug in this code can produce a 500.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, NamedTuple

from pyk8s.api import errors
from pyk8s.api.core import default_registry
from pyk8s.api.errors import MAX_BODY_BYTES, StatusError, bad_request
from pyk8s.api.patch import MERGE_PATCH
from pyk8s.api.registry import Registry
from pyk8s.apiserver.compaction import Compactor
from pyk8s.apiserver.handlers import ResourceHandlers
from pyk8s.apiserver.options import parse_list_options, parse_query
from pyk8s.apiserver.routing import Route, route
from pyk8s.apiserver.watch import WATCH_HEADERS, WatchHub, error_event
from pyk8s.store import ExpiredError, FutureRevisionError, Storage, Watcher, open_store

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
# As kube-apiserver: a body must say it is JSON (or carry no Content-Type at all); curl's
# default form encoding gets 415 like any other media type.
_JSON_TYPES = frozenset(("application/json",))
_PATCH_TYPES = frozenset((MERGE_PATCH, "application/json"))
_KNOWN_PATCH_TYPES = (
    "application/json-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)
_WRITE_METHODS = frozenset(("POST", "PUT", "PATCH", "DELETE"))


class Response(NamedTuple):
    status: int
    body: bytes
    headers: list[tuple[str, str]] = JSON_HEADERS


def _media_type(content_type: str | None) -> str:
    if not content_type:
        return ""
    return content_type.split(";", 1)[0].strip().lower()


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
    ) -> None:
        self.store = store if store is not None else open_store(storage)
        self.registry = registry if registry is not None else default_registry()
        self.handlers = ResourceHandlers(self.store)
        self.watches = WatchHub(self.store)
        self.compactor = Compactor(self.store, compaction_interval, compaction_retention)

    # -- lifecycle (granian calls these in the worker, on its loop) -----------------------

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.watches.attach(loop)
        self.compactor.start(loop)

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.shutdown()
        self.watches.detach()

    def shutdown(self) -> None:
        """End open watch streams and stop background work, so the HTTP server's graceful
        stop does not wait on streams that would never end by themselves."""
        self.watches.shutdown()
        self.compactor.stop()

    # -- the synchronous core -------------------------------------------------------------

    def handle(
        self, method: str, path: str, query_string: str = "", content_type: str | None = None, body: bytes = b""
    ) -> Response:
        """Serve a non-watch request.  Never raises."""
        try:
            return self._dispatch(method, path, query_string, content_type, body)
        except StatusError as error:
            return _error_response(error)
        except RecursionError:
            return _error_response(bad_request("the request is nested too deeply"))
        except Exception as exc:  # a bug: still answer with a Status, and say so in the log
            log.exception("internal error serving %s %s", method, path)
            return _error_response(errors.internal_error(f"{type(exc).__name__}: {exc}"))

    def _dispatch(self, method: str, path: str, query_string: str, content_type: str | None, body: bytes) -> Response:
        if path in HEALTH_PATHS:
            return Response(200, b"ok", TEXT_HEADERS)
        found = route(self.registry, path)
        if found is None or found.subresource:
            raise errors.path_not_found()
        if len(body) > MAX_BODY_BYTES:
            raise errors.request_entity_too_large()
        handlers = self.handlers
        if not found.name:
            if method == "GET":
                options = parse_list_options(found.resource, parse_query(query_string), found.legacy_watch)
                if options.watch:
                    raise bad_request("watch requests are served by the streaming path")
                return Response(*handlers.list(found, options))
            if method == "POST":
                self._check_content_type(content_type, body)
                return Response(*handlers.create(found, body))
            raise errors.method_not_allowed()
        if found.legacy_watch:
            raise errors.method_not_allowed()
        if method == "GET":
            return Response(*handlers.get(found))
        if method == "PUT":
            self._check_content_type(content_type, body)
            return Response(*handlers.update(found, body))
        if method == "PATCH":
            self._check_patch_type(content_type)
            return Response(*handlers.patch(found, body))
        if method == "DELETE":
            if body.strip():
                self._check_content_type(content_type, body)
            return Response(*handlers.delete(found, body))
        raise errors.method_not_allowed()

    @staticmethod
    def _check_content_type(content_type: str | None, body: bytes) -> None:
        media = _media_type(content_type)
        if media and media not in _JSON_TYPES:
            raise errors.unsupported_media_type(media, ("application/json",))

    @staticmethod
    def _check_patch_type(content_type: str | None) -> None:
        media = _media_type(content_type)
        if media and media not in _PATCH_TYPES:
            if media in _KNOWN_PATCH_TYPES:
                raise StatusError(
                    415, "UnsupportedMediaType", f"the server does not support patch type {media!r} yet; use {MERGE_PATCH}"
                )
            raise errors.unsupported_media_type(media, (MERGE_PATCH, "application/json"))

    def open_watch(self, path: str, query_string: str) -> tuple[Watcher | None, float, bytes]:
        """``(watcher, timeout seconds, b"")`` for a watch request, or ``(None, 0, line)``
        when the watch ends at once with an ERROR event (410 from a compacted revision).
        Raises StatusError for a request that is not a valid watch."""
        found = self._watch_route(path)
        options = parse_list_options(found.resource, parse_query(query_string), force_watch=True)
        field_selector = options.field_selector
        if found.name:
            # Watching one object (GET .../pods/x?watch=true, /watch/.../pods/x), as upstream
            # serves it: the collection's watch narrowed to that name.
            field_selector = (*field_selector, ("metadata.name", "=", found.name))
        if self.watches.closing:
            raise StatusError(503, "ServiceUnavailable", "the server is shutting down")
        send_initial = options.resource_version in ("", "0")
        if options.send_initial_events is not None:
            send_initial = options.send_initial_events
        try:
            watcher = self.store.watch(
                found.resource.plural,
                found.namespace,
                options.label_selector,
                field_selector,
                from_revision=options.revision,
                send_initial=send_initial,
                notifier=self.watches.notifier,
            )
        except ExpiredError as exc:
            return None, 0.0, error_event(errors.resource_version_too_old(exc.requested, exc.compacted))
        except FutureRevisionError as exc:
            return None, 0.0, error_event(errors.too_large_resource_version(exc.requested, exc.current))
        return watcher, float(options.timeout_seconds), b""

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
                await self._serve_watch(path, query_string, protocol)
                return
            body = b""
            content_type = None
            if method in _WRITE_METHODS:
                headers = scope.headers
                content_type = headers.get("content-type")
                try:
                    body = await self._read_body(headers, protocol)
                except _PROTOCOL_CLOSED:
                    return  # the client went away while sending its body
            response = self.handle(method, path, query_string, content_type, body)
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

    async def _serve_watch(self, path: str, query_string: str, protocol: Any) -> None:
        watcher, timeout, error_line = self.open_watch(path, query_string)
        if watcher is None:
            transport = protocol.response_stream(200, WATCH_HEADERS)
            try:
                await transport.send_bytes(error_line)
            except RuntimeError:
                pass  # client gone
            return
        await self.watches.stream(protocol, watcher, timeout)
