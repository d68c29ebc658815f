"""``/version`` and API discovery, built from the registry as kube-apiserver builds them.

Legacy discovery (what ``kubectl api-resources`` and the Python client's DynamicClient read):

    /api                      APIVersions        {"versions": ["v1"], "serverAddressByClientCIDRs": [...]}
    /apis                     APIGroupList       every named group with its preferredVersion
    /apis/{group}             APIGroup
    /api/v1, /apis/{g}/{v}    APIResourceList    resources, then "plural/sub" entries for subresources

Aggregated discovery (``Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList``,
kubectl's default since 1.30) answers ``/api`` (the core group) and ``/apis`` (the rest) with
every group, version and resource in one document, so a client needs no further round trips.

Everything is derived from the ``ResourceDef``s; the documents never change while the
server runs, so each is encoded once, on first use.
"""

from __future__ import annotations

import base64
import hashlib
import os
import platform
import re
import sys
import time
from typing import Any, Iterable

import orjson

from pyk8s.api.registry import SUBRESOURCE_GROUP_VERSIONS, SUBRESOURCE_VERBS, Registry, ResourceDef
from pyk8s.apiserver.negotiation import negotiate_discovery

__all__ = ["Discovery", "version_info", "KUBERNETES_VERSION", "aggregated_content_type"]

Headers = list[tuple[str, str]]
JSON_HEADERS: Headers = [("content-type", "application/json")]


def _kubernetes_version() -> str:
    """The Kubernetes release whose API is served: the one the schemas were generated from."""
    path = os.path.join(os.path.dirname(os.path.dirname(__file__)), "api", "_data", "definitions.json")
    with open(path, "rb") as file:
        head = file.read(200)  # {"kubernetesVersion":"1.37.0", ... comes first
    match = re.search(rb'"kubernetesVersion"\s*:\s*"(\d+)\.(\d+)\.(\d+)"', head)
    if match is None:
        raise RuntimeError("definitions.json does not start with its kubernetesVersion")
    return ".".join(part.decode() for part in match.groups())


KUBERNETES_VERSION = _kubernetes_version()

# kube-aggregator's default group priorities (higher first); other groups sort after these by
# name, as upstream orders APIServices of equal priority.
_GROUP_PRIORITY = {
    "": 18000,
    "apiregistration.k8s.io": 17800,
    "apps": 17800,
    "events.k8s.io": 17750,
    "authentication.k8s.io": 17700,
    "authorization.k8s.io": 17600,
    "autoscaling": 17500,
    "batch": 17400,
    "certificates.k8s.io": 17300,
    "networking.k8s.io": 17200,
    "policy": 17100,
    "rbac.authorization.k8s.io": 17000,
    "storage.k8s.io": 16800,
    "admissionregistration.k8s.io": 16700,
    "apiextensions.k8s.io": 16700,
    "scheduling.k8s.io": 16600,
    "coordination.k8s.io": 16500,
    "node.k8s.io": 16300,
    "discovery.k8s.io": 16200,
    "flowcontrol.apiserver.k8s.io": 16100,
}
_VERSION_RE = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")
_ARCHES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}


def version_sort_key(version: str) -> tuple:
    """Upstream's version priority: GA before beta before alpha, higher numbers first,
    anything else last by name (k8s.io/apimachinery version.CompareKubeAwareVersionStrings)."""
    match = _VERSION_RE.match(version)
    if match is None:
        return (3, 0, 0, version)
    major, stage, minor = match.groups()
    stage_rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (stage_rank, -int(major), -int(minor or 0), version)


def _group_sort_key(group: str) -> tuple[int, str]:
    return (-_GROUP_PRIORITY.get(group, 0), group)


def _build_date() -> str:
    # The time the native store was built: the nearest thing to upstream's build stamp.
    native = os.path.join(os.path.dirname(os.path.dirname(__file__)), "_native")
    stamps = [os.path.getmtime(os.path.join(native, name)) for name in os.listdir(native) if name.endswith(".so")]
    stamp = max(stamps) if stamps else time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))


def version_info() -> dict[str, str]:
    """``/version`` (k8s.io/apimachinery version.Info).  ``gitVersion`` is a semver with the
    served Kubernetes release, so clients' version-skew checks and feature gates see 1.37;
    the build fields say honestly what runs (Python, not Go)."""
    from pyk8s import __version__

    major, minor, _patch = KUBERNETES_VERSION.split(".")
    machine = platform.machine().lower()
    return {
        "major": major,
        "minor": minor,
        "emulationMajor": major,
        "emulationMinor": minor,
        "minCompatibilityMajor": major,
        "minCompatibilityMinor": str(max(int(minor) - 1, 0)),
        "gitVersion": f"v{KUBERNETES_VERSION}-pyk8s",
        "gitCommit": f"pyk8s-{__version__}",
        "gitTreeState": "clean",
        "buildDate": _build_date(),
        "goVersion": f"python{platform.python_version()}",
        "compiler": platform.python_implementation().lower(),
        "platform": f"{sys.platform}/{_ARCHES.get(machine, machine)}",
    }


