"""The plain-Python reference backend: small and obviously correct.

It is the oracle the native store is tested against (same suite, plus hypothesis-driven
random operation sequences that must give identical results) and the baseline its
benchmarks are compared with.  It favours clarity over speed, but avoids gratuitous
slowness (keys are kept sorted incrementally, not re-sorted per list).

Layout, per resource:
  history[key]  -> list of versions ``(revision, StoredObject | None)``; None is a tombstone
  keys          -> sorted list of every key that has history
  events        -> list of ``LoggedEvent`` in revision order (the watch log)
  watchers      -> live watchers on this resource
One ``threading.RLock`` guards everything; watchers have their own condition variable so
a consumer never holds the store lock while it waits.
"""

from __future__ import annotations

import bisect
import itertools
import os
import threading
from dataclasses import dataclass, field
from typing import Sequence

from pyk8s.api.selectors import match_fields, match_labels

from ._protocol import (
    Event,
    ExpiredError,
    FieldRequirement,
    FutureRevisionError,
    LabelRequirement,
    WriteResult,
    WriteStatus,
)


@dataclass(frozen=True)
class StoredObject:
    namespace: str
    name: str
    data: bytes
    revision: int  # mod revision
    labels: dict[str, str]
    fields: dict[str, str]
    rv_start: int  # where the revision digits sit inside ``data``
    rv_len: int

    def selectable_fields(self) -> dict[str, str]:
        out = dict(self.fields)
        out["metadata.name"] = self.name
        out["metadata.namespace"] = self.namespace
        return out

    def restamped(self, revision: int) -> bytes:
        digits = str(revision).encode()
        return self.data[: self.rv_start] + digits + self.data[self.rv_start + self.rv_len :]


@dataclass(frozen=True)
class LoggedEvent:
    revision: int
    key: str
    obj: StoredObject | None  # state after the write (None for delete)
    prev: StoredObject | None  # state before the write (None for create)
    deleted_data: bytes | None  # the deleted object re-stamped with the delete revision


@dataclass
class _Resource:
    history: dict[str, list[tuple[int, StoredObject | None]]] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)
    events: list[LoggedEvent] = field(default_factory=list)
    watchers: list["ReferenceWatcher"] = field(default_factory=list)


def _key(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


class ReferenceListResult:
    def __init__(self, items: list[bytes], revision: int, next_key: str | None, remaining: int) -> None:
        self._items = items
        self.revision = revision
        self.next_key = next_key
        self.remaining = remaining

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> list[bytes]:
        return list(self._items)

    def render(self, prefix: bytes, suffix: bytes) -> bytes:
        return prefix + b",".join(self._items) + suffix


class ReferenceNotifier:
    def __init__(self) -> None:
        self._fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._lock = threading.Lock()
        self._pending: list[int] = []
        self._closed = False

    def fileno(self) -> int:
        return self._fd

    def _signal(self, watcher_id: int) -> None:
        with self._lock:
            if self._closed:
                return
            was_empty = not self._pending
            self._pending.append(watcher_id)
            if was_empty:
                os.eventfd_write(self._fd, 1)

    def drain(self) -> list[int]:
        with self._lock:
            try:
                os.eventfd_read(self._fd)
            except BlockingIOError:
                pass
            out, self._pending = self._pending, []
            return out

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                os.close(self._fd)


_watcher_ids = itertools.count(1)


class ReferenceWatcher:
    def __init__(
        self,
        store: "ReferenceStore",
        resource: str,
        namespace: str,
        label_selector: tuple[LabelRequirement, ...],
        field_selector: tuple[FieldRequirement, ...],
        bound: int,
        notifier: ReferenceNotifier | None,
    ) -> None:
        self.id = next(_watcher_ids)
        self.expired = False
        self.closed = False
        self._store = store
        self._resource = resource
        self._namespace = namespace
        self._labels = label_selector
        self._fields = field_selector
        self._bound = bound
        self._notifier = notifier
        self._cond = threading.Condition()
        self._queue: list[Event] = []
        self._initial_left = 0  # initial/replayed events still queued: not counted against the bound

    def _matches(self, obj: StoredObject | None) -> bool:
        if obj is None:
            return False
        if self._namespace and obj.namespace != self._namespace:
            return False
        return match_labels(self._labels, obj.labels) and match_fields(self._fields, obj.selectable_fields())

    def _translate(self, ev: LoggedEvent) -> Event | None:
        now, before = self._matches(ev.obj), self._matches(ev.prev)
        if ev.obj is None:  # delete
            return Event("DELETED", ev.revision, ev.deleted_data) if before else None  # type: ignore[arg-type]
        if now and before:
            return Event("MODIFIED", ev.revision, ev.obj.data)
        if now:
            return Event("ADDED", ev.revision, ev.obj.data)
        if before:
            return Event("DELETED", ev.revision, ev.obj.data)
        return None

    def _preload(self, events: list[Event]) -> None:
        """Initial or replayed events: they do not count against the bound."""
        self._queue.extend(events)
        self._initial_left = len(events)

    def _push(self, ev: LoggedEvent) -> bool:
        """Queue ``ev`` if it concerns this watcher; False if the watcher has ended."""
        out = self._translate(ev)
        if out is None:
            return not self.closed
        with self._cond:
            if self.closed:
                return False
            if len(self._queue) - self._initial_left >= self._bound:
                # Too far behind: end it rather than block the writer (the client re-lists).
                self.expired = True
                self.closed = True
                self._queue.clear()
                self._initial_left = 0
            else:
                self._queue.append(out)
            wake = len(self._queue) == 1 or self.closed
            self._cond.notify_all()
        if wake and self._notifier is not None:
            self._notifier._signal(self.id)
        return not self.closed

    def pop(self, max_events: int = 1024) -> list[Event]:
        with self._cond:
            out = self._queue[:max_events]
            del self._queue[:max_events]
            self._initial_left = max(0, self._initial_left - len(out))
            return out

    def pop_lines(self, max_events: int = 1024) -> tuple[bytes, int, int]:
        events = self.pop(max_events)
        if not events:
            return b"", 0, 0
        lines = b"".join(b'{"type":"%s","object":%s}\n' % (e.type.encode(), e.data) for e in events)
        return lines, len(events), events[-1].revision

    def wait(self, timeout: float | None = None) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: bool(self._queue) or self.closed, timeout)

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()
        self._store._remove_watcher(self._resource, self)


