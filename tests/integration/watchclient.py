"""A minimal streaming watch client over a plain socket (thousands of them are cheap)."""

from __future__ import annotations

import socket
import time

import orjson


class RawWatch:
    """A watch over a plain socket: cheap enough to open thousands of."""

    def __init__(self, port: int, path: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        self.buffer = b""
        self.headers_done = False

    def events(self, count: int, timeout: float = 5.0) -> list[dict]:
        """Read ``count`` events (de-chunked, line-split)."""
        deadline = time.monotonic() + timeout
        events: list[dict] = []
        while len(events) < count:
            events.extend(self._parse())
            if len(events) >= count:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"got {len(events)} of {count} events: {events}")
            self.sock.settimeout(remaining)
            data = self.sock.recv(65536)
            if not data:
                events.extend(self._parse())
                if len(events) < count:
                    raise EOFError(f"stream ended after {len(events)} events: {events}")
                break
            self.buffer += data
        return events

    def ended(self, timeout: float = 5.0) -> bool:
        """True once the server finished the chunked body (or closed the connection)."""
        deadline = time.monotonic() + timeout
        while b"\r\n0\r\n\r\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.sock.settimeout(remaining)
            data = self.sock.recv(65536)
            if not data:
                return True
            self.buffer += data
        return True

    _pending: bytes = b""
    _body: bytes = b""

    def _parse(self) -> list[dict]:
        if not self.headers_done:
            head, sep, rest = self.buffer.partition(b"\r\n\r\n")
            if not sep:
                return []
            assert head.startswith(b"HTTP/1.1 200"), head
            self.headers_done = True
            self.buffer = rest
        # De-chunk what is complete, keep the rest; keep the raw tail so ended() can see "0\r\n\r\n".
        out = []
        while True:
            size_line, sep, rest = self._pending_raw().partition(b"\r\n")
            if not sep:
                break
            size = int(size_line, 16)
            if size == 0 or len(rest) < size + 2:
                break
            self._body += rest[:size]
            self._consumed += len(size_line) + 2 + size + 2
        while b"\n" in self._body:
            line, _, self._body = self._body.partition(b"\n")
            out.append(orjson.loads(line))
        return out

    _consumed = 0

    def _pending_raw(self) -> bytes:
        return self.buffer[self._consumed:]

    def close(self) -> None:
        self.sock.close()
