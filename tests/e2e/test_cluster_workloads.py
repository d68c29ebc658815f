"""Issue 6's end-to-end scenario against one ``pyk8s up`` (process runtime, one node), driven
by stock kubectl 1.37: a Deployment whose containers are local Python HTTP servers (Running,
Ready through an httpGet readiness probe, logging), a container killed from outside and
restarted, scale, a rolling update and its undo, deletion leaving no process behind, a Job
running to Complete, and a crash-looping container backing off.

The tests run in file order and share the cluster and the ``web`` Deployment.  The
crash-looping pod is created with the cluster so that its back-off (10 s, then 20 s: ``pyk8s
up`` keeps the kubelet's default base) elapses while the Deployment tests run; a kubectl
watch started before it timestamps every restart.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from e2ehelpers import KUBECTL, poll
from test_pyk8s_up import Kubectl, PyK8sUp, _all_running_ready, _alive, _assert_all_gone, _deployment, _pods

PYTHON3 = os.path.join(os.path.dirname(sys.executable), "python3")  # a bare python3 may be a pyenv shim
APP = "web"
# In every web container's command line, to find them in /proc (this run's only).
MARKER = f"pyk8s-e2e-cluster-workloads-{os.getpid()}"
STEP_TIMEOUT = 60.0  # generous: the machine is shared
KUBECTL_WAIT = "50s"  # kubectl rollout status / wait: within the 60 s the Kubectl helper allows a run

# Serves HTTP on $PORT (the host port the kubelet gave containerPort 8000) and logs a line
# per request, flushed, plus its FOO at start (empty before the rolling update).
SERVER = f"""# {MARKER}
import http.server, os
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        print('request', self.path, flush=True)
        self.send_response(200); self.end_headers(); self.wfile.write(b'ok')
    def log_message(self, *args):
        pass
