"""The pod garbage collector, as upstream pkg/controller/podgc (PodGCController).

It has no work queue of objects: every ``pod_gc_period`` seconds (after the previous pass
ends, as upstream's ``wait.UntilWithContext``) one pass over the shared pod and node caches
force-deletes (``gracePeriodSeconds=0``), in this order:

1. terminated pods (phase Succeeded or Failed) beyond ``terminated_pod_gc_threshold``:
   evicted ones first, then the oldest by creationTimestamp, the name breaking ties; a
   threshold <= 0 turns this off;
2. terminating pods (deletionTimestamp set) on a node that is not Ready and carries the
   ``node.kubernetes.io/out-of-service`` taint (the kubelet there will never finish them);
3. orphaned pods: bound to a node that no longer exists.  A node missing from the cache is
   quarantined for ``pod_gc_orphan_quarantine`` seconds (it may only be late in the cache),
   then looked up with a live GET; only a NotFound condemns its pods;
4. terminating pods never scheduled to a node.

A pod that is not yet terminal is first patched to phase Failed (an orphan also gets the
``DisruptionTarget`` condition, reason ``DeletionByPodGC``), so whoever counts pod failures
(the Job controller) sees it fail even when a finalizer keeps it.  Upstream records no
Events for any of this, only logs; neither does this controller.

Options (``context.options``): ``terminated_pod_gc_threshold`` (12500, upstream's
``--terminated-pod-gc-threshold``), ``pod_gc_period`` (20 s) and
``pod_gc_orphan_quarantine`` (40 s), upstream's gcCheckPeriod and quarantineTime constants.

The controller's queue is upstream's ``orphaned_pods_nodes`` queue: names of nodes missing
from the cache, each released once its quarantine is over.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from pyk8s.client import NODES, PODS, ApiError, NotFound, PatchType, TransportError, object_key

from ._base import Controller, ControllerContext
from ._nodeutil import node_condition
from ._pods import parse_time, rfc3339

__all__ = ["PodGCController"]

log = logging.getLogger(__name__)

TAINT_OUT_OF_SERVICE = "node.kubernetes.io/out-of-service"
ORPHAN_CONDITION = {
    "type": "DisruptionTarget", "status": "True", "reason": "DeletionByPodGC",
    "message": "PodGC: node no longer exists",
}
_TERMINAL_PHASES = ("Succeeded", "Failed")
# Upstream starts one goroutine per condemned pod; this bounds the requests in flight when
# thousands of terminated pods go at once.
_CONCURRENT_DELETES = 16
_EPOCH = dt.datetime.min.replace(tzinfo=dt.UTC)

Obj = dict[str, Any]


def is_pod_terminated(pod: Mapping) -> bool:
    """Upstream isPodTerminated: any phase but Pending, Running and Unknown."""
    return (pod.get("status") or {}).get("phase") not in ("Pending", "Running", "Unknown")


def _is_terminating(pod: Mapping) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def _node_name(pod: Mapping) -> str:
    return (pod.get("spec") or {}).get("nodeName") or ""


def _is_evicted(pod: Mapping) -> bool:
    """The kubelet's eviction.PodIsEvicted: Failed with reason Evicted."""
    status = pod.get("status") or {}
    return status.get("phase") == "Failed" and status.get("reason") == "Evicted"


def deletion_order(pods: Iterable[Obj]) -> list[Obj]:
    """Upstream byEvictionAndCreationTimestamp: evicted pods first (they hurt no controller's
    history), then oldest first, then by name."""
    def key(pod: Obj) -> tuple:
        meta = pod.get("metadata") or {}
        return (not _is_evicted(pod), parse_time(meta.get("creationTimestamp")) or _EPOCH, meta.get("name") or "")
    return sorted(pods, key=key)


def _is_node_ready(node: Mapping) -> bool:
    condition = node_condition(node.get("status"), "Ready")
    return condition is not None and condition.get("status") == "True"


def _has_taint_key(node: Mapping, key: str) -> bool:
    """Upstream taints.TaintKeyExists: the key alone decides, whatever the effect."""
    return any(taint.get("key") == key for taint in (node.get("spec") or {}).get("taints") or ())


