"""Connection settings: from a kubeconfig file (as kubectl reads it) or from a bare server URL.

Read from the kubeconfig: the context (``current-context`` unless one is named), its cluster's
``server``, ``insecure-skip-tls-verify``, ``certificate-authority`` / ``-data``,
``tls-server-name``, and its user's ``token`` / ``tokenFile``, ``client-certificate`` /
``-data`` with ``client-key`` / ``-data``, ``username`` / ``password``; the context's
``namespace``.  Relative file paths are relative to the kubeconfig's directory, as in kubectl.
``$KUBECONFIG`` may list several files: the first file that defines a name wins, as
client-go's merge rules say.  Exec and auth-provider plugins are not supported: a kubeconfig
whose user needs one raises ``ConfigError``.
"""

from __future__ import annotations

import base64
import os
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ClientConfig", "ConfigError", "load_kubeconfig", "default_kubeconfig_paths"]


class ConfigError(Exception):
    """The kubeconfig is missing, malformed, or asks for something not supported."""


@dataclass
class ClientConfig:
    server: str
    namespace: str = "default"
    token: str | None = None
    username: str | None = None
    password: str | None = None
    insecure_skip_tls_verify: bool = False
    ca_file: str | None = None
    ca_data: bytes | None = None  # PEM
    cert_file: str | None = None
    key_file: str | None = None
    cert_data: bytes | None = None  # PEM
    key_data: bytes | None = None  # PEM
    tls_server_name: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def auth_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        elif self.username is not None and self.password is not None:
            basic = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            headers["Authorization"] = f"Basic {basic}"
        return headers

    def ssl_context(self) -> ssl.SSLContext | None:
        """None for plain HTTP; a context verifying against the given CA (or the system's)."""
        if not self.server.startswith("https://"):
            return None
        # One context: reading the system's CA bundle costs ~60 ms, wasted where a
        # cluster CA replaces it.
        if (self.ca_file or self.ca_data) and not self.insecure_skip_tls_verify:
            context = ssl.create_default_context(
                cafile=self.ca_file, cadata=self.ca_data.decode() if self.ca_data else None,
            )
        else:
            context = ssl.create_default_context()
        if self.insecure_skip_tls_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.cert_file or self.cert_data:
            self._load_client_cert(context)
        return context

    def _load_client_cert(self, context: ssl.SSLContext) -> None:
        if self.cert_file:
            context.load_cert_chain(self.cert_file, self.key_file)
            return
        # ssl loads chains from files only: write the PEM data to private temporaries.
        import tempfile  # here: ~4 ms of every component's start otherwise

        with tempfile.TemporaryDirectory(prefix="pyk8s-client-") as directory:
            cert_path = os.path.join(directory, "client.crt")
            key_path = os.path.join(directory, "client.key")
            for path, data in ((cert_path, self.cert_data), (key_path, self.key_data or b"")):
                with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as out:
                    out.write(data)
            context.load_cert_chain(cert_path, key_path if self.key_data else None)


def default_kubeconfig_paths() -> list[Path]:
    env = os.environ.get("KUBECONFIG")
    if env:
        return [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    return [Path.home() / ".kube" / "config"]


def _named(entries: Any, section: str, path: Path) -> dict[str, dict]:
    if entries is None:
        return {}
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: {section} must be a list")
    named: dict[str, dict] = {}
    for entry in entries:
        if not isinstance(entry, dict) or "name" not in entry:
            raise ConfigError(f"{path}: every entry of {section} needs a name")
        named[entry["name"]] = entry
    return named


def _read(path: Path, value: str | None) -> str | None:
    if not value:
        return None
    resolved = Path(value).expanduser()
    return str(resolved if resolved.is_absolute() else path.parent / resolved)


def _decode(value: str | None, what: str) -> bytes | None:
    if not value:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except ValueError as error:
        raise ConfigError(f"{what} is not valid base64: {error}") from None


def load_kubeconfig(path: str | os.PathLike | None = None, context: str | None = None) -> ClientConfig:
    """The settings of ``context`` (default: current-context) in the kubeconfig at ``path``
    (default: ``$KUBECONFIG``, then ``~/.kube/config``)."""
    import yaml  # only kubeconfig users pay for the YAML parser's import

    paths = [Path(path)] if path is not None else default_kubeconfig_paths()
    clusters: dict[str, tuple[Path, dict]] = {}
    users: dict[str, tuple[Path, dict]] = {}
    contexts: dict[str, dict] = {}
    current: str | None = None
    found = False
    for file in paths:
        if not file.is_file():
            continue
        found = True
        try:
            document = yaml.safe_load(file.read_text()) or {}
        except yaml.YAMLError as error:
            raise ConfigError(f"{file}: not valid YAML: {error}") from None
        if not isinstance(document, dict):
            raise ConfigError(f"{file}: a kubeconfig is a mapping")
        for name, entry in _named(document.get("clusters"), "clusters", file).items():
            clusters.setdefault(name, (file, entry.get("cluster") or {}))
        for name, entry in _named(document.get("users"), "users", file).items():
            users.setdefault(name, (file, entry.get("user") or {}))
        for name, entry in _named(document.get("contexts"), "contexts", file).items():
            contexts.setdefault(name, entry.get("context") or {})
        current = current or document.get("current-context") or None
    if not found:
        raise ConfigError(f"no kubeconfig at {os.pathsep.join(map(str, paths))}")
    context_name = context or current
    if not context_name:
        raise ConfigError("the kubeconfig has no current-context and none was given")
    if context_name not in contexts:
        raise ConfigError(f"context {context_name!r} not found in the kubeconfig")
    selected = contexts[context_name]
    cluster_name = selected.get("cluster")
    if cluster_name not in clusters:
        raise ConfigError(f"cluster {cluster_name!r} of context {context_name!r} not found")
    cluster_file, cluster = clusters[cluster_name]
    server = cluster.get("server")
    if not server:
        raise ConfigError(f"cluster {cluster_name!r} has no server")
    config = ClientConfig(
        server=server.rstrip("/"),
        namespace=selected.get("namespace") or "default",
        insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify")),
        ca_file=_read(cluster_file, cluster.get("certificate-authority")),
        ca_data=_decode(cluster.get("certificate-authority-data"), "certificate-authority-data"),
        tls_server_name=cluster.get("tls-server-name"),
    )
    user_name = selected.get("user")
    if user_name:
        if user_name not in users:
            raise ConfigError(f"user {user_name!r} of context {context_name!r} not found")
        _apply_user(config, *users[user_name])
    return config


def _apply_user(config: ClientConfig, file: Path, user: dict) -> None:
    if user.get("exec") or user.get("auth-provider"):
        raise ConfigError("exec and auth-provider credential plugins are not supported")
    config.token = user.get("token") or None
    token_file = _read(file, user.get("tokenFile"))
    if not config.token and token_file:
        config.token = Path(token_file).read_text().strip()
    config.username = user.get("username")
    config.password = user.get("password")
    config.cert_file = _read(file, user.get("client-certificate"))
    config.key_file = _read(file, user.get("client-key"))
    config.cert_data = _decode(user.get("client-certificate-data"), "client-certificate-data")
    config.key_data = _decode(user.get("client-key-data"), "client-key-data")
    if config.cert_data is None and config.cert_file is None and (config.key_data or config.key_file):
        raise ConfigError("client-key given without client-certificate")
