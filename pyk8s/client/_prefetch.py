"""Lists requested at a component's start, before it has imported its event loop and client.

A component's informers cannot list before the process has imported asyncio, the client
and its own modules: a few hundred milliseconds of one core, while the API server, which
could be building the lists meanwhile, waits.  ``ListPrefetch`` sends each GET from a
background thread as soon as the connection settings are known; the threads read the
answers while the main thread imports (a blocking read releases the GIL).  An informer
then takes its list from here (``SharedInformer.set_initial_list``) instead of requesting
it: the same objects and resourceVersion the informer's own first list would give, its
watch starting from that resourceVersion as after any list.

A prefetched list is whole (no ``limit``): one consistent read, as upstream's informers
get theirs from the API server's watch cache (``resourceVersion=0`` ignores ``limit``).

Imports here are the standard library's lightest and ``_wire``; http.client, which reads
the answers, is imported by the threads once their requests are out, and asyncio and
orjson by the time a list is taken.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import Future
from typing import Any

from pyk8s.client._config import ClientConfig
from pyk8s.client._resources import Resource
from pyk8s.client._wire import Endpoint

__all__ = ["ListPrefetch"]

_RECEIVE_BUFFER = 8 << 20  # lets the server hand over a large list without waiting for reads


def _fetch(endpoint: Endpoint, request: bytes, connect_timeout: float, timeout: float) -> tuple[int, bytes]:
    """One GET over a blocking socket: (status, body).  The request leaves before http.client,
    which reads the answer, is imported (the import then overlaps the server's work)."""
    raw = socket.create_connection((endpoint.host, endpoint.port), timeout=connect_timeout)
    try:
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECEIVE_BUFFER)
        sock = raw
        if endpoint.ssl is not None:
            sock = endpoint.ssl.wrap_socket(raw, server_hostname=endpoint.server_hostname)
        sock.settimeout(timeout)
        sock.sendall(request)
        import http.client

        response = http.client.HTTPResponse(sock, method="GET")
        try:
            response.begin()
            return response.status, response.read()
        finally:
            response.close()
    finally:
        raw.close()


def _run(future: Future, *args: Any) -> None:
    try:
        future.set_result(_fetch(*args))
    except Exception as error:  # handed to the informer, which then lists by itself
        future.set_exception(error)


class ListPrefetch:
    """Starts a GET of the whole, cluster-wide list of each resource at once;
    ``take(resource)`` gives the coroutine function an informer's ``set_initial_list``
    expects (once per resource).  Lists never taken are simply dropped."""

    def __init__(
        self, config: ClientConfig, resources: Iterable[Resource], *, user_agent: str = "pyk8s-client",
        connect_timeout: float = 5.0, timeout: float = 30.0,
    ) -> None:
        endpoint = Endpoint(config, user_agent, config.ssl_context())
        self._pending: dict[Resource, tuple[str, Future]] = {}
        for resource in resources:
            path = resource.path()
            future: Future = Future()
            thread = threading.Thread(
                target=_run, args=(future, endpoint, endpoint.get_request(path), connect_timeout, timeout),
                name=f"prefetch-{resource.plural}", daemon=True,
            )
            thread.start()
            self._pending[resource] = (path, future)

    def take(self, resource: Resource) -> Callable[[], Awaitable[dict]] | None:
        pending = self._pending.pop(resource, None)
        if pending is None:
            return None
        path, future = pending

        async def listed() -> dict:
            return await _listed(path, future)

        return listed


async def _listed(path: str, future: Future) -> dict:
    """The list, or the error the client's own list would have raised."""
    import asyncio
    from http.client import HTTPException

    import orjson

    from pyk8s.client._errors import TransportError, error_from_response

    try:
        status, payload = await asyncio.wrap_future(future)
    except (OSError, ValueError, HTTPException) as error:
        raise TransportError(f"GET {path}: {error!r}") from error
    if status >= 300:
        raise error_from_response(status, payload)
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as error:
        raise TransportError(f"GET {path}: answer is not JSON: {error}") from None
