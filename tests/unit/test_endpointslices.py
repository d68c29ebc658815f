"""discovery.k8s.io/v1 EndpointSlices in the API server (defaulting, validation, table, discovery,
OpenAPI, protobuf bodies) and the EndpointSlice controller's reconciler as plain functions."""

from __future__ import annotations

import copy
import time

import orjson
import pytest

from pyk8s.api.kinds import ENDPOINT_SLICES, default_registry
from pyk8s.api.protobuf import MAGIC, decode_object
from pyk8s.apiserver.app import APIServer
from pyk8s.apiserver.discovery import Discovery
from pyk8s.apiserver.openapi import openapi_v2, openapi_v3_document
from pyk8s.apiserver.printers import print_endpointslice
from pyk8s.controllers._slices import reconcile_slices

NOW = 1_800_000_000.0
PATH = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"


def endpoint_slice(**fields) -> dict:
    obj = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": {"name": "web-abc", "namespace": "default", "labels": {"kubernetes.io/service-name": "web"}},
           "addressType": "IPv4",
           "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": True}, "nodeName": "node-a"}],
           "ports": [{"name": "http", "protocol": "TCP", "port": 8080}]}
    obj.update(fields)
    return obj


def causes(obj: dict, old: dict | None = None) -> list[tuple[str, str]]:
    found = ENDPOINT_SLICES.validate(obj) if old is None else ENDPOINT_SLICES.validate_update(obj, old)
    return [(cause.field, cause.message) for cause in found]


# -- defaulting and validation -----------------------------------------------------------------


def test_ports_default_to_an_empty_name_and_tcp_and_v1_drops_topology():
    obj = endpoint_slice(ports=[{"port": 80}], endpoints=[{"addresses": ["10.0.0.1"], "deprecatedTopology": {"a": "b"}}])
    ENDPOINT_SLICES.prepare_create(obj)
    ENDPOINT_SLICES.default(obj)
    assert obj["ports"] == [{"port": 80, "name": "", "protocol": "TCP"}]
    assert obj["endpoints"] == [{"addresses": ["10.0.0.1"]}]
    assert causes(obj) == []


def test_address_type_is_required_known_and_immutable():
    assert causes(endpoint_slice(addressType="")) == [("addressType", "Required value")]
    assert causes(endpoint_slice(addressType="IP")) == [
        ("addressType", 'Unsupported value: "IP": supported values: "FQDN", "IPv4", "IPv6"')]
    old = endpoint_slice()
    new = endpoint_slice(addressType="FQDN", endpoints=[{"addresses": ["web.example.com"]}])
    assert causes(new, old) == [("addressType", 'Invalid value: "FQDN": field is immutable')]


def test_addresses_are_checked_against_the_address_type():
    endpoints = [
        {"addresses": []},
        {"addresses": ["10.0.0.300", "::1", "0.0.0.0", "169.254.0.9", "224.0.0.1", "127.0.0.1"]},
        {"addresses": [f"10.0.1.{i}" for i in range(101)]},
    ]
    assert causes(endpoint_slice(endpoints=endpoints)) == [
        ("endpoints[0].addresses", "Required value: must contain at least 1 address"),
        ("endpoints[1].addresses[0]", 'Invalid value: "10.0.0.300": must be a valid IPv4 address'),
        ("endpoints[1].addresses[0]", 'Invalid value: "10.0.0.300": must be a valid IP address'),
        ("endpoints[1].addresses[1]", 'Invalid value: "::1": must be a valid IPv4 address'),
        ("endpoints[1].addresses[2]", 'Invalid value: "0.0.0.0": may not be unspecified (0.0.0.0)'),
        ("endpoints[1].addresses[3]",
         'Invalid value: "169.254.0.9": may not be in the link-local range (169.254.0.0/16, fe80::/10)'),
        ("endpoints[1].addresses[4]",
         'Invalid value: "224.0.0.1": may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)'),
        # 127.0.0.1 passes: pyk8s's process runtime gives pods the node's (loopback) address.
        ("endpoints[2].addresses", "Too many: 101: must have at most 100 items"),
    ]
    assert causes(endpoint_slice(addressType="IPv6", endpoints=[{"addresses": ["fd00::1", "10.0.0.1"]}])) == [
        ("endpoints[0].addresses[1]", 'Invalid value: "10.0.0.1": must be a valid IPv6 address')]
    assert causes(endpoint_slice(addressType="FQDN", endpoints=[{"addresses": ["web.example.com.", "web", "Web.x"]}])) == [
        ("endpoints[0].addresses[1]", 'Invalid value: "web": should be a domain with at least two segments separated by dots'),
        ("endpoints[0].addresses[2]", 'Invalid value: "Web.x": a lowercase RFC 1123 subdomain must consist of lower '
         "case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. "
         "'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"),
    ]
    many = [{"addresses": ["10.0.0.1"]}] * 1001
    assert causes(endpoint_slice(endpoints=many)) == [("endpoints", "Too many: 1001: must have at most 1000 items")]


