"""Restart policies, crash-loop back-off, completion, and deadlines (back-off base 0.5 s,
cap 2 s in these tests instead of 10 s and 5 minutes)."""

from __future__ import annotations

import asyncio
import os
import signal
import time

from kubelethelpers import (
    condition, container, phase, pid_of, python_container, python_pod, running_kubelet, wait_for, wait_for_pod,
)
from pyk8s.client import EVENTS, PODS
from pyk8s.kubelet.containers import REGULAR, ContainerSlot
from pyk8s.kubelet.logs import parse_time
from pyk8s.kubelet.process import ContainerRun, ExitRecord

SLEEP = "import time\nwhile True: time.sleep(1)"


def test_restart_policy_never(apiserver, tmp_path):
    async def scenario():
        async with running_kubelet(apiserver.url, tmp_path) as (client, kubelet):
            await client.create(PODS, python_pod("never-ok", "print('done')", node=kubelet.node_name, restartPolicy="Never"))
            await client.create(PODS, python_pod("never-bad", "raise SystemExit(3)", node=kubelet.node_name,
                                                 restartPolicy="Never"))
            ok = await wait_for_pod(client, "never-ok", lambda p: phase(p) == "Succeeded")
            terminated = container(ok, "main")["state"]["terminated"]
            assert terminated["exitCode"] == 0 and terminated["reason"] == "Completed"
            assert terminated["startedAt"] and terminated["finishedAt"] and terminated["containerID"].startswith("pyk8s://")
            assert container(ok, "main")["restartCount"] == 0 and container(ok, "main")["ready"] is False
            ready = [c for c in ok["status"]["conditions"] if c["type"] == "Ready"][0]
            assert ready["status"] == "False" and ready["reason"] == "PodCompleted"
            assert condition(ok, "PodReadyToStartContainers") == "False"
            bad = await wait_for_pod(client, "never-bad", lambda p: phase(p) == "Failed")
            terminated = container(bad, "main")["state"]["terminated"]
            assert terminated["exitCode"] == 3 and terminated["reason"] == "Error"
            await asyncio.sleep(1)
            again = await client.get(PODS, "never-bad", namespace="default")
            assert container(again, "main")["restartCount"] == 0 and phase(again) == "Failed"

    asyncio.run(scenario())


def test_termination_messages(apiserver, tmp_path):
    write = "import os\nopen(os.environ['PYK8S_TERMINATION_MESSAGE_PATH'], 'w').write('bad config')\nraise SystemExit(1)"
    fallback = "print('first')\nprint('boom')\nraise SystemExit(4)"

    async def scenario():
        async with running_kubelet(apiserver.url, tmp_path) as (client, kubelet):
            containers = [python_container("file", write),
                          python_container("logs", fallback, terminationMessagePolicy="FallbackToLogsOnError")]
            await client.create(PODS, python_pod("messages", node=kubelet.node_name, containers=containers,
                                                 restartPolicy="Never"))
            pod = await wait_for_pod(client, "messages", lambda p: phase(p) == "Failed")
            assert container(pod, "file")["state"]["terminated"]["message"] == "bad config"
            assert container(pod, "logs")["state"]["terminated"]["message"] == "first\nboom\n"

    asyncio.run(scenario())


def test_restart_policy_on_failure_restarts_until_success(apiserver, tmp_path):
    code = ("import os\npath = os.path.join(os.environ['PYK8S_VOLUME_STATE'], 'tries')\n"
            "tries = len(open(path).read()) if os.path.exists(path) else 0\nopen(path, 'a').write('x')\n"
            "raise SystemExit(0 if tries >= 2 else 1)")

    async def scenario():
        async with running_kubelet(apiserver.url, tmp_path) as (client, kubelet):
            main = python_container("main", code, volumeMounts=[{"name": "state", "mountPath": "/state"}])
            await client.create(PODS, python_pod("onfailure", node=kubelet.node_name, containers=[main],
                                                 restartPolicy="OnFailure", volumes=[{"name": "state", "emptyDir": {}}]))
            pod = await wait_for_pod(client, "onfailure", lambda p: phase(p) == "Succeeded")
            status = container(pod, "main")
            assert status["restartCount"] == 2 and status["state"]["terminated"]["exitCode"] == 0
            assert status["lastState"]["terminated"]["exitCode"] == 1

    asyncio.run(scenario())


