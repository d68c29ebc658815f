"""Node failure, end to end (issue 6): a real cluster of separate processes -- the API server,
the scheduler, the controller manager and two process-runtime kubelets -- driven by kubectl
1.37.  One kubelet is SIGKILLed; its node must go Unknown, be tainted unreachable, lose its
pods to eviction and see them replaced on the other node; restarted on the same root dir,
the kubelet must bring the node back and finish the stale pods' deletion.

Timings are shortened as upstream allows: kubelet Leases of 4 s (renewed every second), node
status every second, ``--node-monitor-grace-period 5s`` / ``--node-monitor-period 1s``, and
the API server's DefaultTolerationSeconds admission at 2 s instead of 300 s.

Two nodes are needed: with no Ready node at all the node lifecycle controller assumes its
own view is broken (upstream's "master disruption" mode) and evicts nothing.

What a SIGKILLed kubelet leaves behind: each container runs under a shim in a session of its
own (pyk8s/kubelet/shim.py), so containers outlive their kubelet -- as upstream's containers
outlive a crashed kubelet -- and the next kubelet on the same root dir adopts them.  The test
checks that, and kills whatever of them is still alive at teardown, by pid.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from e2ehelpers import Kubectl
from pyk8s.apiserver.testing import APIServerProcess

TOLERATION_SECONDS = 2
GRACE_PERIOD = "5s"  # --node-monitor-grace-period: 5 missed one-second Lease renewals
REPLICAS = 4
APP = "survivor"
# Generous: a shared two-core machine may be running several other suites at once.
START_TIMEOUT = 60.0
STEP_TIMEOUT = 45.0

UNREACHABLE = "node.kubernetes.io/unreachable"
NOT_READY = "node.kubernetes.io/not-ready"


def _proc_stat(pid: int) -> list[bytes] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return stat[stat.rfind(b")") + 2:].split()


def _start_time(pid: int) -> int | None:
    fields = _proc_stat(pid)
    return int(fields[19]) if fields and len(fields) > 19 else None


def _alive(pid: int, start_time: int | None) -> bool:
    """The process ``pid`` that started at ``start_time`` still runs (not a zombie, not a reuse)."""
    fields = _proc_stat(pid)
    return bool(fields) and fields[0] not in (b"Z", b"X") and int(fields[19]) == start_time


def _descendants(pid: int) -> dict[int, int | None]:
    """pid -> start time of every live descendant of ``pid``."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _proc_stat(int(entry))) and len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(int(entry))
    found: dict[int, int | None] = {}
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found[child] = _start_time(child)
                todo.append(child)
    return found


