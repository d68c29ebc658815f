"""pyk8s.controllers: the controllers of ``pyk8s-controller-manager``, each as upstream's.

``CONTROLLERS`` maps upstream's controller names (as ``--controllers`` takes them) to the
module and class implementing them; ``ALIASES`` maps upstream's older short names
("replicaset", "garbagecollector", ...) to those names.  Every controller is a
``Controller`` built from a shared ``ControllerContext``.
"""

from __future__ import annotations

import importlib

from ._base import Controller, ControllerContext
from ._events import NORMAL, WARNING, EventRecorder
from ._metrics import ControllerMetrics

__all__ = [
    "ALIASES", "CONTROLLERS", "Controller", "ControllerContext", "ControllerMetrics", "EventRecorder",
    "NORMAL", "WARNING", "controller_class", "resolve_names",
]

CONTROLLERS: dict[str, str] = {
    "replicaset-controller": "pyk8s.controllers.replicaset:ReplicaSetController",
    "deployment-controller": "pyk8s.controllers.deployment:DeploymentController",
    "job-controller": "pyk8s.controllers.job:JobController",
    "ttl-after-finished-controller": "pyk8s.controllers.ttlafterfinished:TTLAfterFinishedController",
    "garbage-collector-controller": "pyk8s.controllers.garbagecollector:GarbageCollector",
    "namespace-controller": "pyk8s.controllers.namespace:NamespaceController",
    "node-lifecycle-controller": "pyk8s.controllers.nodelifecycle:NodeLifecycleController",
    "taint-eviction-controller": "pyk8s.controllers.tainteviction:TaintEvictionController",
    "endpoints-controller": "pyk8s.controllers.endpoints:EndpointsController",
    "endpointslice-controller": "pyk8s.controllers.endpointslice:EndpointSliceController",
    "serviceaccount-controller": "pyk8s.controllers.serviceaccount:ServiceAccountController",
    "pod-garbage-collector-controller": "pyk8s.controllers.podgc:PodGCController",
}

# kube-controller-manager still accepts the names from before 1.28.
ALIASES: dict[str, str] = {
    "replicaset": "replicaset-controller",
    "deployment": "deployment-controller",
    "job": "job-controller",
    "ttl-after-finished": "ttl-after-finished-controller",
    "garbagecollector": "garbage-collector-controller",
    "namespace": "namespace-controller",
    "nodelifecycle": "node-lifecycle-controller",
    "endpoint": "endpoints-controller",
    "endpointslice": "endpointslice-controller",
    "serviceaccount": "serviceaccount-controller",
    "podgc": "pod-garbage-collector-controller",
}


def controller_class(name: str) -> type[Controller]:
    module_name, _, class_name = CONTROLLERS[ALIASES.get(name, name)].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def resolve_names(spec: list[str]) -> list[str]:
    """Upstream's ``--controllers`` semantics (IsControllerEnabled): ``*`` = all on by
    default, ``foo`` enables, ``-foo`` disables, the first mention of a name decides; names
    may be aliases.  Raises ValueError on an unknown name."""
    decided: dict[str, bool] = {}
    star = False
    for item in spec:
        item = item.strip()
        if not item:
            continue
        if item == "*":
            star = True
            continue
        negate = item.startswith("-")
        name = ALIASES.get(item.lstrip("-"), item.lstrip("-"))
        if name not in CONTROLLERS:
            raise ValueError(f"{item!r} is not in the list of known controllers: {sorted(CONTROLLERS)}")
        decided.setdefault(name, not negate)
    enabled = [name for name, on in decided.items() if on]
    if star:
        enabled += [name for name in CONTROLLERS if name not in decided]
    return enabled
