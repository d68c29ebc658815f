"""The endpoints controller, as upstream pkg/controller/endpoint: for every Service with a
selector, an Endpoints object of the same name listing the matching pods.

* A pod counts when it has an IP, is not terminal (Succeeded/Failed) and is not being deleted
  (a terminating pod still counts with ``publishNotReadyAddresses``).  Its address is its IP
  of the service's first IP family, with ``nodeName`` and a ``targetRef`` to the pod
  (``hostname`` too when the pod's ``subdomain`` is the service's name).
* Ready pods go to ``addresses``, the others to ``notReadyAddresses`` (every pod is "ready"
  with ``publishNotReadyAddresses``).
* Each service port becomes an endpoint port: a numeric ``targetPort`` as it is, a named one
  resolved per pod to the container port of that name and protocol (a pod without it is left
  out of that port).  Subsets are then repacked as upstream's RepackSubsets: one subset per
  distinct set of addresses, with every port those addresses share.
* The Endpoints carry the service's labels (plus ``service.kubernetes.io/headless`` for a
  headless service), ``endpoints.kubernetes.io/last-change-trigger-time`` (the earliest
  change of a pod's readiness or of the service since the last sync), and at most 1000
  addresses (``endpoints.kubernetes.io/over-capacity: truncated`` beyond).
* It is written only when the subsets, labels or capacity annotation differ; a Service
  without selector (or of type ExternalName) is left alone; a deleted Service takes its
  Endpoints with it, and on start Endpoints with no Service are deleted.

Options: ``concurrent_endpoint_syncs`` (5) services synced at once.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

from pyk8s.client import (
    ENDPOINTS, PODS, SERVICES, AlreadyExists, ApiError, NotFound, TransportError, object_key, split_key,
)

from ._base import Controller, ControllerContext
from ._events import WARNING
from ._pods import error_text, is_namespace_terminating_error, is_pod_ready, parse_time

__all__ = ["EndpointsController", "repack_subsets", "services_to_update_on_pod_change"]

log = logging.getLogger(__name__)

TRIGGER_TIME_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"
OVER_CAPACITY_ANNOTATION = "endpoints.kubernetes.io/over-capacity"
HEADLESS_LABEL = "service.kubernetes.io/headless"
LEADER_ANNOTATION = "control-plane.alpha.kubernetes.io/leader"
MAX_CAPACITY = 1000
# A re-sync after our own write while the cache still holds what we replaced.
_STALE_RETRY = 0.05

Obj = dict[str, Any]


# -- what a pod contributes ------------------------------------------------------------------


def _is_ipv6(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).version == 6
    except ValueError:
        return False


def _pod_ips(pod: Obj) -> list[str]:
    status = pod.get("status") or {}
    ips = [entry.get("ip") for entry in status.get("podIPs") or () if entry.get("ip")]
    # The API's conversion fills podIPs from podIP; a server that did not still means it.
    return ips or ([status["podIP"]] if status.get("podIP") else [])


def _should_be_in_endpoints(pod: Obj, include_terminating: bool) -> bool:
    """Upstream ShouldPodBeInEndpoints."""
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return False
    if not _pod_ips(pod):
        return False
    return include_terminating or not pod["metadata"].get("deletionTimestamp")


def _address(service: Obj, pod: Obj) -> Obj | None:
    """Upstream podToEndpointAddressForService: the pod's IP of the service's family."""
    spec = service.get("spec") or {}
    families = spec.get("ipFamilies") or ()
    if families:
        want_v6 = families[0] == "IPv6"
    elif spec.get("clusterIP") and spec["clusterIP"] != "None":
        want_v6 = _is_ipv6(spec["clusterIP"])
    else:
        want_v6 = _is_ipv6((pod.get("status") or {}).get("podIP") or "")
    ip = next((ip for ip in _pod_ips(pod) if _is_ipv6(ip) == want_v6), None)
    if ip is None:
        return None
    meta = pod["metadata"]
    address: Obj = {"ip": ip}
    pod_spec = pod.get("spec") or {}
    if pod_spec.get("hostname") and pod_spec.get("subdomain") == service["metadata"]["name"]:
        address["hostname"] = pod_spec["hostname"]
    if pod_spec.get("nodeName"):
        address["nodeName"] = pod_spec["nodeName"]
    address["targetRef"] = {"kind": "Pod", "namespace": meta.get("namespace"), "name": meta["name"], "uid": meta.get("uid")}
    return address


def find_port(pod: Obj, service_port: Obj) -> int | None:
    """Upstream podutil.FindPort: a number as it is; a name looked up among the containers'
    ports (and sidecars', init containers with restartPolicy Always) of the same protocol."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int):
        return target
    protocol = service_port.get("protocol") or "TCP"
    spec = pod.get("spec") or {}
    containers = list(spec.get("containers") or ())
    containers += [c for c in spec.get("initContainers") or () if c.get("restartPolicy") == "Always"]
    for container in containers:
        for port in container.get("ports") or ():
            if port.get("name") == target and (port.get("protocol") or "TCP") == protocol:
                return port.get("containerPort")
    return None


def _endpoint_port(service_port: Obj, number: int) -> Obj:
    port: Obj = {"port": number, "protocol": service_port.get("protocol") or "TCP"}
    if service_port.get("name"):
        port["name"] = service_port["name"]
    if service_port.get("appProtocol"):
        port["appProtocol"] = service_port["appProtocol"]
    return port


# -- subsets ----------------------------------------------------------------------------------


def _port_key(port: Obj) -> tuple:
    return (port.get("name", ""), port.get("port"), port.get("protocol", ""), port.get("appProtocol", ""))


def _address_key(address: Obj) -> tuple[str, str]:
    return (address.get("ip") or "", (address.get("targetRef") or {}).get("uid") or "")


def repack_subsets(subsets: list[Obj]) -> list[Obj]:
    """Upstream endpoints.RepackSubsets: regroup (address, port) pairs so that each subset
    holds one distinct set of addresses with every port they all serve; an address not ready
    on some port is not ready there.  Sorted: addresses by IP then pod uid, ports by
    (name, port, protocol), subsets by their first address and ports (upstream sorts the
    last two by hash; any fixed order serves comparison)."""
    addresses: dict[tuple[str, str], Obj] = {}
    by_port: dict[tuple, tuple[Obj | None, dict[tuple[str, str], bool]]] = {}

    def file(address: Obj, port: Obj | None, ready: bool) -> None:
        key = _address_key(address)
        addresses.setdefault(key, address)
        slot = by_port.setdefault(_port_key(port) if port else ("", -1, "", ""), (port, {}))
        # Not ready on any one subset makes the address not ready for the port.
        if slot[1].get(key, True):
            slot[1][key] = ready

    for subset in subsets:
        for port in subset.get("ports") or [None]:
            for address in subset.get("addresses") or ():
                file(address, port, True)
            for address in subset.get("notReadyAddresses") or ():
                file(address, port, False)

    groups: dict[tuple, tuple[dict[tuple[str, str], bool], list[Obj]]] = {}
    for port, readiness in by_port.values():
        group_key = tuple(sorted(readiness.items()))
        ports = groups.setdefault(group_key, (readiness, []))[1]
        if port is not None:
            ports.append(port)
    repacked = []
    for readiness, ports in groups.values():
        subset: Obj = {}
        ready = sorted((addresses[key] for key, is_ready in readiness.items() if is_ready), key=_address_key)
        not_ready = sorted((addresses[key] for key, is_ready in readiness.items() if not is_ready), key=_address_key)
        if ready:
            subset["addresses"] = ready
        if not_ready:
            subset["notReadyAddresses"] = not_ready
        if ports:
            subset["ports"] = sorted(ports, key=_port_key)
        repacked.append(subset)
    repacked.sort(key=lambda s: ([_address_key(a) for a in s.get("addresses", []) + s.get("notReadyAddresses", [])],
                                 [_port_key(p) for p in s.get("ports", [])]))
    return repacked


def _address_count(subsets: list[Obj]) -> int:
    return sum(len(s.get("addresses") or ()) + len(s.get("notReadyAddresses") or ()) for s in subsets)


def truncate(subsets: list[Obj]) -> bool:
    """Upstream truncateEndpoints: at most MAX_CAPACITY addresses, dropping not-ready ones
    first, each subset keeping its share; True if anything was dropped."""
    ready = sum(len(s.get("addresses") or ()) for s in subsets)
    not_ready = sum(len(s.get("notReadyAddresses") or ()) for s in subsets)
    if ready + not_ready <= MAX_CAPACITY:
        return False
    truncate_ready = ready > MAX_CAPACITY
    allowed_total = MAX_CAPACITY if truncate_ready else MAX_CAPACITY - ready
    total = ready if truncate_ready else not_ready
    left = allowed_total
    field = "addresses" if truncate_ready else "notReadyAddresses"
    for index, subset in enumerate(subsets):
        count = len(subset.get(field) or ())
        allowed = left if index == len(subsets) - 1 else math.ceil(allowed_total * count / total)
        left -= allowed
        if subset.get(field):
            subset[field] = subset[field][:max(allowed, 0)]
        if truncate_ready:
            subset.pop("notReadyAddresses", None)
    return True


def _capacity_annotation_correct(annotations: Mapping[str, str], subsets: list[Obj]) -> bool:
    count = _address_count(subsets)
    if count > MAX_CAPACITY:
        return False
    marked = OVER_CAPACITY_ANNOTATION in annotations
    return (marked and count == MAX_CAPACITY) or (not marked and count < MAX_CAPACITY)


def _rfc3339_nano(moment: dt.datetime) -> str:
    text = moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".")
    return text + "Z"


