"""``pyk8s up``: a whole cluster on this machine with one command.

Starts, as child processes of this one, the API server, the scheduler, the controller
manager and a kubelet (the process runtime: containers run as local processes), waits until
the API server is ready and the node Ready, writes a kubeconfig and prints how to use it,
then stays in the foreground until Ctrl-C or SIGTERM.

    pyk8s up                                  # port 8080, one node named after this host
    pyk8s up --port 9090 --nodes 2            # two process kubelets
    pyk8s up --simulated --nodes 500          # one simulated kubelet with 500 hollow nodes

Each child runs in its own process group (Ctrl-C reaches only this process, which then
stops them in order) and logs to ``<data-dir>/logs/<component>.log``.  Stopping goes kubelets
first, so they stop their containers, then the controller manager and scheduler, then the
API server; whatever does not stop in time is killed.  This process is a child subreaper, so
a container process a dead kubelet left behind is re-parented here and killed too: nothing
outlives ``pyk8s up``.  If a component dies on its own, ``pyk8s up`` names it and its log,
stops the rest and exits 1.

The kubeconfig goes to ``<data-dir>/kubeconfig`` (or ``--kubeconfig``); ``~/.kube/config``
is never written.  The API server keeps its objects in memory: each ``pyk8s up`` starts an
empty cluster.
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import fcntl
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

__all__ = ["main", "parse_args", "Cluster"]

PROG = "pyk8s up"
_PR_SET_CHILD_SUBREAPER = 36
# Seconds each kind of component gets between SIGTERM and SIGKILL.  A kubelet stops its
# containers first, each with its pod's termination grace period (30 s by default).
_KUBELET_STOP_TIMEOUT = 40.0
_STOP_TIMEOUT = 10.0
_APISERVER_READY_TIMEOUT = 30.0
_POLL = 0.25


class UpError(Exception):
    """Something the person running ``pyk8s up`` must fix or know; printed without a traceback."""


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "pyk8s"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description="Start a local pyk8s cluster: API server, scheduler, "
                                     "controller manager and kubelet(s), until Ctrl-C.")
    parser.add_argument("--port", type=int, default=8080, help="API server port on 127.0.0.1 (default 8080; 0 picks a free one)")
    parser.add_argument("--nodes", type=int, default=1, metavar="N",
                        help="number of nodes: N process kubelets, or N hollow nodes with --simulated (default 1)")
    parser.add_argument("--simulated", action="store_true",
                        help="simulated nodes (one kubelet with --runtime simulated) instead of process kubelets")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help=f"logs, kubelet state and the kubeconfig (default {default_data_dir()})")
    parser.add_argument("--kubeconfig", type=Path, default=None,
                        help="where to write the kubeconfig (default <data-dir>/kubeconfig; never ~/.kube/config)")
    parser.add_argument("--ready-timeout", type=float, default=None, metavar="SECONDS",
                        help="how long to wait for the nodes to be Ready (default 60 s, more for many simulated nodes)")
    args = parser.parse_args(argv)
    if not 0 <= args.port < 65536:
        parser.error(f"--port must be between 0 and 65535, not {args.port}")
    if args.nodes < 1:
        parser.error("--nodes must be at least 1")
    return args


def _node_base_name() -> str:
    """This host's name as a node name (a DNS-1123 subdomain), as the kubelet defaults it."""
    name = re.sub(r"[^a-z0-9.-]+", "-", socket.gethostname().lower()).strip("-.")
    return name[:63].rstrip("-.") or "pyk8s-node"


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the API server binds: connections of a cluster just stopped may linger in
        # TIME_WAIT, which must not make the port look taken; a listener still does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as error:
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _become_subreaper() -> bool:
    """Orphans of our descendants (a killed kubelet's containers) become our children."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _children(pid: int) -> list[int]:
    try:
        return [int(part) for part in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        pass
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


@dataclass
class Component:
    name: str
    argv: list[str]
    log_path: Path
    stop_timeout: float = _STOP_TIMEOUT
    process: subprocess.Popen | None = None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, signum: int) -> None:
        if self.alive():
            try:
                os.killpg(self.process.pid, signum)  # its own group: the API server's worker too
            except ProcessLookupError:
                pass


class Cluster:
    """The components of one ``pyk8s up``, started and stopped in order."""

    def __init__(self, args: argparse.Namespace, data_dir: Path, port: int) -> None:
        self.args = args
        self.data_dir = data_dir
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.logs = data_dir / "logs"
        self.components: list[Component] = []
        self.stop_requested = 0  # signals received; a second one kills at once
        self.node_names: list[str] = []

    # -- starting ------------------------------------------------------------------------------

    def _module(self, module: str, *args: str) -> list[str]:
        return [sys.executable, "-P", "-m", module, *args]

    def plan(self) -> None:
        server = ["--server", self.url]
        self.components = [
            Component("apiserver", self._module("pyk8s.cli.apiserver", str(self.port), "--bind-address", "127.0.0.1"),
                      self.logs / "apiserver.log"),
            Component("scheduler", self._module("pyk8s.cli.scheduler", *server, "--metrics-port", "0"),
                      self.logs / "scheduler.log"),
            Component("controller-manager", self._module("pyk8s.cli.controller_manager", *server, "--metrics-port", "0"),
                      self.logs / "controller-manager.log"),
        ]
        kubelets = self.data_dir / "kubelet"
        if self.args.simulated:
            prefix = "hollow-node-"
            self.node_names = [f"{prefix}{i}" for i in range(self.args.nodes)]
            argv = self._module("pyk8s.cli.kubelet", *server, "--runtime", "simulated",
                                "--simulated-nodes", str(self.args.nodes), "--simulated-node-prefix", prefix,
                                "--root-dir", str(kubelets / "simulated"), "--port", "0")
            self.components.append(Component("kubelet", argv, self.logs / "kubelet.log", _KUBELET_STOP_TIMEOUT))
            return
        base = _node_base_name()
        self.node_names = [base] if self.args.nodes == 1 else [f"{base}-{i}" for i in range(1, self.args.nodes + 1)]
        for name in self.node_names:
            argv = self._module("pyk8s.cli.kubelet", *server, "--node-name", name, "--root-dir", str(kubelets / name),
                                "--port", "0")
            label = "kubelet" if self.args.nodes == 1 else f"kubelet-{name}"
            self.components.append(Component(label, argv, self.logs / f"{label}.log", _KUBELET_STOP_TIMEOUT))

    def start(self, component: Component) -> None:
        component.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(component.log_path, "wb") as log:
            component.process = subprocess.Popen(
                component.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"}, process_group=0,
            )

    def check_children(self) -> None:
        """Raise UpError naming a component that exited; reap re-parented orphans."""
        for component in self.components:
            if component.process is not None and component.process.poll() is not None:
                raise UpError(f"{component.name} exited unexpectedly with code {component.process.returncode}; "
                              f"its log: {component.log_path}\n{_tail(component.log_path)}")
        self._reap_orphans()

    def _reap_orphans(self) -> None:
        managed = {c.process.pid for c in self.components if c.process is not None}
        for pid in _children(os.getpid()):
            if pid not in managed:
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass

    def wait(self, predicate, timeout: float, what: str, interval: float = _POLL):
        deadline = time.monotonic() + timeout
        while True:
            if self.stop_requested:
                raise KeyboardInterrupt
            self.check_children()
            result = predicate()
            if result:
                return result
            if time.monotonic() > deadline:
                raise UpError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(interval)

    def _get(self, path: str):
        try:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
            connection.close()
        except OSError:
            return None, None
        return response.status, body

    def apiserver_ready(self) -> bool:
        return self._get("/readyz")[0] == 200

    def ready_nodes(self) -> set[str]:
        status, body = self._get("/api/v1/nodes")
        if status != 200:
            return set()
        ready = set()
        for node in json.loads(body).get("items") or ():
            for condition in (node.get("status") or {}).get("conditions") or ():
                if condition.get("type") == "Ready" and condition.get("status") == "True":
                    ready.add(node["metadata"]["name"])
        return ready

    def up(self) -> None:
        self.plan()
        apiserver, *controllers_and_kubelets = self.components
        _say(f"starting the API server on {self.url} (log: {apiserver.log_path})")
        self.start(apiserver)
        started = time.monotonic()
        self.wait(self.apiserver_ready, _APISERVER_READY_TIMEOUT, "the API server's /readyz")
        _say(f"  ready in {time.monotonic() - started:.1f} s")
        for component in controllers_and_kubelets:
            _say(f"starting {component.name} (log: {component.log_path})")
            self.start(component)
        wanted = set(self.node_names)
        timeout = self.args.ready_timeout or 60.0 + len(wanted) / 50.0
        count = f"{len(wanted)} node{'s' if len(wanted) != 1 else ''}"
        _say(f"waiting for {count} to be Ready ...")
        started = time.monotonic()
        self.wait(lambda: wanted <= self.ready_nodes(), timeout, f"{count} to be Ready",
                  interval=_POLL if len(wanted) < 100 else 1.0)
        _say(f"  Ready in {time.monotonic() - started:.1f} s")

    # -- stopping ------------------------------------------------------------------------------

    def stop(self) -> None:
        """Kubelets first, then the controllers, then the API server; then anything left."""
        kubelets = [c for c in self.components if c.name.startswith("kubelet")]
        controllers = [c for c in self.components if c.name in ("scheduler", "controller-manager")]
        apiserver = [c for c in self.components if c.name == "apiserver"]
        for group in (kubelets, controllers, apiserver):
            self._stop_group(group)
        self._kill_leftovers()

    def _stop_group(self, group: list[Component]) -> None:
        running = [c for c in group if c.alive()]
        if not running:
            return
        for component in running:
            component.signal(signal.SIGTERM)
        deadline = time.monotonic() + max(c.stop_timeout for c in running)
        while any(c.alive() for c in running) and time.monotonic() < deadline and self.stop_requested < 2:
            time.sleep(0.05)
            self._reap_orphans()
        for component in running:
            if component.alive():
                if self.stop_requested < 2:
                    _say(f"{component.name} did not stop in {component.stop_timeout:.0f} s: killing it")
                component.signal(signal.SIGKILL)
            if component.process is not None:
                component.process.wait()

    def _kill_leftovers(self) -> None:
        """Every process still below us (re-parented here as orphans): TERM, then KILL."""
        own_group = os.getpgrp()
        for signum, grace in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 2.0)):
            leftovers = _children(os.getpid())
            if not leftovers:
                return
            for pid in leftovers:
                try:
                    group = os.getpgid(pid)
                    if group != own_group:
                        os.killpg(group, signum)
                    else:
                        os.kill(pid, signum)
                except (ProcessLookupError, PermissionError):
                    pass
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                self._reap_orphans()
                if not _children(os.getpid()):
                    return
                time.sleep(0.05)

    # -- the kubeconfig ------------------------------------------------------------------------

    def write_kubeconfig(self, path: Path) -> None:
        config = {
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "pyk8s", "cluster": {"server": self.url}}],
            "users": [{"name": "pyk8s-admin", "user": {}}],
            "contexts": [{"name": "pyk8s", "context": {"cluster": "pyk8s", "user": "pyk8s-admin", "namespace": "default"}}],
            "current-context": "pyk8s",
            "preferences": {},
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
            yaml.safe_dump(config, handle, sort_keys=False)
        os.replace(temporary, path)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return "\n".join("    " + line for line in text)


def _say(text: str) -> None:
    print(text, flush=True)


def _refuse_user_kubeconfig(path: Path) -> None:
    users = Path(os.path.expanduser("~/.kube/config"))
    if path.resolve() == users.resolve():
        raise UpError(f"refusing to write {path}: pyk8s up never overwrites your ~/.kube/config; "
                      "choose another --kubeconfig")


def _lock(data_dir: Path):
    handle = open(data_dir / "pyk8s-up.lock", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise UpError(f"another pyk8s up is running with the data directory {data_dir}; "
                      "stop it or choose another --data-dir") from None
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        data_dir = (args.data_dir or default_data_dir()).expanduser().resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        kubeconfig = (args.kubeconfig or data_dir / "kubeconfig").expanduser().absolute()
        _refuse_user_kubeconfig(kubeconfig)
        lock = _lock(data_dir)
        port = args.port or _free_port()
        if not _port_free(port):
            raise UpError(f"port {port} on 127.0.0.1 is already in use (another pyk8s up or API server?); "
                          "choose another with --port")
    except UpError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 1
    _become_subreaper()
    cluster = Cluster(args, data_dir, port)

    def on_signal(signum, _frame) -> None:
        cluster.stop_requested += 1
        if cluster.stop_requested == 1:
            _say(f"\n{signal.Signals(signum).name}: stopping the cluster (again to kill it at once) ...")

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)
    code = 0
    try:
        cluster.up()
        cluster.write_kubeconfig(kubeconfig)
        nodes = cluster.node_names
        shown = ", ".join(nodes[:3]) + (f", ... ({len(nodes)} in all)" if len(nodes) > 3 else "")
        _say(f"\npyk8s is up: API server {cluster.url}, node{'s' if len(nodes) > 1 else ''} {shown} Ready.")
        _say(f"kubeconfig: {kubeconfig}\n")
        _say("Use it with kubectl:")
        _say(f"    export KUBECONFIG={kubeconfig}")
        _say("    kubectl get nodes")
        _say("or")
        _say(f"    kubectl --kubeconfig {kubeconfig} get pods -A\n")
        _say(f"Logs: {cluster.logs}/    Press Ctrl-C to stop.")
        cluster.wait(lambda: False, float("inf"), "a stop signal", interval=0.5)
    except KeyboardInterrupt:
        pass
    except UpError as error:
        print(f"{PROG}: {error}", file=sys.stderr, flush=True)
        code = 1
    finally:
        cluster.stop()
        lock.close()
    _say("pyk8s stopped.")
    return code


if __name__ == "__main__":
    sys.exit(main())
