"""Schema-driven decode checks: upstream's 400 messages, null handling, unknown fields per
fieldValidation, and the Go scalar parsers."""

from __future__ import annotations

import copy

import pytest

from pyk8s.api._scalars import QUANTITY_FORMAT_ERROR, base64_error, quantity_error, time_error
from pyk8s.api.errors import StatusError
from pyk8s.api.registry import ResourceDef
from pyk8s.api.schema import check_gvk, check_object, field_validation_directive, schema_name_for, warning_header

PODS = ResourceDef(group="", version="v1", kind="Pod", plural="pods", singular="pod", namespaced=True)
NODES = ResourceDef(group="", version="v1", kind="Node", plural="nodes", singular="node", namespaced=False)
PREFIX = 'Pod in version "v1" cannot be handled as a Pod: '


def pod() -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "containers": [
                {
                    "name": "nginx",
                    "image": "nginx:1.25",
                    "ports": [{"containerPort": 80}],
                    "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}},
                    "livenessProbe": {"httpGet": {"port": "http"}},
                }
            ]
        },
    }


def error_of(obj: dict, directive: str = "Warn") -> StatusError:
    with pytest.raises(StatusError) as caught:
        check_object(obj, PODS, directive)
    assert caught.value.code == 400 and caught.value.reason == "BadRequest"
    return caught.value


def test_a_valid_pod_passes_unchanged():
    obj = pod()
    assert check_object(obj, PODS) == []
    assert obj == pod()


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda p: p["spec"]["containers"][0]["ports"][0].update(containerPort="80"),
         "json: cannot unmarshal string into Go struct field ContainerPort.spec.containers.ports.containerPort of type int32"),
        (lambda p: p["spec"]["containers"][0]["ports"][0].update(containerPort=1.0),
         "json: cannot unmarshal number 1.0 into Go struct field ContainerPort.spec.containers.ports.containerPort of type int32"),
        (lambda p: p["spec"]["containers"][0]["ports"][0].update(containerPort=2**31),
         "json: cannot unmarshal number 2147483648 into Go struct field ContainerPort.spec.containers.ports.containerPort of type int32"),
        (lambda p: p["metadata"]["labels"].update(a=1),
         "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string"),
        (lambda p: p.update(spec="x"), "json: cannot unmarshal string into Go struct field Pod.spec of type v1.PodSpec"),
        (lambda p: p["spec"].update(containers={}),
         "json: cannot unmarshal object into Go struct field PodSpec.spec.containers of type []v1.Container"),
        (lambda p: p["spec"].update(securityContext={"runAsUser": True}),
         "json: cannot unmarshal bool into Go struct field PodSecurityContext.spec.securityContext.runAsUser of type int64"),
        (lambda p: p["spec"]["containers"][0]["livenessProbe"]["httpGet"].update(port=1.5),
         "json: cannot unmarshal number 1.5 into Go struct field HTTPGetAction.spec.containers.livenessProbe.httpGet.port of type int32"),
        (lambda p: p["spec"]["containers"][0]["resources"]["limits"].update(cpu="1x"), QUANTITY_FORMAT_ERROR),
        (lambda p: p["spec"]["containers"][0]["resources"]["limits"].update(cpu="1kk"), "unable to parse quantity's suffix"),
        (lambda p: p["metadata"].update(creationTimestamp=5),
         "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.creationTimestamp of type string"),
        (lambda p: p["metadata"].update(creationTimestamp="2024-02-30T00:00:00Z"),
         'parsing time "2024-02-30T00:00:00Z": day out of range'),
    ],
)
def test_type_errors_are_upstream_bad_requests(mutate, message):
    obj = pod()
    mutate(obj)
    assert error_of(obj).message == PREFIX + message


def test_the_first_type_error_in_document_order_wins():
    obj = pod()
    obj["metadata"]["labels"]["a"] = 1
    obj["spec"]["containers"][0]["image"] = 5
    assert "ObjectMeta.metadata.labels" in error_of(obj).message


def test_body_kind_and_version_name_the_error():
    obj = pod()
    obj["apiVersion"] = "v2"
    obj["spec"] = 1
    assert error_of(obj).message.startswith('Pod in version "v2" cannot be handled as a Pod: ')


def test_null_is_absent_and_zero_in_lists():
    obj = pod()
    obj["metadata"]["creationTimestamp"] = None
    obj["spec"]["nodeName"] = None
    obj["spec"]["containers"].append(None)
    obj["metadata"]["annotations"] = {"a": None}
    assert check_object(obj, PODS) == []
    assert "creationTimestamp" not in obj["metadata"] and "nodeName" not in obj["spec"]
    assert obj["spec"]["containers"][1] == {} and obj["metadata"]["annotations"] == {"a": ""}


