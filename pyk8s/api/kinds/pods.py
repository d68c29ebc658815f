"""core/v1 pods: defaulting, validation, strategy hooks and selectable fields.

Rules and messages follow k8s.io/kubernetes pkg/apis/core/v1/defaults.go,
pkg/apis/core/validation/validation.go and pkg/registry/core/pod/strategy.go.  The pod spec
defaulting and validation are shared with the pod templates of workloads
(``pyk8s.api.kinds.workloads``); parts of a spec not listed here pass through unvalidated.
"""

from __future__ import annotations

import copy
from typing import Any

from pyk8s.api.errors import Cause, duplicate, forbidden, invalid_value, not_supported, required
from pyk8s.api.registry import ResourceDef
from pyk8s.api.validation import (
    dns1123_label_errors,
    dns1123_subdomain_errors,
    port_name_errors,
    qualified_name_errors,
    validate_object_meta,
)

__all__ = ["PODS", "default_pod", "default_pod_spec", "validate_pod", "validate_pod_spec", "validate_pod_update"]

Obj = dict[str, Any]

# -- pods ------------------------------------------------------------------------------------

_RESTART_POLICIES = ("Always", "OnFailure", "Never")
_DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
_PULL_POLICIES = ("Always", "Never", "IfNotPresent")
_PROTOCOLS = ("SCTP", "TCP", "UDP")
_MESSAGE_POLICIES = ("File", "FallbackToLogsOnError")
_TAINT_EFFECTS = ("NoExecute", "NoSchedule", "PreferNoSchedule")
_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")


def _image_pull_policy(image: str) -> str:
    # Upstream: Always for ":latest" or no tag; a digest counts as a tag.
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.rpartition(":")[2] if ":" in last else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def _default_container(container: Obj) -> None:
    if "imagePullPolicy" not in container:  # the policy is worked out only when missing
        container["imagePullPolicy"] = _image_pull_policy(container.get("image", ""))
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    container.setdefault("resources", {})
    if "ports" in container:
        for port in container["ports"] or ():
            port.setdefault("protocol", "TCP")
    for key in _PROBES:
        if key not in container:
            continue
        probe = container[key]
        if isinstance(probe, dict):
            # SetDefaults_Probe
            probe.setdefault("timeoutSeconds", 1)
            probe.setdefault("periodSeconds", 10)
            probe.setdefault("successThreshold", 1)
            probe.setdefault("failureThreshold", 3)
            _default_http_get(probe.get("httpGet"))
    lifecycle = container.get("lifecycle")
    if isinstance(lifecycle, dict):
        for hook in ("postStart", "preStop"):
            if isinstance(lifecycle.get(hook), dict):
                _default_http_get(lifecycle[hook].get("httpGet"))


def _default_http_get(action: object) -> None:
    """SetDefaults_HTTPGetAction: path "/", scheme HTTP."""
    if isinstance(action, dict):
        if not action.get("path"):
            action["path"] = "/"
        action.setdefault("scheme", "HTTP")


def _qos_class(spec: Obj) -> str:
    """Upstream qos.GetPodQOS, simplified to cpu and memory as upstream counts them:
    BestEffort without any cpu/memory request or limit; Guaranteed when every container
    limits both and requests (which default to the limits) equal them; else Burstable."""
    containers = spec.get("containers") or []
    init_containers = spec.get("initContainers")
    if init_containers:
        containers = containers + init_containers
    any_compute = False
    guaranteed = True
    for container in containers:
        resources = container.get("resources")
        if not resources:
            guaranteed = False
            continue
        requests = resources.get("requests") or {}
        limits = resources.get("limits") or {}
        for name in ("cpu", "memory"):
            if name in limits:
                any_compute = True
                if name in requests and str(requests[name]) != str(limits[name]):
                    guaranteed = False
            else:
                guaranteed = False
                if name in requests:
                    any_compute = True
    if not any_compute:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def default_pod_spec(spec: Obj) -> None:
    """SetDefaults_PodSpec and the container defaults, for pods and pod templates."""
    for container in spec.get("containers") or ():
        _default_container(container)
    for container in spec.get("initContainers") or ():
        _default_container(container)
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    if spec.get("serviceAccount") and not spec.get("serviceAccountName"):
        spec["serviceAccountName"] = spec["serviceAccount"]


def default_pod(pod: Obj) -> None:
    spec = pod.setdefault("spec", {})
    default_pod_spec(spec)
    # SetDefaults_Pod (not the template's SetDefaults_PodSpec).
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    # A pod without its own service account runs as "default" (the ServiceAccount
    # admission plugin sets it; both fields, as upstream keeps the deprecated one in step).
    if not spec.get("serviceAccountName"):
        spec["serviceAccountName"] = "default"
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    status = pod.setdefault("status", {})
    status.setdefault("phase", "Pending")
    status.setdefault("qosClass", _qos_class(spec))


