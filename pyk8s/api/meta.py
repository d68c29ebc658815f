"""Object metadata the server sets and checks: upstream's rest.BeforeCreate/BeforeUpdate,
owner reference and finalizer validation, and what a DELETE does to metadata."""

from __future__ import annotations

import os
import random
import time
from typing import Any

from pyk8s.api.errors import Cause, forbidden, invalid_value
from pyk8s.api.validation import qualified_name_errors

__all__ = [
    "now_rfc3339",
    "rfc3339_after",
    "new_uid",
    "stamp_create",
    "stamp_update",
    "generate_name",
    "validate_owner_references",
    "validate_finalizers",
    "validate_metadata_update",
    "deletion_marks",
    "drop_empty_metadata",
]

# Upstream's names.SimpleNameGenerator alphabet: no vowels (no words), no confusable digits.
_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"
_RANDOM_LENGTH = 5
_MAX_GENERATED_NAME_LENGTH = 63 - _RANDOM_LENGTH


_now_cache: tuple[int, str] = (0, "")


def now_rfc3339() -> str:
    """Second precision, UTC, as metav1.Time marshals: ``2026-11-27T07:00:00Z``.
    Formatted once per second: every create asks for it."""
    global _now_cache
    second = int(time.time())
    if _now_cache[0] != second:
        _now_cache = (second, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second)))
    return _now_cache[1]


_UUID_BATCH = 4096
# RFC 4122 variant: the top two bits of the 17th hex digit are 10, so it is one of 8, 9, a, b.
_VARIANT_DIGIT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}
# Uids made ahead, a batch at a time from one ``getrandom`` (taken from the end).
_uids: list[str] = []


def _reset_random_pool() -> None:
    _uids.clear()


# A forked child (granian's worker) must not reuse the parent's random bytes.
os.register_at_fork(after_in_child=_reset_random_pool)


def _uid_batch() -> list[str]:
    pool = os.urandom(16 * _UUID_BATCH).hex()
    variant = _VARIANT_DIGIT
    return [
        f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant[h[16]]}{h[17:20]}-{h[20:]}"
        for h in (pool[start : start + 32] for start in range(0, len(pool), 32))
    ]


def new_uid() -> str:
    """A random (version 4) UUID string.  Random bytes are drawn from the OS in batches:
    one ``getrandom`` per 4096 objects rather than one per object."""
    try:
        return _uids.pop()
    except IndexError:
        _uids.extend(_uid_batch())
        return _uids.pop()


def generate_name(base: str) -> str:
    # Upstream draws from math/rand: names need to be unlikely to collide (a collision is
    # retried), not unpredictable, so the fast PRNG serves (reseeded in forked children).
    base = base[:_MAX_GENERATED_NAME_LENGTH]
    return base + "".join(random.choices(_ALPHANUMS, k=_RANDOM_LENGTH))


# ObjectMeta's collections are ``omitempty`` in Go: stored objects never carry them empty
# (e.g. ``finalizers: []`` after a patch removed the last one).
_OMIT_EMPTY = ("labels", "annotations", "finalizers", "ownerReferences", "managedFields")


def drop_empty_metadata(meta: dict[str, Any]) -> None:
    for key in _OMIT_EMPTY:
        if key in meta and not meta[key]:  # present and empty
            del meta[key]


def stamp_create(obj: dict[str, Any], namespace: str) -> None:
    """Set what only the server may set on a new object.  ``namespace`` is "" for
    cluster-scoped kinds, whose objects then carry none (as upstream clears it)."""
    meta = obj["metadata"]
    if namespace:
        meta["namespace"] = namespace
    else:
        meta.pop("namespace", None)
    meta["uid"] = new_uid()
    meta["creationTimestamp"] = now_rfc3339()
    meta["generation"] = 1
    # ``in`` then ``del``, not ``pop``: these are nearly always absent.
    if "deletionTimestamp" in meta:
        del meta["deletionTimestamp"]
    if "deletionGracePeriodSeconds" in meta:
        del meta["deletionGracePeriodSeconds"]
    if "selfLink" in meta:
        del meta["selfLink"]
    meta["resourceVersion"] = ""
    drop_empty_metadata(meta)


def stamp_update(obj: dict[str, Any], old: dict[str, Any], main_resource: bool = True) -> None:
    """Carry over what an update may not change; bump ``generation`` when the spec changed
    (upstream strategies compare specs; metadata-only or status changes keep it)."""
    meta = obj["metadata"]
    old_meta = old.get("metadata") or {}
    # A uid the client sent stays for validate_metadata_update to compare (upstream's
    # BeforeUpdate fills in the existing uid only when none is given).
    if not meta.get("uid") and "uid" in old_meta:
        meta["uid"] = old_meta["uid"]
    for key in ("creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
        if key in old_meta:
            meta[key] = old_meta[key]
        elif key in meta:
            del meta[key]
    if "namespace" in old_meta:
        meta["namespace"] = old_meta["namespace"]
    generation = old_meta.get("generation", 1)
    if obj.get("spec") != old.get("spec") or (
            # Deployments also count annotation changes: they are copied to the ReplicaSets
            # (upstream's deploymentStrategy.PrepareForUpdate; not /status, through which the
            # controller writes its revision annotation).
            main_resource and obj.get("kind") == "Deployment" and meta.get("annotations") != old_meta.get("annotations")):
        generation += 1
    elif obj.get("kind") == "EndpointSlice" and (
            # EndpointSlices have no spec: any change outside metadata, or to the labels, is
            # a new generation (upstream's endpointSliceStrategy.PrepareForUpdate).
            meta.get("labels") != old_meta.get("labels")
            or {k: v for k, v in obj.items() if k != "metadata"} != {k: v for k, v in old.items() if k != "metadata"}):
        generation += 1
    meta["generation"] = generation
    if "selfLink" in meta:
        del meta["selfLink"]
    meta["resourceVersion"] = ""
    drop_empty_metadata(meta)


def rfc3339_after(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(time.time()) + seconds))


