"""The kubelet's pure parts: pod phase and conditions, $(VAR) expansion, CRI log reading,
admission."""

from __future__ import annotations

import asyncio

import pytest

from pyk8s.kubelet.admission import admit
from pyk8s.kubelet.environment import expand
from pyk8s.kubelet.logs import LogOptions, parse_time, read_log, tail_text
from pyk8s.kubelet.status import (
    container_status, merged_status, pod_conditions, pod_phase, pod_status, running_state, terminated_state,
    waiting_state,
)

T = "2024-01-01T00:00:00Z"


def pod(restart_policy="Always", containers=("a",), inits=()) -> dict:
    return {"metadata": {"name": "p", "namespace": "ns", "uid": "u"}, "spec": {
        "restartPolicy": restart_policy, "containers": [{"name": n, "image": "i"} for n in containers],
        "initContainers": [{"name": n, "image": "i"} for n in inits]}}


def running(name, ready=True):
    return container_status({"name": name}, running_state(T), ready=ready)


def exited(name, code, last=None):
    return container_status({"name": name}, terminated_state(code, "Error" if code else "Completed", started_at=T,
                                                              finished_at=T), last_state=last)


def crashlooping(name, code):
    return container_status({"name": name}, waiting_state("CrashLoopBackOff"),
                            last_state=terminated_state(code, "Error", started_at=T, finished_at=T))


@pytest.mark.parametrize("policy, inits, statuses, terminal, expected", [
    ("Always", [], [running("a")], False, "Running"),
    ("Always", [], [container_status({"name": "a"}, waiting_state("ContainerCreating"))], False, "Pending"),
    ("Always", [], [crashlooping("a", 1)], False, "Running"),
    ("Always", [], [exited("a", 0)], False, "Running"),
    ("Never", [], [exited("a", 0)], False, "Succeeded"),
    ("Never", [], [exited("a", 2)], False, "Failed"),
    ("OnFailure", [], [exited("a", 2)], False, "Running"),
    ("OnFailure", [], [exited("a", 0)], False, "Succeeded"),
    ("Always", [], [exited("a", 143)], True, "Failed"),  # deleted: terminal whatever the policy
    ("Always", [], [exited("a", 0)], True, "Succeeded"),
    ("Never", [exited("i", 1)], [container_status({"name": "a"}, waiting_state("PodInitializing"))], False, "Failed"),
    ("Always", [crashlooping("i", 1)], [container_status({"name": "a"}, waiting_state("PodInitializing"))], False,
     "Pending"),
    ("Always", [running("i")], [], False, "Pending"),
])
def test_pod_phase(policy, inits, statuses, terminal, expected):
    spec = pod(policy, inits=[s["name"] for s in inits])
    assert pod_phase(spec, inits, statuses, terminal=terminal) == expected


def test_conditions_and_merge():
    spec = pod(containers=("a", "b"), inits=("i",))
    inits = [container_status({"name": "i"}, waiting_state("PodInitializing"))]
    conditions = {c["type"]: c for c in pod_conditions(spec, "Pending", inits, [])}
    assert conditions["Initialized"] == {"type": "Initialized", "status": "False", "reason": "ContainersNotInitialized",
                                         "message": "containers with incomplete status: [i]"}
    assert conditions["ContainersReady"]["message"] == "containers with unknown status: [a b]"
    assert conditions["Ready"]["type"] == "Ready" and conditions["Ready"]["status"] == "False"
    statuses = [running("a"), running("b", ready=False)]
    ready = {c["type"]: c for c in pod_conditions(spec, "Running", [exited("i", 0)], statuses)}
    assert ready["ContainersReady"]["message"] == "containers with unready status: [b]"
    assert ready["Initialized"]["status"] == "True"
    spec["status"] = {"phase": "Pending", "qosClass": "BestEffort", "nominatedNodeName": "x", "conditions": [
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2020-01-01T00:00:00Z"},
        {"type": "DisruptionTarget", "status": "True", "lastTransitionTime": "2020-01-01T00:00:00Z"}]}
    status = pod_status(spec, init_container_statuses=[exited("i", 0)], container_statuses=[running("a"), running("b")],
                        host_ip="10.0.0.1", pod_ip="10.0.0.1", start_time=T, now="2024-02-02T00:00:00Z")
    assert status["qosClass"] == "BestEffort" and status["nominatedNodeName"] == "x" and status["phase"] == "Running"
    by_type = {c["type"]: c for c in status["conditions"]}
    assert status["conditions"][0]["type"] == "DisruptionTarget"  # others' conditions are kept, first
    assert by_type["PodScheduled"]["lastTransitionTime"] == "2020-01-01T00:00:00Z"
    assert by_type["Ready"]["lastTransitionTime"] == "2024-02-02T00:00:00Z"
    again = merged_status({**spec, "status": status}, status, now="2024-03-03T00:00:00Z")
    assert {c["type"]: c for c in again["conditions"]}["Ready"]["lastTransitionTime"] == "2024-02-02T00:00:00Z"
    gated = {**spec, "spec": {**spec["spec"], "readinessGates": [{"conditionType": "example.com/gate"}]}}
    gate = {c["type"]: c for c in pod_conditions(gated, "Running", [exited("i", 0)], [running("a"), running("b")])}
    assert gate["Ready"]["reason"] == "ReadinessGatesNotReady" and gate["ContainersReady"]["status"] == "True"


