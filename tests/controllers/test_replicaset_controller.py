"""The ReplicaSet controller against a live API server (controllers in-process), pods'
status driven by hand since no kubelet runs; plus its pure parts (expectations, the
deletion order) as tables."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt

from controllerhelpers import fresh_namespace, running_controllers, wait_for

from pyk8s.client import EVENTS, PODS, PRIORITY_CLASSES, REPLICA_SETS, ApiClient
from pyk8s.controllers._expectations import ControllerExpectations, UIDTrackingExpectations
from pyk8s.controllers._pods import pods_to_delete, rfc3339

RS = "replicaset-controller"


def replica_set(namespace: str, replicas: int, *, name: str = "web", labels: dict | None = None,
                min_ready_seconds: int = 0, pod_spec: dict | None = None) -> dict:
    labels = labels or {"app": name}
    spec = {"replicas": replicas, "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": dict(labels)},
                         "spec": pod_spec or {"containers": [{"name": "c", "image": "busybox"}]}}}
    if min_ready_seconds:
        spec["minReadySeconds"] = min_ready_seconds
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


async def owned_pods(client: ApiClient, namespace: str, uid: str) -> list[dict]:
    items = (await client.list(PODS, namespace=namespace))["items"]
    return [p for p in items if any(r.get("uid") == uid and r.get("controller")
                                    for r in p["metadata"].get("ownerReferences") or ())]


async def rs_status(client: ApiClient, namespace: str, name: str = "web") -> dict:
    return (await client.get(REPLICA_SETS, name, namespace=namespace)).get("status") or {}


async def mark(client: ApiClient, pod: dict, *, ready: bool, since: dt.datetime | None = None) -> None:
    """What a kubelet would write: Running, and the Ready condition."""
    stamp = rfc3339(since)
    await client.patch(PODS, pod["metadata"]["name"], {"status": {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": stamp}],
    }}, namespace=pod["metadata"]["namespace"], subresource="status")


class CreationCounter:
    """Counts every pod ADDED in a namespace, from a watch opened before the ReplicaSet."""

    def __init__(self, client: ApiClient, namespace: str) -> None:
        self.client, self.namespace = client, namespace
        self.created: set[str] = set()
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> CreationCounter:
        listed = await self.client.list(PODS, namespace=self.namespace)
        stream = self.client.watch(PODS, namespace=self.namespace,
                                   resource_version=listed["metadata"]["resourceVersion"])
        await stream.__aenter__()

        async def count() -> None:
            async with stream:
                async for event_type, pod in stream:
                    if event_type == "ADDED":
                        self.created.add(pod["metadata"]["name"])

        self._task = asyncio.create_task(count())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def events_for(client: ApiClient, namespace: str, reason: str) -> list[dict]:
    return [e for e in (await client.list(EVENTS, namespace=namespace))["items"] if e["reason"] == reason]


def test_scale_up_and_down_without_over_creation(apiserver):
    async def scenario():
        async with running_controllers(apiserver.url, [RS]) as (client, manager):
            namespace = await fresh_namespace(client)
            async with CreationCounter(client, namespace) as counter:
                rs = await client.create(REPLICA_SETS, replica_set(namespace, 30))
                uid = rs["metadata"]["uid"]
                await wait_for(lambda: rs_status(client, namespace), timeout=20)
                status = await wait_for(lambda: _status_when(client, namespace, replicas=30), timeout=20)
                assert status["fullyLabeledReplicas"] == 30 and status["observedGeneration"] == 1
                assert len(await owned_pods(client, namespace, uid)) == 30

                await client.patch(REPLICA_SETS, "web", {"spec": {"replicas": 5}}, namespace=namespace)
                status = await wait_for(lambda: _status_when(client, namespace, replicas=5, generation=2), timeout=20)
                assert len(await owned_pods(client, namespace, uid)) == 5

                await client.patch(REPLICA_SETS, "web", {"spec": {"replicas": 12}}, namespace=namespace)
                await wait_for(lambda: _status_when(client, namespace, replicas=12, generation=3), timeout=20)
                # Give a second, over-eager sync the time to show itself.
                await asyncio.sleep(0.5)
                assert len(await owned_pods(client, namespace, uid)) == 12
                assert len(counter.created) == 30 + 7, "the controller created more pods than it needed"

            await manager.recorder.flush()
            created = await events_for(client, namespace, "SuccessfulCreate")
            deleted = await events_for(client, namespace, "SuccessfulDelete")
            # client-go's correlator: 10 distinct messages per reason, then one combined Event
            # whose count grows; and at most 25 events per source and object (spam filter).
            combined = "(combined from similar events): "
            assert len([e for e in created if not e["message"].startswith(combined)]) == 10
            assert len([e for e in created if e["message"].startswith(combined)]) == 1
            assert sum(e["count"] for e in created + deleted) == 25
            names = {f"Created pod: {name}" for name in counter.created}
            assert all(e["message"].removeprefix(combined) in names for e in created)
            assert all(e["message"].removeprefix(combined).startswith("Deleted pod: web-") for e in deleted)
            assert created[0]["involvedObject"]["kind"] == "ReplicaSet"
            assert created[0]["involvedObject"]["uid"] == uid
            assert created[0]["source"]["component"] == "replicaset-controller"

    asyncio.run(scenario())


async def _status_when(client: ApiClient, namespace: str, *, name: str = "web", generation: int | None = None,
                       **counts: int) -> dict | None:
    status = await rs_status(client, namespace, name)
    if any(status.get(field) != value for field, value in counts.items()):
        return None
    if generation is not None and status.get("observedGeneration") != generation:
        return None
    return status


def test_adopts_orphan_and_releases_relabelled_pod(apiserver):
    async def scenario():
        async with running_controllers(apiserver.url, [RS]) as (client, _manager):
            namespace = await fresh_namespace(client)
            orphan = await client.create(PODS, {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "orphan", "namespace": namespace, "labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            })
            rs = await client.create(REPLICA_SETS, replica_set(namespace, 2))
            uid = rs["metadata"]["uid"]
            await wait_for(lambda: _status_when(client, namespace, replicas=2), timeout=20)
            pods = await owned_pods(client, namespace, uid)
            assert "orphan" in {p["metadata"]["name"] for p in pods}
            assert len(pods) == 2, "the orphan should count as one of the two replicas"
            adopted = await client.get(PODS, "orphan", namespace=namespace)
            (reference,) = adopted["metadata"]["ownerReferences"]
            assert reference == {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": uid,
                                 "controller": True, "blockOwnerDeletion": True}
            assert adopted["metadata"]["uid"] == orphan["metadata"]["uid"]

            # Relabelled out of the selector: released, and replaced.
            await client.patch(PODS, "orphan", {"metadata": {"labels": {"app": "debug"}}}, namespace=namespace)
            released = await wait_for(
                lambda: _without_owner(client, namespace, "orphan"), timeout=20, message="release of the relabelled pod")
            assert released["metadata"]["labels"] == {"app": "debug"}
            await wait_for(lambda: _owned_count(client, namespace, uid, 2), timeout=20)
            assert "orphan" not in {p["metadata"]["name"] for p in await owned_pods(client, namespace, uid)}

    asyncio.run(scenario())


async def _without_owner(client: ApiClient, namespace: str, name: str) -> dict | None:
    pod = await client.get(PODS, name, namespace=namespace)
    return None if pod["metadata"].get("ownerReferences") else pod


async def _owned_count(client: ApiClient, namespace: str, uid: str, count: int) -> bool:
    return len(await owned_pods(client, namespace, uid)) == count


def test_scale_down_deletes_not_ready_pods_first(apiserver):
    async def scenario():
        async with running_controllers(apiserver.url, [RS]) as (client, _manager):
            namespace = await fresh_namespace(client)
            rs = await client.create(REPLICA_SETS, replica_set(namespace, 4))
            uid = rs["metadata"]["uid"]
            await wait_for(lambda: _owned_count(client, namespace, uid, 4), timeout=20)
            pods = sorted(await owned_pods(client, namespace, uid), key=lambda p: p["metadata"]["name"])
            ready, not_ready = pods[:2], pods[2:]
            for pod in ready:
                await mark(client, pod, ready=True)
            for pod in not_ready:
                await mark(client, pod, ready=False)
            await wait_for(lambda: _status_when(client, namespace, readyReplicas=2), timeout=20)
            await client.patch(REPLICA_SETS, "web", {"spec": {"replicas": 2}}, namespace=namespace)
            await wait_for(lambda: _status_when(client, namespace, replicas=2, generation=2), timeout=20)
            left = {p["metadata"]["name"] for p in await owned_pods(client, namespace, uid)}
            assert left == {p["metadata"]["name"] for p in ready}

    asyncio.run(scenario())


def test_ready_and_available_replicas_follow_min_ready_seconds(apiserver):
    async def scenario():
        async with running_controllers(apiserver.url, [RS]) as (client, _manager):
            namespace = await fresh_namespace(client)
            rs = await client.create(REPLICA_SETS, replica_set(namespace, 2, min_ready_seconds=2))
            uid = rs["metadata"]["uid"]
            await wait_for(lambda: _owned_count(client, namespace, uid, 2), timeout=20)
            for pod in await owned_pods(client, namespace, uid):
                await mark(client, pod, ready=True)
            status = await wait_for(lambda: _status_when(client, namespace, readyReplicas=2), timeout=20)
            assert status["availableReplicas"] == 0, "ready for less than minReadySeconds is not available"
            # No pod changes from here on: only the controller's own re-check can make them available.
            status = await wait_for(lambda: _status_when(client, namespace, availableReplicas=2), timeout=10)
            assert status["readyReplicas"] == 2 and status["replicas"] == 2

    asyncio.run(scenario())


def test_failed_create_sets_replica_failure_and_recovers(apiserver):
    async def scenario():
        async with running_controllers(apiserver.url, [RS]) as (client, manager):
            namespace = await fresh_namespace(client)
            class_name = f"missing-{namespace}"
            pod_spec = {"priorityClassName": class_name, "containers": [{"name": "c", "image": "busybox"}]}
            await client.create(REPLICA_SETS, replica_set(namespace, 3, pod_spec=pod_spec))
            status = await wait_for(lambda: _failure(client, namespace), timeout=20, message="ReplicaFailure")
            (condition,) = status["conditions"]
            assert condition["reason"] == "FailedCreate" and condition["status"] == "True"
            assert f"no PriorityClass with name {class_name} was found" in condition["message"]
            assert status["replicas"] == 0
            await manager.recorder.flush()
            # (The server names the pod before admission, so each retry's message differs.)
            failures = await wait_for(lambda: events_for(client, namespace, "FailedCreate"), timeout=10)
            for event in failures:
                assert event["type"] == "Warning" and event["message"].startswith("Error creating: pods ")
                assert f"no PriorityClass with name {class_name} was found" in event["message"]
            assert not (await client.list(PODS, namespace=namespace))["items"]

            # Once pods can be created the controller recovers and clears the condition.
            await client.create(PRIORITY_CLASSES, {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                                                   "metadata": {"name": class_name}, "value": 10})
            try:
                status = await wait_for(lambda: _status_when(client, namespace, replicas=3), timeout=20)
                assert not status.get("conditions")
            finally:
                await client.delete(PRIORITY_CLASSES, class_name)

    asyncio.run(scenario())


async def _failure(client: ApiClient, namespace: str) -> dict | None:
    status = await rs_status(client, namespace)
    return status if any(c["type"] == "ReplicaFailure" for c in status.get("conditions") or ()) else None


def test_pods_being_deleted_are_not_active(apiserver):
    async def scenario():
        async with running_controllers(apiserver.url, [RS]) as (client, _manager):
            namespace = await fresh_namespace(client)
            # Bound pods are deleted gracefully: with no kubelet they stay Terminating.
            pod_spec = {"nodeName": "node-a", "containers": [{"name": "c", "image": "busybox"}]}
            async with CreationCounter(client, namespace) as counter:
                rs = await client.create(REPLICA_SETS, replica_set(namespace, 3, pod_spec=pod_spec))
                uid = rs["metadata"]["uid"]
                await wait_for(lambda: _status_when(client, namespace, replicas=3), timeout=20)
                await client.patch(REPLICA_SETS, "web", {"spec": {"replicas": 1}}, namespace=namespace)
                status = await wait_for(
                    lambda: _status_when(client, namespace, replicas=1, terminatingReplicas=2), timeout=20)
                assert status["observedGeneration"] == 2
                await asyncio.sleep(0.5)
                assert len(counter.created) == 3, "terminating pods must not be replaced by a scale-down"
            pods = await owned_pods(client, namespace, uid)
            assert sum(1 for p in pods if p["metadata"].get("deletionTimestamp")) == 2

    asyncio.run(scenario())


# -- pure parts -------------------------------------------------------------------------------


def test_expectations_count_down_and_expire():
    now = [0.0]
    expectations = ControllerExpectations(clock=lambda: now[0])
    assert expectations.satisfied("ns/a"), "no expectations: free to act"
    expectations.expect_creations("ns/a", 2)
    expectations.creation_observed("ns/a")
    assert not expectations.satisfied("ns/a")
    expectations.creation_observed("ns/a")
    assert expectations.satisfied("ns/a")
    expectations.expect_creations("ns/a", 5)
    now[0] = 299.0
    assert not expectations.satisfied("ns/a")
    now[0] = 301.0
    assert expectations.satisfied("ns/a"), "expectations expire after 5 minutes"


def test_uid_tracking_expectations_count_each_expected_pod_once():
    expectations = UIDTrackingExpectations()
    expectations.expect_deletions("ns/a", ["ns/p1", "ns/p2"])
    expectations.deletion_observed("ns/a", "ns/other")  # someone else's delete
    expectations.deletion_observed("ns/a", "ns/p1")
    expectations.deletion_observed("ns/a", "ns/p1")  # seen again as the final delete
    assert expectations.pending("ns/a") == (0, 1)
    expectations.deletion_observed("ns/a", "ns/p2")
    assert expectations.satisfied("ns/a")


NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def pod(name: str, *, node: str = "n1", phase: str = "Running", ready: bool = True, ready_ago: int = 3600,
        created_ago: int = 7200, restarts: int = 0, cost: int | None = None) -> dict:
    meta: dict = {"name": name, "uid": f"uid-{name}", "creationTimestamp": rfc3339(NOW - dt.timedelta(seconds=created_ago))}
    if cost is not None:
        meta["annotations"] = {"controller.kubernetes.io/pod-deletion-cost": str(cost)}
    status: dict = {"phase": phase, "containerStatuses": [{"name": "c", "restartCount": restarts}]}
    if phase == "Running":
        status["conditions"] = [{"type": "Ready", "status": "True" if ready else "False",
                                 "lastTransitionTime": rfc3339(NOW - dt.timedelta(seconds=ready_ago))}]
    return {"metadata": meta, "spec": {"nodeName": node}, "status": status}


def test_deletion_order_as_upstream():
    # Each case: the pods, and the one a scale-down by one removes first (why, in a comment).
    cases = [
        ([pod("assigned"), pod("unassigned", node="")], "unassigned"),            # 1. unassigned first
        ([pod("running"), pod("pending", phase="Pending")], "pending"),           # 2. Pending < Running
        ([pod("unknown", phase="Unknown"), pod("running")], "unknown"),           # 2. Unknown < Running
        ([pod("ready"), pod("not-ready", ready=False)], "not-ready"),             # 3. not ready first
        ([pod("costly", cost=100), pod("cheap", cost=-5)], "cheap"),              # 4. lower deletion cost
        ([pod("old-ready", ready_ago=10_000), pod("new-ready", ready_ago=10)], "new-ready"),  # 6. ready for less time
        ([pod("calm"), pod("crashy", restarts=7)], "crashy"),                     # 7. more restarts
        ([pod("old", created_ago=100_000), pod("new", created_ago=100)], "new"),  # 8. newer first
        # Readiness outranks restarts and age: the older, ready, restart-free pod stays.
        ([pod("a", ready=False, created_ago=100_000), pod("b", restarts=9, created_ago=10)], "a"),
    ]
    for pods, expected in cases:
        (chosen,) = pods_to_delete(pods, [], 1, now=NOW)
        assert chosen["metadata"]["name"] == expected, (expected, chosen["metadata"]["name"])


def test_deletion_order_prefers_crowded_nodes_then_all_when_count_covers_everything():
    crowded, alone = pod("crowded", node="busy"), pod("alone", node="quiet")
    related = [pod(f"sibling-{i}", node="busy") for i in range(3)] + [crowded, alone]
    (chosen,) = pods_to_delete([alone, crowded], related, 1, now=NOW)
    assert chosen["metadata"]["name"] == "crowded"  # 5. more related pods on its node
    assert pods_to_delete([alone, crowded], related, 5, now=NOW) == [alone, crowded]
