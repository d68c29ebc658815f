"""The kubelet's Node: the object it registers, the Lease it renews, the status it posts.

The builders (``build_node``, ``node_conditions``, ``node_info``, ``build_lease``,
``parse_labels``, ``parse_taints``) are pure and shared by both runtimes; ``host_resources``
and ``host_node_info`` read this machine for the process runtime; ``NodeAgent`` runs one
node's registration, Lease heartbeat and status updates, as upstream's kubelet does
(pkg/kubelet/kubelet_node_status.go, pkg/kubelet/nodestatus/setters.go,
pkg/kubelet/nodelease):

* registration: POST the Node; if it exists, keep it and reconcile the default labels;
* heartbeat: the Lease ``kube-node-lease/<node>`` (``leaseDurationSeconds`` 40) renewed every
  quarter of its duration (10 s);
* status: computed every ``--node-status-update-frequency`` (10 s) against the Node as the API
  server has it, and posted when it changed or at least every ``status_report_frequency``
  (60 s, as the issue asks; upstream's default is 5 minutes).

Allocatable is capacity less upstream's default hard eviction thresholds (memory.available
100Mi, nodefs.available 10%).  The pressure conditions compare this host's available memory
and disk with those thresholds; PIDPressure compares free process ids with 5% of pid_max
(upstream sets no default pid threshold, so it would never report one).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import platform
import socket
from collections.abc import Callable, Mapping
from typing import Any

from pyk8s.client import LEASES, NODES, AlreadyExists, ApiClient, ApiError, Conflict, NotFound, PatchType, TransportError

__all__ = [
    "KUBELET_VERSION", "LEASE_NAMESPACE", "LEASE_DURATION_SECONDS", "NodeAgent", "build_lease", "build_node",
    "default_labels", "host_architecture", "host_node_info", "host_resources", "node_conditions", "node_info",
    "parse_labels", "parse_taints", "primary_ip", "micro_time",
]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

KUBELET_VERSION = "v1.37.0-pyk8s"
LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION_SECONDS = 40
MEMORY_EVICTION_THRESHOLD = 100 * 1024 * 1024  # memory.available<100Mi
NODEFS_EVICTION_FRACTION = 0.10  # nodefs.available<10%
PID_PRESSURE_FRACTION = 0.05
_ARCHITECTURES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm",
                  "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64", "i686": "386", "i386": "386"}
_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")

# (type, reason and message when False, when True): nodestatus.MemoryPressureCondition & co.
_PRESSURE_CONDITIONS = (
    ("MemoryPressure", ("KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
     ("KubeletHasInsufficientMemory", "kubelet has insufficient memory available")),
    ("DiskPressure", ("KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
     ("KubeletHasDiskPressure", "kubelet has disk pressure")),
    ("PIDPressure", ("KubeletHasSufficientPID", "kubelet has sufficient PID available"),
     ("KubeletHasInsufficientPID", "kubelet has insufficient PID available")),
)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_time(moment: dt.datetime | None = None) -> str:
    """metav1.MicroTime: RFC 3339 with six fractional digits."""
    return (moment or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# -- flags -------------------------------------------------------------------------------------


def parse_labels(text: str | None) -> dict[str, str]:
    """``k=v,k2=v2`` (``--node-labels``); raises ValueError on an entry without ``=``."""
    labels: dict[str, str] = {}
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"invalid label {item!r}: want key=value")
        labels[key.strip()] = value.strip()
    return labels


def parse_taints(text: str | None) -> list[Obj]:
    """``key=value:Effect,key:Effect`` (``--register-with-taints``)."""
    taints: list[Obj] = []
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        head, sep, effect = item.rpartition(":")
        if not sep or effect not in _EFFECTS:
            raise ValueError(f"invalid taint {item!r}: want key[=value]:{'|'.join(_EFFECTS)}")
        key, _, value = head.partition("=")
        if not key:
            raise ValueError(f"invalid taint {item!r}: the key is empty")
        taint: Obj = {"key": key, "effect": effect}
        if value:
            taint["value"] = value
        taints.append(taint)
    return taints


# -- builders ----------------------------------------------------------------------------------


def node_conditions(
    *, ready: bool, ready_message: str | None = None, memory_pressure: bool = False, disk_pressure: bool = False,
    pid_pressure: bool = False, previous: list[Mapping] | None = None, now: str | None = None,
) -> list[Obj]:
    """MemoryPressure, DiskPressure, PIDPressure and Ready with upstream's reasons and
    messages.  ``previous`` (the Node's current conditions) keeps each one's
    ``lastTransitionTime`` while its status is unchanged; ``lastHeartbeatTime`` is ``now``."""
    now = now or _now()
    old = {c.get("type"): c for c in previous or ()}
    conditions = []
    for (kind, (ok_reason, ok_message), (bad_reason, bad_message)), pressure in zip(
        _PRESSURE_CONDITIONS, (memory_pressure, disk_pressure, pid_pressure)
    ):
        reason, message = (bad_reason, bad_message) if pressure else (ok_reason, ok_message)
        conditions.append(_node_condition(kind, pressure, reason, message, old.get(kind), now))
    if ready:
        conditions.append(_node_condition("Ready", True, "KubeletReady", "kubelet is posting ready status", old.get("Ready"), now))
    else:
        message = ready_message or "container runtime status check may not have completed yet"
        conditions.append(_node_condition("Ready", False, "KubeletNotReady", message, old.get("Ready"), now))
    return conditions


def _node_condition(kind: str, value: bool, reason: str, message: str, old: Mapping | None, now: str) -> Obj:
    status = "True" if value else "False"
    transition = old.get("lastTransitionTime") if old and old.get("status") == status else None
    return {
        "type": kind, "status": status, "lastHeartbeatTime": now, "lastTransitionTime": transition or now,
        "reason": reason, "message": message,
    }


def node_info(
    *, machine_id: str = "", system_uuid: str = "", boot_id: str = "", kernel_version: str = "", os_image: str = "",
    container_runtime_version: str = "pyk8s-process://0.1.0", kubelet_version: str = KUBELET_VERSION,
    operating_system: str = "linux", architecture: str = "amd64",
) -> Obj:
    return {
        "machineID": machine_id, "systemUUID": system_uuid, "bootID": boot_id, "kernelVersion": kernel_version,
        "osImage": os_image, "containerRuntimeVersion": container_runtime_version, "kubeletVersion": kubelet_version,
        "kubeProxyVersion": "", "operatingSystem": operating_system, "architecture": architecture,
    }


def default_labels(node_name: str, *, operating_system: str = "linux", architecture: str = "amd64") -> dict[str, str]:
    """The labels a kubelet sets on its Node (upstream's updateDefaultLabels)."""
    return {
        "kubernetes.io/hostname": node_name, "kubernetes.io/os": operating_system, "kubernetes.io/arch": architecture,
        "beta.kubernetes.io/os": operating_system, "beta.kubernetes.io/arch": architecture,
    }


def build_node(
    name: str, *, capacity: Mapping[str, str], allocatable: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None, taints: list[Mapping] | None = None,
    addresses: list[Mapping] | None = None, kubelet_port: int = 10250, info: Mapping | None = None,
    conditions: list[Mapping] | None = None, annotations: Mapping[str, str] | None = None,
) -> Obj:
    """A Node as a kubelet registers it.  ``labels`` are added to ``default_labels`` (with
    the os/arch of ``info``); ``conditions`` default to ``node_conditions(ready=False)``."""
    info = dict(info or node_info())
    metadata: Obj = {
        "name": name,
        "labels": {**default_labels(name, operating_system=info.get("operatingSystem", "linux"),
                                    architecture=info.get("architecture", "amd64")), **(labels or {})},
        "annotations": {"volumes.kubernetes.io/controller-managed-attach-detach": "true", **(annotations or {})},
    }
    spec: Obj = {}
    if taints:
        spec["taints"] = [dict(t) for t in taints]
    return {
        "apiVersion": "v1", "kind": "Node", "metadata": metadata, "spec": spec,
        "status": {
            "capacity": dict(capacity), "allocatable": dict(allocatable or capacity),
            "conditions": list(conditions) if conditions is not None else node_conditions(ready=False),
            "addresses": [dict(a) for a in addresses or ()],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}},
            "nodeInfo": info,
        },
    }