print('serving on', os.environ['PORT'], 'FOO=' + os.environ.get('FOO', ''), flush=True)
http.server.HTTPServer(('127.0.0.1', int(os.environ['PORT'])), Handler).serve_forever()
"""

WEB_CONTAINER = {
    "name": "server", "image": "python:3.12", "command": [PYTHON3, "-c", SERVER],
    "ports": [{"containerPort": 8000, "name": "http"}],
    "readinessProbe": {"httpGet": {"path": "/ready", "port": 8000}, "periodSeconds": 1},
}

CRASHER = {
    "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "crasher", "labels": {"app": "crasher"}},
    "spec": {"restartPolicy": "Always", "terminationGracePeriodSeconds": 2, "containers": [{
        "name": "crash", "image": "python:3.12",
        "command": [PYTHON3, "-c", "import sys; print('crashing', flush=True); sys.exit(1)"]}]},
}


class RestartWatch:
    """``kubectl get pods -l SELECTOR --watch`` printing restartCount and the waiting reason
    and message per event; each line is timestamped as it arrives.  ``listed`` is set once
    kubectl's watch request is answered (its -v=6 log says so): the pod may be created then,
    and no restart goes unseen.  Re-run if the server ends the watch."""

    FORMAT = ("{.status.containerStatuses[0].restartCount}|{.status.containerStatuses[0].state.waiting.reason}"
              '|{.status.containerStatuses[0].state.waiting.message}{"\\n"}')

    def __init__(self, kubectl: Kubectl, selector: str) -> None:
        # No --request-timeout: it would end the watch.
        self.argv = [KUBECTL, "--kubeconfig", kubectl.argv[2], "--cache-dir", kubectl.argv[4],
                     "get", "pods", "-l", selector, "--watch", "-o", f"jsonpath={self.FORMAT}", "-v=6"]
        self.env = kubectl.env
        self.seen: list[tuple[float, int, str, str]] = []  # (monotonic time, restartCount, waiting reason, message)
        self.listed = threading.Event()
        self.stopped = threading.Event()
        self.lock = threading.Lock()  # no kubectl is started once stop() has begun
        self.process: subprocess.Popen | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            with self.lock:
                if self.stopped.is_set():
                    return
                self.process = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                                stderr=subprocess.STDOUT, text=True, env=self.env)
            for line in self.process.stdout:
                if "watch=true" in line and '"200 OK"' in line:
                    self.listed.set()
                count, _, waiting = line.rstrip("\n").partition("|")
                if count.isdigit():
                    self.listed.set()
                    reason, _, message = waiting.partition("|")
                    self.seen.append((time.monotonic(), int(count), reason, message))
            self.process.wait()
            self.stopped.wait(0.5)

    def first_seen(self) -> dict[int, float]:
        """restartCount -> when it was first seen."""
        first: dict[int, float] = {}
        for when, count, _, _ in self.seen:
            first.setdefault(count, when)
        return first

    def stop(self) -> None:
        with self.lock:
            self.stopped.set()
            if self.process is not None and self.process.poll() is None:
                self.process.terminate()
                self.process.wait(10)
        self.thread.join(10)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("cluster-workloads")
    up = PyK8sUp(workdir)
    watch = None
    try:
        kubectl = Kubectl(up.kubeconfig, workdir)
        watch = RestartWatch(kubectl, "app=crasher")
        assert watch.listed.wait(STEP_TIMEOUT), "kubectl get --watch did not list"
        kubectl("apply", "-f", "-", stdin=yaml.safe_dump(CRASHER))
        yield up, kubectl, watch
        up.remember_processes()
        if watch is not None:
            watch.stop()
        assert up.stop() == 0, up._logs()
        _assert_all_gone(up)
    finally:
        if watch is not None:
            watch.stop()
        if up.process.poll() is None:
            up.kill()


@pytest.fixture
def kubectl(cluster) -> Kubectl:
    return cluster[1]


def _web_pods(kubectl: Kubectl) -> list[dict]:
    return [pod for pod in _pods(kubectl, f"app={APP}") if not pod["metadata"].get("deletionTimestamp")]


def _ready_web_pods(kubectl: Kubectl, count: int) -> list[dict]:
    pods = _web_pods(kubectl)
    return pods if _all_running_ready(pods, count) else []


def _container(pod: dict) -> dict:
    (status,) = pod["status"]["containerStatuses"]
    return status


def _pid(pod: dict) -> int:
    container_id = _container(pod)["containerID"]
    assert container_id.startswith("pyk8s://"), container_id
    return int(container_id.removeprefix("pyk8s://"))


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.decode().partition("=")[::2] for item in raw.split(b"\0") if b"=" in item)


def _marked_processes() -> list[int]:
    """Live processes whose command line carries MARKER: the web containers."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if MARKER.encode() in cmdline and _alive(int(entry)):
                found.append(int(entry))
    return found


def _rolled_out(kubectl: Kubectl) -> str:
    out = kubectl("rollout", "status", f"deployment/{APP}", "--timeout", KUBECTL_WAIT)
    assert f'deployment "{APP}" successfully rolled out' in out, out
    return out


def _settled(kubectl: Kubectl, count: int) -> list[dict]:
    """``count`` Running and Ready pods of the current template, and no old pod left over."""
    return poll(lambda: (pods := _pods(kubectl, f"app={APP}")) and _all_running_ready(pods, count)
                and len({pod["metadata"]["labels"]["pod-template-hash"] for pod in pods}) == 1 and pods,
                timeout=STEP_TIMEOUT, interval=0.5, what=f"{count} pods of one template, Running and Ready")


def test_deployment_runs_three_ready_http_servers(kubectl):
    manifest = yaml.safe_load(_deployment(APP, 3, WEB_CONTAINER))
    manifest["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 5
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump(manifest))
    pods = poll(lambda: _ready_web_pods(kubectl, 3), timeout=STEP_TIMEOUT, interval=0.5,
                what="3 Running and Ready pods")
    for pod in pods:
        status = _container(pod)
        assert status["ready"] is True and "running" in status["state"] and status["restartCount"] == 0
        assert _alive(_pid(pod))
        assert _environ(_pid(pod))["PORT"].isdigit()


