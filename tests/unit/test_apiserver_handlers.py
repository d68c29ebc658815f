"""The API server's synchronous core (``APIServer.handle``) on every store backend:
CRUD semantics, list envelopes and paging, and every error path with its upstream reason,
checking that a rejected request leaves the store unchanged."""

from __future__ import annotations

import base64

import orjson
import pytest

from apihelpers import body, node, pod, with_changes
from pyk8s.apiserver.app import APIServer
from pyk8s.store import BACKENDS, open_store


@pytest.fixture(params=BACKENDS)
def app(request):
    server = APIServer(open_store(request.param), compaction_interval=0)
    # Issue 3: objects go into namespaces that exist.
    for namespace in ("team", "ops", "x", "y"):
        server.handle("POST", "/api/v1/namespaces", "", "application/json", body({"metadata": {"name": namespace}}))
    yield server
    server.store.close()


_DEFAULT = object()


def call(app, method, path, obj=None, query="", content_type=_DEFAULT, raw=None):
    if content_type is _DEFAULT:
        content_type = "application/merge-patch+json" if method == "PATCH" else "application/json"
    data = raw if raw is not None else (body(obj) if obj is not None else b"")
    response = app.handle(method, path, query, content_type, data)
    return response.status, orjson.loads(response.body) if response.body[:1] == b"{" else response.body


def snapshot(app):
    return (
        app.store.current_revision(),
        app.handle("GET", "/api/v1/pods").body.split(b'"items":')[1],
        app.handle("GET", "/api/v1/nodes").body.split(b'"items":')[1],
    )


def assert_status(result, code, reason):
    status, obj = result
    assert status == code, obj
    assert obj["kind"] == "Status" and obj["apiVersion"] == "v1" and obj["status"] == "Failure"
    assert obj["code"] == code and obj["reason"] == reason, obj
    return obj


# -- happy paths -------------------------------------------------------------------------------


def test_create_stamps_metadata_and_defaults(app):
    status, created = call(app, "POST", "/api/v1/pods", pod())
    assert status == 201
    meta = created["metadata"]
    assert meta["namespace"] == "default" and meta["generation"] == 1
    assert len(meta["uid"]) == 36 and meta["creationTimestamp"].endswith("Z")
    assert meta["resourceVersion"] == str(app.store.current_revision())
    assert created["status"]["phase"] == "Pending"
    spec = created["spec"]
    assert spec["restartPolicy"] == "Always" and spec["dnsPolicy"] == "ClusterFirst"
    assert spec["schedulerName"] == "default-scheduler" and spec["terminationGracePeriodSeconds"] == 30
    container = spec["containers"][0]
    assert container["imagePullPolicy"] == "IfNotPresent" and container["ports"][0]["protocol"] == "TCP"
    assert call(app, "GET", "/api/v1/namespaces/default/pods/nginx") == (200, created)


def test_create_namespace_from_body_or_path(app):
    assert call(app, "POST", "/api/v1/pods", pod("a", namespace="team"))[1]["metadata"]["namespace"] == "team"
    assert call(app, "POST", "/api/v1/namespaces/ops/pods", pod("b"))[1]["metadata"]["namespace"] == "ops"
    obj = assert_status(call(app, "POST", "/api/v1/namespaces/ops/pods", pod("c", namespace="team")), 400, "BadRequest")
    assert "does not match the namespace" in obj["message"]


def test_kind_and_api_version_default_when_missing(app):
    obj = pod()
    del obj["kind"], obj["apiVersion"]
    status, created = call(app, "POST", "/api/v1/pods", obj)
    assert status == 201 and created["kind"] == "Pod" and created["apiVersion"] == "v1"


def test_generate_name(app):
    obj = pod()
    obj["metadata"] = {"generateName": "web-"}
    status, created = call(app, "POST", "/api/v1/pods", obj)
    assert status == 201 and created["metadata"]["name"].startswith("web-") and len(created["metadata"]["name"]) == 9


