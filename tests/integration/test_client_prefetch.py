"""Lists prefetched before a component's informers start (ListPrefetch, set_initial_list),
against a live pyk8s-apiserver: the informer starts from the prefetched list and its
resourceVersion, so what changed after the prefetch arrives through the watch; a
resourceVersion compacted meanwhile means a 410 and a re-list, as after any list; a failed
prefetch means the informer lists by itself, at once."""

from __future__ import annotations

import asyncio
import time

from pyk8s.apiserver.testing import free_port, run_apiserver
from pyk8s.client import (
    CONFIG_MAPS, NAMESPACES, AlreadyExists, ApiClient, Backoff, ClientConfig, Expired, SharedInformer,
    TransportError, object_key,
)
from pyk8s.client._prefetch import ListPrefetch


def run(coroutine, timeout: float = 20.0):
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


def configmap(name: str, namespace: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}, "data": {"k": "v"}}


async def make_namespace(client: ApiClient, name: str) -> None:
    try:
        await client.create(NAMESPACES, {"metadata": {"name": name}})
    except AlreadyExists:
        pass


async def eventually(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def in_namespace(states: dict[str, str], namespace: str) -> dict[str, str]:
    return {key: rv for key, rv in states.items() if key.startswith(namespace + "/")}


def cache_state(informer: SharedInformer, namespace: str) -> dict[str, str]:
    return in_namespace({object_key(o): o["metadata"]["resourceVersion"] for o in informer.indexer.list()}, namespace)


async def server_state(client: ApiClient, namespace: str) -> dict[str, str]:
    listed = await client.list(CONFIG_MAPS, namespace=namespace)
    return {object_key(o): o["metadata"]["resourceVersion"] for o in listed["items"]}


class Recorder:
    def __init__(self, informer: SharedInformer, namespace: str) -> None:
        self.events: list[tuple[str, str]] = []
        self.namespace = namespace
        informer.add_event_handler(lambda o: self.record("add", o), lambda _old, new: self.record("update", new),
                                   lambda o: self.record("delete", o))

    def record(self, kind: str, obj: dict) -> None:
        if obj["metadata"]["namespace"] == self.namespace:
            self.events.append((kind, obj["metadata"]["name"]))


def count_lists(client: ApiClient) -> list[int]:
    """The informer's own list requests (ApiClient.list_all), counted."""
    calls = [0]
    list_all = client.list_all

    async def counting(*args, **kwargs):
        calls[0] += 1
        return await list_all(*args, **kwargs)

    client.list_all = counting
    return calls


def test_informer_takes_the_prefetched_list_and_watches_from_its_resource_version():
    with run_apiserver("native") as server:
        async def main():
            async with ApiClient(server.url) as client:
                await make_namespace(client, "pre")
                for name in ("a", "b"):
                    await client.create(CONFIG_MAPS, configmap(name, "pre"))
                prefetch = ListPrefetch(ClientConfig(server=server.url), [CONFIG_MAPS])
                fetch = prefetch.take(CONFIG_MAPS)
                assert prefetch.take(CONFIG_MAPS) is None  # each list is taken once
                listed = await fetch()
                assert in_namespace({object_key(o): o["metadata"]["resourceVersion"] for o in listed["items"]}, "pre") \
                    == await server_state(client, "pre")
                # Written after the prefetch was answered, before the informer starts.
                late = await client.create(CONFIG_MAPS, configmap("late", "pre"))
                await client.delete(CONFIG_MAPS, "a", namespace="pre")

                async def prefetched():
                    return listed

                lists = count_lists(client)
                informer = SharedInformer(client, CONFIG_MAPS)
                recorder = Recorder(informer, "pre")
                informer.set_initial_list(prefetched)
                informer.start()
                assert await informer.wait_for_sync(5)
                await eventually(lambda: len(recorder.events) == 4)
                assert sorted(recorder.events[:2]) == [("add", "a"), ("add", "b")]
                assert recorder.events[2:] == [("add", "late"), ("delete", "a")]
                assert cache_state(informer, "pre") == await server_state(client, "pre")
                assert cache_state(informer, "pre")["pre/late"] == late["metadata"]["resourceVersion"]
                assert informer.reflector.lists == 1 and lists == [0]
                await informer.stop()

        run(main())


def test_a_prefetched_resource_version_compacted_meanwhile_means_a_relist():
    extra = ("--compaction-interval", "0.1", "--compaction-retention", "0.2")
    with run_apiserver("native", extra_args=extra) as server:
        async def main():
            async with ApiClient(server.url) as client:
                await make_namespace(client, "old")
                for name in ("keep", "change", "drop"):
                    await client.create(CONFIG_MAPS, configmap(name, "old"))
                fetch = ListPrefetch(ClientConfig(server=server.url), [CONFIG_MAPS]).take(CONFIG_MAPS)
                listed = await fetch()
                await client.delete(CONFIG_MAPS, "drop", namespace="old")
                await client.patch(CONFIG_MAPS, "change", {"data": {"k": "new"}}, namespace="old")
                await client.create(CONFIG_MAPS, configmap("added", "old"))
                await asyncio.sleep(0.5)
                await make_namespace(client, "bump")  # a newer revision for the compactor to keep
                await asyncio.sleep(0.4)

                async def prefetched():
                    return listed

                lists = count_lists(client)
                informer = SharedInformer(client, CONFIG_MAPS, backoff=Backoff(initial=0.05, cap=0.4))
                recorder = Recorder(informer, "old")
                informer.set_initial_list(prefetched)
                informer.start()
                assert await informer.wait_for_sync(5)
                await eventually(lambda: informer.reflector.lists == 2)
                await eventually(lambda: len(recorder.events) >= 6)
                assert isinstance(informer.reflector.last_error, Expired)
                assert lists == [1]
                assert sorted(recorder.events[:3]) == [("add", "change"), ("add", "drop"), ("add", "keep")]
                assert sorted(recorder.events[3:]) == [("add", "added"), ("delete", "drop"), ("update", "change")]
                assert cache_state(informer, "old") == await server_state(client, "old")
                await informer.stop()

        run(main())


def test_a_failed_prefetch_lists_at_once():
    with run_apiserver("native") as server:
        async def main():
            nowhere = ClientConfig(server=f"http://127.0.0.1:{free_port()}")
            fetch = ListPrefetch(nowhere, [CONFIG_MAPS], connect_timeout=1).take(CONFIG_MAPS)
            try:
                await fetch()
            except TransportError:
                pass
            else:
                raise AssertionError("a list from a closed port")
            async with ApiClient(server.url) as client:
                await make_namespace(client, "fail")
                await client.create(CONFIG_MAPS, configmap("x", "fail"))
                lists = count_lists(client)
                informer = SharedInformer(client, CONFIG_MAPS, backoff=Backoff(initial=30, cap=30))
                informer.set_initial_list(ListPrefetch(nowhere, [CONFIG_MAPS], connect_timeout=1).take(CONFIG_MAPS))
                informer.start()
                # No back-off (30 s here) before the informer's own list.
                assert await informer.wait_for_sync(5)
                assert cache_state(informer, "fail") == await server_state(client, "fail")
                assert informer.reflector.lists == 1 and lists == [1]
                await informer.stop()

        run(main())
