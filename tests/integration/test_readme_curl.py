"""The README's curl examples, run verbatim (port rewritten) against a real server."""

from __future__ import annotations

import pathlib
import subprocess

import orjson
import pytest

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def curl_commands() -> list[str]:
    text = README.read_text()
    block = text[text.index("## The API server alone, with curl") :]
    block = block[block.index("```\n") + 4 :]
    block = block[: block.index("```")]
    commands: list[str] = []
    for line in block.splitlines():
        if line.startswith("curl "):
            commands.append(line)
        else:
            commands[-1] += "\n" + line
    return commands


@pytest.fixture(scope="module")
def server():
    from pyk8s.apiserver.testing import run_apiserver

    with run_apiserver("native") as running:
        yield running


def test_readme_curl_examples_work_verbatim(server):
    outputs = []
    for command in curl_commands():
        command = command.replace("localhost:8080", f"127.0.0.1:{server.port}")
        if "watch=true" in command:
            # A watch never ends by itself: read what arrives in a second.
            command = f"timeout 1 {command}"
        done = subprocess.run(["bash", "-c", command], capture_output=True, timeout=30)
        assert done.returncode in (0, 124), (command, done.stderr)
        outputs.append(done.stdout)
    created, listed_all, listed_selected, got, patched, watched, deleted = outputs
    assert orjson.loads(created)["metadata"]["name"] == "nginx"
    assert [p["metadata"]["name"] for p in orjson.loads(listed_all)["items"]] == ["nginx"]
    assert [p["metadata"]["name"] for p in orjson.loads(listed_selected)["items"]] == ["nginx"]
    assert orjson.loads(got)["spec"]["containers"][0]["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert orjson.loads(patched)["metadata"]["labels"] == {"app": "web", "tier": "front"}
    events = [orjson.loads(line) for line in watched.splitlines()]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "nginx")]
    assert orjson.loads(deleted)["kind"] == "Pod"
