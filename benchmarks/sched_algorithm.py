"""The scheduling algorithm in-process (no HTTP): scheduler_perf's shapes through the
native Cluster and its plain-Python twin (ReferenceCluster) in the same run.

Shapes (from upstream's test/integration/scheduler_perf performance-config.yaml and its
templates; node: 4 cpu, 32Gi, 110 pods):

* SchedulingBasic       5000 nodes, 1000 pods placed, 10,000 measured (100m / 500Mi)
* PodAntiAffinity       5000 nodes, 1000 placed, 1000 measured, required anti-affinity
                        on kubernetes.io/hostname to color=green pods
* TopologySpreading     5000 nodes in 3 zones, 1000 placed, 2000 measured with a zone
                        constraint maxSkew 5 DoNotSchedule on color=blue
* Preemption            500 nodes, 2000 low-priority pods (900m) filling them, 500
                        high-priority pods (3000m) measured: failed cycle, preemption dry
                        run, victims removed, second cycle, bind

A measured pod costs one full cycle as the scheduler runs it: parse the pod, PreFilter
(compile the native struct), Filter/Score over the sampled nodes, select, then assume
(bind in-process).  The twin runs a smaller sample of the same pods on an identical
cluster and its rate is extrapolated to the full count (per-pod cost is flat across the
run: the cluster changes by at most a few percent).  Prints a table and writes
benchmarks/results/sched_algorithm.json.

    python benchmarks/sched_algorithm.py                 # all shapes
    python benchmarks/sched_algorithm.py --quick         # 1/5 of the measured pods
"""

from __future__ import annotations

import argparse
import gc
import json
import pathlib
import platform
import statistics
import sys
import time

from pyk8s.scheduler import Cluster, ReferenceCluster

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
ZONE = "topology.kubernetes.io/zone"
UPSTREAM = {  # kube-scheduler's published scheduler_perf figures, pods/s, as quoted in issue 4
    "SchedulingBasic": "680 (CI floor), ~1300 (dev machine)",
    "PodAntiAffinity": "35-90",
    "TopologySpreading": "not quoted",
    "Preemption": "not quoted",
}
TARGETS = {"SchedulingBasic": 13000, "PodAntiAffinity": 900}


def node(i: int, zones: int = 0) -> dict:
    labels = {"kubernetes.io/hostname": f"node-{i}"}
    if zones:
        labels[ZONE] = f"moon-{i % zones + 1}"
    return {"metadata": {"name": f"node-{i}", "labels": labels},
            "status": {"allocatable": {"cpu": "4", "memory": "32Gi", "pods": "110"}}}


def pod(name: str, cpu: str = "100m", memory: str = "500Mi", labels=None, priority=None, **spec) -> dict:
    p = {"metadata": {"name": name, "namespace": "sched-0", "labels": dict(labels or {})},
         "spec": {"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10",
                                  "resources": {"requests": {"cpu": cpu, "memory": memory}}}], **spec}}
    if priority is not None:
        p["spec"]["priority"] = priority
    return p


ANTI = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
    "labelSelector": {"matchLabels": {"color": "green"}}, "topologyKey": "kubernetes.io/hostname",
    "namespaces": ["sched-1", "sched-0"]}]}}
SPREAD = [{"maxSkew": 5, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule",
           "labelSelector": {"matchLabels": {"color": "blue"}}}]


def shapes(scale: float):
    def n(count):
        return max(1, int(count * scale))
    return {
        "SchedulingBasic": {
            "nodes": 5000, "zones": 0, "init": [pod(f"init-{i}") for i in range(1000)],
            "measured": [pod(f"basic-{i}") for i in range(n(10000))], "twin_sample": 60},
        "PodAntiAffinity": {
            "nodes": 5000, "zones": 0,
            "init": [pod(f"init-{i}", labels={"color": "green"}, affinity=ANTI) for i in range(1000)],
            "measured": [pod(f"anti-{i}", labels={"color": "green"}, affinity=ANTI) for i in range(n(1000))],
            "twin_sample": 8},
        "TopologySpreading": {
            "nodes": 5000, "zones": 3, "init": [pod(f"init-{i}") for i in range(1000)],
            "measured": [pod(f"spread-{i}", labels={"color": "blue"}, topologySpreadConstraints=SPREAD) for i in range(n(2000))],
            "twin_sample": 8},
        "Preemption": {
            "nodes": 500, "zones": 0, "init": [pod(f"low-{i}", cpu="900m", priority=1) for i in range(2000)],
            "measured": [pod(f"high-{i}", cpu="3000m", priority=100) for i in range(n(500))], "twin_sample": 4},
    }


