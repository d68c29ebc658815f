"""Keyed, coalescing writes for the simulated kubelet: thousands of hollow nodes' Lease
renewals, node statuses, pod statuses and pod deletions over a few pipelined connections.

Each write has a key (a pod, a lease, a node).  For one key at most one request is in flight
and only the newest body waits behind it: a pod that goes Running and then Succeeded while
the first write is still on the wire sends Succeeded next, never the two out of order, and a
status superseded before it was sent is never sent.  At most ``concurrency`` requests are in
flight in all, so a burst of 10,000 pods queues here instead of in the API server.

Requests go out through the scheduler's ``PipelinedWriter`` (HTTP/1.1 pipelining: a few tens
of microseconds of this process's CPU per request, against ~150 us through aiohttp), which is
what keeps 5000 nodes' heartbeats well under a core.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable
from typing import NamedTuple

from pyk8s.client import (
    ApiClient, ApiError, InternalError, ServerTimeout, ServiceUnavailable, TooManyRequests, TransportError,
)
from pyk8s.scheduler._pipeline import PipelinedWriter

__all__ = ["KeyedWriter", "Write", "MERGE_PATCH"]

log = logging.getLogger(__name__)

MERGE_PATCH = "application/merge-patch+json"

# Answers that say "try again later" rather than "this request is wrong".
_TRANSIENT = (TransportError, TooManyRequests, ServiceUnavailable, InternalError, ServerTimeout, TimeoutError)
_RETRY_INITIAL = 0.2
_RETRY_CAP = 5.0
# A request the server has not answered in this long is treated as lost (and retried).
_REQUEST_TIMEOUT = 60.0

# Called with (None, body) on success or (error, None) on a final failure.
Done = Callable[[ApiError | None, bytes | None], None]


class Write(NamedTuple):
    """A request; ``body`` may be a function building it when the request is sent (None:
    nothing to send any more)."""

    method: str
    path: str
    body: bytes | Callable[[], bytes | None]
    content_type: str = "application/json"
    done: Done | None = None


class KeyedWriter:
    """``submit(key, write)`` queues a write; ``run()`` sends them until cancelled."""

    def __init__(self, client: ApiClient, *, concurrency: int = 128, connections: int = 4) -> None:
        self.pipeline = PipelinedWriter(client, connections=connections)
        self.concurrency = concurrency
        self._pending: dict[Hashable, Write] = {}
        self._in_flight: set[Hashable] = set()
        # Holds a key exactly when it is pending and not in flight.
        self._ready: asyncio.Queue[Hashable] = asyncio.Queue()
        self._idle = asyncio.Event()
        self._idle.set()
        self.sent = 0
        self.failed = 0
        self.superseded = 0

    def submit(self, key: Hashable, write: Write) -> None:
        """Queue ``write`` for ``key``, replacing a queued (not yet sent) write for it."""
        if key in self._pending:
            self.superseded += 1
        elif key not in self._in_flight:
            self._ready.put_nowait(key)
        self._pending[key] = write
        self._idle.clear()

    def discard(self, key: Hashable) -> None:
        """Drop the queued write for ``key`` (its object is gone); one in flight completes."""
        if self._pending.pop(key, None) is not None:
            self.superseded += 1
            self._check_idle()

    @property
    def backlog(self) -> int:
        return len(self._pending) + len(self._in_flight)

    async def wait_idle(self) -> None:
        """Until nothing is queued or in flight (tests and benchmarks)."""
        await self._idle.wait()

    def _check_idle(self) -> None:
        if not self._pending and not self._in_flight:
            self._idle.set()

    async def run(self) -> None:
        workers = [asyncio.create_task(self._worker(), name=f"simulated-writer-{i}") for i in range(self.concurrency)]
        try:
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            self.pipeline.close()

    async def _worker(self) -> None:
        while True:
            key = await self._ready.get()
            write = self._pending.pop(key, None)
            if write is None:  # discarded while queued
                self._check_idle()
                continue
            self._in_flight.add(key)
            try:
                await self._send(key, write)
            finally:
                self._in_flight.discard(key)
                if key in self._pending:
                    self._ready.put_nowait(key)
                self._check_idle()

    async def _send(self, key: Hashable, write: Write) -> None:
        body = write.body() if callable(write.body) else write.body
        if body is None:
            return
        delay = _RETRY_INITIAL
        while True:
            try:
                answer = await asyncio.wait_for(
                    self.pipeline.request(write.method, write.path, body, write.content_type), _REQUEST_TIMEOUT)
            except _TRANSIENT as error:
                if key in self._pending:
                    # A newer write for the key is waiting: it replaces this one.
                    self.superseded += 1
                    return
                log.debug("%s %s: %s; retrying in %.1fs", write.method, write.path, error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_CAP)
                continue
            except ApiError as error:
                # 404: the object is gone; 409/422 on a uid: the name belongs to a new object.
                log.debug("%s %s: %s", write.method, write.path, error)
                self.failed += 1
                if write.done is not None:
                    write.done(error, None)
                return
            self.sent += 1
            if write.done is not None:
                write.done(None, answer)
            return
