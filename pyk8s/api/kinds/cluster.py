"""Cluster-scoped kinds: core/v1 nodes and namespaces, scheduling.k8s.io/v1 priorityclasses,
and coordination.k8s.io/v1 leases (namespaced, but cluster plumbing like the others).

As upstream pkg/registry/core/{node,namespace}, pkg/registry/scheduling/priorityclass and
pkg/registry/coordination/lease strategies and pkg/apis/*/validation.
"""

from __future__ import annotations

from typing import Any

from pyk8s.api.errors import Cause, forbidden, invalid_value, not_supported, required
from pyk8s.api.registry import ResourceDef
from pyk8s.api.validation import (
    dns1123_label_errors,
    qualified_name_errors,
    validate_object_meta,
)

__all__ = ["NODES", "NAMESPACES", "PRIORITY_CLASSES", "LEASES", "SYSTEM_PRIORITY_CLASSES", "FINALIZER_KUBERNETES"]

Obj = dict[str, Any]

_TAINT_EFFECTS = ("NoExecute", "NoSchedule", "PreferNoSchedule")


# -- nodes -----------------------------------------------------------------------------------


def default_node(node: Obj) -> None:
    status = node.get("status")
    if status and "capacity" in status and "allocatable" not in status:
        status["allocatable"] = dict(status["capacity"])


def validate_node(node: Obj) -> list[Cause]:
    causes = validate_object_meta(node["metadata"], namespaced=False)
    for index, taint in enumerate((node.get("spec") or {}).get("taints") or ()):
        path = f"spec.taints[{index}]"
        key = taint.get("key", "")
        if not key:
            causes.append(required(f"{path}.key"))
        else:
            causes.extend(invalid_value(f"{path}.key", key, msg) for msg in qualified_name_errors(key))
        effect = taint.get("effect", "")
        if not effect:
            causes.append(required(f"{path}.effect"))
        elif effect not in _TAINT_EFFECTS:
            causes.append(not_supported(f"{path}.effect", effect, _TAINT_EFFECTS))
    return causes


def validate_node_update(new: Obj, old: Obj) -> list[Cause]:
    return validate_node(new)


def node_fields(node: Obj) -> dict[str, str]:
    return {"spec.unschedulable": "true" if (node.get("spec") or {}).get("unschedulable") else "false"}


NODES = ResourceDef(
    group="",
    version="v1",
    kind="Node",
    plural="nodes",
    singular="node",
    namespaced=False,
    default=default_node,
    validate=validate_node,
    validate_update=validate_node_update,
    fields=node_fields,
    selectable_fields=frozenset(("spec.unschedulable",)),
    short_names=("no",),
    subresources=(("status", "Node"),),
)


# -- namespaces ------------------------------------------------------------------------------

FINALIZER_KUBERNETES = "kubernetes"


def prepare_namespace_create(ns: Obj) -> None:
    """namespaceStrategy.PrepareForCreate: status is Active and the ``kubernetes``
    finalizer is always there (the namespace controller removes it when it has emptied
    the namespace)."""
    ns.pop("status", None)
    spec = ns.get("spec")
    if not isinstance(spec, dict):
        spec = ns["spec"] = {}
    finalizers = spec.get("finalizers") or []
    if FINALIZER_KUBERNETES not in finalizers:
        finalizers = [*finalizers, FINALIZER_KUBERNETES]
    spec["finalizers"] = finalizers
    ns["status"] = {"phase": "Active"}


def prepare_namespace_update(new: Obj, old: Obj) -> None:
    """An update of the namespace may not touch spec.finalizers (only ``/finalize`` does)."""
    old_spec = old.get("spec") or {}
    spec = new.get("spec")
    if not isinstance(spec, dict):
        spec = new["spec"] = {}
    if "finalizers" in old_spec:
        spec["finalizers"] = old_spec["finalizers"]
    else:
        spec.pop("finalizers", None)


def default_namespace(ns: Obj) -> None:
    # SetDefaults_Namespace: the name label every namespace carries (since 1.21).
    labels = ns["metadata"].setdefault("labels", {})
    labels["kubernetes.io/metadata.name"] = ns["metadata"].get("name", "")


def validate_namespace(ns: Obj) -> list[Cause]:
    causes = validate_object_meta(ns["metadata"], namespaced=False, name_errors=dns1123_label_errors)
    for index, finalizer in enumerate((ns.get("spec") or {}).get("finalizers") or ()):
        causes.extend(invalid_value(f"spec.finalizers[{index}]", finalizer, msg) for msg in _finalizer_errors(finalizer))
    return causes


