"""``/metrics``: Prometheus text exposition (format 0.0.4) with kube-apiserver's names.

* ``apiserver_request_total`` counter and ``apiserver_request_duration_seconds`` histogram,
  labelled as upstream (verb, dry_run, group, version, resource, subresource, scope,
  component; code on the counter only).  ``verb`` is upstream's reported verb: GET of one
  object, LIST of a collection, WATCH, POST, PUT, PATCH, DELETE, DELETECOLLECTION.
* ``apiserver_storage_objects{resource}`` (``pods``, ``deployments.apps``), counted at scrape.
* ``apiserver_registered_watchers{group,version,kind}``, the open watch streams.
* ``process_*``: resident and virtual memory, CPU seconds, open and max fds, start time.

The request path only does ``dict[key] += 1`` and a bisect into a list of bucket counts,
keyed by a tuple of plain strings; label text is formatted when someone scrapes.
"""

from __future__ import annotations

import bisect
import os
import resource as rlimit
import threading
from typing import Callable, Iterable

__all__ = ["Metrics", "RequestKey", "CONTENT_TYPE", "DURATION_BUCKETS"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Upstream's buckets for apiserver_request_duration_seconds.
DURATION_BUCKETS = (
    0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0,
    15.0, 20.0, 30.0, 45.0, 60.0,
)
_FIRST_BUCKET = DURATION_BUCKETS[0]
COMPONENT = "apiserver"

# (verb, group, version, resource, subresource, scope)
RequestKey = tuple[str, str, str, str, str, str]

_REQUEST_LABELS = ("verb", "dry_run", "group", "version", "resource", "subresource", "scope", "component")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Iterable[str], values: Iterable[str], le: str = "") -> str:
    # client_golang writes labels sorted by name, a histogram bucket's "le" last.
    pairs = sorted(zip(names, values))
    if le:
        pairs.append(("le", le))
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in pairs) + "}"


