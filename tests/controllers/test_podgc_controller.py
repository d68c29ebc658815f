"""The pod garbage collector against a live API server, with pod phases and node conditions
set by hand (no kubelet runs) and short timings: terminated pods beyond the threshold,
orphans of a deleted node after the quarantine, unscheduled terminating pods (held by a
finalizer, the only way such a pod outlives its DELETE), and terminating pods on an
out-of-service node."""

from __future__ import annotations

import asyncio
import uuid

from controllerhelpers import fresh_namespace, running_controllers, wait_for

from pyk8s.client import JOBS, NODES, PODS, ApiClient, NotFound

CONTROLLERS = ["podgc"]
QUARANTINE = 1.5
# The threshold is off unless a test turns it on: it counts terminated pods cluster-wide.
OPTIONS = {"pod_gc_period": 0.2, "pod_gc_orphan_quarantine": QUARANTINE, "terminated_pod_gc_threshold": 0}
HOLD = "example.com/hold"
OUT_OF_SERVICE = "node.kubernetes.io/out-of-service"


def pod_manifest(name: str, *, node: str | None = None, finalizers: list[str] | None = None) -> dict:
    meta: dict = {"name": name}
    if finalizers:
        meta["finalizers"] = finalizers
    spec: dict = {"containers": [{"name": "main", "image": "busybox"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


async def make_pod(client: ApiClient, namespace: str, name: str, phase: str | None = None, *,
                   reason: str | None = None, **kwargs) -> dict:
    pod = await client.create(PODS, pod_manifest(name, **kwargs), namespace=namespace)
    if phase:
        status = {"phase": phase, **({"reason": reason} if reason else {})}
        pod = await client.patch(PODS, name, {"status": status}, namespace=namespace, subresource="status")
    return pod


async def make_node(client: ApiClient, name: str, *, ready: str, taints: list[dict] | None = None) -> None:
    await client.create(NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
                                "spec": {"taints": taints} if taints else {}})
    condition = {"type": "Ready", "status": ready, "reason": "KubeletReady" if ready == "True" else "KubeletNotReady"}
    await client.patch(NODES, name, {"status": {"conditions": [condition]}}, subresource="status")


async def pod_names(client: ApiClient, namespace: str) -> set[str]:
    return {pod["metadata"]["name"] for pod in (await client.list(PODS, namespace=namespace))["items"]}


async def get_pod(client: ApiClient, namespace: str, name: str) -> dict | None:
    try:
        return await client.get(PODS, name, namespace=namespace)
    except NotFound:
        return None


async def release(client: ApiClient, namespace: str, name: str) -> None:
    """Drop the test's finalizer so the held pod goes (and leaves no terminated pod behind)."""
    await client.patch(PODS, name, {"metadata": {"finalizers": None}}, namespace=namespace)
    await wait_for(lambda: _gone(client, namespace, name), message=f"{name} gone")


async def _gone(client: ApiClient, namespace: str, name: str) -> bool:
    return await get_pod(client, namespace, name) is None


def condition_of(pod: dict, condition_type: str) -> dict | None:
    for condition in (pod.get("status") or {}).get("conditions") or ():
        if condition["type"] == condition_type:
            return condition
    return None


def test_terminated_pods_beyond_the_threshold_go_evicted_then_oldest_first(apiserver):
    async def scenario():
        async with ApiClient(apiserver.url) as client:
            namespace = await fresh_namespace(client)
            # Names that sort against their age, so only creationTimestamp can pick the old ones.
            await make_pod(client, namespace, "z-old-1", "Succeeded")
            await make_pod(client, namespace, "z-old-2", "Failed")
            await asyncio.sleep(1.1)  # creationTimestamp has one-second resolution
            for name in ("a-new-1", "a-new-2", "a-new-3"):
                await make_pod(client, namespace, name, "Succeeded")
            await make_pod(client, namespace, "a-newest-evicted", "Failed", reason="Evicted")
            await make_pod(client, namespace, "running", "Running")
        options = {**OPTIONS, "terminated_pod_gc_threshold": 3}
        async with running_controllers(apiserver.url, CONTROLLERS, options=options) as (client, _manager):
            expected = {"a-new-1", "a-new-2", "a-new-3", "running"}
            await wait_for(lambda: _names_are(client, namespace, expected), timeout=10, message="3 oldest gone")
            await asyncio.sleep(0.6)  # a few more passes delete nothing more
            assert await pod_names(client, namespace) == expected

    asyncio.run(scenario())


async def _deleted_pod(client: ApiClient, namespace: str, name: str) -> dict | None:
    pod = await get_pod(client, namespace, name)
    return pod if pod["metadata"].get("deletionTimestamp") else None


async def _names_are(client: ApiClient, namespace: str, expected: set[str]) -> bool:
    return await pod_names(client, namespace) == expected


def test_orphans_of_a_deleted_node_are_failed_and_force_deleted_after_the_quarantine(apiserver):
    async def scenario():
        async with running_controllers(apiserver.url, CONTROLLERS, options=OPTIONS) as (client, _manager):
            namespace = await fresh_namespace(client)
            gone_node, live_node = f"gone-{uuid.uuid4().hex[:6]}", f"live-{uuid.uuid4().hex[:6]}"
            await make_node(client, gone_node, ready="True")
            await make_node(client, live_node, ready="True")
            await make_pod(client, namespace, "running", "Running", node=gone_node)
            await make_pod(client, namespace, "finished", "Succeeded", node=gone_node)
            await make_pod(client, namespace, "held", "Running", node=gone_node, finalizers=[HOLD])
            await make_pod(client, namespace, "elsewhere", "Running", node=live_node)
            await client.delete(NODES, gone_node)
            await asyncio.sleep(QUARANTINE / 3)
            assert await pod_names(client, namespace) == {"running", "finished", "held", "elsewhere"}, \
                "deleted before the quarantine ran out"

            await wait_for(lambda: _names_are(client, namespace, {"held", "elsewhere"}), timeout=10,
                           message="orphans deleted")
            # The held pod's force delete may land a moment after the others are gone.
            held = await wait_for(lambda: _deleted_pod(client, namespace, "held"), timeout=10,
                                  message="the held orphan marked for deletion")
            assert held["metadata"]["deletionGracePeriodSeconds"] == 0
            assert held["status"]["phase"] == "Failed"
            disruption = condition_of(held, "DisruptionTarget")
            assert disruption is not None and disruption["status"] == "True"
            assert (disruption["reason"], disruption["message"]) == ("DeletionByPodGC", "PodGC: node no longer exists")
            assert (await get_pod(client, namespace, "elsewhere"))["status"]["phase"] == "Running"
            await release(client, namespace, "held")

    asyncio.run(scenario())


def test_unscheduled_terminating_pods_are_failed_so_their_job_lets_go(apiserver):
    """The API server deletes an unbound pod at once, so an unscheduled pod is terminating
    only while a finalizer holds it, as the Job controller's tracking finalizer does.  With
    ``podReplacementPolicy: Failed`` the Job waits for such a pod to fail, which without a
    kubelet only the pod GC makes happen."""
    async def scenario():
        names = ["podgc", "job-controller"]
        job_options = {**OPTIONS, "job_sync_batch_period": 0.05}
        async with running_controllers(apiserver.url, names, options=job_options) as (client, _manager):
            namespace = await fresh_namespace(client)
            job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "work"},
                   "spec": {"podReplacementPolicy": "Failed", "backoffLimit": 6, "template": {"spec": {
                       "restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]}}}}
            await client.create(JOBS, job, namespace=namespace)
            pods = await wait_for(lambda: _job_pods(client, namespace), message="the Job's pod")
            first = pods[0]["metadata"]["name"]
            assert "batch.kubernetes.io/job-tracking" in pods[0]["metadata"]["finalizers"]
            await client.delete(PODS, first, namespace=namespace)

            await wait_for(lambda: _gone(client, namespace, first), timeout=10, message="the deleted pod gone")
            job = await client.get(JOBS, "work", namespace=namespace)
            assert job["status"].get("failed") == 1

            # A bare pod held by some other finalizer: marked Failed, left for its finalizer.
            await make_pod(client, namespace, "held", finalizers=[HOLD])
            await client.delete(PODS, "held", namespace=namespace)
            held = await wait_for(lambda: _with_phase(client, namespace, "held", "Failed"), message="held Failed")
            assert held["metadata"]["deletionTimestamp"]
            assert condition_of(held, "DisruptionTarget") is None  # only orphans get it, as upstream
            await release(client, namespace, "held")
            await client.delete(JOBS, "work", namespace=namespace, propagation_policy="Background")

    asyncio.run(scenario())


async def _job_pods(client: ApiClient, namespace: str) -> list[dict]:
    return (await client.list(PODS, namespace=namespace, label_selector="batch.kubernetes.io/job-name=work"))["items"]


async def _with_phase(client: ApiClient, namespace: str, name: str, phase: str) -> dict | None:
    pod = await get_pod(client, namespace, name)
    return pod if pod is not None and pod["status"].get("phase") == phase else None


def test_terminating_pods_on_an_out_of_service_node_are_force_deleted(apiserver):
    async def scenario():
        async with running_controllers(apiserver.url, CONTROLLERS, options=OPTIONS) as (client, _manager):
            namespace = await fresh_namespace(client)
            suffix = uuid.uuid4().hex[:6]
            out_of_service = [{"key": OUT_OF_SERVICE, "value": "shutdown", "effect": "NoExecute"}]
            down, up, silent = f"down-{suffix}", f"up-{suffix}", f"silent-{suffix}"
            await make_node(client, down, ready="False", taints=out_of_service)
            await make_node(client, up, ready="True", taints=out_of_service)  # Ready: its kubelet will finish
            await make_node(client, silent, ready="False")  # not out of service: maybe coming back
            for name, node in (("stuck", down), ("stuck-held", down), ("alive", down), ("on-up", up),
                               ("on-silent", silent)):
                await make_pod(client, namespace, name, "Running", node=node,
                               finalizers=[HOLD] if name == "stuck-held" else None)
            # A graceful delete waits for the kubelet of the pod's node.
            for name in ("stuck", "stuck-held", "on-up", "on-silent"):
                deleted = await client.delete(PODS, name, namespace=namespace)
                assert deleted["metadata"]["deletionGracePeriodSeconds"] == 30

            await wait_for(lambda: _gone(client, namespace, "stuck"), timeout=10, message="stuck pod gone")
            held = await wait_for(lambda: _with_phase(client, namespace, "stuck-held", "Failed"), message="Failed")
            assert held["metadata"]["deletionGracePeriodSeconds"] == 0
            await asyncio.sleep(0.6)  # a few more passes
            assert await pod_names(client, namespace) == {"stuck-held", "alive", "on-up", "on-silent"}
            await release(client, namespace, "stuck-held")
            for name in ("on-up", "on-silent", "alive"):
                await client.delete(PODS, name, namespace=namespace, grace_period_seconds=0)

    asyncio.run(scenario())


def test_threshold_flag_and_controller_names():
    from pyk8s.cli import controller_manager as cli
    from pyk8s.controllers import resolve_names

    assert cli.controller_options(cli.parse_args(["--server", "http://x"]))["terminated_pod_gc_threshold"] == 12500
    args = cli.parse_args(["--server", "http://x", "--terminated-pod-gc-threshold=3"])
    assert cli.controller_options(args)["terminated_pod_gc_threshold"] == 3
    assert resolve_names(["podgc"]) == ["pod-garbage-collector-controller"]
    assert "pod-garbage-collector-controller" in cli.select_controllers(["*"])
