"""Work queues for controllers, as client-go's ``util/workqueue`` on one asyncio loop.

The rules that make a controller correct with several workers:

* an item waiting in the queue is there once, however often it was added (``dirty``);
* an item being processed (``get`` returned it, ``done`` not yet called) is never handed to a
  second worker; adding it meanwhile marks it dirty, and ``done`` puts it back in the queue;
* ``shut_down()`` refuses new items, lets workers take what is still queued, then ``get``
  raises ``ShutDown``; ``shut_down_with_drain()`` also waits until every handed-out item is
  ``done``.

    queue = WorkQueue()                          # or RateLimitingQueue(default_controller_rate_limiter())
    queue.add("ns/name")
    key = await queue.get()
    try:
        await reconcile(key)
        queue.forget(key)
    except Exception:
        queue.add_rate_limited(key)
    finally:
        queue.done(key)
"""

from __future__ import annotations

import abc
import asyncio
import collections
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = [
    "WorkQueue", "RateLimitingQueue", "ShutDown", "RateLimiter", "ItemExponentialFailureRateLimiter",
    "BucketRateLimiter", "MaxOfRateLimiter", "default_controller_rate_limiter",
]

T = TypeVar("T", bound=Hashable)


class ShutDown(Exception):
    """``get()`` on a queue that is shut down and empty."""


class WorkQueue(Generic[T]):
    def __init__(self) -> None:
        self._queue: collections.deque[T] = collections.deque()
        self._dirty: set[T] = set()
        self._processing: set[T] = set()
        self._getters: collections.deque[asyncio.Future] = collections.deque()
        self._shutting_down = False
        self._drained: asyncio.Event | None = None
        # item -> (ready time, timer) for add_after; an earlier request replaces a later one.
        self._waiting: dict[T, tuple[float, asyncio.TimerHandle]] = {}

    def __len__(self) -> int:
        """Items waiting to be handed out (the depth metric)."""
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    @property
    def processing(self) -> int:
        return len(self._processing)

    def add(self, item: T) -> None:
        if self._shutting_down or item in self._dirty:
            return
        self._dirty.add(item)
        if item in self._processing:
            return
        self._queue.append(item)
        self._wake_one()

    def add_after(self, item: T, delay: float) -> None:
        """Add ``item`` once ``delay`` seconds have passed; while it waits, another
        ``add_after`` of it only moves the time earlier."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(item)
            return
        loop = asyncio.get_running_loop()
        ready = loop.time() + delay
        waiting = self._waiting.get(item)
        if waiting is not None:
            if waiting[0] <= ready:
                return
            waiting[1].cancel()
        self._waiting[item] = (ready, loop.call_at(ready, self._ready, item))

    def _ready(self, item: T) -> None:
        self._waiting.pop(item, None)
        self.add(item)

    async def get(self) -> T:
        """The next item, waiting for one; raises ``ShutDown`` once shut down and empty."""
        while not self._queue:
            if self._shutting_down:
                raise ShutDown()
            waiter = asyncio.get_running_loop().create_future()
            self._getters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                # A wake-up meant for this getter goes to the next one.
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()
                raise
            finally:
                if waiter in self._getters:
                    self._getters.remove(waiter)
        item = self._queue.popleft()
        self._processing.add(item)
        self._dirty.discard(item)
        return item

    def done(self, item: T) -> None:
        """The worker finished ``item``; if it was added meanwhile it is queued again."""
        self._processing.discard(item)
        if item in self._dirty:
            self._queue.append(item)
            self._wake_one()
        elif self._drained is not None and not self._processing and not self._queue:
            self._drained.set()

    def shut_down(self) -> None:
        self._shutting_down = True
        for _item, (_ready, timer) in self._waiting.items():
            timer.cancel()
        self._waiting.clear()
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    async def shut_down_with_drain(self) -> None:
        """Shut down, then wait until every item already queued or handed out has been
        processed and ``done`` (workers keep calling ``get`` and take what is left, as
        upstream).  Without workers running this waits forever: bound it with a timeout."""
        self.shut_down()
        while self._processing or self._queue:
            self._drained = asyncio.Event()
            await self._drained.wait()
        self._drained = None

    def _wake_one(self) -> None:
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


class RateLimiter(abc.ABC):
    """How long an item should wait before it is retried (client-go's RateLimiter)."""

    @abc.abstractmethod
    def when(self, item: Hashable) -> float:
        """The delay for this retry of ``item`` (counts as one more failure)."""

    @abc.abstractmethod
    def forget(self, item: Hashable) -> None:
        """Clear ``item``'s failure history."""

    @abc.abstractmethod
    def num_requeues(self, item: Hashable) -> int:
        """Failures counted for ``item`` since it was last forgotten."""


class ItemExponentialFailureRateLimiter(RateLimiter):
    """``base * 2**failures`` per item, capped at ``cap`` (client-go default 5 ms .. 1000 s)."""

    def __init__(self, base: float = 0.005, cap: float = 1000.0) -> None:
        self.base = base
        self.cap = cap
        self._failures: dict[Hashable, int] = {}

    def when(self, item: Hashable) -> float:
        exponent = self._failures.get(item, 0)
        self._failures[item] = exponent + 1
        # 2**exponent overflows a float past 1023; anything past the cap is the cap.
        if exponent > 64:
            return self.cap
        return min(self.cap, self.base * (2 ** exponent))

    def forget(self, item: Hashable) -> None:
        self._failures.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        return self._failures.get(item, 0)


class BucketRateLimiter(RateLimiter):
    """An overall token bucket (golang.org/x/time/rate as client-go uses it): ``qps`` tokens a
    second, at most ``burst`` saved up; each ``when`` reserves one token and returns how long
    until it is there."""

    def __init__(self, qps: float = 10.0, burst: int = 100, clock: Callable[[], float] = time.monotonic) -> None:
        self.qps = qps
        self.burst = burst
        self.clock = clock
        self._tokens = float(burst)
        self._last = clock()

    def when(self, item: Hashable) -> float:
        now = self.clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        self._last = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    def forget(self, item: Hashable) -> None:
        pass

    def num_requeues(self, item: Hashable) -> int:
        return 0


class MaxOfRateLimiter(RateLimiter):
    """The longest wait any of its limiters asks for."""

    def __init__(self, *limiters: RateLimiter) -> None:
        self.limiters = limiters

    def when(self, item: Hashable) -> float:
        return max(limiter.when(item) for limiter in self.limiters)

    def forget(self, item: Hashable) -> None:
        for limiter in self.limiters:
            limiter.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        return max(limiter.num_requeues(item) for limiter in self.limiters)


def default_controller_rate_limiter() -> RateLimiter:
    """client-go's DefaultControllerRateLimiter: per-item 5 ms doubling to 1000 s, and an
    overall 10 qps / burst 100 bucket."""
    return MaxOfRateLimiter(ItemExponentialFailureRateLimiter(0.005, 1000.0), BucketRateLimiter(10.0, 100))


class RateLimitingQueue(WorkQueue[T]):
    def __init__(self, rate_limiter: RateLimiter | None = None) -> None:
        super().__init__()
        self.rate_limiter = rate_limiter or ItemExponentialFailureRateLimiter()

    def add_rate_limited(self, item: T) -> None:
        self.add_after(item, self.rate_limiter.when(item))

    def forget(self, item: T) -> None:
        """Clear the item's failure history (call after it was processed successfully)."""
        self.rate_limiter.forget(item)

    def num_requeues(self, item: T) -> int:
        return self.rate_limiter.num_requeues(item)
