"""PodTemplates.parse_placed: pods on nodes (a cluster's start adds every bound pod) share the
parse of their template whatever their nodes.  A clone must equal a fresh parse but for the
node it is on, and the compiled struct the template's pending pods share must not carry
the first placed pod's node (its NodeName filter would pin them there)."""

from __future__ import annotations

import copy

import pytest

from pyk8s.scheduler import Cluster, ReferenceCluster, SchedulingInputError
from pyk8s.scheduler._objects import ParsedPod, PodTemplates, parse_pod

_IDENTITY_FREE = [s for s in ParsedPod.__slots__ if s not in ("template", "native")]


def _pod(name: str, node: str | None = None, *, cpu: str = "1", created: str = "2026-11-27T10:00:00Z") -> dict:
    spec = {"containers": [{"name": "c", "image": "nginx:1.27", "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}}}],
            "priority": 0}
    if node:
        spec["nodeName"] = node
    spec["schedulerName"] = "default-scheduler"  # after nodeName, as the API server orders a bound pod's spec
    return {"metadata": {"name": name, "namespace": "ns", "labels": {"app": "web"}, "creationTimestamp": created},
            "spec": spec}


def _node(name: str, cpu: str = "2") -> dict:
    return {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"}}}


def _slots(parsed: ParsedPod) -> dict:
    return {s: getattr(parsed, s) for s in _IDENTITY_FREE}


def test_placed_clones_equal_fresh_parses_on_their_own_nodes():
    templates = PodTemplates()
    first = templates.parse_placed(_pod("a", "n1"))
    second = templates.parse_placed(_pod("b", "n2", created="2026-11-27T10:00:09Z"))
    assert second.template is first.template and first.template.node_name == ""
    assert _slots(first) == _slots(parse_pod(_pod("a", "n1")))
    assert _slots(second) == _slots(parse_pod(_pod("b", "n2", created="2026-11-27T10:00:09Z")))
    assert (second.node_name, second.key) == ("n2", "ns/b")
    # A pending pod of the same template shares the entry; scheduling-side parses of pods
    # with spec.nodeName stay on their own.
    pending = templates.parse(_pod("c"))
    assert pending.template is first.template and pending.node_name == ""
    assert templates.parse(_pod("d", "n1")).template is None


def test_pending_pods_of_a_placed_template_are_not_pinned_to_its_node():
    for cluster in (Cluster(), ReferenceCluster()):
        cluster.add_node(_node("n1"))
        cluster.add_node(_node("n2"))
        # n1 is full with two placed replicas; the compiled struct is first built for them.
        cluster.add_pod(_pod("placed-0", "n1"))
        cluster.add_pod(_pod("placed-1", "n1"))
        assert sorted(cluster.pods_by_node["n1"]) == ["ns/placed-0", "ns/placed-1"]
        result = cluster.schedule_one(copy.deepcopy(_pod("pending")))
        assert result.node_name == "n2", (type(cluster).__name__, result.message)
        cluster.bind(_pod("pending"), "n2")
        cluster.add_pod(_pod("placed-2", "n2"))
        assert cluster.schedule_one(_pod("pending-2")).node_name is None  # both nodes full now
        # A pod that names its node is still held to it.
        cluster.remove_pod("ns/placed-2")
        pinned = cluster.schedule_one(_pod("pinned", "n1"))
        assert pinned.node_name is None, type(cluster).__name__


def test_placed_pods_that_differ_or_are_not_json_are_not_clones():
    templates = PodTemplates()
    base = templates.parse_placed(_pod("a", "n1"))
    assert templates.parse_placed(_pod("b", "n1", cpu="2")).template is not base.template
    bare = templates.parse_placed({"metadata": {"name": "e", "namespace": "ns"}, "spec": {"nodeName": "n1"}})
    assert bare.node_name == "n1" and bare.key == "ns/e"
    hand_built = {"metadata": {"name": "h", "namespace": "ns"},
                  "spec": {"nodeName": "n1", "containers": [], "overhead": {"cpu": object()}}}
    with pytest.raises(SchedulingInputError):  # parsed on its own, which reports the bad quantity
        templates.parse_placed(hand_built)
