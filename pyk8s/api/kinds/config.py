"""core/v1 configmaps, secrets, serviceaccounts, endpoints and events.

As upstream pkg/apis/core/v1 (conversion and defaults), pkg/apis/core/validation and the
strategies in pkg/registry/core/{configmap,secret,serviceaccount,endpoint,event}.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from pyk8s.api.errors import Cause, StatusError, forbidden, invalid_value, not_supported, required, too_long
from pyk8s.api.registry import ResourceDef
from pyk8s.api.validation import validate_object_meta

__all__ = ["CONFIG_MAPS", "SECRETS", "SERVICE_ACCOUNTS", "ENDPOINTS", "EVENTS"]

Obj = dict[str, Any]

_CONFIG_KEY_RE = re.compile(r"^[-._a-zA-Z0-9]+$")
_MAX_DATA_BYTES = 1024 * 1024  # core.MaxSecretSize, also the ConfigMap limit


def _config_key_errors(key: str) -> list[str]:
    """IsConfigMapKey: what may name a file in a volume."""
    errs = []
    if len(key) > 253:
        errs.append("must be no more than 253 characters")
    if not _CONFIG_KEY_RE.match(key):
        errs.append("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")
    if key == ".":
        errs.append("must not be '.'")
    elif key == "..":
        errs.append("must not be '..'")
    elif key.startswith(".."):
        errs.append("must not start with '..'")
    return errs


def _check_base64(obj: Obj, field: str) -> int:
    """Go decodes ``[]byte`` fields as standard base64; anything else never becomes an
    object (400, as upstream).  Returns the decoded size."""
    size = 0
    for key, value in (obj.get(field) or {}).items():
        try:
            size += len(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            raise StatusError(
                400,
                "BadRequest",
                f'{obj.get("kind", "")} in version "v1" cannot be handled as a {obj.get("kind", "")}: '
                f"illegal base64 data in {field}[{key!r}]",
            ) from None
    return size


def _validate_immutable_data(new: Obj, old: Obj, fields: tuple[str, ...]) -> list[Cause]:
    causes: list[Cause] = []
    if old.get("immutable"):
        if not new.get("immutable"):
            causes.append(forbidden("immutable", "field is immutable when `immutable` is set"))
        for field in fields:
            if (new.get(field) or {}) != (old.get(field) or {}):
                causes.append(forbidden(field, "field is immutable when `immutable` is set"))
    return causes


# -- configmaps ------------------------------------------------------------------------------


def validate_config_map(cm: Obj) -> list[Cause]:
    causes = validate_object_meta(cm["metadata"], namespaced=True)
    data, binary = cm.get("data") or {}, cm.get("binaryData") or {}
    total = 0
    for key, value in data.items():
        causes.extend(invalid_value("data", key, msg) for msg in _config_key_errors(key))
        total += len(value)
    for key in binary:
        causes.extend(invalid_value("binaryData", key, msg) for msg in _config_key_errors(key))
        if key in data:
            causes.append(invalid_value("data", key, "duplicate of key present in binaryData"))
    total += _check_base64(cm, "binaryData")
    if total > _MAX_DATA_BYTES:
        causes.append(too_long("", _MAX_DATA_BYTES))
    return causes


CONFIG_MAPS = ResourceDef(
    group="",
    version="v1",
    kind="ConfigMap",
    plural="configmaps",
    singular="configmap",
    namespaced=True,
    validate=validate_config_map,
    validate_update=lambda new, old: validate_config_map(new) + _validate_immutable_data(new, old, ("data", "binaryData")),
    short_names=("cm",),
)

# -- secrets ---------------------------------------------------------------------------------

# Keys each well-known type requires (ValidateSecret).
_REQUIRED_KEYS = {
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/basic-auth": (),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
}


def default_secret(secret: Obj) -> None:
    """stringData is write-only: merged into data (base64) and never stored, as the v1 ->
    internal conversion does it; type defaults to Opaque."""
    string_data = secret.pop("stringData", None)
    if string_data:
        data = secret.get("data")
        if not isinstance(data, dict):
            data = secret["data"] = {}
        for key, value in string_data.items():
            data[key] = base64.b64encode(value.encode()).decode()
    if not secret.get("type"):
        secret["type"] = "Opaque"


def validate_secret(secret: Obj) -> list[Cause]:
    causes = validate_object_meta(secret["metadata"], namespaced=True)
    data = secret.get("data") or {}
    for key in data:
        causes.extend(invalid_value(f"data[{key}]", key, msg) for msg in _config_key_errors(key))
    if _check_base64(secret, "data") > _MAX_DATA_BYTES:
        causes.append(too_long("data", _MAX_DATA_BYTES))
    secret_type = secret.get("type", "Opaque")
    for key in _REQUIRED_KEYS.get(secret_type, ()):
        if key not in data:
            causes.append(required(f"data[{key}]"))
    if secret_type == "kubernetes.io/service-account-token":
        if not (secret["metadata"].get("annotations") or {}).get("kubernetes.io/service-account.name"):
            causes.append(required("metadata.annotations[kubernetes.io/service-account.name]"))
    return causes


def validate_secret_update(new: Obj, old: Obj) -> list[Cause]:
    causes = validate_secret(new)
    if new.get("type") != old.get("type"):
        causes.append(invalid_value("type", new.get("type", ""), "field is immutable"))
    return causes + _validate_immutable_data(new, old, ("data",))


SECRETS = ResourceDef(
    group="",
    version="v1",
    kind="Secret",
    plural="secrets",
    singular="secret",
    namespaced=True,
    default=default_secret,
    validate=validate_secret,
    validate_update=validate_secret_update,
    fields=lambda secret: {"type": secret.get("type", "")},
    selectable_fields=frozenset(("type",)),
)

# -- serviceaccounts -------------------------------------------------------------------------


def validate_service_account(sa: Obj) -> list[Cause]:
    return validate_object_meta(sa["metadata"], namespaced=True)


SERVICE_ACCOUNTS = ResourceDef(
    group="",
    version="v1",
    kind="ServiceAccount",
    plural="serviceaccounts",
    singular="serviceaccount",
    namespaced=True,
    validate=validate_service_account,
    validate_update=lambda new, old: validate_service_account(new),
    short_names=("sa",),
    # pkg/registry/core/serviceaccount/storage: ReturnDeletedObject.
    return_deleted_object=True,
)

# -- endpoints -------------------------------------------------------------------------------

_PROTOCOLS = ("SCTP", "TCP", "UDP")


def default_endpoints(ep: Obj) -> None:
    for subset in ep.get("subsets") or ():
        for port in subset.get("ports") or ():
            port.setdefault("protocol", "TCP")


def validate_endpoints(ep: Obj) -> list[Cause]:
    causes = validate_object_meta(ep["metadata"], namespaced=True)
    for s_index, subset in enumerate(ep.get("subsets") or ()):
        path = f"subsets[{s_index}]"
        for field in ("addresses", "notReadyAddresses"):
            for a_index, address in enumerate(subset.get(field) or ()):
                if not address.get("ip"):
                    causes.append(required(f"{path}.{field}[{a_index}].ip"))
        for p_index, port in enumerate(subset.get("ports") or ()):
            number = port.get("port", 0)
            if not 1 <= number <= 65535:
                causes.append(invalid_value(f"{path}.ports[{p_index}].port", number, "must be between 1 and 65535, inclusive"))
            protocol = port.get("protocol", "")
            if protocol not in _PROTOCOLS:
                causes.append(not_supported(f"{path}.ports[{p_index}].protocol", protocol, _PROTOCOLS))
    return causes


ENDPOINTS = ResourceDef(
    group="",
    version="v1",
    kind="Endpoints",
    plural="endpoints",
    singular="endpoints",
    namespaced=True,
    default=default_endpoints,
    validate=validate_endpoints,
    validate_update=lambda new, old: validate_endpoints(new),
    short_names=("ep",),
)

# -- events (core/v1) ------------------------------------------------------------------------

_EVENT_TYPES = ("Normal", "Warning")


def validate_event(event: Obj) -> list[Cause]:
    """ValidateEventCreate for v1 events: the involved object lives in the event's namespace
    (or the event is in ``default`` for a cluster-scoped one); new-style events (with
    eventTime) also need their reporting fields and a known type."""
    causes = validate_object_meta(event["metadata"], namespaced=True)
    namespace = event["metadata"].get("namespace", "")
    involved = event.get("involvedObject") or {}
    involved_namespace = involved.get("namespace", "")
    if involved_namespace and involved_namespace != namespace:
        causes.append(invalid_value("involvedObject.namespace", involved_namespace, "does not match event.namespace"))
    if event.get("eventTime"):
        if not event.get("reportingComponent"):
            causes.append(required("reportingController"))
        instance = event.get("reportingInstance", "")
        if not instance:
            causes.append(required("reportingInstance"))
        if event.get("type", "") not in _EVENT_TYPES:
            causes.append(not_supported("type", event.get("type", ""), _EVENT_TYPES))
        if not event.get("action"):
            causes.append(required("action"))
    return causes


# The selectable fields of an event's involvedObject: (field, key in involvedObject).
_INVOLVED_FIELDS = (
    ("involvedObject.kind", "kind"),
    ("involvedObject.namespace", "namespace"),
    ("involvedObject.name", "name"),
    ("involvedObject.uid", "uid"),
    ("involvedObject.apiVersion", "apiVersion"),
    ("involvedObject.resourceVersion", "resourceVersion"),
    ("involvedObject.fieldPath", "fieldPath"),
)
_EVENT_TOP_FIELDS = ("reason", "reportingComponent", "type")  # selectable as they are named
_EVENT_FIELDS = tuple(name for name, _key in _INVOLVED_FIELDS) + ("reason", "reportingComponent", "source", "type")


def event_fields(event: Obj) -> dict[str, str]:
    """The selectable fields that have a value.  An empty one is left out: the store
    compares a field it was not given as "" (the storage protocol), so selection is the
    same, and every pair given costs the store an index entry."""
    involved = event.get("involvedObject") or _EMPTY
    fields = {}
    for name, key in _INVOLVED_FIELDS:
        value = involved.get(key, "")
        if value != "":
            fields[name] = value
    for name in _EVENT_TOP_FIELDS:
        value = event.get(name, "")
        if value != "":
            fields[name] = value
    value = (event.get("source") or _EMPTY).get("component", "")
    if value != "":
        fields["source"] = value
    return fields


_EMPTY: Obj = {}


EVENTS = ResourceDef(
    group="",
    version="v1",
    kind="Event",
    plural="events",
    singular="event",
    namespaced=True,
    validate=validate_event,
    validate_update=lambda new, old: validate_event(new),
    fields=event_fields,
    selectable_fields=frozenset(_EVENT_FIELDS),
    # Most values are one event's own (involvedObject.name, .uid): an index entry per field
    # cost a create more than the rest of the store's work, for selectors (kubectl
    # describe's) that a scan of the namespace answers.
    indexed_fields=frozenset(),
    short_names=("ev",),
)
