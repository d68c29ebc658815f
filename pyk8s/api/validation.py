"""Validation shared by every kind, as k8s.io/apimachinery's validation packages do it.

Two layers, as upstream has them:

1. ``check_types``: the JSON has the shapes the Go types would decode (an int where an
   int32 is, a list of objects where ``[]Container`` is).  A mismatch is a 400 BadRequest
   upstream ("cannot be handled as a Pod"), not a 422, because the body never became an
   object.  Later code may then index the fields it knows without guarding types.
2. Field validation returning ``Cause`` lists (422 Invalid), with upstream's messages.

Kind-specific rules live with the kind (``pyk8s.api.kinds``).
"""

from __future__ import annotations

import re
from typing import Any

from pyk8s.api.errors import Cause, StatusError, bad_request, invalid_value, required, too_long

__all__ = [
    "ANY",
    "QUANTITY",
    "MapOf",
    "check_types",
    "dns1123_label_errors",
    "dns1123_subdomain_errors",
    "qualified_name_errors",
    "label_value_errors",
    "validate_labels",
    "validate_annotations",
    "validate_object_meta",
    "port_name_errors",
]

# -- type shapes -----------------------------------------------------------------------------

ANY = object()
QUANTITY = (str, int, float)  # resource.Quantity accepts a string or a JSON number


