"""The legacy core/v1 ``bindings`` collection: POST /api/v1/namespaces/{ns}/bindings binds
the pod its Binding names, as pods/{name}/binding does; it serves create only."""

from __future__ import annotations

import orjson
import pytest

from pyk8s.apiserver.app import APIServer

JSON = "application/json"


@pytest.fixture
def app():
    server = APIServer(compaction_interval=0)
    yield server
    server.store.close()


def post(app, path, obj, query=""):
    response = app.handle("POST", path, query, JSON, orjson.dumps(obj))
    return response.status, orjson.loads(response.body)


def make_pod(app, name, namespace="default"):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
           "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    assert post(app, f"/api/v1/namespaces/{namespace}/pods", pod)[0] == 201


def binding(name, node="node-1", **meta):
    return {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name, **meta},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node}}


def read_pod(app, name, namespace="default"):
    return orjson.loads(app.handle("GET", f"/api/v1/namespaces/{namespace}/pods/{name}").body)


def test_binding_assigns_the_named_pod(app):
    make_pod(app, "web")
    status, body = post(app, "/api/v1/namespaces/default/bindings", binding("web", annotations={"a": "b"}))
    assert status == 201 and body == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
    pod = read_pod(app, "web")
    assert pod["spec"]["nodeName"] == "node-1" and pod["metadata"]["annotations"] == {"a": "b"}
    assert [c["type"] for c in pod["status"]["conditions"]] == ["PodScheduled"]
    # Bound once: a second binding conflicts, as through pods/binding.
    status, body = post(app, "/api/v1/namespaces/default/bindings", binding("web", "node-2"))
    assert status == 409 and body["reason"] == "Conflict"
    assert read_pod(app, "web")["spec"]["nodeName"] == "node-1"


def test_binding_errors(app):
    make_pod(app, "web")
    status, body = post(app, "/api/v1/namespaces/default/bindings", binding("missing"))
    assert status == 404 and body["message"] == 'pods "missing" not found'
    status, body = post(app, "/api/v1/namespaces/default/bindings", {"kind": "Binding", "target": {"name": "n"}})
    assert status == 400 and body["reason"] == "BadRequest"
    status, body = post(app, "/api/v1/namespaces/default/bindings", binding("web", namespace="other"))
    assert status == 400 and "namespace" in body["message"]
    status, body = post(app, "/api/v1/namespaces/default/bindings", {"kind": "Binding", "metadata": {"name": "web"}, "target": {}})
    assert status == 422 and body["details"]["causes"][0]["field"] == "target.name"
    assert "nodeName" not in read_pod(app, "web")["spec"]


def test_dry_run_changes_nothing(app):
    make_pod(app, "web")
    status, _ = post(app, "/api/v1/namespaces/default/bindings", binding("web"), "dryRun=All")
    assert status == 201 and "nodeName" not in read_pod(app, "web")["spec"]


@pytest.mark.parametrize("method,path", [
    ("GET", "/api/v1/namespaces/default/bindings"),
    ("GET", "/api/v1/namespaces/default/bindings/web"),
    ("DELETE", "/api/v1/namespaces/default/bindings"),
    ("PUT", "/api/v1/namespaces/default/bindings/web"),
])
def test_only_create_is_served(app, method, path):
    response = app.handle(method, path, "", JSON, b"{}" if method == "PUT" else b"")
    assert response.status == 405 and orjson.loads(response.body)["reason"] == "MethodNotAllowed"


def test_watch_is_not_served(app):
    with pytest.raises(Exception) as raised:
        app.open_watch("/api/v1/namespaces/default/bindings", "watch=true")
    assert raised.value.code == 405


def test_discovery_and_openapi_list_it_as_create_only(app):
    resources = {r["name"]: r for r in orjson.loads(app.handle("GET", "/api/v1").body)["resources"]}
    # What kube-apiserver lists: no storageVersionHash (nothing is stored).
    assert resources["bindings"] == {"name": "bindings", "singularName": "binding", "namespaced": True,
                                     "kind": "Binding", "verbs": ["create"]}
    document = orjson.loads(app.handle("GET", "/openapi/v3/api/v1").body)
    item = document["paths"]["/api/v1/namespaces/{namespace}/bindings"]
    assert item["post"]["operationId"] == "createCoreV1NamespacedBinding"
    assert "get" not in item and "/api/v1/bindings" not in document["paths"]
    assert b'resource="bindings"' not in app.handle("GET", "/metrics").body.split(b"apiserver_storage_objects", 1)[1]
