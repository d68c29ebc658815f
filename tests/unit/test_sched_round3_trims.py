"""Per-pod trims of the scheduler's hot path must not change what it writes or reports: the
attempt counters read from the duration histograms, the pipelined request's cached
Content-Length line, an answer's body assembled from many llhttp pieces, the Scheduled
Event's body (its shared ``source``, the pod's identity taken from the correlation key), and
the profile's cached Python PreFilter list."""

from __future__ import annotations

import asyncio

import orjson

from schedhelpers import OfflineClient

from pyk8s.scheduler._pipeline import PipelinedWriter, _Connection
from pyk8s.scheduler.events import COMPONENT, EventRecorder
from pyk8s.scheduler.framework import Profile
from pyk8s.scheduler.metrics import SchedulerMetrics


def test_attempt_counters_are_the_counts_of_their_duration_histograms():
    metrics = SchedulerMetrics()
    observed = [("scheduled", "default-scheduler", 0.002)] * 3 + [("error", "default-scheduler", 0.5),
                                                                   ("unschedulable", "other", 20.0)]
    for result, profile, seconds in observed:
        metrics.observe_attempt(result, profile, seconds)
    assert metrics.attempts == {("scheduled", "default-scheduler"): 3, ("error", "default-scheduler"): 1,
                                ("unschedulable", "other"): 1}
    assert metrics.attempts_total("scheduled") == 3 and metrics.attempts_total("unschedulable", "other") == 1
    assert metrics.attempts_total("error", "other") == 0
    text = metrics.render()
    assert 'scheduler_schedule_attempts_total{profile="default-scheduler",result="scheduled"} 3' in text
    assert 'scheduler_scheduling_attempt_duration_seconds_count{profile="default-scheduler",result="scheduled"} 3' in text
    assert 'scheduler_schedule_attempts_total{profile="other",result="unschedulable"} 1' in text


def test_requests_carry_their_own_content_length_whatever_the_cache_holds():
    writer = PipelinedWriter(OfflineClient(), connections=1)
    for length in [0, 1, 9, 10, 99, 612, 70_000, 612, 0, *range(5000, 5000 + 4200, 7)]:
        body = b"x" * length
        request = writer._request("POST", "/api/v1/namespaces/a/events", body, "application/json")
        head, sep, rest = request.partition(b"\r\n\r\n")
        assert sep and rest == body
        assert head.endswith(b"\r\nContent-Length: %d" % length)


class _Transport:
    def write(self, data: bytes) -> None:
        pass


def test_an_answer_in_many_pieces_is_delivered_whole_and_the_next_starts_empty():
    pieces = [b"a", b"bc", b"", b"d" * 300, b"e"]
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces if p) + b"0\r\n\r\n"
    answers = (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + chunked
               + b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
               + b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}")
    expected = [(200, b"".join(pieces)), (201, b""), (404, b"{}")]

    async def run(step: int):
        connection = _Connection()
        connection.connection_made(_Transport())
        got = []
        for _ in expected:
            connection.waiting.append(lambda status, body, error: got.append((status, body)))
        for start in range(0, len(answers), step):
            connection.data_received(answers[start:start + step])
        return got

    for step in (1, 2, 5, 64, len(answers)):
        assert asyncio.run(run(step)) == expected, step


class _CapturingWriter:
    def __init__(self) -> None:
        self.sent: list[tuple] = []

    def send_to(self, callback, method, path, body, content_type="application/json"):
        self.sent.append((callback, method, path, body))


