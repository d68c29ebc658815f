"""Services (issue 3): ClusterIP from 10.96.0.0/12 (.1 is the kubernetes service's),
NodePorts from 30000-32767, requested values checked (422), both released on delete and
on type changes, headless services; on every backend."""

from __future__ import annotations

import ipaddress

import pytest

from pyk8s.apiserver.app import APIServer
from pyk8s.store import BACKENDS, open_store
from resourcehelpers import call, failure, ok, service

SVC = "/api/v1/namespaces/default/services"
MERGE = "application/merge-patch+json"


@pytest.fixture(params=BACKENDS)
def app(request):
    server = APIServer(open_store(request.param), compaction_interval=0)
    yield server
    server.store.close()


def test_kubernetes_service_exists(app):
    kube = ok(call(app, "GET", f"{SVC}/kubernetes"))
    assert kube["spec"]["clusterIP"] == "10.96.0.1" and kube["spec"]["ports"][0]["port"] == 443


def test_cluster_ip_allocated_in_range_and_defaults(app):
    spec = ok(call(app, "POST", SVC, service()), 201)["spec"]
    assert ipaddress.IPv4Address(spec["clusterIP"]) in ipaddress.IPv4Network("10.96.0.0/12")
    assert spec["clusterIPs"] == [spec["clusterIP"]] and spec["clusterIP"] != "10.96.0.1"
    assert spec["type"] == "ClusterIP" and spec["sessionAffinity"] == "None"
    assert spec["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]
    assert spec["ipFamilies"] == ["IPv4"] and spec["ipFamilyPolicy"] == "SingleStack"


def test_requested_ip_taken_or_out_of_range(app):
    ok(call(app, "POST", SVC, service("a", clusterIP="10.96.0.10")), 201)
    body = failure(call(app, "POST", SVC, service("b", clusterIP="10.96.0.10")), 422, "Invalid")
    assert "provided IP is already allocated" in body["message"]
    body = failure(call(app, "POST", SVC, service("c", clusterIP="192.168.0.1")), 422, "Invalid")
    assert "not in the valid range" in body["message"]
    failure(call(app, "POST", SVC, service("d", clusterIP="10.96.0.1")), 422, "Invalid")
    # Released on delete: the address can be had again.
    ok(call(app, "DELETE", f"{SVC}/a"))
    ok(call(app, "POST", SVC, service("b", clusterIP="10.96.0.10")), 201)


def test_headless(app):
    spec = ok(call(app, "POST", SVC, service("h", clusterIP="None")), 201)["spec"]
    assert spec["clusterIP"] == "None" and spec["clusterIPs"] == ["None"]


def test_node_ports(app):
    spec = ok(call(app, "POST", SVC, service("np", type="NodePort")), 201)["spec"]
    port = spec["ports"][0]["nodePort"]
    assert 30000 <= port <= 32767 and spec["externalTrafficPolicy"] == "Cluster"
    taken = service("np2", type="NodePort", ports=[{"port": 80, "nodePort": port}])
    body = failure(call(app, "POST", SVC, taken), 422, "Invalid")
    assert body["details"]["causes"][0]["field"] == "spec.ports[0].nodePort"
    assert "provided port is already allocated" in body["message"]
    body = failure(call(app, "POST", SVC, service("np3", type="NodePort", ports=[{"port": 80, "nodePort": 80}])),
                   422, "Invalid")
    assert "The range of valid ports is 30000-32767" in body["message"]
    # A failed create keeps nothing: the ClusterIP it drew is free again.
    lb = ok(call(app, "POST", SVC, service("lb", type="LoadBalancer")), 201)["spec"]
    assert lb["ports"][0]["nodePort"] and lb["allocateLoadBalancerNodePorts"] is True
    # Type change to ClusterIP releases the node port; an update keeps the IP.
    current = ok(call(app, "GET", f"{SVC}/np"))
    current["spec"]["type"] = "ClusterIP"
    current["spec"].pop("externalTrafficPolicy")
    del current["spec"]["ports"][0]["nodePort"]
    updated = ok(call(app, "PUT", f"{SVC}/np", current))["spec"]
    assert "nodePort" not in updated["ports"][0] and updated["clusterIP"] == spec["clusterIP"]
    ok(call(app, "POST", SVC, taken), 201)


def test_update_keeps_allocated_values_and_ip_is_immutable(app):
    created = ok(call(app, "POST", SVC, service("np", type="NodePort")), 201)
    patched = ok(call(app, "PATCH", f"{SVC}/np", {"metadata": {"labels": {"a": "b"}}}, content_type=MERGE))["spec"]
    assert patched["clusterIP"] == created["spec"]["clusterIP"]
    assert patched["ports"][0]["nodePort"] == created["spec"]["ports"][0]["nodePort"]
    failure(call(app, "PATCH", f"{SVC}/np", {"spec": {"clusterIP": "10.96.0.99", "clusterIPs": ["10.96.0.99"]}},
                 content_type=MERGE), 422, "Invalid")


def test_dry_run_reserves_nothing(app):
    would = ok(call(app, "POST", SVC, service("a", clusterIP="10.96.0.20"), query="dryRun=All"), 201)
    assert would["spec"]["clusterIP"] == "10.96.0.20"
    ok(call(app, "POST", SVC, service("a", clusterIP="10.96.0.20")), 201)


def test_allocations_survive_a_restart_over_the_store(app):
    ok(call(app, "POST", SVC, service("a", clusterIP="10.96.0.30")), 201)
    again = APIServer(app.store, compaction_interval=0)
    failure(call(again, "POST", SVC, service("b", clusterIP="10.96.0.30")), 422, "Invalid")


def test_service_validation(app):
    failure(call(app, "POST", SVC, {"metadata": {"name": "x"}, "spec": {}}), 422, "Invalid")
    failure(call(app, "POST", SVC, service("x", type="Weird")), 422, "Invalid")
    two = service("x", ports=[{"port": 80}, {"port": 81}])
    failure(call(app, "POST", SVC, two), 422, "Invalid")
