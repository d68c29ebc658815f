"""Encoding an object once, with a hole where the store writes its revision."""

from __future__ import annotations

from typing import Any

import orjson

_dumps = orjson.dumps
# Keys that go before resourceVersion in metadata, as upstream orders them.
_HEAD_KEYS = ("name", "generateName", "namespace", "uid")


def encode_template(obj: dict[str, Any]) -> tuple[bytes, int]:
    """Encode ``obj`` with an empty ``metadata.resourceVersion`` and return the offset of
    the value's closing quote, where the store inserts the revision on commit.

    The offset is computed while encoding, never searched for, so user data that happens
    to contain ``"resourceVersion":""`` cannot confuse it."""
    meta = obj.get("metadata") or {}
    # The object is encoded with kind, apiVersion and metadata first, and metadata's head
    # keys then an empty resourceVersion first.  The offset is the length of that prefix,
    # encoded on its own from the same values, so it is exact whatever the rest holds.
    # ``in_order`` follows whether the object's own key order is that order already, as
    # it is for an object decoded from the store (every update starts from one).
    in_order = True
    meta_keys = iter(meta)
    ordered_meta = {}
    for key in _HEAD_KEYS:
        if key in meta:
            ordered_meta[key] = meta[key]
            if in_order and next(meta_keys) != key:
                in_order = False
    ordered_meta["resourceVersion"] = ""
    # A metadata that is absent or empty is not ``meta`` (and has no resourceVersion).
    if in_order and (next(meta_keys, None) != "resourceVersion" or meta["resourceVersion"] != ""):
        in_order = False
    top_keys = iter(obj)
    ordered = {}
    if "kind" in obj:
        ordered["kind"] = obj["kind"]
        if in_order and next(top_keys) != "kind":
            in_order = False
    if "apiVersion" in obj:
        ordered["apiVersion"] = obj["apiVersion"]
        if in_order and next(top_keys) != "apiVersion":
            in_order = False
    ordered["metadata"] = ordered_meta
    offset = len(_dumps(ordered)) - 3  # the prefix ends with ``"resourceVersion":""}}``
    if in_order and next(top_keys, None) == "metadata":
        return _dumps(obj), offset  # the same bytes as the ordered copy below
    # One ordered copy of the top level and of metadata, encoded whole.  dict.update keeps
    # the position of a key already placed (overwriting its value with the same one), so
    # only the two values that differ from the object's are put back.
    ordered_meta.update(meta)
    ordered_meta["resourceVersion"] = ""
    ordered.update(obj)
    ordered["metadata"] = ordered_meta
    return _dumps(ordered), offset
