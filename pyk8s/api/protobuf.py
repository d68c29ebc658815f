"""Kubernetes protobuf request bodies (``application/vnd.kubernetes.protobuf``), decoded to
the JSON a Go client would have sent for the same object.

kubectl 1.37's typed generators (``create namespace|configmap|secret|deployment|service|
job|serviceaccount|priorityclass``; ``run`` and ``expose`` send JSON) and every client-go
clientset write bodies this way: the 4 bytes ``k8s\\x00``, then a
``runtime.Unknown`` (1: TypeMeta{1: apiVersion, 2: kind}, 2: raw, 3: contentEncoding,
4: contentType) whose ``raw`` is the object's message.  The wire schema is
``_data/proto.json`` (see ``_data/regenerate_proto.py``).

Decoding follows what kube-apiserver does in two steps, gogo-protobuf into the Go struct
and then ``encoding/json`` out of it, so that the handlers see one shape whatever the
body's media type:

* gogo writes every non-pointer field, zero or not; a zero scalar behind ``omitempty``
  is therefore dropped, while a pointer field on the wire (``replicas: 0``) is kept;
* an absent pointer, list or map is ``nil``: dropped under ``omitempty``, else ``null``;
* a non-pointer struct is always written (Go's ``omitempty`` never drops a struct), an
  absent one as its zero value; ``omitzero`` drops a zero one (``creationTimestamp``);
* embedded structs without a JSON name are inlined (``Volume``'s ``VolumeSource``);
* map keys come out sorted, as Go writes them;
* specials: meta/v1 ``Time`` (whole seconds, RFC 3339, ``null`` when zero) and
  ``MicroTime`` (microseconds), ``Duration`` (Go's ``1h0m0s``), ``Quantity`` (its
  string), ``IntOrString``, and ``RawExtension``/``FieldsV1`` (raw JSON bytes);
  ``Duration`` and ``RawExtension`` are reached by none of today's kinds: they are here
  so that a new root in the generator (ControllerRevision holds a RawExtension) needs no
  decoder change.

Fields the schema does not know are skipped, as gogo skips them.  Malformed bytes raise a
400; a kind without a schema here raises 415, as the media type did before.
"""

from __future__ import annotations

import base64
import json
import pathlib
import struct
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, Iterator, NamedTuple

import orjson

from pyk8s.api.errors import StatusError, bad_request

__all__ = ["MAGIC", "PROTOBUF_MEDIA_TYPE", "PROTO_SCHEMA", "decode_object", "supported_kinds"]

MAGIC = b"k8s\x00"
PROTO_SCHEMA = pathlib.Path(__file__).with_name("_data") / "proto.json"
PROTOBUF_MEDIA_TYPE = "application/vnd.kubernetes.protobuf"

_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_GO_ZERO_TIME = -62135596800  # time.Time{}.Unix(): January 1, year 1
# Nested messages are bounded by the schema; this guards hand-made bodies all the same.
_MAX_DEPTH = 64

Obj = dict[str, Any]


class _Malformed(Exception):
    """The bytes are not a valid encoding of the message the schema expects."""


class Field(NamedTuple):
    number: int
    name: str  # "" for an inlined embedded struct
    type: Any  # a message or scalar name, or ["list", type] / ["map", key, value]
    pointer: bool
    omitempty: bool
    omitzero: bool
    inline: bool


class _Schema:
    def __init__(self, document: dict[str, Any]) -> None:
        self.kinds: dict[str, dict[str, str]] = document["kinds"]
        self.any_version_kinds: dict[str, str] = document["anyVersionKinds"]
        self.fields: dict[str, list[Field]] = {}
        self.by_number: dict[str, dict[int, Field]] = {}
        for message, entries in document["messages"].items():
            fields = [Field(number, name, kind, "p" in flags, "o" in flags, "z" in flags, "i" in flags)
                      for number, name, kind, flags in entries]
            self.fields[message] = fields
            self.by_number[message] = {field.number: field for field in fields}

    def message_for(self, api_version: str, kind: str) -> str | None:
        return self.kinds.get(api_version, {}).get(kind) or self.any_version_kinds.get(kind)


@lru_cache(maxsize=1)
def _schema() -> _Schema:
    return _Schema(json.loads(PROTO_SCHEMA.read_text()))


def supported_kinds() -> dict[str, list[str]]:
    """apiVersion -> kinds this module decodes (besides ``DeleteOptions``, which it reads
    under any apiVersion)."""
    schema = _schema()
    return {version: sorted(kinds) for version, kinds in schema.kinds.items()}


