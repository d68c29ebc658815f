"""Upstream's helper.DefaultSelector: the label selector that PodTopologySpread's default
constraints count pods with, for a pod without constraints of its own.

It is deduced from the workload objects the scheduler watches: the selectors of the
Services in the pod's namespace that select it, and the selector of the ReplicaSet that
controls it (its ``controller: true`` ownerReference).  Upstream reads ReplicationControllers
and StatefulSets the same way; pyk8s serves neither, so they never arrive here.  A pod that
nothing selects gets no default constraints (an empty selector).
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["DefaultSelector"]

_REPLICA_SET = ("apps/v1", "ReplicaSet")  # upstream compares the owner's group/version/kind
_SELECTOR_OPERATORS = frozenset(("In", "NotIn", "Exists", "DoesNotExist"))


def _namespace_and_name(obj: Mapping) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return meta.get("namespace") or "default", meta.get("name", "")


def _requirements(selector: Mapping | None) -> list[dict] | None:
    """A ReplicaSet's spec.selector as matchExpressions (matchLabels become In), or None
    when it cannot add anything: absent or empty (upstream: Nothing/Everything, neither
    has requirements to add) or not a valid selector (upstream skips it on the error)."""
    if not selector:
        return None
    expressions = [{"key": k, "operator": "In", "values": [v]} for k, v in (selector.get("matchLabels") or {}).items()]
    for e in selector.get("matchExpressions") or ():
        if not isinstance(e, Mapping) or e.get("operator") not in _SELECTOR_OPERATORS or not e.get("key"):
            return None
        expressions.append({"key": e["key"], "operator": e["operator"], "values": list(e.get("values") or ())})
    return expressions or None


def _controller_of(meta: Mapping) -> Mapping | None:
    for ref in meta.get("ownerReferences") or ():
        if ref.get("controller"):
            return ref
    return None


class DefaultSelector:
    """The Services and ReplicaSets the scheduler knows (fed by its informers, or by hand
    in-process), and, called with a pod, the labelSelector upstream's DefaultSelector
    builds for it (None when it is empty)."""

    def __init__(self) -> None:
        self._services: dict[str, dict[str, dict[str, str]]] = {}  # namespace -> name -> spec.selector
        self._replica_sets: dict[tuple[str, str], list[dict]] = {}  # (namespace, name) -> requirements

    def set_service(self, service: Mapping) -> None:
        namespace, name = _namespace_and_name(service)
        selector = (service.get("spec") or {}).get("selector")
        if selector is None:  # upstream: a Service with a nil selector selects nothing
            self.remove_service(service)
            return
        self._services.setdefault(namespace, {})[name] = dict(selector)

    def remove_service(self, service: Mapping) -> None:
        namespace, name = _namespace_and_name(service)
        services = self._services.get(namespace)
        if services is not None:
            services.pop(name, None)
            if not services:
                del self._services[namespace]

    def set_replica_set(self, replica_set: Mapping) -> None:
        key = _namespace_and_name(replica_set)
        requirements = _requirements((replica_set.get("spec") or {}).get("selector"))
        if requirements is None:
            self._replica_sets.pop(key, None)
        else:
            self._replica_sets[key] = requirements

    def remove_replica_set(self, replica_set: Mapping) -> None:
        self._replica_sets.pop(_namespace_and_name(replica_set), None)

    def __call__(self, pod: Mapping) -> dict | None:
        if not self._services and not self._replica_sets:
            return None  # the common case of a cluster without workloads: nothing to look up
        meta = pod.get("metadata") or {}
        namespace = meta.get("namespace") or "default"
        match_labels: dict[str, str] = {}
        services = self._services.get(namespace)
        if services:
            labels = meta.get("labels") or {}
            for selector in services.values():
                # Services that select the pod agree on every key they share (each value
                # is the pod's), so merging them loses nothing.
                if all(labels.get(key) == value for key, value in selector.items()):
                    match_labels.update(selector)
        expressions: list[dict] = []
        owner = _controller_of(meta)
        if owner is not None and (owner.get("apiVersion"), owner.get("kind")) == _REPLICA_SET:
            expressions = self._replica_sets.get((namespace, owner.get("name", "")), expressions)
        if not match_labels and not expressions:
            return None
        return {"matchLabels": match_labels, "matchExpressions": expressions}
