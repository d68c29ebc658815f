"""The README's curl flows and the wire-level error paths, against the real server."""

from __future__ import annotations

import socket
import time

import orjson

NAMESPACES = ("paging", "sel")
NGINX = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "nginx", "labels": {"app": "web"}},
    "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}]},
}


def pod(name, namespace="default", labels=None, **spec):
    obj = orjson.loads(orjson.dumps(NGINX))
    obj["metadata"] = {"name": name, "namespace": namespace, "labels": labels or {}}
    obj["spec"].update(spec)
    return obj


def names(response):
    assert response.status_code == 200, response.text
    return [item["metadata"]["name"] for item in response.json()["items"]]


def test_health(client):
    for path in ("/health", "/healthz", "/livez", "/readyz"):
        response = client.get(path)
        assert response.status_code == 200 and response.text == "ok"


def test_pod_lifecycle(client):
    created = client.post("/api/v1/pods", json=NGINX)
    assert created.status_code == 201, created.text
    pod_ = created.json()
    assert pod_["metadata"]["namespace"] == "default" and pod_["status"]["phase"] == "Pending"
    assert isinstance(pod_["metadata"]["resourceVersion"], str) and pod_["metadata"]["generation"] == 1
    assert created.headers["content-type"] == "application/json"

    listed = client.get("/api/v1/pods")
    assert listed.json()["kind"] == "PodList" and "nginx" in names(listed)
    assert "nginx" in names(client.get("/api/v1/namespaces/default/pods"))
    got = client.get("/api/v1/namespaces/default/pods/nginx")
    assert got.json() == pod_

    stale = dict(pod_, metadata=dict(pod_["metadata"], labels={"app": "web", "v": "1"}))
    assert client.put("/api/v1/namespaces/default/pods/nginx", json=stale).status_code == 200
    conflict = client.put("/api/v1/namespaces/default/pods/nginx", json=stale)
    assert conflict.status_code == 409 and conflict.json()["reason"] == "Conflict"

    patched = client.patch(
        "/api/v1/namespaces/default/pods/nginx",
        content=b'{"metadata":{"labels":{"v":null,"patched":"yes"}}}',
        headers={"content-type": "application/merge-patch+json"},
    )
    assert patched.status_code == 200 and patched.json()["metadata"]["labels"] == {"app": "web", "patched": "yes"}

    deleted = client.delete("/api/v1/namespaces/default/pods/nginx")
    assert deleted.status_code == 200 and deleted.json()["kind"] == "Pod"
    assert deleted.json()["metadata"]["uid"] == pod_["metadata"]["uid"]
    missing = client.get("/api/v1/namespaces/default/pods/nginx")
    assert missing.status_code == 404 and missing.json()["message"] == 'pods "nginx" not found'


def test_nodes(client):
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a", "labels": {"zone": "a"}}, "spec": {}}
    assert client.post("/api/v1/nodes", json=node).status_code == 201
    assert "node-a" in names(client.get("/api/v1/nodes"))
    got = client.get("/api/v1/nodes/node-a").json()
    assert "namespace" not in got["metadata"]
    patched = client.patch("/api/v1/nodes/node-a", json={"spec": {"unschedulable": True}}, headers={"Content-Type": "application/merge-patch+json"})
    assert patched.status_code == 200 and patched.json()["metadata"]["generation"] == 2
    assert names(client.get("/api/v1/nodes", params={"fieldSelector": "spec.unschedulable=true"})) == ["node-a"]
    got["metadata"]["labels"]["zone"] = "b"
    del got["metadata"]["resourceVersion"]
    assert client.put("/api/v1/nodes/node-a", json=got).json()["metadata"]["labels"] == {"zone": "b"}
    deleted = client.delete("/api/v1/nodes/node-a")
    assert deleted.status_code == 200 and deleted.json()["status"] == "Success"


def test_selectors(client):
    client.post("/api/v1/namespaces/sel/pods", json=pod("a", "sel", {"app": "web", "tier": "fe"}))
    client.post("/api/v1/namespaces/sel/pods", json=pod("b", "sel", {"app": "db"}, nodeName="n1"))
    client.post("/api/v1/namespaces/sel/pods", json=pod("c", "sel", {}, restartPolicy="Never"))
    base = "/api/v1/namespaces/sel/pods"
    assert names(client.get(base, params={"labelSelector": "app=web"})) == ["a"]
    assert names(client.get(base, params={"labelSelector": "app in (web,db),tier"})) == ["a"]
    assert names(client.get(base, params={"labelSelector": "app notin (web)"})) == ["b", "c"]
    assert names(client.get(base, params={"labelSelector": "!app"})) == ["c"]
    assert names(client.get(base, params={"fieldSelector": "spec.nodeName=n1"})) == ["b"]
    assert names(client.get(base, params={"fieldSelector": "spec.restartPolicy!=Never,status.phase=Pending"})) == ["a", "b"]
    bad = client.get(base, params={"fieldSelector": "spec.bogus=1"})
    assert bad.status_code == 400 and bad.json()["message"] == "field label not supported: spec.bogus"
    assert client.get(base, params={"labelSelector": "a in (b"}).status_code == 400


