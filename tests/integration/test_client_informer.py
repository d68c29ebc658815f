"""Informers against a live pyk8s-apiserver: list+watch sync, events in order, re-list after
410 with the deletions it missed, reconnect across a server restart, shared informers."""

from __future__ import annotations

import asyncio
import time

import httpx

from pyk8s.apiserver.testing import APIServerProcess, run_apiserver
from pyk8s.client import (
    CONFIG_MAPS, NAMESPACES, AlreadyExists, ApiClient, Backoff, Expired, SharedInformer,
    SharedInformerFactory, label_index, object_key,
)


def run(coroutine, timeout: float = 15.0):
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


def configmap(name: str, namespace: str, **labels: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace, "labels": labels}, "data": {"k": "v"}}


async def make_namespace(client: ApiClient, name: str) -> None:
    try:
        await client.create(NAMESPACES, {"metadata": {"name": name}})
    except AlreadyExists:
        pass


class Recorder:
    """Every event as (kind, key, resourceVersion), in delivery order."""

    def __init__(self, informer: SharedInformer) -> None:
        self.events: list[tuple[str, str, str]] = []
        informer.add_event_handler(self.on_add, self.on_update, self.on_delete)

    def _record(self, kind: str, obj: dict) -> None:
        self.events.append((kind, object_key(obj), obj["metadata"]["resourceVersion"]))

    def on_add(self, obj):
        self._record("add", obj)

    def on_update(self, old, new):
        assert object_key(old) == object_key(new)
        self._record("update", new)

    def on_delete(self, obj):
        self._record("delete", obj)


async def eventually(predicate, timeout: float = 5.0, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)


async def server_state(client: ApiClient, namespace: str) -> dict[str, str]:
    listed = await client.list(CONFIG_MAPS, namespace=namespace)
    return {object_key(o): o["metadata"]["resourceVersion"] for o in listed["items"]}


def cache_state(informer: SharedInformer) -> dict[str, str]:
    return {object_key(o): o["metadata"]["resourceVersion"] for o in informer.indexer.list()}


FAST_BACKOFF = dict(initial=0.05, cap=0.4)


def test_list_then_watch_delivers_everything_in_order():
    with run_apiserver("native") as server:
        async def main():
            async with ApiClient(server.url) as client:
                await make_namespace(client, "inf")
                for i in range(5):
                    await client.create(CONFIG_MAPS, configmap(f"pre{i}", "inf", app="a" if i % 2 else "b"))
                # page_size 2 makes the initial list take three pages.
                informer = SharedInformer(client, CONFIG_MAPS, namespace="inf", page_size=2, indexers={"app": label_index("app")})
                recorder = Recorder(informer)
                informer.start()
                assert await informer.wait_for_sync(5)
                assert sorted(k for _, k, _ in recorder.events) == [f"inf/pre{i}" for i in range(5)]
                assert {e[0] for e in recorder.events} == {"add"}
                assert cache_state(informer) == await server_state(client, "inf")
                assert informer.indexer.index_keys("app", "a") == ["inf/pre1", "inf/pre3"]
                # Items of a list come back with their kind, as watch events do.
                assert informer.indexer.get("inf/pre0")["kind"] == "ConfigMap"

                recorder.events.clear()
                expected = []
                created = await client.create(CONFIG_MAPS, configmap("new", "inf", app="a"))
                expected.append(("add", "inf/new", created["metadata"]["resourceVersion"]))
                for value in range(3):
                    patched = await client.patch(CONFIG_MAPS, "new", {"data": {"k": str(value)}}, namespace="inf")
                    expected.append(("update", "inf/new", patched["metadata"]["resourceVersion"]))
                moved = await client.patch(CONFIG_MAPS, "pre0", {"metadata": {"labels": {"app": "a"}}}, namespace="inf")
                expected.append(("update", "inf/pre0", moved["metadata"]["resourceVersion"]))
                await client.delete(CONFIG_MAPS, "pre1", namespace="inf")
                await eventually(lambda: len(recorder.events) >= len(expected) + 1)
                deleted = recorder.events[-1]
                assert recorder.events[:-1] == expected
                assert deleted[:2] == ("delete", "inf/pre1")
                assert cache_state(informer) == await server_state(client, "inf")
                assert informer.indexer.index_keys("app", "a") == ["inf/new", "inf/pre0", "inf/pre3"]
                assert int(informer.last_sync_resource_version) >= int(deleted[2])
                assert informer.reflector.lists == 1
                await informer.stop()

        run(main())


