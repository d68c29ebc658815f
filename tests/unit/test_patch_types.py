"""PATCH types and body media types, from pyk8s.api.patch up through ``APIServer.handle``:
merge, JSON (RFC 6902) and strategic merge patches, what kubectl's client-side apply sends,
415 for server-side apply and protobuf patches, YAML bodies, and that every rejection leaves the
store as it was."""

from __future__ import annotations

import threading

import orjson
import pytest

from apihelpers import body, pod
from pyk8s.api.errors import StatusError
from pyk8s.api.patch import (
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    apply_patch,
    check_body_type,
    check_patch_type,
    decode_body,
    json_body,
    parse_patch,
)
from pyk8s.apiserver.app import APIServer
from pyk8s.store import BACKENDS, open_store

POD_GVK = ("", "v1", "Pod")
DEPLOYMENT_GVK = ("apps", "v1", "Deployment")
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
POD_PATH = "/api/v1/namespaces/default/pods/nginx"
DEPLOYMENT_PATH = "/apis/apps/v1/namespaces/default/deployments/web"

@pytest.fixture(params=BACKENDS)
def app(request):
    server = APIServer(open_store(request.param), compaction_interval=0)
    if server.handle("GET", "/api/v1/namespaces/default").status == 404:  # not bootstrapped in-process
        server.handle("POST", "/api/v1/namespaces", "", "application/json",
                      b'{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}')
    yield server
    server.store.close()


def call(app, method, path, payload=None, content_type="application/json", raw=None):
    data = raw if raw is not None else (body(payload) if payload is not None else b"")
    response = app.handle(method, path, "", content_type, data)
    return response.status, orjson.loads(response.body)


def assert_status(result, code, reason):
    status, obj = result
    assert status == code, obj
    assert obj["kind"] == "Status" and obj["code"] == code and obj["reason"] == reason, obj
    return obj


def stored(app, path):
    return app.handle("GET", path).body


# -- media types ---------------------------------------------------------------------------------


@pytest.mark.parametrize("media_type,expected", [
    (MERGE_PATCH, MERGE_PATCH),
    (JSON_PATCH, JSON_PATCH),
    (STRATEGIC_MERGE_PATCH, STRATEGIC_MERGE_PATCH),
    ("", MERGE_PATCH),  # a bare body with no Content-Type is read as JSON (issue 2)
])
def test_patch_types_served(media_type, expected):
    assert check_patch_type(media_type) == expected


@pytest.mark.parametrize("media_type", ["application/apply-patch+yaml", "application/apply-patch+cbor"])
def test_server_side_apply_is_refused_clearly(media_type):
    with pytest.raises(StatusError) as raised:
        check_patch_type(media_type)
    assert raised.value.code == 415 and raised.value.reason == "UnsupportedMediaType"
    assert "server-side apply" in raised.value.message and "--server-side" in raised.value.message


def test_plain_json_is_not_a_patch_type_as_upstream():
    with pytest.raises(StatusError) as raised:
        check_patch_type("application/json")
    assert raised.value.code == 415 and raised.value.reason == "UnsupportedMediaType"


@pytest.mark.parametrize("media_type", ["application/vnd.kubernetes.protobuf", "text/plain", "application/cbor"])
def test_other_patch_and_body_types_are_415(media_type):
    # Protobuf is a body type (pyk8s.api.protobuf), never a patch type.
    checks = (check_patch_type,) if media_type == "application/vnd.kubernetes.protobuf" else (check_patch_type, check_body_type)
    for check in checks:
        with pytest.raises(StatusError) as raised:
            check(media_type)
        assert raised.value.code == 415 and raised.value.reason == "UnsupportedMediaType"


def test_yaml_bodies_read_like_sigs_k8s_io_yaml():
    document = b"""
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
  labels: &labels {app: web}
  annotations:
    created: 2024-01-01
data:
  enabled: "yes"
  count: "3"
extra: *labels
flag: yes
"""
    value = decode_body("application/yaml", document)
    assert value["metadata"]["annotations"]["created"] == "2024-01-01"  # no datetime
    assert value["data"] == {"enabled": "yes", "count": "3"}
    assert value["flag"] is True  # YAML 1.1, as go-yaml v2
    assert value["extra"] == {"app": "web"}
    assert orjson.loads(json_body("application/yaml", document)) == value
    assert json_body("application/json", b'{"a":1}') == b'{"a":1}'


