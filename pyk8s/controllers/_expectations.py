"""Controller expectations, as upstream's pkg/controller/controller_utils.go: how a
controller avoids acting twice on a state its own writes have not yet reached the informer.

A controller that creates N pods calls ``expect_creations(key, N)`` first; each pod add its
informer delivers calls ``creation_observed(key)``.  Until the count reaches zero
``satisfied(key)`` is False and the controller must not create or delete again (its cache
does not yet show the pods it made, so it would count too few and over-create).  A create
that failed (so no event will come) is lowered by hand.  Expectations older than
``EXPECTATIONS_TIMEOUT`` (5 minutes) count as satisfied, so a lost watch event cannot wedge
a controller forever.

``UIDTrackingExpectations`` also remembers *which* pods a deletion expects, so a pod
deleted by someone else (or whose delete is seen twice, as an update setting
deletionTimestamp and then as the delete) does not lower the count.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = ["ControllerExpectations", "UIDTrackingExpectations", "EXPECTATIONS_TIMEOUT"]

EXPECTATIONS_TIMEOUT = 300.0  # upstream ExpectationsTimeout


@dataclass
class _Expectation:
    adds: int
    deletes: int
    timestamp: float

    def fulfilled(self) -> bool:
        # Observations can run ahead of expectations (an informer event for a create the
        # controller counted as failed), so "at or below zero" is the test.
        return self.adds <= 0 and self.deletes <= 0


class ControllerExpectations:
    def __init__(self, *, ttl: float = EXPECTATIONS_TIMEOUT, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._expectations: dict[str, _Expectation] = {}

    def satisfied(self, key: str) -> bool:
        """True when the controller may act on ``key``: nothing expected, everything
        observed, or the expectation expired.  A key without expectations (new, or never
        written for) is satisfied."""
        expectation = self._expectations.get(key)
        if expectation is None:
            return True
        return expectation.fulfilled() or self.clock() - expectation.timestamp > self.ttl

    def pending(self, key: str) -> tuple[int, int]:
        """(adds, deletes) still expected for ``key``."""
        expectation = self._expectations.get(key)
        return (expectation.adds, expectation.deletes) if expectation is not None else (0, 0)

    def set_expectations(self, key: str, adds: int, deletes: int) -> None:
        self._expectations[key] = _Expectation(adds, deletes, self.clock())

    def expect_creations(self, key: str, adds: int) -> None:
        self.set_expectations(key, adds, 0)

    def expect_deletions(self, key: str, deletes: int) -> None:
        self.set_expectations(key, 0, deletes)

    def raise_expectations(self, key: str, adds: int, deletes: int) -> None:
        expectation = self._expectations.get(key)
        if expectation is not None:
            expectation.adds += adds
            expectation.deletes += deletes

    def lower_expectations(self, key: str, adds: int, deletes: int) -> None:
        expectation = self._expectations.get(key)
        if expectation is not None:
            expectation.adds -= adds
            expectation.deletes -= deletes

    def creation_observed(self, key: str) -> None:
        self.lower_expectations(key, 1, 0)

    def deletion_observed(self, key: str) -> None:
        self.lower_expectations(key, 0, 1)

    def delete_expectations(self, key: str) -> None:
        self._expectations.pop(key, None)


class UIDTrackingExpectations(ControllerExpectations):
    """Deletions are expected by pod key (``namespace/name``): ``deletion_observed(key,
    pod_key)`` lowers the count only for a pod this controller deleted, and only once."""

    def __init__(self, *, ttl: float = EXPECTATIONS_TIMEOUT, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(ttl=ttl, clock=clock)
        self._deleting: dict[str, set[str]] = {}

    def expect_deletions(self, key: str, pod_keys: Iterable[str]) -> None:  # type: ignore[override]
        keys = set(pod_keys)
        self._deleting[key] = keys
        super().expect_deletions(key, len(keys))

    def deletion_observed(self, key: str, pod_key: str | None = None) -> None:  # type: ignore[override]
        expected = self._deleting.get(key)
        if expected is None or pod_key not in expected:
            return
        expected.discard(pod_key)
        super().deletion_observed(key)

    def delete_expectations(self, key: str) -> None:
        self._deleting.pop(key, None)
        super().delete_expectations(key)
