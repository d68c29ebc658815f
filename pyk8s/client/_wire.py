"""HTTP/1.1 GET on the wire, for the informers' verbs (list and watch): the request bytes and
an incremental response parser, with no event loop and nothing heavier than the standard
library, so the same code serves asyncio connections (``_http``) and the blocking threads
that prefetch lists while a process is still importing (``_prefetch``).

The parser takes whatever a read returned and hands out the body de-chunked, piece by
piece, as it arrives: a watch's events as they stream, a list's megabytes without one
copy per read.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode, urlsplit

from pyk8s.client._config import ClientConfig

__all__ = ["Endpoint", "ResponseParser"]

_MAX_HEAD = 1 << 20  # a response head (status line and headers) larger than this is refused

(_HEAD, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILER, _LENGTH, _UNTIL_CLOSE, _DONE) = range(8)


class Endpoint:
    """Where and how to send GETs for one ``ClientConfig``: address, TLS, fixed headers."""

    def __init__(self, config: ClientConfig, user_agent: str, ssl_context=None) -> None:
        url = urlsplit(config.server)
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.ssl = ssl_context
        self.server_hostname = (config.tls_server_name or self.host) if ssl_context is not None else None
        self.base_path = url.path.rstrip("/")
        headers = {"Host": url.netloc, "Accept": "application/json", "User-Agent": user_agent, **config.auth_headers()}
        self._head_suffix = "".join(f"{name}: {value}\r\n" for name, value in headers.items()).encode("latin-1")

    def get_request(self, path: str, query: dict[str, str] | None = None) -> bytes:
        target = self.base_path + path
        if query:
            target += "?" + urlencode(query, quote_via=quote)
        return b"GET " + target.encode("ascii") + b" HTTP/1.1\r\n" + self._head_suffix + b"\r\n"


class ResponseParser:
    """Feed it the bytes of one response as they arrive (``feed``, then ``eof`` when the
    connection ends).  ``status`` and ``headers`` (lower-case names) are set once the head is
    in; ``take()`` returns the body received so far, de-chunked; ``complete`` turns true at
    the body's end.  Malformed input raises ValueError."""

    __slots__ = ("status", "headers", "complete", "keep_alive", "buffered", "_pieces", "_state", "_pending", "_remaining")

    def __init__(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.complete = False
        self.keep_alive = False
        self.buffered = 0  # body bytes received and not taken yet
        self._pieces: list[bytes] = []
        self._state = _HEAD
        self._pending = b""  # an incomplete control line (head, chunk size, trailer) carried over
        self._remaining = 0

    @property
    def head_received(self) -> bool:
        return self._state != _HEAD

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
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def eof(self) -> None:
        """The connection ended: that ends a body read until close; any other unfinished
        response stays incomplete."""
        if self._state == _UNTIL_CLOSE:
            self._state = _DONE
            self.complete = True
        self.keep_alive = False

    def feed(self, data: bytes) -> None:
        if self._pending:
            data = self._pending + data
            self._pending = b""
        if self._state == _HEAD:
            position = self._feed_head(data)
            if position < 0:
                return
        else:
            position = 0
        if self._state == _CHUNK_SIZE:  # the usual state of a watch between reads
            position = self._feed_chunks(data, position)
        self._feed_rest(data, position)

    def _feed_head(self, data: bytes) -> int:
        """Where the body starts in ``data``, or -1 (the head is not complete yet)."""
        position = 0
        while self._state == _HEAD:
            head_end = data.find(b"\r\n\r\n", position)
            if head_end < 0:
                self._pending = data[position:]
                if len(self._pending) > _MAX_HEAD:
                    raise ValueError("response head too long")
                return -1
            self._parse_head(data[position:head_end])
            position = head_end + 4
        return position

    def _feed_chunks(self, data: bytes, position: int) -> int:
        """The fast path of a chunked body: whole chunks (a watch sends an event per
        chunk) taken in one loop; returns where a chunk begins that is not whole here, in
        the _CHUNK_SIZE state, or the position after the last chunk (_TRAILER)."""
        end = len(data)
        pieces = self._pieces
        find = data.find
        taken = 0
        while True:
            line_end = find(b"\r\n", position)
            if line_end < 0:
                break
            try:
                size = int(data[position:line_end], 16)
            except ValueError:
                size = int(data[position:line_end].split(b";", 1)[0], 16)  # a chunk extension
            if size <= 0:
                if size < 0:
                    raise ValueError("negative chunk size")
                self._state = _TRAILER
                position = line_end + 2
                break
            start = line_end + 2
            stop = start + size
            if stop + 2 > end:
                break  # not whole: _feed_rest reads the size line again
            if data[stop:stop + 2] != b"\r\n":
                raise ValueError("chunk not followed by CRLF")
            pieces.append(data[start:stop])
            taken += size
            position = stop + 2
        self.buffered += taken
        return position

    def _feed_rest(self, data: bytes, position: int) -> None:
        end = len(data)
        pieces = self._pieces
        while True:
            state = self._state
            if state == _CHUNK_DATA or state == _LENGTH:
                take = min(self._remaining, end - position)
                if take:
                    pieces.append(data if take == end else data[position:position + take])
                    self.buffered += take
                    position += take
                    self._remaining -= take
                if self._remaining:
                    return
                if state == _LENGTH:
                    self._finish()
                    return
                self._state = _CHUNK_END
            elif state == _CHUNK_END:
                if end - position < 2:
                    self._pending = data[position:]
                    return
                if data[position:position + 2] != b"\r\n":
                    raise ValueError("chunk not followed by CRLF")
                position += 2
                self._state = _CHUNK_SIZE
                position = self._feed_chunks(data, position)
            elif state == _CHUNK_SIZE or state == _TRAILER:
                line_end = data.find(b"\r\n", position)
                if line_end < 0:
                    self._pending = data[position:]
                    if len(self._pending) > _MAX_HEAD:
                        raise ValueError("chunk header too long")
                    return
                line = data[position:line_end]
                position = line_end + 2
                if state == _TRAILER:
                    if not line:
                        self._finish()
                        return
                    continue
                size = int(line.split(b";", 1)[0].strip(), 16)
                if size < 0:
                    raise ValueError("negative chunk size")
                if size:
                    self._remaining = size
                    self._state = _CHUNK_DATA
                else:
                    self._state = _TRAILER
            elif state == _UNTIL_CLOSE:
                if position < end:
                    pieces.append(data if position == 0 else data[position:])
                    self.buffered += end - position
                return
            else:  # _HEAD cannot come back; _DONE: nothing follows an answer not pipelined
                return

    def _parse_head(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        status_line = lines[0]
        if not status_line.startswith(b"HTTP/1.") or len(status_line) < 12:
            raise ValueError(f"not an HTTP/1.x response: {status_line[:40]!r}")
        status = int(status_line[9:12])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon:
                raise ValueError(f"malformed header line {line[:40]!r}")
            headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
        if 100 <= status < 200:
            return  # an interim answer (100 Continue): the real head follows
        self.status, self.headers = status, headers
        connection = headers.get("connection", "").lower()
        self.keep_alive = status_line.startswith(b"HTTP/1.1") and "close" not in connection
        if status in (204, 304):
            self._finish()
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            self._state = _CHUNK_SIZE
        elif "content-length" in headers:
            self._remaining = int(headers["content-length"])
            if self._remaining < 0:
                raise ValueError("negative content-length")
            self._state = _LENGTH
            if not self._remaining:
                self._finish()
        else:
            self._state = _UNTIL_CLOSE
            self.keep_alive = False

    def _finish(self) -> None:
        self._state = _DONE
        self.complete = True
