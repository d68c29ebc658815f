"""The garbage collector against a live API server: cascading deletion in the background,
in the foreground (``foregroundDeletion`` + ``blockOwnerDeletion``) and orphaning (the
``orphan`` finalizer), several owners, dangling and stale references, through the client and
through ``kubectl delete --cascade=...``.  Owners and dependents are made by hand (ConfigMaps
owning ConfigMaps, a ReplicaSet owning pods with no ReplicaSet controller running)."""

from __future__ import annotations

import asyncio
import time
import uuid

from controllerhelpers import fresh_namespace, running_controllers, wait_for
from kubectlhelpers import AsyncKubectl
from pyk8s.client import CONFIG_MAPS, EVENTS, PODS, REPLICA_SETS, ApiClient, NotFound

GC = "garbage-collector-controller"
HOLD = "example.com/hold"  # a finalizer of the test's, to keep an object around


def ref(owner: dict, *, block: bool = True, controller: bool = False) -> dict:
    return {
        "apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"], "blockOwnerDeletion": block, "controller": controller,
    }


def config_map(namespace: str, name: str, owners: list[dict] = (), finalizers: list[str] = ()) -> dict:
    meta = {"name": name, "namespace": namespace}
    if owners:
        meta["ownerReferences"] = list(owners)
    if finalizers:
        meta["finalizers"] = list(finalizers)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}


async def create_cm(client: ApiClient, namespace: str, name: str, owners=(), finalizers=()) -> dict:
    created = await client.create(CONFIG_MAPS, config_map(namespace, name, owners, finalizers))
    created.setdefault("apiVersion", "v1")
    created.setdefault("kind", "ConfigMap")
    return created


async def get_or_none(client: ApiClient, resource, name: str, namespace: str) -> dict | None:
    try:
        return await client.get(resource, name, namespace=namespace)
    except NotFound:
        return None


async def gone(client: ApiClient, resource, namespace: str, *names: str) -> bool:
    for name in names:
        if await get_or_none(client, resource, name, namespace) is not None:
            return False
    return True


async def release(client: ApiClient, resource, namespace: str, name: str) -> None:
    """Drop the test's finalizer (the object goes if it is being deleted)."""
    await client.patch(resource, name, {"metadata": {"finalizers": None}}, namespace=namespace)


def replica_set(name: str) -> dict:
    return {
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name},
        "spec": {
            "replicas": 0, "selector": {"matchLabels": {"rs": name}},
            "template": {"metadata": {"labels": {"rs": name}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}},
        },
    }


def pod(name: str, owner: dict, finalizers: list[str] = ()) -> dict:
    meta = {"name": name, "labels": {"rs": owner["metadata"]["name"]},
            "ownerReferences": [ref(owner, controller=True)]}
    if finalizers:
        meta["finalizers"] = list(finalizers)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


async def replica_set_with_pods(client: ApiClient, namespace: str, name: str, count: int,
                                finalizers: list[str] = ()) -> tuple[dict, list[str]]:
    owner = await client.create(REPLICA_SETS, replica_set(name), namespace=namespace)
    owner.setdefault("apiVersion", "apps/v1")
    owner.setdefault("kind", "ReplicaSet")
    names = [f"{name}-{i}" for i in range(count)]
    limit = asyncio.Semaphore(32)

    async def create(pod_name: str) -> None:
        async with limit:
            await client.create(PODS, pod(pod_name, owner, finalizers), namespace=namespace)

    await asyncio.gather(*(create(pod_name) for pod_name in names))
    return owner, names


async def pod_count(client: ApiClient, namespace: str) -> int:
    page = await client.list(PODS, namespace=namespace, limit=1)
    return len(page["items"]) + (page["metadata"].get("remainingItemCount") or 0)


# -- through the client --------------------------------------------------------------------


