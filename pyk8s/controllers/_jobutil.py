"""The Job controller's pure helpers, as upstream's pkg/controller/job keeps them beside the
controller (util, indexed_job_utils.go, backoff_utils.go): conditions, how a pod counts
(failed, finished when), completion indexes and the ``completedIndexes`` text, the order
active pods are removed in, and the pod-failure back-off record.

Nothing here does I/O or keeps state across syncs except ``BackoffRecord`` values, which the
controller stores per job key.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ._pods import is_pod_ready, is_pod_terminating, parse_time, rfc3339

__all__ = [
    "BackoffRecord", "COMPLETION_INDEX_KEY", "JOB_TRACKING_FINALIZER", "active_pods_removal_order",
    "completion_index", "duplicated_index_pods_for_removal", "ensure_condition_status",
    "find_condition", "first_pending_indexes", "format_indexes", "has_tracking_finalizer",
    "is_job_finished", "is_pod_failed", "new_backoff_record", "new_condition",
    "only_replace_failed_pods", "parse_indexes", "past_backoff_limit_on_failure", "pod_finished_time",
    "terminating_pods", "uncounted_succeeded_indexes", "UNKNOWN_INDEX", "count_uncounted_without_finalizer",
    "set_count", "true_condition",
]

Obj = dict

JOB_TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
# Upstream's JobCompletionIndexAnnotation and (PodIndexLabel, GA in 1.32) the label of the
# same key.
COMPLETION_INDEX_KEY = "batch.kubernetes.io/job-completion-index"
UNKNOWN_INDEX = -1

# -- conditions --------------------------------------------------------------------------------


def new_condition(condition_type: str, status: str, reason: str, message: str, now: dt.datetime) -> Obj:
    stamp = rfc3339(now)
    condition: Obj = {"type": condition_type, "status": status, "lastProbeTime": stamp, "lastTransitionTime": stamp}
    # JobCondition's reason and message are omitempty.
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    return condition


def find_condition(conditions: Iterable[Mapping] | None, condition_type: str) -> Mapping | None:
    for condition in conditions or ():
        if condition.get("type") == condition_type:
            return condition
    return None


def ensure_condition_status(conditions: list[Obj], condition_type: str, status: str, reason: str, message: str,
                            now: dt.datetime) -> bool:
    """Upstream's ensureJobConditionStatus: set (or append, unless the status is False:
    nothing -> False is meaningless) the condition; whether the list changed."""
    for index, condition in enumerate(conditions):
        if condition.get("type") == condition_type:
            if (condition.get("status") != status or condition.get("reason", "") != reason
                    or condition.get("message", "") != message):
                conditions[index] = new_condition(condition_type, status, reason, message, now)
                return True
            return False
    if status != "False":
        conditions.append(new_condition(condition_type, status, reason, message, now))
        return True
    return False


def true_condition(status: Mapping, condition_type: str) -> Mapping | None:
    condition = find_condition(status.get("conditions"), condition_type)
    return condition if condition is not None and condition.get("status") == "True" else None


def is_job_finished(job: Mapping) -> bool:
    """A Complete or Failed condition that is True (upstream's util.IsJobFinished)."""
    for condition in (job.get("status") or {}).get("conditions") or ():
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            return True
    return False


# -- status counters -------------------------------------------------------------------------


def set_count(status: Obj, name: str, value: int) -> None:
    """JobStatus' active/succeeded/failed are omitempty: zero is left out."""
    if value:
        status[name] = value
    else:
        status.pop(name, None)


def count_uncounted_without_finalizer(status: Obj, with_finalizer: set[str]) -> bool:
    """Move the uids in ``status.uncountedTerminatedPods`` whose pods no longer hold the
    tracking finalizer into the succeeded/failed counters (upstream's
    cleanUncountedPodsWithoutFinalizers); whether anything moved."""
    uncounted = status.setdefault("uncountedTerminatedPods", {})
    updated = False
    for kind in ("succeeded", "failed"):
        uids = uncounted.get(kind) or []
        kept = [uid for uid in uids if uid in with_finalizer]
        if len(kept) != len(uids):
            updated = True
            set_count(status, kind, status.get(kind, 0) + len(uids) - len(kept))
            if kept:
                uncounted[kind] = kept
            else:
                uncounted.pop(kind, None)
    return updated


# -- pods as the Job sees them -----------------------------------------------------------------


def has_tracking_finalizer(pod: Mapping) -> bool:
    return JOB_TRACKING_FINALIZER in ((pod.get("metadata") or {}).get("finalizers") or ())


def only_replace_failed_pods(job: Mapping) -> bool:
    """podReplacementPolicy Failed: a terminating pod is replaced only once it has reached
    phase Failed (upstream also implies it from a podFailurePolicy, which pyk8s does not
    implement)."""
    return (job.get("spec") or {}).get("podReplacementPolicy") == "Failed"


def is_pod_failed(pod: Mapping, job: Mapping) -> bool:
    """Upstream's isPodFailed: phase Failed; or, unless only failed pods are replaced, being
    deleted before succeeding (so an orphaned or evicted pod that never reaches Failed still
    counts)."""
    phase = (pod.get("status") or {}).get("phase")
    if phase == "Failed":
        return True
    if only_replace_failed_pods(job):
        return False
    return bool((pod.get("metadata") or {}).get("deletionTimestamp")) and phase != "Succeeded"


def _latest_container_finish(statuses: Iterable[Mapping], latest: dt.datetime | None) -> tuple[bool, dt.datetime | None]:
    """(every status is terminated with a finish time, the latest of those times)."""
    for status in statuses:
        finished = parse_time(((status.get("state") or {}).get("terminated") or {}).get("finishedAt"))
        if finished is None:
            return False, None
        if latest is None or finished > latest:
            latest = finished
    return True, latest


def pod_finished_time(pod: Mapping) -> dt.datetime:
    """Upstream's getFinishedTime: the last container's finishedAt (sidecars included), else
    when Ready turned False, else the deletion time less its grace period, else creation."""
    status = pod.get("status") or {}
    complete, finished = _latest_container_finish(status.get("containerStatuses") or (), None)
    if complete:
        sidecars = {c.get("name") for c in (pod.get("spec") or {}).get("initContainers") or ()
                    if c.get("restartPolicy") == "Always"}
        complete, finished = _latest_container_finish(
            (s for s in status.get("initContainerStatuses") or () if s.get("name") in sidecars), finished)
    if complete and finished is not None:
        return finished
    for condition in status.get("conditions") or ():
        if condition.get("type") == "Ready" and condition.get("status") == "False":
            moment = parse_time(condition.get("lastTransitionTime"))
            if moment is not None:
                return moment
    meta = pod.get("metadata") or {}
    deleted = parse_time(meta.get("deletionTimestamp"))
    if deleted is not None:
        return deleted - dt.timedelta(seconds=meta.get("deletionGracePeriodSeconds") or 0)
    return parse_time(meta.get("creationTimestamp")) or dt.datetime.now(dt.UTC)


def past_backoff_limit_on_failure(job: Mapping, pods: Iterable[Mapping]) -> bool:
    """restartPolicy OnFailure: the kubelet restarts containers in place, so the container
    restarts of pending and running pods are what count against backoffLimit."""
    spec = job.get("spec") or {}
    if ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy") != "OnFailure":
        return False
    restarts = 0
    for pod in pods:
        status = pod.get("status") or {}
        if status.get("phase") in ("Running", "Pending"):
            for container in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
                restarts += container.get("restartCount") or 0
    limit = spec.get("backoffLimit", 6)
    return restarts > 0 if limit == 0 else restarts >= limit


def _time_key(moment: dt.datetime | None) -> tuple[int, float]:
    # Zero time first, then newer before older (upstream's afterOrZero).
    return (0, 0.0) if moment is None else (1, -moment.timestamp())


_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}