class Cluster:
    """The control plane and the kubelets as child processes, each logging to a file."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.apiserver = APIServerProcess("native", extra_args=(
            "--default-not-ready-toleration-seconds", str(TOLERATION_SECONDS),
            "--default-unreachable-toleration-seconds", str(TOLERATION_SECONDS),
        ), startup_timeout=30.0)
        self.processes: dict[str, subprocess.Popen] = {}
        self.strays: dict[int, int | None] = {}  # pids (-> start time) to kill at teardown if alive
        self.http: httpx.Client | None = None
        self.killed: str | None = None  # the kubelet killed on purpose: its exit is no failure

    def start(self) -> None:
        self.apiserver.start()
        self.http = httpx.Client(base_url=self.apiserver.url, timeout=15)
        server = ("--server", self.apiserver.url)
        self.spawn("scheduler", "pyk8s.cli.scheduler", *server, "--leader-elect=false", "--metrics-port", "-1")
        self.spawn("controller-manager", "pyk8s.cli.controller_manager", *server, "--leader-elect=false",
                   "--metrics-port", "-1", "--node-monitor-grace-period", GRACE_PERIOD, "--node-monitor-period", "1s")
        for node in ("node-a", "node-b"):
            self.start_kubelet(node)

    def spawn(self, name: str, module: str, *args: str) -> subprocess.Popen:
        with open(self.workdir / f"{name}.log", "ab") as log:
            process = subprocess.Popen([sys.executable, "-P", "-m", module, *args], stdin=subprocess.DEVNULL,
                                       stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.processes[name] = process
        return process

    def start_kubelet(self, node: str) -> subprocess.Popen:
        return self.spawn(node, "pyk8s.cli.kubelet", "--server", self.apiserver.url, "--node-name", node,
                          "--port", "0", "--root-dir", str(self.workdir / node), "--node-lease-duration-seconds", "4",
                          "--node-status-update-frequency", "1s", "--sync-frequency", "2s",
                          "--shutdown-grace-period", "2s")

    def get(self, path: str) -> dict:
        response = self.http.get(path)
        response.raise_for_status()
        return response.json()

    def node(self, name: str) -> dict:
        """The Node, or {} before its kubelet registered it."""
        response = self.http.get(f"/api/v1/nodes/{name}")
        if response.status_code == 404:
            return {}
        response.raise_for_status()
        return response.json()

    def pods(self) -> list[dict]:
        return self.get(f"/api/v1/namespaces/default/pods?labelSelector=app={APP}")["items"]

    def logs(self) -> str:
        return "".join(f"\n--- {log.name} (last lines) ---\n" + "\n".join(log.read_text(errors="replace").splitlines()[-25:])
                       for log in sorted(self.workdir.glob("*.log")))

    def wait(self, condition, what: str, timeout: float = STEP_TIMEOUT, interval: float = 0.25):
        """The first truthy ``condition()``; fails with every component's log tail otherwise."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None and name != self.killed:
                    pytest.fail(f"{name} exited with {process.returncode} while waiting for {what}{self.logs()}")
            last = condition()
            if last:
                return last
            time.sleep(interval)
        pytest.fail(f"{what}: not reached within {timeout} s (last: {last!r}){self.logs()}")

    def stop(self) -> None:
        # Kubelets first, with SIGTERM, so they stop their containers; then the control plane.
        for names in ([n for n in self.processes if n.startswith("node-")], ["controller-manager", "scheduler"]):
            for name in names:
                if self.processes[name].poll() is None:
                    self.processes[name].terminate()
            for name in names:
                try:
                    self.processes[name].wait(20)
                except subprocess.TimeoutExpired:
                    self.processes[name].kill()
                    self.processes[name].wait()
        if self.http is not None:
            self.http.close()
        self.apiserver.stop()
        for pid, start_time in self.strays.items():
            if _alive(pid, start_time):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def cluster(tmp_path):
    cluster = Cluster(tmp_path)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def _condition(obj: dict, kind: str) -> str | None:
    return next((c.get("status") for c in (obj.get("status") or {}).get("conditions") or () if c["type"] == kind), None)


def _taints(node: dict) -> set[tuple[str, str]]:
    return {(t["key"], t["effect"]) for t in (node.get("spec") or {}).get("taints") or ()}


def _running_ready(pod: dict) -> bool:
    return pod["status"].get("phase") == "Running" and _condition(pod, "Ready") == "True"


def _live(pods: list[dict]) -> list[dict]:
    return [pod for pod in pods if not pod["metadata"].get("deletionTimestamp")]


def _container_pid(pod: dict) -> int:
    return int(pod["status"]["containerStatuses"][0]["containerID"].rpartition("/")[2])


def _deployment() -> dict:
    container = {"name": "sleeper", "image": "python:3.12",
                 "command": [sys.executable, "-c", "import time\nwhile True: time.sleep(1)"]}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": APP},
        "spec": {
            "replicas": REPLICAS, "selector": {"matchLabels": {"app": APP}},
            "template": {"metadata": {"labels": {"app": APP}}, "spec": {
                "terminationGracePeriodSeconds": 5, "containers": [container],
                # Spreads the pods when it can, never keeps a replacement from the surviving node.
                "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                               "whenUnsatisfiable": "ScheduleAnyway",
                                               "labelSelector": {"matchLabels": {"app": APP}}}],
            }},
        },
    }


