"""The official Python client's watch: resume from a resourceVersion, selector transitions,
watch-list (initial events + the initial-events-end bookmark), and 410 Expired handling
(for watches and for continue tokens) against a server that compacts quickly."""

from __future__ import annotations

import json

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from e2ehelpers import make_api_client, poll
from pyk8s.apiserver.testing import run_apiserver

NS = "default"


def configmap(name: str, labels: dict, data: dict | None = None) -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels=labels), data=data)


def collect(stream_watch: watch.Watch, func, count: int, **kwargs) -> list[tuple[str, str, dict]]:
    """The first ``count`` events as (type, name, raw object); the server-side timeout bounds
    the wait, so a missing event fails the test instead of hanging it."""
    events = []
    for event in stream_watch.stream(func, **kwargs):
        raw = event["raw_object"]
        events.append((event["type"], raw["metadata"].get("name"), raw))
        if len(events) == count:
            stream_watch.stop()
    return events


@pytest.fixture
def core(api_client):
    return client.CoreV1Api(api_client)


def test_watch_from_resource_version_and_resume(core, unique):
    app = unique("pywatch")
    selector = f"app={app}"
    core.create_namespaced_config_map(NS, configmap(f"{app}-a", {"app": app}))
    start = core.list_namespaced_config_map(NS, label_selector=selector).metadata.resource_version
    core.create_namespaced_config_map(NS, configmap(f"{app}-b", {"app": app}))
    core.patch_namespaced_config_map(f"{app}-b", NS, {"data": {"k": "v"}})
    core.delete_namespaced_config_map(f"{app}-a", NS)

    first = watch.Watch()
    events = collect(first, core.list_namespaced_config_map, 3, namespace=NS, label_selector=selector,
                     resource_version=start, timeout_seconds=10)
    assert [(kind, name) for kind, name, _ in events] == [
        ("ADDED", f"{app}-b"), ("MODIFIED", f"{app}-b"), ("DELETED", f"{app}-a"),
    ]
    versions = [int(raw["metadata"]["resourceVersion"]) for _, _, raw in events]
    assert versions == sorted(versions) and versions[0] > int(start)
    assert events[1][2]["data"] == {"k": "v"}

    # Resuming from the second event's version replays only what came after it.
    resumed = collect(watch.Watch(), core.list_namespaced_config_map, 1, namespace=NS, label_selector=selector,
                      resource_version=events[1][2]["metadata"]["resourceVersion"], timeout_seconds=10)
    assert [(kind, name) for kind, name, _ in resumed] == [("DELETED", f"{app}-a")]

    # A live watch from "now" sees a new write.
    live = watch.Watch()
    stream = live.stream(core.list_namespaced_config_map, namespace=NS, label_selector=selector,
                         resource_version=first.resource_version, timeout_seconds=10)
    core.create_namespaced_config_map(NS, configmap(f"{app}-c", {"app": app}))
    event = next(stream)
    live.stop()
    assert (event["type"], event["object"].metadata.name) == ("ADDED", f"{app}-c")
    assert isinstance(event["object"], client.V1ConfigMap)


def test_watch_selector_transitions(core, unique):
    app = unique("pytrans")
    name = f"{app}-x"
    core.create_namespaced_config_map(NS, configmap(name, {"app": app, "phase": "in"}))
    start = core.list_namespaced_config_map(NS, label_selector=f"app={app}").metadata.resource_version
    core.patch_namespaced_config_map(name, NS, {"metadata": {"labels": {"phase": "out"}}})
    core.patch_namespaced_config_map(name, NS, {"metadata": {"labels": {"phase": "in"}}})
    events = collect(watch.Watch(), core.list_namespaced_config_map, 2, namespace=NS,
                     label_selector=f"app={app},phase=in", resource_version=start, timeout_seconds=10)
    # Leaving the selection arrives as DELETED (with the new state), coming back as ADDED.
    assert [(kind, raw["metadata"]["labels"]["phase"]) for kind, _, raw in events] == [("DELETED", "out"), ("ADDED", "in")]


