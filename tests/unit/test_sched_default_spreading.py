"""PodTopologySpread's default constraints: upstream's DefaultSelector (Services and the
controlling ReplicaSet), systemDefaultConstraints and ``defaultingType: List``, through the
native kernels and the Python twin, with the Score arithmetic worked out beside each case;
and the validation of PodTopologySpreadArgs."""

from __future__ import annotations

import pytest
from schedhelpers import HOST, ZONE, NodeBuilder, PodBuilder

from pyk8s.scheduler import Cluster, ProfileError, ReferenceCluster, build_profiles
from pyk8s.scheduler._default_selector import DefaultSelector
from pyk8s.scheduler.config import SYSTEM_DEFAULT_CONSTRAINTS

BACKENDS = pytest.mark.parametrize("backend", [Cluster, ReferenceCluster], ids=["native", "reference"])
SPREAD_FAILURE = "node(s) didn't match pod topology spread constraints"


def service(name, selector, namespace="default"):
    return {"metadata": {"name": name, "namespace": namespace}, "spec": {"selector": selector}}


def replica_set(name, selector, namespace="default"):
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}"},
            "spec": {"selector": selector}}


def owned_by(builder, owner_name, kind="ReplicaSet", api_version="apps/v1", controller=True):
    builder.obj["metadata"]["ownerReferences"] = [
        {"apiVersion": api_version, "kind": kind, "name": owner_name, "uid": f"uid-{owner_name}", "controller": controller}]
    return builder


def spread_scores(cluster, pod):
    result = cluster.schedule_one(pod, explain=True)
    return {node: s["PodTopologySpread"] for node, s in result.explain.scores.items()}


def list_defaults(*constraints):
    return {"profiles": [{"pluginConfig": [{"name": "PodTopologySpread", "args": {
        "defaultingType": "List", "defaultConstraints": list(constraints)}}]}]}


# ---- DefaultSelector ----------------------------------------------------------------------

def test_default_selector_merges_services_and_the_controlling_replica_set():
    selectors = DefaultSelector()
    selectors.set_service(service("web", {"app": "web"}))
    selectors.set_service(service("web-front", {"app": "web", "tier": "front"}))
    selectors.set_service(service("db", {"app": "db"}))  # does not select the pod
    selectors.set_service(service("elsewhere", {"app": "web"}, namespace="other"))  # other namespace
    selectors.set_service({"metadata": {"name": "headless", "namespace": "default"}, "spec": {}})  # nil selector: nothing
    selectors.set_replica_set(replica_set("web-1", {"matchLabels": {"pod-template-hash": "1"},
                                                    "matchExpressions": [{"key": "tier", "operator": "Exists"}]}))
    pod = owned_by(PodBuilder("p").labels(app="web", tier="front", **{"pod-template-hash": "1"}), "web-1").build()
    assert selectors(pod) == {"matchLabels": {"app": "web", "tier": "front"}, "matchExpressions": [
        {"key": "pod-template-hash", "operator": "In", "values": ["1"]}, {"key": "tier", "operator": "Exists", "values": []}]}
    # Only the controller reference counts, and only an apps/v1 ReplicaSet of that name.
    not_controller = owned_by(PodBuilder("q").labels(app="db"), "web-1", controller=False).build()
    assert selectors(not_controller) == {"matchLabels": {"app": "db"}, "matchExpressions": []}
    other_kind = owned_by(PodBuilder("r").labels(other="x"), "web-1", kind="Deployment").build()
    assert selectors(other_kind) is None
    unknown_owner = owned_by(PodBuilder("s").labels(other="x"), "web-2").build()
    assert selectors(unknown_owner) is None
    selectors.remove_service(service("web", {}))
    selectors.remove_service(service("web-front", {}))
    selectors.remove_replica_set(replica_set("web-1", {}))
    assert selectors(pod) is None


def test_default_selector_service_without_selector_after_update_selects_nothing():
    selectors = DefaultSelector()
    selectors.set_service(service("web", {"app": "web"}))
    selectors.set_service({"metadata": {"name": "web", "namespace": "default"}, "spec": {"type": "ExternalName"}})
    assert selectors(PodBuilder("p").labels(app="web").build()) is None


