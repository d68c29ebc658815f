"""The simulated runtime: thousands of hollow nodes in one process, as KWOK and kubemark's
hollow nodes give scale tests a cluster without machines.

``pyk8s-kubelet --runtime simulated --simulated-nodes N`` calls ``run_simulated``; benchmarks
and tests use ``SimulatedNodes`` in-process:

    nodes = SimulatedNodes(client, 100, running_delay=0.5)
    task = asyncio.create_task(nodes.run())
    await nodes.wait_registered()
    ...
    await nodes.stop()

What the nodes do, at the kubelet's cadence:

* register: a Node named ``<prefix><i>`` with capacity = allocatable, the kubelet's labels
  (``kubernetes.io/hostname``, ``kubernetes.io/os``, ``kubernetes.io/arch``) plus
  ``type=simulated`` and the configured ones, the four conditions (Ready True), an InternalIP
  in 172.16.0.0/12 and a pod CIDR carved out of 10.0.0.0/8; then a Lease in
  ``kube-node-lease`` owned by the Node;
* heartbeat: each Lease renewed every 10 s (a quarter of its 40 s duration, as the kubelet's
  node lease controller); the renewals are spread evenly over the period in small slices;
* report: each Node's conditions posted with a fresh ``lastHeartbeatTime`` every 60 s
  (nodeStatusReportFrequency: a hollow node's status never changes in between), spread the
  same way;
* pods: see ``simulated_pods``: one watch for all of them.

All writes are pipelined (``simulated_writer``), which is what lets 5000 nodes' 500 lease
renewals a second cost a few percent of a core; heartbeats and pod writes use separate
connections, so a pod's status is never queued behind renewals.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import logging
import platform
import sys
import time
from collections.abc import Mapping

import orjson

from pyk8s.api._scalars import quantity_error
from pyk8s.api.validation import dns1123_subdomain_errors, label_value_errors, qualified_name_errors
from pyk8s.client import NODES, PODS, AlreadyExists, ApiClient, ApiError, NotFound, Reflector, format_micro_time
from pyk8s.scheduler._objects import resource_amount

from .node import (
    LEASE_DURATION_SECONDS, LEASE_NAMESPACE, build_lease, build_node, default_labels, node_conditions, node_info,
)
from .simulated_pods import HollowNode, HollowPods, rfc3339
from .simulated_writer import MERGE_PATCH, KeyedWriter, Write

__all__ = [
    "RegistrationError", "SimulatedNodes", "run_simulated", "parse_capacity", "parse_labels", "DEFAULT_CAPACITY",
    "LEASE_DURATION_SECONDS", "NODE_STATUS_REPORT_FREQUENCY", "SIMULATED_NODE_ANNOTATION",
]

log = logging.getLogger(__name__)

# KWOK's example node: a big machine, so that scale tests are not limited by fit.
DEFAULT_CAPACITY = {"cpu": "32", "memory": "256Gi", "ephemeral-storage": "1Ti"}
LEASE_RENEW_FRACTION = 0.25  # kubelet's nodeLeaseRenewIntervalFraction: renew every 10 s
NODE_STATUS_REPORT_FREQUENCY = 60.0
SIMULATED_NODE_ANNOTATION = "pyk8s.io/simulated-node"
# Each period is cut into this many slices; one slice of the nodes is renewed per tick.
_SLICES = 100
_POD_CIDR_BASE = 10 << 24  # 10.0.0.0/8
_HOST_IP_BASE = (172 << 24) | (16 << 16)  # 172.16.0.0/12
_HOST_IP_COUNT = 1 << 20
# Stands for the heartbeat time in a node's prebuilt status body.
_MARKER = "2099-12-31T23:59:59Z"
_MARKER_BYTES = _MARKER.encode()


def parse_capacity(text: str | None, max_pods: int) -> dict[str, str]:
    """``cpu=32,memory=256Gi,pods=110`` on top of the defaults; ``pods`` defaults to max_pods."""
    capacity = {**DEFAULT_CAPACITY, "pods": str(max_pods)}
    for name, value in _pairs(text, "--simulated-capacity"):
        error = quantity_error(value)
        if error is not None:
            raise ValueError(f"--simulated-capacity: {name}={value}: {error}")
        capacity[name] = value
    return capacity


def parse_labels(text: str | None) -> dict[str, str]:
    """``k=v,k2=v2``, each label checked as the API server would."""
    labels = {}
    for key, value in _pairs(text, "--simulated-labels"):
        errors = qualified_name_errors(key) + label_value_errors(value)
        if errors:
            raise ValueError(f"--simulated-labels: {key}={value}: {'; '.join(errors)}")
        labels[key] = value
    return labels


def _pairs(text: str | None, flag: str) -> list[tuple[str, str]]:
    pairs = []
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{flag}: {item!r} is not key=value")
        pairs.append((key.strip(), value.strip()))
    return pairs


def _ip_text(value: int) -> str:
    return f"{value >> 24 & 255}.{value >> 16 & 255}.{value >> 8 & 255}.{value & 255}"


def _uuid_of(text: str) -> str:
    digest = hashlib.sha256(text.encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


class RegistrationError(Exception):
    """The API server refused to register a hollow node (an invalid name, label or quantity)."""


class _NodeState:
    """A registered hollow node's heartbeat bodies, built once."""

    __slots__ = ("hollow", "uid", "lease_path", "lease_prefix", "status_path", "status_template", "lease_done")

    def __init__(self, hollow: HollowNode) -> None:
        self.hollow = hollow
        self.uid = ""
        self.lease_path = f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases/{hollow.name}"
        self.lease_prefix = b""
        self.status_path = f"/api/v1/nodes/{hollow.name}/status"
        self.status_template = b""
        self.lease_done = None