def build_lease(node_name: str, *, node_uid: str | None = None, duration: int = LEASE_DURATION_SECONDS,
                renew_time: str | None = None) -> Obj:
    """The node's Lease in ``kube-node-lease``, owned by its Node (so it goes with it)."""
    metadata: Obj = {"name": node_name, "namespace": LEASE_NAMESPACE}
    if node_uid:
        metadata["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": node_name, "uid": node_uid}]
    return {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata,
        "spec": {"holderIdentity": node_name, "leaseDurationSeconds": duration, "renewTime": renew_time or micro_time()},
    }


# -- this host ---------------------------------------------------------------------------------


def _read(path: str) -> str:
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return ""


def _meminfo() -> dict[str, int]:
    values = {}
    for line in _read("/proc/meminfo").splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            values[key] = int(parts[0]) * 1024
    return values


def host_architecture() -> str:
    machine = platform.machine().lower()
    return _ARCHITECTURES.get(machine, machine)


def _os_image() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.partition("=")[2].strip('"')
    return platform.system()


def host_node_info() -> Obj:
    machine_id = _read("/etc/machine-id") or _read("/var/lib/dbus/machine-id")
    return node_info(
        machine_id=machine_id, system_uuid=_read("/sys/class/dmi/id/product_uuid") or machine_id,
        boot_id=_read("/proc/sys/kernel/random/boot_id"), kernel_version=platform.release(), os_image=_os_image(),
        operating_system=platform.system().lower(), architecture=host_architecture(),
    )


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def host_resources(max_pods: int, root_dir: str) -> tuple[Obj, Obj]:
    """(capacity, allocatable) of this machine: CPU cores, memory, the filesystem holding
    ``root_dir``, and ``max_pods``."""
    memory = _meminfo().get("MemTotal", 0)
    disk = os.statvfs(root_dir)
    storage = disk.f_blocks * disk.f_frsize
    capacity = {"cpu": str(_cpu_count()), "memory": f"{memory // 1024}Ki",
                "ephemeral-storage": f"{storage // 1024}Ki", "pods": str(max_pods)}
    allocatable = {
        "cpu": capacity["cpu"],
        "memory": f"{max(memory - MEMORY_EVICTION_THRESHOLD, 0) // 1024}Ki",
        "ephemeral-storage": str(int(storage * (1 - NODEFS_EVICTION_FRACTION))),
        "pods": str(max_pods),
    }
    return capacity, allocatable


