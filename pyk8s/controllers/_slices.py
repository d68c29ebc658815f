"""The slices a Service wants, and the writes that get them there: upstream k8s.io/endpointslice's
Reconciler (reconcileByAddressType, reconcileByPortMapping, the placeholder slice) as plain
functions over dicts, for ``pyk8s.controllers.endpointslice``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from ._pods import is_pod_ready
from .endpoints import _is_ipv6, _pod_ips, find_port

__all__ = [
    "LABEL_SERVICE_NAME", "LABEL_MANAGED_BY", "MANAGED_BY", "HEADLESS_LABEL", "ZONE_LABEL", "Plan",
    "address_types", "endpoint_ports", "new_slice", "owned_by", "pod_endpoint", "reconcile_slices", "slice_labels",
]

LABEL_SERVICE_NAME = "kubernetes.io/service-name"
LABEL_MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"
HEADLESS_LABEL = "service.kubernetes.io/headless"
ZONE_LABEL = "topology.kubernetes.io/zone"
_RESERVED_LABELS = (LABEL_SERVICE_NAME, LABEL_MANAGED_BY, HEADLESS_LABEL)

Obj = dict[str, Any]


def _copy(obj: Obj) -> Obj:
    return orjson.loads(orjson.dumps(obj))


# -- what a Service wants ----------------------------------------------------------------------


def address_types(service: Obj) -> list[str]:
    """Upstream getAddressTypesForService: the Service's IP families; without them (a server
    that predates them) the family of the cluster IP, or both for a headless Service."""
    spec = service.get("spec") or {}
    found = [f"IPv{family[-1]}" for family in spec.get("ipFamilies") or () if family in ("IPv4", "IPv6")]
    if found:
        return list(dict.fromkeys(found))
    cluster_ip = spec.get("clusterIP") or ""
    if cluster_ip and cluster_ip != "None":
        return ["IPv6" if _is_ipv6(cluster_ip) else "IPv4"]
    return ["IPv4", "IPv6"]


def slice_labels(service: Obj) -> dict[str, str]:
    """Upstream setEndpointSliceLabels: the Service's labels (less the reserved ones), the
    headless marker, the service name and the manager."""
    labels = {key: value for key, value in (service["metadata"].get("labels") or {}).items()
              if key not in _RESERVED_LABELS}
    if (service.get("spec") or {}).get("clusterIP") in (None, "", "None"):
        labels[HEADLESS_LABEL] = ""
    labels[LABEL_SERVICE_NAME] = service["metadata"]["name"]
    labels[LABEL_MANAGED_BY] = MANAGED_BY
    return labels


def _owner_reference(service: Obj) -> Obj:
    meta = service["metadata"]
    return {"apiVersion": "v1", "kind": "Service", "name": meta["name"], "uid": meta.get("uid", ""),
            "controller": True, "blockOwnerDeletion": True}


def owned_by(endpoint_slice: Obj, service: Obj) -> bool:
    uid = service["metadata"].get("uid")
    return any(ref.get("uid") == uid and ref.get("kind") == "Service" and ref.get("apiVersion") == "v1"
               for ref in endpoint_slice["metadata"].get("ownerReferences") or ())


def new_slice(service: Obj, ports: list[Obj], address_type: str) -> Obj:
    """Upstream newEndpointSlice (no name yet: the server draws one from generateName)."""
    meta = service["metadata"]
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"generateName": f"{meta['name']}-", "namespace": meta.get("namespace"),
                     "labels": slice_labels(service), "ownerReferences": [_owner_reference(service)]},
        "addressType": address_type, "endpoints": [], "ports": list(ports),
    }


def endpoint_ports(service: Obj, pod: Obj) -> list[Obj]:
    """Upstream getEndpointPorts: every service port the pod serves, its target resolved."""
    spec = service.get("spec") or {}
    ports = []
    for service_port in spec.get("ports") or ():
        number = find_port(pod, service_port)
        if number is None:
            continue
        port: Obj = {"name": service_port.get("name", ""), "protocol": service_port.get("protocol") or "TCP",
                     "port": number}
        if service_port.get("appProtocol"):
            port["appProtocol"] = service_port["appProtocol"]
        ports.append(port)
    return ports


def pod_endpoint(pod: Obj, node: Obj | None, service: Obj, address_type: str) -> Obj:
    """Upstream podToEndpoint; ``addresses`` is empty when the pod has no IP of the type."""
    meta, spec = pod["metadata"], pod.get("spec") or {}
    want_v6 = address_type == "IPv6"
    serving = is_pod_ready(pod)
    terminating = bool(meta.get("deletionTimestamp"))
    ready = bool((service.get("spec") or {}).get("publishNotReadyAddresses")) or (serving and not terminating)
    endpoint: Obj = {
        "addresses": [ip for ip in _pod_ips(pod) if _is_ipv6(ip) == want_v6],
        "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
    }
    service_meta = service["metadata"]
    if (spec.get("hostname") and spec.get("subdomain") == service_meta["name"]
            and meta.get("namespace") == service_meta.get("namespace")):
        endpoint["hostname"] = spec["hostname"]
    endpoint["targetRef"] = {"kind": "Pod", "namespace": meta.get("namespace"), "name": meta["name"],
                             "uid": meta.get("uid")}
    if spec.get("nodeName"):
        endpoint["nodeName"] = spec["nodeName"]
    zone = ((node or {}).get("metadata", {}).get("labels") or {}).get(ZONE_LABEL)
    if zone:
        endpoint["zone"] = zone
    return endpoint


def _endpoint_key(endpoint: Obj) -> tuple:
    """Upstream hashEndpoint: what makes an endpoint the same one (its conditions and
    topology may change in place)."""
    target = endpoint.get("targetRef") or {}
    return (tuple(sorted(endpoint.get("addresses") or ())), endpoint.get("hostname", ""),
            target.get("namespace", ""), target.get("name", ""))


def _ports_key(ports: list[Obj]) -> tuple:
    return tuple(sorted((p.get("name", ""), p.get("protocol", ""), p.get("port"), p.get("appProtocol", ""))
                        for p in ports))


def _should_be_in_slices(pod: Obj) -> bool:
    """Upstream ShouldPodBeInEndpoints(pod, includeTerminating=true)."""
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed") and bool(_pod_ips(pod))


# -- reconciling -------------------------------------------------------------------------------


class Plan:
    """What one sync writes: slices to create, update and delete, and the pods left out for
    want of their node (reported, and the Service retried)."""

    def __init__(self) -> None:
        self.create: list[Obj] = []
        self.update: list[Obj] = []
        self.delete: list[Obj] = []
        self.skipped: list[str] = []

    def __bool__(self) -> bool:
        return bool(self.create or self.update or self.delete)


def reconcile_slices(
    service: Obj, pods: list[Obj], existing: list[Obj], node: Callable[[str], Obj | None], max_per_slice: int,
) -> Plan:
    """Upstream Reconciler.Reconcile: the writes that make ``existing`` (the Service's
    managed slices) list ``pods`` (those its selector matches); ``node`` finds a Node by
    name (None when unknown)."""
    plan = Plan()
    wanted = address_types(service)
    by_type: dict[str, list[Obj]] = {address_type: [] for address_type in wanted}
    for endpoint_slice in existing:
        if endpoint_slice.get("addressType") in by_type:
            by_type[endpoint_slice["addressType"]].append(endpoint_slice)
        else:
            plan.delete.append(endpoint_slice)
    for address_type in wanted:
        _reconcile_address_type(plan, service, pods, by_type[address_type], node, address_type, max_per_slice)
    return plan


def _reconcile_address_type(
    plan: Plan, service: Obj, pods: list[Obj], existing: list[Obj], find_node: Callable[[str], Obj | None],
    address_type: str, max_per_slice: int,
) -> None:
    to_delete: list[Obj] = []
    existing_by_ports: dict[tuple, list[Obj]] = {}
    for endpoint_slice in existing:
        if owned_by(endpoint_slice, service):
            existing_by_ports.setdefault(_ports_key(endpoint_slice.get("ports") or []), []).append(endpoint_slice)
        else:  # a slice of an earlier Service of the same name, still waiting for the GC
            to_delete.append(endpoint_slice)

    publish_not_ready = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    desired: dict[tuple, tuple[list[Obj], dict[tuple, Obj]]] = {}
    namespace, name = service["metadata"].get("namespace"), service["metadata"]["name"]
    for pod in pods:
        if not _should_be_in_slices(pod):
            continue
        ports = endpoint_ports(service, pod)
        group = desired.setdefault(_ports_key(ports), (ports, {}))[1]
        node_name = (pod.get("spec") or {}).get("nodeName") or ""
        node = find_node(node_name) if node_name else None
        if node is None and not publish_not_ready:
            plan.skipped.append(f'skipping Pod {pod["metadata"]["name"]} for Service {namespace}/{name}: '
                                f'node "{node_name}" not found')
            continue
        endpoint = pod_endpoint(pod, node, service, address_type)
        if endpoint["addresses"]:
            group[_endpoint_key(endpoint)] = endpoint

    to_create: list[Obj] = []
    for key, (ports, endpoints) in desired.items():
        created, updated, deleted = _reconcile_port_group(
            service, existing_by_ports.get(key, []), endpoints, ports, address_type, max_per_slice)
        to_create += created
        plan.update += updated
        to_delete += deleted
    for key, slices in existing_by_ports.items():
        if key not in desired:
            to_delete += slices

    # A Service with no endpoints of this type still has one (empty) slice of it.
    if len(existing) == len(to_delete) and not to_create:
        placeholder = new_slice(service, [], address_type)
        if len(to_delete) == 1 and _same_placeholder(to_delete[0], placeholder):
            to_delete = []
        else:
            to_create.append(placeholder)
    plan.create += to_create
    plan.delete += to_delete


def _same_placeholder(endpoint_slice: Obj, placeholder: Obj) -> bool:
    # Upstream placeholderSliceCompare: of the metadata only namespace and labels count.
    return (endpoint_slice["metadata"].get("namespace") == placeholder["metadata"].get("namespace")
            and (endpoint_slice["metadata"].get("labels") or {}) == placeholder["metadata"]["labels"]
            and endpoint_slice.get("addressType") == placeholder["addressType"]
            and not endpoint_slice.get("endpoints") and not endpoint_slice.get("ports"))


def _reconcile_port_group(
    service: Obj, existing: list[Obj], desired: dict[tuple, Obj], ports: list[Obj], address_type: str,
    max_per_slice: int,
) -> tuple[list[Obj], list[Obj], list[Obj]]:
    """Upstream reconcileByPortMapping, for slices sharing one port list:

    1. keep each existing slice's endpoints that are still wanted (updated in place), drop the
       rest; a slice left empty is deleted, a changed one updated, the others unchanged;
    2. top up the slices being updated anyway, fullest first;
    3. put what is left into the unchanged slice it fills most closely, else into new ones."""
    desired = dict(desired)
    labels = slice_labels(service)
    slices: dict[str, Obj] = {}
    unchanged: list[str] = []
    to_update: list[str] = []
    to_delete: list[Obj] = []
    for endpoint_slice in existing:
        name = endpoint_slice["metadata"]["name"]
        slices[name] = endpoint_slice
        kept, changed = [], False
        for endpoint in endpoint_slice.get("endpoints") or ():
            wanted = desired.pop(_endpoint_key(endpoint), None)
            if wanted is not None:
                kept.append(wanted)
                changed = changed or wanted != endpoint
        current_endpoints = endpoint_slice.get("endpoints") or []
        if changed or len(kept) != len(current_endpoints):
            if not kept:
                to_delete.append(endpoint_slice)
                continue
            slices[name] = _with(endpoint_slice, endpoints=kept, labels=labels)
            to_update.append(name)
        elif (endpoint_slice["metadata"].get("labels") or {}) != labels:
            slices[name] = _with(endpoint_slice, endpoints=current_endpoints, labels=labels)
            to_update.append(name)
        else:
            unchanged.append(name)

    pending = list(desired.values())
    if pending and to_update:
        for target in sorted((slices[name] for name in to_update), key=lambda s: -len(s["endpoints"])):
            room = max_per_slice - len(target["endpoints"])
            if room > 0:
                target["endpoints"] += pending[:room]
                pending = pending[room:]

    to_create: list[Obj] = []
    while pending:
        target = None
        if len(pending) < max_per_slice and unchanged:
            target = _slice_to_fill([slices[name] for name in unchanged], len(pending), max_per_slice)
        if target is None:
            target = new_slice(service, ports, address_type)
            to_create.append(target)
        else:
            name = target["metadata"]["name"]
            target = slices[name] = _with(target, endpoints=list(target.get("endpoints") or ()))
            unchanged.remove(name)
            to_update.append(name)
        room = max_per_slice - len(target["endpoints"])
        target["endpoints"] += pending[:room]
        pending = pending[room:]
    return to_create, [slices[name] for name in to_update], to_delete


def _with(endpoint_slice: Obj, *, endpoints: list[Obj], labels: dict[str, str] | None = None) -> Obj:
    changed = _copy(endpoint_slice)
    changed["endpoints"] = list(endpoints)
    if labels is not None:
        changed["metadata"]["labels"] = dict(labels)
    return changed


def _slice_to_fill(candidates: list[Obj], count: int, max_per_slice: int) -> Obj | None:
    """Upstream getSliceToFill: the slice that ``count`` more endpoints fill most closely."""
    best, best_room = None, max_per_slice
    for candidate in candidates:
        room = max_per_slice - (count + len(candidate.get("endpoints") or ()))
        if 0 <= room < best_room:
            best, best_room = candidate, room
            if room == 0:
                break
    return best
