"""Builders for API-level unit tests."""

from __future__ import annotations

import copy
from typing import Any

import orjson


def pod(name: str = "nginx", namespace: str | None = None, labels: dict | None = None, **spec: Any) -> dict:
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}]},
    }
    if namespace is not None:
        obj["metadata"]["namespace"] = namespace
    if labels:
        obj["metadata"]["labels"] = labels
    obj["spec"].update(spec)
    return obj


def node(name: str = "n1", labels: dict | None = None, **spec: Any) -> dict:
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "spec": dict(spec)}
    if labels:
        obj["metadata"]["labels"] = labels
    return obj


def body(obj: Any) -> bytes:
    return orjson.dumps(obj)


def with_changes(obj: dict, path: str, value: Any) -> dict:
    """A deep copy of ``obj`` with ``path`` ("spec.containers.0.name") set to ``value``."""
    out = copy.deepcopy(obj)
    parts = path.split(".")
    target = out
    for part in parts[:-1]:
        target = target[int(part)] if isinstance(target, list) else target.setdefault(part, {})
    last = parts[-1]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return out