def prepare_pod_create(pod: Obj) -> None:
    """PrepareForCreate: a new pod's status is the server's (phase Pending, its QoS class,
    set by defaulting right after)."""
    pod.pop("status", None)


def prepare_pod_status_update(new: Obj, old: Obj) -> None:
    """podStatusStrategy.PrepareForUpdate: spec and owner references stay as they were."""
    spec = old.get("spec")
    if spec is None:
        new.pop("spec", None)
    else:
        new["spec"] = spec
    old_meta, meta = old.get("metadata") or {}, new["metadata"]
    if "ownerReferences" in old_meta:
        meta["ownerReferences"] = old_meta["ownerReferences"]
    else:
        meta.pop("ownerReferences", None)


def pod_deletion_grace(pod: Obj, requested: int | None) -> int:
    """Upstream podStrategy.CheckGracefulDeleteAndUpdate: the DeleteOptions' period, else the
    pod's terminationGracePeriodSeconds; 0 (delete at once) for a pod that no kubelet runs:
    unbound, or already Succeeded/Failed."""
    spec = pod.get("spec") or {}
    grace = requested if requested is not None else spec.get("terminationGracePeriodSeconds", 30)
    if not spec.get("nodeName") or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return 0
    return max(grace, 0)


def _validate_container(container: Obj, path: str, seen: set[str], port_names: set[str]) -> list[Cause]:
    causes: list[Cause] = []
    name = container.get("name", "")
    if not name:
        causes.append(required(f"{path}.name"))
    else:
        errs = dns1123_label_errors(name)
        if errs:
            causes.extend(invalid_value(f"{path}.name", name, msg) for msg in errs)
        if name in seen:
            causes.append(duplicate(f"{path}.name", name))
        seen.add(name)
    if not container.get("image", "").strip():
        causes.append(required(f"{path}.image"))
    policy = container.get("imagePullPolicy", "")
    if policy not in _PULL_POLICIES:
        causes.append(not_supported(f"{path}.imagePullPolicy", policy, _PULL_POLICIES))
    message_policy = container.get("terminationMessagePolicy", "File")
    if message_policy not in _MESSAGE_POLICIES:
        causes.append(not_supported(f"{path}.terminationMessagePolicy", message_policy, _MESSAGE_POLICIES))
    for index, port in enumerate(container.get("ports") or ()):
        port_path = f"{path}.ports[{index}]"
        port_name = port.get("name", "")
        if port_name:
            causes.extend(invalid_value(f"{port_path}.name", port_name, msg) for msg in port_name_errors(port_name))
            if port_name in port_names:
                causes.append(duplicate(f"{port_path}.name", port_name))
            port_names.add(port_name)
        number = port.get("containerPort", 0)
        if number == 0:
            causes.append(required(f"{port_path}.containerPort"))
        elif not 1 <= number <= 65535:
            causes.append(invalid_value(f"{port_path}.containerPort", number, "must be between 1 and 65535, inclusive"))
        host_port = port.get("hostPort", 0)
        if host_port != 0 and not 1 <= host_port <= 65535:
            causes.append(invalid_value(f"{port_path}.hostPort", host_port, "must be between 1 and 65535, inclusive"))
        protocol = port.get("protocol", "")
        if not protocol:
            causes.append(required(f"{port_path}.protocol"))
        elif protocol not in _PROTOCOLS:
            causes.append(not_supported(f"{port_path}.protocol", protocol, _PROTOCOLS))
    for index, env in enumerate(container.get("env") or ()):
        if not env.get("name"):
            causes.append(required(f"{path}.env[{index}].name"))
    return causes


def validate_pod(pod: Obj) -> list[Cause]:
    causes = validate_object_meta(pod["metadata"], namespaced=True)
    causes.extend(validate_pod_spec(pod.get("spec") or {}, "spec"))
    return causes


