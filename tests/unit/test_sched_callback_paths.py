"""The scheduler's callback fast paths must behave as the future-based paths they replace:
pipelined answers reach ``send_to`` callbacks in order (mixed with ``send`` futures), a lost
connection reaches them as the TransportError a future would hold, a failing callback does
not break the answers after it, a writer's requests of one loop turn leave in one write per
connection; the watch stream's line splitting gives the events ``bytes.split`` gave."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from pyk8s.client import ApiError, NotFound, TransportError
from pyk8s.client._rest import WatchStream
from schedhelpers import OfflineClient

from pyk8s.scheduler._pipeline import PipelinedWriter, _Connection, answer_of
from pyk8s.scheduler.queue import SchedulingQueue

ANSWERS = (b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 7\r\n\r\n{\"a\":1}"
           b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}"
           b"HTTP/1.1 100 Continue\r\n\r\n"
           b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
           b"HTTP/1.1 204 No Content\r\n\r\n")
EXPECTED = [(201, b'{"a":1}'), (404, b"{}"), (200, b"abcde"), (204, b"")]


class _Transport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True


def test_callbacks_and_futures_get_their_answers_in_order_however_the_reads_are_cut():
    async def run(reads):
        loop = asyncio.get_running_loop()
        connection = _Connection()
        connection.connection_made(_Transport())
        got: dict[int, tuple] = {}
        waiters = []
        for i in range(len(EXPECTED)):
            if i % 2:
                waiters.append(loop.create_future())
            else:
                waiters.append(lambda status, body, error, i=i: got.__setitem__(i, (status, body, error)))
        connection.waiting.extend(waiters)
        for read in reads:
            connection.data_received(read)
        return [got[i][:2] if i in got and got[i][2] is None else waiters[i].result() if i % 2 else None
                for i in range(len(EXPECTED))]

    for cut in range(0, len(ANSWERS) + 1, 3):
        reads = [ANSWERS[:cut], ANSWERS[cut:]]
        assert asyncio.run(run(reads)) == EXPECTED, cut


def test_a_lost_connection_fails_callbacks_as_it_fails_futures():
    async def run():
        loop = asyncio.get_running_loop()
        connection = _Connection()
        connection.connection_made(_Transport())
        errors = []
        future = loop.create_future()
        connection.waiting.extend([lambda status, body, error: errors.append((status, error)), future])
        connection.connection_lost(ConnectionResetError("gone"))
        return errors, future

    errors, future = asyncio.run(run())
    assert len(errors) == 1 and errors[0][0] == 0 and isinstance(errors[0][1], TransportError)
    with pytest.raises(TransportError):
        future.result()
    with pytest.raises(TransportError):
        answer_of(0, b"", errors[0][1])


def test_a_failing_callback_is_reported_and_later_answers_still_arrive():
    reported = []

    async def run():
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, context: reported.append(context["exception"]))
        connection = _Connection()
        connection.connection_made(_Transport())
        got = []

        def broken(status, body, error):
            raise RuntimeError("handler bug")

        connection.waiting.extend([broken, lambda status, body, error: got.append((status, body))])
        connection.data_received(ANSWERS[: ANSWERS.index(b"HTTP/1.1 100")])
        return got, connection

    got, connection = asyncio.run(run())
    assert got == [(404, b"{}")] and not connection.closed
    assert len(reported) == 1 and isinstance(reported[0], RuntimeError)


def test_answer_of_raises_what_answer_raises():
    assert answer_of(201, b"{}", None) == b"{}"
    with pytest.raises(NotFound):
        answer_of(404, orjson.dumps({"kind": "Status", "code": 404, "reason": "NotFound", "message": "x"}), None)
    with pytest.raises(ApiError):
        answer_of(500, b"oops", None)


def test_send_to_writes_a_turns_requests_in_one_write_per_connection():
    async def run():
        writer = PipelinedWriter(OfflineClient(), connections=2)
        writer._loop = asyncio.get_running_loop()
        transports = []
        for index in range(2):
            connection = _Connection()
            transports.append(_Transport())
            connection.connection_made(transports[-1])
            writer._slots[index] = connection
        got = []
        for i in range(5):
            writer.send_to(lambda status, body, error, i=i: got.append((i, status)), "POST", f"/p/{i}", b"{}")
        future = writer.send("PATCH", "/q", b"[]", "application/merge-patch+json")
        await asyncio.sleep(0)
        writes = [list(t.writes) for t in transports]
        for index, connection in enumerate(writer._slots):
            n = len(connection.waiting)
            connection.data_received(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n" * n)
        await asyncio.sleep(0)
        return writes, got, future.result()

    writes, got, patched = asyncio.run(run())
    assert [len(w) for w in writes] == [1, 1]
    first, second = writes[0][0], writes[1][0]
    assert first.count(b"HTTP/1.1\r\n") == 3 and second.count(b"HTTP/1.1\r\n") == 3
    assert first.startswith(b"POST /p/0 HTTP/1.1\r\nHost: 127.0.0.1:9\r\n")
    assert b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}" in first
    assert b"PATCH /q HTTP/1.1\r\n" in second and b"Content-Type: application/merge-patch+json\r\nContent-Length: 2\r\n\r\n[]" in second
    assert sorted(got) == [(i, 201) for i in range(5)] and patched == (201, b"")


def test_send_to_on_a_connection_that_cannot_open_fails_the_callback():
    async def run():
        writer = PipelinedWriter(OfflineClient(), connections=1)

        async def refuse():
            raise TransportError("connect refused")

        writer._open = refuse
        done = asyncio.get_running_loop().create_future()
        writer.send_to(lambda status, body, error: done.set_result((status, error)), "POST", "/p", b"{}")
        return await done

    status, error = asyncio.run(run())
    assert status == 0 and isinstance(error, TransportError)


class _ScriptedResponse:
    def __init__(self, reads):
        self.reads = list(reads)

    async def read_any(self):
        return self.reads.pop(0) if self.reads else b""

    def close(self):
        pass


def _events(reads):
    stream = WatchStream(None, "/api/v1/pods", {}, 1.0)
    stream._response = _ScriptedResponse(reads)

    async def collect():
        return [event async for batch in stream.batches() for event in batch]

    return asyncio.run(collect())


def test_watch_lines_found_by_find_match_a_split_of_the_stream():
    lines = [b'{"type":"ADDED","object":{"metadata":{"name":"a%d"}}}' % i for i in range(4)]
    data = lines[0] + b"\n\r\n \t \n" + lines[1] + b"\n" + b" " + lines[2] + b" \r\n\n" + lines[3] + b"\n"
    expected = [("ADDED", {"metadata": {"name": f"a{i}"}}) for i in range(4)]
    for cut in range(1, len(data)):
        assert _events([data[:cut], data[cut:]]) == expected, cut
    with pytest.raises(TransportError, match="malformed event line"):
        _events([lines[0] + b"\nnot json\n"])
    with pytest.raises(TransportError, match="malformed event line"):
        _events([b'\n{"object":{}}\n'])


def test_the_queue_wakes_a_waiting_pop_for_an_add_and_for_a_backoff():
    async def run():
        queue = SchedulingQueue(initial_backoff=0.05, max_backoff=0.05)
        waiting = asyncio.create_task(queue.pop(idle_wait=30.0))
        await asyncio.sleep(0.01)
        assert queue._popping
        queue.add({"metadata": {"name": "a", "namespace": "n"}, "spec": {"priority": 3}})
        first = await asyncio.wait_for(waiting, 1.0)
        assert not queue._popping
        waiting = asyncio.create_task(queue.pop(idle_wait=30.0))
        await asyncio.sleep(0.01)
        queue.add_backoff(first)  # the wait shrinks to the back-off's expiry
        again = await asyncio.wait_for(waiting, 1.0)
        return first, again

    first, again = asyncio.run(run())
    assert first.key == "n/a" and again is first and again.attempts == 2
