"""A throwaway PKI for TLS tests: a CA, a server certificate for 127.0.0.1 and a client
certificate (CN admin, O system:masters), all signed by the CA, made with the openssl CLI."""

from __future__ import annotations

import pathlib
import shutil
import ssl
import subprocess

import pytest


def openssl(*args: str, cwd) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(d: pathlib.Path) -> pathlib.Path:
    """ca.crt/key, server.crt/key and client.crt/key in ``d``; returns ``d``."""
    if shutil.which("openssl") is None:
        pytest.fail("the openssl CLI is needed (.ci/run installs it)")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key",
            "-out", "ca.crt", "-days", "1", "-subj", "/CN=test-ca", cwd=d)
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for name, subject in (("server", "/CN=127.0.0.1"), ("client", "/CN=admin/O=system:masters")):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", f"{name}.key",
                "-out", f"{name}.csr", "-subj", subject, cwd=d)
        extra = ["-extfile", "san.ext"] if name == "server" else []
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.crt", "-days", "1", *extra, cwd=d)
    return d


def server_context(pki: pathlib.Path) -> ssl.SSLContext:
    """The server side: its certificate, and client certificates required (signed by the CA)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki / "ca.crt"))
    context.load_cert_chain(str(pki / "server.crt"), str(pki / "server.key"))
    context.verify_mode = ssl.CERT_REQUIRED
    return context


async def read_request(reader, writer) -> tuple[str, dict[str, str], str] | None:
    """A TLS test server's view of one request: (request line, headers, the client
    certificate's CN), or None when the client went away first."""
    import asyncio

    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()
        return None
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    peer = writer.get_extra_info("peercert") or {}
    return lines[0], headers, dict(x[0] for x in peer.get("subject", ()))["commonName"]
