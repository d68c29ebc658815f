"""What kube-apiserver's admission plugins and service storage add to writes:

* NamespaceLifecycle: nothing is created in a namespace that does not exist (404) or is
  being terminated (403); the three immortal namespaces may not be deleted.
* Priority: a pod's ``priorityClassName`` becomes ``spec.priority`` (403 for a missing class).
* DefaultTolerationSeconds: a pod gets NoExecute tolerations for the not-ready and
  unreachable node taints unless it already tolerates them.
* Service IPs and node ports (upstream's service REST storage): allocated on create,
  kept or swapped on update, released on delete.
* The objects a cluster has from its start (namespaces, the ``default`` ServiceAccount of
  each namespace, the ``kubernetes`` service, the system PriorityClasses).
"""

from __future__ import annotations

from typing import Any, Callable

import orjson

from pyk8s.api import errors
from pyk8s.api.allocators import AllocationError, IPAllocator, PortAllocator
from pyk8s.api.errors import Cause, StatusError, invalid_value
from pyk8s.api.kinds.services import needs_cluster_ip, needs_node_ports
from pyk8s.api.registry import ResourceDef
from pyk8s.apiserver.pod_specs import PodSpecs
from pyk8s.store import Storage

__all__ = [
    "Admission", "forbidden_error", "INITIAL_NAMESPACES", "IMMORTAL_NAMESPACES", "DEFAULT_TOLERATION_SECONDS",
]

Obj = dict[str, Any]

INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
IMMORTAL_NAMESPACES = frozenset(("default", "kube-system", "kube-public"))
# kube-apiserver's --default-not-ready-toleration-seconds / --default-unreachable-toleration-seconds.
DEFAULT_TOLERATION_SECONDS = 300
_TAINT_NOT_READY = "node.kubernetes.io/not-ready"
_TAINT_UNREACHABLE = "node.kubernetes.io/unreachable"


def forbidden_error(resource: ResourceDef | str, name: str, message: str, group: str = "") -> StatusError:
    """upstream errors.NewForbidden: ``pods "x" is forbidden: <message>``."""
    if isinstance(resource, ResourceDef):
        plural, group = resource.plural, resource.group
    else:
        plural = resource
    qualified = f"{plural}.{group}" if group else plural
    details: dict[str, Any] = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = plural
    return StatusError(403, "Forbidden", f'{qualified} "{name}" is forbidden: {message}', details)


