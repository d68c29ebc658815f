"""Kubelet fixtures: a real ``pyk8s-apiserver`` (native store) per test module; the kubelets
under test run in-process (kubelethelpers.running_kubelet) or as subprocesses."""

from __future__ import annotations

import pytest

from pyk8s.apiserver.testing import APIServerProcess


def pytest_collection_modifyitems(items):
    for item in items:
        if "kubelet" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="module")
def apiserver():
    with APIServerProcess("native") as server:
        yield server
