"""Pod status as the kubelet reports it through ``pods/status``, shared by both runtimes.

A runtime describes each container with the small builders here (``waiting_state``,
``running_state``, ``terminated_state``, ``container_status``); ``pod_status`` turns those
into the whole status the way upstream's kubelet does (pkg/kubelet/kubelet_pods.go getPhase
and generateAPIPodStatus, pkg/kubelet/status/generate.go for the conditions), and
``merged_status`` folds it into the pod's current status as the status manager does: the
conditions other components own are kept, and a kubelet condition whose status did not change
keeps its ``lastTransitionTime``.

    statuses = [container_status(c, running_state(now), ready=True, started=True) for c in containers]
    status = pod_status(pod, container_statuses=statuses, host_ip="127.0.0.1", pod_ip="127.0.0.1",
                        start_time=now)
    await client.patch(PODS, name, status_patch(pod, status), namespace=ns, subresource="status",
                       patch_type="json")

Every function is pure: callers pass ``now`` (RFC 3339, second precision) or get the clock's.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "KUBELET_CONDITIONS", "container_status", "format_pod", "go_duration", "go_string_list",
    "is_restartable_init_container", "merged_status", "now_rfc3339", "pod_conditions", "pod_phase",
    "pod_status", "rejected_status", "running_state", "status_patch", "terminated_state", "waiting_state",
]

Obj = dict[str, Any]

# Condition types the kubelet owns (kubetypes.PodConditionByKubelet), in upstream's order.
KUBELET_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")
# Status fields the kubelet writes; the rest (nominatedNodeName, qosClass, resize, ...) is left
# to whoever owns it.
_KUBELET_FIELDS = (
    "phase", "conditions", "message", "reason", "hostIP", "hostIPs", "podIP", "podIPs", "startTime",
    "initContainerStatuses", "containerStatuses",
)


def now_rfc3339() -> str:
    """metav1.Time: second precision, UTC."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def go_string_list(items: Iterable[str]) -> str:
    """Go's ``%s`` of a ``[]string``: ``[a b c]``."""
    return "[" + " ".join(items) + "]"


def go_duration(seconds: float) -> str:
    """time.Duration.String(): ``500ms``, ``10s``, ``1m20s``, ``5m0s``, ``2.5s``."""
    millis = round(seconds * 1000)
    if millis < 1000:
        return f"{millis}ms" if millis else "0s"
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    whole, fraction = divmod(rest, 1000)
    secs = f"{whole}.{fraction:03d}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{hours}h{minutes}m{secs}"
    if minutes:
        return f"{minutes}m{secs}"
    return secs


def format_pod(pod: Mapping) -> str:
    """format.Pod: ``name_namespace(uid)``, as kubelet messages name a pod."""
    meta = pod.get("metadata") or {}
    return f"{meta.get('name', '')}_{meta.get('namespace', '')}({meta.get('uid', '')})"


def is_restartable_init_container(container: Mapping) -> bool:
    """A sidecar: an init container with ``restartPolicy: Always``."""
    return container.get("restartPolicy") == "Always"


# -- container states ------------------------------------------------------------------------


def waiting_state(reason: str, message: str | None = None) -> Obj:
    waiting: Obj = {"reason": reason}
    if message:
        waiting["message"] = message
    return {"waiting": waiting}


def running_state(started_at: str) -> Obj:
    return {"running": {"startedAt": started_at}}


def terminated_state(
    exit_code: int, reason: str, *, started_at: str | None, finished_at: str | None,
    message: str | None = None, signal: int | None = None, container_id: str | None = None,
) -> Obj:
    terminated: Obj = {"exitCode": exit_code, "reason": reason, "startedAt": started_at, "finishedAt": finished_at}
    if message:
        terminated["message"] = message
    if signal:
        terminated["signal"] = signal
    if container_id:
        terminated["containerID"] = container_id
    return {"terminated": terminated}


def container_status(
    container: Mapping, state: Obj, *, ready: bool = False, started: bool | None = None, restart_count: int = 0,
    last_state: Obj | None = None, container_id: str | None = None, image_id: str = "",
) -> Obj:
    """One entry of ``containerStatuses`` / ``initContainerStatuses`` for ``container`` (its
    spec).  ``started`` defaults to whether the container is running, as upstream reports it
    for a container without a startup probe."""
    if started is None:
        started = "running" in state
    status: Obj = {
        "name": container.get("name", ""),
        "state": state,
        "lastState": last_state or {},
        "ready": ready,
        "restartCount": restart_count,
        "image": container.get("image", ""),
        "imageID": image_id,
        "started": started,
    }
    if container_id:
        status["containerID"] = container_id
    return status


# -- phase -----------------------------------------------------------------------------------


def _by_name(statuses: Iterable[Mapping]) -> dict[str, Mapping]:
    return {status.get("name", ""): status for status in statuses}


def _last_terminated(status: Mapping) -> Mapping | None:
    return (status.get("lastState") or {}).get("terminated")


