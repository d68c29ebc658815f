"""The hot paths a watch event and a pipelined answer take: the informers' response parser
(llhttp through httptools) fed every split of known answers, WatchStream's line splitting
over reads cut anywhere, the Indexer's inline namespace index, and the pipelined writer's
answers read in order however the reads cut them."""

from __future__ import annotations

import asyncio
import random

import pytest

from pyk8s.client import Indexer, TransportError, field_index
from pyk8s.client._http import ResponseParser
from pyk8s.client._rest import WatchStream
from pyk8s.scheduler._pipeline import _Connection


def chunked_response(chunks: list[bytes], trailer: bytes = b"", head_extra: bytes = b"", finish: bool = True,
                     version: bytes = b"1.1") -> bytes:
    out = b"HTTP/" + version + b" 200 OK\r\nTransfer-Encoding: chunked\r\n" + head_extra + b"\r\n"
    for index, chunk in enumerate(chunks):
        extension = b";a=b" if index % 3 == 1 else b""
        out += b"%x%s\r\n" % (len(chunk), extension) + chunk + b"\r\n"
    if finish:
        out += b"0\r\n" + trailer + b"\r\n"
    return out


def feed_cut(response: bytes, cuts: list[int]) -> ResponseParser:
    parser = ResponseParser()
    start = 0
    for cut in [*sorted(cuts), len(response)]:
        parser.feed(response[start:cut])
        start = cut
    return parser


CHUNKS = [b'{"a":1}\n', b"x" * 300, b"\n", b"tail"]


@pytest.mark.parametrize(("response", "expected"), [
    # (body, complete, keep-alive)
    (chunked_response(CHUNKS), (b"".join(CHUNKS), True, True)),
    (chunked_response([b"A" * 17, b"b"], trailer=b"X-One: 1\r\nX-Two: 2\r\n"), (b"A" * 17 + b"b", True, True)),
    (chunked_response([b"keep"], head_extra=b"Connection: keep-alive, close\r\n"), (b"keep", True, False)),
    (chunked_response([b"old"], version=b"1.0"), (b"old", True, False)),
    (chunked_response([b"cut short", b"more"], finish=False), (b"cut shortmore", False, False)),
    (chunked_response([]), (b"", True, True)),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", (b"hello", True, True)),
    (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", (b"ok", True, True)),
    (b"HTTP/1.1 204 No Content\r\n\r\n", (b"", True, True)),
])
def test_bodies_are_framed_the_same_in_every_split(response, expected):
    rng = random.Random(7)
    splits = [[cut] for cut in range(1, len(response))] + [sorted(rng.sample(range(1, len(response)), 3)) for _ in range(50)]
    for cuts in splits:
        parser = feed_cut(response, cuts)
        assert (parser.take(), parser.complete, parser.keep_alive) == expected, cuts
        assert parser.status in (200, 204)


def test_the_head_gives_status_and_lower_case_headers():
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 410 Gone\r\nContent-Type: application/json\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 2\r\n\r\n")
    assert parser.head_received and parser.status == 410
    assert parser.headers == {"content-type": "application/json", "x-a": "1, 2", "content-length": "2"}
    assert not parser.complete
    parser.feed(b"{}")
    assert parser.complete and parser.take() == b"{}"


def test_chunked_body_takes_what_arrives_and_ignores_what_follows_it():
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n01234")
    assert parser.take() == b"01234" and not parser.complete
    parser.feed(b"56789\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n")
    assert parser.take() == b"56789" and parser.complete and parser.keep_alive
    parser.feed(b"garbage that is not HTTP\r\n\r\n")
    assert parser.take() == b"" and parser.status == 200
    parser.eof()
    assert parser.complete and not parser.keep_alive


def test_a_body_without_framing_ends_with_the_connection():
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\npart one, ")
    parser.feed(b"part two")
    assert not parser.complete
    parser.eof()
    assert parser.complete and not parser.keep_alive and parser.take() == b"part one, part two"


@pytest.mark.parametrize("body", [
    b"zz\r\n", b"2\r\nabXY", b"1_0\r\n", b" 5\r\nhello\r\n", b"+5\r\nhello\r\n", b"123456789012345678901\r\n",
    b"0\r\nnot a header\r\n\r\n",
])
def test_malformed_chunks_raise_value_error(body):
    response = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    parser = ResponseParser()
    with pytest.raises(ValueError):
        parser.feed(response)
    with pytest.raises(ValueError):  # and stays failed
        parser.feed(b"0\r\n\r\n")
    assert not parser.complete


@pytest.mark.parametrize("response", [b"not http at all\r\n\r\n", b"HTTP/1.1 abc OK\r\n\r\n",
                                      b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"])
def test_malformed_heads_raise_value_error(response):
    with pytest.raises(ValueError):
        ResponseParser().feed(response)


def test_an_endless_head_is_refused():
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 200 OK\r\n")
    with pytest.raises(ValueError):
        for _ in range(300):
            parser.feed(b"X-Filler: " + b"y" * 4000 + b"\r\n")


def test_a_connection_ending_mid_body_leaves_it_incomplete():
    parser = ResponseParser()
    parser.feed(chunked_response([b"abc"], finish=False))
    parser.eof()
    assert not parser.complete and not parser.keep_alive and parser.take() == b"abc"
    sized = ResponseParser()
    sized.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    sized.eof()
    assert not sized.complete


class _ScriptedResponse:
    def __init__(self, reads: list[bytes]) -> None:
        self.reads = list(reads)

    async def read_any(self) -> bytes:
        return self.reads.pop(0) if self.reads else b""

    def close(self) -> None:
        pass


def stream_events(reads: list[bytes]) -> list[list[tuple[str, dict]]]:
    stream = WatchStream(None, "/api/v1/pods", {}, 1.0)
    stream._response = _ScriptedResponse(reads)

    async def collect():
        return [batch async for batch in stream.batches()]

    return asyncio.run(collect())


def test_watch_lines_cut_by_reads_anywhere_give_the_same_events():
    lines = [b'{"type":"ADDED","object":{"metadata":{"name":"a%d"}}}' % i for i in range(6)]
    data = b"\n".join(lines[:3]) + b"\n  \n\n" + b"\n".join(lines[3:]) + b"\n"
    expected = [("ADDED", {"metadata": {"name": f"a{i}"}}) for i in range(6)]
    rng = random.Random(3)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(data)), rng.randint(1, 12)))
        reads = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]
        batches = stream_events(reads)
        assert [event for batch in batches for event in batch] == expected, cuts
        assert all(batches)
    # A last line without its line end is still an event when the stream ends.
    assert stream_events([lines[0] + b"\n" + lines[1][:9], lines[1][9:]]) == [[expected[0]], [expected[1]]]


