"""``pyk8s-controller-manager --server URL | --kubeconfig PATH``: run the controllers
(ReplicaSet, Deployment, Job, garbage collector, namespace, node lifecycle, ...) as
kube-controller-manager does: one process, shared informers, leader election through the
Lease ``kube-system/kube-controller-manager`` (on by default), /metrics and /healthz.

Flags are upstream's where upstream has them; durations take Go's syntax ("40s", "5m0s",
"1h30m") or plain seconds.  Each controller flag reaches the controllers as an option
named after it in snake_case (``--node-monitor-grace-period`` ->
``node_monitor_grace_period``, in seconds).  SIGINT/SIGTERM stop the controllers, release
the lease and exit 0; losing the lease exits 1 ("leaderelection lost"), as upstream.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
import sys
import uuid

from pyk8s.cli._flags import loop_factory, parse_bool, parse_duration
from pyk8s.client import ApiClient, ConfigError, LeaderElector
from pyk8s.controllers import ALIASES, CONTROLLERS, controller_class, resolve_names
from pyk8s.controllers._metrics import CONTENT_TYPE
from pyk8s.controllers.manager import ControllerManager

__all__ = ["main", "parse_args", "parse_duration"]

log = logging.getLogger("pyk8s.controller_manager")

PROG = "pyk8s-controller-manager"

# Workers per controller: upstream's --concurrent-*-syncs flags and defaults.
CONCURRENCY_FLAGS = (
    ("--concurrent-replicaset-syncs", 5),
    ("--concurrent-deployment-syncs", 5),
    ("--concurrent-job-syncs", 5),
    ("--concurrent-ttl-after-finished-syncs", 5),
    ("--concurrent-gc-syncs", 20),
    ("--concurrent-namespace-syncs", 10),
    ("--concurrent-endpoint-syncs", 5),
    ("--concurrent-service-endpoint-syncs", 5),
)
# Controller settings with upstream's defaults: (flag, type, default).
SETTING_FLAGS = (
    ("--node-monitor-grace-period", "duration", "40s"),
    ("--node-monitor-period", "duration", "5s"),
    ("--node-startup-grace-period", "duration", "1m0s"),
    ("--node-eviction-rate", float, 0.1),
    ("--secondary-node-eviction-rate", float, 0.01),
    ("--large-cluster-size-threshold", int, 50),
    ("--unhealthy-zone-threshold", float, 0.55),
    ("--namespace-sync-period", "duration", "5m0s"),
    ("--terminated-pod-gc-threshold", int, 12500),
    ("--max-endpoints-per-slice", int, 100),
    ("--endpointslice-updates-batch-period", "duration", "0s"),
)


def _comma_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _option_name(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description="The pyk8s controller manager.")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--server", "--master", dest="server", help="API server URL, e.g. http://127.0.0.1:8080")
    target.add_argument("--kubeconfig", help="kubeconfig file naming the API server and credentials")
    parser.add_argument(
        "--controllers", type=_comma_list, action="extend", metavar="LIST",
        help="controllers to run: '*' runs all (the default), 'foo' enables foo, '-foo' disables it; "
             f"known: {', '.join(CONTROLLERS)} (and the short names {', '.join(ALIASES)})")
    for flag, default in CONCURRENCY_FLAGS:
        parser.add_argument(flag, type=int, default=default, metavar="N",
                            help=f"objects synced at once (default {default})")
    for flag, kind, default in SETTING_FLAGS:
        parser.add_argument(flag, type=parse_duration if kind == "duration" else kind, default=
                            parse_duration(default) if kind == "duration" else default,
                            metavar="DURATION" if kind == "duration" else kind.__name__.upper(),
                            help=f"(default {default})")
    # kube-controller-manager spells booleans --leader-elect=false; a bare flag means true.
    parser.add_argument("--leader-elect", type=parse_bool, nargs="?", const=True, default=True, metavar="BOOL",
                        help="elect a leader through a Lease before acting (default true)")
    parser.add_argument("--leader-elect-lease-duration", type=parse_duration, default=15.0, metavar="DURATION")
    parser.add_argument("--leader-elect-renew-deadline", type=parse_duration, default=10.0, metavar="DURATION")
    parser.add_argument("--leader-elect-retry-period", type=parse_duration, default=2.0, metavar="DURATION")
    parser.add_argument("--leader-elect-resource-name", default="kube-controller-manager")
    parser.add_argument("--leader-elect-resource-namespace", default="kube-system")
    parser.add_argument("--identity", help="leader election identity (default hostname_uuid)")
    port = parser.add_mutually_exclusive_group()
    port.add_argument("--metrics-port", type=int, default=None, metavar="PORT",
                      help="port for /metrics and /healthz over plain HTTP (default 10257; 0 picks a free port; "
                           "-1 disables)")
    port.add_argument("--secure-port", type=int, default=None, metavar="PORT",
                      help="upstream's name for the same port (0 disables, as upstream); served without TLS")
    parser.add_argument("--bind-address", "--metrics-bind-address", dest="bind_address", default="127.0.0.1",
                        help="address /metrics and /healthz listen on (default 127.0.0.1)")
    parser.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    args = parser.parse_args(argv)
    # client-go's NewLeaderElector checks, reported as flag errors rather than a traceback.
    if args.leader_elect:
        if args.leader_elect_lease_duration <= args.leader_elect_renew_deadline:
            parser.error("--leader-elect-lease-duration must be greater than --leader-elect-renew-deadline")
        if args.leader_elect_retry_period <= 0:
            parser.error("--leader-elect-retry-period must be greater than zero")
        if args.leader_elect_renew_deadline <= 1.2 * args.leader_elect_retry_period:
            parser.error("--leader-elect-renew-deadline must be greater than --leader-elect-retry-period x 1.2")
    # EndpointSliceControllerOptions.Validate's bounds.
    for flag, low, high in (("concurrent-service-endpoint-syncs", 1, 50), ("max-endpoints-per-slice", 1, 1000)):
        value = getattr(args, flag.replace("-", "_"))
        if not low <= value <= high:
            bound = f"less than {low}" if value < low else f"more than {high}"
            parser.error(f"{flag} must not be {bound}, but got {value}")
    if args.secure_port is not None:
        args.metrics_port = -1 if args.secure_port == 0 else args.secure_port
    elif args.metrics_port is None:
        args.metrics_port = 10257
    return args


def controller_options(args: argparse.Namespace) -> dict:
    """The controllers' options from the flags (snake_case names, durations in seconds)."""
    flags = [flag for flag, _default in CONCURRENCY_FLAGS] + [flag for flag, _kind, _default in SETTING_FLAGS]
    return {_option_name(flag): getattr(args, _option_name(flag)) for flag in flags}


