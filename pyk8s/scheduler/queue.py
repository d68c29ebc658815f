"""The scheduling queue, as upstream's PriorityQueue (pkg/scheduler/backend/queue).

A pending pod is in exactly one place:

* ``active``: ready to be tried, a heap ordered by the QueueSort key (PrioritySort: higher
  ``spec.priority`` first, then the earlier queue timestamp);
* ``backoff``: failed recently, a heap ordered by when its back-off expires (1 s doubling
  per attempt up to 10 s); ``pop`` moves expired entries to ``active`` itself;
* ``unschedulable``: failed and nothing has changed since; a cluster event that could make
  it fit (``move_all``) sends it to ``backoff`` (still backing off) or ``active``.  Which
  events can is decided by the plugins that rejected it (upstream's queueing hints, see
  queueing_hints.py): a pod short of cpu waits for room, not for a node's labels.  A pod
  left here longer than ``max_in_unschedulable`` (upstream's
  podMaxInUnschedulablePodsDuration, 5 min; the process checks every 30 s, as upstream's
  flushUnschedulablePodsLeftover) is moved anyway by ``flush_unschedulable``, so no pod
  starves on an event the hints did not foresee;
* ``gated``: ``spec.schedulingGates`` is not empty (upstream's SchedulingGates PreEnqueue);
  released to ``active`` when an update removes the last gate;
* in flight: popped and being scheduled.  A failure comes back through
  ``add_unschedulable(entry, cycle, reasons, plugins)``; when an event that could help it
  happened after that pod's cycle started, the event may already have resolved the
  failure, so it goes to ``backoff`` instead of ``unschedulable`` (upstream's
  moveRequestCycle and in-flight events; without this a pod could wait for an event that
  has already passed).

Single-threaded: every method runs on the event loop of its owner.  Heaps use lazy
deletion: an entry removed or re-keyed is marked stale and skipped when it surfaces.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .queueing_hints import events_for

__all__ = ["QueuedPod", "SchedulingQueue", "pod_key", "DEFAULT_POD_INITIAL_BACKOFF", "DEFAULT_POD_MAX_BACKOFF",
           "DEFAULT_MAX_IN_UNSCHEDULABLE", "EXPLANATION_ANNOTATION"]

DEFAULT_POD_INITIAL_BACKOFF = 1.0  # podInitialBackoffSeconds
DEFAULT_POD_MAX_BACKOFF = 10.0  # podMaxBackoffSeconds
DEFAULT_MAX_IN_UNSCHEDULABLE = 300.0  # podMaxInUnschedulablePodsDuration
EXPLANATION_ANNOTATION = "scheduler.pyk8s.io/explanation"

ACTIVE, BACKOFF, UNSCHEDULABLE, GATED, IN_FLIGHT = "active", "backoff", "unschedulable", "gated", "inflight"


def pod_key(pod: Mapping) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace') or 'default'}/{meta.get('name', '')}"


def _priority(pod: Mapping) -> int:
    return int((pod.get("spec") or {}).get("priority") or 0)


def _gated(pod: Mapping) -> bool:
    return bool((pod.get("spec") or {}).get("schedulingGates"))


def _scheduling_relevant(pod: Mapping) -> tuple:
    """What an update must change for an unschedulable pod to be worth another try:
    upstream's isPodUpdated ignores resourceVersion, generation and status; the scheduler's
    own explanation annotation is ignored too, or writing it would retry the pod forever."""
    meta = pod.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    if EXPLANATION_ANNOTATION in annotations:
        annotations = {k: v for k, v in annotations.items() if k != EXPLANATION_ANNOTATION}
    return (meta.get("labels"), annotations, pod.get("spec"))


@dataclass(eq=False, slots=True)
class QueuedPod:
    """Upstream's QueuedPodInfo: the newest object plus the queue's bookkeeping."""

    key: str
    pod: dict
    timestamp: float  # when it last entered the queue (PrioritySort's tie-break)
    attempts: int = 0
    unschedulable_since: float = 0.0
    backoff_expires: float = 0.0
    where: str = ACTIVE
    # The failure reasons of the last failed attempt (text -> node count); None before one.
    reasons: dict[str, int] | None = None
    # The plugins that rejected it last (upstream's UnschedulablePlugins), and the cluster
    # events that can help it because of them (None: every event).
    unschedulable_plugins: frozenset[str] = frozenset()
    hint_events: frozenset[str] | None = None
    _heap_entry: list | None = field(default=None, repr=False)


class SchedulingQueue:
    def __init__(
        self,
        *,
        initial_backoff: float = DEFAULT_POD_INITIAL_BACKOFF,
        max_backoff: float = DEFAULT_POD_MAX_BACKOFF,
        max_in_unschedulable: float = DEFAULT_MAX_IN_UNSCHEDULABLE,
        sort_key: Callable[[Mapping], Any] = _priority,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``sort_key(pod)``: larger sorts first (the priority); ties go to the earlier queue
        timestamp.  ``clock`` is injectable so tests can step time instead of sleeping."""
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.max_in_unschedulable = max_in_unschedulable
        self.sort_key = sort_key
        self.clock = clock
        self.entries: dict[str, QueuedPod] = {}
        self._active: list[list] = []
        self._backoff: list[list] = []
        self._unschedulable: dict[str, QueuedPod] = {}
        # The same pods grouped by the events that can move them (few distinct groups), so
        # an event touches only the pods it can help.
        self._waiting_for: dict[frozenset[str] | None, dict[str, QueuedPod]] = {}
        self._gated: dict[str, QueuedPod] = {}
        self._counts = {ACTIVE: 0, BACKOFF: 0}
        self._sequence = itertools.count()
        self.scheduling_cycle = 0
        self._move_request_cycle = -1  # the last cycle any move was requested in
        self._event_cycles: dict[str, int] = {}  # event -> the last cycle it was reported in
        # Set to wake ``pop`` while it waits (``_popping``): an add or move when nobody
        # waits need not touch it.
        self._wakeup = asyncio.Event()
        self._popping = False
        self._closed = False

    # ---- informer side -----------------------------------------------------------------
    def add(self, pod: dict) -> None:
        """A new pending pod (or one seen again after a re-list)."""
        meta = pod.get("metadata") or {}
        key = f"{meta.get('namespace') or 'default'}/{meta.get('name', '')}"  # pod_key, inlined
        existing = self.entries.get(key)
        if existing is not None:
            return self.update(existing.pod, pod)
        entry = QueuedPod(key, pod, self.clock())
        self.entries[key] = entry
        if _gated(pod):
            self._to_gated(entry)
        else:
            self._to_active(entry)

    def update(self, old: dict | None, new: dict) -> None:
        """The pod changed while pending: keep the newest object wherever it waits, and give an
        unschedulable or gated pod another chance when the change could matter."""
        key = pod_key(new)
        entry = self.entries.get(key)
        if entry is None:
            return self.add(new)
        changed = old is None or _scheduling_relevant(old) != _scheduling_relevant(new)
        reprioritised = _priority(entry.pod) != _priority(new)
        entry.pod = new
        if entry.where == GATED:
            if not _gated(new):
                del self._gated[key]
                self._to_active(entry)
        elif entry.where == UNSCHEDULABLE:
            if changed:
                self._take_unschedulable(entry)
                self._to_active_or_backoff(entry)
        elif entry.where == ACTIVE and reprioritised:
            self._drop_from_heap(entry)
            self._to_active(entry)
        # In backoff it waits out its back-off with the new object; in flight, the cycle's
        # outcome decides where the new object goes.

    def delete(self, pod: Mapping | str) -> None:
        key = pod if isinstance(pod, str) else pod_key(pod)
        entry = self.entries.pop(key, None)
        if entry is None:
            return
        if entry.where in (ACTIVE, BACKOFF):
            self._drop_from_heap(entry)
        elif entry.where == UNSCHEDULABLE:
            self._take_unschedulable(entry)
        elif entry.where == GATED:
            del self._gated[key]
        entry.where = "deleted"

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def move_all(self, event: str = "", predicate: Callable[[QueuedPod], bool] | None = None) -> int:
        """A cluster event (a ClusterEvent name: NodeAdd, AssignedPodDelete, ...) may make
        unschedulable pods fit: move those it can help (by the plugins that rejected them)
        and ``predicate`` accepts (all by default) to backoff or active.  Returns how many
        moved."""
        self._move_request_cycle = self._event_cycles[event] = self.scheduling_cycle
        if not self._waiting_for:
            return 0  # nothing unschedulable (every node of a cluster's first list comes here)
        moving = [e for events, group in self._waiting_for.items() if events is None or event in events
                  for e in group.values() if predicate is None or predicate(e)]
        return self._move(moving)

    # ---- scheduler side ----------------------------------------------------------------
    def pop_nowait(self) -> QueuedPod | None:
        """The next pod to schedule, or None when nothing is ready."""
        if self._backoff:
            self.flush_backoff()
        while self._active:
            _sort, _timestamp, _seq, entry = heapq.heappop(self._active)
            if entry is None:
                continue
            self._counts[ACTIVE] -= 1
            entry._heap_entry = None
            entry.where = IN_FLIGHT
            entry.attempts += 1
            self.scheduling_cycle += 1
            return entry
        return None

    async def pop(self, idle_wait: float = 1.0) -> QueuedPod | None:
        """Wait for the next pod (None once closed).  Wakes for adds and moves, and by
        itself when the earliest back-off expires."""
        while not self._closed:
            entry = self.pop_nowait()
            if entry is not None:
                return entry
            self._wakeup.clear()
            wait = idle_wait
            if self._backoff:
                wait = min(wait, max(0.0, self._backoff[0][0] - self.clock()))
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
            # cancellation that arrives as the wakeup fires, and the scheduling loop would
            # then keep running after being stopped.
            self._popping = True
            try:
                async with asyncio.timeout(wait):
                    await self._wakeup.wait()
            except TimeoutError:
                pass
            finally:
                self._popping = False
        return None

    def add_unschedulable(self, entry: QueuedPod, cycle: int, reasons: Mapping[str, int] | None = None,
                          plugins: Iterable[str] = ()) -> None:
        """The cycle that popped ``entry`` (``cycle`` = scheduling_cycle just after its pop)
        found no node; ``plugins`` rejected it (ScheduleResult.unschedulable_plugins)."""
        if self.entries.get(entry.key) is not entry:
            return  # deleted (or replaced) while in flight
        entry.reasons = dict(reasons or {})
        entry.unschedulable_plugins = frozenset(plugins)
        entry.hint_events = events = events_for(entry.unschedulable_plugins)
        entry.timestamp = self.clock()
        if events is None:
            helped = self._move_request_cycle >= cycle
        else:
            helped = any(self._event_cycles.get(event, -1) >= cycle for event in events)
        if helped:
            self._to_backoff(entry)
        else:
            entry.where = UNSCHEDULABLE
            entry.unschedulable_since = entry.timestamp
            self._unschedulable[entry.key] = entry
            self._waiting_for.setdefault(events, {})[entry.key] = entry

    def add_backoff(self, entry: QueuedPod) -> None:
        """The cycle failed with an error (API error, bind failure): retry after back-off."""
        if self.entries.get(entry.key) is not entry:
            return
        entry.timestamp = self.clock()
        self._to_backoff(entry)

    def activate(self, entry: QueuedPod) -> None:
        """Straight back to active (upstream's Activate; used after preemption nominated a node
        for the preemptor, which should retry as soon as its victims are gone)."""
        if self.entries.get(entry.key) is not entry:
            return
        if entry.where == UNSCHEDULABLE:
            self._take_unschedulable(entry)
        elif entry.where == BACKOFF:
            self._drop_from_heap(entry)
        elif entry.where != IN_FLIGHT:
            return
        self._to_active(entry)

    def done(self, key: str) -> None:
        """The pod was scheduled (assumed and sent to bind): it leaves the queue."""
        entry = self.entries.get(key)
        if entry is not None and entry.where == IN_FLIGHT:
            del self.entries[key]

    def flush_backoff(self) -> int:
        if not self._backoff:
            return 0  # every pop asks: the clock is read only when something backs off
        now = self.clock()
        moved = 0
        while self._backoff and self._backoff[0][0] <= now:
            _expiry, _seq, entry = heapq.heappop(self._backoff)
            if entry is None:
                continue
            self._counts[BACKOFF] -= 1
            entry._heap_entry = None
            self._to_active(entry)
            moved += 1
        return moved

    def flush_unschedulable(self) -> int:
        """Move pods that sat in unschedulable longer than ``max_in_unschedulable``, whatever
        rejected them (upstream's UnschedulableTimeout)."""
        cutoff = self.clock() - self.max_in_unschedulable
        overdue = [e for e in self._unschedulable.values() if e.unschedulable_since <= cutoff]
        if not overdue:
            return 0  # no move request: pods failing right now stay on the unschedulable path
        self._move_request_cycle = self.scheduling_cycle
        return self._move(overdue)

    def close(self) -> None:
        self._closed = True
        self._wakeup.set()

    # ---- observation -------------------------------------------------------------------
    def pending(self) -> dict[str, int]:
        """scheduler_pending_pods by queue."""
        return {ACTIVE: self._counts[ACTIVE], BACKOFF: self._counts[BACKOFF],
                UNSCHEDULABLE: len(self._unschedulable), GATED: len(self._gated)}

    def unschedulable_count(self) -> int:
        return len(self._unschedulable)

    def where(self, key: str) -> str | None:
        entry = self.entries.get(key)
        return entry.where if entry is not None else None

    def backoff_duration(self, attempts: int) -> float:
        """1 s, 2 s, 4 s, ... capped at 10 s (upstream's calculateBackoffDuration)."""
        duration = self.initial_backoff
        for _ in range(1, attempts):
            duration *= 2
            if duration >= self.max_backoff:
                return self.max_backoff
        return min(duration, self.max_backoff)

    # ---- moves -------------------------------------------------------------------------
    def _move(self, entries: list[QueuedPod]) -> int:
        for entry in entries:
            self._take_unschedulable(entry)
            self._to_active_or_backoff(entry)
        return len(entries)

    def _take_unschedulable(self, entry: QueuedPod) -> None:
        del self._unschedulable[entry.key]
        group = self._waiting_for[entry.hint_events]
        del group[entry.key]
        if not group:
            del self._waiting_for[entry.hint_events]

    def _to_active(self, entry: QueuedPod) -> None:
        entry.where = ACTIVE
        item = [-self.sort_key(entry.pod), entry.timestamp, next(self._sequence), entry]
        entry._heap_entry = item
        heapq.heappush(self._active, item)
        self._counts[ACTIVE] += 1
        if self._popping:
            self._wakeup.set()

    def _to_backoff(self, entry: QueuedPod) -> None:
        entry.where = BACKOFF
        entry.backoff_expires = entry.timestamp + self.backoff_duration(entry.attempts)
        item = [entry.backoff_expires, next(self._sequence), entry]
        entry._heap_entry = item
        heapq.heappush(self._backoff, item)
        self._counts[BACKOFF] += 1
        if self._popping:
            self._wakeup.set()  # pop recomputes how long to sleep

    def _to_active_or_backoff(self, entry: QueuedPod) -> None:
        if entry.timestamp + self.backoff_duration(entry.attempts) > self.clock() and entry.attempts:
            self._to_backoff(entry)
        else:
            self._to_active(entry)

    def _to_gated(self, entry: QueuedPod) -> None:
        entry.where = GATED
        self._gated[entry.key] = entry

    def _drop_from_heap(self, entry: QueuedPod) -> None:
        if entry._heap_entry is not None:
            entry._heap_entry[-1] = None
            entry._heap_entry = None
            self._counts[entry.where] -= 1
