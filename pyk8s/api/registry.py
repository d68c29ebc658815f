"""The resource registry: what the API server serves, and the per-kind hooks it calls.

The server is generic over ``ResourceDef``s, as kube-apiserver's generic registry is over
its REST strategies: routing, list/watch, CRUD and errors never name a kind.  A kind
contributes only what differs (upstream's strategy methods):

* ``default(obj)``          fill defaults in place (upstream SetDefaults_* + PrepareForCreate)
* ``validate(obj)``         field errors for a create (422)
* ``validate_update(new, old)`` field errors for an update, e.g. immutable fields
* ``fields(obj)``           the selectable fields the store indexes, {"spec.nodeName": ...}
* ``prepare_create(obj)``   upstream PrepareForCreate: reset what a client may not set (status)
* ``prepare_update(new, old)`` PrepareForUpdate of the main resource; the generic handler
                            already keeps ``status`` for kinds with a status subresource
* ``prepare_status_update(new, old)`` the status strategy's PrepareForUpdate
* ``deletion_grace(obj, requested)`` graceful deletion (pods): seconds the object stays
                            marked before it goes, or 0 to delete at once
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable

from pyk8s.api.errors import Cause

__all__ = ["ResourceDef", "Registry", "SUBRESOURCE_GROUP_VERSIONS", "SUBRESOURCE_VERBS", "ALL_VERBS", "keep_spec_for_status"]

Obj = dict[str, Any]


def _no_default(obj: Obj) -> None:
    return None


def _no_causes(*objs: Obj) -> list[Cause]:
    return []


def _no_fields(obj: Obj) -> dict[str, str]:
    return {}


def _no_prepare(new: Obj, old: Obj) -> None:
    return None


def keep_spec_for_status(new: Obj, old: Obj) -> None:
    """The usual status strategy: ``/status`` writes status (and metadata such as labels),
    never the spec; owner references stay as they were (upstream podStatusStrategy)."""
    for key, value in old.items():
        if key not in ("status", "metadata", "kind", "apiVersion"):
            new[key] = value
    for key in list(new):
        if key not in old and key not in ("status", "metadata", "kind", "apiVersion"):
            del new[key]
    meta, old_meta = new["metadata"], old.get("metadata") or {}
    if "ownerReferences" in old_meta:
        meta["ownerReferences"] = old_meta["ownerReferences"]
    else:
        meta.pop("ownerReferences", None)


# Where a subresource serves a kind of another group (discovery lists it with that group).
SUBRESOURCE_GROUP_VERSIONS = {"Scale": ("autoscaling", "v1"), "Eviction": ("policy", "v1")}
# Verbs of each subresource, as upstream discovery lists them.
SUBRESOURCE_VERBS = {
    "status": ("get", "patch", "update"),
    "scale": ("get", "patch", "update"),
    "binding": ("create",),
    "eviction": ("create",),
    "finalize": ("update",),
    "log": ("get",),
}
ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceDef:
    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    default: Callable[[Obj], None] = _no_default
    validate: Callable[[Obj], list[Cause]] = _no_causes
    validate_update: Callable[[Obj, Obj], list[Cause]] = _no_causes
    fields: Callable[[Obj], dict[str, str]] = _no_fields
    # Field selector keys beyond metadata.name/metadata.namespace (which every kind has).
    selectable_fields: frozenset[str] = frozenset()
    # Of the fields ``fields`` gives, those the store indexes (None: all of them).  A
    # selector on another one is answered by a scan, as upstream's watch cache, which
    # indexes only a pod's spec.nodeName, answers most: what is selected is the same,
    # and a write does not pay an index entry per field.
    indexed_fields: frozenset[str] | None = None
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()  # e.g. ("all",) for `kubectl get all`
    # Subresource name -> kind served there (e.g. {"status": "Pod", "scale": "Scale"}),
    # as discovery lists them.
    subresources: tuple[tuple[str, str], ...] = ()
    # kube-apiserver answers DELETE of some kinds (pods) with the object, others with a Status.
    return_deleted_object: bool = False
    # Whether OpenAPI names that object as DELETE's answer.  Upstream derives it from the
    # REST storage's type; the namespace storage wraps its store and so documents Status.
    documents_deleted_object: bool = True
    verbs: tuple[str, ...] = ALL_VERBS
    prepare_create: Callable[[Obj], None] = _no_default
    prepare_update: Callable[[Obj, Obj], None] = _no_prepare
    prepare_status_update: Callable[[Obj, Obj], None] = keep_spec_for_status
    deletion_grace: Callable[[Obj, "int | None"], int] | None = None

    # Derived once per definition (it is immutable): every request asks for these.
    @functools.cached_property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @functools.cached_property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def group_version(self) -> tuple[str, str]:
        return (self.group, self.version)

    @functools.cached_property
    def has_status(self) -> bool:
        return "status" in self._subresource_names

    @functools.cached_property
    def _subresource_names(self) -> frozenset[str]:
        return frozenset(name for name, _kind in self.subresources)

    def has_subresource(self, name: str) -> bool:
        return name in self._subresource_names

    def supports_field(self, name: str) -> bool:
        return name in self.selectable_fields or name in ("metadata.name", "metadata.namespace")


class Registry:
    """Resources by (group, version, plural); the router looks them up per request."""

    def __init__(self, resources: list[ResourceDef] | tuple[ResourceDef, ...] = ()) -> None:
        self._by_path: dict[tuple[str, str, str], ResourceDef] = {}
        for resource in resources:
            self.register(resource)

    def register(self, resource: ResourceDef) -> None:
        key = (resource.group, resource.version, resource.plural)
        if key in self._by_path:
            raise ValueError(f"resource {resource.plural} already registered for {resource.api_version}")
        self._by_path[key] = resource

    def lookup(self, group: str, version: str, plural: str) -> ResourceDef | None:
        return self._by_path.get((group, version, plural))

    def __iter__(self):
        return iter(self._by_path.values())

    def __len__(self) -> int:
        return len(self._by_path)
