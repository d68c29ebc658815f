"""The controller manager's Prometheus metrics: client-go's workqueue metrics (upstream
names, labelled by the queue's controller name) and per-controller sync counts, rendered in
the text exposition format when /metrics is scraped."""

from __future__ import annotations

from collections.abc import Sized

__all__ = ["ControllerMetrics", "CONTENT_TYPE"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ControllerMetrics:
    def __init__(self) -> None:
        self.queues: dict[str, Sized] = {}
        self.adds: dict[str, int] = {}
        self.retries: dict[str, int] = {}
        self.syncs: dict[tuple[str, str], int] = {}
        self.sync_seconds: dict[str, float] = {}

    def register_queue(self, name: str, queue: Sized) -> None:
        self.queues[name] = queue

    def queue_add(self, name: str) -> None:
        self.adds[name] = self.adds.get(name, 0) + 1

    def queue_retry(self, name: str) -> None:
        self.retries[name] = self.retries.get(name, 0) + 1

    def sync_done(self, name: str, result: str, seconds: float) -> None:
        key = (name, result)
        self.syncs[key] = self.syncs.get(key, 0) + 1
        self.sync_seconds[name] = self.sync_seconds.get(name, 0.0) + seconds

    def syncs_total(self, name: str, result: str | None = None) -> int:
        return sum(n for (c, r), n in self.syncs.items() if c == name and (result is None or r == result))

    def render(self) -> str:
        lines = [
            "# HELP workqueue_depth Current depth of workqueue",
            "# TYPE workqueue_depth gauge",
        ]
        lines += [f'workqueue_depth{{name="{name}"}} {len(queue)}' for name, queue in sorted(self.queues.items())]
        lines += ["# HELP workqueue_adds_total Total number of adds handled by workqueue",
                  "# TYPE workqueue_adds_total counter"]
        lines += [f'workqueue_adds_total{{name="{name}"}} {self.adds.get(name, 0)}' for name in sorted(self.queues)]
        lines += ["# HELP workqueue_retries_total Total number of retries handled by workqueue",
                  "# TYPE workqueue_retries_total counter"]
        lines += [f'workqueue_retries_total{{name="{name}"}} {self.retries.get(name, 0)}' for name in sorted(self.queues)]
        lines += ["# HELP pyk8s_controller_syncs_total Reconciles of one key, by controller and result",
                  "# TYPE pyk8s_controller_syncs_total counter"]
        lines += [f'pyk8s_controller_syncs_total{{controller="{c}",result="{r}"}} {n}'
                  for (c, r), n in sorted(self.syncs.items())]
        lines += ["# HELP pyk8s_controller_sync_seconds_total Time spent reconciling, by controller",
                  "# TYPE pyk8s_controller_sync_seconds_total counter"]
        lines += [f'pyk8s_controller_sync_seconds_total{{controller="{c}"}} {s!r}'
                  for c, s in sorted(self.sync_seconds.items())]
        return "\n".join(lines) + "\n"
