"""The pods of hollow nodes: admitted, moved through the kubelet's status transitions, and
finished or deleted, without running anything (as KWOK's stages and kubemark's fake runtime).

One list+watch of every scheduled pod (``fieldSelector=spec.nodeName!=``) feeds
``HollowPods.replace`` / ``HollowPods.apply``; pods of other nodes are skipped by a set
lookup.  Per pod, the transitions are those of the real kubelet:

1. admission, the real kubelet's (``admission``: OS, node affinity, NoExecute taints, host
   ports, then ``OutOfpods``, ``OutOfcpu``, ``OutOfmemory`` ... against allocatable), which
   rejects the pod with phase Failed;
2. with a running delay, ``Pending`` with every container ``ContainerCreating`` (or
   ``PodInitializing`` when the pod has init containers);
3. ``Running``: PodReadyToStartContainers, Initialized, ContainersReady, Ready and
   PodScheduled True, containers running since startedAt, a podIP from the node's fake pod
   CIDR (the host's IP for hostNetwork pods), hostIP and startTime;
4. pods that end (owned by a Job, or annotated ``pyk8s.io/simulated-duration``) exit after
   the duration with ``pyk8s.io/simulated-exit-code`` (default 0); then, as the restart
   policy says, ``Succeeded``/``Failed`` or a restart: at once the first time, then
   ``CrashLoopBackOff`` for 10 s doubling to 5 min (reset after 10 min running), with
   ``restartCount`` and ``lastState``.  Every container of a pod shares one fate.
5. a pod being deleted (``deletionTimestamp`` with a grace period) is deleted at once with
   gracePeriodSeconds 0 and its uid as precondition: nothing needs stopping.

Statuses are built by the kubelet's own builders (``status``) from the container states a
fake runtime would report, and written as a strategic merge patch of ``pods/status`` carrying
``metadata.uid`` (a write can never land on a new pod of the same name) through the
``KeyedWriter``.
"""

from __future__ import annotations

import asyncio
import calendar
import functools
import hashlib
import logging
import time
from collections.abc import Mapping
from typing import Any

import orjson

from pyk8s._duration import parse_go_duration
from pyk8s.scheduler._objects import SchedulingInputError, pod_requests

from .admission import admit, host_ports
from .simulated_writer import KeyedWriter, Write
from .status import (
    KUBELET_CONDITIONS, container_status, format_pod, go_duration, is_restartable_init_container, pod_status, rejected_status,
    running_state, terminated_state, waiting_state,
)

__all__ = [
    "DURATION_ANNOTATION", "EXIT_CODE_ANNOTATION", "HollowNode", "HollowPods", "parse_duration", "rfc3339",
]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"

DURATION_ANNOTATION = "pyk8s.io/simulated-duration"
EXIT_CODE_ANNOTATION = "pyk8s.io/simulated-exit-code"
# kubelet's container restart back-off (kubelet.go: backOffPeriod, MaxContainerBackOff) and
# the time a container must run for its back-off to be forgotten.
BACKOFF_INITIAL = 10.0
BACKOFF_CAP = 300.0
BACKOFF_RESET_AFTER = 600.0



def parse_duration(text: str) -> float:
    """Seconds from a Go duration ("5s", "1m30s", "250ms") or a bare number of seconds."""
    return parse_go_duration(text, allow_negative=False)


_formatted: dict[int, str] = {}


def rfc3339(moment: float) -> str:
    """metav1.Time: whole seconds, UTC.  Consecutive calls mostly hit the same second."""
    second = int(moment)
    text = _formatted.get(second)
    if text is None:
        if len(_formatted) > 256:
            _formatted.clear()
        text = _formatted[second] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
    return text


