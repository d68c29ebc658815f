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


# ---- queueing hints: which events move a pod, by the plugins that rejected it -------------

def fail_by(queue, name: str, *plugins: str) -> None:
    entry = queue.pop_nowait()
    assert entry.pod["metadata"]["name"] == name
    queue.add_unschedulable(entry, queue.scheduling_cycle, {"reason": 1}, plugins)


# plugin -> (events that move a pod it rejected, events that do not)
HINTS = {
    "NodeResourcesFit": ({"NodeAdd", "NodeAllocatableIncrease", "AssignedPodDelete", "NominatedPodDelete"},
                         {"NodeLabelChange", "NodeTaintChange", "AssignedPodAdd", "AssignedPodUpdate", "NodeDelete"}),
    "TaintToleration": ({"NodeAdd", "NodeTaintChange"}, {"NodeLabelChange", "AssignedPodDelete", "NodeAllocatableIncrease"}),
    "NodeAffinity": ({"NodeAdd", "NodeLabelChange"}, {"NodeTaintChange", "AssignedPodDelete", "AssignedPodAdd"}),
    "InterPodAffinity": ({"AssignedPodAdd", "AssignedPodDelete", "AssignedPodUpdate", "NodeAdd", "NodeLabelChange", "NamespaceUpdate"},
                         {"NodeTaintChange", "NodeAllocatableIncrease", "NominatedPodDelete"}),
    "PodTopologySpread": ({"AssignedPodAdd", "AssignedPodDelete", "AssignedPodUpdate", "NodeAdd", "NodeDelete", "NodeLabelChange",
                           "NodeTaintChange"}, {"NodeAllocatableIncrease", "NominatedPodDelete", "NamespaceUpdate"}),
    "NodePorts": ({"AssignedPodDelete", "NodeAdd", "NominatedPodDelete"}, {"AssignedPodAdd", "NodeLabelChange", "NodeAllocatableIncrease"}),
    "NodeUnschedulable": ({"NodeAdd", "NodeTaintChange"}, {"NodeLabelChange", "AssignedPodDelete"}),
    "NodeName": ({"NodeAdd"}, {"NodeLabelChange", "NodeTaintChange", "AssignedPodDelete"}),
}


@pytest.mark.parametrize("plugin", sorted(HINTS))
def test_only_events_relevant_to_the_rejecting_plugin_move_the_pod(plugin):
    moving, staying = HINTS[plugin]
    for event in sorted(moving | staying):
        q = SchedulingQueue(clock=Clock())
        q.add(pod("p"))
        fail_by(q, "p", plugin)
        q.clock.step(60)
        assert q.move_all(event) == (1 if event in moving else 0), (plugin, event)
        assert q.where("default/p") == ("active" if event in moving else "unschedulable")


def test_several_rejecting_plugins_move_on_any_of_their_events(queue, clock):
    queue.add(pod("p"))
    fail_by(queue, "p", "NodeResourcesFit", "TaintToleration")  # short of cpu here, tainted there
    clock.step(5)
    assert queue.move_all("NodeLabelChange") == 0
    assert queue.move_all("NodeTaintChange") == 1
    assert queue.entries["default/p"].unschedulable_plugins == frozenset({"NodeResourcesFit", "TaintToleration"})


def test_unknown_or_no_rejecting_plugin_moves_on_every_event(queue, clock):
    queue.add(pod("custom"))
    queue.add(pod("none"))
    fail_by(queue, "custom", "MyPreFilter")  # a plugin without registered events
    fail_by(queue, "none")  # e.g. no nodes at all
    clock.step(5)
    assert queue.move_all("NodeLabelChange") == 2


def test_events_group_pods_so_each_event_touches_only_its_pods(queue, clock):
    for name in ("cpu-1", "cpu-2", "affinity"):
        queue.add(pod(name))
    fail_by(queue, "cpu-1", "NodeResourcesFit")
    fail_by(queue, "cpu-2", "NodeResourcesFit")
    fail_by(queue, "affinity", "NodeAffinity")
    clock.step(5)
    assert queue.move_all("AssignedPodDelete") == 2
    assert queue.where("default/affinity") == "unschedulable"
    queue.delete("default/affinity")  # leaves no empty group behind
    assert queue.pending()["unschedulable"] == 0 and queue._waiting_for == {}


