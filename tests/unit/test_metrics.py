"""``/metrics``: Prometheus text with upstream's metric names, labels and buckets."""

from __future__ import annotations

import os
import re
import time

import orjson
import pytest

from apihelpers import body, pod
from pyk8s.apiserver.app import APIServer
from pyk8s.apiserver.metrics import DURATION_BUCKETS, Metrics

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Samples of a text exposition; every non-comment line must be a well-formed sample."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            assert line.startswith("# HELP ") or line.startswith("# TYPE ") or not line, line
            continue
        match = _SAMPLE.match(line)
        assert match, line
        labels = dict(_LABEL.findall(match.group(3) or ""))
        samples.append((match.group(1), labels, float(match.group(4))))
    return samples


def find(samples, name, **labels):
    return [value for sample, found, value in samples if sample == name and all(found.get(k) == v for k, v in labels.items())]


@pytest.fixture
def app():
    server = APIServer(storage="reference", compaction_interval=0)
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}
    server.handle("POST", "/api/v1/namespaces", "", None, body(namespace))
    yield server
    server.store.close()


def scrape(app):
    response = app.handle("GET", "/metrics")
    assert response.status == 200
    assert dict(response.headers)["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return response.body.decode()


def test_request_counters_and_labels(app):
    app.handle("POST", "/api/v1/namespaces/default/pods", "", None, body(pod("a")))
    app.handle("GET", "/api/v1/namespaces/default/pods/a")
    app.handle("GET", "/api/v1/namespaces/default/pods/missing")
    app.handle("GET", "/api/v1/namespaces/default/pods")
    app.handle("GET", "/api/v1/pods")
    app.handle("GET", "/apis/apps/v1/namespaces/default/deployments")
    app.handle("DELETE", "/api/v1/namespaces/default/pods/a")
    app.handle("GET", "/no/such/path")
    samples = parse(scrape(app))
    common = {"component": "apiserver", "dry_run": "", "group": "", "version": "v1", "resource": "pods", "subresource": ""}
    assert find(samples, "apiserver_request_total", verb="POST", scope="resource", code="201", **common) == [1]
    assert find(samples, "apiserver_request_total", verb="GET", scope="resource", code="200", **common) == [1]
    assert find(samples, "apiserver_request_total", verb="GET", scope="resource", code="404", **common) == [1]
    assert find(samples, "apiserver_request_total", verb="LIST", scope="namespace", code="200", **common) == [1]
    assert find(samples, "apiserver_request_total", verb="LIST", scope="cluster", code="200", **common) == [1]
    assert find(samples, "apiserver_request_total", verb="DELETE", scope="resource", code="200", **common) == [1]
    assert find(samples, "apiserver_request_total", group="apps", resource="deployments", verb="LIST") == [1]
    # Paths that are not served are not counted (no unbounded label values).
    assert not [labels for name, labels, _ in samples if "/no/such/path" in labels.values()]
    # The label set is upstream's.
    (labels,) = [labels for name, labels, _ in samples
                 if name == "apiserver_request_total" and labels.get("verb") == "POST" and labels.get("resource") == "pods"]
    assert set(labels) == {"verb", "dry_run", "group", "version", "resource", "subresource", "scope", "component", "code"}


def test_non_resource_requests_are_counted_by_path(app):
    app.handle("GET", "/healthz")
    app.handle("GET", "/apis")
    samples = parse(scrape(app))
    assert find(samples, "apiserver_request_total", verb="GET", subresource="/healthz", resource="", scope="", code="200") == [1]
    assert find(samples, "apiserver_request_total", verb="GET", subresource="/apis", code="200") == [1]


def test_duration_histogram_uses_upstream_buckets(app):
    for _ in range(3):
        app.handle("GET", "/api/v1/nodes")
    samples = parse(scrape(app))
    labels = {"verb": "LIST", "resource": "nodes", "scope": "cluster"}
    buckets = [(found["le"], value) for name, found, value in samples
               if name == "apiserver_request_duration_seconds_bucket" and all(found.get(k) == v for k, v in labels.items())]
    assert [le for le, _ in buckets] == [f"{b:g}" for b in DURATION_BUCKETS] + ["+Inf"]
    assert buckets[-1][1] == 3 and all(a <= b for (_, a), (_, b) in zip(buckets, buckets[1:]))
    assert find(samples, "apiserver_request_duration_seconds_count", **labels) == [3]
    (total,) = find(samples, "apiserver_request_duration_seconds_sum", **labels)
    assert 0 < total < 3
    (bucket_labels,) = [found for name, found, _ in samples
                        if name == "apiserver_request_duration_seconds_bucket" and found.get("le") == "+Inf" and found.get("resource") == "nodes"]
    assert "code" not in bucket_labels and list(bucket_labels)[-1] == "le"


def test_histogram_bucketing():
    metrics = Metrics()
    key = ("GET", "", "v1", "pods", "", "resource")
    for seconds in (0.001, 0.005, 0.0051, 0.7, 100.0):
        metrics.observe(key, 200, seconds)
    samples = parse(metrics.render(lambda: ()).decode())
    by_le = {labels["le"]: value for name, labels, value in samples if name == "apiserver_request_duration_seconds_bucket"}
    # le is inclusive: 0.005 falls in the 0.005 bucket; 100 s only in +Inf.
    assert by_le["0.005"] == 2 and by_le["0.025"] == 3 and by_le["0.6"] == 3 and by_le["0.8"] == 4
    assert by_le["60"] == 4 and by_le["+Inf"] == 5


def test_storage_objects(app):
    for name in ("a", "b"):
        app.handle("POST", "/api/v1/namespaces/default/pods", "", None, body(pod(name)))
    samples = parse(scrape(app))
    assert find(samples, "apiserver_storage_objects", resource="pods") == [2]
    assert find(samples, "apiserver_storage_objects", resource="deployments.apps") == [0]
    assert find(samples, "apiserver_storage_objects", resource="leases.coordination.k8s.io") == [0]


def test_process_metrics(app):
    samples = parse(scrape(app))
    (rss,) = find(samples, "process_resident_memory_bytes")
    assert rss > 10 * 1024 * 1024
    (cpu,) = find(samples, "process_cpu_seconds_total")
    assert cpu > 0
    (fds,) = find(samples, "process_open_fds")
    assert fds == pytest.approx(len(os.listdir("/proc/self/fd")), abs=3)
    (started,) = find(samples, "process_start_time_seconds")
    assert time.time() - 3600 * 24 < started <= time.time()
    assert find(samples, "process_max_fds") and find(samples, "process_virtual_memory_bytes")


def test_help_and_type_lines(app):
    text = scrape(app)
    for name, kind in [("apiserver_request_total", "counter"), ("apiserver_request_duration_seconds", "histogram"),
                       ("apiserver_storage_objects", "gauge"), ("apiserver_registered_watchers", "gauge"),
                       ("process_resident_memory_bytes", "gauge"), ("process_cpu_seconds_total", "counter")]:
        assert f"# TYPE {name} {kind}\n" in text
        assert f"# HELP {name} " in text
    assert orjson.loads(app.handle("GET", "/metrics/x").body)["code"] == 404
