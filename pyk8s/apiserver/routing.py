"""URL paths to (resource, namespace, name, subresource), as kube-apiserver lays them out:

    /api/v1/{plural}[/{name}[/{subresource}]]                       core, cluster-scoped or all namespaces
    /api/v1/namespaces/{namespace}/{plural}[/{name}[/{subresource}]] core, namespaced
    /apis/{group}/{version}/...                                      the same for named groups
    /api/v1/watch/...                                                legacy watch paths (watch=true)

``/api/v1/namespaces/x/y`` is a namespaced collection when ``y`` is a namespaced resource,
else subresource ``y`` (``status``, ``finalize``) of namespace ``x``; kube-apiserver resolves
it the same way.  A subresource the kind does not serve is no route (404).
"""

from __future__ import annotations

from typing import NamedTuple

from pyk8s.api.registry import Registry, ResourceDef

__all__ = ["Route", "route"]


class Route(NamedTuple):
    resource: ResourceDef
    namespace: str  # "" for cluster-scoped kinds and for lists across all namespaces
    name: str  # "" for the collection
    subresource: str
    legacy_watch: bool  # reached through /api/v1/watch/...


def route(registry: Registry, path: str) -> Route | None:
    """The route for ``path``, or None for a path this server does not serve (404)."""
    parts = path.split("/")
    # parts[0] is "" (path starts with "/"); tolerate one trailing slash as upstream does.
    if parts[-1] == "" and len(parts) > 2:
        parts.pop()
    if len(parts) < 4:
        return None
    if parts[1] == "api":
        group, version, rest = "", parts[2], parts[3:]
    elif parts[1] == "apis" and len(parts) >= 5:
        group, version, rest = parts[2], parts[3], parts[4:]
    else:
        return None
    legacy_watch = False
    if rest[0] == "watch":
        legacy_watch = True
        rest = rest[1:]
        if not rest:
            return None
    if "" in rest:
        return None
    if rest[0] == "namespaces" and len(rest) >= 3:
        resource = registry.lookup(group, version, rest[2])
        if resource is not None and resource.namespaced:
            if len(rest) > 5:
                return None
            name = rest[3] if len(rest) > 3 else ""
            sub = rest[4] if len(rest) > 4 else ""
            if sub and not resource.has_subresource(sub):
                return None
            return Route(resource, rest[1], name, sub, legacy_watch)
    resource = registry.lookup(group, version, rest[0])
    if resource is None or len(rest) > 3:
        return None
    if resource.namespaced and len(rest) > 1:
        return None  # a namespaced object needs its namespace in the path
    name = rest[1] if len(rest) > 1 else ""
    sub = rest[2] if len(rest) > 2 else ""
    if sub and not resource.has_subresource(sub):
        return None  # e.g. /api/v1/namespaces/x/foos: neither a namespaced kind nor a subresource
    return Route(resource, "", name, sub, legacy_watch)
