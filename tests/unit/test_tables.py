"""Server-side Table output and PartialObjectMetadata: envelopes, Accept negotiation, and
the cells upstream's printers produce (expected values worked out from printers.go)."""

from __future__ import annotations

import time

import orjson
import pytest

from apihelpers import body, pod
from pyk8s.apiserver.app import APIServer
from pyk8s.apiserver.printers import print_deployment, print_event, print_job, print_node, print_pod, print_service
from pyk8s.apiserver.printers import print_endpoints
from pyk8s.apiserver.printing import human_duration

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
NOW = 1_800_000_000.0


def stamp(seconds_ago: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - seconds_ago))


def ensure_namespace(server, name="default"):
    """The namespace objects go into (the server may or may not have created it already)."""
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    assert server.handle("POST", "/api/v1/namespaces", "", None, body(namespace)).status in (201, 409)


@pytest.fixture
def app():
    server = APIServer(storage="reference", compaction_interval=0)
    ensure_namespace(server)
    yield server
    server.store.close()


def get(app, path, accept=TABLE, query=""):
    response = app.handle("GET", path, query, accept=accept)
    return response.status, orjson.loads(response.body)


# -- envelopes and negotiation ------------------------------------------------------------------


def test_list_table(app):
    for name in ("a", "b"):
        assert app.handle("POST", "/api/v1/namespaces/default/pods", "", None, body(pod(name))).status == 201
    status, table = get(app, "/api/v1/namespaces/default/pods", query="limit=1")
    assert status == 200
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"]["resourceVersion"] and table["metadata"]["continue"]
    columns = table["columnDefinitions"]
    assert [(c["name"], c["priority"]) for c in columns] == [
        ("Name", 0), ("Ready", 0), ("Status", 0), ("Restarts", 0), ("Age", 0),
        ("IP", 1), ("Node", 1), ("Nominated Node", 1), ("Readiness Gates", 1),
    ]
    assert columns[0]["format"] == "name" and columns[0]["description"].startswith("Name must be unique within a namespace.")
    assert columns[1] == {"name": "Ready", "type": "string", "format": "", "priority": 0,
                          "description": "The aggregate readiness state of this pod for accepting traffic."}
    (row,) = table["rows"]
    assert row["cells"][:4] == ["a", "0/1", "Pending", "0"]
    assert row["object"]["kind"] == "PartialObjectMetadata" and row["object"]["apiVersion"] == "meta.k8s.io/v1"
    assert row["object"]["metadata"]["name"] == "a" and "spec" not in row["object"]


def test_single_object_table_and_include_object(app):
    app.handle("POST", "/api/v1/namespaces/default/pods", "", None, body(pod("a")))
    path = "/api/v1/namespaces/default/pods/a"
    _, table = get(app, path)
    assert table["metadata"] == {"resourceVersion": table["rows"][0]["object"]["metadata"]["resourceVersion"]}
    _, full = get(app, path, query="includeObject=Object")
    assert full["rows"][0]["object"]["kind"] == "Pod" and full["rows"][0]["object"]["spec"]["containers"]
    _, bare = get(app, path, query="includeObject=None")
    assert "object" not in bare["rows"][0]
    status, error = get(app, path, query="includeObject=Everything")
    assert status == 400 and error["reason"] == "BadRequest"


def test_table_v1beta1_and_default_columns(app):
    app.handle("POST", "/api/v1/namespaces/default/configmaps", "", None,
               body({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}}))
    _, table = get(app, "/api/v1/namespaces/default/configmaps", "application/json;as=Table;v=v1beta1;g=meta.k8s.io")
    assert table["apiVersion"] == "meta.k8s.io/v1beta1"
    assert table["rows"][0]["object"]["apiVersion"] == "meta.k8s.io/v1beta1"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Data", "Age"]
    assert table["rows"][0]["cells"][:2] == ["c", 2]