def pod_phase(
    pod: Mapping, init_statuses: Sequence[Mapping], container_statuses: Sequence[Mapping], *, terminal: bool = False,
) -> str:
    """getPhase: the phase these container statuses put the pod in.  ``terminal`` says the
    pod's containers will not run again whatever the restart policy (it is being deleted)."""
    spec = pod.get("spec") or {}
    restart_policy = spec.get("restartPolicy", "Always")
    inits = _by_name(init_statuses)
    regular = _by_name(container_statuses)
    pending_init = pending_sidecars = failed_init = 0
    unknown = running = waiting = stopped = succeeded = 0
    for container in spec.get("initContainers") or ():
        status = inits.get(container.get("name", ""))
        state = (status or {}).get("state") or {}
        if is_restartable_init_container(container):
            if status is None:
                pending_sidecars += 1
                unknown += 1
            elif "running" in state:
                if not status.get("started"):
                    pending_sidecars += 1
                running += 1
            elif "waiting" in state and _last_terminated(status) is None:
                pending_sidecars += 1
                waiting += 1
            continue
        if status is None or "running" in state:
            pending_init += 1
        elif "terminated" in state:
            if state["terminated"].get("exitCode") != 0:
                failed_init += 1
        elif "waiting" in state:
            last = _last_terminated(status)
            if last is None:
                pending_init += 1
            elif last.get("exitCode") != 0:
                failed_init += 1
        else:
            pending_init += 1
    for container in spec.get("containers") or ():
        status = regular.get(container.get("name", ""))
        state = (status or {}).get("state") or {}
        if status is None:
            unknown += 1
        elif "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            if state["terminated"].get("exitCode") == 0:
                succeeded += 1
        elif "waiting" in state:
            if _last_terminated(status) is not None:
                stopped += 1
            else:
                waiting += 1
        else:
            unknown += 1
    if failed_init and restart_policy == "Never":
        return "Failed"
    if pending_init or pending_sidecars:
        return "Pending"
    if waiting:
        return "Pending"
    if running and not unknown:
        return "Running"
    if not running and stopped and not unknown:
        if terminal:
            return "Succeeded" if stopped == succeeded else "Failed"
        if restart_policy == "Always":
            return "Running"  # every container is on its way to a restart
        if stopped == succeeded:
            return "Succeeded"
        if restart_policy == "Never":
            return "Failed"
        return "Running"  # OnFailure: the failed ones restart
    return "Pending"


# -- conditions ------------------------------------------------------------------------------


def _condition(kind: str, ok: bool, reason: str | None = None, message: str | None = None) -> Obj:
    condition: Obj = {"type": kind, "status": "True" if ok else "False"}
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    return condition


def _unready_message(unknown: list[str], bad: list[str], bad_label: str) -> str:
    parts = []
    if unknown:
        parts.append(f"containers with unknown status: {go_string_list(unknown)}")
    if bad:
        parts.append(f"containers with {bad_label} status: {go_string_list(bad)}")
    return ", ".join(parts)


def _initialized(spec: Mapping, statuses: Mapping[str, Mapping], regular: Sequence[Mapping], phase: str) -> Obj:
    unknown, incomplete = [], []
    for container in spec.get("initContainers") or ():
        name = container.get("name", "")
        status = statuses.get(name)
        if status is None:
            unknown.append(name)
        elif is_restartable_init_container(container):
            if not status.get("started"):
                incomplete.append(name)
        else:
            terminated = (status.get("state") or {}).get("terminated")
            if terminated is None or terminated.get("exitCode") != 0:
                incomplete.append(name)
    if phase == "Succeeded" and not unknown:
        return _condition("Initialized", True, "PodCompleted")
    # A regular container that ran means initialization finished (sidecars may restart later).
    for status in regular:
        state = status.get("state") or {}
        if "running" in state or "terminated" in state or _last_terminated(status) is not None:
            return _condition("Initialized", True)
    message = _unready_message(unknown, incomplete, "incomplete")
    if message:
        return _condition("Initialized", False, "ContainersNotInitialized", message)
    return _condition("Initialized", True)


def _containers_ready(spec: Mapping, statuses: Mapping[str, Mapping], phase: str) -> Obj:
    unknown, unready = [], []
    containers = [c for c in spec.get("initContainers") or () if is_restartable_init_container(c)]
    containers += list(spec.get("containers") or ())
    for container in containers:
        name = container.get("name", "")
        status = statuses.get(name)
        if status is None:
            unknown.append(name)
        elif not status.get("ready"):
            unready.append(name)
    if phase == "Succeeded" and not unknown:
        return _condition("ContainersReady", False, "PodCompleted")
    if phase == "Failed":
        return _condition("ContainersReady", False, "PodFailed")
    message = _unready_message(unknown, unready, "unready")
    if message:
        return _condition("ContainersReady", False, "ContainersNotReady", message)
    return _condition("ContainersReady", True)