class HollowNode:
    """What the pods of one hollow node need: its addresses, its fake pod CIDR and what of
    its allocatable its admitted pods use."""

    __slots__ = ("name", "host_ip", "pod_cidr", "view", "allocatable", "used", "port_holders", "_pod_base", "_pod_size",
                 "_next", "_released")

    def __init__(self, name: str, host_ip: str, pod_base: int, prefix_length: int, allocatable: Mapping[str, int],
                 view: Obj | None = None):
        self.name = name
        self.host_ip = host_ip
        # The slice of the Node admission reads: labels, taints, allocatable, nodeInfo.
        self.view: Obj = view or {"metadata": {"labels": {}}, "spec": {}, "status": {}}
        # The admitted pods that hold host ports, reduced to those ports, for admission's
        # NodePorts check (most pods hold none).
        self.port_holders: dict[tuple[str, str], Obj] = {}
        self._pod_base = pod_base
        self._pod_size = 1 << (32 - prefix_length)
        self.pod_cidr = f"{_ip_text(pod_base)}/{prefix_length}"
        self.allocatable = dict(allocatable)
        self.used: dict[str, int] = {}
        self._next = 2  # .0 is the network, .1 the (notional) bridge
        self._released: list[int] = []

    def allocate_ip(self) -> str | None:
        if self._released:
            return _ip_text(self._pod_base + self._released.pop())
        if self._next >= self._pod_size - 1:  # the last address is the broadcast
            return None
        self._next += 1
        return _ip_text(self._pod_base + self._next - 1)

    def reserve_ip(self, ip: str) -> None:
        """An address a pod already has (found running when the kubelet started)."""
        offset = _ip_value(ip) - self._pod_base
        if 2 <= offset < self._pod_size - 1:
            if offset in self._released:
                self._released.remove(offset)
            while self._next <= offset:
                if self._next != offset:
                    self._released.append(self._next)
                self._next += 1

    def release_ip(self, ip: str) -> None:
        offset = _ip_value(ip) - self._pod_base
        if 2 <= offset < self._next:
            self._released.append(offset)

    def shortage(self, requests: Mapping[str, int]) -> tuple[str, str] | None:
        """(reason, message) for the first resource the pod does not fit in, in the
        kubelet's order: pods, cpu, memory, ephemeral-storage, then the others by name."""
        for name in ("pods", "cpu", "memory", "ephemeral-storage", *sorted(set(requests) - _ORDERED_RESOURCES)):
            amount = requests.get(name, 0)
            if amount <= 0:
                continue
            used = self.used.get(name, 0)
            capacity = self.allocatable.get(name, 0)
            if used + amount > capacity:
                return f"OutOf{name}", (f"Node didn't have enough resource: {name}, requested: {amount}, "
                                        f"used: {used}, capacity: {capacity}")
        return None

    def charge(self, record: PodRecord, sign: int) -> None:
        used = self.used
        for name, amount in record.requests.items():
            used[name] = used.get(name, 0) + sign * amount
        if record.ports_holder is not None:
            if sign > 0:
                self.port_holders[record.key] = record.ports_holder
            else:
                self.port_holders.pop(record.key, None)


def _ip_text(value: int) -> str:
    return f"{value >> 24 & 255}.{value >> 16 & 255}.{value >> 8 & 255}.{value & 255}"


def _ip_value(text: str) -> int:
    a, b, c, d = (int(part) for part in text.split("."))
    return a << 24 | b << 16 | c << 8 | d


_ORDERED_RESOURCES = frozenset(("pods", "cpu", "memory", "ephemeral-storage"))

# Stages of a pod's life here.
CREATING, RUNNING, BACKOFF, SUCCEEDED, FAILED, REJECTED, DELETING = (
    "creating", "running", "backoff", "succeeded", "failed", "rejected", "deleting")


