"""Upstream's worked examples per plugin, through the native kernels and the Python twin.
Expected numbers are worked out beside each case, as in upstream's *_test.go tables."""

from __future__ import annotations

import pytest
from schedhelpers import HOST, ZONE, NodeBuilder, PodBuilder, pod_term

from pyk8s._native._sched import num_feasible_nodes_to_find as native_num_feasible
from pyk8s.scheduler import Cluster, ReferenceCluster
from pyk8s.scheduler.reference import num_feasible_nodes_to_find

BACKENDS = pytest.mark.parametrize("backend", [Cluster, ReferenceCluster], ids=["native", "reference"])


def fit_config(kind, **extra):
    strategy = {"type": kind, "resources": [{"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1}], **extra}
    return {"profiles": [{"pluginConfig": [{"name": "NodeResourcesFit", "args": {"scoringStrategy": strategy}}]}]}


def scores(cluster, pod, plugin):
    result = cluster.schedule_one(pod, explain=True)
    return {node: s[plugin] for node, s in result.explain.scores.items()}


def two_sized_nodes(backend, config=None):
    # upstream's "nothing scheduled, resources requested, differently sized nodes"
    c = backend(config)
    c.add_node(NodeBuilder("node1").capacity(cpu="4000m", memory=10000).build())
    c.add_node(NodeBuilder("node2").capacity(cpu="6000m", memory=10000).build())
    pod = PodBuilder("p").container(cpu="1000m", memory=2000).container(cpu="2000m", memory=3000).build()
    return c, pod


@BACKENDS
def test_least_allocated(backend):
    c, pod = two_sized_nodes(backend)
    # node1: CPU ((4000-3000)*100/4000) = 25, Memory ((10000-5000)*100/10000) = 50, (25+50)/2 = 37
    # node2: CPU ((6000-3000)*100/6000) = 50, Memory ((10000-5000)*100/10000) = 50, (50+50)/2 = 50
    assert scores(c, pod, "NodeResourcesFit") == {"node1": 37, "node2": 50}


@BACKENDS
def test_most_allocated(backend):
    c, pod = two_sized_nodes(backend, fit_config("MostAllocated"))
    # node1: CPU (3000*100/4000) = 75, Memory (5000*100/10000) = 50, (75+50)/2 = 62
    # node2: CPU (3000*100/6000) = 50, Memory (5000*100/10000) = 50, (50+50)/2 = 50
    assert scores(c, pod, "NodeResourcesFit") == {"node1": 62, "node2": 50}


@BACKENDS
def test_requested_to_capacity_ratio_default_shape(backend):
    c, pod = two_sized_nodes(backend, fit_config("RequestedToCapacityRatio"))
    # shape {0: 10, 100: 0} scaled x10 -> {0: 100, 100: 0}
    # node1: CPU util 3000*100/4000 = 75 -> 25, Memory util 50 -> 50, round((25+50)/2 = 37.5) = 38
    # node2: CPU util 50 -> 50, Memory util 50 -> 50, round(50) = 50
    assert scores(c, pod, "NodeResourcesFit") == {"node1": 38, "node2": 50}


@BACKENDS
def test_balanced_allocation(backend):
    c, pod = two_sized_nodes(backend)
    # node1: CPU fraction 3000/4000 = 0.75, Memory 5000/10000 = 0.5, std |0.75-0.5|/2 = 0.125,
    #        score (1-0.125)*100 = 87
    # node2: CPU 3000/6000 = 0.5, Memory 0.5, std 0, score 100
    assert scores(c, pod, "NodeResourcesBalancedAllocation") == {"node1": 87, "node2": 100}


@BACKENDS
def test_balanced_allocation_skips_best_effort_pods(backend):
    c, _ = two_sized_nodes(backend)
    c.add_pod(PodBuilder("busy").container(cpu="3000m", memory=1000).on("node1").build())
    # no requests at all: PreScore returns Skip (upstream issue 129138), every node scores 0
    assert scores(c, PodBuilder("p").container().build(), "NodeResourcesBalancedAllocation") == {"node1": 0, "node2": 0}
    # requests as they are (not the 100m/200Mi defaults): node1 CPU (3000+1000)/4000 = 1.0,
    # Memory (1000+0)/10000 = 0.1, std 0.45 -> (1-0.45)*100 = 55; node2 CPU 1000/6000 = 0.1667,
    # Memory 0, std 0.0833 -> 91
    pod = PodBuilder("q").container(cpu="1000m").build()
    assert scores(c, pod, "NodeResourcesBalancedAllocation") == {"node1": 55, "node2": 91}


@BACKENDS
def test_nonzero_requests_are_scored_for_pods_without_requests(backend):
    c = backend()
    c.add_node(NodeBuilder("node1").capacity(cpu="1000m", memory=2000 * 2**20).build())
    c.add_node(NodeBuilder("node2").capacity(cpu="2000m", memory=2000 * 2**20).build())
    pod = PodBuilder("p").container().build()
    # defaults 100m / 200Mi: node1 CPU (1000-100)*100/1000 = 90, Memory (2000-200)*100/2000 = 90 -> 90
    # node2 CPU (2000-100)*100/2000 = 95, Memory 90 -> (95+90)/2 = 92
    assert scores(c, pod, "NodeResourcesFit") == {"node1": 90, "node2": 92}


@BACKENDS
def test_taint_toleration_score(backend):
    # upstream: "the more intolerable taints a node has, the lower score it gets"
    c = backend()
    c.add_node(NodeBuilder("nodeA").capacity(cpu=1, memory="1Gi").build())
    c.add_node(NodeBuilder("nodeB").capacity(cpu=1, memory="1Gi").taint("cpu-type", "arm64", "PreferNoSchedule").build())
    c.add_node(NodeBuilder("nodeC").capacity(cpu=1, memory="1Gi").taint("cpu-type", "arm64", "PreferNoSchedule")
               .taint("disk-type", "ssd", "PreferNoSchedule").taint("foo", "bar", "PreferNoSchedule").build())
    pod = PodBuilder("p").container().toleration("foo", "bar", "PreferNoSchedule").build()
    # untolerated PreferNoSchedule counts A=0, B=1, C=2; reverse-normalized: 100 - 100*count/2
    assert scores(c, pod, "TaintToleration") == {"nodeA": 100, "nodeB": 50, "nodeC": 0}


@BACKENDS
def test_node_affinity_score(backend):
    # upstream: "all machines matches the preferred scheduling requirements of pod but with different priorities"
    c = backend()
    c.add_node(NodeBuilder("machine1").capacity(cpu=1, memory="1Gi").labels(foo="bar").build())
    c.add_node(NodeBuilder("machine5").capacity(cpu=1, memory="1Gi").labels(foo="bar", key="value", az="az1").build())
    c.add_node(NodeBuilder("machine2").capacity(cpu=1, memory="1Gi").labels(key="value").build())
    b = PodBuilder("p").container()
    for weight, labels in ((2, {"foo": "bar"}), (4, {"key": "value"}), (5, {"foo": "bar", "key": "value", "az": "az1"})):
        b.affinity("nodeAffinity", "preferred", {"weight": weight, "preference": {"matchExpressions": [
            {"key": k, "operator": "In", "values": [v]} for k, v in labels.items()]}})
    # sums: machine1 2, machine5 2+4+5 = 11, machine2 4; normalized 100*sum/11 -> 18, 100, 36
    assert scores(c, b.build(), "NodeAffinity") == {"machine1": 18, "machine5": 100, "machine2": 36}


@BACKENDS
def test_image_locality(backend):
    mb = 2**20
    # upstream: "two images spread on two nodes, prefer the larger image one"
    c = backend()
    c.add_node(NodeBuilder("node1").capacity(cpu=1, memory="1Gi").image("gcr.io/40:latest", 40 * mb).image("gcr.io/250:latest", 250 * mb).build())
    c.add_node(NodeBuilder("node2").capacity(cpu=1, memory="1Gi").image("gcr.io/250:latest", 250 * mb).image("gcr.io/300:latest", 300 * mb).build())
    pod = PodBuilder("p").container(image="gcr.io/40").container(image="gcr.io/300").build()
    # node1: gcr.io/40 40MB * 1/2 = 20MB < 23MB -> 100*(23-23)/(2000-23) = 0
    # node2: gcr.io/300 300MB * 1/2 = 150MB -> 100*(150-23)/(2000-23) = 6
    assert scores(c, pod, "ImageLocality") == {"node1": 0, "node2": 6}


def zoned_cluster(backend, matching):
    c = backend()
    for name, zone in (("node-a", "zone1"), ("node-b", "zone1"), ("node-x", "zone2"), ("node-y", "zone2")):
        c.add_node(NodeBuilder(name).capacity(cpu=4, memory="4Gi").label(ZONE, zone).build())
    for node, count in matching.items():
        for i in range(count):
            c.add_pod(PodBuilder(f"{node}-{i}").labels(foo="").container().on(node).build())
    return c


@BACKENDS
def test_topology_spread_score_by_zone(backend):
    c = zoned_cluster(backend, {"node-a": 1, "node-b": 1, "node-x": 1})
    pod = PodBuilder("p").labels(foo="").container().spread(ZONE, 1, "ScheduleAnyway", {"foo": ""}).build()
    # 2 zones -> weight ln(2+2) = 1.386; zone1 count 2 -> round(2*1.386 + 0) = 3; zone2 -> round(1.386) = 1
    # normalized 100*(max+min-s)/max: zone1 100*(3+1-3)/3 = 33, zone2 100*(3+1-1)/3 = 100
    assert scores(c, pod, "PodTopologySpread") == {"node-a": 33, "node-b": 33, "node-x": 100, "node-y": 100}


@BACKENDS
def test_topology_spread_score_by_hostname(backend):
    c = zoned_cluster(backend, {"node-a": 2, "node-b": 1})
    pod = PodBuilder("p").labels(foo="").container().spread(HOST, 1, "ScheduleAnyway", {"foo": ""}).build()
    # 4 candidate hosts -> weight ln(6) = 1.792; raw a round(3.58) = 4, b round(1.79) = 2, x 0, y 0
    # normalized 100*(4+0-s)/4: a 0, b 50, x 100, y 100
    assert scores(c, pod, "PodTopologySpread") == {"node-a": 0, "node-b": 50, "node-x": 100, "node-y": 100}


@BACKENDS
def test_topology_spread_filter(backend):
    c = zoned_cluster(backend, {"node-a": 2})
    pod = PodBuilder("p").labels(foo="").container().spread(ZONE, 1, "DoNotSchedule", {"foo": ""}).build()
    # zone1 2 + self 1 - min 0 = 3 > maxSkew 1; zone2 0 + 1 - 0 = 1 ok
    result = c.schedule_one(pod, explain=True)
    assert result.node_name in ("node-x", "node-y")
    assert result.explain.filter["node-a"] == ("PodTopologySpread", ("node(s) didn't match pod topology spread constraints",))
    c.add_node(NodeBuilder("no-zone").capacity(cpu=4, memory="4Gi").build())
    result = c.schedule_one(pod, explain=True)
    assert result.explain.filter["no-zone"][1] == ("node(s) didn't match pod topology spread constraints (missing required label)",)


@BACKENDS
def test_inter_pod_affinity_preferred(backend):
    c = backend()
    c.add_node(NodeBuilder("machine1").capacity(cpu=1, memory="1Gi").labels(region="China").build())
    c.add_node(NodeBuilder("machine2").capacity(cpu=1, memory="1Gi").labels(region="India").build())
    c.add_node(NodeBuilder("machine3").capacity(cpu=1, memory="1Gi").labels(az="az1").build())
    c.add_pod(PodBuilder("s1").labels(security="S1").container().on("machine1").build())
    c.add_pod(PodBuilder("s2").labels(security="S2").container().on("machine2").build())
    affinity = PodBuilder("p").container().affinity("podAffinity", "preferred", {"weight": 5, "podAffinityTerm": pod_term("region", {"security": "S1"})}).build()
    # upstream: the node whose region holds a matching pod gets 100, the others 0
    assert scores(c, affinity, "InterPodAffinity") == {"machine1": 100, "machine2": 0, "machine3": 0}
    anti = PodBuilder("q").container().affinity("podAntiAffinity", "preferred", {"weight": 5, "podAffinityTerm": pod_term("region", {"security": "S1"})}).build()
    # counts: machine1 -5, machine2 0, machine3 0 -> 100*(s-min)/(max-min): 0, 100, 100
    assert scores(c, anti, "InterPodAffinity") == {"machine1": 0, "machine2": 100, "machine3": 100}


@BACKENDS
def test_inter_pod_affinity_filter(backend):
    c = backend()
    for name, zone in (("n1", "z1"), ("n2", "z1"), ("n3", "z2")):
        c.add_node(NodeBuilder(name).capacity(cpu=2, memory="2Gi").label(ZONE, zone).build())
    first = PodBuilder("db-0").labels(app="db").container().affinity("podAffinity", "required", pod_term(ZONE, {"app": "db"})).build()
    # no pod matches anywhere and the pod matches its own term: allowed anywhere with the key
    assert c.schedule_one(first).node_name is not None
    c.add_pod(PodBuilder("web-0").labels(app="web").container().on("n1")
              .affinity("podAntiAffinity", "required", pod_term(ZONE, {"app": "db"})).build())
    result = c.schedule_one(PodBuilder("db-1").labels(app="db").container().build(), explain=True)
    # web-0's anti-affinity keeps app=db out of zone z1
    assert result.node_name == "n3"
    assert result.explain.filter["n1"] == ("InterPodAffinity", ("node(s) didn't satisfy existing pods anti-affinity rules",))
    c.add_pod(PodBuilder("db-2").labels(app="db").container().on("n3").build())
    anti = PodBuilder("x").labels(app="x").container().affinity("podAntiAffinity", "required", pod_term(ZONE, {"app": "db"})).build()
    result = c.schedule_one(anti)
    assert result.node_name in ("n1", "n2")
    follow = PodBuilder("y").container().affinity("podAffinity", "required", pod_term(HOST, {"app": "db"})).build()
    result = c.schedule_one(follow, explain=True)
    assert result.node_name == "n3"
    assert result.explain.filter["n1"] == ("InterPodAffinity", ("node(s) didn't match pod affinity rules",))


@BACKENDS
def test_requests_include_init_containers_sidecars_and_overhead(backend):
    c = backend()
    c.add_node(NodeBuilder("small").capacity(cpu="3400m", memory="1Gi").build())
    c.add_node(NodeBuilder("big").capacity(cpu="3500m", memory="1Gi").build())
    pod = PodBuilder("p").container(cpu=1).container(cpu=1).init_container(cpu=3).set(overhead={"cpu": "500m"}).build()
    # max(containers 1+1 = 2, init 3) + overhead 0.5 = 3.5 cpu
    result = c.schedule_one(pod)
    assert result.node_name == "big"
    sidecars = PodBuilder("s").container(cpu=1).init_container(cpu=1, sidecar=True).init_container(cpu=2).set(overhead={"cpu": "500m"}).build()
    # containers 1 + sidecar 1 = 2; init steps: sidecar 1, regular 2 + sidecar 1 = 3; max 3 + 0.5 = 3.5
    assert c.schedule_one(sidecars).node_name == "big"


@BACKENDS
def test_failure_message_counts_every_reason(backend):
    c = backend()
    c.add_node(NodeBuilder("small").capacity(cpu=1, memory="1Gi").labels(disk="hdd").build())
    c.add_node(NodeBuilder("tainted").capacity(cpu=8, memory="8Gi").taint("dedicated", "gpu", "NoSchedule").build())
    c.add_node(NodeBuilder("cordoned").capacity(cpu=8, memory="8Gi").unschedulable().build())
    c.add_node(NodeBuilder("tiny").capacity(cpu=1, memory="64Mi", pods=0).labels(disk="hdd").build())
    c.add_node(NodeBuilder("ssd").capacity(cpu=8, memory="8Gi").labels(disk="hdd").build())
    pod = PodBuilder("p").container(cpu=2, memory="1Gi").set(nodeSelector={"disk": "hdd"}).build()
    c.update_node(NodeBuilder("ssd").capacity(cpu=8, memory="8Gi").labels(disk="ssd").build())
    result = c.schedule_one(pod)
    assert result.node_name is None
    # "small" lacks cpu; "tiny" lacks cpu, memory and pod room (NodeResourcesFit reports all
    # three); upstream sorts the "<count> <reason>" strings as strings, so "2 ..." comes last.
    assert result.message == (
        "0/5 nodes are available: 1 Insufficient memory, 1 Too many pods, "
        "1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint(s), "
        "1 node(s) were unschedulable, 2 Insufficient cpu.")


@BACKENDS
def test_node_affinity_operators(backend):
    c = backend()
    for gen in ("1", "3", "7", "x"):
        c.add_node(NodeBuilder(f"gen-{gen}").capacity(cpu=1, memory="1Gi").label("gen", gen).build())
    def feasible(*expressions):
        pod = PodBuilder("p").container().affinity("nodeAffinity", "required", {"matchExpressions": list(expressions)}).build()
        result = c.schedule_one(pod, explain=True)
        return sorted(n for n, (plugin, _) in result.explain.filter.items() if plugin is None)
    assert feasible({"key": "gen", "operator": "Gt", "values": ["2"]}) == ["gen-3", "gen-7"]
    assert feasible({"key": "gen", "operator": "Lt", "values": ["3"]}) == ["gen-1"]
    assert feasible({"key": "gen", "operator": "NotIn", "values": ["1", "x"]}) == ["gen-3", "gen-7"]
    assert feasible({"key": "missing", "operator": "DoesNotExist"}) == ["gen-1", "gen-3", "gen-7", "gen-x"]
    assert feasible({"key": "gen", "operator": "In", "values": ["x"]}, {"key": "gen", "operator": "Exists"}) == ["gen-x"]


def test_num_feasible_nodes_to_find_matches_upstream_table():
    # (percentage, nodes, expected) from upstream's TestNumFeasibleNodesToFind
    for percentage, nodes, expected in ((0, 10, 10), (40, 10, 10), (0, 1000, 420), (40, 1000, 400),
                                        (0, 6000, 300), (20, 6000, 1200), (0, 5000, 500), (0, 150, 100)):
        assert native_num_feasible(percentage, nodes) == num_feasible_nodes_to_find(percentage, nodes) == expected


@BACKENDS
def test_rotating_start_and_sampling(backend):
    c = backend()
    for i in range(200):
        c.add_node(NodeBuilder(f"n{i:03d}").capacity(cpu=4, memory="4Gi").build())
    result = c.schedule_one(PodBuilder("p").container().build())
    # 200 nodes: 50 - 200/125 = 49% = 98 -> raised to the 100-node minimum
    assert (result.evaluated_nodes, result.feasible_nodes, c.next_start_index) == (100, 100, 100)
    c.schedule_one(PodBuilder("q").container().build())
    assert c.next_start_index == 0


@BACKENDS
def test_tie_break_is_random_but_seeded(backend):
    def choices(seed):
        c = backend(seed=seed)
        for name in ("a", "b", "c"):
            c.add_node(NodeBuilder(name).capacity(cpu=4, memory="4Gi").build())
        return [c.schedule_one(PodBuilder(f"p{i}").container().build()).node_name for i in range(30)]
    assert choices(7) == choices(7)
    assert set(choices(7)) == {"a", "b", "c"}


@BACKENDS
def test_preemption_picks_lowest_priority_victims(backend):
    c = backend()
    for name in ("n1", "n2", "n3"):
        c.add_node(NodeBuilder(name).capacity(cpu=2, memory="4Gi").build())
    c.add_pod(PodBuilder("n1-high").container(cpu=2).priority(50).on("n1").started("2026-01-01T00:00:00Z").build())
    c.add_pod(PodBuilder("n2-a").container(cpu=1).priority(5).on("n2").started("2026-01-01T00:00:01Z").build())
    c.add_pod(PodBuilder("n2-b").container(cpu=1).priority(5).on("n2").started("2026-01-01T00:00:02Z").build())
    c.add_pod(PodBuilder("n3-a").container(cpu=1).priority(1).on("n3").started("2026-01-01T00:00:03Z").build())
    c.add_pod(PodBuilder("n3-b").container(cpu=1).priority(20).on("n3").started("2026-01-01T00:00:04Z").build())
    preemptor = PodBuilder("vip").container(cpu=1).priority(10).build()
    assert c.schedule_one(preemptor).node_name is None
    # n1: its only pod outranks the preemptor; n2: one victim of priority 5 (n2-b reprieved
    # first as more important? equal priority: the earlier start n2-a is kept, n2-b evicted);
    # n3: victim n3-a of priority 1 (n3-b outranks) -> lowest highest-victim priority wins.
    preemption = c.preempt(preemptor)
    assert (preemption.node_name, preemption.victims) == ("n3", ["default/n3-a"])
    never = PodBuilder("polite").container(cpu=1).priority(10).set(preemptionPolicy="Never").build()
    assert c.preempt(never).node_name is None


@BACKENDS
def test_preemption_prefers_fewer_victims_at_equal_priority(backend):
    c = backend()
    for name in ("n1", "n2"):
        c.add_node(NodeBuilder(name).capacity(cpu=2, memory="4Gi").build())
    c.add_pod(PodBuilder("n1-a").container(cpu=1).priority(1).on("n1").build())
    c.add_pod(PodBuilder("n1-b").container(cpu=1).priority(1).on("n1").build())
    c.add_pod(PodBuilder("n2-a").container(cpu=2).priority(1).on("n2").build())
    preemptor = PodBuilder("vip").container(cpu=2).priority(10).build()
    # n1 needs both (sum 2*(1+2^31)), n2 one victim: the lower sum of priorities wins
    assert c.preempt(preemptor).victims == ["default/n2-a"]


@BACKENDS
def test_nominated_pods_hold_their_space(backend):
    # upstream's RunFilterPluginsWithNominatedPods: a nominated pod of priority >= the
    # pod's is added to its node before Filter; lower-priority ones and the pod itself not.
    c = backend()
    c.add_node(NodeBuilder("n1").capacity(cpu=2, memory="4Gi", pods=2).build())
    c.add_pod(PodBuilder("running").container(cpu="500m").priority(0).on("n1").build())
    nominee = PodBuilder("nominee").container(cpu="1", ports=(80,)).priority(10).build()
    c.add_nominated_pod(nominee, "n1")

    def outcome(name, cpu, priority, ports=()):
        result = c.schedule_one(PodBuilder(name).container(cpu=cpu, ports=ports).priority(priority).build())
        return result.node_name or result.message

    # free cpu: 2000m - 500m running - 1000m nominated = 500m; pods: 1 running + 1 nominated = 2 of 2
    assert outcome("equal", "500m", 10) == "0/1 nodes are available: 1 Too many pods."
    assert outcome("lower", "600m", 9) == "0/1 nodes are available: 1 Insufficient cpu, 1 Too many pods."
    # higher priority: the nominee does not count (1500m free, 1 pod of 2)
    assert outcome("higher", "1500m", 11) == "n1"
    # the nominee itself fits where it was nominated
    assert c.schedule_one(nominee).node_name == "n1"
    # host ports: the nominee's port 80 is taken for pods it outranks
    c.update_node(NodeBuilder("n1").capacity(cpu=2, memory="4Gi", pods=10).build())
    assert outcome("port", "100m", 0, ports=(80,)) == "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports."
    assert outcome("other-port", "100m", 0, ports=(443,)) == "n1"
    c.remove_nominated_pod("default/nominee")
    assert outcome("after", "1500m", 0, ports=(80,)) == "n1"


@BACKENDS
def test_nomination_follows_its_node(backend):
    c = backend()
    c.add_nominated_pod(PodBuilder("nominee").container(cpu=2).priority(5).build(), "late")
    pod = PodBuilder("p").container(cpu=1).build()
    c.add_node(NodeBuilder("late").capacity(cpu=2, memory="4Gi").build())
    assert c.schedule_one(pod).message == "0/1 nodes are available: 1 Insufficient cpu."
    c.remove_node("late")
    c.add_node(NodeBuilder("late").capacity(cpu=2, memory="4Gi").build())
    assert c.schedule_one(pod).node_name is None
    c.add_nominated_pod(PodBuilder("nominee").container(cpu=1).priority(5).build(), "late")  # re-nominated, smaller
    assert c.schedule_one(pod).node_name == "late"


@BACKENDS
def test_preemption_dry_run_counts_nominated_pods(backend):
    c = backend()
    c.add_node(NodeBuilder("n1").capacity(cpu=2, memory="4Gi").build())
    c.add_pod(PodBuilder("low").container(cpu=1).priority(1).on("n1").build())
    c.add_nominated_pod(PodBuilder("nominee").container(cpu=1).priority(10).build(), "n1")
    preemptor = PodBuilder("vip").container(cpu=2).priority(5).build()
    # without "low" 2000m - 1000m nominated = 1000m < 2000m: no candidate
    preemption = c.preempt(preemptor)
    assert preemption.node_name is None
    assert preemption.message == "preemption: 0/1 nodes are available: 1 Insufficient cpu"
    c.remove_nominated_pod("default/nominee")
    assert (c.preempt(preemptor).node_name, c.preempt(preemptor).victims) == ("n1", ["default/low"])


@BACKENDS
def test_preemption_failure_message(backend):
    # upstream: "0/N nodes are available: <filter reasons>. preemption: 0/N nodes are
    # available: <per node: filter reasons with every lower-priority pod removed, or "No
    # preemption victims found for incoming pod", or (unresolvable Filter failure)
    # "Preemption is not helpful for scheduling">."
    c = backend()
    c.add_node(NodeBuilder("tainted").capacity(cpu=4, memory="4Gi").taint("dedicated", "x", "NoSchedule").build())
    c.add_node(NodeBuilder("cordoned").capacity(cpu=4, memory="4Gi").unschedulable().build())
    c.add_node(NodeBuilder("busy").capacity(cpu=2, memory="4Gi").build())
    c.add_pod(PodBuilder("important").container(cpu=2).priority(100).on("busy").build())
    c.add_node(NodeBuilder("small").capacity(cpu=1, memory="4Gi").build())
    c.add_pod(PodBuilder("cheap").container(cpu="500m").priority(0).on("small").build())
    pod = PodBuilder("p").container(cpu="1500m").priority(10).build()
    result = c.schedule_one(pod)
    assert result.message == ("0/4 nodes are available: 1 node(s) had untolerated taint(s), "
                              "1 node(s) were unschedulable, 2 Insufficient cpu.")
    preemption = c.preempt(pod)
    assert preemption.node_name is None
    assert preemption.message == ("preemption: 0/4 nodes are available: 1 Insufficient cpu, "
                                  "1 No preemption victims found for incoming pod, "
                                  "2 Preemption is not helpful for scheduling")
    plugin = c.profiles["default-scheduler"].plugins["postFilter"][0]
    status, _ = plugin.post_filter({}, pod, result)
    assert not status.ok and status.reasons == (preemption.message,)
    never = PodBuilder("never").container(cpu="1500m").priority(10).set(preemptionPolicy="Never").build()
    assert c.preempt(never).message == "preemption: not eligible due to preemptionPolicy=Never"


@BACKENDS
def test_ports_and_unschedulable_toleration(backend):
    c = backend()
    c.add_node(NodeBuilder("n1").capacity(cpu=2, memory="4Gi").build())
    c.add_node(NodeBuilder("cordoned").capacity(cpu=2, memory="4Gi").unschedulable().build())
    c.add_pod(PodBuilder("web").container(ports=(80,)).on("n1").build())
    pod = PodBuilder("p").container(ports=(80,)).build()
    result = c.schedule_one(pod)
    assert result.message == ("0/2 nodes are available: 1 node(s) didn't have free ports for the requested pod ports, "
                              "1 node(s) were unschedulable.")
    tolerant = PodBuilder("t").container(ports=(80,)).toleration("node.kubernetes.io/unschedulable", effect="NoSchedule", operator="Exists").build()
    assert c.schedule_one(tolerant).node_name == "cordoned"


@BACKENDS
def test_namespace_selector_and_match_label_keys(backend):
    c = backend()
    c.set_namespace_labels("team-a", {"team": "a"})
    c.set_namespace_labels("team-b", {"team": "b"})
    for name in ("n1", "n2", "n3"):
        c.add_node(NodeBuilder(name).capacity(cpu=2, memory="2Gi").build())
    c.add_pod(PodBuilder("a-db", "team-a").labels(app="db").container().on("n1").build())
    c.add_pod(PodBuilder("b-db", "team-b").labels(app="db").container().on("n2").build())
    term = {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": HOST, "namespaceSelector": {"matchLabels": {"team": "a"}}}
    pod = PodBuilder("web", "default").container().affinity("podAntiAffinity", "required", term).build()
    result = c.schedule_one(pod, explain=True)
    # only team-a's db counts: n1 is excluded, n2 (team-b's db) is not
    assert sorted(n for n, (plugin, _) in result.explain.filter.items() if plugin is None) == ["n2", "n3"]
    everywhere = dict(term, namespaceSelector={})
    result = c.schedule_one(PodBuilder("web2").container().affinity("podAntiAffinity", "required", everywhere).build())
    assert result.node_name == "n3"
    # matchLabelKeys: only pods with the same "rev" value count towards the spread
    c.add_pod(PodBuilder("r1-0", "default").labels(app="web", rev="1").container().on("n1").build())
    c.add_pod(PodBuilder("r1-1", "default").labels(app="web", rev="1").container().on("n1").build())
    spread = PodBuilder("r2-0").labels(app="web", rev="2").container().spread(HOST, 1, "DoNotSchedule", {"app": "web"}, matchLabelKeys=["rev"]).build()
    result = c.schedule_one(spread, explain=True)
    # rev=2 pods: none anywhere, so every node has skew 0 + 1 - 0 = 1 <= 1
    assert all(plugin is None for plugin, _ in result.explain.filter.values())


@BACKENDS
def test_malformed_input_is_a_clear_error(backend):
    from pyk8s.scheduler import SchedulingInputError

    c = backend()
    c.add_node(NodeBuilder("n1").capacity(cpu=1, memory="1Gi").build())
    with pytest.raises(SchedulingInputError, match="quantities must match"):
        c.schedule_one(PodBuilder("p").container(cpu="lots").build())
    with pytest.raises(SchedulingInputError):
        c.schedule_one(PodBuilder("q").container().set(topologySpreadConstraints=[{"whenUnsatisfiable": "DoNotSchedule"}]).build())
    with pytest.raises(SchedulingInputError, match="unknown node"):
        c.add_pod(PodBuilder("r").container().on("nowhere").build())
    with pytest.raises(SchedulingInputError):
        c.add_node({"metadata": {}})


@BACKENDS
def test_nodes_are_walked_round_robin_over_zones(backend):
    c = backend()
    for name, zone in (("a1", "a"), ("a2", "a"), ("a3", "a"), ("b1", "b"), ("none1", None), ("b2", "b"), ("c1", "c")):
        node = NodeBuilder(name).capacity(cpu=1, memory="1Gi")
        if zone:
            node.label(ZONE, zone).label("topology.kubernetes.io/region", "r")
        c.add_node(node.build())
    # upstream's nodeTree.list(): zones in order of first appearance, one node of each per round
    assert c.node_order() == ["a1", "b1", "none1", "c1", "a2", "b2", "a3"]
    c.update_node(NodeBuilder("a1").capacity(cpu=1, memory="1Gi").label(ZONE, "c").label("topology.kubernetes.io/region", "r").build())
    c.remove_node("none1")
    assert c.node_order() == ["a2", "b1", "c1", "a3", "b2", "a1"]


@BACKENDS
def test_system_default_spreading(backend):
    def selector(pod):
        return {"matchLabels": {"app": "web"}} if pod["metadata"]["labels"].get("app") == "web" else None

    c = backend(default_spread_selector=selector)
    c.add_node(NodeBuilder("a").capacity(cpu=4, memory="4Gi").label(ZONE, "z1").build())
    c.add_node(NodeBuilder("b").capacity(cpu=4, memory="4Gi").label(ZONE, "z2").build())
    c.add_node(NodeBuilder("nozone").capacity(cpu=4, memory="4Gi").build())
    for i in range(2):
        c.add_pod(PodBuilder(f"web-{i}").labels(app="web").container().on("a").build())
    pod = PodBuilder("web-new").labels(app="web").container().build()
    # System defaults: hostname maxSkew 3 and zone maxSkew 5, ScheduleAnyway, and nodes
    # without a zone are kept (requireAllTopologies is false for system defaults).
    # hostname: 3 candidates -> weight ln(5) = 1.609; zone domains z1, z2, "" -> ln(5) = 1.609
    # a: hostname 2*1.609 + 2 = 5.219, zone 2*1.609 + 4 = 7.219 -> round(12.44) = 12
    # b: 0 + 2 + 0 + 4 = 6; nozone: hostname 0 + 2, no zone label -> round(2) = 2
    # normalized 100*(12+2-s)/12: a 16, b 66, nozone 100
    assert scores(c, pod, "PodTopologySpread") == {"a": 16, "b": 66, "nozone": 100}
    # a pod that no service or owner selects gets no default constraints
    assert scores(c, PodBuilder("other").labels(app="db").container().build(), "PodTopologySpread") == {"a": 0, "b": 0, "nozone": 0}


@BACKENDS
def test_every_insufficient_extended_resource_is_reported(backend):
    c = backend()
    c.add_node(NodeBuilder("n1").capacity(cpu=4, memory="4Gi", **{"example.com/gpu": 1}).build())
    c.add_node(NodeBuilder("n2").capacity(cpu=4, memory="4Gi", **{"example.com/fpga": 1}).build())
    c.add_node(NodeBuilder("n3").capacity(cpu=4, memory="4Gi").build())
    pod = PodBuilder("p").container(cpu=1, **{"example.com/fpga": 1, "example.com/gpu": 1}).build()
    result = c.schedule_one(pod, explain=True)
    # n1 lacks the fpga, n2 the gpu, n3 both: every missing resource counts once per node
    assert result.message == "0/3 nodes are available: 2 Insufficient example.com/fpga, 2 Insufficient example.com/gpu."
    assert result.explain.filter["n3"] == ("NodeResourcesFit", ("Insufficient example.com/fpga", "Insufficient example.com/gpu"))


@BACKENDS
def test_unschedulable_plugins_name_every_rejecting_filter(backend):
    c = backend()
    c.add_node(NodeBuilder("small").capacity(cpu=1, memory="1Gi").build())
    c.add_node(NodeBuilder("tainted").capacity(cpu=8, memory="8Gi").taint("k", "v", "NoSchedule").build())
    c.add_node(NodeBuilder("elsewhere").capacity(cpu=8, memory="8Gi").label("disk", "hdd").build())
    pod = PodBuilder("p").container(cpu=2).affinity("nodeAffinity", "required", {
        "matchExpressions": [{"key": "disk", "operator": "NotIn", "values": ["hdd"]}]}).build()
    result = c.schedule_one(pod)
    # small: Insufficient cpu; tainted: the taint (TaintToleration runs before the rest);
    # elsewhere: disk=hdd.  The queue moves the pod on events any of the three care about.
    assert result.unschedulable_plugins == frozenset({"NodeResourcesFit", "TaintToleration", "NodeAffinity"})
    assert c.schedule_one(PodBuilder("q").container(cpu=1).build()).unschedulable_plugins == frozenset()