# -- owner references and finalizers (apimachinery's ValidateObjectMeta) ----------------------

FINALIZER_ORPHAN = "orphan"
FINALIZER_FOREGROUND = "foregroundDeletion"


def validate_owner_references(meta: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    refs = meta.get("ownerReferences") or []
    path = "metadata.ownerReferences"
    controllers: list[str] = []
    for ref in refs:
        if not isinstance(ref, dict):
            continue
        api_version = ref.get("apiVersion") or ""
        if not api_version.rpartition("/")[2]:
            causes.append(invalid_value(f"{path}.apiVersion", api_version, "version must not be empty"))
        for key in ("kind", "name", "uid"):
            if not ref.get(key):
                causes.append(invalid_value(f"{path}.{key}", ref.get(key) or "", "must not be empty"))
        if ref.get("controller") is True:
            controllers.append(ref.get("name", ""))
    if len(controllers) > 1:
        causes.append(
            invalid_value(
                path,
                refs,
                f'Only one reference can have Controller set to true. Found "true" in references for '
                f"{controllers[0]} and {controllers[1]}",
            )
        )
    return causes


def validate_finalizers(meta: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    finalizers = meta.get("finalizers") or []
    for finalizer in finalizers:
        causes.extend(invalid_value("metadata.finalizers", finalizer, msg) for msg in qualified_name_errors(finalizer))
    if FINALIZER_ORPHAN in finalizers and FINALIZER_FOREGROUND in finalizers:
        causes.append(
            invalid_value("metadata.finalizers", finalizers, "finalizer orphan and foregroundDeletion cannot be both set")
        )
    return causes


def validate_metadata_update(meta: dict[str, Any], old_meta: dict[str, Any]) -> list[Cause]:
    """ValidateObjectMetaUpdate's parts the stamping does not already enforce."""
    causes = validate_owner_references(meta) if "ownerReferences" in meta else []
    if meta.get("uid") != old_meta.get("uid"):
        causes.append(invalid_value("metadata.uid", meta.get("uid"), "field is immutable"))
    if "finalizers" in meta:
        causes += validate_finalizers(meta)
        if old_meta.get("deletionTimestamp"):
            old = set(old_meta.get("finalizers") or ())
            new = [f for f in meta["finalizers"] if f not in old]
            if new:
                quoted = ", ".join(f'"{f}"' for f in new)
                causes.append(
                    forbidden(
                        "metadata.finalizers",
                        f"no new finalizers can be added if the object is being deleted, found new finalizers []string{{{quoted}}}",
                    )
                )
    return causes


# -- deletion (upstream rest.BeforeDelete and the Store's finalizer handling) -----------------


def deletion_marks(resource: Any, old: dict[str, Any], options: Any) -> dict[str, Any] | None:
    """What a DELETE does to ``old``: None to remove it now; else the object to keep,
    marked with deletionTimestamp (``old`` itself when nothing changes).  Objects stay
    while finalizers are pending (the propagation policy adds ``orphan`` or
    ``foregroundDeletion``, for the garbage collector), while a pod's grace period runs
    (the kubelet ends it), and namespaces until their controller has finalized them."""
    old_meta = old.get("metadata") or {}
    meta = dict(old_meta)
    obj = dict(old)
    obj["metadata"] = meta
    finalizers = list(meta.get("finalizers") or ())
    policy = options.propagation
    if policy:
        # The deprecated flag aside, Background is the default: it drops both GC finalizers.
        finalizers = [f for f in finalizers if f not in (FINALIZER_ORPHAN, FINALIZER_FOREGROUND)]
        if policy == "Orphan":
            finalizers.append(FINALIZER_ORPHAN)
        elif policy == "Foreground":
            finalizers.append(FINALIZER_FOREGROUND)
    elif (resource.group, resource.plural) == ("batch", "jobs") and not (
            {FINALIZER_ORPHAN, FINALIZER_FOREGROUND} & set(finalizers)):
        # batch/v1 Jobs orphan their pods when no policy is given (upstream's
        # DefaultGarbageCollectionPolicy, kept for backward compatibility).
        finalizers.append(FINALIZER_ORPHAN)
    if finalizers:
        meta["finalizers"] = finalizers
    else:
        meta.pop("finalizers", None)
    if resource.plural == "namespaces" and not resource.group:
        return _namespace_deletion(obj, old)
    grace = resource.deletion_grace(old, options.grace_period) if resource.deletion_grace else 0
    if not finalizers and grace == 0:
        return None
    marked_grace = meta.get("deletionGracePeriodSeconds")
    if not meta.get("deletionTimestamp") or marked_grace is None or grace < marked_grace:
        # A later delete may only shorten the grace period, as upstream.
        meta["deletionTimestamp"] = rfc3339_after(grace) if grace else now_rfc3339()
        meta["deletionGracePeriodSeconds"] = grace
    return obj if obj != old else old


def _namespace_deletion(obj: dict[str, Any], old: dict[str, Any]) -> dict[str, Any] | None:
    meta = obj["metadata"]
    if not meta.get("deletionTimestamp"):
        meta["deletionTimestamp"] = now_rfc3339()
        meta["deletionGracePeriodSeconds"] = 0
        obj["status"] = {**(obj.get("status") or {}), "phase": "Terminating"}
        return obj
    if not (obj.get("spec") or {}).get("finalizers") and not meta.get("finalizers"):
        return None  # the namespace controller has finalized it
    return obj if obj != old else old