def test_scheduled_event_body_has_every_field_of_the_pod_it_is_about():
    async def run():
        writer = _CapturingWriter()
        recorder = EventRecorder(writer, instance="host_1")
        pods = [{"metadata": {"name": f"p{i}", "namespace": "ns", "uid": f"u{i}", "resourceVersion": str(10 + i)}}
                for i in range(2)]
        for pod in pods:
            meta = pod["metadata"]
            recorder.record(pod, "Normal", "Scheduled", f"Successfully assigned ns/{meta['name']} to n1", "Binding")
            recorder._write(recorder._pending.popleft())
        return writer.sent

    sent = asyncio.run(run())
    assert len(sent) == 2
    for i, (_callback, method, path, body) in enumerate(sent):
        assert (method, path) == ("POST", "/api/v1/namespaces/ns/events")
        event = orjson.loads(body)
        name = event["metadata"].pop("name")
        assert name.startswith(f"p{i}.") and int(name.split(".", 1)[1], 16) > 0
        now = event["firstTimestamp"]
        assert event == {
            "apiVersion": "v1", "kind": "Event", "metadata": {"namespace": "ns"},
            "involvedObject": {"apiVersion": "v1", "kind": "Pod", "namespace": "ns", "name": f"p{i}", "uid": f"u{i}",
                               "resourceVersion": str(10 + i)},
            "reason": "Scheduled", "message": f"Successfully assigned ns/p{i} to n1", "type": "Normal",
            "source": {"component": COMPONENT}, "reportingComponent": COMPONENT, "reportingInstance": "host_1",
            "action": "Binding", "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        }


class _Plugin:
    def __init__(self, name: str, native_kernel) -> None:
        self.NAME = name
        self.native_kernel = native_kernel


def test_python_pre_filters_are_the_pre_filters_without_a_kernel_read_once():
    native, custom = _Plugin("NodeResourcesFit", "NodeResourcesFit"), _Plugin("Custom", None)
    profile = Profile("p", plugins={"preFilter": [native, custom]})
    first = profile.python_pre_filters
    assert first == [custom] and profile.python_pre_filters is first
    assert Profile("q").python_pre_filters == []


class _Recorder:
    def __init__(self) -> None:
        self.recorded: list[tuple] = []

    def record(self, pod, event_type, reason, message, action) -> None:
        self.recorded.append((pod, event_type, reason, message, action))


def test_scheduled_pods_get_the_upstream_message_with_their_namespace_and_name():
    from pyk8s.scheduler._binding import BindPluginsCycle
    from pyk8s.scheduler.queue import SchedulingQueue

    class _Cycle(BindPluginsCycle):
        def __init__(self) -> None:
            self.metrics = SchedulerMetrics()
            self.queue = SchedulingQueue()
            self.events = _Recorder()

    async def run():
        cycle = _Cycle()
        for pod in ({"metadata": {"name": "web", "namespace": "shop"}}, {"metadata": {"name": "bare"}}):
            cycle.queue.add(pod)
            entry = cycle.queue.pop_nowait()
            cycle._scheduled(entry, "node-7", "default-scheduler", 0.0)
        return cycle

    cycle = asyncio.run(run())
    assert [r[1:] for r in cycle.events.recorded] == [
        ("Normal", "Scheduled", "Successfully assigned shop/web to node-7", "Binding"),
        ("Normal", "Scheduled", "Successfully assigned default/bare to node-7", "Binding"),
    ]
    assert not cycle.queue.entries and cycle.metrics.attempts_total("scheduled", "default-scheduler") == 2


def _template_pod(name: str, cpu: str, node: str = "") -> dict:
    spec = {"containers": [{"name": "c", "image": "nginx", "resources": {"requests": {"cpu": cpu}}}]}
    if node:
        spec["nodeName"] = node
    return {"metadata": {"name": name, "namespace": "ns", "labels": {"app": "web"}}, "spec": spec}


def test_the_last_template_shortcut_serves_only_what_the_dict_holds():
    from pyk8s.scheduler._objects import PodTemplates, parse_pod

    templates = PodTemplates(capacity=2)
    sequence = ["100m", "100m", "200m", "100m", "300m", "300m", "100m", "200m", "200m", "100m"]
    for i, cpu in enumerate(sequence):
        pod = _template_pod(f"p{i}", cpu, node="n1" if i % 3 == 0 else "")
        parsed = templates.parse_placed(pod) if i % 3 == 0 else templates.parse(pod)
        assert parsed.requests == parse_pod(pod).requests and parsed.key == f"ns/p{i}"
        if i % 3 == 0:
            assert parsed.node_name == "n1"
        # Whatever the shortcut answered is the dict's entry for that spec (evictions
        # included: capacity 2 clears the dict on the third distinct spec).
        last_key, last = templates._last
        assert templates._entries[last_key] is last is parsed.template
        assert len(templates._entries) <= 2
