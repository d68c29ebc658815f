"""The simulated runtime in-process against a live API server: hollow nodes register Ready
and heartbeat, their pods go through the kubelet's status transitions, finish, restart with
back-off, are rejected when they do not fit, and are deleted promptly."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import time
import uuid

import pytest

from pyk8s.client import LEASES, NAMESPACES, NODES, PODS, ApiClient, NotFound
from pyk8s.kubelet.simulated import RegistrationError, SimulatedNodes, parse_capacity, parse_labels
from pyk8s.kubelet.simulated_pods import parse_duration

_prefixes = itertools.count()


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 60))


@contextlib.asynccontextmanager
async def hollow_nodes(url: str, count: int = 2, **kwargs):
    """A client, a fresh namespace and running hollow nodes named uniquely for the test."""
    async with ApiClient(url) as client:
        prefix = f"sim{next(_prefixes)}-{uuid.uuid4().hex[:5]}-"
        nodes = SimulatedNodes(client, count, prefix=prefix, **kwargs)
        task = asyncio.create_task(nodes.run())
        namespace = f"sim-{uuid.uuid4().hex[:8]}"
        await client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        try:
            await nodes.wait_registered(20)
            yield client, nodes, namespace
        finally:
            await nodes.stop()
            await task


async def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05, message: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await predicate()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out waiting for {message}; last: {last!r}")


def pod(name: str, node: str, *, annotations=None, restart_policy=None, owner=None, requests=None, init=False) -> dict:
    container = {"name": "main", "image": "example.com/app:1"}
    if requests:
        container["resources"] = {"requests": requests}
    spec = {"nodeName": node, "containers": [container]}
    if restart_policy:
        spec["restartPolicy"] = restart_policy
    if init:
        spec["initContainers"] = [{"name": "setup", "image": "example.com/setup:1"}]
    metadata = {"name": name, "annotations": dict(annotations or {})}
    if owner:
        metadata["ownerReferences"] = [owner]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


async def pod_in_phase(client, namespace, name, phase, timeout=10.0):
    async def check():
        current = await client.get(PODS, name, namespace=namespace)
        return current if current["status"].get("phase") == phase else None
    return await wait_for(check, timeout, message=f"pod {name} {phase}")


def conditions_of(obj) -> dict:
    return {c["type"]: c for c in obj["status"].get("conditions") or ()}


def test_nodes_register_ready_with_capacity_labels_and_leases(apiserver):
    async def scenario():
        capacity = parse_capacity("cpu=8,memory=16Gi", 50)
        async with hollow_nodes(apiserver.url, 3, capacity=capacity, labels={"zone": "z1"}) as (client, nodes, _):
            cidrs = set()
            for name in nodes.names:
                node = await client.get(NODES, name)
                labels = node["metadata"]["labels"]
                assert labels["kubernetes.io/hostname"] == name
                assert labels["kubernetes.io/os"] == "linux" and labels["type"] == "simulated" and labels["zone"] == "z1"
                status = node["status"]
                assert status["capacity"] == {"cpu": "8", "memory": "16Gi", "ephemeral-storage": "1Ti", "pods": "50"}
                assert status["allocatable"] == status["capacity"]
                conditions = conditions_of(node)
                assert conditions["Ready"]["status"] == "True" and conditions["Ready"]["reason"] == "KubeletReady"
                for kind in ("MemoryPressure", "DiskPressure", "PIDPressure"):
                    assert conditions[kind]["status"] == "False"
                assert {a["type"] for a in status["addresses"]} == {"InternalIP", "Hostname"}
                assert status["nodeInfo"]["operatingSystem"] == "linux"
                cidrs.add(node["spec"]["podCIDR"])
                lease = await client.get(LEASES, name, namespace="kube-node-lease")
                assert lease["spec"]["holderIdentity"] == name and lease["spec"]["leaseDurationSeconds"] == 40
                assert lease["metadata"]["ownerReferences"][0]["uid"] == node["metadata"]["uid"]
            assert len(cidrs) == 3  # one fake pod CIDR per node
    run(scenario())


def test_leases_and_node_status_are_renewed(apiserver):
    async def scenario():
        async with hollow_nodes(apiserver.url, 4, lease_renew_interval=0.4, status_report_period=1.0) as (client, nodes, _):
            name = nodes.names[-1]
            first = (await client.get(LEASES, name, namespace="kube-node-lease"))["spec"]["renewTime"]
            beat = conditions_of(await client.get(NODES, name))["Ready"]["lastHeartbeatTime"]

            async def renewed():
                lease = await client.get(LEASES, name, namespace="kube-node-lease")
                return lease["spec"]["renewTime"] > first
            await wait_for(renewed, 3, message="a lease renewal")

            async def reported():
                ready = conditions_of(await client.get(NODES, name))["Ready"]
                return ready["lastHeartbeatTime"] > beat and ready["status"] == "True"
            await wait_for(reported, 4, message="a node status report")
            # The transition time stays that of the registration.
            ready = conditions_of(await client.get(NODES, name))["Ready"]
            assert ready["lastTransitionTime"] <= beat
            assert nodes.lease_renewals >= 4
    run(scenario())


def test_pod_goes_running_with_the_kubelet_status(apiserver):
    async def scenario():
        async with hollow_nodes(apiserver.url) as (client, nodes, ns):
            node_name = nodes.names[1]
            await client.create(PODS, pod("web", node_name), namespace=ns)
            running = await pod_in_phase(client, ns, "web", "Running")
            status = running["status"]
            conditions = conditions_of(running)
            for kind in ("PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready", "PodScheduled"):
                assert conditions[kind]["status"] == "True", kind
                assert "reason" not in conditions[kind]
            (container,) = status["containerStatuses"]
            assert container["name"] == "main" and container["image"] == "example.com/app:1"
            assert container["ready"] is True and container["started"] is True and container["restartCount"] == 0
            assert "startedAt" in container["state"]["running"]
            assert container["containerID"].startswith("simulated://")
            node = await client.get(NODES, node_name)
            internal_ip = next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")
            assert status["hostIP"] == internal_ip and status["hostIPs"] == [{"ip": internal_ip}]
            assert ipaddress.ip_address(status["podIP"]) in ipaddress.ip_network(node["spec"]["podCIDR"])
            assert status["podIPs"] == [{"ip": status["podIP"]}]
            assert status["startTime"]
            assert status["qosClass"] == "BestEffort"  # the server's field is left alone

            # A pod of another node is not ours to touch.
            other = pod("elsewhere", "not-a-hollow-node")
            await client.create(PODS, other, namespace=ns)
            await asyncio.sleep(0.5)
            assert (await client.get(PODS, "elsewhere", namespace=ns))["status"]["phase"] == "Pending"
    run(scenario())


def test_running_delay_shows_container_creating_first(apiserver):
    async def scenario():
        async with hollow_nodes(apiserver.url, running_delay=1.0) as (client, nodes, ns):
            await client.create(PODS, pod("slow", nodes.names[0], init=True), namespace=ns)

            async def creating():
                current = await client.get(PODS, "slow", namespace=ns)
                return current if current["status"].get("containerStatuses") else None
            pending = await wait_for(creating, 5, message="the Pending status")
            assert pending["status"]["phase"] == "Pending"
            assert pending["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "PodInitializing"
            assert conditions_of(pending)["Initialized"]["status"] == "False"
            assert conditions_of(pending)["Ready"]["reason"] == "ContainersNotReady"
            assert "podIP" not in pending["status"]
            started = time.monotonic()
            running = await pod_in_phase(client, ns, "slow", "Running")
            assert time.monotonic() - started > 0.3
            (init,) = running["status"]["initContainerStatuses"]
            assert init["state"]["terminated"]["reason"] == "Completed" and init["state"]["terminated"]["exitCode"] == 0
            assert conditions_of(running)["Initialized"]["status"] == "True"
    run(scenario())


def test_job_pods_succeed_after_their_duration(apiserver):
    async def scenario():
        async with hollow_nodes(apiserver.url) as (client, nodes, ns):
            annotated = pod("timed", nodes.names[0], annotations={"pyk8s.io/simulated-duration": "1500ms"},
                            restart_policy="Never")
            owner = {"apiVersion": "batch/v1", "kind": "Job", "name": "batch", "uid": str(uuid.uuid4()), "controller": True}
            job_pod = pod("job-pod", nodes.names[1], owner=owner, restart_policy="OnFailure")
            created = time.monotonic()
            await client.create(PODS, annotated, namespace=ns)
            await client.create(PODS, job_pod, namespace=ns)
            await pod_in_phase(client, ns, "timed", "Running")
            finished = await pod_in_phase(client, ns, "job-pod", "Succeeded")
            assert time.monotonic() - created < 1.5  # a Job's pod without a duration completes once running
            succeeded = await pod_in_phase(client, ns, "timed", "Succeeded")
            assert time.monotonic() - created >= 1.4
            for done in (finished, succeeded):
                (container,) = done["status"]["containerStatuses"]
                terminated = container["state"]["terminated"]
                assert terminated["exitCode"] == 0 and terminated["reason"] == "Completed"
                assert terminated["startedAt"] <= terminated["finishedAt"]
                assert container["ready"] is False
                conditions = conditions_of(done)
                assert conditions["Ready"]["status"] == "False" and conditions["Ready"]["reason"] == "PodCompleted"
                assert "message" not in conditions["Ready"]
    run(scenario())


def test_exit_code_annotation_fails_the_pod(apiserver):
    async def scenario():
        async with hollow_nodes(apiserver.url) as (client, nodes, ns):
            failing = pod("fails", nodes.names[0], restart_policy="Never",
                          annotations={"pyk8s.io/simulated-duration": "0.2s", "pyk8s.io/simulated-exit-code": "3"})
            await client.create(PODS, failing, namespace=ns)
            failed = await pod_in_phase(client, ns, "fails", "Failed")
            terminated = failed["status"]["containerStatuses"][0]["state"]["terminated"]
            assert terminated["exitCode"] == 3 and terminated["reason"] == "Error"

            bad = pod("bad-annotation", nodes.names[1], annotations={"pyk8s.io/simulated-duration": "soon"})
            await client.create(PODS, bad, namespace=ns)

            async def reported():
                current = await client.get(PODS, "bad-annotation", namespace=ns)
                statuses = current["status"].get("containerStatuses")
                return statuses and statuses[0]["state"]["waiting"]
            waiting = await wait_for(reported, 5, message="the configuration error")
            assert waiting["reason"] == "CreateContainerConfigError" and "simulated-duration" in waiting["message"]
    run(scenario())


def test_always_restarts_then_backs_off(apiserver):
    async def scenario():
        async with hollow_nodes(apiserver.url) as (client, nodes, ns):
            crashing = pod("crash", nodes.names[0], annotations={"pyk8s.io/simulated-duration": "0.3s",
                                                                 "pyk8s.io/simulated-exit-code": "1"})
            await client.create(PODS, crashing, namespace=ns)

            async def backing_off():
                current = await client.get(PODS, "crash", namespace=ns)
                statuses = current["status"].get("containerStatuses") or [{}]
                waiting = (statuses[0].get("state") or {}).get("waiting") or {}
                return current if waiting.get("reason") == "CrashLoopBackOff" else None
            current = await wait_for(backing_off, 5, message="CrashLoopBackOff")
            (container,) = current["status"]["containerStatuses"]
            # The first exit restarted at once; the second waits 10 s.
            assert container["restartCount"] == 1
            assert container["lastState"]["terminated"]["exitCode"] == 1
            assert "back-off 10s restarting failed container=main" in container["state"]["waiting"]["message"]
            assert current["status"]["phase"] == "Running"
            assert conditions_of(current)["Ready"]["status"] == "False"
    run(scenario())


def test_pod_that_does_not_fit_is_rejected(apiserver):
    async def scenario():
        capacity = parse_capacity("cpu=2,memory=4Gi,pods=3", 110)
        async with hollow_nodes(apiserver.url, 1, capacity=capacity) as (client, nodes, ns):
            await client.create(PODS, pod("big", nodes.names[0], requests={"cpu": "3"}), namespace=ns)
            rejected = await pod_in_phase(client, ns, "big", "Failed")
            assert rejected["status"]["reason"] == "OutOfcpu"
            assert rejected["status"]["message"] == (
                "Pod was rejected: Node didn't have enough resource: cpu, requested: 3000, used: 0, capacity: 2000")
            for i in range(3):
                await client.create(PODS, pod(f"fits-{i}", nodes.names[0]), namespace=ns)
                await pod_in_phase(client, ns, f"fits-{i}", "Running")
            await client.create(PODS, pod("one-too-many", nodes.names[0]), namespace=ns)
            assert (await pod_in_phase(client, ns, "one-too-many", "Failed"))["status"]["reason"] == "OutOfpods"
    run(scenario())


def test_admission_checks_node_selector_and_host_ports(apiserver):
    async def scenario():
        async with hollow_nodes(apiserver.url, 1, labels={"disk": "ssd"}) as (client, nodes, ns):
            node = nodes.names[0]
            wrong = pod("wants-hdd", node)
            wrong["spec"]["nodeSelector"] = {"disk": "hdd"}
            right = pod("wants-ssd", node)
            right["spec"]["nodeSelector"] = {"disk": "ssd"}
            await client.create(PODS, wrong, namespace=ns)
            await client.create(PODS, right, namespace=ns)
            assert (await pod_in_phase(client, ns, "wants-hdd", "Failed"))["status"]["reason"] == "NodeAffinity"
            await pod_in_phase(client, ns, "wants-ssd", "Running")

            def with_host_port(name):
                body = pod(name, node)
                body["spec"]["containers"][0]["ports"] = [{"containerPort": 80, "hostPort": 8080}]
                return body
            await client.create(PODS, with_host_port("port-first"), namespace=ns)
            await pod_in_phase(client, ns, "port-first", "Running")
            await client.create(PODS, with_host_port("port-second"), namespace=ns)
            assert (await pod_in_phase(client, ns, "port-second", "Failed"))["status"]["reason"] == "NodePorts"
            # The port is free again once its holder is gone.
            await client.delete(PODS, "port-first", namespace=ns)
            await wait_for(lambda: _now((ns, "port-first") not in nodes.pods.records), 5, message="the holder to go")
            await client.create(PODS, with_host_port("port-third"), namespace=ns)
            await pod_in_phase(client, ns, "port-third", "Running")
    run(scenario())


def test_deletion_finishes_promptly(apiserver):
    async def scenario():
        async with hollow_nodes(apiserver.url) as (client, nodes, ns):
            await client.create(PODS, pod("doomed", nodes.names[0]), namespace=ns)
            await pod_in_phase(client, ns, "doomed", "Running")
            started = time.monotonic()
            answer = await client.delete(PODS, "doomed", namespace=ns)  # the default 30 s grace
            assert answer["metadata"].get("deletionTimestamp")

            async def gone():
                try:
                    await client.get(PODS, "doomed", namespace=ns)
                except NotFound:
                    return True
                return False
            await wait_for(gone, 5, interval=0.02, message="the pod to go")
            assert time.monotonic() - started < 2.0
            # Forgotten once the watch said DELETED, its share of the node given back.
            await wait_for(lambda: _now((ns, "doomed") not in nodes.pods.records), 3, message="the record to go")
            assert nodes.hollow[nodes.names[0]].used.get("pods", 0) == 0
    run(scenario())


def test_restarted_simulator_adopts_its_nodes_and_pods(apiserver):
    async def scenario():
        async with ApiClient(apiserver.url) as client:
            prefix = f"adopt-{uuid.uuid4().hex[:5]}-"
            namespace = f"sim-{uuid.uuid4().hex[:8]}"
            await client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
            first = SimulatedNodes(client, 1, prefix=prefix)
            task = asyncio.create_task(first.run())
            await first.wait_registered(20)
            await client.create(PODS, pod("kept", first.names[0]), namespace=namespace)
            before = await pod_in_phase(client, namespace, "kept", "Running")
            await first.stop()
            await task

            second = SimulatedNodes(client, 1, prefix=prefix)
            task = asyncio.create_task(second.run())
            try:
                await second.wait_registered(20)
                await wait_for(lambda: _now(second.pods.records), 5, message="the pod to be adopted")
                await client.create(PODS, pod("next", second.names[0]), namespace=namespace)
                new = await pod_in_phase(client, namespace, "next", "Running")
                after = await client.get(PODS, "kept", namespace=namespace)
                assert after["status"] == before["status"]  # carried on, not restarted
                assert new["status"]["podIP"] != before["status"]["podIP"]  # its address stays taken
                assert conditions_of(await client.get(NODES, second.names[0]))["Ready"]["status"] == "True"
            finally:
                await second.stop()
                await task
    run(scenario())


async def _now(value):
    """A value as the awaitable ``wait_for`` polls."""
    return value


def test_refused_registration_is_an_error(apiserver):
    async def scenario():
        async with ApiClient(apiserver.url) as client:
            # Labels given in Python skip parse_labels' checks; the API server refuses them.
            nodes = SimulatedNodes(client, 2, prefix=f"refused-{uuid.uuid4().hex[:5]}-", labels={"bad key": "x"})
            with pytest.raises(RegistrationError, match="2 of 2 nodes could not be registered"):
                await nodes.run()
    run(scenario())


def test_flag_parsing():
    assert parse_capacity(None, 110) == {"cpu": "32", "memory": "256Gi", "ephemeral-storage": "1Ti", "pods": "110"}
    assert parse_capacity("cpu=4, pods=20", 110)["pods"] == "20"
    with pytest.raises(ValueError, match="--simulated-capacity"):
        parse_capacity("cpu=lots", 110)
    with pytest.raises(ValueError, match="key=value"):
        parse_capacity("cpu", 110)
    assert parse_labels("a=b, example.com/tier=gold") == {"a": "b", "example.com/tier": "gold"}
    with pytest.raises(ValueError, match="--simulated-labels"):
        parse_labels("bad key=x")
    assert parse_duration("5s") == 5.0 and parse_duration("1m30s") == 90.0
    assert parse_duration("250ms") == 0.25 and parse_duration("2") == 2.0
    with pytest.raises(ValueError):
        parse_duration("5 parsecs")
    with pytest.raises(ValueError):
        SimulatedNodes(ApiClient("http://127.0.0.1:1"), 2, prefix="Bad_Prefix")
