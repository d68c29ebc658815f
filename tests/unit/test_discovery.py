"""``/version`` and discovery documents, legacy and aggregated, against upstream's shapes."""

from __future__ import annotations

import orjson
import pytest

from pyk8s.api.kinds import default_registry
from pyk8s.api.registry import Registry, ResourceDef
from pyk8s.apiserver.app import APIServer
from pyk8s.apiserver.discovery import storage_version_hash, version_sort_key

V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
KUBECTL_DISCOVERY_ACCEPT = f"{V2},{V2BETA1},application/json"


@pytest.fixture(scope="module")
def app():
    server = APIServer(storage="reference", compaction_interval=0, server_address="10.0.0.1:6443")
    yield server
    server.store.close()


def get(app, path, accept=None):
    response = app.handle("GET", path, accept=accept)
    assert response.status == 200, (path, response.body)
    return orjson.loads(response.body), dict(response.headers)


def by_name(resource_list):
    return {entry["name"]: entry for entry in resource_list["resources"]}


@pytest.mark.parametrize("path", ["/version", "/version/"])
def test_version(app, path):
    info, headers = get(app, path)
    assert headers["content-type"] == "application/json"
    assert info["major"] == "1" and info["minor"] == "37"
    assert info["gitVersion"] == "v1.37.0-pyk8s"
    # Every field the Python client's VersionInfo requires is a non-empty string.
    for field in ("buildDate", "compiler", "gitCommit", "gitTreeState", "gitVersion", "goVersion", "major", "minor", "platform"):
        assert isinstance(info[field], str) and info[field], field
    assert info["platform"].count("/") == 1


def test_api_versions(app):
    for path in ("/api", "/api/"):
        document, _ = get(app, path)
        assert document == {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "10.0.0.1:6443"}],
        }


def test_api_group_list(app):
    document, _ = get(app, "/apis")
    assert document["kind"] == "APIGroupList" and document["apiVersion"] == "v1"
    groups = {group["name"]: group for group in document["groups"]}
    assert groups["apps"] == {
        "name": "apps",
        "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
        "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"},
    }
    assert "" not in groups
    # kube-aggregator's priorities: apps before batch before coordination.k8s.io.
    names = [group["name"] for group in document["groups"]]
    assert names.index("apps") < names.index("batch") < names.index("coordination.k8s.io")


def test_api_group(app):
    document, _ = get(app, "/apis/batch/")
    assert document == {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": "batch",
        "versions": [{"groupVersion": "batch/v1", "version": "v1"}],
        "preferredVersion": {"groupVersion": "batch/v1", "version": "v1"},
    }


def test_core_resource_list(app):
    for path in ("/api/v1", "/api/v1/"):
        document, _ = get(app, path)
        # kube-apiserver leaves apiVersion out of /api/v1 (only)
        assert list(document) == ["kind", "groupVersion", "resources"]
        assert document["kind"] == "APIResourceList" and document["groupVersion"] == "v1"
    resources = by_name(document)
    assert resources["pods"] == {
        "name": "pods",
        "singularName": "pod",
        "namespaced": True,
        "kind": "Pod",
        "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
        "shortNames": ["po"],
        "categories": ["all"],
        "storageVersionHash": "xPOwRZ+Yhw8=",  # what kube-apiserver serves for pods
    }
    assert resources["pods/status"] == {"name": "pods/status", "singularName": "", "namespaced": True, "kind": "Pod", "verbs": ["get", "patch", "update"]}
    assert resources["pods/binding"] == {"name": "pods/binding", "singularName": "", "namespaced": True, "kind": "Binding", "verbs": ["create"]}
    assert resources["pods/eviction"] == {
        "name": "pods/eviction", "singularName": "", "namespaced": True, "group": "policy", "version": "v1",
        "kind": "Eviction", "verbs": ["create"],
    }
    assert resources["nodes"]["namespaced"] is False and resources["nodes"]["shortNames"] == ["no"]
    assert [entry["name"] for entry in document["resources"]] == sorted(resources)


def test_group_resource_list(app):
    document, _ = get(app, "/apis/apps/v1/")
    assert document["kind"] == "APIResourceList" and document["apiVersion"] == "v1" and document["groupVersion"] == "apps/v1"
    resources = by_name(document)
    assert resources["deployments"]["shortNames"] == ["deploy"] and resources["deployments"]["categories"] == ["all"]
    assert resources["deployments/scale"] == {
        "name": "deployments/scale", "singularName": "", "namespaced": True, "group": "autoscaling", "version": "v1",
        "kind": "Scale", "verbs": ["get", "patch", "update"],
    }


@pytest.mark.parametrize("path", ["/apis/nope", "/apis/apps/v2", "/api/v2", "/apis/apps/v1/deployments/x/y/z/w"])
def test_unknown_discovery_paths_are_404(app, path):
    response = app.handle("GET", path)
    assert response.status == 404 and orjson.loads(response.body)["reason"] == "NotFound"


