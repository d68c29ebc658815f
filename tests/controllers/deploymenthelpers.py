"""What the Deployment tests need around the controllers: a hollow kubelet that marks new
pods Running and Ready (as a kubelet would once their containers start), and an observer
that checks a rollout's bounds on every state it sees through watches."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping

from pyk8s.client import DEPLOYMENTS, PODS, REPLICA_SETS, ApiClient, NotFound
from pyk8s.controllers._pods import rfc3339


def deployment(namespace: str, replicas: int = 3, *, name: str = "web", image: str = "busybox:1",
               strategy: Mapping | None = None, **spec) -> dict:
    labels = {"app": name}
    body = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": dict(labels)},
                              "spec": {"containers": [{"name": "c", "image": image}]}},
                 **spec},
    }
    if strategy is not None:
        body["spec"]["strategy"] = dict(strategy)
    return body


def pod_image(pod: Mapping) -> str:
    return pod["spec"]["containers"][0].get("image", "")


class HollowKubelet:
    """Marks every pod of a namespace Running and Ready through pods/status as soon as it
    appears, unless ``hold(pod)`` says to leave it pending."""

    def __init__(self, client: ApiClient, namespace: str, hold: Callable[[Mapping], bool] | None = None) -> None:
        self.client, self.namespace = client, namespace
        self.hold = hold or (lambda pod: False)
        self._task: asyncio.Task | None = None
        self.marked: set[str] = set()

    async def __aenter__(self) -> HollowKubelet:
        listed = await self.client.list(PODS, namespace=self.namespace)
        stream = self.client.watch(PODS, namespace=self.namespace, resource_version=listed["metadata"]["resourceVersion"])
        await stream.__aenter__()
        self._task = asyncio.create_task(self._run(stream, listed["items"]))
        return self

    async def _run(self, stream, existing: list[dict]) -> None:
        async with stream:
            for pod in existing:
                await self._maybe_mark(pod)
            async for event_type, pod in stream:
                if event_type in ("ADDED", "MODIFIED"):
                    await self._maybe_mark(pod)

    async def _maybe_mark(self, pod: Mapping) -> None:
        name = pod["metadata"]["name"]
        if name in self.marked or pod["metadata"].get("deletionTimestamp") or self.hold(pod):
            return
        self.marked.add(name)
        try:
            await self.client.patch(PODS, name, {"status": {
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": rfc3339()}],
            }}, namespace=self.namespace, subresource="status")
        except NotFound:
            pass

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def is_ready(pod: Mapping) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or ())


class RolloutObserver:
    """Follows the namespace's ReplicaSets and pods by watch and checks, at every event:

    * ReplicaSets: the sizes (``spec.replicas``) the Deployment gives its ReplicaSets add up
      to at most ``replicas + maxSurge``;
    * pods (once ``armed``, i.e. from a complete rollout on): at least ``replicas -
      maxUnavailable`` pods are Ready (availability; minReadySeconds is 0 here);
    * the Deployment's status (once armed): ``availableReplicas`` at least as much.

    These are upstream's e2e checks (test/utils/deployment.go: ReplicaSet sizes against
    maxSurge, available against minAvailable) plus the pod-level one.  The number of pods is
    not held to ``replicas + maxSurge``: upstream guarantees the sizes, and pods an old
    ReplicaSet was just told to drop may still exist when the new one's pods are created.

    Violations are collected with the state that showed them.  ``max_sizes`` /
    ``min_ready`` / ``max_pods`` record the extremes seen, ``rs_states`` the distinct size
    vectors."""

    def __init__(self, client: ApiClient, namespace: str, replicas: int, max_surge: int, max_unavailable: int) -> None:
        self.client, self.namespace = client, namespace
        self.max_total = replicas + max_surge
        self.min_ready_bound = replicas - max_unavailable
        self.replica_sets: dict[str, dict] = {}
        self.pods: dict[str, dict] = {}
        self.deployments: dict[str, dict] = {}
        self.armed = False
        self.violations: list[str] = []
        self.max_sizes = 0
        self.min_ready: int | None = None
        self.rs_states: list[tuple] = []
        self.max_pods = 0
        self._tasks: list[asyncio.Task] = []

    async def __aenter__(self) -> RolloutObserver:
        for resource, store, check in ((REPLICA_SETS, self.replica_sets, self._check_replica_sets),
                                       (PODS, self.pods, self._check_pods),
                                       (DEPLOYMENTS, self.deployments, self._check_deployments)):
            listed = await self.client.list(resource, namespace=self.namespace)
            for item in listed["items"]:
                store[item["metadata"]["name"]] = item
            stream = self.client.watch(resource, namespace=self.namespace,
                                       resource_version=listed["metadata"]["resourceVersion"])
            await stream.__aenter__()
            self._tasks.append(asyncio.create_task(self._follow(stream, store, check)))
        return self

    def arm(self) -> None:
        self.armed = True
        self._check_pods()
        self._check_deployments()

    async def _follow(self, stream, store: dict, check: Callable[[], None]) -> None:
        async with stream:
            async for event_type, obj in stream:
                if event_type == "BOOKMARK":
                    continue
                name = obj["metadata"]["name"]
                if event_type == "DELETED":
                    store.pop(name, None)
                else:
                    store[name] = obj
                check()

    def _check_replica_sets(self) -> None:
        sizes = tuple(sorted((name, rs["spec"]["replicas"]) for name, rs in self.replica_sets.items()))
        if not self.rs_states or self.rs_states[-1] != sizes:
            self.rs_states.append(sizes)
        total = sum(size for _, size in sizes)
        self.max_sizes = max(self.max_sizes, total)
        if total > self.max_total:
            self.violations.append(f"ReplicaSet sizes {sizes} add up to {total} > {self.max_total}")

    def _check_pods(self) -> None:
        alive = [p for p in self.pods.values() if not p["metadata"].get("deletionTimestamp")]
        self.max_pods = max(self.max_pods, len(alive))
        if not self.armed:
            return
        ready = sum(1 for p in alive if is_ready(p))
        self.min_ready = ready if self.min_ready is None else min(self.min_ready, ready)
        if ready < self.min_ready_bound:
            self.violations.append(f"{ready} ready pods < {self.min_ready_bound}: "
                                   f"{sorted((p['metadata']['name'], is_ready(p)) for p in alive)}")

    def _check_deployments(self) -> None:
        if not self.armed:
            return
        for name, d in self.deployments.items():
            available = (d.get("status") or {}).get("availableReplicas", 0)
            if available < self.min_ready_bound:
                self.violations.append(f"deployment {name} reports {available} available < {self.min_ready_bound}")

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def get_deployment(client: ApiClient, namespace: str, name: str = "web") -> dict:
    return await client.get(DEPLOYMENTS, name, namespace=namespace)


async def rolled_out(client: ApiClient, namespace: str, name: str = "web") -> dict | None:
    """The Deployment once ``kubectl rollout status`` would call it done (observed, all
    replicas updated and available, no old ones left)."""
    d = await get_deployment(client, namespace, name)
    status, replicas = d.get("status") or {}, d["spec"]["replicas"]
    if status.get("observedGeneration", 0) < d["metadata"]["generation"]:
        return None
    if (status.get("updatedReplicas", 0), status.get("replicas", 0), status.get("availableReplicas", 0)) \
            != (replicas, replicas, replicas):
        return None
    return d


async def owned_replica_sets(client: ApiClient, namespace: str, deployment_uid: str) -> list[dict]:
    items = (await client.list(REPLICA_SETS, namespace=namespace))["items"]
    return [rs for rs in items if any(r.get("uid") == deployment_uid and r.get("controller")
                                      for r in rs["metadata"].get("ownerReferences") or ())]


def image_of(obj: Mapping) -> str:
    return obj["spec"]["template"]["spec"]["containers"][0]["image"]


def condition(obj: Mapping, condition_type: str) -> dict | None:
    for item in (obj.get("status") or {}).get("conditions") or ():
        if item["type"] == condition_type:
            return item
    return None


__all__ = [
    "HollowKubelet", "RolloutObserver", "condition", "deployment", "get_deployment", "image_of", "is_ready",
    "owned_replica_sets", "pod_image", "rolled_out",
]