@pytest.mark.parametrize("document", [
    b"a: [1, 2\n",  # syntax
    b"a: 1\n---\nb: 2\n",  # two documents
    b"a: .nan\n",  # JSON has no NaN
    b"a: !!binary aGVsbG8=\n",
    b"a: &loop [*loop]\n",
    # an alias bomb: 10 levels of 10 references is 10**10 nodes once expanded
    b"l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n"
    + b"".join(b"l%d: &l%d [*l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d]\n" % ((i, i) + (i - 1,) * 10)
               for i in range(1, 10)),
])
def test_bad_yaml_is_400(document):
    with pytest.raises(StatusError) as raised:
        json_body("application/yaml", document)
    assert raised.value.code == 400 and raised.value.reason == "BadRequest"


# -- parsing and applying patches ------------------------------------------------------------------


@pytest.mark.parametrize("media_type,raw,code", [
    (MERGE_PATCH, b"{", 400),
    (MERGE_PATCH, b"", 400),
    (MERGE_PATCH, b"[]", 400),
    (STRATEGIC_MERGE_PATCH, b"not json", 400),
    (STRATEGIC_MERGE_PATCH, b'"a string"', 400),
    (JSON_PATCH, b'{"op": "add"}', 400),
    (JSON_PATCH, b'[1, 2]', 400),
    (JSON_PATCH, orjson.dumps([{"op": "test", "path": "/a", "value": 1}] * 10001), 413),
])
def test_malformed_patch_bodies(media_type, raw, code):
    with pytest.raises(StatusError) as raised:
        parse_patch(media_type, raw)
    assert raised.value.code == code


@pytest.mark.parametrize("operations", [
    [{"op": "test", "path": "/metadata/name", "value": "other"}],
    [{"op": "remove", "path": "/metadata/labels/missing"}],
    [{"op": "add", "path": "/no/such/parent", "value": 1}],
    [{"op": "frobnicate", "path": "/metadata"}],
    [{"path": "/metadata"}],
    [{"op": "add", "path": 7, "value": 1}],
    [{"op": "move", "from": "/nowhere", "path": "/metadata/x"}],
])
def test_json_patch_that_cannot_apply_is_422_as_upstream(operations):
    with pytest.raises(StatusError) as raised:
        apply_patch(JSON_PATCH, pod(), orjson.dumps(operations), POD_GVK)
    error = raised.value
    assert error.code == 422 and error.reason == "Invalid"
    assert error.message == "the server rejected our request due to an error in our request"
    assert error.details["causes"][0]["reason"] == "UnexpectedServerResponse"


def test_json_patch_applies_in_order():
    operations = [
        {"op": "add", "path": "/metadata/labels", "value": {"a": "1"}},
        {"op": "replace", "path": "/spec/containers/0/image", "value": "nginx:2"},
        {"op": "copy", "from": "/metadata/labels/a", "path": "/metadata/labels/b"},
        {"op": "test", "path": "/metadata/labels/b", "value": "1"},
        {"op": "remove", "path": "/spec/containers/0/ports"},
    ]
    patched = apply_patch(JSON_PATCH, pod(), orjson.dumps(operations), POD_GVK)
    assert patched["metadata"]["labels"] == {"a": "1", "b": "1"}
    assert patched["spec"]["containers"][0] == {"name": "nginx", "image": "nginx:2"}


def test_json_patch_replacing_the_root_with_a_non_object_is_invalid():
    with pytest.raises(StatusError) as raised:
        apply_patch(JSON_PATCH, pod(), b'[{"op": "replace", "path": "", "value": [1]}]', POD_GVK)
    assert raised.value.code == 422 and raised.value.details["causes"][0]["field"] == "patch"


@pytest.mark.parametrize("media_type,raw", [
    (MERGE_PATCH, b'{"spec": {"containers": [{"name": "nginx", "image": "a"}]}}'),
    (JSON_PATCH, b'[{"op": "add", "path": "/spec/containers/-", "value": {"name": "b", "image": "b"}}]'),
    (STRATEGIC_MERGE_PATCH, b'{"spec": {"containers": [{"name": "b", "image": "b", "ports": [{"containerPort": 1}]}]}}'),
])
def test_a_parsed_patch_applies_the_same_every_time(media_type, raw):
    # The handler applies one parsed patch once per compare-and-swap attempt and defaults the
    # result in place; the second attempt must not see the first one's edits.
    patch = parse_patch(media_type, raw)
    first = patch.apply(pod(), POD_GVK)
    expected = orjson.loads(orjson.dumps(first))
    for container in first["spec"]["containers"]:
        container["imagePullPolicy"] = "Always"
        container.setdefault("ports", []).append({"containerPort": 9})
    assert patch.apply(pod(), POD_GVK) == expected


