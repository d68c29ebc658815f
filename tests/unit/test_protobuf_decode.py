"""Protobuf request bodies (``pyk8s.api.protobuf``): bytes captured from kubectl 1.37.1,
Go's pointer/omitempty semantics field by field, malformed input, the API server path, and
a round trip of random objects through a test-only gogo-style encoder built from the same
schema (``_data/proto.json``)."""

from __future__ import annotations

import base64
import json
import struct
from datetime import datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyk8s.api.errors import StatusError
from pyk8s.api.kinds import default_registry
from pyk8s.api.protobuf import MAGIC, PROTO_SCHEMA, _go_duration, decode_object, supported_kinds
from pyk8s.apiserver.app import APIServer
from pyk8s.store import open_store

SCHEMA = json.loads(PROTO_SCHEMA.read_text())
MESSAGES = SCHEMA["messages"]
SPECIALS = {"Time", "MicroTime", "Duration", "Quantity", "IntOrString", "RawExtension", "FieldsV1"}
SCALARS = {"string", "bytes", "bool", "int32", "int64", "uint32", "uint64", "double"}
PROTOBUF = "application/vnd.kubernetes.protobuf"


# -- a gogo-style encoder, for tests only --------------------------------------------------------


def uvarint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int32/int64 go out as 10-byte two's complement, as gogo does
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def tag(number: int, wire: int) -> bytes:
    return uvarint(number << 3 | wire)


def length_delimited(number: int, payload: bytes) -> bytes:
    return tag(number, 2) + uvarint(len(payload)) + payload


def encode_scalar(number: int, kind: str, value) -> bytes:
    if kind == "string":
        return length_delimited(number, value.encode())
    if kind == "bytes":
        return length_delimited(number, base64.b64decode(value))
    if kind == "double":
        return tag(number, 1) + struct.pack("<d", value)
    return tag(number, 0) + uvarint(int(value))


def parse_time(text: str) -> tuple[int, int]:
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if "." in text else "%Y-%m-%dT%H:%M:%SZ"
    moment = datetime.strptime(text, fmt).replace(tzinfo=timezone.utc)
    delta = moment - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return delta.days * 86400 + delta.seconds, delta.microseconds * 1000


def encode_special(kind: str, value) -> bytes:
    if kind in ("Time", "MicroTime"):
        if value is None:
            return b""
        seconds, nanos = parse_time(value)
        return tag(1, 0) + uvarint(seconds) + tag(2, 0) + uvarint(nanos)
    if kind == "Quantity":
        return length_delimited(1, value.encode())
    if kind == "IntOrString":
        if isinstance(value, str):
            return tag(1, 0) + uvarint(1) + tag(2, 0) + uvarint(0) + length_delimited(3, value.encode())
        return tag(1, 0) + uvarint(0) + tag(2, 0) + uvarint(value) + length_delimited(3, b"")
    if kind in ("RawExtension", "FieldsV1"):
        return b"" if value is None else length_delimited(1, orjson.dumps(value))
    raise AssertionError(kind)


def inline_names(message: str) -> set[str]:
    names = set()
    for _number, name, kind, flags in MESSAGES[message]:
        names |= inline_names(kind) if "i" in flags else {name}
    return names


def encode_message(message: str, obj: dict) -> bytes:
    """What gogo writes for the Go struct that ``obj`` is the JSON of: every non-pointer
    field, zero or not; pointers, lists and maps only when set."""
    if message in SPECIALS:
        return encode_special(message, obj)
    out = bytearray()
    for number, name, kind, flags in MESSAGES[message]:
        if "i" in flags:
            part = {key: value for key, value in obj.items() if key in inline_names(kind)}
            out += length_delimited(number, encode_message(kind, part))
            continue
        value = obj.get(name)
        if isinstance(kind, list):
            for item in value or ():
                if kind[0] == "list":
                    out += encode_value(number, kind[1], item)
                else:
                    entry = encode_scalar(1, kind[1], item) + encode_value(2, kind[2], value[item])
                    out += length_delimited(number, entry)
            continue
        if "p" in flags and value is None:
            continue
        if value is None and name not in obj:
            value = {"string": "", "bool": False, "double": 0.0, "bytes": ""}.get(kind, 0) if kind in SCALARS else (
                None if kind in ("Time", "MicroTime", "RawExtension", "FieldsV1") else
                "0" if kind == "Quantity" else 0 if kind == "IntOrString" else {})
        out += encode_value(number, kind, value)
    return bytes(out)