# -- wire format ---------------------------------------------------------------------------------


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while pos < end:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift >= 70:
            raise _Malformed("varint overflows 64 bits")
    raise _Malformed("unexpected end of data in a varint")


def _scan(buf: bytes, pos: int, end: int) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of each field: an int for varints and fixed
    widths, a (start, end) slice for length-delimited values."""
    while pos < end:
        key = buf[pos]  # one-byte varints (fields 1-15, short lengths) are most of a body
        if key < 0x80:
            pos += 1
        else:
            key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _Malformed("illegal field number 0")
        if wire == _VARINT:
            value, pos = _varint(buf, pos, end)
        elif wire == _BYTES:
            if pos < end and buf[pos] < 0x80:
                length, pos = buf[pos], pos + 1
            else:
                length, pos = _varint(buf, pos, end)
            if length > end - pos:
                raise _Malformed("unexpected end of data in a length-delimited field")
            value, pos = (pos, pos + length), pos + length
        elif wire == _FIXED64:
            if pos + 8 > end:
                raise _Malformed("unexpected end of data in a fixed64 field")
            value, pos = struct.unpack_from("<Q", buf, pos)[0], pos + 8
        elif wire == _FIXED32:
            if pos + 4 > end:
                raise _Malformed("unexpected end of data in a fixed32 field")
            value, pos = struct.unpack_from("<I", buf, pos)[0], pos + 4
        else:  # groups (3, 4) are not used by any Kubernetes message
            raise _Malformed(f"illegal wire type {wire} for field {number}")
        yield number, wire, value
    if pos != end:
        raise _Malformed("unexpected end of data")


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


_INTEGERS = {"bool", "int32", "int64", "uint32", "uint64"}


def _scalar(kind: str, wire: int, value: Any, buf: bytes) -> Any:
    if kind in _INTEGERS:
        if wire != _VARINT:
            raise _Malformed(f"wire type {wire} for a {kind}")
        if kind == "bool":
            return value != 0
        if kind == "int32":
            return _signed(value, 32)
        if kind == "int64":
            return _signed(value, 64)
        return value & 0xFFFFFFFF if kind == "uint32" else value
    if kind == "double":
        if wire != _FIXED64:
            raise _Malformed(f"wire type {wire} for a double")
        return struct.unpack("<d", struct.pack("<Q", value))[0]
    if wire != _BYTES:
        raise _Malformed(f"wire type {wire} for a {kind}")
    start, end = value
    if kind == "string":
        return buf[start:end].decode("utf-8", "replace")  # Go's JSON writes U+FFFD for bad bytes
    return base64.b64encode(buf[start:end]).decode("ascii")  # bytes


def _packed(kind: str, buf: bytes, span: tuple[int, int]) -> list[Any]:
    """A packed repeated scalar: varints (or doubles) back to back in one field."""
    pos, end = span
    values = []
    while pos < end:
        if kind == "double":
            if pos + 8 > end:
                raise _Malformed("unexpected end of data in a packed double")
            values.append(struct.unpack_from("<d", buf, pos)[0])
            pos += 8
        else:
            value, pos = _varint(buf, pos, end)
            values.append(_scalar(kind, _VARINT, value, buf))
    return values


# -- the specials ----------------------------------------------------------------------------------


def _rfc3339(seconds: int, micros: int | None) -> str | None:
    """Go's RFC 3339 in UTC (``micros`` None: whole seconds, as metav1.Time writes it);
    None for Go's zero time, which both types write as ``null``."""
    if seconds == _GO_ZERO_TIME and not micros:
        return None
    try:
        moment = _EPOCH + timedelta(seconds=seconds, microseconds=micros or 0)
    except OverflowError:  # Go's MarshalJSON refuses years outside [0, 9999] too
        raise _Malformed(f"timestamp {seconds} is out of range") from None
    text = (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
            f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}")
    return text + ("Z" if micros is None else f".{moment.microsecond:06d}Z")


def _go_duration(nanoseconds: int) -> str:
    """Go's time.Duration.String()."""
    if nanoseconds == 0:
        return "0s"
    sign, rest = ("-" if nanoseconds < 0 else ""), abs(nanoseconds)

    def fraction(value: int, digits: int) -> str:
        return ("." + f"{value:0{digits}d}".rstrip("0")) if value else ""

    if rest < 1_000:
        return f"{sign}{rest}ns"
    if rest < 1_000_000:
        return f"{sign}{rest // 1_000}{fraction(rest % 1_000, 3)}µs"
    if rest < 1_000_000_000:
        return f"{sign}{rest // 1_000_000}{fraction(rest % 1_000_000, 6)}ms"
    seconds, nanos = divmod(rest, 1_000_000_000)
    text = f"{seconds % 60}{fraction(nanos, 9)}s"
    minutes = seconds // 60
    if minutes:
        text = f"{minutes % 60}m{text}"
        if minutes >= 60:
            text = f"{minutes // 60}h{text}"
    return sign + text


