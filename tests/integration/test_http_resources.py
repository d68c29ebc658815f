"""Issue-3 resources over HTTP against the real server (both backends): namespaces and
their lifecycle, subresources, service allocation, warnings headers, deletecollection."""

from __future__ import annotations

NS = "/api/v1/namespaces"
MERGE = {"content-type": "application/merge-patch+json"}


def test_initial_objects(client):
    names = [ns["metadata"]["name"] for ns in client.get(NS).json()["items"]]
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= set(names)
    assert client.get(f"{NS}/default/serviceaccounts/default").status_code == 200
    assert client.get(f"{NS}/default/services/kubernetes").json()["spec"]["clusterIP"] == "10.96.0.1"


def test_namespace_lifecycle_and_scale(client):
    assert client.post(NS, json={"metadata": {"name": "http-team"}}).status_code == 201
    deploy = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
    }
    path = "/apis/apps/v1/namespaces/http-team/deployments"
    assert client.post(path, json=deploy).status_code == 201
    scale = client.patch(f"{path}/web/scale", content=b'{"spec":{"replicas":3}}', headers=MERGE)
    assert scale.status_code == 200 and scale.json()["kind"] == "Scale" and scale.json()["spec"]["replicas"] == 3
    assert client.get(f"{path}/web").json()["spec"]["replicas"] == 3
    marked = client.delete(f"{NS}/http-team")
    assert marked.status_code == 200 and marked.json()["status"]["phase"] == "Terminating"
    refused = client.post(f"{NS}/http-team/configmaps", json={"metadata": {"name": "c"}})
    assert refused.status_code == 403 and refused.json()["reason"] == "Forbidden"
    missing = client.post(f"{NS}/http-nope/configmaps", json={"metadata": {"name": "c"}})
    assert missing.status_code == 404 and missing.json()["message"] == 'namespaces "http-nope" not found'


def test_pod_binding_graceful_delete_and_warning(client):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "hp"},
           "spec": {"containers": [{"name": "c", "image": "nginx"}], "bogus": True}}
    created = client.post(f"{NS}/default/pods", json=pod)
    assert created.status_code == 201
    assert created.headers.get("warning") == '299 - "unknown field \\"spec.bogus\\""'
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "hp"}, "target": {"kind": "Node", "name": "n1"}}
    assert client.post(f"{NS}/default/pods/hp/binding", json=binding).status_code == 201
    assert client.post(f"{NS}/default/pods/hp/binding", json=binding).status_code == 409
    marked = client.delete(f"{NS}/default/pods/hp")
    assert marked.status_code == 200 and marked.json()["metadata"]["deletionGracePeriodSeconds"] == 30
    assert client.delete(f"{NS}/default/pods/hp", params={"gracePeriodSeconds": "0"}).status_code == 200
    assert client.get(f"{NS}/default/pods/hp").status_code == 404


def test_service_allocation_and_deletecollection(client):
    svc = {"metadata": {"name": "hs", "labels": {"t": "http"}}, "spec": {"type": "NodePort", "ports": [{"port": 80}]}}
    created = client.post(f"{NS}/default/services", json=svc).json()
    assert created["spec"]["clusterIP"].startswith("10.") and 30000 <= created["spec"]["ports"][0]["nodePort"] <= 32767
    again = {**svc, "metadata": {"name": "hs2"},
             "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": created["spec"]["ports"][0]["nodePort"]}]}}
    assert client.post(f"{NS}/default/services", json=again).status_code == 422
    deleted = client.delete(f"{NS}/default/services", params={"labelSelector": "t=http"})
    assert deleted.status_code == 200 and [s["metadata"]["name"] for s in deleted.json()["items"]] == ["hs"]
    assert client.post(f"{NS}/default/services", json=again).status_code == 201
