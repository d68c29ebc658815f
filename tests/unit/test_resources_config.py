"""ConfigMaps, Secrets, Endpoints, Events (with their TTL), Leases and PriorityClasses
(issue 3); on every backend."""

from __future__ import annotations

import base64
import time

import pytest

from pyk8s.apiserver.app import APIServer
from pyk8s.apiserver.events import EventReaper
from pyk8s.store import BACKENDS, open_store
from resourcehelpers import call, failure, headers, names, ok

NS = "/api/v1/namespaces/default"
PC = "/apis/scheduling.k8s.io/v1/priorityclasses"


@pytest.fixture(params=BACKENDS)
def app(request):
    server = APIServer(open_store(request.param), compaction_interval=0)
    yield server
    server.store.close()


def test_secret_string_data_and_type(app):
    created = ok(call(app, "POST", f"{NS}/secrets", {"metadata": {"name": "s"}, "data": {"a": "eA=="},
                                                    "stringData": {"b": "hello"}}), 201)
    assert created["data"] == {"a": "eA==", "b": base64.b64encode(b"hello").decode()}
    assert created["type"] == "Opaque" and "stringData" not in created
    # stringData wins over data for the same key, and is never stored.
    patched = ok(call(app, "PATCH", f"{NS}/secrets/s", {"stringData": {"a": "y"}},
                      content_type="application/merge-patch+json"))
    assert patched["data"]["a"] == "eQ==" and "stringData" not in patched
    failure(call(app, "POST", f"{NS}/secrets", {"metadata": {"name": "t"}, "data": {"a": "!!!"}}), 400, "BadRequest")
    patched["type"] = "kubernetes.io/tls"
    failure(call(app, "PUT", f"{NS}/secrets/s", patched), 422, "Invalid")
    failure(call(app, "POST", f"{NS}/secrets", {"metadata": {"name": "tls"}, "type": "kubernetes.io/tls"}),
            422, "Invalid")
    by_type = ok(call(app, "GET", "/api/v1/secrets", query="fieldSelector=type%3DOpaque"))
    assert names(by_type) == ["s"]


def test_configmap_keys_and_immutable(app):
    failure(call(app, "POST", f"{NS}/configmaps", {"metadata": {"name": "c"}, "data": {"bad key": "x"}}),
            422, "Invalid")
    failure(call(app, "POST", f"{NS}/configmaps", {"metadata": {"name": "c"}, "data": {"k": "x"},
                                                   "binaryData": {"k": "eA=="}}), 422, "Invalid")
    created = ok(call(app, "POST", f"{NS}/configmaps", {"metadata": {"name": "c"}, "data": {"k": "x"},
                                                         "immutable": True}), 201)
    created["data"]["k"] = "y"
    failure(call(app, "PUT", f"{NS}/configmaps/c", created), 422, "Invalid")


def test_unknown_fields_warn_or_fail(app):
    obj = {"metadata": {"name": "c"}, "data": {"k": "x"}, "bogus": 1}
    found = headers(app, "POST", f"{NS}/configmaps", obj)
    assert found["warning"] == ['299 - "unknown field \\"bogus\\""']
    failure(call(app, "POST", f"{NS}/configmaps", {**obj, "metadata": {"name": "d"}}, query="fieldValidation=Strict"),
            400, "BadRequest")