def _finalizer_errors(name: str) -> list[str]:
    # validateFinalizerName: a qualified name; standard finalizers ("kubernetes") have no prefix.
    return qualified_name_errors(name)


def validate_namespace_update(new: Obj, old: Obj) -> list[Cause]:
    return validate_namespace(new)


NAMESPACES = ResourceDef(
    group="",
    version="v1",
    kind="Namespace",
    plural="namespaces",
    singular="namespace",
    namespaced=False,
    default=default_namespace,
    validate=validate_namespace,
    validate_update=validate_namespace_update,
    fields=lambda ns: {"status.phase": (ns.get("status") or {}).get("phase", "")},
    selectable_fields=frozenset(("status.phase",)),
    short_names=("ns",),
    subresources=(("finalize", "Namespace"), ("status", "Namespace")),
    # Upstream serves no deletecollection on namespaces.
    verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
    prepare_create=prepare_namespace_create,
    prepare_update=prepare_namespace_update,
    # pkg/registry/core/namespace/storage: ReturnDeletedObject, though its OpenAPI says Status.
    return_deleted_object=True,
    documents_deleted_object=False,
)

# -- priorityclasses -------------------------------------------------------------------------

# Upstream scheduling.SystemPriorityClasses(): exist from the start, may not be changed.
SYSTEM_PRIORITY_CLASSES = (
    ("system-node-critical", 2000001000, "Used for system critical pods that must not be moved from their current node."),
    ("system-cluster-critical", 2000000000, "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary."),
)
_HIGHEST_USER_PRIORITY = 1000000000
_PREEMPTION_POLICIES = ("Never", "PreemptLowerPriority")


def default_priority_class(pc: Obj) -> None:
    pc.setdefault("preemptionPolicy", "PreemptLowerPriority")


def validate_priority_class(pc: Obj) -> list[Cause]:
    causes = validate_object_meta(pc["metadata"], namespaced=False)
    name = pc["metadata"].get("name", "")
    system = {n: v for n, v, _ in SYSTEM_PRIORITY_CLASSES}
    if name.startswith("system-"):
        if name not in system:
            causes.append(forbidden("metadata.name", "priority class names with 'system-' prefix are reserved for system use only"))
        elif pc.get("value") != system[name]:
            causes.append(forbidden("value", f"value of {name} PriorityClass must be {system[name]}"))
    elif "value" not in pc:
        causes.append(required("value"))
    elif pc["value"] > _HIGHEST_USER_PRIORITY:
        causes.append(forbidden("value", f"maximum allowed value of a user defined priority is {_HIGHEST_USER_PRIORITY}"))
    policy = pc.get("preemptionPolicy", "")
    if policy not in _PREEMPTION_POLICIES:
        causes.append(not_supported("preemptionPolicy", policy, _PREEMPTION_POLICIES))
    return causes


def validate_priority_class_update(new: Obj, old: Obj) -> list[Cause]:
    causes = validate_priority_class(new)
    if new.get("value") != old.get("value"):
        causes.append(forbidden("value", "may not be changed in an update."))
    if new.get("preemptionPolicy") != old.get("preemptionPolicy"):
        causes.append(invalid_value("preemptionPolicy", new.get("preemptionPolicy", ""), "field is immutable"))
    return causes


PRIORITY_CLASSES = ResourceDef(
    group="scheduling.k8s.io",
    version="v1",
    kind="PriorityClass",
    plural="priorityclasses",
    singular="priorityclass",
    namespaced=False,
    default=default_priority_class,
    validate=validate_priority_class,
    validate_update=validate_priority_class_update,
    short_names=("pc",),
)

# -- leases ----------------------------------------------------------------------------------


def validate_lease(lease: Obj) -> list[Cause]:
    causes = validate_object_meta(lease["metadata"], namespaced=True)
    spec = lease.get("spec") or {}
    duration = spec.get("leaseDurationSeconds")
    if duration is not None and duration <= 0:
        causes.append(invalid_value("spec.leaseDurationSeconds", duration, "must be greater than 0"))
    transitions = spec.get("leaseTransitions")
    if transitions is not None and transitions < 0:
        causes.append(invalid_value("spec.leaseTransitions", transitions, "must be greater than or equal to 0"))
    return causes


LEASES = ResourceDef(
    group="coordination.k8s.io",
    version="v1",
    kind="Lease",
    plural="leases",
    singular="lease",
    namespaced=True,
    validate=validate_lease,
    validate_update=lambda new, old: validate_lease(new),
)
