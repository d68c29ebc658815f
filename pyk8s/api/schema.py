"""Decode-time checks driven by the upstream OpenAPI schemas (``_data/definitions.json``).

kube-apiserver decodes a request body into the kind's Go struct before anything else sees
it.  That decoding decides three things this module reproduces:

* a JSON value of the wrong type is a 400 BadRequest, ``Pod in version "v1" cannot be
  handled as a Pod: json: cannot unmarshal string into Go struct field
  ContainerPort.spec.containers.ports.containerPort of type int32`` (Go's
  UnmarshalTypeError: the innermost struct, the JSON field names from the root without
  indices or map keys, the Go type);
* ``null`` is the same as absent (dropped here; inside a list it is the zero value);
* fields the struct does not have are dropped, and reported per ``fieldValidation``:
  ``Ignore`` says nothing, ``Warn`` (the default) returns ``unknown field "spec.foo"``
  warnings, ``Strict`` fails with ``strict decoding error: unknown field "spec.foo", ...``
  (sigs.k8s.io/json's paths, with ``[i]`` list indices).

Duplicate keys, which Strict also rejects upstream, cannot be seen: orjson keeps the last.

Speed: each schema compiles once into closures that walk the *object's* keys and compare
``type(value) is expected``; no path is built and nothing is allocated on the way.  Anything
unusual (an unknown field, a type mismatch, a null in a list) abandons that pass and the
object is walked again by ``_Slow``-path code that tracks paths and produces the upstream
messages.  Values that are legal but not the field's primary JSON type (an IntOrString
given as a number, a Quantity given as a number) are accepted on the fast path.  Quantities
are rewritten in their canonical form (``0.5`` -> ``500m``) on either pass, as kube-apiserver
stores what ``Quantity.String()`` prints.
"""

from __future__ import annotations

import base64
import functools
import pathlib
import re
from typing import Any, Callable

import orjson

from pyk8s.api._scalars import QUANTITY_FORMAT_ERROR, base64_error, canonical_quantity, quantity_error, time_error
from pyk8s.api.errors import StatusError, bad_request, invalid, not_supported

__all__ = [
    "FIELD_VALIDATION_DIRECTIVES",
    "check_object",
    "check_gvk",
    "field_validation_directive",
    "schemas",
    "kubernetes_version",
    "schema_name_for",
    "warning_header",
]

DEFINITIONS = pathlib.Path(__file__).with_name("_data") / "definitions.json"
FIELD_VALIDATION_DIRECTIVES = ("Ignore", "Warn", "Strict")
# What ValidateFieldValidation lists as supported (a sorted set including "").
_SUPPORTED_DIRECTIVES = ("", "Ignore", "Strict", "Warn")

Obj = dict[str, Any]

# -- the definitions ---------------------------------------------------------------------------


@functools.cache
def _definitions() -> dict[str, Any]:
    return orjson.loads(DEFINITIONS.read_bytes())


def schemas() -> dict[str, Any]:
    """Every schema by name (``io.k8s.api.core.v1.Pod``), as OpenAPI v3 components."""
    return _definitions()["schemas"]


def kubernetes_version() -> str:
    return _definitions()["kubernetesVersion"]


@functools.cache
def _gvk_index() -> dict[tuple[str, str, str], str]:
    index = {}
    for name, schema in schemas().items():
        for gvk in schema.get("x-kubernetes-group-version-kind", ()):
            # A schema listing many kinds (DeleteOptions, WatchEvent) is shared; a kind's own
            # schema, listing only itself, wins.
            key = (gvk["group"], gvk["version"], gvk["kind"])
            if key not in index or len(schema["x-kubernetes-group-version-kind"]) == 1:
                index[key] = name
    return index


def schema_name_for(group: str, version: str, kind: str) -> str:
    """The schema name of a kind, found by its ``x-kubernetes-group-version-kind``."""
    try:
        return _gvk_index()[(group, version, kind)]
    except KeyError:
        raise LookupError(f"no schema for {kind} in {group or 'core'}/{version}") from None


# -- compiled nodes ----------------------------------------------------------------------------