def test_kubectl_logs_shows_the_lines(kubectl):
    for pod in _ready_web_pods(kubectl, 3):
        name = pod["metadata"]["name"]
        port = _environ(_pid(pod))["PORT"]
        logs = poll(lambda: (out := kubectl("logs", name)) and "request /ready" in out and out,
                    timeout=STEP_TIMEOUT, interval=0.5, what=f"{name}'s readiness requests in its log")
        assert f"serving on {port} FOO=\n" in logs, logs
    assert "serving on" in kubectl("logs", f"deployment/{APP}")


def test_killed_container_is_restarted(kubectl):
    victim = _ready_web_pods(kubectl, 3)[0]
    name, pid = victim["metadata"]["name"], _pid(victim)
    os.kill(pid, signal.SIGKILL)
    poll(lambda: not _alive(pid), timeout=10, interval=0.1, what=f"container process {pid} dead")

    def restarted_and_ready():
        pod = kubectl.json("get", "pod", name)
        status = _container(pod)
        return status["restartCount"] == 1 and status["ready"] and "running" in status["state"] and pod

    pod = poll(restarted_and_ready, timeout=STEP_TIMEOUT, interval=0.5, what=f"{name} restarted and Ready again")
    status = _container(pod)
    terminated = status["lastState"]["terminated"]
    assert terminated["exitCode"] == 137 and terminated["reason"] == "Error", terminated
    assert terminated["containerID"] == f"pyk8s://{pid}"
    assert _pid(pod) != pid and _alive(_pid(pod))
    # The restarted run logs anew; --previous shows the killed one.
    assert "serving on" in kubectl("logs", name, "--previous")
    poll(lambda: "serving on" in kubectl("logs", name), timeout=STEP_TIMEOUT, interval=0.5, what="the new run's log")
    poll(lambda: _ready_web_pods(kubectl, 3), timeout=STEP_TIMEOUT, interval=0.5, what="3 Ready pods again")


def test_scale_to_five(kubectl):
    assert f"deployment.apps/{APP} scaled" in kubectl("scale", f"deployment/{APP}", "--replicas=5")
    poll(lambda: _ready_web_pods(kubectl, 5), timeout=STEP_TIMEOUT, interval=0.5, what="5 Running and Ready pods")
    _rolled_out(kubectl)


def test_set_env_rolls_out_new_pods(kubectl):
    before = {pod["metadata"]["name"] for pod in _web_pods(kubectl)}
    kubectl("set", "env", f"deployment/{APP}", "FOO=bar")
    _rolled_out(kubectl)
    pods = _settled(kubectl, 5)
    assert not before & {pod["metadata"]["name"] for pod in pods}, "old pods survived the rolling update"
    for pod in pods:
        assert {"name": "FOO", "value": "bar"} in pod["spec"]["containers"][0]["env"]
        assert _environ(_pid(pod))["FOO"] == "bar"
    name = pods[0]["metadata"]["name"]
    poll(lambda: "FOO=bar" in kubectl("logs", name), timeout=STEP_TIMEOUT, interval=0.5, what="FOO=bar in the log")


def test_rollout_undo_restores_the_previous_template(kubectl):
    before = {pod["metadata"]["name"] for pod in _web_pods(kubectl)}
    assert "rolled back" in kubectl("rollout", "undo", f"deployment/{APP}")
    _rolled_out(kubectl)
    pods = _settled(kubectl, 5)
    assert not before & {pod["metadata"]["name"] for pod in pods}
    deployment = kubectl.json("get", f"deployment/{APP}")
    assert "env" not in deployment["spec"]["template"]["spec"]["containers"][0]
    for pod in pods:
        assert "env" not in pod["spec"]["containers"][0]
        assert "FOO" not in _environ(_pid(pod))


def _shim_pids(up: PyK8sUp, uids: list[str]) -> list[int]:
    """The shims of these pods' container runs, from the launch records the process runtime
    keeps under the kubelet's root dir (pyk8s/kubelet/process.py)."""
    root = up.workdir / "data" / "kubelet"
    records = [record for uid in uids for record in root.glob(f"*/pods/{uid}/containers/*/*.json")]
    return [json.loads(record.read_text())["shimPid"] for record in records]