# -- through the API server ---------------------------------------------------------------------------


def test_strategic_merge_patch_of_a_pod(app):
    call(app, "POST", "/api/v1/namespaces/default/pods", pod(labels={"app": "web"}))
    status, patched = call(app, "PATCH", POD_PATH, {
        "metadata": {"labels": {"tier": "front"}, "finalizers": ["example.com/keep"]},
        "spec": {"containers": [{"name": "nginx", "image": "nginx:1.26"}]},
    }, content_type=STRATEGIC_MERGE_PATCH)
    assert status == 200, patched
    assert patched["metadata"]["labels"] == {"app": "web", "tier": "front"}
    assert patched["metadata"]["finalizers"] == ["example.com/keep"]
    container = patched["spec"]["containers"][0]
    assert container["image"] == "nginx:1.26" and container["ports"][0]["containerPort"] == 80


def test_json_patch_of_a_pod(app):
    call(app, "POST", "/api/v1/namespaces/default/pods", pod())
    status, patched = call(app, "PATCH", POD_PATH, [
        {"op": "add", "path": "/metadata/labels", "value": {"x": "y"}},
        {"op": "replace", "path": "/spec/containers/0/image", "value": "nginx:2"},
    ], content_type=JSON_PATCH)
    assert status == 200 and patched["metadata"]["labels"] == {"x": "y"}
    assert patched["spec"]["containers"][0]["image"] == "nginx:2"


@pytest.mark.parametrize("content_type,payload,code,reason", [
    (JSON_PATCH, [{"op": "test", "path": "/metadata/name", "value": "x"}], 422, "Invalid"),
    (JSON_PATCH, [{"op": "replace", "path": "/metadata/name", "value": "other"}], 422, "Invalid"),
    (JSON_PATCH, {"op": "add"}, 400, "BadRequest"),
    (JSON_PATCH, [{"op": "replace", "path": "/metadata/resourceVersion", "value": "1"}], 409, "Conflict"),
    (STRATEGIC_MERGE_PATCH, {"spec": {"containers": [{"name": "nginx", "image": ""}]}}, 422, "Invalid"),
    (STRATEGIC_MERGE_PATCH, {"spec": {"containers": [{"image": "x"}]}}, 400, "BadRequest"),
    (STRATEGIC_MERGE_PATCH, {"metadata": {"resourceVersion": "1"}, "spec": {}}, 409, "Conflict"),
    (STRATEGIC_MERGE_PATCH, {"spec": {"containers": 3}}, 400, "BadRequest"),
    (MERGE_PATCH, {"metadata": {"name": "y"}}, 422, "Invalid"),
    ("application/apply-patch+yaml", {"metadata": {"labels": {"a": "b"}}}, 415, "UnsupportedMediaType"),
    ("application/vnd.kubernetes.protobuf", {"metadata": {"labels": {"a": "b"}}}, 415, "UnsupportedMediaType"),
])
def test_rejected_patches_change_nothing(app, content_type, payload, code, reason):
    call(app, "POST", "/api/v1/namespaces/default/pods", pod())
    call(app, "PATCH", POD_PATH, {"metadata": {"labels": {"a": "1"}}})  # resourceVersion now past 1
    before, revision = stored(app, POD_PATH), app.store.current_revision()
    assert_status(call(app, "PATCH", POD_PATH, payload, content_type=content_type), code, reason)
    assert stored(app, POD_PATH) == before and app.store.current_revision() == revision


@pytest.mark.parametrize("content_type,raw", [
    (MERGE_PATCH, b'{"metadata":'),
    (JSON_PATCH, b"[{"),
    (STRATEGIC_MERGE_PATCH, b"{'single': 'quotes'}"),
])
def test_patch_body_that_is_not_json_is_400(app, content_type, raw):
    call(app, "POST", "/api/v1/namespaces/default/pods", pod())
    before = stored(app, POD_PATH)
    assert_status(call(app, "PATCH", POD_PATH, raw=raw, content_type=content_type), 400, "BadRequest")
    assert stored(app, POD_PATH) == before


