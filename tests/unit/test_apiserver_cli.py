"""``pyk8s-apiserver`` argument parsing."""

from __future__ import annotations

import pytest

from pyk8s.cli.apiserver import parse_args


def test_defaults():
    config = parse_args([])
    assert (config.port, config.bind_address, config.storage) == (8080, "127.0.0.1", "native")
    assert config.backpressure >= 4096  # thousands of watches must fit beside ordinary requests


def test_port_and_options():
    config = parse_args(["9090", "--bind-address", "0.0.0.0", "--storage", "reference",
                         "--compaction-interval", "0.5", "--compaction-retention", "0"])
    assert (config.port, config.bind_address, config.storage) == (9090, "0.0.0.0", "reference")
    assert (config.compaction_interval, config.compaction_retention) == (0.5, 0.0)
    assert parse_args(["--port", "1234"]).port == 1234


@pytest.mark.parametrize("argv", [["0"], ["70000"], ["--storage", "etcd"], ["abc"]])
def test_rejects_bad_arguments(argv):
    with pytest.raises(SystemExit):
        parse_args(argv)
