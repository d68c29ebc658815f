"""Encoding an object once, with a hole where the store writes its revision."""

from __future__ import annotations

from typing import Any

import orjson

# Keys that go before resourceVersion in metadata, as upstream orders them.
_HEAD_KEYS = ("name", "generateName", "namespace", "uid")
_RV_OPEN = b'"resourceVersion":"'


def encode_template(obj: dict[str, Any]) -> tuple[bytes, int]:
    """Encode ``obj`` with an empty ``metadata.resourceVersion`` and return the offset of
    the value's closing quote, where the store inserts the revision on commit.

    The offset is computed while encoding, never searched for, so user data that happens
    to contain ``"resourceVersion":""`` cannot confuse it."""
    meta = obj.get("metadata") or {}
    head = {k: meta[k] for k in _HEAD_KEYS if k in meta}
    rest_meta = {k: v for k, v in meta.items() if k not in head and k != "resourceVersion"}
    rest_top = {k: v for k, v in obj.items() if k not in ("kind", "apiVersion", "metadata")}
    out = bytearray(b"{")
    for key in ("kind", "apiVersion"):
        if key in obj:
            out += b'"' + key.encode() + b'":' + orjson.dumps(obj[key]) + b","
    out += b'"metadata":{'
    encoded = orjson.dumps(head)
    if len(encoded) > 2:
        out += encoded[1:-1] + b","
    out += _RV_OPEN
    offset = len(out)
    out += b'"'
    encoded = orjson.dumps(rest_meta)
    if len(encoded) > 2:
        out += b"," + encoded[1:-1]
    out += b"}"
    encoded = orjson.dumps(rest_top)
    if len(encoded) > 2:
        out += b"," + encoded[1:-1]
    out += b"}"
    return bytes(out), offset
