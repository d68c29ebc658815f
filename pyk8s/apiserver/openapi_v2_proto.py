"""``/openapi/v2`` as protobuf: the Swagger 2.0 document encoded as gnostic's
``openapi.v2.Document`` (github.com/google/gnostic openapiv2/OpenAPIv2.proto), what
kube-apiserver answers to ``Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf``.

kubectl asks for nothing else at ``/openapi/v2``: it falls back there (from OpenAPI v3) for a
kind no v3 document describes, e.g. ``kubectl apply`` of a CronJob or a custom resource, to
learn whether ``fieldValidation`` is supported; without this it fails with "failed to
download openapi" instead of saying that the kind is not served.

The encoder walks the JSON document with a table per message: JSON key -> (field number,
how to encode).  Vendor extensions (``x-...`` keys) become ``NamedAny`` entries whose
``Any.yaml`` holds the value as JSON text (valid YAML, which is how clients read them).
"""

from __future__ import annotations

import struct
from typing import Any, Callable

import orjson

__all__ = ["MEDIA_TYPES", "CONTENT_TYPE", "encode_document"]

# What kube-openapi answers with; clients still ask with the deprecated "@" spelling, which
# Go's mime parser rejects in a Content-Type, so both are accepted and only this one is sent.
CONTENT_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
MEDIA_TYPES = frozenset((CONTENT_TYPE, "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"))

