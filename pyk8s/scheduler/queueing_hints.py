"""Which cluster events can make an unschedulable pod schedulable, per plugin that rejected
it: upstream's EventsToRegister / QueueingHint, at the granularity of the event (upstream's
hint functions then also look at the changed object; here every event of a registered kind
moves the pod, and the unschedulable flush catches anything a table could miss).

A pod rejected by NodeResourcesFit waits for room (a node added, its allocatable grown, a
pod on a node deleted); one rejected by NodeAffinity for node labels; by TaintToleration for
taints; and so on.  A pod whose rejecting plugins are unknown (none recorded, or a plugin
outside this table such as a custom PreFilter or Bind plugin) moves on every event, as
upstream treats plugins without EnqueueExtensions.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from ._objects import ParsedNode

__all__ = ["ClusterEvent", "PLUGIN_EVENTS", "events_for", "node_update_events"]


class ClusterEvent(enum.StrEnum):
    """The events the scheduler process reports to its queue (upstream's ClusterEvent
    resource/action pairs, named as its framework names them)."""

    NODE_ADD = "NodeAdd"
    NODE_DELETE = "NodeDelete"
    # Upstream's NodeAllocatableChange; only an increase can make a pod fit, so a change
    # that only shrinks allocatable is not reported.
    NODE_ALLOCATABLE_INCREASE = "NodeAllocatableIncrease"
    NODE_LABEL_CHANGE = "NodeLabelChange"
    # Taints changed, or spec.unschedulable turned false (upstream reports that as a taint
    # change too: the node lost its implicit unschedulable taint).
    NODE_TAINT_CHANGE = "NodeTaintChange"
    ASSIGNED_POD_ADD = "AssignedPodAdd"
    ASSIGNED_POD_UPDATE = "AssignedPodUpdate"  # labels changed
    ASSIGNED_POD_DELETE = "AssignedPodDelete"  # deleted, finished, or an assumed pod forgotten
    # A pod nominated by preemption went away: the space it held on its node is free.
    NOMINATED_POD_DELETE = "NominatedPodDelete"
    # Namespace labels changed: a pod (anti-)affinity term's namespaceSelector may match
    # other namespaces now.
    NAMESPACE_UPDATE = "NamespaceUpdate"


E = ClusterEvent
_POD_CHANGES = frozenset((E.ASSIGNED_POD_ADD, E.ASSIGNED_POD_UPDATE, E.ASSIGNED_POD_DELETE))

PLUGIN_EVENTS: dict[str, frozenset[str]] = {
    "NodeUnschedulable": frozenset((E.NODE_ADD, E.NODE_TAINT_CHANGE)),
    "NodeName": frozenset((E.NODE_ADD,)),
    "TaintToleration": frozenset((E.NODE_ADD, E.NODE_TAINT_CHANGE)),
    "NodeAffinity": frozenset((E.NODE_ADD, E.NODE_LABEL_CHANGE)),
    "NodePorts": frozenset((E.NODE_ADD, E.ASSIGNED_POD_DELETE, E.NOMINATED_POD_DELETE)),
    "NodeResourcesFit": frozenset((E.NODE_ADD, E.NODE_ALLOCATABLE_INCREASE, E.ASSIGNED_POD_DELETE, E.NOMINATED_POD_DELETE)),
    # Node taints count with nodeTaintsPolicy Honor; a deleted node may take a domain
    # with it (minDomains, the global minimum).
    "PodTopologySpread": _POD_CHANGES | {E.NODE_ADD, E.NODE_DELETE, E.NODE_LABEL_CHANGE, E.NODE_TAINT_CHANGE},
    "InterPodAffinity": _POD_CHANGES | {E.NODE_ADD, E.NODE_LABEL_CHANGE, E.NAMESPACE_UPDATE},
}


def events_for(plugins: Iterable[str]) -> frozenset[str] | None:
    """The events that can help a pod the given plugins rejected; None means every event
    (nothing recorded, or a plugin without an entry in PLUGIN_EVENTS)."""
    events: set[str] = set()
    for name in plugins:
        registered = PLUGIN_EVENTS.get(name)
        if registered is None:
            return None
        events |= registered
    return frozenset(events) if events else None


def node_update_events(old: ParsedNode, new: ParsedNode) -> list[ClusterEvent]:
    """The events a node update amounts to (heartbeats and conditions amount to none)."""
    events = []
    if old.labels != new.labels:
        events.append(E.NODE_LABEL_CHANGE)
    if old.taints != new.taints or (old.unschedulable and not new.unschedulable):
        events.append(E.NODE_TAINT_CHANGE)
    if new.allowed_pods > old.allowed_pods or any(
            amount > old.allocatable.get(name, 0) for name, amount in new.allocatable.items()):
        events.append(E.NODE_ALLOCATABLE_INCREASE)
    return events
