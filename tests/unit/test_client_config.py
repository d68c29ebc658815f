"""Kubeconfig loading, auth headers, TLS settings, and Status -> typed error mapping."""

from __future__ import annotations

import base64
import ssl

import pytest
import yaml

from pyk8s.client import (
    AlreadyExists, ApiClient, ApiError, BadRequest, ClientConfig, ConfigError, Conflict, Expired,
    Forbidden, Invalid, NotFound, ServerTimeout, TooManyRequests, error_from_status, load_kubeconfig,
)
from pyk8s.client._errors import error_from_response


def write(path, document) -> str:
    path.write_text(yaml.safe_dump(document))
    return str(path)


def kubeconfig(**overrides) -> dict:
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "dev",
        "clusters": [
            {"name": "local", "cluster": {"server": "http://127.0.0.1:8080/"}},
            {"name": "secure", "cluster": {"server": "https://10.0.0.1:6443", "certificate-authority": "ca.crt"}},
        ],
        "users": [
            {"name": "admin", "user": {"token": "sekrit"}},
            {"name": "basic", "user": {"username": "u", "password": "p"}},
            {"name": "filetoken", "user": {"tokenFile": "token.txt"}},
        ],
        "contexts": [
            {"name": "dev", "context": {"cluster": "local", "user": "admin", "namespace": "team"}},
            {"name": "prod", "context": {"cluster": "secure", "user": "basic"}},
            {"name": "files", "context": {"cluster": "local", "user": "filetoken"}},
        ],
    }
    document.update(overrides)
    return document


def test_current_context_server_namespace_and_token(tmp_path):
    config = load_kubeconfig(write(tmp_path / "config", kubeconfig()))
    assert config.server == "http://127.0.0.1:8080"
    assert config.namespace == "team"
    assert config.auth_headers() == {"Authorization": "Bearer sekrit"}
    assert config.ssl_context() is None  # plain http


def test_named_context_relative_ca_path_and_basic_auth(tmp_path):
    config = load_kubeconfig(write(tmp_path / "config", kubeconfig()), context="prod")
    assert config.server == "https://10.0.0.1:6443"
    assert config.namespace == "default"
    assert config.ca_file == str(tmp_path / "ca.crt")
    assert config.auth_headers()["Authorization"] == "Basic " + base64.b64encode(b"u:p").decode()


def test_token_file_is_read_relative_to_the_kubeconfig(tmp_path):
    (tmp_path / "token.txt").write_text("from-file\n")
    config = load_kubeconfig(write(tmp_path / "config", kubeconfig()), context="files")
    assert config.token == "from-file"


def test_insecure_skip_tls_verify_gives_an_unverifying_context(tmp_path):
    document = kubeconfig()
    document["clusters"][1]["cluster"] = {"server": "https://10.0.0.1:6443", "insecure-skip-tls-verify": True}
    config = load_kubeconfig(write(tmp_path / "config", document), context="prod")
    context = config.ssl_context()
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname


def test_kubeconfig_env_lists_several_files_first_definition_wins(tmp_path, monkeypatch):
    first = write(tmp_path / "a", {"current-context": "dev", "clusters": [], "users": [], "contexts": []})
    second = write(tmp_path / "b", kubeconfig(**{"current-context": "prod"}))
    monkeypatch.setenv("KUBECONFIG", f"{first}:{tmp_path / 'missing'}:{second}")
    config = load_kubeconfig()
    assert config.server == "http://127.0.0.1:8080"  # "dev" from the first file's current-context
    client = ApiClient.from_kubeconfig()
    assert client.server == "http://127.0.0.1:8080" and client.namespace == "team"


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.update({"current-context": "nope"}), "context 'nope' not found"),
        (lambda d: d["contexts"][0]["context"].update(cluster="gone"), "cluster 'gone'"),
        (lambda d: d["users"][0].update(user={"exec": {"command": "x"}}), "exec"),
        (lambda d: d["clusters"][1]["cluster"].update({"certificate-authority-data": "@@@"}), "base64"),
        (lambda d: d.pop("current-context"), "no current-context"),
    ],
)
def test_bad_kubeconfigs_raise_config_error(tmp_path, mutate, message):
    document = kubeconfig()
    mutate(document)
    with pytest.raises(ConfigError, match=message):
        load_kubeconfig(write(tmp_path / "config", document), context="prod" if "base64" in message else None)


def test_missing_kubeconfig(tmp_path):
    with pytest.raises(ConfigError, match="no kubeconfig"):
        load_kubeconfig(tmp_path / "absent")


def test_client_needs_exactly_one_of_server_and_config():
    with pytest.raises(ValueError):
        ApiClient()
    with pytest.raises(ValueError):
        ApiClient("http://x", config=ClientConfig(server="http://y"))


@pytest.mark.parametrize(
    "code, reason, cls",
    [
        (404, "NotFound", NotFound),
        (409, "AlreadyExists", AlreadyExists),
        (409, "Conflict", Conflict),
        (410, "Expired", Expired),
        (410, "Gone", Expired),
        (410, "", Expired),
        (422, "Invalid", Invalid),
        (403, "Forbidden", Forbidden),
        (400, "BadRequest", BadRequest),
        (429, "TooManyRequests", TooManyRequests),
        (504, "Timeout", ServerTimeout),
        (500, "ServerTimeout", ServerTimeout),
        (418, "Teapot", ApiError),
    ],
)
def test_status_to_typed_error(code, reason, cls):
    status = {"kind": "Status", "status": "Failure", "code": code, "reason": reason, "message": "m"}
    error = error_from_status(status)
    assert type(error) is cls
    assert (error.code, error.reason, error.status) == (code, reason, status)


def test_error_from_a_body_that_is_not_a_status_keeps_the_code():
    error = error_from_response(503, b"<html>busy</html>")
    assert error.code == 503 and "busy" in error.message
    assert isinstance(error_from_response(409, b""), Conflict)
