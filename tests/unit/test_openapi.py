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


def _fields(buf: bytes) -> list[tuple[int, object]]:
    """A protobuf message's (field number, value) pairs: ints for varints, bytes otherwise."""
    out, pos = [], 0

    def varint() -> int:
        nonlocal pos
        value = shift = 0
        while True:
            byte = buf[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value

    while pos < len(buf):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            out.append((number, varint()))
        elif wire == 1:
            out.append((number, buf[pos:pos + 8]))
            pos += 8
        elif wire == 2:
            size = varint()
            out.append((number, buf[pos:pos + size]))
            pos += size
        else:
            raise AssertionError(f"unexpected wire type {wire}")
    return out


def _field(buf: bytes, number: int) -> list:
    return [value for n, value in _fields(buf) if n == number]


def test_v2_protobuf_is_what_kubectl_reads(registry):
    """kubectl falls back to /openapi/v2 (gnostic protobuf) for a kind no v3 document has; it
    reads the PATCH operations' x-kubernetes-group-version-kind and their query parameters."""
    accept = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
    status, headers, body = openapi_response(registry, "/openapi/v2", {}, accept)
    assert status == 200
    # kube-openapi answers with the spelling Go's mime parser accepts (no "@").
    assert dict(headers)["content-type"] == "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
    assert _field(body, 1) == [b"2.0"]  # Document.swagger
    paths = {}
    for named in _field(_field(body, 8)[0], 2):  # Document.paths -> Paths.path (NamedPathItem)
        paths[_field(named, 1)[0].decode()] = _field(named, 2)[0]
    patch = _field(paths["/api/v1/namespaces/{namespace}/pods/{name}"], 8)[0]  # PathItem.patch
    extensions = {_field(e, 1)[0].decode(): _field(_field(e, 2)[0], 2)[0] for e in _field(patch, 13)}
    assert orjson.loads(extensions["x-kubernetes-group-version-kind"]) == {"group": "", "kind": "Pod", "version": "v1"}
    query_names = []
    for item in _field(patch, 8):  # Operation.parameters: ParametersItem.parameter.non_body.query
        for parameter in _field(item, 1):
            for non_body in _field(parameter, 2):
                for query in _field(non_body, 3):
                    query_names.append(_field(query, 4)[0].decode())
    assert "fieldValidation" in query_names and "dryRun" in query_names
    definitions = {_field(named, 1)[0].decode() for named in _field(_field(body, 9)[0], 1)}
    assert "io.k8s.api.core.v1.Pod" in definitions
    # JSON stays the answer to JSON (or no Accept), and an Accept naming neither is refused.
    assert dict(openapi_response(registry, "/openapi/v2", {}, None)[1])["content-type"] == "application/json"
    assert openapi_response(registry, "/openapi/v2", {}, "application/vnd.kubernetes.protobuf")[0] == 406
