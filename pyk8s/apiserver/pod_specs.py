"""The spec half of a pod create, remembered per identical spec.

ReplicaSets, Jobs and load generators create pods that differ only in their metadata.
The spec half of the create path (schema check, Priority admission, defaulting,
DefaultTolerationSeconds, spec validation) turns the same spec into the same stored spec,
status and selectable fields, and cost about half of a create.  So the outcome of a create
that succeeded with no warning is kept under the spec's bytes as they were sent, and a later
create with the same bytes takes it instead of running that half again.  The metadata half
(its schema check, namespace admission, generateName, stamping, metadata validation) always
runs.

The spec half reads one piece of cluster state, the PriorityClasses (the class a pod names,
or the global default): ``Admission.priority_classes_changed`` clears the cache whenever
one is written.  Everything else it reads is the server's own configuration.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson

__all__ = ["PodSpecs", "SpecOutcome"]

# Enough for the templates of every workload of a busy cluster; a full cache is cleared.
_MAX_ENTRIES = 256
# Larger specs are rare and each would pin its bytes twice.
_MAX_SPEC_BYTES = 16 * 1024


class SpecOutcome(NamedTuple):
    """A stored pod's spec and status, encoded, and its selectable fields."""

    spec: orjson.Fragment
    status: orjson.Fragment
    fields: dict[str, str]


class PodSpecs:
    def __init__(self) -> None:
        self._entries: dict[bytes, SpecOutcome] = {}

    @staticmethod
    def key(spec: Any) -> bytes | None:
        """The cache key of a create body's ``spec``, or None when it has none to cache."""
        if type(spec) is not dict:
            return None
        try:
            raw = orjson.dumps(spec)
        except orjson.JSONEncodeError:
            return None  # nesting orjson cannot encode: the full path reports it
        return raw if len(raw) <= _MAX_SPEC_BYTES else None

    def get(self, key: bytes) -> SpecOutcome | None:
        return self._entries.get(key)

    def remember(self, key: bytes, spec: dict[str, Any], status: dict[str, Any], fields: dict[str, str]) -> None:
        """The outcome of a create that succeeded with no warning, for later creates of ``key``."""
        entries = self._entries
        if len(entries) >= _MAX_ENTRIES:
            entries.clear()
        entries[key] = SpecOutcome(orjson.Fragment(orjson.dumps(spec)), orjson.Fragment(orjson.dumps(status)), fields)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
