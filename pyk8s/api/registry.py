"""The resource registry: what the API server serves, and the per-kind hooks it calls.

The server is generic over ``ResourceDef``s, as kube-apiserver's generic registry is over
its REST strategies: routing, list/watch, CRUD and errors never name a kind.  A kind
contributes only what differs (upstream's strategy methods):

* ``shape``                 JSON types of the fields the hooks touch (400 on mismatch)
* ``default(obj)``          fill defaults in place (upstream SetDefaults_* + PrepareForCreate)
* ``validate(obj)``         field errors for a create (422)
* ``validate_update(new, old)`` field errors for an update, e.g. immutable fields
* ``fields(obj)``           the selectable fields the store indexes, {"spec.nodeName": ...}

Issue 3 adds more resources and subresources by registering more definitions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from pyk8s.api.errors import Cause

__all__ = ["ResourceDef", "Registry"]

Obj = dict[str, Any]


def _no_default(obj: Obj) -> None:
    return None


def _no_causes(*objs: Obj) -> list[Cause]:
    return []


def _no_fields(obj: Obj) -> dict[str, str]:
    return {}


@dataclass(frozen=True)
class ResourceDef:
    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    shape: dict[str, Any] = field(default_factory=dict)
    default: Callable[[Obj], None] = _no_default
    validate: Callable[[Obj], list[Cause]] = _no_causes
    validate_update: Callable[[Obj, Obj], list[Cause]] = _no_causes
    fields: Callable[[Obj], dict[str, str]] = _no_fields
    # Field selector keys beyond metadata.name/metadata.namespace (which every kind has).
    selectable_fields: frozenset[str] = frozenset()
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()  # e.g. ("all",) for `kubectl get all`
    # Subresource name -> kind served there (e.g. {"status": "Pod", "scale": "Scale"}),
    # as discovery lists them.
    subresources: tuple[tuple[str, str], ...] = ()
    # kube-apiserver answers DELETE of some kinds (pods) with the object, others with a Status.
    return_deleted_object: bool = False
    verbs: tuple[str, ...] = ("create", "delete", "get", "list", "patch", "update", "watch")

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def group_version(self) -> tuple[str, str]:
        return (self.group, self.version)

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