def test_list_envelope(app):
    status, empty = call(app, "GET", "/api/v1/pods")
    assert status == 200 and empty["items"] == [] and empty["kind"] == "PodList" and empty["apiVersion"] == "v1"
    call(app, "POST", "/api/v1/pods", pod("a", namespace="x"))
    call(app, "POST", "/api/v1/pods", pod("b", namespace="y"))
    status, listed = call(app, "GET", "/api/v1/pods")
    assert [p["metadata"]["name"] for p in listed["items"]] == ["a", "b"]
    assert listed["metadata"]["resourceVersion"] == str(app.store.current_revision())
    assert [p["metadata"]["name"] for p in call(app, "GET", "/api/v1/namespaces/y/pods")[1]["items"]] == ["b"]


def test_selectors(app):
    call(app, "POST", "/api/v1/pods", pod("a", labels={"app": "web", "tier": "fe"}))
    call(app, "POST", "/api/v1/pods", pod("b", labels={"app": "db"}, nodeName="n1"))
    call(app, "POST", "/api/v1/pods", pod("c", restartPolicy="Never"))

    def names(query):
        status, listed = call(app, "GET", "/api/v1/pods", query=query)
        assert status == 200, listed
        return [p["metadata"]["name"] for p in listed["items"]]

    assert names("labelSelector=app%3Dweb") == ["a"]
    assert names("labelSelector=app+in+(web,db)") == ["a", "b"]
    assert names("labelSelector=!app") == ["c"]
    assert names("labelSelector=app!%3Dweb") == ["b", "c"]
    assert names("fieldSelector=spec.nodeName%3Dn1") == ["b"]
    assert names("fieldSelector=spec.nodeName%3D") == ["a", "c"]
    assert names("fieldSelector=spec.restartPolicy%3DNever") == ["c"]
    assert names("fieldSelector=metadata.name%3Db") == ["b"]
    assert names("fieldSelector=status.phase%3DPending,metadata.name!%3Da") == ["b", "c"]


def test_node_selectors_and_delete_status(app):
    call(app, "POST", "/api/v1/nodes", node("n1"))
    call(app, "POST", "/api/v1/nodes", node("n2", unschedulable=True))
    listed = call(app, "GET", "/api/v1/nodes", query="fieldSelector=spec.unschedulable%3Dtrue")[1]
    assert [n["metadata"]["name"] for n in listed["items"]] == ["n2"]
    assert "namespace" not in listed["items"][0]["metadata"]
    status, deleted = call(app, "DELETE", "/api/v1/nodes/n1")
    assert status == 200 and deleted["kind"] == "Status" and deleted["status"] == "Success"
    assert deleted["details"]["name"] == "n1" and deleted["details"]["kind"] == "nodes"


def test_paging_is_consistent(app):
    for i in range(5):
        call(app, "POST", "/api/v1/pods", pod(f"p{i}"))
    status, page = call(app, "GET", "/api/v1/pods", query="limit=2")
    revision = page["metadata"]["resourceVersion"]
    assert [p["metadata"]["name"] for p in page["items"]] == ["p0", "p1"]
    assert page["metadata"]["remainingItemCount"] == 3
    token = page["metadata"]["continue"]
    decoded = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    assert decoded == {"v": "meta.k8s.io/v1", "rv": int(revision), "start": "default/p1\x00"}
    # Writes between pages do not show up in later pages.
    call(app, "DELETE", "/api/v1/namespaces/default/pods/p2")
    call(app, "POST", "/api/v1/pods", pod("p9"))
    seen = [p["metadata"]["name"] for p in page["items"]]
    while token:
        status, page = call(app, "GET", "/api/v1/pods", query=f"limit=2&continue={token}")
        assert status == 200 and page["metadata"]["resourceVersion"] == revision
        seen += [p["metadata"]["name"] for p in page["items"]]
        token = page["metadata"].get("continue")
    assert seen == ["p0", "p1", "p2", "p3", "p4"]


def test_continue_expired_after_compaction(app):
    for i in range(3):
        call(app, "POST", "/api/v1/pods", pod(f"p{i}"))
    token = call(app, "GET", "/api/v1/pods", query="limit=1")[1]["metadata"]["continue"]
    call(app, "PUT", "/api/v1/namespaces/default/pods/p0", with_changes(call(app, "GET", "/api/v1/namespaces/default/pods/p0")[1], "metadata.labels", {"x": "y"}))
    app.store.compact(app.store.current_revision())
    obj = assert_status(call(app, "GET", "/api/v1/pods", query=f"limit=1&continue={token}"), 410, "Expired")
    assert obj["message"].startswith("The provided continue parameter is too old")


