"""Pods on the process runtime: running, status, environment, volumes, init containers,
admission, and the containers this runtime cannot start."""

from __future__ import annotations

import asyncio
import base64
import json
import os

from kubelethelpers import (
    PYTHON, condition, container, phase, pid_of, process_exists, python_container, python_pod, running_kubelet,
    wait_for, wait_for_pod,
)
from pyk8s.client import CONFIG_MAPS, EVENTS, PODS, SECRETS
from pyk8s.kubelet.logs import parse_record

SLEEP = "import time\nwhile True: time.sleep(1)"


def log_lines(kubelet, pod: dict, name: str = "main", attempt: int = 0) -> list[str]:
    path = kubelet.runtime.log_path(pod["metadata"]["uid"], name, attempt)
    try:
        with open(path, "rb") as handle:
            return [parse_record(line)[3].decode() for line in handle.read().splitlines()]
    except FileNotFoundError:
        return []


async def printed_json(kubelet, pod: dict, name: str = "main") -> dict:
    lines = await wait_for(lambda: log_lines(kubelet, pod, name), message="output")
    return json.loads(lines[0])


def test_pod_runs_and_reports_status(apiserver, tmp_path):
    async def scenario():
        async with running_kubelet(apiserver.url, tmp_path) as (client, kubelet):
            created = await client.create(PODS, python_pod("runs", SLEEP, node=kubelet.node_name))
            pod = await wait_for_pod(client, "runs", lambda p: condition(p, "Ready") == "True")
            status = pod["status"]
            assert phase(pod) == "Running" and status["qosClass"] == "BestEffort"
            assert status["podIP"] == status["hostIP"] == "127.0.0.1" and status["podIPs"] == [{"ip": "127.0.0.1"}]
            assert status["startTime"]
            assert [c["type"] for c in status["conditions"]] == [
                "PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]
            assert all(c["status"] == "True" for c in status["conditions"])
            main = container(pod, "main")
            assert main["ready"] is True and main["started"] is True and main["restartCount"] == 0
            assert main["image"] == "python:3" and main["lastState"] == {}
            assert set(main["state"]) == {"running"} and main["state"]["running"]["startedAt"]
            assert main["containerID"].startswith("pyk8s://") and process_exists(pid_of(pod, "main"))
            assert created["metadata"]["uid"] == pod["metadata"]["uid"]
            events = await client.list(EVENTS, namespace="default", field_selector="involvedObject.name=runs")
            reasons = {e["reason"] for e in events["items"]}
            assert {"Created", "Started"} <= reasons, reasons
            # What someone else changes (the node lifecycle controller marks pods not ready) is put back.
            conditions = [dict(c, status="False") if c["type"] == "Ready" else c for c in status["conditions"]]
            await client.patch(PODS, "runs", {"status": {"conditions": conditions}}, namespace="default",
                               subresource="status")
            await wait_for_pod(client, "runs", lambda p: condition(p, "Ready") == "True", timeout=10)

    asyncio.run(scenario())


def test_environment_volumes_and_ports(apiserver, tmp_path):
    code = """
import json, os
env = {k: v for k, v in os.environ.items()}
files = {}
for var in ("PYK8S_VOLUME_CONFIG", "PYK8S_VOLUME_CREDS", "PYK8S_VOLUME_INFO"):
    root = os.environ[var]
    for name in sorted(os.listdir(root)):
        if os.path.isfile(os.path.join(root, name)):
            files[var + "/" + name] = open(os.path.join(root, name)).read()
print(json.dumps({"env": env, "files": files, "cwd": os.getcwd(), "argv": __import__("sys").argv[1:]}))
import time
while True: time.sleep(1)
"""
    async def scenario():
        async with running_kubelet(apiserver.url, tmp_path) as (client, kubelet):
            await client.create(CONFIG_MAPS, {"metadata": {"name": "app-config", "namespace": "default"},
                                              "data": {"greeting": "hello", "mode": "fast", "1st": "x"}})
            await client.create(SECRETS, {"metadata": {"name": "app-secret", "namespace": "default"},
                                          "data": {"password": base64.b64encode(b"s3cret").decode()}})
            main = python_container("main", code, args=["$(GREETING)-world", "$$(GREETING)"], workingDir="sub/dir")
            main["ports"] = [{"name": "http", "containerPort": 8080}, {"containerPort": 9090}]
            main["resources"] = {"limits": {"memory": "64Mi"}, "requests": {"cpu": "250m", "memory": "64Mi"}}
            main["env"] = [
                {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "app-config", "key": "greeting"}}},
                {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "app-secret", "key": "password"}}},
                {"name": "MISSING", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "x", "optional": True}}},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                {"name": "POD_UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}},
                {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
                {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                {"name": "CPU_MILLIS", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1m"}}},
                {"name": "MEMORY_MI", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
                {"name": "COMPOSED", "value": "$(POD_NAME).$(POD_NAMESPACE) $(UNDEFINED) $$x"},
            ]
            main["envFrom"] = [{"configMapRef": {"name": "app-config"}, "prefix": "CFG_"},
                               {"secretRef": {"name": "app-secret"}}]
            main["volumeMounts"] = [{"name": "config", "mountPath": "/etc/config"},
                                    {"name": "creds", "mountPath": "/etc/creds"},
                                    {"name": "info", "mountPath": "/etc/info"}]
            pod = python_pod("env", node=kubelet.node_name, containers=[main], volumes=[
                {"name": "config", "configMap": {"name": "app-config", "items": [{"key": "mode", "path": "mode.txt"}]}},
                {"name": "creds", "secret": {"secretName": "app-secret", "defaultMode": 0o400}},
                {"name": "info", "downwardAPI": {"items": [
                    {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                    {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}]}},
            ])
            pod["metadata"]["labels"] = {"app": "demo", "tier": "web"}
            created = await client.create(PODS, pod)
            await wait_for_pod(client, "env", lambda p: phase(p) == "Running")
            seen = await printed_json(kubelet, created)
            env = seen["env"]
            assert env["GREETING"] == "hello" and env["PASSWORD"] == "s3cret" and "MISSING" not in env
            assert env["POD_NAME"] == "env" and env["POD_NAMESPACE"] == "default"
            assert env["POD_UID"] == created["metadata"]["uid"] and env["POD_IP"] == "127.0.0.1"
            assert env["NODE"] == kubelet.node_name and env["SA"] == "default" and env["APP"] == "demo"
            assert env["CPU_MILLIS"] == "250" and env["MEMORY_MI"] == "64"
            assert env["COMPOSED"] == "env.default $(UNDEFINED) $x"
            assert env["CFG_greeting"] == "hello" and env["CFG_mode"] == "fast" and env["CFG_1st"] == "x"
            assert env["password"] == "s3cret" and env["HOSTNAME"] == "env" and "PATH" in env
            assert seen["argv"] == ["hello-world", "$(GREETING)"]
            assert int(env["PORT"]) == int(env["PYK8S_PORT_HTTP"]) == int(env["PYK8S_PORT_8080"]) > 0
            assert int(env["PYK8S_PORT_9090"]) not in (0, int(env["PORT"]))
            assert seen["cwd"].endswith(os.path.join(created["metadata"]["uid"], "work", "sub", "dir"))
            files = seen["files"]
            assert files["PYK8S_VOLUME_CONFIG/mode.txt"] == "fast"
            assert files["PYK8S_VOLUME_CREDS/password"] == "s3cret"
            assert files["PYK8S_VOLUME_INFO/labels"] == 'app="demo"\ntier="web"' and files["PYK8S_VOLUME_INFO/name"] == "env"
            mode = os.stat(os.path.join(env["PYK8S_VOLUME_CREDS"], "password")).st_mode & 0o777
            assert mode == 0o400

    asyncio.run(scenario())


def test_missing_config_map_waits_then_starts(apiserver, tmp_path):
    async def scenario():
        async with running_kubelet(apiserver.url, tmp_path) as (client, kubelet):
            main = python_container("main", SLEEP, env=[
                {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "later", "key": "x"}}}])
            await client.create(PODS, python_pod("config-later", node=kubelet.node_name, containers=[main]))
            pod = await wait_for_pod(client, "config-later", lambda p: container(p, "main").get("state", {}).get("waiting"))
            waiting = container(pod, "main")["state"]["waiting"]
            assert waiting == {"reason": "CreateContainerConfigError", "message": 'configmap "later" not found'}
            assert phase(pod) == "Pending"
            await client.create(CONFIG_MAPS, {"metadata": {"name": "later", "namespace": "default"}, "data": {"y": "1"}})
            pod = await wait_for_pod(client, "config-later",
                                     lambda p: "couldn't find key" in str(container(p, "main")["state"]))
            assert container(pod, "main")["state"]["waiting"]["message"] == "couldn't find key x in ConfigMap default/later"
            await client.patch(CONFIG_MAPS, "later", {"data": {"x": "1"}}, namespace="default")
            await wait_for_pod(client, "config-later", lambda p: phase(p) == "Running")

    asyncio.run(scenario())


def test_unsupported_volume_leaves_the_pod_creating(apiserver, tmp_path):
    async def scenario():
        async with running_kubelet(apiserver.url, tmp_path) as (client, kubelet):
            pod = python_pod("claim", SLEEP, node=kubelet.node_name,
                             volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}])
            await client.create(PODS, pod)
            pod = await wait_for_pod(client, "claim", lambda p: condition(p, "PodReadyToStartContainers") == "False")
            assert container(pod, "main")["state"] == {"waiting": {"reason": "ContainerCreating"}}
            assert phase(pod) == "Pending"

            async def failed_mount():
                events = await client.list(EVENTS, namespace="default", field_selector="involvedObject.name=claim")
                return [e["message"] for e in events["items"] if e["reason"] == "FailedMount"]

            messages = await wait_for(failed_mount, message="FailedMount event")
            assert "volume type persistentVolumeClaim is not supported by the pyk8s process runtime" in messages[0]

    asyncio.run(scenario())


def test_init_containers_run_in_order_first(apiserver, tmp_path):
    step = "import os\nopen(os.path.join(os.environ['PYK8S_VOLUME_SHARED'], 'steps'), 'a').write('{}\\n')"
    read = ("import os, time\nprint(open(os.path.join(os.environ['PYK8S_VOLUME_SHARED'], 'steps')).read().split())\n"
            "time.sleep(60)")
    mount = [{"name": "shared", "mountPath": "/shared"}]

    async def scenario():
        async with running_kubelet(apiserver.url, tmp_path) as (client, kubelet):
            pod = python_pod("inits", node=kubelet.node_name, containers=[python_container("main", read, volumeMounts=mount)],
                             initContainers=[python_container("first", "import time; time.sleep(0.5)\n" + step.format("first"),
                                                              volumeMounts=mount),
                                             python_container("second", step.format("second"), volumeMounts=mount)],
                             volumes=[{"name": "shared", "emptyDir": {}}])
            created = await client.create(PODS, pod)
            pending = await wait_for_pod(client, "inits", lambda p: container(p, "first", init=True).get("state", {}).get("running"))
            assert phase(pending) == "Pending" and condition(pending, "Initialized") == "False"
            initialized = [c for c in pending["status"]["conditions"] if c["type"] == "Initialized"][0]
            assert initialized["reason"] == "ContainersNotInitialized"
            assert initialized["message"] == "containers with incomplete status: [first second]"
            assert container(pending, "second", init=True)["state"] == {"waiting": {"reason": "PodInitializing"}}
            assert container(pending, "main")["state"] == {"waiting": {"reason": "PodInitializing"}}
            pod = await wait_for_pod(client, "inits", lambda p: phase(p) == "Running")
            for name in ("first", "second"):
                terminated = container(pod, name, init=True)["state"]["terminated"]
                assert terminated["exitCode"] == 0 and terminated["reason"] == "Completed"
                assert container(pod, name, init=True)["ready"] is True
            assert condition(pod, "Initialized") == "True"
            lines = await wait_for(lambda: log_lines(kubelet, created), message="main output")
            assert lines == ["['first', 'second']"]

    asyncio.run(scenario())


def test_container_without_command_waits_with_a_reason(apiserver, tmp_path):
    async def scenario():
        async with running_kubelet(apiserver.url, tmp_path) as (client, kubelet):
            pod = python_pod("nocommand", node=kubelet.node_name,
                             containers=[{"name": "web", "image": "nginx", "args": ["-g", "daemon off;"]}])
            await client.create(PODS, pod)
            pod = await wait_for_pod(client, "nocommand", lambda p: container(p, "web").get("state", {}).get("waiting"))
            waiting = container(pod, "web")["state"]["waiting"]
            assert waiting["reason"] == "CommandRequired" and "command" in waiting["message"]
            assert "kubectl run, pass --command" in waiting["message"]  # the usual way to get here
            assert phase(pod) == "Pending" and condition(pod, "Ready") == "False"
            events = await client.list(EVENTS, namespace="default", field_selector="involvedObject.name=nocommand")
            assert any(e["reason"] == "Failed" and "command" in e["message"] for e in events["items"])

    asyncio.run(scenario())


def test_start_error_is_reported(apiserver, tmp_path):
    async def scenario():
        async with running_kubelet(apiserver.url, tmp_path) as (client, kubelet):
            main = {"name": "main", "image": "x", "command": ["no-such-binary-pyk8s"]}
            await client.create(PODS, python_pod("badexec", node=kubelet.node_name, containers=[main], restartPolicy="Never"))
            pod = await wait_for_pod(client, "badexec", lambda p: phase(p) == "Failed")
            terminated = container(pod, "main")["state"]["terminated"]
            assert terminated["reason"] == "StartError" and terminated["exitCode"] == 128
            assert terminated["message"] == 'exec: "no-such-binary-pyk8s": executable file not found in $PATH'

    asyncio.run(scenario())


def test_admission_rejects_what_does_not_fit(apiserver, tmp_path):
    async def scenario():
        async with running_kubelet(apiserver.url, tmp_path) as (client, kubelet):
            huge = python_container("main", SLEEP, resources={"requests": {"cpu": "1000"}})
            await client.create(PODS, python_pod("too-big", node=kubelet.node_name, containers=[huge]))
            pod = await wait_for_pod(client, "too-big", lambda p: phase(p) == "Failed")
            assert pod["status"]["reason"] == "OutOfcpu"
            cores = int(kubelet.allocatable()["cpu"])
            assert pod["status"]["message"] == (
                f"Pod was rejected: Node didn't have enough resource: cpu, requested: 1000000, used: 0, "
                f"capacity: {cores * 1000}")
            port = python_container("main", SLEEP, ports=[{"containerPort": 80, "hostPort": 28080}])
            await client.create(PODS, python_pod("port-a", node=kubelet.node_name, containers=[port]))
            await wait_for_pod(client, "port-a", lambda p: phase(p) == "Running")
            await client.create(PODS, python_pod("port-b", node=kubelet.node_name, containers=[port]))
            pod = await wait_for_pod(client, "port-b", lambda p: phase(p) == "Failed")
            assert pod["status"]["reason"] == "NodePorts"
            assert pod["status"]["message"].startswith("Pod was rejected: Predicate NodePorts failed")
            selector = python_pod("elsewhere", SLEEP, node=kubelet.node_name, nodeSelector={"disk": "ssd"})
            await client.create(PODS, selector)
            pod = await wait_for_pod(client, "elsewhere", lambda p: phase(p) == "Failed")
            assert pod["status"]["reason"] == "NodeAffinity"

    asyncio.run(scenario())


def test_pods_of_other_nodes_are_ignored(apiserver, tmp_path):
    async def scenario():
        async with running_kubelet(apiserver.url, tmp_path) as (client, kubelet):
            await client.create(PODS, python_pod("not-mine", SLEEP, node="some-other-node"))
            await client.create(PODS, python_pod("mine", SLEEP, node=kubelet.node_name))
            await wait_for_pod(client, "mine", lambda p: phase(p) == "Running")
            other = await client.get(PODS, "not-mine", namespace="default")
            assert phase(other) == "Pending" and "containerStatuses" not in other["status"]
            assert PYTHON

    asyncio.run(scenario())
