"""The public surface is what ``pyk8s.__all__`` lists, and importing it stays light."""

from __future__ import annotations

import subprocess
import sys

import pyk8s


def test_all_names_resolve_and_are_sorted():
    assert pyk8s.__all__ == sorted(pyk8s.__all__)
    for name in pyk8s.__all__:
        assert getattr(pyk8s, name) is not None


def test_import_does_not_start_the_http_stack():
    code = "import sys, pyk8s; print(sorted(m for m in ('granian', 'uvloop') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_readme_python_example_runs(tmp_path):
    """The README's Python example, extracted and executed verbatim."""
    import pathlib

    text = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text()
    start = text.index("```python\n") + len("```python\n")
    code = text[start : text.index("```", start)]
    script = tmp_path / "example.py"
    script.write_text(code)
    out = subprocess.run([sys.executable, "-P", str(script)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["nginx 2 80", "['nginx']", "MODIFIED 3 nginx:1.28"]
