"""discovery.k8s.io/v1 endpointslices: defaulting, the v1 strategy and validation, as upstream
pkg/apis/discovery/v1/defaults.go, pkg/registry/discovery/endpointslice/strategy.go and
pkg/apis/discovery/validation.

Written by the EndpointSlice controller (``pyk8s.controllers.endpointslice``) for Services
with a selector, and by anyone else for the rest; ``kubectl describe service`` reads them.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from pyk8s.api.errors import Cause, duplicate, invalid_value, not_supported, required, too_many
from pyk8s.api.registry import ResourceDef
from pyk8s.api.validation import (
    dns1123_label_errors,
    dns1123_subdomain_errors,
    label_value_errors,
    qualified_name_errors,
    validate_object_meta,
)

__all__ = ["ENDPOINT_SLICES", "ADDRESS_TYPES", "MAX_ENDPOINTS"]

Obj = dict[str, Any]

ADDRESS_TYPES = ("FQDN", "IPv4", "IPv6")  # sorted, as NotSupported lists them
_PROTOCOLS = ("SCTP", "TCP", "UDP")
MAX_ENDPOINTS = 1000
_MAX_ADDRESSES = 100
# The API documentation still says 100 ports; upstream validation (maxPorts) allows 20000.
_MAX_PORTS = 20000
_MAX_HINTS = 8


def default_endpoint_slice(endpoint_slice: Obj) -> None:
    """SetDefaults_EndpointPort: every port has a name ("" when unnamed) and a protocol.
    Clients rely on the name being there (``kubectl describe service`` dereferences it)."""
    for port in endpoint_slice.get("ports") or ():
        port.setdefault("name", "")
        port.setdefault("protocol", "TCP")


def drop_topology(endpoint_slice: Obj, _old: Obj | None = None) -> None:
    """The strategy's dropTopologyOnV1: writes through v1 drop ``deprecatedTopology`` (only
    v1beta1 may set it, and pyk8s serves no v1beta1, so no stored slice carries it)."""
    for endpoint in endpoint_slice.get("endpoints") or ():
        endpoint.pop("deprecatedTopology", None)


# -- validation -------------------------------------------------------------------------------


def _ip_errors(address: str, version: int) -> list[str]:
    """IsValidIPv4Address / IsValidIPv6Address, then ValidateNonSpecialIP.

    Upstream also rejects loopback addresses.  pyk8s does not: its process runtime runs
    pods as local processes whose IP is the node's address, 127.0.0.1 by default, and
    refusing those would leave every Service on such a node without endpoints."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        ip = None
    errs = []
    if ip is None or ip.version != version:
        errs.append(f"must be a valid IPv{version} address")
    if ip is None:
        return errs + ["must be a valid IP address"]
    if ip.is_unspecified:
        errs.append(f"may not be unspecified ({address})")
    if ip.is_link_local:
        errs.append("may not be in the link-local range (169.254.0.0/16, fe80::/10)")
    if _is_link_local_multicast(ip):
        errs.append("may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)")
    return errs