def encode_value(number: int, kind: str, value) -> bytes:
    if kind in SCALARS:
        return encode_scalar(number, kind, value)
    return length_delimited(number, encode_message(kind, value))


def envelope(api_version: str, kind: str, raw: bytes, extra: bytes = b"") -> bytes:
    type_meta = length_delimited(1, api_version.encode()) + length_delimited(2, kind.encode())
    return MAGIC + length_delimited(1, type_meta) + length_delimited(2, raw) + extra


def to_protobuf(obj: dict) -> bytes:
    message = SCHEMA["kinds"][obj["apiVersion"]][obj["kind"]]
    fields = {key: value for key, value in obj.items() if key not in ("kind", "apiVersion")}
    return envelope(obj["apiVersion"], obj["kind"], encode_message(message, fields))


# -- bodies kubectl 1.37.1 sent; expected = `kubectl create ... --dry-run=client -o json` ---------


KUBECTL_BODIES = [
    (  # kubectl create namespace demo
        "6b3873000a0f0a02763112094e616d657370616365121c0a140a0464656d6f12001a0022002a0032003800420012001a020a"
        "001a002200",
        {"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "demo"}, "spec": {}, "status": {}},
    ),
    (  # kubectl create secret generic s1 --from-literal=user=admin
        "6b3873000a0c0a027631120653656372657412250a120a02733112001a0022002a00320038004200120d0a04757365721205"
        "61646d696e1a001a002200",
        {"kind": "Secret", "apiVersion": "v1", "metadata": {"name": "s1"}, "data": {"user": "YWRtaW4="}},
    ),
    (  # kubectl create service clusterip svc1 --tcp=80:8080
        "6b3873000a0d0a027631120753657276696365126c0a210a047376633112001a0022002a003200380042005a0b0a03617070"
        "12047376633112430a1b0a0738302d38303830120354435018502207080010903f1a002800120b0a03617070120473766331"
        "1a002209436c757374657249503a00420052005a00600068001a020a001a002200",
        {"kind": "Service", "apiVersion": "v1", "metadata": {"name": "svc1", "labels": {"app": "svc1"}},
         "spec": {"ports": [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080}],
                  "selector": {"app": "svc1"}, "type": "ClusterIP"},
         "status": {"loadBalancer": {}}},
    ),
    (  # kubectl create priorityclass high --value=1000 --preemption-policy=Never
        "6b3873000a250a147363686564756c696e672e6b38732e696f2f7631120d5072696f72697479436c61737312240a140a0468"
        "69676812001a0022002a0032003800420010e807180022002a054e657665721a002200",
        {"kind": "PriorityClass", "apiVersion": "scheduling.k8s.io/v1", "metadata": {"name": "high"},
         "value": 1000, "preemptionPolicy": "Never"},
    ),
    (  # kubectl create deployment web --image=nginx --replicas=0 --port=80
        "6b3873000a150a07617070732f7631120a4465706c6f796d656e7412b8010a1f0a0377656212001a0022002a003200380042"
        "005a0a0a0361707012037765621286010800120c0a0a0a0361707012037765621a6c0a1c0a0012001a0022002a0032003800"
        "42005a0a0a036170701203776562124c122e0a056e67696e7812056e67696e782a00320a0a001000185022002a0042006a00"
        "7200800100880100900100a201001a00320042004a0052005800600068008201008a01009a0100c2010022020a0028003800"
        "1a0c080010001800200028003800" + "1a002200",
        {"kind": "Deployment", "apiVersion": "apps/v1", "metadata": {"name": "web", "labels": {"app": "web"}},
         "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}},
                  "template": {"metadata": {"labels": {"app": "web"}},
                               "spec": {"containers": [{"name": "nginx", "image": "nginx",
                                                        "ports": [{"containerPort": 80}], "resources": {}}]}},
                  "strategy": {}},
         "status": {}},
    ),
]


