"""Helpers for the issue-3 resource tests: a server per backend, calls, and objects."""

from __future__ import annotations

from typing import Any

import orjson


def call(app, method: str, path: str, obj: Any = None, query: str = "", content_type: str = "application/json"):
    data = obj if isinstance(obj, bytes) else (orjson.dumps(obj) if obj is not None else b"")
    response = app.handle(method, path, query, content_type, data)
    body = orjson.loads(response.body) if response.body[:1] == b"{" else response.body
    return response.status, body


def headers(app, method: str, path: str, obj: Any = None, query: str = "") -> dict[str, list[str]]:
    response = app.handle(method, path, query, "application/json", orjson.dumps(obj) if obj is not None else b"")
    out: dict[str, list[str]] = {}
    for name, value in response.headers:
        out.setdefault(name.lower(), []).append(value)
    return out


def ok(result, code: int = 200):
    status, body = result
    assert status == code, body
    return body


def failure(result, code: int, reason: str) -> dict:
    status, body = result
    assert status == code, body
    assert body["kind"] == "Status" and body["reason"] == reason, body
    return body


def names(listed: dict) -> list[str]:
    return [item["metadata"]["name"] for item in listed["items"]]


def pod(name: str = "p", **spec: Any) -> dict:
    obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]},
    }
    obj["spec"].update(spec)
    return obj


def deployment(name: str = "web", labels: dict | None = None, **spec: Any) -> dict:
    labels = labels or {"app": name}
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": dict(labels)},
            "template": {"metadata": {"labels": dict(labels)}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
        },
    }
    obj["spec"].update(spec)
    return obj


def service(name: str = "svc", **spec: Any) -> dict:
    obj = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": {"ports": [{"port": 80}]}}
    obj["spec"].update(spec)
    return obj
