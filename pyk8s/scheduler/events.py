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

from ._pipeline import PipelinedWriter, answer_of

__all__ = ["EventRecorder", "COMPONENT"]

log = logging.getLogger(__name__)

COMPONENT = "default-scheduler"
_RECENT = 4096  # correlator cache size (client-go's maxLruCacheEntries)
_SOURCE = {"component": COMPONENT}  # every Event's source: one dict, only ever serialized


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
        # Both events are touched only while ``run`` waits for them (``_sleeping``,
        # ``_full``), not once per event.
        self._wakeup = asyncio.Event()
        self._sleeping = False
        self._room = asyncio.Event()  # set while fewer than ``concurrency`` writes are in flight
        self._room.set()
        self._full = False
        self._busy = 0
        self.dropped_on_error = 0
        self.posted = 0

    def record(self, pod: dict, event_type: str, reason: str, message: str, action: str) -> None:
        self._pending.append((pod, event_type, reason, message, action))
        if self._sleeping:
            self._wakeup.set()

    @property
    def idle(self) -> bool:
        return not self._pending and self._busy == 0

    async def run(self) -> None:
        """Write what is recorded, ``concurrency`` at most in flight, until cancelled."""
        while True:
            while not self._pending:
                self._wakeup.clear()
                self._sleeping = True
                try:
                    await self._wakeup.wait()
                finally:
                    self._sleeping = False
            while self._pending and self._busy < self.concurrency:
                self._write(self._pending.popleft())
            if self._busy >= self.concurrency:
                self._room.clear()
                self._full = True
                try:
                    await self._room.wait()
                finally:
                    self._full = False

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait until every recorded event has been written (best effort, bounded)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.idle and loop.time() < deadline:
            await asyncio.sleep(0.01)

    def _write(self, item: tuple) -> None:
        """Start one write of a recorded ``(pod, type, reason, message, action)``: a PATCH
        of the count when the correlator knows an identical recent event, else a new Event;
        its answer arrives in ``_answered``."""
        pod, _event_type, reason, message, _action = item
        meta = pod.get("metadata") or {}
        namespace = meta.get("namespace") or "default"
        correlation = (meta.get("uid"), namespace, meta.get("name"), reason, message)
        known = self._recent.get(correlation)
        now = _now()
        if known is not None:
            name, count = known
            self._send(item, correlation, name, count + 1, "PATCH", EVENTS.path(namespace, name),
                       orjson.dumps({"count": count + 1, "lastTimestamp": now}), "application/merge-patch+json")
            return
        self._create(item, meta, namespace, correlation, now)

    def _create(self, item: tuple, meta: dict, namespace: str, correlation: tuple, now: str) -> None:
        _pod, event_type, reason, message, action = item
        uid, pod_name = correlation[0], correlation[2]  # meta's, read by _write already
        name = f"{pod_name}.{time.time_ns():x}"
        body = {
            "apiVersion": "v1", "kind": "Event",
            # Named by the recorder as client-go's recorders do ("<object>.<unix nanoseconds
            # in hex>"), so the reply need not be read to learn the name.
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {
                "apiVersion": "v1", "kind": "Pod", "namespace": namespace, "name": pod_name,
                "uid": uid, "resourceVersion": meta.get("resourceVersion"),
            },
            "reason": reason, "message": message, "type": event_type,
            "source": _SOURCE,
            "reportingComponent": COMPONENT, "reportingInstance": self.instance, "action": action,
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        }
        self._busy += 1  # _send, inlined (once per event)
        self.writer.send_to(functools.partial(self._answered, item, correlation, name, 1), "POST", _events_path(namespace),
                            orjson.dumps(body))

    def _send(self, item: tuple, correlation: tuple, name: str, count: int, method: str, path: str, body: bytes,
              content_type: str = "application/json") -> None:
        self._busy += 1
        self.writer.send_to(functools.partial(self._answered, item, correlation, name, count), method, path, body, content_type)

    def _answered(self, item: tuple, correlation: tuple, name: str, count: int,
                  status: int, body: bytes, error: BaseException | None) -> None:
        self._busy -= 1
        if self._full and self._busy < self.concurrency:
            self._room.set()
        if error is not None and isinstance(error, asyncio.CancelledError):
            return
        try:
            answer_of(status, body, error)
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
