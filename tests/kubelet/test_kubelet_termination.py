"""Graceful termination: preStop, SIGTERM to the process group, SIGKILL after the grace
period, then the pod is deleted from the API server."""

from __future__ import annotations

import asyncio
import os
import time

from kubelethelpers import (
    PYTHON, condition, container, pid_of, process_exists, python_container, python_pod, running_kubelet, wait_for,
    wait_for_pod, wait_gone,
)
from pyk8s.client import EVENTS, PODS

# Notes SIGTERM in $MARKS/events, exits 0 on it (Ready once it does).
GRACEFUL = """
import os, signal, sys, time
marks = os.path.join(os.environ["PYK8S_VOLUME_MARKS"], "events")
def on_term(*_):
    open(marks, "a").write("sigterm\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
open("armed", "w").close()
while True: time.sleep(0.1)
"""
# Ignores SIGTERM; starts a grandchild in its process group that ignores it too.
STUBBORN = """
import os, signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
open(os.path.join(os.environ["PYK8S_VOLUME_MARKS"], "grandchild"), "w").write(str(child.pid))
while True: time.sleep(0.1)
"""
MARKS = [{"name": "marks", "mountPath": "/marks"}]
# Ready once it ignores SIGTERM (before that, a SIGTERM would end it).
IGNORES_SIGTERM = python_container(
    "main", "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nopen('armed', 'w').close()\n"
    "while True: time.sleep(0.1)",
    readinessProbe={"exec": {"command": ["test", "-f", "armed"]}, "periodSeconds": 1})


def test_graceful_deletion_runs_pre_stop_then_sigterm(apiserver, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    pre_stop = {"exec": {"command": [PYTHON, "-c", f"open({str(marks / 'events')!r}, 'a').write('prestop\\n')"]}}

    async def scenario():
        async with running_kubelet(apiserver.url, tmp_path) as (client, kubelet):
            main = python_container("main", GRACEFUL, volumeMounts=MARKS, lifecycle={"preStop": pre_stop},
                                    readinessProbe=IGNORES_SIGTERM["readinessProbe"])
            pod = python_pod("graceful", node=kubelet.node_name, containers=[main],
                             volumes=[{"name": "marks", "hostPath": {"path": str(marks)}}])
            created = await client.create(PODS, pod)
            pod = await wait_for_pod(client, "graceful", lambda p: condition(p, "Ready") == "True")
            pid = pid_of(pod, "main")
            await client.delete(PODS, "graceful", namespace="default", grace_period_seconds=10)
            began = time.monotonic()
            await wait_gone(client, "graceful")
            assert time.monotonic() - began < 5  # it exited on SIGTERM: no need to wait the 10 s
            assert (marks / "events").read_text().split() == ["prestop", "sigterm"]
            assert not process_exists(pid)
            await wait_for(lambda: not os.path.exists(kubelet.runtime.pod_dir(created["metadata"]["uid"])),
                           message="pod directory removed")
            events = await client.list(EVENTS, namespace="default", field_selector="involvedObject.name=graceful")
            assert any(e["reason"] == "Killing" and e["message"] == "Stopping container main" for e in events["items"])

    asyncio.run(scenario())


def test_sigkill_after_the_grace_period_kills_the_group(apiserver, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()

    async def scenario():
        async with running_kubelet(apiserver.url, tmp_path) as (client, kubelet):
            main = python_container("main", STUBBORN, volumeMounts=MARKS)
            pod = python_pod("stubborn", node=kubelet.node_name, containers=[main], terminationGracePeriodSeconds=2,
                             volumes=[{"name": "marks", "hostPath": {"path": str(marks)}}])
            await client.create(PODS, pod)
            pod = await wait_for_pod(client, "stubborn", lambda p: condition(p, "Ready") == "True")
            pid = pid_of(pod, "main")
            grandchild = int(await wait_for(lambda: (marks / "grandchild").exists() and (marks / "grandchild").read_text()))
            assert process_exists(grandchild)
            seen = []

            async def watch_status():
                async with client.watch(PODS, namespace="default", field_selector="metadata.name=stubborn",
                                        resource_version=pod["metadata"]["resourceVersion"]) as stream:
                    async for _, obj in stream:
                        seen.append(obj)

            watcher = asyncio.ensure_future(watch_status())
            await client.delete(PODS, "stubborn", namespace="default")  # the pod's 2 s
            began = time.monotonic()
            await wait_gone(client, "stubborn")
            elapsed = time.monotonic() - began
            watcher.cancel()
            assert 1.8 <= elapsed < 6, elapsed
            assert not process_exists(pid) and not process_exists(grandchild)
            final = [p for p in seen if "terminated" in container(p, "main").get("state", {})]
            assert final and container(final[-1], "main")["state"]["terminated"]["exitCode"] == 137
            assert final[-1]["status"]["phase"] == "Failed"

    asyncio.run(scenario())


def test_a_shorter_grace_period_kills_sooner(apiserver, tmp_path):
    async def scenario():
        async with running_kubelet(apiserver.url, tmp_path) as (client, kubelet):
            await client.create(PODS, python_pod("shortened", node=kubelet.node_name, containers=[IGNORES_SIGTERM],
                                                 terminationGracePeriodSeconds=60))
            pod = await wait_for_pod(client, "shortened", lambda p: condition(p, "Ready") == "True")
            await client.delete(PODS, "shortened", namespace="default")
            await asyncio.sleep(0.5)
            assert process_exists(pid_of(pod, "main"))
            began = time.monotonic()
            await client.delete(PODS, "shortened", namespace="default", grace_period_seconds=1)
            await wait_gone(client, "shortened")
            assert time.monotonic() - began < 5
            assert not process_exists(pid_of(pod, "main"))

    asyncio.run(scenario())


def test_force_deleted_pod_is_killed(apiserver, tmp_path):
    async def scenario():
        async with running_kubelet(apiserver.url, tmp_path) as (client, kubelet):
            await client.create(PODS, python_pod("forced", "import time\nwhile True: time.sleep(1)", node=kubelet.node_name))
            pod = await wait_for_pod(client, "forced", lambda p: condition(p, "Ready") == "True")
            pid = pid_of(pod, "main")
            await client.delete(PODS, "forced", namespace="default", grace_period_seconds=0)
            await wait_for(lambda: not process_exists(pid), timeout=5, message="process killed")
            await wait_for(lambda: not kubelet.workers, timeout=5, message="worker gone")

    asyncio.run(scenario())


def test_completed_pod_is_deleted_at_once(apiserver, tmp_path):
    async def scenario():
        async with running_kubelet(apiserver.url, tmp_path) as (client, kubelet):
            created = await client.create(PODS, python_pod("finished", "print('bye')", node=kubelet.node_name,
                                                           restartPolicy="Never"))
            await wait_for_pod(client, "finished", lambda p: p["status"].get("phase") == "Succeeded")
            assert os.path.isdir(kubelet.runtime.pod_dir(created["metadata"]["uid"]))  # logs are kept
            await client.delete(PODS, "finished", namespace="default")
            await wait_gone(client, "finished", timeout=3)
            await wait_for(lambda: not os.path.exists(kubelet.runtime.pod_dir(created["metadata"]["uid"])),
                           message="pod directory removed")

    asyncio.run(scenario())
