"""A live API server in a subprocess, for tests and Python users.

    with run_apiserver(storage="reference") as server:
        requests.get(f"{server.url}/api/v1/pods")

In a conftest.py, ``apiserver = apiserver_fixture()`` gives tests an ``apiserver`` fixture.

The server is the real ``pyk8s-apiserver`` (same granian worker, same signals), started on a
free loopback port; ``start`` returns once ``/readyz`` answers, typically in a few hundred
milliseconds.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Iterator

__all__ = ["APIServerProcess", "run_apiserver", "apiserver_fixture", "free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class APIServerProcess:
    def __init__(
        self,
        storage: str = "reference",
        port: int | None = None,
        host: str = "127.0.0.1",
        extra_args: tuple[str, ...] = (),
        startup_timeout: float = 15.0,
    ) -> None:
        self.storage = storage
        self.host = host
        self.port = port
        self.extra_args = extra_args
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "APIServerProcess":
        # A free port can be taken between probing and binding: retry with another.
        fixed_port = self.port is not None
        for _attempt in range(1 if fixed_port else 5):
            if not fixed_port:
                self.port = free_port(self.host)
            self.process = subprocess.Popen(
                [
                    sys.executable, "-P", "-m", "pyk8s.cli.apiserver", str(self.port),
                    "--bind-address", self.host, "--storage", self.storage, *self.extra_args,
                ],
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
            if self._wait_ready():
                return self
            self.stop()
        raise RuntimeError(f"pyk8s-apiserver did not become ready on {self.url}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=1)
                conn.request("GET", "/readyz")
                ok = conn.getresponse().status == 200
                conn.close()
                if ok:
                    return True
            except OSError:
                pass
            time.sleep(0.02)
        return False

    def signal(self, signum: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signum)

    def stop(self, timeout: float = 5.0) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def __enter__(self) -> "APIServerProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def run_apiserver(storage: str = "reference", **kwargs) -> Iterator[APIServerProcess]:
    server = APIServerProcess(storage, **kwargs).start()
    try:
        yield server
    finally:
        server.stop()


def apiserver_fixture(storage: str = "native", scope: str = "module", **kwargs):
    """A pytest fixture yielding a started ``APIServerProcess``:
    ``apiserver = apiserver_fixture("reference")`` in a conftest.py."""
    import pytest

    @pytest.fixture(scope=scope)
    def apiserver() -> Iterator[APIServerProcess]:
        with run_apiserver(storage, **kwargs) as server:
            yield server

    return apiserver
