"""The namespace controller against a live API server: ``kubectl delete namespace`` returns
once everything in it is gone and the namespace with it; the status conditions show what was
holding it up while it terminated (pods in their grace period, content with finalizers); the
name can be used again afterwards.  The garbage collector runs too, as in a real cluster."""

from __future__ import annotations

import asyncio

import yaml

from controllerhelpers import running_controllers, wait_for
from kubectlhelpers import AsyncKubectl
from pyk8s.client import (
    CONFIG_MAPS, NAMESPACES, PODS, REPLICA_SETS, SECRETS, SERVICES, ApiClient, NotFound,
)

CONTROLLERS = ["namespace-controller", "garbage-collector-controller"]
HOLD = "example.com/hold"


def namespace_manifest(name: str) -> str:
    return yaml.safe_dump({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


def contents(namespace: str) -> str:
    """A bit of everything: workloads owning pods, services, config, a lease."""
    container = {"name": "c", "image": "busybox"}
    docs = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "config"}, "data": {"a": "1"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "secret"}, "stringData": {"b": "2"}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
         "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot"}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "loose", "labels": {"app": "web"}},
         "spec": {"containers": [container]}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "deploy"},
         "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "d"}},
                  "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": [container]}}}},
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "job"},
         "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [container]}}}},
        {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "lease"},
         "spec": {"holderIdentity": "x"}},
    ]
    for doc in docs:
        doc["metadata"]["namespace"] = namespace
    return yaml.safe_dump_all(docs)


async def exists(client: ApiClient, resource, name: str, namespace: str | None = None) -> bool:
    try:
        await client.get(resource, name, namespace=namespace)
    except NotFound:
        return False
    return True


