"""pods/log over HTTP (both backends): the real server proxies a fake kubelet (an asyncio
HTTP server on a thread of this process) registered through a Node's daemonEndpoints."""

from __future__ import annotations

import asyncio
import threading

import pytest

from pyk8s.apiserver.testing import free_port

NAMESPACES = ("logs",)
PODS = "/api/v1/namespaces/logs/pods"


class ThreadedKubelet:
    """Answers /containerLogs with chunked lines; a follow=true request stays open and gets
    each line passed to ``send`` until ``finish``."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "ThreadedKubelet":
        self.thread.start()
        self.ready.wait(5)
        return self

    def __exit__(self, *exc) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.more: asyncio.Queue = asyncio.Queue()
        server = self.loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()
        server.close()

    def send(self, line: bytes | None) -> None:
        self.loop.call_soon_threadsafe(self.more.put_nowait, line)

    def finish(self) -> None:
        self.send(None)

    async def _serve(self, reader, writer) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        target = request.split(b" ", 2)[1].decode()
        self.requests.append(target)
        try:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n")
            for line in (b"one\n", b"two\n"):
                writer.write(b"%x\r\n%s\r\n" % (len(line), line))
            await writer.drain()
            if "follow=true" in target:
                while (line := await self.more.get()) is not None:
                    writer.write(b"%x\r\n%s\r\n" % (len(line), line))
                    await writer.drain()
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()


@pytest.fixture
def kubelet():
    with ThreadedKubelet() as fake:
        yield fake


def _bind(client, node: str, port: int, pod: str) -> None:
    created = client.post("/api/v1/nodes", json={
        "metadata": {"name": node},
        "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                   "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}},
    })
    assert created.status_code == 201, created.text
    created = client.post(PODS, json={"metadata": {"name": pod}, "spec": {
        "nodeName": node, "containers": [{"name": "c", "image": "busybox"}]}})
    assert created.status_code == 201, created.text


def test_discovery_and_unscheduled_pod(client):
    entry = next(r for r in client.get("/api/v1").json()["resources"] if r["name"] == "pods/log")
    assert entry["kind"] == "Pod" and entry["verbs"] == ["get"]
    assert client.get(f"{PODS}/none/log").status_code == 404
    client.post(PODS, json={"metadata": {"name": "pending"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    response = client.get(f"{PODS}/pending/log")
    assert response.status_code == 200 and response.content == b""
    assert response.headers["content-type"].startswith("text/plain")
    bad = client.get(f"{PODS}/pending/log", params={"container": "x"})
    assert bad.status_code == 400 and bad.json()["message"] == "container x is not valid for pod pending"
    assert client.get(f"{PODS}/pending/log", params={"tailLines": "-1"}).status_code == 422


def test_plain_log_and_tail_lines(client, kubelet):
    _bind(client, "log-n1", kubelet.port, "plain")
    response = client.get(f"{PODS}/plain/log")
    assert response.status_code == 200 and response.text == "one\ntwo\n"
    assert response.headers["content-type"].startswith("text/plain")
    assert client.get(f"{PODS}/plain/log", params={"tailLines": "1", "container": "c"}).status_code == 200
    assert kubelet.requests == ["/containerLogs/logs/plain/c", "/containerLogs/logs/plain/c?tailLines=1"]


def test_follow_streams_while_the_connection_stays_open(client, kubelet):
    _bind(client, "log-n2", kubelet.port, "followed")
    with client.stream("GET", f"{PODS}/followed/log", params={"follow": "true"}, timeout=10) as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        assert [next(lines), next(lines)] == ["one", "two"]
        kubelet.send(b"three\n")
        assert next(lines) == "three"
        kubelet.send(b"four\n")
        assert next(lines) == "four"
        kubelet.finish()
        assert list(lines) == []
    assert kubelet.requests == ["/containerLogs/logs/followed/c?follow=true"]


def test_unreachable_kubelet(client):
    _bind(client, "log-n3", free_port(), "stranded")
    response = client.get(f"{PODS}/stranded/log", timeout=15)
    assert response.status_code == 503
    status = response.json()
    assert status["kind"] == "Status" and status["message"].startswith('Get "http://127.0.0.1:')
    node_gone = client.post(PODS, json={"metadata": {"name": "orphan"}, "spec": {
        "nodeName": "log-missing", "containers": [{"name": "c", "image": "busybox"}]}})
    assert node_gone.status_code == 201
    missing = client.get(f"{PODS}/orphan/log")
    assert missing.status_code == 404 and missing.json()["message"] == 'nodes "log-missing" not found'
