"""core/v1 Events for any object, as client-go's EventRecorder with its EventCorrelator:
``event()`` only appends to a bounded buffer; a background task posts them with bounded
concurrency.  As the correlator:

* spam filter: per source and object, a token bucket of 25 events refilled by one every
  5 minutes; events beyond it are dropped (a 10,000-replica scale-up posts ~25 events about
  its ReplicaSet, not 10,000);
* aggregation: once an object has had 10 events of one type and reason with different
  messages within 10 minutes, further ones become one Event "(combined from similar
  events): <latest message>" whose count grows;
* a repeat of an event still in the recent cache (same object, reason and message)
  patches the existing Event's count instead of creating another."""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import logging
import time
from collections.abc import Mapping

from pyk8s.client import EVENTS, ApiClient, ApiError, NotFound, PatchType, TransportError

__all__ = ["ComponentRecorder", "EventRecorder", "NORMAL", "WARNING"]

log = logging.getLogger(__name__)

NORMAL = "Normal"
WARNING = "Warning"
_RECENT = 4096  # correlator cache size (client-go's maxLruCacheEntries)
_SPAM_BURST = 25  # client-go's defaultSpamBurst
_SPAM_REFILL_PER_SECOND = 1.0 / 300  # defaultSpamQPS: one token every 5 minutes
_AGGREGATE_MAX_EVENTS = 10  # defaultAggregateMaxEvents
_AGGREGATE_INTERVAL = 600.0  # defaultAggregateIntervalInSeconds
_AGGREGATED_PREFIX = "(combined from similar events): "


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventRecorder:
    def __init__(self, client: ApiClient, component: str, *, instance: str = "", buffer: int = 10_000,
                 concurrency: int = 4) -> None:
        self.client = client
        self.component = component
        self.instance = instance
        self.concurrency = concurrency
        self._pending: collections.deque = collections.deque(maxlen=buffer)
        self._recent: collections.OrderedDict = collections.OrderedDict()
        self._wakeup: asyncio.Event | None = None
        self._busy = 0
        self.posted = 0
        self.dropped_on_error = 0
        self.dropped_as_spam = 0
        self.clock = time.monotonic
        # (source, object) -> [tokens, last refill]; (source, object, type, reason) ->
        # (first seen, distinct messages).  Both LRU-bounded like the correlator's caches.
        self._spam: collections.OrderedDict = collections.OrderedDict()
        self._similar: collections.OrderedDict = collections.OrderedDict()
        self._writing: dict[tuple, list] = {}

    def for_component(self, component: str) -> ComponentRecorder:
        """A view that records with ``component`` as the Event's source (upstream gives each
        controller its own: "replicaset-controller", "node-controller", ...)."""
        return ComponentRecorder(self, component)

    def event(self, obj: Mapping, event_type: str, reason: str, message: str, *, component: str | None = None) -> None:
        """Record an Event about ``obj`` (any object with apiVersion/kind/metadata)."""
        meta = obj.get("metadata") or {}
        involved = {
            "apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "name": meta.get("name"),
            "uid": meta.get("uid"), "resourceVersion": meta.get("resourceVersion"),
        }
        if meta.get("namespace"):
            involved["namespace"] = meta["namespace"]
        component = component or self.component
        subject = (component, involved["kind"], involved.get("namespace"), involved["name"], involved["uid"])
        now = self.clock()
        if not self._take_token(subject, now):
            self.dropped_as_spam += 1
            return
        if self._aggregate(subject + (event_type, reason), message, now):
            # One Event for all of them, found again by its (message-less) key.
            self._pending.append((involved, event_type, reason, _AGGREGATED_PREFIX + message, component, None))
        else:
            self._pending.append((involved, event_type, reason, message, component, message))
        if self._wakeup is not None:
            self._wakeup.set()

    def _take_token(self, subject: tuple, now: float) -> bool:
        bucket = self._spam.get(subject)
        if bucket is None:
            bucket = self._spam[subject] = [float(_SPAM_BURST), now]
            if len(self._spam) > _RECENT:
                self._spam.popitem(last=False)
        else:
            self._spam.move_to_end(subject)
            bucket[0] = min(float(_SPAM_BURST), bucket[0] + (now - bucket[1]) * _SPAM_REFILL_PER_SECOND)
            bucket[1] = now
        if bucket[0] < 1.0:
            return False
        bucket[0] -= 1.0
        return True

    def _aggregate(self, key: tuple, message: str, now: float) -> bool:
        """EventAggregate: whether this event joins the combined one because the object has
        had too many similar events lately."""
        seen = self._similar.get(key)
        if seen is None or now - seen[0] > _AGGREGATE_INTERVAL:
            seen = self._similar[key] = (now, set())
            if len(self._similar) > _RECENT:
                self._similar.popitem(last=False)
        else:
            self._similar.move_to_end(key)
        messages = seen[1]
        if message in messages or len(messages) < _AGGREGATE_MAX_EVENTS:
            messages.add(message)
            return False
        return True

    @property
    def idle(self) -> bool:
        return not self._pending and self._busy == 0

    async def run(self) -> None:
        self._wakeup = asyncio.Event()
        if self._pending:
            self._wakeup.set()
        workers = [asyncio.create_task(self._worker()) for _ in range(self.concurrency)]
        try:
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait until every recorded event has been written (bounded)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.idle and loop.time() < deadline:
            await asyncio.sleep(0.01)

    async def _worker(self) -> None:
        assert self._wakeup is not None
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
                log.debug("event %s about %s not written: %s", item[2], item[0].get("name"), error)
            finally:
                self._busy -= 1

    async def _write(self, involved: dict, event_type: str, reason: str, message: str, component: str,
                     message_key: str | None) -> None:
        # Cluster-scoped objects' events go to "default", as upstream.
        namespace = involved.get("namespace") or "default"
        correlation = (involved.get("uid"), involved.get("kind"), namespace, involved.get("name"), event_type, reason,
                       message_key, component)
        # Writes of one correlated Event go one at a time (the broadcaster is serial
        # upstream), or concurrent repeats would each create their own Event.
        entry = self._writing.get(correlation)
        if entry is None:
            entry = self._writing[correlation] = [asyncio.Lock(), 0]
        entry[1] += 1
        try:
            async with entry[0]:
                await self._write_one(correlation, namespace, involved, event_type, reason, message, component)
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                del self._writing[correlation]

    async def _write_one(self, correlation: tuple, namespace: str, involved: dict, event_type: str, reason: str,
                         message: str, component: str) -> None:
        known = self._recent.get(correlation)
        now = _now()
        if known is not None:
            name, count = known
            try:
                await self.client.patch(EVENTS, name, {"count": count + 1, "lastTimestamp": now, "message": message},
                                        namespace=namespace, patch_type=PatchType.MERGE)
                self._recent[correlation] = (name, count + 1)
                self._recent.move_to_end(correlation)
                self.posted += 1
                return
            except NotFound:
                del self._recent[correlation]
        body = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"generateName": f"{involved.get('name')}.", "namespace": namespace},
            "involvedObject": involved,
            "reason": reason, "message": message, "type": event_type,
            "source": {"component": component},
            "reportingComponent": component, "reportingInstance": self.instance,
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        }
        created = await self.client.create(EVENTS, body, namespace=namespace)
        self.posted += 1
        self._recent[correlation] = (created["metadata"]["name"], 1)
        if len(self._recent) > _RECENT:
            self._recent.popitem(last=False)


class ComponentRecorder:
    """``EventRecorder.event`` with a fixed source component; shares the recorder's buffer,
    writers and correlator."""

    def __init__(self, recorder: EventRecorder, component: str) -> None:
        self.recorder = recorder
        self.component = component

    def event(self, obj: Mapping, event_type: str, reason: str, message: str) -> None:
        self.recorder.event(obj, event_type, reason, message, component=self.component)