async def owned_pods(client: ApiClient, namespace: str, owner: dict, count: int) -> None:
    for i in range(count):
        await client.create(PODS, {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{owner['metadata']['name']}-{i}", "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner["metadata"]["name"],
                "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        }, namespace=namespace)


class ConditionLog:
    """Every distinct set of namespace conditions seen while polling."""

    def __init__(self) -> None:
        self.seen: list[dict[str, tuple]] = []

    async def watch(self, client: ApiClient, name: str) -> None:
        while True:
            try:
                ns = await client.get(NAMESPACES, name)
            except NotFound:
                return
            conditions = {c["type"]: (c["status"], c["reason"], c["message"])
                          for c in (ns.get("status") or {}).get("conditions") or ()}
            if conditions and (not self.seen or self.seen[-1] != conditions):
                self.seen.append(conditions)
            await asyncio.sleep(0.05)

    def any(self, condition_type: str, status: str, reason: str, message: str) -> bool:
        return any(c.get(condition_type) == (status, reason, message) for c in self.seen)


async def play_kubelet(client: ApiClient, namespace: str, name: str, after: float) -> None:
    """End a terminating pod's grace period (no kubelet runs) ``after`` seconds after it starts."""
    await wait_for(lambda: terminating(client, namespace, name), timeout=20, message=f"pod {name} terminating")
    await asyncio.sleep(after)
    await client.delete(PODS, name, namespace=namespace, grace_period_seconds=0)


async def terminating(client: ApiClient, namespace: str, name: str) -> bool:
    try:
        pod = await client.get(PODS, name, namespace=namespace)
    except NotFound:
        return True
    return bool(pod["metadata"].get("deletionTimestamp"))


def test_kubectl_delete_namespace_removes_everything_then_the_namespace(apiserver, tmp_path):
    async def scenario():
        kubectl = AsyncKubectl(apiserver.url, tmp_path)
        name = "doomed"
        async with running_controllers(apiserver.url, CONTROLLERS) as (client, _):
            await kubectl.ok("create", "-f", "-", stdin=namespace_manifest(name))
            await kubectl.ok("create", "-f", "-", stdin=contents(name))
            rs = await client.create(REPLICA_SETS, {
                "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "rs"},
                "spec": {"replicas": 0, "selector": {"matchLabels": {"rs": "x"}},
                         "template": {"metadata": {"labels": {"rs": "x"}},
                                      "spec": {"containers": [{"name": "c", "image": "busybox"}]}}},
            }, namespace=name)
            await owned_pods(client, name, rs, 3)
            # A pod a kubelet runs: it stays through its grace period until the kubelet ends it.
            await client.create(PODS, {
                "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "running"},
                "spec": {"nodeName": "node-1", "terminationGracePeriodSeconds": 2,
                         "containers": [{"name": "c", "image": "busybox"}]},
            }, namespace=name)

            conditions = ConditionLog()
            watcher = asyncio.create_task(conditions.watch(client, name))
            kubelet = asyncio.create_task(play_kubelet(client, name, "running", after=1.0))
            result = await kubectl.run("delete", "namespace", name, timeout=45)
            assert result.rc == 0, result
            assert f'namespace "{name}" deleted' in result.stdout
            await kubelet
            await asyncio.wait_for(watcher, 5)

            assert not await exists(client, NAMESPACES, name)
            for resource in (PODS, CONFIG_MAPS, SECRETS, SERVICES, REPLICA_SETS):
                assert (await client.list(resource, namespace=name))["items"] == [], resource
            # While the pod was in its grace period, the controller said so.
            assert conditions.any("NamespaceContentRemaining", "True", "SomeResourcesRemain",
                                  "Some resources are remaining: pods. has 1 resource instances")
            final = conditions.seen[-1]
            assert final["NamespaceDeletionDiscoveryFailure"] == (
                "False", "ResourcesDiscovered", "All resources successfully discovered")
            assert final["NamespaceDeletionContentFailure"] == (
                "False", "ContentDeleted", "All content successfully deleted, may be waiting on finalization")
            assert final["NamespaceDeletionGroupVersionParsingFailure"][0] == "False"
            assert final["NamespaceFinalizersRemaining"] == (
                "False", "ContentHasNoFinalizers", "All content-preserving finalizers finished")

            # The name is free again.
            await kubectl.ok("create", "-f", "-", stdin=namespace_manifest(name))
            fresh = await client.get(NAMESPACES, name)
            assert fresh["status"]["phase"] == "Active" and not fresh["metadata"].get("deletionTimestamp")
            await kubectl.ok("create", "-f", "-", stdin=contents(name))
            await kubectl.ok("delete", "namespace", name, timeout=45)
            assert not await exists(client, NAMESPACES, name)

    asyncio.run(scenario())


def test_content_with_finalizers_holds_the_namespace(apiserver):
    async def scenario():
        async with running_controllers(apiserver.url, CONTROLLERS) as (client, _):
            name = "held"
            await client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
            await client.create(CONFIG_MAPS, {"apiVersion": "v1", "kind": "ConfigMap",
                                              "metadata": {"name": "held", "finalizers": [HOLD]}}, namespace=name)
            await client.delete(NAMESPACES, name)

            async def finalizers_reported():
                ns = await client.get(NAMESPACES, name)
                by_type = {c["type"]: c for c in (ns.get("status") or {}).get("conditions") or ()}
                return by_type.get("NamespaceFinalizersRemaining", {}).get("status") == "True" and by_type

            by_type = await wait_for(finalizers_reported, timeout=15, message="finalizers reported")
            assert by_type["NamespaceFinalizersRemaining"]["reason"] == "SomeFinalizersRemain"
            assert by_type["NamespaceFinalizersRemaining"]["message"] == (
                f"Some content in the namespace has finalizers remaining: {HOLD} in 1 resource instances")
            assert by_type["NamespaceContentRemaining"]["message"] == (
                "Some resources are remaining: configmaps. has 1 resource instances")
            ns = await client.get(NAMESPACES, name)
            assert ns["status"]["phase"] == "Terminating" and ns["spec"]["finalizers"] == ["kubernetes"]

            await client.patch(CONFIG_MAPS, "held", {"metadata": {"finalizers": None}}, namespace=name)
            # Upstream looks again after the finalizer estimate (15 s / 2 + 1 = 8 s).
            await wait_for(lambda: gone(client, name), timeout=20, interval=0.2, message="namespace deleted")

    async def gone(client, name):
        return not await exists(client, NAMESPACES, name)

    asyncio.run(scenario())


def test_orphan_cascade_on_a_namespace_still_empties_it(apiserver, tmp_path):
    # The API server puts ``orphan`` on the namespace; the collector's removal of it must not
    # let the namespace go before the namespace controller has emptied and finalized it.
    async def scenario():
        kubectl = AsyncKubectl(apiserver.url, tmp_path)
        name = "orphaning"
        async with running_controllers(apiserver.url, CONTROLLERS) as (client, _):
            await kubectl.ok("create", "-f", "-", stdin=namespace_manifest(name))
            await kubectl.ok("create", "-f", "-", stdin=contents(name))
            result = await kubectl.run("delete", "namespace", name, "--cascade=orphan", timeout=45)
            assert result.rc == 0, result
            assert not await exists(client, NAMESPACES, name)
            for resource in (PODS, CONFIG_MAPS, SECRETS, SERVICES):
                assert (await client.list(resource, namespace=name))["items"] == [], resource

    asyncio.run(scenario())
