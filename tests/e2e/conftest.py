"""End-to-end fixtures: a live ``pyk8s-apiserver`` (native store) driven by stock clients,
kubectl 1.37 and the official ``kubernetes`` Python client.

The server is module-scoped (one per test file, ~0.2 s to start); tests isolate themselves
with unique object names and label selectors.  Tests that need their own server settings
(compaction) start one themselves.
"""

from __future__ import annotations

import itertools
import os

import httpx
import pytest

from e2ehelpers import Kubectl, KubectlStream, make_api_client
from pyk8s.apiserver.testing import run_apiserver


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: stock kubectl / Python client against a live server")


def pytest_collection_modifyitems(items):
    for item in items:
        if f"{os.sep}e2e{os.sep}" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="module")
def apiserver():
    with run_apiserver("native") as server:
        yield server


_serial = itertools.count(1)


@pytest.fixture
def unique():
    """``unique("web")`` -> a DNS-1123 name no other test in the session uses."""
    return lambda prefix: f"{prefix}-{next(_serial)}"


@pytest.fixture
def http(apiserver):
    with httpx.Client(base_url=apiserver.url, timeout=15) as client:
        yield client


@pytest.fixture
def kubectl(apiserver, tmp_path) -> Kubectl:
    return Kubectl(apiserver.url, tmp_path)


@pytest.fixture
def streams():
    """Collects ``KubectlStream``s so they are terminated even when a test fails."""
    started: list[KubectlStream] = []
    yield started
    for stream in started:
        stream.stop()


@pytest.fixture
def api_client(apiserver):
    with make_api_client(apiserver.url) as client:
        yield client
