"""Integration fixtures: the real ``pyk8s-apiserver`` in a subprocess on a free loopback port."""

from __future__ import annotations

import httpx
import pytest

from pyk8s.apiserver.testing import APIServerProcess
from watchclient import RawWatch


def pytest_collection_modifyitems(items):
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


def create_namespaces(base_url: str, *names: str) -> None:
    """Issue 3 refuses objects in a namespace that does not exist: tests create theirs."""
    with httpx.Client(base_url=base_url, timeout=10) as client:
        for name in names:
            response = client.post("/api/v1/namespaces", json={"metadata": {"name": name}})
            assert response.status_code in (201, 409), response.text


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
