"""Pods (issue 3): status semantics, binding, eviction, graceful deletion, finalizers and
propagation, preconditions, dry runs, generateName, ownerReferences, priority, and
deletecollection; on every backend."""

from __future__ import annotations

import pytest

from pyk8s.apiserver.app import APIServer
from pyk8s.store import BACKENDS, open_store
from resourcehelpers import call, failure, names, ok, pod

PODS = "/api/v1/namespaces/default/pods"
MERGE = "application/merge-patch+json"


@pytest.fixture(params=BACKENDS)
def app(request):
    server = APIServer(open_store(request.param), compaction_interval=0)
    yield server
    server.store.close()


def bind(app, name, node="n1"):
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name}, "target": {"kind": "Node", "name": node}}
    return call(app, "POST", f"{PODS}/{name}/binding", binding)


def test_create_resets_status_and_defaults(app):
    created = ok(call(app, "POST", PODS, {**pod(), "status": {"phase": "Running", "podIP": "1.2.3.4"}}), 201)
    assert created["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    spec = created["spec"]
    assert spec["priority"] == 0 and spec["serviceAccountName"] == "default" and spec["enableServiceLinks"] is True


def test_main_resource_ignores_status_and_status_ignores_spec(app):
    created = ok(call(app, "POST", PODS, pod()), 201)
    patched = ok(call(app, "PATCH", f"{PODS}/p", {"status": {"phase": "Running"}, "metadata": {"labels": {"a": "b"}}},
                      content_type=MERGE))
    assert patched["status"]["phase"] == "Pending" and patched["metadata"]["labels"] == {"a": "b"}
    status = ok(call(app, "GET", f"{PODS}/p/status"))
    assert status["kind"] == "Pod"
    status["status"]["phase"] = "Running"
    status["spec"]["activeDeadlineSeconds"] = 5
    updated = ok(call(app, "PUT", f"{PODS}/p/status", status))
    assert updated["status"]["phase"] == "Running" and "activeDeadlineSeconds" not in updated["spec"]
    assert updated["metadata"]["generation"] == created["metadata"]["generation"]
    field = ok(call(app, "GET", "/api/v1/pods", query="fieldSelector=status.phase%3DRunning"))
    assert names(field) == ["p"]


def test_binding_sets_node_once(app):
    ok(call(app, "POST", PODS, pod()), 201)
    created = ok(bind(app, "p"), 201)
    assert created == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
    bound = ok(call(app, "GET", f"{PODS}/p"))
    assert bound["spec"]["nodeName"] == "n1"
    assert [c["type"] for c in bound["status"]["conditions"]] == ["PodScheduled"]
    body = failure(bind(app, "p", "n2"), 409, "Conflict")
    assert body["message"] == 'Operation cannot be fulfilled on pods/binding "p": pod p is already assigned to node "n1"'
    failure(bind(app, "missing"), 404, "NotFound")
    failure(call(app, "POST", f"{PODS}/p/binding", {"metadata": {"name": "other"}, "target": {"name": "n1"}}),
            400, "BadRequest")
    failure(call(app, "POST", f"{PODS}/p/binding", {"metadata": {"name": "p"}, "target": {}}), 422, "Invalid")


def test_unbound_pod_goes_at_once_bound_pod_gracefully(app):
    ok(call(app, "POST", PODS, pod("a")), 201)
    deleted = ok(call(app, "DELETE", f"{PODS}/a"))
    assert deleted["metadata"]["name"] == "a"
    failure(call(app, "GET", f"{PODS}/a"), 404, "NotFound")

    ok(call(app, "POST", PODS, pod("b", terminationGracePeriodSeconds=45)), 201)
    ok(bind(app, "b"), 201)
    marked = ok(call(app, "DELETE", f"{PODS}/b"))
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 45 and marked["metadata"]["deletionTimestamp"]
    assert ok(call(app, "GET", f"{PODS}/b"))["metadata"]["deletionGracePeriodSeconds"] == 45
    # A longer grace period does not extend it; a shorter one shortens it.
    revision = app.store.current_revision()
    ok(call(app, "DELETE", f"{PODS}/b", {"gracePeriodSeconds": 60}))
    assert app.store.current_revision() == revision
    shorter = ok(call(app, "DELETE", f"{PODS}/b", query="gracePeriodSeconds=10"))
    assert shorter["metadata"]["deletionGracePeriodSeconds"] == 10
    # The kubelet ends it with grace 0.
    ok(call(app, "DELETE", f"{PODS}/b", {"gracePeriodSeconds": 0}))
    failure(call(app, "GET", f"{PODS}/b"), 404, "NotFound")


def test_finalizers_keep_object_until_removed(app):
    obj = pod()
    obj["metadata"]["finalizers"] = ["example.com/hold"]
    ok(call(app, "POST", PODS, obj), 201)
    marked = ok(call(app, "DELETE", f"{PODS}/p"))
    assert marked["metadata"]["deletionTimestamp"] and marked["metadata"]["deletionGracePeriodSeconds"] == 0
    body = failure(call(app, "PATCH", f"{PODS}/p", {"metadata": {"finalizers": ["example.com/hold", "example.com/new"]}},
                        content_type=MERGE), 422, "Invalid")
    assert "no new finalizers can be added if the object is being deleted" in body["message"]
    ok(call(app, "PATCH", f"{PODS}/p", {"metadata": {"finalizers": None}}, content_type=MERGE))
    failure(call(app, "GET", f"{PODS}/p"), 404, "NotFound")


@pytest.mark.parametrize("policy,finalizer", [("Orphan", "orphan"), ("Foreground", "foregroundDeletion")])
def test_propagation_policy_adds_gc_finalizer(app, policy, finalizer):
    ok(call(app, "POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "c"}}), 201)
    marked = ok(call(app, "DELETE", "/api/v1/namespaces/default/configmaps/c", {"propagationPolicy": policy}))
    assert marked["metadata"]["finalizers"] == [finalizer] and marked["metadata"]["deletionTimestamp"]
    # Background drops them again and the object goes.
    gone = ok(call(app, "DELETE", "/api/v1/namespaces/default/configmaps/c", query="propagationPolicy=Background"))
    assert gone["kind"] == "Status" and gone["status"] == "Success"
    failure(call(app, "GET", "/api/v1/namespaces/default/configmaps/c"), 404, "NotFound")


def test_bad_delete_options(app):
    ok(call(app, "POST", PODS, pod()), 201)
    failure(call(app, "DELETE", f"{PODS}/p", {"propagationPolicy": "Sometimes"}), 422, "Invalid")
    failure(call(app, "DELETE", f"{PODS}/p", {"propagationPolicy": "Orphan", "orphanDependents": True}), 422, "Invalid")
    failure(call(app, "DELETE", f"{PODS}/p", query="dryRun=Maybe"), 422, "Invalid")
    ok(call(app, "GET", f"{PODS}/p"))


def test_delete_preconditions(app):
    created = ok(call(app, "POST", PODS, pod()), 201)
    body = failure(call(app, "DELETE", f"{PODS}/p", {"preconditions": {"uid": "nope"}}), 409, "Conflict")
    assert "Precondition failed: UID in precondition: nope" in body["message"]
    failure(call(app, "DELETE", f"{PODS}/p", {"preconditions": {"resourceVersion": "1"}}), 409, "Conflict")
    ok(call(app, "DELETE", f"{PODS}/p", {"preconditions": {"uid": created["metadata"]["uid"],
                                                           "resourceVersion": created["metadata"]["resourceVersion"]}}))


def test_dry_run_changes_nothing(app):
    revision = app.store.current_revision()
    would = ok(call(app, "POST", PODS, pod(), query="dryRun=All"), 201)
    assert would["metadata"]["uid"] and "resourceVersion" not in would["metadata"]
    assert app.store.current_revision() == revision
    failure(call(app, "GET", f"{PODS}/p"), 404, "NotFound")
    created = ok(call(app, "POST", PODS, pod()), 201)
    revision = app.store.current_revision()
    patched = ok(call(app, "PATCH", f"{PODS}/p", {"metadata": {"labels": {"x": "y"}}}, query="dryRun=All",
                      content_type=MERGE))
    assert patched["metadata"]["labels"] == {"x": "y"}
    changed = dict(created, metadata={**created["metadata"], "labels": {"z": "1"}})
    ok(call(app, "PUT", f"{PODS}/p", changed, query="dryRun=All"))
    ok(call(app, "DELETE", f"{PODS}/p", query="dryRun=All"))
    ok(call(app, "DELETE", "/api/v1/namespaces/default/pods", query="dryRun=All"))
    assert app.store.current_revision() == revision
    assert "labels" not in ok(call(app, "GET", f"{PODS}/p"))["metadata"]


def test_generate_name_and_name_required(app):
    obj = pod()
    obj["metadata"] = {"generateName": "web-"}
    first = ok(call(app, "POST", PODS, obj), 201)["metadata"]["name"]
    assert first.startswith("web-") and len(first) == 9
    obj["metadata"] = {}
    body = failure(call(app, "POST", PODS, obj), 422, "Invalid")
    assert "name or generateName is required" in body["message"]


def test_owner_references_validated(app):
    obj = pod()
    obj["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": ""}]
    body = failure(call(app, "POST", PODS, obj), 422, "Invalid")
    assert body["details"]["causes"][0]["field"] == "metadata.ownerReferences.uid"
    owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u1", "controller": True}
    obj["metadata"]["ownerReferences"] = [owner, {**owner, "name": "rs2", "uid": "u2"}]
    body = failure(call(app, "POST", PODS, obj), 422, "Invalid")
    assert "Only one reference can have Controller set to true" in body["message"]
    obj["metadata"]["ownerReferences"] = [owner]
    ok(call(app, "POST", PODS, obj), 201)


def test_priority_class_resolution(app):
    ok(call(app, "POST", PODS, pod("a", priorityClassName="system-node-critical")), 201)
    assert ok(call(app, "GET", f"{PODS}/a"))["spec"]["priority"] == 2000001000
    body = failure(call(app, "POST", PODS, pod("b", priorityClassName="missing")), 403, "Forbidden")
    assert body["message"] == 'pods "b" is forbidden: no PriorityClass with name missing was found'
    failure(call(app, "POST", PODS, pod("c", priorityClassName="system-node-critical", priority=5)), 403, "Forbidden")
    pc = {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "high"},
          "value": 1000, "globalDefault": True, "preemptionPolicy": "Never"}
    ok(call(app, "POST", "/apis/scheduling.k8s.io/v1/priorityclasses", pc), 201)
    defaulted = ok(call(app, "POST", PODS, pod("d")), 201)["spec"]
    assert defaulted["priorityClassName"] == "high" and defaulted["priority"] == 1000
    assert defaulted["preemptionPolicy"] == "Never"


def test_eviction_deletes_pod(app):
    ok(call(app, "POST", PODS, pod()), 201)
    ok(bind(app, "p"), 201)
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "p"},
                "deleteOptions": {"gracePeriodSeconds": 0}}
    assert ok(call(app, "POST", f"{PODS}/p/eviction", eviction), 201)["status"] == "Success"
    failure(call(app, "GET", f"{PODS}/p"), 404, "NotFound")
    failure(call(app, "POST", f"{PODS}/p/eviction", eviction), 404, "NotFound")


