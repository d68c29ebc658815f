"""aiohttp's two default SSL contexts, when pyk8s.client imports aiohttp, read the system's
CA bundle at their first handshake instead of at import: an https request through them
still verifies against the bundle (here $SSL_CERT_FILE, which set_default_verify_paths
honours), and a server the bundle does not vouch for is still refused."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pkihelpers import make_pki

# A fresh interpreter: aiohttp must not have been imported before pyk8s.client imports it
# (at the first verb that needs it, as here).
CHECK = r'''
import asyncio, ssl, sys
from pyk8s.client._rest import _import_aiohttp
aiohttp = _import_aiohttp()
import aiohttp.connector as connector

async def main(pki):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(f"{pki}/server.crt", f"{pki}/server.key")

    async def handle(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    deferred = connector._SSL_CONTEXT_VERIFIED._default_certs_pending
    async with aiohttp.ClientSession() as session:
        try:
            async with session.get(f"https://127.0.0.1:{port}/") as response:
                outcome = str(response.status)
        except aiohttp.ClientConnectorCertificateError:
            outcome = "refused"
    server.close()
    print(deferred, outcome, connector._SSL_CONTEXT_VERIFIED._default_certs_pending)

asyncio.run(main(sys.argv[1]))
'''



@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("deferred-pki"))


def run_check(pki, env_extra: dict[str, str]) -> list[str]:
    env = {key: value for key, value in os.environ.items() if key not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    result = subprocess.run([sys.executable, "-c", CHECK, str(pki)], env={**env, **env_extra},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_default_context_loads_the_bundle_at_first_handshake(pki):
    assert run_check(pki, {"SSL_CERT_FILE": str(pki / "ca.crt")}) == ["True", "200", "False"]


def test_default_context_still_refuses_an_unknown_ca(pki):
    assert run_check(pki, {"SSL_CERT_FILE": str(pki / "missing.crt"), "SSL_CERT_DIR": str(pki)}) == ["True", "refused", "False"]