def test_delete_deployment_leaves_no_process(cluster):
    up, kubectl, _ = cluster
    pods = _web_pods(kubectl)
    pids = [_pid(pod) for pod in pods]
    shims = _shim_pids(up, [pod["metadata"]["uid"] for pod in pods])
    assert len(pids) == 5 and len(shims) >= 5 and all(_alive(pid) for pid in pids)
    kubectl("delete", f"deployment/{APP}")
    poll(lambda: not _pods(kubectl, f"app={APP}"), timeout=STEP_TIMEOUT, interval=0.5, what="every web pod deleted")
    poll(lambda: not any(_alive(pid) for pid in pids + shims), timeout=10, interval=0.2,
         what="every container process and its shim gone")
    assert not _marked_processes()
    assert not kubectl.json("get", "replicasets", "-l", f"app={APP}")["items"]


def test_job_runs_to_complete(kubectl):
    job = {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once"},
        "spec": {"completions": 2, "backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": [{
            "name": "work", "image": "python:3.12", "command": [PYTHON3, "-c", "print('job done', flush=True)"]}]}}},
    }
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump(job))
    kubectl("wait", "--for=condition=complete", "job/once", f"--timeout={KUBECTL_WAIT}")
    finished = kubectl.json("get", "job", "once")
    assert finished["status"]["succeeded"] == 2 and not finished["status"].get("failed")
    pods = _pods(kubectl, "job-name=once")
    assert len(pods) == 2 and {pod["status"]["phase"] for pod in pods} == {"Succeeded"}
    for pod in pods:
        assert _container(pod)["state"]["terminated"]["reason"] == "Completed"
        assert "job done" in kubectl("logs", pod["metadata"]["name"])


def test_failing_container_crash_loops_with_back_off(cluster):
    _, kubectl, watch = cluster
    # Created with the cluster: its first restart is immediate, the second comes 10 s after
    # the second run ended, the third 20 s after the third run ended (about 31 s after
    # creation).
    first = poll(lambda: (seen := watch.first_seen()) and {1, 2, 3} <= seen.keys() and seen, timeout=STEP_TIMEOUT,
                 interval=0.5, what="the watch seeing restarts 1, 2 and 3")
    second_gap, third_gap = first[2] - first[1], first[3] - first[2]
    assert second_gap >= 8.0, f"second restart {second_gap:.1f} s after the first: {first}"
    assert third_gap >= 1.5 * second_gap, f"back-off did not grow: {first}"
    if 0 in first:
        assert first[1] - first[0] < 8.0, f"the first restart was not immediate: {first}"
    messages = {(count, message.split(" restarting")[0]) for _, count, reason, message in watch.seen
                if reason == "CrashLoopBackOff"}
    assert {(1, "back-off 10s"), (2, "back-off 20s")} <= messages, watch.seen

    # The fourth run has ended (at once) and the pod is backing off for 40 s: the status says so.
    def backing_off():
        pod = kubectl.json("get", "pod", "crasher")
        status = _container(pod)
        waiting = status["state"].get("waiting") or {}
        return status["restartCount"] >= 3 and waiting.get("reason") == "CrashLoopBackOff" and pod

    pod = poll(backing_off, timeout=10, interval=0.2, what="CrashLoopBackOff after three restarts")
    status = _container(pod)
    assert re.fullmatch(r"back-off (\d+m)?\d+s restarting failed container=crash pod=crasher_default\(.+\)",
                        status["state"]["waiting"]["message"]), status
    terminated = status["lastState"]["terminated"]
    assert terminated["exitCode"] == 1 and terminated["reason"] == "Error", terminated
    assert pod["status"]["phase"] == "Running" and not status["ready"]
    assert "crashing" in kubectl("logs", "crasher", "--previous")
    events = kubectl.json("get", "events", "--field-selector", "involvedObject.name=crasher,reason=BackOff")["items"]
    assert events and events[0]["type"] == "Warning", events
    kubectl("delete", "pod", "crasher", "--wait=true", f"--timeout={KUBECTL_WAIT}")