# -- the controller ---------------------------------------------------------------------------


class _TriggerTimes:
    """Upstream TriggerTimeTracker: per service, the trigger times (pod Ready transitions,
    service creation) seen at its last sync, to export the earliest one that changed since."""

    def __init__(self) -> None:
        self.states: dict[str, tuple[dict[str, dt.datetime], dt.datetime | None]] = {}

    def compute(self, key: str, service: Obj, pods: list[Obj]) -> dt.datetime | None:
        known = self.states.get(key)
        last_pods, last_service = known if known else ({}, None)
        earliest: dt.datetime | None = None
        pod_times: dict[str, dt.datetime] = {}
        for pod in pods:
            ready = next((c for c in (pod.get("status") or {}).get("conditions") or () if c.get("type") == "Ready"), None)
            moment = parse_time((ready or {}).get("lastTransitionTime"))
            if moment is None:
                continue
            name = pod["metadata"]["name"]
            pod_times[name] = moment
            seen = last_pods.get(name)
            if seen is None or moment > seen:
                earliest = moment if earliest is None else min(earliest, moment)
        created = parse_time(service["metadata"].get("creationTimestamp"))
        if created is not None and (last_service is None or created > last_service):
            earliest = created if earliest is None else min(earliest, created)
        self.states[key] = (pod_times, created)
        return created if known is None else earliest

    def forget(self, key: str) -> None:
        self.states.pop(key, None)