# ---- system defaults through the kernels -----------------------------------------------------

def zoned_cluster(backend, config=None):
    c = backend(config)
    for name, zone in (("a", "z1"), ("b", "z1"), ("c", "z2"), ("nozone", None)):
        node = NodeBuilder(name).capacity(cpu=4, memory="4Gi")
        if zone:
            node.label(ZONE, zone)
        c.add_node(node.build())
    c.add_pod(PodBuilder("web-0").labels(app="web").container().on("a").build())
    c.add_pod(PodBuilder("web-1").labels(app="web").container().on("a").build())
    c.add_pod(PodBuilder("web-2").labels(app="web").container().on("c").build())
    c.add_pod(PodBuilder("web-x", "other").labels(app="web").container().on("b").build())  # another namespace
    c.add_pod(PodBuilder("db-0").labels(app="db").container().on("b").build())
    return c


@BACKENDS
def test_system_defaults_for_a_pod_a_service_selects(backend):
    c = zoned_cluster(backend)
    c.add_service(service("web", {"app": "web"}))
    pod = PodBuilder("web-new").labels(app="web", tier="front").container().build()
    # Constraints {hostname, maxSkew 3} and {zone, maxSkew 5}, ScheduleAnyway, selector app=web
    # (namespace default); system defaults keep nodes without a zone (requireAllTopologies false).
    # weights: hostname over 4 nodes ln(4+2) = 1.7918; zone domains z1, z2, "" -> ln(3+2) = 1.6094
    # zone counts: z1 = 2 (a; b's pods are in another namespace or app=db), z2 = 1, "" = 0
    # a:      2*1.7918 + (3-1) + 2*1.6094 + (5-1) = 5.5835 + 7.2189 = 12.80 -> 13
    # b:      0*1.7918 + 2     + 2*1.6094 + 4     = 2      + 7.2189 =  9.22 ->  9
    # c:      1*1.7918 + 2     + 1*1.6094 + 4     = 3.7918 + 5.6094 =  9.40 ->  9
    # nozone: 0 + 2, no zone label so no zone term                   =  2    ->  2
    # normalized 100*(max+min-s)/max = 100*(15-s)/13: a 15, b 46, c 46, nozone 100
    assert spread_scores(c, pod) == {"a": 15, "b": 46, "c": 46, "nozone": 100}
    # A pod nothing selects gets no default constraints: PreScore skips, every node 0.
    assert spread_scores(c, PodBuilder("lone").labels(app="cache").container().build()) == dict.fromkeys("abc", 0) | {"nozone": 0}
    # A pod with constraints of its own never gets the defaults: here hostname only,
    # maxSkew 1 -> raw a 2*1.7918 + 0 = 3.58 -> 4, b 0, c 1.79 -> 2, nozone 0;
    # 100*(4+0-s)/4: a 0, b 100, c 50, nozone 100
    own = PodBuilder("own").labels(app="web").container().spread(HOST, 1, "ScheduleAnyway", {"app": "web"}).build()
    assert spread_scores(c, own) == {"a": 0, "b": 100, "c": 50, "nozone": 100}


@BACKENDS
def test_system_defaults_through_the_controlling_replica_set(backend):
    c = zoned_cluster(backend)
    c.add_replica_set(replica_set("web-rs", {"matchLabels": {"app": "web"}}))
    pod = owned_by(PodBuilder("web-rs-abcde").labels(app="web").container(), "web-rs").build()
    # Same selector (app=web) as through the Service: same scores.
    assert spread_scores(c, pod) == {"a": 15, "b": 46, "c": 46, "nozone": 100}
    # Service app=web AND ReplicaSet tier=front: none of the placed pods has tier=front,
    # so every count is 0: raw hostname 0 + 2, zone 0 + 4 -> a, b, c 6, nozone 2;
    # 100*(6+2-s)/6: a, b, c 33, nozone 100
    c.add_service(service("web", {"app": "web"}))
    c.add_replica_set(replica_set("web-rs", {"matchLabels": {"tier": "front"}}))
    front = owned_by(PodBuilder("front").labels(app="web", tier="front").container(), "web-rs").build()
    assert spread_scores(c, front) == {"a": 33, "b": 33, "c": 33, "nozone": 100}


