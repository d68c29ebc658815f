"""The scheduling queue (pyk8s.scheduler.queue): priority order, back-off timing, moves on
cluster events, the unschedulable flush, updates and deletes of queued pods.  Time is a
fake clock stepped by the tests, so nothing sleeps."""

from __future__ import annotations

import asyncio

import pytest

from pyk8s.scheduler.metrics import SchedulerMetrics
from pyk8s.scheduler.queue import EXPLANATION_ANNOTATION, SchedulingQueue


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def step(self, seconds: float) -> None:
        self.now += seconds


def pod(name: str, priority: int = 0, **spec) -> dict:
    return {"metadata": {"name": name, "namespace": "default", "labels": {}},
            "spec": {"priority": priority, "containers": [{"name": "c"}], **spec}}


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def queue(clock):
    return SchedulingQueue(clock=clock)


def drain(queue) -> list[str]:
    out = []
    while (entry := queue.pop_nowait()) is not None:
        out.append(entry.pod["metadata"]["name"])
    return out


def fail(queue, name: str) -> None:
    """Pop ``name`` (it must be next) and report it unschedulable in its own cycle."""
    entry = queue.pop_nowait()
    assert entry.pod["metadata"]["name"] == name
    queue.add_unschedulable(entry, queue.scheduling_cycle)


def test_active_orders_by_priority_then_queue_time(queue, clock):
    queue.add(pod("low-early", 0))
    clock.step(1)
    queue.add(pod("high", 100))
    clock.step(1)
    queue.add(pod("low-late", 0))
    queue.add(pod("mid", 10))
    assert drain(queue) == ["high", "mid", "low-early", "low-late"]


def test_priority_raised_while_active_reorders(queue, clock):
    queue.add(pod("a"))
    clock.step(1)
    queue.add(pod("b"))
    queue.update(pod("b"), pod("b", priority=5))
    assert drain(queue) == ["b", "a"]
    assert queue.pending()["active"] == 0


