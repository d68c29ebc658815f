"""The storage contract shared by every backend (native, reference; etcd later).

Shaped like kine's backend and etcd's KV: a failed compare-and-swap is an ordinary
result (``WriteStatus.CONFLICT``), never an exception.

Keys and revisions
------------------
* An object is keyed by ``(resource, namespace, name)``; cluster-scoped objects use
  ``namespace == ""``.  Within a resource, objects are ordered by ``namespace + "/" + name``
  (plain byte order); lists return items in that order and ``continue`` keys are such
  strings.
* One global revision counter per store, starting at 1 for an empty store (the first write
  gets revision 2, as etcd's first write does).  Every successful write (create, update,
  delete) takes the next revision.

Object bytes
------------
* Writers hand the store a *template*: the object's JSON bytes in which the value of
  ``metadata.resourceVersion`` is the empty string, plus ``rv_offset``, the byte offset of
  the closing quote of that empty string (i.e. ``data.find(b'"resourceVersion":""') +
  len(b'"resourceVersion":"')``).  On commit the store inserts the decimal revision at
  that offset, so the stored bytes carry ``"resourceVersion":"<rev>"`` and never have to
  be re-encoded.  ``encode_template`` in ``pyk8s.store`` produces such templates.
* A DELETE event and the bytes returned by ``delete`` carry the object as it was, with its
  ``resourceVersion`` replaced by the revision of the delete (as kube-apiserver does).
* Alongside the bytes a writer gives the fields used for selection: ``labels`` (str->str)
  and ``fields`` (str->str, e.g. ``{"spec.nodeName": "n1", "status.phase": "Pending"}``).
  ``metadata.name`` and ``metadata.namespace`` are always selectable and need not be given.

Selectors
---------
Selectors arrive parsed (``pyk8s.api.selectors``) as tuples of requirements:

* label requirement ``(key, op, values)`` with ``op`` one of ``"="`` (``values`` has one
  item), ``"!="``, ``"in"``, ``"notin"``, ``"exists"``, ``"!"`` (does not exist).  As
  upstream: ``!=`` and ``notin`` also match objects that lack the key.
* field requirement ``(field, op, value)`` with ``op`` ``"="`` or ``"!="``; a field that
  was not given for an object compares as ``""``.
All requirements must hold (AND).  An empty tuple selects everything.

Watch
-----
``watch`` returns a ``Watcher``.  Events are ``(type, revision, data)`` with type
``"ADDED" | "MODIFIED" | "DELETED"``.  With selectors, an object that moves *into* the
selection arrives as ADDED and one that moves *out* as DELETED (carrying the new bytes), as
kube-apiserver's watch cache does.  Each watcher buffers at most ``watch_buffer`` live
events: a watcher is ended (``expired`` and ``closed`` become True, its queue is dropped)
when an event for it arrives while ``watch_buffer`` live events are already queued, where
events still queued from its initial/replayed set are not counted.  Its client then
re-lists, as upstream's do.  Writers never block on watchers.  ``compact`` never ends live
watchers.
"""

from __future__ import annotations

import enum
from typing import Mapping, NamedTuple, Protocol, Sequence, runtime_checkable

LabelRequirement = tuple[str, str, tuple[str, ...]]
FieldRequirement = tuple[str, str, str]


class WriteStatus(enum.IntEnum):
    OK = 0
    NOT_FOUND = 1
    ALREADY_EXISTS = 2
    CONFLICT = 3


class WriteResult(NamedTuple):
    """Outcome of a write.

    ``data``/``revision``: on OK the stored (or, for delete, the deleted) bytes and the
    revision of the write; on CONFLICT and ALREADY_EXISTS the current object's bytes and
    its mod revision; on NOT_FOUND ``(None, 0)``.
    """

    status: WriteStatus
    revision: int
    data: bytes | None


class Event(NamedTuple):
    type: str  # "ADDED" | "MODIFIED" | "DELETED"
    revision: int
    data: bytes


class ExpiredError(Exception):
    """The requested revision was compacted (HTTP 410 Gone, reason Expired)."""

    def __init__(self, requested: int, compacted: int) -> None:
        super().__init__(f"requested revision {requested} is older than compacted revision {compacted}")
        self.requested = requested
        self.compacted = compacted


class FutureRevisionError(Exception):
    """The requested revision is newer than the store's current revision."""

    def __init__(self, requested: int, current: int) -> None:
        super().__init__(f"requested revision {requested} is newer than current revision {current}")
        self.requested = requested
        self.current = current


