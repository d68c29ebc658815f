"""``Kubelet``: one node with the process runtime.

    kubelet = Kubelet(client, KubeletOptions(node_name="n1", root_dir="/tmp/kubelet", port=0))
    await kubelet.run()        # until kubelet.stop() (from a signal handler, another task)

``run`` locks ``root_dir`` (one kubelet per directory), starts the HTTP server, registers the
Node and starts its Lease heartbeat and status updates (Ready once the runtime is), then
watches the pods bound to the node (``fieldSelector=spec.nodeName=<node>``) and gives each a
``PodWorker`` (worker.py).  Pods found in ``root_dir`` from an earlier run are picked up by
their workers (live processes adopted); those whose API object is gone are stopped and
removed once the first list has arrived.

``stop`` stops every container (SIGTERM, then SIGKILL after ``shutdown_grace`` seconds or the
pod's shorter grace period), posts the pods' statuses, and returns with no process of any pod
left.  (Upstream leaves containers running when the kubelet stops; here a stopped kubelet
leaves nothing behind.  A kubelet that is killed leaves its containers running, and the next
one on the same ``root_dir`` adopts them.)  After a stop, a restarted kubelet restarts the
containers as their restart policy says, as after a node reboot.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from pyk8s.client import PODS, ApiClient, SharedInformer
from pyk8s.controllers import EventRecorder
from pyk8s.kubelet.admission import admit
from pyk8s.kubelet.node import NodeAgent, primary_ip
from pyk8s.kubelet.process import ProcessRuntime
from pyk8s.kubelet.server import KubeletServer
from pyk8s.kubelet.worker import PodWorker

__all__ = ["Kubelet", "KubeletError", "KubeletOptions"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

_FORGOTTEN = 4096  # uids of finished pods remembered, so late watch events do not revive them


class KubeletError(Exception):
    """The kubelet cannot start (its directory is in use, its port taken, ...)."""


@dataclass
class KubeletOptions:
    node_name: str
    root_dir: str
    max_pods: int = 110
    address: str = "127.0.0.1"
    port: int = 10250
    node_ip: str | None = None  # default: --address, or this host's primary address when that is 0.0.0.0
    hostname: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: list[Mapping] = field(default_factory=list)
    status_update_frequency: float = 10.0
    status_report_frequency: float = 60.0
    lease_duration: int = 40
    resync_seconds: float = 10.0
    backoff_base: float = 10.0
    backoff_cap: float = 300.0
    shutdown_grace: float = 5.0


class Kubelet:
    def __init__(self, client: ApiClient, options: KubeletOptions) -> None:
        self.client = client
        self.options = options
        self.node_name = options.node_name
        self.node_ip = options.node_ip or (primary_ip() if options.address in ("0.0.0.0", "::", "") else options.address)
        self.resync_seconds = options.resync_seconds
        self.backoff_base = options.backoff_base
        self.backoff_cap = options.backoff_cap
        self.runtime = ProcessRuntime(options.root_dir)
        self.server = KubeletServer(self)
        self.workers: dict[str, PodWorker] = {}
        self.agent: NodeAgent | None = None
        self.recorder = EventRecorder(client, "kubelet", instance=options.node_name)
        self.informer: SharedInformer | None = None
        self.ready = asyncio.Event()
        self._stopped = asyncio.Event()
        self._forgotten: dict[str, None] = {}
        self._early: dict[str, Obj] = {}  # pods listed before the first sync, admitted oldest first
        self._session: aiohttp.ClientSession | None = None
        self._lock_fd: int | None = None
        self._tasks: list[asyncio.Task] = []
        self._cleanups: list[asyncio.Task] = []

    @property
    def port(self) -> int:
        return self.server.port

    # -- services the workers use -----------------------------------------------------------

    def http_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # Probes open a fresh connection each time, as upstream's (keep-alive disabled).
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True, limit=0))
        return self._session

    def event(self, pod: Mapping, event_type: str, reason: str, message: str) -> None:
        self.recorder.event({"apiVersion": "v1", "kind": "Pod", "metadata": pod.get("metadata") or {}},
                            event_type, reason, message)

    def allocatable(self) -> Mapping[str, str]:
        return self.agent.allocatable if self.agent is not None else {}

    def admit(self, pod: Mapping) -> tuple[str, str] | None:
        node = self.agent.node if self.agent is not None else {}
        admitted = [w.pod for w in self.workers.values() if w.active() and w.uid != pod["metadata"]["uid"]]
        return admit(pod, node, admitted, self.options.max_pods)

    def forget(self, worker: PodWorker) -> None:
        if self.workers.get(worker.uid) is worker:
            del self.workers[worker.uid]
        self._forgotten[worker.uid] = None
        if len(self._forgotten) > _FORGOTTEN:
            del self._forgotten[next(iter(self._forgotten))]

    def find_worker(self, namespace: str, name: str) -> PodWorker | None:
        found = [w for w in self.workers.values() if w.namespace == namespace and w.name == name]
        live = [w for w in found if not w.removed]
        return (live or found or [None])[-1]

    # -- pods from the watch ---------------------------------------------------------------

    def _on_pod(self, pod: Obj) -> None:
        uid = (pod.get("metadata") or {}).get("uid")
        if not uid or uid in self._forgotten or self._stopped.is_set():
            return
        worker = self.workers.get(uid)
        if worker is not None:
            worker.update(pod)
        elif self.informer is not None and not self.informer.has_synced():
            self._early[uid] = pod
        else:
            self._new_worker(pod)

    def _new_worker(self, pod: Obj) -> None:
        worker = PodWorker(self, pod)
        self.workers[worker.uid] = worker
        worker.start()

    def _on_pod_deleted(self, pod: Obj) -> None:
        uid = (pod.get("metadata") or {}).get("uid")
        self._early.pop(uid, None)
        worker = self.workers.get(uid)
        if worker is not None:
            worker.remove(pod)

    # -- running -----------------------------------------------------------------------------

    def _lock_root(self) -> None:
        root = Path(self.options.root_dir)
        root.mkdir(parents=True, exist_ok=True)
        fd = os.open(root / "kubelet.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise KubeletError(f"{root} is in use by another kubelet (use another --root-dir)") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    async def run(self) -> None:
        self._lock_root()
        try:
            self.runtime.prepare()
            try:
                await self.server.start(self.options.address, self.options.port)
            except OSError as error:
                raise KubeletError(f"cannot listen on {self.options.address}:{self.options.port}: {error}") from None
            self.agent = NodeAgent(
                self.client, self.node_name, node_ip=self.node_ip, hostname=self.options.hostname or socket.gethostname(),
                kubelet_port=self.server.port, max_pods=self.options.max_pods, root_dir=self.options.root_dir,
                labels=self.options.labels, taints=self.options.taints,
                status_update_frequency=self.options.status_update_frequency,
                status_report_frequency=self.options.status_report_frequency,
                lease_duration=self.options.lease_duration, runtime_status=self.runtime.status,
                on_ready_change=self._node_ready_changed,
            )
            self._tasks.append(asyncio.ensure_future(self.recorder.run()))
            node = await self._unless_stopped(self.agent.register())
            if node is None:
                return
            self.recorder.event({**node, "apiVersion": "v1", "kind": "Node"}, "Normal", "Starting", "Starting kubelet.")
            self._tasks.append(asyncio.ensure_future(self.agent.run()))
            self.informer = SharedInformer(self.client, PODS, field_selector=f"spec.nodeName={self.node_name}")
            self.informer.add_event_handler(self._on_pod, lambda old, new: self._on_pod(new), self._on_pod_deleted)
            self.informer.start()
            if not await self._unless_stopped(self.informer.wait_for_sync()):
                return
            self._after_first_sync()
            self.ready.set()
            log.info("kubelet of node %s is running (port %d)", self.node_name, self.server.port)
            await self._stopped.wait()
        finally:
            await self._teardown()

    async def _unless_stopped(self, step):
        """``step``'s result, or None if ``stop()`` came first (the API server may be away)."""
        work = asyncio.ensure_future(step)
        stopped = asyncio.ensure_future(self._stopped.wait())
        await asyncio.wait([work, stopped], return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not work.done():
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
            return None
        return work.result()

    def _after_first_sync(self) -> None:
        early, self._early = self._early, {}
        for pod in sorted(early.values(), key=lambda p: (p["metadata"].get("creationTimestamp", ""), p["metadata"]["name"])):
            if pod["metadata"]["uid"] not in self.workers:
                self._new_worker(pod)
        known = set(self.informer.indexer.keys())
        listed_uids = {w.uid for w in self.workers.values()}
        for uid, record in self.runtime.known_pods().items():
            if uid not in listed_uids:
                key = f"{record.get('namespace')}/{record.get('name')}"
                log.info("pod %s (uid %s) is no longer bound to this node%s: removing what is left of it", key, uid,
                         "" if key not in known else " (a new pod has its name)")
                self._cleanups.append(asyncio.ensure_future(self._remove_orphan(uid)))

    async def _remove_orphan(self, uid: str) -> None:
        runs = self.runtime.recover(uid)
        await asyncio.gather(*(self.runtime.stop(run, 2.0) for group in runs.values() for run in group if run.running))
        self.runtime.remove_pod(uid)

    def _node_ready_changed(self, node: Obj, ready: bool) -> None:
        node = {"apiVersion": "v1", "kind": "Node", "metadata": {**(node.get("metadata") or {}), "namespace": ""}}
        if ready:
            self.recorder.event(node, "Normal", "NodeReady", f"Node {self.node_name} status is now: NodeReady")
        else:
            self.recorder.event(node, "Normal", "NodeNotReady", f"Node {self.node_name} status is now: NodeNotReady")

    def stop(self) -> None:
        """Ask ``run`` to stop (it returns once every container is stopped)."""
        self._stopped.set()

    async def _teardown(self) -> None:
        self._stopped.set()
        if self.informer is not None:
            await self.informer.stop()
        workers = list(self.workers.values())
        await asyncio.gather(*(w.shutdown(self.options.shutdown_grace) for w in workers), return_exceptions=True)
        await asyncio.gather(*self._cleanups, return_exceptions=True)
        await self.runtime.stop_all(min(self.options.shutdown_grace, 2.0))
        orphans = [t for t in self._tasks if not t.done()]
        await self.recorder.flush(1.0)
        for task in orphans:
            task.cancel()
        await asyncio.gather(*orphans, return_exceptions=True)
        await self.runtime.close()
        await self.server.stop()
        if self._session is not None:
            await self._session.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
