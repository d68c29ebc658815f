"""pyk8s: a small Kubernetes control plane in Python with a native object store.

The public surface is small: the typed models, the stores, and the API server entry
points.  Everything else lives in modules that may change.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyk8s.models import (
        Condition,
        Container,
        ContainerPort,
        EnvVar,
        Node,
        NodeAddress,
        NodeSpec,
        NodeStatus,
        NodeSystemInfo,
        ObjectMeta,
        Pod,
        PodSpec,
        PodStatus,
        ResourceRequirements,
        Taint,
        Toleration,
    )
    from pyk8s.store import Storage, WriteStatus, encode_template, open_store

# Loaded on first use (PEP 562), so a component that needs neither (the scheduler, the
# kubelet) does not pay for importing the models and the stores at every start.
_LAZY = {
    **dict.fromkeys(("Condition", "Container", "ContainerPort", "EnvVar", "Node", "NodeAddress", "NodeSpec",
                     "NodeStatus", "NodeSystemInfo", "ObjectMeta", "Pod", "PodSpec", "PodStatus",
                     "ResourceRequirements", "Taint", "Toleration"), "pyk8s.models"),
    **dict.fromkeys(("Storage", "WriteStatus", "encode_template", "open_store"), "pyk8s.store"),
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pyk8s' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__version__ = "0.1.0"

__all__ = [
    "Condition",
    "Container",
    "ContainerPort",
    "EnvVar",
    "Node",
    "NodeAddress",
    "NodeSpec",
    "NodeStatus",
    "NodeSystemInfo",
    "ObjectMeta",
    "Pod",
    "PodSpec",
    "PodStatus",
    "ResourceRequirements",
    "Storage",
    "Taint",
    "Toleration",
    "WriteStatus",
    "__version__",
    "encode_template",
    "open_store",
]
