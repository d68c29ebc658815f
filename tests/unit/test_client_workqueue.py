"""WorkQueue semantics as client-go's workqueue: de-duplication, one worker per item,
delayed and rate-limited adds, shutdown and drain."""

from __future__ import annotations

import asyncio

import pytest

from pyk8s.client import (
    BucketRateLimiter, ItemExponentialFailureRateLimiter, MaxOfRateLimiter, RateLimitingQueue,
    ShutDown, WorkQueue, default_controller_rate_limiter,
)


def run(coroutine, timeout: float = 5.0):
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


def test_adds_of_a_waiting_item_are_deduplicated():
    async def main():
        queue = WorkQueue()
        for key in ("a", "b", "a", "a", "c", "b"):
            queue.add(key)
        assert len(queue) == 3
        assert [await queue.get() for _ in range(3)] == ["a", "b", "c"]
        assert len(queue) == 0

    run(main())


def test_item_added_while_processing_is_requeued_only_after_done():
    async def main():
        queue = WorkQueue()
        queue.add("a")
        assert await queue.get() == "a"
        queue.add("a")
        queue.add("a")
        # Being processed: not handed out again, not even queued yet.
        assert len(queue) == 0
        second = asyncio.create_task(queue.get())
        await asyncio.sleep(0.01)
        assert not second.done()
        queue.done("a")
        assert await second == "a"
        queue.done("a")
        assert len(queue) == 0 and queue.processing == 0

    run(main())


def test_no_item_is_processed_by_two_workers_at_once():
    async def main():
        queue = WorkQueue()
        active: set[str] = set()
        overlaps = []
        processed = []

        async def worker():
            while True:
                try:
                    key = await queue.get()
                except ShutDown:
                    return
                if key in active:
                    overlaps.append(key)
                active.add(key)
                await asyncio.sleep(0.001)
                # Re-adding during processing must not give the key to another worker.
                if len(processed) < 200:
                    queue.add(key)
                processed.append(key)
                active.discard(key)
                queue.done(key)

        workers = [asyncio.create_task(worker()) for _ in range(8)]
        for i in range(20):
            queue.add(f"k{i % 5}")
        await asyncio.sleep(0.3)
        await queue.shut_down_with_drain()
        await asyncio.gather(*workers)
        assert overlaps == []
        assert len(processed) >= 200

    run(main())


def test_shut_down_hands_out_what_is_queued_then_raises():
    async def main():
        queue = WorkQueue()
        waiting = asyncio.create_task(queue.get())
        await asyncio.sleep(0)
        queue.add("x")
        queue.add("y")
        assert await waiting == "x"
        queue.shut_down()
        queue.add("z")  # refused after shutdown
        assert await queue.get() == "y"
        with pytest.raises(ShutDown):
            await queue.get()

    run(main())


def test_shut_down_wakes_idle_workers():
    async def main():
        queue = WorkQueue()
        getters = [asyncio.create_task(queue.get()) for _ in range(3)]
        await asyncio.sleep(0.01)
        queue.shut_down()
        results = await asyncio.gather(*getters, return_exceptions=True)
        assert all(isinstance(result, ShutDown) for result in results)

    run(main())


def test_shut_down_with_drain_waits_for_items_in_flight():
    async def main():
        queue = WorkQueue()
        queue.add("a")
        queue.add("b")
        finished = []

        async def worker():
            while True:
                try:
                    key = await queue.get()
                except ShutDown:
                    return
                await asyncio.sleep(0.05)
                finished.append(key)
                queue.done(key)

        task = asyncio.create_task(worker())
        await asyncio.sleep(0.01)  # "a" is in flight, "b" queued
        await queue.shut_down_with_drain()
        assert finished == ["a", "b"]
        await task

    run(main())