def services_to_update_on_pod_change(old: Obj, new: Obj, services_of: Callable[[Obj], set[str]]) -> set[str]:
    """Upstream GetServicesToUpdateOnPodChange: the services whose endpoints a pod update
    can change (only what an address depends on); shared with the EndpointSlice controller."""
    if old["metadata"].get("resourceVersion") == new["metadata"].get("resourceVersion"):
        return set()
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    labels_changed = (old["metadata"].get("labels") != new["metadata"].get("labels")
                      or old_spec.get("hostname") != new_spec.get("hostname")
                      or old_spec.get("subdomain") != new_spec.get("subdomain"))
    pod_changed = (old["metadata"].get("deletionTimestamp") != new["metadata"].get("deletionTimestamp")
                   or is_pod_ready(old) != is_pod_ready(new)
                   or _pod_ips(old) != _pod_ips(new)
                   or (old.get("status") or {}).get("phase") != (new.get("status") or {}).get("phase"))
    if not labels_changed and not pod_changed:
        return set()
    services = services_of(new)
    if labels_changed:
        old_services = services_of(old)
        # A pod that changed itself concerns all of them; one that only moved between
        # services concerns those it left or joined.
        services = services | old_services if pod_changed else services ^ old_services
    return services


def _selector_matches(selector: Mapping[str, str], labels: Mapping[str, str] | None) -> bool:
    labels = labels or {}
    return all(labels.get(key) == value for key, value in selector.items())