@pytest.mark.parametrize("hex_body,expected", KUBECTL_BODIES, ids=lambda v: v["kind"] if isinstance(v, dict) else "")
def test_kubectl_bodies_decode_to_kubectls_own_json(hex_body, expected):
    decoded = decode_object(bytes.fromhex(hex_body))
    assert decoded == expected
    assert list(decoded)[:2] == ["kind", "apiVersion"]


# -- Go's encoding/json, field by field ------------------------------------------------------------


def deployment_spec(raw_spec: bytes) -> dict:
    raw = length_delimited(2, raw_spec)
    return decode_object(envelope("apps/v1", "Deployment", raw))["spec"]


def test_pointer_zero_is_kept_and_non_pointer_zero_dropped():
    spec = deployment_spec(tag(1, 0) + uvarint(0) + tag(5, 0) + uvarint(0) + tag(7, 0) + uvarint(0))
    assert spec["replicas"] == 0  # *int32: set to 0 on purpose
    assert "minReadySeconds" not in spec and "paused" not in spec  # int32/bool omitempty


def test_absent_fields_follow_go_json():
    spec = deployment_spec(b"")
    # selector is *LabelSelector without omitempty: null; template a non-pointer struct: its
    # zero value, whose PodSpec.containers (no omitempty) is null; strategy: never omitted.
    assert spec == {"selector": None, "template": {"metadata": {}, "spec": {"containers": None}}, "strategy": {}}


def test_embedded_struct_is_inlined():
    host_path = length_delimited(1, length_delimited(1, b"/data"))  # VolumeSource.hostPath.path
    volume = length_delimited(1, b"data") + length_delimited(2, host_path)
    pod_spec = length_delimited(1, volume)
    pod = decode_object(envelope("v1", "Pod", length_delimited(2, pod_spec)))
    assert pod["spec"]["volumes"] == [{"name": "data", "hostPath": {"path": "/data"}}]


def test_map_keys_are_sorted_and_missing_values_are_zero():
    labels = b"".join(length_delimited(11, length_delimited(1, key.encode()) + length_delimited(2, b"v"))
                      for key in ("b", "a"))
    labels += length_delimited(11, length_delimited(1, b"c"))
    meta = decode_object(envelope("v1", "ConfigMap", length_delimited(1, labels)))["metadata"]
    assert list(meta["labels"].items()) == [("a", "v"), ("b", "v"), ("c", "")]


def pod_security_context(raw: bytes) -> dict:
    pod_spec = length_delimited(14, raw)  # PodSpec.securityContext
    return decode_object(envelope("v1", "Pod", length_delimited(2, pod_spec)))["spec"]["securityContext"]


def test_repeated_numbers_packed_or_not():
    unpacked = tag(4, 0) + uvarint(1) + tag(4, 0) + uvarint(2)
    packed = length_delimited(4, uvarint(3) + uvarint(2**40))
    assert pod_security_context(unpacked + packed)["supplementalGroups"] == [1, 2, 3, 2**40]


def test_negative_numbers_are_ten_byte_varints():
    context = pod_security_context(tag(2, 0) + uvarint(-5))  # runAsUser *int64
    assert context == {"runAsUser": -5}
    assert len(uvarint(-5)) == 10


def test_a_message_repeated_on_the_wire_is_merged():
    first = length_delimited(1, b"web")
    second = length_delimited(3, b"team")
    obj = decode_object(envelope("v1", "ConfigMap", length_delimited(1, first) + length_delimited(1, second)))
    assert obj["metadata"] == {"name": "web", "namespace": "team"}


