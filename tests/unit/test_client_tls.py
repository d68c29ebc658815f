"""HTTPS from a kubeconfig: the cluster CA (file and inline data), client certificates from
inline data, the bearer token, and insecure-skip-tls-verify, against a local TLS server that
requires a client certificate."""

from __future__ import annotations

import asyncio
import base64
import shutil

import orjson
import pytest
import yaml

from pyk8s.client import NAMESPACES, ApiClient, TransportError

from pkihelpers import make_pki, read_request, server_context

# Certificates are made with the openssl CLI, which .ci/run installs when it is missing.



@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


async def tls_server(pki):
    """Answers every request with its Authorization header and the client certificate's CN."""
    context = server_context(pki)

    async def handle(reader, writer):
        request = await read_request(reader, writer)
        if request is None:
            return
        _request_line, headers, common_name = request
        body = orjson.dumps({"authorization": headers.get("Authorization"), "cn": common_name})
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    return server, server.sockets[0].getsockname()[1]


def kubeconfig(tmp_path, port, cluster: dict) -> str:
    document = {
        "current-context": "tls",
        "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{port}", **cluster}}],
        "users": [{"name": "u", "user": {"token": "t0ken"}}],
        "contexts": [{"name": "tls", "context": {"cluster": "c", "user": "u"}}],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(document))
    return str(path)


def with_client_cert(path: str, pki) -> str:
    document = yaml.safe_load(open(path))
    document["users"][0]["user"].update({
        "client-certificate-data": base64.b64encode((pki / "client.crt").read_bytes()).decode(),
        "client-key-data": base64.b64encode((pki / "client.key").read_bytes()).decode(),
    })
    open(path, "w").write(yaml.safe_dump(document))
    return path


def test_ca_data_client_cert_data_and_token(pki, tmp_path):
    async def main():
        server, port = await tls_server(pki)
        async with server:
            ca_data = base64.b64encode((pki / "ca.crt").read_bytes()).decode()
            path = with_client_cert(kubeconfig(tmp_path, port, {"certificate-authority-data": ca_data}), pki)
            async with ApiClient.from_kubeconfig(path) as client:
                answer = await client.request("GET", NAMESPACES.path())
            assert answer == {"authorization": "Bearer t0ken", "cn": "admin"}

    asyncio.run(asyncio.wait_for(main(), 10))


def test_ca_file_relative_to_the_kubeconfig(pki, tmp_path):
    async def main():
        server, port = await tls_server(pki)
        async with server:
            shutil.copy(pki / "ca.crt", tmp_path / "ca.crt")
            path = with_client_cert(kubeconfig(tmp_path, port, {"certificate-authority": "ca.crt"}), pki)
            async with ApiClient.from_kubeconfig(path) as client:
                assert (await client.request("GET", "/"))["cn"] == "admin"

    asyncio.run(asyncio.wait_for(main(), 10))


def test_unknown_ca_is_refused_unless_verification_is_skipped(pki, tmp_path):
    async def main():
        server, port = await tls_server(pki)
        async with server:
            path = with_client_cert(kubeconfig(tmp_path, port, {}), pki)
            async with ApiClient.from_kubeconfig(path) as client:
                with pytest.raises(TransportError, match="(?i)certificate"):
                    await client.request("GET", "/")
            path = with_client_cert(kubeconfig(tmp_path, port, {"insecure-skip-tls-verify": True}), pki)
            async with ApiClient.from_kubeconfig(path) as client:
                assert (await client.request("GET", "/"))["authorization"] == "Bearer t0ken"

    asyncio.run(asyncio.wait_for(main(), 10))
