"""The informers' GETs over HTTPS (the client's own connections: ``list``, ``watch``, and the
prefetched lists of ListPrefetch) with a kubeconfig's cluster CA, client certificate and
bearer token, against a local TLS server that requires a client certificate; a server the
CA does not vouch for is refused."""

from __future__ import annotations

import asyncio
import base64

import orjson
import pytest
import yaml

from pyk8s.client import NAMESPACES, ApiClient, TransportError, load_kubeconfig
from pyk8s.client._prefetch import ListPrefetch

from pkihelpers import make_pki, read_request, server_context



@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("get-pki"))


async def tls_server(pki):
    """A list answer (or, for ?watch=true, one event) carrying the request's Authorization
    header and the client certificate's CN."""
    context = server_context(pki)

    async def handle(reader, writer):
        request = await read_request(reader, writer)
        if request is None:
            return
        request_line, headers, common_name = request
        seen = {"authorization": headers.get("Authorization"), "cn": common_name}
        if "watch=true" in request_line:
            line = orjson.dumps({"type": "ADDED", "object": {"metadata": {"name": "x", "resourceVersion": "2"}, "seen": seen}}) + b"\n"
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(line), line))
        else:
            body = orjson.dumps({"kind": "NamespaceList", "metadata": {"resourceVersion": "1"}, "items": [], "seen": seen})
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    return server, server.sockets[0].getsockname()[1]


def kubeconfig(tmp_path, port, pki, cluster: dict) -> str:
    document = {
        "current-context": "tls",
        "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{port}", **cluster}}],
        "users": [{"name": "u", "user": {
            "token": "t0ken",
            "client-certificate-data": base64.b64encode((pki / "client.crt").read_bytes()).decode(),
            "client-key-data": base64.b64encode((pki / "client.key").read_bytes()).decode(),
        }}],
        "contexts": [{"name": "tls", "context": {"cluster": "c", "user": "u"}}],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(document))
    return str(path)


EXPECTED = {"authorization": "Bearer t0ken", "cn": "admin"}


def test_list_watch_and_prefetch_over_tls(pki, tmp_path):
    async def main():
        server, port = await tls_server(pki)
        async with server:
            ca_data = base64.b64encode((pki / "ca.crt").read_bytes()).decode()
            path = kubeconfig(tmp_path, port, pki, {"certificate-authority-data": ca_data})
            prefetch = ListPrefetch(load_kubeconfig(path), [NAMESPACES])
            assert (await prefetch.take(NAMESPACES)())["seen"] == EXPECTED
            async with ApiClient.from_kubeconfig(path) as client:
                assert (await client.list(NAMESPACES))["seen"] == EXPECTED
                assert (await client.list(NAMESPACES))["seen"] == EXPECTED  # again, after the server closed
                async with client.watch(NAMESPACES) as stream:
                    events = [(kind, obj["seen"]) async for kind, obj in stream]
                assert events == [("ADDED", EXPECTED)]

    asyncio.run(asyncio.wait_for(main(), 10))


def test_a_server_the_ca_does_not_vouch_for_is_refused(pki, tmp_path):
    async def main():
        server, port = await tls_server(pki)
        async with server:
            path = kubeconfig(tmp_path, port, pki, {})  # the system's CAs: not this test CA
            with pytest.raises(TransportError, match="(?i)certificate"):
                await ListPrefetch(load_kubeconfig(path), [NAMESPACES]).take(NAMESPACES)()
            async with ApiClient.from_kubeconfig(path) as client:
                with pytest.raises(TransportError, match="(?i)certificate"):
                    await client.list(NAMESPACES)
                with pytest.raises(TransportError, match="(?i)certificate"):
                    async with client.watch(NAMESPACES):
                        pass

    asyncio.run(asyncio.wait_for(main(), 20))