def test_unknown_fields_are_skipped():
    raw = length_delimited(1, length_delimited(1, b"x")) + length_delimited(99, b"future") + tag(98, 0) + uvarint(7)
    assert decode_object(envelope("v1", "ConfigMap", raw)) == {"kind": "ConfigMap", "apiVersion": "v1",
                                                                "metadata": {"name": "x"}}


def object_meta(raw: bytes) -> dict:
    return decode_object(envelope("v1", "ConfigMap", length_delimited(1, raw)))["metadata"]


def test_times():
    # creationTimestamp is omitzero in 1.37: gogo's empty Time is dropped, the epoch is not.
    assert object_meta(length_delimited(8, b"")) == {}
    assert object_meta(length_delimited(8, tag(1, 0) + uvarint(0))) == {"creationTimestamp": "1970-01-01T00:00:00Z"}
    # metav1.Time keeps whole seconds (upstream Unmarshal: time.Unix(seconds, 0)).
    stamp = tag(1, 0) + uvarint(1700000000) + tag(2, 0) + uvarint(999_999_999)
    assert object_meta(length_delimited(9, stamp)) == {"deletionTimestamp": "2023-11-14T22:13:20Z"}
    # MicroTime keeps microseconds.
    spec = decode_object(envelope("coordination.k8s.io/v1", "Lease",
                                  length_delimited(2, length_delimited(4, stamp))))["spec"]
    assert spec == {"renewTime": "2023-11-14T22:13:20.999999Z"}


def test_int_or_string_and_quantity():
    pod_spec = length_delimited(2, length_delimited(1, b"c") + length_delimited(8, length_delimited(
        1, length_delimited(1, b"cpu") + length_delimited(2, length_delimited(1, b"250m")))))
    pod = decode_object(envelope("v1", "Pod", length_delimited(2, pod_spec)))
    assert pod["spec"]["containers"][0]["resources"] == {"limits": {"cpu": "250m"}}
    named_port = tag(1, 0) + uvarint(1) + length_delimited(3, b"http")
    service_spec = length_delimited(1, tag(3, 0) + uvarint(80) + length_delimited(4, named_port))
    service = decode_object(envelope("v1", "Service", length_delimited(2, service_spec)))
    assert service["spec"]["ports"] == [{"port": 80, "targetPort": "http"}]


@pytest.mark.parametrize("nanoseconds,text", [
    (0, "0s"), (999, "999ns"), (1_500, "1.5µs"), (2_000_000, "2ms"), (1_000_000_000, "1s"),
    (61_000_000_000, "1m1s"), (3_600_000_000_000, "1h0m0s"), (3_661_500_000_000, "1h1m1.5s"),
    (-90_000_000_000, "-1m30s"),
])
def test_go_duration_strings(nanoseconds, text):
    assert _go_duration(nanoseconds) == text


def test_delete_options_under_any_group_version():
    raw = tag(1, 0) + uvarint(0) + length_delimited(4, b"Foreground")
    for api_version in ("v1", "apps/v1", "batch/v1"):
        assert decode_object(envelope(api_version, "DeleteOptions", raw)) == {
            "kind": "DeleteOptions", "apiVersion": api_version, "gracePeriodSeconds": 0,
            "propagationPolicy": "Foreground"}


# -- malformed input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("body,fragment", [
    (b'{"kind":"Pod"}', "expected prefix [107, 56, 115, 0]"),
    (MAGIC + b"\x0a\x0f\x0a\x02v1\x12\x03Pod", "unexpected end of data"),
    (envelope("v1", "ConfigMap", tag(1, 0) + uvarint(1)), "wire type 0"),
    (envelope("v1", "ConfigMap", b"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"), "varint"),
    (envelope("v1", "ConfigMap", b"\x0b"), "illegal wire type 3"),
    (envelope("v1", "ConfigMap", b"", length_delimited(3, b"gzip")), "contentEncoding"),
    (MAGIC + length_delimited(2, b""), "names no kind"),
    (envelope("v1", "ConfigMap", length_delimited(1, length_delimited(9, tag(1, 0) + uvarint(2**62)))), "out of range"),
])
def test_malformed_bodies_are_bad_requests(body, fragment):
    with pytest.raises(StatusError) as raised:
        decode_object(body)
    assert raised.value.code == 400 and raised.value.reason == "BadRequest"
    assert fragment in raised.value.message


