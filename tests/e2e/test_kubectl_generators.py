"""kubectl 1.37's typed generators (``create namespace|configmap|secret|deployment|service|
job|serviceaccount|priorityclass``) write protobuf bodies; ``run`` and ``expose`` write JSON.
Each object is read back and checked, and the protobuf ones are compared with the same
object sent as kubectl's own JSON (``--dry-run=client -o json | kubectl create -f -``)."""

from __future__ import annotations

import base64
import json
import re

import pytest

PROTOBUF = "application/vnd.kubernetes.protobuf"


@pytest.fixture
def namespace(kubectl, unique):
    name = unique("gen")
    kubectl.ok("create", "namespace", name)
    return name


def with_flags(args: tuple[str, ...], *flags: str) -> list[str]:
    """``args`` with ``flags`` before a ``--`` command, where kubectl wants them."""
    if "--" in args:
        index = args.index("--")
        return [*args[:index], *flags, *args[index:]]
    return [*args, *flags]


def test_generators_send_protobuf_and_accept_json_answers(kubectl, namespace):
    result = kubectl(*with_flags(("create", "configmap", "wire", "--from-literal=a=1"), "-n", namespace, "-v=8"))
    assert result.rc == 0, result.stderr
    assert f"Content-Type: {PROTOBUF}" in result.stderr
    assert f"Accept: {PROTOBUF},application/json" in result.stderr
    assert re.search(r'"Response".*status="201 Created"', result.stderr)
    assert "configmap/wire created" in result.stdout


def test_create_namespace(kubectl, http, unique):
    name = unique("pbns")
    assert kubectl.ok("create", "namespace", name).strip() == f"namespace/{name} created"
    created = kubectl.json("get", "namespace", name)
    assert created["status"]["phase"] == "Active"
    assert created["spec"]["finalizers"] == ["kubernetes"]
    assert created["metadata"]["labels"]["kubernetes.io/metadata.name"] == name
    assert http.get(f"/api/v1/namespaces/{name}/serviceaccounts/default").status_code == 200


def test_create_configmap_and_secret(kubectl, namespace):
    kubectl.ok("create", "configmap", "settings", "--from-literal=mode=fast", "--from-literal=level=3", "-n", namespace)
    assert kubectl.json("get", "configmap", "settings", "-n", namespace)["data"] == {"level": "3", "mode": "fast"}
    kubectl.ok("create", "secret", "generic", "login", "--from-literal=user=admin", "--from-literal=pw=s3cr3t",
               "-n", namespace)
    secret = kubectl.json("get", "secret", "login", "-n", namespace)
    assert secret["type"] == "Opaque"
    assert {key: base64.b64decode(value).decode() for key, value in secret["data"].items()} == {
        "user": "admin", "pw": "s3cr3t"}


def test_create_deployment(kubectl, namespace):
    kubectl.ok("create", "deployment", "web", "--image=nginx:1.27", "--replicas=2", "--port=80", "-n", namespace)
    deployment = kubectl.json("get", "deployment", "web", "-n", namespace)
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    assert spec["selector"] == {"matchLabels": {"app": "web"}}
    assert spec["template"]["metadata"]["labels"] == {"app": "web"}
    container = spec["template"]["spec"]["containers"][0]
    assert (container["name"], container["image"], container["ports"]) == (
        "nginx", "nginx:1.27", [{"containerPort": 80, "protocol": "TCP"}])
    # The handlers' defaulting ran, as for a JSON body.
    assert spec["strategy"]["type"] == "RollingUpdate" and spec["revisionHistoryLimit"] == 10
    assert container["imagePullPolicy"] == "IfNotPresent"
    # An explicit zero in a pointer field survives (the JSON reading of Go's *int32).
    kubectl.ok("create", "deployment", "idle", "--image=nginx", "--replicas=0", "-n", namespace)
    assert kubectl.json("get", "deployment", "idle", "-n", namespace)["spec"]["replicas"] == 0


def test_create_service_clusterip(kubectl, namespace):
    kubectl.ok("create", "service", "clusterip", "api", "--tcp=80:8080", "-n", namespace)
    service = kubectl.json("get", "service", "api", "-n", namespace)
    spec = service["spec"]
    assert spec["type"] == "ClusterIP" and spec["selector"] == {"app": "api"}
    assert spec["ports"] == [{"name": "80-8080", "port": 80, "protocol": "TCP", "targetPort": 8080}]
    assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", spec["clusterIP"]) and spec["clusterIPs"] == [spec["clusterIP"]]


def test_create_job(kubectl, namespace):
    kubectl.ok("create", "job", "once", "--image=busybox", "-n", namespace, "--", "echo", "hi")
    spec = kubectl.json("get", "job", "once", "-n", namespace)["spec"]
    pod_spec = spec["template"]["spec"]
    assert pod_spec["restartPolicy"] == "Never"
    assert pod_spec["containers"][0]["command"] == ["echo", "hi"]
    assert pod_spec["containers"][0]["image"] == "busybox"
    assert spec["backoffLimit"] == 6 and spec["completions"] == 1 and spec["parallelism"] == 1


