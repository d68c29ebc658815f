"""``ControllerManager``: the chosen controllers in one process, sharing one informer
factory (one watch per resource), one event recorder and one metrics registry, as
kube-controller-manager runs them.  Usable in-process:

    async with ApiClient("http://127.0.0.1:8080") as client:
        manager = ControllerManager(client, ["replicaset-controller", "deployment-controller"])
        task = asyncio.create_task(manager.run())
        await manager.wait_started()
        ...
        await manager.stop()
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

__all__ = ["ControllerManager", "COMPONENT"]

log = logging.getLogger(__name__)

COMPONENT = "kube-controller-manager"


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
        ``workers``: per controller name, how many keys it reconciles at once (the
        ``--concurrent-*-syncs`` flags); ``options``: per-controller settings (see each
        controller)."""
        self.client = client
        self.names = resolve_names(list(controllers))
        self.informers = SharedInformerFactory(client, **dict(informer_kwargs or {}))
        self.recorder = EventRecorder(client, COMPONENT, instance=instance)
        self.metrics = ControllerMetrics()
        self.context = ControllerContext(client, self.informers, self.recorder, self.metrics, dict(options or {}))
        self.workers = dict(workers or {})
        self.controllers: dict[str, Controller] = {name: controller_class(name)(self.context) for name in self.names}
        self._started = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    def controller(self, name: str) -> Controller:
        return self.controllers[name]

    async def wait_started(self, timeout: float | None = 30.0) -> None:
        """Wait until every informer has synced and the controllers are running."""
        await asyncio.wait_for(self._started.wait(), timeout)

    async def run(self) -> None:
        """Start informers, wait for their caches, run every controller until cancelled or
        ``stop()``."""
        self.informers.start()
        await self.informers.wait_for_cache_sync()
        recorder = asyncio.create_task(self.recorder.run(), name="event-recorder")
        self._tasks = [
            asyncio.create_task(controller.run(self.workers.get(name)), name=name)
            for name, controller in self.controllers.items()
        ]
        self._started.set()
        try:
            await asyncio.gather(*self._tasks)
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self.recorder.flush(timeout=2.0)
            recorder.cancel()
            await asyncio.gather(recorder, return_exceptions=True)
            await self.informers.shutdown()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()

