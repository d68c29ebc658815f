"""Node lifecycle + taint eviction controllers against a live API server, with a hand-driven
"kubelet" (lease renewals and node status posts) and short grace periods."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
import uuid

from controllerhelpers import fresh_namespace, running_controllers, wait_for
from pyk8s.client import EVENTS, LEASES, NODES, PODS, NotFound, format_micro_time

CONTROLLERS = ["node-lifecycle-controller", "taint-eviction-controller"]
OPTIONS = {
    "node_monitor_period": 0.2,
    "node_monitor_grace_period": 2.0,
    "node_startup_grace_period": 2.0,
    # One token per node a second would make the second tainting of a node wait 10 s.
    "node_eviction_rate": 100.0,
}
UNREACHABLE = "node.kubernetes.io/unreachable"
NOT_READY = "node.kubernetes.io/not-ready"
LEASE_NS = "kube-node-lease"


def now_text() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def conditions(ready: str) -> list[dict]:
    stamp = now_text()
    pressure = [
        {"type": kind, "status": "False", "reason": "KubeletHasSufficient", "lastHeartbeatTime": stamp,
         "lastTransitionTime": stamp}
        for kind in ("MemoryPressure", "DiskPressure", "PIDPressure")
    ]
    reason = "KubeletReady" if ready == "True" else "KubeletNotReady"
    return pressure + [{"type": "Ready", "status": ready, "reason": reason, "lastHeartbeatTime": stamp,
                        "lastTransitionTime": stamp}]


class FakeKubelet:
    """What a kubelet does for the node controller: renews its Lease and posts its Ready
    condition; ``alive = False`` stops both."""

    def __init__(self, client, name: str, *, with_status: bool = True) -> None:
        self.client = client
        self.name = name
        self.ready = "True"
        self.alive = True
        self.with_status = with_status
        self._task: asyncio.Task | None = None

    async def register(self) -> None:
        node = {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": self.name, "labels": {"kubernetes.io/os": "linux"}}}
        await self.client.create(NODES, node)
        if self.with_status:
            await self.post_status()
            lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                     "metadata": {"name": self.name, "namespace": LEASE_NS},
                     "spec": {"holderIdentity": self.name, "leaseDurationSeconds": 40,
                              "renewTime": format_micro_time(dt.datetime.now(dt.UTC))}}
            await self.client.create(LEASES, lease)
            self._task = asyncio.create_task(self._heartbeat())

    async def post_status(self) -> None:
        await self.client.patch(NODES, self.name, {"status": {"conditions": conditions(self.ready)}}, subresource="status")

    async def _heartbeat(self) -> None:
        while True:
            if self.alive:
                renew = {"spec": {"renewTime": format_micro_time(dt.datetime.now(dt.UTC))}}
                await self.client.patch(LEASES, self.name, renew, namespace=LEASE_NS)
            await asyncio.sleep(0.2)

    async def remove(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for resource, namespace in ((NODES, None), (LEASES, LEASE_NS)):
            with contextlib.suppress(NotFound):
                await self.client.delete(resource, self.name, namespace=namespace)


def pod_body(name: str, node: str, tolerations: list[dict] | None = None) -> dict:
    spec = {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]}
    if tolerations is not None:
        spec["tolerations"] = tolerations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


async def make_running(client, namespace: str, name: str) -> None:
    status = {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
    await client.patch(PODS, name, status, namespace=namespace, subresource="status")


def taints_of(node: dict) -> list[tuple[str, str]]:
    return sorted((t["key"], t["effect"]) for t in (node.get("spec") or {}).get("taints") or ())


def condition(obj: dict, kind: str) -> dict:
    return next(c for c in obj["status"].get("conditions") or () if c["type"] == kind)


async def deleting(client, namespace: str, name: str) -> bool:
    try:
        pod = await client.get(PODS, name, namespace=namespace)
    except NotFound:
        return True
    return bool(pod["metadata"].get("deletionTimestamp"))


def test_lease_expiry_taints_evicts_and_recovers(apiserver):
    async def scenario():
        async with running_controllers(apiserver.url, CONTROLLERS, options=OPTIONS) as (client, manager):
            suffix = uuid.uuid4().hex[:6]
            healthy = FakeKubelet(client, f"healthy-{suffix}")
            dying = FakeKubelet(client, f"dying-{suffix}")
            try:
                await healthy.register()
                await dying.register()
                ns = await fresh_namespace(client)
                # Admission would give every pod the default 300 s tolerations; a toleration
                # with the key but another value blocks that and tolerates nothing.
                refuse = [{"key": UNREACHABLE, "operator": "Equal", "value": "never", "effect": "NoExecute"}]
                brief = [{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 2}]
                forever = [{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}]
                for name, tolerations in (("refuse", refuse), ("brief", brief), ("forever", forever),
                                          ("defaults", None)):
                    await client.create(PODS, pod_body(name, dying.name, tolerations), namespace=ns)
                    await make_running(client, ns, name)

                # Healthy and labelled as upstream reconciles: no taints, beta os label added.
                node = await wait_for(lambda: node_if(client, dying.name, lambda n: "beta.kubernetes.io/os" in n["metadata"]["labels"]))
                assert node["metadata"]["labels"]["beta.kubernetes.io/os"] == "linux"
                await asyncio.sleep(0.5)
                assert taints_of(await client.get(NODES, dying.name)) == []

                dying.alive = False
                node = await wait_for(lambda: node_if(
                    client, dying.name, lambda n: (UNREACHABLE, "NoExecute") in taints_of(n)), timeout=10)
                tainted_at = time.monotonic()
                ready = condition(node, "Ready")
                assert (ready["status"], ready["reason"], ready["message"]) == (
                    "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.")
                for kind in ("MemoryPressure", "DiskPressure", "PIDPressure"):
                    assert condition(node, kind)["status"] == "Unknown"
                no_execute = next(t for t in node["spec"]["taints"] if t["effect"] == "NoExecute")
                assert no_execute["timeAdded"]
                await wait_for(lambda: node_if(client, dying.name, lambda n: (UNREACHABLE, "NoSchedule") in taints_of(n)))

                # Not tolerated: at once, with the DisruptionTarget condition.
                await wait_for(lambda: deleting(client, ns, "refuse"), timeout=5)
                refused = await client.get(PODS, "refuse", namespace=ns)
                assert condition(refused, "DisruptionTarget")["reason"] == "DeletionByTaintManager"
                # tolerationSeconds=2: about two seconds after the taint.
                await wait_for(lambda: deleting(client, ns, "brief"), timeout=8)
                waited = time.monotonic() - tainted_at
                assert 1.0 <= waited <= 6.0, waited
                assert not await deleting(client, ns, "forever")
                assert not await deleting(client, ns, "defaults")
                # The node controller marked the pods of the lost node not ready.
                kept = await client.get(PODS, "forever", namespace=ns)
                assert condition(kept, "Ready")["status"] == "False"

                events = (await client.list(EVENTS, namespace=ns))["items"]
                reasons = {(e["involvedObject"]["name"], e["reason"], e["message"]) for e in events}
                assert ("refuse", "TaintManagerEviction", f"Marking for deletion Pod {ns}/refuse") in reasons
                assert ("forever", "NodeNotReady", "Node is not ready") in reasons
                node_events = (await client.list(EVENTS, namespace="default"))["items"]
                assert any(e["involvedObject"]["name"] == dying.name and e["reason"] == "NodeNotReady"
                           for e in node_events)

                # Back: the kubelet renews and posts Ready=True; every taint goes, and the
                # pending deletion of the default-tolerations pod is cancelled.
                dying.alive = True
                await dying.post_status()
                node = await wait_for(lambda: node_if(client, dying.name, lambda n: taints_of(n) == []), timeout=10)
                assert condition(node, "Ready")["status"] == "True"
                assert condition(node, "Ready")["reason"] == "KubeletReady"
                await wait_for(lambda: event_seen(client, ns, "defaults", f"Cancelling deletion of Pod {ns}/defaults"))
                assert not await deleting(client, ns, "defaults")

                # The kubelet itself reports NotReady: the not-ready taints.
                dying.ready = "False"
                await dying.post_status()
                await wait_for(lambda: node_if(client, dying.name, lambda n: taints_of(n) == [
                    (NOT_READY, "NoExecute"), (NOT_READY, "NoSchedule")]), timeout=10)

                # spec.unschedulable has its own NoSchedule taint, removed with it.
                await client.patch(NODES, healthy.name, {"spec": {"unschedulable": True}})
                await wait_for(lambda: node_if(client, healthy.name, lambda n: taints_of(n) == [
                    ("node.kubernetes.io/unschedulable", "NoSchedule")]))
                await client.patch(NODES, healthy.name, {"spec": {"unschedulable": None}})
                await wait_for(lambda: node_if(client, healthy.name, lambda n: taints_of(n) == []))
            finally:
                await healthy.remove()
                await dying.remove()

    asyncio.run(scenario())


def test_only_node_lost_is_not_evicted_and_never_posted_node_goes_unknown(apiserver):
    """Upstream's master disruption mode: when no node at all is Ready, the controller blames
    itself and taints nothing NoExecute.  A node that never posted status goes Unknown after
    the startup grace period."""

    async def scenario():
        async with running_controllers(apiserver.url, CONTROLLERS, options=OPTIONS) as (client, manager):
            silent = FakeKubelet(client, f"silent-{uuid.uuid4().hex[:6]}", with_status=False)
            try:
                await silent.register()
                ns = await fresh_namespace(client)
                refuse = [{"key": UNREACHABLE, "operator": "Equal", "value": "never", "effect": "NoExecute"}]
                await client.create(PODS, pod_body("p", silent.name, refuse), namespace=ns)
                node = await wait_for(lambda: node_if(client, silent.name, lambda n: n.get("status", {}).get("conditions")),
                                      timeout=8)
                ready = condition(node, "Ready")
                assert (ready["status"], ready["reason"], ready["message"]) == (
                    "Unknown", "NodeStatusNeverUpdated", "Kubelet never posted node status.")
                await wait_for(lambda: node_if(client, silent.name, lambda n: taints_of(n) == [(UNREACHABLE, "NoSchedule")]))
                await asyncio.sleep(1.5)
                assert taints_of(await client.get(NODES, silent.name)) == [(UNREACHABLE, "NoSchedule")]
                assert not await deleting(client, ns, "p")
            finally:
                await silent.remove()

    asyncio.run(scenario())


async def node_if(client, name: str, predicate):
    node = await client.get(NODES, name)
    return node if predicate(node) else None


async def event_seen(client, namespace: str, name: str, message: str) -> bool:
    events = (await client.list(EVENTS, namespace=namespace))["items"]
    return any(e["involvedObject"]["name"] == name and e["message"] == message for e in events)