@pytest.mark.parametrize("text, expected", [
    ("$(A)-$(B)", "1-2"), ("$$(A)", "$(A)"), ("$(A", "$(A"), ("$x$", "$x$"), ("$(MISSING)", "$(MISSING)"),
    ("a$$b", "a$b"), ("$(A)$(A)", "11"), ("", ""),
])
def test_expand(text, expected):
    assert expand(text, {"A": "1", "B": "2"}) == expected


def test_read_log(tmp_path):
    path = tmp_path / "0.log"
    path.write_bytes(
        b"2024-01-01T00:00:00.000000001Z stdout F one\n"
        b"2024-01-01T00:00:05.500000000Z stderr P par\n"
        b"2024-01-01T00:00:05.600000000Z stderr F tial\n"
        b"2024-01-01T00:00:09.000000000Z stdout F three\n"
    )

    def read(**options) -> bytes:
        out = []

        async def write(data):
            out.append(data)

        asyncio.run(read_log(str(path), LogOptions(**options), write, lambda: True))
        return b"".join(out)

    assert read() == b"one\npartial\nthree\n"
    assert read(tail_lines=2) == b"tial\nthree\n"
    assert read(tail_lines=0) == b""
    assert read(since=parse_time("2024-01-01T00:00:05Z")) == b"partial\nthree\n"
    assert read(since=parse_time("2024-01-01T00:00:05Z"), tail_lines=1) == b"three\n"
    assert read(limit_bytes=6) == b"one\npa"
    assert read(timestamps=True, tail_lines=1) == b"2024-01-01T00:00:09.000000000Z three\n"
    assert read(follow=True) == b"one\npartial\nthree\n"  # finished: follow ends at the end
    assert tail_text(str(path), 2, 8) == b"l\nthree\n"
    assert parse_time("2024-01-01T00:00:05.5Z") == parse_time("2024-01-01T00:00:05Z") + 0.5


def node(**status) -> dict:
    return {"metadata": {"name": "n", "labels": {"zone": "a", "size": "10"}},
            "spec": {"taints": [{"key": "gpu", "effect": "NoExecute"}, {"key": "ssd", "effect": "NoSchedule"}]},
            "status": {"allocatable": {"cpu": "2", "memory": "1Gi", "pods": "110"}, **status}}


def requesting(**requests) -> dict:
    return {"metadata": {"uid": "x"}, "spec": {"tolerations": [{"key": "gpu", "operator": "Exists"}], "containers": [
        {"name": "c", "resources": {"requests": requests}}]}}


def test_admission():
    assert admit(requesting(cpu="1"), node(), [requesting(cpu="500m")], 110) is None
    reason, message = admit(requesting(memory="600Mi"), node(), [requesting(memory="500Mi")], 110)
    assert reason == "OutOfmemory"
    assert message == (f"Node didn't have enough resource: memory, requested: {600 * 2**20}, used: {500 * 2**20}, "
                       f"capacity: {2**30}")
    assert admit(requesting(), node(), [requesting()], 1)[0] == "OutOfpods"
    assert admit(requesting(**{"example.com/dongle": "1"}), node(), [], 110)[0] == "OutOfexample.com/dongle"
    untolerated = requesting()
    untolerated["spec"]["tolerations"] = []
    assert admit(untolerated, node(), [], 110)[0] == "TaintToleration"  # NoSchedule taints are not checked here
    affinity = requesting()
    affinity["spec"]["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "size", "operator": "Gt", "values": ["20"]}]},
                              {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]}]}}}
    assert admit(affinity, node(), [], 110)[0] == "NodeAffinity"
    affinity["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"][1]["matchExpressions"][0]["values"] = ["a", "b"]
    assert admit(affinity, node(), [], 110) is None
    windows = requesting()
    windows["spec"]["os"] = {"name": "windows"}
    assert admit(windows, node(nodeInfo={"operatingSystem": "linux"}), [], 110)[0] == "PodOSNotSupported"
