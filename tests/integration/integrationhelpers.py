"""Helpers shared by the integration tests (a uniquely named module: every tests/ dir has
a conftest.py, so ``from conftest import`` would pick whichever was imported first)."""

from __future__ import annotations

import httpx


def create_namespaces(base_url: str, *names: str) -> None:
    """Issue 3 refuses objects in a namespace that does not exist: tests create theirs."""
    with httpx.Client(base_url=base_url, timeout=10) as client:
        for name in names:
            response = client.post("/api/v1/namespaces", json={"metadata": {"name": name}})
            assert response.status_code in (201, 409), response.text
