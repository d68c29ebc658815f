"""pyk8s.client: an async Kubernetes client for pyk8s's components and for Python users.

* ``ApiClient``: REST verbs and streaming watches over any resource (``Resource`` or the
  constants such as ``PODS``), typed errors (``NotFound``, ``Conflict``, ``Expired``, ...).
* ``SharedInformerFactory`` / ``SharedInformer``: list+watch caches with indexes and event
  handlers, one per watched resource per process (``Reflector`` underneath).
* ``WorkQueue`` / ``RateLimitingQueue``: de-duplicating work queues with per-item back-off.
* ``LeaderElector``: leader election through a coordination.k8s.io/v1 Lease.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyk8s._lazy import lazy_exports

if TYPE_CHECKING:
    from pyk8s.client._cache import (
        NAMESPACE_INDEX, Indexer, IndexFunc, field_index, label_index, namespace_index, object_key, split_key,
    )
    from pyk8s.client._config import ClientConfig, ConfigError, load_kubeconfig
    from pyk8s.client._errors import (
        AlreadyExists, ApiError, BadRequest, Conflict, Expired, Forbidden, InternalError, Invalid,
        MethodNotAllowed, NotFound, RequestEntityTooLarge, ServerTimeout, ServiceUnavailable,
        TooManyRequests, TransportError, Unauthorized, UnsupportedMediaType, error_from_status,
    )
    from pyk8s.client._informer import EventHandler, SharedInformer, SharedInformerFactory
    from pyk8s.client._leaderelection import LeaderElector, format_micro_time, parse_micro_time
    from pyk8s.client._reflector import Backoff, Reflector
    from pyk8s.client._resources import (
        CONFIG_MAPS, DEPLOYMENTS, ENDPOINTS, ENDPOINT_SLICES, EVENTS, JOBS, LEASES, NAMESPACES, NODES, PODS,
        PRIORITY_CLASSES, REPLICA_SETS, SECRETS, SERVICE_ACCOUNTS, SERVICES,
    )
    from pyk8s.client._rest import ApiClient, PatchType, Resource, WatchStream
    from pyk8s.client._workqueue import (
        BucketRateLimiter, ItemExponentialFailureRateLimiter, MaxOfRateLimiter, RateLimiter,
        RateLimitingQueue, ShutDown, WorkQueue, default_controller_rate_limiter,
    )

# Loaded on first use (PEP 562): a process can read its connection settings and send its
# first requests (``_config``, ``_wire``, ``_prefetch``) before asyncio and the rest of the
# client are imported.
_LAZY = {
    **dict.fromkeys(("NAMESPACE_INDEX", "Indexer", "IndexFunc", "field_index", "label_index", "namespace_index",
                     "object_key", "split_key"), "pyk8s.client._cache"),
    **dict.fromkeys(("ClientConfig", "ConfigError", "load_kubeconfig"), "pyk8s.client._config"),
    **dict.fromkeys(("AlreadyExists", "ApiError", "BadRequest", "Conflict", "Expired", "Forbidden", "InternalError",
                     "Invalid", "MethodNotAllowed", "NotFound", "RequestEntityTooLarge", "ServerTimeout",
                     "ServiceUnavailable", "TooManyRequests", "TransportError", "Unauthorized",
                     "UnsupportedMediaType", "error_from_status"), "pyk8s.client._errors"),
    **dict.fromkeys(("EventHandler", "SharedInformer", "SharedInformerFactory"), "pyk8s.client._informer"),
    **dict.fromkeys(("LeaderElector", "format_micro_time", "parse_micro_time"), "pyk8s.client._leaderelection"),
    **dict.fromkeys(("Backoff", "Reflector"), "pyk8s.client._reflector"),
    **dict.fromkeys(("CONFIG_MAPS", "DEPLOYMENTS", "ENDPOINTS", "ENDPOINT_SLICES", "EVENTS", "JOBS", "LEASES",
                     "NAMESPACES", "NODES", "PODS", "PRIORITY_CLASSES", "REPLICA_SETS", "Resource", "SECRETS",
                     "SERVICE_ACCOUNTS", "SERVICES"), "pyk8s.client._resources"),
    **dict.fromkeys(("ApiClient", "PatchType", "WatchStream"), "pyk8s.client._rest"),
    **dict.fromkeys(("BucketRateLimiter", "ItemExponentialFailureRateLimiter", "MaxOfRateLimiter", "RateLimiter",
                     "RateLimitingQueue", "ShutDown", "WorkQueue", "default_controller_rate_limiter"),
                    "pyk8s.client._workqueue"),
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())


__all__ = [
    "AlreadyExists", "ApiClient", "ApiError", "Backoff", "BadRequest", "BucketRateLimiter",
    "CONFIG_MAPS", "ClientConfig", "ConfigError", "Conflict", "DEPLOYMENTS", "ENDPOINTS", "ENDPOINT_SLICES", "EVENTS",
    "EventHandler", "Expired", "Forbidden", "IndexFunc", "Indexer", "InternalError", "Invalid",
    "ItemExponentialFailureRateLimiter", "JOBS", "LEASES", "LeaderElector", "MaxOfRateLimiter",
    "MethodNotAllowed", "NAMESPACES", "NAMESPACE_INDEX", "NODES", "NotFound", "PODS",
    "PRIORITY_CLASSES", "PatchType", "REPLICA_SETS", "RateLimiter", "RateLimitingQueue",
    "Reflector", "RequestEntityTooLarge", "Resource", "SECRETS", "SERVICES", "SERVICE_ACCOUNTS",
    "ServerTimeout", "ServiceUnavailable", "SharedInformer", "SharedInformerFactory", "ShutDown",
    "TooManyRequests", "TransportError", "Unauthorized", "UnsupportedMediaType", "WatchStream",
    "WorkQueue", "default_controller_rate_limiter", "error_from_status", "field_index",
    "format_micro_time", "label_index", "load_kubeconfig", "namespace_index", "object_key",
    "parse_micro_time", "split_key",
]
