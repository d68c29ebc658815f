"""Pipelined HTTP/1.1 writes for the scheduler's per-pod requests (bindings, events).

Each pod costs the scheduler a ``pods/binding`` POST and an Event POST.  Through a general
client (aiohttp) each request costs ~150-200 us of the scheduler's CPU, more than the
scheduling algorithm itself; here requests are written back to back on persistent
connections and their answers parsed in order (HTTP/1.1 pipelining; llhttp, through
httptools, reads them), for a few tens of microseconds each.  Requests made in one turn of the event loop leave in one write per
connection.  The server works on one request per connection at a time, so the callers
open dozens of connections: the server then takes a batch of requests per wakeup, which
costs it (and this side) far less per request than a few deep pipelines.
The wire is the same HTTP the API server always serves; credentials and TLS come from the
ApiClient's configuration.

``send_to`` is the hot path: no coroutine, task or future per request; the answer goes
straight to a callback, ``callback(status, body, error)`` (``answer_of`` turns it into the
body or the ApiClient's typed error).  ``send`` gives a future of the raw ``(status, body)``
answer instead (``answer`` reads it), and ``request`` is the awaitable form.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import itertools
import logging
from collections.abc import Callable
from urllib.parse import urlsplit

import httptools

from pyk8s.client import ApiClient, TransportError
from pyk8s.client._errors import error_from_response

__all__ = ["PipelinedWriter", "answer", "answer_of"]

log = logging.getLogger(__name__)

# callback(status, body, error): error is None for an answer, else the TransportError of a
# lost connection (status 0), or asyncio.CancelledError when the request was cancelled
# before it could be written.
AnswerCallback = Callable[[int, bytes, "BaseException | None"], None]

@functools.lru_cache(maxsize=64)
def _ascii(text: str) -> bytes:
    return text.encode("ascii")


@functools.lru_cache(maxsize=4096)
def _length_line(length: int) -> bytes:
    """The Content-Length value and the head's end: bodies of one kind have a few lengths,
    and the cache costs a third of formatting them per request."""
    return b"%d\r\n\r\n" % length


def answer(future: asyncio.Future) -> bytes:
    """The body of a ``send`` future's answer; raises the typed error of a failed request
    (TransportError when the connection was lost)."""
    status, payload = future.result()
    if status >= 400:
        raise error_from_response(status, payload)
    return payload


def answer_of(status: int, body: bytes, error: BaseException | None) -> bytes:
    """``answer`` for a ``send_to`` callback's arguments."""
    if error is not None:
        raise error
    if status >= 400:
        raise error_from_response(status, body)
    return body


def _deliver(waiter, status: int, body: bytes, error: BaseException | None) -> None:
    """Hand an answer (or the connection's failure) to what waits for it: a ``send`` future,
    or a ``send_to`` callback, called at once.  A callback's exception is reported as the
    loop reports one of a future's done callbacks; it must not reach llhttp, whose parser
    would be left failed for the answers after it."""
    if isinstance(waiter, asyncio.Future):
        if not waiter.done():
            if error is None:
                waiter.set_result((status, body))
            else:
                waiter.set_exception(error)
        return
    try:
        waiter(status, body, error)
    except Exception as exc:  # noqa: BLE001 - reported, as the loop reports a callback's
        asyncio.get_running_loop().call_exception_handler(
            {"message": f"pipelined answer callback {waiter!r} failed", "exception": exc})


def _future_to_callback(callback: AnswerCallback, future: asyncio.Future) -> None:
    if future.cancelled():
        callback(0, b"", asyncio.CancelledError())
        return
    error = future.exception()
    if error is not None:
        callback(0, b"", error)
        return
    status, body = future.result()
    callback(status, body, None)