def test_endpoint_names_and_hints():
    endpoint = {"addresses": ["10.0.0.1"], "nodeName": "Node_A", "hostname": "a.b",
                "hints": {"forZones": [{"name": "z1"}, {"name": "z1"}], "forNodes": [{"name": "n"}] * 9}}
    found = causes(endpoint_slice(endpoints=[endpoint]))
    assert [field for field, _message in found] == [
        "endpoints[0].nodeName", "endpoints[0].hostname", "endpoints[0].hints.forZones[1].name", "endpoints[0].hints.forNodes"]
    assert found[2][1] == 'Duplicate value: "z1"'
    assert found[3][1] == "Too many: 9: must have at most 8 items"


def test_ports_are_unique_labels_with_known_protocols():
    ports = [{"name": "http", "protocol": "TCP", "port": 80}, {"name": "http", "protocol": "TCP", "port": 81},
             {"name": "Web", "protocol": "ICMP", "port": 82, "appProtocol": "-bad"}, {"name": "", "protocol": "UDP"}]
    assert [field for field, _message in causes(endpoint_slice(ports=ports))] == [
        "ports[1].name", "ports[2].name", "ports[2].protocol", "ports[2].appProtocol"]


def test_unchanged_endpoints_are_not_judged_again():
    old = endpoint_slice(endpoints=[{"addresses": ["0.0.0.0"]}])
    new = copy.deepcopy(old)
    new["metadata"]["labels"]["extra"] = "1"
    assert causes(new, old) == []


# -- through the server ------------------------------------------------------------------------


@pytest.fixture
def app():
    server = APIServer(storage="reference", compaction_interval=0)
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}
    assert server.handle("POST", "/api/v1/namespaces", "", None, orjson.dumps(namespace)).status in (201, 409)
    yield server
    server.store.close()


def call(app, method, path, obj=None, content_type="application/json", query="", accept=None):
    data = obj if isinstance(obj, bytes) else b"" if obj is None else orjson.dumps(obj)
    response = app.handle(method, path, query, content_type, data, accept=accept)
    return response.status, orjson.loads(response.body)