def test_backoff_doubles_from_one_second_to_ten():
    q = SchedulingQueue()
    assert [q.backoff_duration(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]
    fast = SchedulingQueue(initial_backoff=0.01, max_backoff=0.05)
    assert [fast.backoff_duration(n) for n in range(1, 5)] == [0.01, 0.02, 0.04, 0.05]


def test_error_goes_to_backoff_and_comes_back_when_it_expires(queue, clock):
    queue.add(pod("p"))
    entry = queue.pop_nowait()
    queue.add_backoff(entry)  # attempt 1: 1 s
    assert queue.pending() == {"active": 0, "backoff": 1, "unschedulable": 0, "gated": 0}
    clock.step(0.99)
    assert queue.pop_nowait() is None
    clock.step(0.02)
    entry = queue.pop_nowait()
    assert entry.key == "default/p" and entry.attempts == 2
    queue.add_backoff(entry)  # attempt 2: 2 s
    clock.step(1.5)
    assert queue.pop_nowait() is None
    clock.step(0.6)
    assert queue.pop_nowait().attempts == 3


def test_unschedulable_waits_for_an_event(queue, clock):
    queue.add(pod("p"))
    fail(queue, "p")
    clock.step(60)
    assert queue.pop_nowait() is None
    assert queue.pending()["unschedulable"] == 1
    assert queue.move_all("NodeAdd") == 1
    # Its 1 s back-off has long expired: straight to active.
    assert queue.pending()["active"] == 1
    assert drain(queue) == ["p"]


def test_event_during_backoff_window_moves_to_backoff(queue, clock):
    queue.add(pod("p"))
    fail(queue, "p")
    clock.step(0.5)
    queue.move_all("NodeUpdate")
    assert queue.pending()["backoff"] == 1
    assert queue.pop_nowait() is None
    clock.step(0.6)
    assert drain(queue) == ["p"]


def test_event_while_in_flight_sends_failure_to_backoff_not_unschedulable(queue, clock):
    """The node that would fit arrived during the pod's own cycle: waiting in unschedulable
    for another event could wait forever."""
    queue.add(pod("p"))
    entry = queue.pop_nowait()
    cycle = queue.scheduling_cycle
    queue.move_all("NodeAdd")
    queue.add_unschedulable(entry, cycle)
    assert queue.pending()["backoff"] == 1 and queue.pending()["unschedulable"] == 0


def test_move_all_with_predicate_moves_only_matching(queue, clock):
    for name in ("a", "b"):
        queue.add(pod(name))
    fail(queue, "a")
    fail(queue, "b")
    clock.step(5)
    assert queue.move_all("X", lambda e: e.key == "default/b") == 1
    assert drain(queue) == ["b"]
    assert queue.where("default/a") == "unschedulable"


def test_flush_moves_pods_unschedulable_longer_than_five_minutes(queue, clock):
    queue.add(pod("old"))
    fail(queue, "old")
    clock.step(200)
    queue.add(pod("young"))
    fail(queue, "young")
    clock.step(99)
    assert queue.flush_unschedulable() == 0
    clock.step(2)  # old: 301 s
    assert queue.flush_unschedulable() == 1
    assert drain(queue) == ["old"]
    assert queue.where("default/young") == "unschedulable"


def test_update_of_unschedulable_pod_retries_it_with_the_new_object(queue, clock):
    queue.add(pod("p"))
    fail(queue, "p")
    clock.step(5)
    status_only = pod("p")
    status_only["status"] = {"conditions": []}
    queue.update(pod("p"), status_only)
    assert queue.where("default/p") == "unschedulable"  # status changes are not retried
    explained = pod("p")
    explained["metadata"]["annotations"] = {EXPLANATION_ANNOTATION: "{}"}
    queue.update(pod("p"), explained)
    assert queue.where("default/p") == "unschedulable"  # nor the scheduler's own annotation
    relaxed = pod("p", nodeSelector={"disk": "ssd"})
    queue.update(pod("p"), relaxed)
    entry = queue.pop_nowait()
    assert entry.pod is relaxed


def test_update_while_in_flight_or_backoff_keeps_newest_object(queue, clock):
    queue.add(pod("p"))
    entry = queue.pop_nowait()
    newer = pod("p", nodeName="")
    queue.update(pod("p"), newer)
    queue.add_backoff(entry)
    clock.step(2)
    assert queue.pop_nowait().pod is newer


def test_delete_removes_from_every_queue(queue, clock):
    for name in ("active", "backoff", "unsched"):
        queue.add(pod(name))
    queue.add(pod("gated", schedulingGates=[{"name": "x"}]))
    first = queue.pop_nowait()
    queue.add_backoff(first)
    fail(queue, "backoff")
    # The heap order is by queue time; which names landed where does not matter here.
    for name in ("active", "backoff", "unsched", "gated"):
        queue.delete(pod(name))
    assert queue.pending() == {"active": 0, "backoff": 0, "unschedulable": 0, "gated": 0}
    clock.step(100)
    assert queue.pop_nowait() is None


def test_deleted_while_in_flight_is_not_requeued(queue):
    queue.add(pod("p"))
    entry = queue.pop_nowait()
    queue.delete("default/p")
    queue.add_unschedulable(entry, queue.scheduling_cycle)
    queue.add_backoff(entry)
    assert sum(queue.pending().values()) == 0


def test_gated_pod_released_when_last_gate_removed(queue):
    gated = pod("g", schedulingGates=[{"name": "a"}, {"name": "b"}])
    queue.add(gated)
    assert queue.pending()["gated"] == 1 and queue.pop_nowait() is None
    one_gate = pod("g", schedulingGates=[{"name": "b"}])
    queue.update(gated, one_gate)
    assert queue.pending()["gated"] == 1
    queue.update(one_gate, pod("g"))
    assert drain(queue) == ["g"]


def test_activate_skips_backoff(queue, clock):
    queue.add(pod("p"))
    fail(queue, "p")
    entry = queue.entries["default/p"]
    queue.activate(entry)
    assert drain(queue) == ["p"]


def test_done_removes_the_pod(queue):
    queue.add(pod("p"))
    entry = queue.pop_nowait()
    queue.done(entry.key)
    assert "default/p" not in queue
    queue.add(pod("p"))  # seen again (e.g. the binding failed and the pod is still pending)
    assert drain(queue) == ["p"]


def test_async_pop_wakes_on_add_and_on_backoff_expiry():
    async def scenario():
        q = SchedulingQueue(initial_backoff=0.05, max_backoff=0.05)
        waiter = asyncio.create_task(q.pop())
        await asyncio.sleep(0.01)
        assert not waiter.done()
        q.add(pod("p"))
        entry = await asyncio.wait_for(waiter, 1)
        q.add_backoff(entry)
        loop = asyncio.get_running_loop()
        started = loop.time()
        again = await asyncio.wait_for(q.pop(idle_wait=5), 1)
        assert again is entry and 0.03 < loop.time() - started < 0.5
        q.close()
        assert await q.pop() is None

    asyncio.run(scenario())


def test_pending_pods_metric_reads_the_queue(queue, clock):
    metrics = SchedulerMetrics(queue.pending)
    queue.add(pod("a"))
    queue.add(pod("b"))
    queue.add(pod("g", schedulingGates=[{"name": "x"}]))
    fail(queue, "a")
    metrics.observe_attempt("unschedulable", "default-scheduler", 0.003)
    text = metrics.render()
    assert 'scheduler_pending_pods{queue="active"} 1' in text
    assert 'scheduler_pending_pods{queue="unschedulable"} 1' in text
    assert 'scheduler_pending_pods{queue="gated"} 1' in text
    assert 'scheduler_schedule_attempts_total{profile="default-scheduler",result="unschedulable"} 1' in text
    assert 'scheduler_scheduling_attempt_duration_seconds_bucket{profile="default-scheduler",result="unschedulable",le="0.004"} 1' in text
    assert 'le="0.002"} 0' in text
    assert 'le="16.384"} 1' in text  # upstream's buckets: 0.001 * 2^i, i < 15
