"""``ControllerManager``: the chosen controllers in one process, sharing one informer
factory (one watch per resource), one event recorder and one metrics registry, as
kube-controller-manager runs them.  Usable in-process:

    async with ApiClient("http://127.0.0.1:8080") as client:
        manager = ControllerManager(client, ["replicaset-controller", "deployment-controller"])
        task = asyncio.create_task(manager.run())
        await manager.wait_started()
        ...
        await manager.stop()
        await task

``stop()`` may come at any time, also before ``run()`` has synced its informers (a signal
during start-up): ``run()`` then returns without starting the controllers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from pyk8s.client import ApiClient, SharedInformerFactory

from . import controller_class, resolve_names
from ._base import Controller, ControllerContext
from ._events import EventRecorder
from ._metrics import ControllerMetrics

__all__ = ["ControllerManager", "COMPONENT", "WORKER_OPTIONS"]

log = logging.getLogger(__name__)

COMPONENT = "kube-controller-manager"

# The option (upstream's --concurrent-*-syncs flag) giving a controller's workers count.
WORKER_OPTIONS: dict[str, str] = {
    "replicaset-controller": "concurrent_replicaset_syncs",
    "deployment-controller": "concurrent_deployment_syncs",
    "job-controller": "concurrent_job_syncs",
    "ttl-after-finished-controller": "concurrent_ttl_after_finished_syncs",
    "garbage-collector-controller": "concurrent_gc_syncs",
    "namespace-controller": "concurrent_namespace_syncs",
    "endpoints-controller": "concurrent_endpoint_syncs",
    "endpointslice-controller": "concurrent_service_endpoint_syncs",
}


def _report_exit(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("controller %s stopped: %r", task.get_name(), task.exception())


class ControllerManager:
    def __init__(
        self,
        client: ApiClient,
        controllers: Iterable[str] = ("*",),
        *,
        options: Mapping[str, Any] | None = None,
        workers: Mapping[str, int] | None = None,
        instance: str = "",
        informer_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        """``controllers``: upstream's ``--controllers`` list (``*``, ``name``, ``-name``);
        ``workers``: per controller name, how many keys it reconciles at once (otherwise
        the ``concurrent_*_syncs`` option of ``WORKER_OPTIONS``, otherwise the
        controller's default); ``options``: per-controller settings (see each controller)."""
        self.client = client
        self.names = resolve_names(list(controllers))
        self.informers = SharedInformerFactory(client, **dict(informer_kwargs or {}))
        self.recorder = EventRecorder(client, COMPONENT, instance=instance)
        self.metrics = ControllerMetrics()
        self.options = dict(options or {})
        self.context = ControllerContext(client, self.informers, self.recorder, self.metrics, self.options)
        self.workers = dict(workers or {})
        for name, option in WORKER_OPTIONS.items():
            if name not in self.workers and self.options.get(option):
                self.workers[name] = int(self.options[option])
        self.controllers: dict[str, Controller] = {name: controller_class(name)(self.context) for name in self.names}
        self._started = asyncio.Event()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    def controller(self, name: str) -> Controller:
        return self.controllers[name]

    @property
    def started(self) -> bool:
        return self._started.is_set()

    async def wait_started(self, timeout: float | None = 30.0) -> None:
        """Wait until every informer has synced and the controllers are running."""
        await asyncio.wait_for(self._started.wait(), timeout)

    async def run(self) -> None:
        """Start informers, wait for their caches, run every controller until cancelled or
        ``stop()``."""
        recorder: asyncio.Task | None = None
        try:
            self.informers.start()
            if not await self._until_stopped(self.informers.wait_for_cache_sync()):
                return
            recorder = asyncio.create_task(self.recorder.run(), name="event-recorder")
            self._tasks = [
                asyncio.create_task(controller.run(self.workers.get(name)), name=name)
                for name, controller in self.controllers.items()
            ]
            for task in self._tasks:
                task.add_done_callback(_report_exit)
            self._started.set()
            # Controllers run independently (one that returns or fails leaves the others
            # running) until stop() or cancellation.
            await self._until_stopped(asyncio.gather(*self._tasks, return_exceptions=True))
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            if recorder is not None:
                await self.recorder.flush(timeout=2.0)
                recorder.cancel()
                await asyncio.gather(recorder, return_exceptions=True)
            await self.informers.shutdown()
            self._started.clear()

    async def _until_stopped(self, awaitable) -> bool:
        """Await ``awaitable`` unless ``stop()`` comes first; True if it finished."""
        work = asyncio.ensure_future(awaitable)
        stop = asyncio.create_task(self._stopping.wait())
        try:
            await asyncio.wait([work, stop], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not work.done():
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)
        return work.done() and not work.cancelled() and not self._stopping.is_set()

    async def stop(self) -> None:
        """Make ``run()`` stop its controllers, flush events and return (at any stage)."""
        self._stopping.set()
