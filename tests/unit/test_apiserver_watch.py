"""WatchHub against a fake RSGI protocol: wake-ups through the store's notifier, the ERROR
event of an expired watcher, client disconnects and server shutdown ending streams."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from apihelpers import body, pod
from pyk8s.apiserver.app import APIServer
from pyk8s.store import BACKENDS, open_store


class FakeTransport:
    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.sent = asyncio.Event()

    async def send_bytes(self, data: bytes) -> None:
        self.chunks.append(data)
        self.sent.set()

    def events(self) -> list[dict]:
        return [orjson.loads(line) for line in b"".join(self.chunks).splitlines()]


class FakeProtocol:
    def __init__(self) -> None:
        self.transport = FakeTransport()
        self.gone = asyncio.Event()
        self.status = None

    async def client_disconnect(self) -> None:
        await self.gone.wait()

    def response_stream(self, status, headers):
        self.status = status
        return self.transport


@pytest.fixture(params=BACKENDS)
def app(request):
    server = APIServer(open_store(request.param, watch_buffer=5), compaction_interval=0)
    yield server
    server.store.close()


async def _until(predicate, timeout=2.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


def run(app, scenario):
    async def main():
        app.__rsgi_init__(asyncio.get_running_loop())
        try:
            await scenario()
        finally:
            app.__rsgi_del__(asyncio.get_running_loop())

    asyncio.run(main())


def test_events_flow_and_disconnect_closes_watcher(app):
    async def scenario():
        protocol = FakeProtocol()
        task = asyncio.ensure_future(app._serve_watch("/api/v1/pods", "watch=true", protocol))
        await _until(lambda: app.watches.open_streams == 1)
        app.handle("POST", "/api/v1/pods", "", None, body(pod("a")))
        app.handle("DELETE", "/api/v1/namespaces/default/pods/a")
        await _until(lambda: len(protocol.transport.events()) == 2)
        assert [e["type"] for e in protocol.transport.events()] == ["ADDED", "DELETED"]
        protocol.gone.set()
        await asyncio.wait_for(task, 1)
        assert app.watches.open_streams == 0

    run(app, scenario)


def test_shutdown_ends_every_stream(app):
    async def scenario():
        protocols = [FakeProtocol() for _ in range(50)]
        tasks = [asyncio.ensure_future(app._serve_watch("/api/v1/nodes", "watch=1", p)) for p in protocols]
        await _until(lambda: app.watches.open_streams == 50)
        app.shutdown()
        await asyncio.wait_for(asyncio.gather(*tasks), 1)
        assert app.watches.open_streams == 0

    run(app, scenario)


def test_overflowing_watcher_gets_410_error_event(app):
    async def scenario():
        protocol = FakeProtocol()
        # Open the watch but do not let the stream run until the buffer (5) has overflowed.
        spec, _ = app.open_watch("/api/v1/pods", "watch=true&resourceVersion=1")
        for i in range(20):
            app.handle("POST", "/api/v1/pods", "", None, body(pod(f"p{i}")))
        await asyncio.wait_for(app.watches.stream(protocol, spec), 1)
        events = protocol.transport.events()
        assert events[-1]["type"] == "ERROR"
        assert events[-1]["object"]["code"] == 410 and events[-1]["object"]["reason"] == "Expired"

    run(app, scenario)


def test_timeout_ends_stream(app):
    async def scenario():
        protocol = FakeProtocol()
        start = asyncio.get_running_loop().time()
        await asyncio.wait_for(app._serve_watch("/api/v1/pods", "watch=true&timeoutSeconds=1", protocol), 3)
        assert 0.9 < asyncio.get_running_loop().time() - start < 2

    run(app, scenario)


def test_watch_from_compacted_revision(app):
    async def scenario():
        for i in range(3):
            app.handle("POST", "/api/v1/pods", "", None, body(pod(f"p{i}")))
        app.store.compact(app.store.current_revision())
        protocol = FakeProtocol()
        await asyncio.wait_for(app._serve_watch("/api/v1/pods", "watch=true&resourceVersion=2", protocol), 1)
        (event,) = protocol.transport.events()
        assert event["type"] == "ERROR" and event["object"]["code"] == 410
        assert event["object"]["message"].startswith("too old resource version: 2 (")

    run(app, scenario)
