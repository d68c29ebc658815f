"""Request body media types and PATCH application.

Bodies of POST/PUT/DELETE are JSON, YAML (``application/yaml``, read as kube-apiserver's
sigs.k8s.io/yaml reads it: YAML 1.1 scalars, timestamps left as strings) or, for the
built-in kinds, protobuf (``pyk8s.api.protobuf``, what kubectl's typed generators send);
all reach the handlers as JSON.  A PATCH body is never protobuf: 415.

PATCH bodies are one of the three patch types kube-apiserver serves for built-in kinds:

* ``application/merge-patch+json``: RFC 7386 (``merge_patch``);
* ``application/json-patch+json``: RFC 6902, applied by the ``jsonpatch`` library;
* ``application/strategic-merge-patch+json``: ``pyk8s.api.strategic``.

Server-side apply (``application/apply-patch+yaml`` / ``+cbor``) gets a 415 saying so.
``parse_patch`` decodes and checks a body once (400 before the store is read);
``Patch.apply`` then runs once per compare-and-swap attempt on a fresh copy of the object.
"""

from __future__ import annotations

import math
from typing import Any

import jsonpatch
import orjson
import yaml

from pyk8s.api import errors
from pyk8s.api.errors import StatusError, bad_request
from pyk8s.api.protobuf import PROTOBUF_MEDIA_TYPE, decode_object
from pyk8s.api.strategic import schema_for, strategic_merge_patch, unprocessable_patch

__all__ = [
    "MERGE_PATCH",
    "JSON_PATCH",
    "STRATEGIC_MERGE_PATCH",
    "APPLY_PATCH_YAML",
    "APPLY_PATCH_CBOR",
    "PATCH_TYPES",
    "JSON_MEDIA_TYPE",
    "YAML_MEDIA_TYPE",
    "PROTOBUF_MEDIA_TYPE",
    "BODY_TYPES",
    "Patch",
    "apply_patch",
    "check_body_type",
    "check_patch_type",
    "decode_body",
    "json_body",
    "merge_patch",
    "parse_patch",
]

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH_YAML = "application/apply-patch+yaml"
APPLY_PATCH_CBOR = "application/apply-patch+cbor"
# In the order kube-apiserver lists them in its 415 message.
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH)

JSON_MEDIA_TYPE = "application/json"
YAML_MEDIA_TYPE = "application/yaml"
# In the order kube-apiserver lists them in its 415 message.
BODY_TYPES = (JSON_MEDIA_TYPE, YAML_MEDIA_TYPE, PROTOBUF_MEDIA_TYPE)

# Upstream's maxJSONPatchOperations.
MAX_JSON_PATCH_OPERATIONS = 10000
# An expanded YAML document may not have more nodes than this: anchors and aliases let a
# small body stand for an exponentially large one ("billion laughs"); go-yaml refuses
# "excessive aliasing" for the same reason.
MAX_YAML_NODES = 1_000_000

Obj = dict[str, Any]


# -- media types -------------------------------------------------------------------------------


def check_patch_type(media_type: str) -> str:
    """The patch type a PATCH's media type names; 415 for the rest, plain application/json
    included, as kube-apiserver answers.  A PATCH with no Content-Type at all is read as a
    merge patch (the one JSON reading of a bare JSON body)."""
    if media_type in PATCH_TYPES:
        return media_type
    if not media_type:
        return MERGE_PATCH
    if media_type in (APPLY_PATCH_YAML, APPLY_PATCH_CBOR):
        raise StatusError(
            415,
            "UnsupportedMediaType",
            f"server-side apply ({media_type}) is not supported by this server; use client-side apply "
            f"(kubectl apply without --server-side) or a patch of type " + ", ".join(PATCH_TYPES),
        )
    raise errors.unsupported_media_type(media_type, PATCH_TYPES)


def check_body_type(media_type: str) -> None:
    """415 unless a POST/PUT/DELETE body is JSON, YAML or protobuf (or says nothing,
    meaning JSON)."""
    if media_type and media_type not in BODY_TYPES:
        raise errors.unsupported_media_type(media_type, BODY_TYPES)


class _YAMLLoader(yaml.SafeLoader):
    """SafeLoader without the timestamp resolver: sigs.k8s.io/yaml keeps ``2024-01-01`` a
    string (JSON has no dates), and a Python date would not round-trip."""


_YAMLLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def decode_body(media_type: str, body: bytes) -> Any:
    """A JSON or YAML body as Python values; 400 if it does not parse."""
    if media_type == YAML_MEDIA_TYPE:
        return _decode_yaml(body)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"couldn't decode the request body as JSON: {exc}") from None


def json_body(media_type: str, body: bytes) -> bytes:
    """The body as JSON bytes, for handlers that decode JSON themselves: JSON passes
    through untouched, YAML is converted (after the same checks as ``decode_body``), and
    so is protobuf (400 for bytes that do not decode, 415 for a kind it has no schema for)."""
    if media_type == PROTOBUF_MEDIA_TYPE:
        return orjson.dumps(decode_object(body))
    if media_type != YAML_MEDIA_TYPE or not body.strip():
        return body
    value = _decode_yaml(body)
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError as exc:
        raise bad_request(f"error converting YAML to JSON: {exc}") from None


