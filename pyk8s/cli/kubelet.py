"""``pyk8s-kubelet --server URL | --kubeconfig PATH``: the node agent.

    pyk8s-kubelet --server http://127.0.0.1:8080                  # this machine as a node
    pyk8s-kubelet --server URL --runtime simulated --simulated-nodes 5000

With ``--runtime process`` (the default) the pods bound to ``--node-name`` run as local
processes (see pyk8s.kubelet); ``--root-dir`` holds their state and logs, by default
``$XDG_DATA_HOME/pyk8s/kubelet/<node-name>`` (``~/.local/share/...``), or
``/var/lib/pyk8s-kubelet/<node-name>`` when run as root, so several kubelets can share a
machine.  With ``--runtime simulated`` one process runs many hollow nodes
(pyk8s.kubelet.simulated).

The kubelet prints ``pyk8s-kubelet: node <name> serving on <address>:<port>`` once its HTTP
server listens (``--port 0`` picks a free port).  SIGINT or SIGTERM stops it: every container
is stopped first (see pyk8s.kubelet.kubelet).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys

from pyk8s.cli._flags import loop_factory, parse_nonnegative_duration
from pyk8s.client import ApiClient, ConfigError

__all__ = ["main", "parse_args", "default_root_dir"]

def default_root_dir(node_name: str) -> str:
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return os.path.join("/var/lib/pyk8s-kubelet", node_name)
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(data_home, "pyk8s", "kubelet", node_name)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pyk8s-kubelet", description="The pyk8s node agent.")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--server", "--master", dest="server", help="API server URL, e.g. http://127.0.0.1:8080")
    target.add_argument("--kubeconfig", help="kubeconfig file naming the API server and credentials")
    parser.add_argument("--node-name", default=None, help="the Node's name (default: this host's name)")
    parser.add_argument("--runtime", choices=("process", "simulated"), default="process",
                        help="process: run containers' commands as local processes; simulated: hollow nodes")
    parser.add_argument("--max-pods", type=int, default=110, help="pods this node may run (default 110)")
    parser.add_argument("--root-dir", default=None,
                        help="state and container logs (default ~/.local/share/pyk8s/kubelet/<node-name>, "
                             "/var/lib/pyk8s-kubelet/<node-name> as root)")
    parser.add_argument("--port", type=int, default=10250,
                        help="port of the kubelet's HTTP server (container logs); 0 picks a free one (default 10250)")
    parser.add_argument("--address", default="127.0.0.1", help="address the HTTP server binds (default 127.0.0.1)")
    parser.add_argument("--node-ip", default=None,
                        help="the node's InternalIP, also every pod's IP (default: --address, or this host's "
                             "primary address when --address is 0.0.0.0)")
    parser.add_argument("--node-labels", default="", help="labels to register the node with: k=v,k2=v2")
    parser.add_argument("--register-with-taints", default="", help="taints to register the node with: k=v:Effect,...")
    parser.add_argument("--node-status-update-frequency", type=parse_nonnegative_duration, default=10.0, metavar="DURATION",
                        help="how often the node status is computed (posted when changed; default 10s)")
    parser.add_argument("--node-status-report-frequency", type=parse_nonnegative_duration, default=60.0, metavar="DURATION",
                        help="post the node status at least this often even when unchanged (default 1m)")
    parser.add_argument("--node-lease-duration-seconds", type=int, default=40,
                        help="the Lease's duration; it is renewed every quarter of it (default 40)")
    parser.add_argument("--sync-frequency", type=parse_nonnegative_duration, default=10.0, metavar="DURATION",
                        help="how often each pod is re-synced even without news (default 10s)")
    parser.add_argument("--shutdown-grace-period", type=parse_nonnegative_duration, default=5.0, metavar="DURATION",
                        help="on SIGTERM/SIGINT, how long containers get between SIGTERM and SIGKILL (default 5s)")
    # Back-off of crash-looping containers (10 s doubling to 5 minutes); shorter for tests.
    parser.add_argument("--crashloop-backoff-base", type=parse_nonnegative_duration, default=10.0, help=argparse.SUPPRESS)
    parser.add_argument("--crashloop-backoff-max", type=parse_nonnegative_duration, default=300.0, help=argparse.SUPPRESS)
    parser.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    simulated = parser.add_argument_group("simulated runtime")
    simulated.add_argument("--simulated-nodes", type=int, default=1, help="hollow nodes to register (default 1)")
    simulated.add_argument("--simulated-node-prefix", default="hollow-node-", help='node name prefix (default "hollow-node-")')
    simulated.add_argument("--simulated-capacity", default="", help="each hollow node's capacity: cpu=...,memory=...,pods=...")
    simulated.add_argument("--simulated-labels", default="", help="labels of every hollow node: k=v,...")
    simulated.add_argument("--simulated-running-delay", type=float, default=0.0, metavar="SECONDS",
                           help="seconds before a pod on a hollow node is Running (default 0)")
    args = parser.parse_args(argv)
    if args.node_name is None:
        args.node_name = socket.gethostname().lower()
    if args.root_dir is None:
        args.root_dir = default_root_dir(args.node_name)
    return args


def _client(args: argparse.Namespace) -> ApiClient:
    return ApiClient(args.server) if args.server else ApiClient.from_kubeconfig(args.kubeconfig)


async def _run_process(args: argparse.Namespace) -> int:
    from pyk8s.kubelet.kubelet import Kubelet, KubeletError, KubeletOptions
    from pyk8s.kubelet.node import parse_labels, parse_taints

    try:
        options = KubeletOptions(
            node_name=args.node_name, root_dir=os.path.abspath(args.root_dir), max_pods=args.max_pods,
            address=args.address, port=args.port, node_ip=args.node_ip, labels=parse_labels(args.node_labels),
            taints=parse_taints(args.register_with_taints), status_update_frequency=args.node_status_update_frequency,
            status_report_frequency=args.node_status_report_frequency, lease_duration=args.node_lease_duration_seconds,
            resync_seconds=args.sync_frequency, backoff_base=args.crashloop_backoff_base,
            backoff_cap=args.crashloop_backoff_max, shutdown_grace=args.shutdown_grace_period,
        )
    except ValueError as error:
        print(f"pyk8s-kubelet: {error}", file=sys.stderr)
        return 2
    async with _client(args) as client:
        kubelet = Kubelet(client, options)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, kubelet.stop)
        announce = asyncio.ensure_future(_announce(kubelet, args))
        try:
            await kubelet.run()
        except KubeletError as error:
            print(f"pyk8s-kubelet: {error}", file=sys.stderr)
            return 1
        finally:
            announce.cancel()
    return 0


async def _announce(kubelet, args: argparse.Namespace) -> None:
    while not kubelet.port:
        await asyncio.sleep(0.01)
    print(f"pyk8s-kubelet: node {args.node_name} serving on {args.address}:{kubelet.port}", flush=True)


async def _run_simulated(args: argparse.Namespace) -> int:
    from pyk8s.kubelet.simulated import run_simulated

    async with _client(args) as client:
        task = asyncio.ensure_future(run_simulated(client, args))
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            pass
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run = _run_simulated if args.runtime == "simulated" else _run_process
    try:
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            return runner.run(run(args))
    except ConfigError as error:
        print(f"pyk8s-kubelet: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
