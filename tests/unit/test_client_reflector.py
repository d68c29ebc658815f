"""The reflector's control flow against a scripted fake client: list then watch, resource
versions, re-list on 410 and on failures, back-off growth and reset, very short watches."""

from __future__ import annotations

import asyncio

import pytest

from pyk8s.client import PODS, Backoff, Expired, Reflector, TransportError


class FakeStream:
    def __init__(self, events, error=None, hang=False):
        self.events = events
        self.error = error
        self.hang = hang

    async def __aenter__(self):
        if isinstance(self.error, Exception) and not self.events:
            raise self.error
        return self

    async def __aexit__(self, *exc):
        return None

    async def _iterate(self):
        for event in self.events:
            await asyncio.sleep(0)
            yield event
        if self.hang:
            await asyncio.Event().wait()
        if self.error is not None:
            raise self.error

    def __aiter__(self):
        return self._iterate()

    async def batches(self):  # WatchStream.batches: here one event per read
        async for event in self._iterate():
            yield [event]


class FakeClient:
    """Answers list_all and watch from two scripts; records what was asked."""

    def __init__(self, lists, watches):
        self.lists = list(lists)
        self.watches = list(watches)
        self.watch_calls = []
        self.exhausted = asyncio.Event()

    async def list_all(self, resource, page_size=None, **kwargs):
        if not self.lists:
            self.exhausted.set()
            await asyncio.Event().wait()
        answer = self.lists.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def watch(self, resource, **kwargs):
        self.watch_calls.append(kwargs)
        if not self.watches:
            self.exhausted.set()
            return FakeStream([], hang=True)  # the test ends here
        return self.watches.pop(0)


def pod_list(rv, *names):
    return {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": rv},
            "items": [{"metadata": {"name": n, "namespace": "ns", "resourceVersion": rv}} for n in names]}


def event(kind, name, rv):
    return (kind, {"metadata": {"name": name, "namespace": "ns", "resourceVersion": rv}})


def bookmark(rv):
    return ("BOOKMARK", {"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": rv}})


def expired_event():
    return ("ERROR", {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"})


class RecordingBackoff(Backoff):
    def __init__(self):
        super().__init__(initial=0.001, cap=0.004, jitter=0.0)
        self.delays = []

    def next_delay(self):
        delay = super().next_delay()
        self.delays.append(delay)
        return delay


def drive(client, watch_timeout_seconds=60):
    replaced, applied = [], []
    backoff = RecordingBackoff()
    reflector = Reflector(
        client, PODS, lambda objs, rv: replaced.append(([o["metadata"]["name"] for o in objs], rv, objs)),
        lambda t, o: applied.append((t, o["metadata"]["name"], o["metadata"]["resourceVersion"])),
        backoff=backoff, watch_timeout_seconds=watch_timeout_seconds,
    )

    async def main():
        task = asyncio.create_task(reflector.run())
        await asyncio.wait_for(client.exhausted.wait(), 5)
        await asyncio.sleep(0.01)
        assert not task.done()  # the reflector never gives up on its own
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())
    return reflector, replaced, applied, backoff


def test_backoff_doubles_with_jitter_and_caps():
    backoff = Backoff(initial=0.8, cap=30.0, rng=lambda: 0.5)
    # base 0.8 * 2**n, times 1 + 0.5 jitter: 1.2, 2.4, 4.8, 9.6, 19.2, then 30 (cap)
    assert [round(backoff.next_delay(), 6) for _ in range(7)] == [1.2, 2.4, 4.8, 9.6, 19.2, 30.0, 30.0]
    backoff.reset()
    assert backoff.next_delay() == pytest.approx(1.2)


def test_watch_resumes_from_the_last_event_or_bookmark():
    client = FakeClient(
        [pod_list("10", "a")],
        [
            FakeStream([event("MODIFIED", "a", "11"), bookmark("15")]),  # ends cleanly: re-watch
            FakeStream([event("ADDED", "b", "16")]),
        ],
    )
    reflector, replaced, applied, backoff = drive(client)
    assert replaced[0][:2] == (["a"], "10")
    assert replaced[0][2][0]["kind"] == "Pod"  # list items get their kind
    assert applied == [("MODIFIED", "a", "11"), ("ADDED", "b", "16")]
    assert [c["resource_version"] for c in client.watch_calls[:3]] == ["10", "15", "16"]
    assert all(c["allow_watch_bookmarks"] for c in client.watch_calls)
    assert reflector.lists == 1 and backoff.delays == []


def test_410_relists_at_once_and_a_run_of_them_backs_off():
    client = FakeClient(
        [pod_list("10", "a"), pod_list("20", "a"), pod_list("30", "a"), pod_list("40", "a")],
        [FakeStream([expired_event()]), FakeStream([expired_event()]), FakeStream([], Expired({"code": 410}))],
    )
    reflector, replaced, _, backoff = drive(client)
    assert [rv for _, rv, _ in replaced] == ["10", "20", "30", "40"]
    # First 410: no wait; the second and third: 2 ms, 4 ms (0.001 * 2**1, 2**2).
    assert backoff.delays == pytest.approx([0.002, 0.004])
    assert isinstance(reflector.last_error, Expired)


def test_failures_back_off_and_streaming_resets_it():
    client = FakeClient(
        [TransportError("refused"), TransportError("refused"), pod_list("10"), pod_list("20")],
        [
            FakeStream([event("ADDED", "a", "11")], TransportError("reset")),  # dropped: re-list
            FakeStream([]),  # ends at once with nothing: a very short watch, a failure
        ],
    )
    reflector, replaced, applied, backoff = drive(client)
    # refused, refused (1 ms, 2 ms); the stream delivered, so the drop starts again at 1 ms;
    # the very short watch then waits 2 ms.
    assert backoff.delays == pytest.approx([0.001, 0.002, 0.001, 0.002])
    assert [rv for _, rv, _ in replaced] == ["10", "20"]
    assert applied == [("ADDED", "a", "11")]
    assert "very short watch" in str(reflector.last_error)


def test_expired_continue_token_falls_back_to_one_unpaged_list():
    class PagingClient(FakeClient):
        async def list_all(self, resource, page_size=None, **kwargs):
            if page_size:
                raise Expired({"code": 410, "reason": "Expired"})
            return await super().list_all(resource, **kwargs)

    client = PagingClient([pod_list("10", "a", "b")], [])
    reflector, replaced, _, backoff = drive(client)
    assert replaced[0][:2] == (["a", "b"], "10")
    assert backoff.delays == []
