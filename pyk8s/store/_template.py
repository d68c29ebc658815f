"""Encoding an object once, with a hole where the store writes its revision."""

from __future__ import annotations

from typing import Any

import orjson

# Keys that go before resourceVersion in metadata, as upstream orders them.
_HEAD_KEYS = ("name", "generateName", "namespace", "uid")


def encode_template(obj: dict[str, Any]) -> tuple[bytes, int]:
    """Encode ``obj`` with an empty ``metadata.resourceVersion`` and return the offset of
    the value's closing quote, where the store inserts the revision on commit.

    The offset is computed while encoding, never searched for, so user data that happens
    to contain ``"resourceVersion":""`` cannot confuse it."""
    meta = obj.get("metadata") or {}
    # One ordered copy of the top level and of metadata, encoded whole: a single orjson
    # call for the object.  The offset is the length of the encoded prefix that ends with
    # the empty resourceVersion (kind, apiVersion, metadata's head keys), encoded first
    # from the same values, so it is exact whatever the rest of the object holds.
    ordered_meta = {key: meta[key] for key in _HEAD_KEYS if key in meta}
    ordered_meta["resourceVersion"] = ""
    ordered = {key: obj[key] for key in ("kind", "apiVersion") if key in obj}
    ordered["metadata"] = ordered_meta
    offset = len(orjson.dumps(ordered)) - 3  # the prefix ends with ``"resourceVersion":""}}``
    for key, value in meta.items():
        if key not in ordered_meta:
            ordered_meta[key] = value
    for key, value in obj.items():
        if key not in ordered:
            ordered[key] = value
    return orjson.dumps(ordered), offset