def _is_link_local_multicast(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    # Go's IP.IsLinkLocalMulticast: 224.0.0.0/24, or IPv6 multicast of link-local scope (ffX2::).
    packed = ip.packed
    if ip.version == 4:
        return packed[:3] == b"\xe0\x00\x00"
    return packed[0] == 0xFF and packed[1] & 0x0F == 0x02


def _fqdn_causes(path: str, name: str) -> list[Cause]:
    """IsFullyQualifiedDomainName: a DNS subdomain of at least two labels (a trailing dot
    allowed)."""
    if not name:
        return [required(path)]
    name = name.removesuffix(".")
    errs = dns1123_subdomain_errors(name)
    if errs:
        return [invalid_value(path, name, ",".join(errs))]
    labels = name.split(".")
    if len(labels) < 2:
        return [invalid_value(path, name, "should be a domain with at least two segments separated by dots")]
    for label in labels:
        errs = dns1123_label_errors(label)
        if errs:
            return [invalid_value(path, label, ",".join(errs))]
    return []


def _validate_hints(hints: Obj, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for field, name_errors in (("forZones", label_value_errors), ("forNodes", dns1123_subdomain_errors)):
        entries = hints.get(field) or ()
        if len(entries) > _MAX_HINTS:
            causes.append(too_many(f"{path}.{field}", len(entries), _MAX_HINTS))
            continue
        seen: set[str] = set()
        for index, entry in enumerate(entries):
            entry_path = f"{path}.{field}[{index}].name"
            name = entry.get("name", "")
            if name in seen:
                causes.append(duplicate(entry_path, name))
            seen.add(name)
            causes.extend(invalid_value(entry_path, name, msg) for msg in name_errors(name))
    return causes


def _validate_endpoints(endpoints: list[Obj], address_type: str) -> list[Cause]:
    if len(endpoints) > MAX_ENDPOINTS:
        return [too_many("endpoints", len(endpoints), MAX_ENDPOINTS)]
    causes: list[Cause] = []
    for index, endpoint in enumerate(endpoints):
        path = f"endpoints[{index}]"
        addresses = endpoint.get("addresses") or ()
        if not addresses:
            causes.append(required(f"{path}.addresses", "must contain at least 1 address"))
        elif len(addresses) > _MAX_ADDRESSES:
            causes.append(too_many(f"{path}.addresses", len(addresses), _MAX_ADDRESSES))
        for a_index, address in enumerate(addresses):
            address_path = f"{path}.addresses[{a_index}]"
            # Unknown address types (already reported) are not checked further, as upstream.
            if address_type in ("IPv4", "IPv6"):
                causes.extend(invalid_value(address_path, address, msg)
                              for msg in _ip_errors(address, 4 if address_type == "IPv4" else 6))
            elif address_type == "FQDN":
                causes.extend(_fqdn_causes(address_path, address))
        if "nodeName" in endpoint:
            causes.extend(invalid_value(f"{path}.nodeName", endpoint["nodeName"], msg)
                          for msg in dns1123_subdomain_errors(endpoint["nodeName"]))
        if "hostname" in endpoint:
            causes.extend(invalid_value(f"{path}.hostname", endpoint["hostname"], msg)
                          for msg in dns1123_label_errors(endpoint["hostname"]))
        if "hints" in endpoint:
            causes.extend(_validate_hints(endpoint["hints"], f"{path}.hints"))
    return causes


def _validate_ports(ports: list[Obj]) -> list[Cause]:
    if len(ports) > _MAX_PORTS:
        return [too_many("ports", len(ports), _MAX_PORTS)]
    causes: list[Cause] = []
    names: set[str] = set()
    for index, port in enumerate(ports):
        path = f"ports[{index}]"
        name = port.get("name", "")
        if name:
            causes.extend(invalid_value(f"{path}.name", name, msg) for msg in dns1123_label_errors(name))
        if name in names:
            causes.append(duplicate(f"{path}.name", name))
        names.add(name)
        protocol = port.get("protocol")
        if protocol is None:
            causes.append(required(f"{path}.protocol"))
        elif protocol not in _PROTOCOLS:
            causes.append(not_supported(f"{path}.protocol", protocol, _PROTOCOLS))
        if "appProtocol" in port:
            causes.extend(invalid_value(f"{path}.appProtocol", port["appProtocol"], msg)
                          for msg in qualified_name_errors(port["appProtocol"]))
    return causes


def _validate(endpoint_slice: Obj, old: Obj | None) -> list[Cause]:
    causes = validate_object_meta(endpoint_slice["metadata"], namespaced=True)
    address_type = endpoint_slice.get("addressType", "")
    if not address_type:
        causes.append(required("addressType"))
    elif address_type not in ADDRESS_TYPES:
        causes.append(not_supported("addressType", address_type, ADDRESS_TYPES))
    causes.extend(_validate_ports(endpoint_slice.get("ports") or []))
    # Unchanged endpoints are not judged again: they may predate a stricter rule.
    endpoints = endpoint_slice.get("endpoints") or []
    if old is None or endpoints != (old.get("endpoints") or []):
        causes.extend(_validate_endpoints(endpoints, address_type))
    return causes


def validate_endpoint_slice(endpoint_slice: Obj) -> list[Cause]:
    return _validate(endpoint_slice, None)


def validate_endpoint_slice_update(new: Obj, old: Obj) -> list[Cause]:
    causes = _validate(new, old)
    if new.get("addressType", "") != old.get("addressType", ""):
        causes.append(invalid_value("addressType", new.get("addressType", ""), "field is immutable"))
    return causes


ENDPOINT_SLICES = ResourceDef(
    group="discovery.k8s.io",
    version="v1",
    kind="EndpointSlice",
    plural="endpointslices",
    singular="endpointslice",
    namespaced=True,
    default=default_endpoint_slice,
    validate=validate_endpoint_slice,
    validate_update=validate_endpoint_slice_update,
    prepare_create=drop_topology,
    prepare_update=drop_topology,
)