@runtime_checkable
class ListResult(Protocol):
    revision: int  # the revision the list was taken at
    next_key: str | None  # key to pass as ``start_after`` for the next page, or None
    remaining: int  # matching items after this page (0 when complete)

    def __len__(self) -> int: ...

    def items(self) -> list[bytes]: ...

    def render(self, prefix: bytes, suffix: bytes) -> bytes:
        """``prefix + b",".join(items) + suffix`` built in one allocation."""
        ...


@runtime_checkable
class Watcher(Protocol):
    id: int
    expired: bool  # ended because it fell too far behind
    closed: bool

    def pop(self, max_events: int = 1024) -> list[Event]:
        """Take up to ``max_events`` buffered events without blocking."""
        ...

    def pop_lines(self, max_events: int = 1024) -> tuple[bytes, int, int]:
        """``pop`` as a watch stream sends it: ``(lines, count, last revision)``, the events
        as ``{"type":"<TYPE>","object":<data>}`` lines, each ending in a newline (``b""``,
        0, 0 when none are buffered)."""
        ...

    def wait(self, timeout: float | None = None) -> bool:
        """Block (GIL released) until an event is buffered or the watcher ends.

        Returns True if events are buffered or the watcher ended, False on timeout."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Notifier(Protocol):
    """Wakes an event loop when watchers attached to it have news.

    ``fileno()`` becomes readable when at least one attached watcher changed from empty to
    non-empty or ended; ``drain()`` clears it and returns those watchers' ids."""

    def fileno(self) -> int: ...

    def drain(self) -> list[int]: ...

    def close(self) -> None: ...


@runtime_checkable
class Storage(Protocol):
    def current_revision(self) -> int:
        """The newest revision; safe without any lock: a revision is published only after
        its event was offered to every watcher."""
        ...

    def compacted_revision(self) -> int: ...

    def get(self, resource: str, namespace: str, name: str) -> tuple[bytes, int] | None:
        """The object's bytes and mod revision, or None."""
        ...

    def create(
        self,
        resource: str,
        namespace: str,
        name: str,
        data: bytes,
        rv_offset: int,
        labels: Mapping[str, str] | None = None,
        fields: Mapping[str, str] | None = None,
    ) -> WriteResult: ...

    def update(
        self,
        resource: str,
        namespace: str,
        name: str,
        data: bytes,
        rv_offset: int,
        labels: Mapping[str, str] | None = None,
        fields: Mapping[str, str] | None = None,
        expected_revision: int = 0,
    ) -> WriteResult:
        """Replace an existing object.  ``expected_revision`` 0 means unconditional."""
        ...

    def delete(self, resource: str, namespace: str, name: str, expected_revision: int = 0) -> WriteResult: ...

    def list(
        self,
        resource: str,
        namespace: str = "",
        label_selector: Sequence[LabelRequirement] = (),
        field_selector: Sequence[FieldRequirement] = (),
        limit: int = 0,
        start_after: str = "",
        revision: int = 0,
    ) -> ListResult:
        """Objects of ``resource`` (in ``namespace`` unless it is "") matching the selectors.

        ``revision`` 0 means current; otherwise the state as of that revision (raises
        ExpiredError below the compacted revision, FutureRevisionError above current).
        ``limit`` 0 means no limit.  ``start_after`` is a key from a previous page."""
        ...

    def count(self, resource: str, namespace: str = "") -> int: ...

    def index_fields(self, resource: str, names: Sequence[str]) -> None:
        """A hint: of the fields writers give for ``resource``, only ``names`` are worth an
        index (selectors on them are common); the rest may be answered by a scan.  It never
        changes what a selector selects."""
        ...

    def watch(
        self,
        resource: str,
        namespace: str = "",
        label_selector: Sequence[LabelRequirement] = (),
        field_selector: Sequence[FieldRequirement] = (),
        from_revision: int = 0,
        send_initial: bool = False,
        notifier: Notifier | None = None,
    ) -> Watcher:
        """Events after ``from_revision`` (0 = from now).

        ``send_initial``: first an ADDED event for every current matching object (at its
        mod revision), then live events; ``from_revision`` is then ignored.  Raises
        ExpiredError when ``from_revision`` is below the compacted revision."""
        ...

    def compact(self, revision: int, batch_size: int = 1000) -> int:
        """Drop history at or below ``revision`` (keeping each key's state as of it), in
        batches of ``batch_size`` keys with the lock released between.  Returns the new
        compacted revision.  Ends nothing that is live."""
        ...

    def new_notifier(self) -> Notifier: ...

    def close(self) -> None: ...