def test_default_table_for_kinds_without_a_printer():
    from pyk8s.apiserver.negotiation import MediaType
    from pyk8s.apiserver.tables import Converter

    widgets = {"kind": "WidgetList", "apiVersion": "example.com/v1", "metadata": {"resourceVersion": "7"},
               "items": [{"kind": "Widget", "apiVersion": "example.com/v1",
                          "metadata": {"name": "w", "creationTimestamp": "2026-01-02T03:04:05Z"}}]}
    table = orjson.loads(Converter(MediaType("Table", "v1")).convert(orjson.dumps(widgets)))
    assert [(c["name"], c["type"]) for c in table["columnDefinitions"]] == [("Name", "string"), ("Created At", "date")]
    assert table["rows"][0]["cells"] == ["w", "2026-01-02T03:04:05Z"]
    assert table["metadata"] == {"resourceVersion": "7"}


def test_partial_object_metadata(app):
    app.handle("POST", "/api/v1/namespaces/default/pods", "", None, body(pod("a")))
    status, partial = get(app, "/api/v1/namespaces/default/pods/a", "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1")
    assert status == 200 and partial["kind"] == "PartialObjectMetadata" and set(partial) == {"kind", "apiVersion", "metadata"}
    status, partial_list = get(app, "/api/v1/pods", "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1")
    assert partial_list["kind"] == "PartialObjectMetadataList" and partial_list["items"][0]["metadata"]["name"] == "a"
    assert partial_list["items"][0]["kind"] == "PartialObjectMetadata"


@pytest.mark.parametrize("accept", [
    "application/vnd.kubernetes.protobuf",
    "application/json;as=Table;v=v2;g=meta.k8s.io",
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",  # a list type for one object
    "text/html",
])
def test_not_acceptable(app, accept):
    app.handle("POST", "/api/v1/namespaces/default/pods", "", None, body(pod("a")))
    status, error = get(app, "/api/v1/namespaces/default/pods/a", accept)
    assert status == 406 and error["reason"] == "NotAcceptable"
    assert error["message"].startswith("only the following media types are accepted: application/json")


@pytest.mark.parametrize("accept", ["*/*", "application/*", "application/json, */*;q=0.5", "application/vnd.kubernetes.protobuf, application/json;q=0.9"])
def test_json_alternatives_are_plain_json(app, accept):
    app.handle("POST", "/api/v1/namespaces/default/pods", "", None, body(pod("a")))
    status, obj = get(app, "/api/v1/namespaces/default/pods/a", accept)
    assert status == 200 and obj["kind"] == "Pod"


def test_errors_are_not_converted(app):
    status, error = get(app, "/api/v1/namespaces/default/pods/missing")
    assert status == 404 and error["kind"] == "Status"


# -- durations ----------------------------------------------------------------------------------


@pytest.mark.parametrize("seconds,text", [
    (-5, "<invalid>"), (-1, "0s"), (0, "0s"), (119, "119s"), (120, "2m"), (150, "2m30s"), (600, "10m"),
    (3 * 3600 - 1, "179m"), (3 * 3600, "3h"), (3 * 3600 + 5 * 60, "3h5m"), (8 * 3600, "8h"), (47 * 3600, "47h"),
    (48 * 3600, "2d"), (50 * 3600, "2d2h"), (8 * 86400, "8d"), (2 * 365 * 86400, "2y"), (2 * 365 * 86400 + 86400, "2y1d"),
    (9 * 365 * 86400, "9y"),
])
def test_human_duration(seconds, text):
    assert human_duration(seconds) == text


# -- printers -----------------------------------------------------------------------------------


def running(name, ready=True, restarts=0, finished_ago=None):
    status = {"name": name, "ready": ready, "restartCount": restarts, "state": {"running": {"startedAt": stamp(60)}}}
    if finished_ago is not None:
        status["lastState"] = {"terminated": {"exitCode": 1, "finishedAt": stamp(finished_ago)}}
    return status


def a_pod(containers=1, init=0, status=None, **meta):
    return {
        "metadata": {"name": "p", "creationTimestamp": stamp(300), **meta},
        "spec": {"containers": [{"name": f"c{i}"} for i in range(containers)],
                 "initContainers": [{"name": f"i{i}"} for i in range(init)]},
        "status": status or {},
    }


