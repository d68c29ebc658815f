"""The kubelet's Node: registration with this host's capacity, Ready once the runtime is up,
the Lease heartbeat, status updates; and the builders both runtimes share."""

from __future__ import annotations

import argparse
import asyncio
import os

import pytest

from kubelethelpers import running_kubelet, wait_for
from pyk8s.cli._flags import parse_nonnegative_duration as parse_duration
from pyk8s.cli.kubelet import default_root_dir, parse_args
from pyk8s.apiserver.testing import free_port
from pyk8s.client import LEASES, NODES, ApiClient
from pyk8s.kubelet.kubelet import Kubelet, KubeletError, KubeletOptions
from pyk8s.kubelet.node import build_lease, build_node, node_conditions, parse_labels, parse_taints


def test_node_registers_with_host_capacity_and_becomes_ready(apiserver, tmp_path):
    async def scenario():
        async with running_kubelet(apiserver.url, tmp_path, max_pods=17, labels={"zone": "a"},
                                   taints=[{"key": "dedicated", "value": "x", "effect": "NoSchedule"}]) as (client, kubelet):
            node = await client.get(NODES, kubelet.node_name)
            status = node["status"]
            assert status["capacity"]["pods"] == "17" and status["allocatable"]["pods"] == "17"
            assert int(status["capacity"]["cpu"]) == len(os.sched_getaffinity(0))
            assert status["capacity"]["memory"].endswith("Ki") and "ephemeral-storage" in status["capacity"]
            # allocatable memory = capacity - 100Mi (the default hard eviction threshold)
            assert int(status["capacity"]["memory"][:-2]) - int(status["allocatable"]["memory"][:-2]) == 100 * 1024
            conditions = {c["type"]: c for c in status["conditions"]}
            assert [c["type"] for c in status["conditions"]] == ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
            assert conditions["Ready"]["status"] == "True" and conditions["Ready"]["reason"] == "KubeletReady"
            assert conditions["MemoryPressure"]["reason"] == "KubeletHasSufficientMemory"
            assert {a["type"]: a["address"] for a in status["addresses"]}["InternalIP"] == "127.0.0.1"
            assert status["daemonEndpoints"]["kubeletEndpoint"]["Port"] == kubelet.port
            info = status["nodeInfo"]
            assert info["kubeletVersion"] == "v1.37.0-pyk8s" and info["operatingSystem"] == "linux"
            assert info["architecture"] in ("amd64", "arm64") and info["kernelVersion"]
            labels = node["metadata"]["labels"]
            assert labels["kubernetes.io/hostname"] == kubelet.node_name and labels["zone"] == "a"
            assert labels["kubernetes.io/os"] == "linux"
            assert node["spec"]["taints"] == [{"key": "dedicated", "value": "x", "effect": "NoSchedule"}]

    asyncio.run(scenario())


def test_lease_is_renewed_and_status_reposted(apiserver, tmp_path):
    async def scenario():
        async with running_kubelet(apiserver.url, tmp_path, lease_duration=2, status_report_frequency=1.0) as (client, kubelet):
            lease = await client.get(LEASES, kubelet.node_name, namespace="kube-node-lease")
            node = await client.get(NODES, kubelet.node_name)
            assert lease["spec"]["holderIdentity"] == kubelet.node_name and lease["spec"]["leaseDurationSeconds"] == 2
            assert lease["metadata"]["ownerReferences"][0] == {
                "apiVersion": "v1", "kind": "Node", "name": kubelet.node_name, "uid": node["metadata"]["uid"]}
            first = lease["spec"]["renewTime"]

            async def renewed():
                current = await client.get(LEASES, kubelet.node_name, namespace="kube-node-lease")
                return current["spec"]["renewTime"] != first

            await wait_for(renewed, timeout=5, message="lease renewal")
            heartbeat = {c["type"]: c for c in node["status"]["conditions"]}["Ready"]["lastHeartbeatTime"]

            async def reported():
                current = await client.get(NODES, kubelet.node_name)
                ready = {c["type"]: c for c in current["status"]["conditions"]}["Ready"]
                return ready["lastHeartbeatTime"] != heartbeat and ready["lastTransitionTime"] == heartbeat

            await wait_for(reported, timeout=5, message="node status report")

    asyncio.run(scenario())


