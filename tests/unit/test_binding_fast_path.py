"""pods/binding as upstream's BindingREST (setPodNodeAndMetadata): a GuaranteedUpdate straight
on storage that sets spec.nodeName, merges the binding's annotations and marks the pod
PodScheduled, and nothing else (no update strategy: the generation stays); the uid and
resourceVersion of the binding are preconditions; a bound, deleted or scheduling-gated pod
is a 409; every refusal leaves the pod as it was."""

from __future__ import annotations

import orjson
import pytest

import pyk8s.apiserver.subresources as subresources_module
from pyk8s.apiserver.app import APIServer
from pyk8s.store import open_store
from resourcehelpers import call, failure, ok, pod

PODS = "/api/v1/namespaces/default/pods"
MERGE = "application/merge-patch+json"
NOW = "2031-02-03T04:05:06Z"


@pytest.fixture
def app(monkeypatch):
    monkeypatch.setattr(subresources_module, "now_rfc3339", lambda: NOW)
    server = APIServer(open_store("native"), compaction_interval=0)
    yield server
    server.store.close()


def _bind(app, name: str, node: str = "n1", annotations: dict | None = None, uid: str = "", query: str = "",
          resource_version: str = ""):
    meta: dict = {"name": name}
    if resource_version:
        meta["resourceVersion"] = resource_version
    if annotations:
        meta["annotations"] = annotations
    if uid:
        meta["uid"] = uid
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": meta, "target": {"kind": "Node", "name": node}}
    return call(app, "POST", f"{PODS}/{name}/binding", binding, query=query)


def _stored(app, name: str) -> tuple[bytes, int]:
    return app.store.get("pods", "default", name)