def test_run_pod(kubectl, namespace):
    kubectl.ok("run", "sleeper", "--image=busybox", "--env=A=1", "--env=B=two", "--labels=app=x,tier=y",
               "-n", namespace, "--command", "--", "sleep", "1")
    pod = kubectl.json("get", "pod", "sleeper", "-n", namespace)
    assert pod["metadata"]["labels"] == {"app": "x", "tier": "y"}
    container = pod["spec"]["containers"][0]
    assert container["command"] == ["sleep", "1"]
    assert container["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "two"}]


def test_expose_deployment(kubectl, namespace):
    kubectl.ok("create", "deployment", "front", "--image=nginx", "-n", namespace)
    kubectl.ok("expose", "deployment", "front", "--port=80", "--target-port=8080", "-n", namespace)
    spec = kubectl.json("get", "service", "front", "-n", namespace)["spec"]
    assert spec["selector"] == {"app": "front"}
    assert spec["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 8080}]


def test_create_serviceaccount_and_priorityclass(kubectl, namespace, unique):
    kubectl.ok("create", "serviceaccount", "robot", "-n", namespace)
    assert kubectl.json("get", "serviceaccount", "robot", "-n", namespace)["metadata"]["name"] == "robot"
    name = unique("prio")
    kubectl.ok("create", "priorityclass", name, "--value=1000", "--description=important",
               "--preemption-policy=Never")
    priority_class = kubectl.json("get", "priorityclass", name)
    assert (priority_class["value"], priority_class["description"], priority_class["preemptionPolicy"]) == (
        1000, "important", "Never")
    assert priority_class.get("globalDefault", False) is False


def comparable(obj: dict) -> str:
    """The object without what differs between two creations (identity, times, the
    namespace, allocated cluster IPs and node ports), its uid replaced wherever it was copied."""
    meta = obj["metadata"]
    uid = meta["uid"]
    for key in ("uid", "resourceVersion", "creationTimestamp", "namespace", "managedFields", "generation"):
        meta.pop(key, None)
    spec = obj.get("spec", {})
    for key in ("clusterIP", "clusterIPs"):
        spec.pop(key, None)
    for port in spec.get("ports", []) if obj["kind"] == "Service" else []:
        port.pop("nodePort", None)
    return json.dumps(obj, sort_keys=True).replace(uid, "UID")


@pytest.mark.parametrize("args", [
    ("create", "configmap", "same", "--from-literal=a=1", "--from-literal=b=2"),
    ("create", "secret", "generic", "same", "--from-literal=a=1"),
    ("create", "secret", "docker-registry", "same", "--docker-server=r.example", "--docker-username=u",
     "--docker-password=p"),
    ("create", "deployment", "same", "--image=nginx", "--replicas=3", "--port=8080"),
    ("create", "service", "nodeport", "same", "--tcp=80:8080"),
    ("create", "service", "externalname", "same", "--external-name=example.com"),
    ("create", "job", "same", "--image=busybox", "--", "echo", "hi"),
    ("create", "serviceaccount", "same"),
], ids=lambda args: "-".join(args[1:3]))
def test_protobuf_and_json_bodies_store_the_same_object(kubectl, unique, args):
    from_protobuf, from_json = unique("viapb"), unique("viajson")
    for name in (from_protobuf, from_json):
        kubectl.ok("create", "namespace", name)
    kubectl.ok(*with_flags(args, "-n", from_protobuf))
    manifest = kubectl.ok(*with_flags(args, "--dry-run=client", "-o", "json", "-n", from_json))
    kubectl.ok("create", "-f", "-", stdin=manifest)
    protobuf_obj, json_obj = (kubectl.json("get", args[1], "same", "-n", name) for name in (from_protobuf, from_json))
    assert comparable(protobuf_obj) == comparable(json_obj)


def test_cluster_scoped_priorityclass_matches_json(kubectl, unique):
    from_protobuf, from_json = unique("pbprio"), unique("jsonprio")
    args = ("create", "priorityclass", from_protobuf, "--value=7", "--description=d", "--preemption-policy=Never")
    kubectl.ok(*args)
    manifest = json.loads(kubectl.ok("create", "priorityclass", from_json, "--value=7", "--description=d",
                                     "--preemption-policy=Never", "--dry-run=client", "-o", "json"))
    kubectl.ok("create", "-f", "-", stdin=json.dumps(manifest))
    objects = [kubectl.json("get", "priorityclass", name) for name in (from_protobuf, from_json)]
    for obj in objects:
        obj.pop("metadata")
    assert objects[0] == objects[1]
