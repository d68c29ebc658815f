"""The garbage collector's graph builder on its own: which nodes it queues for which change
(upstream's graph_builder.go rules), without an API server."""

from __future__ import annotations

from pyk8s.controllers._gcgraph import (
    ADD, DELETE, UPDATE, GraphBuilder, ObjectReference, ReferenceCache,
)


class Recorder:
    def __init__(self) -> None:
        self.deletes: list = []
        self.later: list = []
        self.orphans: list = []
        self.invalid: list = []
        self.absent = ReferenceCache()
        self.graph = GraphBuilder(self.deletes.append, self.later.append, self.orphans.append, self.absent,
                                  lambda node, ref: self.invalid.append((node.identity.name, ref["uid"])))

    def clear(self) -> None:
        for queue in (self.deletes, self.later, self.orphans, self.invalid):
            queue.clear()

    def names(self, queue) -> list[str]:
        return sorted(node.identity.name for node in queue)


def cm(name: str, uid: str, namespace: str = "ns") -> ObjectReference:
    return ObjectReference("v1", "ConfigMap", name, uid, namespace)


def owner_ref(name: str, uid: str, kind: str = "ConfigMap", block: bool = False) -> dict:
    return {"apiVersion": "v1", "kind": kind, "name": name, "uid": uid, "blockOwnerDeletion": block}


def meta(*owners: dict, deleting: bool = False, finalizers: tuple = ()) -> dict:
    result: dict = {"ownerReferences": list(owners)} if owners else {}
    if deleting:
        result["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    if finalizers:
        result["finalizers"] = list(finalizers)
    return result


def test_dependent_seen_first_makes_a_virtual_owner_to_verify():
    r = Recorder()
    r.graph.process(ADD, cm("child", "c"), meta(owner_ref("parent", "p")))
    virtual = r.graph.node("p")
    assert virtual.virtual and virtual.identity == cm("parent", "p")
    assert r.deletes == [virtual]
    r.clear()
    # The owner shows up with the coordinates the reference gave: the same node, now real.
    r.graph.process(ADD, cm("parent", "p"), meta())
    assert r.graph.node("p") is virtual and not virtual.virtual
    assert r.deletes == []


def test_owner_observed_under_other_coordinates_puts_dependents_to_the_test():
    r = Recorder()
    r.graph.process(ADD, cm("child", "c"), meta(owner_ref("parent", "p", kind="Secret")))
    r.clear()
    r.graph.process(ADD, cm("parent", "p"), meta())
    assert r.names(r.deletes) == ["child"]
    assert r.graph.node("p").identity.kind == "ConfigMap"


def test_owner_deleted_queues_dependents_and_remembers_the_absence():
    r = Recorder()
    r.graph.process(ADD, cm("parent", "p"), meta())
    for name in ("a", "b"):
        r.graph.process(ADD, cm(name, name), meta(owner_ref("parent", "p")))
    r.clear()
    r.graph.process(DELETE, cm("parent", "p"), meta())
    assert r.names(r.deletes) == ["a", "b"]
    assert cm("parent", "p") in r.absent and r.graph.node("p") is None


def test_foreground_and_orphan_transitions():
    r = Recorder()
    r.graph.process(ADD, cm("parent", "p"), meta())
    r.graph.process(ADD, cm("child", "c"), meta(owner_ref("parent", "p", block=True)))
    r.clear()
    r.graph.process(UPDATE, cm("parent", "p"), meta(deleting=True, finalizers=("foregroundDeletion",)), meta())
    assert r.graph.node("p").deleting_dependents
    assert r.names(r.deletes) == ["child", "parent"]
    assert r.graph.node("p").blocking_dependents() == [r.graph.node("c")]
    r.clear()
    # Dropping the blocking reference wakes the waiting owner.
    r.graph.process(UPDATE, cm("child", "c"), meta(), meta(owner_ref("parent", "p", block=True)))
    assert r.names(r.deletes) == ["parent"] and r.graph.node("p").blocking_dependents() == []

    r.graph.process(ADD, cm("other", "o"), meta())
    r.clear()
    r.graph.process(UPDATE, cm("other", "o"), meta(deleting=True, finalizers=("orphan",)), meta())
    assert r.names(r.orphans) == ["other"] and r.deletes == []
    # A resync (same object twice) starts nothing again.
    r.clear()
    same = meta(deleting=True, finalizers=("orphan",))
    r.graph.process(UPDATE, cm("other", "o"), same, same)
    assert r.orphans == []


def test_namespaced_owner_in_another_namespace_is_reported():
    r = Recorder()
    r.graph.process(ADD, cm("parent", "p", namespace="a"), meta())
    r.graph.process(ADD, cm("child", "c", namespace="b"), meta(owner_ref("parent", "p")))
    assert r.invalid == [("child", "p")]
    assert r.names(r.deletes) == ["child"]


def test_virtual_delete_keeps_the_node_for_dependents_naming_it_otherwise():
    r = Recorder()
    r.graph.process(ADD, cm("one", "1"), meta(owner_ref("parent", "p")))
    r.graph.process(ADD, cm("two", "2"), meta(owner_ref("parent", "p", kind="Secret")))
    r.clear()
    r.graph.virtual_delete(cm("parent", "p"))
    # "one" names the verified-absent identity: garbage candidate; "two" names another
    # identity, which replaces the virtual node and is verified next (rate limited).
    assert r.names(r.deletes) == ["one"]
    replacement = r.graph.node("p")
    assert replacement.virtual and replacement.identity.kind == "Secret"
    assert r.later == [replacement]
    assert cm("parent", "p") in r.absent