def _expected(before: bytes, revision: int, node: str, annotations: dict | None = None) -> dict:
    """What the binding must store: the pod as it was, with only what upstream changes."""
    expected = orjson.loads(before)
    expected["metadata"]["resourceVersion"] = str(revision)
    if annotations:
        expected["metadata"]["annotations"] = {**(expected["metadata"].get("annotations") or {}), **annotations}
    expected["spec"]["nodeName"] = node
    status = expected.setdefault("status", {})
    conditions = [c for c in status.get("conditions") or () if c["type"] != "PodScheduled"]
    status["conditions"] = [*conditions, {"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                                          "lastTransitionTime": NOW}]
    return expected


def _assert_binding_changes_only_its_fields(app, name: str = "a", node: str = "n1", **binding) -> None:
    before, _ = _stored(app, name)
    ok(_bind(app, name, node, **binding), 201)
    after, revision = _stored(app, name)
    assert orjson.loads(after) == _expected(before, revision, node, binding.get("annotations"))
    # The key order too: what was there keeps its place (spec.nodeName and the condition
    # were absent, so they come last).
    assert list(orjson.loads(after)["metadata"]) == list(orjson.loads(before)["metadata"])


def test_a_plain_pod_gets_its_node_and_condition_and_nothing_else(app):
    created = ok(call(app, "POST", PODS, pod("a")), 201)
    _assert_binding_changes_only_its_fields(app)
    stored = orjson.loads(_stored(app, "a")[0])
    assert stored["metadata"]["generation"] == created["metadata"]["generation"]  # no update strategy
    listed = ok(call(app, "GET", PODS, query="fieldSelector=spec.nodeName%3Dn1"))
    assert [item["metadata"]["name"] for item in listed["items"]] == ["a"]


def test_metadata_conditions_and_annotations(app):
    body = pod("a")
    body["metadata"].update(
        labels={"app": "web"},
        annotations={"keep": "1", "over": "old"},
        finalizers=["example.com/hold"],
        ownerReferences=[{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u-1", "controller": True}],
    )
    created = ok(call(app, "POST", PODS, body), 201)
    created["status"] = {
        "phase": "Pending",
        "conditions": [
            {"type": "Ready", "status": "False"},
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"},
        ],
    }
    ok(call(app, "PUT", f"{PODS}/a/status", created))
    _assert_binding_changes_only_its_fields(app, annotations={"over": "new", "added": "x"})
    stored = orjson.loads(_stored(app, "a")[0])
    assert stored["metadata"]["annotations"] == {"keep": "1", "over": "new", "added": "x"}
    assert [c["type"] for c in stored["status"]["conditions"]] == ["Ready", "PodScheduled"]


def test_an_explicit_empty_node_name_is_unbound(app):
    ok(call(app, "POST", PODS, pod("a", nodeName="")), 201)
    _assert_binding_changes_only_its_fields(app, node="n7")


def test_a_scheduling_gated_pod_is_not_bound(app):
    ok(call(app, "POST", PODS, pod("a", schedulingGates=[{"name": "example.com/wait"}])), 201)
    before = _stored(app, "a")
    body = failure(_bind(app, "a"), 409, "Conflict")
    assert body["message"] == 'Operation cannot be fulfilled on pods/binding "a": pod a has non-empty .spec.schedulingGates'
    assert _stored(app, "a") == before


def test_the_resource_version_is_a_precondition(app):
    ok(call(app, "POST", PODS, pod("a")), 201)
    before, revision = _stored(app, "a")
    body = failure(_bind(app, "a", resource_version=str(revision + 100)), 409, "Conflict")
    assert "Precondition failed: ResourceVersion in precondition" in body["message"]
    assert _stored(app, "a") == (before, revision)
    _assert_binding_changes_only_its_fields(app, resource_version=str(revision))


def test_refusals_leave_the_pod_unchanged(app):
    created = ok(call(app, "POST", PODS, pod("a")), 201)
    before = _stored(app, "a")
    body = failure(_bind(app, "a", uid="not-the-uid"), 409, "Conflict")
    assert body["message"] == (
        'Operation cannot be fulfilled on pods/binding "a": Precondition failed: UID in precondition: '
        f"not-the-uid, UID in object meta: {created['metadata']['uid']}"
    )
    failure(_bind(app, "missing"), 404, "NotFound")
    failure(call(app, "POST", f"{PODS}/a/binding", {"metadata": {"name": "a"}, "target": {"kind": "Pod", "name": "n"}}),
            422, "Invalid")
    ok(_bind(app, "a", query="dryRun=All"), 201)
    assert _stored(app, "a") == before
    ok(_bind(app, "a", uid=created["metadata"]["uid"]), 201)
    bound = _stored(app, "a")
    body = failure(_bind(app, "a", "n2"), 409, "Conflict")
    assert body["message"] == 'Operation cannot be fulfilled on pods/binding "a": pod a is already assigned to node "n1"'
    assert _stored(app, "a") == bound


def test_a_pod_being_deleted_is_not_bound(app):
    body = pod("a")
    body["metadata"]["finalizers"] = ["example.com/hold"]
    ok(call(app, "POST", PODS, body), 201)
    ok(call(app, "DELETE", f"{PODS}/a", {"gracePeriodSeconds": 0}))
    before = _stored(app, "a")
    failed = failure(_bind(app, "a"), 409, "Conflict")
    assert failed["message"].endswith("pod a is being deleted, cannot be assigned to a host")
    assert _stored(app, "a") == before


class _RacingStore:
    """The store, with another writer's label change landing between the binding's read and
    its compare-and-swap (once)."""

    def __init__(self, app) -> None:
        self._app = app
        self._store = app.store
        self.raced = False

    def __getattr__(self, name):
        return getattr(self._store, name)

    def update(self, *args):
        if not self.raced:
            self.raced = True
            ok(call(self._app, "PATCH", f"{PODS}/a", {"metadata": {"labels": {"raced": "yes"}}}, content_type=MERGE))
        return self._store.update(*args)


def test_a_lost_race_is_retried_on_the_new_object(app):
    ok(call(app, "POST", PODS, pod("a")), 201)
    racing = _RacingStore(app)
    app.subresources.store = racing
    ok(_bind(app, "a"), 201)
    assert racing.raced
    stored = orjson.loads(_stored(app, "a")[0])
    assert stored["metadata"]["labels"] == {"raced": "yes"} and stored["spec"]["nodeName"] == "n1"
