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
bytes + ``}\\n``, never re-encoded.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson

from pyk8s.api import errors
from pyk8s.store import Notifier, Storage, Watcher

__all__ = ["WatchHub", "error_event", "WATCH_HEADERS"]

log = logging.getLogger(__name__)

WATCH_HEADERS = [("content-type", "application/json"), ("cache-control", "no-cache, private")]
_LINE_HEADS = {
    "ADDED": b'{"type":"ADDED","object":',
    "MODIFIED": b'{"type":"MODIFIED","object":',
    "DELETED": b'{"type":"DELETED","object":',
}
_LINE_TAIL = b"}\n"
_POP_BATCH = 1024


def error_event(error: errors.StatusError) -> bytes:
    return b'{"type":"ERROR","object":' + orjson.dumps(error.status) + _LINE_TAIL


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

    def __init__(self, store: Storage) -> None:
        self.store = store
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

    async def stream(self, protocol: Any, watcher: Watcher, timeout_seconds: float) -> None:
        """Serve ``watcher`` on an RSGI ``protocol`` until timeout, client disconnect,
        server shutdown or the watcher ending (expired: one ERROR 410 event first)."""
        loop = asyncio.get_running_loop()
        event = _Wakeup()
        self._events[watcher.id] = event
        disconnected = asyncio.ensure_future(protocol.client_disconnect())
        disconnected.add_done_callback(event.set)
        deadline = loop.time() + timeout_seconds if timeout_seconds > 0 else None
        timer = loop.call_at(deadline, event.set) if deadline is not None else None
        last_revision = 0
        try:
            transport = protocol.response_stream(200, WATCH_HEADERS)
            while not self.closing and not disconnected.done():
                if deadline is not None and loop.time() >= deadline:
                    break
                event.signalled = False
                batch = watcher.pop(_POP_BATCH)
                if batch:
                    last_revision = batch[-1].revision
                    await transport.send_bytes(b"".join([_LINE_HEADS[e.type] + e.data + _LINE_TAIL for e in batch]))
                    # The pop emptied the buffer (a short batch), so anything newer, or the
                    # watcher ending, has set the event meanwhile: no need to pop again.
                    if len(batch) == _POP_BATCH or event.signalled:
                        continue
                else:
                    if watcher.expired:
                        # Fell too far behind: tell the client to re-list, as upstream's 410 does.
                        error = errors.resource_version_too_old(last_revision, self.store.current_revision())
                        await transport.send_bytes(error_event(error))
                        break
                    if watcher.closed:
                        break
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
