"""Addresses of the resources pyk8s serves, so callers write ``PODS`` rather than spelling
``Resource("", "v1", "pods")`` each time.  Any other resource works the same way."""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "Resource", "PODS", "NODES", "NAMESPACES", "SERVICES", "ENDPOINTS", "CONFIG_MAPS", "SECRETS",
    "SERVICE_ACCOUNTS", "EVENTS", "DEPLOYMENTS", "REPLICA_SETS", "JOBS", "LEASES", "PRIORITY_CLASSES",
    "ENDPOINT_SLICES",
]


class Resource(NamedTuple):
    """A resource type as the URL names it: ``Resource("apps", "v1", "deployments")``;
    the core group is ``""``."""

    group: str
    version: str
    plural: str

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        base = f"/api/{self.version}" if not self.group else f"/apis/{self.group}/{self.version}"
        if namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
            if subresource:
                base += f"/{subresource}"
        elif subresource:
            raise ValueError("a subresource needs a name")
        return base


PODS = Resource("", "v1", "pods")
NODES = Resource("", "v1", "nodes")
NAMESPACES = Resource("", "v1", "namespaces")
SERVICES = Resource("", "v1", "services")
ENDPOINTS = Resource("", "v1", "endpoints")
CONFIG_MAPS = Resource("", "v1", "configmaps")
SECRETS = Resource("", "v1", "secrets")
SERVICE_ACCOUNTS = Resource("", "v1", "serviceaccounts")
EVENTS = Resource("", "v1", "events")
DEPLOYMENTS = Resource("apps", "v1", "deployments")
REPLICA_SETS = Resource("apps", "v1", "replicasets")
JOBS = Resource("batch", "v1", "jobs")
LEASES = Resource("coordination.k8s.io", "v1", "leases")
PRIORITY_CLASSES = Resource("scheduling.k8s.io", "v1", "priorityclasses")
ENDPOINT_SLICES = Resource("discovery.k8s.io", "v1", "endpointslices")
