"""The scheduler's Prometheus metrics (upstream names, labels and buckets), rendered in the
text exposition format.  Recording is a dict increment on the hot path; rendering happens
only when /metrics is scraped."""

from __future__ import annotations

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
        self.attempts: dict[tuple[str, str], int] = {}
        self.durations: dict[tuple[str, str], _Histogram] = {}
        self.preemption_attempts = 0

    def observe_attempt(self, result: str, profile: str, seconds: float) -> None:
        key = (result, profile)
        self.attempts[key] = self.attempts.get(key, 0) + 1
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


async def serve_http(metrics: SchedulerMetrics, host: str, port: int, healthy: Callable[[], bool] = lambda: True):
    """/metrics and /healthz over plain HTTP (aiohttp.web); returns (runner, bound port).
    Call ``await runner.cleanup()`` to stop."""
    from aiohttp import web

    async def metrics_handler(_request):
        return web.Response(body=metrics.render().encode(), headers={"Content-Type": CONTENT_TYPE})

    async def healthz(_request):
        if healthy():
            return web.Response(text="ok")
        return web.Response(status=500, text="unhealthy")

    app = web.Application()
    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/livez", healthz)
    app.router.add_get("/readyz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    return runner, bound
