"""Event TTL: events are deleted ``ttl`` seconds after they last happened, as
kube-apiserver's ``--event-ttl`` (default 1h) does.  Upstream attaches an etcd lease to each
event; here a periodic sweep deletes events whose last occurrence (lastTimestamp, else
eventTime or series.lastObservedTime, else creationTimestamp) is older than the TTL.
"""

from __future__ import annotations

import asyncio
import calendar
import logging
import time

import orjson

from pyk8s.store import Storage, WriteStatus

__all__ = ["EventReaper", "DEFAULT_EVENT_TTL", "event_time"]

log = logging.getLogger(__name__)

DEFAULT_EVENT_TTL = 3600.0
# Sweep at most this often, and at least ten times per TTL so no event outlives it by much.
_MAX_SWEEP_INTERVAL = 60.0


def _parse_time(text: str) -> float | None:
    """RFC 3339 seconds or micro-seconds (metav1.Time / MicroTime), UTC 'Z' or offset."""
    try:
        base = text[:19]
        seconds = calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S"))
    except (ValueError, TypeError):
        return None
    rest = text[19:]
    if rest.startswith("."):
        rest = rest.lstrip(".0123456789")
    if rest in ("Z", "z", ""):
        return float(seconds)
    sign = 1 if rest[0] == "+" else -1
    try:
        hours, minutes = int(rest[1:3]), int(rest[4:6])
    except ValueError:
        return None
    return float(seconds - sign * (hours * 3600 + minutes * 60))


def event_time(event: dict) -> float | None:
    series = event.get("series") or {}
    for text in (
        event.get("lastTimestamp"),
        series.get("lastObservedTime"),
        event.get("eventTime"),
        (event.get("metadata") or {}).get("creationTimestamp"),
    ):
        if text:
            found = _parse_time(text)
            if found is not None:
                return found
    return None


class EventReaper:
    def __init__(self, store: Storage, ttl: float = DEFAULT_EVENT_TTL) -> None:
        self.store = store
        self.ttl = ttl
        self.interval = min(_MAX_SWEEP_INTERVAL, max(ttl / 10, 0.1))
        self._task: asyncio.Task | None = None

    def sweep(self, now: float | None = None) -> int:
        """Delete every expired event; returns how many went.  An event written meanwhile
        (compare-and-swap fails) is kept for the next sweep."""
        now = time.time() if now is None else now
        deadline = now - self.ttl
        deleted = 0
        for data in self.store.list("events").items():
            event = orjson.loads(data)
            when = event_time(event)
            if when is None or when > deadline:
                continue
            meta = event["metadata"]
            revision = int(meta.get("resourceVersion") or 0)
            result = self.store.delete("events", meta.get("namespace", ""), meta["name"], revision)
            if result.status is WriteStatus.OK:
                deleted += 1
        return deleted

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.ttl > 0 and self._task is None:
            self._task = loop.create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.interval)
            try:
                await loop.run_in_executor(None, self.sweep)
            except Exception:
                log.exception("event TTL sweep failed")