def active_pods_removal_order(pod: Mapping) -> tuple:
    """Sort key of upstream's controller.ActivePods, the order the Job controller removes
    surplus pods in: unassigned, Pending < Unknown < Running, not ready, ready for less
    time, more restarts, newer."""
    spec, status, meta = pod.get("spec") or {}, pod.get("status") or {}, pod.get("metadata") or {}
    ready = is_pod_ready(pod)
    ready_since = None
    if ready:
        for condition in status.get("conditions") or ():
            if condition.get("type") == "Ready":
                ready_since = parse_time(condition.get("lastTransitionTime"))
    restarts = max((c.get("restartCount") or 0 for c in status.get("containerStatuses") or ()), default=0)
    return (
        bool(spec.get("nodeName")), _PHASE_ORDINAL.get(status.get("phase"), 0), ready,
        _time_key(ready_since) if ready else (0, 0.0), -restarts, _time_key(parse_time(meta.get("creationTimestamp"))),
    )


# -- completion indexes ------------------------------------------------------------------------


def completion_index(pod: Mapping) -> int:
    """The pod's completion index from its annotation, or -1 when absent or malformed."""
    text = ((pod.get("metadata") or {}).get("annotations") or {}).get(COMPLETION_INDEX_KEY)
    if text is None or not text.isdigit():
        return UNKNOWN_INDEX
    return int(text)