def test_irrelevant_event_while_in_flight_does_not_send_the_failure_to_backoff(queue, clock):
    """moveRequestCycle per event: only an event that could have helped this pod counts."""
    queue.add(pod("p"))
    entry = queue.pop_nowait()
    cycle = queue.scheduling_cycle
    queue.move_all("NodeLabelChange")
    queue.add_unschedulable(entry, cycle, {}, ("NodeResourcesFit",))
    assert queue.where("default/p") == "unschedulable"
    queue.add(pod("q"))
    entry = queue.pop_nowait()
    cycle = queue.scheduling_cycle
    queue.move_all("NodeAllocatableIncrease")
    queue.add_unschedulable(entry, cycle, {}, ("NodeResourcesFit",))
    assert queue.where("default/q") == "backoff"


def test_flush_moves_overdue_pods_whatever_rejected_them(queue, clock):
    queue.add(pod("p"))
    fail_by(queue, "p", "NodeAffinity")
    clock.step(200)
    assert queue.move_all("AssignedPodDelete") == 0
    clock.step(101)  # 301 s: past podMaxInUnschedulablePodsDuration (5 min)
    assert queue.flush_unschedulable() == 1
    assert drain(queue) == ["p"]


def test_update_of_a_hinted_pod_still_retries_it(queue, clock):
    queue.add(pod("p"))
    fail_by(queue, "p", "NodeAffinity")
    clock.step(5)
    queue.update(pod("p"), pod("p", nodeSelector={"disk": "ssd"}))
    assert queue.where("default/p") == "active"


def test_unschedulable_flush_period_and_limit_are_upstreams():
    from pyk8s.scheduler import scheduler

    assert scheduler._UNSCHEDULABLE_FLUSH_PERIOD == 30.0  # flushUnschedulablePodsLeftover every 30 s
    assert SchedulingQueue().max_in_unschedulable == 300.0  # podMaxInUnschedulablePodsDuration 5 min


def node_obj(labels=None, taints=(), unschedulable=False, cpu="4", pods="110", heartbeat="t0"):
    return {"metadata": {"name": "n", "labels": {"kubernetes.io/hostname": "n", **(labels or {})}},
            "spec": {"taints": list(taints), "unschedulable": unschedulable},
            "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": pods},
                       "conditions": [{"type": "Ready", "lastHeartbeatTime": heartbeat}]}}


@pytest.mark.parametrize("old, new, events", [
    (node_obj(), node_obj(heartbeat="t1"), []),
    (node_obj(), node_obj(labels={"disk": "ssd"}), ["NodeLabelChange"]),
    (node_obj(), node_obj(taints=[{"key": "k", "value": "v", "effect": "NoSchedule"}]), ["NodeTaintChange"]),
    (node_obj(unschedulable=True), node_obj(), ["NodeTaintChange"]),  # uncordoned, as upstream
    (node_obj(), node_obj(unschedulable=True), []),  # cordoning helps no pod
    (node_obj(), node_obj(cpu="8"), ["NodeAllocatableIncrease"]),
    (node_obj(), node_obj(pods="111"), ["NodeAllocatableIncrease"]),
    (node_obj(cpu="8"), node_obj(cpu="4"), []),  # shrinking helps no pod
    (node_obj(), node_obj(labels={"a": "b"}, cpu="5"), ["NodeLabelChange", "NodeAllocatableIncrease"]),
])
def test_node_update_events(old, new, events):
    from pyk8s.scheduler._objects import parse_node
    from pyk8s.scheduler.queueing_hints import node_update_events

    assert node_update_events(parse_node(old), parse_node(new)) == events


def test_cancelling_pop_as_a_pod_arrives_stops_it():
    # The scheduling loop is stopped by cancelling its pop; a pod added in the same loop
    # turn must not swallow that (Python 3.11's wait_for returned the pod instead, and the
    # loop kept scheduling after the scheduler was stopped).
    async def scenario():
        queue = SchedulingQueue()
        popping = asyncio.create_task(queue.pop())
        await asyncio.sleep(0)  # the pop now waits for a wakeup
        queue.add(pod("arrives"))
        popping.cancel()
        with pytest.raises(asyncio.CancelledError):
            await popping

    asyncio.run(scenario())
