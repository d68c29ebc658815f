"""The native kernels against their plain-Python twin: random clusters and pods must give
the same per-node filter results, per-plugin scores, weighted totals, chosen node,
failure message, rejecting plugins and preemption victims.  Half the clusters have
Services and ReplicaSets, so pods without constraints of their own get PodTopologySpread's
default constraints (System in the default profile, List in the third)."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schedhelpers import random_node, random_pod

from pyk8s.scheduler import Cluster, ReferenceCluster

PROFILES = [
    None,
    {"profiles": [{"schedulerName": "default-scheduler", "pluginConfig": [
        {"name": "NodeResourcesFit", "args": {"scoringStrategy": {"type": "MostAllocated", "resources": [
            {"name": "cpu", "weight": 2}, {"name": "memory", "weight": 1}, {"name": "example.com/gpu", "weight": 3}]}}}]}]},
    {"profiles": [{"schedulerName": "default-scheduler", "pluginConfig": [
        {"name": "NodeResourcesFit", "args": {"scoringStrategy": {"type": "RequestedToCapacityRatio", "resources": [
            {"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1}, {"name": "ephemeral-storage", "weight": 1}],
            "requestedToCapacityRatio": {"shape": [{"utilization": 0, "score": 0}, {"utilization": 50, "score": 7}, {"utilization": 100, "score": 10}]}}}},
        {"name": "PodTopologySpread", "args": {"defaultingType": "List", "defaultConstraints": [
            {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule"},
            {"maxSkew": 2, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway"}]}},
        {"name": "NodeResourcesBalancedAllocation", "args": {"resources": [
            {"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1}, {"name": "example.com/gpu", "weight": 1}]}},
        {"name": "InterPodAffinity", "args": {"hardPodAffinityWeight": 5}}]}]},
]


def random_workloads(rng: random.Random) -> tuple[list, list]:
    """Services and ReplicaSets for the DefaultSelector: some select by app, some also by
    tier; some ReplicaSets use matchExpressions."""
    services, replica_sets = [], []
    for app in "abc":
        namespace = rng.choice(["default", "default", "other"])
        if rng.random() < 0.6:
            selector = {"app": app} if rng.random() < 0.7 else {"app": app, "tier": rng.choice(["web", "db"])}
            services.append({"metadata": {"name": f"svc-{app}", "namespace": namespace}, "spec": {"selector": selector}})
        if rng.random() < 0.6:
            selector = rng.choice([{"matchLabels": {"app": app}},
                                   {"matchExpressions": [{"key": "tier", "operator": rng.choice(["In", "NotIn"]), "values": ["web"]}]},
                                   {"matchExpressions": [{"key": "tier", "operator": rng.choice(["Exists", "DoesNotExist"])}]}])
            replica_sets.append({"metadata": {"name": f"rs-{app}", "namespace": namespace}, "spec": {"selector": selector}})
    return services, replica_sets


def workload_pod(rng: random.Random, pod: dict) -> dict:
    """Sometimes a tier label and a ReplicaSet controller reference (to rs-<app>)."""
    meta = pod["metadata"]
    if rng.random() < 0.5:
        meta["labels"]["tier"] = rng.choice(["web", "db"])
    if rng.random() < 0.6:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"rs-{meta['labels']['app']}",
                                    "uid": "u", "controller": rng.random() < 0.9}]
    return pod


def build_pair(seed: int, num_nodes: int, num_pods: int, profile):
    rng = random.Random(seed)
    clusters = (Cluster(profile, seed=seed), ReferenceCluster(profile, seed=seed))
    nodes = [random_node(rng, i) for i in range(num_nodes)]
    services, replica_sets = random_workloads(rng) if seed % 2 else ([], [])
    for c in clusters:
        c.set_namespace_labels("default", {"team": "x"})
        for n in nodes:
            c.add_node(n)
        for service in services:
            c.add_service(service)
        for replica_set in replica_sets:
            c.add_replica_set(replica_set)
    names = [n["metadata"]["name"] for n in nodes]
    for i in range(num_pods):
        pod = workload_pod(rng, random_pod(rng, f"existing-{i}", names, rich=False))
        pod.setdefault("status", {})["startTime"] = f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z"
        if rng.random() < 0.05:
            pod["metadata"]["deletionTimestamp"] = "2026-01-02T00:00:00Z"
        for c in clusters:
            c.add_pod(pod)
    return rng, clusters


def assert_same(native, reference, pod):
    a = native.schedule_one(pod, explain=True)
    b = reference.schedule_one(pod, explain=True)
    assert a.explain.filter == b.explain.filter
    assert a.explain.scores == b.explain.scores
    assert a.explain.totals == b.explain.totals
    assert (a.node_name, a.evaluated_nodes, a.feasible_nodes) == (b.node_name, b.evaluated_nodes, b.feasible_nodes)
    assert a.message == b.message
    assert a.unschedulable_plugins == b.unschedulable_plugins
    assert native.next_start_index == reference.next_start_index
    return a


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32), num_nodes=st.integers(1, 14), num_pods=st.integers(0, 30), profile=st.sampled_from(range(len(PROFILES))))
def test_native_matches_reference_cycle_by_cycle(seed, num_nodes, num_pods, profile):
    rng, (native, reference) = build_pair(seed, num_nodes, num_pods, PROFILES[profile])
    for i in range(8):
        pod = workload_pod(rng, random_pod(rng, f"new-{i}"))
        if rng.random() < 0.3:
            # Pods nominated by an earlier preemption hold space against this one; now
            # and then the pod itself is nominated (it never counts against itself).
            nominee = pod if rng.random() < 0.3 else random_pod(rng, f"nominee-{i}", rich=False)
            nominee["spec"].pop("nodeName", None)
            node = f"node-{rng.randrange(num_nodes + 1)}"  # sometimes a node not there yet
            native.add_nominated_pod(nominee, node)
            reference.add_nominated_pod(nominee, node)
        result = assert_same(native, reference, pod)
        if result.node_name is not None:
            # Assume the pod (as the scheduler does) so later cycles see it.
            native.bind(pod, result.node_name)
            reference.bind(pod, result.node_name)
            native.remove_nominated_pod(f"default/new-{i}")
            reference.remove_nominated_pod(f"default/new-{i}")
        else:
            assert native.preempt(pod) == reference.preempt(pod)
        if rng.random() < 0.3:
            # A node changes (labels, taints, capacity, images) with its pods in place.
            index = rng.randrange(num_nodes)
            changed = random_node(rng, index)
            native.update_node(changed)
            reference.update_node(changed)
        if rng.random() < 0.2 and native.pods:
            victim = rng.choice(sorted(native.pods))
            native.remove_pod(victim)
            reference.remove_pod(victim)
        if rng.random() < 0.2 and native.nominated:
            nominee = rng.choice(sorted(native.nominated))
            native.remove_nominated_pod(nominee)
            reference.remove_nominated_pod(nominee)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32))
def test_native_matches_reference_with_sampled_nodes(seed):
    """Above 100 nodes only a share of nodes is filtered, from a rotating start."""
    rng, (native, reference) = build_pair(seed, 260, 150, None)
    for i in range(6):
        pod = random_pod(rng, f"new-{i}")
        result = assert_same(native, reference, pod)
        if result.node_name is not None:
            native.bind(pod, result.node_name)
            reference.bind(pod, result.node_name)
    removed = sorted(native.nodes)[rng.randrange(260)]
    for i in range(3):  # nominations outlive their node and apply again when it returns
        nominee = random_pod(rng, f"nominee-{i}", rich=False)
        nominee["spec"]["priority"] = 3
        native.add_nominated_pod(nominee, removed)
        reference.add_nominated_pod(nominee, removed)
    node = native.nodes[removed]
    native.remove_node(removed)
    reference.remove_node(removed)
    assert_same(native, reference, random_pod(rng, "after-removal"))
    returned = random_node(rng, int(node.name.split("-")[1]))
    native.add_node(returned)
    reference.add_node(returned)
    pod = random_pod(rng, "after-return")
    assert_same(native, reference, pod)
    assert native.preempt(pod) == reference.preempt(pod)