def test_put_conflict_and_unconditional(app):
    created = call(app, "POST", "/api/v1/pods", pod())[1]
    updated = with_changes(created, "metadata.labels", {"v": "1"})
    status, first = call(app, "PUT", "/api/v1/namespaces/default/pods/nginx", updated)
    assert status == 200 and first["metadata"]["labels"] == {"v": "1"}
    assert first["metadata"]["generation"] == 1 and first["metadata"]["uid"] == created["metadata"]["uid"]
    before = snapshot(app)
    stale = with_changes(created, "metadata.labels", {"v": "2"})
    obj = assert_status(call(app, "PUT", "/api/v1/namespaces/default/pods/nginx", stale), 409, "Conflict")
    assert obj["message"] == (
        'Operation cannot be fulfilled on pods "nginx": the object has been modified; please apply your '
        "changes to the latest version and try again"
    )
    assert obj["details"] == {"name": "nginx", "kind": "pods"}
    assert snapshot(app) == before
    unconditional = with_changes(stale, "metadata.resourceVersion", "")
    assert call(app, "PUT", "/api/v1/namespaces/default/pods/nginx", unconditional)[1]["metadata"]["labels"] == {"v": "2"}


def test_generation_bumps_on_spec_change_only(app):
    created = call(app, "POST", "/api/v1/pods", pod())[1]
    changed = with_changes(created, "spec.containers.0.image", "nginx:1.26")
    status, updated = call(app, "PUT", "/api/v1/namespaces/default/pods/nginx", changed)
    assert status == 200 and updated["metadata"]["generation"] == 2
    status, patched = call(app, "PATCH", "/api/v1/namespaces/default/pods/nginx/status", {"status": {"phase": "Running"}},
                           content_type="application/merge-patch+json")
    assert patched["metadata"]["generation"] == 2 and patched["status"]["phase"] == "Running"


def test_noop_update_writes_nothing(app):
    created = call(app, "POST", "/api/v1/pods", pod())[1]
    revision = app.store.current_revision()
    assert call(app, "PUT", "/api/v1/namespaces/default/pods/nginx", created) == (200, created)
    assert app.store.current_revision() == revision


def test_merge_patch(app):
    call(app, "POST", "/api/v1/pods", pod(labels={"a": "1", "b": "2"}))
    status, patched = call(app, "PATCH", "/api/v1/namespaces/default/pods/nginx",
                           {"metadata": {"labels": {"a": None, "c": "3"}}}, content_type="application/merge-patch+json")
    assert status == 200 and patched["metadata"]["labels"] == {"b": "2", "c": "3"}
    # Plain application/json is no patch type (415, as upstream); no Content-Type is JSON.
    before = snapshot(app)
    assert_status(call(app, "PATCH", "/api/v1/namespaces/default/pods/nginx", {"metadata": {"labels": {"d": "4"}}},
                       content_type="application/json"), 415, "UnsupportedMediaType")
    assert snapshot(app) == before
    assert call(app, "PATCH", "/api/v1/namespaces/default/pods/nginx", {"metadata": {"labels": {"e": "5"}}},
                content_type=None)[1]["metadata"]["labels"] == {"b": "2", "c": "3", "e": "5"}


def test_patch_with_stale_resource_version_conflicts(app):
    call(app, "POST", "/api/v1/pods", pod())
    before = snapshot(app)
    assert_status(call(app, "PATCH", "/api/v1/namespaces/default/pods/nginx",
                       {"metadata": {"resourceVersion": "1", "labels": {"x": "y"}}}), 409, "Conflict")
    assert snapshot(app) == before


def test_delete_returns_pod(app):
    created = call(app, "POST", "/api/v1/pods", pod())[1]
    status, deleted = call(app, "DELETE", "/api/v1/namespaces/default/pods/nginx")
    assert status == 200 and deleted["kind"] == "Pod" and deleted["metadata"]["uid"] == created["metadata"]["uid"]
    assert_status(call(app, "GET", "/api/v1/namespaces/default/pods/nginx"), 404, "NotFound")


