"""Discovery, Table output, /metrics and watch features over HTTP on the real server, and
kubectl 1.37 reading them (version, api-resources, get, get -w)."""

from __future__ import annotations

import socket
import subprocess
import time

import httpx
import orjson
import pytest

from pyk8s.apiserver.testing import APIServerProcess

KUBECTL = "/work/venv/bin/kubectl"
V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"


@pytest.fixture(scope="module")
def server():
    with APIServerProcess("native") as process:
        yield process


@pytest.fixture
def http(server):
    with httpx.Client(base_url=server.url, timeout=10) as client:
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}
        assert client.post("/api/v1/namespaces", json=namespace).status_code in (201, 409)
        yield client


def kubectl(server, tmp_path, *args, timeout=30):
    result = subprocess.run(
        [KUBECTL, "--server", server.url, "--cache-dir", str(tmp_path / "cache"), *args],
        capture_output=True, text=True, timeout=timeout,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def create_pod(http, name):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
           "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    response = http.post("/api/v1/namespaces/default/pods", json=pod)
    assert response.status_code == 201, response.text
    return response.json()


def test_version_and_trailing_slashes(http):
    for path in ("/version", "/version/", "/api/", "/apis/", "/api/v1/", "/apis/apps/v1/"):
        assert http.get(path).status_code == 200, path
    assert http.get("/version").json()["gitVersion"].startswith("v1.37.")


def test_aggregated_discovery_content_type_is_exact(http):
    response = http.get("/apis", headers={"Accept": V2 + ",application/json"})
    assert response.headers["content-type"] == V2
    assert response.json()["kind"] == "APIGroupDiscoveryList"
    assert http.get("/api", headers={"Accept": "application/json"}).json()["kind"] == "APIVersions"


def test_table_over_http(http):
    create_pod(http, "table-pod")
    table = http.get("/api/v1/namespaces/default/pods", headers={"Accept": TABLE}).json()
    assert table["kind"] == "Table" and any(row["cells"][0] == "table-pod" for row in table["rows"])
    response = http.get("/api/v1/namespaces/default/pods/table-pod", headers={"Accept": "application/vnd.kubernetes.protobuf"})
    assert response.status_code == 406


def test_metrics_over_http(http):
    http.get("/api/v1/nodes")
    response = http.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert 'apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="nodes",scope="cluster",subresource="",verb="LIST",version="v1"}' in response.text
    assert "process_resident_memory_bytes " in response.text


def _raw_watch(server, path, accept=None):
    sock = socket.create_connection(("127.0.0.1", server.port))
    headers = f"Accept: {accept}\r\n" if accept else ""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n{headers}\r\n".encode())
    return sock


def _read_lines(sock, count, timeout=5.0):
    deadline = time.monotonic() + timeout
    data = b""
    while True:
        head, _, rest = data.partition(b"\r\n\r\n")
        # De-chunk loosely: JSON lines never contain CRLF, chunk sizes are hex lines.
        lines = [line for line in rest.split(b"\n") if line.startswith(b"{")]
        if len(lines) >= count:
            return [orjson.loads(line.rstrip(b"\r")) for line in lines[:count]]
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        chunk = sock.recv(65536)
        assert chunk, f"stream ended: {data!r}"
        data += chunk


def test_watch_list_over_http(server, http):
    create_pod(http, "wl-a")
    sock = _raw_watch(server, "/api/v1/namespaces/default/pods?watch=1&sendInitialEvents=true"
                              "&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&fieldSelector=metadata.name%3Dwl-a")
    try:
        added, bookmark = _read_lines(sock, 2)
        assert added["type"] == "ADDED" and added["object"]["metadata"]["name"] == "wl-a"
        assert bookmark["type"] == "BOOKMARK"
        assert bookmark["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    finally:
        sock.close()
    response = http.get("/api/v1/pods", params={"watch": "1", "sendInitialEvents": "true"})
    assert response.status_code == 422 and response.json()["details"]["kind"] == "ListOptions"


def test_table_watch_over_http(server, http):
    create_pod(http, "tw-a")
    sock = _raw_watch(server, "/api/v1/namespaces/default/pods?watch=1&fieldSelector=metadata.name%3Dtw-a", TABLE)
    try:
        (event,) = _read_lines(sock, 1)
        assert event["object"]["kind"] == "Table" and event["object"]["rows"][0]["cells"][0] == "tw-a"
    finally:
        sock.close()


def test_kubectl_version_and_api_resources(server, tmp_path):
    assert "Server Version: v1.37.0-pyk8s" in kubectl(server, tmp_path, "version")
    lines = kubectl(server, tmp_path, "api-resources").splitlines()
    assert lines[0].split() == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows["pods"] == ["pods", "po", "v1", "true", "Pod"]
    assert rows["deployments"] == ["deployments", "deploy", "apps/v1", "true", "Deployment"]
    assert rows["nodes"][-2:] == ["false", "Node"]


def test_kubectl_get_tables(server, http, tmp_path):
    create_pod(http, "kubectl-pod")
    out = kubectl(server, tmp_path, "get", "pods", "-o", "wide")
    header, *rows = out.splitlines()
    assert header.split()[:5] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"] and "NOMINATED NODE" in header
    (row,) = [row for row in rows if row.startswith("kubectl-pod ")]
    assert row.split()[1:4] == ["0/1", "Pending", "0"]


def test_kubectl_get_watch(server, http, tmp_path):
    create_pod(http, "watched-pod")
    process = subprocess.Popen(
        [KUBECTL, "--server", server.url, "--cache-dir", str(tmp_path / "cache"), "get", "pods", "-w"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        time.sleep(1.5)
        patch = http.patch("/api/v1/namespaces/default/pods/watched-pod", json={"metadata": {"labels": {"x": "y"}}},
                           headers={"Content-Type": "application/merge-patch+json"})
        assert patch.status_code == 200, patch.text
        time.sleep(1.0)
    finally:
        process.terminate()
        out, err = process.communicate(timeout=10)
    lines = [line for line in out.splitlines() if line.startswith("watched-pod ")]
    assert len(lines) >= 2, (out, err)  # the listed row, then the watch event's row
    assert out.splitlines()[0].split()[:3] == ["NAME", "READY", "STATUS"]


def test_kubectl_explain_reads_openapi(server, tmp_path):
    out = kubectl(server, tmp_path, "explain", "deployments.spec.replicas")
    assert "KIND:" in out and "Deployment" in out and "replicas" in out
