"""kubectl 1.37 from inside an asyncio test whose controllers run in-process: the command
runs as an asyncio subprocess so the event loop (and so the controllers) keep running while
kubectl waits on them.

    kubectl = AsyncKubectl(apiserver.url, tmp_path)
    await kubectl.ok("create", "-f", "-", stdin=manifest)
    process = await kubectl.start("delete", "rs", "x", "--cascade=foreground")
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml

__all__ = ["AsyncKubectl", "KubectlResult"]

# The wheel's kubectl next to the venv's python (a system kubectl may be any version).
KUBECTL = shutil.which("kubectl", path=os.path.dirname(sys.executable))


class KubectlResult(NamedTuple):
    rc: int
    stdout: str
    stderr: str


class AsyncKubectl:
    def __init__(self, server_url: str, workdir: Path) -> None:
        if KUBECTL is None:
            pytest.fail(f"kubectl not found next to {sys.executable}")
        kubeconfig = workdir / "kubeconfig"
        kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "pyk8s", "cluster": {"server": server_url}}],
            "users": [{"name": "test", "user": {}}],
            "contexts": [{"name": "pyk8s", "context": {"cluster": "pyk8s", "user": "test", "namespace": "default"}}],
            "current-context": "pyk8s",
        }))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBECTL_", "KUBECONFIG"))}
        self.env.update(HOME=str(workdir), KUBECONFIG=str(kubeconfig))
        self.argv0 = [KUBECTL, "--cache-dir", str(workdir / "kube-cache"), "--request-timeout", "30s"]

    async def start(self, *args: str, stdin: str | None = None) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            *self.argv0, *args, env=self.env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        )
        if stdin is not None:
            process.stdin.write(stdin.encode())
            await process.stdin.drain()
            process.stdin.close()
        return process

    @staticmethod
    async def finish(process: asyncio.subprocess.Process, timeout: float = 45.0) -> KubectlResult:
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            pytest.fail(f"kubectl did not finish in {timeout} s")
        return KubectlResult(process.returncode, stdout.decode(), stderr.decode())

    async def run(self, *args: str, stdin: str | None = None, timeout: float = 45.0) -> KubectlResult:
        return await self.finish(await self.start(*args, stdin=stdin), timeout)

    async def ok(self, *args: str, stdin: str | None = None, timeout: float = 45.0) -> str:
        result = await self.run(*args, stdin=stdin, timeout=timeout)
        assert result.rc == 0, f"kubectl {' '.join(args)} exited {result.rc}\n{result.stdout}\n{result.stderr}"
        return result.stdout