def test_endpoints_and_service_accounts(app):
    ep = {"metadata": {"name": "e"}, "subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}]}
    created = ok(call(app, "POST", f"{NS}/endpoints", ep), 201)
    assert created["subsets"][0]["ports"][0]["protocol"] == "TCP"
    failure(call(app, "POST", f"{NS}/endpoints", {"metadata": {"name": "f"}, "subsets": [{"ports": [{"port": 0}]}]}),
            422, "Invalid")
    ok(call(app, "POST", f"{NS}/serviceaccounts", {"metadata": {"name": "robot"}}), 201)


def event(name, last, **extra):
    return {"metadata": {"name": name}, "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
            "reason": "Started", "message": "m", "type": "Normal", "lastTimestamp": last, "count": 1, **extra}


def test_events_fields_and_validation(app):
    ok(call(app, "POST", f"{NS}/events", event("e1", "2026-01-01T00:00:00Z", eventTime=None)), 201)
    listed = ok(call(app, "GET", "/api/v1/events", query="fieldSelector=involvedObject.name%3Dp,reason%3DStarted"))
    assert names(listed) == ["e1"]
    wrong = event("e2", "2026-01-01T00:00:00Z")
    wrong["involvedObject"]["namespace"] = "kube-system"
    failure(call(app, "POST", f"{NS}/events", wrong), 422, "Invalid")


def test_event_ttl_sweep(app):
    now = time.time()
    old = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 7200))
    fresh = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 60))
    ok(call(app, "POST", f"{NS}/events", event("old", old)), 201)
    ok(call(app, "POST", f"{NS}/events", event("fresh", fresh)), 201)
    micro = event("micro", None, eventTime=old.replace("Z", ".123456Z"), reportingComponent="c",
                  reportingInstance="i", action="A")
    del micro["lastTimestamp"]
    ok(call(app, "POST", f"{NS}/events", micro), 201)
    assert app.event_reaper.ttl == 3600
    assert app.event_reaper.sweep(now) == 2
    assert names(ok(call(app, "GET", f"{NS}/events"))) == ["fresh"]
    assert EventReaper(app.store, ttl=30).sweep(now) == 1


def test_event_ttl_option():
    server = APIServer(open_store("reference"), compaction_interval=0, event_ttl=120)
    assert server.event_reaper.ttl == 120


def test_leases(app):
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "n1"},
             "spec": {"holderIdentity": "n1", "leaseDurationSeconds": 40}}
    ok(call(app, "POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", lease), 201)
    lease["metadata"]["name"] = "n2"
    lease["spec"]["leaseDurationSeconds"] = 0
    failure(call(app, "POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", lease), 422, "Invalid")


def test_priority_classes(app):
    assert names(ok(call(app, "GET", PC))) == ["system-cluster-critical", "system-node-critical"]
    pc = {"metadata": {"name": "p"}, "value": 10}
    created = ok(call(app, "POST", PC, pc), 201)
    assert created["preemptionPolicy"] == "PreemptLowerPriority"
    created["value"] = 11
    failure(call(app, "PUT", f"{PC}/p", created), 422, "Invalid")
    failure(call(app, "POST", PC, {"metadata": {"name": "system-mine"}, "value": 1}), 422, "Invalid")
    failure(call(app, "POST", PC, {"metadata": {"name": "huge"}, "value": 2000000000}), 422, "Invalid")


def test_only_one_global_default_priority_class(app):
    ok(call(app, "POST", PC, {"metadata": {"name": "a"}, "value": 1, "globalDefault": True}), 201)
    body = failure(call(app, "POST", PC, {"metadata": {"name": "b"}, "value": 2, "globalDefault": True}), 403, "Forbidden")
    assert body["message"] == ('priorityclasses.scheduling.k8s.io "b" is forbidden: PriorityClass a is already marked '
                               "as default. Only one default can exist")
    ok(call(app, "PATCH", f"{PC}/a", {"description": "still default"}, content_type="application/merge-patch+json"))


@pytest.mark.parametrize("value,seconds", [("90", 90.0), ("1h", 3600.0), ("1h30m", 5400.0), ("45s", 45.0)])
def test_event_ttl_flag(value, seconds):
    from pyk8s.cli.apiserver import parse_args

    assert parse_args(["--event-ttl", value]).event_ttl == seconds
    assert parse_args([]).event_ttl == 3600.0


def test_node_status_subresource_and_create_keeps_status(app):
    node = {"metadata": {"name": "n1"}, "status": {"capacity": {"cpu": "4"}}}
    created = ok(call(app, "POST", "/api/v1/nodes", node), 201)
    # Nodes register with their status (upstream's node strategy keeps it on create).
    assert created["status"]["allocatable"] == {"cpu": "4"}
    ignored = ok(call(app, "PATCH", "/api/v1/nodes/n1", {"status": {"capacity": {"cpu": "8"}}, "spec": {"unschedulable": True}},
                      content_type="application/merge-patch+json"))
    assert ignored["status"]["capacity"] == {"cpu": "4"} and ignored["spec"]["unschedulable"] is True
    updated = ok(call(app, "PATCH", "/api/v1/nodes/n1/status", {"status": {"capacity": {"cpu": "8"}}, "spec": {"unschedulable": False}},
                      content_type="application/merge-patch+json"))
    assert updated["status"]["capacity"] == {"cpu": "8"} and updated["spec"]["unschedulable"] is True
