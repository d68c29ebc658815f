"""kubectl 1.37 write paths: apply (created / unchanged / configured, validation), create -f,
replace (and Conflict), patch (strategic, merge, json), label, annotate, scale, delete (and
its wait), and the generator commands (create namespace/configmap/secret/deployment/service,
expose, delete namespace)."""

from __future__ import annotations

import base64
import copy
import ipaddress
import json
import re
import subprocess

import pytest
import yaml

from e2ehelpers import create_object, poll


def deployment(name: str, image: str = "nginx:1.25", labels: dict | None = None, sidecar: bool = False) -> dict:
    containers = [{"name": "web", "image": image}]
    if sidecar:
        containers.append({"name": "sidecar", "image": "busybox:1.36", "command": ["sleep", "3600"]})
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels or {"app": name}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": containers}},
        },
    }


def configmap(name: str, data: dict, **metadata) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, **metadata}, "data": data}


def seed(http, obj: dict) -> dict:
    """Create ``obj`` in ``default`` over plain JSON HTTP: the verb under test is not create,
    so a create -f or OpenAPI problem must not mask it."""
    group_version = obj["apiVersion"]
    prefix = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
    plural = {"ConfigMap": "configmaps", "Pod": "pods", "Deployment": "deployments", "ReplicaSet": "replicasets"}[obj["kind"]]
    return create_object(http, f"{prefix}/namespaces/default/{plural}", obj)


def unbound_pod(name: str, labels: dict | None = None) -> dict:
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]},
    }


# --------------------------------------------------------------------------- apply