def parse_indexes(text: str | None, completions: int) -> set[int]:
    """``status.completedIndexes`` ("1,3-5,7") as a set, ignoring what is out of range or
    malformed (upstream's parseIndexesFromString)."""
    indexes: set[int] = set()
    for part in (text or "").split(","):
        if not part:
            continue
        first, _, last = part.partition("-")
        try:
            low = int(first)
            high = int(last) if last else low
        except ValueError:
            continue
        indexes.update(range(max(low, 0), min(high, completions - 1) + 1))
    return indexes


def format_indexes(indexes: Iterable[int]) -> str:
    """Sorted indexes as intervals: [1, 3, 4, 5, 7] -> "1,3-5,7"."""
    parts: list[str] = []
    ordered = sorted(indexes)
    start = 0
    while start < len(ordered):
        end = start
        while end + 1 < len(ordered) and ordered[end + 1] == ordered[end] + 1:
            end += 1
        parts.append(str(ordered[start]) if start == end else f"{ordered[start]}-{ordered[end]}")
        start = end + 1
    return ",".join(parts)


def uncounted_succeeded_indexes(pods: Iterable[Mapping], completions: int) -> set[int]:
    """Valid indexes of succeeded pods that still hold the tracking finalizer."""
    indexes = set()
    for pod in pods:
        if (pod.get("status") or {}).get("phase") == "Succeeded" and has_tracking_finalizer(pod):
            index = completion_index(pod)
            if UNKNOWN_INDEX < index < completions:
                indexes.add(index)
    return indexes


def first_pending_indexes(succeeded: set[int], active_pods: Iterable[Mapping], terminating_pods: Iterable[Mapping],
                          count: int, completions: int) -> list[int]:
    """The ``count`` lowest indexes that neither succeeded nor have an active pod (nor, when
    only failed pods are replaced, a terminating one)."""
    taken = set(succeeded)
    taken.update(completion_index(pod) for pod in active_pods)
    taken.update(completion_index(pod) for pod in terminating_pods)
    pending: list[int] = []
    candidate = 0
    while candidate < completions and len(pending) < count:
        if candidate not in taken:
            pending.append(candidate)
        candidate += 1
    return pending


def duplicated_index_pods_for_removal(active_pods: list[Mapping], completions: int) -> tuple[list, list]:
    """Upstream's appendDuplicatedIndexPodsForRemoval: pods without a valid index go, and of
    several pods holding one index all but the most advanced go.  Returns (remove, keep)."""
    by_index: dict[int, list[Mapping]] = {}
    remove: list[Mapping] = []
    for pod in active_pods:
        index = completion_index(pod)
        if index == UNKNOWN_INDEX or index >= completions:
            remove.append(pod)
        else:
            by_index.setdefault(index, []).append(pod)
    keep: list[Mapping] = []
    for index in sorted(by_index):
        holders = sorted(by_index[index], key=active_pods_removal_order)
        remove.extend(holders[:-1])
        keep.append(holders[-1])
    return remove, keep


# -- pod failure back-off ----------------------------------------------------------------------


@dataclass(frozen=True)
class BackoffRecord:
    """Failures since the last success and when the latest happened (upstream's
    backoffRecord): how long the next pod creation waits."""

    failures_after_last_success: int = 0
    last_failure_time: dt.datetime | None = None

    def remaining(self, now: dt.datetime, base: float, cap: float) -> float:
        """Seconds until a new pod may be created: ``base`` doubled per failure after the
        first, capped at ``cap``, counted from the last failure."""
        if self.failures_after_last_success == 0 or self.last_failure_time is None:
            return 0.0
        delay = base
        for _ in range(1, self.failures_after_last_success):
            delay *= 2
            if delay >= cap:
                delay = cap
                break
        elapsed = (now - self.last_failure_time).total_seconds()
        return max(delay - elapsed, 0.0)


def new_backoff_record(previous: BackoffRecord | None, succeeded: list[Mapping], failed: list[Mapping]) -> BackoffRecord:
    """Upstream's newBackoffRecord: new failures add to the count; a new success resets it,
    keeping only the failures that finished after the latest success."""
    record = previous or BackoffRecord()
    failed_times = sorted(pod_finished_time(pod) for pod in failed)
    if not succeeded:
        if not failed_times:
            return record
        return BackoffRecord(record.failures_after_last_success + len(failed_times), failed_times[-1])
    last_success = max(pod_finished_time(pod) for pod in succeeded)
    later = [moment for moment in failed_times if moment > last_success]
    return BackoffRecord(len(later), later[-1] if later else None)


def terminating_pods(pods: Iterable[Mapping]) -> list[Mapping]:
    return [pod for pod in pods if is_pod_terminating(pod)]
