"""Controller fixtures: a real ``pyk8s-apiserver`` (native store) per test module."""

from __future__ import annotations

import pytest

from pyk8s.apiserver.testing import APIServerProcess


def pytest_collection_modifyitems(items):
    for item in items:
        if "controllers" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="module")
def apiserver():
    with APIServerProcess("native") as server:
        yield server