@BACKENDS
def test_replica_set_spreads_evenly_where_least_allocated_cannot_tell(backend):
    c = backend(seed=5)
    for name in ("n1", "n2", "n3"):
        c.add_node(NodeBuilder(name).capacity(cpu=64, memory="256Gi").build())
    c.add_service(service("web", {"app": "web"}))

    def replica(i):
        return owned_by(PodBuilder(f"web-{i}").labels(app="web").container(), "web-rs").build()

    # LeastAllocated with the non-zero requests (100m, 200Mi) of a request-less pod on a
    # 64-cpu/256Gi node: cpu (64000-300)*100/64000 = 99.5 -> 99 even with two pods
    # already there, memory 99 too: NodeResourcesFit is 99 everywhere, so only
    # PodTopologySpread (weight 2) separates the nodes.
    # hostname: ln(3+2) = 1.6094; no node has a zone label (no zone term).
    # raw round(count*1.6094 + 2): 0 -> 2, 1 -> 4, 2 -> 5
    # after one pod on n1: raw (4, 2, 2) -> 100*(6-s)/4 = (50, 100, 100)
    first = c.run_cycle(replica(0)).result.node_name
    fit = {n: s["NodeResourcesFit"] for n, s in c.schedule_one(replica(1), explain=True).explain.scores.items()}
    assert fit == {"n1": 99, "n2": 99, "n3": 99}
    assert spread_scores(c, replica(1)) == {n: 50 if n == first else 100 for n in ("n1", "n2", "n3")}
    for i in range(1, 6):
        assert c.run_cycle(replica(i)).bound
    counts = {n: len(pods) for n, pods in c.pods_by_node.items()}
    assert counts == {"n1": 2, "n2": 2, "n3": 2}


# ---- defaultingType: List ------------------------------------------------------------------

@BACKENDS
def test_list_defaults_filter_with_do_not_schedule(backend):
    config = list_defaults({"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule"})
    c = zoned_cluster(backend, config)
    c.add_service(service("web", {"app": "web"}))
    result = c.schedule_one(PodBuilder("web-new").labels(app="web").container().build(), explain=True)
    # zone counts z1 = 2, z2 = 1, min 1: a, b: 2 + 1 - 1 = 2 > 1; c: 1 + 1 - 1 = 1 fits;
    # nozone lacks the key (Filter requires it whatever the defaulting type)
    assert {n: plugin for n, (plugin, _) in result.explain.filter.items()} == {
        "a": "PodTopologySpread", "b": "PodTopologySpread", "c": None, "nozone": "PodTopologySpread"}
    assert result.node_name == "c"
    # A pod nothing selects is not constrained: every node with room passes.
    lone = c.schedule_one(PodBuilder("lone").labels(app="cache").container().build(), explain=True)
    assert all(plugin is None for plugin, _ in lone.explain.filter.values())


@BACKENDS
def test_list_defaults_min_domains_and_unschedulable_plugins(backend):
    config = list_defaults({"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule", "minDomains": 3})
    c = zoned_cluster(backend, config)
    c.remove_node("nozone")
    c.add_service(service("web", {"app": "web"}))
    result = c.schedule_one(PodBuilder("web-new").labels(app="web").container().build())
    # 2 zones < minDomains 3: the global minimum counts as 0, so z1: 2 + 1 - 0 = 3 > 1 and
    # z2: 1 + 1 - 0 = 2 > 1
    assert result.node_name is None
    assert result.message == f"0/3 nodes are available: 3 {SPREAD_FAILURE}."
    assert result.unschedulable_plugins == frozenset({"PodTopologySpread"})


@BACKENDS
def test_list_defaults_keep_nodes_without_the_key_out_of_the_score(backend):
    config = list_defaults({"maxSkew": 2, "topologyKey": ZONE, "whenUnsatisfiable": "ScheduleAnyway"})
    c = zoned_cluster(backend, config)
    c.add_service(service("web", {"app": "web"}))
    # List defaults: requireAllTopologies, so nozone is ignored (score 0) and not a domain.
    # zone domains z1, z2 -> ln(2+2) = 1.3863; raw a, b: 2*1.3863 + 1 = 3.77 -> 4,
    # c: 1.3863 + 1 = 2.39 -> 2; 100*(4+2-s)/4: a, b 50, c 100
    assert spread_scores(c, PodBuilder("web-new").labels(app="web").container().build()) == {
        "a": 50, "b": 50, "c": 100, "nozone": 0}


