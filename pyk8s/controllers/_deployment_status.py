"""A Deployment's status as upstream's calculateStatus and progress.go compute it: the counts
from its ReplicaSets, the Available condition, and the Progressing condition that tells a
rollout in progress from a finished one and from one past its ``progressDeadlineSeconds``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from ._deployment_util import (
    NEW_RS_AVAILABLE, MINIMUM_REPLICAS_AVAILABLE, MINIMUM_REPLICAS_UNAVAILABLE, REPLICA_SET_UPDATED, TIMED_OUT,
    Obj, actual_replica_count, available_replica_count, has_progress_deadline, max_unavailable,
    ready_replica_count, replica_count, replicas, terminating_replica_count,
)
from ._pods import parse_time, rfc3339

__all__ = [
    "calculate_status", "deployment_complete", "deployment_progressing", "deployment_timed_out", "get_condition",
    "new_condition", "normalized_status", "progress_check_delay", "remove_condition", "replica_failures",
    "rollout_status", "set_condition",
]


def _meta(obj: Mapping) -> Mapping:
    return obj.get("metadata") or {}


def _spec(obj: Mapping) -> Mapping:
    return obj.get("spec") or {}


def _status(obj: Mapping) -> Mapping:
    return obj.get("status") or {}


def _present(rss) -> list[Mapping]:
    return [rs for rs in rss if rs is not None]


def get_condition(status: Mapping, condition_type: str) -> Mapping | None:
    for condition in status.get("conditions") or ():
        if condition.get("type") == condition_type:
            return condition
    return None


def new_condition(condition_type: str, status: str, reason: str, message: str, now: dt.datetime | None = None) -> Obj:
    stamp = rfc3339(now)
    return {"type": condition_type, "status": status, "lastUpdateTime": stamp, "lastTransitionTime": stamp,
            "reason": reason, "message": message}


def set_condition(status: Obj, condition: Obj) -> None:
    """SetDeploymentCondition: same status and reason means no change; same status keeps the
    old lastTransitionTime; the condition moves to the end of the list."""
    current = get_condition(status, condition["type"])
    if current is not None and current.get("status") == condition["status"] and current.get("reason") == condition["reason"]:
        return
    if current is not None and current.get("status") == condition["status"]:
        condition = {**condition, "lastTransitionTime": current.get("lastTransitionTime")}
    status["conditions"] = [c for c in status.get("conditions") or () if c.get("type") != condition["type"]] + [condition]


def remove_condition(status: Obj, condition_type: str) -> None:
    if status.get("conditions"):
        status["conditions"] = [c for c in status["conditions"] if c.get("type") != condition_type]
        if not status["conditions"]:
            del status["conditions"]


def replica_set_to_deployment_condition(condition: Mapping) -> Obj:
    return {
        "type": condition.get("type"), "status": condition.get("status"),
        "lastUpdateTime": condition.get("lastTransitionTime"), "lastTransitionTime": condition.get("lastTransitionTime"),
        "reason": condition.get("reason"), "message": condition.get("message"),
    }


def normalized_status(status: Mapping) -> Obj:
    """A DeploymentStatus as Go would serialize it: zero counts are omitted (omitempty),
    ``terminatingReplicas``/``collisionCount`` are pointers and kept at 0."""
    out: Obj = {}
    for key, value in status.items():
        if key in ("terminatingReplicas", "collisionCount"):
            if value is not None:
                out[key] = value
        elif value not in (None, 0, [], {}, ""):
            out[key] = value
    return out


def calculate_status(all_rss: Sequence[Mapping | None], new_rs: Mapping | None, deployment: Mapping,
                     now: dt.datetime | None = None) -> Obj:
    """calculateStatus: counts from the ReplicaSets' statuses, the current conditions plus
    Available (``availableReplicas >= replicas - maxUnavailable``)."""
    current = _status(deployment)
    available = available_replica_count(all_rss)
    unavailable = max(0, replica_count(all_rss) - available)
    status: Obj = {
        "observedGeneration": _meta(deployment).get("generation", 0),
        "replicas": actual_replica_count(all_rss),
        "updatedReplicas": actual_replica_count([new_rs]),
        "readyReplicas": ready_replica_count(all_rss),
        "availableReplicas": available,
        "unavailableReplicas": unavailable,
        "terminatingReplicas": terminating_replica_count(all_rss),
        "collisionCount": current.get("collisionCount"),
        "conditions": [dict(c) for c in current.get("conditions") or ()],
    }
    if available >= replicas(deployment) - max_unavailable(deployment):
        set_condition(status, new_condition("Available", "True", MINIMUM_REPLICAS_AVAILABLE,
                                            "Deployment has minimum availability.", now))
    else:
        set_condition(status, new_condition("Available", "False", MINIMUM_REPLICAS_UNAVAILABLE,
                                            "Deployment does not have minimum availability.", now))
    return normalized_status(status)


def deployment_complete(deployment: Mapping, status: Mapping) -> bool:
    size = replicas(deployment)
    return (status.get("updatedReplicas") or 0) == size and (status.get("replicas") or 0) == size \
        and (status.get("availableReplicas") or 0) == size \
        and (status.get("observedGeneration") or 0) >= _meta(deployment).get("generation", 0)


def deployment_progressing(deployment: Mapping, status: Mapping) -> bool:
    """Progress since the stored status: more updated, fewer old, more ready or available."""
    old = _status(deployment)
    old_old = (old.get("replicas") or 0) - (old.get("updatedReplicas") or 0)
    new_old = (status.get("replicas") or 0) - (status.get("updatedReplicas") or 0)
    return (status.get("updatedReplicas") or 0) > (old.get("updatedReplicas") or 0) or new_old < old_old \
        or (status.get("readyReplicas") or 0) > (old.get("readyReplicas") or 0) \
        or (status.get("availableReplicas") or 0) > (old.get("availableReplicas") or 0)


def deployment_timed_out(deployment: Mapping, status: Mapping, now: dt.datetime) -> bool:
    """No progress for progressDeadlineSeconds since the Progressing condition's lastUpdateTime
    (never after a completed rollout)."""
    if not has_progress_deadline(deployment):
        return False
    condition = get_condition(status, "Progressing")
    if condition is None or condition.get("reason") == NEW_RS_AVAILABLE:
        return False
    if condition.get("reason") == TIMED_OUT:
        return True
    since = parse_time(condition.get("lastUpdateTime"))
    if since is None:
        return False
    return since + dt.timedelta(seconds=_spec(deployment)["progressDeadlineSeconds"]) < now


def rollout_status(all_rss: Sequence[Mapping | None], new_rs: Mapping | None, deployment: Mapping,
                   now: dt.datetime) -> Obj:
    """syncRolloutStatus's new status: calculateStatus plus the Progressing condition
    (NewReplicaSetAvailable when complete, ReplicaSetUpdated on progress, else
    ProgressDeadlineExceeded once the deadline passes) and ReplicaFailure from the
    ReplicaSets."""
    status = calculate_status(all_rss, new_rs, deployment, now)
    name = _meta(deployment).get("name", "")
    new_name = _meta(new_rs).get("name") if new_rs is not None else None
    if not has_progress_deadline(deployment):
        remove_condition(status, "Progressing")
    current = get_condition(_status(deployment), "Progressing")
    complete_before = status.get("replicas", 0) == status.get("updatedReplicas", 0) \
        and current is not None and current.get("reason") == NEW_RS_AVAILABLE
    if has_progress_deadline(deployment) and not complete_before:
        if deployment_complete(deployment, status):
            message = f'ReplicaSet "{new_name}" has successfully progressed.' if new_name \
                else f'Deployment "{name}" has successfully progressed.'
            set_condition(status, new_condition("Progressing", "True", NEW_RS_AVAILABLE, message, now))
        elif deployment_progressing(deployment, status):
            message = f'ReplicaSet "{new_name}" is progressing.' if new_name else f'Deployment "{name}" is progressing.'
            condition = new_condition("Progressing", "True", REPLICA_SET_UPDATED, message, now)
            if current is not None:
                # Progress refreshes lastUpdateTime even with the same reason (which
                # set_condition would ignore); an ongoing True keeps its transition time.
                if current.get("status") == "True":
                    condition["lastTransitionTime"] = current.get("lastTransitionTime")
                remove_condition(status, "Progressing")
            set_condition(status, condition)
        elif deployment_timed_out(deployment, status, now):
            message = f'ReplicaSet "{new_name}" has timed out progressing.' if new_name \
                else f'Deployment "{name}" has timed out progressing.'
            set_condition(status, new_condition("Progressing", "False", TIMED_OUT, message, now))
    failures = replica_failures(all_rss, new_rs)
    if failures:
        set_condition(status, failures[0])
    else:
        remove_condition(status, "ReplicaFailure")
    return normalized_status(status)


def replica_failures(all_rss: Sequence[Mapping | None], new_rs: Mapping | None) -> list[Obj]:
    """ReplicaFailure conditions of the new ReplicaSet, else of any ReplicaSet."""
    for group in ([new_rs], all_rss):
        found = [replica_set_to_deployment_condition(c) for rs in _present(group)
                 for c in _status(rs).get("conditions") or () if c.get("type") == "ReplicaFailure"]
        if found:
            return found
    return []


def progress_check_delay(deployment: Mapping, status: Mapping, now: dt.datetime) -> float | None:
    """requeueStuckDeployment: seconds until the Deployment must be looked at again to notice
    a missed progress deadline; 0 for "now (rate limited)", None when no check is due."""
    current = get_condition(_status(deployment), "Progressing")
    if not has_progress_deadline(deployment) or current is None:
        return None
    if deployment_complete(deployment, status) or current.get("reason") == TIMED_OUT:
        return None
    since = parse_time(current.get("lastUpdateTime"))
    if since is None:
        return None
    after = (since + dt.timedelta(seconds=_spec(deployment)["progressDeadlineSeconds"]) - now).total_seconds()
    if after < 1:
        return 0.0
    # One more second against timer skew (kubernetes#39785).
    return after + 1