@pytest.mark.parametrize("accept,version", [(KUBECTL_DISCOVERY_ACCEPT, "v2"), (V2, "v2"), (V2BETA1, "v2beta1")])
def test_aggregated_discovery(app, accept, version):
    apis, headers = get(app, "/apis", accept)
    assert headers["content-type"] == f"application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList"
    assert apis["kind"] == "APIGroupDiscoveryList" and apis["apiVersion"] == f"apidiscovery.k8s.io/{version}"
    groups = {item["metadata"]["name"]: item for item in apis["items"]}
    (apps_v1,) = groups["apps"]["versions"]
    assert apps_v1["version"] == "v1" and apps_v1["freshness"] == "Current"
    deployments = {r["resource"]: r for r in apps_v1["resources"]}["deployments"]
    assert deployments["responseKind"] == {"group": "apps", "version": "v1", "kind": "Deployment"}
    assert deployments["scope"] == "Namespaced" and deployments["singularResource"] == "deployment"
    assert {s["subresource"]: s for s in deployments["subresources"]}["scale"] == {
        "subresource": "scale", "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
        "verbs": ["get", "patch", "update"],
    }

    core, headers = get(app, "/api/", accept)
    assert headers["content-type"].endswith(f"v={version};as=APIGroupDiscoveryList")
    (item,) = core["items"]
    (v1,) = item["versions"]
    resources = {r["resource"]: r for r in v1["resources"]}
    assert resources["nodes"]["scope"] == "Cluster"
    pods = resources["pods"]
    assert pods["shortNames"] == ["po"] and pods["categories"] == ["all"]
    eviction = {s["subresource"]: s for s in pods["subresources"]}["eviction"]
    assert eviction["responseKind"] == {"group": "policy", "version": "v1", "kind": "Eviction"} and eviction["verbs"] == ["create"]


def test_plain_json_accept_gets_legacy_documents(app):
    document, headers = get(app, "/apis", "application/json")
    assert document["kind"] == "APIGroupList" and headers["content-type"] == "application/json"


def test_discovery_follows_the_registry():
    extra = ResourceDef(group="example.com", version="v1beta1", kind="Widget", plural="widgets", singular="widget",
                        namespaced=False, short_names=("wd",), verbs=("get", "list"))
    newer = ResourceDef(group="example.com", version="v1", kind="Widget", plural="widgets", singular="widget", namespaced=False)
    registry = Registry([*default_registry(), extra, newer])
    server = APIServer(storage="reference", registry=registry, compaction_interval=0)
    try:
        group, _ = get(server, "/apis/example.com")
        assert [v["version"] for v in group["versions"]] == ["v1", "v1beta1"]
        assert group["preferredVersion"] == {"groupVersion": "example.com/v1", "version": "v1"}
        (widgets,) = get(server, "/apis/example.com/v1beta1")[0]["resources"]
        assert widgets["verbs"] == ["get", "list"] and widgets["shortNames"] == ["wd"] and widgets["namespaced"] is False
    finally:
        server.store.close()


def test_version_priority_and_hash():
    assert sorted(["v1alpha1", "v2", "v1beta2", "v1", "v1beta1", "foo"], key=version_sort_key) == [
        "v2", "v1", "v1beta2", "v1beta1", "v1alpha1", "foo",
    ]
    assert storage_version_hash("", "v1", "Pod") == "xPOwRZ+Yhw8="


def test_root_lists_paths(app):
    document, _ = get(app, "/")
    assert {"/api", "/api/v1", "/apis", "/apis/apps/v1", "/version", "/metrics", "/healthz"} <= set(document["paths"])


def test_openapi_paths_are_served(app):
    index = app.handle("GET", "/openapi/v3")
    assert index.status == 200 and "api/v1" in orjson.loads(index.body)["paths"]
    document = app.handle("GET", "/openapi/v3/apis/apps/v1")
    assert document.status == 200 and orjson.loads(document.body)["openapi"].startswith("3.")
    etag = dict(document.headers)["etag"]
    assert app.handle("GET", "/openapi/v3/apis/apps/v1", if_none_match=etag).status == 304
    assert app.handle("GET", "/openapi/v2").status == 200
    assert app.handle("GET", "/openapi/v3/apis/nope/v1").status == 404


def test_aggregated_discovery_etag(app):
    first = app.handle("GET", "/apis", accept=V2)
    etag = dict(first.headers)["etag"]
    assert etag.startswith('"') and len(etag) == 130
    again = app.handle("GET", "/apis", accept=V2, if_none_match=etag)
    assert again.status == 304 and again.body == b""
    assert app.handle("GET", "/apis", accept=V2, if_none_match='"stale"').status == 200