def test_crash_loop_back_off(apiserver, tmp_path):
    async def scenario():
        async with running_kubelet(apiserver.url, tmp_path) as (client, kubelet):
            created = await client.create(PODS, python_pod("crashloop", "raise SystemExit(2)", node=kubelet.node_name))
            pod = await wait_for_pod(client, "crashloop", lambda p: container(p, "main").get("restartCount", 0) >= 3
                                     and "waiting" in container(p, "main")["state"], timeout=20)
            status = container(pod, "main")
            waiting = status["state"]["waiting"]
            assert waiting["reason"] == "CrashLoopBackOff"
            uid = created["metadata"]["uid"]
            assert waiting["message"].startswith("back-off ") and waiting["message"].endswith(
                f" restarting failed container=main pod=crashloop_default({uid})")
            assert status["lastState"]["terminated"]["exitCode"] == 2 and status["ready"] is False
            assert phase(pod) == "Running"  # restartPolicy Always: restarting
            assert [c for c in pod["status"]["conditions"] if c["type"] == "Ready"][0]["reason"] == "ContainersNotReady"
            events = await client.list(EVENTS, namespace="default", field_selector="involvedObject.name=crashloop")
            assert any(e["reason"] == "BackOff" for e in events["items"])
            runs = sorted((int(n.split(".")[0]), n) for n in os.listdir(kubelet.runtime.container_dir(uid, "main"))
                          if n.endswith(".exit"))
            assert len(runs) == 2  # only the last two runs are kept

    asyncio.run(scenario())


def test_back_off_delays_grow(apiserver, tmp_path):
    async def scenario():
        async with running_kubelet(apiserver.url, tmp_path, backoff_base=0.4, backoff_cap=1.6) as (client, kubelet):
            # When the kubelet asks for each run (the process's own start-up time is not the kubelet's).
            asked: list[int] = []
            start = kubelet.runtime.start

            async def timed_start(*args, **kwargs):
                asked.append(time.time_ns())
                return await start(*args, **kwargs)

            kubelet.runtime.start = timed_start
            created = await client.create(PODS, python_pod("delays", "raise SystemExit(1)", node=kubelet.node_name))
            finished: dict[int, int] = {}

            def watch():
                worker = kubelet.workers.get(created["metadata"]["uid"])
                for run in worker.slots[0].runs if worker else ():
                    if run.exit is not None:
                        finished[run.attempt] = run.exit.finished_ns
                return len(asked) >= 5

            await wait_for(watch, timeout=20, interval=0.02, message="five runs")
            gaps = [(asked[n] - finished[n - 1]) / 1e9 for n in range(1, 5)]
            # First restart at once; then 0.4 s, 0.8 s, 1.6 s (the cap).
            assert gaps[0] < 0.3, gaps
            assert 0.4 <= gaps[1] < 0.7 and 0.8 <= gaps[2] < 1.1 and 1.6 <= gaps[3] < 1.9, gaps
            events = await client.list(EVENTS, namespace="default", field_selector="involvedObject.name=delays")
            backoffs = [e for e in events["items"] if e["reason"] == "BackOff"]
            assert backoffs and backoffs[0]["message"].startswith("Back-off restarting failed container main in pod delays_")

    asyncio.run(scenario())


def test_back_off_steps_and_reset():
    slot = ContainerSlot({"name": "c"}, REGULAR)
    slot.step_backoff(100.0, 10, 300)
    assert slot.backoff_delay == 10
    for expected in (20, 40, 80, 160, 300, 300):
        slot.step_backoff(101.0, 10, 300)
        assert slot.backoff_delay == expected
    run = ContainerRun("uid", "c", 3, "/dev/null")
    run.exit = ExitRecord(exit_code=1, reason="Error", finished_at="", finished_ns=int(200e9))
    slot.add_run(run)
    assert slot.in_backoff(250.0, 300) == 250  # 300 s back-off, 50 s of it passed
    run.exit.finished_ns = int(800e9)  # ran for more than 2 x 5 minutes since the last step
    assert slot.in_backoff(801.0, 300) == 0
    slot.step_backoff(801.0, 10, 300)
    assert slot.backoff_delay == 10