def host_pressure(root_dir: str) -> tuple[bool, bool, bool]:
    """(memory, disk, pid) pressure of this host against the eviction thresholds."""
    memory = _meminfo()
    memory_pressure = "MemAvailable" in memory and memory["MemAvailable"] < MEMORY_EVICTION_THRESHOLD
    try:
        disk = os.statvfs(root_dir)
        disk_pressure = disk.f_blocks > 0 and disk.f_bavail < disk.f_blocks * NODEFS_EVICTION_FRACTION
    except OSError:
        disk_pressure = False
    pid_pressure = False
    pid_max = _read("/proc/sys/kernel/pid_max")
    loadavg = _read("/proc/loadavg").split()
    if pid_max.isdigit() and len(loadavg) > 3 and "/" in loadavg[3]:
        processes = int(loadavg[3].partition("/")[2])
        pid_pressure = int(pid_max) - processes < int(pid_max) * PID_PRESSURE_FRACTION
    return memory_pressure, disk_pressure, pid_pressure


def primary_ip() -> str:
    """The address this host uses to reach others (no packet is sent), else loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: routing decides, nothing is sent
            return probe.getsockname()[0]
        except OSError:
            return "127.0.0.1"


# -- the agent ---------------------------------------------------------------------------------


class NodeAgent:
    """Registers one node and keeps its Lease and status current.  ``runtime_status()``
    returns None when the runtime is ready, else why not (the Ready condition's message);
    ``on_ready_change(ready)`` is told when the Ready condition flips (for events)."""

    def __init__(
        self, client: ApiClient, node_name: str, *, node_ip: str, hostname: str, kubelet_port: int, max_pods: int,
        root_dir: str, labels: Mapping[str, str] | None = None, taints: list[Mapping] | None = None,
        status_update_frequency: float = 10.0, status_report_frequency: float = 60.0,
        lease_duration: int = LEASE_DURATION_SECONDS, runtime_status: Callable[[], str | None] = lambda: None,
        on_ready_change: Callable[[Obj, bool], None] | None = None,
    ) -> None:
        self.client = client
        self.node_name = node_name
        self.node_ip = node_ip
        self.hostname = hostname
        self.kubelet_port = kubelet_port
        self.max_pods = max_pods
        self.root_dir = root_dir
        self.labels = dict(labels or {})
        self.taints = list(taints or ())
        self.status_update_frequency = status_update_frequency
        self.status_report_frequency = status_report_frequency
        self.lease_duration = lease_duration
        self.runtime_status = runtime_status
        self.on_ready_change = on_ready_change
        self.info = host_node_info()
        self.node_uid: str | None = None
        self.node: Obj = {}  # the Node as last read from (or written to) the API server
        self.capacity, self.allocatable = host_resources(max_pods, root_dir)
        self._lease_version: str | None = None
        self._last_report = 0.0
        self._poked = asyncio.Event()

    @property
    def addresses(self) -> list[Obj]:
        return [{"type": "InternalIP", "address": self.node_ip}, {"type": "Hostname", "address": self.hostname}]

    def poke(self) -> None:
        """Something the status shows may have changed: update it now."""
        self._poked.set()

    # -- registration ---------------------------------------------------------------------

    def _desired_status(self, previous: list[Mapping] | None) -> Obj:
        problem = self.runtime_status()
        memory, disk, pid = host_pressure(self.root_dir)
        self.capacity, self.allocatable = host_resources(self.max_pods, self.root_dir)
        return {
            "capacity": self.capacity, "allocatable": self.allocatable,
            "conditions": node_conditions(ready=problem is None, ready_message=problem, memory_pressure=memory,
                                          disk_pressure=disk, pid_pressure=pid, previous=previous),
            "addresses": self.addresses,
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.kubelet_port}},
            "nodeInfo": self.info,
        }

    async def register(self) -> Obj:
        """Create the Node (or adopt the one there), retrying until the API server answers."""
        delay = 0.2
        while True:
            try:
                return await self._register_once()
            except (TransportError, ApiError) as error:
                log.warning("registering node %s failed (retrying in %.1fs): %s", self.node_name, delay, error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 7.0)

    async def _register_once(self) -> Obj:
        node = build_node(self.node_name, capacity=self.capacity, labels=self.labels, taints=self.taints,
                          addresses=self.addresses, kubelet_port=self.kubelet_port, info=self.info)
        node["status"] = self._desired_status(None)
        try:
            created = await self.client.create(NODES, node)
            log.info("registered node %s", self.node_name)
        except AlreadyExists:
            existing = await self.client.get(NODES, self.node_name)
            wanted = {**node["metadata"]["labels"]}
            labels = (existing.get("metadata") or {}).get("labels") or {}
            if any(labels.get(k) != v for k, v in wanted.items()):
                existing = await self.client.patch(NODES, self.node_name, {"metadata": {"labels": wanted}})
            created = existing
            log.info("node %s was already registered", self.node_name)
        self.node_uid = created["metadata"]["uid"]
        self.node = created
        await self._post_status(created)
        return created

    # -- loops ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Heartbeat and status until cancelled (call ``register`` first)."""
        await asyncio.gather(self._lease_loop(), self._status_loop())

    async def _lease_loop(self) -> None:
        interval = self.lease_duration / 4
        while True:
            try:
                await self.renew_lease()
                await asyncio.sleep(interval)
            except (TransportError, ApiError) as error:
                # Upstream retries quickly (200 ms doubling to 7 s) when a renewal fails.
                log.warning("renewing the lease of node %s failed: %s", self.node_name, error)
                await asyncio.sleep(min(interval, 1.0))

    async def renew_lease(self) -> None:
        lease = build_lease(self.node_name, node_uid=self.node_uid, duration=self.lease_duration)
        if self._lease_version is None:
            try:
                created = await self.client.create(LEASES, lease, namespace=LEASE_NAMESPACE)
                self._lease_version = created["metadata"]["resourceVersion"]
                return
            except AlreadyExists:
                current = await self.client.get(LEASES, self.node_name, namespace=LEASE_NAMESPACE)
                self._lease_version = current["metadata"]["resourceVersion"]
        lease["metadata"]["resourceVersion"] = self._lease_version
        try:
            updated = await self.client.update(LEASES, lease, namespace=LEASE_NAMESPACE)
        except (Conflict, NotFound):
            self._lease_version = None  # re-read (or re-create) it on the retry
            raise
        self._lease_version = updated["metadata"]["resourceVersion"]

    async def _status_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                await asyncio.wait_for(self._poked.wait(), self.status_update_frequency)
            except TimeoutError:
                pass
            self._poked.clear()
            try:
                node = await self.client.get(NODES, self.node_name)
            except NotFound:
                log.warning("node %s is gone from the API server: registering it again", self.node_name)
                self._lease_version = None
                await self.register()
                continue
            except (TransportError, ApiError) as error:
                log.warning("reading node %s failed: %s", self.node_name, error)
                continue
            self.node = node
            if self._status_changed(node) or loop.time() - self._last_report >= self.status_report_frequency:
                try:
                    await self._post_status(node)
                except (TransportError, ApiError) as error:
                    log.warning("updating the status of node %s failed: %s", self.node_name, error)

    def _status_changed(self, node: Mapping) -> bool:
        current = node.get("status") or {}
        wanted = self._desired_status(current.get("conditions"))

        def comparable(conditions):
            return [{k: v for k, v in c.items() if k != "lastHeartbeatTime"} for c in conditions or ()]

        if comparable(current.get("conditions")) != comparable(wanted["conditions"]):
            return True
        return any(current.get(key) != wanted[key] for key in wanted if key != "conditions")

    async def _post_status(self, node: Mapping) -> None:
        previous = (node.get("status") or {}).get("conditions")
        status = self._desired_status(previous)
        was_ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in previous or ())
        await self.client.patch(NODES, self.node_name, {"status": status}, subresource="status",
                                patch_type=PatchType.MERGE)
        self._last_report = asyncio.get_running_loop().time()
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in status["conditions"])
        if ready != was_ready and self.on_ready_change is not None:
            self.on_ready_change(dict(node), ready)
