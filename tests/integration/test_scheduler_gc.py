"""The scheduler process's GC tuning (``tune_gc``, as the CLI runs it): the synced caches
frozen, young collections put off while pods wait or bind (up to a bound), on again as
soon as the burst is over or the bound is passed, and the process's GC as it was once the
scheduler stops."""

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
def gc_state(monkeypatch):
    """Looks every 10 ms; the GC's process-wide state put back afterwards."""
    monkeypatch.setattr(scheduler_module, "_GC_CHECK_PERIOD", 0.01)
    threshold, enabled = gc.get_threshold(), gc.isenabled()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)
    (gc.enable if enabled else gc.disable)()


async def _wait(condition, timeout=10.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline
        await asyncio.sleep(0.005)


def test_young_collections_wait_while_pods_wait_or_bind(gc_state, monkeypatch):
    async def scenario():
        async with ApiClient("http://127.0.0.1:9") as client:  # never contacted
            scheduler = Scheduler(client, tune_gc=True)
            waiting = {"active": 0}
            monkeypatch.setattr(scheduler.queue, "pending", lambda: waiting)
            try:
                gc.enable()
                waiting["active"] = 3
                scheduler._gc_during_bursts()
                assert not gc.isenabled()  # pods wait: no young collection
                waiting["active"] = 0
                scheduler.binds_in_flight = 2
                scheduler._gc_during_bursts()
                assert not gc.isenabled()  # bindings in flight: still the burst
                monkeypatch.setattr(scheduler_module, "_GC_BURST_ALLOCATIONS", 0)
                scheduler._gc_during_bursts()
                assert gc.isenabled()  # past the bound: collections as usual
                monkeypatch.setattr(scheduler_module, "_GC_BURST_ALLOCATIONS", 2_000_000)
                scheduler._gc_during_bursts()
                assert not gc.isenabled()
                scheduler.binds_in_flight = 0
                scheduler._gc_during_bursts()
                assert gc.isenabled()  # the burst is over
            finally:
                scheduler._gc_timer.cancel()

    asyncio.run(scenario())


def test_a_tuned_scheduler_freezes_its_caches_schedules_and_restores_the_gc(apiserver, gc_state):
    async def scenario():
        async with ApiClient(apiserver.url) as client:
            await client.create(NAMESPACES, {"metadata": {"name": "gc-burst"}})
            await client.create(NODES, {"metadata": {"name": "gc-node"}, "status": {
                "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                "conditions": [{"type": "Ready", "status": "True"}]}})
            scheduler = Scheduler(client, tune_gc=True)
            task = asyncio.create_task(scheduler.run())
            try:
                await asyncio.wait_for(scheduler.informers.wait_for_cache_sync(), 10)
                await asyncio.sleep(0.05)
                assert gc.get_freeze_count() > 0  # the synced caches are frozen
                assert gc.isenabled()  # nothing to schedule: collections as usual
                for i in range(20):
                    await client.create(PODS, {"metadata": {"name": f"p{i}"}, "spec": {
                        "containers": [{"name": "c", "image": "busybox"}]}}, namespace="gc-burst")
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 10
                while not all(p["spec"].get("nodeName") for p in (await client.list(PODS, namespace="gc-burst"))["items"]):
                    assert loop.time() < deadline
                    await asyncio.sleep(0.05)
                await _wait(gc.isenabled)  # the burst is over
            finally:
                await scheduler.stop()
                await asyncio.wait_for(task, 10)
            assert gc.isenabled()
            gc.disable()
            await asyncio.sleep(0.05)
            assert not gc.isenabled()  # the look-ups stopped with the scheduler

    asyncio.run(scenario())
