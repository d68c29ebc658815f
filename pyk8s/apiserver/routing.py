"""URL paths to (resource, namespace, name, subresource), as kube-apiserver lays them out:

    /api/v1/{plural}[/{name}[/{subresource}]]                       core, cluster-scoped or all namespaces
    /api/v1/namespaces/{namespace}/{plural}[/{name}[/{subresource}]] core, namespaced
    /apis/{group}/{version}/...                                      the same for named groups
    /api/v1/watch/...                                                legacy watch paths (watch=true)

``/api/v1/namespaces/x/y`` is a namespaced collection when ``y`` is a namespaced resource,
else subresource ``y`` (``status``, ``finalize``) of namespace ``x``; kube-apiserver resolves
it the same way.  A subresource the kind does not serve is no route (404).

The streaming subresources of a running container (``pods/exec``, ``pods/attach``,
``pods/portforward``) and the HTTP proxies (``pods/proxy``, ``services/proxy``) are not served:
the process runtime has no container to enter and no pod network to forward into.  They stay
404 (absent from discovery too), but ``unserved_path_message`` says why and what to do
instead, so ``kubectl exec``/``attach``/``port-forward``/``cp`` print that rather than "the
server could not find the requested resource".  So does a path under ``apiextensions.k8s.io``:
kubectl lists CustomResourceDefinitions to validate a manifest of a kind it does not find
(``kubectl apply`` of a CronJob), and prints what the server says.
"""

from __future__ import annotations

from typing import NamedTuple

from pyk8s.api.registry import Registry, ResourceDef

__all__ = ["Route", "route", "unserved_path_message"]

_UNSERVED_STREAMS = {
    ("pods", "exec"): "containers are local processes on the node: run the command on the node itself "
    "(the container's process has the pod's environment; kubectl logs shows its output)",
    ("pods", "attach"): "containers are local processes on the node: read their output with kubectl logs -f",
    ("pods", "portforward"): "containers share the node's network: connect to the node's InternalIP at the "
    "host port given to the container port (the pod's PortsAssigned event; PORT / PYK8S_PORT_* in its environment)",
    ("pods", "proxy"): "containers share the node's network: connect to the node's InternalIP at the host port "
    "given to the container port (the pod's PortsAssigned event)",
    ("services", "proxy"): "there is no service network (no kube-proxy): connect to an address of the "
    "Service's Endpoints instead",
}


class Route(NamedTuple):
    resource: ResourceDef
    namespace: str  # "" for cluster-scoped kinds and for lists across all namespaces
    name: str  # "" for the collection
    subresource: str
    legacy_watch: bool  # reached through /api/v1/watch/...


# Route(...) goes through the NamedTuple's Python-level __new__; tuple.__new__ builds the
# same tuple without that frame (a route is made on every request whose path is new).
_new_tuple = tuple.__new__


_CORE_NAMESPACED = "/api/v1/namespaces/"
_CORE_NAMESPACED_LENGTH = len(_CORE_NAMESPACED)


def route(registry: Registry, path: str) -> Route | None:
    """The route for ``path``, or None for a path this server does not serve (404)."""
    if path.startswith(_CORE_NAMESPACED):
        # Most requests name a core kind in a namespace: resolved here from the segments
        # after the prefix, with the same answer as the general walk below, which takes
        # everything else (empty segments, a trailing slash, other kinds and depths).
        rest = path[_CORE_NAMESPACED_LENGTH:].split("/")
        size = len(rest)
        if 2 <= size <= 4 and "" not in rest:
            resource = registry.lookup("", "v1", rest[1])
            if resource is not None and resource.namespaced:
                if size == 2:
                    return _new_tuple(Route, (resource, rest[0], "", "", False))
                if size == 3:
                    return _new_tuple(Route, (resource, rest[0], rest[2], "", False))
                if not resource.has_subresource(rest[3]):
                    return None
                return _new_tuple(Route, (resource, rest[0], rest[2], rest[3], False))
    parts = path.split("/")
    # parts[0] is "" (path starts with "/"); tolerate one trailing slash as upstream does.
    if parts[-1] == "" and len(parts) > 2:
        parts.pop()
    count = len(parts)
    if count < 4:
        return None
    if parts[1] == "api":
        group, version, start = "", parts[2], 3
    elif parts[1] == "apis" and count >= 5:
        group, version, start = parts[2], parts[3], 4
    else:
        return None
    legacy_watch = False
    if parts[start] == "watch":
        legacy_watch = True
        start += 1
        if start == count:
            return None
    rest = parts[start:]
    if "" in rest:
        return None
    size = count - start
    if size >= 3 and rest[0] == "namespaces":
        resource = registry.lookup(group, version, rest[2])
        if resource is not None and resource.namespaced:
            if size > 5:
                return None
            name = rest[3] if size > 3 else ""
            sub = rest[4] if size > 4 else ""
            if sub and not resource.has_subresource(sub):
                return None
            return _new_tuple(Route, (resource, rest[1], name, sub, legacy_watch))
    resource = registry.lookup(group, version, rest[0])
    if resource is None or size > 3:
        return None
    if resource.namespaced and size > 1:
        return None  # a namespaced object needs its namespace in the path
    name = rest[1] if size > 1 else ""
    sub = rest[2] if size > 2 else ""
    if sub and not resource.has_subresource(sub):
        return None  # e.g. /api/v1/namespaces/x/foos: neither a namespaced kind nor a subresource
    return _new_tuple(Route, (resource, "", name, sub, legacy_watch))


def unserved_path_message(path: str) -> str | None:
    """Why ``path`` (``/api/v1/namespaces/{ns}/pods/{name}/exec``, ``.../portforward``,
    ``.../{name[:port]}/proxy[/...]``, ``/apis/apiextensions.k8s.io/...``) is not served, or
    None for any other path."""
    parts = path.split("/")
    if parts[1:3] == ["apis", "apiextensions.k8s.io"]:
        return ("CustomResourceDefinitions (apiextensions.k8s.io) are not supported by pyk8s: it serves only "
                "the built-in kinds that kubectl api-resources lists")
    if len(parts) < 8 or parts[1:3] != ["api", "v1"] or parts[3] != "namespaces" or not parts[6]:
        return None
    plural, subresource = parts[5], parts[7]
    reason = _UNSERVED_STREAMS.get((plural, subresource))
    if reason is None:
        return None
    return f"{plural}/{subresource} is not supported by pyk8s: {reason}"
