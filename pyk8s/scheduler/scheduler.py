"""The scheduler process: informers feed a ``Cluster`` and a ``SchedulingQueue``; one loop
pops pods and runs the scheduling cycle; binding runs concurrently (upstream's binding
cycle), so the next pod's cycle starts while the previous binding is on the wire.

    async with ApiClient("http://127.0.0.1:8080") as client:
        scheduler = Scheduler(client)
        task = asyncio.create_task(scheduler.run())
        ...
        await scheduler.stop()

Per pod (the numbered steps of ``_cycle``):

1. ``schedule_one`` (PreFilter, Filter, Score in the native core).
2. No node: the PodScheduled condition becomes False/Unschedulable with upstream's message
   (with PostFilter's "preemption: ..." part when preemption found no candidate) and a
   FailedScheduling Event is recorded; PostFilter (DefaultPreemption) may nominate a
   node: ``status.nominatedNodeName`` is set and the victims are deleted through the API
   (Preempted Events).  The pod waits in unschedulable until an event moves it (a victim's
   deletion is one); meanwhile its nomination holds its space on that node against pods
   of no higher priority (``Cluster.add_nominated_pod``), until it is bound or deleted.
   Pods seen with ``status.nominatedNodeName`` (e.g. nominated by a previous leader) are
   nominated the same way.
3. A node: the pod is assumed (counted against the node in ``Cluster`` at once), then
   DefaultBinder POSTs ``pods/{name}/binding`` (other Bind plugins: _binding.py).
   Success: a Scheduled Event, and the watch later confirms the assumed pod.  Failure:
   the pod is forgotten and retried after back-off.

An unschedulable pod waits for a cluster event that can help it, given the plugins that
rejected it (queueing_hints.py).  Pods without topology spread constraints of their own
get PodTopologySpread's default constraints, counted over the pods their Services and
ReplicaSet select (informers of both feed ``Cluster.add_service`` / ``add_replica_set``).

Explainability: with ``explain=True`` (``--explain``) or the pod annotation
``scheduler.pyk8s.io/explain: "true"``, the decision's per-node, per-plugin filter results
and scores are written to the pod annotation ``scheduler.pyk8s.io/explanation`` (JSON; the
``explain_top_nodes`` best-scored feasible nodes, then failing nodes, up to that many).
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import socket
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING

import orjson

from pyk8s.client import (
    NAMESPACES, NODES, PODS, REPLICA_SETS, SERVICES, ApiClient, ApiError, LeaderElector, NotFound, PatchType,
    SharedInformerFactory, TransportError,
)

from ._base import ScheduleResult
from ._binding import BindPluginsCycle, binding_request
from ._informer_events import InformerEventHandlers
from ._objects import SchedulingInputError
from ._pipeline import PipelinedWriter, answer_of
from .cluster import Cluster
from .events import EventRecorder
from .framework import Profile, Registry
from .metrics import SchedulerMetrics, serve_http
from .plugins import DefaultBinder
from .queue import (
    ACTIVE, DEFAULT_MAX_IN_UNSCHEDULABLE, EXPLANATION_ANNOTATION, QueuedPod, SchedulingQueue, pod_key,
)
from .queueing_hints import ClusterEvent

if TYPE_CHECKING:
    from pyk8s.client._prefetch import ListPrefetch

__all__ = ["Scheduler", "EXPLAIN_ANNOTATION", "EXPLANATION_ANNOTATION"]

log = logging.getLogger(__name__)

EXPLAIN_ANNOTATION = "scheduler.pyk8s.io/explain"
_UNSCHEDULABLE_FLUSH_PERIOD = 30.0  # upstream flushes unschedulablePods every 30 s
_GC_YOUNG_THRESHOLD = 50_000  # allocations between young collections (tune_gc)
_GC_OFF_WHILE_SYNCING = 10.0  # seconds at most without the cyclic GC at start (tune_gc)
# tune_gc, once synced: while pods wait or bind, the cyclic GC waits, up to this many net
# allocations (~15,000 pods' worth); it runs when the burst is over, or past that bound.
_GC_BURST_ALLOCATIONS = 2_000_000
_GC_CHECK_PERIOD = 0.25  # seconds between looks at the queue for that
_BIND_CONNECTIONS = 32
_EVENT_CONNECTIONS = 16
_YIELD_EVERY = 32  # cycles between yields to the loop, so informers and binders keep up


class Scheduler(InformerEventHandlers, BindPluginsCycle):
    def __init__(
        self,
        client: ApiClient,
        config: Mapping | str | None = None,
        *,
        leader_elect: bool = False,
        identity: str | None = None,
        lease_name: str = "kube-scheduler",
        lease_namespace: str = "kube-system",
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        metrics_port: int | None = None,
        metrics_host: str = "127.0.0.1",
        explain: bool = False,
        explain_top_nodes: int = 20,
        max_binds_in_flight: int = 256,
        initial_backoff: float | None = None,
        max_backoff: float | None = None,
        max_in_unschedulable: float = DEFAULT_MAX_IN_UNSCHEDULABLE,
        preemption_grace_period: int | None = 0,
        seed: int = 0,
        tune_gc: bool = False,
        registry: Registry | None = None,
        prefetched_lists: ListPrefetch | None = None,
    ) -> None:
        """``config``: KubeSchedulerConfiguration (dict or YAML); its podInitialBackoffSeconds
        and podMaxBackoffSeconds apply unless given here.  ``preemption_grace_period``: the
        gracePeriodSeconds victims are deleted with (upstream passes the victim's own; 0
        here by default because no kubelet finishes bound pods; None = the victim's own).
        ``tune_gc``: the scheduler owns its process (the CLI): collect young objects less
        often, exempt the synced caches from the cyclic GC (``gc.freeze``), and put young
        collections off while a burst of pods is scheduled (``_gc_during_bursts``); it
        changes process-wide settings, so it is off for in-process use.  ``registry``: the plugins
        profiles may name (upstream's out-of-tree registry); the built-ins by default.
        ``prefetched_lists``: whole lists requested before the process finished starting
        (the CLI's), taken by the informers as their first list."""
        if isinstance(config, str):
            import yaml
            config = yaml.safe_load(config) or {}
        config = dict(config or {})
        self.client = client
        self.config = config
        self.cluster = Cluster(config, seed=seed, registry=registry)
        self.cluster.client = client  # plugins reach the API server through their handle
        self.queue = SchedulingQueue(
            initial_backoff=initial_backoff if initial_backoff is not None else float(config.get("podInitialBackoffSeconds", 1)),
            max_backoff=max_backoff if max_backoff is not None else float(config.get("podMaxBackoffSeconds", 10)),
            max_in_unschedulable=max_in_unschedulable,
        )
        self.identity = identity or f"{socket.gethostname()}_{uuid.uuid4()}"
        self.leader_elect = leader_elect
        self.lease = (lease_name, lease_namespace, lease_duration, renew_deadline, retry_period)
        self.metrics = SchedulerMetrics(self.queue.pending)
        self.metrics_port = metrics_port
        self.metrics_host = metrics_host
        self.explain = explain
        self.explain_top_nodes = explain_top_nodes
        self.preemption_grace_period = preemption_grace_period
        self.tune_gc = tune_gc
        self._gc_timer: asyncio.TimerHandle | None = None  # tune_gc: the GC back on, or its next look
        # Bindings and events, one each per pod, go through pipelined connections; events
        # have their own (as upstream's separate event client), so a burst of them never
        # queues bindings behind it on the wire.  An HTTP/1.1 server works on one request
        # per connection at a time: many connections let it take a batch of requests per
        # wakeup (as HTTP/2 streams would), which costs both sides far less per request.
        self.writer = PipelinedWriter(client, connections=_BIND_CONNECTIONS)
        self.events = EventRecorder(PipelinedWriter(client, connections=_EVENT_CONNECTIONS), instance=self.identity)
        self.assumed: dict[str, str] = {}  # pod key -> node it was assumed onto
        self._orphans: dict[str, dict[str, dict]] = {}  # node -> {key: pod} bound before the node arrived
        self._condition_sent: dict[str, str] = {}  # pod key -> last Unschedulable message written
        self.max_binds_in_flight = max_binds_in_flight
        self.binds_in_flight = 0
        self._bind_room = asyncio.Event()  # set while binds_in_flight < max_binds_in_flight
        self._bind_room.set()
        self._bind_room_full = False  # not _bind_room.is_set(), read without a call
        self._background: set[asyncio.Task] = set()
        self._stopping = asyncio.Event()
        self._leading = asyncio.Event()
        self.elector: LeaderElector | None = None
        self.informers = SharedInformerFactory(client)
        self.prefetched_lists = prefetched_lists
        self._http_runner = None
        self.bound_port: int | None = None

    # ---- lifecycle -------------------------------------------------------------------------
    async def run(self) -> None:
        """Serve metrics, sync informers, then (after winning the lease, with leader election)
        schedule until ``stop()`` or until leadership is lost."""
        if self.tune_gc:
            # A watch event or list page allocates thousands of containers that die young or
            # join the caches: collecting every 700 allocations (the default) mostly re-scans
            # survivors, and a full collection comes every 70,000.
            gc.set_threshold(_GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
            # Nearly everything the first lists allocate joins the caches: no collection
            # can free it.  (Back on after _GC_OFF_WHILE_SYNCING at the latest, so a server
            # that cannot be reached does not leave the GC off.)
            gc.disable()
            self._gc_timer = asyncio.get_running_loop().call_later(_GC_OFF_WHILE_SYNCING, gc.enable)
        if self.metrics_port is not None:
            self._http_runner, self.bound_port = await serve_http(self.metrics, self.metrics_host, self.metrics_port)
        self._start_informers()
        # Without an election to wait for, the binding and event connections open while the
        # informers sync (the server has little to do then), not in the first cycles.
        connecting = [] if self.leader_elect else [
            asyncio.create_task(writer.connect()) for writer in (self.writer, self.events.writer)]
        try:
            await self.informers.wait_for_cache_sync()
            if self.tune_gc:
                # The synced caches (every node and pod: hundreds of thousands of containers)
                # live as long as the process; without this every full collection re-scans
                # them, which costs more than the scheduling itself.
                gc.freeze()
                self._gc_timer.cancel()
                gc.enable()
                self._gc_timer = asyncio.get_running_loop().call_later(_GC_CHECK_PERIOD, self._gc_during_bursts)
            if self.leader_elect:
                name, namespace, duration, deadline, retry = self.lease
                self.elector = LeaderElector(
                    self.client, name=name, namespace=namespace, identity=self.identity,
                    on_started_leading=self._lead, lease_duration=duration, renew_deadline=deadline, retry_period=retry,
                )
                stop = asyncio.create_task(self._stopping.wait())
                election = asyncio.create_task(self.elector.run())
                await asyncio.wait({stop, election}, return_when=asyncio.FIRST_COMPLETED)
                for task in (stop, election):
                    task.cancel()
                await asyncio.gather(stop, election, return_exceptions=True)
            else:
                lead = asyncio.create_task(self._lead())
                stop = asyncio.create_task(self._stopping.wait())
                await asyncio.wait({stop, lead}, return_when=asyncio.FIRST_COMPLETED)
                for task in (stop, lead):
                    task.cancel()
                await asyncio.gather(stop, lead, return_exceptions=True)
        finally:
            for task in connecting:
                task.cancel()
            await asyncio.gather(*connecting, return_exceptions=True)
            if self._gc_timer is not None:
                self._gc_timer.cancel()
                self._gc_timer = None
                gc.enable()
            self.queue.close()
            self.writer.close()
            self.events.writer.close()
            await self.informers.shutdown()
            if self._http_runner is not None:
                await self._http_runner.cleanup()

    async def stop(self) -> None:
        self._stopping.set()

    def _gc_during_bursts(self) -> None:
        """tune_gc: no cyclic GC while pods wait or bind, for up to _GC_BURST_ALLOCATIONS.
        Each pod a watch brings is hundreds of containers that join the caches, and the
        young collections that traverse them cost ~30 us of CPU per pod; within a burst they
        are put off until it ends (the queue empty, no binding in flight), when the cores
        would idle.  Past the bound (sustained load) collections run as usual."""
        busy = self.queue.pending()[ACTIVE] or self.binds_in_flight
        if busy and gc.get_count()[0] < _GC_BURST_ALLOCATIONS:
            gc.disable()
        else:
            gc.enable()
        self._gc_timer = asyncio.get_running_loop().call_later(_GC_CHECK_PERIOD, self._gc_during_bursts)

    def is_leader(self) -> bool:
        return self._leading.is_set()

    async def wait_until_leading(self, timeout: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self._leading.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def _lead(self) -> None:
        self._leading.set()
        log.info("%s: scheduling", self.identity)
        workers = [
            asyncio.create_task(self._schedule_loop(), name="schedule-loop"),
            asyncio.create_task(self.events.run(), name="events"),
            asyncio.create_task(self._flush_loop(), name="flush-unschedulable"),
        ]
        try:
            await asyncio.gather(*workers)
        finally:
            self._leading.clear()
            for task in workers:
                task.cancel()
            pending = list(self._background)
            for task in pending:
                task.cancel()
            await asyncio.gather(*workers, *pending, return_exceptions=True)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(_UNSCHEDULABLE_FLUSH_PERIOD)
            self.queue.flush_unschedulable()

    def _spawn(self, coroutine) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ---- informers (their event handlers: _informer_events.py) ------------------------------
    def _start_informers(self) -> None:
        nodes = self.informers.informer(NODES)
        nodes.add_event_handler(self._node_added, self._node_updated, self._node_deleted)
        namespaces = self.informers.informer(NAMESPACES)
        namespaces.add_event_handler(self._namespace_seen, lambda _old, new: self._namespace_seen(new))
        pods = self.informers.informer(PODS)
        pods.add_event_handler(self._pod_added, self._pod_updated, self._pod_deleted)
        if any(p.plugin_args.get("PodTopologySpread", {}).get("defaultConstraints") for p in self.cluster.profiles.values()):
            # Default spreading counts the pods a Service or ReplicaSet selects (upstream
            # starts these listers only when some profile has default constraints).
            cluster = self.cluster
            services = self.informers.informer(SERVICES)
            services.add_event_handler(cluster.add_service, lambda _old, new: cluster.add_service(new), cluster.remove_service)
            replica_sets = self.informers.informer(REPLICA_SETS)
            replica_sets.add_event_handler(cluster.add_replica_set, lambda _old, new: cluster.add_replica_set(new),
                                           cluster.remove_replica_set)
        prefetched, self.prefetched_lists = self.prefetched_lists, None
        if prefetched is not None:
            for informer in self.informers.informers:
                reflector = informer.reflector
                if reflector.namespace or reflector.label_selector or reflector.field_selector:
                    continue  # a prefetched list is cluster-wide and unselected
                fetch = prefetched.take(informer.resource)
                if fetch is not None:
                    informer.set_initial_list(fetch)
        self.informers.start()

    # ---- the scheduling cycle ------------------------------------------------------------
    async def _schedule_loop(self) -> None:
        since_yield = 0
        while True:
            if self._bind_room_full:
                await self._bind_room.wait()  # back-pressure: wait for a binding to finish
            entry = self.queue.pop_nowait()
            if entry is None:
                entry = await self.queue.pop()
                if entry is None:
                    return
                since_yield = 0
            self._cycle(entry)
            since_yield += 1
            if since_yield >= _YIELD_EVERY:
                since_yield = 0
                await asyncio.sleep(0)

    def _cycle(self, entry: QueuedPod) -> None:
        pod = entry.pod
        cycle = self.queue.scheduling_cycle
        started = time.perf_counter()
        annotations = (pod.get("metadata") or {}).get("annotations") or {}
        explain = self.explain or annotations.get(EXPLAIN_ANNOTATION) == "true"
        try:
            profile = self.cluster.profile_for(pod)
            result = self.cluster.schedule_one(pod, explain=explain, profile=profile)
        except SchedulingInputError as error:
            self.metrics.observe_attempt("error", (pod.get("spec") or {}).get("schedulerName") or "default-scheduler",
                                         time.perf_counter() - started)
            self.events.record(pod, "Warning", "FailedScheduling", str(error), "Scheduling")
            self.queue.add_backoff(entry)
            return
        if explain:
            self._spawn(self._write_explanation(pod, result))
        if result.node_name is None:
            self._unschedulable(entry, cycle, profile, result, started)
            return
        node = result.node_name
        state: dict = {}
        reserve = profile.plugins.get("reserve")
        if reserve:  # (the default profiles have no Reserve plugin: no list per pod then)
            reserved = []
            for plugin in reserve:
                status = plugin.reserve(state, pod, node)
                if not status.ok:
                    for done in reversed(reserved):
                        done.unreserve(state, pod, node)
                    self.metrics.observe_attempt("error", profile.scheduler_name, time.perf_counter() - started)
                    self.queue.add_backoff(entry)
                    return
                reserved.append(plugin)
        self.cluster.bind(pod, node)  # assume: the node counts the pod from now on
        if entry.key in self.cluster.nominated:
            self.cluster.remove_nominated_pod(entry.key)  # upstream: DeleteNominatedPodIfExists
        self.assumed[entry.key] = node
        binders = profile.plugins["bind"]
        if len(binders) == 1 and binders[0].NAME == DefaultBinder.NAME:
            self._bind(entry, node, profile, started, state)
        else:
            self._bind_started()
            self._spawn(self._run_bind_plugins(entry, node, profile, started, state, cycle))

    def _unschedulable(self, entry: QueuedPod, cycle: int, profile, result: ScheduleResult, started: float) -> None:
        pod = entry.pod
        message = result.message
        nomination = None
        for plugin in profile.plugins.get("postFilter", ()):
            self.metrics.preemption_attempts += 1
            status, nomination = plugin.post_filter({}, pod, result)
            if status.ok:
                break
            if status.reasons:
                message = f"{message} {'; '.join(status.reasons)}."
        self.metrics.observe_attempt("unschedulable", profile.scheduler_name, time.perf_counter() - started)
        self.queue.add_unschedulable(entry, cycle, result.reasons, result.unschedulable_plugins)
        self.events.record(pod, "Warning", "FailedScheduling", message, "Scheduling")
        nominated = nomination.node_name if nomination is not None else None
        clear = (nomination is not None and nomination.clear_nomination
                 and bool((pod.get("status") or {}).get("nominatedNodeName")))
        if nominated:
            # The preemptor holds its space on the node while its victims go.
            self.cluster.add_nominated_pod(pod, nominated)
        elif clear:
            self.cluster.remove_nominated_pod(entry.key)
        if self._condition_sent.get(entry.key) != message or nominated or clear:
            self._condition_sent[entry.key] = message
            self._spawn(self._write_unschedulable(pod, message, nominated, clear))
        if nominated:
            self._spawn(self._preempt(pod, nomination))

    def _bind(self, entry: QueuedPod, node: str, profile: Profile, started: float, state: dict) -> None:
        """DefaultBinder alone: POST pods/{name}/binding; ``_bound`` finishes the binding
        cycle when it answers (a callback, not a task or future per pod: the binding cycle
        is this one request).  Other Bind plugins: ``_run_bind_plugins`` (_binding.py)."""
        self._bind_started()
        path, body = binding_request(entry.pod, node)
        self.writer.send_to(functools.partial(self._bound, entry, node, profile, started, state), "POST", path, body)

    def _bound(self, entry: QueuedPod, node: str, profile: Profile, started: float, state: dict,
               status: int, body: bytes, error: BaseException | None) -> None:
        self._bind_finished()
        if error is not None and isinstance(error, asyncio.CancelledError):
            return
        if not self._leading.is_set():
            return  # stopped or lost the lease: the next leader decides
        try:
            answer_of(status, body, error)
        except (ApiError, TransportError) as failure:
            self._binding_failed(entry, node, profile, started, state,
                                 None if isinstance(failure, NotFound) else f"Binding rejected: {failure}")
            return
        self._scheduled(entry, node, profile.scheduler_name, started)

    def _forget(self, key: str, node: str, announce: bool = True) -> bool:
        """Take the assumed pod off its node; the room it frees is an AssignedPodDelete
        (``announce`` False: the caller reports it).  False if it was not assumed there."""
        if self.assumed.get(key) != node:
            return False
        del self.assumed[key]
        self.cluster.remove_pod(key)
        if announce:
            self.queue.move_all(ClusterEvent.ASSIGNED_POD_DELETE)
        return True

    async def _write_unschedulable(self, pod: dict, message: str, nominated: str | None, clear: bool = False) -> None:
        """``clear``: remove status.nominatedNodeName (preemption cannot help on any node)."""
        meta = pod["metadata"]
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        status: dict = {"conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message,
            "lastProbeTime": None, "lastTransitionTime": now,
        }]}
        if nominated:
            status["nominatedNodeName"] = nominated
        elif clear:
            status["nominatedNodeName"] = None  # strategic merge patch: delete the field
        path = PODS.path(meta.get("namespace") or "default", meta["name"], "status")
        try:
            await self.writer.request("PATCH", path, orjson.dumps({"status": status}), PatchType.STRATEGIC.value)
        except (ApiError, TransportError) as error:
            log.debug("PodScheduled condition of %s not written: %s", meta["name"], error)
            self._condition_sent.pop(pod_key(pod), None)

    async def _preempt(self, preemptor: dict, nomination) -> None:
        """Delete the victims, all at once (upstream's parallelizer); the preemptor is retried
        when their deletions arrive."""
        preemptor_meta = preemptor["metadata"]
        indexer = self.informers.informer(PODS).indexer
        victims = [(key, indexer.get(key)) for key in nomination.victims]
        results = await asyncio.gather(*(self._delete_victim(key, victim) for key, victim in victims), return_exceptions=True)
        for (key, victim), result in zip(victims, results):
            if isinstance(result, NotFound):
                continue
            if isinstance(result, (ApiError, TransportError)):
                log.warning("preemption of %s for %s failed: %s", key, preemptor_meta["name"], result)
                continue
            if isinstance(result, BaseException):
                raise result
            if victim is not None:
                self.events.record(victim, "Normal", "Preempted",
                                   f"Preempted by pod {preemptor_meta.get('uid')} on node {nomination.node_name}", "Preempting")

    async def _delete_victim(self, key: str, victim: dict | None) -> None:
        namespace, name = key.split("/", 1)
        grace = self._victim_grace(victim)
        options = b"" if grace is None else orjson.dumps(
            {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": grace})
        await self.writer.request("DELETE", PODS.path(namespace, name), options)

    def _victim_grace(self, victim: dict | None) -> int | None:
        if self.preemption_grace_period is not None or victim is None:
            return self.preemption_grace_period
        return (victim.get("spec") or {}).get("terminationGracePeriodSeconds")

    async def _write_explanation(self, pod: dict, result: ScheduleResult) -> None:
        meta = pod["metadata"]
        text = orjson.dumps(self.explanation(result)).decode()
        try:
            await self.client.patch(PODS, meta["name"], {"metadata": {"annotations": {EXPLANATION_ANNOTATION: text}}},
                                    namespace=meta.get("namespace") or "default")
        except (ApiError, TransportError) as error:
            log.debug("explanation of %s not written: %s", meta["name"], error)

    def explanation(self, result: ScheduleResult) -> dict:
        """The JSON written to scheduler.pyk8s.io/explanation: feasible nodes by total score
        (best first), then failing nodes, at most ``explain_top_nodes`` in all."""
        ex = result.explain
        nodes = []
        if ex is not None:
            feasible = sorted(ex.totals, key=lambda n: (-ex.totals[n], n))
            for name in feasible:
                nodes.append({"name": name, "filter": "passed", "scores": ex.scores.get(name, {}), "total": ex.totals[name]})
            for name, (plugin, reasons) in ex.filter.items():
                if plugin is not None:
                    nodes.append({"name": name, "filter": {"plugin": plugin, "reasons": list(reasons)}})
        return {
            "node": result.node_name, "message": result.message, "numAllNodes": result.num_all_nodes,
            "evaluatedNodes": result.evaluated_nodes, "feasibleNodes": result.feasible_nodes,
            "reasons": result.reasons, "nodes": nodes[: self.explain_top_nodes], "truncated": len(nodes) > self.explain_top_nodes,
            "scheduler": self.identity,
        }
