"""Container logs through the API server's pods/log proxy to the kubelet, with real kubectl."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time

import aiohttp

from kubelethelpers import (
    Kubectl, condition, container, phase, pid_of, python_container, python_pod, running_kubelet, wait_for,
    wait_for_pod,
)
from pyk8s.client import PODS

CHATTY = """
import os, sys, time
for n in range(1, 6):
    print("line", n)
print("to stderr", file=sys.stderr, flush=True)
while not os.path.exists("stop"):
    time.sleep(0.05)
"""
TICKER = """
import time
for n in range(1, 6):
    print("tick", n, flush=True)
    time.sleep(0.2)
"""
def shows(kubectl: Kubectl, expected: str, *args: str):
    """A predicate for wait_for: ``kubectl logs *args`` prints ``expected``."""
    async def check() -> bool:
        return (await kubectl.arun("logs", *args)).stdout == expected
    return check


TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z ")


def test_kubectl_logs_tail_timestamps_and_limits(apiserver, tmp_path):
    kubectl = Kubectl(apiserver.url, tmp_path / "kubectl")

    async def scenario():
        async with running_kubelet(apiserver.url, tmp_path) as (client, kubelet):
            await client.create(PODS, python_pod("chatty", CHATTY, node=kubelet.node_name))
            await wait_for_pod(client, "chatty", lambda p: phase(p) == "Running")
            expected = "line 1\nline 2\nline 3\nline 4\nline 5\nto stderr\n"
            await wait_for(shows(kubectl, expected, "chatty"), message="logs")
            tail = await kubectl.arun("logs", "chatty", "--tail=2")
            assert tail.stdout == "line 5\nto stderr\n"
            stamped = await kubectl.arun("logs", "chatty", "--timestamps", "--tail=3")
            lines = stamped.stdout.splitlines()
            assert len(lines) == 3 and all(TIMESTAMP.match(line) for line in lines), lines
            assert lines[0].endswith(" line 4")
            limited = await kubectl.arun("logs", "chatty", "--limit-bytes=9")
            assert limited.stdout == "line 1\nli"
            recent = await kubectl.arun("logs", "chatty", "--since=1h", "-c", "main")
            assert recent.stdout == expected
            await asyncio.sleep(1.2)
            none = await kubectl.arun("logs", "chatty", "--since=1s")
            assert none.returncode == 0 and none.stdout == ""

    asyncio.run(scenario())


def test_kubectl_logs_follow_ends_with_the_container(apiserver, tmp_path):
    kubectl = Kubectl(apiserver.url, tmp_path / "kubectl")

    async def scenario():
        async with running_kubelet(apiserver.url, tmp_path) as (client, kubelet):
            await client.create(PODS, python_pod("ticker", TICKER, node=kubelet.node_name, restartPolicy="Never"))
            await wait_for_pod(client, "ticker", lambda p: phase(p) in ("Running", "Succeeded"))
            began = time.monotonic()
            follow = await kubectl.arun("logs", "-f", "ticker")
            assert follow.returncode == 0, follow.stderr
            assert follow.stdout == "".join(f"tick {n}\n" for n in range(1, 6))
            assert time.monotonic() - began < 10
            await wait_for_pod(client, "ticker", lambda p: phase(p) == "Succeeded")

    asyncio.run(scenario())


def test_kubectl_logs_follow_streams_as_lines_arrive(apiserver, tmp_path):
    kubectl = Kubectl(apiserver.url, tmp_path / "kubectl")
    code = "import os, time\nprint('first', flush=True)\nwhile not os.path.exists('more'): time.sleep(0.05)\nprint('second', flush=True)\n"

    async def scenario():
        async with running_kubelet(apiserver.url, tmp_path) as (client, kubelet):
            created = await client.create(PODS, python_pod("streamed", code, node=kubelet.node_name, restartPolicy="Never"))
            await wait_for_pod(client, "streamed", lambda p: phase(p) == "Running")
            process = kubectl.popen("logs", "-f", "streamed")
            try:
                first = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 15)
                assert first == "first\n"
                open(os.path.join(kubelet.runtime.pod_dir(created["metadata"]["uid"]), "work", "more"), "w").close()
                rest = await asyncio.wait_for(asyncio.to_thread(process.stdout.read), 15)
                assert rest == "second\n"
                assert await asyncio.to_thread(process.wait, 10) == 0
            finally:
                process.kill()
                process.wait()

    asyncio.run(scenario())


def test_kubectl_logs_previous_after_a_restart(apiserver, tmp_path):
    kubectl = Kubectl(apiserver.url, tmp_path / "kubectl")
    code = "import os, time\nprint('run of pid', os.getpid(), flush=True)\nwhile True: time.sleep(1)"

    async def scenario():
        async with running_kubelet(apiserver.url, tmp_path) as (client, kubelet):
            await client.create(PODS, python_pod("restarted", code, node=kubelet.node_name))
            pod = await wait_for_pod(client, "restarted", lambda p: condition(p, "Ready") == "True")
            no_previous = await kubectl.arun("logs", "restarted", "--previous")
            assert no_previous.returncode != 0
            assert 'previous terminated container "main" in pod "restarted" not found' in no_previous.stderr
            first = pid_of(pod, "main")
            await wait_for(shows(kubectl, f"run of pid {first}\n", "restarted"))
            os.kill(first, signal.SIGKILL)
            pod = await wait_for_pod(client, "restarted", lambda p: container(p, "main").get("restartCount") == 1
                                     and condition(p, "Ready") == "True")
            second = pid_of(pod, "main")
            previous = await kubectl.arun("logs", "restarted", "-p")
            assert previous.stdout == f"run of pid {first}\n", previous
            await wait_for(shows(kubectl, f"run of pid {second}\n", "restarted"))

    asyncio.run(scenario())


def test_kubectl_logs_of_waiting_and_init_containers(apiserver, tmp_path):
    kubectl = Kubectl(apiserver.url, tmp_path / "kubectl")

    async def scenario():
        async with running_kubelet(apiserver.url, tmp_path) as (client, kubelet):
            pod = python_pod("mixed", node=kubelet.node_name, containers=[
                python_container("main", "print('from main')\nimport time\ntime.sleep(60)"),
                {"name": "nocmd", "image": "nginx"},
            ], initContainers=[python_container("setup", "print('from init')")])
            await client.create(PODS, pod)
            await wait_for_pod(client, "mixed", lambda p: "running" in container(p, "main").get("state", {}))
            waiting = await kubectl.arun("logs", "mixed", "-c", "nocmd")
            assert waiting.returncode != 0
            assert 'container "nocmd" in pod "mixed" is waiting to start: CommandRequired' in waiting.stderr
            init = await kubectl.arun("logs", "mixed", "-c", "setup")
            assert init.stdout == "from init\n", init
            await wait_for(shows(kubectl, "from main\n", "mixed", "-c", "main"))
            unknown = await kubectl.arun("logs", "mixed", "-c", "nope")
            assert unknown.returncode != 0 and "container nope is not valid for pod mixed" in unknown.stderr
            # The kubelet's own server, as the API server sees it.
            base = f"http://127.0.0.1:{kubelet.port}"
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{base}/healthz") as response:
                    assert response.status == 200 and await response.text() == "ok"
                async with http.get(f"{base}/pods") as response:
                    assert [p["metadata"]["name"] for p in (await response.json())["items"]] == ["mixed"]
                async with http.get(f"{base}/containerLogs/default/absent/main") as response:
                    assert response.status == 404 and await response.text() == 'pod "absent" does not exist\n'
                async with http.get(f"{base}/containerLogs/default/mixed/main?tailLines=x") as response:
                    assert response.status == 400
                async with http.get(f"{base}/containerLogs/default/mixed/setup?limitBytes=4") as response:
                    assert response.status == 200 and await response.text() == "from"

    asyncio.run(scenario())