(STRUCT, ARRAY, MAP, STRING, INT32, INT64, FLOAT, BOOL, BYTES, QUANTITY, INT_OR_STRING, TIME, ANY) = range(13)

_INT_BOUNDS = {INT32: (-(2**31), 2**31 - 1), INT64: (-(2**63), 2**63 - 1)}
# Named types with their own UnmarshalJSON: decoded by kind, not by their schema.
_NAMED_SCALARS = {
    "io.k8s.apimachinery.pkg.api.resource.Quantity": QUANTITY,
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": INT_OR_STRING,
    "io.k8s.apimachinery.pkg.apis.meta.v1.Time": TIME,
    "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime": TIME,
    "io.k8s.apimachinery.pkg.runtime.RawExtension": ANY,
    "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1": ANY,
    "io.k8s.apimachinery.pkg.apis.meta.v1.Patch": ANY,
}
_GO_SCALAR_NAMES = {STRING: "string", INT32: "int32", INT64: "int64", FLOAT: "float64", BOOL: "bool", BYTES: "[]uint8"}


class _Node:
    """One Go type.  ``fields`` (STRUCT) and ``item`` (ARRAY, MAP element) link the graph;
    ``go_type`` is reflect's Type.String() as UnmarshalTypeError prints it, ``struct_name``
    the bare name it prints for the struct holding a field."""

    __slots__ = ("kind", "go_type", "struct_name", "fields", "item", "entry")

    def __init__(self, kind: int, go_type: str, struct_name: str = "") -> None:
        self.kind = kind
        self.go_type = go_type
        self.struct_name = struct_name
        self.fields: dict[str, _Node] = {}
        self.item: _Node | None = None
        # Fast-path entry (expected type, check of a value of that type, acceptor of another
        # type) as the enclosing struct's checker uses it; built by _fast_entry.
        self.entry: tuple[Any, Callable | None, Callable | None] | None = None


class _Compiler:
    def __init__(self, defs: dict[str, Any]) -> None:
        self.defs = defs
        self.named: dict[str, _Node] = {}

    def named_node(self, name: str) -> _Node:
        node = self.named.get(name)
        if node is not None:
            return node
        package, _, type_name = name.rpartition(".")
        go_type = f"{package.rpartition('.')[2]}.{type_name}"
        scalar = _NAMED_SCALARS.get(name)
        if scalar is not None:
            node = _Node(scalar, go_type)
            self.named[name] = node
            return node
        schema = self.defs[name]
        node = _Node(STRUCT, go_type, type_name)
        self.named[name] = node  # before the fields: schemas may refer to themselves
        for field, sub in (schema.get("properties") or {}).items():
            node.fields[field] = self.node(sub)
        return node

    def node(self, schema: dict[str, Any]) -> _Node:
        ref = schema.get("$ref")
        if ref is None and "allOf" in schema:
            ref = schema["allOf"][0].get("$ref")
        if ref is not None:
            return self.named_node(ref.rsplit("/", 1)[-1])
        kind = schema.get("type")
        fmt = schema.get("format")
        if kind == "string":
            return _Node(BYTES if fmt == "byte" else STRING, "[]uint8" if fmt == "byte" else "string")
        if kind == "integer":
            scalar = INT32 if fmt == "int32" else INT64
            return _Node(scalar, _GO_SCALAR_NAMES[scalar])
        if kind == "number":
            return _Node(FLOAT, "float64")
        if kind == "boolean":
            return _Node(BOOL, "bool")
        if kind == "array":
            item = self.node(schema["items"])
            node = _Node(ARRAY, "[]" + item.go_type)
            node.item = item
            return node
        if kind == "object" and "additionalProperties" in schema:
            item = self.node(schema["additionalProperties"])
            node = _Node(MAP, "map[string]" + item.go_type)
            node.item = item
            return node
        # An untyped or free-form object: a map[string]interface{} / json.RawMessage upstream.
        return _Node(ANY, "interface {}")


# -- the fast path -------------------------------------------------------------------------------


class _Slow(Exception):
    """Something needs the path-tracking pass: an unknown field, a wrong type, a null in a list."""


_SLOW = _Slow()


class _AnyType:
    """Never the type of a decoded JSON value: forces the acceptor for ANY / IntOrString /
    Quantity."""


