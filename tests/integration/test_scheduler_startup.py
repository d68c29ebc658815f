"""The scheduler process's start-up path (pyk8s.cli.scheduler): its informers take the lists
the CLI requested before importing the scheduler (ListPrefetch), and nothing on the way to
its bindings imports aiohttp (lists, watches, bindings and events go over the client's own
connections)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

from pyk8s.apiserver.testing import run_apiserver
from pyk8s.client import NAMESPACES, NODES, PODS, ApiClient


def node_body(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}}}


def pod_body(name: str, node: str | None = None) -> dict:
    spec = {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10",
                            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "boot"}, "spec": spec}


async def bound(url: str, names: list[str], timeout: float = 20.0) -> dict[str, str]:
    async with ApiClient(url) as client:
        deadline = time.monotonic() + timeout
        while True:
            listed = await client.list(PODS, namespace="boot")
            nodes = {p["metadata"]["name"]: p["spec"].get("nodeName") for p in listed["items"]}
            if all(nodes.get(name) for name in names) or time.monotonic() > deadline:
                return nodes
            await asyncio.sleep(0.1)


def test_cli_binds_pods_pending_at_its_start_without_importing_aiohttp():
    with run_apiserver("native") as server:
        async def setup():
            async with ApiClient(server.url) as client:
                await client.create(NAMESPACES, {"metadata": {"name": "boot"}})
                for i in range(3):
                    await client.create(NODES, node_body(f"boot-{i}"))
                # A placed pod of the same template as the pending ones: they share a parse.
                await client.create(PODS, pod_body("placed", "boot-0"))
                for i in range(20):
                    await client.create(PODS, pod_body(f"pending-{i}"))

        asyncio.run(setup())
        # -X importtime reports every import of the process's life on stderr, lazy ones too.
        process = subprocess.Popen(
            [sys.executable, "-X", "importtime", "-P", "-m", "pyk8s.cli.scheduler", "--server", server.url,
             "--leader-elect=false", "--metrics-port=-1", "--log-level", "warning"],
            stderr=subprocess.PIPE, text=True,
        )
        try:
            names = [f"pending-{i}" for i in range(20)]
            nodes = asyncio.run(bound(server.url, names))
            # A pod created once the informers are watching is bound too.
            asyncio.run(create_late(server.url))
            nodes.update(asyncio.run(bound(server.url, ["late"])))
        finally:
            process.terminate()
            _out, stderr = process.communicate(timeout=10)
        assert process.returncode == 0, stderr[-2000:]
        assert all(nodes.get(name) for name in [*names, "late"]), nodes
        imported = {line.rsplit("|", 1)[-1].strip() for line in stderr.splitlines() if line.startswith("import time:")}
        assert "pyk8s.client._prefetch" in imported and "pyk8s.scheduler.scheduler" in imported
        assert not {name for name in imported if name.split(".")[0] == "aiohttp"}


async def create_late(url: str) -> None:
    async with ApiClient(url) as client:
        await client.create(PODS, pod_body("late"))
