"""pyk8s.client's public surface is what its ``__all__`` lists; private modules stay private."""

from __future__ import annotations

import subprocess
import sys

import pyk8s.client


def test_all_names_resolve_and_are_sorted():
    assert pyk8s.client.__all__ == sorted(pyk8s.client.__all__)
    for name in pyk8s.client.__all__:
        assert getattr(pyk8s.client, name) is not None


def test_client_does_not_pull_in_the_server_side():
    code = (
        "import sys, pyk8s.client; "
        "print(sorted(m for m in ('granian', 'pyk8s.apiserver', 'pyk8s._native') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