def test_apply_created_unchanged_configured(kubectl, unique):
    name = unique("apply")
    first = deployment(name, labels={"app": name, "tier": "back", "remove-me": "yes"})
    path = kubectl.manifest(first)
    assert kubectl.ok("apply", "-f", path).strip() == f"deployment.apps/{name} created"
    assert kubectl.ok("apply", "-f", path).strip() == f"deployment.apps/{name} unchanged"

    second = copy.deepcopy(first)
    second["metadata"]["labels"] = {"app": name, "tier": "front"}  # changed one, dropped one
    second["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.26"
    assert kubectl.ok("apply", "-f", kubectl.manifest(second)).strip() == f"deployment.apps/{name} configured"

    live = kubectl.json("get", "deployment", name)
    assert live["metadata"]["labels"] == {"app": name, "tier": "front"}
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.26"
    assert live["metadata"]["generation"] == 2
    # Client-side apply keeps the applied manifest (annotations emptied, namespace filled)
    # in the annotation; it must come back exactly, with no patch directives stored.
    last_applied = live["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    expected = copy.deepcopy(second)
    expected["metadata"].update(annotations={}, namespace="default")
    assert json.loads(last_applied) == expected
    assert "$setElementOrder" not in json.dumps(live) and "$patch" not in json.dumps(live)
    assert kubectl.ok("apply", "-f", kubectl.manifest(second)).strip() == f"deployment.apps/{name} unchanged"


def test_apply_unknown_field_fails_strict_validation(kubectl, unique):
    name = unique("strict")
    manifest = deployment(name)
    manifest["spec"]["replica"] = 2  # typo of "replicas"
    path = kubectl.manifest(manifest)

    stderr = kubectl.fails("apply", "-f", path)  # default --validate=strict
    assert "Error from server (BadRequest)" in stderr, stderr
    assert 'strict decoding error: unknown field "spec.replica"' in stderr, stderr
    assert kubectl("get", "deployment", name).rc != 0, "a rejected create must not write"

    warned = kubectl("apply", "-f", path, "--validate=warn")
    assert warned.rc == 0, warned
    assert warned.stdout.strip() == f"deployment.apps/{name} created"
    assert 'Warning: unknown field "spec.replica"' in warned.stderr, warned.stderr
    assert "replica" not in kubectl.json("get", "deployment", name)["spec"]


def test_apply_default_validation_accepts_valid_manifests(kubectl, unique):
    name = unique("valid")
    path = kubectl.manifest(configmap(name, {"a": "1"}), unbound_pod(f"{name}-pod"))
    out = kubectl.ok("apply", "-f", path)
    assert out.splitlines() == [f"configmap/{name} created", f"pod/{name}-pod created"]


# --------------------------------------------------------------------------- create -f, replace


def test_create_file_and_already_exists(kubectl, unique):
    name = unique("create")
    path = kubectl.manifest(configmap(name, {"key": "value"}))
    assert kubectl.ok("create", "-f", path).strip() == f"configmap/{name} created"
    stderr = kubectl.fails("create", "-f", path)
    assert f'Error from server (AlreadyExists): error when creating "{path}": configmaps "{name}" already exists' in stderr, stderr


def test_replace_and_conflict_on_stale_resource_version(kubectl, unique):
    name = unique("replace")
    kubectl.ok("create", "-f", kubectl.manifest(configmap(name, {"key": "v1"})))
    stale = yaml.safe_load(kubectl.ok("get", "configmap", name, "-o", "yaml"))
    assert stale["metadata"]["resourceVersion"]

    fresh = copy.deepcopy(stale)
    fresh["data"]["key"] = "v2"
    assert kubectl.ok("replace", "-f", kubectl.manifest(fresh)).strip() == f"configmap/{name} replaced"
    assert kubectl.json("get", "configmap", name)["data"] == {"key": "v2"}

    stale["data"]["key"] = "v3"
    path = kubectl.manifest(stale)
    stderr = kubectl.fails("replace", "-f", path)
    assert (
        f'Error from server (Conflict): error when replacing "{path}": Operation cannot be fulfilled on '
        f'configmaps "{name}": the object has been modified; please apply your changes to the latest version and try again'
    ) in stderr, stderr
    assert kubectl.json("get", "configmap", name)["data"] == {"key": "v2"}


# --------------------------------------------------------------------------- patch


def test_patch_strategic_merge_json(kubectl, http, unique):
    name = unique("patch")
    seed(http, deployment(name, sidecar=True))

    strategic = '{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.26"}]}}}}'
    assert kubectl.ok("patch", "deployment", name, "-p", strategic).strip() == f"deployment.apps/{name} patched"
    containers = kubectl.json("get", "deployment", name)["spec"]["template"]["spec"]["containers"]
    # strategic merge: containers merge by name, the sidecar stays
    assert [(c["name"], c["image"]) for c in containers] == [("web", "nginx:1.26"), ("sidecar", "busybox:1.36")]
    assert kubectl.ok("patch", "deployment", name, "-p", strategic).strip() == f"deployment.apps/{name} patched (no change)"

    merge = '{"metadata":{"labels":{"patched":"merge"}},"spec":{"template":{"spec":{"containers":[{"name":"only","image":"busybox:1.36"}]}}}}'
    assert kubectl.ok("patch", "deployment", name, "--type", "merge", "-p", merge).strip() == f"deployment.apps/{name} patched"
    live = kubectl.json("get", "deployment", name)
    # RFC 7386 merge patch: lists are replaced whole
    assert [c["name"] for c in live["spec"]["template"]["spec"]["containers"]] == ["only"]
    assert live["metadata"]["labels"]["patched"] == "merge"

    ops = '[{"op":"replace","path":"/spec/replicas","value":3},{"op":"add","path":"/metadata/labels/patched","value":"json"}]'
    assert kubectl.ok("patch", "deployment", name, "--type", "json", "-p", ops).strip() == f"deployment.apps/{name} patched"
    live = kubectl.json("get", "deployment", name)
    assert live["spec"]["replicas"] == 3 and live["metadata"]["labels"]["patched"] == "json"

    failing_test = '[{"op":"test","path":"/spec/replicas","value":5},{"op":"replace","path":"/spec/replicas","value":7}]'
    # a failed "test" op rejects the whole patch (422 upstream); nothing is applied
    kubectl.fails("patch", "deployment", name, "--type", "json", "-p", failing_test)
    assert kubectl.json("get", "deployment", name)["spec"]["replicas"] == 3


# --------------------------------------------------------------------------- label, annotate, scale


def test_label_and_overwrite(kubectl, http, unique):
    name = unique("label")
    seed(http, unbound_pod(name))
    assert kubectl.ok("label", "pod", name, "env=prod").strip() == f"pod/{name} labeled"
    stderr = kubectl.fails("label", "pod", name, "env=dev")
    assert "'env' already has a value (prod), and --overwrite is false" in stderr, stderr
    assert kubectl.ok("label", "pod", name, "env=dev", "--overwrite").strip() == f"pod/{name} labeled"
    assert kubectl.json("get", "pod", name)["metadata"]["labels"] == {"env": "dev"}
    assert kubectl.ok("get", "pods", "-l", "env=dev", "-o", "name").split() == [f"pod/{name}"]
    assert kubectl.ok("label", "pod", name, "env-").strip() == f"pod/{name} unlabeled"
    assert "env" not in (kubectl.json("get", "pod", name)["metadata"].get("labels") or {})


def test_annotate(kubectl, http, unique):
    name = unique("annotate")
    seed(http, configmap(name, {}))
    assert kubectl.ok("annotate", "configmap", name, "note=hello world").strip() == f"configmap/{name} annotated"
    assert kubectl.json("get", "configmap", name)["metadata"]["annotations"] == {"note": "hello world"}
    assert "--overwrite is false" in kubectl.fails("annotate", "configmap", name, "note=again")
    kubectl.ok("annotate", "configmap", name, "note=again", "--overwrite")
    assert kubectl.json("get", "configmap", name)["metadata"]["annotations"] == {"note": "again"}


def test_scale_deployment_and_replicaset(kubectl, http, unique):
    name = unique("scale")
    seed(http, deployment(name))
    assert kubectl.ok("scale", "deployment", name, "--replicas=3").strip() == f"deployment.apps/{name} scaled"
    assert kubectl.json("get", "deployment", name)["spec"]["replicas"] == 3
    stderr = kubectl.fails("scale", "deployment", name, "--current-replicas=1", "--replicas=5")
    assert "Expected replicas to be 1, was 3" in stderr, stderr
    assert kubectl.json("get", "deployment", name)["spec"]["replicas"] == 3

    rs = deployment(f"{name}-rs")
    rs["kind"] = "ReplicaSet"
    seed(http, rs)
    assert kubectl.ok("scale", "rs", f"{name}-rs", "--replicas=0").strip() == f"replicaset.apps/{name}-rs scaled"
    assert kubectl.json("get", "replicaset", f"{name}-rs")["spec"]["replicas"] == 0


# --------------------------------------------------------------------------- delete


def test_delete_unbound_pod_and_configmap(kubectl, http, unique):
    name = unique("del")
    seed(http, unbound_pod(name))
    seed(http, configmap(name, {"a": "b"}))
    # kubectl waits (watch on metadata.name) for each object to be gone before it returns.
    out = kubectl.ok("delete", "pod", name, "--timeout=20s")
    assert re.match(rf'^pod "{name}" deleted\b', out), out
    stderr = kubectl.fails("get", "pod", name)
    assert f'Error from server (NotFound): pods "{name}" not found' in stderr, stderr
    out = kubectl.ok("delete", "configmap", name, "--timeout=20s")
    assert re.match(rf'^configmap "{name}" deleted\b', out), out
    assert f'configmaps "{name}" not found' in kubectl.fails("get", "cm", name)


def test_delete_waits_for_finalizers(kubectl, http, unique, streams):
    name = unique("final")
    seed(http, configmap(name, {"a": "b"}, finalizers=["e2e.pyk8s.io/hold"]))
    out = kubectl.ok("delete", "configmap", name, "--wait=false")
    assert re.match(rf'^configmap "{name}" deleted\b', out), out
    held = kubectl.json("get", "configmap", name)
    assert held["metadata"]["deletionTimestamp"] and held["metadata"]["finalizers"] == ["e2e.pyk8s.io/hold"]

    stream = kubectl.popen("delete", "configmap", name, "--timeout=30s")
    streams.append(stream)
    stream.expect(rf'^configmap "{name}" deleted\b')
    # Printed before the wait starts: kubectl must still be waiting, the finalizer holds the object.
    with pytest.raises(subprocess.TimeoutExpired):
        stream.process.wait(0.5)
    kubectl.ok("patch", "configmap", name, "--type", "merge", "-p", '{"metadata":{"finalizers":null}}')
    assert stream.process.wait(20) == 0, stream.stop()
    assert f'configmaps "{name}" not found' in kubectl.fails("get", "configmap", name)


def test_delete_by_label_selector(kubectl, http, unique):
    app = unique("dellabel")
    seed(http, configmap(f"{app}-1", {}, labels={"app": app}))
    seed(http, configmap(f"{app}-2", {}, labels={"app": app}))
    out = kubectl.ok("delete", "configmaps", "-l", f"app={app}", "--timeout=20s")
    assert len(out.splitlines()) == 2 and all(" deleted" in line for line in out.splitlines()), out
    result = kubectl("get", "configmaps", "-l", f"app={app}")
    assert result.stdout == "" and "No resources found in default namespace." in result.stderr


# --------------------------------------------------------------------------- generators


# kubectl's typed generators (`create namespace|configmap|secret|deployment|service`) send
# protobuf bodies: test_kubectl_generators.py covers them; the objects here go in through
# `create -f` (JSON).


def test_create_namespace_and_delete_namespace(kubectl, http, unique):
    namespace = unique("ns")
    manifest = kubectl.manifest({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    assert kubectl.ok("create", "-f", manifest).strip() == f"namespace/{namespace} created"
    row = kubectl.ok("get", "namespace", namespace, "--no-headers").split()
    assert row[:2] == [namespace, "Active"], row
    poll(lambda: http.get(f"/api/v1/namespaces/{namespace}/serviceaccounts/default").status_code == 200,
         what=f"serviceaccount default in {namespace}")

    # Emptying and finalizing a deleted namespace is the namespace controller's job (the
    # controller manager); until it runs, the namespace stays Terminating.
    out = kubectl.ok("delete", "namespace", namespace, "--wait=false")
    assert re.match(rf'^namespace "{namespace}" deleted\b', out), out
    assert kubectl.json("get", "namespace", namespace)["status"]["phase"] == "Terminating"


def test_delete_namespace_with_content_refuses_new_content(kubectl, http, unique):
    namespace = unique("nsfull")
    create_object(http, "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    create_object(http, f"/api/v1/namespaces/{namespace}/configmaps", configmap("inside", {"a": "b"}))
    out = kubectl.ok("delete", "namespace", namespace, "--wait=false")
    assert re.match(rf'^namespace "{namespace}" deleted\b', out), out
    late = http.post(f"/api/v1/namespaces/{namespace}/configmaps", json=configmap("late", {"a": "b"}))
    gone = kubectl("get", "namespace", namespace, "-o", "json")
    if gone.rc == 0:  # still finalizing: Terminating, and new content is forbidden
        assert json.loads(gone.stdout)["status"]["phase"] == "Terminating"
        assert late.status_code == 403, late.text
        assert late.json()["message"] == (f'configmaps "late" is forbidden: unable to create new content in namespace '
                                          f'{namespace} because it is being terminated'), late.text
    else:
        assert late.status_code == 404 and late.json()["message"] == f'namespaces "{namespace}" not found', late.text


def test_create_into_missing_namespace_is_refused(kubectl):
    manifest = kubectl.manifest(configmap("orphan", {"a": "b"}, namespace="no-such-namespace"))
    stderr = kubectl.fails("create", "-f", manifest)
    assert 'namespaces "no-such-namespace" not found' in stderr, stderr


def test_create_configmap_and_secret_from_manifests(kubectl, unique):
    name = unique("literal")
    out = kubectl.ok("create", "-f", kubectl.manifest(configmap(name, {"k1": "v1", "k2": "two words"})))
    assert out.strip() == f"configmap/{name} created"
    assert kubectl.json("get", "configmap", name)["data"] == {"k1": "v1", "k2": "two words"}

    secret_manifest = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
                       "stringData": {"user": "admin", "pass": "s3cr=t"}}
    out = kubectl.ok("create", "-f", kubectl.manifest(secret_manifest))
    assert out.strip() == f"secret/{name} created"
    secret = kubectl.json("get", "secret", name)
    assert secret["type"] == "Opaque" and "stringData" not in secret
    assert secret["data"] == {"user": base64.b64encode(b"admin").decode(), "pass": base64.b64encode(b"s3cr=t").decode()}
    decoded = kubectl.ok("get", "secret", name, "-o", "jsonpath={.data.user}")
    assert base64.b64decode(decoded) == b"admin"


def test_create_deployment_expose_and_services(kubectl, unique):
    name = unique("gen")
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}}, "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}]}}},
    }
    out = kubectl.ok("create", "-f", kubectl.manifest(deployment))
    assert out.strip() == f"deployment.apps/{name} created"
    live = kubectl.json("get", "deployment", name)
    assert live["metadata"]["labels"] == {"app": name}
    assert live["spec"]["replicas"] == 2 and live["spec"]["selector"] == {"matchLabels": {"app": name}}
    container = live["spec"]["template"]["spec"]["containers"][0]
    assert container["name"] == "nginx" and container["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    # upstream defaulting of apps/v1 Deployment
    assert live["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert live["spec"]["revisionHistoryLimit"] == 10 and live["spec"]["progressDeadlineSeconds"] == 600

    assert kubectl.ok("expose", "deployment", name, "--port=80", "--target-port=8080").strip() == f"service/{name} exposed"
    exposed = kubectl.json("get", "service", name)["spec"]
    assert exposed["type"] == "ClusterIP" and exposed["selector"] == {"app": name}
    assert exposed["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 8080}]
    first_ip = ipaddress.ip_address(exposed["clusterIP"])
    assert exposed["clusterIPs"] == [exposed["clusterIP"]] and exposed["sessionAffinity"] == "None"

    def service(service_name, spec):
        return kubectl.manifest({"apiVersion": "v1", "kind": "Service", "metadata": {"name": service_name},
                                 "spec": {"selector": {"app": name}, **spec}})

    other = f"{name}-cip"
    ports = [{"name": "5678-8080", "port": 5678, "protocol": "TCP", "targetPort": 8080}]
    assert kubectl.ok("create", "-f", service(other, {"ports": ports})).strip() == f"service/{other} created"
    spec = kubectl.json("get", "svc", other)["spec"]
    assert spec["ports"] == ports
    assert ipaddress.ip_address(spec["clusterIP"]) != first_ip

    headless = f"{name}-headless"
    kubectl.ok("create", "-f", service(headless, {"clusterIP": "None", "ports": [{"port": 80}]}))
    assert kubectl.json("get", "svc", headless)["spec"]["clusterIP"] == "None"

    nodeport = f"{name}-np"
    created = kubectl.ok("create", "-f", service(nodeport, {"type": "NodePort", "ports": [{"port": 80, "targetPort": 8080}]}))
    assert created.strip() == f"service/{nodeport} created"
    spec = kubectl.json("get", "svc", nodeport)["spec"]
    assert spec["type"] == "NodePort" and 30000 <= spec["ports"][0]["nodePort"] <= 32767
    ipaddress.ip_address(spec["clusterIP"])

    header, *rows = kubectl.ok("get", "svc", name).splitlines()
    assert header.split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"], header
    assert rows[0].split()[:5] == [name, "ClusterIP", str(first_ip), "<none>", "80/TCP"], rows
