"""Integration fixtures: the real ``pyk8s-apiserver`` in a subprocess on a free loopback port."""

from __future__ import annotations

import httpx
import pytest
from integrationhelpers import create_namespaces

from pyk8s.apiserver.testing import APIServerProcess
from watchclient import RawWatch


def pytest_collection_modifyitems(items):
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="module", params=["native", "reference"])
def apiserver(request):
    with APIServerProcess(request.param) as server:
        # A test module lists the namespaces its tests write to in NAMESPACES.
        create_namespaces(server.url, *getattr(request.module, "NAMESPACES", ()))
        yield server


@pytest.fixture
def client(apiserver):
    with httpx.Client(base_url=apiserver.url, timeout=10) as c:
        yield c


@pytest.fixture
def open_watch(apiserver):
    watches: list[RawWatch] = []

    def opener(path: str, server=None) -> RawWatch:
        watch = RawWatch((server or apiserver).port, path)
        watches.append(watch)
        return watch

    yield opener
    for watch in watches:
        watch.close()
