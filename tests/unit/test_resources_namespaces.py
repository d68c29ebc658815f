"""Namespaces (issue 3): the initial four with their default ServiceAccounts, lifecycle
admission (missing -> 404, terminating -> 403), deletion as marking + Terminating, and the
finalize subresource; on every backend."""

from __future__ import annotations

import pytest

from pyk8s.apiserver.app import APIServer
from pyk8s.store import BACKENDS, open_store
from resourcehelpers import call, failure, names, ok, pod


@pytest.fixture(params=BACKENDS)
def app(request):
    server = APIServer(open_store(request.param), compaction_interval=0)
    yield server
    server.store.close()


def test_initial_namespaces_and_default_service_accounts(app):
    listed = ok(call(app, "GET", "/api/v1/namespaces"))
    assert names(listed) == ["default", "kube-node-lease", "kube-public", "kube-system"]
    for ns in listed["items"]:
        assert ns["status"] == {"phase": "Active"} and ns["spec"] == {"finalizers": ["kubernetes"]}
        assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": ns["metadata"]["name"]}
        assert "namespace" not in ns["metadata"]
    accounts = ok(call(app, "GET", "/api/v1/serviceaccounts"))
    assert sorted(a["metadata"]["namespace"] for a in accounts["items"]) == [
        "default", "kube-node-lease", "kube-public", "kube-system"]
    assert set(names(accounts)) == {"default"}


def test_restart_over_same_store_creates_nothing(app):
    revision = app.store.current_revision()
    APIServer(app.store, compaction_interval=0)
    assert app.store.current_revision() == revision


def test_new_namespace_gets_default_service_account(app):
    created = ok(call(app, "POST", "/api/v1/namespaces", {"metadata": {"name": "team"}, "status": {"phase": "X"}}), 201)
    assert created["status"] == {"phase": "Active"} and created["spec"]["finalizers"] == ["kubernetes"]
    ok(call(app, "GET", "/api/v1/namespaces/team/serviceaccounts/default"))


def test_create_in_missing_namespace_is_404(app):
    before = app.store.current_revision()
    body = failure(call(app, "POST", "/api/v1/namespaces/nope/pods", pod()), 404, "NotFound")
    assert body["message"] == 'namespaces "nope" not found'
    assert app.store.current_revision() == before


def test_namespace_name_must_be_a_label(app):
    failure(call(app, "POST", "/api/v1/namespaces", {"metadata": {"name": "a.b"}}), 422, "Invalid")


def test_delete_marks_terminating_then_finalize_and_delete(app):
    ok(call(app, "POST", "/api/v1/namespaces", {"metadata": {"name": "team"}}), 201)
    ok(call(app, "POST", "/api/v1/namespaces/team/pods", pod()), 201)
    marked = ok(call(app, "DELETE", "/api/v1/namespaces/team"))
    assert marked["kind"] == "Namespace" and marked["status"]["phase"] == "Terminating"
    assert marked["metadata"]["deletionTimestamp"]
    # Still there; nothing new may be created in it.
    ok(call(app, "GET", "/api/v1/namespaces/team"))
    body = failure(call(app, "POST", "/api/v1/namespaces/team/configmaps", {"metadata": {"name": "c"}}), 403, "Forbidden")
    assert body["message"] == (
        'configmaps "c" is forbidden: unable to create new content in namespace team because it is being terminated')
    # Existing content may still be changed and deleted (the controller empties it).
    ok(call(app, "DELETE", "/api/v1/namespaces/team/pods/p"))
    # An update may not drop spec.finalizers; /finalize does.
    current = ok(call(app, "GET", "/api/v1/namespaces/team"))
    current["spec"]["finalizers"] = []
    assert ok(call(app, "PUT", "/api/v1/namespaces/team", current))["spec"]["finalizers"] == ["kubernetes"]
    current = ok(call(app, "GET", "/api/v1/namespaces/team"))
    current["spec"]["finalizers"] = []
    current["metadata"]["labels"]["sneaky"] = "x"
    finalized = ok(call(app, "PUT", "/api/v1/namespaces/team/finalize", current))
    assert "finalizers" not in finalized["spec"] and "sneaky" not in finalized["metadata"]["labels"]
    assert finalized["status"]["phase"] == "Terminating"
    # Finalized with no finalizers left: the update deleted it (ShouldDeleteNamespaceDuringUpdate).
    failure(call(app, "GET", "/api/v1/namespaces/team"), 404, "NotFound")
    failure(call(app, "DELETE", "/api/v1/namespaces/team"), 404, "NotFound")


def test_immortal_namespaces_and_no_deletecollection(app):
    for name in ("default", "kube-system", "kube-public"):
        body = failure(call(app, "DELETE", f"/api/v1/namespaces/{name}"), 403, "Forbidden")
        assert body["message"] == f'namespaces "{name}" is forbidden: this namespace may not be deleted'
    failure(call(app, "DELETE", "/api/v1/namespaces"), 405, "MethodNotAllowed")


def test_namespace_status_subresource(app):
    current = ok(call(app, "GET", "/api/v1/namespaces/kube-public/status"))
    current["status"]["conditions"] = [{"type": "NamespaceDeletionDiscoveryFailure", "status": "False"}]
    current["spec"]["finalizers"] = []
    updated = ok(call(app, "PUT", "/api/v1/namespaces/kube-public/status", current))
    assert updated["status"]["conditions"][0]["status"] == "False" and updated["spec"]["finalizers"] == ["kubernetes"]