Encoder = Callable[[Any], bytes]


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64: ten bytes of two's complement, as protobuf does
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _delimited(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _string(number: int, value: Any) -> bytes:
    return _delimited(number, str(value).encode()) if value != "" else b""


def _bool(number: int, value: Any) -> bytes:
    return _varint(number << 3) + b"\x01" if value else b""


def _int(number: int, value: Any) -> bytes:
    return _varint(number << 3) + _varint(int(value)) if value else b""


def _double(number: int, value: Any) -> bytes:
    return _varint(number << 3 | 1) + struct.pack("<d", float(value)) if value else b""


def _any(value: Any) -> bytes:
    # message Any { google.protobuf.Any value = 1; string yaml = 2; }
    return _string(2, orjson.dumps(value).decode())


def _named(value_encoder: Encoder) -> Encoder:
    """A JSON object as ``repeated Named<T>`` entries (``string name = 1; T value = 2``)."""
    def encode(mapping: dict[str, Any]) -> list[bytes]:
        return [_string(1, name) + _delimited(2, value_encoder(value)) for name, value in mapping.items()]
    return encode


class _Message:
    """One protobuf message: ``fields`` maps a JSON key to (number, kind, encoder), kind one
    of str/strs/bool/int/double/any/anys (scalars), msg/msgs (one or repeated submessage
    built by ``encoder``) or entries (``encoder`` returns the repeated payloads itself);
    ``x-`` keys go to field ``vendor`` as NamedAny."""

    def __init__(self, vendor: int = 0, **fields: tuple) -> None:
        self.vendor = vendor
        self.fields = {key.replace("__", "$").replace("_dash_", "-"): spec for key, spec in fields.items()}

    def __call__(self, obj: dict[str, Any]) -> bytes:
        out = bytearray()
        vendor = []
        for key, value in obj.items():
            spec = self.fields.get(key)
            if spec is None:
                if self.vendor and key.startswith("x-"):
                    vendor.append(_string(1, key) + _delimited(2, _any(value)))
                continue
            number, kind, *rest = spec
            if kind == "str":
                out += _string(number, value)
            elif kind == "strs":
                for item in value:
                    out += _delimited(number, str(item).encode())
            elif kind == "bool":
                out += _bool(number, value)
            elif kind == "int":
                out += _int(number, value)
            elif kind == "double":
                out += _double(number, value)
            elif kind == "any":
                out += _delimited(number, _any(value))
            elif kind == "anys":
                for item in value:
                    out += _delimited(number, _any(item))
            elif kind == "msg":
                out += _delimited(number, rest[0](value))
            elif kind == "msgs":
                for item in value:
                    out += _delimited(number, rest[0](item))
            elif kind == "entries":
                for entry in rest[0](value):
                    out += _delimited(number, entry)
        for entry in vendor:
            out += _delimited(self.vendor, entry)
        return bytes(out)


def _lazy(get: Callable[[], Encoder]) -> Encoder:
    return lambda value: get()(value)


# -- Schema (recursive) ---------------------------------------------------------------------------

def _type_item(value: Any) -> bytes:
    # message TypeItem { repeated string value = 1; }
    values = value if isinstance(value, list) else [value]
    return b"".join(_delimited(1, str(item).encode()) for item in values)


def _items_item(value: Any) -> bytes:
    # message ItemsItem { repeated Schema schema = 1; }
    values = value if isinstance(value, list) else [value]
    return b"".join(_delimited(1, _SCHEMA(item)) for item in values)


def _additional_properties(value: Any) -> bytes:
    # message AdditionalPropertiesItem { oneof { Schema schema = 1; bool boolean = 2; } }
    if isinstance(value, bool):
        return _varint(2 << 3) + (b"\x01" if value else b"\x00")
    return _delimited(1, _SCHEMA(value))


_SCHEMA_SELF = _lazy(lambda: _SCHEMA)
_SCHEMA = _Message(
    vendor=31,
    __ref=(1, "str"), format=(2, "str"), title=(3, "str"), description=(4, "str"), default=(5, "any"),
    multipleOf=(6, "double"), maximum=(7, "double"), exclusiveMaximum=(8, "bool"), minimum=(9, "double"),
    exclusiveMinimum=(10, "bool"), maxLength=(11, "int"), minLength=(12, "int"), pattern=(13, "str"),
    maxItems=(14, "int"), minItems=(15, "int"), uniqueItems=(16, "bool"), maxProperties=(17, "int"),
    minProperties=(18, "int"), required=(19, "strs"), enum=(20, "anys"),
    additionalProperties=(21, "msg", _additional_properties), type=(22, "msg", _type_item),
    items=(23, "msg", _items_item), allOf=(24, "msgs", _SCHEMA_SELF),
    # message Properties { repeated NamedSchema additional_properties = 1; }
    properties=(25, "msg", lambda props: b"".join(_delimited(1, entry) for entry in _named(_SCHEMA_SELF)(props))),
    discriminator=(26, "str"), readOnly=(27, "bool"), example=(30, "any"),
)

# -- parameters, responses, operations, paths ----------------------------------------------------

_PRIMITIVES_ITEMS = _Message(
    vendor=18, type=(1, "str"), format=(2, "str"), items=(3, "msg", _lazy(lambda: _PRIMITIVES_ITEMS)),
    collectionFormat=(4, "str"), default=(5, "any"), maximum=(6, "double"), exclusiveMaximum=(7, "bool"),
    minimum=(8, "double"), exclusiveMinimum=(9, "bool"), maxLength=(10, "int"), minLength=(11, "int"),
    pattern=(12, "str"), maxItems=(13, "int"), minItems=(14, "int"), uniqueItems=(15, "bool"),
    enum=(16, "anys"), multipleOf=(17, "double"),
)


def _sub_schema(with_allow_empty: bool) -> _Message:
    """Query and formData parameters have ``allowEmptyValue`` (field 5) and the rest one
    number higher than path and header parameters."""
    shift = 1 if with_allow_empty else 0
    fields: dict[str, tuple] = {"required": (1, "bool"), "in": (2, "str"), "description": (3, "str"), "name": (4, "str")}
    if with_allow_empty:
        fields["allowEmptyValue"] = (5, "bool")
    rest = (
        ("type", "str"), ("format", "str"), ("items", "msg", _PRIMITIVES_ITEMS), ("collectionFormat", "str"),
        ("default", "any"), ("maximum", "double"), ("exclusiveMaximum", "bool"), ("minimum", "double"),
        ("exclusiveMinimum", "bool"), ("maxLength", "int"), ("minLength", "int"), ("pattern", "str"),
        ("maxItems", "int"), ("minItems", "int"), ("uniqueItems", "bool"), ("enum", "anys"), ("multipleOf", "double"),
    )
    for offset, (key, *spec) in enumerate(rest):
        fields[key] = (5 + shift + offset, *spec)
    return _Message(vendor=5 + shift + len(rest), **fields)


_NON_BODY_FIELD = {"header": (1, _sub_schema(False)), "formData": (2, _sub_schema(True)),
                   "query": (3, _sub_schema(True)), "path": (4, _sub_schema(False))}
_BODY_PARAMETER = _Message(
    vendor=6, description=(1, "str"), name=(2, "str"), **{"in": (3, "str")}, required=(4, "bool"),
    schema=(5, "msg", _SCHEMA),
)
_JSON_REFERENCE = _Message(__ref=(1, "str"), description=(2, "str"))


def _parameters_item(param: dict[str, Any]) -> bytes:
    # ParametersItem { oneof { Parameter parameter = 1; JsonReference json_reference = 2; } }
    # Parameter { oneof { BodyParameter body_parameter = 1; NonBodyParameter non_body_parameter = 2; } }
    if "$ref" in param:
        return _delimited(2, _JSON_REFERENCE(param))
    where = param.get("in", "")
    if where == "body":
        return _delimited(1, _delimited(1, _BODY_PARAMETER(param)))
    number, encoder = _NON_BODY_FIELD.get(where, _NON_BODY_FIELD["query"])
    return _delimited(1, _delimited(2, _delimited(number, encoder(param))))


_RESPONSE = _Message(
    # SchemaItem { oneof { Schema schema = 1; FileSchema file_schema = 2; } }
    vendor=5, description=(1, "str"), schema=(2, "msg", lambda schema: _delimited(1, _SCHEMA(schema))),
)


def _responses(responses: dict[str, Any]) -> bytes:
    # Responses { repeated NamedResponseValue response_code = 1; repeated NamedAny vendor_extension = 2; }
    # ResponseValue { oneof { Response response = 1; JsonReference json_reference = 2; } }
    out = bytearray()
    for code, response in responses.items():
        if code.startswith("x-"):
            out += _delimited(2, _string(1, code) + _delimited(2, _any(response)))
            continue
        value = _delimited(2, _JSON_REFERENCE(response)) if "$ref" in response else _delimited(1, _RESPONSE(response))
        out += _delimited(1, _string(1, code) + _delimited(2, value))
    return bytes(out)


def _security_requirement(requirement: dict[str, list[str]]) -> bytes:
    # SecurityRequirement { repeated NamedStringArray additional_properties = 1; }
    return b"".join(
        _delimited(1, _string(1, name) + _delimited(2, b"".join(_delimited(1, s.encode()) for s in scopes)))
        for name, scopes in requirement.items()
    )


_OPERATION = _Message(
    vendor=13, tags=(1, "strs"), summary=(2, "str"), description=(3, "str"), operationId=(5, "str"),
    produces=(6, "strs"), consumes=(7, "strs"), parameters=(8, "msgs", _parameters_item),
    responses=(9, "msg", _responses), schemes=(10, "strs"), deprecated=(11, "bool"),
    security=(12, "msgs", _security_requirement),
)
_PATH_ITEM = _Message(
    vendor=10, __ref=(1, "str"), get=(2, "msg", _OPERATION), put=(3, "msg", _OPERATION), post=(4, "msg", _OPERATION),
    delete=(5, "msg", _OPERATION), options=(6, "msg", _OPERATION), head=(7, "msg", _OPERATION),
    patch=(8, "msg", _OPERATION), parameters=(9, "msgs", _parameters_item),
)


def _paths(paths: dict[str, Any]) -> bytes:
    # Paths { repeated NamedAny vendor_extension = 1; repeated NamedPathItem path = 2; }
    return b"".join(_delimited(2, entry) for entry in _named(_PATH_ITEM)(paths))


def _security_definitions_item(item: dict[str, Any]) -> bytes:
    # SecurityDefinitionsItem { oneof { BasicAuthenticationSecurity = 1; ApiKeySecurity = 2; ... } }
    if item.get("type") == "basic":
        return _delimited(1, _Message(vendor=3, type=(1, "str"), description=(2, "str"))(item))
    api_key = _Message(vendor=5, type=(1, "str"), name=(2, "str"), **{"in": (3, "str")}, description=(4, "str"))
    return _delimited(2, api_key(item))


_INFO = _Message(vendor=7, title=(1, "str"), version=(2, "str"), description=(3, "str"), termsOfService=(4, "str"))
_DOCUMENT = _Message(
    vendor=16, swagger=(1, "str"), info=(2, "msg", _INFO), host=(3, "str"), basePath=(4, "str"),
    schemes=(5, "strs"), consumes=(6, "strs"), produces=(7, "strs"), paths=(8, "msg", _paths),
    # Definitions { repeated NamedSchema additional_properties = 1; }
    definitions=(9, "msg", lambda defs: b"".join(_delimited(1, entry) for entry in _named(_SCHEMA)(defs))),
    security=(12, "msgs", _security_requirement),
    # SecurityDefinitions { repeated NamedSecurityDefinitionsItem additional_properties = 1; }
    securityDefinitions=(13, "msg", lambda defs: b"".join(
        _delimited(1, entry) for entry in _named(_security_definitions_item)(defs))),
)


def encode_document(document: dict[str, Any]) -> bytes:
    """A Swagger 2.0 document (as JSON decodes it) as an ``openapi.v2.Document`` message."""
    return _DOCUMENT(document)
