"""The HTTP ceiling: granian serving the smallest RSGI app, with the API server's settings.

    python -m granian --interface rsgi --loop uvloop --workers 1 --host 127.0.0.1 --port 8081 \
        --working-dir benchmarks hello_rsgi:app

``GET /`` answers a 17-byte JSON object; ``GET /bytes/<n>`` answers an n-byte JSON body
(built once per size), the floor for moving a LIST response of that size through granian.
``api_load.py`` starts it this way and measures it with the same wrk settings as the API
server: whatever the API server reaches is a fraction of this.
"""

from __future__ import annotations

_HEADERS = [("content-type", "application/json")]
_HELLO = b'{"hello":"world"}'
_BODIES: dict[int, bytes] = {}
_MAX_BYTES = 256 << 20


def _body_of_size(size: int) -> bytes:
    body = _BODIES.get(size)
    if body is None:
        body = _BODIES[size] = b'{"x":"' + b"a" * max(0, size - 8) + b'"}'
    return body


async def app(scope, protocol) -> None:
    if scope.proto != "http":
        return
    path = scope.path
    if path.startswith("/bytes/") and path[7:].isdigit() and int(path[7:]) <= _MAX_BYTES:
        protocol.response_bytes(200, _HEADERS, _body_of_size(int(path[7:])))
    else:
        protocol.response_bytes(200, _HEADERS, _HELLO)