def _decode_yaml(body: bytes) -> Any:
    try:
        value = yaml.load(body, Loader=_YAMLLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise bad_request(f"error converting YAML to JSON: yaml: {exc}") from None
    _check_yaml_value(value)
    return value


def _check_yaml_value(value: Any) -> None:
    """Refuse what JSON cannot hold (NaN, infinities, binary) and alias bombs.  Shared
    subtrees (aliases) are counted once per use, as the JSON they expand to would be."""
    sizes: dict[int, int] = {}

    def size(node: Any) -> int:
        if isinstance(node, dict):
            children = [*node.keys(), *node.values()]
        elif isinstance(node, list):
            children = node
        else:
            if isinstance(node, float) and not math.isfinite(node):
                raise bad_request(f"error converting YAML to JSON: unsupported value: {node}")
            if isinstance(node, (bytes, set)):
                raise bad_request(f"error converting YAML to JSON: unsupported type: {type(node).__name__}")
            return 1
        known = sizes.get(id(node))
        if known == 0:  # met again while its own children are being counted
            raise bad_request("error converting YAML to JSON: yaml: anchor refers to itself")
        if known is None:
            sizes[id(node)] = 0
            known = 1
            for child in children:
                known += size(child)
                if known > MAX_YAML_NODES:
                    raise bad_request("error converting YAML to JSON: yaml: document contains excessive aliasing")
            sizes[id(node)] = known
        return known

    if size(value) > MAX_YAML_NODES:
        raise bad_request("error converting YAML to JSON: yaml: document contains excessive aliasing")


# -- patches -----------------------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 MergePatch: objects merge recursively, ``null`` deletes, anything else
    (arrays included) replaces.  ``target`` is not modified."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


class Patch:
    """A decoded, checked patch of one type; ``apply`` may run many times."""

    __slots__ = ("media_type", "document", "_body", "_unused")

    def __init__(self, media_type: str, document: Any, body: bytes) -> None:
        self.media_type = media_type
        self.document = document
        self._body = body
        self._unused = True

    def _private_document(self) -> Any:
        """The document for one application.  Merge and JSON patches put the patch's own
        values into the result, which defaulting then edits in place; a retry must not see
        those edits, so every application after the first decodes the body afresh."""
        if self._unused:
            self._unused = False
            return self.document
        return orjson.loads(self._body)

    def apply(self, original: Obj, gvk: tuple[str, str, str]) -> Obj:
        """The patched object.  ``original`` may be modified (JSON patch works in place);
        pass a private copy.  ``gvk`` picks the strategic merge patch schema.  The strategic
        merge patch builds new containers throughout, so the document is never shared."""
        if self.media_type == MERGE_PATCH:
            result = merge_patch(original, self._private_document())
        elif self.media_type == JSON_PATCH:
            result = self._apply_json_patch(original, self._private_document())
        else:
            schema = schema_for(*gvk)
            if schema is None:
                raise errors.unsupported_media_type(STRATEGIC_MERGE_PATCH, (JSON_PATCH, MERGE_PATCH))
            result = strategic_merge_patch(original, self.document, schema)
        if not isinstance(result, dict):
            # Upstream fails to decode the result into the kind and reports the patch.
            kind = gvk[2]
            detail = f"json: cannot unmarshal {_json_type(result)} into Go value of type {gvk[1]}.{kind}"
            rendered = orjson.dumps(result).decode()
            raise errors.invalid(kind, "", [errors.invalid_value("patch", rendered, detail)], gvk[0])
        return result

    @staticmethod
    def _apply_json_patch(document: Any, operations: list) -> Any:
        # Operations are checked as they apply, as upstream's Apply does: a bad one is a 422.
        # One at a time, so a failed test names its path as upstream (evanphx/json-patch) does.
        for operation in operations:
            try:
                document = jsonpatch.JsonPatch([operation]).apply(document, in_place=True)
            except jsonpatch.JsonPatchTestFailed:
                raise unprocessable_patch(f"testing value {operation.get('path')} failed: test failed") from None
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
                raise unprocessable_patch(str(exc)) from None
            except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
                # An operation of the wrong shape ({"op": "add", "path": 1}) that the library
                # does not check for itself: still the patch's fault.
                shown = orjson.dumps(operation).decode()
                raise unprocessable_patch(f"invalid JSON patch operation {shown}: {exc}") from None
        return document


def parse_patch(media_type: str, body: bytes) -> Patch:
    """Decode a PATCH body of ``media_type`` (one of ``PATCH_TYPES``): 400 for a body that is
    not JSON or not the shape its type needs, 413 for too many JSON-patch operations."""
    if not body.strip():
        raise bad_request("the body of a PATCH request must not be empty")
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"couldn't decode the patch as JSON: {exc}") from None
    if media_type == JSON_PATCH:
        if not isinstance(document, list):
            raise bad_request(
                f"json: cannot unmarshal {_json_type(document)} into Go value of type jsonpatch.Patch"
            )
        if not all(isinstance(op, dict) for op in document):
            raise bad_request("json: cannot unmarshal a JSON patch operation that is not an object")
        if len(document) > MAX_JSON_PATCH_OPERATIONS:
            raise StatusError(
                413,
                "RequestEntityTooLarge",
                f"The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, got {len(document)}",
            )
    elif not isinstance(document, dict):
        kind = "a merge patch" if media_type == MERGE_PATCH else "a strategic merge patch"
        raise bad_request(f"json: cannot unmarshal {_json_type(document)} into {kind}: it must be a JSON object")
    return Patch(media_type, document, body)


def apply_patch(media_type: str, original: Obj, patch: bytes, gvk: tuple[str, str, str]) -> Obj:
    """Parse and apply in one step, for callers that apply a patch once."""
    return parse_patch(media_type, patch).apply(original, gvk)


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if value is None:
        return "null"
    return "number"
