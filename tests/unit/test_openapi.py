"""OpenAPI v3 index and documents, and v2, generated from the registry."""

from __future__ import annotations

import hashlib

import orjson
import pytest

from pyk8s.api.kinds import default_registry
from pyk8s.apiserver.openapi import openapi_response, openapi_v2, openapi_v3_document, openapi_v3_index


@pytest.fixture(scope="module")
def registry():
    return default_registry()


def test_index_lists_every_group_version_with_its_hash(registry):
    index = orjson.loads(openapi_v3_index(registry).body)["paths"]
    assert {"api", "apis", "api/v1"} <= set(index)
    for resource in registry:
        key = f"apis/{resource.group}/{resource.version}" if resource.group else f"api/{resource.version}"
        url = index[key]["serverRelativeURL"]
        doc = openapi_v3_document(registry, key)
        assert url == f"/openapi/v3/{key}?hash={hashlib.sha512(doc.body).hexdigest().upper()}"
        if resource.group:
            assert f"apis/{resource.group}" in index


def test_core_document_operations(registry):
    doc = orjson.loads(openapi_v3_document(registry, "api/v1").body)
    assert doc["openapi"] == "3.0.0" and doc["info"]["title"] == "Kubernetes" and doc["info"]["version"].startswith("v1.37")
    paths = doc["paths"]
    collection = paths["/api/v1/namespaces/{namespace}/pods"]
    assert collection["get"]["operationId"] == "listCoreV1NamespacedPod"
    assert collection["post"]["operationId"] == "createCoreV1NamespacedPod"
    assert collection["post"]["x-kubernetes-action"] == "post"
    assert collection["post"]["x-kubernetes-group-version-kind"] == {"group": "", "kind": "Pod", "version": "v1"}
    assert {p["name"] for p in collection["post"]["parameters"]} == {"dryRun", "fieldManager", "fieldValidation"}
    assert {p["name"] for p in collection["parameters"]} == {"namespace", "pretty"}
    assert {"labelSelector", "fieldSelector", "limit", "continue", "watch", "resourceVersion"} <= {
        p["name"] for p in collection["get"]["parameters"]
    }
    item = paths["/api/v1/namespaces/{namespace}/pods/{name}"]
    assert item["patch"]["operationId"] == "patchCoreV1NamespacedPod"
    assert set(item["patch"]["requestBody"]["content"]) == {
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
        "application/apply-patch+yaml",
    }
    assert "fieldValidation" in {p["name"] for p in item["patch"]["parameters"]}
    assert item["get"]["operationId"] == "readCoreV1NamespacedPod"
    assert item["put"]["operationId"] == "replaceCoreV1NamespacedPod"
    assert paths["/api/v1/pods"]["get"]["operationId"] == "listCoreV1PodForAllNamespaces"
    assert paths["/api/v1/watch/namespaces/{namespace}/pods"]["get"]["x-kubernetes-action"] == "watchlist"
    assert paths["/api/v1/nodes/{name}"]["get"]["operationId"] == "readCoreV1Node"
    assert paths["/api/v1/namespaces/{namespace}/pods/{name}/status"]["patch"]["operationId"] == "patchCoreV1NamespacedPodStatus"


def test_every_ref_resolves_and_every_kind_has_its_schema(registry):
    for key in orjson.loads(openapi_v3_index(registry).body)["paths"]:
        doc = orjson.loads(openapi_v3_document(registry, key).body)
        schemas = doc["components"]["schemas"]
        text = orjson.dumps(doc).decode()
        for ref in set(text.split('"$ref":"')[1:]):
            name = ref.split('"', 1)[0]
            assert name.startswith("#/components/schemas/") and name.rsplit("/", 1)[1] in schemas, (key, name)
    core = orjson.loads(openapi_v3_document(registry, "api/v1").body)["components"]["schemas"]
    pod = core["io.k8s.api.core.v1.Pod"]
    assert pod["x-kubernetes-group-version-kind"] == [{"group": "", "kind": "Pod", "version": "v1"}]
    assert core["io.k8s.api.core.v1.Container"]["properties"]["ports"]["x-kubernetes-patch-merge-key"] == "containerPort"


def test_v2_is_swagger_with_definitions(registry):
    doc = orjson.loads(openapi_v2(registry).body)
    assert doc["swagger"] == "2.0"
    assert "#/components/" not in orjson.dumps(doc).decode()
    op = doc["paths"]["/api/v1/namespaces/{namespace}/pods"]["post"]
    assert op["operationId"] == "createCoreV1NamespacedPod"
    assert op["parameters"][0] == {"name": "body", "in": "body", "required": True, "schema": {"$ref": "#/definitions/io.k8s.api.core.v1.Pod"}}
    assert "io.k8s.api.core.v1.PodSpec" in doc["definitions"]


def test_http_semantics(registry):
    status, headers, body = openapi_response(registry, "/openapi/v3")
    assert status == 200 and dict(headers)["content-type"] == "application/json"
    url = orjson.loads(body)["paths"]["api/v1"]["serverRelativeURL"]
    path, _, query = url.partition("?")
    current = query.removeprefix("hash=")
    status, headers, body = openapi_response(registry, path, {"hash": current}, "application/json")
    assert status == 200 and dict(headers)["cache-control"] == "public, immutable"
    etag = dict(headers)["etag"]
    assert etag == f'"{current}"'
    assert openapi_response(registry, path, {}, None, etag)[0] == 304
    status, headers, _ = openapi_response(registry, path, {"hash": "stale"})
    assert status == 301 and dict(headers)["location"] == url
    assert openapi_response(registry, path, {}, "application/com.github.proto-openapi.spec.v3@v1.0+protobuf")[0] == 406
    assert openapi_response(registry, "/openapi/v3/apis/nope/v1") is None
    assert openapi_response(registry, "/openapi/v2", {}, "application/json")[0] == 200


def test_delete_answers_and_pod_log_path(registry):
    paths = orjson.loads(openapi_v3_document(registry, "api/v1").body)["paths"]

    def delete_answer(path):
        content = paths[path]["delete"]["responses"]["200"]["content"]["application/json"]
        return content["schema"]["$ref"].rsplit(".", 1)[-1]

    assert delete_answer("/api/v1/namespaces/{namespace}/pods/{name}") == "Pod"
    assert delete_answer("/api/v1/namespaces/{namespace}/services/{name}") == "Service"
    assert delete_answer("/api/v1/namespaces/{namespace}/serviceaccounts/{name}") == "ServiceAccount"
    # The namespace storage returns the object but documents a Status, as upstream's spec does.
    assert delete_answer("/api/v1/namespaces/{name}") == "Status"
    assert delete_answer("/api/v1/namespaces/{namespace}/configmaps/{name}") == "Status"
    assert paths["/api/v1/namespaces/{namespace}/pods/{name}/log"]["get"]["operationId"] == "readCoreV1NamespacedPodLog"
