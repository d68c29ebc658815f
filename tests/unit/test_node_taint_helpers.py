"""The taint/toleration rules the node lifecycle and taint eviction controllers decide by
(upstream ToleratesTaint, GetMatchingTolerations, getMinTolerationTime, GetZoneKey) and
the rate-limited tainting queue."""

from __future__ import annotations

import asyncio

import pytest

from pyk8s.controllers._nodeutil import matching_tolerations, min_toleration_seconds, tolerates, zone_key
from pyk8s.controllers._ratelimitedqueue import RateLimitedTimedQueue, TokenBucket

UNREACHABLE = {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}


@pytest.mark.parametrize(
    "toleration, expected",
    [
        ({"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"}, True),
        ({"key": "node.kubernetes.io/unreachable", "operator": "Exists"}, True),  # any effect
        ({"operator": "Exists"}, True),  # any key
        ({"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}, True),  # Equal, both values ""
        ({"key": "node.kubernetes.io/unreachable", "operator": "Equal", "value": "x", "effect": "NoExecute"}, False),
        ({"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoSchedule"}, False),
        ({"key": "node.kubernetes.io/not-ready", "operator": "Exists"}, False),
        ({"key": "node.kubernetes.io/unreachable", "operator": "Bogus"}, False),
    ],
)
def test_tolerates(toleration, expected):
    assert tolerates(toleration, UNREACHABLE) is expected


def test_matching_tolerations_and_seconds():
    not_ready = {"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}
    short = {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 30}
    wide = {"operator": "Exists", "tolerationSeconds": 300}
    forever = {"key": "node.kubernetes.io/not-ready", "operator": "Exists"}
    # Each taint takes the first toleration that matches it.
    assert matching_tolerations([UNREACHABLE, not_ready], [short, wide]) == (True, [short, wide])
    assert matching_tolerations([UNREACHABLE, not_ready], [short]) == (False, [])
    assert min_toleration_seconds([short, wide]) == 30
    assert min_toleration_seconds([forever]) == -1
    assert min_toleration_seconds([forever, wide]) == 300
    assert min_toleration_seconds([{"operator": "Exists", "tolerationSeconds": -5}, wide]) == 0
    assert min_toleration_seconds([]) == 0


def test_zone_key():
    assert zone_key({"metadata": {}}) == ""
    labels = {"topology.kubernetes.io/region": "eu", "topology.kubernetes.io/zone": "eu-1a"}
    assert zone_key({"metadata": {"labels": labels}}) == "eu:\x00:eu-1a"
    beta = {"failure-domain.beta.kubernetes.io/zone": "z"}
    assert zone_key({"metadata": {"labels": beta}}) == ":\x00:z"


def test_token_bucket():
    clock = [0.0]
    bucket = TokenBucket(0.5, 1, clock=lambda: clock[0])
    assert bucket.try_accept() and not bucket.try_accept()
    clock[0] = 1.0
    assert not bucket.try_accept()
    clock[0] = 2.0
    assert bucket.try_accept()
    assert not TokenBucket(0.0, 1).try_accept()


def test_rate_limited_queue_lets_through_known_once():
    async def scenario():
        queue = RateLimitedTimedQueue(qps=1000.0, burst=10)
        seen: list[str] = []

        async def action(value):
            seen.append(value.value)
            return value.value != "flaky", 0.0

        assert queue.add("a", "uid-a") and queue.add("flaky", "uid-f")
        assert not queue.add("a", "uid-a")  # queued already
        await queue.try_process(action)
        assert "a" in seen and "flaky" in seen and len(queue) >= 1  # the failure waits for a retry
        assert not queue.add("a", "uid-a")  # processed, still known
        assert not queue.remove("a")  # known but not queued
        assert queue.add("a", "uid-a")  # forgotten, so it may come again
        queue.swap_limiter(0.0)
        seen.clear()
        await queue.try_process(action)
        assert seen == []  # a zero limiter lets nothing through

    asyncio.run(scenario())
