"""core/v1 Events written off the scheduling hot path, as client-go's EventBroadcaster
with its correlator: ``record`` only appends to a bounded buffer; a background task posts
them with bounded concurrency.  A repeat of an event still in the recent cache (same
object, reason and message) patches the existing Event's count instead of creating another.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import logging

import orjson

from pyk8s.client import EVENTS, ApiError, NotFound, TransportError

from ._pipeline import PipelinedWriter

__all__ = ["EventRecorder", "COMPONENT"]

log = logging.getLogger(__name__)

COMPONENT = "default-scheduler"
_RECENT = 4096  # correlator cache size (client-go's maxLruCacheEntries)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventRecorder:
    def __init__(self, writer: PipelinedWriter, *, instance: str, buffer: int = 50_000, concurrency: int = 16) -> None:
        """``buffer``: events waiting beyond this are dropped (oldest first), as upstream's
        broadcaster drops rather than slow the scheduler down."""
        self.writer = writer
        self.instance = instance
        self.concurrency = concurrency
        self._pending: collections.deque = collections.deque(maxlen=buffer)
        self._recent: collections.OrderedDict = collections.OrderedDict()
        self._wakeup = asyncio.Event()
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
        workers = [asyncio.create_task(self._worker()) for _ in range(self.concurrency)]
        try:
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait until every recorded event has been written (best effort, bounded)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.idle and loop.time() < deadline:
            await asyncio.sleep(0.01)

    async def _worker(self) -> None:
        while True:
            while not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
            item = self._pending.popleft()
            self._busy += 1
            try:
                await self._write(*item)
            except (ApiError, TransportError) as error:
                # Events are best effort (upstream retries a few times, then drops).
                self.dropped_on_error += 1
                log.debug("event %s for %s not written: %s", item[2], item[0].get("metadata", {}).get("name"), error)
            finally:
                self._busy -= 1

    async def _write(self, pod: dict, event_type: str, reason: str, message: str, action: str) -> None:
        meta = pod.get("metadata") or {}
        namespace = meta.get("namespace") or "default"
        correlation = (meta.get("uid"), namespace, meta.get("name"), reason, message)
        known = self._recent.get(correlation)
        now = _now()
        if known is not None:
            name, count = known
            try:
                await self.writer.request("PATCH", EVENTS.path(namespace, name), orjson.dumps({"count": count + 1, "lastTimestamp": now}),
                                          "application/merge-patch+json")
                self._recent[correlation] = (name, count + 1)
                self._recent.move_to_end(correlation)
                self.posted += 1
                return
            except NotFound:
                del self._recent[correlation]
        body = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"generateName": f"{meta.get('name')}.", "namespace": namespace},
            "involvedObject": {
                "apiVersion": "v1", "kind": "Pod", "namespace": namespace, "name": meta.get("name"),
                "uid": meta.get("uid"), "resourceVersion": meta.get("resourceVersion"),
            },
            "reason": reason, "message": message, "type": event_type,
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT, "reportingInstance": self.instance, "action": action,
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        }
        created = orjson.loads(await self.writer.request("POST", EVENTS.path(namespace), orjson.dumps(body)))
        self.posted += 1
        self._recent[correlation] = (created["metadata"]["name"], 1)
        if len(self._recent) > _RECENT:
            self._recent.popitem(last=False)
