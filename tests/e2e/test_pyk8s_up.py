"""``pyk8s up`` end to end: the command starts a whole cluster, stock kubectl 1.37 drives it
with the kubeconfig it prints, a Deployment's pods run (as processes on the local node, or on
hollow nodes), and SIGTERM leaves no process behind."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from e2ehelpers import KUBECTL, poll
from pyk8s.apiserver.testing import free_port

# Starting five Python processes on a shared two-core machine takes a while.
STARTUP_TIMEOUT = 120.0


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parent = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class PyK8sUp:
    """``pyk8s up`` in a subprocess, its output collected line by line."""

    def __init__(self, workdir: Path, *args: str) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.argv = [sys.executable, "-P", "-m", "pyk8s.cli.main", "up", "--port", str(self.port),
                     "--data-dir", str(workdir / "data"), *args]
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self.process = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        threading.Thread(target=self._read, daemon=True).start()
        self.kubeconfig = Path(self.expect("kubeconfig: ").split("kubeconfig: ", 1)[1].strip())
        self.seen: set[int] = set()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)

    def expect(self, text: str, timeout: float = STARTUP_TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.process.poll() is not None and self.lines.empty():
                    break
                continue
            self.output.append(line)
            if text in line:
                return line
        pytest.fail(f"pyk8s up did not print {text!r}; exit {self.process.poll()}; output:\n{''.join(self.output)}"
                    f"{self._logs()}")

    def _logs(self) -> str:
        logs = self.workdir / "data" / "logs"
        if not logs.is_dir():
            return ""
        return "".join(f"\n--- {log.name} ---\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:])
                       for log in sorted(logs.iterdir()))

    def remember_processes(self) -> set[int]:
        self.seen |= _descendants(self.process.pid)
        return self.seen

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 90.0) -> int:
        self.remember_processes()
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"pyk8s up did not stop within {timeout}s after {signal.Signals(signum).name}")

    def kill(self) -> None:
        for pid in _descendants(self.process.pid) | {self.process.pid}:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait()


@pytest.fixture
def start_up(tmp_path):
    started: list[PyK8sUp] = []

    def start(*args: str) -> PyK8sUp:
        up = PyK8sUp(tmp_path, *args)
        started.append(up)
        return up

    yield start
    for up in started:
        if up.process.poll() is None:
            up.kill()


class Kubectl:
    def __init__(self, kubeconfig: Path, workdir: Path) -> None:
        self.argv = [KUBECTL, "--kubeconfig", str(kubeconfig), "--cache-dir", str(workdir / "kube-cache"),
                     "--request-timeout", "20s"]
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")} | {"HOME": str(workdir)}

    def __call__(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run([*self.argv, *args], input=stdin, capture_output=True, text=True, env=self.env, timeout=60)
        assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def json(self, *args: str) -> dict:
        return json.loads(self(*args, "-o", "json"))


def _ready_nodes(kubectl: Kubectl) -> list[str]:
    return [node["metadata"]["name"] for node in kubectl.json("get", "nodes")["items"]
            if any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"])]


def _pods(kubectl: Kubectl, selector: str) -> list[dict]:
    return kubectl.json("get", "pods", "-l", selector)["items"]


def _all_running_ready(pods: list[dict], count: int) -> bool:
    return len(pods) == count and all(
        pod["status"].get("phase") == "Running"
        and any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions") or ())
        for pod in pods)


def _deployment(name: str, replicas: int, container: dict) -> str:
    return yaml.safe_dump({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}}},
    })


def _assert_all_gone(up: PyK8sUp) -> None:
    survivors = [pid for pid in up.seen if _alive(pid)]
    assert not survivors, f"processes left after pyk8s up stopped: {survivors}"


def test_up_simulated_runs_a_deployment_on_hollow_nodes(start_up, tmp_path):
    up = start_up("--simulated", "--nodes", "3")
    assert up.kubeconfig == tmp_path / "data" / "kubeconfig"
    assert f"export KUBECONFIG={up.kubeconfig}" in up.expect("export KUBECONFIG=", timeout=5)
    kubectl = Kubectl(up.kubeconfig, tmp_path)
    assert sorted(_ready_nodes(kubectl)) == ["hollow-node-0", "hollow-node-1", "hollow-node-2"]
    container = {"name": "web", "image": "python:3.12", "command": ["python3", "-c", "print('hello')"]}
    kubectl("apply", "-f", "-", stdin=_deployment("hollow-web", 3, container))
    pods = poll(lambda: (found := _pods(kubectl, "app=hollow-web")) and _all_running_ready(found, 3) and found,
                timeout=60, interval=0.5, what="3 Running pods")
    assert {pod["spec"]["nodeName"] for pod in pods} <= {"hollow-node-0", "hollow-node-1", "hollow-node-2"}
    assert all(pod["status"]["podIP"].startswith("10.") for pod in pods)
    kubectl("scale", "deployment", "hollow-web", "--replicas", "5")
    poll(lambda: _all_running_ready(_pods(kubectl, "app=hollow-web"), 5), timeout=60, interval=0.5, what="5 Running pods")
    assert "deployment \"hollow-web\" successfully rolled out" in kubectl("rollout", "status", "deployment/hollow-web",
                                                                        "--timeout", "60s")
    up.remember_processes()
    assert len(up.seen) >= 5  # API server (and its worker), scheduler, controller manager, kubelet
    assert up.stop() == 0
    _assert_all_gone(up)
    assert "pyk8s stopped." in up.expect("pyk8s stopped.", timeout=5)


def test_up_runs_a_deployment_as_local_processes(start_up, tmp_path):
    up = start_up()
    kubectl = Kubectl(up.kubeconfig, tmp_path)
    (node,) = _ready_nodes(kubectl)
    port = free_port()
    server = ("import http.server, os\n"
              "class Handler(http.server.BaseHTTPRequestHandler):\n"
              "    def do_GET(self):\n"
              "        self.send_response(200); self.end_headers(); self.wfile.write(b'hello from pyk8s')\n"
              "print('serving on', os.environ['PORT'], flush=True)\n"
              "http.server.HTTPServer(('', int(os.environ['PORT'])), Handler).serve_forever()\n")
    python3 = os.path.join(os.path.dirname(sys.executable), "python3")
    container = {
        "name": "web", "image": "python:3.12", "command": [python3, "-c", server],
        "env": [{"name": "PORT", "value": str(port)}],
        "readinessProbe": {"httpGet": {"path": "/", "port": port}, "periodSeconds": 1},
    }
    kubectl("apply", "-f", "-", stdin=_deployment("local-web", 1, container))
    (pod,) = poll(lambda: (found := _pods(kubectl, "app=local-web")) and _all_running_ready(found, 1) and found,
                  timeout=60, interval=0.5, what="the pod Running and Ready")
    assert pod["spec"]["nodeName"] == node
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
        assert answer.read() == b"hello from pyk8s"
    assert "serving on" in kubectl("logs", pod["metadata"]["name"])
    up.remember_processes()
    assert up.stop() == 0
    _assert_all_gone(up)
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)


def test_up_stops_everything_when_a_component_dies(start_up, tmp_path):
    up = start_up("--simulated", "--nodes", "1")
    scheduler = [pid for pid in up.remember_processes()
                 if b"pyk8s.cli.scheduler" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    assert len(scheduler) == 1
    os.kill(scheduler[0], signal.SIGKILL)
    line = up.expect("exited unexpectedly", timeout=30)
    assert "scheduler exited unexpectedly with code -9" in line
    assert str(tmp_path / "data" / "logs" / "scheduler.log") in line
    assert up.process.wait(60) == 1
    _assert_all_gone(up)


def _up_fails(tmp_path: Path, *args: str) -> str:
    env = {**os.environ, "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-P", "-m", "pyk8s.cli.main", "up", "--data-dir", str(tmp_path / "data"),
                           *args], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 1, done
    return done.stderr


def test_up_refuses_a_port_in_use_and_the_users_kubeconfig(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert f"port {port} on 127.0.0.1 is already in use" in _up_fails(tmp_path, "--port", str(port))
    assert not (tmp_path / "data" / "kubeconfig").exists()
    message = _up_fails(tmp_path, "--kubeconfig", str(tmp_path / ".kube" / "config"))
    assert "never overwrites your ~/.kube/config" in message
    assert not (tmp_path / ".kube").exists()
