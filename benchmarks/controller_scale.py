"""A 10,000-replica ReplicaSet (and Deployment) reconciled by pyk8s-controller-manager
against a live pyk8s-apiserver, with simulated pod readiness.

Processes, as in a cluster: the API server (native store, granian, 1 worker), the
controller manager (``python -m pyk8s.cli.controller_manager``, uvloop, leader election
off, only the controllers the scenario needs) and this one, which creates the workload,
watches it, and plays a hollow kubelet: every new pod is marked Running and Ready through
``pods/status`` (32 requests in flight).  No scheduler runs and the template has no
``nodeName``, so deleted pods go at once.  Every scenario gets a fresh API server and a
fresh controller manager, so their CPU and memory figures are the scenario's own.

Scenarios:

* ``direct`` (the baseline, same run): this process POSTs the N pods itself, 64 in flight
  (the controller's own bound), and the hollow kubelet readies them: what the API server
  and the kubelet side allow, with no controller.
* ``replicaset``: create a ReplicaSet of N; time until all N pods exist, until
  ``status.readyReplicas == N`` (and available, fully labelled, observedGeneration).
* ``deployment`` (when pyk8s/controllers/deployment.py exists): create a Deployment of N;
  time until its status is ready/available/updated N; then a rolling update (template
  annotation changed; maxSurge = maxUnavailable = 25 %) until the new ReplicaSet has all N
  available and the old one none.

For the controller manager: CPU seconds (user + system, /proc/PID/stat) from the create to
the end of the scenario, and its peak RSS (VmHWM).  Upstream: kube-controller-manager's
client is throttled to --kube-api-qps=20 by default, so 10,000 creates take at least
10,000 / 20 = 500 s there (arithmetic from the default, not a measurement).

    python benchmarks/controller_scale.py                  # 10,000 replicas, all scenarios
    python benchmarks/controller_scale.py --quick          # 1,000 replicas
    python benchmarks/controller_scale.py --replicas 5000 --scenarios direct,replicaset

Prints a table and writes benchmarks/results/controller_scale.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import importlib.util
import json
import os
import pathlib
import platform
import subprocess
import sys
import time
from collections.abc import Callable

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _pods import REPO_ROOT  # noqa: E402  (falls back to the source tree when not installed)
from sched_e2e import cpu_seconds  # noqa: E402

from pyk8s.apiserver.testing import APIServerProcess, free_port  # noqa: E402
from pyk8s.client import (  # noqa: E402
    DEPLOYMENTS, NAMESPACES, PODS, REPLICA_SETS, ApiClient, ApiError, NotFound, Resource, TransportError,
)

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
NAMESPACE = "scale"
UPSTREAM_QPS = 20
KUBELET_IN_FLIGHT = 32
DIRECT_IN_FLIGHT = 64
HAS_DEPLOYMENT = importlib.util.find_spec("pyk8s.controllers.deployment") is not None
LABELS = {"app": "scale"}


def template(revision: str = "1") -> dict:
    return {"metadata": {"labels": dict(LABELS), "annotations": {"bench/revision": revision}},
            "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10",
                                     "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}


def rfc3339() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def peak_rss_mib(pid: int) -> float:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


class HollowKubelet:
    """Watches the namespace's pods; marks each new one Running+Ready once; records when
    the n-th pod appeared and when the n-th was seen ready."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self.added: set[str] = set()
        self.ready: set[str] = set()
        self.added_at: list[float] = []
        self.ready_at: list[float] = []
        self._todo: asyncio.Queue[str] = asyncio.Queue()
        self._marked: set[str] = set()
        self.watching = asyncio.Event()
        self.changed = asyncio.Event()

    async def run(self) -> None:
        listed = await self.client.list(PODS, namespace=NAMESPACE, limit=1)
        workers = [asyncio.create_task(self._mark_ready()) for _ in range(KUBELET_IN_FLIGHT)]
        try:
            stream = self.client.watch(PODS, namespace=NAMESPACE, resource_version=listed["metadata"]["resourceVersion"])
            async with stream:
                self.watching.set()
                async for event_type, pod in stream:
                    self._observe(event_type, pod)
        finally:
            for worker in workers:
                worker.cancel()

    def _observe(self, event_type: str, pod: dict) -> None:
        name = pod["metadata"].get("name")
        if event_type == "DELETED" or not name:
            return
        if name not in self.added:
            self.added.add(name)
            self.added_at.append(time.perf_counter())
        ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                    for c in (pod.get("status") or {}).get("conditions") or ())
        if ready and name not in self.ready:
            self.ready.add(name)
            self.ready_at.append(time.perf_counter())
        if not ready and name not in self._marked and not pod["metadata"].get("deletionTimestamp"):
            self._marked.add(name)
            self._todo.put_nowait(name)
        self.changed.set()

    async def _mark_ready(self) -> None:
        while True:
            name = await self._todo.get()
            now = rfc3339()
            status = {"status": {"phase": "Running", "startTime": now, "conditions": [
                {"type": "Initialized", "status": "True", "lastTransitionTime": now},
                {"type": "ContainersReady", "status": "True", "lastTransitionTime": now},
                {"type": "Ready", "status": "True", "lastTransitionTime": now},
            ]}}
            for _attempt in range(5):
                try:
                    await self.client.patch(PODS, name, status, namespace=NAMESPACE, subresource="status")
                    break
                except NotFound:
                    break
                except (ApiError, TransportError):
                    await asyncio.sleep(0.05)


