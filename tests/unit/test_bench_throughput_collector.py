"""benchmarks/sched_e2e.py's replay of upstream scheduler_perf's throughputCollector."""

from __future__ import annotations

import importlib.util
import pathlib
import sys

import pytest

_PATH = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "sched_e2e.py"


@pytest.fixture(scope="module")
def collector():
    sys.path.insert(0, str(_PATH.parent))
    try:
        spec = importlib.util.spec_from_file_location("sched_e2e_under_test", _PATH)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(_PATH.parent))
        sys.modules.pop("sched_e2e_under_test", None)
    return module.scheduling_throughput


def test_first_tick_is_a_baseline_and_the_tail_is_not_sampled(collector):
    # 1000 pods/s from t=0.5 for 3.2 s: ticks at 1 (baseline: 500 scheduled), 2 and 3
    # (1000 each); the 0.7 s after the last tick is not a sample.
    times = [0.5 + i / 1000 for i in range(3200)]
    result = collector(times, start=0.0)
    assert result["samples"] == [1000.0, 1000.0]
    assert result["average"] == 1000.0 and result["perc50"] == 1000.0


def test_ticks_without_progress_repeat_the_next_sample(collector):
    # 100 pods by t=1, nothing until t=3.5, then 100 more by 3.9: the tick at 4 sees
    # 100 new pods over 3 s, recorded for each of the 3 intervals.
    times = [0.5 + i / 1000 for i in range(100)] + [3.5 + i / 1000 for i in range(100)] + [4.5]
    result = collector(times, start=0.0)
    assert result["samples"][:3] == [pytest.approx(100 / 3, abs=0.1)] * 3


def test_a_run_shorter_than_two_ticks_has_no_sample(collector):
    assert collector([0.1, 0.2, 1.5], start=0.0) is None
    assert collector([], start=0.0) is None