def test_background_deletes_dependents_and_their_dependents(apiserver):
    async def scenario():
        async with running_controllers(apiserver.url, [GC]) as (client, _):
            ns = await fresh_namespace(client)
            owner = await create_cm(client, ns, "owner")
            children = [await create_cm(client, ns, f"child-{i}", [ref(owner)]) for i in range(3)]
            await create_cm(client, ns, "grandchild", [ref(children[0], block=False)])
            unrelated = await create_cm(client, ns, "unrelated")
            await client.delete(CONFIG_MAPS, "owner", namespace=ns, propagation_policy="Background")
            await wait_for(lambda: gone(client, CONFIG_MAPS, ns, "child-0", "child-1", "child-2", "grandchild"),
                           timeout=15, message="dependents collected")
            assert (await client.get(CONFIG_MAPS, "unrelated", namespace=ns))["metadata"]["uid"] == unrelated["metadata"]["uid"]

    asyncio.run(scenario())


def test_foreground_owner_stays_until_blocking_dependents_are_gone(apiserver):
    async def scenario():
        async with running_controllers(apiserver.url, [GC]) as (client, _):
            ns = await fresh_namespace(client)
            owner = await create_cm(client, ns, "owner")
            await create_cm(client, ns, "blocking", [ref(owner, block=True)], [HOLD])
            await create_cm(client, ns, "not-blocking", [ref(owner, block=False)], [HOLD])
            await create_cm(client, ns, "plain", [ref(owner, block=True)])
            marked = await client.delete(CONFIG_MAPS, "owner", namespace=ns, propagation_policy="Foreground")
            assert marked["metadata"]["finalizers"] == ["foregroundDeletion"]

            async def dependents_deleted():
                blocking = await client.get(CONFIG_MAPS, "blocking", namespace=ns)
                other = await client.get(CONFIG_MAPS, "not-blocking", namespace=ns)
                return (blocking["metadata"].get("deletionTimestamp") and other["metadata"].get("deletionTimestamp")
                        and await gone(client, CONFIG_MAPS, ns, "plain"))

            await wait_for(dependents_deleted, timeout=15, message="dependents deleted in turn")
            await asyncio.sleep(0.5)
            # The blocking dependent is still there (held by the test): so is the owner.
            held = await client.get(CONFIG_MAPS, "owner", namespace=ns)
            assert held["metadata"]["deletionTimestamp"] and held["metadata"]["finalizers"] == ["foregroundDeletion"]

            await release(client, CONFIG_MAPS, ns, "blocking")
            await wait_for(lambda: gone(client, CONFIG_MAPS, ns, "owner", "blocking"), timeout=15,
                           message="owner deleted once its blocking dependent is gone")
            # A dependent without blockOwnerDeletion never held the owner back.
            assert await get_or_none(client, CONFIG_MAPS, "not-blocking", ns) is not None
            await release(client, CONFIG_MAPS, ns, "not-blocking")

    asyncio.run(scenario())


def test_foreground_cascades_through_every_level(apiserver):
    async def scenario():
        async with running_controllers(apiserver.url, [GC]) as (client, _):
            ns = await fresh_namespace(client)
            top = await create_cm(client, ns, "top")
            middle = await create_cm(client, ns, "middle", [ref(top)])
            await create_cm(client, ns, "leaf", [ref(middle)], [HOLD])
            await client.delete(CONFIG_MAPS, "top", namespace=ns, propagation_policy="Foreground")

            async def middle_deleting_its_dependents():
                current = await client.get(CONFIG_MAPS, "middle", namespace=ns)
                leaf = await client.get(CONFIG_MAPS, "leaf", namespace=ns)
                return (current["metadata"].get("finalizers") == ["foregroundDeletion"]
                        and leaf["metadata"].get("deletionTimestamp"))

            # The middle object has dependents, so it is deleted in the foreground too.
            await wait_for(middle_deleting_its_dependents, timeout=15, message="foreground passed down")
            await asyncio.sleep(0.5)
            assert await get_or_none(client, CONFIG_MAPS, "top", ns) is not None
            await release(client, CONFIG_MAPS, ns, "leaf")
            await wait_for(lambda: gone(client, CONFIG_MAPS, ns, "top", "middle", "leaf"), timeout=15,
                           message="every level deleted, bottom up")

    asyncio.run(scenario())


