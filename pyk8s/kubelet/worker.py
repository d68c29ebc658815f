"""The pod worker: one task per pod that brings its containers to what the pod asks for
and reports it (upstream's podWorkers + SyncPod + SyncTerminatingPod).

A sync, run whenever something changed (the pod, a container's exit, a probe result, a timer)
and every resync period otherwise:

1. a pod being deleted (or gone from the API server) is terminated: each running container
   gets its preStop hook, SIGTERM, the rest of the grace period (at least 2 s, as upstream),
   then SIGKILL of its process group; the final status is posted and the pod deleted with
   grace 0 and its uid as precondition, which removes the API object;
2. a new pod is admitted or rejected (Failed, ``Pod was rejected: ...``);
3. the pod's directory, host ports and volumes are set up;
4. init containers run one at a time, in order (a sidecar, ``restartPolicy: Always``, only
   has to be started); a failed one restarts unless the pod's policy is Never, which fails
   the pod;
5. regular containers are started, and restarted after they end as the restart policy says,
   with crash-loop back-off;
6. the status is posted when it changed.

A pod whose containers will not run again (restart policy, ``activeDeadlineSeconds``) is
terminal: Succeeded or Failed, its logs kept until the pod is deleted.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pyk8s.client import PODS, ApiError, Conflict, Invalid, NotFound, TransportError
from pyk8s.kubelet.containers import INIT, REGULAR, SIDECAR, ContainerSlot, assign_ports, port_env, port_map, working_dir
from pyk8s.kubelet.environment import ConfigError, ObjectSource, PodContext, command_line, container_env
from pyk8s.kubelet.logs import parse_time
from pyk8s.kubelet.probes import ContainerProber, ProbeTarget, run_handler
from pyk8s.kubelet.process import ContainerRun, LaunchSpec, process_environ
from pyk8s.kubelet.status import (
    KUBELET_CONDITIONS, format_pod, go_duration, is_restartable_init_container, now_rfc3339, pod_status,
    rejected_status, status_patch,
)
from pyk8s.kubelet.volumes import VolumeError, mount_paths, setup_volumes

if TYPE_CHECKING:
    from pyk8s.kubelet.kubelet import Kubelet

__all__ = ["PodWorker"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

MINIMUM_GRACE_SECONDS = 2.0  # kuberuntime's minimumGracePeriodInSeconds
_RETRY_SECONDS = 2.0
_VOLUME_REFRESH_SECONDS = 60.0
_STATUS_FIELDS = ("phase", "conditions", "message", "reason", "hostIP", "hostIPs", "podIP", "podIPs", "startTime",
                  "initContainerStatuses", "containerStatuses")
# The usual way to get here is ``kubectl run NAME --image=X -- CMD``, whose words after ``--``
# are args unless --command is given: say so.
_NO_COMMAND = ("the pyk8s process runtime runs a container's command and args as a local process and ignores its "
               "image, so a container needs spec.containers[].command (with kubectl run, pass --command so that "
               "the words after -- are the command, not args)")


class PodWorker:
    def __init__(self, kubelet: Kubelet, pod: Obj) -> None:
        self.kubelet = kubelet
        self.pod = pod
        meta = pod["metadata"]
        self.uid: str = meta["uid"]
        self.namespace: str = meta.get("namespace", "")
        self.name: str = meta["name"]
        spec = pod.get("spec") or {}
        self.slots: list[ContainerSlot] = [
            ContainerSlot(c, SIDECAR if is_restartable_init_container(c) else INIT) for c in spec.get("initContainers") or ()
        ] + [ContainerSlot(c, REGULAR) for c in spec.get("containers") or ()]
        self.admitted = False
        self.rejected = False
        self.terminal = False  # nothing of the pod runs again
        self.removed = False  # the API object is gone
        self.stopped = False  # the kubelet is shutting down
        self.reason: str | None = None
        self.message: str | None = None
        self.start_time: str | None = (pod.get("status") or {}).get("startTime")
        self.ports: dict[str, dict[str, int]] | None = None
        self.volume_paths: dict[str, str] | None = None
        self.volumes_synced = 0.0
        self.last_posted: Obj | None = None
        self.last_post_time = 0.0
        # A pod already Succeeded or Failed that this kubelet has no state of (rejected
        # earlier, or its directory is gone) never runs again, and its status stays.
        self.inherited_terminal = False
        self.wakeup = asyncio.Event()
        self.next_wake: float | None = None
        self.task: asyncio.Task | None = None
        self._deadlines: list[list[float]] = []  # when each container being stopped gets SIGKILL
        self._recover()

    # -- life ------------------------------------------------------------------------------

    def _recover(self) -> None:
        """Pick up what a previous kubelet left: the pod record and every run on disk."""
        record = self.kubelet.runtime.pod_record(self.uid)
        if record is None:
            if (self.pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                self.inherited_terminal = self.admitted = self.terminal = True
            return
        self.admitted = True
        self.ports = record.get("ports") or {}
        self.start_time = record.get("startTime") or self.start_time
        runs = self.kubelet.runtime.recover(self.uid)
        for slot in self.slots:
            for run in runs.get(slot.name, ()):
                slot.add_run(run)
                if run.running:
                    self._watch(slot, run)
                    self._start_prober(slot, run)

    def start(self) -> None:
        self.wake()
        self.task = asyncio.ensure_future(self._loop())

    def update(self, pod: Obj) -> None:
        if (pod.get("metadata") or {}).get("uid") == self.uid:
            self.pod = pod
            self._follow_spec_changes()
        self._shorten_grace()
        self.wake()

    def _follow_spec_changes(self) -> None:
        """A container whose image was changed is replaced, as upstream restarts a container
        whose definition changed (the image itself means nothing to this runtime)."""
        spec = self.pod.get("spec") or {}
        containers = {c.get("name"): c for c in [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]}
        for slot in self.slots:
            new = containers.get(slot.name)
            if new is None or new.get("image") == slot.spec.get("image"):
                continue
            slot.spec = new
            if slot.running and slot.kind != INIT and not self.terminal:
                slot.changed = True
                self.kubelet.event(self.pod, "Normal", "Killing",
                                   f"Container {slot.name} definition changed, will be restarted")
                self._stop_in_background(slot, self._grace(), "definition changed")

    def remove(self, pod: Obj | None = None) -> None:
        if pod is not None and (pod.get("metadata") or {}).get("uid") == self.uid:
            self.pod = pod
        self.removed = True
        self._shorten_grace()
        self.wake()

    def wake(self) -> None:
        self.wakeup.set()

    def wake_at(self, when: float) -> None:
        if self.next_wake is None or when < self.next_wake:
            self.next_wake = when

    async def _loop(self) -> None:
        resync = self.kubelet.resync_seconds
        while True:
            timeout = resync if self.next_wake is None else min(max(self.next_wake - time.time(), 0), resync)
            try:
                await asyncio.wait_for(self.wakeup.wait(), timeout)
            except TimeoutError:
                pass
            self.wakeup.clear()
            if self.next_wake is not None and self.next_wake <= time.time():
                self.next_wake = None
            try:
                if await self.sync():
                    return
            except Exception:
                log.exception("syncing pod %s/%s failed", self.namespace, self.name)
                self.wake_at(time.time() + _RETRY_SECONDS)

    # -- sync ------------------------------------------------------------------------------

    def active(self) -> bool:
        """Counts against the node's resources (admitted, not finished)."""
        return self.admitted and not self.terminal and not self.rejected and not self.removed

    async def sync(self) -> bool:
        """One pass; True when the worker is done (the pod is gone)."""
        pod = self.pod
        if self.removed or (pod.get("metadata") or {}).get("deletionTimestamp"):
            return await self.terminate()
        if self.inherited_terminal:
            return False
        if self.rejected:
            await self.post(rejected_status(pod, self.reason or "", self.message or ""))
            return False
        if not self.admitted:
            rejection = self.kubelet.admit(pod)
            if rejection is not None:
                self.rejected = True
                self.reason, message = rejection
                self.message = message
                self.kubelet.event(pod, "Warning", self.reason, message)
                await self.post(rejected_status(pod, self.reason, message))
                return False
            self.admitted = True
            self.start_time = self.start_time or now_rfc3339()
        if not self.terminal:
            self._check_deadline()
        if not self.terminal:
            if await self._prepare():
                await self._reconcile()
        await self.post(self._status())
        return False

    def _check_deadline(self) -> None:
        deadline = (self.pod.get("spec") or {}).get("activeDeadlineSeconds")
        if not deadline or not self.start_time:
            return
        started = parse_time(self.start_time) or time.time()
        if time.time() < started + deadline:
            self.wake_at(started + deadline)
            return
        self.reason, self.message = "DeadlineExceeded", "Pod was active on the node longer than the specified deadline"
        self.kubelet.event(self.pod, "Normal", "DeadlineExceeded", self.message)
        self._finish()

    async def _prepare(self) -> bool:
        runtime = self.kubelet.runtime
        if self.ports is None:
            self.ports = assign_ports(self.pod)
            runtime.write_pod_record(self.uid, {"namespace": self.namespace, "name": self.name, "uid": self.uid,
                                                "ports": self.ports, "startTime": self.start_time})
            for container, ports in self.ports.items():
                shown = ", ".join(f"{k}->{v}" for k, v in ports.items() if k.isdigit())
                self.kubelet.event(self.pod, "Normal", "PortsAssigned",
                                   f"container {container} port(s) {shown} (container port -> host port)")
        if self.volume_paths is None or time.time() - self.volumes_synced > _VOLUME_REFRESH_SECONDS:
            try:
                self.volume_paths = await setup_volumes(self.pod, runtime.pod_dir(self.uid), self._objects(), self._context())
                self.volumes_synced = time.time()
            except VolumeError as error:
                self.kubelet.event(self.pod, "Warning", "FailedMount", f"MountVolume.SetUp failed: {error}")
                self.wake_at(time.time() + _RETRY_SECONDS)
                return self.volume_paths is not None
            except (TransportError, ApiError) as error:
                log.warning("reading volumes of pod %s/%s: %s", self.namespace, self.name, error)
                self.wake_at(time.time() + _RETRY_SECONDS)
                return self.volume_paths is not None
        return True

    def _objects(self) -> ObjectSource:
        return ObjectSource(self.kubelet.client)

    def _context(self) -> PodContext:
        return PodContext(self.kubelet.node_name, self.kubelet.node_ip, self.kubelet.node_ip, self.kubelet.allocatable())

    @property
    def restart_policy(self) -> str:
        return (self.pod.get("spec") or {}).get("restartPolicy", "Always")

    def _should_restart(self, slot: ContainerSlot) -> bool:
        run = slot.current
        if run is None or run.exit is None:
            return False
        if slot.kind == SIDECAR or slot.changed:
            return True
        if slot.kind == INIT:
            return run.exit.exit_code != 0 and self.restart_policy != "Never"
        if self.restart_policy == "Always":
            return True
        return self.restart_policy == "OnFailure" and run.exit.exit_code != 0

    async def _reconcile(self) -> None:
        for slot in self.slots:
            if slot.kind == REGULAR:
                break
            if slot.current is None:
                await self._start(slot)
                if slot.kind == INIT or not slot.started:
                    return
                continue
            if slot.running:
                if slot.kind == INIT or not slot.started:
                    return
                continue
            if slot.kind == INIT and slot.succeeded:
                continue
            if self._should_restart(slot):
                await self._restart(slot)
                if slot.kind == INIT or not slot.started:
                    return
                continue
            self._finish()  # a failed init container and restartPolicy Never
            return
        regular = [slot for slot in self.slots if slot.kind == REGULAR]
        for slot in regular:
            if slot.current is None:
                await self._start(slot)
            elif not slot.running and slot.changed:
                await self._replace(slot)
            elif not slot.running and self._should_restart(slot):
                await self._restart(slot)
        if all(s.current is not None and not s.running and not self._should_restart(s) and s.waiting is None
               for s in regular):
            self._finish()

    def _finish(self) -> None:
        """The pod will not run anything again: stop what still runs (sidecars, or all on
        a deadline) and report the terminal phase."""
        self.terminal = True
        for slot in self.slots:
            if slot.running:
                self._stop_in_background(slot, self._grace(), "Stopping container " + slot.name)

    # -- containers ------------------------------------------------------------------------

    async def _restart(self, slot: ContainerSlot) -> None:
        kubelet = self.kubelet
        now = time.time()
        wait = slot.in_backoff(now, kubelet.backoff_cap)
        if wait > 0:
            delay = go_duration(slot.backoff_delay)
            slot.waiting = ("CrashLoopBackOff",
                            f"back-off {delay} restarting failed container={slot.name} pod={format_pod(self.pod)}")
            if slot.backoff_reported != slot.backoff_updated:
                slot.backoff_reported = slot.backoff_updated
                kubelet.event(self.pod, "Warning", "BackOff",
                              f"Back-off restarting failed container {slot.name} in pod {format_pod(self.pod)}")
            self.wake_at(now + wait)
            return
        slot.step_backoff(now, kubelet.backoff_base, kubelet.backoff_cap)
        await self._start(slot)

    async def _replace(self, slot: ContainerSlot) -> None:
        slot.changed = False
        await self._start(slot)

    async def _start(self, slot: ContainerSlot) -> None:
        kubelet = self.kubelet
        spec = slot.spec
        extra = {**port_env(spec, self.ports or {}), **mount_paths(spec, self.volume_paths or {})}
        try:
            env, skipped = await container_env(self.pod, spec, self._objects(), self._context(), extra=extra)
        except ConfigError as error:
            self._waiting(slot, ConfigError.reason, str(error))
            self.wake_at(time.time() + _RETRY_SECONDS)
            return
        except (TransportError, ApiError) as error:
            log.warning("reading the environment of %s/%s: %s", self.name, slot.name, error)
            self.wake_at(time.time() + _RETRY_SECONDS)
            return
        for source, keys in skipped.items():
            kubelet.event(self.pod, "Warning", "InvalidEnvironmentVariableNames",
                          f"Keys [{', '.join(keys)}] from the EnvFrom {source} were skipped since they are "
                          "considered invalid environment variable names.")
        argv = command_line(spec, env)
        if argv is None:
            self._waiting(slot, "CommandRequired", _NO_COMMAND)
            return
        cwd = working_dir(spec, kubelet.runtime.pod_dir(self.uid) / "work")
        attempt = slot.current.attempt + 1 if slot.current is not None else 0
        policy = spec.get("terminationMessagePolicy") or "File"
        run = await kubelet.runtime.start(self.uid, slot.name, attempt, LaunchSpec(argv, env, cwd, policy))
        slot.add_run(run)
        slot.waiting = None
        slot.failed_message = None
        if run.exit is not None:
            kubelet.event(self.pod, "Warning", "Failed", f"Error: {run.exit.message}")
            self.wake()
            return
        kubelet.event(self.pod, "Normal", "Created", f"Created container: {slot.name}")
        kubelet.event(self.pod, "Normal", "Started", f"Started container {slot.name}")
        self._watch(slot, run)
        post_start = (spec.get("lifecycle") or {}).get("postStart")
        if post_start:
            error = await run_handler(post_start, self._target(slot, env, cwd), self._grace(), kubelet.http_session())
            if error is not None:
                kubelet.event(self.pod, "Warning", "FailedPostStartHook", error)
                self._stop_in_background(slot, self._grace(), f"FailedPostStartHook: {error}")
                return
        self._start_prober(slot, run, env, cwd)

    def _waiting(self, slot: ContainerSlot, reason: str, message: str) -> None:
        slot.waiting = (reason, message)
        if slot.failed_message != message:
            slot.failed_message = message
            self.kubelet.event(self.pod, "Warning", "Failed", f"Error: {message}")

    def _target(self, slot: ContainerSlot, env: Mapping[str, str], cwd: str) -> ProbeTarget:
        return ProbeTarget(self.kubelet.node_ip, env, cwd, port_map(self.ports or {}, slot.name))

    def _start_prober(self, slot: ContainerSlot, run: ContainerRun, env: Mapping[str, str] | None = None,
                      cwd: str | None = None) -> None:
        spec = slot.spec
        if not any(spec.get(k) for k in ("startupProbe", "livenessProbe", "readinessProbe")):
            slot.prober = None
            return
        if env is None:  # an adopted run: exec probes get the process's environment back
            env = process_environ(run.pid) or {}
            cwd = working_dir(spec, self.kubelet.runtime.pod_dir(self.uid) / "work")

        async def on_failure(kind: str, output: str) -> None:
            if slot.current is not run or not run.running:
                return
            self.kubelet.event(self.pod, "Normal", "Killing",
                               f"Container {slot.name} failed {kind.lower()} probe, will be restarted")
            grace = spec.get(f"{kind.lower()}Probe", {}).get("terminationGracePeriodSeconds")
            self._stop_in_background(slot, self._grace() if grace is None else grace, f"{kind} probe failed")

        def on_unhealthy(kind: str, output: str) -> None:
            self.kubelet.event(self.pod, "Warning", "Unhealthy", f"{kind} probe failed: {output}".strip())

        slot.prober = ContainerProber(
            spec, self._target(slot, env, cwd), run.started_ns / 1e9 or time.time(), self.kubelet.http_session(),
            on_change=self.wake, on_failure=on_failure, on_unhealthy=on_unhealthy,
        )
        slot.prober.start()

    def _watch(self, slot: ContainerSlot, run: ContainerRun) -> None:
        async def watch() -> None:
            await run.exited.wait()
            if slot.current is run and slot.prober is not None:
                slot.prober.stop()
            self.wake()

        asyncio.ensure_future(watch())

    def _grace(self) -> float:
        return float((self.pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30))

    def _stop_in_background(self, slot: ContainerSlot, grace: float, why: str) -> None:
        if slot.stopping is not None and not slot.stopping.done():
            return
        slot.stopping = asyncio.ensure_future(self._stop(slot, grace, why))

    async def _stop(self, slot: ContainerSlot, grace: float, why: str) -> None:
        """preStop, SIGTERM, the rest of ``grace`` (at least 2 s), SIGKILL.  A later, shorter
        deletion grace period (``_shorten_grace``) brings the SIGKILL forward."""
        run = slot.current
        if run is None or not run.running:
            return
        log.info("stopping container %s of pod %s/%s: %s", slot.name, self.namespace, self.name, why)
        loop = asyncio.get_running_loop()
        deadline = [loop.time() + grace]
        self._deadlines.append(deadline)
        try:
            pre_stop = (slot.spec.get("lifecycle") or {}).get("preStop")
            if pre_stop and grace > 0:
                await self._pre_stop(slot, run, pre_stop, grace)
            if slot.prober is not None:
                slot.prober.stop()
            deadline[0] = max(deadline[0], loop.time() + MINIMUM_GRACE_SECONDS)
            runtime = self.kubelet.runtime
            runtime.kill_group(run, signal.SIGTERM)
            while run.running and loop.time() < deadline[0]:
                try:
                    await asyncio.wait_for(run.exited.wait(), min(deadline[0] - loop.time(), 0.2))
                except TimeoutError:
                    pass
            await runtime.kill(run)
        finally:
            self._deadlines.remove(deadline)

    async def _pre_stop(self, slot: ContainerSlot, run: ContainerRun, handler: Mapping, grace: float) -> None:
        env = process_environ(run.pid) or {}
        cwd = working_dir(slot.spec, self.kubelet.runtime.pod_dir(self.uid) / "work")
        try:
            error = await asyncio.wait_for(
                run_handler(handler, self._target(slot, env, cwd), grace, self.kubelet.http_session()), grace,
            )
        except TimeoutError:
            error = f"PreStop hook for container {slot.name} did not finish within {go_duration(grace)}"
        if error is not None:
            self.kubelet.event(self.pod, "Warning", "FailedPreStopHook", error)

    def _shorten_grace(self) -> None:
        """A new deletion with a shorter grace period (or the object's removal) while
        containers are being stopped: kill them sooner, as upstream does."""
        if not self._deadlines or not (self.removed or (self.pod.get("metadata") or {}).get("deletionTimestamp")):
            return
        grace = self._deletion_grace()
        if self.removed:
            grace = min(grace, MINIMUM_GRACE_SECONDS)
        latest = asyncio.get_running_loop().time() + max(grace, MINIMUM_GRACE_SECONDS)
        for deadline in self._deadlines:
            deadline[0] = min(deadline[0], latest)

    # -- termination -----------------------------------------------------------------------

    def _deletion_grace(self) -> float:
        meta = self.pod.get("metadata") or {}
        grace = meta.get("deletionGracePeriodSeconds")
        return float(grace if grace is not None else self._grace())

    async def terminate(self) -> bool:
        grace = self._deletion_grace()
        running = [slot for slot in self.slots if slot.running]
        if running:
            for slot in running:
                if slot.kind == REGULAR:
                    self.kubelet.event(self.pod, "Normal", "Killing", f"Stopping container {slot.name}")
            # Regular containers first; sidecars once they are gone, last started first.
            await asyncio.gather(*(self._stop(s, grace, "pod deleted") for s in running if s.kind != SIDECAR))
            for slot in reversed([s for s in running if s.kind == SIDECAR]):
                await self._stop(slot, grace, "pod deleted")
        pending = [s.stopping for s in self.slots if s.stopping is not None and not s.stopping.done()]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        for slot in self.slots:
            if slot.prober is not None:
                slot.prober.stop()
            slot.waiting = None if slot.current is not None else slot.waiting
        self.terminal = True
        if not self.removed:
            if self.admitted and not self.rejected and not self.inherited_terminal:
                await self.post(self._status())
            try:
                await self.kubelet.client.delete(PODS, self.name, namespace=self.namespace, grace_period_seconds=0,
                                                 preconditions={"uid": self.uid})
            except (NotFound, Conflict):
                pass  # gone already, or the name is a new pod's
            except (TransportError, ApiError) as error:
                log.warning("deleting pod %s/%s failed (retrying): %s", self.namespace, self.name, error)
                self.wake_at(time.time() + _RETRY_SECONDS)
                return False
        self.kubelet.runtime.remove_pod(self.uid)
        self.kubelet.forget(self)
        return True

    async def shutdown(self, grace: float) -> None:
        """The kubelet is stopping: stop every container (no restarts) and report it."""
        self.stopped = True
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        running = [s for s in self.slots if s.running]
        await asyncio.gather(*(self._stop(s, min(grace, self._grace()), "kubelet stopping") for s in running),
                             return_exceptions=True)
        if running and self.admitted and not self.removed and not self.rejected:
            try:
                await asyncio.wait_for(self.post(self._status()), 2.0)
            except TimeoutError:
                pass

    # -- status ----------------------------------------------------------------------------

    def _status(self) -> Obj:
        initialized = all(s.succeeded or s.started for s in self.slots if s.kind != REGULAR)
        statuses = [slot.status(initialized=initialized) for slot in self.slots]
        inits = [s for slot, s in zip(self.slots, statuses) if slot.kind != REGULAR]
        regular = [s for slot, s in zip(self.slots, statuses) if slot.kind == REGULAR]
        terminal = self.terminal or self.stopped
        phase = "Failed" if self.reason == "DeadlineExceeded" else None
        return pod_status(
            self._base(), init_container_statuses=inits, container_statuses=regular, host_ip=self.kubelet.node_ip,
            pod_ip=self.kubelet.node_ip, start_time=self.start_time, phase=phase,
            terminal=terminal and (self.removed or bool((self.pod.get("metadata") or {}).get("deletionTimestamp"))),
            # The pod's "sandbox": its directory and volumes, set up and not yet torn down.
            ready_to_start_containers=self.volume_paths is not None and not self.terminal,
            reason=self.reason, message=self.message,
        )

    def _base(self) -> Obj:
        """The pod with our last posted fields in its status, so a status the watch has not
        brought back yet is not taken for the current one."""
        if self.last_posted is None:
            return self.pod
        status = dict(self.pod.get("status") or {})
        others = [c for c in status.get("conditions") or () if c.get("type") not in KUBELET_CONDITIONS]
        status.update(self.last_posted)
        status["conditions"] = others + [c for c in self.last_posted.get("conditions") or ()
                                         if c.get("type") in KUBELET_CONDITIONS]
        return {**self.pod, "status": status}

    async def post(self, status: Obj) -> None:
        wanted = {key: status[key] for key in _STATUS_FIELDS if key in status}
        if wanted == self.last_posted:
            # Another component may have changed what we posted (the node lifecycle
            # controller marks pods not ready): put it back, but only once the watch had
            # time to bring our own update back.
            current = self.pod.get("status") or {}
            seen = {key: current[key] for key in _STATUS_FIELDS if key in current}
            seen["conditions"] = [c for c in current.get("conditions") or () if c.get("type") in KUBELET_CONDITIONS]
            mine = dict(wanted, conditions=[c for c in wanted.get("conditions") or () if c.get("type") in KUBELET_CONDITIONS])
            if seen == mine or time.time() - self.last_post_time < self.kubelet.resync_seconds:
                return
        try:
            await self.kubelet.client.patch(PODS, self.name, status_patch(self.pod, status), namespace=self.namespace,
                                            subresource="status", patch_type="json")
        except (NotFound, Invalid):
            return  # the pod is gone or its name is a new pod's: the watch will say
        except (TransportError, ApiError) as error:
            log.warning("posting the status of pod %s/%s failed: %s", self.namespace, self.name, error)
            self.wake_at(time.time() + _RETRY_SECONDS)
            return
        self.last_posted = wanted
        self.last_post_time = time.time()
