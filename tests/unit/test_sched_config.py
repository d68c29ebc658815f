"""Profiles: upstream's defaults, multiPoint expansion, and validation at construction."""

from __future__ import annotations

import pytest
from schedhelpers import NodeBuilder, PodBuilder

from pyk8s.scheduler import (
    Cluster,
    ProfileError,
    Registry,
    Status,
    build_profiles,
    default_registry,
)
from pyk8s.scheduler.framework import Code, PreFilterPlugin, ReservePlugin


def test_default_profile_matches_upstream():
    profile = build_profiles()["default-scheduler"]
    assert profile.names("filter") == ["NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity", "NodePorts",
                                       "NodeResourcesFit", "PodTopologySpread", "InterPodAffinity"]
    assert profile.score_weights == {"TaintToleration": 3, "NodeAffinity": 2, "NodeResourcesFit": 1, "PodTopologySpread": 2,
                                     "InterPodAffinity": 2, "NodeResourcesBalancedAllocation": 1, "ImageLocality": 1}
    assert profile.names("postFilter") == ["DefaultPreemption"]
    assert profile.names("bind") == ["DefaultBinder"]
    assert profile.names("queueSort") == ["PrioritySort"]
    assert profile.percentage_of_nodes_to_score == 0


def test_yaml_profiles_disable_enable_and_weights():
    profiles = build_profiles("""
percentageOfNodesToScore: 30
profiles:
- schedulerName: default-scheduler
- schedulerName: packer
  percentageOfNodesToScore: 70
  plugins:
    score:
      disabled: [{name: "*"}]
      enabled: [{name: NodeResourcesFit, weight: 5}]
    filter:
      disabled: [{name: NodePorts}]
  pluginConfig:
  - name: NodeResourcesFit
    args: {scoringStrategy: {type: MostAllocated}}
""")
    assert profiles["default-scheduler"].percentage_of_nodes_to_score == 30
    packer = profiles["packer"]
    assert packer.percentage_of_nodes_to_score == 70
    assert packer.score_weights == {"NodeResourcesFit": 5}
    assert "NodePorts" not in packer.names("filter")
    assert packer.plugin_args["NodeResourcesFit"]["scoringStrategy"]["type"] == "MostAllocated"


@pytest.mark.parametrize("config, message", [
    ({"profiles": [{"plugins": {"filter": {"enabled": [{"name": "NoSuchPlugin"}]}}}]}, "'NoSuchPlugin' is not registered"),
    ({"profiles": [{"plugins": {"score": {"enabled": [{"name": "ImageLocality", "weight": 0}]}}}]}, "weights must be positive"),
    ({"profiles": [{"plugins": {"bind": {"disabled": [{"name": "*"}]}}}]}, "at least one bind plugin"),
    ({"profiles": [{"plugins": {"queueSort": {"disabled": [{"name": "*"}]}}}]}, "exactly one queueSort"),
    ({"profiles": [{"plugins": {"score": {"enabled": [{"name": "NodePorts"}]}}}]}, "does not extend score"),
    ({"profiles": [{"schedulerName": "a"}, {"schedulerName": "a"}]}, "duplicate schedulerName"),
    ({"profiles": [{"percentageOfNodesToScore": 101}]}, "percentageOfNodesToScore"),
    ({"profiles": [{"pluginConfig": [{"name": "NodeResourcesFit", "args": {"scoringStrategy": {"type": "Spread"}}}]}]}, "scoringStrategy.type"),
    ({"profiles": [{"pluginConfig": [{"name": "NodeResourcesFit", "args": {"scoringStrategy": {
        "type": "RequestedToCapacityRatio", "requestedToCapacityRatio": {"shape": [{"utilization": 50, "score": 1}, {"utilization": 10, "score": 2}]}}}}]}]},
     "utilization must increase"),
    ({"profiles": [{"pluginConfig": [{"name": "ImageLocality"}, {"name": "ImageLocality"}]}]}, "repeated pluginConfig"),
    ({"profiles": [{"plugins": {"score": {"disabled": [{"name": "ImageLocality"}]}},
                    "pluginConfig": [{"name": "ImageLocality", "args": {}}]}]}, None),
])
def test_invalid_profiles_fail_at_construction(config, message):
    if message is None:  # as upstream: pluginConfig for a disabled plugin is accepted
        build_profiles(config)
        return
    with pytest.raises(ProfileError, match=message):
        Cluster(config)


