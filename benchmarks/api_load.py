"""API load: pyk8s-apiserver under Debian's wrk, against granian's own ceiling, in one run.

    python benchmarks/api_load.py                      # 3 runs x 5 s per scenario, ~2 min
    python benchmarks/api_load.py --runs 5 --duration 10
    python benchmarks/api_load.py --storage reference   # the server over the Python store
    python benchmarks/api_load.py --server-cmd "pyk8s-apiserver {port} --bind-address 127.0.0.1"

1. Starts the API server (default ``python -m pyk8s.cli.apiserver PORT --bind-address
   127.0.0.1``) and granian serving ``hello_rsgi.py`` (1 worker, uvloop, RSGI: the API
   server's settings) on free ports, and waits for ``/readyz``.
2. Preloads 10,000 pods with concurrent POSTs (wrk, ``lua/preload_pods.lua``).
3. Drives each scenario with ``wrk -t1 -c32`` (one wrk thread leaves the second core to the
   server; 32 connections keep one granian worker busy), interleaved and repeated:
   hello-world (the ceiling), GET one pod, LIST the 10k pods with one connection (its p50 is
   the server time of a 10k list plus loopback transfer; granian sending a static body of the
   same size with one connection is its floor), then creates (a Lua script gives
   every request a unique name; creates go to namespace ``bench-create`` so LIST stays 10k).
4. Prints medians over the runs and writes ``benchmarks/results/api.json``.  The ceiling is
   re-measured at the start of every round; a scenario's ratio is the median over runs of
   its req/s over the ceiling's req/s of the same round (noise here drifts by the minute).

Targets (issue 2): GET one pod >= 0.6x the ceiling's req/s, create >= 0.35x, LIST of 10k
pods <= 20 ms server time (p50).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson
from _pods import FROM_SOURCE_TREE, REPO_ROOT, pod_for_create, pod_name

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
LUA = HERE / "lua"
NAMESPACE = "default"
CREATE_NAMESPACE = "bench-create"
WRK_MARK = "PYK8S_WRK "

# scenario -> (kind of target, value); "ratio" compares req/s to the ceiling.
TARGETS = {
    "GET one pod": ("ratio", 0.6),
    "create pod": ("ratio", 0.35),
    "LIST 10k pods": ("p50_ms", 20.0),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A server subprocess in its own process group (granian forks its workers)."""

    def __init__(self, name: str, cmd: list[str], port: int, cwd: Path, env: dict[str, str]) -> None:
        self.name, self.port = name, port
        self.base = f"http://127.0.0.1:{port}"
        self.log_path = RESULTS / f"{name}.log"
        self._log = self.log_path.open("wb")
        print(f"+ {shlex.join(cmd)}   (log: {self.log_path.relative_to(REPO_ROOT)})", flush=True)
        self.proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_ready(self, path: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log_path}")
            try:
                if httpx.get(self.base + path, timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready on {self.base}{path} after {timeout:.0f} s; see {self.log_path}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    if FROM_SOURCE_TREE:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def granian_settings() -> list[str]:
    """The API server's granian settings beyond 1 worker/uvloop/RSGI, for the ceiling."""
    try:
        from pyk8s.apiserver.server import DEFAULT_BACKLOG, DEFAULT_BACKPRESSURE
    except ImportError:  # pragma: no cover - server not importable: granian's defaults
        return []
    return ["--backlog", str(DEFAULT_BACKLOG), "--backpressure", str(DEFAULT_BACKPRESSURE), "--no-ws"]


# --- preload ----------------------------------------------------------------------------


def preload(wrk: str, base: str, count: int, tmpdir: Path, connections: int = 16) -> dict:
    """POST ``count`` pods with wrk (httpx manages only a few hundred POST/s on 2 cores)."""
    bodies = ",\n".join(f"[==[{orjson.dumps(pod_for_create(i)).decode()}]==]" for i in range(count))
    done_file = tmpdir / "preload.done"
    prelude = (f'CREATE_PATH = "/api/v1/namespaces/{NAMESPACE}/pods"\nDONE_FILE = "{done_file}"\n'
               f"BODIES = {{\n{bodies}\n}}\n")
    script = wrk_script(tmpdir, "preload", prelude, (LUA / "preload_pods.lua").read_text())
    start = time.perf_counter()
    proc = subprocess.Popen([wrk, "-t1", f"-c{connections}", "-d600s", "--timeout", "30s", "-s", str(script), base],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not done_file.exists() and proc.poll() is None and time.perf_counter() - start < 600:
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait()
    elapsed = time.perf_counter() - start
    url = f"{base}/api/v1/namespaces/{NAMESPACE}/pods"
    listed = {item["metadata"]["name"] for item in orjson.loads(httpx.get(url, timeout=30.0).content)["items"]}
    missing = [i for i in range(count) if pod_name(i) not in listed]  # in flight when wrk stopped, or failed
    for i in missing:
        response = httpx.post(url, content=orjson.dumps(pod_for_create(i)), timeout=30.0)
        if response.status_code not in (200, 201, 409):
            raise RuntimeError(f"preload: POST {pod_name(i)} gave {response.status_code}: {response.text[:300]}")
    body = httpx.get(url, timeout=30.0).content
    listed_count = len(orjson.loads(body)["items"])
    print(f"preloaded {count} pods in {elapsed:.1f} s ({count / elapsed:,.0f} POST/s, wrk -c{connections}; "
          f"{len(missing)} retried); LIST returns {listed_count} pods, {len(body) / 1e6:.1f} MB")
    if listed_count != count:
        raise RuntimeError(f"preload: LIST returns {listed_count} pods, expected {count}")
    return {"count": count, "seconds": round(elapsed, 2), "retried": len(missing), "list_items": listed_count,
            "list_bytes": len(body)}


def choose_create_namespace(base: str) -> str:
    """``bench-create`` (created first: issue 3 refuses objects in a missing namespace) unless
    the server still refuses it (then ``default``)."""
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": CREATE_NAMESPACE}}
    httpx.post(f"{base}/api/v1/namespaces", content=orjson.dumps(namespace), timeout=10)
    probe = pod_for_create(0, CREATE_NAMESPACE, "bench-probe")
    response = httpx.post(f"{base}/api/v1/namespaces/{CREATE_NAMESPACE}/pods", content=orjson.dumps(probe), timeout=10)
    if response.status_code in (200, 201):
        return CREATE_NAMESPACE
    print(f"POST to namespace {CREATE_NAMESPACE} gave {response.status_code}; creating in {NAMESPACE} (LIST runs first)")
    return NAMESPACE


def list_server_time(base: str, requests: int = 20) -> float:
    """p50 seconds of sequential LISTs from Python (httpx, body read, not parsed)."""
    times = []
    url = f"{base}/api/v1/namespaces/{NAMESPACE}/pods"
    with httpx.Client(timeout=30.0) as client:
        client.get(url)
        for _ in range(requests):
            start = time.perf_counter()
            client.get(url).read()
            times.append(time.perf_counter() - start)
    return statistics.median(times)


# --- wrk --------------------------------------------------------------------------------


def wrk_script(tmpdir: Path, name: str, prelude: str = "", body: str = "") -> Path:
    path = tmpdir / f"{name}.lua"
    path.write_text(prelude + body + "\n" + (LUA / "report.lua").read_text())
    return path


def run_wrk(wrk: str, url: str, script: Path, threads: int, connections: int, duration: float) -> dict:
    cmd = [wrk, f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--timeout", "30s", "-s", str(script), url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    line = next((ln for ln in out.splitlines() if ln.startswith(WRK_MARK)), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    raw = json.loads(line[len(WRK_MARK) :])
    seconds = raw["duration_us"] / 1e6
    errors = sum(raw["errors"].values())
    return {
        "rps": raw["requests"] / seconds,
        "p50_ms": raw["latency_us"]["p50"] / 1e3,
        "p99_ms": raw["latency_us"]["p99"] / 1e3,
        "requests": raw["requests"],
        "errors": errors,
        "error_detail": raw["errors"],
        "mb_per_s": raw["bytes"] / seconds / 1e6,
    }


def median_of(runs: list[dict]) -> dict:
    keys = ("rps", "p50_ms", "p99_ms", "mb_per_s", "ratio_to_ceiling")
    out = {k: statistics.median(r[k] for r in runs) for k in keys}
    out["errors"] = sum(r["errors"] for r in runs)
    out["requests"] = sum(r["requests"] for r in runs)
    return out


# --- report -----------------------------------------------------------------------------


def build_rows(results: dict[str, dict], extras: dict[str, float]) -> list[dict]:
    rows = []
    for scenario, r in results.items():
        # the median over runs of req/s over its ceiling's req/s measured just before
        ratio = r.pop("ratio_to_ceiling")
        target = TARGETS.get(scenario)
        if target is None:
            target_text, verdict = "-", "-"
        elif target[0] == "ratio":
            target_text, verdict = f">= {target[1]:g}x", "pass" if ratio >= target[1] else "FAIL"
        else:
            target_text, verdict = f"p50 <= {target[1]:g} ms", "pass" if r["p50_ms"] <= target[1] else "FAIL"
        if r["errors"]:
            verdict += f" ({r['errors']} errors)"
        rows.append({"scenario": scenario, **r, "ratio_to_ceiling": ratio, "target": target_text, "result": verdict})
    for scenario, seconds in extras.items():
        rows.append({"scenario": scenario, "connections": 1, "rps": 1 / seconds, "p50_ms": seconds * 1e3, "p99_ms": None,
                     "errors": 0, "ratio_to_ceiling": None, "target": "-", "result": "-"})
    return rows


def print_table(rows: list[dict]) -> None:
    header = ("scenario", "conns", "req/s", "p50", "p99", "ratio to ceiling", "target", "result")
    lines = [
        (
            r["scenario"],
            str(r["connections"]),
            f"{r['rps']:,.0f}",
            f"{r['p50_ms']:.2f} ms",
            "-" if r["p99_ms"] is None else f"{r['p99_ms']:.2f} ms",
            "-" if r["ratio_to_ceiling"] is None else f"{r['ratio_to_ceiling']:.2f}x",
            r["target"],
            r["result"],
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    print()
    print(fmt.format(*header))
    print(fmt.format(*("-" * w for w in widths)))
    for line in lines:
        print(fmt.format(*line))


# --- main -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server-cmd", default=None,
                        help="API server command with {port} (default: python -m pyk8s.cli.apiserver {port} "
                             "--bind-address 127.0.0.1)")
    parser.add_argument("--storage", choices=("native", "reference"), default=None,
                        help="pass --storage to the default server command (default: the server's default, native)")
    parser.add_argument("--pods", type=int, default=10_000, help="pods to preload")
    parser.add_argument("--runs", type=int, default=3, help="repetitions per scenario (median taken)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (LIST uses 1)")
    parser.add_argument("--wrk", default=shutil.which("wrk") or "/usr/bin/wrk")
    parser.add_argument("--ceiling-only", action="store_true", help="measure only granian's hello world")
    args = parser.parse_args(argv)
    if not Path(args.wrk).exists():
        print("wrk not found: apt-get install -y wrk", file=sys.stderr)
        return 2

    started = time.time()
    RESULTS.mkdir(exist_ok=True)
    env = child_env()
    hello_port = free_port()
    hello = Server(
        "hello_rsgi",
        [sys.executable, "-m", "granian", "--interface", "rsgi", "--loop", "uvloop", "--workers", "1",
         *granian_settings(), "--host", "127.0.0.1", "--port", str(hello_port), "--no-access-log",
         "--working-dir", str(HERE), "hello_rsgi:app"],
        hello_port, HERE, env,
    )
    servers = [hello]
    api = None
    tmpdir = Path(tempfile.mkdtemp(prefix="pyk8s-wrk-"))
    try:
        if not args.ceiling_only:
            api_port = free_port()
            default_cmd = f"{shlex.quote(sys.executable)} -P -m pyk8s.cli.apiserver {{port}} --bind-address 127.0.0.1"
            template = args.server_cmd or default_cmd
            if args.storage and not args.server_cmd:
                template += f" --storage {args.storage}"
            api = Server("apiserver", shlex.split(template.format(port=api_port)), api_port, RESULTS, env)
            servers.append(api)
            api.wait_ready("/readyz")
        hello.wait_ready("/")

        info: dict = {}
        if api:
            info["preload"] = preload(args.wrk, api.base, args.pods, tmpdir)
            create_ns = choose_create_namespace(api.base)
        plain = wrk_script(tmpdir, "plain")
        one_pod = f"/api/v1/namespaces/{NAMESPACE}/pods/{pod_name(args.pods // 2)}"
        pod_list = f"/api/v1/namespaces/{NAMESPACE}/pods"

        # Rounds of (scenario, server, path, script, connections, compared with), each ceiling
        # measured just before what is compared with it; creates come last so LIST stays at 10k.
        hello_row = ("hello (ceiling)", hello, "/", plain, args.connections, None)
        phases = [[hello_row]]
        if api:
            list_sized = f"/bytes/{info['preload']['list_bytes']}"
            phases[0] += [
                ("GET one pod", api, one_pod, plain, args.connections, "hello (ceiling)"),
                ("LIST-sized body (ceiling)", hello, list_sized, plain, 1, None),
                ("LIST 10k pods", api, pod_list, plain, 1, "LIST-sized body (ceiling)"),
            ]
            create_path = f"/api/v1/namespaces/{create_ns}/pods"
            phases.append([hello_row, ("create pod", api, create_path, None, args.connections, "hello (ceiling)")])
        raw: dict[str, list[dict]] = {}
        conns: dict[str, int] = {}
        latest: dict[str, dict] = {}
        print(f"\nwrk -t{args.threads} -c{args.connections} (LIST: -c1) -d{args.duration:g}s, {args.runs} runs, medians")
        for phase in phases:
            for run in range(args.runs):
                for scenario, server, path, script, connections, baseline in phase:
                    if script is None:  # a fresh create script per run: names stay unique
                        template = orjson.dumps(pod_for_create(0, create_ns, "__NAME__")).decode()
                        prelude = f'RUN_ID = "r{run}"\nCREATE_PATH = "{path}"\nPOD_TEMPLATE = [==[{template}]==]\n'
                        script = wrk_script(tmpdir, f"create-{run}", prelude, (LUA / "create_pod.lua").read_text())
                    result = run_wrk(args.wrk, server.base + path, script, args.threads, connections, args.duration)
                    result["ratio_to_ceiling"] = result["rps"] / latest[baseline]["rps"] if baseline else 1.0
                    latest[scenario] = result
                    raw.setdefault(scenario, []).append(result)
                    conns[scenario] = connections
                    print(f"  run {run + 1} {scenario:<26} {result['rps']:>10,.0f} req/s  p50 {result['p50_ms']:.2f} ms"
                          f"  p99 {result['p99_ms']:.2f} ms  errors {result['errors']}", flush=True)
        results = {scenario: {"connections": conns[scenario], **median_of(runs)} for scenario, runs in raw.items()}
        extras = {}
        if api:
            extras["LIST 10k pods (Python httpx client)"] = list_server_time(api.base)
        rows = build_rows(results, extras)
        print_table(rows)
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(tmpdir, ignore_errors=True)

    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "api.json"
    out.write_text(json.dumps({
        "benchmark": "api",
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "duration_s": round(time.time() - started, 1),
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()},
        "wrk": {"threads": args.threads, "connections": args.connections, "duration_s": args.duration, "runs": args.runs},
        "server_cmd": api and shlex.join(api.proc.args),
        **info,
        "rows": rows,
        "runs": raw,
    }, indent=2) + "\n")
    print(f"\nwrote {out.relative_to(REPO_ROOT)}")
    return 1 if any(r["result"].startswith("FAIL") or "errors" in r["result"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
