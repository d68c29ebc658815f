"""Validation shared by every kind, as k8s.io/apimachinery's validation packages do it.

Field validation returning ``Cause`` lists (422 Invalid), with upstream's messages.  JSON
types are checked before this, against the upstream schemas (``pyk8s.api.schema``), so
code here may index the fields it knows without guarding types.

Kind-specific rules live with the kind (``pyk8s.api.kinds``).
"""

from __future__ import annotations

import re
from typing import Any

from pyk8s.api.errors import Cause, invalid_value, required, too_long

__all__ = [
    "dns1123_label_errors",
    "dns1123_subdomain_errors",
    "qualified_name_errors",
    "label_value_errors",
    "validate_labels",
    "validate_annotations",
    "validate_object_meta",
    "port_name_errors",
]

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


# What names may be made of.  ``str.strip`` of these leaves nothing of a name made only of
# them: with the first and last character checks, a valid name is recognised without the
# regexes, which run (for their messages) only on names that may be invalid.
_LABEL_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-"
_SUBDOMAIN_CHARS = _LABEL_CHARS + "."


def dns1123_label_errors(value: str) -> list[str]:
    if (
        type(value) is str
        and 0 < len(value) <= 63
        and not value.strip(_LABEL_CHARS)
        and value[0] != "-"
        and value[-1] != "-"
    ):
        return []
    errs = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not _DNS1123_LABEL_RE.match(value):
        errs.append(_DNS1123_LABEL_MSG)
    return errs


def dns1123_subdomain_errors(value: str) -> list[str]:
    # Labels of [-a-z0-9] joined by dots, each starting and ending alphanumeric.
    if (
        type(value) is str
        and 0 < len(value) <= 253
        and not value.strip(_SUBDOMAIN_CHARS)
        and value[0] not in "-."
        and value[-1] not in "-."
        and ".." not in value
        and ".-" not in value
        and "-." not in value
    ):
        return []
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
        # Keys, values and namespaces share the cache with distinct prefixes ("k" / "v" / "n").
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
        errs = name_errors(name)
        if errs:
            causes.extend(invalid_value("metadata.name", name, msg) for msg in errs)
    if namespaced:
        namespace = meta.get("namespace", "")
        if not namespace:
            causes.append(required("metadata.namespace"))
        elif "n" + namespace not in _VALID_LABEL_STRINGS:  # namespaces repeat: checked once each
            errs = dns1123_label_errors(namespace)
            if errs:
                causes.extend(invalid_value("metadata.namespace", namespace, msg) for msg in errs)
            else:
                _remember("n" + namespace)
    generation = meta.get("generation", 0)
    if generation < 0:
        causes.append(invalid_value("metadata.generation", generation, "must be greater than or equal to 0"))
    if "labels" in meta:
        causes.extend(validate_labels(meta["labels"] or {}, "metadata.labels"))
    if "annotations" in meta:
        causes.extend(validate_annotations(meta["annotations"] or {}, "metadata.annotations"))
    return causes
