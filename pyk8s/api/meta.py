"""Server-set object metadata, as upstream's rest.BeforeCreate/BeforeUpdate set it."""

from __future__ import annotations

import os
import secrets
import time
from typing import Any

__all__ = ["now_rfc3339", "new_uid", "stamp_create", "stamp_update", "generate_name"]

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
_random_pool = b""
_random_offset = 0


def _reset_random_pool() -> None:
    global _random_pool, _random_offset
    _random_pool, _random_offset = b"", 0


# A forked child (granian's worker) must not reuse the parent's random bytes.
os.register_at_fork(after_in_child=_reset_random_pool)


def new_uid() -> str:
    """A random (version 4) UUID string.  Random bytes are drawn from the OS in batches:
    one ``getrandom`` per 4096 objects rather than one per object."""
    global _random_pool, _random_offset
    if _random_offset >= len(_random_pool):
        _random_pool, _random_offset = os.urandom(16 * _UUID_BATCH), 0
    raw = bytearray(_random_pool[_random_offset : _random_offset + 16])
    _random_offset += 16
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def generate_name(base: str) -> str:
    base = base[:_MAX_GENERATED_NAME_LENGTH]
    return base + "".join(secrets.choice(_ALPHANUMS) for _ in range(_RANDOM_LENGTH))


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
    meta.pop("deletionTimestamp", None)
    meta.pop("deletionGracePeriodSeconds", None)
    meta.pop("selfLink", None)
    meta["resourceVersion"] = ""


def stamp_update(obj: dict[str, Any], old: dict[str, Any]) -> None:
    """Carry over what an update may not change; bump ``generation`` when the spec changed
    (upstream strategies compare specs; metadata-only or status changes keep it)."""
    meta = obj["metadata"]
    old_meta = old.get("metadata") or {}
    for key in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
        if key in old_meta:
            meta[key] = old_meta[key]
        else:
            meta.pop(key, None)
    if "namespace" in old_meta:
        meta["namespace"] = old_meta["namespace"]
    generation = old_meta.get("generation", 1)
    if obj.get("spec") != old.get("spec"):
        generation += 1
    meta["generation"] = generation
    meta.pop("selfLink", None)
    meta["resourceVersion"] = ""