def test_cancelled_getter_passes_its_wakeup_on():
    async def main():
        queue = WorkQueue()
        first = asyncio.create_task(queue.get())
        second = asyncio.create_task(queue.get())
        await asyncio.sleep(0)
        queue.add("a")
        first.cancel()
        assert await second == "a"

    run(main())


def test_add_after_delays_and_keeps_the_earliest_time():
    async def main():
        loop = asyncio.get_running_loop()
        queue = WorkQueue()
        start = loop.time()
        queue.add_after("a", 0.2)
        queue.add_after("a", 0.05)  # earlier: replaces
        queue.add_after("a", 0.5)   # later: ignored
        assert len(queue) == 0
        assert await queue.get() == "a"
        elapsed = loop.time() - start
        assert 0.04 <= elapsed < 0.19
        queue.done("a")
        await asyncio.sleep(0.5)
        assert len(queue) == 0  # the replaced timers did not fire

    run(main())


def test_shut_down_cancels_delayed_items():
    async def main():
        queue = WorkQueue()
        queue.add_after("a", 0.05)
        queue.shut_down()
        await asyncio.sleep(0.1)
        assert len(queue) == 0

    run(main())


def test_item_exponential_back_off_arithmetic():
    limiter = ItemExponentialFailureRateLimiter(0.005, 1000.0)
    # 5 ms * 2**n: 5, 10, 20, 40, 80 ms ...
    assert [limiter.when("a") for _ in range(5)] == pytest.approx([0.005, 0.01, 0.02, 0.04, 0.08])
    assert limiter.num_requeues("a") == 5
    assert limiter.when("b") == pytest.approx(0.005)  # per item
    # 5 ms * 2**17 = 655.36 s; 2**18 would be 1310.72 s: capped at 1000 s, and stays there
    for _ in range(12):
        limiter.when("a")
    assert limiter.when("a") == pytest.approx(655.36)
    assert limiter.when("a") == 1000.0
    for _ in range(2000):
        limiter.when("a")
    assert limiter.when("a") == 1000.0
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0
    assert limiter.when("a") == pytest.approx(0.005)


def test_bucket_limiter_lets_a_burst_through_then_paces_at_qps():
    now = [100.0]
    bucket = BucketRateLimiter(qps=10.0, burst=3, clock=lambda: now[0])
    assert [bucket.when(i) for i in range(3)] == [0.0, 0.0, 0.0]
    # Bucket empty: the 4th token comes 1/10 s later, the 5th 2/10 s later.
    assert bucket.when(3) == pytest.approx(0.1)
    assert bucket.when(4) == pytest.approx(0.2)
    now[0] += 1.0  # ten tokens refilled, minus the two borrowed, capped at burst 3
    assert [bucket.when(i) for i in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.when(9) == pytest.approx(0.1)


def test_max_of_limiters_and_the_default_controller_limiter():
    now = [0.0]
    limiter = MaxOfRateLimiter(ItemExponentialFailureRateLimiter(0.005, 1000.0), BucketRateLimiter(1.0, 1, clock=lambda: now[0]))
    assert limiter.when("a") == pytest.approx(0.005)  # bucket has its one token
    assert limiter.when("a") == pytest.approx(1.0)    # bucket empty: 1 s beats 10 ms
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0
    default = default_controller_rate_limiter()
    assert default.when("x") == pytest.approx(0.005)
    assert default.when("x") == pytest.approx(0.01)


def test_rate_limited_requeue_and_forget():
    async def main():
        loop = asyncio.get_running_loop()
        queue = RateLimitingQueue(ItemExponentialFailureRateLimiter(0.02, 1.0))
        start = loop.time()
        queue.add_rate_limited("a")   # 20 ms
        assert await queue.get() == "a"
        queue.done("a")
        queue.add_rate_limited("a")   # 40 ms
        assert await queue.get() == "a"
        queue.done("a")
        assert loop.time() - start >= 0.055
        assert queue.num_requeues("a") == 2
        queue.forget("a")
        assert queue.num_requeues("a") == 0

    run(main())