def test_delete_preconditions(app):
    created = call(app, "POST", "/api/v1/pods", pod())[1]
    before = snapshot(app)
    assert_status(call(app, "DELETE", "/api/v1/namespaces/default/pods/nginx",
                       {"preconditions": {"resourceVersion": "1"}}), 409, "Conflict")
    assert_status(call(app, "DELETE", "/api/v1/namespaces/default/pods/nginx",
                       {"preconditions": {"uid": "nope"}}), 409, "Conflict")
    assert snapshot(app) == before
    rv = created["metadata"]["resourceVersion"]
    assert call(app, "DELETE", "/api/v1/namespaces/default/pods/nginx", {"preconditions": {"resourceVersion": rv}})[0] == 200


def test_health(app):
    for path in ("/health", "/healthz", "/livez", "/readyz"):
        response = app.handle("GET", path)
        assert response.status == 200 and response.body == b"ok"


# -- error paths: code, reason, and the store left alone ----------------------------------------


def test_not_found(app):
    obj = assert_status(call(app, "GET", "/api/v1/namespaces/default/pods/x"), 404, "NotFound")
    assert obj["message"] == 'pods "x" not found' and obj["details"] == {"name": "x", "kind": "pods"}
    assert_status(call(app, "PUT", "/api/v1/namespaces/default/pods/x", pod("x")), 404, "NotFound")
    assert_status(call(app, "PATCH", "/api/v1/namespaces/default/pods/x", {}), 404, "NotFound")
    assert_status(call(app, "DELETE", "/api/v1/nodes/x"), 404, "NotFound")
    for path in ("/api/v1/foos", "/api/v2/pods", "/apis/apps/v1/daemonsets", "/api/v1/pods/x",
                 "/api/v1/namespaces/default/pods/x/nonsense", "/api/v1/namespaces//pods", "/nope"):
        obj = assert_status(call(app, "GET", path), 404, "NotFound")
        assert obj["message"] == "the server could not find the requested resource"
    # Unserved container streams are still 404, with the reason in words (kubectl prints it).
    obj = assert_status(call(app, "POST", "/api/v1/namespaces/default/pods/x/exec"), 404, "NotFound")
    assert obj["message"].startswith("pods/exec is not supported by pyk8s")


def test_already_exists(app):
    call(app, "POST", "/api/v1/pods", pod())
    before = snapshot(app)
    obj = assert_status(call(app, "POST", "/api/v1/pods", pod()), 409, "AlreadyExists")
    assert obj["message"] == 'pods "nginx" already exists' and obj["details"] == {"name": "nginx", "kind": "pods"}
    assert snapshot(app) == before


@pytest.mark.parametrize("method,path", [
    ("PUT", "/api/v1/pods"), ("DELETE", "/api/v1/namespaces"), ("POST", "/api/v1/namespaces/default/pods/x"),
    ("OPTIONS", "/api/v1/nodes/x"), ("PATCH", "/api/v1/nodes"),
])
def test_method_not_allowed(app, method, path):
    before = snapshot(app)
    assert_status(call(app, method, path, pod("x")), 405, "MethodNotAllowed")
    assert snapshot(app) == before


@pytest.mark.parametrize("raw", [b"", b"{", b"not json", b"[1,2]", b'"pod"', b"null", b"{\"kind\":\"Pod\",}"])
def test_malformed_body_is_bad_request(app, raw):
    before = snapshot(app)
    assert_status(call(app, "POST", "/api/v1/pods", raw=raw), 400, "BadRequest")
    assert snapshot(app) == before


@pytest.mark.parametrize("change,value", [
    ("kind", "Node"), ("apiVersion", "apps/v1"), ("kind", 7), ("metadata", []), ("spec.containers", "x"),
    ("spec.containers.0.ports.0.containerPort", "80"), ("spec.containers.0.ports.0.containerPort", 80.5),
    ("spec.containers.0.ports.0.containerPort", True), ("metadata.labels", {"a": 1}), ("spec", 3),
    ("metadata.resourceVersion", "5"),
])
def test_wrong_types_and_kinds_are_bad_request(app, change, value):
    before = snapshot(app)
    assert_status(call(app, "POST", "/api/v1/pods", with_changes(pod(), change, value)), 400, "BadRequest")
    assert snapshot(app) == before


