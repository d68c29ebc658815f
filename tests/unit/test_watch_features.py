"""Watch features over a fake RSGI protocol: watch-list (initial events, then the
initial-events-end bookmark), periodic bookmarks, the pre-timeout bookmark, 422 on option
combinations upstream forbids, Table-formatted events, and the watcher gauge."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from apihelpers import body, pod
from pyk8s.apiserver.app import APIServer
from pyk8s.store import BACKENDS, open_store

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"


class FakeTransport:
    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    async def send_bytes(self, data: bytes) -> None:
        self.chunks.append(data)

    def events(self) -> list[dict]:
        return [orjson.loads(line) for line in b"".join(self.chunks).splitlines()]


class FakeProtocol:
    def __init__(self) -> None:
        self.transport = FakeTransport()
        self.gone = asyncio.Event()

    async def client_disconnect(self) -> None:
        await self.gone.wait()

    def response_stream(self, status, headers):
        assert status == 200
        return self.transport


def ensure_namespace(server, name="default"):
    """The namespace objects go into (the server may or may not have created it already)."""
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    assert server.handle("POST", "/api/v1/namespaces", "", None, body(namespace)).status in (201, 409)


@pytest.fixture(params=BACKENDS)
def app(request):
    server = APIServer(open_store(request.param), compaction_interval=0, bookmark_interval=0.2)
    ensure_namespace(server)
    yield server
    server.store.close()


def create(app, name, namespace="default", **labels):
    response = app.handle("POST", f"/api/v1/namespaces/{namespace}/pods", "", None, body(pod(name, labels=labels or None)))
    assert response.status == 201, response.body
    return orjson.loads(response.body)


async def _until(predicate, timeout=3.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


def run(app, scenario):
    async def main():
        app.__rsgi_init__(asyncio.get_running_loop())
        try:
            await scenario()
        finally:
            app.__rsgi_del__(asyncio.get_running_loop())

    asyncio.run(main())


def watch(app, path, query, accept=None):
    protocol = FakeProtocol()
    task = asyncio.ensure_future(app._serve_watch(path, query, protocol, accept))
    return protocol, task


async def stop(protocol, task):
    protocol.gone.set()
    await asyncio.wait_for(task, 2)


def test_watch_list_sends_initial_events_then_annotated_bookmark(app):
    created = [create(app, name) for name in ("b", "a", "c")]
    revision = app.store.current_revision()

    async def scenario():
        protocol, task = watch(
            app, "/api/v1/namespaces/default/pods",
            "watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true",
        )
        await _until(lambda: len(protocol.transport.events()) >= 4)
        create(app, "d")
        await _until(lambda: len(protocol.transport.events()) >= 5)
        events = protocol.transport.events()
        assert [e["type"] for e in events[:3]] == ["ADDED"] * 3
        assert sorted(e["object"]["metadata"]["name"] for e in events[:3]) == ["a", "b", "c"]
        assert {e["object"]["metadata"]["resourceVersion"] for e in events[:3]} == {
            c["metadata"]["resourceVersion"] for c in created
        }
        assert events[3] == {
            "type": "BOOKMARK",
            "object": {
                "kind": "Pod",
                "apiVersion": "v1",
                "metadata": {"resourceVersion": str(revision), "annotations": {"k8s.io/initial-events-end": "true"}},
            },
        }
        assert events[4]["type"] == "ADDED" and events[4]["object"]["metadata"]["name"] == "d"
        await stop(protocol, task)

    run(app, scenario)


def test_watch_list_of_one_object_by_name(app):
    create(app, "one")
    create(app, "two")

    async def scenario():
        protocol, task = watch(
            app, "/api/v1/namespaces/default/pods",
            "watch=1&fieldSelector=metadata.name%3Done&sendInitialEvents=true"
            "&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true",
        )
        await _until(lambda: len(protocol.transport.events()) >= 2)
        app.handle("DELETE", "/api/v1/namespaces/default/pods/two")
        app.handle("DELETE", "/api/v1/namespaces/default/pods/one")
        await _until(lambda: len(protocol.transport.events()) >= 3)
        events = protocol.transport.events()
        assert [(e["type"], e["object"]["metadata"].get("name")) for e in events] == [
            ("ADDED", "one"), ("BOOKMARK", None), ("DELETED", "one"),
        ]
        await stop(protocol, task)

    run(app, scenario)


def test_legacy_watch_from_zero_is_a_watch_list(app):
    # Upstream's SetListOptionsDefaults: resourceVersion "" or "0" without sendInitialEvents
    # is served as sendInitialEvents=true; the end bookmark needs allowWatchBookmarks.
    create(app, "a")

    async def scenario():
        with_bookmarks, task1 = watch(app, "/api/v1/pods", "watch=true&resourceVersion=0&allowWatchBookmarks=true")
        without, task2 = watch(app, "/api/v1/pods", "watch=true")
        await _until(lambda: len(with_bookmarks.transport.events()) >= 2 and len(without.transport.events()) >= 1)
        await asyncio.sleep(0.05)
        assert [e["type"] for e in with_bookmarks.transport.events()[:2]] == ["ADDED", "BOOKMARK"]
        assert [e["type"] for e in without.transport.events()] == ["ADDED"]
        await stop(with_bookmarks, task1)
        await stop(without, task2)

    run(app, scenario)


def test_send_initial_events_false_starts_now(app):
    create(app, "old")

    async def scenario():
        protocol, task = watch(app, "/api/v1/pods", "watch=true&sendInitialEvents=false&resourceVersionMatch=NotOlderThan")
        await _until(lambda: app.watches.open_streams == 1)
        create(app, "new")
        await _until(lambda: len(protocol.transport.events()) >= 1)
        assert [e["object"]["metadata"]["name"] for e in protocol.transport.events()] == ["new"]
        await stop(protocol, task)

    run(app, scenario)


@pytest.mark.parametrize("query,message", [
    ("watch=true&sendInitialEvents=true",
     'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: sendInitialEvents requires setting '
     "resourceVersionMatch to NotOlderThan"),
    ("watch=true&resourceVersionMatch=NotOlderThan",
     'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for '
     "watch unless sendInitialEvents is provided"),
    ("watch=true&sendInitialEvents=true&resourceVersionMatch=Exact&resourceVersion=5",
     'ListOptions.meta.k8s.io "" is invalid: [resourceVersionMatch: Forbidden: sendInitialEvents requires setting '
     'resourceVersionMatch to NotOlderThan, resourceVersionMatch: Unsupported value: "Exact": supported values: '
     '"NotOlderThan"]'),
])
def test_forbidden_watch_option_combinations_are_422(app, query, message):
    from pyk8s.api.errors import StatusError

    with pytest.raises(StatusError) as raised:
        app.open_watch("/api/v1/pods", query)
    status = raised.value.status
    assert status["code"] == 422 and status["reason"] == "Invalid"
    assert status["message"] == message
    assert status["details"]["kind"] == "ListOptions" and status["details"]["group"] == "meta.k8s.io"
    assert "name" not in status["details"]


def test_watch_list_from_a_future_revision_is_an_error_event(app):
    spec, line = app.open_watch("/api/v1/pods", "watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&resourceVersion=999")
    assert spec is None
    event = orjson.loads(line)
    assert event["type"] == "ERROR" and event["object"]["code"] == 504
    assert event["object"]["reason"] == "Timeout"


def test_periodic_bookmarks_carry_the_current_revision(app):
    create(app, "a")

    async def scenario():
        revision = app.store.current_revision()
        protocol, task = watch(app, "/api/v1/pods", f"watch=true&resourceVersion={revision}&allowWatchBookmarks=true")
        await _until(lambda: len(protocol.transport.events()) >= 1)
        (first,) = protocol.transport.events()[:1]
        assert first == {"type": "BOOKMARK", "object": {"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": str(revision)}}}
        # Writes to another resource move the revision: the next bookmark says so.
        app.handle("POST", "/api/v1/nodes", "", None, body({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}))
        later = app.store.current_revision()
        await _until(lambda: any(
            e["object"]["metadata"]["resourceVersion"] == str(later) for e in protocol.transport.events()
        ))
        await stop(protocol, task)
        assert all(e["type"] == "BOOKMARK" for e in protocol.transport.events())

    run(app, scenario)


def test_no_bookmarks_unless_asked(app):
    async def scenario():
        protocol, task = watch(app, "/api/v1/pods", f"watch=true&resourceVersion={app.store.current_revision()}")
        await asyncio.sleep(0.5)
        assert protocol.transport.events() == []
        await stop(protocol, task)

    run(app, scenario)


def test_bookmark_two_seconds_before_timeout(app):
    app.watches.bookmark_interval = 60.0

    async def scenario():
        loop = asyncio.get_running_loop()
        start = loop.time()
        protocol, task = watch(app, "/api/v1/pods", f"watch=true&timeoutSeconds=3&allowWatchBookmarks=true&resourceVersion={app.store.current_revision()}")
        await _until(lambda: len(protocol.transport.events()) >= 1, timeout=5)
        assert 0.8 < loop.time() - start < 1.8
        await asyncio.wait_for(task, 5)
        assert 2.8 < loop.time() - start < 4.5
        assert [e["type"] for e in protocol.transport.events()] == ["BOOKMARK"]

    run(app, scenario)


def test_table_watch_events(app):
    create(app, "a")

    async def scenario():
        protocol, task = watch(app, "/api/v1/namespaces/default/pods", "watch=true", TABLE)
        await _until(lambda: len(protocol.transport.events()) >= 1)
        create(app, "b")
        await _until(lambda: len(protocol.transport.events()) >= 2)
        first, second = protocol.transport.events()[:2]
        assert first["type"] == "ADDED" and first["object"]["kind"] == "Table"
        assert first["object"]["apiVersion"] == "meta.k8s.io/v1"
        assert [c["name"] for c in first["object"]["columnDefinitions"]][:5] == ["Name", "Ready", "Status", "Restarts", "Age"]
        assert first["object"]["rows"][0]["cells"][:3] == ["a", "0/1", "Pending"]
        assert first["object"]["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
        # Upstream sends the column definitions with the first event only.
        assert second["object"]["columnDefinitions"] is None
        assert second["object"]["rows"][0]["cells"][0] == "b"
        assert second["object"]["metadata"]["resourceVersion"] == second["object"]["rows"][0]["object"]["metadata"]["resourceVersion"]
        await stop(protocol, task)

    run(app, scenario)


def test_registered_watchers_gauge(app):
    async def scenario():
        protocol, task = watch(app, "/apis/apps/v1/deployments", "watch=true")
        await _until(lambda: app.watches.open_streams == 1)
        assert app.metrics.watchers[("apps", "v1", "Deployment")] == 1
        await stop(protocol, task)
        assert app.metrics.watchers[("apps", "v1", "Deployment")] == 0
        assert 'apiserver_registered_watchers{group="apps",kind="Deployment",version="v1"} 0' in app.handle("GET", "/metrics").body.decode()

    run(app, scenario)


def test_watch_without_timeout_gets_upstreams_randomized_one(app):
    spec, _ = app.open_watch("/api/v1/pods", "watch=true")
    try:
        assert 1800 <= spec.timeout_seconds < 3600
    finally:
        spec.watcher.close()
    app.min_request_timeout = 0
    spec, _ = app.open_watch("/api/v1/pods", "watch=true&timeoutSeconds=7")
    assert spec.timeout_seconds == 7
    spec.watcher.close()