def test_killed_kubelet_node_goes_unknown_pods_move_and_come_back(cluster, tmp_path):
    started = time.monotonic()
    cluster.wait(lambda: all(_condition(cluster.node(n), "Ready") == "True" for n in ("node-a", "node-b")),
                 "both nodes Ready", timeout=START_TIMEOUT)
    kubectl = Kubectl(cluster.apiserver.url, tmp_path)
    kubectl.ok("apply", "-f", kubectl.manifest(_deployment()))
    pods = cluster.wait(lambda: (pods := cluster.pods()) and len(pods) == REPLICAS and all(map(_running_ready, pods))
                        and pods, f"{REPLICAS} pods Running and Ready", timeout=START_TIMEOUT)
    for pod in pods:  # DefaultTolerationSeconds admission, with the server's short setting
        assert {"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
                "tolerationSeconds": TOLERATION_SECONDS} in pod["spec"]["tolerations"]

    # The victim is the node with most of the pods (the spread is a preference, not a promise).
    per_node = {n: [p for p in pods if p["spec"]["nodeName"] == n] for n in ("node-a", "node-b")}
    victim, survivor = sorted(per_node, key=lambda n: -len(per_node[n]))
    doomed = {pod["metadata"]["name"]: _container_pid(pod) for pod in per_node[victim]}
    kept = {pod["metadata"]["name"] for pod in per_node[survivor]}
    kubelet = cluster.processes[victim]
    left_behind = _descendants(kubelet.pid)  # the shims and their containers
    cluster.strays.update(left_behind)
    assert set(doomed.values()) <= set(left_behind)

    cluster.killed = victim
    kubelet.send_signal(signal.SIGKILL)
    kubelet.wait(10)
    killed_at = time.monotonic()
    # Containers outlive a killed kubelet (their shims are in sessions of their own).
    assert all(_alive(pid, left_behind[pid]) for pid in doomed.values()), "containers died with their kubelet"

    node = cluster.wait(lambda: (node := cluster.node(victim)) and _condition(node, "Ready") == "Unknown" and node,
                        f"{victim} Ready=Unknown")
    ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "NodeStatusUnknown", ready
    cluster.wait(lambda: (UNREACHABLE, "NoExecute") in _taints(cluster.node(victim)), f"{victim} tainted unreachable")
    assert _condition(cluster.node(survivor), "Ready") == "True"

    # Evicted: deletion requested, but with no kubelet to stop them they stay Terminating.
    cluster.wait(lambda: all(p["metadata"].get("deletionTimestamp") for p in cluster.pods()
                             if p["metadata"]["name"] in doomed), f"pods on {victim} evicted")
    replaced = cluster.wait(
        lambda: (live := _live(cluster.pods())) and len(live) == REPLICAS and all(map(_running_ready, live)) and live,
        f"{REPLICAS} live pods Running and Ready again")
    assert {pod["spec"]["nodeName"] for pod in replaced} == {survivor}
    assert kept <= {pod["metadata"]["name"] for pod in replaced}, "pods on the healthy node were disturbed"
    moved_at = time.monotonic()
    # As upstream: pods of an unreachable node stay Terminating until it comes back or is deleted.
    stale = [p for p in cluster.pods() if p["metadata"]["name"] in doomed]
    assert len(stale) == len(doomed) and all(p["metadata"].get("deletionTimestamp") for p in stale)
    assert all(_alive(pid, left_behind[pid]) for pid in doomed.values())
    nodes = {item["metadata"]["name"]: item for item in kubectl.json("get", "nodes")["items"]}
    assert _condition(nodes[victim], "Ready") == "Unknown" and _condition(nodes[survivor], "Ready") == "True"

    # The kubelet comes back on the same root dir: it adopts the orphaned containers, stops
    # them (their pods are being deleted) and finishes the deletion; the node is healthy again.
    cluster.killed = None
    cluster.start_kubelet(victim)
    cluster.wait(lambda: (node := cluster.node(victim)) and _condition(node, "Ready") == "True"
                 and not {key for key, _ in _taints(node)} & {UNREACHABLE, NOT_READY},
                 f"{victim} Ready again, untainted")
    cluster.wait(lambda: not {p["metadata"]["name"] for p in cluster.pods()} & set(doomed),
                 "the evicted pods' deletion finished")
    cluster.wait(lambda: not any(_alive(pid, left_behind[pid]) for pid in doomed.values()),
                 "the evicted pods' processes gone", timeout=15)
    final = cluster.pods()
    assert len(final) == REPLICAS and all(map(_running_ready, final)) and not any(
        p["metadata"].get("deletionTimestamp") for p in final)
    print(f"{len(doomed)} of {REPLICAS} pods on {victim}; kill -> {REPLICAS} pods Ready elsewhere: {moved_at - killed_at:.1f} s; "
          f"whole test {time.monotonic() - started:.1f} s")
