"""``pyk8s-scheduler --server URL | --kubeconfig PATH``: place pending pods on nodes, as
kube-scheduler does (informers, scheduling queue, binding through ``pods/binding``).

Start-up order: the arguments and connection settings are read, the informers' lists are
requested (``ListPrefetch``: the API server builds them while this process imports asyncio
and the scheduler, ~0.1 s), and only then come those imports; hence the imports inside the
functions below.
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from typing import TYPE_CHECKING

from pyk8s.cli._flags import loop_factory, parse_bool
from pyk8s.client._config import ClientConfig, ConfigError, load_kubeconfig
from pyk8s.client._resources import NAMESPACES, NODES, PODS, REPLICA_SETS, SERVICES

if TYPE_CHECKING:
    from pyk8s.client._prefetch import ListPrefetch

__all__ = ["main", "parse_args"]

# Every informer the scheduler may start (Services and ReplicaSets: for PodTopologySpread's
# default constraints, on by default); those it does not start are dropped.
_PREFETCHED = (NODES, PODS, NAMESPACES, SERVICES, REPLICA_SETS)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pyk8s-scheduler", description="The pyk8s scheduler.")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--server", "--master", dest="server", help="API server URL, e.g. http://127.0.0.1:8080")
    target.add_argument("--kubeconfig", help="kubeconfig file naming the API server and credentials")
    parser.add_argument("--config", help="KubeSchedulerConfiguration YAML file (profiles, plugins, back-off)")
    # kube-scheduler spells booleans --leader-elect=false; a bare --leader-elect means true.
    parser.add_argument("--leader-elect", type=parse_bool, nargs="?", const=True, default=True, metavar="BOOL",
                        help="elect a leader through the Lease kube-system/kube-scheduler (default true)")
    parser.add_argument("--leader-elect-lease-duration", type=float, default=15.0, metavar="SECONDS")
    parser.add_argument("--leader-elect-renew-deadline", type=float, default=10.0, metavar="SECONDS")
    parser.add_argument("--leader-elect-retry-period", type=float, default=2.0, metavar="SECONDS")
    parser.add_argument("--leader-elect-resource-name", default="kube-scheduler")
    parser.add_argument("--leader-elect-resource-namespace", default="kube-system")
    parser.add_argument("--identity", help="leader election identity (default hostname_uuid)")
    parser.add_argument("--metrics-port", type=int, default=10259,
                        help="port for /metrics and /healthz over plain HTTP (default 10259; 0 picks a free port; -1 disables)")
    parser.add_argument("--metrics-bind-address", default="127.0.0.1")
    parser.add_argument("--explain", action="store_true",
                        help="record every decision's per-node filter results and scores in the pod annotation "
                             "scheduler.pyk8s.io/explanation (otherwise only for pods annotated scheduler.pyk8s.io/explain=true)")
    parser.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace, config: dict | None, connection: ClientConfig, prefetched: ListPrefetch) -> int:
    import asyncio
    import signal

    from pyk8s.client import ApiClient
    from pyk8s.scheduler.scheduler import Scheduler

    async with ApiClient(config=connection) as client:
        scheduler = Scheduler(
            client, config, leader_elect=args.leader_elect, identity=args.identity,
            lease_name=args.leader_elect_resource_name, lease_namespace=args.leader_elect_resource_namespace,
            lease_duration=args.leader_elect_lease_duration, renew_deadline=args.leader_elect_renew_deadline,
            retry_period=args.leader_elect_retry_period,
            metrics_port=None if args.metrics_port < 0 else args.metrics_port, metrics_host=args.metrics_bind_address,
            explain=args.explain, tune_gc=True, prefetched_lists=prefetched,
        )
        loop = asyncio.get_running_loop()
        stopped_by_signal = False

        def on_signal() -> None:
            nonlocal stopped_by_signal
            stopped_by_signal = True
            loop.create_task(scheduler.stop())

        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, on_signal)
        await scheduler.run()
        if args.leader_elect and not stopped_by_signal:
            # As kube-scheduler: losing the lease ends the process ("leaderelection lost").
            logging.getLogger("pyk8s.scheduler").error("leaderelection lost")
            return 1
        return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = None
    if args.config:
        import yaml  # only for --config: ~15 ms of every start otherwise

        try:
            with open(args.config) as handle:
                config = yaml.safe_load(handle) or {}
        except (OSError, yaml.YAMLError) as error:
            print(f"pyk8s-scheduler: cannot read --config: {error}", file=sys.stderr)
            return 2
    try:
        connection = ClientConfig(server=args.server.rstrip("/")) if args.server else load_kubeconfig(args.kubeconfig)
    except ConfigError as error:
        print(f"pyk8s-scheduler: {error}", file=sys.stderr)
        return 2
    # The scheduler owns this process (tune_gc): nothing the imports and the first lists
    # allocate can be freed, so collecting during them is wasted (Scheduler.run turns the
    # collector back on once its caches are synced).
    gc.disable()
    try:
        from pyk8s.client._prefetch import ListPrefetch

        prefetched = ListPrefetch(connection, _PREFETCHED, user_agent="pyk8s-scheduler")

        import asyncio

        from pyk8s.scheduler import ProfileError

        try:
            with asyncio.Runner(loop_factory=loop_factory()) as runner:
                return runner.run(_serve(args, config, connection, prefetched))
        except (ProfileError, ConfigError) as error:
            print(f"pyk8s-scheduler: {error}", file=sys.stderr)
            return 2
    finally:
        gc.enable()


if __name__ == "__main__":
    sys.exit(main())
