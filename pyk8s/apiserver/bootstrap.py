"""The objects a cluster has from the start, as kube-apiserver's bootstrap controllers and
the serviceaccounts controller create them: the four initial namespaces (each with its
``default`` ServiceAccount), the system PriorityClasses, and the ``kubernetes`` service in
``default`` on the first address of the service range.  Existing objects are left alone,
so a server started over a kept store changes nothing."""

from __future__ import annotations

from pyk8s.api.kinds import NAMESPACES, PRIORITY_CLASSES, SERVICES
from pyk8s.api.kinds.cluster import SYSTEM_PRIORITY_CLASSES
from pyk8s.apiserver.admission import INITIAL_NAMESPACES
from pyk8s.apiserver.handlers import ResourceHandlers

__all__ = ["bootstrap"]

# kube-apiserver's secure port, the target of the kubernetes service.
_APISERVER_PORT = 6443


def _new(resource, **fields) -> dict:
    return {"kind": resource.kind, "apiVersion": resource.api_version, **fields}


def bootstrap(handlers: ResourceHandlers) -> None:
    store = handlers.store
    for name in INITIAL_NAMESPACES:
        if store.get("namespaces", "", name) is None:
            handlers._create_object(NAMESPACES, "", _new(NAMESPACES, metadata={"name": name}), False, False)
        else:
            handlers.ensure_default_service_account(name)
    for name, value, description in SYSTEM_PRIORITY_CLASSES:
        if store.get("priorityclasses", "", name) is None:
            pc = _new(PRIORITY_CLASSES, metadata={"name": name}, value=value, description=description)
            handlers._create_object(PRIORITY_CLASSES, "", pc, False, False)
    if store.get("services", "default", "kubernetes") is None:
        service = _new(
            SERVICES,
            metadata={"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
            spec={
                "type": "ClusterIP",
                "clusterIP": handlers.admission.cluster_ips.nth(0),
                "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": _APISERVER_PORT}],
                "sessionAffinity": "None",
            },
        )
        handlers._create_object(SERVICES, "default", service, False, False)
