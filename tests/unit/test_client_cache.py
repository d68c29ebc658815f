"""The informer cache (Indexer) and what the informer tells its handlers on lists, events,
re-lists and resyncs (driven through the reflector's sink, no server)."""

from __future__ import annotations

import asyncio

import pytest

from pyk8s.client import (
    NAMESPACE_INDEX, PODS, ApiClient, Indexer, SharedInformer, SharedInformerFactory, field_index,
    label_index, object_key, split_key,
)


def pod(name: str, namespace: str = "ns", node: str = "", rv: str = "1", **labels: str) -> dict:
    obj = {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": name, "namespace": namespace, "resourceVersion": rv}}
    if labels:
        obj["metadata"]["labels"] = labels
    if node:
        obj["spec"] = {"nodeName": node}
    return obj


def test_keys():
    assert object_key(pod("a", "ns")) == "ns/a"
    assert object_key({"metadata": {"name": "node-1"}}) == "node-1"
    assert split_key("ns/a") == ("ns", "a")
    assert split_key("node-1") == (None, "node-1")


def test_indexer_get_list_and_namespace_index():
    indexer = Indexer()
    indexer.upsert(pod("a", "one"))
    indexer.upsert(pod("b", "one"))
    indexer.upsert(pod("c", "two"))
    assert indexer.get("one/a")["metadata"]["name"] == "a"
    assert indexer.get_object("two", "c") is indexer.get("two/c")
    assert indexer.get("one/zzz") is None
    assert sorted(object_key(o) for o in indexer.list()) == ["one/a", "one/b", "two/c"]
    assert [o["metadata"]["name"] for o in indexer.by_index(NAMESPACE_INDEX, "one")] == ["a", "b"]
    assert indexer.by_index(NAMESPACE_INDEX, "three") == []
    with pytest.raises(KeyError):
        indexer.by_index("nope", "x")


def test_custom_indexes_follow_updates_and_deletes():
    indexer = Indexer({"node": field_index("spec.nodeName"), "app": label_index("app")})
    indexer.upsert(pod("a", node="n1", app="web"))
    indexer.upsert(pod("b", node="n1"))
    indexer.upsert(pod("c"))  # unscheduled: in no node bucket
    assert indexer.index_keys("node", "n1") == ["ns/a", "ns/b"]
    assert indexer.index_keys("app", "web") == ["ns/a"]
    # Moving a pod moves it between buckets; an emptied bucket disappears.
    old = indexer.upsert(pod("a", node="n2", rv="2", app="db"))
    assert old["spec"]["nodeName"] == "n1"
    assert indexer.index_keys("node", "n1") == ["ns/b"]
    assert indexer.index_keys("node", "n2") == ["ns/a"]
    assert indexer.index_keys("app", "web") == []
    assert "web" not in indexer.index_values("app")
    indexer.remove("ns/b")
    assert indexer.index_values("node") == ["n2"]
    assert indexer.remove("ns/b") is None


def test_indexer_added_later_indexes_existing_objects_and_names_are_unique():
    indexer = Indexer()
    indexer.upsert(pod("a", node="n1"))
    indexer.add_indexers({"node": field_index("spec.nodeName")})
    assert indexer.index_keys("node", "n1") == ["ns/a"]
    with pytest.raises(ValueError):
        indexer.add_indexers({"node": field_index("spec.nodeName")})


def test_replace_rebuilds_every_index():
    indexer = Indexer({"node": field_index("spec.nodeName")})
    indexer.upsert(pod("a", node="n1"))
    indexer.replace([pod("b", node="n2")])
    assert indexer.keys() == ["ns/b"]
    assert indexer.index_keys("node", "n1") == []
    assert indexer.index_keys("node", "n2") == ["ns/b"]


class Recorder:
    def __init__(self, informer: SharedInformer) -> None:
        self.events: list[tuple] = []
        informer.add_event_handler(
            on_add=lambda o: self.events.append(("add", object_key(o), o["metadata"]["resourceVersion"])),
            on_update=lambda old, new: self.events.append(("update", object_key(new), new["metadata"]["resourceVersion"])),
            on_delete=lambda o: self.events.append(("delete", object_key(o), o["metadata"]["resourceVersion"])),
        )


def new_informer(**kwargs) -> SharedInformer:
    return SharedInformer(ApiClient("http://127.0.0.1:1"), PODS, **kwargs)


def test_informer_delivers_list_events_and_relist_differences():
    informer = new_informer(indexers={"node": field_index("spec.nodeName")})
    recorder = Recorder(informer)
    assert not informer.has_synced()
    informer._replace([pod("a", rv="1"), pod("b", rv="2")], "2")
    assert informer.has_synced()
    informer._apply("ADDED", pod("c", rv="3"))
    informer._apply("MODIFIED", pod("a", rv="4", node="n1"))
    informer._apply("DELETED", pod("b", rv="5"))
    assert recorder.events == [
        ("add", "ns/a", "1"), ("add", "ns/b", "2"),
        ("add", "ns/c", "3"), ("update", "ns/a", "4"), ("delete", "ns/b", "5"),
    ]
    assert informer.indexer.index_keys("node", "n1") == ["ns/a"]
    recorder.events.clear()
    # Re-list: "a" unchanged (no event), "c" changed, "d" new, and "c"... "x" vanished.
    informer._apply("ADDED", pod("x", rv="6"))
    recorder.events.clear()
    informer._replace([pod("a", rv="4", node="n1"), pod("c", rv="7"), pod("d", rv="8")], "8")
    assert sorted(recorder.events) == [("add", "ns/d", "8"), ("delete", "ns/x", "6"), ("update", "ns/c", "7")]
    assert sorted(informer.indexer.keys()) == ["ns/a", "ns/c", "ns/d"]


def test_handler_added_after_sync_gets_the_cache_as_adds_and_removal_stops_delivery():
    informer = new_informer()
    informer._replace([pod("a"), pod("b")], "1")
    late = []
    registration = informer.add_event_handler(on_add=lambda o: late.append(object_key(o)))
    assert sorted(late) == ["ns/a", "ns/b"]
    informer.remove_event_handler(registration)
    informer._apply("ADDED", pod("c"))
    assert len(late) == 2


def test_failing_handler_does_not_stop_the_others():
    informer = new_informer()
    seen = []

    def broken(obj):
        raise RuntimeError("boom")

    informer.add_event_handler(on_add=broken)
    informer.add_event_handler(on_add=lambda o: seen.append(object_key(o)))
    informer._replace([pod("a")], "1")
    assert seen == ["ns/a"]


def test_resync_redelivers_every_cached_object_as_update():
    async def main():
        informer = new_informer(resync_period=0.05)
        recorder = Recorder(informer)
        informer._replace([pod("a"), pod("b")], "1")
        recorder.events.clear()
        task = asyncio.create_task(informer._resync_loop())
        await asyncio.sleep(0.12)
        task.cancel()
        updates = [e for e in recorder.events if e[0] == "update"]
        assert len(updates) >= 2 and {e[1] for e in updates} == {"ns/a", "ns/b"}
        assert len(recorder.events) == len(updates)

    asyncio.run(main())


def test_factory_shares_one_informer_per_resource_and_selectors():
    factory = SharedInformerFactory(ApiClient("http://127.0.0.1:1"))
    first = factory.informer(PODS)
    assert factory.informer(PODS) is first
    assert factory.informer(PODS, namespace="") is first
    assert factory.informer(PODS, field_selector="spec.nodeName=n1") is not first
    assert factory.informer(PODS, namespace="ns") is not first
    assert len(factory.informers) == 3
