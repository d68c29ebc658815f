"""A pod's volumes as directories under ``<root-dir>/pods/<uid>/volumes/<name>/``.

Processes cannot have anything mounted at a ``mountPath``; a container instead finds each
volume it mounts through ``PYK8S_VOLUME_<NAME>`` (see environment.py).  Supported:

* ``configMap``, ``secret``, ``downwardAPI`` and ``projected`` (of those three): one file per
  key (or per ``items`` entry, at its ``path``, with its ``mode``/``defaultMode``), rewritten
  when the source changes; files whose key went away are removed;
* ``emptyDir``: an empty directory that lives as long as the pod (``medium``/``sizeLimit``
  are not enforced);
* ``hostPath``: the host's path itself (``type`` checked as upstream: ``DirectoryOrCreate``
  and ``FileOrCreate`` create it, ``Directory``/``File``/``Socket``/... must already be one).

Any other volume source (persistentVolumeClaim, a serviceAccountToken projection, ...) cannot
be provided by this runtime: ``VolumeError`` says so and the pod waits in ContainerCreating
with a FailedMount event, as a volume that cannot be mounted leaves it upstream.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pyk8s.kubelet.environment import (
    ConfigError, ObjectSource, PodContext, env_name, field_ref_value, resource_field_value,
)

__all__ = ["VolumeError", "setup_volumes", "mount_paths"]

Obj = dict[str, Any]

_DEFAULT_MODE = 0o644
_MANAGED = ("configMap", "secret", "downwardAPI", "projected")


class VolumeError(Exception):
    """A volume cannot be set up (FailedMount)."""


def _relative(path: str) -> str:
    if not path or path.startswith("/") or ".." in path.split("/"):
        raise VolumeError(f"invalid item path {path!r}: must be relative and may not contain '..'")
    return path


async def _source_files(kind: str, ref: Mapping, namespace: str, source: ObjectSource, default_mode: int) -> dict[str, tuple[bytes, int]]:
    label = "configmap" if kind == "ConfigMap" else "secret"
    name = ref.get("name") or ref.get("secretName") or ""
    values = await source.source(kind, namespace, name)
    if values is None:
        if ref.get("optional"):
            return {}
        raise VolumeError(f'{label} "{name}" not found')
    mode = ref.get("defaultMode", default_mode)
    items = ref.get("items")
    if not items:
        return {key: (value, mode) for key, value in values.items()}
    files = {}
    for item in items:
        key = item.get("key", "")
        if key not in values:
            if ref.get("optional"):
                continue
            raise VolumeError(f"{label} references non-existent config key: {key}")
        files[_relative(item.get("path") or key)] = (values[key], item.get("mode", mode))
    return files


def _downward_files(pod: Mapping, spec: Mapping, context: PodContext, default_mode: int) -> dict[str, tuple[bytes, int]]:
    files = {}
    mode = spec.get("defaultMode", default_mode)
    containers = (pod.get("spec") or {}).get("containers") or [{}]
    for item in spec.get("items") or ():
        try:
            if "fieldRef" in item:
                value = field_ref_value(pod, item["fieldRef"].get("fieldPath", ""), context)
            elif "resourceFieldRef" in item:
                value = resource_field_value(pod, containers[0], item["resourceFieldRef"], context)
            else:
                continue
        except ConfigError as error:
            raise VolumeError(str(error)) from None
        files[_relative(item.get("path", ""))] = (value.encode(), item.get("mode", mode))
    return files


async def _volume_files(pod: Mapping, volume: Mapping, source: ObjectSource, context: PodContext) -> dict[str, tuple[bytes, int]]:
    namespace = (pod.get("metadata") or {}).get("namespace", "")
    if "configMap" in volume:
        return await _source_files("ConfigMap", volume["configMap"], namespace, source, _DEFAULT_MODE)
    if "secret" in volume:
        return await _source_files("Secret", volume["secret"], namespace, source, _DEFAULT_MODE)
    if "downwardAPI" in volume:
        return _downward_files(pod, volume["downwardAPI"], context, _DEFAULT_MODE)
    projected = volume["projected"]
    mode = projected.get("defaultMode", _DEFAULT_MODE)
    files: dict[str, tuple[bytes, int]] = {}
    for projection in projected.get("sources") or ():
        if "configMap" in projection:
            files.update(await _source_files("ConfigMap", projection["configMap"], namespace, source, mode))
        elif "secret" in projection:
            files.update(await _source_files("Secret", projection["secret"], namespace, source, mode))
        elif "downwardAPI" in projection:
            files.update(_downward_files(pod, {"defaultMode": mode, **projection["downwardAPI"]}, context, mode))
        else:
            kinds = ", ".join(sorted(projection)) or "an empty source"
            raise VolumeError(f"projected volume source {kinds} is not supported by the pyk8s process runtime")
    return files


def _write_files(directory: Path, files: Mapping[str, tuple[bytes, int]]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    wanted = set()
    for relative, (content, mode) in files.items():
        target = directory / relative
        wanted.add(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            if target.read_bytes() == content and stat.S_IMODE(target.stat().st_mode) == mode:
                continue
        except OSError:
            pass
        temporary = target.with_name(f".{target.name}.tmp")
        temporary.write_bytes(content)
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    for path in sorted(directory.rglob("*"), reverse=True):
        if path.is_file() and path not in wanted:
            path.unlink(missing_ok=True)
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def _host_path(spec: Mapping) -> str:
    path = spec.get("path", "")
    kind = spec.get("type", "")
    if kind == "DirectoryOrCreate":
        os.makedirs(path, mode=0o755, exist_ok=True)
    elif kind == "FileOrCreate" and not os.path.exists(path):
        Path(path).touch(mode=0o644)
    checks = {"Directory": os.path.isdir, "File": os.path.isfile, "Socket": lambda p: stat.S_ISSOCK(os.stat(p).st_mode),
              "CharDevice": lambda p: stat.S_ISCHR(os.stat(p).st_mode),
              "BlockDevice": lambda p: stat.S_ISBLK(os.stat(p).st_mode)}
    if kind in checks:
        try:
            ok = checks[kind](path)
        except OSError:
            ok = False
        if not ok:
            raise VolumeError(f"hostPath type check failed: {path} is not a {kind}")
    return path


async def setup_volumes(pod: Mapping, pod_dir: Path, source: ObjectSource, context: PodContext) -> dict[str, str]:
    """Create or refresh every volume of the pod; volume name -> directory."""
    paths = {}
    volumes_dir = pod_dir / "volumes"
    for volume in (pod.get("spec") or {}).get("volumes") or ():
        name = volume.get("name", "")
        directory = volumes_dir / name
        if any(key in volume for key in _MANAGED):
            _write_files(directory, await _volume_files(pod, volume, source, context))
        elif "emptyDir" in volume:
            directory.mkdir(parents=True, exist_ok=True)
        elif "hostPath" in volume:
            paths[name] = _host_path(volume["hostPath"])
            continue
        else:
            kinds = ", ".join(sorted(k for k in volume if k != "name")) or "no source"
            raise VolumeError(f"volume type {kinds} is not supported by the pyk8s process runtime")
        paths[name] = str(directory)
    return paths


def mount_paths(container: Mapping, volume_paths: Mapping[str, str]) -> dict[str, str]:
    """``PYK8S_VOLUME_<NAME>`` -> directory for each volume the container mounts."""
    exported = {}
    for mount in container.get("volumeMounts") or ():
        name = mount.get("name", "")
        if name not in volume_paths:
            continue
        path = volume_paths[name]
        if mount.get("subPath"):
            path = os.path.join(path, mount["subPath"])
        exported[f"PYK8S_VOLUME_{env_name(name)}"] = path
    return exported
