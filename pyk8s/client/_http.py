"""The informers' transport: list and watch GETs over plain asyncio connections.

A watch is one long GET whose chunked body is the event stream, and a list one GET whose
answer may be megabytes: neither needs a general HTTP client, and importing aiohttp costs a
component ~0.1 s of CPU at every start, before its informers can sync.  The other verbs keep
aiohttp (``_rest``), imported at their first use.

``ResponseParser`` (llhttp, through httptools, doing the framing: a watch event is one chunk,
and a pure-Python parser cost several microseconds of each) turns what the socket brings
into the body, de-chunked, piece by piece as it arrives.  ``HttpResponse.read_any`` gives
the body as it arrives (what has arrived, up to ~256 KiB per call); reading pauses the
socket when a slow consumer leaves more than a few megabytes unread.  Timeouts:
``connect_timeout`` for the connection (TLS handshake included), then each wait for data
(the head included) may last ``read_timeout`` at most.
"""

from __future__ import annotations

import asyncio

import httptools

from pyk8s.client._wire import Endpoint

__all__ = ["ConnectionPool", "HttpResponse", "ResponseParser", "open_get"]

_PAUSE_ABOVE = 8 << 20  # unread body bytes at which the socket stops being read
_READ_SIZE = 256 << 10  # about this much per read_any: a watch's batches stay bounded
_IDLE_CONNECTIONS = 4  # kept open per client for the next list
_MAX_HEAD = 1 << 20  # a response head (status line and headers) larger than this is refused
_SENT_HEADERS = [("Host", "pyk8s")]


class ResponseParser:
    """Feed it the bytes of the answer to one GET as they arrive (``feed``, then ``eof`` when
    the connection ends); llhttp (through httptools) does the framing: interim answers, sized,
    chunked or until-close bodies, trailers.  ``status`` and ``headers`` (lower-case names)
    are set once the head is in; ``take()`` returns the body received so far, de-chunked;
    ``complete`` turns true at the body's end.  Malformed input raises ValueError."""

    __slots__ = ("status", "headers", "complete", "keep_alive", "buffered", "_pieces", "_parser", "_head",
                 "_head_size", "_until_close", "_failed")

    def __init__(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.complete = False
        self.keep_alive = False
        self.buffered = 0  # body bytes received and not taken yet
        self._pieces: list = []
        self._head: dict[str, str] = {}  # the headers of the answer being read
        self._head_size = 0  # bytes fed before the head was complete (bounded by _MAX_HEAD)
        self._until_close = False  # a body framed by neither length nor chunks: ends with the connection
        self._failed: ValueError | None = None
        self._parser = httptools.HttpResponseParser(self)

    @property
    def head_received(self) -> bool:
        return self.status != 0

    def take(self, limit: int | None = None) -> bytes:
        """The body received so far, or about ``limit`` bytes of it (whole pieces as they
        arrived, so a watch's consumer takes what a few reads brought rather than
        everything a slow turn let pile up)."""
        pieces = self._pieces
        if limit is None or self.buffered <= limit:
            self._pieces, self.buffered = [], 0
        else:
            size = count = 0
            while size < limit:
                size += len(pieces[count])
                count += 1
            self._pieces, pieces = pieces[count:], pieces[:count]
            self.buffered -= size
        return bytes(pieces[0]) if len(pieces) == 1 else b"".join(pieces)

    def eof(self) -> None:
        """The connection ended: that ends a body read until close; any other unfinished
        response stays incomplete."""
        self.keep_alive = False
        if self._until_close and self._failed is None:
            self.complete = True

    def feed(self, data: bytes) -> None:
        if self.complete or self._failed is not None:
            if self._failed is not None:
                raise self._failed
            return  # what follows the answer is not part of it
        if not self.status:
            self._head_size += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            if self.complete:
                return  # the bytes after the answer's end started something else
            self._failed = ValueError(f"malformed HTTP answer: {error}")
            raise self._failed from None
        if not self.status and self._head_size > _MAX_HEAD:
            self._failed = ValueError("malformed HTTP answer: response head too large")
            raise self._failed

    # -- llhttp's callbacks ---------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._head = {}

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        # Repeated fields are one comma-separated list (RFC 9110 5.3).
        self._head[key] = f"{self._head[key]}, {text}" if key in self._head else text

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if status < 200 or self.complete:
            return  # an interim answer (100 Continue): the real one follows
        self.status = status
        self.headers = self._head
        self._until_close = (status not in (204, 304) and "content-length" not in self._head
                             and "transfer-encoding" not in self._head)

    def on_body(self, body: bytes) -> None:
        if not self.complete:
            self._pieces.append(body)
            self.buffered += len(body)

    def on_message_complete(self) -> None:
        if self.status and not self.complete:
            self.complete = True
            self.keep_alive = self._parser.should_keep_alive()


class _GetProtocol(asyncio.Protocol):
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = ResponseParser()
        self.error: BaseException | None = None
        self.closed = False
        self.paused = False
        self.pause_above = _PAUSE_ABOVE  # read_all: no limit, the whole body is wanted
        self.waiter: asyncio.Future | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed(data)
        except ValueError as error:
            self.error = error
            self.transport.close()
        else:
            if not self.paused and self.parser.buffered > self.pause_above:
                self.paused = True
                self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.parser.eof()
        self._wake()
        return False

    def connection_lost(self, exc) -> None:
        self.closed = True
        self.parser.eof()
        if exc is not None and self.error is None:
            self.error = exc
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self, timeout: float | None) -> None:
        """Until more arrives, the connection ends, or ``timeout`` (TimeoutError)."""
        waiter = self.waiter = self.loop.create_future()
        timer = self.loop.call_later(timeout, _expire, waiter) if timeout else None
        try:
            await waiter
        finally:
            if timer is not None:
                timer.cancel()