class EndpointsController(Controller):
    name = "endpoints-controller"
    event_source = "endpoint-controller"
    default_workers = 5

    def __init__(self, context: ControllerContext) -> None:
        super().__init__(context)
        self.services = self.informers.informer(SERVICES)
        self.pods = self.informers.informer(PODS)
        self.endpoints = self.informers.informer(ENDPOINTS)
        self.services.add_event_handler(
            on_add=self.enqueue_object, on_update=self.enqueue_object, on_delete=self.enqueue_object,
        )
        self.pods.add_event_handler(on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_added)
        # A deleted Endpoints is made again if its service still wants one.
        self.endpoints.add_event_handler(on_delete=self.enqueue_object)
        self.trigger_times = _TriggerTimes()
        # service key -> resourceVersion of the Endpoints our last write replaced
        self._replaced: dict[str, str] = {}

    async def run(self, workers: int | None = None) -> None:
        self._check_leftover_endpoints()
        await super().run(workers or int(self.context.options.get("concurrent_endpoint_syncs", self.default_workers)))

    def _check_leftover_endpoints(self) -> None:
        """Upstream checkLeftoverEndpoints: Endpoints whose Service went while no controller
        ran get a sync, which deletes them (leader-election records excepted)."""
        for endpoints in self.endpoints.indexer.list():
            if LEADER_ANNOTATION not in (endpoints["metadata"].get("annotations") or {}):
                self.enqueue(object_key(endpoints))

    # -- pods to services ---------------------------------------------------------------------

    def _services_of(self, pod: Obj) -> set[str]:
        namespace = pod["metadata"].get("namespace")
        labels = pod["metadata"].get("labels")
        return {
            object_key(service) for service in self.services.indexer.by_index("namespace", namespace)
            if (service.get("spec") or {}).get("selector")
            and _selector_matches(service["spec"]["selector"], labels)
        }

    def _pod_added(self, pod: Obj) -> None:
        for key in self._services_of(pod):
            self.enqueue(key)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        for key in services_to_update_on_pod_change(old, new, self._services_of):
            self.enqueue(key)

    # -- sync ---------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        namespace, name = split_key(key)
        service = self.services.indexer.get(key)
        if service is None:
            try:
                await self.client.delete(ENDPOINTS, name, namespace=namespace)
            except NotFound:
                pass
            self.trigger_times.forget(key)
            self._replaced.pop(key, None)
            return
        spec = service.get("spec") or {}
        if spec.get("type") == "ExternalName" or not spec.get("selector"):
            return
        current = self.endpoints.indexer.get(key)
        if current is not None and self._replaced.get(key) == current["metadata"].get("resourceVersion"):
            # Our last write has not reached the cache yet: judging from it would be a conflict.
            self.enqueue_after(key, _STALE_RETRY)
            return

        pods = [pod for pod in self.pods.indexer.by_index("namespace", namespace)
                if _selector_matches(spec["selector"], pod["metadata"].get("labels"))]
        trigger_time = self.trigger_times.compute(key, service, pods)
        subsets = repack_subsets(self._subsets(service, pods))

        labels = dict(service["metadata"].get("labels") or {})
        current_labels = dict((current or {}).get("metadata", {}).get("labels") or {})
        current_labels.pop(HEADLESS_LABEL, None)
        current_annotations = (current or {}).get("metadata", {}).get("annotations") or {}
        if (
            current is not None
            and (current.get("subsets") or []) == subsets
            and current_labels == labels
            and _capacity_annotation_correct(current_annotations, current.get("subsets") or [])
        ):
            return

        annotations = dict(current_annotations)
        if trigger_time is not None:
            annotations[TRIGGER_TIME_ANNOTATION] = _rfc3339_nano(trigger_time)
        else:
            annotations.pop(TRIGGER_TIME_ANNOTATION, None)
        if truncate(subsets):
            annotations[OVER_CAPACITY_ANNOTATION] = "truncated"
        else:
            annotations.pop(OVER_CAPACITY_ANNOTATION, None)
        if spec.get("clusterIP") in (None, "", "None"):
            labels[HEADLESS_LABEL] = ""
        metadata: Obj = {"name": name, "namespace": namespace, "labels": labels, "annotations": annotations}
        if current is not None:
            metadata["resourceVersion"] = current["metadata"]["resourceVersion"]
        body = {"apiVersion": "v1", "kind": "Endpoints", "metadata": metadata, "subsets": subsets}
        try:
            if current is None:
                await self.client.create(ENDPOINTS, body, namespace=namespace)
            else:
                updated = await self.client.update(ENDPOINTS, body, namespace=namespace)
                if updated["metadata"].get("resourceVersion") != metadata["resourceVersion"]:
                    self._replaced[key] = metadata["resourceVersion"]
        except AlreadyExists:
            # Our own create of a moment ago, not in the cache yet: judge again shortly.
            self.enqueue_after(key, _STALE_RETRY)
            return
        except (ApiError, TransportError) as error:
            if current is None and is_namespace_terminating_error(error):
                return
            if current is None:
                self.recorder.event(body, WARNING, "FailedToCreateEndpoint",
                                    f"Failed to create endpoint for service {namespace}/{name}: {error_text(error)}")
            else:
                self.recorder.event(body, WARNING, "FailedToUpdateEndpoint",
                                    f"Failed to update endpoint {namespace}/{name}: {error_text(error)}")
            raise

    def _subsets(self, service: Obj, pods: list[Obj]) -> list[Obj]:
        """One single-address subset per (pod, port), as upstream builds them before
        repacking."""
        spec = service.get("spec") or {}
        publish_not_ready = bool(spec.get("publishNotReadyAddresses"))
        ports = spec.get("ports") or ()
        subsets: list[Obj] = []
        for pod in pods:
            if not _should_be_in_endpoints(pod, publish_not_ready):
                continue
            address = _address(service, pod)
            if address is None:
                continue
            field = "addresses" if publish_not_ready or is_pod_ready(pod) else "notReadyAddresses"
            if not ports:
                # A headless service may have no ports: its addresses stand alone.
                if spec.get("clusterIP") == "None":
                    subsets.append({field: [address]})
                continue
            for service_port in ports:
                number = find_port(pod, service_port)
                if number is None:
                    continue
                subsets.append({field: [address], "ports": [_endpoint_port(service_port, number)]})
        return subsets