def test_paging_over_one_revision(client):
    for i in range(7):
        client.post("/api/v1/namespaces/paging/pods", json=pod(f"p{i}", "paging"))
    first = client.get("/api/v1/namespaces/paging/pods", params={"limit": 3}).json()
    revision = first["metadata"]["resourceVersion"]
    assert first["metadata"]["remainingItemCount"] == 4
    client.delete("/api/v1/namespaces/paging/pods/p5")
    client.post("/api/v1/namespaces/paging/pods", json=pod("p9", "paging"))
    seen = [p["metadata"]["name"] for p in first["items"]]
    token = first["metadata"]["continue"]
    while token:
        page = client.get("/api/v1/namespaces/paging/pods", params={"limit": 3, "continue": token}).json()
        assert page["metadata"]["resourceVersion"] == revision
        seen += [p["metadata"]["name"] for p in page["items"]]
        token = page["metadata"].get("continue")
    assert seen == [f"p{i}" for i in range(7)]


def test_error_statuses_on_the_wire(client, apiserver):
    def status(response, code, reason):
        assert response.status_code == code, response.text
        body = response.json()
        assert body["kind"] == "Status" and body["code"] == code and body["reason"] == reason
        return body

    status(client.post("/api/v1/pods", content=b"{nope"), 400, "BadRequest")
    status(client.post("/api/v1/pods", json=dict(NGINX, kind="Node")), 400, "BadRequest")
    status(client.post("/api/v1/pods", content=b"x", headers={"content-type": "text/yaml"}), 415, "UnsupportedMediaType")
    status(client.put("/api/v1/pods", json=NGINX), 405, "MethodNotAllowed")
    status(client.get("/api/v1/foos"), 404, "NotFound")
    invalid = status(client.post("/api/v1/pods", json=dict(NGINX, spec={"containers": []})), 422, "Invalid")
    assert invalid["details"]["causes"][0]["field"] == "spec.containers"
    big = orjson.dumps(dict(NGINX, metadata={"name": "big", "annotations": {"a": "x" * (3 * 1024 * 1024 + 1)}}))
    status(client.post("/api/v1/pods", content=big), 413, "RequestEntityTooLarge")

    def chunks():
        for _ in range(40):
            yield b" " * (100 * 1024)

    status(client.post("/api/v1/pods", content=chunks()), 413, "RequestEntityTooLarge")
    # No Content-Type at all: read as JSON.
    raw = orjson.dumps(dict(NGINX, metadata={"name": "no-content-type"}))
    with socket.create_connection(("127.0.0.1", apiserver.port)) as sock:
        sock.sendall(b"POST /api/v1/pods HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(raw) + raw)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 201"), reply[:200]
    assert client.get("/api/v1/namespaces/default/pods/no-content-type").status_code == 200


def test_odd_paths_are_not_500(client):
    for path in ("/api/v1/namespaces/default/pods/%ED%A0%80", "/api/v1/namespaces/%00/pods/x", "/api/v1/pods/%2F",
                 "/api/v1/namespaces/default/pods/a%2Fb", "/api/v1//pods", "/api/v1/namespaces/default/pods/" + "x" * 5000):
        for method in ("GET", "DELETE", "PUT", "PATCH"):
            response = client.request(method, path, content=b"{}")
            assert response.status_code < 500, (method, path, response.text)
            assert response.json()["kind"] == "Status"


def test_get_is_fast_enough_for_a_smoke_check(client):
    client.post("/api/v1/pods", json=dict(NGINX, metadata={"name": "speed"}))
    start = time.perf_counter()
    for _ in range(200):
        assert client.get("/api/v1/namespaces/default/pods/speed").status_code == 200
    assert time.perf_counter() - start < 5


def test_client_abandoning_requests_does_not_hurt_the_server(client, apiserver):
    for raw in (
        b"POST /api/v1/pods HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"kind\"",
        b"POST /api/v1/pods HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":",
        b"GET /api/v1/pods?watch=true HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GARBAGE\r\n\r\n",
        b"PUT /api/v1/nodes/x HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}",
    ):
        with socket.create_connection(("127.0.0.1", apiserver.port)) as sock:
            sock.sendall(raw)
            time.sleep(0.05)
    assert client.get("/readyz").status_code == 200
    assert client.get("/api/v1/pods").status_code == 200