def _expire(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError("no data from the server in time"))


class HttpResponse:
    """One GET's answer: ``status``, ``headers``, and the body through ``read_any`` /
    ``read_all``.  Errors: OSError (connection), TimeoutError, ValueError (not HTTP)."""

    def __init__(self, protocol: _GetProtocol, read_timeout: float | None, pool: ConnectionPool | None) -> None:
        self._protocol = protocol
        self._read_timeout = read_timeout
        self._pool = pool
        self.status = protocol.parser.status
        self.headers = protocol.parser.headers

    async def read_any(self) -> bytes:
        """What has arrived of the body (waiting for some); b"" once it is complete.  A
        connection that ends before the body does raises ConnectionError."""
        protocol = self._protocol
        if protocol is None:
            return b""
        parser = protocol.parser
        while True:
            data = parser.take(_READ_SIZE)
            if data:
                if protocol.paused:
                    protocol.paused = False
                    protocol.transport.resume_reading()
                return data
            if parser.complete:
                self._release()
                return b""
            if protocol.error is not None:
                raise protocol.error
            if protocol.closed:
                raise ConnectionResetError("connection closed before the end of the response")
            await protocol.wait(self._read_timeout)

    async def read_all(self) -> bytes:
        protocol = self._protocol
        if protocol is not None:
            protocol.pause_above = float("inf")
            if protocol.paused:
                protocol.paused = False
                protocol.transport.resume_reading()
        while protocol is not None and not protocol.parser.complete:
            if protocol.error is not None:
                raise protocol.error
            if protocol.closed:
                raise ConnectionResetError("connection closed before the end of the response")
            await protocol.wait(self._read_timeout)
        body = protocol.parser.take() if protocol is not None else b""
        self._release()
        return body

    def _release(self) -> None:
        """A complete answer on a keep-alive connection: back to the pool for the next GET."""
        protocol, self._protocol = self._protocol, None
        if protocol is None:
            return
        if self._pool is not None and protocol.parser.keep_alive and not protocol.closed:
            self._pool.put(protocol)
        elif protocol.transport is not None:
            protocol.transport.close()

    def close(self) -> None:
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.transport is not None:
            protocol.transport.close()


class ConnectionPool:
    """Idle keep-alive connections of one endpoint, on the loop that opened them."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._idle: list[_GetProtocol] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def put(self, protocol: _GetProtocol) -> None:
        if len(self._idle) < _IDLE_CONNECTIONS and protocol.loop is self._loop:
            protocol.parser = ResponseParser()
            protocol.pause_above = _PAUSE_ABOVE
            self._idle.append(protocol)
        else:
            protocol.transport.close()

    def take(self) -> _GetProtocol | None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self.close()  # connections of a finished loop cannot be used on this one
            self._loop = loop
        while self._idle:
            protocol = self._idle.pop()
            if not protocol.closed and protocol.error is None:
                return protocol
            protocol.transport.close()
        return None

    def close(self) -> None:
        idle, self._idle = self._idle, []
        for protocol in idle:
            if not protocol.transport.is_closing() and not protocol.loop.is_closed():
                protocol.transport.close()


async def _connect(endpoint: Endpoint, timeout: float | None) -> _GetProtocol:
    loop = asyncio.get_running_loop()
    connecting = loop.create_connection(
        lambda: _GetProtocol(loop), endpoint.host, endpoint.port, ssl=endpoint.ssl,
        server_hostname=endpoint.server_hostname,
    )
    # asyncio.timeout, not wait_for: in 3.11, wait_for can swallow a cancellation that
    # arrives as the connection completes, and a cancelled informer would then watch on.
    async with asyncio.timeout(timeout or None):
        _transport, protocol = await connecting
    return protocol


async def _send(protocol: _GetProtocol, request: bytes, read_timeout: float | None) -> None:
    protocol.transport.write(request)
    parser = protocol.parser
    while not parser.head_received:
        if protocol.error is not None:
            raise protocol.error
        if protocol.closed:
            raise ConnectionResetError("connection closed before the response")
        await protocol.wait(read_timeout)


async def open_get(
    endpoint: Endpoint, path: str, query: dict[str, str] | None, *, connect_timeout: float | None,
    read_timeout: float | None, pool: ConnectionPool | None = None,
) -> HttpResponse:
    """Send the GET and wait for the answer's head.  With ``pool``, an idle connection is
    used when there is one (a GET is idempotent: if the server closed it meanwhile, the
    request goes again on a new connection), and the connection goes back to it once the
    body has been read."""
    request = endpoint.get_request(path, query)
    reused = pool.take() if pool is not None else None
    if reused is not None:
        try:
            await _send(reused, request, read_timeout)
            return HttpResponse(reused, read_timeout, pool)
        except (OSError, ValueError):
            if reused.parser.head_received:
                raise
            reused.transport.close()
    protocol = await _connect(endpoint, connect_timeout)
    try:
        await _send(protocol, request, read_timeout)
    except BaseException:
        protocol.transport.close()
        raise
    return HttpResponse(protocol, read_timeout, pool)