def storage_version_hash(group: str, version: str, kind: str) -> str:
    """Upstream's discovery ``storageVersionHash``: base64 of the first 8 bytes of
    sha256("group/version/Kind") (apiserver/pkg/endpoints/discovery StorageVersionHash)."""
    digest = hashlib.sha256(f"{group}/{version}/{kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()


def aggregated_content_type(version: str) -> str:
    return f"application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList"


class _Subresource:
    __slots__ = ("name", "group", "version", "kind", "verbs")

    def __init__(self, resource: ResourceDef, name: str, kind: str) -> None:
        self.name = name
        self.kind = kind
        self.group, self.version = SUBRESOURCE_GROUP_VERSIONS.get(kind, (resource.group, resource.version))
        # A subresource without an entry (pods/log) is read-only, as upstream's are.
        self.verbs = sorted(SUBRESOURCE_VERBS.get(name, ("get",)))


def _subresources(resource: ResourceDef) -> list[_Subresource]:
    return sorted((_Subresource(resource, name, kind) for name, kind in resource.subresources), key=lambda s: s.name)


def _legacy_resources(resources: Iterable[ResourceDef]) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for resource in resources:
        entry: dict[str, Any] = {
            "name": resource.plural,
            "singularName": resource.singular,
            "namespaced": resource.namespaced,
            "kind": resource.kind,
            "verbs": sorted(resource.verbs),
        }
        if resource.short_names:
            entry["shortNames"] = list(resource.short_names)
        if resource.categories:
            entry["categories"] = list(resource.categories)
        if "get" in resource.verbs:  # a create-only resource (bindings) stores nothing: no hash, as upstream
            entry["storageVersionHash"] = storage_version_hash(resource.group, resource.version, resource.kind)
        entries.append(entry)
        for sub in _subresources(resource):
            sub_entry: dict[str, Any] = {
                "name": f"{resource.plural}/{sub.name}", "singularName": "", "namespaced": resource.namespaced,
            }
            if (sub.group, sub.version) != (resource.group, resource.version):
                sub_entry["group"] = sub.group
                sub_entry["version"] = sub.version
            sub_entry["kind"] = sub.kind
            sub_entry["verbs"] = sub.verbs
            entries.append(sub_entry)
    entries.sort(key=lambda entry: entry["name"])
    return entries


def _aggregated_resource(resource: ResourceDef) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": resource.plural,
        "responseKind": {"group": resource.group, "version": resource.version, "kind": resource.kind},
        "scope": "Namespaced" if resource.namespaced else "Cluster",
        "singularResource": resource.singular,
        "verbs": sorted(resource.verbs),
    }
    if resource.short_names:
        entry["shortNames"] = list(resource.short_names)
    if resource.categories:
        entry["categories"] = list(resource.categories)
    subresources = [
        {
            "subresource": sub.name,
            "responseKind": {"group": sub.group, "version": sub.version, "kind": sub.kind},
            "verbs": sub.verbs,
        }
        for sub in _subresources(resource)
    ]
    if subresources:
        entry["subresources"] = subresources
    return entry