def test_orphan_keeps_dependents_without_the_reference(apiserver):
    async def scenario():
        async with running_controllers(apiserver.url, [GC]) as (client, _):
            ns = await fresh_namespace(client)
            owner = await create_cm(client, ns, "owner")
            other = await create_cm(client, ns, "other-owner")
            await create_cm(client, ns, "only-child", [ref(owner)])
            await create_cm(client, ns, "shared-child", [ref(owner), ref(other)])
            marked = await client.delete(CONFIG_MAPS, "owner", namespace=ns, propagation_policy="Orphan")
            assert marked["metadata"]["finalizers"] == ["orphan"]
            await wait_for(lambda: gone(client, CONFIG_MAPS, ns, "owner"), timeout=15, message="owner deleted")
            only = await client.get(CONFIG_MAPS, "only-child", namespace=ns)
            shared = await client.get(CONFIG_MAPS, "shared-child", namespace=ns)
            assert not only["metadata"].get("ownerReferences")
            assert [r["uid"] for r in shared["metadata"]["ownerReferences"]] == [other["metadata"]["uid"]]
            await asyncio.sleep(0.5)
            assert await get_or_none(client, CONFIG_MAPS, "only-child", ns) is not None

    asyncio.run(scenario())


def test_dependent_with_a_remaining_owner_loses_only_the_dangling_reference(apiserver):
    async def scenario():
        async with running_controllers(apiserver.url, [GC]) as (client, _):
            ns = await fresh_namespace(client)
            first = await create_cm(client, ns, "first")
            second = await create_cm(client, ns, "second")
            child = await create_cm(client, ns, "child", [ref(first), ref(second)])
            await client.delete(CONFIG_MAPS, "first", namespace=ns)

            async def reference_removed():
                current = await client.get(CONFIG_MAPS, "child", namespace=ns)
                return [r["uid"] for r in current["metadata"]["ownerReferences"]] == [second["metadata"]["uid"]]

            await wait_for(reference_removed, timeout=15, message="dangling reference patched out")
            assert (await client.get(CONFIG_MAPS, "child", namespace=ns))["metadata"]["uid"] == child["metadata"]["uid"]

    asyncio.run(scenario())


def test_reference_to_an_owner_that_never_existed_is_collected(apiserver):
    async def scenario():
        async with running_controllers(apiserver.url, [GC]) as (client, _):
            ns = await fresh_namespace(client)
            ghost = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ghost", "uid": str(uuid.uuid4())}}
            await create_cm(client, ns, "orphaned-at-birth", [ref(ghost)])
            await wait_for(lambda: gone(client, CONFIG_MAPS, ns, "orphaned-at-birth"), timeout=15,
                           message="dependent of an absent owner collected")

    asyncio.run(scenario())


def test_owner_recreated_under_the_same_name_does_not_keep_old_dependents(apiserver):
    async def scenario():
        async with ApiClient(apiserver.url) as client:
            # The collector is not running while the owner is deleted and made again.
            ns = await fresh_namespace(client)
            owner = await create_cm(client, ns, "owner")
            await create_cm(client, ns, "old-child", [ref(owner)])
            await client.delete(CONFIG_MAPS, "owner", namespace=ns)
            new_owner = await create_cm(client, ns, "owner")
            await create_cm(client, ns, "new-child", [ref(new_owner)])
        async with running_controllers(apiserver.url, [GC]) as (client, _):
            await wait_for(lambda: gone(client, CONFIG_MAPS, ns, "old-child"), timeout=15,
                           message="dependent of the old uid collected")
            await asyncio.sleep(0.5)
            assert await get_or_none(client, CONFIG_MAPS, "new-child", ns) is not None
            assert (await client.get(CONFIG_MAPS, "owner", namespace=ns))["metadata"]["uid"] == new_owner["metadata"]["uid"]

    asyncio.run(scenario())


def test_owner_in_another_namespace_does_not_count(apiserver):
    async def scenario():
        async with running_controllers(apiserver.url, [GC]) as (client, manager):
            home = await fresh_namespace(client)
            elsewhere = await fresh_namespace(client)
            owner = await create_cm(client, home, "owner")
            await manager.controller(GC).wait_synced(10)
            await asyncio.sleep(0.2)  # the owner is in the graph before its cross-namespace dependent
            await create_cm(client, elsewhere, "cross", [ref(owner)])
            await wait_for(lambda: gone(client, CONFIG_MAPS, elsewhere, "cross"), timeout=15,
                           message="cross-namespace dependent collected")
            assert await get_or_none(client, CONFIG_MAPS, "owner", home) is not None

            async def warned():
                events = (await client.list(EVENTS, namespace=elsewhere))["items"]
                return [e for e in events if e.get("reason") == "OwnerRefInvalidNamespace"]

            event = (await wait_for(warned, timeout=10, message="OwnerRefInvalidNamespace event"))[0]
            assert event["type"] == "Warning" and event["involvedObject"]["name"] == "cross"
            assert f'does not exist in namespace "{elsewhere}"' in event["message"]

    asyncio.run(scenario())


