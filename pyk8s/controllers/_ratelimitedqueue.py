"""Upstream pkg/controller/nodelifecycle/scheduler's RateLimitedTimedQueue: the nodes of one
zone waiting for their NoExecute taint, let through by a token bucket so that a zone losing
many nodes at once is tainted (and so evicted) gradually, or not at all while the zone's
limiter is swapped to zero (disruption modes).

A name stays *known* after it is processed, until ``remove()``: ``add()`` of a known name is
refused, so a tainted node is not queued again every monitor pass; the controller removes it
when the node is healthy or loses its taint (upstream's UniqueQueue set)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

__all__ = ["RateLimitedTimedQueue", "TimedValue", "TokenBucket"]


class TokenBucket:
    """client-go flowcontrol's token bucket, non-blocking side only: ``qps`` tokens a second
    up to ``burst``, starting full; ``qps <= 0`` never lets anything through."""

    def __init__(self, qps: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()

    def try_accept(self) -> bool:
        if self.qps <= 0:
            return False
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


@dataclass(order=True)
class TimedValue:
    process_at: float
    sequence: int
    value: str = field(compare=False)
    uid: str = field(compare=False)
    added_at: float = field(compare=False)


# fn(value) -> (done, retry_after_seconds)
Action = Callable[[TimedValue], Awaitable[tuple[bool, float]]]


class RateLimitedTimedQueue:
    def __init__(self, qps: float, burst: int = 1) -> None:
        self.burst = burst
        self.limiter = TokenBucket(qps, burst)
        self._queued: dict[str, TimedValue] = {}
        self._known: set[str] = set()
        self._sequence = itertools.count()

    def __len__(self) -> int:
        return len(self._queued)

    def add(self, value: str, uid: str) -> bool:
        """Queue ``value`` to be processed now; False if it is already known."""
        if value in self._known:
            return False
        now = time.time()
        self._known.add(value)
        self._queued[value] = TimedValue(now, next(self._sequence), value, uid, now)
        return True

    def remove(self, value: str) -> bool:
        """Forget ``value`` entirely (it may be added again); True if it was queued."""
        self._known.discard(value)
        return self._queued.pop(value, None) is not None

    def swap_limiter(self, qps: float) -> None:
        if qps == self.limiter.qps:
            return
        self.limiter = TokenBucket(qps, self.burst)

    async def try_process(self, action: Action) -> None:
        """Process due values, earliest first, while the limiter lets them through.  A value
        whose action fails is retried ``retry_after`` seconds later; one that succeeds leaves
        the queue but stays known."""
        while self._queued:
            head = min(self._queued.values())
            now = time.time()
            if now < head.process_at or not self.limiter.try_accept():
                return
            done, retry_after = await action(head)
            if self._queued.get(head.value) is not head:
                continue  # removed (or replaced) while the action ran
            if done:
                del self._queued[head.value]
            else:
                head.process_at = time.time() + retry_after
                head.sequence = next(self._sequence)
