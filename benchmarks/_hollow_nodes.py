"""Hollow nodes in a process of their own, for kubelet_scale.py: what
``pyk8s-kubelet --runtime simulated`` runs (``SimulatedNodes``), without the rest of the
kubelet's command line, so the benchmark can read this process's CPU from /proc.

    python benchmarks/_hollow_nodes.py URL COUNT [--running-delay SECONDS]

Prints ``REGISTERED <seconds>`` once every Node and Lease is written, runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import signal
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _pods  # noqa: E402,F401  (falls back to the source tree when not installed)

from pyk8s.client import ApiClient  # noqa: E402
from pyk8s.kubelet.simulated import SimulatedNodes  # noqa: E402


async def run(url: str, count: int, running_delay: float) -> None:
    async with ApiClient(url) as client:
        nodes = SimulatedNodes(client, count, running_delay=running_delay)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, lambda: loop.create_task(nodes.stop()))
        started = time.perf_counter()
        task = asyncio.create_task(nodes.run())
        await nodes.wait_registered()
        print(f"REGISTERED {time.perf_counter() - started:.3f}", flush=True)
        await task


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("count", type=int)
    parser.add_argument("--running-delay", type=float, default=0.0)
    args = parser.parse_args()
    import uvloop

    uvloop.run(run(args.url, args.count, args.running_delay))


if __name__ == "__main__":
    main()
