"""Watch fan-out: many concurrent watch streams over HTTP while writes go in at a fixed rate.

Scenarios (each against one live ``pyk8s-apiserver``, native store):

* ``per-node``: N watch streams, each ``fieldSelector=spec.nodeName=node-i`` (the shape of N
  kubelets); the writer creates pods spread round-robin over the nodes at R writes/s, so
  each write reaches exactly one stream.
* ``broadcast``: N streams watching every pod in the namespace; each write reaches all N
  (N*R events/s to deliver). Run at a lower rate, since the HTTP send per event bounds it.

For every event the client records ``receive time - send time of the write request`` (an
upper bound on commit-to-client latency: the commit happens after the request is sent) and
checks that each stream saw each write meant for it exactly once.

The load generator is one uvloop process with raw asyncio streams (no HTTP library on the
hot path): chunked NDJSON is parsed with ``bytes.split``. Its CPU time is reported so a
saturated client is visible. Prints a table and writes ``benchmarks/results/watch_fanout.json``.

    python benchmarks/watch_fanout.py                       # 1000 streams x 1000 writes/s, 10 s
    python benchmarks/watch_fanout.py --streams 200 --rate 200 --seconds 5 --scenarios broadcast
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import resource
import statistics
import sys
import time

import orjson

from pyk8s.apiserver.testing import APIServerProcess

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
NAMESPACE = "fanout"


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Stream:
    """One watch stream: a raw HTTP/1.1 GET whose chunked NDJSON body is parsed by hand."""

    def __init__(self, host: str, port: int, path: str, sent: dict[str, float], latencies: list[float]) -> None:
        self.host, self.port, self.path = host, port, path
        self.sent = sent
        self.latencies = latencies
        self.seen: dict[str, int] = {}
        self.ready = asyncio.Event()
        self.errors: list[str] = []

    async def run(self) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)
        writer.write(f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nAccept: application/json\r\n\r\n".encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        if b" 200 " not in head.split(b"\r\n", 1)[0]:
            self.errors.append(head.decode(errors="replace"))
            self.ready.set()
            return
        self.ready.set()
        buf = b""
        try:
            while True:  # ends when the task is cancelled at the end of the scenario
                size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                if size == 0:
                    break
                chunk = await reader.readexactly(size + 2)
                buf += chunk[:-2]
                if b"\n" not in buf:
                    continue
                *lines, buf = buf.split(b"\n")
                now = time.perf_counter()
                for raw in lines:
                    event = orjson.loads(raw)
                    if event["type"] not in ("ADDED", "MODIFIED"):
                        if event["type"] == "ERROR":
                            self.errors.append(str(event["object"].get("message")))
                        continue
                    name = event["object"]["metadata"]["name"]
                    self.seen[name] = self.seen.get(name, 0) + 1
                    sent = self.sent.get(name)
                    if sent is not None:
                        self.latencies.append(now - sent)
        except (asyncio.CancelledError, asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def writer(host: str, port: int, names: list[tuple[str, str]], rate: float, sent: dict[str, float]) -> float:
    """Create the pods at ``rate`` per second over a few keep-alive connections; returns the
    achieved rate."""
    conns = [await asyncio.open_connection(host, port) for _ in range(8)]
    interval = 1.0 / rate
    start = time.perf_counter()
    pending: list[asyncio.Task] = []
    locks = [asyncio.Lock() for _ in conns]

    async def post(i: int, name: str, node: str) -> None:
        body = orjson.dumps({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": "fanout"}},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "pause"}]},
        })
        reader, w = conns[i % len(conns)]
        async with locks[i % len(conns)]:
            sent[name] = time.perf_counter()
            w.write(
                f"POST /api/v1/namespaces/{NAMESPACE}/pods HTTP/1.1\r\nHost: {host}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
            )
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            if b" 201 " not in head.split(b"\r\n", 1)[0]:
                raise RuntimeError(head.decode(errors="replace"))

    for i, (name, node) in enumerate(names):
        target = start + i * interval
        delay = target - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        pending.append(asyncio.ensure_future(post(i, name, node)))
    await asyncio.gather(*pending)
    elapsed = time.perf_counter() - start
    for _, w in conns:
        w.close()
    return len(names) / elapsed


async def scenario(name: str, server: APIServerProcess, streams: int, rate: float, seconds: float) -> dict:
    host, port = "127.0.0.1", server.port
    run_id = f"{name[:2]}{int(time.time() * 1000) % 100000}"
    sent: dict[str, float] = {}
    latencies: list[float] = []
    nodes = [f"node-{i}" for i in range(streams)]
    if name == "per-node":
        paths = [f"/api/v1/namespaces/{NAMESPACE}/pods?watch=true&fieldSelector=spec.nodeName%3D{n}"
                 f"&resourceVersion=" for n in nodes]
    else:
        paths = [f"/api/v1/namespaces/{NAMESPACE}/pods?watch=true&labelSelector=app%3Dfanout"] * streams
    # Start from "now": resourceVersion = the current revision, so no initial events.
    rv = server_revision(host, port)
    paths = [p + (("" if p.endswith("resourceVersion=") else "&resourceVersion=") + str(rv)) for p in paths]
    watchers = [Stream(host, port, p, sent, latencies) for p in paths]
    tasks = [asyncio.ensure_future(w.run()) for w in watchers]
    await asyncio.wait_for(asyncio.gather(*(w.ready.wait() for w in watchers)), 60)
    total = int(rate * seconds)
    names = [(f"{run_id}-{i}", nodes[i % streams]) for i in range(total)]
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    achieved = await writer(host, port, names, rate, sent)
    expected_per_stream = [[n for n, node in names if name == "broadcast" or node == nodes[s]] for s in range(streams)]
    expected_events = sum(len(e) for e in expected_per_stream)
    deadline = time.perf_counter() + 30
    while len(latencies) < expected_events and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    lost = duplicated = 0
    for w, expected in zip(watchers, expected_per_stream):
        for n in expected:
            count = w.seen.get(n, 0)
            lost += count == 0
            duplicated += max(0, count - 1)
    errors = [e for w in watchers for e in w.errors]
    client_cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    return {
        "scenario": name,
        "streams": streams,
        "target_writes_per_s": rate,
        "achieved_writes_per_s": round(achieved, 1),
        "events_expected": expected_events,
        "events_received": len(latencies),
        "lost": lost,
        "duplicated": duplicated,
        "errors": errors[:5],
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "max_ms": round(max(latencies) * 1000, 2) if latencies else None,
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2) if latencies else None,
        "client_cpu_s_per_s": round(client_cpu / max(seconds, 1e-9), 2),
    }


def server_revision(host: str, port: int) -> int:
    import urllib.request

    with urllib.request.urlopen(f"http://{host}:{port}/api/v1/namespaces/{NAMESPACE}/pods?limit=1") as resp:
        return int(json.load(resp)["metadata"]["resourceVersion"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=1000.0, help="writes per second (per-node scenario)")
    parser.add_argument("--broadcast-streams", type=int, default=200)
    parser.add_argument("--broadcast-rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--scenarios", default="per-node,broadcast")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    rows = []
    with APIServerProcess("native") as server:
        _create_namespace(server)
        for name in args.scenarios.split(","):
            if name == "per-node":
                rows.append(asyncio.run(scenario(name, server, args.streams, args.rate, args.seconds)))
            elif name == "broadcast":
                rows.append(asyncio.run(scenario(name, server, args.broadcast_streams, args.broadcast_rate,
                                                 args.seconds)))
            else:
                raise SystemExit(f"unknown scenario {name}")
    header = ("scenario", "streams", "writes/s", "events", "lost", "dup", "p50 ms", "p99 ms", "max ms",
              "client cpu", "target")
    print(" ".join(f"{h:>11}" for h in header))
    ok = True
    for r in rows:
        passed = r["lost"] == 0 and r["duplicated"] == 0 and not r["errors"] and r["p99_ms"] <= 50
        ok &= r["lost"] == 0 and r["duplicated"] == 0
        print(" ".join(f"{v:>11}" for v in (
            r["scenario"], r["streams"], r["achieved_writes_per_s"], f'{r["events_received"]}/{r["events_expected"]}',
            r["lost"], r["duplicated"], r["p50_ms"], r["p99_ms"], r["max_ms"], r["client_cpu_s_per_s"],
            "p99<=50 " + ("pass" if passed else "FAIL"),
        )))
        for e in r["errors"]:
            print("   error:", e)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "watch_fanout.json").write_text(json.dumps({"rows": rows, "args": vars(args)}, indent=2))
    return 0 if ok else 1


def _create_namespace(server: APIServerProcess) -> None:
    """Issue 3 makes namespaces real objects; create ours when the server serves them."""
    import urllib.error
    import urllib.request

    body = json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}).encode()
    req = urllib.request.Request(f"{server.url}/api/v1/namespaces", body, {"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(req).close()
    except urllib.error.HTTPError as exc:
        if exc.code not in (404, 409):  # 404: namespaces not served (any namespace is accepted)
            raise


if __name__ == "__main__":
    sys.exit(main())