def test_kind_without_a_schema_is_unsupported():
    with pytest.raises(StatusError) as raised:
        decode_object(envelope("rbac.authorization.k8s.io/v1", "Role", b""))
    assert raised.value.code == 415 and raised.value.reason == "UnsupportedMediaType"
    assert "Role" in raised.value.message


def test_schema_covers_every_served_kind():
    kinds = supported_kinds()
    for resource in default_registry():
        assert resource.kind in kinds.get(resource.api_version, []), resource.kind
    referenced = [kind for fields in MESSAGES.values() for _n, _name, kind, _f in fields]
    for kind in referenced:
        for name in (kind[1:] if isinstance(kind, list) else [kind]):
            assert name in MESSAGES or name in SPECIALS or name in SCALARS, name


# -- through the API server ----------------------------------------------------------------------


@pytest.fixture
def app():
    server = APIServer(open_store("native"), compaction_interval=0)
    yield server
    server.store.close()


def request(app, method, path, data, content_type=PROTOBUF):
    response = app.handle(method, path, "", content_type, data)
    return response.status, orjson.loads(response.body)


POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "labels": {"app": "web"}},
       "spec": {"containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 80}],
                                "env": [{"name": "A", "value": "1"}], "resources": {}}],
                "terminationGracePeriodSeconds": 0}}


def test_protobuf_and_json_create_the_same_object(app):
    status, from_protobuf = request(app, "POST", "/api/v1/namespaces/default/pods", to_protobuf(POD))
    assert status == 201, from_protobuf
    as_json = {**POD, "metadata": {**POD["metadata"], "name": "web-json"}}
    status, from_json = request(app, "POST", "/api/v1/namespaces/default/pods", orjson.dumps(as_json), "application/json")
    assert status == 201
    assert from_protobuf["spec"] == from_json["spec"]
    assert from_protobuf["spec"]["terminationGracePeriodSeconds"] == 0  # a pointer zero survived


def test_protobuf_update_and_delete_options(app):
    status, created = request(app, "POST", "/api/v1/namespaces/default/configmaps",
                              to_protobuf({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"},
                                           "data": {"a": "1"}}))
    assert status == 201
    update = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "2"},
              "metadata": {"name": "cm", "resourceVersion": created["metadata"]["resourceVersion"]}}
    status, updated = request(app, "PUT", "/api/v1/namespaces/default/configmaps/cm", to_protobuf(update))
    assert status == 200 and updated["data"] == {"a": "2"}
    stale = envelope("v1", "DeleteOptions", length_delimited(2, length_delimited(2, b"1")))  # preconditions
    status, conflict = request(app, "DELETE", "/api/v1/namespaces/default/configmaps/cm", stale)
    assert status == 409, conflict
    status, _ = request(app, "DELETE", "/api/v1/namespaces/default/configmaps/cm",
                        envelope("v1", "DeleteOptions", tag(1, 0) + uvarint(0)))
    assert status == 200


def test_protobuf_errors_through_the_server(app):
    revision = app.store.current_revision()
    status, obj = request(app, "POST", "/api/v1/namespaces/default/pods", MAGIC + b"\x0a\x0f")
    assert (status, obj["reason"]) == (400, "BadRequest")
    status, obj = request(app, "PATCH", "/api/v1/namespaces/default/pods/x", to_protobuf(POD))
    assert (status, obj["reason"]) == (415, "UnsupportedMediaType")
    assert app.store.current_revision() == revision


# -- random objects: test encoder -> decoder = identity -------------------------------------------