def test_pod_running_with_restarts():
    obj = a_pod(2, status={"phase": "Running", "podIP": "10.0.0.5", "podIPs": [{"ip": "10.0.0.5"}],
                           "containerStatuses": [running("c0", restarts=3, finished_ago=300), running("c1", ready=False)]})
    obj["spec"]["nodeName"] = "n1"
    cells, conditions = print_pod(obj, NOW)
    assert cells == ["p", "1/2", "Running", "3 (5m ago)", "5m", "10.0.0.5", "n1", "<none>", "<none>"]
    assert conditions is None


@pytest.mark.parametrize("status,expected", [
    ({"phase": "Pending", "containerStatuses": [{"name": "c0", "state": {"waiting": {"reason": "ContainerCreating"}}}]}, "ContainerCreating"),
    ({"phase": "Running", "containerStatuses": [{"name": "c0", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}, "CrashLoopBackOff"),
    ({"phase": "Failed", "containerStatuses": [{"name": "c0", "state": {"terminated": {"exitCode": 2}}}]}, "ExitCode:2"),
    ({"phase": "Failed", "containerStatuses": [{"name": "c0", "state": {"terminated": {"exitCode": 137, "signal": 9}}}]}, "Signal:9"),
    ({"phase": "Succeeded", "containerStatuses": [{"name": "c0", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}, "Completed"),
    ({"phase": "Failed", "reason": "Evicted"}, "Evicted"),
    ({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}, "SchedulingGated"),
])
def test_pod_status_reason(status, expected):
    cells, _ = print_pod(a_pod(status=status), NOW)
    assert cells[2] == expected


def test_pod_init_containers():
    pending = {"phase": "Pending", "initContainerStatuses": [
        {"name": "i0", "state": {"terminated": {"exitCode": 0}}},
        {"name": "i1", "state": {"waiting": {"reason": "PodInitializing"}}},
    ]}
    assert print_pod(a_pod(init=2, status=pending), NOW)[0][2] == "Init:1/2"
    failed = {"phase": "Pending", "initContainerStatuses": [{"name": "i0", "state": {"terminated": {"exitCode": 3}}}]}
    assert print_pod(a_pod(init=1, status=failed), NOW)[0][2] == "Init:ExitCode:3"
    backoff = {"phase": "Pending", "initContainerStatuses": [{"name": "i0", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}
    assert print_pod(a_pod(init=1, status=backoff), NOW)[0][2] == "Init:CrashLoopBackOff"


def test_pod_sidecar_counts_toward_ready():
    obj = a_pod(1, init=1, status={"phase": "Running",
                                   "initContainerStatuses": [{"name": "i0", "started": True, "ready": True, "restartCount": 1,
                                                              "state": {"running": {}}}],
                                   "containerStatuses": [running("c0")]})
    obj["spec"]["initContainers"][0]["restartPolicy"] = "Always"
    cells, _ = print_pod(obj, NOW)
    assert cells[1:4] == ["2/2", "Running", "1"]


def test_pod_terminating_and_completed_row():
    cells, _ = print_pod(a_pod(status={"phase": "Running"}, deletionTimestamp=stamp(1)), NOW)
    assert cells[2] == "Terminating"
    cells, conditions = print_pod(a_pod(status={"phase": "Succeeded"}, deletionTimestamp=stamp(1)), NOW)
    assert cells[2] == "Succeeded"
    assert conditions == [{"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}]


def test_pod_readiness_gates():
    obj = a_pod(status={"phase": "Running", "conditions": [{"type": "example.com/ready", "status": "True"}]})
    obj["spec"]["readinessGates"] = [{"conditionType": "example.com/ready"}, {"conditionType": "example.com/other"}]
    assert print_pod(obj, NOW)[0][8] == "1/2"


def test_node():
    node = {
        "metadata": {"name": "n1", "creationTimestamp": stamp(3 * 86400),
                     "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "worker"}},
        "spec": {"unschedulable": True},
        "status": {"conditions": [{"type": "Ready", "status": "True"}],
                   "addresses": [{"type": "InternalIP", "address": "192.168.1.2"}],
                   "nodeInfo": {"kubeletVersion": "v1.37.0", "osImage": "Debian", "kernelVersion": "6.1", "containerRuntimeVersion": "pyk8s://0.1"}},
    }
    assert print_node(node, NOW) == [
        "n1", "Ready,SchedulingDisabled", "control-plane,worker", "3d", "v1.37.0",
        "192.168.1.2", "<none>", "Debian", "6.1", "pyk8s://0.1",
    ]
    bare = {"metadata": {"name": "n2"}, "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}
    assert print_node(bare, NOW)[:5] == ["n2", "NotReady", "<none>", "<unknown>", ""]
    assert print_node({"metadata": {"name": "n3"}}, NOW)[1] == "Unknown"


def test_deployment():
    deployment = {
        "metadata": {"name": "web", "creationTimestamp": stamp(90)},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}]},
                 "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1"}, {"name": "side", "image": "busybox"}]}}},
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
    }
    assert print_deployment(deployment, NOW) == ["web", "2/3", 3, 2, "90s", "nginx,side", "nginx:1,busybox", "app=web,tier in (a,b)"]


def test_service():
    service = {"metadata": {"name": "s", "creationTimestamp": stamp(10)},
               "spec": {"type": "NodePort", "clusterIPs": ["10.96.0.10"], "selector": {"b": "2", "a": "1"},
                        "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}}
    assert print_service(service, NOW) == ["s", "NodePort", "10.96.0.10", "<none>", "80:30080/TCP,53/UDP", "10s", "a=1,b=2"]
    balancer = {"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.0.11"]}}
    assert print_service(balancer, NOW)[3] == "<pending>"
    headless = {"metadata": {"name": "h"}, "spec": {"type": "ClusterIP", "clusterIPs": ["None"]}}
    assert print_service(headless, NOW)[2:5] == ["None", "<none>", "<none>"]


def test_endpoints():
    endpoints = {"metadata": {"name": "e"}, "subsets": [
        {"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "ports": [{"port": 80}, {"port": 443}]},
    ]}
    assert print_endpoints(endpoints, NOW)[1] == "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more..."
    assert print_endpoints({"metadata": {"name": "e"}}, NOW)[1] == "<none>"


def test_event():
    event = {"metadata": {"name": "p.123"}, "type": "Normal", "reason": "Scheduled", "message": " Assigned ",
             "involvedObject": {"kind": "Pod", "name": "p", "fieldPath": "spec.containers{c}"},
             "source": {"component": "default-scheduler"}, "firstTimestamp": stamp(600), "lastTimestamp": stamp(60), "count": 2}
    assert print_event(event, NOW) == ["60s", "Normal", "Scheduled", "pod/p", "spec.containers{c}", "default-scheduler",
                                       "Assigned", "10m", 2, "p.123"]
    new_api = {"metadata": {"name": "x"}, "eventTime": stamp(30) .replace("Z", ".000000Z"), "involvedObject": {"kind": "Node"},
               "reportingComponent": "kubelet", "reportingInstance": "n1"}
    cells = print_event(new_api, NOW)
    assert cells[0] == "30s" and cells[3] == "node" and cells[5] == "kubelet, n1" and cells[8] == 1


def test_job():
    job = {"metadata": {"name": "j", "creationTimestamp": stamp(400)},
           "spec": {"completions": 3, "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u"}},
                    "template": {"spec": {"containers": [{"name": "pi", "image": "perl"}]}}},
           "status": {"succeeded": 3, "startTime": stamp(400), "completionTime": stamp(100),
                      "conditions": [{"type": "Complete", "status": "True"}]}}
    assert print_job(job, NOW) == ["j", "Complete", "3/3", "5m", "6m40s", "pi", "perl", "batch.kubernetes.io/controller-uid=u"]
    running_job = {"metadata": {"name": "k"}, "spec": {"parallelism": 2}, "status": {}}
    assert print_job(running_job, NOW)[:4] == ["k", "Running", "0/1 of 2", ""]
