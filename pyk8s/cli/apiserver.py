"""``pyk8s-apiserver [PORT]``: serve the Kubernetes API over a store, on granian."""

from __future__ import annotations

import argparse
import re
import sys

from pyk8s.apiserver.server import DEFAULT_BACKPRESSURE, ServerConfig, serve

__all__ = ["main", "parse_args"]


_DURATION_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def _duration(text: str) -> float:
    """Seconds, or a Go duration ("1h", "1h30m", "90s") as kube-apiserver's --event-ttl takes."""
    try:
        return float(text)
    except ValueError:
        pass
    parts = _DURATION_RE.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}")
    return sum(float(number) * _DURATION_UNITS[unit] for number, unit in parts)


def parse_args(argv: list[str] | None = None) -> ServerConfig:
    parser = argparse.ArgumentParser(prog="pyk8s-apiserver", description="The pyk8s API server.")
    parser.add_argument("port", nargs="?", type=int, default=8080, help="TCP port to listen on (default 8080)")
    parser.add_argument("--port", dest="port_option", type=int, help="same as the positional PORT")
    parser.add_argument("--bind-address", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--storage", choices=("native", "reference"), default="native", help="storage backend")
    parser.add_argument(
        "--compaction-interval", type=float, default=60.0, metavar="SECONDS",
        help="how often to compact watch history (default 60; 0 disables)",
    )
    parser.add_argument(
        "--compaction-retention", type=float, default=300.0, metavar="SECONDS",
        help="how much history watches and continue tokens may reach back into (default 300)",
    )
    parser.add_argument(
        "--event-ttl", type=_duration, default=3600.0, metavar="DURATION",
        help="how long events are kept after they last happened: seconds or a Go duration such as 1h, 30m (default 1h)",
    )
    parser.add_argument("--watch-buffer", type=int, default=100_000, help="events buffered per watcher before it is expired")
    parser.add_argument(
        "--max-inflight", type=int, default=DEFAULT_BACKPRESSURE,
        help="concurrent requests, open watches included (granian backpressure)",
    )
    parser.add_argument(
        "--default-not-ready-toleration-seconds", type=int, default=300, metavar="SECONDS",
        help="tolerationSeconds of the not-ready:NoExecute toleration added to every pod that lacks one (default 300)",
    )
    parser.add_argument(
        "--default-unreachable-toleration-seconds", type=int, default=300, metavar="SECONDS",
        help="tolerationSeconds of the unreachable:NoExecute toleration added to every pod that lacks one (default 300)",
    )
    parser.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    parser.add_argument("--access-log", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    port = args.port_option if args.port_option is not None else args.port
    if not 0 < port < 65536:
        parser.error(f"port must be between 1 and 65535, not {port}")
    return ServerConfig(
        port=port,
        bind_address=args.bind_address,
        storage=args.storage,
        compaction_interval=args.compaction_interval,
        compaction_retention=args.compaction_retention,
        event_ttl=args.event_ttl,
        watch_buffer=args.watch_buffer,
        backpressure=args.max_inflight,
        log_level=args.log_level,
        log_access=args.access_log,
        default_not_ready_toleration_seconds=args.default_not_ready_toleration_seconds,
        default_unreachable_toleration_seconds=args.default_unreachable_toleration_seconds,
    )


def main(argv: list[str] | None = None) -> int:
    serve(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
