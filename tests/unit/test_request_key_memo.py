"""The request metric labels ``APIServer.handle`` memoizes per (method, path): always what
``_request_key`` makes from the request's route, and forgotten with the route memo."""

from __future__ import annotations

import orjson

from pyk8s.api.kinds import CONFIG_MAPS, default_registry
from pyk8s.api.registry import Registry
from pyk8s.apiserver.app import APIServer
from pyk8s.apiserver.routing import route

REQUESTS = [
    ("GET", "/api/v1/namespaces/default/pods"),
    ("GET", "/api/v1/pods"),
    ("GET", "/api/v1/namespaces/default/pods/p"),
    ("POST", "/api/v1/namespaces/default/pods"),
    ("POST", "/api/v1/namespaces/default/pods/p/binding"),
    ("DELETE", "/api/v1/namespaces/default/pods"),
    ("DELETE", "/api/v1/namespaces/default/pods/p"),
    ("PUT", "/api/v1/namespaces/default/pods/p/status"),
    ("POST", "/api/v1/namespaces/default/events"),
    ("GET", "/apis/apps/v1/namespaces/default/deployments"),
    ("GET", "/version"),
    ("GET", "/api"),
    ("GET", "/healthz"),
]


def test_memoized_keys_are_the_route_keys():
    server = APIServer(storage="reference", compaction_interval=0)
    for _ in range(2):
        for method, path in REQUESTS:
            server.handle(method, path, "", "application/json", b"{}")
    for (method, path), key in server._request_keys.items():
        assert key == server._request_key(method, path, route(server.registry, path)), (method, path)
    assert len(server._request_keys) == len(REQUESTS)


def test_keys_are_forgotten_when_the_registry_changes():
    registry = Registry([resource for resource in default_registry() if resource is not CONFIG_MAPS])
    server = APIServer(storage="reference", registry=registry, compaction_interval=0)
    server.handle("GET", "/api/v1/namespaces/default/pods")
    assert ("GET", "/api/v1/namespaces/default/pods") in server._request_keys
    registry.register(CONFIG_MAPS)
    response = server.handle("GET", "/api/v1/namespaces/default/configmaps")
    assert response.status == 200
    assert list(server._request_keys) == [("GET", "/api/v1/namespaces/default/configmaps")]
    key = server._request_keys[("GET", "/api/v1/namespaces/default/configmaps")]
    assert key == ("LIST", "", "v1", "configmaps", "", "namespace")
    assert server.metrics.requests[(key, 200)] == 1
    body = orjson.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})
    assert server.handle("POST", "/api/v1/namespaces/default/configmaps", "", "application/json", body).status == 201