def _raise_slow(*_: Any) -> bool:
    raise _SLOW


def _int_check(low: int, high: int) -> Callable[[int], bool]:
    return range(low, high + 1).__contains__  # C-level: no Python frame per integer


def _accept_anything(obj: Any, key: Any, value: Any) -> bool:
    return True


def _accept_float_int(obj: Any, key: Any, value: Any) -> bool:
    return type(value) is int


def _accept_int_or_string(obj: Any, key: Any, value: Any) -> bool:
    return (type(value) is str) or (type(value) is int and -(2**31) <= value < 2**31)


class _KnownGood(dict):
    """Strings seen to parse, for one scalar kind (timestamps repeat: every object written
    in one second carries the same one).  ``known[value]`` is true for a valid value: a
    remembered one is a C-level lookup; any other is checked by ``valid`` (and remembered
    when valid and short).  Bounded: cleared when full."""

    __slots__ = ("valid", "max_length")

    def __init__(self, valid: Callable[[str], bool], max_length: int) -> None:
        super().__init__()
        self.valid = valid
        self.max_length = max_length

    def __missing__(self, value: str) -> bool:
        if not self.valid(value):
            return False
        if len(value) <= self.max_length:
            if len(self) >= _KNOWN_GOOD_MAX:
                self.clear()
            self[value] = True
        return True


_KNOWN_GOOD_MAX = 65536


# Valid Quantity text -> the canonical form kube-apiserver stores (Quantity.String() after
# parsing); a text absent here is either unseen or invalid.
_CANONICAL_QUANTITIES: dict[str, str] = {}


def _canonical_quantity_or_none(text: str) -> str | None:
    canonical = _CANONICAL_QUANTITIES.get(text)
    if canonical is None:
        if quantity_error(text) is not None:
            return None
        canonical = canonical_quantity(text)
        if len(_CANONICAL_QUANTITIES) >= _KNOWN_GOOD_MAX:
            _CANONICAL_QUANTITIES.clear()
        _CANONICAL_QUANTITIES[text] = canonical
    return canonical


def _accept_quantity(obj: Any, key: Any, value: Any) -> bool:
    """Every Quantity passes here (its entry expects no type), so the decode check also
    stores it canonical, as kube-apiserver does; a JSON number becomes its string, as
    clients' models type a Quantity as a string."""
    vtype = type(value)
    if vtype is str:
        canonical = _canonical_quantity_or_none(value)
    elif vtype is int or vtype is float:
        canonical = _canonical_quantity_or_none(repr(value))
    else:
        return False
    if canonical is None:
        return False
    if canonical is not value:
        obj[key] = canonical  # replaces a value, never adds a key: safe while iterating
    return True


def _valid_base64(value: str) -> bool:
    return base64_error(value) is None


# Secrets are large and unique: only short base64 values are worth remembering.
_KNOWN_BASE64 = _KnownGood(_valid_base64, 64)

_TIME_RE = re.compile(r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:[.,]\d+)?(?:Z|[+-]\d\d:\d\d)")


def _valid_time(value: str) -> bool:
    # The regex settles almost every value; day 29-31 of a month and odd offsets go to Go's rules.
    if _TIME_RE.fullmatch(value) is None or (value[8:10] > "28" and time_error(value) is not None):
        return False
    return not (value[-6] in "+-" and time_error(value) is not None)


_KNOWN_TIMES = _KnownGood(_valid_time, 1 << 30)


