"""Selector lists and field-selected watches over 100k pods, through the HTTP API.

Starts one ``pyk8s-apiserver`` per backend (native, then the plain-Python reference as the
baseline), preloads N pods spread over 1000 nodes (labels ``app`` x10, ``shard`` x100), then
measures, each repeated and reported as a median:

* ``list label 1%``     GET pods?labelSelector=shard=shard-7
* ``list field 0.1%``   GET pods?fieldSelector=spec.nodeName=node-7 (a kubelet's list)
* ``list label+field``  GET pods?labelSelector=app=app-3&fieldSelector=status.phase=Pending
* ``watch field``       GET pods?watch=true&fieldSelector=spec.nodeName=node-7 from "0":
                        time until the initial ADDED events of that node's pods arrived
* ``watch event``       then one write to that node: time until its MODIFIED event arrives

Preloading uses raw asyncio streams over 16 connections; the measured requests use httpx,
sequentially (latency, not throughput). Prints a table with
the ratio reference/native and writes ``benchmarks/results/selector_scale.json``.

    python benchmarks/selector_scale.py              # 100k pods
    python benchmarks/selector_scale.py --pods 20000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import statistics
import sys
import time

import httpx
import orjson

from pyk8s.apiserver.testing import APIServerProcess

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
NAMESPACE = "scale"
NODES = 1000

def pod_body(i: int) -> bytes:
    return orjson.dumps({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"p-{i}", "labels": {"app": f"app-{i % 10}", "shard": f"shard-{i % 100}"}},
        "spec": {"nodeName": f"node-{i % NODES}", "containers": [{
            "name": "c", "image": "registry.k8s.io/pause:3.10",
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]},
    })


def preload(url: str, pods: int, connections: int = 16) -> None:
    """POST pods 1..N over keep-alive connections with raw asyncio streams (the loader must
    not be the bottleneck; an HTTP library costs more CPU than the server's create)."""
    host, port = url.removeprefix("http://").split(":")

    async def worker(indices: range) -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        for i in indices:
            body = pod_body(i)
            writer.write(
                f"POST /api/v1/namespaces/{NAMESPACE}/pods HTTP/1.1\r\nHost: {host}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
            )
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            if b" 201 " not in head.split(b"\r\n", 1)[0]:
                raise RuntimeError(head.decode(errors="replace"))
        writer.close()

    async def run() -> None:
        await asyncio.gather(*(worker(range(1 + c, pods + 1, connections)) for c in range(connections)))

    asyncio.run(run())


def count(client: httpx.Client) -> int:
    body = client.get(f"/api/v1/namespaces/{NAMESPACE}/pods", params={"limit": "1"}).json()
    return 1 + int(body["metadata"].get("remainingItemCount", 0)) if body["items"] else 0


def timed(fn, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def measure(storage: str, pods: int, repeat: int) -> dict[str, float]:
    out: dict[str, float] = {}
    with APIServerProcess(storage) as server:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            client.post("/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace",
                                                    "metadata": {"name": NAMESPACE}})
            t = time.perf_counter()
            preload(server.url, pods)
            out["preload pods/s"] = pods / (time.perf_counter() - t)
            have = count(client)
            if have != pods:
                raise SystemExit(f"{storage}: preloaded {have} pods, expected {pods}")
            path = f"/api/v1/namespaces/{NAMESPACE}/pods"

            def get(params, expect):
                resp = client.get(path, params=params)
                n = len(resp.json()["items"])
                assert resp.status_code == 200 and n == expect, (resp.status_code, n, expect)

            out["list label 1%"] = timed(lambda: get({"labelSelector": "shard=shard-7"}, pods // 100), repeat)
            out["list field 0.1%"] = timed(lambda: get({"fieldSelector": "spec.nodeName=node-7"}, pods // NODES),
                                           repeat)
            expect = sum(1 for i in range(1, pods + 1) if i % 10 == 3)
            out["list label+field"] = timed(
                lambda: get({"labelSelector": "app=app-3", "fieldSelector": "status.phase=Pending"}, expect), repeat)

            initial, event = [], []
            for attempt in range(repeat):
                t = time.perf_counter()
                with client.stream("GET", path, params={"watch": "true", "resourceVersion": "0",
                                                        "fieldSelector": "spec.nodeName=node-7"}) as resp:
                    lines = resp.iter_lines()
                    for _ in range(pods // NODES):
                        assert orjson.loads(next(lines))["type"] == "ADDED"
                    initial.append(time.perf_counter() - t)
                    name = f"p-{7 + NODES * (attempt + 1)}"
                    t = time.perf_counter()
                    patched = client.patch(f"{path}/{name}", content=b'{"metadata":{"labels":{"touched":"%d"}}}' % attempt,
                                           headers={"Content-Type": "application/merge-patch+json"})
                    assert patched.status_code == 200, patched.text
                    ev = orjson.loads(next(lines))
                    assert ev["type"] == "MODIFIED" and ev["object"]["metadata"]["name"] == name
                    event.append(time.perf_counter() - t)
            out["watch field initial"] = statistics.median(initial)
            out["watch event"] = statistics.median(event)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pods", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--backends", default="native,reference")
    args = parser.parse_args()
    results = {b: measure(b, args.pods, args.repeat) for b in args.backends.split(",")}
    native, ref = results.get("native", {}), results.get("reference", {})
    print(f"{args.pods} pods over {NODES} nodes; medians of {args.repeat}; client: httpx, sequential")
    print(f"{'measure':<22}{'native':>14}{'reference':>14}{'ratio':>8}")
    for key in native or ref:
        n, r = native.get(key), ref.get(key)
        if key.endswith("/s"):
            cell = lambda v: "-" if v is None else f"{v:,.0f}"
            ratio = f"{n / r:.1f}x" if n and r else "-"
        else:
            cell = lambda v: "-" if v is None else f"{v * 1000:.2f} ms"
            ratio = f"{r / n:.1f}x" if n and r else "-"
        print(f"{key:<22}{cell(n):>14}{cell(r):>14}{ratio:>8}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "selector_scale.json").write_text(json.dumps({"pods": args.pods, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
