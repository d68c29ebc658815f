"""core/v1 Events for any object, as client-go's EventRecorder with its correlator:
``event()`` only appends to a bounded buffer; a background task posts them with bounded
concurrency, and a repeat of an event still in the recent cache (same object, reason and
message) patches the existing Event's count instead of creating another."""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import logging
from collections.abc import Mapping

from pyk8s.client import EVENTS, ApiClient, ApiError, NotFound, PatchType, TransportError

__all__ = ["ComponentRecorder", "EventRecorder", "NORMAL", "WARNING"]

log = logging.getLogger(__name__)

NORMAL = "Normal"
WARNING = "Warning"
_RECENT = 4096  # correlator cache size (client-go's maxLruCacheEntries)


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
        self._pending.append((involved, event_type, reason, message, component or self.component))
        if self._wakeup is not None:
            self._wakeup.set()

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

    async def _write(self, involved: dict, event_type: str, reason: str, message: str, component: str) -> None:
        # Cluster-scoped objects' events go to "default", as upstream.
        namespace = involved.get("namespace") or "default"
        correlation = (involved.get("uid"), involved.get("kind"), namespace, involved.get("name"), reason, message, component)
        known = self._recent.get(correlation)
        now = _now()
        if known is not None:
            name, count = known
            try:
                await self.client.patch(EVENTS, name, {"count": count + 1, "lastTimestamp": now},
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