def test_crud_generate_name_field_selector_and_table(app):
    body = endpoint_slice(metadata={"generateName": "web-", "labels": {"kubernetes.io/service-name": "web"}})
    status, created = call(app, "POST", PATH, body)
    assert status == 201, created
    name = created["metadata"]["name"]
    assert name.startswith("web-") and len(name) == len("web-") + 5
    status, listed = call(app, "GET", PATH, query=f"fieldSelector=metadata.name={name}")
    assert status == 200 and [item["metadata"]["name"] for item in listed["items"]] == [name]
    status, error = call(app, "GET", PATH, query="fieldSelector=addressType=IPv4")
    assert status == 400 and error["reason"] == "BadRequest"
    status, error = call(app, "PATCH", f"{PATH}/{name}", {"addressType": "IPv6"}, "application/merge-patch+json")
    assert status == 422 and error["details"]["causes"][0]["field"] == "addressType"
    status, table = call(app, "GET", PATH, accept="application/json;as=Table;v=v1;g=meta.k8s.io")
    assert [column["name"] for column in table["columnDefinitions"]] == ["Name", "AddressType", "Ports", "Endpoints", "Age"]
    assert table["rows"][0]["cells"][:4] == [name, "IPv4", "8080", "10.0.0.1"]
    # No spec: endpoints, ports or labels changing is a new generation; annotations are not.
    assert created["metadata"]["generation"] == 1
    status, patched = call(app, "PATCH", f"{PATH}/{name}", {"metadata": {"annotations": {"a": "b"}}}, "application/merge-patch+json")
    assert status == 200 and patched["metadata"]["generation"] == 1
    status, patched = call(app, "PATCH", f"{PATH}/{name}", {"ports": [{"name": "", "port": 9090, "protocol": "TCP"}]},
                           "application/merge-patch+json")
    assert status == 200 and patched["metadata"]["generation"] == 2
    status, patched = call(app, "PATCH", f"{PATH}/{name}", {"metadata": {"labels": {"x": "y"}}}, "application/merge-patch+json")
    assert status == 200 and patched["metadata"]["generation"] == 3
    status, deleted = call(app, "DELETE", f"{PATH}/{name}")
    assert status == 200 and deleted["kind"] == "Status" and deleted["status"] == "Success"


def test_protobuf_body(app):
    def varint(value: int) -> bytes:
        out = bytearray()
        while value >= 0x80:
            out.append(value & 0x7F | 0x80)
            value >>= 7
        return bytes(out + bytes([value]))

    def field(number: int, payload: bytes | int) -> bytes:
        if isinstance(payload, int):
            return varint(number << 3) + varint(payload)
        return varint(number << 3 | 2) + varint(len(payload)) + payload

    meta = field(1, b"web-pb")
    endpoint = field(1, b"10.0.0.7") + field(2, field(1, 1) + field(3, 0)) + field(6, b"node-a")
    port = field(1, b"http") + field(2, b"TCP") + field(3, 8080)
    raw = field(1, meta) + field(2, endpoint) + field(3, port) + field(4, b"IPv4")
    type_meta = field(1, b"discovery.k8s.io/v1") + field(2, b"EndpointSlice")
    body = MAGIC + field(1, type_meta) + field(2, raw)
    decoded = decode_object(body)
    assert decoded["addressType"] == "IPv4" and decoded["ports"] == [{"name": "http", "protocol": "TCP", "port": 8080}]
    assert decoded["endpoints"] == [{"addresses": ["10.0.0.7"], "conditions": {"ready": True, "terminating": False},
                                     "nodeName": "node-a"}]
    status, created = call(app, "POST", PATH, body, "application/vnd.kubernetes.protobuf")
    assert status == 201, created
    assert created["metadata"]["name"] == "web-pb" and created["endpoints"] == decoded["endpoints"]


