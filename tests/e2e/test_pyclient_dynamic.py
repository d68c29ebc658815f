"""``kubernetes.dynamic.DynamicClient``: discovery (legacy /api, /apis documents), then
create/get/list/patch/delete and the scale subresource through discovered resources."""

from __future__ import annotations

import pytest
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import NotFoundError

NS = "default"


@pytest.fixture
def dynamic(api_client, tmp_path):
    # Its discovery cache goes to a file; keep it per test instead of the shared temp dir.
    return DynamicClient(api_client, cache_file=str(tmp_path / "discovery.json"))


def test_discovery_finds_resources(dynamic):
    assert dynamic.version["kubernetes"]["gitVersion"].startswith("v1.")
    deployments = dynamic.resources.get(api_version="apps/v1", kind="Deployment")
    assert (deployments.name, deployments.namespaced, deployments.group, deployments.api_version) == (
        "deployments", True, "apps", "v1")
    assert "deploy" in deployments.short_names and "all" in deployments.categories
    assert {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"} <= set(deployments.verbs)
    assert {"scale", "status"} <= set(deployments.subresources)
    pods = dynamic.resources.get(api_version="v1", kind="Pod")
    assert pods.name == "pods" and pods.short_names == ["po"]
    assert {"status", "binding", "eviction", "log"} <= set(pods.subresources)
    nodes = dynamic.resources.get(api_version="v1", kind="Node")
    assert nodes.namespaced is False
    for api_version, kind in (("batch/v1", "Job"), ("coordination.k8s.io/v1", "Lease"),
                              ("scheduling.k8s.io/v1", "PriorityClass"), ("v1", "Namespace"), ("v1", "Event")):
        assert dynamic.resources.get(api_version=api_version, kind=kind).kind == kind


def test_dynamic_deployment_lifecycle(dynamic, unique):
    deployments = dynamic.resources.get(api_version="apps/v1", kind="Deployment")
    name = unique("dyn")
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [
                {"name": "web", "image": "nginx:1.25"}, {"name": "side", "image": "busybox:1.36"},
            ]}},
        },
    }
    created = deployments.create(body=body, namespace=NS)
    assert created.metadata.name == name and created.metadata.uid
    got = deployments.get(name=name, namespace=NS)
    assert got.spec.replicas == 1 and got.spec.strategy.type == "RollingUpdate"
    listed = deployments.get(namespace=NS, label_selector=f"app={name}")
    assert listed.kind == "DeploymentList" and [d.metadata.name for d in listed.items] == [name]

    # patch defaults to strategic merge: the container list merges by name
    patched = deployments.patch(name=name, namespace=NS, body={
        "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.26"}]}}},
    })
    assert [(c.name, c.image) for c in patched.spec.template.spec.containers] == [("web", "nginx:1.26"), ("side", "busybox:1.36")]

    scale = deployments.scale.get(name=name, namespace=NS)
    assert scale.kind == "Scale" and scale.apiVersion == "autoscaling/v1" and scale.spec.replicas == 1
    deployments.scale.patch(name=name, namespace=NS, body={"spec": {"replicas": 3}}, content_type="application/merge-patch+json")
    assert deployments.get(name=name, namespace=NS).spec.replicas == 3

    deleted = deployments.delete(name=name, namespace=NS)
    assert deleted.kind == "Status"  # deployments are not returned on delete (only pods, services are)
    with pytest.raises(NotFoundError):
        deployments.get(name=name, namespace=NS)


def test_dynamic_configmaps_and_cluster_scoped(dynamic, unique):
    configmaps = dynamic.resources.get(api_version="v1", kind="ConfigMap")
    name = unique("dyncm")
    configmaps.create(body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "1"}}, namespace=NS)
    merged = configmaps.patch(name=name, namespace=NS, body={"data": {"b": "2"}}, content_type="application/merge-patch+json")
    assert dict(merged.data) == {"a": "1", "b": "2"}
    replaced = configmaps.replace(body={**merged.to_dict(), "data": {"c": "3"}}, namespace=NS)
    assert dict(replaced.data) == {"c": "3"}
    configmaps.delete(name=name, namespace=NS)

    namespaces = dynamic.resources.get(api_version="v1", kind="Namespace")
    assert "kube-system" in {ns.metadata.name for ns in namespaces.get().items}
