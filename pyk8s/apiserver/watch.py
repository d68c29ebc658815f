"""Watch streaming: store watchers to newline-delimited JSON over a chunked response.

One ``Notifier`` per event loop wakes the loop (``add_reader`` on its fd) when any attached
watcher goes from empty to non-empty or ends; ``drain()`` names those watchers and their
streams' wake-ups are set.  Nothing blocks the loop: watchers are only popped,
never waited on.

Each stream is one coroutine doing, until it ends:

    clear its wake-up flag -> pop -> send what was popped, or (nothing) await the flag

Clearing before popping is what makes the wake-up race-free: an event that arrives after
the pop found the buffer empty makes the watcher non-empty, the notifier fires, and the
already-cleared event is set again (kine's "take the wake handle before scanning").

The store's bytes are spliced into each line as they are: ``{"type":"ADDED","object":`` +
bytes + ``}\\n``, never re-encoded (unless the client asked for Table events).

Watch features on top (a ``WatchSpec`` per stream):

* watch-list (``sendInitialEvents=true``): the app lists the matching objects at revision R
  and opens the store watch from R; the stream sends the list as ADDED events, then (with
  ``allowWatchBookmarks``) a BOOKMARK at R annotated ``k8s.io/initial-events-end: "true"``,
  then the live events after R.
* bookmarks (``allowWatchBookmarks=true``): every ``bookmark_interval`` seconds (upstream:
  one minute), and 2 s before the stream's timeout as upstream's cacher does, a BOOKMARK
  carrying the newest revision the client has everything up to.  The revision is read
  *before* the pop: the stores publish a revision only after its event was offered to every
  watcher, so every event at or below it has been popped and sent once the pop comes back
  short.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import orjson

from pyk8s.api import errors
from pyk8s.store import Notifier, Storage, Watcher

__all__ = ["WatchHub", "WatchSpec", "error_event", "bookmark_line", "WATCH_HEADERS", "INITIAL_EVENTS_END"]

log = logging.getLogger(__name__)

WATCH_HEADERS = [("content-type", "application/json"), ("cache-control", "no-cache, private")]
INITIAL_EVENTS_END = "k8s.io/initial-events-end"
DEFAULT_BOOKMARK_INTERVAL = 60.0
# Upstream's cacher sends a last bookmark this long before a watch's timeout.
_BOOKMARK_BEFORE_TIMEOUT = 2.0
_LINE_HEADS = {
    "ADDED": b'{"type":"ADDED","object":',
    "MODIFIED": b'{"type":"MODIFIED","object":',
    "DELETED": b'{"type":"DELETED","object":',
}
_LINE_TAIL = b"}\n"
_POP_BATCH = 1024
# No namespace is named this (names are DNS labels): listing it costs one index lookup.


def error_event(error: errors.StatusError) -> bytes:
    return b'{"type":"ERROR","object":' + orjson.dumps(error.status) + _LINE_TAIL


def bookmark_line(type_meta: bytes, revision: int, initial_events_end: bool = False) -> bytes:
    """``type_meta`` is ``b'"kind":"Pod","apiVersion":"v1"'``: a bookmark's object is an
    empty object of the watched kind that carries only the revision (and the annotation)."""
    annotations = b',"annotations":{"k8s.io/initial-events-end":"true"}' if initial_events_end else b""
    return (
        b'{"type":"BOOKMARK","object":{' + type_meta + b',"metadata":{"resourceVersion":"%d"' % revision
        + annotations + b"}}}\n"
    )


@dataclass
class WatchSpec:
    """What one watch stream sends besides the store's events."""

    watcher: Watcher
    resource: str = ""  # the store's resource name (plural) being watched
    timeout_seconds: float = 0.0
    type_meta: bytes = b""  # '"kind":"Pod","apiVersion":"v1"' for bookmarks
    allow_bookmarks: bool = False
    # watch-list: objects sent as ADDED before the live events, taken at initial_revision
    initial: list[bytes] | None = None
    initial_revision: int = 0
    # re-encodes event objects (Table / PartialObjectMetadata); None sends the store's bytes
    converter: Any = None
    route: Any = None  # what was asked for (the app's Route), for the app's bookkeeping