def test_discovery_and_openapi():
    registry = default_registry()
    discovery = Discovery(registry)
    status, document, _headers = discovery.serve("/apis/discovery.k8s.io/v1", None)
    resources = orjson.loads(document)["resources"]
    assert [(r["name"], r["kind"], r["namespaced"], r["verbs"]) for r in resources] == [
        ("endpointslices", "EndpointSlice", True,
         ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"])]
    groups = orjson.loads(discovery.serve("/apis", None)[1])["groups"]
    assert {"name": "discovery.k8s.io", "versions": [{"groupVersion": "discovery.k8s.io/v1", "version": "v1"}],
            "preferredVersion": {"groupVersion": "discovery.k8s.io/v1", "version": "v1"}} in groups
    accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    aggregated = orjson.loads(discovery.serve("/apis", accept)[1])
    (group,) = [item for item in aggregated["items"] if item["metadata"] == {"name": "discovery.k8s.io"}]
    assert [(r["resource"], r["scope"], r["responseKind"]) for r in group["versions"][0]["resources"]] == [
        ("endpointslices", "Namespaced", {"group": "discovery.k8s.io", "version": "v1", "kind": "EndpointSlice"})]
    assert "/apis/discovery.k8s.io/v1/watch/endpointslices" in orjson.loads(openapi_v2(registry).body)["paths"]
    openapi = orjson.loads(openapi_v3_document(registry, "apis/discovery.k8s.io/v1").body)
    operation = openapi["paths"]["/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices"]["get"]
    assert operation["operationId"] == "listDiscoveryV1NamespacedEndpointSlice"
    assert "io.k8s.api.discovery.v1.EndpointConditions" in openapi["components"]["schemas"]


def test_table_cells_as_upstream():
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - 90))
    obj = endpoint_slice(metadata={"name": "web-x", "creationTimestamp": created},
                         ports=[{"name": "a", "port": 1}, {"name": "b"}, {}, {"port": 4}],
                         endpoints=[{"addresses": [f"10.0.0.{i}"]} for i in range(5)])
    assert print_endpointslice(obj, NOW) == ["web-x", "IPv4", "1,b,* + 1 more...", "10.0.0.0,10.0.0.1,10.0.0.2 + 2 more...", "90s"]
    empty = endpoint_slice(metadata={"name": "web-y", "creationTimestamp": created}, ports=[], endpoints=[])
    assert print_endpointslice(empty, NOW)[2:4] == ["<unset>", "<unset>"]


# -- the controller's reconciler ---------------------------------------------------------------


SERVICE = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "web", "namespace": "ns", "uid": "svc-uid", "labels": {"tier": "front"}},
           "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
                    "clusterIP": "10.96.0.10", "ipFamilies": ["IPv4"]}}
NODES = {"node-a": {"metadata": {"name": "node-a", "labels": {"topology.kubernetes.io/zone": "z"}}}}