def test_alternative_json_types_are_accepted():
    obj = pod()
    obj["spec"]["containers"][0]["livenessProbe"]["httpGet"]["port"] = 8080
    obj["spec"]["containers"][0]["resources"]["limits"]["cpu"] = 0.5
    obj["spec"]["containers"][0]["resources"]["requests"] = {"memory": 1024}
    assert check_object(obj, PODS) == []
    assert obj["spec"]["containers"][0]["resources"] == {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"memory": "1024"}}
    assert obj["spec"]["containers"][0]["livenessProbe"]["httpGet"]["port"] == 8080


def with_unknown_fields() -> dict:
    obj = pod()
    obj["metadata"]["foo"] = 1
    obj["spec"]["containers"][0]["bar"] = {"x": 1}
    obj["spec"]["baz"] = None
    obj["Spec"] = {}  # matching is case-sensitive, as sigs.k8s.io/json's is
    return obj


def test_unknown_fields_warn_by_default_and_are_pruned():
    obj = with_unknown_fields()
    warnings = check_object(obj, PODS)
    assert warnings == [
        'unknown field "metadata.foo"',
        'unknown field "spec.containers[0].bar"',
        'unknown field "spec.baz"',
        'unknown field "Spec"',
    ]
    assert obj == pod()


def test_unknown_fields_ignored():
    obj = with_unknown_fields()
    assert check_object(obj, PODS, "Ignore") == [] and obj == pod()


def test_unknown_fields_strict():
    error = error_of(with_unknown_fields(), "Strict")
    assert error.message == PREFIX + (
        'strict decoding error: unknown field "metadata.foo", unknown field "spec.containers[0].bar", '
        'unknown field "spec.baz", unknown field "Spec"'
    )


def test_a_type_error_wins_over_unknown_fields_in_strict():
    obj = with_unknown_fields()
    obj["spec"]["containers"][0]["name"] = 1
    assert "cannot unmarshal number" in error_of(obj, "Strict").message


def test_free_form_fields_keep_anything():
    obj = pod()
    obj["metadata"]["managedFields"] = [{"manager": "kubectl", "fieldsV1": {"f:spec": {"anything": [1, None]}}}]
    assert check_object(obj, PODS, "Strict") == []
    assert obj["metadata"]["managedFields"][0]["fieldsV1"] == {"f:spec": {"anything": [1, None]}}


def test_other_kinds_and_gvk_lookup():
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}, "spec": {"unschedulable": "yes"}}
    with pytest.raises(StatusError) as caught:
        check_object(node, NODES)
    assert caught.value.message.endswith("Go struct field NodeSpec.spec.unschedulable of type bool")
    assert schema_name_for("apps", "v1", "Deployment") == "io.k8s.api.apps.v1.Deployment"
    secret = {"apiVersion": "v1", "kind": "Secret", "data": {"a": "aGk=", "b": "!!"}}
    with pytest.raises(StatusError) as caught:
        check_gvk(copy.deepcopy(secret), "", "v1", "Secret")
    assert caught.value.message == 'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 0'


def test_field_validation_directive():
    assert field_validation_directive(None) == "Warn" and field_validation_directive("") == "Warn"
    assert field_validation_directive("Strict") == "Strict"
    with pytest.raises(StatusError) as caught:
        field_validation_directive("strict", "UpdateOptions")
    error = caught.value
    assert error.code == 422 and error.reason == "Invalid"
    assert error.message == (
        'UpdateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "strict": '
        'supported values: "", "Ignore", "Strict", "Warn"'
    )


@pytest.mark.parametrize("text", ["0", "1", "500m", "1.5", "128Mi", "1e3", "1E", "+2k", "-1", ".5", "1e-07"])
def test_quantities_that_parse(text):
    assert quantity_error(text) is None


@pytest.mark.parametrize("text", ["", "abc", "1x", "1 Mi", "true", "1Mi2"])
def test_quantities_that_do_not(text):
    assert quantity_error(text) is not None


def test_time_and_base64_parsers():
    assert time_error("2024-01-02T03:04:05Z") is None
    assert time_error("2024-01-02T03:04:05.123456+02:00") is None
    assert time_error("abc") == 'parsing time "abc" as "2006-01-02T15:04:05Z07:00": cannot parse "abc" as "2006"'
    assert time_error("2024-01-02 03:04:05Z") == (
        'parsing time "2024-01-02 03:04:05Z" as "2006-01-02T15:04:05Z07:00": cannot parse " 03:04:05Z" as "T"'
    )
    assert time_error("2024-13-02T03:04:05Z") == 'parsing time "2024-13-02T03:04:05Z": month out of range'
    assert base64_error("aGVsbG8=") is None and base64_error("aGVsbG8\n=") is None and base64_error("") is None
    assert base64_error("aGVsbG8") == "illegal base64 data at input byte 4"
    assert base64_error("a=") == "illegal base64 data at input byte 1"


def test_warning_header_is_upstreams_format():
    assert warning_header('unknown field "spec.foo"') == ("warning", '299 - "unknown field \\"spec.foo\\""')
    assert warning_header("a\\b") == ("warning", '299 - "a\\\\b"')