class ObjectWatch:
    """Watches one kind in the namespace; ``until(check)`` waits for the first object state
    that satisfies ``check`` and returns when it was seen."""

    def __init__(self, client: ApiClient, resource: Resource) -> None:
        self.client, self.resource = client, resource
        self.latest: dict[str, dict] = {}
        self.changed = asyncio.Event()
        self.watching = asyncio.Event()

    async def run(self) -> None:
        listed = await self.client.list(self.resource, namespace=NAMESPACE)
        for item in listed["items"]:
            self.latest[item["metadata"]["name"]] = item
        async with self.client.watch(self.resource, namespace=NAMESPACE,
                                     resource_version=listed["metadata"]["resourceVersion"]) as stream:
            self.watching.set()
            async for event_type, obj in stream:
                if event_type == "BOOKMARK":
                    continue
                if event_type == "DELETED":
                    self.latest.pop(obj["metadata"]["name"], None)
                else:
                    self.latest[obj["metadata"]["name"]] = obj
                self.changed.set()

    async def until(self, check: Callable[[dict[str, dict]], bool], timeout: float) -> float:
        deadline = time.perf_counter() + timeout
        while not check(self.latest):
            self.changed.clear()
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), remaining)
        return time.perf_counter()


async def until_count(kubelet: HollowKubelet, attribute: str, count: int, timeout: float) -> float:
    deadline = time.perf_counter() + timeout
    stamps = getattr(kubelet, attribute)
    while len(stamps) < count:
        kubelet.changed.clear()
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            raise TimeoutError
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(kubelet.changed.wait(), remaining)
    return stamps[count - 1]


class ControllerManagerProcess:
    def __init__(self, url: str, controllers: str, profile: str | None = None) -> None:
        self.metrics_port = free_port()
        profiler = ["-m", "cProfile", "-o", profile] if profile else []
        self.command = [sys.executable, "-P", *profiler, "-m", "pyk8s.cli.controller_manager", "--server", url,
                        f"--controllers={controllers}", "--leader-elect=false", f"--metrics-port={self.metrics_port}",
                        "--log-level=warning"]
        self.process = subprocess.Popen(self.command, stdin=subprocess.DEVNULL,
                                        env={**os.environ, "PYTHONUNBUFFERED": "1"})

    async def wait_ready(self, client: ApiClient, timeout: float = 60.0) -> None:
        import aiohttp
        deadline = time.perf_counter() + timeout
        async with aiohttp.ClientSession() as session:
            while time.perf_counter() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"controller manager exited with {self.process.returncode}")
                try:
                    async with session.get(f"http://127.0.0.1:{self.metrics_port}/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError("controller manager did not serve /healthz")

    def stop(self) -> int:
        self.process.terminate()
        try:
            return self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def rs_done(replicas: int) -> Callable[[dict[str, dict]], bool]:
    def check(latest: dict[str, dict]) -> bool:
        rs = latest.get("scale")
        if rs is None:
            return False
        status = rs.get("status") or {}
        return (status.get("readyReplicas") == replicas and status.get("availableReplicas") == replicas
                and status.get("replicas") == replicas and status.get("fullyLabeledReplicas") == replicas
                and status.get("observedGeneration") == rs["metadata"].get("generation"))
    return check


def deployment_done(replicas: int) -> Callable[[dict[str, dict]], bool]:
    def check(latest: dict[str, dict]) -> bool:
        deployment = latest.get("scale")
        if deployment is None:
            return False
        status = deployment.get("status") or {}
        return (status.get("observedGeneration") == deployment["metadata"].get("generation")
                and status.get("replicas") == replicas and status.get("updatedReplicas") == replicas
                and status.get("readyReplicas") == replicas and status.get("availableReplicas") == replicas)
    return check


def replica_sets_settled(replicas: int, revision: str) -> Callable[[dict[str, dict]], bool]:
    """The ReplicaSet of ``revision`` has every replica ready and available; every other one has none."""
    def check(latest: dict[str, dict]) -> bool:
        current = [rs for rs in latest.values()
                   if ((rs["spec"].get("template") or {}).get("metadata") or {}).get("annotations", {}).get(
                       "bench/revision") == revision]
        if len(current) != 1:
            return False
        status = current[0].get("status") or {}
        if status.get("availableReplicas") != replicas or status.get("readyReplicas") != replicas:
            return False
        return all((rs.get("status") or {}).get("replicas", 0) == 0 for rs in latest.values() if rs is not current[0])
    return check


async def post_pods(client: ApiClient, count: int) -> None:
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"generateName": "direct-", "namespace": NAMESPACE,
                                                            **template()["metadata"]}, "spec": template()["spec"]}
    remaining = iter(range(count))

    async def worker() -> None:
        for _ in remaining:
            for _attempt in range(5):
                try:
                    await client.create(PODS, body, namespace=NAMESPACE)
                    break
                except (ApiError, TransportError):
                    await asyncio.sleep(0.05)

    await asyncio.gather(*(worker() for _ in range(DIRECT_IN_FLIGHT)))