@pytest.mark.parametrize("content_type,payload", [
    (MERGE_PATCH, {"metadata": {"labels": {"a": "b"}}}),
    (JSON_PATCH, [{"op": "add", "path": "/metadata/labels", "value": {"a": "b"}}]),
    (STRATEGIC_MERGE_PATCH, {"metadata": {"labels": {"a": "b"}}}),
])
def test_patch_of_a_missing_object_is_404(app, content_type, payload):
    assert_status(call(app, "PATCH", "/api/v1/namespaces/default/pods/ghost", payload, content_type=content_type),
                  404, "NotFound")


def test_yaml_create_and_replace(app):
    manifest = b"""apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  labels: {app: web}
data:
  mode: prod
  since: 2024-01-01
"""
    path = "/api/v1/namespaces/default/configmaps"
    status, created = call(app, "POST", path, raw=manifest, content_type="application/yaml")
    assert status == 201, created
    assert created["metadata"]["labels"] == {"app": "web"}
    assert created["data"] == {"mode": "prod", "since": "2024-01-01"}
    replaced = manifest.replace(b"mode: prod", b"mode: test").replace(
        b"  name: settings\n", b'  name: settings\n  resourceVersion: "%s"\n' % created["metadata"]["resourceVersion"].encode()
    )
    status, updated = call(app, "PUT", path + "/settings", raw=replaced, content_type="application/yaml; charset=utf-8")
    assert status == 200, updated
    assert updated["data"] == {"mode": "test", "since": "2024-01-01"}


@pytest.mark.parametrize("method,path,raw,code,reason", [
    ("POST", "/api/v1/namespaces/default/pods", b"metadata: [unclosed\n", 400, "BadRequest"),
    ("POST", "/api/v1/namespaces/default/pods", b"- a\n- b\n", 400, "BadRequest"),
    ("POST", "/api/v1/namespaces/default/pods", b"apiVersion: v1\nkind: Node\nmetadata: {name: x}\n", 400, "BadRequest"),
    ("PUT", POD_PATH, b"kind: Pod\napiVersion: v1\nmetadata: {name: other}\n", 400, "BadRequest"),
])
def test_yaml_bodies_get_the_json_checks(app, method, path, raw, code, reason):
    call(app, "POST", "/api/v1/namespaces/default/pods", pod())
    revision = app.store.current_revision()
    assert_status(call(app, method, path, raw=raw, content_type="application/yaml"), code, reason)
    assert app.store.current_revision() == revision


@pytest.mark.parametrize("method,path", [
    ("POST", "/api/v1/namespaces/default/pods"),
    ("PUT", POD_PATH),
    ("PATCH", POD_PATH),
    ("DELETE", POD_PATH),
])
def test_truncated_protobuf_changes_nothing(app, method, path):
    # POST/PUT/DELETE bodies may be protobuf (this one is cut short: 400); a PATCH never: 415.
    call(app, "POST", "/api/v1/namespaces/default/pods", pod())
    revision = app.store.current_revision()
    code, reason = (415, "UnsupportedMediaType") if method == "PATCH" else (400, "BadRequest")
    assert_status(call(app, method, path, raw=b"k8s\x00\n\x0f\n\x02v1\x12\x03Pod",
                       content_type="application/vnd.kubernetes.protobuf"), code, reason)
    assert app.store.current_revision() == revision


def test_concurrent_patches_all_land(app):
    call(app, "POST", "/api/v1/namespaces/default/pods", pod())
    errors = []

    def worker(n):
        for i in range(10):
            status, obj = call(app, "PATCH", POD_PATH, {"metadata": {"labels": {f"w{n}-{i}": "x"}}},
                               content_type=STRATEGIC_MERGE_PATCH)
            if status != 200:
                errors.append(obj)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    labels = orjson.loads(stored(app, POD_PATH))["metadata"]["labels"]
    assert labels == {f"w{n}-{i}": "x" for n in range(6) for i in range(10)}


# -- what kubectl apply (client side) sends --------------------------------------------------------------


def deployment_config(image: str, env: list, ports: list, strategy: dict, volume: dict) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"annotations": {}, "name": "web", "namespace": "default"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": strategy,
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [{"env": env, "image": image, "name": "web", "ports": ports}],
                    "volumes": [{**volume, "name": "data"}],
                },
            },
        },
    }