def test_indexer_upsert_keeps_every_index_as_a_rebuild_would():
    indexer = Indexer({"node": field_index("spec.nodeName")})
    rng = random.Random(5)
    for step in range(400):
        namespace = rng.choice(["one", "two", ""])
        name = f"p{rng.randrange(20)}"
        obj = {"metadata": {"name": name, "namespace": namespace, "resourceVersion": str(step)},
               "spec": {"nodeName": rng.choice(["", "n1", "n2"])}}
        if rng.random() < 0.2:
            indexer.remove(f"{namespace}/{name}" if namespace else name)
        else:
            indexer.upsert(obj)
        rebuilt = Indexer({"node": field_index("spec.nodeName")})
        rebuilt.replace(indexer.list())
        for index in ("namespace", "node"):
            assert {v: indexer.index_keys(index, v) for v in indexer.index_values(index)} == \
                {v: rebuilt.index_keys(index, v) for v in rebuilt.index_values(index)}, step


class _Transport:
    def write(self, data: bytes) -> None:
        pass


def test_pipelined_answers_cut_anywhere_resolve_their_futures_in_order():
    answers = (b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 7\r\n\r\n{\"a\":1}"
               b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}"
               b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
               b"HTTP/1.1 204 No Content\r\n\r\n")
    expected = [(201, b'{"a":1}'), (404, b"{}"), (200, b"abc"), (204, b"")]

    async def run(reads):
        loop = asyncio.get_running_loop()
        connection = _Connection()
        connection.connection_made(_Transport())
        futures = [loop.create_future() for _ in expected]
        connection.waiting.extend(futures)
        for read in reads:
            connection.data_received(read)
        return [f.result() if f.done() else None for f in futures]

    for cut in range(0, len(answers) + 1):
        for second in (cut, min(len(answers), cut + 40)):
            reads = [answers[:cut], answers[cut:second], answers[second:]]
            assert asyncio.run(run(reads)) == expected, (cut, second)


class _ClosingTransport:
    def __init__(self, connection) -> None:
        self.connection = connection
        self.closed = False

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def test_a_malformed_answer_fails_the_waiting_requests_and_closes_the_connection():
    async def run():
        loop = asyncio.get_running_loop()
        connection = _Connection()
        transport = _ClosingTransport(connection)
        connection.connection_made(transport)
        futures = [loop.create_future() for _ in range(3)]
        connection.waiting.extend(futures)
        connection.data_received(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}HTTP/1.1 2x0 Bad\r\n\r\n")
        return futures, transport, connection

    futures, transport, connection = asyncio.run(run())
    assert futures[0].result() == (201, b"{}")
    for future in futures[1:]:
        with pytest.raises(TransportError):
            future.result()
    assert transport.closed and connection.closed
