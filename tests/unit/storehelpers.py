"""Small builders shared by the store tests."""

from __future__ import annotations

import orjson

from pyk8s.store import encode_template


def pod(name: str, namespace: str = "default", labels: dict | None = None, node: str = "", phase: str = "Pending",
        payload: str = "") -> dict:
    meta: dict = {"name": name, "namespace": namespace}
    if labels:
        meta["labels"] = labels
    spec: dict = {"containers": [{"name": "c", "image": "nginx"}]}
    if node:
        spec["nodeName"] = node
    if payload:
        spec["payload"] = payload
    return {"kind": "Pod", "apiVersion": "v1", "metadata": meta, "spec": spec, "status": {"phase": phase}}


def fields_of(obj: dict) -> dict[str, str]:
    return {
        "spec.nodeName": obj["spec"].get("nodeName", ""),
        "status.phase": obj["status"].get("phase", ""),
    }


def put(store, obj: dict, *, update: bool = False, expected: int = 0, resource: str = "pods"):
    data, off = encode_template(obj)
    meta = obj["metadata"]
    args = (resource, meta.get("namespace", ""), meta["name"], data, off, meta.get("labels") or {}, fields_of(obj))
    if update:
        return store.update(*args, expected_revision=expected)
    return store.create(*args)


def decode(data: bytes) -> dict:
    return orjson.loads(data)


def names(result) -> list[str]:
    return [decode(b)["metadata"]["name"] for b in result.items()]
