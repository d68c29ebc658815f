"""A container's environment, command line and the ConfigMaps/Secrets they read.

As upstream's kubelet (pkg/kubelet/kubelet_pods.go makeEnvironmentVariables): ``envFrom``
first (ConfigMaps and Secrets, with ``prefix``; keys that are not valid variable names,
printable ASCII without ``=``, are skipped), then ``env`` in order, each value expanded with ``$(VAR)`` references to what came
before (``$$`` escapes a ``$``), ``valueFrom`` resolving ``configMapKeyRef``,
``secretKeyRef``, ``fieldRef`` and ``resourceFieldRef``; ``command`` and ``args`` are then
expanded against the result.  A missing ConfigMap, Secret or key that is not ``optional``
is a ``ConfigError`` (the container waits with reason CreateContainerConfigError).

Before any of that, a process gets what a process needs and a container would get from its
image or runtime:

* ``PATH``, ``HOME``, ``USER``, ``LANG``, ``LC_ALL``, ``LC_CTYPE``, ``TZ`` and ``TMPDIR`` from
  the kubelet's own environment (nothing else of it), and ``HOSTNAME`` = the pod's hostname;
* ports: processes share the host's network, so every ``containerPort`` without a
  ``hostPort`` is given a free host port, the same for the pod's life.  The container gets
  ``PORT`` (its first port) and ``PYK8S_PORT_<NUMBER>`` / ``PYK8S_PORT_<NAME>`` for each; a
  ``hostPort`` is used as is.  Probes and hooks that name a container port reach the host
  port it was given;
* volumes: a container cannot see a volume at its ``mountPath``; each mounted volume's
  directory (joined with ``subPath``) is exported as ``PYK8S_VOLUME_<VOLUME NAME>`` (upper
  case, ``-`` and ``.`` as ``_``);
* ``PYK8S_TERMINATION_MESSAGE_PATH`` (set by the runtime, process.py): the file that stands
  for ``terminationMessagePath``, whose content becomes the terminated state's message.
"""

from __future__ import annotations

import base64
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pyk8s.client import CONFIG_MAPS, SECRETS, ApiClient, NotFound
from pyk8s.scheduler._objects import SchedulingInputError, parse_quantity

__all__ = [
    "ConfigError", "ObjectSource", "PodContext", "command_line", "container_env", "env_name", "expand",
    "field_ref_value", "resource_field_value",
]

Obj = dict[str, Any]