class SimulatedNodes:
    """``count`` hollow nodes named ``<prefix>0`` .. ``<prefix><count-1>``; ``run()`` registers
    them and keeps them alive until cancelled or ``stop()``."""

    def __init__(
        self,
        client: ApiClient,
        count: int,
        *,
        prefix: str = "hollow-node-",
        capacity: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        running_delay: float = 0.0,
        max_pods: int = 110,
        lease_duration_seconds: int = LEASE_DURATION_SECONDS,
        lease_renew_interval: float | None = None,
        status_report_period: float = NODE_STATUS_REPORT_FREQUENCY,
        concurrency: int = 128,
        connections: int = 4,
        pod_connections: int = 16,
    ) -> None:
        if count < 1:
            raise ValueError("the simulated node count must be at least 1")
        self.client = client
        self.count = count
        self.prefix = prefix
        self.capacity = dict(capacity) if capacity is not None else parse_capacity(None, max_pods)
        self.capacity.setdefault("pods", str(max_pods))
        self.labels = dict(labels or {})
        self.lease_duration_seconds = lease_duration_seconds
        self.lease_renew_interval = lease_renew_interval or lease_duration_seconds * LEASE_RENEW_FRACTION
        self.status_report_period = status_report_period
        self.names = [f"{prefix}{i}" for i in range(count)]
        for name in (self.names[0], self.names[-1]):
            errors = dns1123_subdomain_errors(name) + label_value_errors(name)
            if errors:
                raise ValueError(f"node name {name!r} (from the prefix {prefix!r}): {'; '.join(errors)}")
        pods = resource_amount("pods", self.capacity["pods"])
        # One pod CIDR per node, big enough for its pods: /24 unless it runs more than 253.
        prefix_length = min(24, 32 - (pods + 3).bit_length())
        if count > (1 << (prefix_length - 8)) or count > _HOST_IP_COUNT - 2:
            raise ValueError(f"{count} nodes of {pods} pods do not fit the fake address ranges")
        allocatable = {name: resource_amount(name, value) for name, value in self.capacity.items()}
        self.hollow = {
            name: HollowNode(name, _ip_text(_HOST_IP_BASE + i + 1), _POD_CIDR_BASE + (i << (32 - prefix_length)),
                             prefix_length, allocatable)
            for i, name in enumerate(self.names)
        }
        for name, hollow in self.hollow.items():
            hollow.view = {"metadata": {"name": name, "labels": self._labels(name)}, "spec": {},
                           "status": {"allocatable": self.capacity, "nodeInfo": {"operatingSystem": "linux"}}}
        self._states = {name: _NodeState(hollow) for name, hollow in self.hollow.items()}
        # Heartbeats and pod writes go through separate connections: a pod's status never
        # waits behind a slice of Lease renewals pipelined on the same connection.
        self.writer = KeyedWriter(client, concurrency=concurrency, connections=connections)
        # A simulated kubelet speaks for thousands of nodes: more connections give its pod
        # writes a fair share of the API server next to clients that hold many.
        self.pod_writer = KeyedWriter(client, concurrency=concurrency, connections=pod_connections)
        self.pods = HollowPods(self.hollow, self.pod_writer, running_delay=running_delay)
        self.reflector = Reflector(client, PODS, self.pods.replace, self.pods.apply, field_selector="spec.nodeName!=")
        self.registered = asyncio.Event()
        self.lease_renewals = 0
        self.status_reports = 0
        self._tasks: list[asyncio.Task] = []
        self._stopped = asyncio.Event()

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self) -> None:
        self._tasks = [asyncio.create_task(self.writer.run(), name="simulated-heartbeats"),
                       asyncio.create_task(self.pod_writer.run(), name="simulated-pod-writes")]
        try:
            await self._register()
            self._tasks += [
                asyncio.create_task(self.reflector.run(), name="simulated-pods"),
                asyncio.create_task(self._every(self.lease_renew_interval, self._renew_leases), name="simulated-leases"),
                asyncio.create_task(self._every(self.status_report_period, self._report_status), name="simulated-status"),
            ]
            stop = asyncio.create_task(self._stopped.wait())
            done, _ = await asyncio.wait([*self._tasks, stop], return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            for task in done:
                if task is not stop and task.exception() is not None:
                    raise task.exception()
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def stop(self) -> None:
        self._stopped.set()

    async def wait_registered(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self.registered.wait(), timeout)

    # -- registration ------------------------------------------------------------------------

    def _labels(self, name: str) -> dict[str, str]:
        return {**default_labels(name), "type": "simulated", **self.labels}

    def node_body(self, hollow: HollowNode, now: float) -> dict:
        """The Node as the kubelet registers it, for a machine that is not there."""
        name = hollow.name
        info = node_info(
            machine_id=_uuid_of(name).replace("-", ""), system_uuid=_uuid_of("system/" + name),
            boot_id=_uuid_of(f"boot/{name}/{now}"), kernel_version=platform.release(),
            os_image="pyk8s simulated node", container_runtime_version="simulated://0.1.0",
        )
        node = build_node(
            name, capacity=self.capacity, labels=self._labels(name),
            addresses=[{"type": "InternalIP", "address": hollow.host_ip}, {"type": "Hostname", "address": name}],
            info=info, conditions=node_conditions(ready=True, now=rfc3339(now)),
            annotations={"node.alpha.kubernetes.io/ttl": "0", SIMULATED_NODE_ANNOTATION: "true"},
        )
        # What the node IPAM controller would assign; the pods' fake IPs come from it.
        node["spec"].update(podCIDR=hollow.pod_cidr, podCIDRs=[hollow.pod_cidr])
        return node

    async def _register(self) -> None:
        """Create every Node, then its Lease; a Node that exists already (a restarted
        simulated kubelet) gets its labels and status brought up to date."""
        started = time.monotonic()
        now = time.time()
        remaining = len(self._states)
        all_done = asyncio.get_running_loop().create_future()
        existing: list[_NodeState] = []
        refused: list[str] = []

        def created(state: _NodeState):
            def done(error, body) -> None:
                nonlocal remaining
                if error is None:
                    state.uid = orjson.loads(body)["metadata"]["uid"]
                    self._create_lease(state)
                elif isinstance(error, AlreadyExists):
                    existing.append(state)
                else:
                    refused.append(f"{state.hollow.name}: {error}")
                remaining -= 1
                if remaining == 0 and not all_done.done():
                    all_done.set_result(None)
            return done

        for state in self._states.values():
            body = self.node_body(state.hollow, now)
            state.status_template = self._status_template(now)
            state.lease_done = self._lease_written(state)
            state.lease_prefix = orjson.dumps(
                {"holderIdentity": state.hollow.name, "leaseDurationSeconds": self.lease_duration_seconds})[:-1]
            self.writer.submit(("node", state.hollow.name), Write("POST", "/api/v1/nodes", orjson.dumps(body), done=created(state)))
        await all_done
        if refused:
            # The API server said no for good (the transient failures were retried).
            raise RegistrationError(f"{len(refused)} of {self.count} nodes could not be registered; "
                                    f"the first: {refused[0]}")
        for state in existing:
            await self._reregister(state, now)
        await self.writer.wait_idle()
        self.registered.set()
        log.info("registered %d simulated nodes in %.2fs (%d existed)", self.count, time.monotonic() - started, len(existing))

    async def _reregister(self, state: _NodeState, now: float) -> None:
        body = self.node_body(state.hollow, now)
        node = await self.client.patch(
            NODES, state.hollow.name, {"metadata": {"labels": body["metadata"]["labels"],
                                                     "annotations": body["metadata"]["annotations"]}})
        state.uid = node["metadata"]["uid"]
        await self.client.patch(NODES, state.hollow.name, {"status": body["status"]}, subresource="status")
        self._create_lease(state)

    @staticmethod
    def _status_template(since: float) -> bytes:
        # The heartbeat time is the only thing that changes between reports.
        registered = node_conditions(ready=True, now=rfc3339(since))
        return orjson.dumps({"status": {"conditions": node_conditions(ready=True, previous=registered, now=_MARKER)}})

    def _create_lease(self, state: _NodeState) -> None:
        lease = build_lease(state.hollow.name, node_uid=state.uid, duration=self.lease_duration_seconds)
        path = f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases"
        self.writer.submit(("lease", state.hollow.name), Write("POST", path, orjson.dumps(lease), done=state.lease_done))

    def _lease_written(self, state: _NodeState):
        def done(error, _body) -> None:
            if isinstance(error, NotFound):
                self._create_lease(state)  # deleted from under us: the kubelet's ensureLease
            elif error is not None and not isinstance(error, AlreadyExists):
                log.warning("lease of node %s: %s", state.hollow.name, error)
        return done

    # -- heartbeats --------------------------------------------------------------------------

    async def _every(self, period: float, renew) -> None:
        """Call ``renew(slice)`` for each of ``_SLICES`` slices of the nodes in turn, one slice
        every ``period / _SLICES`` seconds, so each node is renewed once per period and the
        load is flat."""
        states = list(self._states.values())
        slices = [states[i::_SLICES] for i in range(_SLICES)]
        tick = period / _SLICES
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        index = 0
        while True:
            next_at += tick
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            if slices[index]:
                renew(slices[index])
            index = (index + 1) % _SLICES

    def _renew_leases(self, states: list[_NodeState]) -> None:
        stamp = format_micro_time(dt.datetime.now(dt.UTC)).encode()
        submit = self.writer.submit
        for state in states:
            body = b'{"spec":' + state.lease_prefix + b',"renewTime":"' + stamp + b'"}}'
            submit(("lease", state.hollow.name), Write("PATCH", state.lease_path, body, MERGE_PATCH, state.lease_done))
        self.lease_renewals += len(states)

    def _report_status(self, states: list[_NodeState]) -> None:
        stamp = rfc3339(time.time()).encode()
        submit = self.writer.submit
        for state in states:
            body = state.status_template.replace(_MARKER_BYTES, stamp)
            submit(("node", state.hollow.name), Write("PATCH", state.status_path, body, MERGE_PATCH))
        self.status_reports += len(states)


async def run_simulated(client: ApiClient, args: argparse.Namespace) -> None:
    """``pyk8s-kubelet --runtime simulated``: the hollow nodes the flags describe, until cancelled."""
    try:
        nodes = SimulatedNodes(
            client, args.simulated_nodes,
            prefix=args.simulated_node_prefix,
            capacity=parse_capacity(args.simulated_capacity, args.max_pods),
            labels=parse_labels(args.simulated_labels),
            running_delay=args.simulated_running_delay,
            max_pods=args.max_pods,
            lease_duration_seconds=getattr(args, "node_lease_duration_seconds", LEASE_DURATION_SECONDS),
            # A hollow node's status changes only when it is re-registered, so it is posted at
            # the report frequency; the update frequency (how often a real node re-reads its
            # machine) has nothing to read here.
            status_report_period=getattr(args, "node_status_report_frequency", NODE_STATUS_REPORT_FREQUENCY),
        )
    except ValueError as error:
        print(f"pyk8s-kubelet: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        await nodes.run()
    except (RegistrationError, ApiError) as error:
        print(f"pyk8s-kubelet: {error}", file=sys.stderr)
        raise SystemExit(1) from None