def test_null_list_item_decodes_to_an_empty_value_and_fails_validation(app):
    # Go decodes `containers: [null]` to an empty Container, which then lacks name and image.
    before = snapshot(app)
    assert_status(call(app, "POST", "/api/v1/pods", with_changes(pod(), "spec.containers.0", None)), 422, "Invalid")
    assert snapshot(app) == before


def test_put_name_mismatch_is_bad_request(app):
    created = call(app, "POST", "/api/v1/pods", pod())[1]
    obj = assert_status(call(app, "PUT", "/api/v1/namespaces/default/pods/nginx", with_changes(created, "metadata.name", "other")),
                        400, "BadRequest")
    assert obj["message"] == "the name of the object (other) does not match the name on the URL (nginx)"


def test_request_entity_too_large(app):
    big = pod()
    big["metadata"]["annotations"] = {"a": "x" * (3 * 1024 * 1024)}
    before = snapshot(app)
    assert_status(call(app, "POST", "/api/v1/pods", big), 413, "RequestEntityTooLarge")
    assert snapshot(app) == before


@pytest.mark.parametrize("method,path,content_type", [
    ("POST", "/api/v1/pods", "text/plain"),
    ("PUT", "/api/v1/namespaces/default/pods/nginx", "application/x-protobuf"),
    ("PATCH", "/api/v1/namespaces/default/pods/nginx", "application/apply-patch+yaml"),
    ("PATCH", "/api/v1/namespaces/default/pods/nginx", "application/vnd.kubernetes.protobuf"),
    ("PATCH", "/api/v1/namespaces/default/pods/nginx", "text/plain"),
])
def test_unsupported_media_type(app, method, path, content_type):
    created = call(app, "POST", "/api/v1/pods", pod())[1]
    before = snapshot(app)
    assert_status(call(app, method, path, created, content_type=content_type), 415, "UnsupportedMediaType")
    assert snapshot(app) == before


def test_content_type_parameters_are_ignored(app):
    assert call(app, "POST", "/api/v1/pods", pod(), content_type="application/json; charset=utf-8")[0] == 201


def test_form_encoded_body_is_unsupported_as_upstream(app):
    # `curl -d @pod.json` without -H labels the body application/x-www-form-urlencoded.
    before = snapshot(app)
    status, body = call(app, "POST", "/api/v1/pods", pod(), content_type="application/x-www-form-urlencoded")[:2]
    assert status == 415
    assert snapshot(app) == before


@pytest.mark.parametrize("query,message", [
    ("fieldSelector=spec.foo%3Dbar", "field label not supported: spec.foo"),
    ("labelSelector=a%3D%3D%3Db", None),
    ("labelSelector=in+in", None),
    ("limit=abc", None),
    ("continue=!!!", None),
    ("continue=eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ", None),
    ("watch=maybe", None),
    ("resourceVersion=abc", None),
])
def test_bad_list_options(app, query, message):
    obj = assert_status(call(app, "GET", "/api/v1/pods", query=query), 400, "BadRequest")
    if message:
        assert obj["message"] == message


@pytest.mark.parametrize("query,message", [
    ("resourceVersion=1&resourceVersionMatch=Sometimes",
     'resourceVersionMatch: Unsupported value: "Sometimes": supported values: "Exact", "NotOlderThan", ""'),
    ("resourceVersionMatch=Exact", "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless "
                                   "resourceVersion is provided"),
    ("resourceVersion=0&resourceVersionMatch=Exact",
     'resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"'),
    ("resourceVersionMatch=NotOlderThan&resourceVersion=1&continue=x",
     "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden when continue is provided"),
])
def test_invalid_list_options(app, query, message):
    # Upstream ValidateListOptions: 422 Invalid on ListOptions.meta.k8s.io.
    obj = assert_status(call(app, "GET", "/api/v1/pods", query=query), 422, "Invalid")
    assert obj["message"] == f'ListOptions.meta.k8s.io "" is invalid: {message}'


def test_list_at_compacted_revision_is_gone(app):
    call(app, "POST", "/api/v1/pods", pod("a"))
    call(app, "POST", "/api/v1/pods", pod("b"))
    app.store.compact(app.store.current_revision())
    assert_status(call(app, "GET", "/api/v1/pods", query="resourceVersion=2&resourceVersionMatch=Exact"), 410, "Expired")


