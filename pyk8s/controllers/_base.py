"""What every controller in ``pyk8s-controller-manager`` shares, as kube-controller-manager's
controllers share client-go's pieces:

* ``ControllerContext``: the ApiClient, the process's ``SharedInformerFactory`` (one watch
  per resource for all controllers), the ``EventRecorder`` and the ``ControllerMetrics``.
* ``Controller``: a rate-limited work queue of keys (``namespace/name``) and ``workers``
  tasks that call ``sync(key)``; a sync that raises is retried with per-key exponential
  back-off (5 ms doubling to 1000 s, client-go's default controller limiter), a sync that
  returns forgets the key's failures.  Subclasses register informer handlers in
  ``__init__`` that ``enqueue`` keys, and implement ``sync``.

    class Reconciler(Controller):
        name = "example"          # the name ``--controllers`` uses

        def __init__(self, context):
            super().__init__(context)
            self.pods = context.informers.informer(PODS)
            self.pods.add_event_handler(on_add=self.enqueue_object)

        async def sync(self, key):
            ...
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pyk8s.client import (
    ApiClient, ApiError, RateLimitingQueue, SharedInformerFactory, ShutDown, TransportError,
    default_controller_rate_limiter, object_key,
)

from ._events import EventRecorder
from ._metrics import ControllerMetrics

__all__ = ["Controller", "ControllerContext"]

log = logging.getLogger(__name__)


@dataclass
class ControllerContext:
    client: ApiClient
    informers: SharedInformerFactory
    recorder: EventRecorder
    metrics: ControllerMetrics = field(default_factory=ControllerMetrics)
    # Per-controller settings by upstream flag name without dashes, e.g.
    # {"node_monitor_grace_period": 40.0}; each controller documents what it reads.
    options: Mapping[str, Any] = field(default_factory=dict)


class Controller:
    name: ClassVar[str] = ""
    # The Events' source component; upstream's controllers mostly use their name, a few an
    # older one (node-controller, endpoint-controller).
    event_source: ClassVar[str] = ""
    default_workers: ClassVar[int] = 5

    def __init__(self, context: ControllerContext) -> None:
        self.context = context
        self.client = context.client
        self.informers = context.informers
        self.recorder = context.recorder.for_component(self.event_source or self.name)
        self.metrics = context.metrics
        self.queue: RateLimitingQueue[str] = RateLimitingQueue(default_controller_rate_limiter())
        self.metrics.register_queue(self.name, self.queue)

    # -- enqueueing (informer handlers call these) -------------------------------------------

    def enqueue(self, key: str) -> None:
        self.metrics.queue_add(self.name)
        self.queue.add(key)

    def enqueue_after(self, key: str, delay: float) -> None:
        self.metrics.queue_add(self.name)
        self.queue.add_after(key, delay)

    def enqueue_object(self, obj: Mapping, *_: Any) -> None:
        """Handler shape for on_add / on_update(old, new) / on_delete: enqueue the (new)
        object's key."""
        self.enqueue(object_key(_[-1] if _ else obj))

    # -- running -----------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        raise NotImplementedError

    async def run(self, workers: int | None = None) -> None:
        """Process keys until cancelled (or the queue is shut down)."""
        count = workers or self.default_workers
        tasks = [asyncio.create_task(self._worker(), name=f"{self.name}-worker-{i}") for i in range(count)]
        try:
            await asyncio.gather(*tasks)
        finally:
            self.queue.shut_down()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _worker(self) -> None:
        while True:
            try:
                key = await self.queue.get()
            except ShutDown:
                return
            started = time.perf_counter()
            try:
                await self.sync(key)
            except asyncio.CancelledError:
                self.queue.done(key)
                raise
            except (ApiError, TransportError) as error:
                # Conflicts and transient failures are normal: retry with back-off.
                log.debug("%s: sync %s failed: %s", self.name, key, error)
                self.metrics.sync_done(self.name, "error", time.perf_counter() - started)
                self.metrics.queue_retry(self.name)
                self.queue.add_rate_limited(key)
            except Exception:
                log.exception("%s: sync %s crashed", self.name, key)
                self.metrics.sync_done(self.name, "error", time.perf_counter() - started)
                self.metrics.queue_retry(self.name)
                self.queue.add_rate_limited(key)
            else:
                self.metrics.sync_done(self.name, "success", time.perf_counter() - started)
                self.queue.forget(key)
            self.queue.done(key)


ControllerFactory = Callable[[ControllerContext], Controller]