class ReferenceStore:
    def __init__(self, watch_buffer: int = 10000) -> None:
        self._lock = threading.RLock()
        self._revision = 1
        self._compacted = 0
        self._resources: dict[str, _Resource] = {}
        self._watch_buffer = watch_buffer

    # -- helpers -------------------------------------------------------------------
    def _res(self, resource: str) -> _Resource:
        res = self._resources.get(resource)
        if res is None:
            res = self._resources[resource] = _Resource()
        return res

    @staticmethod
    def _latest(res: _Resource, key: str) -> StoredObject | None:
        versions = res.history.get(key)
        return versions[-1][1] if versions else None

    def _make(self, namespace, name, data, rv_offset, labels, fields, revision) -> StoredObject:
        digits = str(revision).encode()
        return StoredObject(
            namespace=namespace,
            name=name,
            data=data[:rv_offset] + digits + data[rv_offset:],
            revision=revision,
            labels=dict(labels or {}),
            fields={k: str(v) for k, v in (fields or {}).items()},
            rv_start=rv_offset,
            rv_len=len(digits),
        )

    def _commit(self, res: _Resource, key: str, obj: StoredObject | None, prev: StoredObject | None,
                deleted_data: bytes | None, revision: int) -> None:
        # The single commit step: a write-ahead log would append the record here, before
        # the in-memory state changes and before any watcher sees it.
        versions = res.history.get(key)
        if versions is None:
            versions = res.history[key] = []
            bisect.insort(res.keys, key)
        versions.append((revision, obj))
        ev = LoggedEvent(revision, key, obj, prev, deleted_data)
        res.events.append(ev)
        ended = [w for w in res.watchers if not w._push(ev)]
        for w in ended:
            res.watchers.remove(w)
        # Published last: a lock-free current_revision() reader must find this revision's
        # event already queued on every watcher (watch bookmarks rely on it).
        self._revision = revision

    # -- Storage -------------------------------------------------------------------
    def current_revision(self) -> int:
        return self._revision

    def compacted_revision(self) -> int:
        return self._compacted

    def get(self, resource: str, namespace: str, name: str) -> tuple[bytes, int] | None:
        with self._lock:
            obj = self._latest(self._res(resource), _key(namespace, name))
            return (obj.data, obj.revision) if obj else None

    def create(self, resource, namespace, name, data, rv_offset, labels=None, fields=None) -> WriteResult:
        with self._lock:
            res = self._res(resource)
            key = _key(namespace, name)
            cur = self._latest(res, key)
            if cur is not None:
                return WriteResult(WriteStatus.ALREADY_EXISTS, cur.revision, cur.data)
            rev = self._revision + 1
            obj = self._make(namespace, name, data, rv_offset, labels, fields, rev)
            self._commit(res, key, obj, None, None, rev)
            return WriteResult(WriteStatus.OK, rev, obj.data)

    def update(self, resource, namespace, name, data, rv_offset, labels=None, fields=None,
               expected_revision: int = 0) -> WriteResult:
        with self._lock:
            res = self._res(resource)
            key = _key(namespace, name)
            cur = self._latest(res, key)
            if cur is None:
                return WriteResult(WriteStatus.NOT_FOUND, 0, None)
            if expected_revision and cur.revision != expected_revision:
                return WriteResult(WriteStatus.CONFLICT, cur.revision, cur.data)
            rev = self._revision + 1
            obj = self._make(namespace, name, data, rv_offset, labels, fields, rev)
            self._commit(res, key, obj, cur, None, rev)
            return WriteResult(WriteStatus.OK, rev, obj.data)

    def delete(self, resource, namespace, name, expected_revision: int = 0) -> WriteResult:
        with self._lock:
            res = self._res(resource)
            key = _key(namespace, name)
            cur = self._latest(res, key)
            if cur is None:
                return WriteResult(WriteStatus.NOT_FOUND, 0, None)
            if expected_revision and cur.revision != expected_revision:
                return WriteResult(WriteStatus.CONFLICT, cur.revision, cur.data)
            rev = self._revision + 1
            deleted = cur.restamped(rev)
            self._commit(res, key, None, cur, deleted, rev)
            return WriteResult(WriteStatus.OK, rev, deleted)

    def _state_at(self, versions: list[tuple[int, StoredObject | None]], revision: int) -> StoredObject | None:
        found = None
        for rev, obj in versions:
            if rev > revision:
                break
            found = obj
        return found

    def _check_revision(self, revision: int) -> int:
        if revision == 0:
            return self._revision
        if revision < self._compacted:
            raise ExpiredError(revision, self._compacted)
        if revision > self._revision:
            raise FutureRevisionError(revision, self._revision)
        return revision

    def list(self, resource, namespace="", label_selector: Sequence[LabelRequirement] = (),
             field_selector: Sequence[FieldRequirement] = (), limit: int = 0, start_after: str = "",
             revision: int = 0) -> ReferenceListResult:
        label_selector, field_selector = tuple(label_selector), tuple(field_selector)
        with self._lock:
            at = self._check_revision(revision)
            res = self._res(resource)
            lo = 0
            if namespace:
                lo = bisect.bisect_left(res.keys, namespace + "/")
            if start_after:
                lo = max(lo, bisect.bisect_right(res.keys, start_after))
            items: list[bytes] = []
            next_key: str | None = None
            remaining = 0
            last_key = ""
            for key in res.keys[lo:]:
                if namespace and not key.startswith(namespace + "/"):
                    break
                obj = self._state_at(res.history[key], at)
                if obj is None:
                    continue
                if not (match_labels(label_selector, obj.labels)
                        and match_fields(field_selector, obj.selectable_fields())):
                    continue
                if limit and len(items) >= limit:
                    remaining += 1
                    continue
                items.append(obj.data)
                last_key = key
            if remaining:
                next_key = last_key
            return ReferenceListResult(items, at, next_key, remaining)

    def count(self, resource: str, namespace: str = "") -> int:
        with self._lock:
            res = self._res(resource)
            return sum(
                1 for key, versions in res.history.items()
                if versions[-1][1] is not None and (not namespace or key.startswith(namespace + "/"))
            )

    def index_fields(self, resource: str, names: Sequence[str]) -> None:
        """Nothing to do: the reference store answers every selector by a scan."""

    def watch(self, resource, namespace="", label_selector: Sequence[LabelRequirement] = (),
              field_selector: Sequence[FieldRequirement] = (), from_revision: int = 0,
              send_initial: bool = False, notifier: ReferenceNotifier | None = None) -> ReferenceWatcher:
        with self._lock:
            res = self._res(resource)
            w = ReferenceWatcher(self, resource, namespace, tuple(label_selector), tuple(field_selector),
                                 self._watch_buffer, notifier)
            initial: list[Event] = []
            if send_initial:
                for key in res.keys:
                    obj = self._latest(res, key)
                    if obj is not None and w._matches(obj):
                        initial.append(Event("ADDED", obj.revision, obj.data))
            elif from_revision:
                if from_revision < self._compacted:
                    raise ExpiredError(from_revision, self._compacted)
                idx = bisect.bisect_right([e.revision for e in res.events], from_revision)
                for ev in res.events[idx:]:
                    out = w._translate(ev)
                    if out is not None:
                        initial.append(out)
            w._preload(initial)
            res.watchers.append(w)
        if initial and notifier is not None:
            notifier._signal(w.id)
        return w

    def _remove_watcher(self, resource: str, w: ReferenceWatcher) -> None:
        with self._lock:
            res = self._res(resource)
            if w in res.watchers:
                res.watchers.remove(w)

    def compact(self, revision: int, batch_size: int = 1000) -> int:
        with self._lock:
            revision = min(revision, self._revision)
            if revision <= self._compacted:
                return self._compacted
            for res in self._resources.values():
                res.events = [e for e in res.events if e.revision > revision]
                dead: list[str] = []
                for key, versions in res.history.items():
                    # Keep the newest version at or below ``revision`` (the state as of it)
                    # and everything after; a tombstone as of ``revision`` is dropped.
                    keep_from = 0
                    for i, (rev, _) in enumerate(versions):
                        if rev <= revision:
                            keep_from = i
                    kept = versions[keep_from:]
                    if kept and kept[0][0] <= revision and kept[0][1] is None:
                        kept = kept[1:]
                    if kept:
                        res.history[key] = kept
                    else:
                        dead.append(key)
                for key in dead:
                    del res.history[key]
                    res.keys.pop(bisect.bisect_left(res.keys, key))
            self._compacted = revision
            return revision

    def new_notifier(self) -> ReferenceNotifier:
        return ReferenceNotifier()

    def close(self) -> None:
        with self._lock:
            for res in self._resources.values():
                for w in list(res.watchers):
                    with w._cond:
                        w.closed = True
                        w._cond.notify_all()
                res.watchers.clear()

