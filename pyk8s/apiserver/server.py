"""Running the API server under granian: one worker process owning the store.

granian's master process binds the socket and forks one RSGI worker on a uvloop loop; the
worker builds the store and the ``APIServer`` (``_load_app``), so the store lives in the
process that serves it.

Shutdown.  On SIGTERM/SIGINT the master signals the worker, and granian's worker stops
accepting and waits for in-flight requests, watch streams included, which would never
end by themselves.  So the worker chains its own handler in front of granian's (plain
``signal.signal``: uvloop's loop handlers are Python-level handlers underneath) that ends
every open watch stream first.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import gc
import signal
from dataclasses import dataclass
from typing import Any

__all__ = ["ServerConfig", "serve"]

# Each open watch holds one request slot in granian; leave room for thousands of them plus
# ordinary traffic so watches never starve GETs (granian's default is backlog // workers).
DEFAULT_BACKPRESSURE = 65536
DEFAULT_BACKLOG = 4096


@dataclass(frozen=True)
class ServerConfig:
    port: int = 8080
    bind_address: str = "127.0.0.1"
    storage: str = "native"
    compaction_interval: float = 60.0
    compaction_retention: float = 300.0
    event_ttl: float = 3600.0
    # Events a watcher may fall behind before it is expired (410) and must re-list.  A burst
    # of 10k pods is ~20k events for a scheduler's pods watch: the bound must absorb that.
    watch_buffer: int = 100_000
    backpressure: int = DEFAULT_BACKPRESSURE
    backlog: int = DEFAULT_BACKLOG
    log_level: str = "info"
    log_access: bool = False
    # Admission's DefaultTolerationSeconds (kube-apiserver flags of the same names).
    default_not_ready_toleration_seconds: int = 300
    default_unreachable_toleration_seconds: int = 300


def _chain_shutdown_signals(app: Any, loop: asyncio.AbstractEventLoop) -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(signum)

        def handler(number: int, frame: Any, previous: Any = previous) -> None:
            # Runs between bytecodes on the main thread: hand the work to the loop.
            loop.call_soon_threadsafe(app.shutdown)
            if callable(previous):
                previous(number, frame)
            elif previous == signal.SIG_DFL:
                raise SystemExit(128 + number)

        signal.signal(signum, handler)


# Allocations between young-generation collections in the worker.  A write allocates a
# few hundred containers (the decoded object, defaults, causes lists), so the default 700
# collects every few requests; nearly all of it is freed by reference counting anyway.
_GC_YOUNG_THRESHOLD = 50_000


def _tune_gc() -> None:
    """The worker owns its process: what it holds after start-up (modules, the registry,
    the store's bootstrap) is exempt from the cyclic GC (``gc.freeze``), and young
    collections run less often, as the scheduler process does."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(_GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


class _ServedApp:
    """The RSGI target granian loads in the worker: the app plus signal chaining."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.__rsgi__ = app.__rsgi__

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.app.__rsgi_init__(loop)
        _chain_shutdown_signals(self.app, loop)
        _tune_gc()

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.app.__rsgi_del__(loop)
        self.app.store.close()  # the worker opened it (_load_app), so the worker closes it


def _load_app(config: ServerConfig, *_args: Any, **_kwargs: Any) -> _ServedApp:
    from pyk8s.apiserver.app import APIServer
    from pyk8s.store import open_store

    store = open_store(config.storage, watch_buffer=config.watch_buffer)
    app = APIServer(
        store,
        compaction_interval=config.compaction_interval,
        compaction_retention=config.compaction_retention,
        event_ttl=config.event_ttl,
        server_address=f"{config.bind_address}:{config.port}",
        default_not_ready_toleration_seconds=config.default_not_ready_toleration_seconds,
        default_unreachable_toleration_seconds=config.default_unreachable_toleration_seconds,
    )
    return _ServedApp(app)


def serve(config: ServerConfig) -> None:
    """Run until SIGTERM/SIGINT.  Blocks."""
    from granian.constants import Interfaces, Loops
    from granian.http import HTTP1Settings
    from granian.log import LOGGING_CONFIG, LogLevels
    from granian.server import Server

    # granian configures only its own loggers; route ours through the same handler.
    log_config = copy.deepcopy(LOGGING_CONFIG)
    log_config["loggers"]["pyk8s"] = {"handlers": ["console"], "level": config.log_level.upper(), "propagate": False}
    server = Server(
        "pyk8s.apiserver:app",  # a label for logs and the process title; _load_app builds the app
        address=config.bind_address,
        port=config.port,
        interface=Interfaces.RSGI,
        workers=1,
        loop=Loops.uvloop,
        backlog=config.backlog,
        backpressure=config.backpressure,
        http1_settings=HTTP1Settings(keep_alive=True),
        log_level=LogLevels(config.log_level),
        log_dictconfig=log_config,
        log_access=config.log_access,
        websockets=False,
    )
    server.serve(target_loader=functools.partial(_load_app, config), wrap_loader=False)