async def scenario(name: str, replicas: int, storage: str, profile: str | None) -> dict:
    timeout = max(120.0, replicas / 25)
    with APIServerProcess(storage, extra_args=("--log-level", "warning")) as server:
        async with ApiClient(server.url, max_connections=KUBELET_IN_FLIGHT + DIRECT_IN_FLIGHT + 8) as client:
            await client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
            kubelet = HollowKubelet(client)
            tasks = [asyncio.create_task(kubelet.run())]
            manager = None
            row: dict = {"scenario": name, "replicas": replicas}
            try:
                if name != "direct":
                    controllers = "replicaset-controller" + (",deployment-controller" if name == "deployment" else "")
                    manager = ControllerManagerProcess(server.url, controllers,
                                                       f"{profile}.{name}" if profile else None)
                    await manager.wait_ready(client)
                    # /healthz answers before the informers have synced: let them list.
                    await asyncio.sleep(0.5)
                await kubelet.watching.wait()
                cpu_before = (cpu_seconds(server.process.pid), cpu_seconds(manager.process.pid) if manager else 0.0,
                              time.process_time())
                if name == "direct":
                    started = time.perf_counter()
                    await post_pods(client, replicas)
                    row["all_exist_s"] = await until_count(kubelet, "added_at", replicas, timeout) - started
                    row["all_ready_s"] = await until_count(kubelet, "ready_at", replicas, timeout) - started
                elif name == "replicaset":
                    watch = ObjectWatch(client, REPLICA_SETS)
                    tasks.append(asyncio.create_task(watch.run()))
                    await watch.watching.wait()
                    started = time.perf_counter()
                    await client.create(REPLICA_SETS, {
                        "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "scale", "namespace": NAMESPACE},
                        "spec": {"replicas": replicas, "selector": {"matchLabels": LABELS}, "template": template()}})
                    row["all_exist_s"] = await until_count(kubelet, "added_at", replicas, timeout) - started
                    row["all_ready_s"] = await until_count(kubelet, "ready_at", replicas, timeout) - started
                    row["status_ready_s"] = await watch.until(rs_done(replicas), timeout) - started
                else:
                    await deployment_phases(client, kubelet, replicas, timeout, row, tasks)
                cpu_after = (cpu_seconds(server.process.pid), cpu_seconds(manager.process.pid) if manager else 0.0,
                             time.process_time())
                row["cpu_seconds"] = {part: round(after - before, 2) for part, before, after in
                                      zip(("apiserver", "controller-manager", "bench (kubelet+watch)"), cpu_before, cpu_after)}
                if manager is not None:
                    row["controller_manager_peak_rss_mib"] = round(peak_rss_mib(manager.process.pid), 1)
                    row["pods_created"] = len(kubelet.added)
            except TimeoutError:
                row = {"scenario": name, "replicas": replicas, "timed_out_after_s": timeout,
                       "pods_seen": len(kubelet.added), "pods_ready": len(kubelet.ready)}
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                if manager is not None:
                    row["controller_manager_exit_code"] = manager.stop()
    return {key: round(value, 3) if isinstance(value, float) else value for key, value in row.items()}