@BACKENDS
def test_disabled_plugin_adds_no_defaults(backend):
    config = {"profiles": [{"plugins": {"multiPoint": {"disabled": [{"name": "PodTopologySpread"}]}}}]}
    c = zoned_cluster(backend, config)
    c.add_service(service("web", {"app": "web"}))
    result = c.schedule_one(PodBuilder("web-new").labels(app="web").container().build(), explain=True)
    assert all("PodTopologySpread" not in s for s in result.explain.scores.values())


# ---- PodTopologySpreadArgs validation (upstream's ValidatePodTopologySpreadArgs) ------------

def spread_args(**args):
    return {"profiles": [{"pluginConfig": [{"name": "PodTopologySpread", "args": args}]}]}


GOOD = {"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "ScheduleAnyway"}


@pytest.mark.parametrize("args, message", [
    ({"defaultingType": "Zone"}, "defaultingType: Unsupported value: 'Zone'"),
    ({"defaultConstraints": [GOOD]}, "defaultingType: Invalid value: \"System\": when .defaultConstraints are not empty"),
    ({"defaultingType": "List", "defaultConstraints": [dict(GOOD, maxSkew=0)]}, r"defaultConstraints\[0\].maxSkew: Invalid value: 0"),
    ({"defaultingType": "List", "defaultConstraints": [dict(GOOD, topologyKey="")]}, "topologyKey: Required value"),
    ({"defaultingType": "List", "defaultConstraints": [dict(GOOD, topologyKey="not a key")]}, "topologyKey: Invalid value"),
    ({"defaultingType": "List", "defaultConstraints": [dict(GOOD, whenUnsatisfiable="Sometimes")]}, "whenUnsatisfiable: Unsupported value"),
    ({"defaultingType": "List", "defaultConstraints": [dict(GOOD, labelSelector={"matchLabels": {"a": "b"}})]},
     "labelSelector: Forbidden: constraint must not define a selector"),
    ({"defaultingType": "List", "defaultConstraints": [GOOD, dict(GOOD, maxSkew=4)]},
     r"defaultConstraints\[1\]: Duplicate value: \"\{topology.kubernetes.io/zone, ScheduleAnyway\}\""),
    ({"defaultingType": "List", "defaultConstraints": [dict(GOOD, whenUnsatisfiable="DoNotSchedule", minDomains=0)]}, "minDomains"),
    ({"defaultingType": "List", "defaultConstraints": [dict(GOOD, nodeTaintsPolicy="Sometimes")]}, "nodeTaintsPolicy"),
])
def test_invalid_pod_topology_spread_args(args, message):
    with pytest.raises(ProfileError, match=message):
        build_profiles(spread_args(**args))


def test_pod_topology_spread_args_defaults():
    args = build_profiles()["default-scheduler"].plugin_args["PodTopologySpread"]
    assert args["defaultingType"] == "System" and args["defaultConstraints"] == SYSTEM_DEFAULT_CONSTRAINTS
    assert SYSTEM_DEFAULT_CONSTRAINTS == (
        {"maxSkew": 3, "topologyKey": HOST, "whenUnsatisfiable": "ScheduleAnyway"},
        {"maxSkew": 5, "topologyKey": ZONE, "whenUnsatisfiable": "ScheduleAnyway"})
    empty_list = build_profiles(spread_args(defaultingType="List"))["default-scheduler"].plugin_args["PodTopologySpread"]
    assert empty_list["defaultConstraints"] == []  # List without constraints: no defaulting at all
    same_key_both_ways = spread_args(defaultingType="List", defaultConstraints=[GOOD, dict(GOOD, whenUnsatisfiable="DoNotSchedule")])
    assert len(build_profiles(same_key_both_ways)["default-scheduler"].plugin_args["PodTopologySpread"]["defaultConstraints"]) == 2
