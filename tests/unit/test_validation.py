"""Field validation as upstream renders it, and fuzzed requests never producing a 500."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apihelpers import pod, with_changes
from pyk8s.api import errors
from pyk8s.api.kinds.pods import validate_pod
from pyk8s.api.validation import (
    dns1123_label_errors,
    dns1123_subdomain_errors,
    label_value_errors,
    qualified_name_errors,
    validate_annotations,
)
from pyk8s.apiserver.app import APIServer
from pyk8s.store import BACKENDS, open_store
from pyk8s.store.reference import ReferenceStore


@pytest.mark.parametrize("name,ok", [
    ("a", True), ("a-b.c", True), ("0abc", True), ("a" * 253, True), ("a" * 254, False),
    ("A", False), ("-a", False), ("a-", False), ("a_b", False), ("a..b", False), ("", False),
])
def test_dns1123_subdomain(name, ok):
    assert (dns1123_subdomain_errors(name) == []) is ok


@pytest.mark.parametrize("name,ok", [("a", True), ("a" * 63, True), ("a" * 64, False), ("a.b", False), ("a-1", True)])
def test_dns1123_label(name, ok):
    assert (dns1123_label_errors(name) == []) is ok


@pytest.mark.parametrize("key,ok", [
    ("app", True), ("App_1.x-y", True), ("example.com/app", True), ("k8s.io/x", True), ("a" * 63, True),
    ("a" * 64, False), ("/app", False), ("example.com/", False), ("Example.com/app", False), ("a/b/c", False),
    ("_a", False), ("a b", False), ("", False), ("a" * 254 + "/b", False),
])
def test_label_keys(key, ok):
    assert (qualified_name_errors(key) == []) is ok


@pytest.mark.parametrize("value,ok", [("", True), ("v1", True), ("a" * 63, True), ("a" * 64, False), ("-a", False), ("a b", False)])
def test_label_values(value, ok):
    assert (label_value_errors(value) == []) is ok


def test_annotation_size_limit():
    assert validate_annotations({"a": "x" * (256 * 1024 - 1)}, "metadata.annotations") == []
    causes = validate_annotations({"a": "x" * (256 * 1024)}, "metadata.annotations")
    assert [c.reason for c in causes] == ["FieldValueTooLong"]


def test_cause_rendering_matches_upstream():
    assert str(errors.required("spec.containers")) == "spec.containers: Required value"
    assert str(errors.duplicate("spec.containers[1].name", "a")) == 'spec.containers[1].name: Duplicate value: "a"'
    assert str(errors.not_supported("spec.restartPolicy", "x", ("Always", "OnFailure", "Never"))) == (
        'spec.restartPolicy: Unsupported value: "x": supported values: "Always", "OnFailure", "Never"'
    )
    assert str(errors.invalid_value("p", 70000, "must be between 1 and 65535, inclusive")) == (
        "p: Invalid value: 70000: must be between 1 and 65535, inclusive"
    )


def _defaulted(obj):
    from pyk8s.api.kinds.pods import default_pod

    obj.setdefault("metadata", {}).setdefault("namespace", "default")
    default_pod(obj)
    return obj


@pytest.mark.parametrize("path,value,field,reason", [
    ("spec.containers", [], "spec.containers", "FieldValueRequired"),
    ("spec.containers.0.image", "", "spec.containers[0].image", "FieldValueRequired"),
    ("spec.containers.0.name", "", "spec.containers[0].name", "FieldValueRequired"),
    ("spec.containers.0.name", "Web", "spec.containers[0].name", "FieldValueInvalid"),
    ("spec.containers.0.ports.0.containerPort", 0, "spec.containers[0].ports[0].containerPort", "FieldValueRequired"),
    ("spec.containers.0.ports.0.containerPort", 65536, "spec.containers[0].ports[0].containerPort", "FieldValueInvalid"),
    ("spec.containers.0.ports.0.containerPort", -1, "spec.containers[0].ports[0].containerPort", "FieldValueInvalid"),
    ("spec.containers.0.ports.0.hostPort", 65536, "spec.containers[0].ports[0].hostPort", "FieldValueInvalid"),
    ("spec.containers.0.ports.0.protocol", "HTTP", "spec.containers[0].ports[0].protocol", "FieldValueNotSupported"),
    ("spec.containers.0.ports.0.name", "Http_", "spec.containers[0].ports[0].name", "FieldValueInvalid"),
    ("spec.restartPolicy", "Sometimes", "spec.restartPolicy", "FieldValueNotSupported"),
    ("spec.dnsPolicy", "x", "spec.dnsPolicy", "FieldValueNotSupported"),
    ("spec.containers.0.imagePullPolicy", "x", "spec.containers[0].imagePullPolicy", "FieldValueNotSupported"),
    ("spec.terminationGracePeriodSeconds", -1, "spec.terminationGracePeriodSeconds", "FieldValueInvalid"),
    ("metadata.labels", {"a/b/c": "x"}, "metadata.labels", "FieldValueInvalid"),
    ("metadata.labels", {"a": "-x"}, "metadata.labels", "FieldValueInvalid"),
    ("metadata.name", "x" * 254, "metadata.name", "FieldValueInvalid"),
    ("metadata.namespace", "Bad", "metadata.namespace", "FieldValueInvalid"),
])
def test_pod_field_errors(path, value, field, reason):
    obj = _defaulted(with_changes(pod(), path, value))
    assert (field, reason) in [(c.field, c.reason) for c in validate_pod(obj)]


def test_valid_pod_has_no_errors():
    assert validate_pod(_defaulted(pod())) == []


def test_duplicate_container_names_across_init_containers():
    obj = _defaulted(pod(initContainers=[{"name": "nginx", "image": "busybox"}]))
    assert [(c.field, c.reason) for c in validate_pod(obj)] == [("spec.containers[0].name", "FieldValueDuplicate")]


# -- fuzzing: no input makes a 500 -------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=12,
)
pod_keys = st.sampled_from([
    "kind", "apiVersion", "metadata", "metadata.name", "metadata.namespace", "metadata.labels", "metadata.annotations",
    "metadata.generateName", "metadata.resourceVersion", "metadata.uid", "spec", "spec.containers", "spec.containers.0",
    "spec.containers.0.name", "spec.containers.0.image", "spec.containers.0.ports", "spec.containers.0.ports.0",
    "spec.containers.0.ports.0.containerPort", "spec.containers.0.ports.0.protocol", "spec.containers.0.resources",
    "spec.nodeName", "spec.restartPolicy", "spec.initContainers", "status", "status.phase", "spec.tolerations",
    "spec.containers.0.env", "metadata.finalizers",
])


def _mutate(obj, key, value):
    try:
        return with_changes(obj, key, value)
    except (TypeError, IndexError, KeyError, ValueError, AttributeError):
        return obj


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(pod_keys, json_values), max_size=4), st.sampled_from(["POST", "PUT", "PATCH"]))
def test_fuzzed_writes_never_500(changes, method):
    app = APIServer(ReferenceStore(), compaction_interval=0)
    assert app.handle("POST", "/api/v1/pods", "", None, orjson.dumps(pod("base"))).status == 201
    obj = pod("base")
    for key, value in changes:
        obj = _mutate(obj, key, value)
    path = "/api/v1/pods" if method == "POST" else "/api/v1/namespaces/default/pods/base"
    response = app.handle(method, path, "", "application/json", orjson.dumps(obj))
    assert response.status < 500, response.body
    assert orjson.loads(response.body)["kind"] in ("Pod", "Status")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64) | st.text(max_size=64).map(str.encode), st.sampled_from(["POST", "PUT", "PATCH", "DELETE"]))
def test_fuzzed_bytes_never_500(raw, method):
    app = APIServer(ReferenceStore(), compaction_interval=0)
    path = "/api/v1/pods" if method == "POST" else "/api/v1/namespaces/default/pods/x"
    assert app.handle(method, path, "", None, raw).status < 500


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=200, deadline=None)
@given(path=st.text(max_size=40), query=st.text(max_size=40))
def test_fuzzed_paths_and_queries_never_500(backend, path, query):
    app = APIServer(open_store(backend), compaction_interval=0)
    for p in ("/" + path, "/api/v1/" + path, "/api/v1/namespaces/" + path, "/api/v1/namespaces/default/pods/" + path):
        for method in ("GET", "DELETE", "PATCH"):
            assert app.handle(method, p, query, None, b"{}").status < 500
    assert app.handle("GET", "/api/v1/pods", query).status < 500
    assert app.handle("GET", "/api/v1/pods", "labelSelector=" + query).status < 500
    assert app.handle("GET", "/api/v1/pods", "fieldSelector=" + query).status < 500
    assert app.handle("GET", "/api/v1/pods", "continue=" + query).status < 500
