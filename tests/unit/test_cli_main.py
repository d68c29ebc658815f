"""``pyk8s <command>``: dispatch, usage and the argument checks of ``pyk8s up`` that need no
cluster."""

from __future__ import annotations

import pytest

from pyk8s.cli import main as cli
from pyk8s.cli import up


def test_usage_lists_the_commands(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "usage: pyk8s <command>" in out and "up" in out
    assert cli.main([]) == 2  # no command: usage, and a usage error


def test_unknown_command_is_a_usage_error(capsys):
    assert cli.main(["down"]) == 2
    assert "unknown command 'down'" in capsys.readouterr().err


def test_version(capsys):
    from pyk8s import __version__

    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"pyk8s {__version__}"


def test_every_command_module_has_main():
    import importlib

    for module, _summary in cli.COMMANDS.values():
        assert callable(importlib.import_module(module).main)


@pytest.mark.parametrize("argv, message", [
    (["--nodes", "0"], "--nodes must be at least 1"),
    (["--port", "70000"], "--port must be between 0 and 65535"),
])
def test_up_rejects_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        up.parse_args(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_up_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    args = up.parse_args([])
    assert (args.port, args.nodes, args.simulated) == (8080, 1, False)
    assert up.default_data_dir() == tmp_path / "pyk8s"


def test_up_plans_distinct_kubelets(tmp_path):
    cluster = up.Cluster(up.parse_args(["--nodes", "3"]), tmp_path, 18080)
    cluster.plan()
    names = [c.name for c in cluster.components]
    assert names[:3] == ["apiserver", "scheduler", "controller-manager"]
    kubelets = [c for c in cluster.components if c.name.startswith("kubelet")]
    assert len(kubelets) == 3 and len(set(cluster.node_names)) == 3
    for component, node in zip(kubelets, cluster.node_names):
        assert ["--node-name", node] == component.argv[component.argv.index("--node-name"):][:2]
        assert str(tmp_path / "kubelet" / node) in component.argv
        assert component.log_path.parent == tmp_path / "logs"

    simulated = up.Cluster(up.parse_args(["--simulated", "--nodes", "5"]), tmp_path, 18080)
    simulated.plan()
    (kubelet,) = [c for c in simulated.components if c.name == "kubelet"]
    assert kubelet.argv[kubelet.argv.index("--simulated-nodes") + 1] == "5"
    assert simulated.node_names == [f"hollow-node-{i}" for i in range(5)]


def test_port_check_ignores_time_wait_but_not_a_listener():
    """A port whose last connections linger in TIME_WAIT (a cluster just stopped) is free;
    a listening socket makes it taken."""
    import socket

    from pyk8s.cli.up import _port_free

    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    assert not _port_free(port)
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = listener.accept()
    accepted.close()  # the server side closes first: its end goes to TIME_WAIT
    client.close()
    listener.close()
    assert _port_free(port)