class PodRecord:
    """What is kept per pod: where it is in its life, and ``view``, the slice of the pod the
    status builders read (names, images, restart policy, readiness gates, and the conditions
    last written, whose transition times carry over)."""

    __slots__ = (
        "uid", "node", "view", "duration", "exit_code", "host_network", "requests", "stage", "ip", "first_seen",
        "sandbox_at", "started_at", "restarts", "backoff", "last_run", "timer", "status_path", "charged",
        "holds_ip", "config_error", "ports_holder", "changed_at", "rejection", "backing_off",
    )

    def __init__(self, pod: Obj, node: HollowNode, now: float) -> None:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        annotations = meta.get("annotations") or {}
        self.uid = meta.get("uid", "")
        self.node = node
        view_spec: Obj = {
            "containers": [{"name": c["name"], "image": c.get("image", "")} for c in spec.get("containers") or ()],
            "restartPolicy": spec.get("restartPolicy") or "Always",
        }
        if spec.get("initContainers"):
            view_spec["initContainers"] = [
                {"name": c["name"], "image": c.get("image", ""), **({"restartPolicy": "Always"} if is_restartable_init_container(c) else {})}
                for c in spec["initContainers"]]
        if spec.get("readinessGates"):
            view_spec["readinessGates"] = spec["readinessGates"]
        status = pod.get("status") or {}
        self.view: Obj = {
            "metadata": {"namespace": meta.get("namespace", ""), "name": meta["name"], "uid": self.uid},
            "spec": view_spec,
            "status": {"conditions": list(status.get("conditions") or ())},
        }
        # A pod whose annotations cannot be read stays Pending with the reason on its
        # containers, as the kubelet reports a container it cannot configure.
        self.config_error: str | None = None
        self.duration: float | None = None
        self.exit_code = 0
        duration = annotations.get(DURATION_ANNOTATION)
        try:
            if duration is not None:
                self.duration = parse_duration(duration)
            elif any(ref.get("kind") == "Job" for ref in meta.get("ownerReferences") or ()):
                self.duration = 0.0  # KWOK's pod-complete stage: a Job's pod completes once running
        except ValueError as error:
            self.config_error = f"annotation {DURATION_ANNOTATION}: {error}"
        code = annotations.get(EXIT_CODE_ANNOTATION, "0")
        try:
            self.exit_code = int(code)
            if not 0 <= self.exit_code <= 255:
                raise ValueError
        except ValueError:
            self.config_error = f"annotation {EXIT_CODE_ANNOTATION}: {code!r} is not an exit code (0-255)"
        self.host_network = bool(spec.get("hostNetwork"))
        ports = [{"containerPort": port[2], "hostPort": port[2], "protocol": port[0], "hostIP": port[1]}
                 for port in host_ports(pod)]
        self.ports_holder: Obj | None = {"spec": {"containers": [{"ports": ports}]}} if ports else None
        try:
            self.requests = {**pod_requests(spec), "pods": 1}
        except SchedulingInputError:  # the API server validated the quantities already
            self.requests = {"pods": 1}
        self.stage = CREATING
        self.ip: str | None = None
        self.first_seen = now
        self.sandbox_at = now
        self.started_at = now
        self.restarts = max((s.get("restartCount", 0) for s in status.get("containerStatuses") or ()), default=0)
        self.backoff = 0.0  # the next back-off; 0: none yet, the next exit restarts at once
        self.backing_off = 0.0  # the back-off being waited now
        self.last_run: tuple[int, str, float, float] | None = None  # exit code, reason, started, finished
        self.timer: asyncio.TimerHandle | None = None
        self.status_path = f"/api/v1/namespaces/{self.view['metadata']['namespace']}/pods/{meta['name']}/status"
        self.charged = False
        self.holds_ip = False
        self.changed_at = now  # when the status last changed: the "now" of its conditions
        self.rejection: tuple[str, str] | None = None  # (reason, message) when admission refused it

    @property
    def key(self) -> tuple[str, str]:
        meta = self.view["metadata"]
        return meta["namespace"], meta["name"]

    def describe(self) -> str:
        return f"{self.view['metadata']['namespace']}/{self.view['metadata']['name']}"