def test_python_plugins_at_per_pod_extension_points():
    calls = []

    class DenyFoo(PreFilterPlugin):
        NAME = "DenyFoo"

        def __init__(self, args, handle):
            self.prefix = args.get("prefix", "foo")

        def pre_filter(self, state, pod):
            if pod["metadata"]["name"].startswith(self.prefix):
                return Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ("pod name is denied",), self.NAME)
            return Status()

    class Recorder(ReservePlugin):
        NAME = "Recorder"

        def __init__(self, args, handle):
            pass

        def reserve(self, state, pod, node_name):
            calls.append((pod["metadata"]["name"], node_name))
            return Status()

    registry = default_registry()
    registry.register("DenyFoo", DenyFoo)
    registry.register("Recorder", Recorder)
    with pytest.raises(ValueError):
        registry.register("DenyFoo", DenyFoo)
    cluster = Cluster({"profiles": [{"plugins": {"preFilter": {"enabled": [{"name": "DenyFoo"}]},
                                                   "reserve": {"enabled": [{"name": "Recorder"}]}},
                                       "pluginConfig": [{"name": "DenyFoo", "args": {"prefix": "foo"}}]}]}, registry=registry)
    cluster.add_node(NodeBuilder("n1").capacity(cpu=1, memory="1Gi").build())
    denied = cluster.schedule_one(PodBuilder("foo-1").container().build())
    assert denied.message == "0/1 nodes are available: pod name is denied."
    assert denied.unschedulable_plugins == frozenset({"DenyFoo"})  # no registered events: any event moves it
    outcome = cluster.run_cycle(PodBuilder("bar").container().build())
    assert outcome.bound and calls == [("bar", "n1")]
    assert "default/bar" in cluster.pods


def test_python_filter_plugins_are_rejected():
    from pyk8s.scheduler.framework import FilterPlugin

    class PyFilter(FilterPlugin):
        NAME = "PyFilter"

        def __init__(self, args, handle):
            pass

    registry = Registry(default_registry())
    registry.register("PyFilter", PyFilter)
    with pytest.raises(ProfileError, match="no native kernel"):
        build_profiles({"profiles": [{"plugins": {"filter": {"enabled": [{"name": "PyFilter"}]}}}]}, registry=registry)


def test_run_cycle_preempts_and_reports_victims():
    cluster = Cluster()
    cluster.add_node(NodeBuilder("n1").capacity(cpu=1, memory="1Gi").build())
    cluster.add_pod(PodBuilder("low").container(cpu=1).priority(0).on("n1").build())
    outcome = cluster.run_cycle(PodBuilder("high").container(cpu=1).priority(100).build())
    assert not outcome.bound
    assert outcome.result.message == "0/1 nodes are available: 1 Insufficient cpu."
    assert (outcome.preemption.node_name, outcome.preemption.victims) == ("n1", ["default/low"])


def test_scheduler_name_selects_the_profile():
    cluster = Cluster({"profiles": [{"schedulerName": "default-scheduler"}, {"schedulerName": "other",
                                     "plugins": {"filter": {"disabled": [{"name": "TaintToleration"}]}}}]})
    cluster.add_node(NodeBuilder("n1").capacity(cpu=1, memory="1Gi").taint("k", "v", "NoSchedule").build())
    assert cluster.schedule_one(PodBuilder("a").container().build()).node_name is None
    assert cluster.schedule_one(PodBuilder("b").container().set(schedulerName="other").build()).node_name == "n1"