INHERITED_VARIABLES = ("PATH", "HOME", "USER", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR")
_LABEL_PATH = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


class ConfigError(Exception):
    """The container cannot be configured (yet): CreateContainerConfigError."""

    reason = "CreateContainerConfigError"


def env_name(text: str) -> str:
    """``my-volume.x`` -> ``MY_VOLUME_X``."""
    return re.sub(r"[^A-Z0-9_]", "_", text.upper())


class ObjectSource:
    """ConfigMaps and Secrets read from the API server, each at most once per instance (one
    instance per pod sync, so a sync sees one version of each)."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self._seen: dict[tuple[str, str, str], Obj | None] = {}

    async def _get(self, resource, namespace: str, name: str) -> Obj | None:
        key = (resource.plural, namespace, name)
        if key not in self._seen:
            try:
                self._seen[key] = await self.client.get(resource, name, namespace=namespace)
            except NotFound:
                self._seen[key] = None
        return self._seen[key]

    async def config_map(self, namespace: str, name: str) -> dict[str, bytes] | None:
        """The ConfigMap's keys (data and binaryData) as bytes, or None when it does not exist."""
        obj = await self._get(CONFIG_MAPS, namespace, name)
        if obj is None:
            return None
        values = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
        values.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
        return values

    async def secret(self, namespace: str, name: str) -> dict[str, bytes] | None:
        obj = await self._get(SECRETS, namespace, name)
        if obj is None:
            return None
        values = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
        values.update({k: v.encode() for k, v in (obj.get("stringData") or {}).items()})
        return values

    async def source(self, kind: str, namespace: str, name: str) -> dict[str, bytes] | None:
        return await (self.config_map if kind == "ConfigMap" else self.secret)(namespace, name)


@dataclass
class PodContext:
    """What a pod's downward API reads besides the pod itself."""

    node_name: str
    host_ip: str
    pod_ip: str
    allocatable: Mapping[str, str] = field(default_factory=dict)


# -- $(VAR) ------------------------------------------------------------------------------------


def expand(text: str, variables: Mapping[str, str]) -> str:
    """third_party/forked/golang/expansion.Expand: ``$(NAME)`` becomes the variable's value
    (left as written when undefined), ``$$`` a single ``$``."""
    out = []
    checkpoint = 0
    cursor = 0
    length = len(text)
    while cursor < length:
        if text[cursor] == "$" and cursor + 1 < length:
            out.append(text[checkpoint:cursor])
            following = text[cursor + 1]
            if following == "$":
                out.append("$")
                advance = 1
            elif following == "(":
                close = text.find(")", cursor + 2)
                if close < 0:
                    out.append("$(")
                    advance = 1
                else:
                    name = text[cursor + 2:close]
                    out.append(variables[name] if name in variables else f"$({name})")
                    advance = close - cursor
            else:
                out.append("$" + following)
                advance = 1
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    out.append(text[checkpoint:])
    return "".join(out)


def command_line(container: Mapping, env: Mapping[str, str]) -> list[str] | None:
    """``command`` + ``args`` expanded, or None when the container has no ``command`` (its
    image's entrypoint, which this runtime does not have, would run)."""
    command = container.get("command") or []
    if not command:
        return None
    return [expand(part, env) for part in [*command, *(container.get("args") or [])]]


# -- downward API ------------------------------------------------------------------------------


def field_ref_value(pod: Mapping, path: str, context: PodContext) -> str:
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    simple = {
        "metadata.name": meta.get("name", ""), "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""), "spec.nodeName": spec.get("nodeName") or context.node_name,
        "spec.serviceAccountName": spec.get("serviceAccountName", ""), "status.hostIP": context.host_ip,
        "status.hostIPs": context.host_ip, "status.podIP": context.pod_ip, "status.podIPs": context.pod_ip,
    }
    if path in simple:
        return simple[path]
    if path in ("metadata.labels", "metadata.annotations"):
        values = meta.get(path.partition(".")[2]) or {}
        return "\n".join(f'{k}="{_escape(v)}"' for k, v in sorted(values.items()))
    match = _LABEL_PATH.match(path)
    if match:
        return (meta.get(match.group(1)) or {}).get(match.group(2), "")
    raise ConfigError(f"unsupported fieldPath: {path}")


def _escape(value: str) -> str:
    # strconv.Quote's body, as the downward API formats label and annotation files.
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def resource_field_value(pod: Mapping, container: Mapping, ref: Mapping, context: PodContext) -> str:
    """ExtractContainerResourceValue: the named container's request or limit (a missing limit
    is the node's allocatable) divided by ``divisor`` and rounded up."""
    name = ref.get("containerName") or container.get("name")
    target = next((c for c in (pod.get("spec") or {}).get("containers") or () if c.get("name") == name), None)
    if target is None:
        target = next((c for c in (pod.get("spec") or {}).get("initContainers") or () if c.get("name") == name), container)
    resources = target.get("resources") or {}
    kind, _, resource = (ref.get("resource") or "").partition(".")
    if kind not in ("limits", "requests") or resource not in ("cpu", "memory", "ephemeral-storage"):
        raise ConfigError(f"unsupported container resource: {ref.get('resource')}")
    limits = resources.get("limits") or {}
    if kind == "limits":
        value = limits.get(resource, context.allocatable.get(resource, "0"))
    else:
        value = (resources.get("requests") or {}).get(resource, limits.get(resource, "0"))
    try:
        amount = parse_quantity(value)
        divisor = parse_quantity(ref.get("divisor") or "1")
    except SchedulingInputError as error:
        raise ConfigError(str(error)) from None
    if divisor <= 0:
        divisor = parse_quantity("1")
    return str(math.ceil(amount / divisor))


# -- the environment ---------------------------------------------------------------------------


def _invalid_name(name: str) -> bool:
    # RelaxedEnvironmentVariableValidation (GA in 1.34): any printable ASCII but "=".
    return not name or "=" in name or not all(" " <= ch <= "~" for ch in name)


async def _key_ref(source: ObjectSource, kind: str, namespace: str, ref: Mapping) -> str | None:
    name, key = ref.get("name", ""), ref.get("key", "")
    values = await source.source(kind, namespace, name)
    label = "configmap" if kind == "ConfigMap" else "secret"
    if values is None:
        if ref.get("optional"):
            return None
        raise ConfigError(f'{label} "{name}" not found')
    if key not in values:
        if ref.get("optional"):
            return None
        raise ConfigError(f"couldn't find key {key} in {kind} {namespace}/{name}")
    return values[key].decode("utf-8", "replace")


async def container_env(
    pod: Mapping, container: Mapping, source: ObjectSource, context: PodContext, *,
    extra: Mapping[str, str] | None = None, inherited: Mapping[str, str] | None = None,
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """(environment, envFrom keys skipped as invalid variable names: "<configMap|secret>
    <namespace>/<name>" -> keys)."""
    meta = pod.get("metadata") or {}
    namespace = meta.get("namespace", "")
    inherited = os.environ if inherited is None else inherited
    env = {key: inherited[key] for key in INHERITED_VARIABLES if key in inherited}
    env["HOSTNAME"] = ((pod.get("spec") or {}).get("hostname") or meta.get("name", ""))[:63]
    env.update(extra or {})
    skipped: dict[str, list[str]] = {}
    for env_from in container.get("envFrom") or ():
        prefix = env_from.get("prefix", "")
        for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            ref = env_from.get(key)
            if not ref:
                continue
            values = await source.source(kind, namespace, ref.get("name", ""))
            if values is None:
                if ref.get("optional"):
                    continue
                raise ConfigError(f'{"configmap" if kind == "ConfigMap" else "secret"} "{ref.get("name", "")}" not found')
            for name, value in values.items():
                full = prefix + name
                if _invalid_name(full):
                    source_name = f'{"configMap" if kind == "ConfigMap" else "secret"} {namespace}/{ref.get("name", "")}'
                    skipped.setdefault(source_name, []).append(full)
                    continue
                env[full] = value.decode("utf-8", "replace")
    for variable in container.get("env") or ():
        name = variable.get("name", "")
        value_from = variable.get("valueFrom")
        if value_from is None:
            env[name] = expand(variable.get("value", ""), env)
            continue
        if "configMapKeyRef" in value_from:
            value = await _key_ref(source, "ConfigMap", namespace, value_from["configMapKeyRef"])
        elif "secretKeyRef" in value_from:
            value = await _key_ref(source, "Secret", namespace, value_from["secretKeyRef"])
        elif "fieldRef" in value_from:
            value = field_ref_value(pod, value_from["fieldRef"].get("fieldPath", ""), context)
        elif "resourceFieldRef" in value_from:
            value = resource_field_value(pod, container, value_from["resourceFieldRef"], context)
        else:
            raise ConfigError(f"unsupported valueFrom for environment variable {name}: {sorted(value_from)}")
        if value is not None:
            env[name] = value
    return env, skipped
