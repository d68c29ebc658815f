"""The Deployment controller's basic rules, as upstream's pkg/controller/deployment/util: pure
functions over plain Deployment / ReplicaSet dicts (fenceposts, counts, orderings, the
pod-template-hash, revisions and annotations), so every rule can be tested without a server.
``_deployment_scaling`` and ``_deployment_status`` build on them; the controller
(``deployment.py``) reads caches, calls these, and writes.

Vocabulary (upstream's): the *new* ReplicaSet is the one whose pod template equals the
Deployment's (ignoring the ``pod-template-hash`` label); every other owned ReplicaSet is
*old*; an *active* ReplicaSet has ``spec.replicas > 0``.  Sizes are ``spec.replicas`` (what
the ReplicaSet controller is told), counts of pods are the ReplicaSets' ``status`` fields.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Any

import orjson

from ._pods import parse_time

Obj = dict[str, Any]

POD_TEMPLATE_HASH_LABEL = "pod-template-hash"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
REVISION_HISTORY_ANNOTATION = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS_ANNOTATION = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS_ANNOTATION = "deployment.kubernetes.io/max-replicas"
DEPRECATED_ROLLBACK_TO = "deprecated.deployment.rollback.to"
LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
# Revision history on a reused ReplicaSet is capped at this many characters (upstream's
# maxRevHistoryLengthInChars, about 100 revisions).
MAX_REVISION_HISTORY_CHARS = 2000
# progressDeadlineSeconds / revisionHistoryLimit equal to MaxInt32 mean "no limit".
_MAX_INT32 = 2**31 - 1

# Condition reasons (upstream's util constants).
REPLICA_SET_UPDATED = "ReplicaSetUpdated"
FAILED_RS_CREATE = "ReplicaSetCreateError"
NEW_REPLICA_SET_CREATED = "NewReplicaSetCreated"
FOUND_NEW_REPLICA_SET = "FoundNewReplicaSet"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
MINIMUM_REPLICAS_AVAILABLE = "MinimumReplicasAvailable"
MINIMUM_REPLICAS_UNAVAILABLE = "MinimumReplicasUnavailable"

# Annotations a ReplicaSet does not inherit from its Deployment (upstream's annotationsToSkip);
# kubectl rollout undo skips the same set in the other direction.
ANNOTATIONS_TO_SKIP = frozenset({
    LAST_APPLIED_ANNOTATION, REVISION_ANNOTATION, REVISION_HISTORY_ANNOTATION,
    DESIRED_REPLICAS_ANNOTATION, MAX_REPLICAS_ANNOTATION, DEPRECATED_ROLLBACK_TO,
})


# -- field access ----------------------------------------------------------------------------


def _meta(obj: Mapping) -> Mapping:
    return obj.get("metadata") or {}


def _spec(obj: Mapping) -> Mapping:
    return obj.get("spec") or {}


def _status(obj: Mapping) -> Mapping:
    return obj.get("status") or {}


def replicas(obj: Mapping) -> int:
    """``spec.replicas`` (the API server defaults it to 1)."""
    value = _spec(obj).get("replicas")
    return 1 if value is None else int(value)


def annotations(obj: Mapping) -> Mapping[str, str]:
    return _meta(obj).get("annotations") or {}


def uid(obj: Mapping) -> str:
    return _meta(obj).get("uid", "")


def is_rolling_update(deployment: Mapping) -> bool:
    return (_spec(deployment).get("strategy") or {}).get("type") == "RollingUpdate"


def has_progress_deadline(deployment: Mapping) -> bool:
    deadline = _spec(deployment).get("progressDeadlineSeconds")
    return deadline is not None and deadline != _MAX_INT32


def has_revision_history_limit(deployment: Mapping) -> bool:
    limit = _spec(deployment).get("revisionHistoryLimit")
    return limit is not None and limit != _MAX_INT32


# -- maxSurge / maxUnavailable ---------------------------------------------------------------

_PERCENT = re.compile(r"^([+-]?[0-9]+)%$")


def scaled_value(value: int | str | None, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent: an int as is, ``"N%"`` of ``total`` rounded up
    or down.  ``ValueError`` for anything else (a bare numeric string included)."""
    if value is None:
        raise ValueError("nil value for IntOrString")
    if isinstance(value, bool):
        raise ValueError("invalid type: neither int nor percentage")
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        raise ValueError("invalid type: neither int nor percentage")
    match = _PERCENT.match(value)
    if match is None:
        raise ValueError(f"invalid value {value!r}: string is not a percentage")
    product = int(match.group(1)) * total
    # Exact integer ceil/floor: the same results as Go's float math.Ceil/Floor(v*total/100).
    return -(-product // 100) if round_up else product // 100


def resolve_fenceposts(max_surge: int | str | None, max_unavailable: int | str | None, desired: int) -> tuple[int, int]:
    """Upstream's ResolveFenceposts: surge rounds up, unavailable rounds down; when both come
    to zero, unavailable is 1 (validation forbids explicit 0/0, but 10% of 5 floors to 0)."""
    surge = scaled_value(0 if max_surge is None else max_surge, desired, True)
    unavailable = scaled_value(0 if max_unavailable is None else max_unavailable, desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _rolling_params(deployment: Mapping) -> Mapping:
    return (_spec(deployment).get("strategy") or {}).get("rollingUpdate") or {}


def max_surge(deployment: Mapping) -> int:
    if not is_rolling_update(deployment):
        return 0
    params = _rolling_params(deployment)
    try:
        surge, _ = resolve_fenceposts(params.get("maxSurge"), params.get("maxUnavailable"), replicas(deployment))
    except ValueError:
        return 0  # validation rejects such values; upstream ignores the error the same way
    return surge


def max_unavailable(deployment: Mapping) -> int:
    desired = replicas(deployment)
    if not is_rolling_update(deployment) or desired == 0:
        return 0
    params = _rolling_params(deployment)
    try:
        _, unavailable = resolve_fenceposts(params.get("maxSurge"), params.get("maxUnavailable"), desired)
    except ValueError:
        return 0
    return min(unavailable, desired)


def min_available(deployment: Mapping) -> int:
    if not is_rolling_update(deployment):
        return 0
    return replicas(deployment) - max_unavailable(deployment)


# -- counting --------------------------------------------------------------------------------


def _present(rss: Iterable[Mapping | None]) -> list[Mapping]:
    return [rs for rs in rss if rs is not None]


def replica_count(rss: Iterable[Mapping | None]) -> int:
    """Sum of ``spec.replicas`` (GetReplicaCountForReplicaSets)."""
    return sum(replicas(rs) for rs in _present(rss))


def actual_replica_count(rss: Iterable[Mapping | None]) -> int:
    return sum(_status(rs).get("replicas") or 0 for rs in _present(rss))


def ready_replica_count(rss: Iterable[Mapping | None]) -> int:
    return sum(_status(rs).get("readyReplicas") or 0 for rs in _present(rss))


def available_replica_count(rss: Iterable[Mapping | None]) -> int:
    return sum(_status(rs).get("availableReplicas") or 0 for rs in _present(rss))


def terminating_replica_count(rss: Iterable[Mapping | None]) -> int | None:
    """GetTerminatingReplicaCountForReplicaSets: None when a ReplicaSet the ReplicaSet
    controller has already synced does not report ``status.terminatingReplicas``."""
    total = 0
    for rs in _present(rss):
        status = _status(rs)
        terminating = status.get("terminatingReplicas")
        if terminating is None:
            if not status.get("observedGeneration"):
                continue  # not synced yet
            return None
        total += terminating
    return total


def filter_active(rss: Iterable[Mapping | None]) -> list[Mapping]:
    return [rs for rs in _present(rss) if replicas(rs) > 0]


# -- ordering (upstream's sort.Interface types) ----------------------------------------------

_EPOCH = dt.datetime.min.replace(tzinfo=dt.UTC)


def _created(obj: Mapping) -> dt.datetime:
    return parse_time(_meta(obj).get("creationTimestamp")) or _EPOCH


def by_creation(rss: Iterable[Mapping]) -> list[Mapping]:
    """Oldest first; ties by name (ReplicaSetsByCreationTimestamp)."""
    return sorted(rss, key=lambda rs: (_created(rs), _meta(rs).get("name", "")))


def by_size_older(rss: Iterable[Mapping]) -> list[Mapping]:
    """Largest first; among equals the older first (ReplicaSetsBySizeOlder: scaling down)."""
    return sorted(by_creation(rss), key=lambda rs: -replicas(rs))


def by_size_newer(rss: Iterable[Mapping]) -> list[Mapping]:
    """Largest first; among equals the newer first (ReplicaSetsBySizeNewer: scaling up)."""
    return sorted(list(reversed(by_creation(rss))), key=lambda rs: -replicas(rs))


_DECIMAL = re.compile(r"^[+-]?[0-9]+$")


def parse_int(text: str | None) -> int | None:
    """strconv.ParseInt(text, 10, 64): None where Go reports an error (Python's int() would
    also take spaces and underscores)."""
    if text is None or not _DECIMAL.match(text):
        return None
    value = int(text)
    return value if -(2**63) <= value < 2**63 else None


def revision(obj: Mapping) -> int | None:
    """The revision annotation as an int: 0 when absent, None when it does not parse."""
    text = annotations(obj).get(REVISION_ANNOTATION)
    if text is None:
        return 0
    return parse_int(text)


def by_revision(rss: Iterable[Mapping]) -> list[Mapping]:
    """Lowest revision first; unparsable revisions and ties by creation (ReplicaSetsByRevision)."""
    return sorted(by_creation(rss), key=lambda rs: revision(rs) or 0)


def max_revision(rss: Iterable[Mapping]) -> int:
    return max((revision(rs) or 0 for rs in rss), default=0)


# -- templates, hashing ----------------------------------------------------------------------

_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_FNV32_OFFSET = 0x811C9DC5
_FNV32_PRIME = 0x01000193


def fnv32a(data: bytes, state: int = _FNV32_OFFSET) -> int:
    for byte in data:
        state = ((state ^ byte) * _FNV32_PRIME) & 0xFFFFFFFF
    return state


def safe_encode_string(text: str) -> str:
    """apimachinery's rand.SafeEncodeString: each byte picks from an alphabet without vowels
    (no words) and without 0/1/3 (no look-alikes)."""
    return "".join(_SAFE_ALPHABET[ord(ch) % len(_SAFE_ALPHABET)] for ch in text)


def compute_hash(template: Mapping, collision_count: int | None) -> str:
    """The ``pod-template-hash`` of a template (upstream's controller.ComputeHash).

    Upstream feeds fnv32a with a spew dump of the Go PodTemplateSpec struct, which a JSON
    object cannot reproduce byte for byte; here fnv32a runs over the template's canonical JSON
    (sorted keys, no spaces).  The rest is upstream's: a non-nil collisionCount is appended as
    8 little-endian bytes, and the decimal sum goes through SafeEncodeString.  So names look
    like upstream's (``web-7d4b9c8f6``), are stable for a template, and change with
    ``status.collisionCount``; they are not the names kube-controller-manager would pick."""
    state = fnv32a(orjson.dumps(template, option=orjson.OPT_SORT_KEYS))
    if collision_count is not None:
        state = fnv32a(struct.pack("<I", collision_count & 0xFFFFFFFF) + b"\0\0\0\0", state)
    return safe_encode_string(str(state))


def _semantic(value: Any) -> Any:
    """Go's decoded view of a JSON value for comparison: null, {} and [] are what an absent
    field decodes to (apimachinery's Semantic.DeepEqual treats nil and empty alike)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            item = _semantic(item)
            if item is not None:
                out[key] = item
        return out or None
    if isinstance(value, list):
        return [_semantic(item) for item in value] or None
    return value


def template_without_hash(template: Mapping | None) -> Obj:
    copied = copy.deepcopy(dict(template or {}))
    labels = (copied.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(POD_TEMPLATE_HASH_LABEL, None)
    return copied


_QUANTITY = re.compile(r"([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(?:([eE][+-]?[0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?")
_QUANTITY_SUFFIXES = {
    "": Fraction(1), "n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000),
    "k": Fraction(10**3), "M": Fraction(10**6), "G": Fraction(10**9), "T": Fraction(10**12),
    "P": Fraction(10**15), "E": Fraction(10**18),
    "Ki": Fraction(2**10), "Mi": Fraction(2**20), "Gi": Fraction(2**30), "Ti": Fraction(2**40),
    "Pi": Fraction(2**50), "Ei": Fraction(2**60),
}


def parse_quantity(text: Any) -> Fraction:
    """A resource.Quantity's exact value; ``ValueError`` when it is not one."""
    if isinstance(text, bool) or not isinstance(text, (int, str)):
        raise ValueError(f"not a quantity: {text!r}")
    match = _QUANTITY.fullmatch(str(text))
    if match is None:
        raise ValueError(f"not a quantity: {text!r}")
    number, exponent, suffix = match.groups()
    value = Fraction(number)
    if exponent:
        value *= Fraction(10) ** int(exponent[1:])
    return value * _QUANTITY_SUFFIXES[suffix or ""]


def _quantities_as_numbers(amounts: Any) -> None:
    if isinstance(amounts, dict):
        for name, text in amounts.items():
            try:
                amounts[name] = parse_quantity(text)
            except ValueError:
                pass  # not a quantity: compared as written


def _compare_quantities_by_value(template: Obj) -> Obj:
    """Semantic.DeepEqual compares resource.Quantity by value (``0.5`` equals ``500m``, which
    is what kubectl sends back on ``rollout undo``): the template's quantities become numbers."""
    spec = template.get("spec")
    if not isinstance(spec, dict):
        return template
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for container in spec.get(key) or ():
            resources = container.get("resources") if isinstance(container, dict) else None
            if isinstance(resources, dict):
                _quantities_as_numbers(resources.get("limits"))
                _quantities_as_numbers(resources.get("requests"))
    _quantities_as_numbers(spec.get("overhead"))
    if isinstance(spec.get("resources"), dict):
        _quantities_as_numbers(spec["resources"].get("limits"))
        _quantities_as_numbers(spec["resources"].get("requests"))
    for volume in spec.get("volumes") or ():
        empty_dir = volume.get("emptyDir") if isinstance(volume, dict) else None
        if isinstance(empty_dir, dict) and "sizeLimit" in empty_dir:
            holder = {"sizeLimit": empty_dir["sizeLimit"]}
            _quantities_as_numbers(holder)
            empty_dir["sizeLimit"] = holder["sizeLimit"]
    return template


def equal_ignore_hash(template1: Mapping | None, template2: Mapping | None) -> bool:
    """EqualIgnoreHash: templates equal once the ``pod-template-hash`` label is dropped, under
    apimachinery's semantic equality (nil equals empty, quantities by value)."""
    first = _compare_quantities_by_value(template_without_hash(template1))
    second = _compare_quantities_by_value(template_without_hash(template2))
    return _semantic(first) == _semantic(second)


def find_new_replica_set(deployment: Mapping, rss: Iterable[Mapping]) -> Mapping | None:
    """The oldest ReplicaSet whose template matches the Deployment's (after an upgrade two may
    match; upstream deterministically picks the oldest)."""
    template = _spec(deployment).get("template")
    for rs in by_creation(rss):
        if equal_ignore_hash(_spec(rs).get("template"), template):
            return rs
    return None


def find_old_replica_sets(deployment: Mapping, rss: Sequence[Mapping]) -> list[Mapping]:
    """Every owned ReplicaSet but the new one (FindOldReplicaSets' allRSs)."""
    new_rs = find_new_replica_set(deployment, rss)
    new_uid = uid(new_rs) if new_rs is not None else None
    return [rs for rs in rss if new_uid is None or uid(rs) != new_uid]


# -- annotations -----------------------------------------------------------------------------


def _annotations_of(obj: Obj) -> dict[str, str]:
    meta = obj.setdefault("metadata", {})
    if not isinstance(meta.get("annotations"), dict):
        meta["annotations"] = {}
    return meta["annotations"]


def copy_deployment_annotations(deployment: Mapping, rs: Obj) -> bool:
    """Copy the Deployment's annotations onto the ReplicaSet, except the skipped ones; True
    when the ReplicaSet changed.  (A copied annotation later removed from the Deployment stays
    on the ReplicaSet, as upstream.)"""
    target = _annotations_of(rs)
    changed = False
    for key, value in annotations(deployment).items():
        if key in ANNOTATIONS_TO_SKIP or target.get(key) == value:
            continue
        target[key] = value
        changed = True
    return changed


def set_replicas_annotations(rs: Obj, desired: int, maximum: int) -> bool:
    target = _annotations_of(rs)
    changed = False
    for key, value in ((DESIRED_REPLICAS_ANNOTATION, str(desired)), (MAX_REPLICAS_ANNOTATION, str(maximum))):
        if target.get(key) != value:
            target[key] = value
            changed = True
    return changed


def replicas_annotations_need_update(rs: Mapping, desired: int, maximum: int) -> bool:
    current = annotations(rs)
    return current.get(DESIRED_REPLICAS_ANNOTATION) != str(desired) or current.get(MAX_REPLICAS_ANNOTATION) != str(maximum)


def set_new_replica_set_annotations(deployment: Mapping, rs: Obj, new_revision: str, exists: bool,
                                    history_limit_chars: int = MAX_REVISION_HISTORY_CHARS) -> bool:
    """SetNewReplicaSetAnnotations: copy the Deployment's annotations, raise the revision to
    ``new_revision`` if it is lower (recording the old one in revision-history: a rollback to
    this template), and for a ReplicaSet about to be created the replicas annotations.  True
    when the ReplicaSet changed."""
    changed = copy_deployment_annotations(deployment, rs)
    target = _annotations_of(rs)
    old_revision = target.get(REVISION_ANNOTATION)
    if old_revision is None or old_revision == "":
        old_number = 0
    else:
        old_number = parse_int(old_revision)
        if old_number is None:
            return False
    new_number = parse_int(new_revision)
    if new_number is None:
        return False
    if old_number < new_number:
        target[REVISION_ANNOTATION] = new_revision
        changed = True
        if old_revision is not None:
            history = target.get(REVISION_HISTORY_ANNOTATION, "")
            if not history:
                target[REVISION_HISTORY_ANNOTATION] = old_revision
            else:
                entries = history.split(",")
                total = len(history) + len(old_revision) + 1
                start = 0
                while total > history_limit_chars and start < len(entries):
                    total -= len(entries[start]) + 1
                    start += 1
                if total <= history_limit_chars:
                    target[REVISION_HISTORY_ANNOTATION] = ",".join(entries[start:] + [old_revision])
    if not exists and set_replicas_annotations(rs, replicas(deployment), replicas(deployment) + max_surge(deployment)):
        changed = True
    return changed


def set_deployment_revision(deployment: Obj, revision_text: str) -> bool:
    target = _annotations_of(deployment)
    if target.get(REVISION_ANNOTATION) != revision_text:
        target[REVISION_ANNOTATION] = revision_text
        return True
    return False


def _non_negative_annotation(rs: Mapping, key: str) -> int | None:
    value = parse_int(annotations(rs).get(key))
    return value if value is not None and 0 <= value <= _MAX_INT32 else None


def desired_replicas_annotation(rs: Mapping) -> int | None:
    return _non_negative_annotation(rs, DESIRED_REPLICAS_ANNOTATION)


def max_replicas_annotation(rs: Mapping) -> int | None:
    return _non_negative_annotation(rs, MAX_REPLICAS_ANNOTATION)
