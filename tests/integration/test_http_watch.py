"""Watch streams over HTTP, compaction's 410, shutdown with open streams, and many watches."""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from watchclient import RawWatch
from pyk8s.apiserver.testing import APIServerProcess
from integrationhelpers import create_namespaces

NAMESPACES = ("watch", "initial0", "initial17", "initial18", "selw", "legacy", "many", "single")


def pod(name, namespace="watch", labels=None):
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }


def test_watch_added_modified_deleted(client, open_watch):
    created = client.post("/api/v1/pods", json=pod("w1")).json()
    watch = open_watch(f"/api/v1/namespaces/watch/pods?watch=true&resourceVersion={created['metadata']['resourceVersion']}")
    time.sleep(0.1)
    client.patch("/api/v1/namespaces/watch/pods/w1", json={"metadata": {"labels": {"x": "1"}}}, headers={"Content-Type": "application/merge-patch+json"})
    client.post("/api/v1/pods", json=pod("w2"))
    client.delete("/api/v1/namespaces/watch/pods/w1")
    events = watch.events(3)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("MODIFIED", "w1"), ("ADDED", "w2"), ("DELETED", "w1"),
    ]
    revisions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert revisions == sorted(revisions)
    assert events[0]["object"]["metadata"]["labels"] == {"x": "1"}


@pytest.mark.parametrize("resource_version", ["", "&resourceVersion=0", "&resourceVersion="])
def test_watch_from_zero_starts_with_current_objects(client, open_watch, resource_version):
    namespace = f"initial{len(resource_version)}"
    for name in ("a", "b"):
        client.post("/api/v1/pods", json=pod(name, namespace))
    watch = open_watch(f"/api/v1/namespaces/{namespace}/pods?watch=1{resource_version}")
    initial = watch.events(2)
    assert {(e["type"], e["object"]["metadata"]["name"]) for e in initial} == {("ADDED", "a"), ("ADDED", "b")}
    client.delete(f"/api/v1/namespaces/{namespace}/pods/a")
    assert watch.events(1)[0]["type"] == "DELETED"


def test_watch_with_selectors(client, open_watch):
    watch = open_watch("/api/v1/namespaces/selw/pods?watch=true&labelSelector=app%3Dweb")
    client.post("/api/v1/pods", json=pod("other", "selw", {"app": "db"}))
    client.post("/api/v1/pods", json=pod("web", "selw", {"app": "web"}))
    events = watch.events(1)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "web")]


def test_watch_timeout_ends_stream(client, open_watch):
    watch = open_watch("/api/v1/nodes?watch=true&timeoutSeconds=1")
    start = time.monotonic()
    assert watch.ended(timeout=5)
    assert 0.8 < time.monotonic() - start < 3


def test_legacy_watch_path(client, open_watch):
    client.post("/api/v1/pods", json=pod("legacy", "legacy"))
    watch = open_watch("/api/v1/watch/namespaces/legacy/pods")
    assert watch.events(1)[0]["object"]["metadata"]["name"] == "legacy"


def test_watch_bad_request(client):
    response = client.get("/api/v1/pods", params={"watch": "true", "fieldSelector": "nope=1"})
    assert response.status_code == 400 and response.json()["reason"] == "BadRequest"


@pytest.fixture(scope="module")
def compacting_server():
    with APIServerProcess("native", extra_args=("--compaction-interval", "0.2", "--compaction-retention", "0")) as server:
        create_namespaces(server.url, "gone")
        yield server