def _struct_checker(fields: dict[str, _Node]) -> Callable[[Obj], bool]:
    entries: dict[str, tuple[Any, Callable | None, Callable | None]] = {}
    # Per field, the type a value may have with nothing more to check (most fields are
    # strings): one lookup settles those.  The rest (nested values, bounded integers,
    # timestamps, fields with acceptors) map to ``_AnyType``, no value's type, and take
    # their ``entries`` entry.
    plain: dict[str, Any] = {}

    def check(obj: Obj, plain=plain, entries=entries, _None=None, _type=type) -> bool:
        nulls = None
        try:  # a field the struct does not have: the subscript's KeyError
            for key, value in obj.items():
                if _type(value) is plain[key]:
                    continue
                expected, check_value, accept = entries[key]
                if _type(value) is expected:
                    if not check_value(value):  # not plain: a value of its type has a check
                        raise _SLOW
                elif value is _None:
                    if nulls is None:
                        nulls = [key]
                    else:
                        nulls.append(key)
                elif accept is None or not accept(obj, key, value):
                    raise _SLOW
        except KeyError:
            raise _SLOW from None
        if nulls is not None:
            for key in nulls:
                del obj[key]
        return True

    def add(name: str, entry: tuple[Any, Callable | None, Callable | None]) -> None:
        entries[name] = entry
        plain[name] = entry[0] if entry[1] is None else _AnyType

    check.add = add  # type: ignore[attr-defined]  # filled once every node exists
    return check


def _array_checker(item: _Node) -> Callable[[list], None]:
    expected, check_item, accept = _fast_entry(item)
    if check_item is None and accept is None:

        def check_plain(values: list) -> bool:
            for value in values:
                if type(value) is not expected:
                    raise _SLOW
            return True

        return check_plain

    def check(values: list) -> bool:
        for index, value in enumerate(values):
            if type(value) is expected:
                if check_item is not None and not check_item(value):
                    raise _SLOW
            elif value is None or accept is None or not accept(values, index, value):
                raise _SLOW
        return True

    return check


def _map_checker(item: _Node) -> Callable[[dict], None]:
    expected, check_item, accept = _fast_entry(item)
    if check_item is None and accept is None:

        def check_plain(values: dict) -> bool:
            for value in values.values():
                if type(value) is not expected:
                    raise _SLOW
            return True

        return check_plain

    def check(values: dict) -> bool:
        for key, value in values.items():
            if type(value) is expected:
                if check_item is not None and not check_item(value):
                    raise _SLOW
            elif value is None or accept is None or not accept(values, key, value):
                raise _SLOW
        return True

    return check


def _fast_entry(node: _Node) -> tuple[Any, Callable | None, Callable | None]:
    entry = node.entry
    if entry is not None:
        return entry
    kind = node.kind
    if kind == STRUCT:
        checker = _struct_checker(node.fields)
        node.entry = entry = (dict, checker, None)
        for name, field in node.fields.items():  # after node.entry: recursion ends here
            checker.add(name, _fast_entry(field))  # type: ignore[attr-defined]
        return entry
    if kind == ARRAY:
        node.entry = (list, _raise_slow, None)  # a self-referring list type would end here
        entry = (list, _array_checker(node.item), None)  # type: ignore[arg-type]
    elif kind == MAP:
        node.entry = (dict, _raise_slow, None)
        entry = (dict, _map_checker(node.item), None)  # type: ignore[arg-type]
    elif kind == STRING:
        entry = (str, None, None)
    elif kind in (INT32, INT64):
        entry = (int, _int_check(*_INT_BOUNDS[kind]), None)
    elif kind == FLOAT:
        entry = (float, None, _accept_float_int)
    elif kind == BOOL:
        entry = (bool, None, None)
    elif kind == BYTES:
        entry = (str, _KNOWN_BASE64.__getitem__, None)
    elif kind == QUANTITY:
        entry = (_AnyType, None, _accept_quantity)
    elif kind == INT_OR_STRING:
        entry = (_AnyType, None, _accept_int_or_string)
    elif kind == TIME:
        entry = (str, _KNOWN_TIMES.__getitem__, None)
    else:
        entry = (_AnyType, None, _accept_anything)
    node.entry = entry
    return entry


# -- the slow path -------------------------------------------------------------------------------


class _Abort(Exception):
    """An error from a type's own UnmarshalJSON: Go's decoder stops at it and reports it even
    when an earlier UnmarshalTypeError was saved."""


def _json_name(value: Any) -> str:
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, dict):
        return "object"
    return "array"