def _failed_status_patch(pod: Mapping, condition: Mapping | None) -> Obj:
    """The status patch upstream's markFailedAndDeletePodWithCondition sends (as
    utilpod.PatchPodStatus, with the pod's uid as a precondition): phase Failed, the
    observed generation, and ``condition`` merged as apipod.UpdatePodCondition does (its
    transition time kept when its status does not change; left out when nothing changes)."""
    meta = pod.get("metadata") or {}
    status: Obj = {"phase": "Failed"}
    generation = meta.get("generation")
    if generation is not None:
        status["observedGeneration"] = generation
    if condition is not None:
        wanted = dict(condition)
        if generation is not None:
            wanted["observedGeneration"] = generation
        existing = node_condition(pod.get("status"), wanted["type"])
        if existing is not None and existing.get("status") == wanted["status"]:
            wanted["lastTransitionTime"] = existing.get("lastTransitionTime")
        else:
            wanted["lastTransitionTime"] = rfc3339()
        if existing is None or any(existing.get(name) != value for name, value in wanted.items()):
            status["conditions"] = [wanted]
    return {"metadata": {"uid": meta.get("uid")}, "status": status}


class PodGCController(Controller):
    name = "pod-garbage-collector-controller"
    default_workers = 1

    def __init__(self, context: ControllerContext) -> None:
        super().__init__(context)
        options = context.options
        self.terminated_pod_threshold = int(options.get("terminated_pod_gc_threshold", 12500))
        self.gc_period = float(options.get("pod_gc_period", 20.0))
        self.quarantine_time = float(options.get("pod_gc_orphan_quarantine", 40.0))
        self.pods = self.informers.informer(PODS)
        self.nodes = self.informers.informer(NODES)

    # -- running -----------------------------------------------------------------------------

    async def run(self, workers: int | None = None) -> None:
        """One gc pass, then ``gc_period`` of rest, until cancelled; ``workers`` is
        meaningless here (a pass is one task, as upstream)."""
        try:
            while True:
                started = time.perf_counter()
                try:
                    failures = await self.gc()
                except Exception:
                    log.exception("%s: gc pass crashed", self.name)
                    failures = 1
                self.metrics.sync_done(self.name, "error" if failures else "success", time.perf_counter() - started)
                await asyncio.sleep(self.gc_period)
        finally:
            self.queue.shut_down()

    async def gc(self) -> int:
        """One pass over the caches (upstream gc); returns how many deletions failed."""
        pods = self.pods.indexer.list()
        nodes = self.nodes.indexer.list()
        failures = 0
        if self.terminated_pod_threshold > 0:
            failures += await self.gc_terminated(pods)
        failures += await self.gc_terminating(pods)
        failures += await self.gc_orphaned(pods, nodes)
        failures += await self.gc_unscheduled_terminating(pods)
        return failures

    # -- the four collections ----------------------------------------------------------------

    async def gc_terminated(self, pods: list[Obj]) -> int:
        terminated = [pod for pod in pods if is_pod_terminated(pod)]
        delete_count = len(terminated) - self.terminated_pod_threshold
        if delete_count <= 0:
            return 0
        log.info("%s: garbage collecting %d terminated pods", self.name, delete_count)
        return await self._delete_concurrently(deletion_order(terminated)[:delete_count])

    async def gc_terminating(self, pods: list[Obj]) -> int:
        """Terminating pods on out-of-service, not-ready nodes (upstream gcTerminating)."""
        condemned = []
        for pod in pods:
            if not _is_terminating(pod) or not _node_name(pod):
                continue  # unscheduled ones are gc_unscheduled_terminating's
            node = self.nodes.indexer.get(_node_name(pod))
            if node is None:
                log.debug("%s: node %s of terminating pod %s is not known", self.name, _node_name(pod), object_key(pod))
                continue
            if not _is_node_ready(node) and _has_taint_key(node, TAINT_OUT_OF_SERVICE):
                log.debug("%s: garbage collecting terminating pod %s on out-of-service node %s",
                          self.name, object_key(pod), _node_name(pod))
                condemned.append(pod)
        if not condemned:
            return 0
        return await self._delete_concurrently(deletion_order(condemned))

    async def gc_orphaned(self, pods: list[Obj], nodes: list[Obj]) -> int:
        """Pods bound to nodes that are gone (upstream gcOrphaned): a node missing from the
        cache waits out its quarantine, then a live GET decides."""
        existing = {node["metadata"]["name"] for node in nodes}
        for pod in pods:
            node_name = _node_name(pod)
            if node_name and node_name not in existing:
                # A node already waiting keeps its earlier release time.
                self.queue.add_after(node_name, self.quarantine_time)
        deleted_nodes = await self._discover_deleted_nodes(existing)
        failures = 0
        for pod in pods:
            if _node_name(pod) not in deleted_nodes:
                continue
            log.info("%s: found orphaned pod %s assigned to the deleted node %s, deleting",
                     self.name, object_key(pod), _node_name(pod))
            if await self._mark_failed_and_delete(pod, ORPHAN_CONDITION):
                log.info("%s: forced deletion of orphaned pod %s succeeded", self.name, object_key(pod))
            else:
                failures += 1
        return failures

    async def gc_unscheduled_terminating(self, pods: list[Obj]) -> int:
        """Terminating pods that were never bound (upstream gcUnscheduledTerminating).  The
        API server deletes such a pod at once, so one stays only while a finalizer holds it;
        marking it Failed lets the finalizer's owner (the Job controller) let go."""
        failures = 0
        for pod in pods:
            if not _is_terminating(pod) or _node_name(pod):
                continue
            log.info("%s: found unscheduled terminating pod %s, deleting", self.name, object_key(pod))
            if await self._mark_failed_and_delete(pod):
                log.info("%s: forced deletion of unscheduled terminating pod %s succeeded", self.name, object_key(pod))
            else:
                failures += 1
        return failures

    # -- helpers -----------------------------------------------------------------------------

    async def _discover_deleted_nodes(self, existing: set[str]) -> set[str]:
        """The quarantined nodes whose time is up and that a GET cannot find.  A node whose
        GET fails otherwise is forgotten; the next pass quarantines it again if its pods
        are still there (as upstream)."""
        deleted: set[str] = set()
        while len(self.queue) > 0:
            node_name = await self.queue.get()
            try:
                if node_name not in existing and not await self._node_exists(node_name):
                    deleted.add(node_name)
            except (ApiError, TransportError) as error:
                log.error("%s: error while getting node %s: %s", self.name, node_name, error)
            finally:
                self.queue.done(node_name)
        return deleted

    async def _node_exists(self, name: str) -> bool:
        try:
            await self.client.get(NODES, name)
        except NotFound:
            return False
        return True

    async def _delete_concurrently(self, pods: list[Obj]) -> int:
        limit = asyncio.Semaphore(_CONCURRENT_DELETES)

        async def delete(pod: Obj) -> bool:
            async with limit:
                return await self._mark_failed_and_delete(pod)

        results = await asyncio.gather(*(delete(pod) for pod in pods))
        return results.count(False)

    async def _mark_failed_and_delete(self, pod: Obj, condition: Mapping | None = None) -> bool:
        """Upstream markFailedAndDeletePodWithCondition: a pod not yet terminal is patched to
        Failed first (no kubelet may be left to do it), then force-deleted.  True when the
        pod is gone or going (a NotFound counts: someone was quicker)."""
        meta = pod["metadata"]
        namespace, name = meta.get("namespace"), meta["name"]
        log.info("%s: force deleting pod %s/%s", self.name, namespace, name)
        try:
            if (pod.get("status") or {}).get("phase") not in _TERMINAL_PHASES:
                await self.client.patch(PODS, name, _failed_status_patch(pod, condition), namespace=namespace,
                                        subresource="status", patch_type=PatchType.STRATEGIC)
            await self.client.delete(PODS, name, namespace=namespace, grace_period_seconds=0)
        except NotFound:
            return True
        except (ApiError, TransportError) as error:
            log.error("%s: force deleting pod %s/%s failed: %s", self.name, namespace, name, error)
            return False
        return True
