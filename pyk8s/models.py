"""Typed Pod and Node objects for Python users, convertible to and from the wire JSON.

Each model is a keyword-only dataclass whose fields are the upstream fields in snake_case,
declared in upstream's (Go struct) order so that ``to_dict`` emits keys in the order
kube-apiserver does.  One generic mapper converts every model:

* ``to_dict()`` gives camelCase keys and omits fields that are ``None`` (the default of
  every optional field).  A value that was set, even an empty one, is emitted: real wire
  objects carry ``"resources": {}`` and ``"status": {}``, and round trips must keep them.
* ``from_dict(d)`` takes the known keys and keeps every other key (and known keys whose
  value is an explicit ``null``), untouched, in ``extra``;
  ``to_dict`` writes ``extra`` back after the known fields, so
  ``Model.from_dict(d).to_dict() == d`` for any object ``d``.
* ``from_dict`` is faithful to its input: a key that is absent stays ``None`` even where the
  constructor has a default (``kind``/``apiVersion``), so list items without them round-trip.

Fields that pyk8s has no typed use for yet (probes, volumes, affinity, ...) are plain
dicts/lists of the wire JSON; the rest of an object is in ``extra``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Self

import orjson

__all__ = [
    "Condition",
    "Container",
    "ContainerPort",
    "EnvVar",
    "Node",
    "NodeAddress",
    "NodeSpec",
    "NodeStatus",
    "NodeSystemInfo",
    "ObjectMeta",
    "Pod",
    "PodSpec",
    "PodStatus",
    "ResourceRequirements",
    "Taint",
    "Toleration",
]

JSON = Any


def _wire(json_name: str) -> Any:
    """An optional field whose wire name is not the plain camelCase of its Python name."""
    return dataclasses.field(default=None, metadata={"json": json_name})


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


# How a field's value converts: as is, as a nested model, or as a list of models.
_PLAIN, _MODEL, _MODEL_LIST = 0, 1, 2


def _kind_of(annotation: Any) -> tuple[int, type | None]:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            annotation = args[0]
    if isinstance(annotation, type) and issubclass(annotation, _Model):
        return _MODEL, annotation
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation) or (Any,)
        if isinstance(item, type) and issubclass(item, _Model):
            return _MODEL_LIST, item
    return _PLAIN, None


class _Model:
    """The camelCase <-> snake_case mapper shared by every model (see the module doc)."""

    __slots__ = ()
    extra: dict[str, JSON]

    @classmethod
    def _fields_spec(cls) -> tuple[tuple[str, str, int, type | None], ...]:
        """(attribute, wire key, conversion, model type) per field; built once per class."""
        spec = cls.__dict__.get("_spec_cache")
        if spec is None:
            hints = typing.get_type_hints(cls)
            spec = tuple(
                (f.name, f.metadata.get("json") or _camel(f.name), *_kind_of(hints[f.name]))
                for f in dataclasses.fields(cls)  # type: ignore[arg-type]
                if f.name != "extra"
            )
            type.__setattr__(cls, "_spec_cache", spec)
        return spec

    def to_dict(self) -> dict[str, JSON]:
        """The wire JSON object (a fresh dict; scalar lists and maps are copied shallowly)."""
        out: dict[str, JSON] = {}
        for attr, key, kind, _ in self._fields_spec():
            value = getattr(self, attr)
            if value is None:
                continue
            if kind == _MODEL:
                value = value.to_dict()
            elif kind == _MODEL_LIST:
                value = [item.to_dict() for item in value]
            elif isinstance(value, dict):
                value = dict(value)
            elif isinstance(value, list):
                value = list(value)
            out[key] = value
        for key, value in self.extra.items():
            out.setdefault(key, value)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, JSON]) -> Self:
        """Build from wire JSON; unknown keys are kept in ``extra``."""
        if not isinstance(data, dict):
            raise TypeError(f"{cls.__name__}.from_dict expects a JSON object, got {type(data).__name__}")
        kwargs: dict[str, Any] = {}
        known: set[str] = set()
        for attr, key, kind, model in cls._fields_spec():
            known.add(key)
            value = data.get(key)
            if value is not None:
                if kind == _MODEL:
                    value = model.from_dict(value)  # type: ignore[union-attr]
                elif kind == _MODEL_LIST:
                    value = [model.from_dict(item) for item in value]  # type: ignore[union-attr]
            kwargs[attr] = value
        # An explicit null (upstream writes ``"lastProbeTime": null``) stays in ``extra`` so
        # it is written back; setting the field later overrides it.
        kwargs["extra"] = {k: v for k, v in data.items() if v is None or k not in known}
        return cls(**kwargs)

    def __repr__(self) -> str:
        values = ((attr, getattr(self, attr)) for attr, *_ in self._fields_spec())
        parts = [f"{attr}={value!r}" for attr, value in values if value is not None]
        if self.extra:
            parts.append(f"extra={self.extra!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_json(cls, data: bytes | bytearray | memoryview | str) -> Self:
        return cls.from_dict(orjson.loads(data))


_model = dataclasses.dataclass(kw_only=True, slots=True, repr=False)  # _Model.__repr__ skips Nones


def _extra() -> Any:
    """The ``extra`` field: wire keys this model does not know, kept for lossless round trips."""
    return dataclasses.field(default_factory=dict)


# --- metadata ---------------------------------------------------------------------------


@_model
class ObjectMeta(_Model):
    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None
    deletion_grace_period_seconds: int | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    owner_references: list[dict[str, JSON]] | None = None
    finalizers: list[str] | None = None
    extra: dict[str, JSON] = _extra()


@_model
class Condition(_Model):
    """A pod or node condition (PodCondition / NodeCondition share these fields)."""

    type: str | None = None
    status: str | None = None
    last_heartbeat_time: str | None = None  # nodes only
    last_probe_time: str | None = None  # pods only
    last_transition_time: str | None = None
    reason: str | None = None
    message: str | None = None
    extra: dict[str, JSON] = _extra()


@_model
class Toleration(_Model):
    key: str | None = None
    operator: str | None = None
    value: str | None = None
    effect: str | None = None
    toleration_seconds: int | None = None
    extra: dict[str, JSON] = _extra()


@_model
class Taint(_Model):
    key: str | None = None
    value: str | None = None
    effect: str | None = None
    time_added: str | None = None
    extra: dict[str, JSON] = _extra()


# --- pods -------------------------------------------------------------------------------


@_model
class ContainerPort(_Model):
    name: str | None = None
    host_port: int | None = None
    container_port: int | None = None
    protocol: str | None = None
    host_ip: str | None = _wire("hostIP")
    extra: dict[str, JSON] = _extra()


@_model
class EnvVar(_Model):
    name: str | None = None
    value: str | None = None
    value_from: dict[str, JSON] | None = None
    extra: dict[str, JSON] = _extra()


@_model
class ResourceRequirements(_Model):
    limits: dict[str, str] | None = None
    requests: dict[str, str] | None = None
    extra: dict[str, JSON] = _extra()


@_model
class Container(_Model):
    name: str | None = None
    image: str | None = None
    command: list[str] | None = None
    args: list[str] | None = None
    working_dir: str | None = None
    ports: list[ContainerPort] | None = None
    env: list[EnvVar] | None = None
    resources: ResourceRequirements | None = None
    volume_mounts: list[dict[str, JSON]] | None = None
    liveness_probe: dict[str, JSON] | None = None
    readiness_probe: dict[str, JSON] | None = None
    startup_probe: dict[str, JSON] | None = None
    image_pull_policy: str | None = None
    extra: dict[str, JSON] = _extra()


@_model
class PodSpec(_Model):
    volumes: list[dict[str, JSON]] | None = None
    init_containers: list[Container] | None = None
    containers: list[Container] | None = None
    restart_policy: str | None = None
    termination_grace_period_seconds: int | None = None
    dns_policy: str | None = None
    node_selector: dict[str, str] | None = None
    service_account_name: str | None = None
    node_name: str | None = None
    host_network: bool | None = None
    affinity: dict[str, JSON] | None = None
    scheduler_name: str | None = None
    tolerations: list[Toleration] | None = None
    priority_class_name: str | None = None
    priority: int | None = None
    extra: dict[str, JSON] = _extra()


@_model
class PodStatus(_Model):
    phase: str | None = None
    conditions: list[Condition] | None = None
    message: str | None = None
    reason: str | None = None
    nominated_node_name: str | None = None
    host_ip: str | None = _wire("hostIP")
    host_ips: list[dict[str, str]] | None = _wire("hostIPs")
    pod_ip: str | None = _wire("podIP")
    pod_ips: list[dict[str, str]] | None = _wire("podIPs")
    start_time: str | None = None
    container_statuses: list[dict[str, JSON]] | None = None
    qos_class: str | None = None
    extra: dict[str, JSON] = _extra()


@_model
class Pod(_Model):
    kind: str | None = "Pod"
    api_version: str | None = "v1"
    metadata: ObjectMeta | None = None
    spec: PodSpec | None = None
    status: PodStatus | None = None
    extra: dict[str, JSON] = _extra()


# --- nodes ------------------------------------------------------------------------------


@_model
class NodeSpec(_Model):
    pod_cidr: str | None = _wire("podCIDR")
    pod_cidrs: list[str] | None = _wire("podCIDRs")
    provider_id: str | None = _wire("providerID")
    unschedulable: bool | None = None
    taints: list[Taint] | None = None
    extra: dict[str, JSON] = _extra()


@_model
class NodeAddress(_Model):
    type: str | None = None  # InternalIP, ExternalIP, Hostname, ...
    address: str | None = None
    extra: dict[str, JSON] = _extra()


@_model
class NodeSystemInfo(_Model):
    machine_id: str | None = _wire("machineID")
    system_uuid: str | None = _wire("systemUUID")
    boot_id: str | None = _wire("bootID")
    kernel_version: str | None = None
    os_image: str | None = None
    container_runtime_version: str | None = None
    kubelet_version: str | None = None
    kube_proxy_version: str | None = None
    operating_system: str | None = None
    architecture: str | None = None
    extra: dict[str, JSON] = _extra()


@_model
class NodeStatus(_Model):
    capacity: dict[str, str] | None = None
    allocatable: dict[str, str] | None = None
    phase: str | None = None
    conditions: list[Condition] | None = None
    addresses: list[NodeAddress] | None = None
    daemon_endpoints: dict[str, JSON] | None = None
    node_info: NodeSystemInfo | None = None
    images: list[dict[str, JSON]] | None = None
    extra: dict[str, JSON] = _extra()


@_model
class Node(_Model):
    kind: str | None = "Node"
    api_version: str | None = "v1"
    metadata: ObjectMeta | None = None
    spec: NodeSpec | None = None
    status: NodeStatus | None = None
    extra: dict[str, JSON] = _extra()