def test_node_status_is_restored_after_someone_else_changes_it(apiserver, tmp_path):
    async def scenario():
        async with running_kubelet(apiserver.url, tmp_path) as (client, kubelet):
            node = await client.get(NODES, kubelet.node_name)
            conditions = [dict(c, status="Unknown", reason="NodeStatusUnknown") if c["type"] == "Ready" else c
                          for c in node["status"]["conditions"]]
            await client.patch(NODES, kubelet.node_name, {"status": {"conditions": conditions}}, subresource="status")

            async def ready_again():
                current = await client.get(NODES, kubelet.node_name)
                return {c["type"]: c["status"] for c in current["status"]["conditions"]}["Ready"] == "True"

            await wait_for(ready_again, timeout=5, message="Ready restored")

    asyncio.run(scenario())


def test_kubelet_stops_while_the_api_server_is_away(tmp_path):
    async def scenario():
        async with ApiClient(f"http://127.0.0.1:{free_port()}") as client:
            kubelet = Kubelet(client, KubeletOptions(node_name="away", root_dir=str(tmp_path / "away"), port=0))
            task = asyncio.ensure_future(kubelet.run())
            await asyncio.sleep(0.5)
            assert not task.done() and not kubelet.ready.is_set()
            kubelet.stop()
            await asyncio.wait_for(task, 5)

    asyncio.run(scenario())


def test_one_kubelet_per_root_dir(apiserver, tmp_path):
    async def scenario():
        async with running_kubelet(apiserver.url, tmp_path, node_name="locked") as (client, kubelet):
            second = Kubelet(client, KubeletOptions(node_name="other", root_dir=kubelet.options.root_dir, port=0))
            with pytest.raises(KubeletError, match="in use by another kubelet"):
                await second.run()

    asyncio.run(scenario())


def test_builders():
    node = build_node("n1", capacity={"cpu": "4", "memory": "8Gi", "pods": "110"}, labels={"a": "b"},
                      addresses=[{"type": "InternalIP", "address": "10.0.0.1"}], kubelet_port=1234)
    assert node["metadata"]["labels"]["a"] == "b" and node["metadata"]["labels"]["kubernetes.io/hostname"] == "n1"
    assert node["status"]["allocatable"] == node["status"]["capacity"]
    assert node["status"]["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 1234}}
    assert {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"] == "False"
    previous = node_conditions(ready=True, now="2020-01-01T00:00:00Z")
    later = node_conditions(ready=True, memory_pressure=True, previous=previous, now="2020-01-01T00:01:00Z")
    by_type = {c["type"]: c for c in later}
    assert by_type["Ready"]["lastTransitionTime"] == "2020-01-01T00:00:00Z"
    assert by_type["Ready"]["lastHeartbeatTime"] == "2020-01-01T00:01:00Z"
    assert by_type["MemoryPressure"] == {
        "type": "MemoryPressure", "status": "True", "lastHeartbeatTime": "2020-01-01T00:01:00Z",
        "lastTransitionTime": "2020-01-01T00:01:00Z", "reason": "KubeletHasInsufficientMemory",
        "message": "kubelet has insufficient memory available"}
    lease = build_lease("n1", node_uid="u1", renew_time="2020-01-01T00:00:00.000000Z")
    assert lease["metadata"]["namespace"] == "kube-node-lease" and lease["spec"]["leaseDurationSeconds"] == 40
    assert parse_labels("a=b, c=") == {"a": "b", "c": ""}
    assert parse_taints("k=v:NoSchedule,x:NoExecute") == [
        {"key": "k", "value": "v", "effect": "NoSchedule"}, {"key": "x", "effect": "NoExecute"}]
    with pytest.raises(ValueError):
        parse_taints("k=v:Sometimes")
    with pytest.raises(ValueError):
        parse_labels("novalue")


def test_command_line(monkeypatch, tmp_path):
    args = parse_args(["--server", "http://x", "--node-name", "n1", "--port", "0", "--node-status-update-frequency",
                       "1m30s", "--simulated-nodes", "3", "--simulated-capacity", "cpu=4,pods=10"])
    assert args.runtime == "process" and args.max_pods == 110 and args.address == "127.0.0.1"
    assert args.node_status_update_frequency == 90 and args.simulated_nodes == 3
    assert args.simulated_node_prefix == "hollow-node-" and args.simulated_running_delay == 0.0
    assert args.crashloop_backoff_base == 10 and args.crashloop_backoff_max == 300
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    if os.geteuid() != 0:
        assert default_root_dir("n1") == str(tmp_path / "pyk8s" / "kubelet" / "n1")
    assert parse_duration("500ms") == 0.5 and parse_duration("2") == 2
    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration("10 parsecs")
    with pytest.raises(SystemExit):
        parse_args(["--node-name", "n1"])  # --server or --kubeconfig is required
