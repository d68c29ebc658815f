"""Periodic compaction, so watch history and old revisions stay bounded in memory.

Every ``interval`` seconds the current revision is sampled; history older than the
revision that was current ``retention`` seconds ago is dropped.  So a watch or a
``continue`` token reaching back less than ``retention`` seconds always works, and one
reaching back further gets 410 Expired, as kube-apiserver's 5-minute etcd compaction does.
"""

from __future__ import annotations

import asyncio
import collections
import logging

from pyk8s.store import Storage

__all__ = ["Compactor"]

log = logging.getLogger(__name__)


class Compactor:
    def __init__(self, store: Storage, interval: float = 60.0, retention: float = 300.0) -> None:
        self.store = store
        self.interval = interval
        self.retention = retention
        self._task: asyncio.Task | None = None
        self._samples: collections.deque[tuple[float, int]] = collections.deque()

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.interval > 0 and self._task is None:
            self._task = loop.create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def tick(self, now: float) -> int:
        """Record the current revision at ``now``; return the revision to compact to (0 for
        none yet)."""
        self._samples.append((now, self.store.current_revision()))
        target = 0
        while self._samples and self._samples[0][0] <= now - self.retention:
            target = self._samples.popleft()[1]
        return target if target > self.store.compacted_revision() else 0

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.interval)
            target = self.tick(loop.time())
            if target:
                try:
                    # In a thread: the store compacts in batches with its lock (and the GIL)
                    # released between them, so requests keep being served meanwhile.
                    await loop.run_in_executor(None, self.store.compact, target)
                except Exception:
                    log.exception("compaction to revision %d failed", target)