def build(cls, shape) -> Cluster:
    cluster = cls(seed=1)
    for i in range(shape["nodes"]):
        cluster.add_node(node(i, shape["zones"]))
    for p in shape["init"]:
        result = cluster.schedule_one(p)
        cluster.bind(p, result.node_name)
    return cluster


def run(cluster, pods, chunks: int = 1) -> tuple[float, int, list[float], float]:
    """Full cycles for `pods`; returns (seconds, scheduled, per-chunk wall pods/s, CPU seconds)."""
    scheduled = 0
    size = max(1, len(pods) // chunks)
    rates = []
    gc.disable()
    cpu_start = time.process_time()
    start = chunk_start = time.perf_counter()
    for i, p in enumerate(pods, 1):
        result = cluster.schedule_one(p)
        if result.node_name is None:
            preemption = cluster.preempt(p)
            if preemption.node_name is not None:
                for victim in preemption.victims:  # the process layer deletes them through the API
                    cluster.remove_pod(victim)
                result = cluster.schedule_one(p)
        if result.node_name is not None:
            cluster.bind(p, result.node_name)
            scheduled += 1
        if i % size == 0:
            now = time.perf_counter()
            rates.append(size / (now - chunk_start))
            chunk_start = now
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    gc.enable()
    return elapsed, scheduled, rates, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="measure 1/5 of the pods")
    parser.add_argument("--only", nargs="*", help="shape names to run")
    args = parser.parse_args()
    rows = []
    for name, shape in shapes(0.2 if args.quick else 1.0).items():
        if args.only and name not in args.only:
            continue
        native = build(Cluster, shape)
        seconds, scheduled, chunk_rates, cpu_seconds = run(native, shape["measured"], chunks=10)
        overall_rate = len(shape["measured"]) / seconds
        native_rate = statistics.median(chunk_rates)
        cpu_rate = len(shape["measured"]) / cpu_seconds
        twin = build(ReferenceCluster, shape)
        sample = shape["measured"][: shape["twin_sample"]]
        twin_seconds, twin_scheduled, _, twin_cpu = run(twin, sample)
        twin_rate = len(sample) / twin_seconds
        twin_cpu_rate = len(sample) / twin_cpu
        rows.append({
            "shape": name, "nodes": shape["nodes"], "placed": len(shape["init"]), "measured": len(shape["measured"]),
            "scheduled": scheduled, "native_pods_per_s": round(native_rate, 1),
            "native_pods_per_s_overall": round(overall_rate, 1), "native_chunk_rates": [round(r, 1) for r in chunk_rates],
            "native_pods_per_cpu_s": round(cpu_rate, 1), "twin_pods_per_cpu_s": round(twin_cpu_rate, 2),
            "twin_sample": len(sample), "twin_scheduled": twin_scheduled, "twin_pods_per_s": round(twin_rate, 2),
            "ratio": round(native_rate / twin_rate, 1), "upstream_pods_per_s": UPSTREAM[name],
            "target_pods_per_s": TARGETS.get(name), "meets_target": native_rate >= TARGETS[name] if name in TARGETS else None,
            "meets_target_per_cpu_s": cpu_rate >= TARGETS[name] if name in TARGETS else None,
        })
        print(f"{name}: native {native_rate:,.0f} pods/s ({cpu_rate:,.0f} per CPU-s), twin {twin_rate:,.1f} pods/s",
              file=sys.stderr, flush=True)

    header = (f"{'shape':<18} {'nodes':>5} {'placed':>6} {'measured':>8} {'native pods/s':>13} {'per CPU-s':>9} "
              f"{'twin pods/s':>11} {'ratio':>6}  {'upstream pods/s':<34} target")
    print(header)
    print("-" * len(header))
    for r in rows:
        target = "-"
        if r["target_pods_per_s"]:
            verdict = "ok" if r["meets_target"] else ("ok per CPU-s only" if r["meets_target_per_cpu_s"] else "MISSED")
            target = f">= {r['target_pods_per_s']:,} {verdict}"
        print(f"{r['shape']:<18} {r['nodes']:>5} {r['placed']:>6} {r['measured']:>8} {r['native_pods_per_s']:>13,.0f} "
              f"{r['native_pods_per_cpu_s']:>9,.0f} {r['twin_pods_per_s']:>11,.1f} {r['ratio']:>5,.0f}x  "
              f"{r['upstream_pods_per_s']:<34} {target}")
    print("native pods/s: wall clock, median of 10 consecutive chunks of the measured pods; per CPU-s: pods per "
          "second of this process's CPU time (the machine is shared: wall clock includes waiting for a core).")
    print("twin: plain-Python ReferenceCluster on the first N measured pods of the same shape, rate extrapolated.")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sched_algorithm.json").write_text(json.dumps({
        "python": platform.python_version(), "machine": platform.machine(), "quick": args.quick, "rows": rows}, indent=2))
    return 0 if all(r["meets_target"] is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
