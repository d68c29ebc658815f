"""pyk8s: a small Kubernetes control plane in Python with a native object store.

The public surface is small: the typed models, the stores, and the API server entry
points.  Everything else lives in modules that may change.
"""

from __future__ import annotations

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