def test_thousands_of_pods_are_collected_quickly(apiserver):
    count = 3000

    async def scenario():
        async with ApiClient(apiserver.url) as client:
            ns = await fresh_namespace(client)
            await replica_set_with_pods(client, ns, "big", count)
        async with running_controllers(apiserver.url, [GC]) as (client, manager):
            await manager.controller(GC).wait_synced(30)
            started = time.perf_counter()
            await client.delete(REPLICA_SETS, "big", namespace=ns, propagation_policy="Background")
            await wait_for(lambda: pod_count_is(client, ns, 0), timeout=40, interval=0.2, message="all pods collected")
            elapsed = time.perf_counter() - started
            print(f"\n{count} pods collected in {elapsed:.2f} s")
            assert elapsed < 30

    async def pod_count_is(client, ns, expected):
        return await pod_count(client, ns) == expected

    asyncio.run(scenario())


# -- kubectl delete --cascade ---------------------------------------------------------------


def test_kubectl_cascade_background_and_orphan(apiserver, tmp_path):
    async def scenario():
        kubectl = AsyncKubectl(apiserver.url, tmp_path)
        async with running_controllers(apiserver.url, [GC]) as (client, _):
            ns = await fresh_namespace(client)
            _, pods = await replica_set_with_pods(client, ns, "bg", 3)
            out = await kubectl.ok("-n", ns, "delete", "rs", "bg", "--cascade=background")
            assert 'replicaset.apps "bg" deleted' in out
            await wait_for(lambda: gone(client, PODS, ns, *pods), timeout=15, message="pods collected")

            owner, pods = await replica_set_with_pods(client, ns, "orphaner", 3)
            out = await kubectl.ok("-n", ns, "delete", "rs", "orphaner", "--cascade=orphan")
            assert 'replicaset.apps "orphaner" deleted' in out
            # kubectl waited for the owner to go, which takes the orphan finalizer being done.
            assert await gone(client, REPLICA_SETS, ns, "orphaner")
            for name in pods:
                kept = await client.get(PODS, name, namespace=ns)
                assert not kept["metadata"].get("ownerReferences"), kept["metadata"]

    asyncio.run(scenario())


def test_kubectl_cascade_foreground_waits_for_dependents(apiserver, tmp_path):
    async def scenario():
        kubectl = AsyncKubectl(apiserver.url, tmp_path)
        async with running_controllers(apiserver.url, [GC]) as (client, _):
            ns = await fresh_namespace(client)
            _, pods = await replica_set_with_pods(client, ns, "fg", 3, finalizers=[HOLD])
            process = await kubectl.start("-n", ns, "delete", "rs", "fg", "--cascade=foreground", "--wait")

            async def pods_terminating():
                for name in pods:
                    current = await client.get(PODS, name, namespace=ns)
                    if not current["metadata"].get("deletionTimestamp"):
                        return False
                return True

            await wait_for(pods_terminating, timeout=15, message="pods deleted by the collector")
            await asyncio.sleep(1.0)
            assert process.returncode is None, "kubectl returned while blocking dependents remained"
            rs = await client.get(REPLICA_SETS, "fg", namespace=ns)
            assert rs["metadata"]["finalizers"] == ["foregroundDeletion"] and rs["metadata"]["deletionTimestamp"]

            for name in pods:
                await release(client, PODS, ns, name)
            result = await kubectl.finish(process, timeout=30)
            assert result.rc == 0, result
            assert 'replicaset.apps "fg" deleted' in result.stdout
            assert await gone(client, REPLICA_SETS, ns, "fg")
            assert await gone(client, PODS, ns, *pods)

    asyncio.run(scenario())