def validate_pod_spec(spec: Obj, prefix: str) -> list[Cause]:
    """ValidatePodSpec (the parts served); ``prefix`` is the spec's field path."""
    causes: list[Cause] = []
    containers = spec.get("containers") or []
    seen: set[str] = set()
    port_names: set[str] = set()
    for index, container in enumerate(spec.get("initContainers") or ()):
        causes.extend(_validate_container(container, f"{prefix}.initContainers[{index}]", seen, port_names))
    if not containers:
        causes.append(required(f"{prefix}.containers"))
    for index, container in enumerate(containers):
        causes.extend(_validate_container(container, f"{prefix}.containers[{index}]", seen, port_names))
    restart_policy = spec.get("restartPolicy", "")
    if restart_policy not in _RESTART_POLICIES:
        causes.append(not_supported(f"{prefix}.restartPolicy", restart_policy, _RESTART_POLICIES))
    dns_policy = spec.get("dnsPolicy", "")
    if dns_policy not in _DNS_POLICIES:
        causes.append(not_supported(f"{prefix}.dnsPolicy", dns_policy, _DNS_POLICIES))
    grace = spec.get("terminationGracePeriodSeconds")
    if grace is not None and grace < 0:
        causes.append(invalid_value(f"{prefix}.terminationGracePeriodSeconds", grace, "must be greater than or equal to 0"))
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and deadline < 1:
        causes.append(invalid_value(f"{prefix}.activeDeadlineSeconds", deadline, "must be between 1 and 2147483647, inclusive"))
    node_name = spec.get("nodeName", "")
    if node_name:
        errs = dns1123_subdomain_errors(node_name)
        if errs:
            causes.extend(invalid_value(f"{prefix}.nodeName", node_name, msg) for msg in errs)
    if "nodeSelector" in spec:
        for key, value in (spec["nodeSelector"] or {}).items():
            causes.extend(invalid_value(f"{prefix}.nodeSelector", key, msg) for msg in qualified_name_errors(key))
    return causes


_POD_UPDATE_FORBIDDEN = (
    "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,"
    "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),"
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
)


def validate_pod_update(new: Obj, old: Obj) -> list[Cause]:
    """Upstream ValidatePodUpdate: a pod's spec is immutable but for a few fields."""
    causes = validate_pod(new)
    new_spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    if new_spec == old_spec:
        return causes
    # Copy the mutable fields from new into old; anything else that differs is forbidden.
    relaxed = copy.deepcopy(old_spec)
    for key in ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds"):
        if key in new_spec:
            relaxed[key] = new_spec[key]
        else:
            relaxed.pop(key, None)
    for key in ("containers", "initContainers"):
        new_list, old_list = new_spec.get(key) or [], relaxed.get(key) or []
        if len(new_list) == len(old_list):
            for new_c, old_c in zip(new_list, old_list):
                if "image" in new_c:
                    old_c["image"] = new_c["image"]
    if relaxed != new_spec:
        causes.append(forbidden("spec", _POD_UPDATE_FORBIDDEN))
    return causes


_SPEC_FIELDS = (("spec.nodeName", "nodeName"), ("spec.restartPolicy", "restartPolicy"),
                ("spec.schedulerName", "schedulerName"), ("spec.serviceAccountName", "serviceAccountName"))
_STATUS_FIELDS = (("status.phase", "phase"), ("status.podIP", "podIP"),
                  ("status.nominatedNodeName", "nominatedNodeName"))


def pod_fields(pod: Obj) -> dict[str, str]:
    """The selectable fields that have a value.  An empty one is left out: the store
    compares a field it was not given as "" (the storage protocol), so selection is the
    same, and every pair given costs the store an index entry (a new pod has no node, IP
    or nomination yet)."""
    spec = pod.get("spec") or _EMPTY
    status = pod.get("status") or _EMPTY
    fields = {}
    for name, key in _SPEC_FIELDS:
        value = spec.get(key, "")
        if value != "":
            fields[name] = value
    fields["spec.hostNetwork"] = "true" if spec.get("hostNetwork") else "false"
    for name, key in _STATUS_FIELDS:
        value = status.get(key, "")
        if value != "":
            fields[name] = value
    return fields


_EMPTY: Obj = {}


PODS = ResourceDef(
    group="",
    version="v1",
    kind="Pod",
    plural="pods",
    singular="pod",
    namespaced=True,
    default=default_pod,
    prepare_create=prepare_pod_create,
    prepare_status_update=prepare_pod_status_update,
    deletion_grace=pod_deletion_grace,
    validate=validate_pod,
    validate_update=validate_pod_update,
    fields=pod_fields,
    selectable_fields=frozenset(
        (
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        )
    ),
    # The kubelet's spec.nodeName=<node> and phase selectors; the other fields hold one
    # value for nearly every pod, where an index would not narrow a list.
    indexed_fields=frozenset(("spec.nodeName", "status.phase")),
    short_names=("po",),
    categories=("all",),
    # pods/log answers text/plain, but discovery lists it with kind Pod, as upstream.
    subresources=(("binding", "Binding"), ("eviction", "Eviction"), ("log", "Pod"), ("status", "Pod")),
    return_deleted_object=True,
)


# The legacy core/v1 ``bindings`` collection: POST /api/v1/namespaces/{ns}/bindings with a
# Binding named after the pod does what pods/{name}/binding does (upstream serves both from
# the same BindingREST; the official client's create_namespaced_binding uses this one).
# Create only: nothing is stored under it.
BINDINGS = ResourceDef(
    group="",
    version="v1",
    kind="Binding",
    plural="bindings",
    singular="binding",
    namespaced=True,
    verbs=("create",),
)
