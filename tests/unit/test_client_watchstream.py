"""WatchStream against a scripted HTTP server: lines split across chunks, a line larger than
any read buffer, a clean end, a connection cut mid-stream, and a refused watch."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from pyk8s.client import PODS, ApiClient, Expired, TransportError


async def scripted_server(pieces: list[bytes], finish: bool = True, status: bytes = b"200 OK", body: bytes = b""):
    """An HTTP/1.1 server answering one request with ``pieces`` as chunks, each flushed
    separately (or a plain ``body`` with another status)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        if status != b"200 OK":
            writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            await writer.drain()
            writer.close()
            return
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        for piece in pieces:
            writer.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
            await writer.drain()
            await asyncio.sleep(0.005)
        if finish:
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


def event(kind: str, name: str, rv: int, padding: int = 0) -> bytes:
    obj = {"metadata": {"name": name, "resourceVersion": str(rv)}}
    if padding:
        obj["data"] = "x" * padding
    return orjson.dumps({"type": kind, "object": obj}) + b"\n"


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 5))


def test_lines_split_across_chunks_and_a_huge_line():
    stream_bytes = event("ADDED", "a", 1) + event("MODIFIED", "big", 2, padding=3_000_000) + event("DELETED", "a", 3)
    # Cut at awkward places: mid-line, right after a newline, and in many small pieces.
    pieces = [stream_bytes[:7], stream_bytes[7:40]]
    rest = stream_bytes[40:]
    pieces += [rest[i:i + 65_537] for i in range(0, len(rest), 65_537)]

    async def main():
        server, url = await scripted_server(pieces)
        async with server, ApiClient(url) as client:
            async with client.watch(PODS) as stream:
                events = [(t, o["metadata"]["name"], len(o.get("data", ""))) async for t, o in stream]
        assert events == [("ADDED", "a", 0), ("MODIFIED", "big", 3_000_000), ("DELETED", "a", 0)]

    run(main())


def test_connection_cut_mid_stream_raises_transport_error():
    async def main():
        server, url = await scripted_server([event("ADDED", "a", 1), event("ADDED", "b", 2)[:10]], finish=False)
        async with server, ApiClient(url) as client:
            seen = []
            with pytest.raises(TransportError):
                async for event_type, obj in client.watch(PODS):
                    seen.append(obj["metadata"]["name"])
            assert seen == ["a"]

    run(main())


def test_refused_watch_raises_the_typed_error():
    body = orjson.dumps({"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"})

    async def main():
        server, url = await scripted_server([], status=b"410 Gone", body=body)
        async with server, ApiClient(url) as client:
            with pytest.raises(Expired, match="too old"):
                async with client.watch(PODS, resource_version="1"):
                    pass

    run(main())


def test_connection_refused_is_a_transport_error():
    async def main():
        async with ApiClient("http://127.0.0.1:1", connect_timeout=1) as client:
            with pytest.raises(TransportError):
                await client.list(PODS)
            with pytest.raises(TransportError):
                async with client.watch(PODS):
                    pass

    run(main())
