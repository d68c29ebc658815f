"""What a person learning Kubernetes types, from the official tutorials and the kubectl cheat
sheet, with stock kubectl 1.37 against a live API server: each test is one step where pyk8s
once answered wrongly or unclearly."""

from __future__ import annotations

import pytest

from e2ehelpers import create_object


def _running_pod(http, name: str) -> None:
    """A pod that looks Running (no kubelet here): kubectl exec and friends check the phase."""
    create_object(http, "/api/v1/namespaces/default/pods", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "x", "command": ["sleep", "60"],
                                 "ports": [{"containerPort": 8080}]}]},
    })
    response = http.patch(
        f"/api/v1/namespaces/default/pods/{name}/status",
        json={"status": {"phase": "Running", "podIP": "127.0.0.1"}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("exec", "{pod}", "--", "env"), "pods/exec is not supported by pyk8s: containers are local processes"),
        (("attach", "{pod}"), "pods/attach is not supported by pyk8s"),
        (("port-forward", "pod/{pod}", "18099:8080"), "pods/portforward is not supported by pyk8s"),
        (("cp", "{pod}:/etc/hostname", "{tmp}/copied"), "pods/exec is not supported by pyk8s"),
    ],
)
def test_container_streams_say_why_they_are_not_supported(kubectl, http, unique, tmp_path, args, expected):
    # Was: "unable to upgrade connection: the server could not find the requested resource".
    pod = unique("stream")
    _running_pod(http, pod)
    stderr = kubectl.fails(*(arg.format(pod=pod, tmp=tmp_path) for arg in args))
    assert expected in stderr


def test_pod_and_service_proxies_say_why_they_are_not_supported(http, unique):
    pod = unique("proxied")
    _running_pod(http, pod)
    for path in (f"/api/v1/namespaces/default/pods/{pod}:8080/proxy/",
                 "/api/v1/namespaces/default/services/kubernetes:443/proxy/healthz"):
        response = http.get(path)
        assert response.status_code == 404
        assert response.json()["reason"] == "NotFound"
        assert "is not supported by pyk8s" in response.json()["message"]
    # Any other unserved path keeps upstream's words.
    assert http.get("/api/v1/namespaces/default/pods/x/nonsense").json()["message"] == (
        "the server could not find the requested resource"
    )


def test_apply_of_a_kind_the_server_does_not_serve_names_the_kind(kubectl):
    # kubectl's validation falls back to /openapi/v2 (protobuf) for a group no OpenAPI v3
    # document has; that used to fail with "failed to download openapi: the server was
    # unable to respond with a content type that the client supports".
    manifest = kubectl.manifest({"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "ct"}})
    stderr = kubectl.fails("apply", "-f", manifest)
    assert 'no matches for kind "CronTab" in version "stable.example.com/v1"' in stderr
    assert "openapi" not in stderr


def test_apply_of_a_cronjob_says_custom_resources_are_not_supported(kubectl):
    # batch/v1 is served, CronJob is not: kubectl then lists CustomResourceDefinitions to see
    # whether it is a custom resource, and prints what the server answers to that.
    manifest = kubectl.manifest({
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "cj"},
        "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "c", "image": "x", "command": ["true"]}]}}}}},
    })
    stderr = kubectl.fails("apply", "-f", manifest)
    assert "CustomResourceDefinitions (apiextensions.k8s.io) are not supported by pyk8s" in stderr
    assert 'no matches for kind "CronJob"' in kubectl.fails("apply", "--validate=false", "-f", manifest)
