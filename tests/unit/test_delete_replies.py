"""What a DELETE answers with, per kind, as upstream's registries set ReturnDeletedObject:
pods, services, serviceaccounts and namespaces return the deleted object; the other kinds
a Success Status; an object kept (finalizers, graceful deletion) comes back as the object."""

from __future__ import annotations

import pytest

from pyk8s.apiserver.app import APIServer
from pyk8s.store import BACKENDS, open_store
from resourcehelpers import call, deployment, ok, pod

SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}


@pytest.fixture(params=BACKENDS)
def app(request):
    server = APIServer(open_store(request.param), compaction_interval=0)
    yield server
    server.store.close()


def test_deleting_a_service_returns_it(app):
    created = ok(call(app, "POST", "/api/v1/namespaces/default/services", SERVICE), 201)
    deleted = ok(call(app, "DELETE", "/api/v1/namespaces/default/services/web"))
    assert deleted["kind"] == "Service" and deleted["metadata"]["uid"] == created["metadata"]["uid"]
    assert deleted["spec"]["clusterIP"] == created["spec"]["clusterIP"]
    # The ClusterIP went back to the pool: the next service may take it again.
    again = {**SERVICE, "spec": {**SERVICE["spec"], "clusterIP": created["spec"]["clusterIP"]}}
    ok(call(app, "POST", "/api/v1/namespaces/default/services", again), 201)


@pytest.mark.parametrize("path,obj,kind", [
    ("/api/v1/namespaces/default/pods", pod("p"), "Pod"),
    ("/api/v1/namespaces/default/serviceaccounts", {"metadata": {"name": "robot"}}, "ServiceAccount"),
])
def test_kinds_returning_the_deleted_object(app, path, obj, kind):
    created = ok(call(app, "POST", path, obj), 201)
    deleted = ok(call(app, "DELETE", f"{path}/{created['metadata']['name']}"))
    assert deleted["kind"] == kind and deleted["metadata"]["uid"] == created["metadata"]["uid"]


def test_namespace_delete_returns_the_namespace(app):
    ok(call(app, "POST", "/api/v1/namespaces", {"metadata": {"name": "gone"}}), 201)
    marked = ok(call(app, "DELETE", "/api/v1/namespaces/gone"))
    assert marked["kind"] == "Namespace" and marked["status"]["phase"] == "Terminating"


@pytest.mark.parametrize("path,obj", [
    ("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "x"}}),
    ("/api/v1/namespaces/default/secrets", {"metadata": {"name": "x"}}),
    ("/apis/apps/v1/namespaces/default/deployments", deployment("x")),
    ("/apis/coordination.k8s.io/v1/namespaces/default/leases", {"metadata": {"name": "x"}}),
    ("/api/v1/nodes", {"metadata": {"name": "x"}}),
])
def test_other_kinds_answer_with_a_status(app, path, obj):
    created = ok(call(app, "POST", path, obj), 201)
    status = ok(call(app, "DELETE", f"{path}/x"))
    assert status["kind"] == "Status" and status["status"] == "Success"
    assert status["details"]["name"] == "x" and status["details"]["uid"] == created["metadata"]["uid"]


def test_an_object_kept_by_finalizers_comes_back_as_the_object(app):
    cm = {"metadata": {"name": "kept", "finalizers": ["example.com/hold"]}}
    ok(call(app, "POST", "/api/v1/namespaces/default/configmaps", cm), 201)
    kept = ok(call(app, "DELETE", "/api/v1/namespaces/default/configmaps/kept"))
    assert kept["kind"] == "ConfigMap" and kept["metadata"]["deletionTimestamp"]