class _Connection(asyncio.Protocol):
    """One pipelined connection: requests go out in order, and llhttp (httptools) reads the
    answers in the same order, each going to the oldest waiter (a future or a callback)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiting: collections.deque = collections.deque()  # futures and callbacks
        self.closed = False
        self.outgoing: list[bytes] = []  # requests of this loop turn, not yet written
        self._parser = httptools.HttpResponseParser(self)
        # The answer's body so far: answers are small (a Status, an object) and come in one
        # piece or few, so they are concatenated (b"" + piece is the piece, no copy).
        self._body = b""

    def queue(self, request: bytes, waiter, loop: asyncio.AbstractEventLoop) -> None:
        """``waiter``: a future or an ``AnswerCallback``."""
        if not self.outgoing:
            loop.call_soon(self.flush)
        self.outgoing.append(request)
        self.waiting.append(waiter)

    def flush(self) -> None:
        outgoing, self.outgoing = self.outgoing, []
        if self.closed or self.transport is None:
            return  # connection_lost has failed their futures already
        self.transport.write(b"".join(outgoing) if len(outgoing) > 1 else outgoing[0])

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        self.closed = True
        while self.waiting:
            _deliver(self.waiting.popleft(), 0, b"", TransportError(f"connection lost: {exc!r}"))

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            # Nothing after a broken answer can be matched with its request: the waiting
            # ones fail as on a lost connection, and the next send opens a new one.
            self.closed = True
            self.transport.close()
            self.connection_lost(ValueError(f"malformed HTTP answer: {error}"))

    # -- llhttp's callbacks, in order for each answer (the status is read at the end: one
    # callback less per answer than reading it when the head is complete) ----------------

    def on_body(self, body: bytes) -> None:
        self._body += body

    def on_message_complete(self) -> None:
        status = self._parser.get_status_code()
        if status < 200:
            return  # an interim answer (100 Continue): the real one follows
        body = self._body
        if body:
            self._body = b""
        if self.waiting:
            _deliver(self.waiting.popleft(), status, body, None)


class PipelinedWriter:
    def __init__(self, client: ApiClient, connections: int = 4) -> None:
        url = urlsplit(client.server)
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.ssl = client.config.ssl_context() if url.scheme == "https" else None
        self.server_hostname = client.config.tls_server_name or (self.host if self.ssl else None)
        self.connect_timeout = client.connect_timeout
        host_header = url.netloc.encode()
        extra = "".join(f"{k}: {v}\r\n" for k, v in client.config.auth_headers().items()).encode()
        self._head_suffix = b"Host: " + host_header + b"\r\nUser-Agent: pyk8s-scheduler\r\nAccept: application/json\r\n" + extra
        self._heads: dict[tuple[str, str], tuple[bytes, bytes]] = {}
        self._dirty: list[_Connection] = []  # connections with requests of this turn (send_to)
        self._slots: list[_Connection | None] = [None] * connections
        self._opening: list[asyncio.Future | None] = [None] * connections
        self._round_robin = itertools.cycle(range(connections))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._generation = 0  # close() counts up: a connection opened across it is closed at once

    async def _connection(self, index: int) -> _Connection:
        connection = self._slots[index]
        if connection is not None and not connection.closed:
            return connection
        opening = self._opening[index]
        if opening is None:
            opening = self._opening[index] = asyncio.ensure_future(self._open())
        try:
            connection = await asyncio.shield(opening)
        finally:
            if self._opening[index] is opening and opening.done():
                self._opening[index] = None
        self._slots[index] = connection
        return connection

    async def connect(self) -> None:
        """Open every connection now (e.g. while the informers sync), so the first requests
        do not wait for them and the server does not accept them all at once then.  A
        connection that cannot be opened is tried again by the send that needs it."""
        await asyncio.gather(*(self._connection(index) for index in range(len(self._slots))), return_exceptions=True)

    async def _open(self) -> _Connection:
        loop = self._loop = asyncio.get_running_loop()  # send() runs on the loop it opened on
        generation = self._generation
        try:
            # The client's connect timeout, TLS handshake included: a server that accepts
            # and then says nothing fails these requests (the next send opens anew).
            async with asyncio.timeout(self.connect_timeout):
                transport, protocol = await loop.create_connection(
                    _Connection, self.host, self.port, ssl=self.ssl, server_hostname=self.server_hostname)
        except (OSError, TimeoutError) as error:
            raise TransportError(f"connect {self.host}:{self.port}: {error!r}") from error
        if generation != self._generation:
            transport.close()
            raise TransportError("the writer was closed")
        return protocol

    def _request(self, method: str, path: str, body: bytes, content_type: str) -> bytes:
        # What the head has besides the path and the length, per (method, content type):
        # joined with them, it costs less than formatting the whole head per request.
        head = self._heads.get((method, content_type))
        if head is None:
            head = self._heads[method, content_type] = (
                _ascii(method) + b" ",
                b" HTTP/1.1\r\n" + self._head_suffix + b"Content-Type: " + _ascii(content_type) + b"\r\nContent-Length: ")
        return b"".join((head[0], path.encode(), head[1], _length_line(len(body)), body))

    def send(self, method: str, path: str, body: bytes, content_type: str = "application/json") -> asyncio.Future:
        """One request, written with the others of this loop turn; a future of its raw
        ``(status, body)`` (read it with ``answer``)."""
        index = next(self._round_robin)
        connection = self._slots[index]
        request = self._request(method, path, body, content_type)
        if connection is None or connection.closed:
            return asyncio.ensure_future(self._send_when_open(index, request))
        loop = self._loop
        future = loop.create_future()
        connection.queue(request, future, loop)
        return future

    def send_to(self, callback: AnswerCallback, method: str, path: str, body: bytes,
                content_type: str = "application/json") -> None:
        """``send`` without a future: ``callback(status, body, error)`` is called with the
        answer as it is read (on a connection still to be opened: from a later loop turn),
        or with the error a ``send`` future would have had (the connection's TransportError;
        asyncio.CancelledError if the request was cancelled before it was written)."""
        index = next(self._round_robin)
        connection = self._slots[index]
        request = self._request(method, path, body, content_type)
        if connection is None or connection.closed:
            opening = asyncio.ensure_future(self._send_when_open(index, request))
            opening.add_done_callback(functools.partial(_future_to_callback, callback))
            return
        # connection.queue, with one flush per writer and loop turn (not one per connection:
        # a turn's requests are spread over the connections).
        if not connection.outgoing:
            dirty = self._dirty
            if not dirty:
                self._loop.call_soon(self._flush_dirty)
            dirty.append(connection)
        connection.outgoing.append(request)
        connection.waiting.append(callback)

    def _flush_dirty(self) -> None:
        dirty, self._dirty = self._dirty, []
        for connection in dirty:
            if connection.outgoing:  # else a writer of its own flushed it already
                connection.flush()

    async def _send_when_open(self, index: int, request: bytes) -> tuple[int, bytes]:
        connection = await self._connection(index)
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        connection.queue(request, future, loop)
        return await future

    async def request(self, method: str, path: str, body: bytes, content_type: str = "application/json") -> bytes:
        """One request; the answer's body, or the typed error the ApiClient would raise."""
        status, payload = await self.send(method, path, body, content_type)
        if status >= 400:
            raise error_from_response(status, payload)
        return payload

    def close(self) -> None:
        for connection in self._slots:
            if connection is not None and connection.transport is not None:
                connection.transport.close()
        self._slots = [None] * len(self._slots)
        self._opening = [None] * len(self._slots)
        self._generation += 1
