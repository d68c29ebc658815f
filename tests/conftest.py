from __future__ import annotations

import pytest

from pyk8s.store import BACKENDS, open_store


@pytest.fixture(params=BACKENDS)
def store(request):
    """A fresh store of each backend: the same suite runs on all of them."""
    s = open_store(request.param)
    yield s
    s.close()


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param