class MapOf:
    """``map[string]T``: an object with arbitrary keys whose values have shape ``value``."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


_JSON_NAMES = {dict: "object", list: "array", str: "string", bool: "bool", int: "number", float: "number"}
_GO_NAMES = {str: "string", int: "int", bool: "bool", float: "float64"}


def _json_name(value: Any) -> str:
    return _JSON_NAMES.get(type(value), "value")


def _shape_name(shape: Any) -> str:
    if isinstance(shape, dict):
        return "object"
    if isinstance(shape, list):
        return "array"
    if isinstance(shape, MapOf):
        return "map"
    if shape is QUANTITY:
        return "Quantity"
    return _GO_NAMES.get(shape, "value")


def _matches(value: Any, shape: Any) -> bool:
    if shape is int:
        return type(value) is int  # bool is an int in Python, not in JSON; 1.0 is not an int32 in Go
    if shape is float:
        return type(value) in (int, float)
    if shape is QUANTITY:
        return type(value) in QUANTITY
    if isinstance(shape, (dict, MapOf)):
        return type(value) is dict
    if isinstance(shape, list):
        return type(value) is list
    return type(value) is shape


def _type_error(kind: str, api_version: str, path: str, value: Any, shape: Any) -> StatusError:
    return bad_request(
        f'{kind} in version "{api_version}" cannot be handled as a {kind}: json: cannot unmarshal '
        f"{_json_name(value)} into Go struct field {kind}.{path} of type {_shape_name(shape)}"
    )


def check_types(obj: dict[str, Any], shape: dict[str, Any], kind: str, api_version: str) -> None:
    """Raise 400 if a known field has the wrong JSON type.  ``null`` counts as absent, as Go's
    decoder treats it, and is dropped so later code sees the field missing."""
    stack: list[tuple[Any, Any, str]] = [(obj, shape, "")]
    while stack:
        value, shape_, path = stack.pop()
        if isinstance(shape_, dict):
            nulls = None
            for key, child in value.items():
                sub = shape_.get(key)
                if sub is None or sub is ANY:
                    continue
                if child is None:
                    nulls = [key] if nulls is None else nulls + [key]
                    continue
                # Fast path for the common leaves; _matches handles the rest.
                if sub is str:
                    if type(child) is not str:
                        raise _type_error(kind, api_version, f"{path}.{key}" if path else key, child, sub)
                    continue
                if not _matches(child, sub):
                    raise _type_error(kind, api_version, f"{path}.{key}" if path else key, child, sub)
                if isinstance(sub, (dict, list, MapOf)):
                    stack.append((child, sub, f"{path}.{key}" if path else key))
            if nulls:
                for key in nulls:
                    del value[key]
        elif isinstance(shape_, list):
            item_shape = shape_[0]
            for item in value:
                if item is None and isinstance(item_shape, dict):
                    raise _type_error(kind, api_version, path, item, item_shape)
                if item_shape is ANY:
                    continue
                if not _matches(item, item_shape):
                    raise _type_error(kind, api_version, path, item, item_shape)
                if isinstance(item_shape, (dict, list, MapOf)):
                    stack.append((item, item_shape, path))
        elif isinstance(shape_, MapOf):
            for key in list(value):
                child = value[key]
                if child is None and shape_.value is str:
                    value[key] = ""  # Go decodes null into a string map value as ""
                    continue
                if shape_.value is ANY:
                    continue
                if not _matches(child, shape_.value):
                    raise _type_error(kind, api_version, path, child, shape_.value)
                if isinstance(shape_.value, (dict, list, MapOf)):
                    stack.append((child, shape_.value, path))


OBJECT_META_SHAPE: dict[str, Any] = {
    "name": str,
    "generateName": str,
    "namespace": str,
    "uid": str,
    "resourceVersion": str,
    "generation": int,
    "creationTimestamp": str,
    "deletionTimestamp": str,
    "deletionGracePeriodSeconds": int,
    "labels": MapOf(str),
    "annotations": MapOf(str),
    "finalizers": [str],
    "ownerReferences": [dict],
    "managedFields": [dict],
    "selfLink": str,
}

# -- names -----------------------------------------------------------------------------------

_DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL_RE = re.compile(f"^{_DNS1123_LABEL}$")
_DNS1123_SUBDOMAIN = f"{_DNS1123_LABEL}(\\.{_DNS1123_LABEL})*"
_DNS1123_SUBDOMAIN_RE = re.compile(f"^{_DNS1123_SUBDOMAIN}$")
_QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QUALIFIED_NAME_RE = re.compile(f"^{_QUALIFIED_NAME_FMT}$")
_LABEL_VALUE_RE = re.compile(f"^({_QUALIFIED_NAME_FMT})?$")

_DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
    "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
    f"validation is '{_DNS1123_LABEL}')"
)
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
    f"validation is '{_DNS1123_SUBDOMAIN}')"
)
_QUALIFIED_NAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation "
    f"is '{_QUALIFIED_NAME_FMT}')"
)
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
    f"'12345', regex used for validation is '({_QUALIFIED_NAME_FMT})?')"
)


def dns1123_label_errors(value: str) -> list[str]:
    errs = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not _DNS1123_LABEL_RE.match(value):
        errs.append(_DNS1123_LABEL_MSG)
    return errs


def dns1123_subdomain_errors(value: str) -> list[str]:
    errs = []
    if len(value) > 253:
        errs.append("must be no more than 253 characters")
    if not _DNS1123_SUBDOMAIN_RE.match(value):
        errs.append(_DNS1123_SUBDOMAIN_MSG)
    return errs


def qualified_name_errors(value: str) -> list[str]:
    prefix, sep, name = value.rpartition("/")
    errs = []
    if "/" in prefix:
        return ["a qualified name " + _QUALIFIED_NAME_MSG + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    if sep:
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + e for e in dns1123_subdomain_errors(prefix))
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part must be no more than 63 characters")
    if name and not _QUALIFIED_NAME_RE.match(name):
        errs.append("name part " + _QUALIFIED_NAME_MSG)
    return errs


def label_value_errors(value: str) -> list[str]:
    errs = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not _LABEL_VALUE_RE.match(value):
        errs.append(_LABEL_VALUE_MSG)
    return errs


_PORT_NAME_CHARS_RE = re.compile("^[-a-z0-9]+$")
_HAS_LETTER_RE = re.compile("[a-z]")


def port_name_errors(value: str) -> list[str]:
    """Upstream IsValidPortName (an IANA_SVC_NAME)."""
    errs = []
    if len(value) > 15:
        errs.append("must be no more than 15 characters")
    if not _PORT_NAME_CHARS_RE.match(value):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if "--" in value:
        errs.append("must not contain consecutive hyphens")
    if not _HAS_LETTER_RE.search(value):
        errs.append("must contain at least one letter (a-z)")
    if value.startswith("-") or value.endswith("-"):
        errs.append("must not begin or end with a hyphen")
    return errs


# -- metadata --------------------------------------------------------------------------------

TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024


# Label keys and values repeat across objects ("app", "web"): remember the valid ones so
# the regexes run once per distinct string, not once per object.  Bounded; reset when full.
_VALID_LABEL_STRINGS: set[str] = set()
_VALID_LABEL_STRINGS_MAX = 65536


def validate_labels(labels: dict[str, str], field: str) -> list[Cause]:
    causes: list[Cause] = []
    known = _VALID_LABEL_STRINGS
    for key, value in labels.items():
        # Keys and values share the cache with distinct prefixes ("k" / "v").
        if "k" + key not in known:
            errs = qualified_name_errors(key)
            if errs:
                causes.extend(invalid_value(field, key, msg) for msg in errs)
            else:
                _remember("k" + key)
        if "v" + value not in known:
            errs = label_value_errors(value)
            if errs:
                causes.extend(invalid_value(field, value, msg) for msg in errs)
            else:
                _remember("v" + value)
    return causes


def _remember(entry: str) -> None:
    if len(_VALID_LABEL_STRINGS) >= _VALID_LABEL_STRINGS_MAX:
        _VALID_LABEL_STRINGS.clear()
    _VALID_LABEL_STRINGS.add(entry)


def validate_annotations(annotations: dict[str, str], field: str) -> list[Cause]:
    causes = []
    total = 0
    for key, value in annotations.items():
        causes.extend(invalid_value(field, key, msg) for msg in qualified_name_errors(key.lower()))
        total += len(key) + len(value)
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        causes.append(too_long(field, TOTAL_ANNOTATION_SIZE_LIMIT))
    return causes


def validate_object_meta(meta: dict[str, Any], namespaced: bool, name_errors=dns1123_subdomain_errors) -> list[Cause]:
    """Upstream ValidateObjectMeta: name (or generateName), namespace, labels, annotations."""
    causes: list[Cause] = []
    name = meta.get("name", "")
    if not name:
        if not meta.get("generateName"):
            causes.append(required("metadata.name", "name or generateName is required"))
    else:
        causes.extend(invalid_value("metadata.name", name, msg) for msg in name_errors(name))
    if namespaced:
        namespace = meta.get("namespace", "")
        if not namespace:
            causes.append(required("metadata.namespace"))
        else:
            causes.extend(invalid_value("metadata.namespace", namespace, msg) for msg in dns1123_label_errors(namespace))
    generation = meta.get("generation", 0)
    if generation < 0:
        causes.append(invalid_value("metadata.generation", generation, "must be greater than or equal to 0"))
    causes.extend(validate_labels(meta.get("labels") or {}, "metadata.labels"))
    causes.extend(validate_annotations(meta.get("annotations") or {}, "metadata.annotations"))
    return causes