class UnavailableController(Exception):
    """A controller was asked for by name but its module is not in this build."""


def select_controllers(spec: list[str]) -> list[str]:
    """Upstream's --controllers semantics over ``CONTROLLERS``.  A controller whose module is
    missing is an error when named, and skipped with a warning when only ``*`` selects it."""
    names = resolve_names(spec)
    named = {ALIASES.get(item, item) for item in spec if item != "*" and not item.startswith("-")}
    available = []
    for name in names:
        module = CONTROLLERS[name].partition(":")[0]
        try:
            controller_class(name)
        except ModuleNotFoundError as error:
            if error.name != module:
                raise
            if name in named:
                raise UnavailableController(
                    f"controller {name!r} is not available: module {module} is missing") from None
            log.warning("controller %s is not available (module %s is missing); not running it", name, module)
            continue
        available.append(name)
    return available


async def serve_http(manager: ControllerManager, host: str, port: int):
    """/metrics (the controllers' workqueue and sync metrics) and /healthz, /livez, /readyz
    over plain HTTP (aiohttp.web); returns (runner, bound port)."""
    from aiohttp import web

    async def metrics(_request):
        return web.Response(body=manager.metrics.render().encode(), headers={"Content-Type": CONTENT_TYPE})

    async def healthz(_request):
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    for path in ("/healthz", "/livez", "/readyz"):
        app.router.add_get(path, healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    return runner, bound


async def _run(args: argparse.Namespace, names: list[str]) -> int:
    client = ApiClient(args.server) if args.server else ApiClient.from_kubeconfig(args.kubeconfig)
    identity = args.identity or f"{socket.gethostname()}_{uuid.uuid4()}"
    async with client:
        manager = ControllerManager(client, names, options=controller_options(args), instance=identity)
        http_runner = None
        if args.metrics_port >= 0:
            http_runner, bound = await serve_http(manager, args.bind_address, args.metrics_port)
            log.info("serving /metrics and /healthz on http://%s:%d", args.bind_address, bound)
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopping.set)
        manager_done = asyncio.Event()
        leading = asyncio.Event()

        async def lead() -> None:
            leading.set()
            log.info("%s: starting controllers: %s", identity, ", ".join(names) or "(none)")
            try:
                await manager.run()
            finally:
                manager_done.set()

        try:
            if args.leader_elect:
                elector = LeaderElector(
                    client, name=args.leader_elect_resource_name, namespace=args.leader_elect_resource_namespace,
                    identity=identity, on_started_leading=lead, lease_duration=args.leader_elect_lease_duration,
                    renew_deadline=args.leader_elect_renew_deadline, retry_period=args.leader_elect_retry_period,
                )
                work = asyncio.create_task(elector.run(), name="leader-election")
            else:
                work = asyncio.create_task(lead(), name="controllers")
            stop = asyncio.create_task(stopping.wait())
            await asyncio.wait({work, stop}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if stopping.is_set():
                # Stop the controllers first (they flush their events), then give the lease up
                # (cancelling the election releases it) so a standby takes over at once.
                await manager.stop()
                if leading.is_set():
                    try:
                        await asyncio.wait_for(manager_done.wait(), 10.0)
                    except TimeoutError:
                        log.warning("controllers did not stop within 10 s")
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
            if stopping.is_set():
                return 0
            if args.leader_elect:
                # As kube-controller-manager: losing the lease ends the process.
                log.error("leaderelection lost")
            else:
                log.error("the controllers stopped")
            return 1
        finally:
            if http_runner is not None:
                await http_runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        names = select_controllers(args.controllers or ["*"])
    except (ValueError, UnavailableController) as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2
    try:
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            return runner.run(_run(args, names))
    except ConfigError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