def _special(kind: str, buf: bytes, start: int, end: int) -> Any:
    """The JSON of a special type's message (an empty span is its zero value)."""
    fields: dict[int, tuple[int, Any]] = {}
    for number, wire, value in _scan(buf, start, end):
        fields[number] = (wire, value)

    def get(number: int, scalar: str, default: Any) -> Any:
        if number not in fields:
            return default
        return _scalar(scalar, *fields[number], buf)

    if kind in ("Time", "MicroTime"):
        if start == end:  # gogo writes nothing for a zero time
            return None
        seconds = get(1, "int64", 0)
        if kind == "Time":  # upstream keeps whole seconds: time.Unix(seconds, 0)
            return _rfc3339(seconds, None)
        return _rfc3339(seconds, get(2, "int32", 0) // 1000)
    if kind == "Duration":
        return _go_duration(get(1, "int64", 0))
    if kind == "Quantity":
        return get(1, "string", "") or "0"
    if kind == "IntOrString":
        value_type = get(1, "int64", 0)
        if value_type == 0:
            return get(2, "int32", 0)
        if value_type == 1:
            return get(3, "string", "")
        raise _Malformed(f"impossible IntOrString.Type {value_type}")
    # RawExtension, FieldsV1: raw JSON bytes in field 1; nil is null.
    if 1 not in fields:
        return None
    wire, span = fields[1]
    if wire != _BYTES:
        raise _Malformed(f"wire type {wire} for the raw bytes of a {kind}")
    try:
        return orjson.loads(buf[span[0]:span[1]])
    except orjson.JSONDecodeError as exc:
        raise _Malformed(f"{kind} does not hold JSON: {exc}") from None


_SPECIALS = frozenset(("Time", "MicroTime", "Duration", "Quantity", "IntOrString", "RawExtension", "FieldsV1"))
_SCALARS = frozenset(("string", "bytes", "double")) | _INTEGERS
_ZERO_SCALARS = {"string": "", "bool": False, "double": 0.0, "bytes": None}


# -- messages ----------------------------------------------------------------------------------------


class _Decoder:
    """Decodes messages out of one buffer."""

    def __init__(self, schema: _Schema, buf: bytes) -> None:
        self.schema = schema
        self.buf = buf

    def value(self, kind: str, occurrences: list[tuple[int, Any]], depth: int) -> Any:
        """A singular field's value from its occurrences (the last scalar wins; a message
        repeated on the wire is the merge of its parts, i.e. their concatenation)."""
        if kind in _SCALARS:
            return _scalar(kind, *occurrences[-1], self.buf)
        spans = []
        for wire, value in occurrences:
            if wire != _BYTES:
                raise _Malformed(f"wire type {wire} for a {kind} message")
            spans.append(value)
        if len(spans) == 1:
            return self.message(kind, spans[0][0], spans[0][1], depth + 1)
        joined = b"".join(self.buf[start:end] for start, end in spans)
        return _Decoder(self.schema, joined).message(kind, 0, len(joined), depth + 1)

    def message(self, kind: str, start: int, end: int, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise _Malformed("messages nested too deeply")
        if kind in _SPECIALS:
            return _special(kind, self.buf, start, end)
        by_number = self.schema.by_number[kind]
        found: dict[int, list[tuple[int, Any]]] = {}
        for number, wire, value in _scan(self.buf, start, end):
            if number in by_number:
                found.setdefault(number, []).append((wire, value))
        out: Obj = {}
        for field in self.schema.fields[kind]:
            occurrences = found.get(field.number)
            if isinstance(field.type, list):
                if field.type[0] == "map":
                    value = self.map(field.type, occurrences, depth)
                else:
                    value = self.list(field.type[1], occurrences, depth)
                if not value:  # Go cannot tell an empty list or map on the wire from nil
                    if field.omitempty or field.omitzero:
                        continue
                    value = None
            elif occurrences is None and field.pointer:
                if not (field.omitempty or field.omitzero):
                    out[field.name] = None
                continue
            else:
                if occurrences is None:
                    value = _zero(self.schema, field.type, depth)
                else:
                    value = self.value(field.type, occurrences, depth)
                if not field.pointer and self._omitted(field, value, depth):
                    continue
            if field.inline:
                if value is not None:
                    out.update(value)
            else:
                out[field.name] = value
        return out

    def _omitted(self, field: Field, value: Any, depth: int) -> bool:
        """Go's omitempty (empty scalars only: it never drops a struct) and omitzero."""
        if field.type in _SCALARS:
            if field.omitempty and (value is None or value == "" or value is False or value == 0):
                return True
            return field.omitzero and value == _ZERO_SCALARS.get(field.type, 0)
        return field.omitzero and value == _zero(self.schema, field.type, depth)

    def list(self, kind: str, occurrences: list[tuple[int, Any]] | None, depth: int) -> list[Any]:
        values: list[Any] = []
        for wire, value in occurrences or ():
            if wire == _BYTES and kind in _SCALARS and kind not in ("string", "bytes"):
                values.extend(_packed(kind, self.buf, value))
            else:
                values.append(self.value(kind, [(wire, value)], depth))
        return values

    def map(self, kind: list[str], occurrences: list[tuple[int, Any]] | None, depth: int) -> dict[str, Any]:
        _map, key_kind, value_kind = kind
        entries: dict[str, Any] = {}
        for wire, span in occurrences or ():
            if wire != _BYTES:
                raise _Malformed(f"wire type {wire} for a map entry")
            key: Any = ""
            value: Any = None
            has_value = False
            for number, entry_wire, entry_value in _scan(self.buf, span[0], span[1]):
                if number == 1:
                    key = _scalar(key_kind, entry_wire, entry_value, self.buf)
                elif number == 2:
                    value = self.value(value_kind, [(entry_wire, entry_value)], depth)
                    has_value = True
            entries[key] = value if has_value else _zero(self.schema, value_kind, depth)
        return dict(sorted(entries.items()))


def _zero(schema: _Schema, kind: str, depth: int) -> Any:
    """Go's zero value of a non-pointer field, as JSON (a fresh object each time: the
    handlers change what they are given in place)."""
    if kind in _SCALARS:
        return _ZERO_SCALARS.get(kind, 0)
    return _Decoder(schema, b"").message(kind, 0, 0, depth + 1)


def _envelope(body: bytes) -> tuple[str, str, bytes]:
    """(apiVersion, kind, raw) of the ``runtime.Unknown`` after the magic bytes."""
    api_version = kind = content_encoding = content_type = ""
    raw = b""
    for number, wire, value in _scan(body, len(MAGIC), len(body)):
        if wire != _BYTES:
            continue
        start, end = value
        if number == 1:
            for meta_number, meta_wire, meta_value in _scan(body, start, end):
                if meta_number in (1, 2) and meta_wire == _BYTES:
                    text = body[meta_value[0]:meta_value[1]].decode("utf-8", "replace")
                    if meta_number == 1:
                        api_version = text
                    else:
                        kind = text
        elif number == 2:
            raw = body[start:end]
        elif number == 3:
            content_encoding = body[start:end].decode("utf-8", "replace")
        elif number == 4:
            content_type = body[start:end].decode("utf-8", "replace")
    if content_encoding:
        raise _Malformed(f"unsupported contentEncoding {content_encoding!r}")
    if content_type and content_type != PROTOBUF_MEDIA_TYPE:
        raise _Malformed(f"unsupported contentType {content_type!r} inside the envelope")
    return api_version, kind, raw


def decode_object(body: bytes) -> Obj:
    """A protobuf request body as the JSON object a Go client would have sent.  Raises
    400 for bytes that do not decode and 415 for a kind this server has no schema for."""
    if not body.startswith(MAGIC):
        raise bad_request(
            "couldn't decode the request body as protobuf: provided data does not appear to be a "
            f"protobuf message, expected prefix {list(MAGIC)}"
        )
    schema = _schema()
    try:
        api_version, kind, raw = _envelope(body)
        if not kind:
            raise _Malformed("the envelope names no kind")
        message = schema.message_for(api_version, kind)
        if message is None:
            raise StatusError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format ({PROTOBUF_MEDIA_TYPE}) for "
                f"{kind} ({api_version or 'no apiVersion'}) - this server decodes protobuf only for "
                "its built-in kinds; send application/json",
            )
        decoded = _Decoder(schema, raw).message(message, 0, len(raw), 0)
    except _Malformed as exc:
        raise bad_request(f"couldn't decode the request body as protobuf: {exc}") from None
    return {"kind": kind, "apiVersion": api_version, **decoded}
