"""Pod admission on the node (pkg/kubelet/lifecycle/predicate.go): may this pod run here?

The checks and their reasons are upstream's, in its order, and the first failure is the
pod's: ``PodOSNotSupported``; ``NodeAffinity`` (nodeSelector and required node affinity);
``TaintToleration`` (only NoExecute taints); ``NodePorts`` (a hostPort another admitted pod
holds); then resources against allocatable less what the admitted pods request:
``OutOfpods``, ``OutOfcpu``, ``OutOfmemory``, ``OutOfephemeral-storage``, ``OutOf<extended>``
with ``Node didn't have enough resource: ...``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pyk8s.scheduler._objects import SchedulingInputError, label_int, pod_requests, resource_amount

__all__ = ["admit", "host_ports"]

Obj = dict[str, Any]

_AFFINITY_MESSAGE = "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector"
_TAINT_MESSAGE = "Predicate TaintToleration failed: node(s) had untolerated taint(s)"
_PORTS_MESSAGE = "Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports"


def _expression_matches(expression: Mapping, labels: Mapping[str, str]) -> bool:
    key, operator = expression.get("key", ""), expression.get("operator", "")
    values = expression.get("values") or []
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":
        return labels.get(key) not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    if operator in ("Gt", "Lt") and key in labels and len(values) == 1:
        have, want = label_int(labels[key]), label_int(values[0])
        if have is None or want is None:
            return False
        return have > want if operator == "Gt" else have < want
    return False


def _term_matches(term: Mapping, node: Mapping) -> bool:
    expressions = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not expressions and not fields:
        return False  # an empty term matches nothing
    labels = (node.get("metadata") or {}).get("labels") or {}
    name_labels = {"metadata.name": (node.get("metadata") or {}).get("name", "")}
    return all(_expression_matches(e, labels) for e in expressions) and all(
        _expression_matches(f, name_labels) for f in fields
    )


def _node_affinity_fits(spec: Mapping, node: Mapping) -> bool:
    labels = (node.get("metadata") or {}).get("labels") or {}
    if any(labels.get(k) != v for k, v in (spec.get("nodeSelector") or {}).items()):
        return False
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))
    if required is None:
        return True
    return any(_term_matches(term, node) for term in required.get("nodeSelectorTerms") or ())


def _tolerates(tolerations: Iterable[Mapping], taint: Mapping) -> bool:
    for toleration in tolerations:
        effect = toleration.get("effect", "")
        if effect and effect != taint.get("effect"):
            continue
        key = toleration.get("key", "")
        if toleration.get("operator", "Equal") == "Exists":
            if not key or key == taint.get("key"):
                return True
        elif key == taint.get("key") and toleration.get("value", "") == taint.get("value", ""):
            return True
    return False


def host_ports(pod: Mapping) -> set[tuple[str, str, int]]:
    """(protocol, hostIP, hostPort) of every host port the pod asks for."""
    ports = set()
    spec = pod.get("spec") or {}
    for container in [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]:
        for port in container.get("ports") or ():
            if port.get("hostPort"):
                ports.add((port.get("protocol", "TCP"), port.get("hostIP") or "0.0.0.0", port["hostPort"]))
    return ports


def _ports_conflict(wanted: set, used: set) -> bool:
    for protocol, ip, number in wanted:
        for used_protocol, used_ip, used_number in used:
            if protocol == used_protocol and number == used_number and (
                ip == used_ip or "0.0.0.0" in (ip, used_ip)
            ):
                return True
    return False


def _resource_shortage(pod: Mapping, node: Mapping, admitted: list[Mapping], max_pods: int) -> tuple[str, str] | None:
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    if len(admitted) + 1 > max_pods:
        return "OutOfpods", f"Node didn't have enough resource: pods, requested: 1, used: {len(admitted)}, capacity: {max_pods}"
    try:
        wanted = pod_requests(pod.get("spec") or {})
        used: dict[str, int] = {}
        for other in admitted:
            for name, amount in pod_requests(other.get("spec") or {}).items():
                used[name] = used.get(name, 0) + amount
        ordered = ["cpu", "memory", "ephemeral-storage"] + sorted(set(wanted) - {"cpu", "memory", "ephemeral-storage", "pods"})
        for name in ordered:
            request = wanted.get(name, 0)
            if request <= 0:
                continue
            capacity = resource_amount(name, allocatable[name]) if name in allocatable else 0
            if request + used.get(name, 0) > capacity:
                return (f"OutOf{name}", f"Node didn't have enough resource: {name}, requested: {request}, "
                        f"used: {used.get(name, 0)}, capacity: {capacity}")
    except SchedulingInputError as error:
        return "UnexpectedAdmissionError", str(error)
    return None


def admit(pod: Mapping, node: Mapping, admitted: list[Mapping], max_pods: int) -> tuple[str, str] | None:
    """None if ``pod`` may run on ``node`` next to the ``admitted`` pods, else
    (reason, message) for its rejection."""
    spec = pod.get("spec") or {}
    node_os = ((node.get("status") or {}).get("nodeInfo") or {}).get("operatingSystem", "linux")
    pod_os = (spec.get("os") or {}).get("name")
    if pod_os and pod_os != node_os:
        return "PodOSNotSupported", "Failed to admit pod as the OS field doesn't match node OS"
    if not _node_affinity_fits(spec, node):
        return "NodeAffinity", _AFFINITY_MESSAGE
    tolerations = spec.get("tolerations") or ()
    for taint in (node.get("spec") or {}).get("taints") or ():
        if taint.get("effect") == "NoExecute" and not _tolerates(tolerations, taint):
            return "TaintToleration", _TAINT_MESSAGE
    used_ports: set = set()
    for other in admitted:
        used_ports |= host_ports(other)
    if _ports_conflict(host_ports(pod), used_ports):
        return "NodePorts", _PORTS_MESSAGE
    return _resource_shortage(pod, node, admitted, max_pods)