class Admission:
    def __init__(self, store: Storage) -> None:
        self.store = store
        self.cluster_ips = IPAllocator()
        self.node_ports = PortAllocator()
        self._load_allocations()
        # The globalDefault PriorityClass, looked up once and forgotten on any write to
        # priorityclasses (the handlers call ``priority_classes_changed``): pod creates are
        # the hot path and must not list classes each time.
        self._default_class: tuple[Obj | None] | None = None
        # Outcomes of the spec half of pod creates, which reads the classes and the
        # toleration seconds below: forgotten whenever either changes.
        self.pod_specs = PodSpecs()
        self._not_ready_seconds = self._unreachable_seconds = DEFAULT_TOLERATION_SECONDS

    @property
    def not_ready_toleration_seconds(self) -> int:
        return self._not_ready_seconds

    @not_ready_toleration_seconds.setter
    def not_ready_toleration_seconds(self, seconds: int) -> None:
        self._not_ready_seconds = seconds
        self.pod_specs.clear()

    @property
    def unreachable_toleration_seconds(self) -> int:
        return self._unreachable_seconds

    @unreachable_toleration_seconds.setter
    def unreachable_toleration_seconds(self, seconds: int) -> None:
        self._unreachable_seconds = seconds
        self.pod_specs.clear()

    # -- NamespaceLifecycle -----------------------------------------------------------------

    def check_namespace(self, resource: ResourceDef, namespace: str, name: str) -> None:
        """The namespace exists and is not terminating (a namespace with a deletionTimestamp
        is Terminating).  One point read: the store hands out bytes without decoding."""
        found = self.store.get("namespaces", "", namespace)
        if found is None:
            raise errors.not_found("namespaces", namespace)
        # The byte test skips decoding in the common case; decoding confirms it is the
        # metadata field, not an annotation that happens to carry the word.
        if b'"deletionTimestamp"' in found[0] and orjson.loads(found[0])["metadata"].get("deletionTimestamp"):
            raise forbidden_error(
                resource, name, f"unable to create new content in namespace {namespace} because it is being terminated"
            )

    @staticmethod
    def check_namespace_delete(name: str) -> None:
        if name in IMMORTAL_NAMESPACES:
            raise forbidden_error("namespaces", name, "this namespace may not be deleted")

    # -- Priority ---------------------------------------------------------------------------

    def resolve_priority(self, pod: Obj) -> None:
        """Upstream plugin/pkg/admission/priority: runs before defaulting, so a
        preemptionPolicy the pod did not give comes from the class."""
        spec = pod.get("spec")
        if not isinstance(spec, dict):
            return
        name = spec.get("priorityClassName", "")
        pod_name = pod["metadata"].get("name", "")
        if name:
            found = self.store.get("priorityclasses", "", name)
            if found is None:
                raise forbidden_error("pods", pod_name, f"no PriorityClass with name {name} was found")
            priority_class = orjson.loads(found[0])
        else:
            priority_class = self._global_default()
            if priority_class is not None:
                spec["priorityClassName"] = priority_class["metadata"]["name"]
        value = priority_class.get("value", 0) if priority_class else 0
        if "priority" in spec and spec["priority"] != value:
            raise forbidden_error(
                "pods",
                pod_name,
                f"the integer value of priority ({spec['priority']}) must not be provided in pod spec; priority "
                f"admission controller computed {value} from the given PriorityClass name",
            )
        spec["priority"] = value
        if priority_class and "preemptionPolicy" not in spec and priority_class.get("preemptionPolicy"):
            spec["preemptionPolicy"] = priority_class["preemptionPolicy"]

    def check_priority_class(self, pc: Obj) -> None:
        """Only one PriorityClass may be the global default (the Priority plugin's
        validation of priorityclasses)."""
        if not pc.get("globalDefault"):
            return
        current = self._global_default()
        name = pc["metadata"].get("name", "")
        if current is not None and current["metadata"]["name"] != name:
            raise forbidden_error(
                "priorityclasses",
                name,
                f"PriorityClass {current['metadata']['name']} is already marked as default. Only one default can exist",
                "scheduling.k8s.io",
            )

    def priority_classes_changed(self) -> None:
        self._default_class = None
        self.pod_specs.clear()

    def _global_default(self) -> Obj | None:
        if self._default_class is None:
            self._default_class = (self._find_global_default(),)
        return self._default_class[0]

    def _find_global_default(self) -> Obj | None:
        """The globalDefault class with the lowest value, as upstream picks among several."""
        best = None
        for data in self.store.list("priorityclasses").items():
            if b'"globalDefault":true' not in data:
                continue
            candidate = orjson.loads(data)
            if best is None or candidate.get("value", 0) < best.get("value", 0):
                best = candidate
        return best

    # -- DefaultTolerationSeconds ------------------------------------------------------------

    def add_default_tolerations(self, pod: Obj) -> None:
        """Upstream plugin/pkg/admission/defaulttolerationseconds (pod create and update, not
        subresources): unless a toleration already covers the taint (its key, or no key; effect
        NoExecute, or none), add ``<taint> Exists NoExecute`` for node.kubernetes.io/not-ready
        and node.kubernetes.io/unreachable, so pods leave a lost node after that many seconds
        rather than at once."""
        spec = pod.get("spec")
        if not isinstance(spec, dict):
            return
        tolerations = spec.get("tolerations") or []
        if not isinstance(tolerations, list):
            return  # validation reports the wrong type
        added = []
        for key, seconds in (
            (_TAINT_NOT_READY, self.not_ready_toleration_seconds),
            (_TAINT_UNREACHABLE, self.unreachable_toleration_seconds),
        ):
            covered = any(
                isinstance(toleration, dict)
                and (toleration.get("key") or "") in ("", key)
                and (toleration.get("effect") or "") in ("", "NoExecute")
                for toleration in tolerations
            )
            if not covered:
                added.append({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": seconds})
        if added:
            spec["tolerations"] = tolerations + added

    # -- service IPs and node ports ---------------------------------------------------------

    def _load_allocations(self) -> None:
        for data in self.store.list("services").items():
            self._mark(orjson.loads(data).get("spec") or {})

    def _mark(self, spec: Obj) -> None:
        for ip in spec.get("clusterIPs") or ():
            if ip != "None":
                try:
                    self.cluster_ips.allocate(ip)
                except AllocationError:
                    pass
        for port in spec.get("ports") or ():
            if port.get("nodePort"):
                try:
                    self.node_ports.allocate(port["nodePort"])
                except AllocationError:
                    pass

    def allocate_service(self, service: Obj, old: Obj | None, dry_run: bool) -> Callable[[bool], None]:
        """Fill in the service's clusterIP(s) and nodePorts (requested ones checked), and
        return ``finish(committed)``: on a failed write it gives back what was taken here; on
        a committed update it releases what the old version held and the new one does not.
        Raises 422 for a requested value that is taken or out of range.  With ``dry_run``
        values are checked and chosen but nothing is reserved."""
        spec = service["spec"]
        old_spec = (old or {}).get("spec") or {}
        taken_ips: list[str] = []
        taken_ports: list[int] = []
        causes: list[Cause] = []

        def rollback() -> None:
            for ip in taken_ips:
                self.cluster_ips.release(ip)
            for port in taken_ports:
                self.node_ports.release(port)

        if needs_cluster_ip(spec):
            held = [ip for ip in old_spec.get("clusterIPs") or () if ip != "None"] if needs_cluster_ip(old_spec) else []
            requested = spec.get("clusterIP", "")
            if not requested and held:
                spec["clusterIP"], spec["clusterIPs"] = held[0], list(held)
            elif requested and requested not in held:
                try:
                    if dry_run:
                        self.cluster_ips.check(requested)
                    else:
                        taken_ips.append(self.cluster_ips.allocate(requested))
                except AllocationError as exc:
                    causes.append(invalid_value("spec.clusterIPs", [requested], str(exc)))
            elif not requested:
                try:
                    ip = self.cluster_ips.allocate_next(reserve=not dry_run)
                except AllocationError as exc:
                    raise errors.internal_error(str(exc)) from None
                if not dry_run:
                    taken_ips.append(ip)
                spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
        if needs_node_ports(spec):
            held_ports = {p.get("nodePort") for p in old_spec.get("ports") or () if p.get("nodePort")}
            old_by_key = {(p.get("port"), p.get("protocol")): p.get("nodePort") for p in old_spec.get("ports") or ()}
            in_use: set[int] = set()
            for index, port in enumerate(spec.get("ports") or ()):
                number = port.get("nodePort")
                if not number:
                    # An update keeps the port a service port already had (upstream
                    # patchAllocatedValues), else a new one is drawn.
                    kept = old_by_key.get((port.get("port"), port.get("protocol")))
                    if kept and kept not in in_use:
                        port["nodePort"] = kept
                        in_use.add(kept)
                        continue
                    try:
                        number = self.node_ports.allocate_next(reserve=not dry_run)
                    except AllocationError as exc:
                        raise errors.internal_error(f"failed to allocate a nodePort: {exc}") from None
                    if not dry_run:
                        taken_ports.append(number)
                    port["nodePort"] = number
                    in_use.add(number)
                    continue
                if number in held_ports or number in in_use:
                    in_use.add(number)
                    continue
                try:
                    if dry_run:
                        self.node_ports.check(number)
                    else:
                        taken_ports.append(self.node_ports.allocate(number))
                    in_use.add(number)
                except AllocationError as exc:
                    causes.append(invalid_value(f"spec.ports[{index}].nodePort", number, str(exc)))
        if causes:
            rollback()
            raise errors.invalid("Service", service["metadata"].get("name", ""), causes)

        def finish(committed: bool) -> None:
            if not committed:
                rollback()
            elif old is not None and not dry_run:
                self._release_unused(old_spec, spec)

        return finish

    def _release_unused(self, old_spec: Obj, new_spec: Obj) -> None:
        keep_ips = set(new_spec.get("clusterIPs") or ()) if needs_cluster_ip(new_spec) else set()
        for ip in old_spec.get("clusterIPs") or ():
            if ip != "None" and ip not in keep_ips:
                self.cluster_ips.release(ip)
        keep_ports = {p.get("nodePort") for p in new_spec.get("ports") or ()} if needs_node_ports(new_spec) else set()
        for port in old_spec.get("ports") or ():
            if port.get("nodePort") and port["nodePort"] not in keep_ports:
                self.node_ports.release(port["nodePort"])

    def release_service(self, service: Obj) -> None:
        self._release_unused(service.get("spec") or {}, {"type": "ExternalName"})