def last_applied(config: dict) -> str:
    # kubectl stores the config it applied, compact JSON with a trailing newline.
    return orjson.dumps(config).decode() + "\n"


def test_kubectl_apply_round_trip_for_a_deployment(app):
    v1 = deployment_config("nginx:1.25", [{"name": "MODE", "value": "prod"}, {"name": "DEBUG", "value": "0"}],
                           [{"containerPort": 80}], {"type": "RollingUpdate"}, {"emptyDir": {}})
    created = orjson.loads(orjson.dumps(v1))
    created["metadata"]["annotations"] = {LAST_APPLIED: last_applied(v1)}
    status, _ = call(app, "POST", "/apis/apps/v1/namespaces/default/deployments", created)
    assert status == 201

    # Something else changes the live object meanwhile (a controller adds a label and a
    # sidecar, a defaulter fills a port's protocol); apply must keep what it does not own.
    status, _ = call(app, "PATCH", DEPLOYMENT_PATH, {
        "metadata": {"labels": {"owner": "team-a"}},
        "spec": {"template": {"spec": {"containers": [
            {"name": "web", "ports": [{"containerPort": 80, "protocol": "TCP"}]},
            {"name": "proxy", "image": "envoy:1"},
        ]}}},
    }, content_type=STRATEGIC_MERGE_PATCH)
    assert status == 200

    # `kubectl apply` of v2: new image, DEBUG removed, port 443 added, Recreate strategy,
    # the volume now a configMap.  This is the three-way patch kubectl 1.37 sends (taken from
    # its -v=9 log against this server): last-applied v1, new config v2, live object.
    v2 = deployment_config("nginx:1.26", [{"name": "MODE", "value": "prod"}],
                           [{"containerPort": 80}, {"containerPort": 443}], {"type": "Recreate"},
                           {"configMap": {"name": "cfg"}})
    patch = {
        "metadata": {"annotations": {LAST_APPLIED: last_applied(v2)}},
        "spec": {
            "strategy": {"$retainKeys": ["type"], "type": "Recreate"},
            "template": {"spec": {
                "$setElementOrder/containers": [{"name": "web"}],
                "$setElementOrder/volumes": [{"name": "data"}],
                "containers": [{
                    "$setElementOrder/env": [{"name": "MODE"}],
                    "$setElementOrder/ports": [{"containerPort": 80}, {"containerPort": 443}],
                    "env": [{"$patch": "delete", "name": "DEBUG"}],
                    "image": "nginx:1.26",
                    "name": "web",
                    "ports": [{"containerPort": 443}],
                }],
                "volumes": [{"$retainKeys": ["configMap", "name"], "configMap": {"name": "cfg"}, "emptyDir": None,
                             "name": "data"}],
            }},
        },
    }
    status, applied = call(app, "PATCH", DEPLOYMENT_PATH, patch, content_type=STRATEGIC_MERGE_PATCH)
    assert status == 200, applied

    assert applied["metadata"]["annotations"] == {LAST_APPLIED: last_applied(v2)}
    assert orjson.loads(applied["metadata"]["annotations"][LAST_APPLIED]) == v2  # round-trips exactly
    assert applied["metadata"]["labels"] == {"owner": "team-a"}
    assert applied["spec"]["replicas"] == 2
    web, proxy = applied["spec"]["template"]["spec"]["containers"]
    assert (web["name"], web["image"], proxy["name"], proxy["image"]) == ("web", "nginx:1.26", "proxy", "envoy:1")
    assert web["env"] == [{"name": "MODE", "value": "prod"}]
    assert [p["containerPort"] for p in web["ports"]] == [80, 443]
    assert applied["spec"]["strategy"] == {"type": "Recreate"}  # rollingUpdate cleared by $retainKeys
    assert applied["spec"]["template"]["spec"]["volumes"] == [{"configMap": {"name": "cfg"}, "name": "data"}]
    assert b"$setElementOrder" not in stored(app, DEPLOYMENT_PATH) and b"$patch" not in stored(app, DEPLOYMENT_PATH)

    # Applying v2 again sends only the annotation, which is unchanged: nothing is written.
    revision = app.store.current_revision()
    status, again = call(app, "PATCH", DEPLOYMENT_PATH, {"metadata": {"annotations": {LAST_APPLIED: last_applied(v2)}}},
                         content_type=STRATEGIC_MERGE_PATCH)
    assert status == 200 and again == applied and app.store.current_revision() == revision
