"""One container of a pod as the pod worker tracks it (``ContainerSlot``): its runs, why it
waits, its crash-loop back-off and its prober; and what a run needs from the pod (host ports,
working directory).

Back-off is upstream's flowcontrol.Backoff keyed by container: the first restart after a
failure is immediate, each later one waits twice as long as the one before (``base``, 10 s,
doubling up to ``cap``, 5 minutes), and a container that ran for ``2 × cap`` (10 minutes)
since the last back-off step starts again from ``base``.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyk8s.kubelet.environment import env_name
from pyk8s.kubelet.process import ContainerRun, ExitRecord
from pyk8s.kubelet.probes import ContainerProber
from pyk8s.kubelet.status import container_status, running_state, terminated_state, waiting_state

__all__ = ["ContainerSlot", "assign_ports", "port_env", "port_map", "working_dir"]

Obj = dict[str, Any]

INIT = "init"
SIDECAR = "sidecar"
REGULAR = "regular"


def _terminated(run: ContainerRun) -> Obj:
    record: ExitRecord = run.exit
    return terminated_state(
        record.exit_code, record.reason, started_at=record.started_at or run.started_at,
        finished_at=record.finished_at, message=record.message, signal=record.signal, container_id=run.container_id,
    )


@dataclass(eq=False)
class ContainerSlot:
    spec: Obj
    kind: str  # INIT, SIDECAR or REGULAR
    runs: list[ContainerRun] = field(default_factory=list)  # oldest first; the last is current
    waiting: tuple[str, str | None] | None = None  # why no run is (re)starting now
    backoff_delay: float = 0.0
    backoff_updated: float | None = None  # epoch seconds of the last back-off step
    backoff_reported: float | None = None  # the back-off period an event was recorded for
    prober: ContainerProber | None = None
    stopping: asyncio.Task | None = None
    failed_message: str | None = None  # last Failed event, so a repeated failure is told once
    changed: bool = False  # its spec (image) changed: replace the run at once, whatever the policy

    @property
    def name(self) -> str:
        return self.spec.get("name", "")

    @property
    def current(self) -> ContainerRun | None:
        return self.runs[-1] if self.runs else None

    @property
    def previous(self) -> ContainerRun | None:
        return self.runs[-2] if len(self.runs) > 1 else None

    @property
    def running(self) -> bool:
        run = self.current
        return run is not None and run.running

    @property
    def started(self) -> bool:
        """Running and past its startup probe."""
        return self.running and (self.prober is None or self.prober.started)

    @property
    def succeeded(self) -> bool:
        run = self.current
        return run is not None and run.exit is not None and run.exit.exit_code == 0

    def add_run(self, run: ContainerRun) -> None:
        self.runs = [*self.runs[-1:], run]

    def in_backoff(self, now: float, cap: float) -> float:
        """Seconds of back-off left before the current (ended) run may be replaced; 0 if none."""
        run = self.current
        if run is None or run.exit is None or self.backoff_updated is None:
            return 0.0
        finished = run.exit.finished_ns / 1e9 if run.exit.finished_ns else now
        if finished - self.backoff_updated > 2 * cap:
            return 0.0
        return max(self.backoff_delay - (now - finished), 0.0)

    def step_backoff(self, now: float, base: float, cap: float) -> None:
        if self.backoff_updated is None or now - self.backoff_updated > 2 * cap:
            self.backoff_delay = base
        else:
            self.backoff_delay = min(self.backoff_delay * 2, cap)
        self.backoff_updated = now

    def status(self, *, initialized: bool) -> Obj:
        """This container's entry in (init)containerStatuses."""
        run, previous = self.current, self.previous
        if run is None:
            default = "ContainerCreating" if self.kind == REGULAR and initialized else "PodInitializing"
            reason, message = self.waiting or (default, None)
            return container_status(self.spec, waiting_state(reason, message))
        last = _terminated(previous) if previous is not None and previous.exit is not None else None
        if run.exit is None:
            ready = self.prober.ready if self.prober is not None else True
            started = self.prober.started if self.prober is not None else True
            if self.kind == INIT:
                ready = False
            return container_status(self.spec, running_state(run.started_at), ready=ready, started=started,
                                    restart_count=run.attempt, last_state=last, container_id=run.container_id)
        if self.waiting is not None:
            reason, message = self.waiting
            return container_status(self.spec, waiting_state(reason, message), restart_count=run.attempt,
                                    last_state=_terminated(run), started=False, container_id=run.container_id)
        ready = self.kind == INIT and run.exit.exit_code == 0
        return container_status(self.spec, _terminated(run), ready=ready, started=False, restart_count=run.attempt,
                                last_state=last, container_id=run.container_id)


# -- ports -------------------------------------------------------------------------------------


def _free_port(protocol: str) -> int:
    kind = socket.SOCK_DGRAM if protocol == "UDP" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("0.0.0.0", 0))
        return probe.getsockname()[1]


def assign_ports(pod: Mapping) -> dict[str, dict[str, int]]:
    """container name -> {container port number or port name -> host port}: a ``hostPort``
    as declared, any other container port a free port of this host."""
    spec = pod.get("spec") or {}
    assigned: dict[str, dict[str, int]] = {}
    for container in [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]:
        ports: dict[str, int] = {}
        for port in container.get("ports") or ():
            number = port.get("containerPort")
            if not number:
                continue
            host_port = port.get("hostPort") or _free_port(port.get("protocol", "TCP"))
            ports.setdefault(str(number), host_port)
            if port.get("name"):
                ports[port["name"]] = host_port
        if ports:
            assigned[container.get("name", "")] = ports
    return assigned


def port_map(assigned: Mapping[str, Mapping[str, int]], container_name: str) -> dict[str, int]:
    """The ports a probe of this container may name: its own first, then the pod's others
    (containers of a pod share one network)."""
    merged: dict[str, int] = {}
    for name, ports in assigned.items():
        if name != container_name:
            merged.update(ports)
    merged.update(assigned.get(container_name) or {})
    return merged


def port_env(container: Mapping, assigned: Mapping[str, Mapping[str, int]]) -> dict[str, str]:
    ports = assigned.get(container.get("name", "")) or {}
    env: dict[str, str] = {}
    declared = [p for p in container.get("ports") or () if p.get("containerPort")]
    if declared:
        env["PORT"] = str(ports.get(str(declared[0]["containerPort"]), declared[0]["containerPort"]))
    for key, host_port in ports.items():
        env[f"PYK8S_PORT_{env_name(key)}"] = str(host_port)
    return env


def working_dir(container: Mapping, work_dir: Path) -> str:
    """``workingDir`` if absolute (it must exist), else under the pod's work directory
    (created, as a runtime creates a missing working directory in the container)."""
    requested = container.get("workingDir") or ""
    if os.path.isabs(requested):
        return requested
    target = work_dir / requested if requested else work_dir
    target.mkdir(parents=True, exist_ok=True)
    return str(target)
