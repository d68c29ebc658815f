"""The informers' HTTP/1.1 GET (pyk8s.client._wire / _http): the response parser (llhttp
underneath) fed in every possible split, and the asyncio transport against scripted servers
(keep-alive reuse, a connection the server closed while idle, an answer without
Content-Length, a silent watch)."""

from __future__ import annotations

import asyncio

import pytest

from pyk8s.client import PODS, ApiClient, ClientConfig, TransportError
from pyk8s.client._http import ResponseParser
from pyk8s.client._wire import Endpoint


def feed_split(response: bytes, cuts: list[int]) -> ResponseParser:
    parser = ResponseParser()
    start = 0
    for cut in [*cuts, len(response)]:
        parser.feed(response[start:cut])
        start = cut
    return parser


CHUNKED = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5\r\nhello\r\n1;ext=1\r\n \r\n6\r\nworld\n\r\n0\r\nX-Trailer: t\r\n\r\n")


def test_chunked_body_in_every_two_piece_split():
    for cut in range(1, len(CHUNKED)):
        parser = feed_split(CHUNKED, [cut])
        assert parser.complete and parser.status == 200 and parser.keep_alive, cut
        assert parser.take() == b"hello world\n", cut
        assert parser.headers["content-type"] == "application/json"


def test_chunked_body_fed_byte_by_byte_hands_out_data_as_it_arrives():
    parser = ResponseParser()
    seen = b""
    for index in range(len(CHUNKED)):
        parser.feed(CHUNKED[index:index + 1])
        seen += parser.take()
        if index < len(CHUNKED) - 1:
            assert not parser.complete
    assert parser.complete and seen == b"hello world\n"


def test_content_length_interim_answer_and_connection_close():
    response = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 4\r\nConnection: close\r\n\r\n{}{}"
    for cut in range(1, len(response)):
        parser = feed_split(response, [cut])
        assert (parser.status, parser.take(), parser.complete, parser.keep_alive) == (404, b"{}{}", True, False)


def test_body_until_close_and_no_body_statuses():
    parser = ResponseParser()
    parser.feed(b"HTTP/1.0 200 OK\r\n\r\nab")
    parser.feed(b"cd")
    assert not parser.complete and not parser.keep_alive
    parser.eof()
    assert parser.complete and parser.take() == b"abcd"
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 204 No Content\r\n\r\n")
    assert parser.complete and parser.take() == b""
    truncated = ResponseParser()
    truncated.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    truncated.eof()
    assert not truncated.complete


@pytest.mark.parametrize("response", [
    b"SSH-2.0-OpenSSH\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY",
])
def test_malformed_responses_raise_value_error(response):
    with pytest.raises(ValueError):
        ResponseParser().feed(response)


def test_request_bytes_carry_headers_query_and_base_path():
    config = ClientConfig(server="http://example.test:8080/prefix", token="secret")
    request = Endpoint(config, "agent/1").get_request("/api/v1/pods", {"labelSelector": "app in (a,b)", "limit": "5"})
    head, _, rest = request.partition(b"\r\n")
    assert head == b"GET /prefix/api/v1/pods?labelSelector=app%20in%20%28a%2Cb%29&limit=5 HTTP/1.1"
    assert b"Host: example.test:8080\r\n" in rest and b"Authorization: Bearer secret\r\n" in rest
    assert b"User-Agent: agent/1\r\n" in rest and rest.endswith(b"\r\n\r\n")


# ---- the asyncio transport against scripted servers ------------------------------------------

LIST = b'{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"7"},"items":[]}'


async def scripted(handler):
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 10))


def test_lists_reuse_a_kept_alive_connection_and_retry_one_closed_while_idle():
    connections = []

    async def handler(reader, writer):
        connections.append(writer)
        answered = 0
        while True:
            try:
                await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(LIST), LIST))
            await writer.drain()
            answered += 1
            if len(connections) == 1 and answered == 2:
                writer.close()  # the server drops the idle connection after two answers
                return

    async def main():
        server, url = await scripted(handler)
        async with server, ApiClient(url) as client:
            for _ in range(3):
                assert (await client.list(PODS))["metadata"]["resourceVersion"] == "7"
                await asyncio.sleep(0.05)
            # Two answers on the first connection; the third list found it closed and
            # went out on a second one.
            assert len(connections) == 2

    run(main())


def test_list_answer_without_content_length_and_refused_list():
    async def handler(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + LIST[:20])
        await writer.drain()
        writer.write(LIST[20:])
        writer.close()

    async def main():
        server, url = await scripted(handler)
        async with server, ApiClient(url) as client:
            assert (await client.list(PODS))["kind"] == "PodList"
        async with ApiClient("http://127.0.0.1:1", connect_timeout=1) as client:
            with pytest.raises(TransportError):
                await client.list(PODS)

    run(main())


def test_a_silent_watch_times_out_as_a_transport_error():
    async def handler(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(5)  # then nothing: a half-open connection, as far as the client knows

    async def main():
        server, url = await scripted(handler)
        async with server, ApiClient(url) as client:
            stream = client.watch(PODS)
            stream._silence_timeout = 0.2  # the grace past timeoutSeconds, shortened
            with pytest.raises(TransportError, match="stream lost"):
                async for _event in stream:
                    pass

    run(main())
