"""Pod creates with a spec seen before take the spec half of the create path from a cache
(pyk8s/apiserver/pod_specs.py).  What a client sees must not depend on it: the stored pod,
the warnings and every rejection are those of the full path, and a PriorityClass write
(the one piece of cluster state the spec half reads) is seen by the next create."""

from __future__ import annotations

import copy

import orjson
import pytest

from pyk8s.apiserver.app import APIServer
from pyk8s.store import open_store
from resourcehelpers import call, failure, headers, ok, pod

PODS = "/api/v1/namespaces/default/pods"
CLASSES = "/apis/scheduling.k8s.io/v1/priorityclasses"


@pytest.fixture
def app():
    server = APIServer(open_store("native"), compaction_interval=0)
    yield server
    server.store.close()


def _template(**spec):
    # Quantities in a non-canonical form, a null, an init container, requests and limits:
    # the spec half rewrites, drops and defaults all of these.
    body = pod("x", **spec)
    body["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "0.5", "memory": "1Gi"}, "limits": {"cpu": 1}}
    body["spec"]["initContainers"] = [{"name": "init", "image": "busybox", "command": ["true"]}]
    body["spec"]["nodeSelector"] = None
    body["metadata"]["labels"] = {"app": "web"}
    return body


def _named(body, name, **meta):
    out = copy.deepcopy(body)
    out["metadata"]["name"] = name
    out["metadata"].update(meta)
    return out


def _without_identity(obj):
    obj = copy.deepcopy(obj)
    for key in ("name", "uid", "resourceVersion", "creationTimestamp"):
        obj["metadata"].pop(key)
    return obj


def test_a_cached_create_stores_what_the_full_path_stores(app):
    template = _template()
    uncached = APIServer(open_store("native"), compaction_interval=0)
    uncached.handlers.admission.pod_specs.remember = lambda *args: None  # never caches
    try:
        for i in range(3):
            ours = ok(call(app, "POST", PODS, _named(template, f"p{i}")), 201)
            theirs = ok(call(uncached, "POST", PODS, _named(template, f"p{i}")), 201)
            assert _without_identity(ours) == _without_identity(theirs)
            assert ours["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "500m"
            assert ours["status"] == {"phase": "Pending", "qosClass": "Burstable"}
        assert len(app.handlers.admission.pod_specs) == 1
        # The stored bytes too, key order included, and the selectable fields the store got.
        for i in range(3):
            ours, theirs = (orjson.loads(s.store.get("pods", "default", f"p{i}")[0]) for s in (app, uncached))
            assert list(ours) == list(theirs)
            assert orjson.dumps(ours["spec"]) == orjson.dumps(theirs["spec"])
            assert orjson.dumps(ours["status"]) == orjson.dumps(theirs["status"])
        listed = ok(call(app, "GET", PODS, query="fieldSelector=status.phase%3DPending,spec.schedulerName%3Ddefault-scheduler"))
        assert [item["metadata"]["name"] for item in listed["items"]] == ["p0", "p1", "p2"]
    finally:
        uncached.store.close()


def test_metadata_is_still_checked_on_a_cached_spec(app):
    template = _template()
    ok(call(app, "POST", PODS, _named(template, "first")), 201)
    failure(call(app, "POST", PODS, _named(template, "Not_A_Name")), 422, "Invalid")
    failure(call(app, "POST", PODS, _named(template, "ns-mismatch", namespace="other")), 400, "BadRequest")
    failure(call(app, "POST", "/api/v1/namespaces/missing/pods", _named(template, "q")), 404, "NotFound")
    failure(call(app, "POST", PODS, _named(template, "first")), 409, "AlreadyExists")
    bad_labels = _named(template, "bad-labels")
    bad_labels["metadata"]["labels"] = {"app": "-x-"}
    failure(call(app, "POST", PODS, bad_labels), 422, "Invalid")
    wrong_type = _named(template, "wrong-type")
    wrong_type["metadata"]["labels"] = {"app": 1}
    failure(call(app, "POST", PODS, wrong_type), 400, "BadRequest")
    generated = _named(template, "")
    generated["metadata"]["generateName"] = "gen-"
    assert ok(call(app, "POST", PODS, generated), 201)["metadata"]["name"].startswith("gen-")
    ok(call(app, "POST", PODS, _named(template, "dry")), 201)
    assert ok(call(app, "POST", PODS, _named(template, "dry-run-only"), query="dryRun=All"), 201)["spec"]["priority"] == 0
    failure(call(app, "GET", f"{PODS}/dry-run-only"), 404, "NotFound")


def test_specs_that_warn_or_fail_are_not_cached(app):
    warns = pod("w1")
    warns["spec"]["bogus"] = 1
    for name in ("w1", "w2"):
        got = headers(app, "POST", PODS, _named(warns, name))
        assert any('unknown field \\"spec.bogus\\"' in value for value in got.get("warning", [])), got
    failure(call(app, "POST", PODS, _named(warns, "w3"), query="fieldValidation=Strict"), 400, "BadRequest")
    invalid = pod("i1", restartPolicy="Sometimes")
    for name in ("i1", "i2"):
        failure(call(app, "POST", PODS, _named(invalid, name)), 422, "Invalid")
    assert len(app.handlers.admission.pod_specs) == 0


def test_priority_class_writes_reach_the_next_create(app):
    named = pod("a", priorityClassName="gold")
    failure(call(app, "POST", PODS, _named(named, "a1")), 403, "Forbidden")
    ok(call(app, "POST", CLASSES, {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                                   "metadata": {"name": "gold"}, "value": 1000, "preemptionPolicy": "Never"}), 201)
    created = ok(call(app, "POST", PODS, _named(named, "a2")), 201)
    assert (created["spec"]["priority"], created["spec"]["preemptionPolicy"]) == (1000, "Never")
    assert ok(call(app, "POST", PODS, _named(named, "a3")), 201)["spec"]["priority"] == 1000
    ok(call(app, "DELETE", f"{CLASSES}/gold"))
    failure(call(app, "POST", PODS, _named(named, "a4")), 403, "Forbidden")

    plain = pod("b")
    assert "priorityClassName" not in ok(call(app, "POST", PODS, _named(plain, "b1")), 201)["spec"]
    ok(call(app, "POST", CLASSES, {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                                   "metadata": {"name": "everyone"}, "value": 7, "globalDefault": True}), 201)
    created = ok(call(app, "POST", PODS, _named(plain, "b2")), 201)
    assert (created["spec"]["priorityClassName"], created["spec"]["priority"]) == ("everyone", 7)


def test_toleration_seconds_changes_reach_the_next_create(app):
    template = pod("t")
    assert ok(call(app, "POST", PODS, _named(template, "t1")), 201)["spec"]["tolerations"][0]["tolerationSeconds"] == 300
    app.handlers.admission.not_ready_toleration_seconds = 30
    assert ok(call(app, "POST", PODS, _named(template, "t2")), 201)["spec"]["tolerations"][0]["tolerationSeconds"] == 30