def test_watch_from_compacted_revision_gets_410(compacting_server):
    with httpx.Client(base_url=compacting_server.url) as client:
        first = client.post("/api/v1/pods", json=pod("old", "gone")).json()
        for i in range(3):
            client.patch("/api/v1/namespaces/gone/pods/old", json={"metadata": {"labels": {"i": str(i)}}}, headers={"Content-Type": "application/merge-patch+json"})
        time.sleep(0.6)
        watch = RawWatch(compacting_server.port, f"/api/v1/pods?watch=true&resourceVersion={first['metadata']['resourceVersion']}")
        try:
            events = watch.events(1)
            assert events[0]["type"] == "ERROR"
            status = events[0]["object"]
            assert status["kind"] == "Status" and status["code"] == 410 and status["reason"] == "Expired"
            assert status["message"].startswith(f"too old resource version: {first['metadata']['resourceVersion']} (")
            assert watch.ended()
        finally:
            watch.close()
        # A paged list whose revision was compacted meanwhile gets the upstream 410.
        for i in range(3):
            client.post("/api/v1/pods", json=pod(f"page{i}", "gone"))
        token = client.get("/api/v1/pods", params={"limit": 1}).json()["metadata"]["continue"]
        client.post("/api/v1/pods", json=pod("later", "gone"))
        time.sleep(0.6)
        expired = client.get("/api/v1/pods", params={"limit": 1, "continue": token})
        assert expired.status_code == 410 and expired.json()["reason"] == "Expired"
        assert expired.json()["message"].startswith("The provided continue parameter is too old")


@pytest.mark.parametrize("storage", ["native", "reference"])
def test_sigterm_with_200_watches_exits_within_a_second(storage):
    server = APIServerProcess(storage).start()
    watches = []
    try:
        create_namespaces(server.url, "term")
        with httpx.Client(base_url=server.url) as client:
            client.post("/api/v1/pods", json=pod("x", "term"))
        watches = [RawWatch(server.port, "/api/v1/pods?watch=true") for _ in range(200)]
        for watch in watches[::20]:
            assert watch.events(1)[0]["type"] == "ADDED"
        start = time.monotonic()
        server.signal(signal.SIGTERM)
        server.process.wait(5)
        elapsed = time.monotonic() - start
        assert elapsed < 1.0, elapsed
        assert server.process.returncode == 0
    finally:
        for watch in watches:
            watch.close()
        server.stop()


def test_sigint_stops_too():
    server = APIServerProcess("native").start()
    watch = RawWatch(server.port, "/api/v1/pods?watch=true")
    try:
        time.sleep(0.1)
        start = time.monotonic()
        server.signal(signal.SIGINT)
        server.process.wait(5)
        assert time.monotonic() - start < 1.0
    finally:
        watch.close()
        server.stop()


def test_thousand_watches_do_not_starve_requests(apiserver):
    with httpx.Client(base_url=apiserver.url, timeout=10) as client:
        client.post("/api/v1/pods", json=pod("seed", "many"))
        watches = [RawWatch(apiserver.port, "/api/v1/namespaces/many/pods?watch=true&resourceVersion=0") for _ in range(1200)]
        try:
            for watch in watches:
                assert watch.events(1)[0]["object"]["metadata"]["name"] == "seed"

            def timed_get(_):
                start = time.perf_counter()
                response = client.get("/api/v1/namespaces/many/pods/seed")
                assert response.status_code == 200
                return time.perf_counter() - start

            with ThreadPoolExecutor(8) as pool:
                latencies = sorted(pool.map(timed_get, range(200)))
            assert latencies[int(len(latencies) * 0.99)] < 0.5, latencies[-5:]
            # Every watch still hears about new writes.
            client.post("/api/v1/pods", json=pod("late", "many"))
            for watch in watches:
                assert watch.events(1, timeout=10)[0]["object"]["metadata"]["name"] == "late"
        finally:
            for watch in watches:
                watch.close()
        assert client.get("/readyz").status_code == 200


def test_watch_one_object(client, open_watch):
    for name in ("one", "two"):
        client.post("/api/v1/pods", json=pod(name, "single"))
    by_name = open_watch("/api/v1/namespaces/single/pods/one?watch=true")
    legacy = open_watch("/api/v1/watch/namespaces/single/pods/two")
    assert [e["object"]["metadata"]["name"] for e in by_name.events(1)] == ["one"]
    assert [e["object"]["metadata"]["name"] for e in legacy.events(1)] == ["two"]
    client.delete("/api/v1/namespaces/single/pods/two")
    client.delete("/api/v1/namespaces/single/pods/one")
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in by_name.events(1)] == [("DELETED", "one")]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in legacy.events(1)] == [("DELETED", "two")]