def test_watch_list_initial_events_then_bookmark(core, unique):
    app = unique("pywl")
    for suffix in ("a", "b"):
        core.create_namespaced_config_map(NS, configmap(f"{app}-{suffix}", {"app": app}))
    events = collect(watch.Watch(), core.list_namespaced_config_map, 3, namespace=NS, label_selector=f"app={app}",
                     send_initial_events=True, resource_version_match="NotOlderThan", allow_watch_bookmarks=True,
                     timeout_seconds=10)
    assert [(kind, name) for kind, name, _ in events[:2]] == [("ADDED", f"{app}-a"), ("ADDED", f"{app}-b")]
    kind, _, raw = events[2]
    assert kind == "BOOKMARK"
    assert raw["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert int(raw["metadata"]["resourceVersion"]) >= max(int(r["metadata"]["resourceVersion"]) for _, _, r in events[:2])


# --------------------------------------------------------------------------- 410 Expired


@pytest.fixture(scope="module")
def compacting_server():
    # History older than ~0.3 s is compacted every 0.1 s, so "old" is reached quickly.
    with run_apiserver("native", extra_args=("--compaction-interval", "0.1", "--compaction-retention", "0.3")) as server:
        yield server


@pytest.fixture
def compacting_core(compacting_server):
    with make_api_client(compacting_server.url) as api:
        yield client.CoreV1Api(api)


def is_compacted(core: client.CoreV1Api, resource_version: str) -> bool:
    try:
        core.list_namespaced_config_map(NS, resource_version=resource_version, resource_version_match="Exact", limit=1)
    except ApiException as exc:
        if exc.status == 410:
            return True
        raise
    return False


def test_watch_from_compacted_version_gets_410(compacting_core, unique):
    core = compacting_core
    app = unique("py410")
    for suffix in ("a", "b", "c"):
        core.create_namespaced_config_map(NS, configmap(f"{app}-{suffix}", {"app": app}))
    first_page = core.list_namespaced_config_map(NS, label_selector=f"app={app}", limit=1)
    old = first_page.metadata.resource_version
    assert first_page.metadata._continue
    core.create_namespaced_config_map(NS, configmap(f"{app}-later", {"app": "other"}))
    poll(lambda: is_compacted(core, old), timeout=10, what=f"compaction past resourceVersion {old}")

    # With timeout_seconds the client does not retry: the 410 ERROR event surfaces at once.
    with pytest.raises(ApiException) as info:
        collect(watch.Watch(), core.list_namespaced_config_map, 1, namespace=NS, resource_version=old, timeout_seconds=5)
    assert info.value.status == 410
    assert "Expired" in (info.value.reason or ""), info.value.reason
    # Without it the client retries once from the same version, then raises 410 too.
    with pytest.raises(ApiException) as info:
        collect(watch.Watch(), core.list_namespaced_config_map, 1, namespace=NS, resource_version=old, _request_timeout=10)
    assert info.value.status == 410

    # A continue token from before the compaction: 410 Expired, with a token that continues
    # inconsistently (from the latest revision) after the same key.
    with pytest.raises(ApiException) as info:
        core.list_namespaced_config_map(NS, label_selector=f"app={app}", limit=1, _continue=first_page.metadata._continue)
    assert info.value.status == 410
    body = json.loads(info.value.body)
    assert body["reason"] == "Expired" and body["code"] == 410, body
    assert "The provided continue parameter is too old to display a consistent list result." in body["message"]
    token = body["metadata"]["continue"]
    rest = core.list_namespaced_config_map(NS, label_selector=f"app={app}", _continue=token)
    assert [cm.metadata.name for cm in rest.items] == [f"{app}-b", f"{app}-c"]

    # And a fresh list + watch from its version works again.
    fresh = core.list_namespaced_config_map(NS, label_selector=f"app={app}").metadata.resource_version
    live = watch.Watch()
    stream = live.stream(core.list_namespaced_config_map, namespace=NS, label_selector=f"app={app}",
                         resource_version=fresh, timeout_seconds=10)
    core.delete_namespaced_config_map(f"{app}-a", NS)
    event = next(stream)
    live.stop()
    assert (event["type"], event["object"].metadata.name) == ("DELETED", f"{app}-a")