async def deployment_phases(client: ApiClient, kubelet: HollowKubelet, replicas: int, timeout: float, row: dict,
                            tasks: list[asyncio.Task]) -> None:
    deployments, replica_sets = ObjectWatch(client, DEPLOYMENTS), ObjectWatch(client, REPLICA_SETS)
    tasks += [asyncio.create_task(deployments.run()), asyncio.create_task(replica_sets.run())]
    await deployments.watching.wait()
    await replica_sets.watching.wait()
    started = time.perf_counter()
    await client.create(DEPLOYMENTS, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "scale", "namespace": NAMESPACE},
        "spec": {"replicas": replicas, "selector": {"matchLabels": LABELS}, "template": template("1")}})
    row["all_exist_s"] = await until_count(kubelet, "added_at", replicas, timeout) - started
    row["all_ready_s"] = await until_count(kubelet, "ready_at", replicas, timeout) - started
    row["status_ready_s"] = await deployments.until(deployment_done(replicas), timeout) - started
    row["replicaset_status_ready_s"] = await replica_sets.until(replica_sets_settled(replicas, "1"), timeout) - started
    rolled = time.perf_counter()
    await client.patch(DEPLOYMENTS, "scale", {"spec": {"template": {"metadata": {"annotations": {"bench/revision": "2"}}}}},
                       namespace=NAMESPACE)
    row["rollout_s"] = await replica_sets.until(replica_sets_settled(replicas, "2"), timeout * 2) - rolled
    row["rollout_status_s"] = await deployments.until(deployment_done(replicas), timeout) - rolled


def print_table(rows: list[dict], replicas: int) -> None:
    direct = next((r for r in rows if r["scenario"] == "direct" and "all_ready_s" in r), None)
    header = ("scenario", "all exist", "all ready", "status right", "rollout", "vs direct", "CM CPU s", "CM peak RSS",
              "API CPU s")
    lines = [header]
    for row in rows:
        if "timed_out_after_s" in row:
            lines.append((row["scenario"], f"TIMEOUT {row['timed_out_after_s']:.0f} s", f"{row['pods_seen']} seen",
                          f"{row['pods_ready']} ready", "", "", "", "", ""))
            continue
        final = row.get("status_ready_s", row["all_ready_s"])
        ratio = f"x{final / direct['all_ready_s']:.2f}" if direct and row is not direct else ""
        lines.append((
            row["scenario"], f"{row['all_exist_s']:.2f} s", f"{row['all_ready_s']:.2f} s",
            f"{row['status_ready_s']:.2f} s" if "status_ready_s" in row else "-",
            f"{row['rollout_s']:.2f} s" if "rollout_s" in row else "-", ratio,
            f"{row['cpu_seconds']['controller-manager']:.1f}" if "controller_manager_peak_rss_mib" in row else "-",
            f"{row['controller_manager_peak_rss_mib']:.0f} MiB" if "controller_manager_peak_rss_mib" in row else "-",
            f"{row['cpu_seconds']['apiserver']:.1f}",
        ))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    for line in lines:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths)))
    print(f"upstream: kube-controller-manager at its default --kube-api-qps={UPSTREAM_QPS} needs >= "
          f"{replicas / UPSTREAM_QPS:.0f} s for {replicas} creates (client throttling alone; not a measurement)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=None, help="replicas per workload (default 10,000)")
    parser.add_argument("--quick", action="store_true", help="1,000 replicas")
    default_scenarios = "direct,replicaset" + (",deployment" if HAS_DEPLOYMENT else "")
    parser.add_argument("--scenarios", default=default_scenarios,
                        help=f"comma list of direct, replicaset, deployment (default {default_scenarios})")
    parser.add_argument("--storage", default="native", choices=("native", "reference"))
    parser.add_argument("--profile-controller-manager", metavar="PREFIX",
                        help="run the controller manager under cProfile, stats to PREFIX.<scenario>")
    args = parser.parse_args(argv)
    replicas = args.replicas or (1000 if args.quick else 10_000)
    names = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    if "deployment" in names and not HAS_DEPLOYMENT:
        parser.error("pyk8s/controllers/deployment.py does not exist in this tree")
    try:
        import uvloop
        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:  # pragma: no cover
        runner = asyncio.Runner()
    rows = []
    with runner:
        for name in names:
            rows.append(runner.run(scenario(name, replicas, args.storage, args.profile_controller_manager)))
            print(f"{name}: done", file=sys.stderr)
    print_table(rows, replicas)
    RESULTS.mkdir(exist_ok=True)
    report = {
        "benchmark": "controller_scale", "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()},
        "replicas": replicas, "storage": args.storage, "rows": rows,
        "baseline": f"direct: this process POSTs the pods, {DIRECT_IN_FLIGHT} in flight, no controller",
        "hollow_kubelet": f"this process, {KUBELET_IN_FLIGHT} pods/status patches in flight",
        "upstream": {"kube_api_qps_default": UPSTREAM_QPS, "min_seconds_for_creates": replicas / UPSTREAM_QPS,
                     "note": "arithmetic from the client QPS default, not a measured figure"},
        "source_tree": str(REPO_ROOT),
    }
    (RESULTS / "controller_scale.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0 if all("timed_out_after_s" not in row for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