class _Wakeup:
    """An ``asyncio.Event`` cut to what a stream needs: one waiter, and ``set`` cheap enough
    to call for a thousand streams per write.  ``signalled`` is the event's flag."""

    __slots__ = ("signalled", "future")

    def __init__(self) -> None:
        self.signalled = False
        self.future: asyncio.Future | None = None

    def set(self, *_: object) -> None:
        self.signalled = True
        future = self.future
        if future is not None and not future.done():
            future.set_result(None)

    async def wait(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self.signalled:
            self.future = loop.create_future()
            try:
                await self.future
            finally:
                self.future = None


class WatchHub:
    """Owns the loop's notifier and the wake-up events of the open watch streams."""

    def __init__(self, store: Storage, bookmark_interval: float = DEFAULT_BOOKMARK_INTERVAL) -> None:
        self.store = store
        self.bookmark_interval = bookmark_interval
        self.notifier: Notifier | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._events: dict[int, _Wakeup] = {}
        self.closing = False

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._loop is loop:
            return
        self.detach()
        self._loop = loop
        self.closing = False
        self.notifier = self.store.new_notifier()
        loop.add_reader(self.notifier.fileno(), self._wake)

    def detach(self) -> None:
        if self._loop is not None and self.notifier is not None:
            try:
                self._loop.remove_reader(self.notifier.fileno())
            except Exception:  # the loop may already be closed at process exit
                pass
            self.notifier.close()
        self._loop = None
        self.notifier = None

    @property
    def open_streams(self) -> int:
        return len(self._events)

    def _wake(self) -> None:
        events = self._events
        for watcher_id in self.notifier.drain():
            event = events.get(watcher_id)
            if event is not None:
                event.set()

    def shutdown(self) -> None:
        """End every open stream promptly (server shutdown); new watches are refused."""
        self.closing = True
        for event in self._events.values():
            event.set()

    def _encode(self, spec: WatchSpec, batch: list) -> bytes:
        """The lines of a converted watch (the store's ``pop_lines`` makes the others)."""
        converter = spec.converter
        return b"".join([_LINE_HEADS[e.type] + converter.event_object(e.data) + _LINE_TAIL for e in batch])

    def _bookmark(self, spec: WatchSpec, revision: int, initial_events_end: bool = False) -> bytes:
        if spec.converter is None:
            return bookmark_line(spec.type_meta, revision, initial_events_end)
        annotations = {INITIAL_EVENTS_END: "true"} if initial_events_end else None
        return b'{"type":"BOOKMARK","object":' + spec.converter.bookmark_object(revision, annotations) + _LINE_TAIL

    async def _send_initial(self, transport: Any, spec: WatchSpec) -> None:
        initial = spec.initial or ()
        head = _LINE_HEADS["ADDED"]
        converter = spec.converter
        for start in range(0, len(initial), _POP_BATCH):
            chunk = initial[start:start + _POP_BATCH]
            if converter is None:
                await transport.send_bytes(b"".join([head + data + _LINE_TAIL for data in chunk]))
            else:
                await transport.send_bytes(b"".join([head + converter.event_object(data) + _LINE_TAIL for data in chunk]))
        if spec.allow_bookmarks:
            await transport.send_bytes(self._bookmark(spec, spec.initial_revision, initial_events_end=True))

    def _next_bookmark(self, now: float, deadline: float | None) -> float | None:
        """Upstream cacheWatcher.nextBookmarkTime: a heartbeat every interval, pulled in to
        2 s before the deadline; none once that moment has passed."""
        at = now + self.bookmark_interval
        if deadline is not None:
            at = min(at, deadline - _BOOKMARK_BEFORE_TIMEOUT)
        return at if at > now else None

    def _reschedule(self, loop: asyncio.AbstractEventLoop, event: _Wakeup, deadline: float | None, timer: Any):
        if timer is not None:
            timer.cancel()
        at = self._next_bookmark(loop.time(), deadline)
        return at, (loop.call_at(at, event.set) if at is not None else None)

    async def stream(self, protocol: Any, spec: WatchSpec) -> None:
        """Serve ``spec.watcher`` on an RSGI ``protocol`` until timeout, client disconnect,
        server shutdown or the watcher ending (expired: one ERROR 410 event first)."""
        watcher = spec.watcher
        loop = asyncio.get_running_loop()
        event = _Wakeup()
        self._events[watcher.id] = event
        disconnected = asyncio.ensure_future(protocol.client_disconnect())
        disconnected.add_done_callback(event.set)
        now = loop.time()
        deadline = now + spec.timeout_seconds if spec.timeout_seconds > 0 else None
        timer = loop.call_at(deadline, event.set) if deadline is not None else None
        next_bookmark = self._next_bookmark(now, deadline) if spec.allow_bookmarks else None
        bookmark_timer = loop.call_at(next_bookmark, event.set) if next_bookmark is not None else None
        last_revision = spec.initial_revision
        store = self.store
        try:
            transport = protocol.response_stream(200, WATCH_HEADERS)
            if spec.initial is not None:
                await self._send_initial(transport, spec)
            while not self.closing and not disconnected.done():
                now = loop.time()
                if deadline is not None and now >= deadline:
                    break
                event.signalled = False
                bookmark_due = next_bookmark is not None and now >= next_bookmark
                # Before the pop: see the module docstring.
                bookmark_revision = 0
                if bookmark_due:
                    bookmark_revision = store.current_revision()
                if spec.converter is None:
                    lines, count, revision = watcher.pop_lines(_POP_BATCH)
                else:
                    batch = watcher.pop(_POP_BATCH)
                    count = len(batch)
                    if count:
                        lines, revision = self._encode(spec, batch), batch[-1].revision
                if count:
                    last_revision = max(last_revision, revision)
                    if bookmark_due and count < _POP_BATCH:
                        lines += self._bookmark(spec, max(bookmark_revision, last_revision))
                        bookmark_due = False
                        next_bookmark, bookmark_timer = self._reschedule(loop, event, deadline, bookmark_timer)
                    await transport.send_bytes(lines)
                    # The pop emptied the buffer (a short batch), so anything newer, or the
                    # watcher ending, has set the event meanwhile: no need to pop again.
                    if count == _POP_BATCH or event.signalled:
                        continue
                else:
                    if watcher.expired:
                        # Fell too far behind: tell the client to re-list, as upstream's 410 does.
                        error = errors.resource_version_too_old(last_revision, store.current_revision())
                        await transport.send_bytes(error_event(error))
                        break
                    if watcher.closed:
                        break
                    if bookmark_due:
                        last_revision = max(bookmark_revision, last_revision)
                        await transport.send_bytes(self._bookmark(spec, last_revision))
                        next_bookmark, bookmark_timer = self._reschedule(loop, event, deadline, bookmark_timer)
                        continue
                await event.wait(loop)
        except (RuntimeError, ConnectionError) as exc:
            # granian raises ProtocolClosed (a RuntimeError) when the client is gone mid-send.
            log.debug("watch stream %d ended: %s", watcher.id, exc)
        except Exception:
            # The response has started: nothing can be sent but the end of the stream.
            log.exception("watch stream %d failed", watcher.id)
        finally:
            log.debug("watch %d ended (client gone: %s, shutdown: %s)", watcher.id, disconnected.done(), self.closing)
            self._events.pop(watcher.id, None)
            watcher.close()
            disconnected.cancel()
            if timer is not None:
                timer.cancel()
            if bookmark_timer is not None:
                bookmark_timer.cancel()
