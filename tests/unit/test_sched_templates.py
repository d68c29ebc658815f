"""PodTemplates: pods stamped from one template are parsed once and cloned; a clone must be
indistinguishable from a fresh parse, and a change to one pod's parse must not reach the
others."""

from __future__ import annotations

import copy

from pyk8s.scheduler import Cluster
from pyk8s.scheduler._objects import ParsedPod, PodTemplates, parse_pod

_IDENTITY_FREE = [s for s in ParsedPod.__slots__ if s not in ("template", "native")]


def _pod(name: str, *, labels=None, cpu="100m", created="2026-11-27T10:00:00Z", **spec_extra) -> dict:
    return {
        "metadata": {"name": name, "namespace": "ns", "labels": labels or {"app": "web"}, "creationTimestamp": created},
        "spec": {"containers": [{"name": "c", "image": "nginx:1.27", "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}},
                                 "ports": [{"containerPort": 80, "hostPort": 8080}]}],
                 "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}], **spec_extra},
    }


def _slots(parsed: ParsedPod) -> dict:
    return {s: getattr(parsed, s) for s in _IDENTITY_FREE}


def test_second_copy_of_a_template_is_a_clone_equal_to_a_fresh_parse():
    templates = PodTemplates()
    first, second = _pod("a"), _pod("b", created="2026-11-27T10:00:07Z")
    parsed_first = templates.parse(first)
    parsed_second = templates.parse(second)
    assert parsed_second.template is not None and parsed_second.template is parsed_first.template
    assert _slots(parsed_second) == _slots(parse_pod(second))
    assert parsed_second.key == "ns/b" and parsed_second.name == "b"
    assert parsed_second.start_time == parse_pod(second).start_time != parsed_first.start_time
    assert _slots(parsed_first) == _slots(parse_pod(first))


def test_a_different_spec_labels_or_namespace_is_not_a_hit():
    templates = PodTemplates()
    base = templates.parse(_pod("a"))
    assert templates.parse(_pod("b", cpu="200m")).template is not base.template
    assert templates.parse(_pod("c", labels={"app": "db"})).template is not base.template
    other_ns = _pod("d")
    other_ns["metadata"]["namespace"] = "other"
    parsed = templates.parse(other_ns)
    assert parsed.template is not base.template and parsed.key == "other/d" and parsed.namespace == "other"


def test_terminating_and_bound_pods():
    templates = PodTemplates()
    templates.parse(_pod("a"))
    deleting = _pod("b")
    deleting["metadata"]["deletionTimestamp"] = "2026-11-27T10:01:00Z"
    assert templates.parse(deleting).terminating is True
    bound = _pod("c", nodeName="n1")
    parsed = templates.parse(bound)
    assert parsed.template is None and parsed.node_name == "n1"  # bound pods are not cached


def test_capacity_is_bounded():
    templates = PodTemplates(capacity=4)
    for i in range(10):
        templates.parse(_pod(f"p{i}", cpu=f"{i + 1}00m"))
    assert len(templates._entries) <= 4


def test_default_spreading_on_one_clone_does_not_reach_the_template_or_other_clones():
    # A ReplicaSet-owned pod gets the system default spreading constraints: its compiled
    # struct differs from the template's and must not be shared back.
    cluster = Cluster()
    for i in range(4):
        cluster.add_node({"metadata": {"name": f"n{i}", "labels": {"topology.kubernetes.io/zone": f"z{i % 2}",
                                                                   "kubernetes.io/hostname": f"n{i}"}},
                          "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}}})
    cluster.add_replica_set({"metadata": {"name": "rs", "namespace": "ns", "uid": "rs-uid"},
                             "spec": {"selector": {"matchLabels": {"app": "web"}}}})
    owned = _pod("owned")
    owned["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "rs-uid",
                                             "controller": True}]
    plain = copy.deepcopy(_pod("plain"))
    # Same spec and labels: the second is a clone of the first's template.
    cluster.schedule_one(plain)
    first_parsed = cluster._last_scheduled[1]
    cluster.schedule_one(owned)
    owned_parsed = cluster._last_scheduled[1]
    assert owned_parsed.spread_constraints and owned_parsed.template is None
    assert owned_parsed.native is not first_parsed.native
    again = copy.deepcopy(_pod("again"))
    cluster.schedule_one(again)
    again_parsed = cluster._last_scheduled[1]
    assert not again_parsed.spread_constraints
    assert again_parsed.native is first_parsed.native  # shared compiled struct


def test_copy_covers_every_slot():
    # ParsedPod.copy spells the slots out: a slot added to the class must be added there.
    parsed = parse_pod(_pod("a"))
    for index, slot in enumerate(ParsedPod.__slots__):
        setattr(parsed, slot, ("sentinel", index))
    clone = parsed.copy()
    assert [getattr(clone, slot) for slot in ParsedPod.__slots__] == [("sentinel", i) for i in range(len(ParsedPod.__slots__))]
