"""The scheduler process's GC tuning (``tune_gc``, as the CLI runs it): no cyclic GC per
allocation count once the caches are synced and frozen, a full collection every
``_GC_PERIOD`` instead, and the process's GC as it was once the scheduler stops."""

from __future__ import annotations

import asyncio
import gc

import pytest

import pyk8s.scheduler.scheduler as scheduler_module
from pyk8s.apiserver.testing import run_apiserver
from pyk8s.client import NAMESPACES, NODES, PODS, ApiClient
from pyk8s.scheduler.scheduler import Scheduler


@pytest.fixture(scope="module")
def apiserver():
    with run_apiserver("native") as server:
        yield server


@pytest.fixture
def collections(monkeypatch):
    """gc.collect calls, counted; the GC's process-wide state put back afterwards."""
    calls = []
    real_collect = gc.collect
    monkeypatch.setattr(gc, "collect", lambda *args: calls.append(args) or real_collect(*args))
    monkeypatch.setattr(scheduler_module, "_GC_PERIOD", 0.05)
    threshold, enabled = gc.get_threshold(), gc.isenabled()
    yield calls
    gc.unfreeze()
    gc.set_threshold(*threshold)
    (gc.enable if enabled else gc.disable)()


async def _bound(client, namespace, name, timeout=10.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if (await client.get(PODS, name, namespace=namespace))["spec"].get("nodeName"):
            return True
        await asyncio.sleep(0.05)
    return False


def test_synced_scheduler_collects_on_a_timer_and_restores_the_gc(apiserver, collections):
    async def scenario():
        async with ApiClient(apiserver.url) as client:
            await client.create(NAMESPACES, {"metadata": {"name": "gc-timer"}})
            await client.create(NODES, {"metadata": {"name": "gc-node"}, "status": {
                "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                "conditions": [{"type": "Ready", "status": "True"}]}})
            scheduler = Scheduler(client, tune_gc=True)
            task = asyncio.create_task(scheduler.run())
            try:
                await asyncio.wait_for(scheduler.informers.wait_for_cache_sync(), 10)
                await asyncio.sleep(0.3)  # several periods
                assert not gc.isenabled()  # no collection per allocation count
                assert gc.get_freeze_count() > 0  # the synced caches are frozen
                assert len(collections) >= 2  # ... and collections come on the timer
                await client.create(PODS, {"metadata": {"name": "p"}, "spec": {
                    "containers": [{"name": "c", "image": "busybox"}]}}, namespace="gc-timer")
                assert await _bound(client, "gc-timer", "p")  # scheduling goes on meanwhile
            finally:
                await scheduler.stop()
                await asyncio.wait_for(task, 10)
            assert gc.isenabled()  # back as the process had it
            seen = len(collections)
            await asyncio.sleep(0.2)
            assert len(collections) == seen  # the timer stopped with the scheduler

    asyncio.run(scenario())
