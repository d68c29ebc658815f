"""The scheduler's Prometheus metrics (upstream names, labels and buckets), rendered in the
text exposition format.  Recording is a dict increment on the hot path; rendering happens
only when /metrics is scraped."""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Callable, Mapping

__all__ = ["SchedulerMetrics", "ATTEMPT_DURATION_BUCKETS", "CONTENT_TYPE"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# metrics.SchedulingAlgorithmLatency / scheduling_attempt_duration_seconds:
# ExponentialBuckets(0.001, 2, 15).
ATTEMPT_DURATION_BUCKETS = tuple(0.001 * 2**i for i in range(15))

RESULTS = ("scheduled", "unschedulable", "error")


class _Histogram:
    __slots__ = ("counts", "sum", "count")

    def __init__(self) -> None:
        self.counts = [0] * (len(ATTEMPT_DURATION_BUCKETS) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(ATTEMPT_DURATION_BUCKETS, value)] += 1
        self.sum += value
        self.count += 1


def _fmt(value: float) -> str:
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class SchedulerMetrics:
    def __init__(self, pending: Callable[[], Mapping[str, int]] | None = None) -> None:
        """``pending()`` -> {queue: count}, read at scrape time (scheduler_pending_pods)."""
        self.pending = pending
        self.durations: dict[tuple[str, str], _Histogram] = {}
        self.preemption_attempts = 0

    @property
    def attempts(self) -> dict[tuple[str, str], int]:
        """scheduler_schedule_attempts_total by (result, profile): the count of the attempt
        duration histogram of the same labels, which every attempt is observed in (one dict
        to update per attempt, not two)."""
        return {key: histogram.count for key, histogram in self.durations.items()}

    def observe_attempt(self, result: str, profile: str, seconds: float) -> None:
        key = (result, profile)
        histogram = self.durations.get(key)
        if histogram is None:
            histogram = self.durations[key] = _Histogram()
        histogram.observe(seconds)

    def attempts_total(self, result: str, profile: str | None = None) -> int:
        return sum(n for (r, p), n in self.attempts.items() if r == result and (profile is None or p == profile))

    def render(self) -> str:
        lines = [
            "# HELP scheduler_schedule_attempts_total Number of attempts to schedule pods, by the result. "
            "'unschedulable' means a pod could not be scheduled, while 'error' means an internal scheduler problem.",
            "# TYPE scheduler_schedule_attempts_total counter",
        ]
        for (result, profile), count in sorted(self.attempts.items()):
            lines.append(f'scheduler_schedule_attempts_total{{profile="{profile}",result="{result}"}} {count}')
        lines += [
            "# HELP scheduler_scheduling_attempt_duration_seconds Scheduling attempt latency in seconds "
            "(scheduling algorithm + binding)",
            "# TYPE scheduler_scheduling_attempt_duration_seconds histogram",
        ]
        for (result, profile), h in sorted(self.durations.items()):
            labels = f'profile="{profile}",result="{result}"'
            cumulative = 0
            for bound, count in zip(ATTEMPT_DURATION_BUCKETS, h.counts):
                cumulative += count
                lines.append(f'scheduler_scheduling_attempt_duration_seconds_bucket{{{labels},le="{_fmt(bound)}"}} {cumulative}')
            lines.append(f'scheduler_scheduling_attempt_duration_seconds_bucket{{{labels},le="+Inf"}} {h.count}')
            lines.append(f"scheduler_scheduling_attempt_duration_seconds_sum{{{labels}}} {_fmt(h.sum)}")
            lines.append(f"scheduler_scheduling_attempt_duration_seconds_count{{{labels}}} {h.count}")
        lines += [
            "# HELP scheduler_pending_pods Number of pending pods, by the queue type. 'active' means number of pods "
            "in activeQ; 'backoff' means number of pods in backoffQ; 'unschedulable' means number of pods in "
            "unschedulablePods that the scheduler attempted to schedule and failed; 'gated' is the number of "
            "unschedulable pods that the scheduler never attempted to schedule because they are gated.",
            "# TYPE scheduler_pending_pods gauge",
        ]
        for queue, count in sorted((self.pending() if self.pending else {}).items()):
            lines.append(f'scheduler_pending_pods{{queue="{queue}"}} {count}')
        lines += [
            "# HELP scheduler_preemption_attempts_total Total preemption attempts in the cluster till now",
            "# TYPE scheduler_preemption_attempts_total counter",
            f"scheduler_preemption_attempts_total {self.preemption_attempts}",
        ]
        return "\n".join(lines) + "\n"


_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 500: "Internal Server Error"}
_HEALTH_PATHS = ("/healthz", "/livez", "/readyz")


class MetricsServer:
    """The listening socket of ``serve_http``; ``await cleanup()`` stops it."""

    def __init__(self, server: asyncio.base_events.Server) -> None:
        self.server = server

    async def cleanup(self) -> None:
        self.server.close()
        await self.server.wait_closed()


async def serve_http(metrics: SchedulerMetrics, host: str, port: int, healthy: Callable[[], bool] = lambda: True):
    """/metrics, /healthz, /livez and /readyz over plain HTTP/1.1 (one request per
    connection); returns (MetricsServer, bound port).  Four fixed GET paths need no web
    framework: importing aiohttp.web would add ~0.1 s to every scheduler start, before
    its informers can list."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        method, _, target = head.split(b"\r\n", 1)[0].decode("latin-1").partition(" ")
        path = target.split(" ", 1)[0].split("?", 1)[0]
        content_type = "text/plain; charset=utf-8"
        if method not in ("GET", "HEAD"):
            status, body = 405, b"method not allowed\n"
        elif path == "/metrics":
            status, body, content_type = 200, metrics.render().encode(), CONTENT_TYPE
        elif path in _HEALTH_PATHS:
            status, body = (200, b"ok") if healthy() else (500, b"unhealthy")
        else:
            status, body = 404, b"404 page not found\n"
        writer.write(b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % (
            status, _REASONS[status].encode(), content_type.encode(), len(body)))
        if method != "HEAD":
            writer.write(body)
        try:
            await writer.drain()
        except ConnectionError:
            pass
        writer.close()

    server = await asyncio.start_server(answer, host, port)
    return MetricsServer(server), server.sockets[0].getsockname()[1]
