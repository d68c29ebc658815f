"""How far each of a Deployment's ReplicaSets may be resized now, as upstream's rolling.go,
sync.go (``scale``) and deployment_util.go (NewRSNewReplicas, GetProportion): pure functions
that return the resizes to make, in order, as ``ScaleStep``s."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from ._deployment_util import (
    Obj, annotations, by_creation, by_size_newer, by_size_older, filter_active, is_rolling_update,
    max_replicas_annotation, max_surge, max_unavailable, parse_int, replica_count, replicas, scaled_value,
    DESIRED_REPLICAS_ANNOTATION,
)

__all__ = [
    "ScaleStep", "cleanup_unhealthy_plan", "find_active_or_latest", "is_saturated", "new_rs_new_replicas",
    "proportion", "reconcile_old_plan", "replica_set_fraction", "scale_down_old_plan", "scale_plan",
]


def _spec(obj: Mapping) -> Mapping:
    return obj.get("spec") or {}


def _status(obj: Mapping) -> Mapping:
    return obj.get("status") or {}


def _present(rss: Iterable[Mapping | None]) -> list[Mapping]:
    return [rs for rs in rss if rs is not None]


def _rolling_params(deployment: Mapping) -> Mapping:
    return (_spec(deployment).get("strategy") or {}).get("rollingUpdate") or {}


class ScaleStep(NamedTuple):
    """One ReplicaSet resize the controller performs in order, stopping at the first error.
    ``operation`` None: resize only if the size differs (scaleReplicaSetAndRecordEvent);
    ``"up"``/``"down"``/``""``: write even at the same size when the desired/max annotations
    are stale (scaleReplicaSet, used by proportional scaling)."""

    rs: Mapping
    replicas: int
    operation: str | None = None


def new_rs_new_replicas(deployment: Mapping, all_rss: Iterable[Mapping | None], new_rs: Mapping) -> int:
    """NewRSNewReplicas: how big the new ReplicaSet may be now.  RollingUpdate: grow into the
    room ``replicas + maxSurge - (sum of all sizes)``, never past ``replicas``; Recreate: all
    of ``replicas`` (old ones are at zero by then)."""
    strategy = (_spec(deployment).get("strategy") or {}).get("type")
    desired = replicas(deployment)
    if strategy == "RollingUpdate":
        surge_value = _rolling_params(deployment).get("maxSurge")
        surge = scaled_value(0 if surge_value is None else surge_value, desired, True)
        current = replica_count(all_rss)
        max_total = desired + surge
        if current >= max_total:
            return replicas(new_rs)
        return replicas(new_rs) + min(max_total - current, desired - replicas(new_rs))
    if strategy == "Recreate":
        return desired
    raise ValueError(f"deployment type {strategy} isn't supported")


def _resized(rs: Mapping, size: int) -> Obj:
    copied = dict(rs)
    copied["spec"] = {**_spec(rs), "replicas": size}
    return copied


def cleanup_unhealthy_plan(old_rss: Sequence[Mapping], max_cleanup: int) -> tuple[list[ScaleStep], list[Mapping], int]:
    """cleanupUnhealthyReplicas: oldest first, shrink old ReplicaSets by their unavailable
    pods (``spec.replicas - status.availableReplicas``), at most ``max_cleanup`` in all.
    Removing pods that are not available cannot lower availability.  Returns the steps, the
    old ReplicaSets as they will be (sizes applied), and how many were removed."""
    ordered = by_creation(old_rss)
    steps: list[ScaleStep] = []
    total = 0
    result: list[Mapping] = []
    for rs in ordered:
        size = replicas(rs)
        available = _status(rs).get("availableReplicas") or 0
        if total >= max_cleanup or size == 0 or size == available:
            result.append(rs)
            continue
        count = min(max_cleanup - total, size - available)
        if count <= 0:
            # status reports more available than the size: nothing unhealthy to remove
            result.append(rs)
            continue
        steps.append(ScaleStep(rs, size - count))
        result.append(_resized(rs, size - count))
        total += count
    return steps, result, total


def _available_within_size(rs: Mapping) -> int:
    # A ReplicaSet just scaled down still reports the pods it is about to delete as available
    # until its controller catches up; counting at most spec.replicas of them keeps a stale
    # status from letting the Deployment scale down more than maxUnavailable allows.
    return min(_status(rs).get("availableReplicas") or 0, replicas(rs))


def scale_down_old_plan(deployment: Mapping, all_rss: Iterable[Mapping | None], old_rss: Sequence[Mapping]) -> list[ScaleStep]:
    """scaleDownOldReplicaSetsForRollingUpdate: remove available old pods, oldest ReplicaSet
    first, only as far as availability stays at ``replicas - maxUnavailable``."""
    minimum = replicas(deployment) - max_unavailable(deployment)
    available = sum(_available_within_size(rs) for rs in _present(all_rss))
    if available <= minimum:
        return []
    budget = available - minimum
    steps: list[ScaleStep] = []
    done = 0
    for rs in by_creation(old_rss):
        if done >= budget:
            break
        size = replicas(rs)
        if size == 0:
            continue
        count = min(size, budget - done)
        steps.append(ScaleStep(rs, size - count))
        done += count
    return steps


def reconcile_old_plan(deployment: Mapping, all_rss: Sequence[Mapping | None], old_rss: Sequence[Mapping],
                       new_rs: Mapping) -> list[ScaleStep]:
    """reconcileOldReplicaSets: how far the old (active) ReplicaSets may shrink now.

    maxScaledDown = allPodsCount - minAvailable - newRSUnavailablePodCount, so pods the new
    ReplicaSet has not made available yet are not counted on.  Within it, unhealthy old pods
    go first (they block the rollout otherwise, kubernetes#16737), then available old pods as
    far as maxUnavailable allows."""
    if replica_count(old_rss) == 0:
        return []
    all_count = replica_count(all_rss)
    minimum = replicas(deployment) - max_unavailable(deployment)
    new_unavailable = replicas(new_rs) - (_status(new_rs).get("availableReplicas") or 0)
    max_scaled_down = all_count - minimum - new_unavailable
    if max_scaled_down <= 0:
        return []
    cleanup, old_after, _ = cleanup_unhealthy_plan(old_rss, max_scaled_down)
    scale_down = scale_down_old_plan(deployment, [*old_after, new_rs], old_after)
    return cleanup + scale_down


# -- scaling a Deployment that is mid-rollout or paused -------------------------------------


def find_active_or_latest(new_rs: Mapping | None, old_rss: Sequence[Mapping]) -> Mapping | None:
    """The one active ReplicaSet; with none active the new one, else the newest old one; None
    when several are active."""
    if new_rs is None and not old_rss:
        return None
    newest_first = list(reversed(by_creation(old_rss)))
    active = filter_active([*newest_first, new_rs])
    if not active:
        return new_rs if new_rs is not None else newest_first[0]
    if len(active) == 1:
        return active[0]
    return None


def is_saturated(deployment: Mapping, rs: Mapping | None) -> bool:
    """The ReplicaSet runs the Deployment's full size, all available, and knows it."""
    if rs is None:
        return False
    desired_number = parse_int(annotations(rs).get(DESIRED_REPLICAS_ANNOTATION))
    if desired_number is None:
        return False
    size = replicas(deployment)
    return replicas(rs) == size and desired_number == size and (_status(rs).get("availableReplicas") or 0) == size


def _round_half_away(value: float) -> int:
    """Go's math.Round (Python's round() is half-to-even)."""
    return int(value + 0.5) if value >= 0 else -int(-value + 0.5)


def replica_set_fraction(rs: Mapping, deployment: Mapping) -> int:
    """getReplicaSetFraction: how many replicas this ReplicaSet gains (or loses) when the
    Deployment's max size moves from what the ReplicaSet's max-replicas annotation recorded to
    ``replicas + maxSurge`` now."""
    if replicas(deployment) == 0:
        return -replicas(rs)
    new_max = replicas(deployment) + max_surge(deployment)
    old_max = max_replicas_annotation(rs)
    if not old_max:
        # Someone edited the annotation away: fall back to the Deployment's current size.
        old_max = _status(deployment).get("replicas") or 0
        if old_max == 0:
            return 0
    return _round_half_away(replicas(rs) * new_max / old_max) - replicas(rs)


def proportion(rs: Mapping | None, deployment: Mapping, to_add: int, added: int) -> int:
    """GetProportion: the ReplicaSet's share of ``to_add``, clamped to what is left of it."""
    if rs is None or replicas(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    fraction = replica_set_fraction(rs, deployment)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def scale_plan(deployment: Mapping, new_rs: Mapping | None, old_rss: Sequence[Mapping]) -> list[ScaleStep]:
    """The Deployment's ``scale``: for a scaling event or a paused Deployment.

    One active ReplicaSet takes the whole size.  A saturated new ReplicaSet means the old ones
    go to zero.  Otherwise (RollingUpdate) the change in ``replicas + maxSurge`` is spread over
    the active ReplicaSets in proportion to their sizes, so a rollout in progress keeps its
    ratio of new to old pods; leftovers from rounding go to the largest ReplicaSet (newer
    first when growing, older first when shrinking).  Recreate waits for the rollout."""
    target = find_active_or_latest(new_rs, old_rss)
    if target is not None:
        if replicas(target) == replicas(deployment):
            return []
        return [ScaleStep(target, replicas(deployment))]
    if is_saturated(deployment, new_rs):
        return [ScaleStep(rs, 0) for rs in filter_active(old_rss)]
    if not is_rolling_update(deployment):
        return []
    active = filter_active([*old_rss, new_rs])
    allowed = replicas(deployment) + max_surge(deployment) if replicas(deployment) > 0 else 0
    to_add = allowed - replica_count(active)
    operation = ""
    if to_add > 0:
        active = by_size_newer(active)
        operation = "up"
    elif to_add < 0:
        active = by_size_older(active)
        operation = "down"
    sizes: list[int] = []
    added = 0
    for rs in active:
        if to_add != 0:
            share = proportion(rs, deployment, to_add, added)
            sizes.append(replicas(rs) + share)
            added += share
        else:
            sizes.append(replicas(rs))
    if active and to_add != 0:
        sizes[0] = max(0, sizes[0] + to_add - added)
    return [ScaleStep(rs, size, operation) for rs, size in zip(active, sizes)]
