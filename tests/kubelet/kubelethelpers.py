"""Running a process-runtime kubelet in-process against a live API server, pod manifests
whose containers are small Python commands, polling, and kubectl.

    def test_runs(apiserver, tmp_path):
        async def scenario():
            async with running_kubelet(apiserver.url, tmp_path) as (client, kubelet):
                await client.create(PODS, python_pod("p", "print('hi')", node=kubelet.node_name))
                await wait_for_pod(client, "p", lambda pod: phase(pod) == "Running")
        asyncio.run(scenario())
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import yaml

from pyk8s.client import PODS, ApiClient, NotFound
from pyk8s.kubelet.kubelet import Kubelet, KubeletOptions

PYTHON = sys.executable
KUBECTL = shutil.which("kubectl", path=os.path.dirname(sys.executable))
_nodes = itertools.count(1)


@contextlib.asynccontextmanager
async def running_kubelet(url: str, tmp_path, **options: Any) -> AsyncIterator[tuple[ApiClient, Kubelet]]:
    """A kubelet with its own node name and root dir, fast timings, stopped on exit."""
    name = options.pop("node_name", None) or f"node-{os.getpid()}-{next(_nodes)}"
    settings = {"port": 0, "resync_seconds": 2.0, "backoff_base": 0.5, "backoff_cap": 2.0, "shutdown_grace": 2.0,
                "status_update_frequency": 1.0, **options}
    async with ApiClient(url) as client:
        kubelet = Kubelet(client, KubeletOptions(node_name=name, root_dir=str(tmp_path / name), **settings))
        task = asyncio.create_task(kubelet.run())
        ready = asyncio.ensure_future(kubelet.ready.wait())
        await asyncio.wait([task, ready], timeout=15, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            ready.cancel()
            task.result()
        assert kubelet.ready.is_set(), "kubelet did not become ready"
        try:
            yield client, kubelet
        finally:
            kubelet.stop()
            await asyncio.wait_for(task, 30)


def python_container(name: str, code: str, **extra: Any) -> dict:
    return {"name": name, "image": "python:3", "command": [PYTHON, "-u", "-c", code], **extra}


def python_pod(name: str, code: str | None = None, *, node: str, namespace: str = "default",
               containers: list | None = None, **spec: Any) -> dict:
    containers = containers or [python_container("main", code)]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 5, "containers": containers, **spec}}


def phase(pod: dict) -> str:
    return (pod.get("status") or {}).get("phase", "")


def condition(pod: dict, kind: str) -> str:
    for item in (pod.get("status") or {}).get("conditions") or ():
        if item.get("type") == kind:
            return item.get("status", "")
    return ""


def container(pod: dict, name: str, init: bool = False) -> dict:
    key = "initContainerStatuses" if init else "containerStatuses"
    for status in (pod.get("status") or {}).get(key) or ():
        if status["name"] == name:
            return status
    return {}


def pid_of(pod: dict, name: str) -> int:
    return int(container(pod, name)["containerID"].rpartition("/")[2])


async def wait_for(predicate: Callable[[], Any], *, timeout: float = 15.0, interval: float = 0.05,
                   message: str = "condition") -> Any:
    """Poll ``predicate`` (sync or async) until it returns something truthy; return it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Any = None
    while True:
        last = predicate()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message} (last: {last!r})")
        await asyncio.sleep(interval)


async def wait_for_pod(client: ApiClient, name: str, predicate: Callable[[dict], Any], *, namespace: str = "default",
                       timeout: float = 15.0, message: str = "pod") -> dict:
    seen: list[dict] = []

    async def check():
        pod = await client.get(PODS, name, namespace=namespace)
        seen[:] = [pod]
        return pod if predicate(pod) else None

    try:
        return await wait_for(check, timeout=timeout, interval=0.1, message=message)
    except AssertionError as error:
        raise AssertionError(f"{error}\nlast status: {seen[0].get('status') if seen else None}") from None


async def wait_gone(client: ApiClient, name: str, *, namespace: str = "default", timeout: float = 15.0) -> None:
    async def gone():
        try:
            await client.get(PODS, name, namespace=namespace)
        except NotFound:
            return True
        return False

    await wait_for(gone, timeout=timeout, interval=0.1, message=f"pod {name} gone")


def process_exists(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2:][:1] not in (b"Z", b"X")


class Kubectl:
    """kubectl 1.37 with its own kubeconfig, HOME and cache directory."""

    def __init__(self, url: str, workdir) -> None:
        assert KUBECTL is not None, f"kubectl not found next to {sys.executable}"
        workdir.mkdir(parents=True, exist_ok=True)
        kubeconfig = workdir / "kubeconfig"
        kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "t",
            "clusters": [{"name": "t", "cluster": {"server": url}}], "users": [{"name": "t", "user": {}}],
            "contexts": [{"name": "t", "context": {"cluster": "t", "user": "t", "namespace": "default"}}],
        }))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBECTL_", "KUBECONFIG"))}
        self.env.update(HOME=str(workdir), KUBECONFIG=str(kubeconfig))
        self.argv0 = [KUBECTL, "--cache-dir", str(workdir / "cache"), "--request-timeout", "20s"]

    def run(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run([*self.argv0, *args], capture_output=True, text=True, env=self.env, timeout=timeout)

    async def arun(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
        """``run`` off the event loop, so an in-process kubelet keeps serving meanwhile."""
        return await asyncio.to_thread(self.run, *args, timeout=timeout)

    def popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen([*self.argv0, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self.env)