class _Decoding:
    """What the path-tracking pass found: the first saved type error and the unknown fields
    (document order), as sigs.k8s.io/json collects them."""

    __slots__ = ("saved", "unknown")

    def __init__(self) -> None:
        self.saved: str | None = None
        self.unknown: list[str] = []

    def type_error(self, what: str, struct: str, fields: tuple[str, ...], go_type: str) -> str:
        return f"json: cannot unmarshal {what} into Go struct field {struct}.{'.'.join(fields)} of type {go_type}"

    def save(self, message: str) -> None:
        if self.saved is None:
            self.saved = message


def _zero(node: _Node) -> Any:
    """What Go leaves in a list element or map value decoded from ``null``."""
    return {STRUCT: {}, STRING: "", INT32: 0, INT64: 0, FLOAT: 0, BOOL: False, QUANTITY: "0", INT_OR_STRING: 0}.get(
        node.kind
    )


def _walk_struct(node: _Node, obj: Obj, fields: tuple[str, ...], path: str, st: _Decoding) -> None:
    known = node.fields
    for key in list(obj):
        value = obj[key]
        child = known.get(key)
        if child is None:
            st.unknown.append(f"{path}.{key}" if path else key)
            del obj[key]
        elif value is None:
            del obj[key]
        else:
            _walk_value(child, obj, key, value, node.struct_name, fields + (key,), f"{path}.{key}" if path else key, st)


def _walk_value(node: _Node, holder: Any, slot: Any, value: Any, struct: str, fields: tuple[str, ...], path: str, st: _Decoding) -> None:
    kind = node.kind
    vtype = type(value)
    if kind == STRUCT:
        if vtype is dict:
            _walk_struct(node, value, fields, path, st)
        else:
            st.save(st.type_error(_json_name(value), struct, fields, node.go_type))
    elif kind == ARRAY or kind == MAP:
        if (kind == ARRAY and vtype is not list) or (kind == MAP and vtype is not dict):
            st.save(st.type_error(_json_name(value), struct, fields, node.go_type))
            return
        item = node.item
        keys = range(len(value)) if kind == ARRAY else list(value)
        for key in keys:
            element = value[key]
            sub_path = f"{path}[{key}]" if kind == ARRAY else f"{path}.{key}"
            if element is None:
                value[key] = _zero(item)
            else:
                _walk_value(item, value, key, element, struct, fields, sub_path, st)
    elif kind == STRING:
        if vtype is not str:
            st.save(st.type_error(_json_name(value), struct, fields, "string"))
    elif kind == INT32 or kind == INT64:
        low, high = _INT_BOUNDS[kind]
        if vtype is int:
            if not low <= value <= high:
                st.save(st.type_error(f"number {value}", struct, fields, node.go_type))
        elif vtype is float:
            st.save(st.type_error(f"number {value!r}", struct, fields, node.go_type))
        else:
            st.save(st.type_error(_json_name(value), struct, fields, node.go_type))
    elif kind == FLOAT:
        if vtype is not float and vtype is not int:
            st.save(st.type_error(_json_name(value), struct, fields, "float64"))
    elif kind == BOOL:
        if vtype is not bool:
            st.save(st.type_error(_json_name(value), struct, fields, "bool"))
    elif kind == BYTES:
        _walk_bytes(holder, slot, value, struct, fields, st)
    elif kind == QUANTITY:
        if vtype is str:
            text = value
        elif vtype is int or vtype is float:
            text = repr(value)
        else:
            raise _Abort(QUANTITY_FORMAT_ERROR)
        canonical = _canonical_quantity_or_none(text)
        if canonical is None:
            raise _Abort(quantity_error(text) or QUANTITY_FORMAT_ERROR)
        holder[slot] = canonical
    elif kind == INT_OR_STRING:
        if vtype is str:
            return
        if vtype is int:
            if -(2**31) <= value < 2**31:
                return
            raise _Abort(st.type_error(f"number {value}", struct, fields, "int32"))
        what = f"number {value!r}" if vtype is float else _json_name(value)
        raise _Abort(st.type_error(what, struct, fields, "int32"))
    elif kind == TIME:
        if vtype is not str:
            raise _Abort(st.type_error(_json_name(value), struct, fields, "string"))
        message = time_error(value)
        if message is not None:
            raise _Abort(message)