def test_deletecollection_with_selectors(app):
    for name, labels in (("a", {"app": "web"}), ("b", {"app": "web"}), ("c", {"app": "db"})):
        obj = pod(name)
        obj["metadata"]["labels"] = labels
        ok(call(app, "POST", PODS, obj), 201)
    deleted = ok(call(app, "DELETE", PODS, query="labelSelector=app%3Dweb"))
    assert deleted["kind"] == "PodList" and names(deleted) == ["a", "b"]
    assert names(ok(call(app, "GET", PODS))) == ["c"]
    ok(call(app, "DELETE", PODS, query="fieldSelector=metadata.name%3Dc"))
    assert ok(call(app, "GET", PODS))["items"] == []


def test_list_resource_version_match(app):
    created = ok(call(app, "POST", PODS, pod("a")), 201)
    revision = created["metadata"]["resourceVersion"]
    ok(call(app, "POST", PODS, pod("b")), 201)
    exact = ok(call(app, "GET", PODS, query=f"resourceVersion={revision}&resourceVersionMatch=Exact"))
    assert names(exact) == ["a"] and exact["metadata"]["resourceVersion"] == revision
    newer = ok(call(app, "GET", PODS, query=f"resourceVersion={revision}&resourceVersionMatch=NotOlderThan"))
    assert names(newer) == ["a", "b"]
    assert call(app, "GET", PODS, query="resourceVersionMatch=Exact")[0] in (400, 422)
    assert call(app, "GET", PODS, query="resourceVersion=1&resourceVersionMatch=Sometimes")[0] in (400, 422)