def test_invalid_pod(app):
    bad = pod("Bad_Name")
    bad["spec"]["containers"] = [
        {"name": "a", "image": "x", "ports": [{"containerPort": 70000, "protocol": "HTTP"}]},
        {"name": "a"},
    ]
    before = snapshot(app)
    obj = assert_status(call(app, "POST", "/api/v1/pods", bad), 422, "Invalid")
    assert obj["message"].startswith('Pod "Bad_Name" is invalid: [metadata.name: Invalid value: "Bad_Name": ')
    causes = {(c["field"], c["reason"]) for c in obj["details"]["causes"]}
    assert causes == {
        ("metadata.name", "FieldValueInvalid"),
        ("spec.containers[0].ports[0].containerPort", "FieldValueInvalid"),
        ("spec.containers[0].ports[0].protocol", "FieldValueNotSupported"),
        ("spec.containers[1].name", "FieldValueDuplicate"),
        ("spec.containers[1].image", "FieldValueRequired"),
    }
    assert obj["details"]["name"] == "Bad_Name" and obj["details"]["kind"] == "Pod"
    assert snapshot(app) == before


def test_invalid_single_cause_message(app):
    obj = assert_status(call(app, "POST", "/api/v1/pods", with_changes(pod("x"), "spec.containers", [])), 422, "Invalid")
    assert obj["message"] == 'Pod "x" is invalid: spec.containers: Required value'
    assert obj["details"]["causes"] == [{"reason": "FieldValueRequired", "message": "Required value", "field": "spec.containers"}]


def test_invalid_update_changes_nothing(app):
    created = call(app, "POST", "/api/v1/pods", pod())[1]
    before = snapshot(app)
    assert_status(call(app, "PUT", "/api/v1/namespaces/default/pods/nginx",
                       with_changes(created, "metadata.labels", {"bad key!": "v"})), 422, "Invalid")
    obj = assert_status(call(app, "PUT", "/api/v1/namespaces/default/pods/nginx",
                             with_changes(created, "spec.restartPolicy", "Never")), 422, "Invalid")
    assert obj["details"]["causes"][0]["field"] == "spec" and obj["details"]["causes"][0]["reason"] == "FieldValueForbidden"
    assert_status(call(app, "PATCH", "/api/v1/namespaces/default/pods/nginx",
                       {"spec": {"containers": None}}), 422, "Invalid")
    assert_status(call(app, "PATCH", "/api/v1/namespaces/default/pods/nginx", {"metadata": {"name": "y"}}), 422, "Invalid")
    assert_status(call(app, "PATCH", "/api/v1/namespaces/default/pods/nginx", {"spec": {"containers": 1}}), 400, "BadRequest")
    assert_status(call(app, "PATCH", "/api/v1/namespaces/default/pods/nginx", raw=b"[]"), 400, "BadRequest")
    assert snapshot(app) == before


def test_deeply_nested_body_is_not_a_500(app):
    raw = b'{"kind":"Pod","metadata":{"name":"x"},"spec":' + b'{"a":' * 500 + b"1" + b"}" * 500 + b"}"
    assert call(app, "POST", "/api/v1/pods", raw=raw)[0] in (400, 422)
    call(app, "POST", "/api/v1/pods", pod("y"))
    assert call(app, "PATCH", "/api/v1/namespaces/default/pods/y", raw=b'{"x":' * 900 + b"1" + b"}" * 900)[0] in (200, 400)


def test_pod_is_bound_through_binding_not_update(app):
    call(app, "POST", "/api/v1/pods", pod())
    assert_status(call(app, "PATCH", "/api/v1/namespaces/default/pods/nginx", {"spec": {"nodeName": "n1"}},
                       content_type="application/merge-patch+json"), 422, "Invalid")
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "nginx"}, "target": {"kind": "Node", "name": "n1"}}
    assert call(app, "POST", "/api/v1/namespaces/default/pods/nginx/binding", binding)[0] == 201
    status, listed = call(app, "GET", "/api/v1/pods", query="fieldSelector=spec.nodeName%3Dn1")
    assert [p["metadata"]["name"] for p in listed["items"]] == ["nginx"]