def _walk_bytes(holder: Any, slot: Any, value: Any, struct: str, fields: tuple[str, ...], st: _Decoding) -> None:
    if type(value) is str:
        message = base64_error(value)
        if message is not None:
            st.save(message)
    elif type(value) is list and all(type(b) is int and 0 <= b <= 255 for b in value):
        # encoding/json decodes a JSON array of numbers into a []byte too; store it as Go
        # would print it back, base64.
        holder[slot] = base64.b64encode(bytes(value)).decode()
    else:
        st.save(st.type_error(_json_name(value), struct, fields, "[]uint8"))


# -- the public checks ---------------------------------------------------------------------------


class _KindChecker:
    __slots__ = ("node", "fast", "kind")

    def __init__(self, node: _Node, kind: str) -> None:
        self.node = node
        self.fast = _fast_entry(node)[1]
        self.kind = kind


@functools.cache
def _compiler() -> _Compiler:
    return _Compiler(schemas())


@functools.cache
def _checker(group: str, version: str, kind: str) -> _KindChecker:
    return _KindChecker(_compiler().named_node(schema_name_for(group, version, kind)), kind)


def _go_quote(text: str) -> str:
    """Go's %q for the field paths in strict errors (printable text is kept as is)."""
    return orjson.dumps(text).decode()


def field_validation_directive(value: str | None, options_kind: str = "CreateOptions") -> str:
    """The ``fieldValidation`` query parameter as a directive; absent or empty means Warn.
    Anything else is upstream's 422 on the options object (``CreateOptions``,
    ``UpdateOptions``, ``PatchOptions``)."""
    if not value:
        return "Warn"
    if value in FIELD_VALIDATION_DIRECTIVES:
        return value
    cause = not_supported("fieldValidation", value, _SUPPORTED_DIRECTIVES)
    raise invalid(options_kind, "", [cause], "meta.k8s.io")


def warning_header(text: str) -> tuple[str, str]:
    """A warning as kube-apiserver sends it: ``Warning: 299 - "unknown field \\"spec.foo\\""``
    (k8s.io/apimachinery NewWarningHeader: code 299, agent ``-``, text quoted with ``"`` and
    ``\\`` escaped)."""
    return ("warning", '299 - "' + text.replace("\\", "\\\\").replace('"', '\\"') + '"')


def check_gvk(obj: Obj, group: str, version: str, kind: str, field_validation: str = "Warn") -> list[str]:
    """Decode-check ``obj`` (a decoded JSON object) as the Go type of ``kind`` would be
    decoded, in place: nulls and unknown fields are removed, Quantities (numeric ones too)
    become the canonical strings kube-apiserver stores.  Returns the warnings for the
    response (``Warn``); raises 400 on a type error or, under ``Strict``, on unknown fields.  The object's own ``kind``/``apiVersion``
    (when strings) name it in messages, as upstream's decoder does."""
    checker = _checker(group, version, kind)
    try:
        checker.fast(obj)
        return []
    except _Slow:
        pass
    st = _Decoding()
    try:
        _walk_struct(checker.node, obj, (), "", st)
    except _Abort as abort:
        raise _cannot_handle(obj, version, kind, str(abort)) from None
    if st.saved is not None:
        raise _cannot_handle(obj, version, kind, st.saved)
    if not st.unknown or field_validation == "Ignore":
        return []
    unknown = [f"unknown field {_go_quote(path)}" for path in st.unknown]
    if field_validation == "Strict":
        raise _cannot_handle(obj, version, kind, "strict decoding error: " + ", ".join(unknown))
    return unknown


def check_object(obj: Obj, resource: Any, field_validation: str = "Warn") -> list[str]:
    """``check_gvk`` for a ``ResourceDef``'s kind."""
    return check_gvk(obj, resource.group, resource.version, resource.kind, field_validation)


def _cannot_handle(obj: Obj, version: str, kind: str, message: str) -> StatusError:
    body_kind = obj.get("kind")
    body_version = obj.get("apiVersion")
    if not isinstance(body_kind, str) or not body_kind:
        body_kind = kind
    if isinstance(body_version, str) and body_version:
        version = body_version.rpartition("/")[2]
    return bad_request(f'{body_kind} in version "{version}" cannot be handled as a {kind}: {message}')
