"""Every kind the API server serves, one module per area, and the default registry."""

from __future__ import annotations

from pyk8s.api.kinds.cluster import LEASES, NAMESPACES, NODES, PRIORITY_CLASSES
from pyk8s.api.kinds.config import CONFIG_MAPS, ENDPOINTS, EVENTS, SECRETS, SERVICE_ACCOUNTS
from pyk8s.api.kinds.discovery import ENDPOINT_SLICES
from pyk8s.api.kinds.pods import BINDINGS, PODS
from pyk8s.api.kinds.services import SERVICES
from pyk8s.api.kinds.workloads import DEPLOYMENTS, JOBS, REPLICA_SETS
from pyk8s.api.registry import Registry, ResourceDef

__all__ = [
    "PODS", "BINDINGS", "NODES", "NAMESPACES", "EVENTS", "CONFIG_MAPS", "SECRETS", "SERVICES", "ENDPOINTS",
    "SERVICE_ACCOUNTS", "DEPLOYMENTS", "REPLICA_SETS", "JOBS", "LEASES", "PRIORITY_CLASSES",
    "ENDPOINT_SLICES", "all_resources", "default_registry",
]


def all_resources() -> tuple[ResourceDef, ...]:
    return (
        PODS, NODES, NAMESPACES, EVENTS, CONFIG_MAPS, SECRETS, SERVICES, ENDPOINTS, SERVICE_ACCOUNTS,
        DEPLOYMENTS, REPLICA_SETS, JOBS, LEASES, PRIORITY_CLASSES, BINDINGS,
        ENDPOINT_SLICES,
    )


def default_registry() -> Registry:
    return Registry(all_resources())