def test_relist_after_410_notices_what_was_missed():
    """The watch ends while the client is busy; meanwhile objects are deleted, changed and
    created and the history compacted, so the re-watch gets 410 and the re-list must work
    out the differences: deletions with the last known object, updates, adds."""
    extra = ("--compaction-interval", "0.1", "--compaction-retention", "0.2")
    with run_apiserver("native", extra_args=extra) as server:
        async def main():
            async with ApiClient(server.url) as client:
                await make_namespace(client, "gone")
                for name in ("keep", "change", "drop"):
                    await client.create(CONFIG_MAPS, configmap(name, "gone"))
                informer = SharedInformer(
                    client, CONFIG_MAPS, namespace="gone", watch_timeout_seconds=1, backoff=Backoff(**FAST_BACKOFF),
                )
                recorder = Recorder(informer)
                informer.start()
                assert await informer.wait_for_sync(5)
                await eventually(lambda: informer.reflector.watches == 1)
                before = cache_state(informer)
                recorder.events.clear()
                # Block the loop on purpose: the watch (1 s) ends on the server while this
                # client cannot re-open it, and the writes below are never streamed to it.
                time.sleep(1.2)
                with httpx.Client(base_url=server.url, timeout=5) as sync:
                    base = "/api/v1/namespaces/gone/configmaps"
                    assert sync.delete(f"{base}/drop").status_code == 200
                    assert sync.patch(
                        f"{base}/change", json={"data": {"k": "new"}},
                        headers={"Content-Type": "application/merge-patch+json"},
                    ).status_code == 200
                    assert sync.post(base, json=configmap("added", "gone")).status_code == 201
                    time.sleep(0.5)
                    # A later write so the compactor has a newer revision to keep.
                    assert sync.post("/api/v1/namespaces", json={"metadata": {"name": "bump"}}).status_code == 201
                    time.sleep(0.4)
                await eventually(lambda: informer.reflector.lists == 2)
                await eventually(lambda: len(recorder.events) >= 3)
                assert isinstance(informer.reflector.last_error, Expired)
                assert cache_state(informer) == await server_state(client, "gone")
                kinds = sorted((kind, key) for kind, key, _ in recorder.events)
                assert kinds == [("add", "gone/added"), ("delete", "gone/drop"), ("update", "gone/change")]
                dropped = next(e for e in recorder.events if e[0] == "delete")
                assert dropped[2] == before["gone/drop"]  # the last state the cache knew
                await informer.stop()

        run(main())


def test_reconnects_after_the_server_restarts_on_the_same_port():
    process = APIServerProcess("native").start()
    try:
        async def main():
            async with ApiClient(process.url) as client:
                await make_namespace(client, "rs")
                for name in ("a", "b"):
                    await client.create(CONFIG_MAPS, configmap(name, "rs"))
                informer = SharedInformer(client, CONFIG_MAPS, namespace="rs", backoff=Backoff(**FAST_BACKOFF))
                recorder = Recorder(informer)
                informer.start()
                assert await informer.wait_for_sync(5)
                recorder.events.clear()

                await asyncio.to_thread(process.stop)
                await asyncio.sleep(0.3)  # the reflector now fails to connect and backs off
                await asyncio.to_thread(process.start)  # same port, empty store
                await make_namespace(client, "rs")
                created = await client.create(CONFIG_MAPS, configmap("c", "rs"))
                await eventually(lambda: cache_state(informer) == {"rs/c": created["metadata"]["resourceVersion"]})
                assert sorted(k for kind, k, _ in recorder.events if kind == "delete") == ["rs/a", "rs/b"]
                assert ("add", "rs/c") in [(kind, k) for kind, k, _ in recorder.events]
                assert informer.reflector.lists >= 2
                # The informer keeps following the new server.
                await client.delete(CONFIG_MAPS, "c", namespace="rs")
                await eventually(lambda: cache_state(informer) == {})
                await informer.stop()

        run(main())
    finally:
        process.stop()


def test_factory_informers_share_one_watch():
    with run_apiserver("native") as server:
        async def main():
            async with ApiClient(server.url) as client:
                await make_namespace(client, "shared")
                factory = SharedInformerFactory(client, namespace="shared", resync_period=0.2)
                first = factory.informer(CONFIG_MAPS)
                second = factory.informer(CONFIG_MAPS)
                assert first is second
                selected = factory.informer(CONFIG_MAPS, label_selector="app=x")
                one, two, three = Recorder(first), Recorder(second), Recorder(selected)
                factory.start()
                assert await factory.wait_for_cache_sync(5)
                await client.create(CONFIG_MAPS, configmap("plain", "shared"))
                await client.create(CONFIG_MAPS, configmap("labelled", "shared", app="x"))
                await eventually(lambda: len(three.events) >= 1 and len(one.events) >= 4)
                assert [e[:2] for e in one.events[:2]] == [("add", "shared/plain"), ("add", "shared/labelled")]
                assert one.events == two.events
                assert [e[:2] for e in three.events[:1]] == [("add", "shared/labelled")]
                # Resync: the same objects again as updates.
                assert {e[0] for e in one.events[2:]} == {"update"}
                assert first.reflector.watches == 1 and first.reflector.lists == 1
                await factory.shutdown()
                assert not first.running

        run(main())