def test_killed_process_is_restarted(apiserver, tmp_path):
    async def scenario():
        async with running_kubelet(apiserver.url, tmp_path) as (client, kubelet):
            await client.create(PODS, python_pod("killed", SLEEP, node=kubelet.node_name))
            pod = await wait_for_pod(client, "killed", lambda p: condition(p, "Ready") == "True")
            first = pid_of(pod, "main")
            os.kill(first, signal.SIGKILL)
            pod = await wait_for_pod(client, "killed", lambda p: container(p, "main").get("restartCount") == 1
                                     and condition(p, "Ready") == "True")
            status = container(pod, "main")
            assert pid_of(pod, "main") != first
            assert status["lastState"]["terminated"]["exitCode"] == 137
            assert status["lastState"]["terminated"]["signal"] == 9
            assert status["lastState"]["terminated"]["reason"] == "Error"

    asyncio.run(scenario())


def test_changed_image_replaces_the_container(apiserver, tmp_path):
    async def scenario():
        async with running_kubelet(apiserver.url, tmp_path) as (client, kubelet):
            await client.create(PODS, python_pod("reimaged", SLEEP, node=kubelet.node_name, restartPolicy="Never",
                                                 terminationGracePeriodSeconds=1))
            pod = await wait_for_pod(client, "reimaged", lambda p: condition(p, "Ready") == "True")
            first = pid_of(pod, "main")
            await client.patch(PODS, "reimaged", {"spec": {"containers": [{"name": "main", "image": "python:4"}]}},
                               namespace="default", patch_type="strategic")
            pod = await wait_for_pod(client, "reimaged", lambda p: container(p, "main").get("restartCount") == 1
                                     and condition(p, "Ready") == "True")
            assert container(pod, "main")["image"] == "python:4" and pid_of(pod, "main") != first

    asyncio.run(scenario())


def test_active_deadline_fails_the_pod(apiserver, tmp_path):
    async def scenario():
        async with running_kubelet(apiserver.url, tmp_path) as (client, kubelet):
            await client.create(PODS, python_pod("deadline", SLEEP, node=kubelet.node_name, activeDeadlineSeconds=1))
            pod = await wait_for_pod(client, "deadline", lambda p: phase(p) == "Failed", timeout=10)
            assert pod["status"]["reason"] == "DeadlineExceeded"
            assert pod["status"]["message"] == "Pod was active on the node longer than the specified deadline"
            pod = await wait_for_pod(client, "deadline", lambda p: "terminated" in container(p, "main")["state"])
            started = parse_time(pod["status"]["startTime"])
            finished = parse_time(container(pod, "main")["state"]["terminated"]["finishedAt"])
            assert finished - started >= 1

    asyncio.run(scenario())


def test_sidecar_init_container_runs_beside_the_main_container(apiserver, tmp_path):
    async def scenario():
        async with running_kubelet(apiserver.url, tmp_path) as (client, kubelet):
            sidecar = python_container("sidecar", SLEEP, restartPolicy="Always")
            pod = python_pod("sidecars", "import time; time.sleep(0.5)", node=kubelet.node_name, restartPolicy="Never",
                             initContainers=[sidecar])
            await client.create(PODS, pod)
            running = await wait_for_pod(client, "sidecars", lambda p: phase(p) == "Running")
            assert "running" in container(running, "sidecar", init=True)["state"]
            done = await wait_for_pod(client, "sidecars", lambda p: phase(p) == "Succeeded")
            assert container(done, "main")["state"]["terminated"]["exitCode"] == 0
            await wait_for_pod(client, "sidecars", lambda p: "terminated" in container(p, "sidecar", init=True)["state"])

    asyncio.run(scenario())
