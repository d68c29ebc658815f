"""The node lifecycle controller, as upstream pkg/controller/nodelifecycle (with the taint
eviction part in ``tainteviction``, upstream's separate controller since 1.29).

Every ``node_monitor_period`` seconds it checks each node's health signals: its Lease in
kube-node-lease (``spec.renewTime``) and its Ready condition's ``lastHeartbeatTime``.  What
counts is when *this controller* last saw either change (a local clock, so skew between
kubelet and controller does not matter).  A node silent for ``node_monitor_grace_period``
(``node_startup_grace_period`` if it never posted a Ready condition) gets Ready,
MemoryPressure, DiskPressure and PIDPressure set to Unknown (``NodeStatusUnknown``,
"Kubelet stopped posting node status."), a ``NodeNotReady`` event, and its pods Ready=False.

Taints:

* NoSchedule, on every node update (TaintNodesByCondition): ``not-ready`` for Ready=False,
  ``unreachable`` for Ready=Unknown, memory/disk/pid-pressure and network-unavailable for those
  conditions, ``unschedulable`` for ``spec.unschedulable``; removed when the cause goes.
* NoExecute ``unreachable`` (Ready=Unknown) or ``not-ready`` (Ready=False), added through a
  per-zone rate-limited queue (``node_eviction_rate`` nodes a second) and removed as soon as
  the node is Ready again.  The taint eviction controller deletes the pods that do not
  tolerate them.
* Disruption modes, as upstream: a zone with no Ready node is fully disrupted; one with more
  than two and at least ``unhealthy_zone_threshold`` not-ready nodes partially (tainting slows
  to ``secondary_node_eviction_rate``, or stops below ``large_cluster_size_threshold``
  nodes).  When *every* zone is fully disrupted the controller assumes its own view is at
  fault (the control plane lost the nodes, not the other way round): it removes the NoExecute
  taints and taints nothing until some node is Ready again.  So a one-node cluster whose node
  goes away keeps its pods, as upstream.

Options (``context.options``, seconds unless noted): ``node_monitor_period`` (5),
``node_monitor_grace_period`` (40), ``node_startup_grace_period`` (60), ``node_eviction_rate``
(0.1 nodes/s), ``secondary_node_eviction_rate`` (0.01), ``large_cluster_size_threshold``
(50 nodes), ``unhealthy_zone_threshold`` (0.55).

Queue keys: a node name (no ``/``) runs the NoSchedule taint pass and label reconciliation;
a pod key (``namespace/name``) marks a pod newly bound to a not-ready node not ready.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Any

from pyk8s.client import LEASES, NODES, PODS, ApiError, NotFound, PatchType, TransportError, parse_micro_time

from ._base import Controller, ControllerContext
from ._events import NORMAL
from ._nodeutil import (
    CONDITION_TAINTS, NO_SCHEDULE, NOT_READY_TAINT, TAINT_UNSCHEDULABLE, UNREACHABLE_TAINT,
    ensure_pod_node_name_index, has_taint, mark_pods_not_ready, node_condition, node_ref, pods_on_node,
    record_node_event, update_node_taints, zone_key,
)
from ._pods import parse_time, rfc3339
from ._ratelimitedqueue import RateLimitedTimedQueue, TimedValue

__all__ = ["NodeLifecycleController"]

log = logging.getLogger(__name__)

NODE_LEASE_NAMESPACE = "kube-node-lease"
# How often queued nodes are tainted (upstream scheduler.NodeEvictionPeriod).
NODE_EVICTION_PERIOD = 0.1
# Upstream NodeHealthUpdateRetry and retrySleepTime.
_HEALTH_UPDATE_ATTEMPTS = 5
_HEALTH_RETRY_SLEEP = 0.02
# Concurrent node checks in one monitor pass (upstream nodeUpdateWorkerSize).
_MONITOR_CONCURRENCY = 8

# The conditions a silent node's kubelet can no longer vouch for; NetworkUnavailable belongs
# to the network plugin and is left alone, as upstream.
_KUBELET_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
_TAINT_KEY_CONDITIONS = {key for by_status in CONDITION_TAINTS.values() for key in by_status.values()}
_EXCLUDE_DISRUPTION_LABEL = "node.kubernetes.io/exclude-disruption"
# (stable, beta): the beta label follows the stable one (upstream labelReconcileInfo).
_RECONCILED_LABELS = (("kubernetes.io/os", "beta.kubernetes.io/os"), ("kubernetes.io/arch", "beta.kubernetes.io/arch"))

INITIAL, NORMAL_STATE, FULL_DISRUPTION, PARTIAL_DISRUPTION = "Initial", "Normal", "FullDisruption", "PartialDisruption"

Obj = dict[str, Any]


@dataclass
class NodeHealth:
    """When (this controller's wall clock) a node's health signal was last seen to change."""

    status: Obj
    probe_timestamp: float
    ready_transition_timestamp: float
    lease: Obj | None = None


def _renew_time(lease: Obj | None) -> dt.datetime | None:
    text = ((lease or {}).get("spec") or {}).get("renewTime")
    try:
        return parse_micro_time(text) if text else None
    except ValueError:
        return None


def _status_of(condition: Obj | None) -> str | None:
    return None if condition is None else condition.get("status")


class NodeLifecycleController(Controller):
    name = "node-lifecycle-controller"
    event_source = "node-controller"
    default_workers = 8

    def __init__(self, context: ControllerContext) -> None:
        super().__init__(context)
        options = context.options
        self.monitor_period = float(options.get("node_monitor_period", 5.0))
        self.grace_period = float(options.get("node_monitor_grace_period", 40.0))
        self.startup_grace_period = float(options.get("node_startup_grace_period", 60.0))
        self.eviction_rate = float(options.get("node_eviction_rate", 0.1))
        self.secondary_eviction_rate = float(options.get("secondary_node_eviction_rate", 0.01))
        self.large_cluster_threshold = int(options.get("large_cluster_size_threshold", 50))
        self.unhealthy_zone_threshold = float(options.get("unhealthy_zone_threshold", 0.55))

        self.nodes = self.informers.informer(NODES)
        self.leases = self.informers.informer(LEASES, namespace=NODE_LEASE_NAMESPACE)
        self.pods = self.informers.informer(PODS)
        ensure_pod_node_name_index(self.pods)
        self.nodes.add_event_handler(
            on_add=lambda node: self.enqueue(node["metadata"]["name"]),
            on_update=lambda old, new: self.enqueue(new["metadata"]["name"]),
        )
        self.pods.add_event_handler(on_add=lambda pod: self._pod_updated(None, pod), on_update=self._pod_updated)

        self.health: dict[str, NodeHealth] = {}
        self.known_nodes: dict[str, Obj] = {}
        self.zone_states: dict[str, str] = {}
        self.zone_tainters: dict[str, RateLimitedTimedQueue] = {}
        self.nodes_to_retry: set[str] = set()

    # -- running -----------------------------------------------------------------------------

    async def run(self, workers: int | None = None) -> None:
        loops = [
            asyncio.create_task(self._every(self.monitor_period, self.monitor_node_health), name="node-health-monitor"),
            asyncio.create_task(self._every(NODE_EVICTION_PERIOD, self._no_execute_tainting_pass), name="node-tainter"),
        ]
        try:
            await super().run(workers)
        finally:
            for loop in loops:
                loop.cancel()
            await asyncio.gather(*loops, return_exceptions=True)

    async def _every(self, period: float, step) -> None:
        """Upstream wait.Until: run ``step``, sleep ``period``, again; a failed step is logged
        and the loop goes on."""
        while True:
            try:
                await step()
            except (ApiError, TransportError) as error:
                log.info("%s: %s failed: %s", self.name, step.__name__, error)
            except Exception:
                log.exception("%s: %s crashed", self.name, step.__name__)
            await asyncio.sleep(period)

    async def sync(self, key: str) -> None:
        if "/" in key:
            await self._process_pod(key)
            return
        node = self.nodes.indexer.get(key)
        if node is None:
            return
        await self._no_schedule_tainting_pass(node)
        await self._reconcile_node_labels(node)

    # -- node updates: NoSchedule taints and labels ------------------------------------------

    async def _no_schedule_tainting_pass(self, node: Obj) -> None:
        wanted = []
        for condition in (node.get("status") or {}).get("conditions") or ():
            key = CONDITION_TAINTS.get(condition.get("type"), {}).get(condition.get("status"))
            if key:
                wanted.append({"key": key, "effect": NO_SCHEDULE})
        if (node.get("spec") or {}).get("unschedulable"):
            wanted.append({"key": TAINT_UNSCHEDULABLE, "effect": NO_SCHEDULE})
        # Only the NoSchedule taints this pass owns are compared; others are the user's.
        owned = [
            taint for taint in (node.get("spec") or {}).get("taints") or ()
            if taint.get("effect") == NO_SCHEDULE
            and (taint.get("key") == TAINT_UNSCHEDULABLE or taint.get("key") in _TAINT_KEY_CONDITIONS)
        ]
        to_add = [taint for taint in wanted if not has_taint(owned, taint)]
        to_remove = [taint for taint in owned if not has_taint(wanted, taint)]
        if to_add or to_remove:
            await update_node_taints(self.client, node, to_add, to_remove)

    async def _reconcile_node_labels(self, node: Obj) -> None:
        labels = node["metadata"].get("labels") or {}
        changes = {beta: labels[stable] for stable, beta in _RECONCILED_LABELS
                   if stable in labels and labels.get(beta) != labels[stable]}
        if changes:
            await self.client.patch(NODES, node["metadata"]["name"], {"metadata": {"labels": changes}},
                                    patch_type=PatchType.STRATEGIC)

    # -- pods bound to not-ready nodes -------------------------------------------------------

    def _pod_updated(self, old: Obj | None, new: Obj) -> None:
        node_name = (new.get("spec") or {}).get("nodeName")
        if node_name and (old is None or (old.get("spec") or {}).get("nodeName") != node_name):
            self.enqueue(f"{new['metadata'].get('namespace')}/{new['metadata']['name']}")

    async def _process_pod(self, key: str) -> None:
        pod = self.pods.indexer.get(key)
        if pod is None:
            return
        node_name = pod["spec"]["nodeName"]
        health = self.health.get(node_name)
        if health is None or self.nodes.indexer.get(node_name) is None:
            return  # not monitored yet: the next pass covers the node's pods
        ready = node_condition(health.status, "Ready")
        if ready is not None and ready.get("status") != "True":
            errors = await mark_pods_not_ready(self.client, self.recorder, [pod], node_name)
            if errors:
                raise errors[0]

    # -- health monitoring -------------------------------------------------------------------

    async def monitor_node_health(self) -> None:
        """One pass over every node (upstream monitorNodeHealth)."""
        nodes = self.nodes.indexer.list()
        added, deleted = self._classify_nodes(nodes)
        for node in added:
            name = node["metadata"]["name"]
            record_node_event(self.recorder, node, NORMAL, "RegisteredNode", f"Registered Node {name} in Controller")
            self.known_nodes[name] = node
            self._add_zone(node)
            try:
                await self._mark_node_as_reachable(node)
            except (ApiError, TransportError) as error:
                log.info("%s: removing NoExecute taints of new node %s failed: %s", self.name, name, error)
        for node in deleted:
            name = node["metadata"]["name"]
            record_node_event(self.recorder, node, NORMAL, "RemovingNode", f"Removing Node {name} from Controller")
            del self.known_nodes[name]
            self.health.pop(name, None)

        zone_conditions: dict[str, list[Obj | None]] = {}
        limit = asyncio.Semaphore(_MONITOR_CONCURRENCY)

        async def check(node: Obj) -> None:
            async with limit:
                await self._monitor_node(node, zone_conditions)

        await asyncio.gather(*(check(node) for node in nodes))
        await self._handle_disruption(zone_conditions, nodes)

    def _classify_nodes(self, nodes: list[Obj]) -> tuple[list[Obj], list[Obj]]:
        """New and vanished nodes since the last pass; known nodes of a zone not seen before
        get its tainter."""
        added = []
        names = set()
        for node in nodes:
            name = node["metadata"]["name"]
            names.add(name)
            if name not in self.known_nodes:
                added.append(node)
            elif zone_key(node) not in self.zone_states:
                self._add_zone(node)
        deleted = [node for name, node in self.known_nodes.items() if name not in names]
        return added, deleted

    def _add_zone(self, node: Obj) -> None:
        zone = zone_key(node)
        if zone not in self.zone_states:
            self.zone_states[zone] = INITIAL
            self._tainter(zone)

    def _tainter(self, zone: str) -> RateLimitedTimedQueue:
        """The zone's tainting queue; like upstream's, never dropped once made."""
        tainter = self.zone_tainters.get(zone)
        if tainter is None:
            tainter = self.zone_tainters[zone] = RateLimitedTimedQueue(self.eviction_rate)
        return tainter

    async def _monitor_node(self, node: Obj, zone_conditions: dict[str, list[Obj | None]]) -> None:
        name = node["metadata"]["name"]
        for attempt in range(_HEALTH_UPDATE_ATTEMPTS):
            try:
                node, observed, current = await self._try_update_node_health(node)
                break
            except (ApiError, TransportError) as error:
                if attempt == _HEALTH_UPDATE_ATTEMPTS - 1:
                    log.warning("%s: updating health of node %s failed, no pods will be evicted: %s",
                                self.name, name, error)
                    return
            await asyncio.sleep(_HEALTH_RETRY_SLEEP)
            try:
                node = await self.client.get(NODES, name)
            except (ApiError, TransportError):
                return  # probably deleted
        labels = node["metadata"].get("labels") or {}
        if _EXCLUDE_DISRUPTION_LABEL not in labels:
            zone_conditions.setdefault(zone_key(node), []).append(current)
        if current is None:
            self.nodes_to_retry.discard(name)
            return
        await self._process_taint_based_eviction(node, observed)
        went_down = current.get("status") != "True" and observed.get("status") == "True"
        retry = name in self.nodes_to_retry and observed.get("status") != "True"
        if went_down:
            # Once, when this controller flips the node (a kubelet that reports NotReady
            # itself still looks after its pods).
            self.recorder.event(node_ref(node), NORMAL, "NodeNotReady", f"Node {name} status is now: NodeNotReady")
        if went_down or retry:
            errors = await mark_pods_not_ready(self.client, self.recorder, pods_on_node(self.pods, name), name)
            if errors:
                log.info("%s: marking pods of node %s not ready failed, will retry: %s", self.name, name, errors[0])
                self.nodes_to_retry.add(name)
                return
        self.nodes_to_retry.discard(name)

    async def _try_update_node_health(self, node: Obj) -> tuple[Obj, Obj, Obj | None]:
        """Upstream tryUpdateNodeHealth: the node (as written, if this wrote it), its Ready
        condition as the node had it, and as it is now (None if it has none).  ``node`` (and
        so the recorded status) is the informer's, read-only: a copy is made only to write."""
        name = node["metadata"]["name"]
        status = node.get("status") or {}
        health = self.health.get(name)
        now = time.time()
        created_text = node["metadata"].get("creationTimestamp") or rfc3339()
        created = (parse_time(created_text) or dt.datetime.now(dt.UTC)).timestamp()
        current = node_condition(status, "Ready")
        if current is None:
            # Never posted: judge it from its creation, with the longer startup grace.
            observed = {"type": "Ready", "status": "Unknown", "lastHeartbeatTime": created_text,
                        "lastTransitionTime": created_text}
            grace = self.startup_grace_period
            if health is not None:
                health.status = status
            else:
                health = NodeHealth(status, created, created)
        else:
            observed = dict(current)
            grace = self.grace_period
        saved = node_condition(health.status, "Ready") if health is not None else None
        saved_lease = health.lease if health is not None else None
        if health is None or (saved is None) != (current is None):
            health = NodeHealth(status, now, now)
        elif saved is not None and current is not None and saved.get("lastHeartbeatTime") != current.get("lastHeartbeatTime"):
            transitioned = saved.get("lastTransitionTime") != current.get("lastTransitionTime")
            health = NodeHealth(status, now, now if transitioned else health.ready_transition_timestamp)
        lease = self.leases.indexer.get_object(NODE_LEASE_NAMESPACE, name)
        if lease is not None:
            renewed, seen = _renew_time(lease), _renew_time(saved_lease)
            if saved_lease is None or (renewed is not None and seen is not None and seen < renewed):
                health.lease = lease
                health.probe_timestamp = now
        self.health[name] = health

        if now <= health.probe_timestamp + grace:
            return node, observed, current
        node = copy.deepcopy(node)
        status = node.setdefault("status", {})
        stamp = rfc3339()
        conditions = status.setdefault("conditions", [])
        for condition_type in _KUBELET_CONDITIONS:
            condition = node_condition(status, condition_type)
            if condition is None:
                conditions.append({
                    "type": condition_type, "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                    "message": "Kubelet never posted node status.", "lastHeartbeatTime": created_text,
                    "lastTransitionTime": stamp,
                })
            elif condition.get("status") != "Unknown":
                condition.update(status="Unknown", reason="NodeStatusUnknown",
                                 message="Kubelet stopped posting node status.", lastTransitionTime=stamp)
        current = node_condition(status, "Ready")
        if current != observed:
            updated = await self.client.update(NODES, node, subresource="status")
            node["metadata"] = updated["metadata"]
            self.health[name] = NodeHealth(status, health.probe_timestamp, time.time(), lease)
        return node, observed, current

    # -- NoExecute taints --------------------------------------------------------------------

    async def _process_taint_based_eviction(self, node: Obj, observed: Obj) -> None:
        status = observed.get("status")
        taints = (node.get("spec") or {}).get("taints")
        if status == "False":
            if has_taint(taints, UNREACHABLE_TAINT):
                # unreachable and not-ready mirror Ready's value: swap at once, unthrottled.
                await self._swap_quietly(node, NOT_READY_TAINT, UNREACHABLE_TAINT)
            else:
                self._mark_node_for_tainting(node, NOT_READY_TAINT)
        elif status == "Unknown":
            if has_taint(taints, NOT_READY_TAINT):
                await self._swap_quietly(node, UNREACHABLE_TAINT, NOT_READY_TAINT)
            else:
                self._mark_node_for_tainting(node, UNREACHABLE_TAINT)
        elif status == "True":
            await self._mark_node_as_reachable(node)

    async def _swap_quietly(self, node: Obj, add: Obj, remove: Obj) -> bool:
        try:
            return await update_node_taints(self.client, node, [add], [remove])
        except (ApiError, TransportError) as error:
            log.info("%s: swapping taints of node %s failed, next pass retries: %s",
                     self.name, node["metadata"]["name"], error)
            return False

    def _mark_node_for_tainting(self, node: Obj, taint: Obj) -> bool:
        tainter = self._tainter(zone_key(node))
        name = node["metadata"]["name"]
        if not has_taint((node.get("spec") or {}).get("taints"), taint):
            tainter.remove(name)  # tainted once and lost it since: queue it again
        return tainter.add(name, node["metadata"].get("uid", ""))

    async def _mark_node_as_reachable(self, node: Obj) -> bool:
        taints = (node.get("spec") or {}).get("taints")
        if has_taint(taints, UNREACHABLE_TAINT) or has_taint(taints, NOT_READY_TAINT):
            await update_node_taints(self.client, node, remove=[UNREACHABLE_TAINT, NOT_READY_TAINT])
        return self._tainter(zone_key(node)).remove(node["metadata"]["name"])

    async def _no_execute_tainting_pass(self) -> None:
        for tainter in list(self.zone_tainters.values()):
            await tainter.try_process(self._taint_queued_node)

    async def _taint_queued_node(self, queued: TimedValue) -> tuple[bool, float]:
        node = self.nodes.indexer.get(queued.value)
        if node is None:
            return True, 0.0
        ready = node_condition(node.get("status"), "Ready")
        if ready is None:
            return False, 0.05
        if ready.get("status") == "False":
            add, opposite = NOT_READY_TAINT, UNREACHABLE_TAINT
        elif ready.get("status") == "Unknown":
            add, opposite = UNREACHABLE_TAINT, NOT_READY_TAINT
        else:
            return True, 0.0  # Ready again meanwhile
        try:
            await update_node_taints(self.client, node, [add], [opposite])
        except NotFound:
            return True, 0.0
        except (ApiError, TransportError) as error:
            log.info("%s: tainting node %s failed: %s", self.name, queued.value, error)
            return False, 0.0
        return True, 0.0

    # -- zones -------------------------------------------------------------------------------

    def _zone_state(self, conditions: list[Obj | None]) -> str:
        """Upstream ComputeZoneState."""
        ready = sum(1 for condition in conditions if _status_of(condition) == "True")
        not_ready = len(conditions) - ready
        if ready == 0 and not_ready > 0:
            return FULL_DISRUPTION
        if not_ready > 2 and not_ready / (not_ready + ready) >= self.unhealthy_zone_threshold:
            return PARTIAL_DISRUPTION
        return NORMAL_STATE

    def _set_limiter(self, zone: str, size: int, state: str) -> None:
        if state == PARTIAL_DISRUPTION:
            qps = self.secondary_eviction_rate if size > self.large_cluster_threshold else 0.0
        else:
            # Normal, and a fully disrupted zone while others are fine: the usual rate.
            qps = self.eviction_rate
        self._tainter(zone).swap_limiter(qps)

    async def _handle_disruption(self, zone_conditions: dict[str, list[Obj | None]], nodes: list[Obj]) -> None:
        """Upstream handleDisruption: per-zone tainting rates, and the all-zones-down mode."""
        new_states: dict[str, str] = {}
        all_down_now = True
        for zone, conditions in zone_conditions.items():
            new_states[zone] = self._zone_state(conditions)
            if new_states[zone] != FULL_DISRUPTION:
                all_down_now = False
            self.zone_states.setdefault(zone, INITIAL)
        for zone in [zone for zone in self.zone_states if zone not in zone_conditions]:
            del self.zone_states[zone]
        all_down_before = all(state == FULL_DISRUPTION for state in self.zone_states.values())
        if all_down_now and all_down_before:
            return
        if all_down_now:
            log.info("%s: every node is not ready; stopping evictions (master disruption mode)", self.name)
            for node in nodes:
                try:
                    await self._mark_node_as_reachable(node)
                except (ApiError, TransportError) as error:
                    log.info("%s: removing taints of node %s failed: %s", self.name, node["metadata"]["name"], error)
            for zone in self.zone_states:
                self._tainter(zone).swap_limiter(0.0)
                self.zone_states[zone] = FULL_DISRUPTION
            return
        if all_down_before:
            log.info("%s: some nodes are ready again; leaving master disruption mode", self.name)
            # Every node gets a fresh grace period: their silence was ours.
            now = time.time()
            for node in nodes:
                health = self.health.get(node["metadata"]["name"])
                if health is not None:
                    health.probe_timestamp = health.ready_transition_timestamp = now
            for zone in self.zone_states:
                self._set_limiter(zone, len(zone_conditions.get(zone, ())), new_states[zone])
                self.zone_states[zone] = new_states[zone]
            return
        for zone, state in list(self.zone_states.items()):
            if state != new_states[zone]:
                log.info("%s: zone %r is now %s", self.name, zone, new_states[zone])
                self._set_limiter(zone, len(zone_conditions.get(zone, ())), new_states[zone])
                self.zone_states[zone] = new_states[zone]
