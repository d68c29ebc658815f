"""Readiness, liveness and startup probes (exec, httpGet, tcpSocket) on process containers."""

from __future__ import annotations

import asyncio
import os

from kubelethelpers import condition, container, phase, pid_of, python_container, python_pod, running_kubelet, wait_for_pod
from pyk8s.client import EVENTS, PODS

# Serves GET /ready: 200 while the file "ready" exists in the working directory, else 503.
SERVER = """
import http.server, os
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = os.path.exists("ready")
        self.send_response(200 if ok else 503)
        self.end_headers()
        self.wfile.write(b"ok" if ok else b"no")
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""
# Listens on $PORT only once the file "listen" exists.
LATE_LISTENER = """
import os, socket, time
while not os.path.exists("listen"):
    time.sleep(0.05)
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", int(os.environ["PORT"])))
server.listen()
while True:
    server.accept()[0].close()
"""
SLEEP = "import time\nwhile True: time.sleep(1)"
FAST = {"periodSeconds": 1, "timeoutSeconds": 1, "failureThreshold": 1}


def work_dir(kubelet, pod) -> str:
    return os.path.join(kubelet.runtime.pod_dir(pod["metadata"]["uid"]), "work")


def touch(path: str) -> None:
    open(path, "w").close()


def test_http_readiness_toggles_ready(apiserver, tmp_path):
    async def scenario():
        async with running_kubelet(apiserver.url, tmp_path) as (client, kubelet):
            main = python_container("main", SERVER, ports=[{"name": "http", "containerPort": 8080}],
                                    readinessProbe={"httpGet": {"path": "/ready", "port": "http"}, **FAST})
            created = await client.create(PODS, python_pod("http-ready", node=kubelet.node_name, containers=[main]))
            pod = await wait_for_pod(client, "http-ready", lambda p: phase(p) == "Running")
            assert condition(pod, "Ready") == "False" and container(pod, "main")["ready"] is False
            ready_file = os.path.join(work_dir(kubelet, created), "ready")
            touch(ready_file)
            pod = await wait_for_pod(client, "http-ready", lambda p: condition(p, "Ready") == "True")
            assert container(pod, "main")["ready"] is True
            os.unlink(ready_file)
            pod = await wait_for_pod(client, "http-ready", lambda p: condition(p, "Ready") == "False")
            assert container(pod, "main")["restartCount"] == 0  # readiness never restarts
            events = await client.list(EVENTS, namespace="default", field_selector="involvedObject.name=http-ready")
            assert any(e["reason"] == "Unhealthy" and e["message"] ==
                       "Readiness probe failed: HTTP probe failed with statuscode: 503" for e in events["items"])

    asyncio.run(scenario())


def test_exec_and_tcp_readiness(apiserver, tmp_path):
    async def scenario():
        async with running_kubelet(apiserver.url, tmp_path) as (client, kubelet):
            exec_probe = {"exec": {"command": ["test", "-f", "ready"]}, **FAST, "successThreshold": 2}
            tcp_probe = {"tcpSocket": {"port": 7000}, **FAST}
            containers = [python_container("exec", SLEEP, readinessProbe=exec_probe),
                          python_container("tcp", LATE_LISTENER, ports=[{"containerPort": 7000}], readinessProbe=tcp_probe)]
            created = await client.create(PODS, python_pod("probes", node=kubelet.node_name, containers=containers))
            pod = await wait_for_pod(client, "probes", lambda p: phase(p) == "Running")
            ready = [c for c in pod["status"]["conditions"] if c["type"] == "ContainersReady"][0]
            assert ready["status"] == "False" and ready["message"] == "containers with unready status: [exec tcp]"
            touch(os.path.join(work_dir(kubelet, created), "ready"))
            pod = await wait_for_pod(client, "probes", lambda p: container(p, "exec").get("ready"))
            assert not container(pod, "tcp")["ready"]
            touch(os.path.join(work_dir(kubelet, created), "listen"))
            await wait_for_pod(client, "probes", lambda p: condition(p, "Ready") == "True")

    asyncio.run(scenario())


def test_liveness_failure_restarts_the_container(apiserver, tmp_path):
    async def scenario():
        async with running_kubelet(apiserver.url, tmp_path) as (client, kubelet):
            liveness = {"exec": {"command": ["test", "-f", "alive"]}, **FAST, "failureThreshold": 2}
            main = python_container("main", "open('alive', 'w').close()\n" + SLEEP, livenessProbe=liveness)
            created = await client.create(PODS, python_pod("liveness", node=kubelet.node_name, containers=[main],
                                                           terminationGracePeriodSeconds=1))
            pod = await wait_for_pod(client, "liveness", lambda p: condition(p, "Ready") == "True")
            first = pid_of(pod, "main")
            await asyncio.sleep(1.2)
            os.unlink(os.path.join(work_dir(kubelet, created), "alive"))  # the next run writes it again
            pod = await wait_for_pod(client, "liveness", lambda p: container(p, "main").get("restartCount") == 1
                                     and condition(p, "Ready") == "True")
            assert pid_of(pod, "main") != first
            last = container(pod, "main")["lastState"]["terminated"]
            assert last["exitCode"] == 143 and last["reason"] == "Error"  # SIGTERM
            events = await client.list(EVENTS, namespace="default", field_selector="involvedObject.name=liveness")
            messages = {(e["reason"], e["message"]) for e in events["items"]}
            assert ("Killing", "Container main failed liveness probe, will be restarted") in messages
            assert any(reason == "Unhealthy" and message.startswith("Liveness probe failed:") for reason, message in messages)

    asyncio.run(scenario())


def test_startup_probe_gates_the_others(apiserver, tmp_path):
    async def scenario():
        async with running_kubelet(apiserver.url, tmp_path) as (client, kubelet):
            # Liveness would kill the container at once if it ran before the startup probe passed.
            startup = {"exec": {"command": ["test", "-f", "started"]}, **FAST, "failureThreshold": 30}
            liveness = {"exec": {"command": ["test", "-f", "started"]}, **FAST}
            main = python_container("main", SLEEP, startupProbe=startup, livenessProbe=liveness)
            created = await client.create(PODS, python_pod("startup", node=kubelet.node_name, containers=[main]))
            pod = await wait_for_pod(client, "startup", lambda p: phase(p) == "Running")
            await asyncio.sleep(1.5)
            pod = await client.get(PODS, "startup", namespace="default")
            status = container(pod, "main")
            assert status["started"] is False and status["ready"] is False and status["restartCount"] == 0
            touch(os.path.join(work_dir(kubelet, created), "started"))
            pod = await wait_for_pod(client, "startup", lambda p: container(p, "main").get("started")
                                     and condition(p, "Ready") == "True")
            assert container(pod, "main")["restartCount"] == 0

    asyncio.run(scenario())


def test_startup_probe_failure_restarts(apiserver, tmp_path):
    async def scenario():
        async with running_kubelet(apiserver.url, tmp_path) as (client, kubelet):
            startup = {"tcpSocket": {"port": 7001}, **FAST, "failureThreshold": 1}
            main = python_container("main", SLEEP, ports=[{"containerPort": 7001}], startupProbe=startup)
            await client.create(PODS, python_pod("startup-fails", node=kubelet.node_name, containers=[main],
                                                 terminationGracePeriodSeconds=1))
            await wait_for_pod(client, "startup-fails", lambda p: container(p, "main").get("restartCount", 0) >= 1)
            events = await client.list(EVENTS, namespace="default", field_selector="involvedObject.name=startup-fails")
            assert any(e["reason"] == "Unhealthy" and "Startup probe failed: dial tcp 127.0.0.1:" in e["message"]
                       for e in events["items"])

    asyncio.run(scenario())
