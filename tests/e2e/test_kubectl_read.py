"""kubectl 1.37 read paths: version, api-resources, get (all output forms, -A, -l, -w),
describe, get events, explain, get all.  Objects are seeded over plain JSON HTTP so a
failure here points at the read path, not at kubectl's write paths."""

from __future__ import annotations

import datetime
import json
import re

import kubernetes.client
import yaml

from e2ehelpers import create_object

PODS = "/api/v1/namespaces/{ns}/pods"


def pod(name: str, labels: dict | None = None, node: str | None = None, image: str = "nginx:1.25") -> dict:
    spec = {"containers": [{"name": "app", "image": image}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}}, "spec": spec}


def seed_pod(http, name, labels=None, node=None, ns="default") -> dict:
    return create_object(http, PODS.format(ns=ns), pod(name, labels, node))


def table(stdout: str) -> tuple[str, list[list[str]]]:
    """Header line and rows split on runs of 2+ spaces (kubectl's column gap), so values
    containing single spaces ("NOMINATED NODE") stay whole."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert lines, f"no output: {stdout!r}"
    return lines[0], [re.split(r"\s{2,}", line.strip()) for line in lines[1:]]


# --------------------------------------------------------------------------- version, discovery


def test_version_client_and_server(kubectl):
    out = json.loads(kubectl.ok("version", "-o", "json"))
    assert out["clientVersion"]["gitVersion"].startswith("v1.37.")
    server = out["serverVersion"]
    assert re.fullmatch(r"v1\.\d+\.\d+(\S*)?", server["gitVersion"]), server
    assert server["major"] == "1" and server["minor"].rstrip("+").isdigit(), server
    text = kubectl.ok("version")
    assert re.search(r"^Client Version: v1\.37\.\d+", text, re.M), text
    assert re.search(r"^Server Version: v1\.\d+\.\d+", text, re.M), text


def test_api_resources_lists_kinds_with_shortnames_and_scope(kubectl):
    header, rows = table(kubectl.ok("api-resources"))
    assert header.split() == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"], header
    by_name = {}
    for row in rows:
        by_name[(row[0], row[-3])] = row
    expected = [
        # name, shortnames, apiVersion, namespaced, kind
        ("pods", "po", "v1", "true", "Pod"),
        ("nodes", "no", "v1", "false", "Node"),
        ("namespaces", "ns", "v1", "false", "Namespace"),
        ("configmaps", "cm", "v1", "true", "ConfigMap"),
        ("secrets", None, "v1", "true", "Secret"),
        ("services", "svc", "v1", "true", "Service"),
        ("endpoints", "ep", "v1", "true", "Endpoints"),
        ("events", "ev", "v1", "true", "Event"),
        ("serviceaccounts", "sa", "v1", "true", "ServiceAccount"),
        ("deployments", "deploy", "apps/v1", "true", "Deployment"),
        ("replicasets", "rs", "apps/v1", "true", "ReplicaSet"),
        ("jobs", None, "batch/v1", "true", "Job"),
        ("leases", None, "coordination.k8s.io/v1", "true", "Lease"),
        ("priorityclasses", "pc", "scheduling.k8s.io/v1", "false", "PriorityClass"),
    ]
    for name, short, api_version, namespaced, kind in expected:
        row = by_name.get((name, api_version))
        assert row is not None, f"{name} ({api_version}) missing from api-resources: {sorted(by_name)}"
        assert row[-3:] == [api_version, namespaced, kind], row
        if short:
            assert row[1] == short, row
        else:
            assert len(row) == 4, row  # no SHORTNAMES value

    names = kubectl.ok("api-resources", "--namespaced=false", "-o", "name").split()
    assert "namespaces" in names and "nodes" in names and "priorityclasses.scheduling.k8s.io" in names
    assert "pods" not in names and "deployments.apps" not in names


# --------------------------------------------------------------------------- get


def test_get_pods_table_and_label_selector(kubectl, http, unique):
    app = unique("tbl")
    first, second = unique("tbl-a"), unique("tbl-b")
    seed_pod(http, first, {"app": app, "tier": "front"})
    seed_pod(http, second, {"app": app, "tier": "back"})

    header, rows = table(kubectl.ok("get", "pods", "-l", f"app={app}"))
    assert header.split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"], header
    # An unbound pod: status.phase defaulted to Pending on create, one container not ready.
    assert sorted(row[:4] for row in rows) == [[first, "0/1", "Pending", "0"], [second, "0/1", "Pending", "0"]]

    _, rows = table(kubectl.ok("get", "po", "-l", f"app={app},tier!=front"))
    assert [row[0] for row in rows] == [second]
    _, rows = table(kubectl.ok("get", "pods", "-l", f"app={app},tier in (front,side)"))
    assert [row[0] for row in rows] == [first]

    result = kubectl("get", "pods", "-l", f"app={app},tier=nowhere")
    assert result.rc == 0 and result.stdout == ""
    assert "No resources found in default namespace." in result.stderr


def test_get_output_formats(kubectl, http, unique):
    app = unique("fmt")
    name = unique("fmt-pod")
    created = seed_pod(http, name, {"app": app})

    as_json = kubectl.json("get", "pod", name)
    assert as_json["kind"] == "Pod" and as_json["apiVersion"] == "v1"
    assert as_json["metadata"]["name"] == name and as_json["metadata"]["uid"] == created["metadata"]["uid"]
    assert isinstance(as_json["metadata"]["resourceVersion"], str)
    assert as_json["spec"]["containers"][0]["image"] == "nginx:1.25"

    as_yaml = yaml.safe_load(kubectl.ok("get", "pods", "-l", f"app={app}", "-o", "yaml"))
    assert as_yaml["kind"] == "List" and as_yaml["apiVersion"] == "v1"
    assert [item["metadata"]["name"] for item in as_yaml["items"]] == [name]
    assert as_yaml["items"][0]["kind"] == "Pod"

    assert kubectl.ok("get", "pods", "-l", f"app={app}", "-o", "name").split() == [f"pod/{name}"]
    jsonpath = kubectl.ok("get", "pods", "-l", f"app={app}", "-o", "jsonpath={.items[*].metadata.name}")
    assert jsonpath == name
    image = kubectl.ok("get", "pod", name, "-o", "jsonpath={.spec.containers[0].image}")
    assert image == "nginx:1.25"


def test_get_wide_shows_node_and_ip_columns(kubectl, http, unique):
    app = unique("wide")
    bound, unbound = unique("wide-bound"), unique("wide-unbound")
    seed_pod(http, bound, {"app": app}, node="wide-node-1")
    seed_pod(http, unbound, {"app": app})

    header, rows = table(kubectl.ok("get", "pods", "-o", "wide", "-l", f"app={app}"))
    assert re.split(r"\s{2,}", header.strip()) == [
        "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE", "READINESS GATES",
    ], header
    rows_by_name = {row[0]: row for row in rows}
    assert rows_by_name[bound][6] == "wide-node-1", rows_by_name[bound]
    assert rows_by_name[unbound][5:] == ["<none>", "<none>", "<none>", "<none>"], rows_by_name[unbound]


def test_get_show_labels(kubectl, http, unique):
    app = unique("lbl")
    name = unique("lbl-pod")
    seed_pod(http, name, {"tier": "front", "app": app})
    header, rows = table(kubectl.ok("get", "pods", "-l", f"app={app}", "--show-labels"))
    assert header.split()[-1] == "LABELS"
    assert rows[0][0] == name and rows[0][-1] == f"app={app},tier=front"  # keys sorted


def test_get_all_namespaces(kubectl, http, unique):
    app = unique("allns")
    namespace = unique("allns-ns")
    create_object(http, "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    in_default, in_other = unique("allns-a"), unique("allns-b")
    seed_pod(http, in_default, {"app": app})
    seed_pod(http, in_other, {"app": app}, ns=namespace)

    header, rows = table(kubectl.ok("get", "pods", "-A", "-l", f"app={app}"))
    assert header.split() == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"], header
    assert sorted((row[0], row[1]) for row in rows) == sorted([("default", in_default), (namespace, in_other)])
    _, rows = table(kubectl.ok("get", "pods", "-n", namespace, "-l", f"app={app}"))
    assert [row[0] for row in rows] == [in_other]


def test_get_nodes(kubectl, http, unique):
    name = unique("getnode")
    create_object(http, "/api/v1/nodes", {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"node-role.kubernetes.io/control-plane": "", "e2e": name}},
        "status": {
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "ready"}],
            "nodeInfo": {"kubeletVersion": "v1.37.0"},
        },
    })
    header, rows = table(kubectl.ok("get", "nodes", "-l", f"e2e={name}"))
    assert header.split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"], header
    assert len(rows) == 1
    row = rows[0]
    assert (row[0], row[1], row[2], row[4]) == (name, "Ready", "control-plane", "v1.37.0"), row
    assert kubectl.ok("get", "no", name, "-o", "name").strip() == f"node/{name}"


def test_get_watch_prints_created_pod(kubectl, http, unique, streams):
    app = unique("watch")
    name = unique("watch-pod")
    stream = kubectl.popen("get", "pods", "-w", "-l", f"app={app}")
    streams.append(stream)
    # kubectl lists first (nothing), then watches from the list's resourceVersion; a pod
    # created after the list must show up as a table row.  The create may race the start of
    # the watch, but the list+watch from the list's resourceVersion covers it either way.
    seed_pod(http, name, {"app": app})
    line = stream.expect(rf"^{re.escape(name)}\s")
    assert re.split(r"\s{2,}", line.strip())[1:4] == ["0/1", "Pending", "0"], line
    assert stream.process.poll() is None, "kubectl get -w exited instead of watching"
    stream.stop()


# --------------------------------------------------------------------------- describe, events


def test_describe_pod(kubectl, http, unique):
    name = unique("desc-pod")
    seed_pod(http, name, {"app": "describe"})
    out = kubectl.ok("describe", "pod", name)
    for pattern in (
        rf"^Name:\s+{re.escape(name)}$", r"^Namespace:\s+default$", r"^Labels:\s+app=describe$",
        r"^Status:\s+Pending$", r"^Containers:$", r"^  app:$", r"^    Image:\s+nginx:1\.25$",
        r"^QoS Class:\s+BestEffort$", r"^Volumes:", r"^Events:\s+<none>$",
    ):
        assert re.search(pattern, out, re.M), f"/{pattern}/ not in describe output:\n{out}"


def test_describe_node(kubectl, http, unique):
    name = unique("desc-node")
    create_object(http, "/api/v1/nodes", {
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
        "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is ready"}]},
    })
    create_object(http, "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": name},
        "spec": {"holderIdentity": name, "leaseDurationSeconds": 40},
    })
    seed_pod(http, unique("desc-node-pod"), node=name)
    out = kubectl.ok("describe", "node", name)
    for pattern in (
        rf"^Name:\s+{re.escape(name)}$", r"^Roles:\s+<none>$", r"^CreationTimestamp:", r"^Taints:\s+<none>$",
        r"^Unschedulable:\s+false$", r"^Lease:$", rf"^  HolderIdentity:\s+{re.escape(name)}$",
        r"^Conditions:$", r"^  Ready\s+True\s+.*KubeletReady\s+kubelet is ready$",
        r"^Non-terminated Pods:\s+\(1 in total\)", r"^Allocated resources:", r"^Events:",
    ):
        assert re.search(pattern, out, re.M), f"/{pattern}/ not in describe output:\n{out}"


def test_describe_deployment_shows_defaults(kubectl, http, unique):
    name = unique("desc-deploy")
    create_object(http, "/apis/apps/v1/namespaces/default/deployments", {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}},
        },
    })
    out = kubectl.ok("describe", "deployment", name)
    for pattern in (
        rf"^Name:\s+{re.escape(name)}$", r"^Namespace:\s+default$", rf"^Selector:\s+app={re.escape(name)}$",
        r"^Replicas:\s+1 desired \| 0 updated \| 0 total \| 0 available \| 0 unavailable$",
        r"^StrategyType:\s+RollingUpdate$", r"^MinReadySeconds:\s+0$",
        r"^RollingUpdateStrategy:\s+25% max unavailable, 25% max surge$",
        r"^Pod Template:$", r"^\s+Image:\s+nginx:1\.25$", r"^Events:",
    ):
        assert re.search(pattern, out, re.M), f"/{pattern}/ not in describe output:\n{out}"


def test_get_events(kubectl, http, api_client, unique):
    name = unique("ev-pod")
    created = seed_pod(http, name)
    core = kubernetes.client.CoreV1Api(api_client)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    reason = "E2eTesting"
    core.create_namespaced_event("default", kubernetes.client.CoreV1Event(
        metadata=kubernetes.client.V1ObjectMeta(name=f"{name}.e2e"),
        involved_object=kubernetes.client.V1ObjectReference(
            kind="Pod", namespace="default", name=name, uid=created["metadata"]["uid"], api_version="v1",
        ),
        reason=reason, message="hello from e2e", type="Normal", count=1,
        first_timestamp=now, last_timestamp=now, source=kubernetes.client.V1EventSource(component="e2e"),
    ))
    header, rows = table(kubectl.ok("get", "events", "--field-selector", f"reason={reason},involvedObject.name={name}"))
    assert header.split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"], header
    assert len(rows) == 1 and rows[0][1:] == ["Normal", reason, f"pod/{name}", "hello from e2e"], rows
    # describe finds the event through its involvedObject field selectors
    out = kubectl.ok("describe", "pod", name)
    assert re.search(rf"Normal\s+{reason}\s+.*e2e\s+hello from e2e", out), out


# --------------------------------------------------------------------------- explain, get all


def test_explain_pod_containers(kubectl):
    out = kubectl.ok("explain", "pods.spec.containers")
    for pattern in (
        r"^KIND:\s+Pod$", r"^VERSION:\s+v1$", r"^FIELD:\s+containers <\[\]Container>$", r"^DESCRIPTION:$",
        r"List of containers belonging to the pod\.", r"^FIELDS:$",
        r"^  image\s+<string>$", r"^  name\s+<string> -required-$", r"^  ports\s+<\[\]ContainerPort>$",
    ):
        assert re.search(pattern, out, re.M), f"/{pattern}/ not in explain output:\n{out}"
    replicas = kubectl.ok("explain", "deployments.spec.replicas")
    assert re.search(r"^GROUP:\s+apps$", replicas, re.M) and re.search(r"^FIELD:\s+replicas <integer>$", replicas, re.M), replicas


def test_get_all_lists_workload_kinds(kubectl, http, unique):
    app = unique("all")
    labels = {"app": app}
    template = {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}}
    seed_pod(http, f"{app}-pod", labels)
    create_object(http, "/api/v1/namespaces/default/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": f"{app}-svc", "labels": labels},
        "spec": {"selector": labels, "ports": [{"port": 80}]},
    })
    create_object(http, "/apis/apps/v1/namespaces/default/deployments", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": f"{app}-deploy", "labels": labels},
        "spec": {"selector": {"matchLabels": labels}, "template": template},
    })
    create_object(http, "/apis/apps/v1/namespaces/default/replicasets", {
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": f"{app}-rs", "labels": labels},
        "spec": {"replicas": 2, "selector": {"matchLabels": labels}, "template": template},
    })
    out = kubectl.ok("get", "all", "-l", f"app={app}")
    names = {line.split()[0] for line in out.splitlines() if line.strip() and not line.startswith("NAME")}
    assert names == {f"pod/{app}-pod", f"service/{app}-svc", f"deployment.apps/{app}-deploy", f"replicaset.apps/{app}-rs"}, out
    assert re.search(rf"^service/{app}-svc\s+ClusterIP\s+\d+\.\d+\.\d+\.\d+\s+<none>\s+80/TCP\s", out, re.M), out
    assert re.search(rf"^replicaset\.apps/{app}-rs\s+2\s+0\s+0\s", out, re.M), out
