"""pods/log (issue 3): options, pod and container checks through ``APIServer.handle``, and
the kubelet proxy on the streaming path against a fake kubelet (an asyncio HTTP server)."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qsl, urlsplit

import orjson
import pytest

from pyk8s.apiserver.app import APIServer
from pyk8s.apiserver.routing import route
from pyk8s.apiserver.testing import free_port
from pyk8s.store import BACKENDS, open_store
from resourcehelpers import call, ok, pod

PODS = "/api/v1/namespaces/default/pods"


@pytest.fixture(params=BACKENDS)
def app(request):
    server = APIServer(open_store(request.param), compaction_interval=0)
    yield server
    server.store.close()


def kubelet_node(name: str, port: int, host: str = "127.0.0.1") -> dict:
    return {
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
        "status": {
            "addresses": [{"type": "Hostname", "address": "no-such-host.invalid"}, {"type": "InternalIP", "address": host}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
        },
    }


def two_containers(name: str = "duo", **spec) -> dict:
    obj = pod(name, **spec)
    obj["spec"]["initContainers"] = [{"name": "setup", "image": "busybox"}]
    obj["spec"]["containers"] = [{"name": "a", "image": "busybox"}, {"name": "b", "image": "busybox"}]
    return obj


def log(app, name: str, query: str = ""):
    response = app.handle("GET", f"{PODS}/{name}/log", query)
    body = orjson.loads(response.body) if response.body[:1] == b"{" else response.body
    return response.status, body, dict(response.headers)


# -- discovery and the synchronous checks --------------------------------------------------------


def test_discovery_lists_pods_log(app):
    resources = ok(call(app, "GET", "/api/v1"))["resources"]
    entry = next(r for r in resources if r["name"] == "pods/log")
    assert entry["kind"] == "Pod" and entry["verbs"] == ["get"] and entry["namespaced"] is True


def test_missing_pod_is_404(app):
    status, body, _ = log(app, "nope")
    assert status == 404 and body["reason"] == "NotFound" and body["message"] == 'pods "nope" not found'


def test_unscheduled_pod_has_an_empty_log(app):
    ok(call(app, "POST", PODS, pod("p")), 201)
    status, body, headers = log(app, "p", "tailLines=5&follow=true")
    assert (status, body) == (200, b"") and headers["content-type"] == "text/plain"


def test_container_must_be_the_pods(app):
    ok(call(app, "POST", PODS, two_containers()), 201)
    status, body, _ = log(app, "duo")
    assert status == 400 and body["reason"] == "BadRequest"
    assert body["message"] == "a container name must be specified for pod duo, choose one of: [setup a b]"
    status, body, _ = log(app, "duo", "container=x")
    assert status == 400 and body["message"] == "container x is not valid for pod duo"
    # Init containers are the pod's containers too.
    assert log(app, "duo", "container=setup")[:2] == (200, b"")
    assert log(app, "duo", "container=b")[:2] == (200, b"")


def test_a_single_container_is_chosen_over_init_containers(app):
    single = pod("one")
    single["spec"]["initContainers"] = [{"name": "setup", "image": "busybox"}]
    ok(call(app, "POST", PODS, single), 201)
    assert log(app, "one")[:2] == (200, b"")


@pytest.mark.parametrize("query,field", [
    ("tailLines=-1", "tailLines"),
    ("limitBytes=0", "limitBytes"),
    ("sinceSeconds=0", "sinceSeconds"),
    ("sinceSeconds=5&sinceTime=2026-01-01T00:00:00Z", ""),
])
def test_invalid_log_options_are_422(app, query, field):
    ok(call(app, "POST", PODS, pod("p")), 201)
    status, body, _ = log(app, "p", query)
    assert status == 422 and body["reason"] == "Invalid", body
    assert body["details"]["kind"] == "PodLogOptions" and body["details"]["causes"][0]["field"] == field


@pytest.mark.parametrize("query", ["tailLines=abc", "limitBytes=", "sinceSeconds=1.5", "sinceTime=yesterday"])
def test_unparsable_log_options_are_400(app, query):
    ok(call(app, "POST", PODS, pod("p")), 201)
    status, body, _ = log(app, "p", query)
    assert status == 400 and body["reason"] == "BadRequest", body


def test_options_are_checked_before_the_pod(app):
    # LogREST.Get validates the options first.
    assert log(app, "nope", "tailLines=-1")[0] == 422


def test_missing_node_is_404(app):
    ok(call(app, "POST", PODS, pod("p", nodeName="ghost")), 201)
    status, body, _ = log(app, "p")
    assert status == 404 and body["message"] == 'nodes "ghost" not found'


def test_node_without_addresses_is_an_error(app):
    ok(call(app, "POST", "/api/v1/nodes", {"metadata": {"name": "bare"}}), 201)
    ok(call(app, "POST", PODS, pod("p", nodeName="bare")), 201)
    status, body, _ = log(app, "p")
    assert status == 503 and body["reason"] == "ServiceUnavailable"
    assert body["message"].startswith("no preferred addresses found")


def test_located_kubelet_url(app):
    ok(call(app, "POST", "/api/v1/nodes", kubelet_node("n1", 10255)), 201)
    ok(call(app, "POST", PODS, pod("p", nodeName="n1")), 201)
    found = route(app.registry, f"{PODS}/p/log")
    query = {"follow": "", "previous": "false", "timestamps": "1", "tailLines": "10", "limitBytes": "100",
             "sinceTime": "2026-01-01T01:00:00.5+01:00", "insecureSkipTLSVerifyBackend": "true"}
    target = app.pod_logs.locate(found, query)
    assert (target.host, target.port) == ("127.0.0.1", 10255)
    path = urlsplit(target.path)
    assert path.path == "/containerLogs/default/p/c"
    assert parse_qsl(path.query) == [
        ("follow", "true"), ("limitBytes", "100"), ("sinceTime", "2026-01-01T00:00:00Z"), ("tailLines", "10"),
        ("timestamps", "true"),
    ]
    # handle() cannot proxy: it says so rather than pretending.
    assert log(app, "p")[0] == 400


# -- the streaming path against a fake kubelet ----------------------------------------------------


class FakeTransport:
    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.arrived = asyncio.Event()

    async def send_bytes(self, data: bytes) -> None:
        self.chunks.append(data)
        self.arrived.set()

    @property
    def text(self) -> bytes:
        return b"".join(self.chunks)


class FakeProtocol:
    def __init__(self) -> None:
        self.transport = FakeTransport()
        self.gone = asyncio.Event()
        self.status = None
        self.headers = None
        self.body = None

    async def client_disconnect(self) -> None:
        await self.gone.wait()

    def response_stream(self, status, headers):
        self.status, self.headers = status, dict(headers)
        return self.transport

    def response_bytes(self, status, headers, body):
        self.status, self.headers, self.body = status, dict(headers), body


class FakeKubelet:
    """Answers /containerLogs with chunked text: ``lines`` at once, then (for follow=true)
    each line put on ``more`` until None, keeping the connection open meanwhile."""

    def __init__(self, lines=(b"one\n", b"two\n"), status: int = 200) -> None:
        self.lines = lines
        self.status = status
        self.requests: list[str] = []
        self.more: asyncio.Queue = asyncio.Queue()
        self.peer_closed = asyncio.Event()

    async def __aenter__(self) -> "FakeKubelet":
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()

    async def _serve(self, reader, writer) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        target = request.split(b" ", 2)[1].decode()
        self.requests.append(target)
        watcher = asyncio.ensure_future(self._watch_peer(reader))
        try:
            if self.status != 200:
                text = b"container not found"
                writer.write(b"HTTP/1.1 %d Oops\r\nContent-Length: %d\r\n\r\n%s" % (self.status, len(text), text))
                return
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n")
            for line in self.lines:
                writer.write(b"%x\r\n%s\r\n" % (len(line), line))
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
            if not self.peer_closed.is_set():
                watcher.cancel()

    async def _watch_peer(self, reader) -> None:
        await reader.read()  # b"" once the API server has closed its side
        self.peer_closed.set()


def _run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 10))


def _serve(app, name: str, query: str, protocol: FakeProtocol):
    path = f"{PODS}/{name}/log"
    return app._serve_log(path, route(app.registry, path), query, protocol)


def _bound_pod(app, port: int, name: str = "p") -> None:
    ok(call(app, "POST", "/api/v1/nodes", kubelet_node("n1", port)), 201)
    ok(call(app, "POST", PODS, pod(name, nodeName="n1")), 201)


def test_log_is_streamed_from_the_kubelet(app):
    async def main():
        async with FakeKubelet() as kubelet:
            _bound_pod(app, kubelet.port)
            protocol = FakeProtocol()
            await _serve(app, "p", "", protocol)
            assert protocol.status == 200 and protocol.headers["content-type"] == "text/plain"
            assert protocol.transport.text == b"one\ntwo\n"
            assert kubelet.requests == ["/containerLogs/default/p/c"]

    _run(main())


def test_tail_lines_pass_through(app):
    async def main():
        async with FakeKubelet() as kubelet:
            _bound_pod(app, kubelet.port)
            protocol = FakeProtocol()
            await _serve(app, "p", "tailLines=1&timestamps=true&container=c", protocol)
            assert kubelet.requests == ["/containerLogs/default/p/c?tailLines=1&timestamps=true"]

    _run(main())


def test_follow_streams_until_the_kubelet_ends(app):
    async def main():
        async with FakeKubelet() as kubelet:
            _bound_pod(app, kubelet.port)
            protocol = FakeProtocol()
            task = asyncio.ensure_future(_serve(app, "p", "follow=true", protocol))
            while protocol.transport.text != b"one\ntwo\n":
                await protocol.transport.arrived.wait()
                protocol.transport.arrived.clear()
            await kubelet.more.put(b"three\n")
            while not protocol.transport.text.endswith(b"three\n"):
                await protocol.transport.arrived.wait()
                protocol.transport.arrived.clear()
            assert not task.done()
            await kubelet.more.put(None)
            await task
            assert protocol.transport.text == b"one\ntwo\nthree\n"

    _run(main())


def test_follow_ends_when_the_client_goes(app):
    async def main():
        async with FakeKubelet() as kubelet:
            _bound_pod(app, kubelet.port)
            protocol = FakeProtocol()
            task = asyncio.ensure_future(_serve(app, "p", "follow=1", protocol))
            await protocol.transport.arrived.wait()
            protocol.gone.set()
            await task
            # The API server hung up on the kubelet rather than waiting for its next line.
            await kubelet.peer_closed.wait()
            await kubelet.more.put(None)

    _run(main())


def test_unreachable_kubelet_is_a_status_error(app):
    async def main():
        _bound_pod(app, free_port())
        protocol = FakeProtocol()
        await _serve(app, "p", "", protocol)
        assert protocol.status == 503 and protocol.headers["content-type"] == "application/json"
        status = orjson.loads(protocol.body)
        assert status["kind"] == "Status" and status["code"] == 503
        assert status["message"].startswith('Get "http://127.0.0.1:')

    _run(main())


def test_kubelet_error_answer_becomes_a_status(app):
    async def main():
        async with FakeKubelet(status=404) as kubelet:
            _bound_pod(app, kubelet.port)
            protocol = FakeProtocol()
            await _serve(app, "p", "", protocol)
            status = orjson.loads(protocol.body)
            assert protocol.status == 404 and status["reason"] == "NotFound"
            assert status["details"]["causes"][0]["message"] == "container not found"

    _run(main())


def test_errors_on_the_streaming_path(app):
    async def main():
        protocol = FakeProtocol()
        await _serve(app, "nope", "", protocol)
        assert protocol.status == 404 and orjson.loads(protocol.body)["reason"] == "NotFound"
        ok(call(app, "POST", PODS, pod("p")), 201)
        protocol = FakeProtocol()
        await _serve(app, "p", "", protocol)
        assert (protocol.status, protocol.body, protocol.headers["content-type"]) == (200, b"", "text/plain")

    _run(main())