def _ready(pod: Mapping, containers_ready: Obj, other_conditions: Sequence[Mapping]) -> Obj:
    if containers_ready["status"] != "True":
        return {**containers_ready, "type": "Ready"}
    conditions = {c.get("type"): c for c in other_conditions}
    unready = []
    for gate in (pod.get("spec") or {}).get("readinessGates") or ():
        kind = gate.get("conditionType", "")
        condition = conditions.get(kind)
        if condition is None:
            unready.append(f'corresponding condition of pod readiness gate "{kind}" does not exist.')
        elif condition.get("status") != "True":
            unready.append(f'the status of pod readiness gate "{kind}" is not "True", but {condition.get("status")}')
    if unready:
        return _condition("Ready", False, "ReadinessGatesNotReady", ", ".join(unready))
    return _condition("Ready", True)


def pod_conditions(
    pod: Mapping, phase: str, init_statuses: Sequence[Mapping], container_statuses: Sequence[Mapping], *,
    ready_to_start_containers: bool = True,
) -> list[Obj]:
    """The kubelet's conditions (without times): PodReadyToStartContainers (the pod's
    "sandbox", here its directory and volumes, exists), Initialized, Ready, ContainersReady,
    PodScheduled."""
    spec = pod.get("spec") or {}
    statuses = _by_name([*init_statuses, *container_statuses])
    containers_ready = _containers_ready(spec, statuses, phase)
    others = [c for c in (pod.get("status") or {}).get("conditions") or () if c.get("type") not in KUBELET_CONDITIONS]
    return [
        _condition("PodReadyToStartContainers", ready_to_start_containers),
        _initialized(spec, statuses, container_statuses, phase),
        _ready(pod, containers_ready, others),
        containers_ready,
        _condition("PodScheduled", True),
    ]


# -- the whole status --------------------------------------------------------------------------


def pod_status(
    pod: Mapping, *, init_container_statuses: Sequence[Mapping] = (), container_statuses: Sequence[Mapping] = (),
    host_ip: str, pod_ip: str, start_time: str | None, phase: str | None = None, terminal: bool = False,
    ready_to_start_containers: bool = True, reason: str | None = None, message: str | None = None,
    now: str | None = None,
) -> Obj:
    """The kubelet's part of the pod's status, merged into the pod's current status
    (``merged_status``): phase (computed from the containers unless given), conditions,
    container statuses, IPs, start time, and a reason/message when set."""
    if phase is None:
        phase = pod_phase(pod, init_container_statuses, container_statuses, terminal=terminal)
    status: Obj = {
        "phase": phase,
        "conditions": pod_conditions(
            pod, phase, init_container_statuses, container_statuses, ready_to_start_containers=ready_to_start_containers,
        ),
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "containerStatuses": list(container_statuses),
    }
    if init_container_statuses:
        status["initContainerStatuses"] = list(init_container_statuses)
    if start_time:
        status["startTime"] = start_time
    if reason:
        status["reason"] = reason
    if message:
        status["message"] = message
    return merged_status(pod, status, now=now)


def rejected_status(pod: Mapping, reason: str, message: str, *, now: str | None = None) -> Obj:
    """A pod that admission refused (kubelet's rejectPod): Failed with the reason and
    ``Pod was rejected: <message>``; nothing else about it is reported."""
    status: Obj = {"phase": "Failed", "reason": reason, "message": f"Pod was rejected: {message}"}
    return merged_status(pod, status, now=now)


def merged_status(pod: Mapping, kubelet_status: Mapping, *, now: str | None = None) -> Obj:
    """The status manager's merge: the pod's current status with the kubelet's fields
    replaced, conditions owned by others kept (in front, as upstream orders them), and a
    kubelet condition's ``lastTransitionTime`` kept while its status stays the same."""
    now = now or now_rfc3339()
    current = dict(pod.get("status") or {})
    old_conditions = {c.get("type"): c for c in current.get("conditions") or ()}
    conditions = [c for c in current.get("conditions") or () if c.get("type") not in KUBELET_CONDITIONS]
    for condition in kubelet_status.get("conditions") or ():
        old = old_conditions.get(condition["type"])
        merged = dict(condition)
        if old is not None and old.get("status") == condition["status"] and old.get("lastTransitionTime"):
            merged["lastTransitionTime"] = old["lastTransitionTime"]
        else:
            merged["lastTransitionTime"] = now
        conditions.append(merged)
    for key in _KUBELET_FIELDS:
        if key in kubelet_status:
            current[key] = kubelet_status[key]
        elif key in ("message", "reason"):
            current.pop(key, None)
    if kubelet_status.get("conditions") is not None or conditions:
        current["conditions"] = conditions
    return current


def status_patch(pod: Mapping, status: Mapping) -> list[Obj]:
    """A JSON patch writing the kubelet's fields of ``status`` (from ``pod_status`` or
    ``merged_status``) and nothing else, so a field another component changed meanwhile
    survives; the uid test makes it fail (422) if the name now belongs to a new pod, as the
    uid in upstream's status patch does."""
    operations: list[Obj] = [{"op": "test", "path": "/metadata/uid", "value": (pod.get("metadata") or {}).get("uid", "")}]
    for key in _KUBELET_FIELDS:
        if key in status:
            operations.append({"op": "add", "path": f"/status/{key}", "value": status[key]})
    return operations