MAX_DEPTH = 4
INT_RANGES = {"int32": (-2**31, 2**31 - 1), "int64": (-2**63, 2**63 - 1), "uint32": (0, 2**32 - 1),
              "uint64": (0, 2**64 - 1)}
TEXT = st.text(max_size=6)


def draw_scalar(data, kind):
    if kind == "string":
        return data.draw(TEXT)
    if kind == "bool":
        return data.draw(st.booleans())
    if kind == "bytes":
        return base64.b64encode(data.draw(st.binary(max_size=6))).decode()
    if kind == "double":
        return data.draw(st.floats(allow_nan=False, allow_infinity=False))
    return data.draw(st.integers(*INT_RANGES[kind]))


def draw_special(data, kind, populate):
    if kind in ("Time", "MicroTime"):
        if not populate:
            return None
        seconds = data.draw(st.integers(-62135596799, 253402300799))
        stamp = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=seconds)
        text = f"{stamp.year:04d}-{stamp.month:02d}-{stamp.day:02d}T{stamp:%H:%M:%S}"
        return text + (f".{data.draw(st.integers(0, 999999)):06d}Z" if kind == "MicroTime" else "Z")
    if kind == "Quantity":
        return data.draw(st.sampled_from(["1", "250m", "2Gi", "1e3"])) if populate else "0"
    if kind == "IntOrString":
        return data.draw(st.one_of(st.integers(*INT_RANGES["int32"]), TEXT)) if populate else 0
    if kind == "FieldsV1":
        return data.draw(st.dictionaries(TEXT, st.dictionaries(TEXT, st.just({}), max_size=2), max_size=2))
    raise AssertionError(kind)


def is_zero(value) -> bool:
    return value is None or value == "" or value is False or (value == 0 and not isinstance(value, bool))


def draw_value(data, kind, depth):
    if kind in SCALARS:
        return draw_scalar(data, kind)
    if kind in SPECIALS:
        return draw_special(data, kind, True)
    return draw_message(data, kind, depth + 1)


def draw_message(data, message, depth) -> dict:
    """The JSON Go would write for a random struct: only shapes the decoder can produce."""
    out: dict = {}
    for _number, name, kind, flags in MESSAGES[message]:
        if "i" in flags:
            out.update(draw_message(data, kind, depth + 1))
            continue
        populate = depth < MAX_DEPTH and data.draw(st.integers(0, 3)) == 0
        omit = "o" in flags or "z" in flags
        if isinstance(kind, list):
            if populate:
                size = data.draw(st.integers(1, 2))
                if kind[0] == "list":
                    value = [draw_value(data, kind[1], depth) for _ in range(size)]
                else:
                    keys = data.draw(st.lists(TEXT, min_size=size, max_size=size, unique=True))
                    value = {key: draw_value(data, kind[2], depth) for key in sorted(keys)}
            elif omit:
                continue
            else:
                value = None
        elif "p" in flags:
            if populate:
                value = draw_value(data, kind, depth)
            elif omit:
                continue
            else:
                value = None
        elif kind in SCALARS:
            value = draw_scalar(data, kind) if populate else {"string": "", "bool": False, "bytes": None}.get(kind, 0)
            if omit and is_zero(value):
                continue
            if kind == "bytes" and value is None:
                value = ""  # gogo writes the empty bytes, which decode to a non-nil []byte
        elif kind in SPECIALS:
            value = draw_special(data, kind, populate)
            if "z" in flags and value is None:
                continue
        else:
            value = draw_message(data, kind, depth + 1 if populate else MAX_DEPTH)
        out[name] = value
    return out


ROOTS = [(version, kind) for version, kinds in SCHEMA["kinds"].items() for kind in kinds]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.sampled_from(ROOTS), st.data())
def test_random_objects_round_trip(root, data):
    api_version, kind = root
    obj = {"kind": kind, "apiVersion": api_version,
           **draw_message(data, SCHEMA["kinds"][api_version][kind], 0)}
    assert decode_object(to_protobuf(obj)) == obj
