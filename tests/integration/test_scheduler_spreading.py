"""PodTopologySpread's system default constraints end to end: ``pyk8s-scheduler`` (the CLI,
as a subprocess) and the replicaset controller against a live API server, three equal
nodes.  The pods have no requests and the nodes are large, so NodeResourcesFit scores every
node alike (99) and BalancedAllocation skips them: only the default spreading, counting the
pods the Service or the ReplicaSet selects, puts them evenly."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections import Counter

import pytest

from pyk8s.apiserver.testing import free_port, run_apiserver
from pyk8s.client import NAMESPACES, NODES, PODS, REPLICA_SETS, SERVICES, ApiClient
from pyk8s.controllers.manager import ControllerManager

NAMESPACE = "spread"
NODE_NAMES = ("spread-0", "spread-1", "spread-2")


@pytest.fixture(scope="module")
def apiserver():
    with run_apiserver("native") as server:
        yield server


def node_body(name):
    capacity = {"cpu": "64", "memory": "256Gi", "pods": "110"}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "status": {"allocatable": capacity, "capacity": capacity}}


def replica_set_body(name, replicas):
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}}}


async def bound_pods(client, expected, timeout=30.0):
    deadline = time.monotonic() + timeout
    pods = []
    while time.monotonic() < deadline:
        pods = (await client.list_all(PODS, namespace=NAMESPACE))["items"]
        if len(pods) == expected and all(p["spec"].get("nodeName") for p in pods):
            return pods
        await asyncio.sleep(0.1)
    raise AssertionError(f"not all {expected} pods bound: {[(p['metadata']['name'], p['spec'].get('nodeName')) for p in pods]}")


def test_replica_set_pods_spread_by_default_constraints(apiserver):
    async def prepare():
        async with ApiClient(apiserver.url) as client:
            await client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
            for name in NODE_NAMES:
                await client.create(NODES, node_body(name))
            # web: selected by a Service and by its ReplicaSet; api: by its ReplicaSet only.
            await client.create(SERVICES, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": NAMESPACE},
                                           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})
            await client.create(REPLICA_SETS, replica_set_body("web", 6))
            await client.create(REPLICA_SETS, replica_set_body("api", 3))

    async def replicate_and_wait():
        async with ApiClient(apiserver.url) as client:
            manager = ControllerManager(client, ["replicaset-controller"])
            task = asyncio.create_task(manager.run())
            try:
                await manager.wait_started(timeout=20)
                return await bound_pods(client, 9)
            finally:
                await manager.stop()
                await asyncio.wait_for(task, 10)

    asyncio.run(prepare())
    # The scheduler starts before any pod exists (no controller yet), so its Service and
    # ReplicaSet caches hold both workloads before the first pod is scheduled.
    scheduler = subprocess.Popen([sys.executable, "-P", "-m", "pyk8s.cli.scheduler", "--server", apiserver.url,
                                  "--leader-elect=false", "--metrics-port", str(free_port())])
    try:
        pods = asyncio.run(replicate_and_wait())
    finally:
        scheduler.terminate()
        assert scheduler.wait(10) == 0
    per_app = {app: Counter(p["spec"]["nodeName"] for p in pods if p["metadata"]["labels"]["app"] == app) for app in ("web", "api")}
    # hostname constraint (maxSkew 3, ScheduleAnyway, weight 2): raw round(count*ln(5) + 2)
    # is 2, 4, 5 for 0, 1, 2 pods of the same workload, so each pod goes to a node with
    # the fewest of its siblings: 2/2/2 and 1/1/1.
    assert per_app["web"] == dict.fromkeys(NODE_NAMES, 2)
    assert per_app["api"] == dict.fromkeys(NODE_NAMES, 1)
