"""core/v1 Events written off the scheduling hot path, as client-go's EventBroadcaster
with its correlator: ``record`` only appends to a bounded buffer; a background task posts
them, pipelined, with bounded concurrency.  A repeat of an event still in the recent cache (same
object, reason and message) patches the existing Event's count instead of creating another.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import datetime as dt
import logging
import time

import orjson

from pyk8s.client import EVENTS, ApiError, NotFound, TransportError

from ._pipeline import PipelinedWriter, answer

__all__ = ["EventRecorder", "COMPONENT"]

log = logging.getLogger(__name__)

COMPONENT = "default-scheduler"
_RECENT = 4096  # correlator cache size (client-go's maxLruCacheEntries)


_clock: list = [0, ""]  # the last second formatted: most events of a burst share it


def _now() -> str:
    second = int(time.time())
    if second != _clock[0]:
        _clock[:] = second, dt.datetime.fromtimestamp(second, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return _clock[1]


@functools.lru_cache(maxsize=1024)
def _events_path(namespace: str) -> str:
    return EVENTS.path(namespace)


class EventRecorder:
    def __init__(self, writer: PipelinedWriter, *, instance: str, buffer: int = 50_000, concurrency: int = 256) -> None:
        """``buffer``: events waiting beyond this are dropped (oldest first), as upstream's
        broadcaster drops rather than slow the scheduler down.  ``concurrency``: writes in
        flight at once (pipelined; upstream's broadcaster starts a goroutine per event)."""
        self.writer = writer
        self.instance = instance
        self.concurrency = concurrency
        self._pending: collections.deque = collections.deque(maxlen=buffer)
        self._recent: collections.OrderedDict = collections.OrderedDict()
        self._wakeup = asyncio.Event()
        self._room = asyncio.Event()  # set while fewer than ``concurrency`` writes are in flight
        self._room.set()
        self._busy = 0
        self.dropped_on_error = 0
        self.posted = 0

    def record(self, pod: dict, event_type: str, reason: str, message: str, action: str) -> None:
        self._pending.append((pod, event_type, reason, message, action))
        self._wakeup.set()

    @property
    def idle(self) -> bool:
        return not self._pending and self._busy == 0

    async def run(self) -> None:
        """Write what is recorded, ``concurrency`` at most in flight, until cancelled."""
        while True:
            while not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
            while self._pending and self._busy < self.concurrency:
                self._write(*self._pending.popleft())
            if self._busy >= self.concurrency:
                self._room.clear()
                await self._room.wait()

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait until every recorded event has been written (best effort, bounded)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.idle and loop.time() < deadline:
            await asyncio.sleep(0.01)

    def _write(self, pod: dict, event_type: str, reason: str, message: str, action: str) -> None:
        """Start one write: a PATCH of the count when the correlator knows an identical
        recent event, else a new Event; its answer arrives in ``_answered``."""
        item = (pod, event_type, reason, message, action)
        meta = pod.get("metadata") or {}
        namespace = meta.get("namespace") or "default"
        correlation = (meta.get("uid"), namespace, meta.get("name"), reason, message)
        known = self._recent.get(correlation)
        now = _now()
        if known is not None:
            name, count = known
            future = self.writer.send("PATCH", EVENTS.path(namespace, name), orjson.dumps({"count": count + 1, "lastTimestamp": now}),
                                      "application/merge-patch+json")
            self._started(future, item, correlation, name, count + 1)
            return
        self._create(item, meta, namespace, correlation, now)

    def _create(self, item: tuple, meta: dict, namespace: str, correlation: tuple, now: str) -> None:
        _pod, event_type, reason, message, action = item
        name = f"{meta.get('name')}.{time.time_ns():x}"
        body = {
            "apiVersion": "v1", "kind": "Event",
            # Named by the recorder as client-go's recorders do ("<object>.<unix nanoseconds
            # in hex>"), so the reply need not be read to learn the name.
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {
                "apiVersion": "v1", "kind": "Pod", "namespace": namespace, "name": meta.get("name"),
                "uid": meta.get("uid"), "resourceVersion": meta.get("resourceVersion"),
            },
            "reason": reason, "message": message, "type": event_type,
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT, "reportingInstance": self.instance, "action": action,
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        }
        self._started(self.writer.send("POST", _events_path(namespace), orjson.dumps(body)), item, correlation, name, 1)

    def _started(self, future: asyncio.Future, item: tuple, correlation: tuple, name: str, count: int) -> None:
        self._busy += 1
        future.add_done_callback(functools.partial(self._answered, item, correlation, name, count))

    def _answered(self, item: tuple, correlation: tuple, name: str, count: int, future: asyncio.Future) -> None:
        self._busy -= 1
        if self._busy < self.concurrency:
            self._room.set()
        if future.cancelled():
            return
        try:
            answer(future)
        except NotFound:
            if count > 1:  # the Event counted on is gone (expired): write a new one
                self._recent.pop(correlation, None)
                meta = item[0].get("metadata") or {}
                self._create(item, meta, correlation[1], correlation, _now())
                return
            self._dropped(item, "namespace not found")
            return
        except (ApiError, TransportError) as error:
            self._dropped(item, error)
            return
        self.posted += 1
        recent = self._recent
        if correlation in recent:  # a repeat: it becomes the most recent
            recent.move_to_end(correlation)
        recent[correlation] = (name, count)  # a new key goes last by itself
        if len(recent) > _RECENT:
            recent.popitem(last=False)

    def _dropped(self, item: tuple, error) -> None:
        # Events are best effort (upstream retries a few times, then drops).
        self.dropped_on_error += 1
        log.debug("event %s for %s not written: %s", item[2], (item[0].get("metadata") or {}).get("name"), error)