def test_global_default_class_follows_writes(app):
    pc = {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "d"},
          "value": 7, "globalDefault": True}
    assert ok(call(app, "POST", PODS, pod("a")), 201)["spec"]["priority"] == 0
    ok(call(app, "POST", "/apis/scheduling.k8s.io/v1/priorityclasses", pc), 201)
    assert ok(call(app, "POST", PODS, pod("b")), 201)["spec"]["priority"] == 7
    ok(call(app, "PATCH", "/apis/scheduling.k8s.io/v1/priorityclasses/d", {"globalDefault": False},
            content_type=MERGE))
    assert ok(call(app, "POST", PODS, pod("c")), 201)["spec"]["priority"] == 0
    ok(call(app, "PATCH", "/apis/scheduling.k8s.io/v1/priorityclasses/d", {"globalDefault": True},
            content_type=MERGE))
    ok(call(app, "DELETE", "/apis/scheduling.k8s.io/v1/priorityclasses/d"))
    assert ok(call(app, "POST", PODS, pod("e")), 201)["spec"]["priority"] == 0


def test_probe_and_http_get_defaults(app):
    """SetDefaults_Probe and SetDefaults_HTTPGetAction, as kubectl describe shows them."""
    pod = {"metadata": {"name": "probed"}, "spec": {"containers": [{
        "name": "c", "image": "busybox",
        "readinessProbe": {"httpGet": {"port": 8080}},
        "livenessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 5},
        "lifecycle": {"preStop": {"httpGet": {"port": 8080, "path": "/quit"}}},
    }]}}
    status, created = call(app, "POST", "/api/v1/namespaces/default/pods", pod)
    assert status == 201, created
    container = created["spec"]["containers"][0]
    assert container["readinessProbe"] == {"httpGet": {"port": 8080, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
                                           "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
    assert container["livenessProbe"]["periodSeconds"] == 5 and container["livenessProbe"]["failureThreshold"] == 3
    assert container["lifecycle"]["preStop"]["httpGet"] == {"port": 8080, "path": "/quit", "scheme": "HTTP"}
