"""The garbage collector's dependency graph, as upstream's GraphBuilder
(pkg/controller/garbagecollector/graph_builder.go, graph.go).

Every object the collector watches is a ``Node`` keyed by uid, holding its ownerReferences
and the set of nodes that name it as an owner.  An ownerReference to a uid not (yet) seen
creates a *virtual* node for it, with the coordinates the reference gives (namespace: the
dependent's); the collector verifies a virtual node against the API server and either
learns that it exists (the informer will show it soon) or turns its absence into a *virtual
delete event*, which removes it and makes its dependents garbage candidates.

Informer handlers call ``process`` synchronously, in the order events arrive, so the graph
is only ever changed on the event loop by one caller at a time, which is what upstream's
single graph-changes goroutine guarantees.  Decisions that need the API server are never
made here: the builder only puts nodes on the collector's two queues.

    owner (ReplicaSet, uid A) ── dependents ──▶ pod-1 (owners: [A]), pod-2 (owners: [A, B])
    virtual B (coordinates from pod-2's reference, verified by attempt-to-delete)
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ADD", "DELETE", "FINALIZER_FOREGROUND", "FINALIZER_ORPHAN", "GraphBuilder", "Node",
    "ObjectReference", "ReferenceCache", "UPDATE", "reference_coordinates",
]

log = logging.getLogger(__name__)

ADD, UPDATE, DELETE = "add", "update", "delete"
FINALIZER_ORPHAN = "orphan"
FINALIZER_FOREGROUND = "foregroundDeletion"

Obj = dict[str, Any]


@dataclass(frozen=True)
class ObjectReference:
    """An owner reference's coordinates plus the namespace: upstream's objectReference."""

    api_version: str
    kind: str
    name: str
    uid: str
    namespace: str = ""

    def coordinates(self) -> tuple[str, str, str, str]:
        return self.api_version, self.kind, self.name, self.uid

    def __str__(self) -> str:
        return f"[{self.api_version}/{self.kind}, namespace: {self.namespace}, name: {self.name}, uid: {self.uid}]"


def reference_coordinates(ref: Mapping, namespace: str = "") -> ObjectReference:
    return ObjectReference(
        ref.get("apiVersion") or "", ref.get("kind") or "", ref.get("name") or "", ref.get("uid") or "", namespace,
    )


def _matches_coordinates(ref: Mapping, identity: ObjectReference) -> bool:
    return (
        ref.get("uid") == identity.uid and ref.get("name") == identity.name
        and ref.get("kind") == identity.kind and ref.get("apiVersion") == identity.api_version
    )


def _blocks(ref: Mapping) -> bool:
    return ref.get("blockOwnerDeletion") is True


class Node:
    """One object (or a virtual stand-in for an owner not observed yet).  Hashed by identity
    of the Python object, as upstream's queues hold node pointers: a replaced node is a
    different work item."""

    __slots__ = ("identity", "owners", "dependents", "virtual", "being_deleted", "deleting_dependents")

    def __init__(self, identity: ObjectReference, owners: list[Obj] | None = None, *, virtual: bool = False,
                 being_deleted: bool = False, deleting_dependents: bool = False) -> None:
        self.identity = identity
        self.owners: list[Obj] = owners or []
        self.dependents: set[Node] = set()
        self.virtual = virtual
        self.being_deleted = being_deleted
        self.deleting_dependents = deleting_dependents

    def clone(self) -> Node:
        copy = Node(self.identity, list(self.owners), virtual=self.virtual, being_deleted=self.being_deleted,
                    deleting_dependents=self.deleting_dependents)
        copy.dependents = set(self.dependents)
        return copy

    def blocking_dependents(self) -> list[Node]:
        """Dependents whose reference to this node has blockOwnerDeletion=true."""
        uid = self.identity.uid
        return [dep for dep in self.dependents if any(ref.get("uid") == uid and _blocks(ref) for ref in dep.owners)]

    def __repr__(self) -> str:
        return f"Node({self.identity}{', virtual' if self.virtual else ''})"


class ReferenceCache:
    """An LRU set of owner identities known to be absent (upstream's absentOwnerCache, 500)."""

    def __init__(self, size: int = 500) -> None:
        self.size = size
        self._entries: collections.OrderedDict[ObjectReference, None] = collections.OrderedDict()

    def add(self, reference: ObjectReference) -> None:
        self._entries[reference] = None
        self._entries.move_to_end(reference)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def __contains__(self, reference: object) -> bool:
        if reference in self._entries:
            self._entries.move_to_end(reference)  # type: ignore[arg-type]
            return True
        return False


def _being_deleted(meta: Mapping) -> bool:
    return bool(meta.get("deletionTimestamp"))


def _has_finalizer(meta: Mapping, finalizer: str) -> bool:
    return finalizer in (meta.get("finalizers") or ())


def _deletion_starts_with(old_meta: Mapping | None, meta: Mapping, finalizer: str) -> bool:
    if not _being_deleted(meta) or not _has_finalizer(meta, finalizer):
        return False
    return old_meta is None or not _being_deleted(old_meta) or not _has_finalizer(old_meta, finalizer)


def _partition_dependents(dependents: Iterable[Node], owner: ObjectReference) -> tuple[list[Node], list[Node]]:
    """Dependents whose reference to ``owner.uid`` matches all of ``owner``'s coordinates,
    and those with one that does not (a dependent may be in both)."""
    matching: list[Node] = []
    nonmatching: list[Node] = []
    for dep in dependents:
        found_match = found_mismatch = False
        if owner.namespace and owner.namespace != dep.identity.namespace:
            found_mismatch = True
        else:
            for ref in dep.owners:
                if ref.get("uid") == owner.uid:
                    if _matches_coordinates(ref, owner):
                        found_match = True
                    else:
                        found_mismatch = True
        if found_match:
            matching.append(dep)
        if found_mismatch:
            nonmatching.append(dep)
    return matching, nonmatching


def _sort_key(reference: ObjectReference) -> tuple:
    # upstream's referenceLessThan: kind and apiVersion before namespace, name, uid
    return reference.kind, reference.api_version, reference.namespace, reference.name, reference.uid


def _alternate_owner_identity(dependents: Iterable[Node], absent: ObjectReference) -> ObjectReference | None:
    """Another identity the dependents give the absent owner's uid: the first after
    ``absent`` in upstream's order, else the first."""
    cluster_scoped = not absent.namespace
    seen = {absent}
    candidates = []
    for dep in dependents:
        for ref in dep.owners:
            if ref.get("uid") != absent.uid:
                continue
            if _matches_coordinates(ref, absent) and (cluster_scoped or absent.namespace == dep.identity.namespace):
                continue
            alternate = reference_coordinates(ref, dep.identity.namespace)
            if cluster_scoped and alternate.api_version == absent.api_version and alternate.kind == absent.kind:
                alternate = reference_coordinates(ref)
            if alternate not in seen:
                seen.add(alternate)
                candidates.append(alternate)
    if not candidates:
        return None
    following = [c for c in candidates if _sort_key(absent) < _sort_key(c)]
    return min(following or candidates, key=_sort_key)


class GraphBuilder:
    """``attempt_to_delete(node)`` / ``attempt_to_delete_later(node)`` (rate limited) and
    ``attempt_to_orphan(node)`` put nodes on the collector's queues; ``invalid_namespace``
    (dependent node, owner reference) reports an owner reference that points across
    namespaces (upstream's OwnerRefInvalidNamespace event)."""

    def __init__(
        self,
        attempt_to_delete: Callable[[Node], None],
        attempt_to_delete_later: Callable[[Node], None],
        attempt_to_orphan: Callable[[Node], None],
        absent_owner_cache: ReferenceCache,
        invalid_namespace: Callable[[Node, Obj], None],
    ) -> None:
        self.uid_to_node: dict[str, Node] = {}
        self.attempt_to_delete = attempt_to_delete
        self.attempt_to_delete_later = attempt_to_delete_later
        self.attempt_to_orphan = attempt_to_orphan
        self.absent_owner_cache = absent_owner_cache
        self.invalid_namespace = invalid_namespace

    def node(self, uid: str) -> Node | None:
        return self.uid_to_node.get(uid)

    # -- events --------------------------------------------------------------------------

    def process(self, event_type: str, identity: ObjectReference, meta: Mapping,
                old_meta: Mapping | None = None, *, virtual: bool = False) -> None:
        """One change: an informer's add/update/delete of the object ``identity`` whose
        metadata is ``meta`` (``old_meta``: before the update), or a virtual delete."""
        uid = identity.uid
        existing = self.uid_to_node.get(uid)
        if existing is not None and not virtual and existing.virtual:
            existing = self._observe(existing, identity)
        if event_type in (ADD, UPDATE):
            if existing is None:
                being_deleted = _being_deleted(meta)
                node = Node(
                    identity, list(meta.get("ownerReferences") or ()), being_deleted=being_deleted,
                    deleting_dependents=being_deleted and _has_finalizer(meta, FINALIZER_FOREGROUND),
                )
                self.uid_to_node[uid] = node
                self._add_dependent_to_owners(node, node.owners)
                self._process_transitions(old_meta, meta, node)
            else:
                self._update(existing, identity, meta, old_meta, virtual)
        elif existing is not None:
            self._delete(existing, identity, virtual)

    def virtual_delete(self, identity: ObjectReference) -> None:
        """The API server says ``identity`` does not exist (or has another uid)."""
        self.process(DELETE, identity, {}, virtual=True)

    def _observe(self, existing: Node, identity: ObjectReference) -> Node:
        """A virtual node's object was seen by an informer: from now on it is real."""
        if identity != existing.identity:
            # Dependents that named the owner by other coordinates may be wrong: verify them.
            _, suspicious = _partition_dependents(existing.dependents, identity)
            for dep in suspicious:
                if identity.namespace and dep.identity.namespace != identity.namespace:
                    ref = next((r for r in dep.owners if r.get("uid") == identity.uid), None)
                    if ref is not None:
                        self.invalid_namespace(dep, ref)
                self.attempt_to_delete(dep)
            existing = existing.clone()
            existing.identity = identity
            self.uid_to_node[identity.uid] = existing
        existing.virtual = False
        return existing

    def _update(self, existing: Node, identity: ObjectReference, meta: Mapping, old_meta: Mapping | None,
                virtual: bool) -> None:
        if not virtual and (existing.identity.api_version, existing.identity.kind) != (identity.api_version, identity.kind):
            replaced = existing
            existing = existing.clone()
            existing.identity = ObjectReference(
                identity.api_version, identity.kind, replaced.identity.name, replaced.identity.uid,
                replaced.identity.namespace,
            )
            self.uid_to_node[identity.uid] = existing
            for ref in existing.owners:
                owner = self.uid_to_node.get(ref.get("uid") or "")
                if owner is not None and replaced in owner.dependents:
                    owner.dependents.discard(replaced)
                    owner.dependents.add(existing)
        new_refs = list(meta.get("ownerReferences") or ())
        if new_refs != existing.owners:
            added, removed, changed = _reference_diffs(existing.owners, new_refs)
            if added or removed or changed:
                self._add_unblocked_owners_to_delete_queue(removed, changed)
                existing.owners = new_refs
                self._add_dependent_to_owners(existing, added)
                self._remove_dependent_from_owners(existing, removed)
        if _being_deleted(meta):
            existing.being_deleted = True
        self._process_transitions(old_meta, meta, existing)

    def _delete(self, existing: Node, identity: ObjectReference, virtual: bool) -> None:
        remove = True
        if virtual:
            if existing.virtual:
                matching, nonmatching = _partition_dependents(existing.dependents, identity)
                if nonmatching:
                    # Some dependents name this uid by other coordinates: only the ones
                    # matching the verified-absent identity are garbage for now.
                    remove = False
                    if matching:
                        self.absent_owner_cache.add(identity)
                        for dep in matching:
                            self.attempt_to_delete(dep)
                    if existing.identity == identity:
                        replacement = _alternate_owner_identity(nonmatching, identity)
                        if replacement is not None:
                            node = existing.clone()
                            node.identity = replacement
                            self.uid_to_node[identity.uid] = node
                            self.attempt_to_delete_later(node)
            elif existing.identity != identity:
                # A real node is not removed on the word of a virtual delete for other coordinates.
                remove = False
                matching, _ = _partition_dependents(existing.dependents, identity)
                if matching:
                    self.absent_owner_cache.add(identity)
                    for dep in matching:
                        self.attempt_to_delete(dep)
        if not remove:
            return
        self.uid_to_node.pop(existing.identity.uid, None)
        self._remove_dependent_from_owners(existing, existing.owners)
        if existing.dependents:
            self.absent_owner_cache.add(identity)
        for dep in existing.dependents:
            self.attempt_to_delete(dep)
        for ref in existing.owners:
            owner = self.uid_to_node.get(ref.get("uid") or "")
            if owner is not None and owner.deleting_dependents:
                # The owner may have been waiting for this dependent to go.
                self.attempt_to_delete(owner)

    # -- edges ---------------------------------------------------------------------------

    def _add_dependent_to_owners(self, node: Node, owners: Iterable[Obj]) -> None:
        suspicious = False
        for ref in owners:
            owner_uid = ref.get("uid") or ""
            owner = self.uid_to_node.get(owner_uid)
            if owner is None:
                owner = Node(reference_coordinates(ref, node.identity.namespace), virtual=True)
                self.uid_to_node[owner_uid] = owner
                owner.dependents.add(node)
                # Verified against the API server: absent owners become virtual deletes.
                self.attempt_to_delete(owner)
                continue
            owner.dependents.add(node)
            if suspicious:
                continue
            owner_namespace = owner.identity.namespace
            if owner_namespace and owner_namespace != node.identity.namespace:
                if not owner.virtual:
                    # A namespaced owner can only own objects of its own namespace.
                    self.invalid_namespace(node, ref)
                suspicious = True
            elif not _matches_coordinates(ref, owner.identity):
                suspicious = True
            elif not owner_namespace and owner.virtual and owner.identity.namespace != node.identity.namespace:
                suspicious = True
        if suspicious:
            self.attempt_to_delete(node)

    def _remove_dependent_from_owners(self, node: Node, owners: Iterable[Obj]) -> None:
        for ref in owners:
            owner = self.uid_to_node.get(ref.get("uid") or "")
            if owner is not None:
                owner.dependents.discard(node)

    def _add_unblocked_owners_to_delete_queue(self, removed: list[Obj], changed: list[tuple[Obj, Obj]]) -> None:
        """An owner waiting in foreground deletion may have lost its last blocking dependent."""
        for ref in removed:
            if _blocks(ref):
                owner = self.uid_to_node.get(ref.get("uid") or "")
                if owner is not None:
                    self.attempt_to_delete(owner)
        for old, new in changed:
            if _blocks(old) and not _blocks(new):
                owner = self.uid_to_node.get(new.get("uid") or "")
                if owner is not None:
                    self.attempt_to_delete(owner)

    def _process_transitions(self, old_meta: Mapping | None, meta: Mapping, node: Node) -> None:
        if _deletion_starts_with(old_meta, meta, FINALIZER_ORPHAN):
            self.attempt_to_orphan(node)
            return
        if _deletion_starts_with(old_meta, meta, FINALIZER_FOREGROUND):
            node.deleting_dependents = True
            for dep in node.dependents:
                self.attempt_to_delete(dep)
            self.attempt_to_delete(node)


def _reference_diffs(old: list[Obj], new: list[Obj]) -> tuple[list[Obj], list[Obj], list[tuple[Obj, Obj]]]:
    old_by_uid = {ref.get("uid"): ref for ref in old}
    added: list[Obj] = []
    changed: list[tuple[Obj, Obj]] = []
    for ref in new:
        previous = old_by_uid.pop(ref.get("uid"), None)
        if previous is None:
            added.append(ref)
        elif previous != ref:
            changed.append((previous, ref))
    return added, list(old_by_uid.values()), changed
