"""The taint eviction controller, as upstream pkg/controller/tainteviction (a controller of
its own, ``taint-eviction-controller``, since 1.29; before, the node lifecycle controller's
"NoExecute taint manager").

A pod bound to a node with NoExecute taints is deleted:

* at once, when some taint is not tolerated;
* after the shortest ``tolerationSeconds`` among the tolerations that match, counted from
  when this controller saw the pod on the tainted node (upstream starts the clock there,
  not at the taint's ``timeAdded``); a toleration without seconds tolerates forever;
* never, when every matching toleration is forever.

A scheduled deletion is cancelled (event ``TaintManagerEviction`` "Cancelling deletion of
Pod ns/name") when the taints go, or change so that the pod tolerates them forever.  Before
deleting, the pod gets the ``DisruptionTarget`` condition (``DeletionByTaintManager``) and the
event ``TaintManagerEviction`` "Marking for deletion Pod ns/name"; the delete is an ordinary
graceful one.

Queue keys: a node name (no ``/``) re-evaluates every pod on that node; a pod key
(``namespace/name``) re-evaluates one pod.  Both are decided without waiting on the API, so
the decision and the bookkeeping it reads (``tainted_nodes``) never interleave; only the
deletions run as tasks of their own.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from pyk8s.client import NODES, PODS, ApiError, NotFound, PatchType, TransportError, object_key, split_key

from ._base import Controller, ControllerContext
from ._events import NORMAL
from ._nodeutil import (
    ensure_pod_node_name_index, matching_tolerations, min_toleration_seconds, no_execute_taints, node_condition,
    pods_on_node,
)
from ._pods import rfc3339

__all__ = ["TaintEvictionController"]

log = logging.getLogger(__name__)

REASON = "TaintManagerEviction"
# Upstream's retries of one deletion, 10 ms apart.
_DELETE_ATTEMPTS = 5
_DELETE_RETRY_SLEEP = 0.01

Obj = dict[str, Any]


@dataclass
class ScheduledEviction:
    created_at: float  # loop time the countdown started
    fire_at: float
    timer: asyncio.TimerHandle | None = None


# The marker an evicted pod's key keeps until the pod is gone, so it is not deleted twice
# (upstream keeps a nil worker for the same reason).
EVICTED = None


def _pod_ref(key: str) -> Obj:
    # Upstream's events name the pod without uid or resourceVersion.
    namespace, name = split_key(key)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace}}


class TaintEvictionController(Controller):
    name = "taint-eviction-controller"
    default_workers = 8

    def __init__(self, context: ControllerContext) -> None:
        super().__init__(context)
        self.nodes = self.informers.informer(NODES)
        self.pods = self.informers.informer(PODS)
        ensure_pod_node_name_index(self.pods)
        self.nodes.add_event_handler(
            on_add=lambda node: self._node_updated(None, node),
            on_update=self._node_updated,
            on_delete=lambda node: self._node_updated(node, None),
        )
        self.pods.add_event_handler(
            on_add=lambda pod: self._pod_updated(None, pod),
            on_update=self._pod_updated,
            on_delete=lambda pod: self._pod_updated(pod, None),
        )
        # node name -> its NoExecute taints (only tainted nodes are here)
        self.tainted_nodes: dict[str, list[Obj]] = {}
        # pod key -> its scheduled deletion, or EVICTED once it has been deleted
        self.evictions: dict[str, ScheduledEviction | None] = {}
        self._deletions: set[asyncio.Task] = set()

    # -- events --------------------------------------------------------------------------------

    def _node_updated(self, old: Obj | None, new: Obj | None) -> None:
        if old is not None and new is not None and no_execute_taints(old) == no_execute_taints(new):
            return
        self.enqueue((new or old)["metadata"]["name"])

    def _pod_updated(self, old: Obj | None, new: Obj | None) -> None:
        if old is not None and new is not None:
            old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
            if old_spec.get("tolerations") == new_spec.get("tolerations") and old_spec.get("nodeName") == new_spec.get("nodeName"):
                return
        self.enqueue(object_key(new or old))

    # -- running -------------------------------------------------------------------------------

    async def run(self, workers: int | None = None) -> None:
        try:
            await super().run(workers)
        finally:
            for scheduled in self.evictions.values():
                if scheduled is not None and scheduled.timer is not None:
                    scheduled.timer.cancel()
            for task in list(self._deletions):
                task.cancel()
            await asyncio.gather(*self._deletions, return_exceptions=True)

    async def sync(self, key: str) -> None:
        if "/" in key:
            self._handle_pod(key)
        else:
            self._handle_node(key)

    def _handle_pod(self, key: str) -> None:
        pod = self.pods.indexer.get(key)
        if pod is None:
            self._cancel(key)
            return
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name:
            return
        taints = self.tainted_nodes.get(node_name)
        if taints is None:
            return  # untainted (or gone): any deletion was cancelled when that happened
        self._process_pod_on_node(key, pod, taints, asyncio.get_running_loop().time())

    def _handle_node(self, name: str) -> None:
        taints = no_execute_taints(self.nodes.indexer.get(name))
        if taints:
            self.tainted_nodes[name] = taints
        else:
            self.tainted_nodes.pop(name, None)
        pods = pods_on_node(self.pods, name)
        if not taints:
            for pod in pods:
                self._cancel(object_key(pod))
            return
        now = asyncio.get_running_loop().time()
        for pod in pods:
            self._process_pod_on_node(object_key(pod), pod, taints, now)

    # -- deciding ------------------------------------------------------------------------------

    def _process_pod_on_node(self, key: str, pod: Obj, taints: list[Obj], now: float) -> None:
        """Upstream processPodOnNode."""
        tolerated, used = matching_tolerations(taints, (pod.get("spec") or {}).get("tolerations"))
        if not tolerated:
            self._cancel(key)
            self._schedule(key, now, now)
            return
        seconds = min_toleration_seconds(used)
        if seconds < 0:
            self._cancel(key)
            return
        start, trigger = now, now + seconds
        scheduled = self.evictions.get(key)
        if scheduled is not None:
            # The countdown already running keeps its start: later updates do not push the
            # deletion back.
            start = scheduled.created_at
            if start + seconds < trigger:
                return
            self._cancel(key)
        self._schedule(key, start, trigger)

    def _schedule(self, key: str, created_at: float, fire_at: float) -> None:
        if key in self.evictions:
            return  # already scheduled, or already evicted
        loop = asyncio.get_running_loop()
        scheduled = ScheduledEviction(created_at, fire_at)
        scheduled.timer = loop.call_later(max(0.0, fire_at - loop.time()), self._fire, key, scheduled)
        self.evictions[key] = scheduled

    def _cancel(self, key: str) -> None:
        """Upstream cancelWorkWithEvent: stop a pending deletion (event only for a live one);
        the EVICTED marker goes too, so a pod that comes back under a taint is judged anew."""
        scheduled = self.evictions.pop(key, EVICTED)
        if scheduled is None:
            return
        if scheduled.timer is not None:
            scheduled.timer.cancel()
        namespace, name = split_key(key)
        self.recorder.event(_pod_ref(key), NORMAL, REASON, f"Cancelling deletion of Pod {namespace}/{name}")

    # -- deleting ------------------------------------------------------------------------------

    def _fire(self, key: str, scheduled: ScheduledEviction) -> None:
        scheduled.timer = None
        task = asyncio.get_running_loop().create_task(self._evict(key, scheduled), name=f"taint-eviction {key}")
        self._deletions.add(task)
        task.add_done_callback(self._deletions.discard)

    async def _evict(self, key: str, scheduled: ScheduledEviction) -> None:
        namespace, name = split_key(key)
        self.recorder.event(_pod_ref(key), NORMAL, REASON, f"Marking for deletion Pod {namespace}/{name}")
        error: Exception | None = None
        for attempt in range(_DELETE_ATTEMPTS):
            try:
                await self._add_condition_and_delete(namespace, name)
                error = None
                break
            except NotFound:
                error = None
                break
            except (ApiError, TransportError) as failure:
                error = failure
                await asyncio.sleep(_DELETE_RETRY_SLEEP)
        if self.evictions.get(key) is not scheduled:
            return  # cancelled (or replaced) meanwhile
        if error is None:
            self.evictions[key] = EVICTED
        else:
            log.warning("%s: deleting pod %s failed: %s", self.name, key, error)
            del self.evictions[key]  # the next update of the pod or node schedules it again

    async def _add_condition_and_delete(self, namespace: str, name: str) -> None:
        """Upstream addConditionAndDeletePod: DisruptionTarget=True first (so whoever watches
        the pod knows why it goes), then an ordinary delete."""
        pod = await self.client.get(PODS, name, namespace=namespace)
        existing = node_condition(pod.get("status"), "DisruptionTarget")
        condition = {
            "type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager",
            "message": "Taint manager: deleting due to NoExecute taint",
            "lastTransitionTime": rfc3339(),
        }
        generation = pod["metadata"].get("generation")
        if generation is not None:
            condition["observedGeneration"] = generation
        if existing is not None and existing.get("status") == "True":
            condition["lastTransitionTime"] = existing.get("lastTransitionTime")
        if existing is None or any(existing.get(field) != value for field, value in condition.items()):
            patch = {"metadata": {"uid": pod["metadata"]["uid"]}, "status": {"conditions": [condition]}}
            await self.client.patch(PODS, name, patch, namespace=namespace, subresource="status",
                                    patch_type=PatchType.STRATEGIC)
        await self.client.delete(PODS, name, namespace=namespace)
