"""Hollow-node scale: the simulated kubelet against a live control plane, measured against
KWOK's published CI figures and upstream's SLOs.

Processes, as in a cluster: the API server (native store, granian, 1 worker), the scheduler
and the controller manager (all controllers; leader election off), the hollow nodes
(``_hollow_nodes.py``: ``SimulatedNodes``, what ``pyk8s-kubelet --runtime simulated`` runs),
and this one, which creates objects and watches them (aiohttp on uvloop).

Phases, in one run, each timed from what this process observes on its watches:

1. nodes: start the hollow-nodes process, until every node is Ready on a nodes watch
   (KWOK's CI: 5000 nodes Ready in <= 60 s);
2. steady CPU of the hollow nodes with no pods: Lease renewals (every node every 10 s) and
   node status reports (every 60 s), over a window;
3. a Deployment of 10,000 replicas, from its POST to the last of its pods Running on the
   pods watch (KWOK's CI: <= 60 s), through the deployment, ReplicaSet and scheduler loops;
4. pod startup latency: pods created at 100/s (scheduler included), each timed from its
   POST being sent to Running on the watch (upstream SLO p99 <= 5 s; target <= 100 ms);
5. memory: pods created bound to nodes (no scheduler, to save time) until the cluster holds
   150,000 pods, all Running; then the API server's RSS (target <= 3 GiB) and the hollow
   nodes' steady CPU again, now with every pod.

    python benchmarks/kubelet_scale.py           # 5000 nodes, 10,000 + 3000 pods, 150,000 in all
    python benchmarks/kubelet_scale.py --quick   # 500 nodes, 1000 + 1000 pods, 15,000 in all

Prints a table and writes benchmarks/results/kubelet_scale.json; exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
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
from sched_e2e import cpu_seconds, post_all  # noqa: E402

from pyk8s.apiserver.testing import APIServerProcess  # noqa: E402

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
HERE = pathlib.Path(__file__).resolve().parent
LABEL = "kubelet-scale"
KWOK = {"nodes_ready_seconds": 60.0, "pods_running_seconds": 60.0}
UPSTREAM_SLO_P99_SECONDS = 5.0
TARGET = {"latency_p99_ms": 100.0, "apiserver_rss_gib": 3.0, "hollow_cpu_cores": 0.5}
SHAPES = {
    "full": {"nodes": 5000, "deployment": 10_000, "latency_pods": 3000, "total_pods": 150_000, "cpu_window": 30.0},
    "quick": {"nodes": 500, "deployment": 1000, "latency_pods": 1000, "total_pods": 15_000, "cpu_window": 10.0},
}
LATENCY_RATE = 100.0


def rss_bytes(pid: int) -> int:
    """Resident memory of a process and its descendants (granian's worker is a child)."""
    total = 0
    for candidate in [pid, *_descendants(pid)]:
        try:
            for line in pathlib.Path(f"/proc/{candidate}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parent = int(pathlib.Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), ()):
            found.append(child)
            todo.append(child)
    return found


def pod_template(group: str) -> dict:
    return {
        "metadata": {"labels": {"bench": LABEL, "group": group}},
        "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10",
                                 "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]},
    }


def pod_body(namespace: str, name: str, group: str, node: str | None = None) -> bytes:
    template = pod_template(group)
    if node:
        template["spec"]["nodeName"] = node
    return orjson.dumps({"apiVersion": "v1", "kind": "Pod",
                         "metadata": {"name": name, "namespace": namespace, **template["metadata"]},
                         "spec": template["spec"]})


class NodeWatch:
    """Counts nodes seen Ready."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.ready: set[str] = set()
        self.last_ready = 0.0
        self.done = asyncio.Event()

    async def run(self, session, base: str, resource_version: str) -> None:
        params = {"watch": "true", "resourceVersion": resource_version, "allowWatchBookmarks": "true"}
        async with session.get(f"{base}/api/v1/nodes", params=params, timeout=aiohttp.ClientTimeout(total=None)) as answer:
            async for line in answer.content:
                event = orjson.loads(line)
                node = event["object"]
                for condition in (node.get("status") or {}).get("conditions") or ():
                    if condition.get("type") == "Ready" and condition.get("status") == "True":
                        name = node["metadata"]["name"]
                        if name not in self.ready:
                            self.ready.add(name)
                            self.last_ready = time.perf_counter()
                            if len(self.ready) == self.expected:
                                self.done.set()


class PodWatch:
    """When each benchmark pod was first seen bound and Running, per group."""

    def __init__(self) -> None:
        self.bound: dict[str, float] = {}
        self.running: dict[str, float] = {}
        self.running_by_group: dict[str, int] = {}
        self.group_of: dict[str, str] = {}
        self.waiters: dict[str, tuple[int, asyncio.Event]] = {}
        self.started = asyncio.Event()

    def wait_running(self, group: str, count: int) -> asyncio.Event:
        event = asyncio.Event()
        self.waiters[group] = (count, event)
        if self.running_by_group.get(group, 0) >= count:
            event.set()
        return event

    async def run(self, session, base: str, resource_version: str) -> None:
        params = {"watch": "true", "resourceVersion": resource_version, "allowWatchBookmarks": "true",
                  "labelSelector": f"bench={LABEL}"}
        async with session.get(f"{base}/api/v1/pods", params=params, timeout=aiohttp.ClientTimeout(total=None)) as answer:
            self.started.set()
            async for line in answer.content:
                event = orjson.loads(line)
                if event["type"] not in ("ADDED", "MODIFIED"):
                    continue
                pod = event["object"]
                name = pod["metadata"]["name"]
                now = time.perf_counter()
                if name not in self.bound and pod["spec"].get("nodeName"):
                    self.bound[name] = now
                if name not in self.running and (pod.get("status") or {}).get("phase") == "Running":
                    self.running[name] = now
                    group = self.group_of[name] = pod["metadata"]["labels"]["group"]
                    count = self.running_by_group[group] = self.running_by_group.get(group, 0) + 1
                    waiter = self.waiters.get(group)
                    if waiter is not None and count >= waiter[0]:
                        waiter[1].set()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def latest_revision(session, base: str, path: str) -> str:
    async with session.get(f"{base}{path}", params={"limit": "1"}) as answer:
        return orjson.loads(await answer.read())["metadata"]["resourceVersion"]


async def cpu_window(pids: dict[str, int], seconds: float) -> dict[str, float]:
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    elapsed = time.perf_counter() - started
    return {name: round((cpu_seconds(pid) - before[name]) / elapsed, 3) for name, pid in pids.items()}


async def settle(pids: dict[str, int], limit: float, quiet_cores: float) -> float:
    """Wait until the control plane's processes together use less than ``quiet_cores`` over a
    second (or ``limit`` seconds pass); returns the seconds waited."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        usage = await cpu_window(pids, 1.0)
        if sum(usage.values()) < quiet_cores:
            break
    return round(time.perf_counter() - started, 1)


async def measure(server, shape: dict, concurrency: int, logs: dict[str, pathlib.Path]) -> dict:
    base = server.url
    row: dict = {"shape": dict(shape)}
    components = {}
    common = ["--server", base, "--leader-elect=false", "--metrics-port", "0", "--log-level", "warning"]
    for name, module in (("scheduler", "pyk8s.cli.scheduler"), ("controller-manager", "pyk8s.cli.controller_manager")):
        components[name] = subprocess.Popen([sys.executable, "-P", "-m", module, *common], stdin=subprocess.DEVNULL,
                                            stdout=open(logs[name], "wb"), stderr=subprocess.STDOUT)
    hollow = None
    connector = aiohttp.TCPConnector(limit=concurrency + 16)
    try:
        async with aiohttp.ClientSession(connector=connector) as session:
            namespaces = ("scale-deploy", "scale-latency", "scale-bulk")
            await post_all(session, f"{base}/api/v1/namespaces", [orjson.dumps(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}) for ns in namespaces], 4)

            # 1. nodes Ready
            nodes = NodeWatch(shape["nodes"])
            node_watch = asyncio.create_task(nodes.run(session, base, await latest_revision(session, base, "/api/v1/nodes")))
            started = time.perf_counter()
            hollow = await asyncio.create_subprocess_exec(
                sys.executable, "-P", str(HERE / "_hollow_nodes.py"), base, str(shape["nodes"]),
                stdin=subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=open(logs["hollow-nodes"], "wb"))
            registered_line = await asyncio.wait_for(hollow.stdout.readline(), 600)
            await asyncio.wait_for(nodes.done.wait(), 600)
            node_watch.cancel()
            row["nodes_ready_seconds"] = round(nodes.last_ready - started, 2)
            row["nodes_registration_seconds"] = float(registered_line.split()[1])
            pids = {"hollow-nodes": hollow.pid, "apiserver": server.process.pid,
                    "scheduler": components["scheduler"].pid, "controller-manager": components["controller-manager"].pid}

            # 2. steady state, no pods
            await asyncio.sleep(3.0)
            row["cpu_cores_idle_nodes"] = await cpu_window(pids, shape["cpu_window"])

            pods = PodWatch()
            pod_watch = asyncio.create_task(pods.run(session, base, await latest_revision(session, base, "/api/v1/pods")))
            await pods.started.wait()

            # 3. a Deployment's pods to Running
            replicas = shape["deployment"]
            deployment = {"apiVersion": "apps/v1", "kind": "Deployment",
                          "metadata": {"name": "scale", "namespace": "scale-deploy"},
                          "spec": {"replicas": replicas, "selector": {"matchLabels": {"bench": LABEL, "group": "deploy"}},
                                   "template": pod_template("deploy")}}
            all_running = pods.wait_running("deploy", replicas)
            cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            started = time.perf_counter()
            await post_all(session, f"{base}/apis/apps/v1/namespaces/scale-deploy/deployments", [orjson.dumps(deployment)], 1)
            await asyncio.wait_for(all_running.wait(), 900)
            deploy_running = [t for name, t in pods.running.items() if pods.group_of[name] == "deploy"]
            row["deployment_running_seconds"] = round(max(deploy_running) - started, 2)
            row["deployment_pods_per_s"] = round(replicas / (max(deploy_running) - started), 1)
            row["deployment_cpu_seconds"] = {name: round(cpu_seconds(pid) - cpu_before[name], 1) for name, pid in pids.items()}

            # 4. pod startup latency at a steady rate, once the Deployment's aftermath (its
            # ReplicaSet's status, 20,000 Events) has drained
            idle = sum(row["cpu_cores_idle_nodes"].values())
            row["settle_seconds"] = await settle(pids, limit=120.0, quiet_cores=1.5 * idle + 0.1)
            count = shape["latency_pods"]
            sent: dict[str, float] = {}
            latency_running = pods.wait_running("latency", count)
            gate = asyncio.Semaphore(concurrency)
            url = f"{base}/api/v1/namespaces/scale-latency/pods"

            async def create(name: str, body: bytes) -> None:
                async with gate:
                    sent[name] = time.perf_counter()
                    await post_all(session, url, [body], 1)

            creations = []
            first = time.perf_counter()
            for i in range(count):
                await asyncio.sleep(max(0.0, first + i / LATENCY_RATE - time.perf_counter()))
                name = f"latency-{i:05d}"
                creations.append(asyncio.create_task(create(name, pod_body("scale-latency", name, "latency"))))
            await asyncio.gather(*creations)
            achieved_rate = count / (max(sent.values()) - first)
            await asyncio.wait_for(latency_running.wait(), 300)
            startup = [pods.running[name] - sent[name] for name in sent]
            scheduling = [pods.bound[name] - sent[name] for name in sent]
            kubelet = [pods.running[name] - pods.bound[name] for name in sent]
            row["latency"] = {
                "pods": count, "rate_per_s": round(achieved_rate, 1),
                "startup_ms": {q: round(percentile(startup, f) * 1000, 1)
                               for q, f in (("p50", 0.50), ("p90", 0.90), ("p99", 0.99), ("max", 1.0))},
                "create_to_bound_ms": {q: round(percentile(scheduling, f) * 1000, 1)
                                       for q, f in (("p50", 0.50), ("p99", 0.99))},
                "bound_to_running_ms": {q: round(percentile(kubelet, f) * 1000, 1)
                                        for q, f in (("p50", 0.50), ("p99", 0.99))},
            }

            # 5. fill to the total, all Running; then memory and steady CPU
            existing = replicas + count
            bulk = max(0, shape["total_pods"] - existing)
            bulk_running = pods.wait_running("bulk", bulk)
            started = time.perf_counter()
            bodies = (pod_body("scale-bulk", f"bulk-{i:06d}", "bulk", f"hollow-node-{i % shape['nodes']}")
                      for i in range(bulk))
            if bulk:
                await post_all(session, f"{base}/api/v1/namespaces/scale-bulk/pods", list(bodies), concurrency)
            created = time.perf_counter()
            await asyncio.wait_for(bulk_running.wait(), 1800)
            row["bulk"] = {"pods": bulk, "create_seconds": round(created - started, 1),
                           "all_running_seconds": round(time.perf_counter() - started, 1)}
            pod_watch.cancel()
            await asyncio.sleep(5.0)
            row["pods_total"] = existing + bulk
            row["apiserver_rss_gib"] = round(rss_bytes(server.process.pid) / 2**30, 3)
            row["hollow_nodes_rss_mib"] = round(rss_bytes(hollow.pid) / 2**20, 1)
            row["cpu_cores_all_pods"] = await cpu_window(pids, shape["cpu_window"])
    finally:
        if hollow is not None and hollow.returncode is None:
            hollow.terminate()
            await hollow.wait()
        for process in components.values():
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
    return row


def verdicts(row: dict) -> dict[str, bool]:
    return {
        "nodes Ready within KWOK's 60 s": row["nodes_ready_seconds"] <= KWOK["nodes_ready_seconds"],
        "Deployment Running within KWOK's 60 s": row["deployment_running_seconds"] <= KWOK["pods_running_seconds"],
        "startup p99 <= 100 ms": row["latency"]["startup_ms"]["p99"] <= TARGET["latency_p99_ms"],
        "API server RSS <= 3 GiB": row["apiserver_rss_gib"] <= TARGET["apiserver_rss_gib"],
        "hollow nodes well under a core": row["cpu_cores_all_pods"]["hollow-nodes"] <= TARGET["hollow_cpu_cores"],
    }


def print_table(row: dict) -> None:
    shape = row["shape"]
    latency = row["latency"]
    lines = [
        ("nodes Ready", f"{shape['nodes']} in {row['nodes_ready_seconds']:.1f} s "
                        f"(every Node and Lease written: {row['nodes_registration_seconds']:.1f} s)   KWOK CI <= 60 s"),
        ("hollow CPU, no pods", f"{row['cpu_cores_idle_nodes']['hollow-nodes']:.3f} cores "
                                f"(API server {row['cpu_cores_idle_nodes']['apiserver']:.3f})"),
        ("Deployment Running", f"{shape['deployment']} pods in {row['deployment_running_seconds']:.1f} s "
                               f"({row['deployment_pods_per_s']:.0f} pods/s)   KWOK CI <= 60 s"),
        ("  CPU s in that window", ", ".join(f"{k} {v}" for k, v in row["deployment_cpu_seconds"].items())),
        ("pod startup latency", f"p50 {latency['startup_ms']['p50']:.0f} ms, p90 {latency['startup_ms']['p90']:.0f} ms, "
                                f"p99 {latency['startup_ms']['p99']:.0f} ms, max {latency['startup_ms']['max']:.0f} ms "
                                f"({latency['pods']} pods at {latency['rate_per_s']:.0f}/s)"),
        ("  create->bound", f"p50 {latency['create_to_bound_ms']['p50']:.0f} ms, "
                            f"p99 {latency['create_to_bound_ms']['p99']:.0f} ms"),
        ("  bound->Running", f"p50 {latency['bound_to_running_ms']['p50']:.0f} ms, "
                             f"p99 {latency['bound_to_running_ms']['p99']:.0f} ms"),
        ("  upstream SLO / target", f"p99 <= {UPSTREAM_SLO_P99_SECONDS:.0f} s  (x{UPSTREAM_SLO_P99_SECONDS * 1000 / max(latency['startup_ms']['p99'], 1):.0f} "
                                    f"under) / p99 <= {TARGET['latency_p99_ms']:.0f} ms"),
        ("bulk fill", f"{row['bulk']['pods']} bound pods created in {row['bulk']['create_seconds']:.1f} s, "
                      f"all Running after {row['bulk']['all_running_seconds']:.1f} s"),
        ("API server RSS", f"{row['apiserver_rss_gib']:.2f} GiB at {shape['nodes']} nodes + {row['pods_total']} pods "
                           f"(target <= {TARGET['apiserver_rss_gib']:.0f} GiB)"),
        ("hollow nodes RSS", f"{row['hollow_nodes_rss_mib']:.0f} MiB"),
        ("hollow CPU, all pods", f"{row['cpu_cores_all_pods']['hollow-nodes']:.3f} cores "
                                 f"(API server {row['cpu_cores_all_pods']['apiserver']:.3f}, "
                                 f"scheduler {row['cpu_cores_all_pods']['scheduler']:.3f}, "
                                 f"controller manager {row['cpu_cores_all_pods']['controller-manager']:.3f})"),
    ]
    lines += [(name, "met" if ok else "NOT met") for name, ok in verdicts(row).items()]
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        print(f"{key:<{width}}  {value}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500 nodes, 1000 + 1000 pods, 15,000 in all")
    parser.add_argument("--concurrency", type=int, default=64, help="concurrent POSTs of the load generator")
    for key in ("nodes", "deployment", "latency_pods", "total_pods"):
        parser.add_argument(f"--{key.replace('_', '-')}", type=int, help=f"override the shape's {key}")
    args = parser.parse_args(argv)
    shape = dict(SHAPES["quick" if args.quick else "full"])
    shape.update({key: getattr(args, key) for key in ("nodes", "deployment", "latency_pods", "total_pods")
                  if getattr(args, key) is not None})
    load_before = os.getloadavg()
    RESULTS.mkdir(exist_ok=True)
    logs = {name: RESULTS / f"kubelet_scale-{name}.log" for name in ("scheduler", "controller-manager", "hollow-nodes")}
    with APIServerProcess("native", extra_args=("--log-level", "warning"), startup_timeout=60) as server:
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            row = runner.run(measure(server, shape, args.concurrency, logs))
    print_table(row)
    print(f"machine load (1 min average) before / after: {load_before[0]:.1f} / {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs")
    met = verdicts(row)
    report = {
        "benchmark": "kubelet_scale", "mode": "quick" if args.quick else "full",
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
                    # The machine is shared: its load says how much of it the benchmark had.
                    "loadavg_1m_before": round(load_before[0], 2), "loadavg_1m_after": round(os.getloadavg()[0], 2)},
        "processes": ["pyk8s-apiserver (granian, 1 worker)", "pyk8s-scheduler", "pyk8s-controller-manager (all controllers)",
                      "hollow nodes (SimulatedNodes, _hollow_nodes.py)", "loader + watches (this process)"],
        "row": row, "kwok_ci": KWOK, "upstream_slo_p99_seconds": UPSTREAM_SLO_P99_SECONDS, "targets": TARGET,
        "verdicts": met, "source_tree": str(REPO_ROOT),
    }
    (RESULTS / "kubelet_scale.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0 if all(met.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