class Discovery:
    """Serves ``/version``, ``/api``, ``/apis`` and the per-group documents for one registry."""

    def __init__(self, registry: Registry, server_address: str = "") -> None:
        self.registry = registry
        self.server_address = server_address
        self._cache: dict[tuple, bytes] = {}
        self._cached_size = -1
        self._grouped: tuple[int, dict] | None = None

    # -- the registry, grouped -------------------------------------------------------------

    def _groups(self) -> dict[str, dict[str, list[ResourceDef]]]:
        """group -> version -> resources, groups and versions in upstream's priority order."""
        if self._grouped is not None and self._grouped[0] == len(self.registry):
            return self._grouped[1]
        groups: dict[str, dict[str, list[ResourceDef]]] = {}
        for resource in self.registry:
            groups.setdefault(resource.group, {}).setdefault(resource.version, []).append(resource)
        ordered = {
            group: {version: groups[group][version] for version in sorted(groups[group], key=version_sort_key)}
            for group in sorted(groups, key=_group_sort_key)
        }
        self._grouped = (len(self.registry), ordered)
        return ordered

    def _cached(self, key: tuple, build) -> bytes:
        # A registry only grows (tests may register after construction): rebuild when it did.
        if self._cached_size != len(self.registry):
            self._cache.clear()
            self._cached_size = len(self.registry)
        body = self._cache.get(key)
        if body is None:
            body = self._cache[key] = orjson.dumps(build())
        return body

    # -- documents ---------------------------------------------------------------------------

    def _api_versions(self) -> dict[str, Any]:
        versions = list(self._groups().get("", {}))
        return {
            "kind": "APIVersions",
            "versions": versions,
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": self.server_address}],
        }

    @staticmethod
    def _api_group(group: str, versions: dict[str, list[ResourceDef]]) -> dict[str, Any]:
        entries = [{"groupVersion": f"{group}/{version}", "version": version} for version in versions]
        return {"name": group, "versions": entries, "preferredVersion": entries[0]}

    def _api_group_list(self) -> dict[str, Any]:
        groups = [self._api_group(group, versions) for group, versions in self._groups().items() if group]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def _resource_list(self, group: str, version: str) -> dict[str, Any] | None:
        resources = self._groups().get(group, {}).get(version)
        if resources is None:
            return None
        document: dict[str, Any] = {"kind": "APIResourceList"}
        if group:  # kube-apiserver leaves apiVersion out of /api/v1's list only
            document["apiVersion"] = "v1"
        document["groupVersion"] = f"{group}/{version}" if group else version
        document["resources"] = _legacy_resources(resources)
        return document

    def _aggregated(self, core: bool, discovery_version: str) -> dict[str, Any]:
        items = []
        for group, versions in self._groups().items():
            if (group == "") != core:
                continue
            items.append({
                "metadata": {"name": group} if group else {},
                "versions": [
                    {
                        "version": version,
                        "resources": sorted((_aggregated_resource(r) for r in resources), key=lambda e: e["resource"]),
                        "freshness": "Current",
                    }
                    for version, resources in versions.items()
                ],
            })
        return {
            "kind": "APIGroupDiscoveryList",
            "apiVersion": f"apidiscovery.k8s.io/{discovery_version}",
            "metadata": {},
            "items": items,
        }

    # -- serving -----------------------------------------------------------------------------

    def serve(
        self, path: str, accept: str | None, if_none_match: str | None = None
    ) -> tuple[int, bytes, Headers] | None:
        """The answer for a discovery path, or None when ``path`` is not one (the caller
        then routes it as a resource path or answers 404).  Aggregated documents carry an
        ETag, and a request naming it gets 304, as upstream's aggregated handler does."""
        if path.endswith("/") and len(path) > 1:
            path = path[:-1]
        if path == "/version":
            return 200, self._cached(("version",), version_info), JSON_HEADERS
        parts = path.split("/")
        if len(parts) < 2 or parts[1] not in ("api", "apis"):
            return None
        core = parts[1] == "api"
        if len(parts) == 2:
            media = negotiate_discovery(accept)
            if media.convert == "APIGroupDiscoveryList":
                body = self._cached(("aggregated", core, media.version), lambda: self._aggregated(core, media.version))
                etag = f'"{hashlib.sha512(body).hexdigest().upper()}"'
                headers = [("content-type", aggregated_content_type(media.version)), ("vary", "Accept"), ("etag", etag)]
                if if_none_match is not None and if_none_match.strip() in (etag, "*"):
                    return 304, b"", headers
                return 200, body, headers
            build = self._api_versions if core else self._api_group_list
            return 200, self._cached(("root", core), build), JSON_HEADERS
        if core:
            if len(parts) != 3:
                return None
            group, version = "", parts[2]
        elif len(parts) == 3:
            versions = self._groups().get(parts[2]) if parts[2] else None
            if not versions:
                return None
            group = parts[2]
            document = self._cached(
                ("group", group), lambda: {"kind": "APIGroup", "apiVersion": "v1", **self._api_group(group, versions)}
            )
            return 200, document, JSON_HEADERS
        elif len(parts) == 4:
            group, version = parts[2], parts[3]
        else:
            return None
        if self._groups().get(group, {}).get(version) is None:
            return None
        return 200, self._cached(("resources", group, version), lambda: self._resource_list(group, version)), JSON_HEADERS

    def root_paths(self, extra: Iterable[str]) -> bytes:
        """``GET /``: the paths this server serves (upstream's RootPaths)."""
        paths = {"/api", "/apis", "/version", *extra}
        for group, versions in self._groups().items():
            for version in versions:
                if group:
                    paths.add(f"/apis/{group}")
                    paths.add(f"/apis/{group}/{version}")
                else:
                    paths.add(f"/api/{version}")
        return orjson.dumps({"paths": sorted(paths)})
