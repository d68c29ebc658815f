"""core/v1 services: defaulting and validation (pkg/apis/core/v1/defaults.go SetDefaults_Service,
pkg/apis/core/validation ValidateService).  ClusterIP and NodePort allocation is the API
server's (``pyk8s.apiserver.admission``), as upstream's service REST storage does it."""

from __future__ import annotations

from typing import Any

from pyk8s.api.errors import Cause, invalid_value, not_supported, required
from pyk8s.api.registry import ResourceDef
from pyk8s.api.validation import dns1123_label_errors, port_name_errors, validate_object_meta

__all__ = ["SERVICES", "SERVICE_TYPES", "needs_node_ports", "needs_cluster_ip"]

Obj = dict[str, Any]

SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
_PROTOCOLS = ("SCTP", "TCP", "UDP")
_AFFINITIES = ("ClientIP", "None")
_TRAFFIC_POLICIES = ("Cluster", "Local")


def needs_node_ports(spec: Obj) -> bool:
    service_type = spec.get("type", "ClusterIP")
    return service_type == "NodePort" or (
        service_type == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts", True)
    )


def needs_cluster_ip(spec: Obj) -> bool:
    return spec.get("type", "ClusterIP") != "ExternalName" and spec.get("clusterIP") != "None"


def default_service(service: Obj) -> None:
    spec = service.get("spec")
    if not isinstance(spec, dict):
        spec = service["spec"] = {}
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    service_type = spec["type"]
    if service_type != "ExternalName":
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if service_type in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if service_type == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    for port in spec.get("ports") or ():
        port.setdefault("protocol", "TCP")
        if "targetPort" not in port or port["targetPort"] in (0, ""):
            port["targetPort"] = port.get("port", 0)
    # clusterIP and clusterIPs say the same thing; either may be given.
    if spec.get("clusterIP") and not spec.get("clusterIPs"):
        spec["clusterIPs"] = [spec["clusterIP"]]
    elif spec.get("clusterIPs") and not spec.get("clusterIP"):
        spec["clusterIP"] = spec["clusterIPs"][0]
    if service_type != "ExternalName":
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("ipFamilies", ["IPv4"])
    service.setdefault("status", {"loadBalancer": {}})


def prepare_service_create(service: Obj) -> None:
    service["status"] = {"loadBalancer": {}}


def validate_service(service: Obj) -> list[Cause]:
    causes = validate_object_meta(service["metadata"], namespaced=True, name_errors=dns1123_label_errors)
    spec = service.get("spec") or {}
    service_type = spec.get("type", "")
    if service_type not in SERVICE_TYPES:
        causes.append(not_supported("spec.type", service_type, SERVICE_TYPES))
    ports = spec.get("ports") or []
    if service_type == "ExternalName":
        if not spec.get("externalName"):
            causes.append(required("spec.externalName"))
    elif not ports and spec.get("clusterIP") != "None":
        causes.append(required("spec.ports"))
    names: set[str] = set()
    seen: set[tuple[int, str]] = set()
    for index, port in enumerate(ports):
        path = f"spec.ports[{index}]"
        name = port.get("name", "")
        if len(ports) > 1 and not name:
            causes.append(required(f"{path}.name"))
        elif name:
            causes.extend(invalid_value(f"{path}.name", name, msg) for msg in dns1123_label_errors(name))
            if name in names:
                causes.append(invalid_value(f"{path}.name", name, "Duplicate value"))
            names.add(name)
        number = port.get("port", 0)
        if not 1 <= number <= 65535:
            causes.append(invalid_value(f"{path}.port", number, "must be between 1 and 65535, inclusive"))
        protocol = port.get("protocol", "")
        if protocol not in _PROTOCOLS:
            causes.append(not_supported(f"{path}.protocol", protocol, _PROTOCOLS))
        if (number, protocol) in seen:
            causes.append(invalid_value(f"{path}", f"{number}/{protocol}", "Duplicate value"))
        seen.add((number, protocol))
        target = port.get("targetPort", 0)
        if isinstance(target, int) and not 1 <= target <= 65535:
            causes.append(invalid_value(f"{path}.targetPort", target, "must be between 1 and 65535, inclusive"))
        elif isinstance(target, str):
            causes.extend(invalid_value(f"{path}.targetPort", target, msg) for msg in port_name_errors(target))
        if port.get("nodePort") and service_type not in ("NodePort", "LoadBalancer"):
            causes.append(
                invalid_value(f"{path}.nodePort", port["nodePort"], "may not be used when `type` is 'ClusterIP'")
            )
    for key in ("sessionAffinity",):
        if spec.get(key, "None") not in _AFFINITIES:
            causes.append(not_supported(f"spec.{key}", spec.get(key), _AFFINITIES))
    for key in ("externalTrafficPolicy", "internalTrafficPolicy"):
        if key in spec and spec[key] not in _TRAFFIC_POLICIES:
            causes.append(not_supported(f"spec.{key}", spec[key], _TRAFFIC_POLICIES))
    if spec.get("clusterIP") == "None" and service_type != "ClusterIP":
        causes.append(invalid_value("spec.clusterIPs[0]", "None", "may only be set to 'None' for services of type 'ClusterIP'"))
    return causes


def validate_service_update(new: Obj, old: Obj) -> list[Cause]:
    causes = validate_service(new)
    new_spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    # ValidateServiceUpdate: an allocated IP stays (changing to/from ExternalName aside).
    if old_spec.get("clusterIP") and new_spec.get("type") != "ExternalName" and old_spec.get("type") != "ExternalName":
        if new_spec.get("clusterIPs") != old_spec.get("clusterIPs"):
            causes.append(invalid_value("spec.clusterIPs[0]", new_spec.get("clusterIP", ""), "field is immutable"))
    return causes


SERVICES = ResourceDef(
    group="",
    version="v1",
    kind="Service",
    plural="services",
    singular="service",
    namespaced=True,
    default=default_service,
    validate=validate_service,
    validate_update=validate_service_update,
    short_names=("svc",),
    categories=("all",),
    subresources=(("status", "Service"),),
    prepare_create=prepare_service_create,
    # pkg/registry/core/service/storage: ReturnDeletedObject, as pods.
    return_deleted_object=True,
)