def _container_id(record: PodRecord, container: str, run: int) -> str:
    digest = hashlib.sha256(f"{record.uid}/{container}/{run}".encode()).hexdigest()
    return f"simulated://{digest}"


class HollowPods:
    """Pods of the hollow nodes in ``nodes``; statuses and deletions go to ``writer``."""

    def __init__(self, nodes: Mapping[str, HollowNode], writer: KeyedWriter, *, running_delay: float = 0.0) -> None:
        self.nodes = nodes
        self.writer = writer
        self.running_delay = running_delay
        self.records: dict[tuple[str, str], PodRecord] = {}
        self.clock = time.time
        self.transitions = 0  # status writes submitted (for tests and benchmarks)

    # -- the watch ---------------------------------------------------------------------------

    def replace(self, pods: list[Obj], _resource_version: str) -> None:
        """A (re-)list: pods no longer listed are forgotten, the rest handled as events."""
        listed = set()
        for pod in pods:
            meta = pod.get("metadata") or {}
            listed.add((meta.get("namespace", ""), meta.get("name", "")))
            self.apply("ADDED", pod)
        for key in [key for key in self.records if key not in listed]:
            self._forget(self.records[key])

    def apply(self, event_type: str, pod: Obj) -> None:
        node = self.nodes.get((pod.get("spec") or {}).get("nodeName") or "")
        if node is None:
            return
        meta = pod["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        record = self.records.get(key)
        if record is not None and record.uid != meta.get("uid"):
            # The name was deleted and reused while we were not watching.
            self._forget(record)
            record = None
        if event_type == "DELETED":
            if record is not None:
                self._forget(record)
            return
        if meta.get("deletionTimestamp"):
            self._delete(record, pod, node)
            return
        if record is None:
            self._first_sight(pod, node)

    def _first_sight(self, pod: Obj, node: HollowNode) -> None:
        status = pod.get("status") or {}
        if status.get("phase") in ("Succeeded", "Failed"):
            return
        record = PodRecord(pod, node, self.clock())
        self.records[record.key] = record
        if record.config_error is not None:
            self._write(record)
            return
        if status.get("phase") == "Running" and self._adopt(record, status):
            return
        rejection = self._admit(pod, record)
        if rejection is not None:
            self._reject(record, *rejection)
            return
        node.charge(record, +1)
        record.charged = True
        if self.running_delay > 0:
            self._write(record)  # Pending, ContainerCreating
            record.timer = asyncio.get_running_loop().call_later(self.running_delay, self._start, record)
        else:
            self._start(record)

    @staticmethod
    def _admit(pod: Obj, record: PodRecord) -> tuple[str, str] | None:
        """The kubelet's admission: ``admission.admit`` checks OS, node affinity, NoExecute
        taints and host ports (against the pods holding ports); the resources are checked
        here against running totals rather than summed over the node's pods for each pod."""
        node = record.node
        rejection = admit(pod, node.view, list(node.port_holders.values()), max_pods=1 << 30)
        if rejection is not None and not rejection[0].startswith("OutOf"):
            return rejection
        return node.shortage(record.requests)

    def _adopt(self, record: PodRecord, status: Obj) -> bool:
        """A pod found Running (written by an earlier run of this kubelet): carry on from its
        status rather than start it again."""
        statuses = status.get("containerStatuses") or ()
        running = [s["state"]["running"] for s in statuses if (s.get("state") or {}).get("running")]
        if not statuses or len(running) != len(statuses):
            return False
        started = _parse_time(running[0].get("startedAt")) or record.first_seen
        record.first_seen = _parse_time(status.get("startTime")) or started
        record.stage = RUNNING
        record.started_at = record.sandbox_at = started
        record.node.charge(record, +1)
        record.charged = True
        ip = status.get("podIP")
        if ip and not record.host_network:
            record.node.reserve_ip(ip)
            record.holds_ip = True
        record.ip = ip or None
        if record.duration is not None:
            remaining = max(0.0, record.duration - (self.clock() - started))
            record.timer = asyncio.get_running_loop().call_later(remaining, self._exit, record)
        return True

    # -- transitions -------------------------------------------------------------------------

    def _start(self, record: PodRecord) -> None:
        record.timer = None
        if record.stage not in (CREATING, BACKOFF):
            return
        now = self.clock()
        if record.stage == CREATING:
            record.sandbox_at = now
            if record.host_network:
                record.ip = record.node.host_ip
            else:
                record.ip = record.node.allocate_ip()
                record.holds_ip = record.ip is not None
                if record.ip is None:
                    log.warning("pod %s: node %s has no pod IP left in %s", record.describe(), record.node.name,
                                record.node.pod_cidr)
        else:
            record.restarts += 1
        record.stage = RUNNING
        record.started_at = now
        self._write(record)
        if record.duration is not None:
            record.timer = asyncio.get_running_loop().call_later(record.duration, self._exit, record)

    def _exit(self, record: PodRecord) -> None:
        """The pod's containers exited with its exit code: finish or restart it."""
        record.timer = None
        if record.stage != RUNNING:
            return
        now = self.clock()
        code = record.exit_code
        record.last_run = (code, "Completed" if code == 0 else "Error", record.started_at, now)
        policy = record.view["spec"]["restartPolicy"]
        if policy == "Never" or (policy == "OnFailure" and code == 0):
            record.stage = SUCCEEDED if code == 0 else FAILED
            self._write(record)
            self._release(record)
            return
        if now - record.started_at >= BACKOFF_RESET_AFTER:
            record.backoff = 0.0
        record.stage = BACKOFF
        if record.backoff == 0.0:
            # The first exit restarts at once; back-off starts with the next one.
            record.backoff = BACKOFF_INITIAL
            self._start(record)
            return
        record.backing_off, record.backoff = record.backoff, min(record.backoff * 2, BACKOFF_CAP)
        self._write(record)
        record.timer = asyncio.get_running_loop().call_later(record.backing_off, self._start, record)

    def _reject(self, record: PodRecord, reason: str, message: str) -> None:
        """Admission refused the pod (the kubelet's rejectPod): Failed, nothing else reported."""
        record.stage = REJECTED
        record.rejection = (reason, message)
        self._write(record)

    def _delete(self, record: PodRecord | None, pod: Obj, node: HollowNode) -> None:
        meta = pod["metadata"]
        if meta.get("deletionGracePeriodSeconds") == 0:
            return  # already deleted with no grace: only finalizers keep it
        if record is None:
            record = PodRecord(pod, node, self.clock())
            self.records[record.key] = record
        elif record.stage == DELETING:
            return
        self._release(record)
        record.stage = DELETING
        options = {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
                   "preconditions": {"uid": record.uid}}
        path = record.status_path.removesuffix("/status")
        self.writer.submit(record.key, Write("DELETE", path, orjson.dumps(options)))

    def _forget(self, record: PodRecord) -> None:
        self._release(record)
        if self.records.get(record.key) is record:
            del self.records[record.key]
            if record.stage != DELETING:
                self.writer.discard(record.key)

    def _release(self, record: PodRecord) -> None:
        """Stop the pod's clock and give back its share of the node and its IP (a finished
        pod's status keeps the address, as upstream's does, while the node reuses it)."""
        if record.timer is not None:
            record.timer.cancel()
            record.timer = None
        if record.charged:
            record.node.charge(record, -1)
            record.charged = False
        if record.holds_ip:
            record.node.release_ip(record.ip)
            record.holds_ip = False

    # -- statuses ----------------------------------------------------------------------------

    def _write(self, record: PodRecord) -> None:
        """Queue the record's status.  The body is built when the write is sent, from the
        record as it is then: a status superseded while queued costs nothing, and a backlog
        of thousands of pods holds no bodies."""
        record.changed_at = self.clock()
        self.transitions += 1
        self.writer.submit(record.key, Write("PATCH", record.status_path, functools.partial(self._status_body, record),
                                             STRATEGIC_MERGE_PATCH))

    def _status_body(self, record: PodRecord) -> bytes | None:
        if record.stage == DELETING:
            return None
        if record.stage == REJECTED:
            status = rejected_status(record.view, *record.rejection, now=rfc3339(record.changed_at))
        else:
            status = self.status(record)
        # Strategic merge: the conditions merge by type, so one another component added
        # (DisruptionTarget, a readiness gate's) survives; a kubelet condition's reason and
        # message are nulled when absent, or the previous ones would stay.
        conditions = status.get("conditions")
        if conditions:
            record.view["status"]["conditions"] = conditions
            for condition in conditions:
                if condition["type"] in KUBELET_CONDITIONS:
                    condition.setdefault("reason", None)
                    condition.setdefault("message", None)
        return orjson.dumps({"metadata": {"uid": record.uid}, "status": status})

    def status(self, record: PodRecord) -> Obj:
        """The pod's status for its stage, built by the kubelet's status builders from
        container states as the fake runtime would report them."""
        now = record.changed_at
        stage = record.stage
        spec = record.view["spec"]
        init_statuses = [self._init_status(record, container) for container in spec.get("initContainers") or ()]
        statuses = [self._container_status(record, container) for container in spec["containers"]]
        status = pod_status(
            record.view, init_container_statuses=init_statuses, container_statuses=statuses,
            host_ip=record.node.host_ip, pod_ip=record.ip or "", start_time=rfc3339(record.first_seen),
            ready_to_start_containers=stage in (RUNNING, BACKOFF), now=rfc3339(now),
        )
        if record.ip is None:
            del status["podIP"], status["podIPs"]
        return status

    def _container_status(self, record: PodRecord, container: Obj) -> Obj:
        stage = record.stage
        name = container["name"]
        if stage == CREATING:
            if record.config_error is not None:
                state = waiting_state("CreateContainerConfigError", record.config_error)
            else:
                state = waiting_state("PodInitializing" if "initContainers" in record.view["spec"] else "ContainerCreating")
            return container_status(container, state, restart_count=record.restarts)
        last_state = None
        if record.last_run is not None and stage in (RUNNING, BACKOFF):
            last_state = self._terminated(record, name, record.last_run, record.restarts - (stage == RUNNING))
        if stage == RUNNING:
            state = running_state(rfc3339(record.started_at))
        elif stage == BACKOFF:
            state = waiting_state("CrashLoopBackOff", f"back-off {go_duration(record.backing_off)} restarting failed "
                                                      f"container={name} pod={format_pod(record.view)}")
        else:
            state = self._terminated(record, name, record.last_run, record.restarts)
        return container_status(container, state, ready=stage == RUNNING, restart_count=record.restarts,
                                last_state=last_state, container_id=_container_id(record, name, record.restarts),
                                image_id=container["image"])

    def _init_status(self, record: PodRecord, container: Obj) -> Obj:
        if is_restartable_init_container(container):
            return self._container_status(record, container)
        if record.stage == CREATING:
            return container_status(container, waiting_state("PodInitializing"))
        run = (0, "Completed", record.sandbox_at, record.sandbox_at)
        return container_status(container, self._terminated(record, container["name"], run, 0), ready=True,
                                container_id=_container_id(record, container["name"], 0), image_id=container["image"])

    @staticmethod
    def _terminated(record: PodRecord, name: str, run: tuple[int, str, float, float], restarts: int) -> Obj:
        code, reason, started, finished = run
        return terminated_state(code, reason, started_at=rfc3339(started), finished_at=rfc3339(finished),
                                container_id=_container_id(record, name, restarts))


def _parse_time(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        return None