def _number(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _page_size() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 4096


def _boot_time() -> float:
    with open("/proc/stat", "rb") as file:
        for line in file:
            if line.startswith(b"btime "):
                return float(line.split()[1])
    raise OSError("no btime in /proc/stat")


def _process_metrics() -> list[str]:
    """What client_golang's process collector reports, read from /proc (Linux)."""
    lines: list[str] = []
    times = os.times()
    lines += [
        "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.",
        "# TYPE process_cpu_seconds_total counter",
        f"process_cpu_seconds_total {_number(times.user + times.system)}",
    ]
    try:
        with open("/proc/self/stat", "rb") as file:
            fields = file.read().rsplit(b")", 1)[1].split()
        # fields[0] is field 3 (state): vsize is field 23, rss 24, starttime 22.
        start_ticks, vsize, rss_pages = int(fields[19]), int(fields[20]), int(fields[21])
        start_time = _boot_time() + start_ticks / os.sysconf("SC_CLK_TCK")
        open_fds = len(os.listdir("/proc/self/fd"))
    except (OSError, ValueError, IndexError):
        return lines
    max_fds = rlimit.getrlimit(rlimit.RLIMIT_NOFILE)[0]
    lines += [
        "# HELP process_max_fds Maximum number of open file descriptors.",
        "# TYPE process_max_fds gauge",
        f"process_max_fds {max_fds}",
        "# HELP process_open_fds Number of open file descriptors.",
        "# TYPE process_open_fds gauge",
        f"process_open_fds {open_fds}",
        "# HELP process_resident_memory_bytes Resident memory size in bytes.",
        "# TYPE process_resident_memory_bytes gauge",
        f"process_resident_memory_bytes {rss_pages * _page_size()}",
        "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.",
        "# TYPE process_start_time_seconds gauge",
        f"process_start_time_seconds {_number(round(start_time, 2))}",
        "# HELP process_virtual_memory_bytes Virtual memory size in bytes.",
        "# TYPE process_virtual_memory_bytes gauge",
        f"process_virtual_memory_bytes {vsize}",
    ]
    return lines


class Metrics:
    """Request counters and latency histograms, watcher gauges, and the scrape."""

    def __init__(self) -> None:
        # (RequestKey, code) -> count
        self.requests: dict[tuple[RequestKey, int], int] = {}
        # RequestKey -> [count per bucket (non-cumulative) ..., +Inf bucket, sum]
        self.durations: dict[RequestKey, list[float]] = {}
        # (group, version, kind) -> open watch streams
        self.watchers: dict[tuple[str, str, str], int] = {}
        # Written from the event loop, read by the scrape on the same loop; the lock only
        # guards the rare in-process use from several threads (tests, APIServer.handle).
        self._lock = threading.Lock()

    def observe(self, key: RequestKey, code: int, seconds: float) -> None:
        requests = self.requests
        counter_key = (key, code)
        requests[counter_key] = requests.get(counter_key, 0) + 1
        buckets = self.durations.get(key)
        if buckets is None:
            with self._lock:
                buckets = self.durations.setdefault(key, [0.0] * (len(DURATION_BUCKETS) + 2))
        # Nearly every request is in the first bucket (bisect_left gives 0 for those).
        buckets[0 if seconds <= _FIRST_BUCKET else bisect.bisect_left(DURATION_BUCKETS, seconds)] += 1
        buckets[-1] += seconds

    def watcher_opened(self, gvk: tuple[str, str, str]) -> None:
        self.watchers[gvk] = self.watchers.get(gvk, 0) + 1

    def watcher_closed(self, gvk: tuple[str, str, str]) -> None:
        self.watchers[gvk] = self.watchers.get(gvk, 1) - 1

    # -- exposition ------------------------------------------------------------------------------

    def render(self, storage_objects: Callable[[], Iterable[tuple[str, int]]]) -> bytes:
        lines = [
            "# HELP apiserver_registered_watchers [ALPHA] Number of currently registered watchers for a given resources",
            "# TYPE apiserver_registered_watchers gauge",
        ]
        for (group, version, kind), count in sorted(self.watchers.items()):
            lines.append(f"apiserver_registered_watchers{_labels(('group', 'version', 'kind'), (group, version, kind))} {count}")
        lines += [
            "# HELP apiserver_request_duration_seconds [STABLE] Response latency distribution in seconds for each verb, "
            "dry run value, group, version, resource, subresource, scope and component.",
            "# TYPE apiserver_request_duration_seconds histogram",
        ]
        for key, buckets in sorted(list(self.durations.items())):
            values = (key[0], "", key[1], key[2], key[3], key[4], key[5], COMPONENT)
            cumulative = 0.0
            for bound, count in zip(DURATION_BUCKETS, buckets):
                cumulative += count
                labels = _labels(_REQUEST_LABELS, values, f"{bound:g}")
                lines.append(f"apiserver_request_duration_seconds_bucket{labels} {_number(cumulative)}")
            cumulative += buckets[len(DURATION_BUCKETS)]
            lines.append(f"apiserver_request_duration_seconds_bucket{_labels(_REQUEST_LABELS, values, '+Inf')} {_number(cumulative)}")
            lines.append(f"apiserver_request_duration_seconds_sum{_labels(_REQUEST_LABELS, values)} {buckets[-1]!r}")
            lines.append(f"apiserver_request_duration_seconds_count{_labels(_REQUEST_LABELS, values)} {_number(cumulative)}")
        lines += [
            "# HELP apiserver_request_total [STABLE] Counter of apiserver requests broken out for each verb, dry run value, "
            "group, version, resource, scope, component, and HTTP response code.",
            "# TYPE apiserver_request_total counter",
        ]
        for (key, code), count in sorted(list(self.requests.items())):
            values = (key[0], "", key[1], key[2], key[3], key[4], key[5], COMPONENT, str(code))
            lines.append(f"apiserver_request_total{_labels((*_REQUEST_LABELS, 'code'), values)} {count}")
        lines += [
            "# HELP apiserver_storage_objects [STABLE] Number of stored objects at the time of last check split by kind. "
            "In case of a fetching error, the value will be -1.",
            "# TYPE apiserver_storage_objects gauge",
        ]
        for name, count in sorted(storage_objects()):
            lines.append(f"apiserver_storage_objects{_labels(('resource',), (name,))} {count}")
        lines += _process_metrics()
        return ("\n".join(lines) + "\n").encode()