def a_pod(index: int, ready: bool = True) -> dict:
    return {"metadata": {"name": f"web-{index}", "namespace": "ns", "uid": f"uid-{index}", "labels": {"app": "web"}},
            "spec": {"nodeName": "node-a", "containers": [{"name": "c"}]},
            "status": {"phase": "Running", "podIPs": [{"ip": f"10.0.0.{index}"}],
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def stored(plan_slices: list[dict], first_name: int = 0) -> list[dict]:
    """The plan's new slices as the server would store them (named, versioned)."""
    out = []
    for index, obj in enumerate(plan_slices):
        obj = copy.deepcopy(obj)
        obj["metadata"].update(name=f"web-{first_name + index}", resourceVersion="1")
        out.append(obj)
    return out


def names(endpoint_slice: dict) -> list[str]:
    return [endpoint["targetRef"]["name"] for endpoint in endpoint_slice["endpoints"]]


def test_reconciler_fills_tops_up_and_keeps_unchanged_slices():
    pods = [a_pod(i) for i in range(5)]
    plan = reconcile_slices(SERVICE, pods, [], NODES.get, 2)
    assert not plan.update and not plan.delete and [names(s) for s in plan.create] == [
        ["web-0", "web-1"], ["web-2", "web-3"], ["web-4"]]
    slices = stored(plan.create)
    assert slices[0]["endpoints"][0] == {
        "addresses": ["10.0.0.0"], "conditions": {"ready": True, "serving": True, "terminating": False},
        "targetRef": {"kind": "Pod", "namespace": "ns", "name": "web-0", "uid": "uid-0"},
        "nodeName": "node-a", "zone": "z"}
    assert slices[0]["ports"] == [{"name": "http", "protocol": "TCP", "port": 8080}]
    assert slices[0]["metadata"]["labels"] == {"tier": "front", "kubernetes.io/service-name": "web",
                                               "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}

    # Nothing changed: nothing to write.
    assert not reconcile_slices(SERVICE, pods, slices, NODES.get, 2)

    # web-1 not ready: only its slice is updated.  A new pod goes into the slice with room.
    changed = pods[:1] + [a_pod(1, ready=False)] + pods[2:] + [a_pod(5)]
    plan = reconcile_slices(SERVICE, changed, slices, NODES.get, 2)
    assert not plan.create and not plan.delete
    assert sorted(names(s) for s in plan.update) == [["web-0", "web-1"], ["web-4", "web-5"]]
    assert [e["conditions"]["ready"] for e in plan.update[0]["endpoints"] if e["targetRef"]["name"] == "web-1"] == [False]

    # A removed pod empties its slice: deleted, the others stay as they are.
    plan = reconcile_slices(SERVICE, pods[:2] + pods[4:], slices, NODES.get, 2)
    assert not plan.create and not plan.update and [s["metadata"]["name"] for s in plan.delete] == ["web-1"]

    # No pods at all: the slices go, one empty placeholder comes (kept once it exists).
    plan = reconcile_slices(SERVICE, [], slices, NODES.get, 2)
    assert len(plan.delete) == 3 and [(s["endpoints"], s["ports"]) for s in plan.create] == [([], [])]
    assert not reconcile_slices(SERVICE, [], stored(plan.create), NODES.get, 2)


def test_reconciler_address_types_and_missing_nodes():
    dual = copy.deepcopy(SERVICE)
    dual["spec"]["ipFamilies"] = ["IPv4", "IPv6"]
    pod = a_pod(1)
    pod["status"]["podIPs"].append({"ip": "fd00::1"})
    plan = reconcile_slices(dual, [pod], [], NODES.get, 100)
    assert [(s["addressType"], s["endpoints"][0]["addresses"]) for s in plan.create] == [
        ("IPv4", ["10.0.0.1"]), ("IPv6", ["fd00::1"])]

    # A slice of a type the Service no longer has is deleted; so is one another Service owns.
    stale = stored(plan.create)
    foreign = copy.deepcopy(stale[0])
    foreign["metadata"].update(name="web-old", ownerReferences=[{"apiVersion": "v1", "kind": "Service", "uid": "old"}])
    plan = reconcile_slices(SERVICE, [pod], stale + [foreign], NODES.get, 100)
    assert sorted(s["metadata"]["name"] for s in plan.delete) == ["web-1", "web-old"] and not plan.create

    lost = a_pod(2)
    lost["spec"]["nodeName"] = "node-gone"
    plan = reconcile_slices(SERVICE, [lost], [], NODES.get, 100)
    assert plan.skipped == ['skipping Pod web-2 for Service ns/web: node "node-gone" not found']
    assert [s["endpoints"] for s in plan.create] == [[]]
    publishing = copy.deepcopy(SERVICE)
    publishing["spec"]["publishNotReadyAddresses"] = True
    plan = reconcile_slices(publishing, [lost, a_pod(3, ready=False)], [], NODES.get, 100)
    assert not plan.skipped
    assert [(e["targetRef"]["name"], e["conditions"]["ready"], "zone" in e) for e in plan.create[0]["endpoints"]] == [
        ("web-2", True, False), ("web-3", True, True)]


def test_controller_registration_and_flags():
    from pyk8s.cli import controller_manager as cli
    from pyk8s.controllers import controller_class, resolve_names
    from pyk8s.controllers.endpointslice import EndpointSliceController
    from pyk8s.controllers.manager import WORKER_OPTIONS

    assert controller_class("endpointslice") is EndpointSliceController
    assert "endpointslice-controller" in resolve_names(["*"])
    assert WORKER_OPTIONS["endpointslice-controller"] == "concurrent_service_endpoint_syncs"
    options = cli.controller_options(cli.parse_args(["--server", "http://x"]))
    assert (options["concurrent_service_endpoint_syncs"], options["max_endpoints_per_slice"],
            options["endpointslice_updates_batch_period"]) == (5, 100, 0.0)
    options = cli.controller_options(cli.parse_args(
        ["--server", "http://x", "--max-endpoints-per-slice=20", "--endpointslice-updates-batch-period=1s"]))
    assert (options["max_endpoints_per_slice"], options["endpointslice_updates_batch_period"]) == (20, 1.0)
    with pytest.raises(SystemExit):
        cli.parse_args(["--server", "http://x", "--max-endpoints-per-slice=1001"])
