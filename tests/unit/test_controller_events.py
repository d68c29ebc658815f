"""The controllers' EventRecorder as client-go's correlator: spam filter (25 per source and
object, then one per 5 minutes), aggregation of similar events, count bumps of repeats."""

from __future__ import annotations

import asyncio
import itertools

from pyk8s.controllers import EventRecorder


class FakeClient:
    def __init__(self) -> None:
        self.created: list[dict] = []
        self.patched: list[tuple[str, dict]] = []
        self.names = itertools.count()

    async def create(self, resource, body, namespace=None):
        await asyncio.sleep(0.001)  # a round trip, so concurrent writers overlap
        body = {**body, "metadata": {**body["metadata"], "name": f"e{next(self.names)}"}}
        self.created.append(body)
        return body

    async def patch(self, resource, name, patch, namespace=None, patch_type=None):
        self.patched.append((name, patch))
        return {}


RS = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web", "namespace": "d", "uid": "u1"}}


def drain(recorder: EventRecorder) -> None:
    async def run():
        task = asyncio.create_task(recorder.run())
        await recorder.flush()
        task.cancel()
    asyncio.run(run())


def test_spam_filter_allows_a_burst_of_25_then_one_per_five_minutes():
    client = FakeClient()
    recorder = EventRecorder(client, "kube-controller-manager", concurrency=1)
    clock = [1000.0]
    recorder.clock = lambda: clock[0]
    events = recorder.for_component("replicaset-controller")
    for i in range(100):
        events.event(RS, "Normal", "SuccessfulCreate", f"Created pod: web-{i}")
    assert recorder.dropped_as_spam == 75
    clock[0] += 300  # one token back
    events.event(RS, "Normal", "SuccessfulCreate", "Created pod: web-late")
    events.event(RS, "Normal", "SuccessfulCreate", "Created pod: web-later")
    assert recorder.dropped_as_spam == 76
    # Another object, or another source about the same object, has its own budget.
    other = {**RS, "metadata": {**RS["metadata"], "name": "api", "uid": "u2"}}
    events.event(other, "Normal", "SuccessfulCreate", "Created pod: api-0")
    recorder.event(RS, "Normal", "ScalingReplicaSet", "x", component="deployment-controller")
    assert recorder.dropped_as_spam == 76
    drain(recorder)
    sources = {e["source"]["component"] for e in client.created}
    assert sources == {"replicaset-controller", "deployment-controller"}


def test_similar_events_are_combined_after_ten_distinct_messages():
    client = FakeClient()
    # Several writers: the combined Event is still created once.
    recorder = EventRecorder(client, "kube-controller-manager", concurrency=4)
    for i in range(14):
        recorder.event(RS, "Normal", "SuccessfulCreate", f"Created pod: web-{i}")
    drain(recorder)
    messages = [e["message"] for e in client.created]
    combined = [m for m in messages if m.startswith("(combined")]
    assert sorted(m for m in messages if m not in combined) == sorted(f"Created pod: web-{i}" for i in range(10))
    assert combined == ["(combined from similar events): Created pod: web-10"]
    # The rest bumped the combined Event's count, carrying the latest message.
    assert [p[1]["count"] for p in client.patched] == [2, 3, 4]
    assert client.patched[-1][1]["message"] == "(combined from similar events): Created pod: web-13"
    assert {p[0] for p in client.patched} == {e["metadata"]["name"] for e in client.created if e["message"] in combined}


def test_repeated_event_bumps_the_count():
    client = FakeClient()
    recorder = EventRecorder(client, "c", concurrency=1)
    for _ in range(3):
        recorder.event(RS, "Warning", "FailedCreate", "Error creating: quota")
    drain(recorder)
    assert len(client.created) == 1 and [p[1]["count"] for p in client.patched] == [2, 3]


def test_controllers_flag_semantics_match_upstream():
    """IsControllerEnabled: '*' turns on every controller not named; the first mention of a
    name decides; aliases work; an unknown name is an error."""
    from pyk8s.controllers import CONTROLLERS, resolve_names

    assert resolve_names(["*"]) == list(CONTROLLERS)
    assert "job-controller" not in resolve_names(["*", "-job"])
    assert resolve_names(["replicaset", "-replicaset"]) == ["replicaset-controller"]
    assert resolve_names(["-replicaset-controller", "replicaset"]) == []
    assert resolve_names(["garbagecollector", "namespace"]) == ["garbage-collector-controller", "namespace-controller"]
    import pytest
    with pytest.raises(ValueError, match="not in the list of known controllers"):
        resolve_names(["no-such-controller"])
