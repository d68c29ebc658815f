"""pyk8s: a small Kubernetes control plane in Python with a native object store.

The public surface is small: the typed models, the stores, and the API server entry
points.  Everything else lives in modules that may change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyk8s._lazy import lazy_exports

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


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())


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
