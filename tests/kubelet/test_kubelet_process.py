"""``pyk8s-kubelet`` as a process: it prints its port, re-attaches to its containers after
being killed, cleans up pods deleted while it was away, and leaves no process behind when
stopped."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys

import pytest

from kubelethelpers import (
    condition, container, phase, pid_of, process_exists, python_container, python_pod, wait_for, wait_for_pod,
)
from pyk8s.client import NODES, PODS, ApiClient
from pyk8s.kubelet.process import kill_leftovers

SLEEP = "import time\nwhile True: time.sleep(1)"


class KubeletProcess:
    def __init__(self, url: str, root_dir, node: str) -> None:
        # -P: the checkout (the working directory) must not shadow the installed package,
        # whose compiled modules the checkout lacks.
        self.argv = [sys.executable, "-P", "-m", "pyk8s.cli.kubelet", "--server", url, "--node-name", node, "--port", "0",
                     "--root-dir", str(root_dir), "--log-level", "warning", "--sync-frequency", "1s",
                     "--shutdown-grace-period", "2s"]
        self.process: subprocess.Popen | None = None
        self.port = 0

    def start(self) -> KubeletProcess:
        self.process = subprocess.Popen(self.argv, stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        match = re.search(r"serving on 127\.0\.0\.1:(\d+)", line)
        assert match, f"unexpected first line {line!r}"
        self.port = int(match.group(1))
        return self

    def kill(self, signum: int) -> int:
        self.process.send_signal(signum)
        return self.process.wait(20)


@pytest.fixture
def kubelets():
    started: list[KubeletProcess] = []
    yield started
    for kubelet in started:
        if kubelet.process.poll() is None:
            kubelet.kill(signal.SIGTERM)


async def _ready(client: ApiClient, node: str) -> bool:
    try:
        got = await client.get(NODES, node)
    except Exception:
        return False
    return any(c["type"] == "Ready" and c["status"] == "True" for c in got["status"].get("conditions", ()))


def test_restarted_kubelet_reattaches_to_running_containers(apiserver, tmp_path, kubelets):
    node = f"reattach-{os.getpid()}"

    async def scenario():
        async with ApiClient(apiserver.url) as client:
            kubelets.append(KubeletProcess(apiserver.url, tmp_path / "root", node).start())
            await wait_for(lambda: _ready(client, node), message="node Ready")
            await client.create(PODS, python_pod("survivor", SLEEP, node=node))
            await client.create(PODS, python_pod("doomed", SLEEP, node=node))
            pod = await wait_for_pod(client, "survivor", lambda p: condition(p, "Ready") == "True")
            doomed = await wait_for_pod(client, "doomed", lambda p: condition(p, "Ready") == "True")
            pid, doomed_pid = pid_of(pod, "main"), pid_of(doomed, "main")
            assert kubelets[0].kill(signal.SIGKILL) == -signal.SIGKILL
            assert process_exists(pid) and process_exists(doomed_pid)  # a killed kubelet leaves its containers
            await client.delete(PODS, "doomed", namespace="default", grace_period_seconds=0)  # gone meanwhile
            kubelets.append(KubeletProcess(apiserver.url, tmp_path / "root", node).start())
            await wait_for(lambda: not process_exists(doomed_pid), timeout=10, message="orphan stopped")
            await asyncio.sleep(1.5)  # a resync or two
            pod = await client.get(PODS, "survivor", namespace="default")
            assert phase(pod) == "Running" and pid_of(pod, "main") == pid and process_exists(pid)
            assert container(pod, "main")["restartCount"] == 0
            os.kill(pid, signal.SIGKILL)  # the adopted run's end is noticed, and it restarts
            pod = await wait_for_pod(client, "survivor", lambda p: container(p, "main").get("restartCount") == 1
                                     and condition(p, "Ready") == "True")
            assert container(pod, "main")["lastState"]["terminated"]["exitCode"] == 137
            assert not os.path.exists(tmp_path / "root" / "pods" / doomed["metadata"]["uid"])
            pod = await wait_for_pod(client, "survivor", lambda p: condition(p, "Ready") == "True")
            assert kubelets[1].kill(signal.SIGKILL) == -signal.SIGKILL
            assert process_exists(pid_of(pod, "main"))
            assert kill_leftovers(tmp_path / "root") == 1
            await wait_for(lambda: not process_exists(pid_of(pod, "main")), timeout=5, message="leftover killed")

    asyncio.run(scenario())


def test_stopped_kubelet_leaves_no_processes(apiserver, tmp_path, kubelets):
    node = f"stopper-{os.getpid()}"

    async def scenario():
        async with ApiClient(apiserver.url) as client:
            kubelets.append(KubeletProcess(apiserver.url, tmp_path / "root", node).start())
            await wait_for(lambda: _ready(client, node), message="node Ready")
            ignore = python_container(
                "main", "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nopen('armed', 'w').close()\n"
                "while True: time.sleep(1)", readinessProbe={"exec": {"command": ["test", "-f", "armed"]}, "periodSeconds": 1})
            stubborn = python_pod("ignores-term", node=node, containers=[ignore])
            await client.create(PODS, stubborn)
            await client.create(PODS, python_pod("plain", SLEEP, node=node, restartPolicy="Never"))
            pids = []
            for name in ("ignores-term", "plain"):
                pod = await wait_for_pod(client, name, lambda p: condition(p, "Ready") == "True")
                pids.append(pid_of(pod, "main"))
            shims = [json.loads(record.read_text())["shimPid"] for record in (tmp_path / "root").glob("pods/*/containers/*/*.json")]
            assert len(shims) == 2 and all(process_exists(pid) for pid in shims)
            assert kubelets[0].kill(signal.SIGTERM) == 0
            assert not any(process_exists(pid) for pid in pids + shims)
            plain = await client.get(PODS, "plain", namespace="default")
            assert phase(plain) == "Failed"  # restartPolicy Never and its container was stopped
            assert container(plain, "main")["state"]["terminated"]["exitCode"] == 143
            # Started again, the kubelet restarts what its restart policy restarts (as after a reboot).
            kubelets.append(KubeletProcess(apiserver.url, tmp_path / "root", node).start())
            pod = await wait_for_pod(client, "ignores-term", lambda p: container(p, "main").get("restartCount") == 1
                                     and condition(p, "Ready") == "True")
            assert container(pod, "main")["lastState"]["terminated"]["exitCode"] == 137
            await asyncio.sleep(1)
            plain = await client.get(PODS, "plain", namespace="default")
            assert phase(plain) == "Failed" and container(plain, "main")["restartCount"] == 0

    asyncio.run(scenario())
