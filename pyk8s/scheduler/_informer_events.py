"""The scheduler process's informer event handlers: nodes, namespaces and pods seen by the
informers update the ``Cluster`` and the ``SchedulingQueue`` (pending pods join the queue,
bound ones are counted on their nodes, an assumed pod is confirmed by the watch), and the
cluster events they are move the unschedulable pods a hint says they can help
(queueing_hints.py).  Mixed into ``Scheduler`` (scheduler.py).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from ._objects import SchedulingInputError
from .queue import pod_key
from .queueing_hints import ClusterEvent, node_update_events

__all__ = ["InformerEventHandlers"]

log = logging.getLogger("pyk8s.scheduler.scheduler")  # the process's logger, as before the split

_TERMINAL_PHASES = ("Succeeded", "Failed")


def _node_relevant(node: Mapping) -> tuple:
    """What a NodeUpdate must change to be worth re-trying unschedulable pods (heartbeats and
    conditions are not)."""
    meta, spec, status = node.get("metadata") or {}, node.get("spec") or {}, node.get("status") or {}
    return (meta.get("labels"), spec.get("taints"), spec.get("unschedulable"), status.get("allocatable"))


def _node_changed(old: Mapping, new: Mapping) -> bool:
    return _node_relevant(old) != _node_relevant(new) or (old.get("status") or {}).get("images") != (
        new.get("status") or {}).get("images")


class InformerEventHandlers:
    """Mixed into ``Scheduler``: uses its cluster, queue, assumed, _orphans and
    _condition_sent."""

    def _node_added(self, node: dict) -> None:
        self.cluster.add_node(node)
        orphans = self._orphans.pop(node["metadata"]["name"], None) if self._orphans else None
        if orphans:
            for pod in orphans.values():
                self._assigned_pod_upsert(pod)
        self.queue.move_all(ClusterEvent.NODE_ADD)

    def _node_updated(self, old: dict, new: dict) -> None:
        if not _node_changed(old, new):
            return
        name = new["metadata"]["name"]
        before = self.cluster.nodes.get(name)
        self.cluster.update_node(new)
        if before is None:
            self.queue.move_all(ClusterEvent.NODE_ADD)
        elif _node_relevant(old) != _node_relevant(new):
            for event in node_update_events(before, self.cluster.nodes[name]):
                self.queue.move_all(event)

    def _node_deleted(self, node: dict) -> None:
        name = node["metadata"]["name"]
        self.cluster.remove_node(name)
        self._orphans.pop(name, None)
        for key in [k for k, n in self.assumed.items() if n == name]:
            del self.assumed[key]
        self.queue.move_all(ClusterEvent.NODE_DELETE)

    def _namespace_seen(self, namespace: dict) -> None:
        meta = namespace.get("metadata") or {}
        labels = meta.get("labels") or {}
        if self.cluster.namespace_labels.get(meta.get("name")) != labels:
            self.cluster.set_namespace_labels(meta["name"], labels)
            self.queue.move_all(ClusterEvent.NAMESPACE_UPDATE)

    def _responsible(self, pod: Mapping) -> bool:
        name = (pod.get("spec") or {}).get("schedulerName") or "default-scheduler"
        return name in self.cluster.profiles

    def _pod_added(self, pod: dict) -> None:
        # Once per pod of the first list (tens of thousands at a start): _responsible and
        # the common case of _track_nomination inlined.
        spec = pod.get("spec") or {}
        if spec.get("nodeName"):
            self._assigned_pod_upsert(pod)
        elif (spec.get("schedulerName") or "default-scheduler") in self.cluster.profiles \
                and not pod["metadata"].get("deletionTimestamp"):
            if self.cluster.nominated or (pod.get("status") or {}).get("nominatedNodeName"):
                self._track_nomination(pod)
            self.queue.add(pod)

    def _pod_updated(self, old: dict, new: dict) -> None:
        if (new.get("spec") or {}).get("nodeName"):
            if not (old.get("spec") or {}).get("nodeName"):
                # Bound (once per pod; the pod it scheduled has left the queue and holds no
                # nomination: the calls are skipped when they would find nothing).
                meta = new.get("metadata") or {}
                key = f"{meta.get('namespace') or 'default'}/{meta.get('name', '')}"  # pod_key, inlined
                if key in self.queue.entries:
                    self.queue.delete(key)
                if self._condition_sent:
                    self._condition_sent.pop(key, None)
                if key in self.cluster.nominated:
                    self.cluster.remove_nominated_pod(key)
                self._assigned_pod_upsert(new, old, key)
            else:
                self._assigned_pod_upsert(new, old)
        elif self._responsible(new):
            if new["metadata"].get("deletionTimestamp"):
                self.queue.delete(new)
                self.cluster.remove_nominated_pod(pod_key(new))
            else:
                self._track_nomination(new)
                self.queue.update(old, new)

    def _track_nomination(self, pod: dict) -> None:
        """Upstream's nominator follows status.nominatedNodeName of pending pods."""
        node = (pod.get("status") or {}).get("nominatedNodeName")
        nominated = self.cluster.nominated
        if not node and not nominated:
            return  # the common case, without building the key
        key = pod_key(pod)
        known = nominated.get(key)
        if not node:
            if known is not None:
                self.cluster.remove_nominated_pod(key)
            return
        if known is not None and known[1] == node and known[0].priority == int((pod.get("spec") or {}).get("priority") or 0):
            return
        try:
            self.cluster.add_nominated_pod(pod, node)
        except SchedulingInputError as error:  # reported when the pod itself is scheduled
            log.debug("nomination of %s not tracked: %s", key, error)

    def _pod_deleted(self, pod: dict) -> None:
        key = pod_key(pod)
        if key in self.cluster.nominated:
            # The space it held is free again: pods it kept out may fit now.
            self.cluster.remove_nominated_pod(key)
            self.queue.move_all(ClusterEvent.NOMINATED_POD_DELETE)
        self.queue.delete(key)
        self._condition_sent.pop(key, None)
        self.assumed.pop(key, None)
        node = (pod.get("spec") or {}).get("nodeName")
        if node in self._orphans:
            self._orphans[node].pop(key, None)
        if key in self.cluster.pods:
            self.cluster.remove_pod(key)
            self.queue.move_all(ClusterEvent.ASSIGNED_POD_DELETE)

    def _assigned_pod_upsert(self, pod: dict, old: dict | None = None, key: str | None = None) -> None:
        if key is None:
            key = pod_key(pod)
        node = pod["spec"]["nodeName"]
        if (pod.get("status") or {}).get("phase") in _TERMINAL_PHASES:
            # A finished pod frees its node (upstream's scheduler does not cache them).
            if key in self.cluster.pods:
                self.cluster.remove_pod(key)
                self.queue.move_all(ClusterEvent.ASSIGNED_POD_DELETE)
            self.assumed.pop(key, None)
            return
        if node not in self.cluster.nodes:
            self._orphans.setdefault(node, {})[key] = pod
            return
        meta = pod["metadata"]
        if self.assumed.get(key) == node:
            del self.assumed[key]  # confirmed by the watch: the assumed entry stays
            if not meta.get("deletionTimestamp"):
                if self.queue.unschedulable_count():  # _assigned_pod_added, inlined
                    self.queue.move_all(ClusterEvent.ASSIGNED_POD_ADD)
                return
        known = self.cluster.pods.get(key)
        if known is not None and known.node_name == node and old is not None:
            old_meta = old.get("metadata") or {}
            if old_meta.get("labels") == meta.get("labels") and bool(old_meta.get("deletionTimestamp")) == bool(meta.get("deletionTimestamp")):
                return
        self.cluster.add_pod(pod)
        if known is None:
            self._assigned_pod_added()
        elif old is not None and (old.get("metadata") or {}).get("labels") != meta.get("labels"):
            self.queue.move_all(ClusterEvent.ASSIGNED_POD_UPDATE)

    def _assigned_pod_added(self) -> None:
        """AssignedPodAdd helps only pods rejected by PodTopologySpread (a domain's count
        rose) or InterPodAffinity (a matching pod arrived): the queue's hints pick them.
        (Skipping it with nothing unschedulable loses nothing for pods the filters
        rejected: a scheduling cycle does not yield between its failure and
        add_unschedulable.)"""
        if self.queue.unschedulable_count():
            self.queue.move_all(ClusterEvent.ASSIGNED_POD_ADD)
