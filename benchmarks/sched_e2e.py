"""scheduler_perf's shapes end to end: pyk8s-scheduler against a live pyk8s-apiserver.

Shapes (upstream test/integration/scheduler_perf performance-config.yaml; node: 4 cpu,
32Gi, 110 pods; the same as sched_algorithm.py):

* SchedulingBasic    5000 nodes, 1000 pods placed, 10,000 measured (100m / 500Mi)
* PodAntiAffinity    5000 nodes, 1000 placed, 1000 measured, required anti-affinity on
                     kubernetes.io/hostname to color=green pods (placed ones included)
* TopologySpreading  5000 nodes in 3 zones, 1000 placed, 2000 measured with a zone
                     constraint maxSkew 5 DoNotSchedule on color=blue
* Preemption         500 nodes, 2000 low-priority pods (900m) filling them, 500
                     high-priority pods (3000m) measured: each evicts 3 victims through the
                     API (terminationGracePeriodSeconds 0, as upstream's templates) and is
                     bound on the retry their deletion triggers

Placed pods are created with spec.nodeName (no scheduling).  Three processes, as in a
cluster: the API server (native store, granian, 1 worker), the scheduler (``python -m
pyk8s.cli.scheduler``, leader election off, uvloop, every Event written) and this one, which
loads objects and watches the measured pods.

Load generator: this process, on uvloop, with a fixed number of concurrent POSTs
(``--concurrency``, default 64) of pre-encoded orjson bodies, pipelined over 64 HTTP/1.1
connections (``--loader aiohttp``: through aiohttp, as the figures before 2026-11-27 were
taken; it costs this process ~4x the CPU per create, taken from the same two cores); it
is the same for every run and is counted in the measured window.  The watch that times
the bindings selects bound pods (``fieldSelector=spec.nodeName!=``).  Throughput = measured pods / (first
create sent, or the scheduler's spawn with --precreated, .. last binding observed on a pods
watch opened before either); also first -> last binding, upstream's SchedulingThroughput
(see ``scheduling_throughput``) and, with --precreated, spawn -> first binding (the
scheduler's start-up: imports, lists, cache sync, first cycle).

    python benchmarks/sched_e2e.py                 # SchedulingBasic, the full shape
    python benchmarks/sched_e2e.py --quick         # 1000 nodes, 200 placed, 2000 measured
    python benchmarks/sched_e2e.py --precreated    # measured pods pending before the scheduler starts
    python benchmarks/sched_e2e.py --shape PodAntiAffinity --precreated
    python benchmarks/sched_e2e.py --shape all --precreated    # every shape, one API server each

Prints a table and writes benchmarks/results/sched_e2e.json (sched_e2e_<Shape>.json for the
other shapes).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import collections
import dataclasses
import functools
import json
import math
import os
import pathlib
import platform
import subprocess
import sys
import time

import aiohttp
import orjson

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _pods import REPO_ROOT  # noqa: E402  (falls back to the source tree when not installed)

from pyk8s.apiserver.testing import APIServerProcess, free_port  # noqa: E402

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
NAMESPACE = "sched-perf"
UPSTREAM = {"ci_floor": 680, "developer_machine": 1300}
TARGET = 5000
LOADER_CONNECTIONS = 64  # the pipelined loader's connections: one request in flight on each at the default concurrency (the server works one request per connection at a time)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its descendants (granian forks its worker), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = pathlib.Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry)] = fields
            children.setdefault(int(fields[1]), []).append(int(entry))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        if current in stats:
            total += (int(stats[current][11]) + int(stats[current][12])) / ticks
        todo.extend(children.get(current, ()))
    return total


ZONE = "topology.kubernetes.io/zone"


def node_body(i: int, zones: int = 0) -> bytes:
    name = f"node-{i:05d}"
    labels = {"kubernetes.io/hostname": name}
    if zones:
        labels[ZONE] = f"moon-{i % zones + 1}"
    return orjson.dumps({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "status": {"allocatable": {"cpu": "4", "memory": "32Gi", "pods": "110"},
                   "capacity": {"cpu": "4", "memory": "32Gi", "pods": "110"},
                   "conditions": [{"type": "Ready", "status": "True"}]},
    })


def pod_body(name: str, node: str | None = None, *, cpu: str = "100m", labels: dict | None = None,
             priority_class: str | None = None, **spec_extra) -> bytes:
    spec = {"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10",
                            "resources": {"requests": {"cpu": cpu, "memory": "500Mi"}}}], **spec_extra}
    if node:
        spec["nodeName"] = node
    if priority_class:
        spec["priorityClassName"] = priority_class
        spec["terminationGracePeriodSeconds"] = 0  # upstream's preemption templates: victims go at once
    return orjson.dumps({"apiVersion": "v1", "kind": "Pod",
                         "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels or {"app": "perf"}}, "spec": spec})


ANTI_AFFINITY = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
    "labelSelector": {"matchLabels": {"color": "green"}}, "topologyKey": "kubernetes.io/hostname",
    "namespaces": [NAMESPACE]}]}}
SPREAD = [{"maxSkew": 5, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule",
           "labelSelector": {"matchLabels": {"color": "blue"}}}]


@dataclasses.dataclass(frozen=True)
class Shape:
    name: str
    nodes: int
    placed: int
    measured: int
    zones: int = 0
    upstream: str = "not quoted"
    target: int | None = None
    priority_classes: tuple = ()

    def placed_body(self, i: int) -> bytes:
        if self.name == "PodAntiAffinity":  # one green pod per node: the placed ones are valid too
            return pod_body(f"placed-{i:05d}", f"node-{i % self.nodes:05d}", labels={"color": "green"}, affinity=ANTI_AFFINITY)
        if self.name == "Preemption":  # 4 x 900m of each node's 4 cpu
            return pod_body(f"placed-{i:05d}", f"node-{i % self.nodes:05d}", cpu="900m", priority_class="low")
        return pod_body(f"placed-{i:05d}", f"node-{i % self.nodes:05d}")

    def measured_body(self, i: int) -> bytes:
        name = f"measured-{i:05d}"
        if self.name == "PodAntiAffinity":
            return pod_body(name, labels={"color": "green"}, affinity=ANTI_AFFINITY)
        if self.name == "TopologySpreading":
            return pod_body(name, labels={"color": "blue"}, topologySpreadConstraints=SPREAD)
        if self.name == "Preemption":
            return pod_body(name, cpu="3000m", priority_class="high")
        return pod_body(name)


def shapes(quick: bool) -> dict[str, Shape]:
    """(full, --quick) sizes of each shape."""
    pick = (lambda full, small: small) if quick else (lambda full, small: full)
    priorities = (("low", 1), ("high", 100))
    return {
        "SchedulingBasic": Shape("SchedulingBasic", pick(5000, 1000), pick(1000, 200), pick(10_000, 2000),
                                 upstream=f"{UPSTREAM['ci_floor']} (CI floor), ~{UPSTREAM['developer_machine']} (dev machine)",
                                 target=TARGET),
        "PodAntiAffinity": Shape("PodAntiAffinity", pick(5000, 1000), pick(1000, 200), pick(1000, 200), upstream="35-90"),
        "TopologySpreading": Shape("TopologySpreading", pick(5000, 1000), pick(1000, 200), pick(2000, 400), zones=3),
        "Preemption": Shape("Preemption", pick(500, 100), pick(2000, 400), pick(500, 100), priority_classes=priorities),
    }


async def post_all(session: aiohttp.ClientSession, url: str, bodies: list[bytes], concurrency: int) -> float:
    """POST every body with ``concurrency`` requests in flight; returns when the first was sent."""
    headers = {"Content-Type": "application/json"}
    iterator = iter(bodies)
    first_sent: list[float] = []

    async def worker():
        for body in iterator:
            if not first_sent:
                first_sent.append(time.perf_counter())
            for _attempt in range(5):
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    if response.status < 400 or response.status == 409:
                        break
                    if response.status not in (429, 500, 503):
                        raise RuntimeError(f"POST {url}: {response.status}")
                await asyncio.sleep(0.05)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return first_sent[0]


async def post_pipelined(base: str, path: str, bodies: list[bytes], concurrency: int, connections: int) -> float:
    """POST every body over ``connections`` pipelined HTTP/1.1 connections, ``concurrency`` in
    flight (pyk8s.scheduler._pipeline: a few tens of microseconds of this process's CPU per
    request where aiohttp takes ~150, so the load generator leaves more of the shared cores
    to the processes under test).  Returns when the first was sent."""
    from pyk8s.client import ApiClient
    from pyk8s.scheduler._pipeline import PipelinedWriter

    loop = asyncio.get_running_loop()
    queue = collections.deque(bodies)
    room = asyncio.Event()
    state = {"in_flight": 0, "delayed": 0}
    failures: list[int] = []

    def requeue(body: bytes) -> None:
        state["delayed"] -= 1
        queue.append(body)
        room.set()

    def answered(body: bytes, future: asyncio.Future) -> None:
        state["in_flight"] -= 1
        status = 503 if future.exception() is not None else future.result()[0]  # lost connection: retry
        if status in (429, 500, 503):
            state["delayed"] += 1
            loop.call_later(0.05, requeue, body)
        elif status >= 400 and status != 409:  # 409: a retry of a create that went through
            failures.append(status)
        room.set()

    async with ApiClient(base) as client:
        writer = PipelinedWriter(client, connections=connections)
        try:
            first = time.perf_counter()
            sent = 0
            while queue or state["in_flight"] or state["delayed"]:
                if failures:
                    raise RuntimeError(f"POST {path}: {failures[0]}")
                if queue and state["in_flight"] < concurrency:
                    body = queue.popleft()
                    state["in_flight"] += 1
                    writer.send("POST", path, body).add_done_callback(functools.partial(answered, body))
                    sent += 1
                    if sent % 64 == 0:
                        await asyncio.sleep(0)  # let answers in while the window is open
                    continue
                room.clear()
                await room.wait()
            if failures:
                raise RuntimeError(f"POST {path}: {failures[0]}")
            return first
        finally:
            writer.close()


class BindingWatch:
    """Counts measured pods seen with spec.nodeName on one pods watch."""

    def __init__(self, base: str, session: aiohttp.ClientSession, prefix: str, expected: int) -> None:
        self.base, self.session, self.prefix, self.expected = base, session, prefix, expected
        self.bound: set[str] = set()
        self.binding_times: list[float] = []  # perf_counter when each measured pod was seen bound
        self.first_binding = 0.0
        self.last_binding = 0.0
        self.done = asyncio.Event()
        self.started = asyncio.Event()

    async def run(self, resource_version: str) -> None:
        url = f"{self.base}/api/v1/namespaces/{NAMESPACE}/pods"
        # Only bound pods (as upstream's collector counts them): a pod arrives, as ADDED,
        # when its binding moves it into the selection, and pending pods are not sent.
        params = {"watch": "true", "resourceVersion": resource_version, "allowWatchBookmarks": "true",
                  "fieldSelector": "spec.nodeName!="}
        async with self.session.get(url, params=params, timeout=aiohttp.ClientTimeout(total=None)) as response:
            self.started.set()
            # Whole reads, split here: a line-by-line ``async for`` costs this process (whose
            # CPU comes from the same two cores) several times more per event.
            pending = b""
            async for chunk in response.content.iter_any():
                lines = (pending + chunk).split(b"\n")
                pending = lines.pop()
                now = time.perf_counter()
                for line in lines:
                    if b'"nodeName"' in line and self._bound(orjson.loads(line), now):
                        return

    def _bound(self, event: dict, now: float) -> bool:
        """Count one event (lines without a nodeName are bookmarks); True when all are bound."""
        obj = event["object"]
        name = obj["metadata"].get("name", "")
        if event["type"] == "DELETED" or not name.startswith(self.prefix) or not obj["spec"].get("nodeName"):
            return False
        if name not in self.bound:
            self.bound.add(name)
            self.last_binding = now
            self.binding_times.append(now)
            if len(self.bound) == 1:
                self.first_binding = now
            if len(self.bound) == self.expected:
                self.done.set()
                return True
        return False


async def count_events(session, base: str) -> int:
    async with session.get(f"{base}/api/v1/namespaces/{NAMESPACE}/events", params={"limit": "1"}) as response:
        listed = orjson.loads(await response.read())
    return len(listed.get("items") or ()) + int(listed["metadata"].get("remainingItemCount") or 0)


async def wait_for_warm_up(session, base: str, timeout: float = 120.0) -> float:
    """Create one pod and wait until the scheduler (informers synced) binds it."""
    started = time.perf_counter()
    await post_all(session, f"{base}/api/v1/namespaces/{NAMESPACE}/pods", [pod_body("warm-up")], 1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with session.get(f"{base}/api/v1/namespaces/{NAMESPACE}/pods/warm-up") as response:
            if (orjson.loads(await response.read()).get("spec") or {}).get("nodeName"):
                return time.perf_counter() - started
        await asyncio.sleep(0.1)
    raise RuntimeError("the scheduler did not bind the warm-up pod")


async def measure(server_pid: int, metrics_port: int, base: str, shape: Shape,
                  concurrency: int, scheduler_cmd: list[str], precreated: bool, loader: str) -> dict:
    nodes, placed, measured = shape.nodes, shape.placed, shape.measured
    connector = aiohttp.TCPConnector(limit=concurrency + 8)
    pods_path = f"/api/v1/namespaces/{NAMESPACE}/pods"

    async def post_measured(bodies: list[bytes]) -> float:
        if loader == "aiohttp":
            return await post_all(session, base + pods_path, bodies, concurrency)
        return await post_pipelined(base, pods_path, bodies, concurrency, LOADER_CONNECTIONS)

    async with aiohttp.ClientSession(connector=connector) as session:
        ns = orjson.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        await post_all(session, f"{base}/api/v1/namespaces", [ns], 1)
        t = time.perf_counter()
        for name, value in shape.priority_classes:
            await post_all(session, f"{base}/apis/scheduling.k8s.io/v1/priorityclasses", [orjson.dumps(
                {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name}, "value": value})], 1)
        await post_all(session, f"{base}/api/v1/nodes", [node_body(i, shape.zones) for i in range(nodes)], concurrency)
        await post_all(session, f"{base}/api/v1/namespaces/{NAMESPACE}/pods",
                       [shape.placed_body(i) for i in range(placed)], concurrency)
        bodies = [shape.measured_body(i) for i in range(measured)]
        if precreated:
            # scheduler_perf's shape: the measured pods are pending before the scheduler starts,
            # so the window is the scheduler's own throughput through the API (list, watch,
            # bindings), not the API server's create rate.
            await post_measured(bodies)
        setup_seconds = time.perf_counter() - t
        async with session.get(f"{base}/api/v1/namespaces/{NAMESPACE}/pods", params={"limit": "1"}) as response:
            rv = orjson.loads(await response.read())["metadata"]["resourceVersion"]
        watch = BindingWatch(base, session, "measured-", measured)
        watcher = asyncio.create_task(watch.run(rv))
        await watch.started.wait()
        scheduler_started = time.perf_counter()
        scheduler = subprocess.Popen(scheduler_cmd, stdin=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            warm_up = 0.0 if precreated else await wait_for_warm_up(session, base)
            created_done = None
            bound_at_creates_done: list[int] = []

            async def create():
                nonlocal created_done
                if precreated:
                    created_done = scheduler_started
                    bound_at_creates_done.append(0)
                    return scheduler_started
                first = await post_measured(bodies)
                created_done = time.perf_counter()
                bound_at_creates_done.append(len(watch.bound))
                return first

            cpu_before = (cpu_seconds(server_pid), cpu_seconds(scheduler.pid), time.process_time())
            creating = asyncio.create_task(create())
            try:
                await asyncio.wait_for(watch.done.wait(), timeout=max(120.0, measured / 50))
            finally:
                watcher.cancel()
            first_create = await creating
            cpu_after = (cpu_seconds(server_pid), cpu_seconds(scheduler.pid), time.process_time())
            # Events are written in the background: how many of the window's pods already
            # have theirs tells whether the window paid for them; the CPU until all are
            # written is the whole per-pod cost, however the writes were spread.
            events_in_window = await count_events(session, base)
            expected_events = measured + (0 if precreated else 1)
            drain_deadline = time.monotonic() + 30
            events_total = events_in_window
            while events_total < expected_events and time.monotonic() < drain_deadline:
                await asyncio.sleep(0.1)
                events_total = await count_events(session, base)
            cpu_drained = (cpu_seconds(server_pid), cpu_seconds(scheduler.pid), time.process_time())
            async with session.get(f"http://127.0.0.1:{metrics_port}/metrics") as response:
                attempts = {line.split('result="')[1].split('"')[0]: int(float(line.rsplit(" ", 1)[1]))
                            for line in (await response.text()).splitlines()
                            if line.startswith("scheduler_schedule_attempts_total{")}
        finally:
            scheduler.terminate()
            try:
                scheduler.wait(10)
            except subprocess.TimeoutExpired:
                scheduler.kill()
        seconds = watch.last_binding - first_create
        steady = watch.last_binding - watch.first_binding
        # Start-up inside the precreated window: process spawn, imports, the informers'
        # lists and cache sync, up to the first binding the watch sees.
        spawn_to_first = watch.first_binding - scheduler_started if precreated else None
        upstream_metric = scheduling_throughput(watch.binding_times, first_create)
        return {
            "shape": shape.name, "upstream_pods_per_s": shape.upstream, "target_pods_per_s": shape.target,
            "mode": "precreated" if precreated else "created while scheduling",
            "nodes": nodes, "placed": placed, "measured": measured, "bound": len(watch.bound),
            "seconds": round(seconds, 3), "pods_per_s": round(measured / seconds, 1),
            "first_to_last_binding_pods_per_s": round((measured - 1) / steady, 1) if steady > 0 else None,
            "spawn_to_first_binding_seconds": round(spawn_to_first, 3) if spawn_to_first is not None else None,
            "scheduling_throughput": upstream_metric,
            "create_seconds": round(created_done - first_create, 3),
            "create_rate": round(measured / (created_done - first_create), 1) if not precreated else None,
            "setup_seconds": round(setup_seconds, 2), "warm_up_seconds": round(warm_up, 2),
            "scheduler_attempts": attempts,
            "events_written_in_window": events_in_window,
            "bound_when_creates_done": bound_at_creates_done[0],
            # CPU seconds each process spent in the measured window: where the time goes.
            "cpu_seconds": {name: round(after - before, 2) for name, before, after in
                            zip(("apiserver", "scheduler", "loader+watch"), cpu_before, cpu_after)},
            "events_written": events_total,
            # Until every Event is written (the event polling adds a little to the API server).
            "cpu_seconds_all_events": {name: round(after - before, 2) for name, before, after in
                                       zip(("apiserver", "scheduler", "loader+watch"), cpu_before, cpu_drained)},
        }


def scheduling_throughput(binding_times: list[float], start: float, interval: float = 1.0) -> dict | None:
    """Upstream scheduler_perf's throughputCollector (test/integration/scheduler_perf/util.go)
    replayed over the binding times: a ticker every ``interval`` from ``start``; the first tick
    that sees a scheduled pod only sets the baseline ("likely to be an outlier"); each later
    tick records (newly scheduled) / (time since the last recorded tick), repeated for ticks
    that saw nothing new; ticks stop when the last pod is scheduled (the op ends), so the tail
    shorter than an interval is not sampled.  Returns Average and Perc50/90 of the samples, as
    its SchedulingThroughput data item (the metric of upstream's published 680 / ~1300 pods/s),
    or None when the run is too short for a sample."""
    if not binding_times:
        return None
    times = sorted(binding_times)
    samples: list[float] = []
    baseline = None
    last_count, last_tick, skipped = 0, start, 0
    tick = start + interval
    while tick <= times[-1]:
        scheduled = bisect.bisect_right(times, tick)
        if scheduled:
            if baseline is None:
                baseline = tick
                last_count, last_tick = scheduled, tick
            elif scheduled == last_count:
                skipped += 1
            else:
                throughput = (scheduled - last_count) / (tick - last_tick)
                samples.extend([throughput] * (skipped + 1))
                last_count, last_tick, skipped = scheduled, tick, 0
        tick += interval
    if not samples:
        return None
    ordered = sorted(samples)

    def percentile(p: int) -> float:
        return ordered[math.ceil(len(ordered) * p / 100) - 1]

    return {"average": round(sum(ordered) / len(ordered), 1), "perc50": round(percentile(50), 1),
            "perc90": round(percentile(90), 1), "samples": [round(x, 1) for x in samples]}


def _throughput_verdict(throughput: dict | None, target: float) -> str:
    if throughput is None:
        return "not sampled (the run is shorter than two 1 s ticks)"
    return "met" if throughput["average"] >= target else "NOT met"


def print_table(row: dict) -> None:
    target = row["target_pods_per_s"]
    upstream = [("upstream CI floor", f"{UPSTREAM['ci_floor']} pods/s  (x{row['pods_per_s'] / UPSTREAM['ci_floor']:.1f})"),
                ("upstream dev machine", f"~{UPSTREAM['developer_machine']} pods/s  (x{row['pods_per_s'] / UPSTREAM['developer_machine']:.1f})")]
    lines = [
        ("shape", f"{row['shape']} {row['nodes']} nodes, {row['placed']} placed, {row['measured']} measured"),
        ("bound", f"{row['bound']}/{row['measured']}"),
        ("mode", f"{row['mode']} (loader: {row['loader']})"),
        ("window", f"{row['seconds']:.2f} s " + ("(scheduler start -> last binding)" if row["mode"] == "precreated"
                                                 else "(first create -> last binding)")),
        ("pyk8s end to end", f"{row['pods_per_s']:.0f} pods/s"),
        ("first -> last binding", f"{row['first_to_last_binding_pods_per_s']:.0f} pods/s"
                                  if row["first_to_last_binding_pods_per_s"] else "-"),
        *([("spawn -> first binding", f"{row['spawn_to_first_binding_seconds']:.3f} s (scheduler start-up in the window)")]
          if row["spawn_to_first_binding_seconds"] is not None else []),
        ("SchedulingThroughput", (f"average {st['average']:.0f} pods/s, perc50 {st['perc50']:.0f} "
                                  f"(upstream's collector: 1 s samples, first skipped; samples {st['samples']})")
                                 if (st := row["scheduling_throughput"]) else "run too short for a 1 s sample"),
        *([("  (creates alone)", f"{row['create_rate']:.0f} pods/s in {row['create_seconds']:.2f} s; "
                                 f"{row['bound_when_creates_done']} bound by then")] if row["create_rate"] else []),
        *(upstream if row["shape"] == "SchedulingBasic" else [("upstream", row["upstream_pods_per_s"] + (" pods/s" if row["upstream_pods_per_s"][0].isdigit() else ""))]),
        ("Events by window end", f"{row['events_written_in_window']} (Scheduled, FailedScheduling, Preempted; warm-up included)"),
        ("scheduler attempts", ", ".join(f"{k} {v}" for k, v in sorted(row["scheduler_attempts"].items()))),
        ("CPU s in window", ", ".join(f"{k} {v}" for k, v in row["cpu_seconds"].items())),
        ("CPU us/pod", ", ".join(f"{k} {v / row['measured'] * 1e6:.0f}" for k, v in row["cpu_seconds"].items())),
        ("  ... all Events written", ", ".join(f"{k} {v / row['measured'] * 1e6:.0f}" for k, v in row["cpu_seconds_all_events"].items())
                                     + f" ({row['events_written']} Events)"),
        *([("target", f">= {target} pods/s: window {'met' if row['pods_per_s'] >= target else 'NOT met'}, SchedulingThroughput "
                      + _throughput_verdict(row["scheduling_throughput"], target))]
          if target else []),
    ]
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        print(f"{key:<{width}}  {value}")


def run_shape(shape: Shape, args: argparse.Namespace) -> dict:
    metrics_port = free_port()
    with APIServerProcess(args.storage, extra_args=("--log-level", "warning")) as server:
        profiler = ["-m", "cProfile", "-o", args.profile_scheduler] if args.profile_scheduler else []
        scheduler_cmd = [sys.executable, "-P", *profiler, "-m", "pyk8s.cli.scheduler", "--server", server.url,
                         "--leader-elect=false", f"--metrics-port={metrics_port}", "--log-level", "warning"]
        try:
            import uvloop
            runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
        except ImportError:  # pragma: no cover
            runner = asyncio.Runner()
        with runner:
            row = runner.run(measure(server.process.pid, metrics_port, server.url, shape,
                                      args.concurrency, scheduler_cmd, args.precreated, args.loader))
    row.update(storage=args.storage, concurrency=args.concurrency, loader=args.loader)
    print_table(row)
    RESULTS.mkdir(exist_ok=True)
    target = shape.target
    report = {
        "benchmark": "sched_e2e", "shape": shape.name, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()},
        "load_generator": (f"this process on uvloop: {args.concurrency} concurrent POSTs of pre-encoded orjson bodies, "
                           + (f"pipelined over {LOADER_CONNECTIONS} HTTP/1.1 connections" if args.loader == "pipelined" else "aiohttp")),
        "processes": ["pyk8s-apiserver (granian, 1 worker)", "pyk8s-scheduler (python -m pyk8s.cli.scheduler)", "loader + watch"],
        "rows": [row],
        "upstream_pods_per_s": UPSTREAM if shape.name == "SchedulingBasic" else shape.upstream,
        "target_pods_per_s": target,
        "meets_target": row["pods_per_s"] >= target if target else None,
        "meets_target_scheduling_throughput": (row["scheduling_throughput"] or {}).get("average", 0) >= target if target else None,
        "source_tree": str(REPO_ROOT),
    }
    name = "sched_e2e.json" if shape.name == "SchedulingBasic" else f"sched_e2e_{shape.name}.json"
    (RESULTS / name).write_text(json.dumps(report, indent=2) + "\n")
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="SchedulingBasic", choices=(*shapes(False), "all"),
                        help="scheduler_perf shape (default SchedulingBasic); all: each in turn, one API server each")
    parser.add_argument("--quick", action="store_true", help="smaller shapes (SchedulingBasic: 1000 nodes, 200 placed, 2000 measured)")
    parser.add_argument("--concurrency", type=int, default=64, help="concurrent POSTs of the load generator")
    parser.add_argument("--loader", default="pipelined", choices=("pipelined", "aiohttp"),
                        help="how the measured pods are POSTed: pipelined HTTP/1.1 (default) or aiohttp (earlier figures)")
    parser.add_argument("--profile-scheduler", metavar="FILE", help="run the scheduler under cProfile, stats to FILE")
    parser.add_argument("--storage", default="native", choices=("native", "reference"))
    parser.add_argument("--precreated", action="store_true",
                        help="create the measured pods before the scheduler starts (the scheduler's own throughput)")
    args = parser.parse_args(argv)
    available = shapes(args.quick)
    chosen = list(available.values()) if args.shape == "all" else [available[args.shape]]
    rows = []
    for shape in chosen:
        rows.append(run_shape(shape, args))
        print()
    if len(rows) > 1:
        print(f"{'shape':<18} {'bound':>11} {'window pods/s':>14} {'first->last':>12} {'SchedulingThroughput':>21}  upstream")
        for row in rows:
            st = row["scheduling_throughput"]
            f2l = row["first_to_last_binding_pods_per_s"]
            f2l_text = f"{f2l:,.0f}" if f2l else "-"
            st_text = f"{st['average']:,.0f}" if st else "-"
            print(f"{row['shape']:<18} {row['bound']:>5}/{row['measured']:<5} {row['pods_per_s']:>14,.0f} "
                  f"{f2l_text:>12} {st_text:>21}  {row['upstream_pods_per_s']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
