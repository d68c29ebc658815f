"""The garbage collector, as upstream's pkg/controller/garbagecollector: deletes objects
whose owners are gone, and carries out the ``orphan`` and ``foregroundDeletion``
finalizers the API server puts on an owner deleted with ``propagationPolicy: Orphan`` /
``Foreground``.

Settings (``context.options``):

* ``concurrent_gc_syncs`` (20): workers for each of the two queues, so at most this many
  deletes (or orphaning patches per owner) are in flight;
* ``gc_resource_sync_period`` (30 s): how often discovery is read again for resources to
  watch (upstream's fixed 30 s resync of the GC's monitors).

How it works (upstream's design, step by step):

1. One informer per resource the server serves with list, watch and delete, events aside
   (upstream ignores them), all feeding ``GraphBuilder`` (``_gcgraph``), which keeps the
   uid → node graph of ownerReferences.
2. A node goes on ``attempt_to_delete`` when one of its owners disappears, when it names an
   owner never seen (the owner's virtual node is queued too), or when its owner starts a
   foreground deletion.  ``_attempt_to_delete_item`` then classifies each ownerReference with
   the API server: *dangling* (a GET by name answers 404, or an object with another uid),
   *waiting* (the owner is being deleted in the foreground) or *solid*.  An object is only
   ever deleted when no reference is solid, and an owner missing from the informer caches
   is never taken for absent: that takes the live GET (or a delete the collector observed,
   remembered in the absent-owner cache).
3. No solid owner: the object is deleted (Foreground when a waiting owner needs its
   dependents gone first and it has dependents itself, else with the policy its own
   finalizers ask for, else Background).  Some solid owners: the dangling and waiting
   references are patched out of it and it stays.
4. An owner with ``foregroundDeletion`` keeps the finalizer until no dependent with
   ``blockOwnerDeletion: true`` is left in the graph, then the finalizer is removed and the
   API server deletes it.  An owner with ``orphan`` has its reference patched out of every
   dependent, then the finalizer removed.

Where this differs from upstream, for speed at scale: for a node the informers have
observed, the object's current state is read from the informer cache rather than with a GET,
and the delete carries that state's resourceVersion as a precondition, so a delete decided
on a stale copy fails with a conflict instead of acting (the conflict is then resolved as
upstream's ``deleteObject`` does: retried without the resourceVersion only when a live GET
shows the ownerReferences unchanged).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from pyk8s.client import (
    ApiError, Conflict, NotFound, PatchType, RateLimitingQueue, Resource, SharedInformer, ShutDown, TransportError,
    default_controller_rate_limiter,
)

from ._base import Controller, ControllerContext
from ._discovery import APIResource, server_preferred_resources, with_verbs
from ._events import WARNING
from ._gcgraph import (
    ADD, DELETE, FINALIZER_FOREGROUND, FINALIZER_ORPHAN, UPDATE, GraphBuilder, Node, ObjectReference,
    ReferenceCache, reference_coordinates,
)

__all__ = ["GarbageCollector"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

# Upstream's ignoredResources: events are too many and never own anything.
_IGNORED = {("", "events"), ("events.k8s.io", "events")}
_FORGET, _REQUEUE = "forget", "requeue"
# client-go's retry.DefaultBackoff: 4 tries, 10 ms growing fivefold.
_FINALIZER_RETRIES = 4


class _VirtualDeleteEnqueued(Exception):
    """The node's object is gone: a virtual delete event was processed for it."""


class _NamespacedOwnerOfClusterScoped(Exception):
    """A cluster-scoped object names a namespaced owner, which cannot be resolved by retrying."""


class _RestMappingError(Exception):
    """An ownerReference names a kind the server does not serve (perhaps not yet)."""


class _OrphanFailed(Exception):
    """Some dependents could not be patched; the owner keeps its finalizer and is retried."""


class GarbageCollector(Controller):
    name = "garbage-collector-controller"
    default_workers = 20

    def __init__(self, context: ControllerContext) -> None:
        super().__init__(context)
        # self.queue is upstream's attemptToDelete; its items are graph nodes.
        self.attempt_to_orphan: RateLimitingQueue[Node] = RateLimitingQueue(default_controller_rate_limiter())
        self.metrics.register_queue("garbage_collector_attempt_to_orphan", self.attempt_to_orphan)
        self.absent_owner_cache = ReferenceCache(500)
        self.graph = GraphBuilder(
            self._attempt_to_delete, self._attempt_to_delete_later, self._attempt_to_orphan,
            self.absent_owner_cache, self._report_invalid_namespace,
        )
        self.resync_period = float(context.options.get("gc_resource_sync_period", 30.0))
        self.monitors: dict[Resource, SharedInformer] = {}
        # (group, kind) -> served resource, for resolving ownerReferences.
        self._by_kind: dict[tuple[str, str], APIResource] = {}
        self._synced = asyncio.Event()

    # -- queues ----------------------------------------------------------------------------

    def _attempt_to_delete(self, node: Node) -> None:
        self.metrics.queue_add(self.name)
        self.queue.add(node)  # type: ignore[arg-type]

    def _attempt_to_delete_later(self, node: Node) -> None:
        self.metrics.queue_add(self.name)
        self.queue.add_rate_limited(node)  # type: ignore[arg-type]

    def _attempt_to_orphan(self, node: Node) -> None:
        self.metrics.queue_add("garbage_collector_attempt_to_orphan")
        self.attempt_to_orphan.add(node)

    # -- monitors --------------------------------------------------------------------------

    async def wait_synced(self, timeout: float | None = None) -> bool:
        """True once every monitor has listed (the graph holds every object)."""
        try:
            await asyncio.wait_for(self._synced.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def _sync_monitors(self) -> bool:
        """Read discovery and watch every deletable resource not watched yet; False when
        discovery could not be read at all."""
        try:
            resources, partial = await server_preferred_resources(self.client)
        except (ApiError, TransportError) as error:
            log.warning("%s: discovery failed: %s", self.name, error)
            return False
        if partial is not None:
            log.warning("%s: %s", self.name, partial)
        for api in resources:
            self._by_kind[(api.resource.group, api.kind)] = api
        started = []
        for api in with_verbs(resources, "delete", "list", "watch"):
            if (api.resource.group, api.resource.plural) in _IGNORED or api.resource in self.monitors:
                continue
            informer = self.informers.informer(api.resource)
            informer.add_event_handler(*self._handlers(api))
            self.monitors[api.resource] = informer
            started.append(informer)
        if started:
            self.informers.start()
            await asyncio.gather(*(informer.wait_for_sync() for informer in started))
        return True

    def _handlers(self, api: APIResource):
        api_version, kind = api.api_version, api.kind
        process = self.graph.process

        def identity(obj: Obj) -> tuple[ObjectReference, Mapping]:
            meta = obj.get("metadata") or {}
            return ObjectReference(api_version, kind, meta.get("name") or "", meta.get("uid") or "",
                                   meta.get("namespace") or ""), meta

        def on_add(obj: Obj) -> None:
            ref, meta = identity(obj)
            process(ADD, ref, meta)

        def on_update(old: Obj, new: Obj) -> None:
            ref, meta = identity(new)
            process(UPDATE, ref, meta, old.get("metadata") or {})

        def on_delete(obj: Obj) -> None:
            ref, meta = identity(obj)
            process(DELETE, ref, meta)

        return on_add, on_update, on_delete

    def _mapping(self, api_version: str, kind: str) -> APIResource:
        group = api_version.rpartition("/")[0] if "/" in api_version else ""
        api = self._by_kind.get((group, kind))
        if api is None:
            raise _RestMappingError(f"unable to map {api_version}, Kind={kind} to a served resource")
        return api

    # -- running ---------------------------------------------------------------------------

    async def run(self, workers: int | None = None) -> None:
        count = workers or int(self.context.options.get("concurrent_gc_syncs", self.default_workers))
        delay = 0.5
        while not await self._sync_monitors():
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.resync_period)
        self._synced.set()
        tasks = [asyncio.create_task(self._delete_worker(), name=f"gc-delete-{i}") for i in range(count)]
        tasks += [asyncio.create_task(self._orphan_worker(), name=f"gc-orphan-{i}") for i in range(count)]
        tasks.append(asyncio.create_task(self._resync_monitors(), name="gc-resource-sync"))
        try:
            await asyncio.gather(*tasks)
        finally:
            self.queue.shut_down()
            self.attempt_to_orphan.shut_down()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _resync_monitors(self) -> None:
        while True:
            await asyncio.sleep(self.resync_period)
            try:
                await self._sync_monitors()
            except Exception:
                # The collector keeps working with the monitors it has.
                log.exception("%s: resyncing monitors failed", self.name)

    async def _delete_worker(self) -> None:
        queue = self.queue
        while True:
            try:
                node: Node = await queue.get()  # type: ignore[assignment]
            except ShutDown:
                return
            try:
                action = await self._attempt_to_delete_worker(node)
            except asyncio.CancelledError:
                queue.done(node)  # type: ignore[arg-type]
                raise
            if action == _FORGET:
                queue.forget(node)  # type: ignore[arg-type]
            else:
                self.metrics.queue_retry(self.name)
                queue.add_rate_limited(node)  # type: ignore[arg-type]
            queue.done(node)  # type: ignore[arg-type]

    async def _orphan_worker(self) -> None:
        queue = self.attempt_to_orphan
        while True:
            try:
                owner = await queue.get()
            except ShutDown:
                return
            try:
                await self._orphan_dependents(owner.identity, list(owner.dependents))
                await self._remove_finalizer(owner, FINALIZER_ORPHAN)
            except asyncio.CancelledError:
                queue.done(owner)
                raise
            except (ApiError, TransportError, _OrphanFailed, _RestMappingError) as error:
                log.info("%s: orphaning dependents of %s failed: %s", self.name, owner.identity, error)
                self.metrics.queue_retry("garbage_collector_attempt_to_orphan")
                queue.add_rate_limited(owner)
            except Exception:
                log.exception("%s: orphaning dependents of %s crashed", self.name, owner.identity)
                self.metrics.queue_retry("garbage_collector_attempt_to_orphan")
                queue.add_rate_limited(owner)
            else:
                queue.forget(owner)
            queue.done(owner)

    # -- attempt to delete -----------------------------------------------------------------

    async def _attempt_to_delete_worker(self, node: Node) -> str:
        if node.virtual:
            current = self.graph.node(node.identity.uid)
            if current is None or not current.virtual:
                # The uid was deleted, or observed for real, while this copy waited.
                return _FORGET
        current = self.graph.node(node.identity.uid)
        if current is not None and (current.identity.api_version, current.identity.kind) != (
            node.identity.api_version, node.identity.kind
        ):
            node = node.clone()
            node.identity = ObjectReference(
                current.identity.api_version, current.identity.kind, node.identity.name, node.identity.uid,
                node.identity.namespace,
            )
        try:
            await self._attempt_to_delete_item(node)
        except (_VirtualDeleteEnqueued, _NamespacedOwnerOfClusterScoped):
            return _FORGET
        except (ApiError, TransportError, _RestMappingError) as error:
            log.info("%s: error syncing item %s: %s", self.name, node.identity, error)
            return _REQUEUE
        except Exception:
            log.exception("%s: syncing item %s crashed", self.name, node.identity)
            return _REQUEUE
        if node.virtual:
            # Not observed by an informer yet: look again later (upstream issue 56121).
            return _REQUEUE
        return _FORGET

    async def _attempt_to_delete_item(self, item: Node) -> None:
        if item.being_deleted and not item.deleting_dependents:
            # Deletion is under way; the delete event will bring its dependents here.
            return
        latest = await self._latest(item)
        latest_meta = latest.get("metadata") or {}
        if latest_meta.get("uid") != item.identity.uid:
            self.graph.virtual_delete(item.identity)
            raise _VirtualDeleteEnqueued()
        if item.deleting_dependents:
            await self._process_deleting_dependents(item)
            return
        references = latest_meta.get("ownerReferences") or []
        if not references:
            return
        solid, dangling, waiting = await self._classify_references(item, references)
        if solid:
            if not dangling and not waiting:
                return
            # Waiting owners lose the reference too, or they would wait for this object forever.
            uids = [ref["uid"] for ref in dangling + waiting]
            await self._patch(item, _delete_owner_references_patch(item.identity.uid, uids))
            return
        if waiting and item.dependents:
            if any(dep.deleting_dependents for dep in list(item.dependents)):
                # A dependent that is itself deleting its dependents could be waiting on this
                # object: unblock our references first to break the possible cycle.
                await self._patch(item, _unblock_owner_references_patch(item))
            policy = "Foreground"
        elif FINALIZER_ORPHAN in (latest_meta.get("finalizers") or ()):
            policy = "Orphan"
        elif FINALIZER_FOREGROUND in (latest_meta.get("finalizers") or ()):
            policy = "Foreground"
        else:
            policy = "Background"
        try:
            await self._delete_object(item, latest_meta.get("resourceVersion") or "", references, policy)
        except NotFound:
            self.graph.virtual_delete(item.identity)
            raise _VirtualDeleteEnqueued() from None

    async def _process_deleting_dependents(self, item: Node) -> None:
        blocking = item.blocking_dependents()
        if not blocking:
            await self._remove_finalizer(item, FINALIZER_FOREGROUND)
            return
        for dep in blocking:
            if not dep.deleting_dependents and not dep.being_deleted:
                self._attempt_to_delete(dep)

    async def _latest(self, item: Node) -> Obj:
        """The object's current state: the informer's copy for an observed node (see the
        module doc), a live GET otherwise.  Absent: a virtual delete, and
        ``_VirtualDeleteEnqueued``."""
        identity = item.identity
        api = self._mapping(identity.api_version, identity.kind)
        namespace = identity.namespace if api.namespaced else None
        if not item.virtual:
            informer = self.monitors.get(api.resource)
            if informer is not None:
                cached = informer.indexer.get_object(namespace, identity.name)
                if cached is not None and (cached.get("metadata") or {}).get("uid") == identity.uid:
                    return cached
        try:
            return await self.client.get(api.resource, identity.name, namespace=namespace)
        except NotFound:
            self.graph.virtual_delete(identity)
            raise _VirtualDeleteEnqueued() from None

    async def _classify_references(self, item: Node, references: list[Obj]) -> tuple[list[Obj], list[Obj], list[Obj]]:
        """(solid, dangling, waiting-for-dependents-deletion), as upstream's classifyReferences."""
        solid: list[Obj] = []
        dangling: list[Obj] = []
        waiting: list[Obj] = []
        for ref in references:
            owner = await self._live_owner(ref, item)
            if owner is None:
                dangling.append(ref)
                continue
            meta = owner.get("metadata") or {}
            if meta.get("deletionTimestamp") and FINALIZER_FOREGROUND in (meta.get("finalizers") or ()):
                waiting.append(ref)
            else:
                solid.append(ref)
        return solid, dangling, waiting

    async def _live_owner(self, ref: Obj, item: Node) -> Obj | None:
        """Upstream's isDangling: the owner as the API server has it, or None when it is
        absent (404, or present under another uid) or known absent from the cache."""
        cluster_key = reference_coordinates(ref)
        if cluster_key in self.absent_owner_cache:
            return None
        namespaced_key = reference_coordinates(ref, item.identity.namespace)
        if namespaced_key in self.absent_owner_cache:
            return None
        api = self._mapping(ref.get("apiVersion") or "", ref.get("kind") or "")
        if not api.namespaced:
            namespaced_key = cluster_key
        elif not item.identity.namespace:
            log.info("%s: %s is cluster-scoped but refers to a namespaced owner %s", self.name, item.identity, ref)
            raise _NamespacedOwnerOfClusterScoped()
        try:
            owner = await self.client.get(
                api.resource, ref.get("name") or "", namespace=item.identity.namespace if api.namespaced else None,
            )
        except NotFound:
            self.absent_owner_cache.add(namespaced_key)
            return None
        if (owner.get("metadata") or {}).get("uid") != ref.get("uid"):
            self.absent_owner_cache.add(namespaced_key)
            return None
        return owner

    # -- API operations --------------------------------------------------------------------

    async def _delete_object(self, item: Node, resource_version: str, owners: list[Obj], policy: str) -> None:
        identity = item.identity
        api = self._mapping(identity.api_version, identity.kind)
        namespace = identity.namespace if api.namespaced else None
        preconditions = {"uid": identity.uid}
        if resource_version:
            preconditions["resourceVersion"] = resource_version
        log.debug("%s: deleting %s with propagationPolicy %s", self.name, identity, policy)
        try:
            await self.client.delete(api.resource, identity.name, namespace=namespace,
                                     propagation_policy=policy, preconditions=preconditions)
        except Conflict:
            if not resource_version:
                raise
            try:
                live = await self.client.get(api.resource, identity.name, namespace=namespace)
            except NotFound:
                return  # gone already: what we wanted
            live_meta = live.get("metadata") or {}
            if (
                live_meta.get("uid") == identity.uid and live_meta.get("resourceVersion") != resource_version
                and (live_meta.get("ownerReferences") or []) == owners
            ):
                # Changed, but not in its ownerReferences: rapid unrelated updates must not
                # starve the collector.
                await self.client.delete(api.resource, identity.name, namespace=namespace,
                                         propagation_policy=policy, preconditions={"uid": identity.uid})
            else:
                raise

    async def _patch(self, item: Node, patch: Obj) -> Obj:
        identity = item.identity
        api = self._mapping(identity.api_version, identity.kind)
        return await self.client.patch(
            api.resource, identity.name, patch, namespace=identity.namespace if api.namespaced else None,
            patch_type=PatchType.STRATEGIC,
        )

    async def _orphan_dependents(self, owner: ObjectReference, dependents: list[Node]) -> None:
        """Patch the reference to ``owner`` out of every dependent, at most
        ``concurrent_gc_syncs`` at a time; every failure but NotFound is reported."""
        limit = asyncio.Semaphore(int(self.context.options.get("concurrent_gc_syncs", self.default_workers)))
        errors: list[str] = []

        async def orphan(dependent: Node) -> None:
            async with limit:
                try:
                    await self._patch(dependent, _delete_owner_references_patch(dependent.identity.uid, [owner.uid]))
                except NotFound:
                    pass
                except (ApiError, TransportError, _RestMappingError) as error:
                    errors.append(f"orphaning {dependent.identity} failed, {error}")

        await asyncio.gather(*(orphan(dependent) for dependent in dependents))
        if errors:
            raise _OrphanFailed(f"failed to orphan dependents of owner {owner}, got errors: {'; '.join(errors)}")

    async def _remove_finalizer(self, owner: Node, finalizer: str) -> None:
        """Drop ``finalizer`` with a merge patch carrying the resourceVersion read, retried on
        conflict (upstream's removeFinalizer); an owner already gone is done."""
        identity = owner.identity
        api = self._mapping(identity.api_version, identity.kind)
        namespace = identity.namespace if api.namespaced else None
        delay = 0.01
        for attempt in range(_FINALIZER_RETRIES):
            try:
                live = await self.client.get(api.resource, identity.name, namespace=namespace)
            except NotFound:
                return
            meta = live.get("metadata") or {}
            if meta.get("uid") != identity.uid:
                return
            finalizers = meta.get("finalizers") or []
            if finalizer not in finalizers:
                return
            remaining = [f for f in finalizers if f != finalizer]
            patch = {"metadata": {"resourceVersion": meta.get("resourceVersion"), "finalizers": remaining or None}}
            try:
                await self.client.patch(api.resource, identity.name, patch, namespace=namespace,
                                        patch_type=PatchType.MERGE)
                return
            except NotFound:
                return
            except Conflict:
                if attempt == _FINALIZER_RETRIES - 1:
                    raise
                await asyncio.sleep(delay)
                delay *= 5

    def _report_invalid_namespace(self, dependent: Node, ref: Obj) -> None:
        identity = dependent.identity
        obj = {
            "apiVersion": identity.api_version, "kind": identity.kind,
            "metadata": {"name": identity.name, "namespace": identity.namespace, "uid": identity.uid},
        }
        invalid = reference_coordinates(ref, identity.namespace)
        self.recorder.event(obj, WARNING, "OwnerRefInvalidNamespace",
                            f'ownerRef {invalid} does not exist in namespace "{identity.namespace}"')


def _delete_owner_references_patch(dependent_uid: str, owner_uids: list[str]) -> Obj:
    """Upstream's GenerateDeleteOwnerRefStrategicMergeBytes: the dependent's uid rides along
    as a precondition."""
    return {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": uid} for uid in owner_uids],
                         "uid": dependent_uid}}


def _unblock_owner_references_patch(node: Node) -> Obj:
    refs = [{"uid": ref["uid"], "blockOwnerDeletion": False} for ref in node.owners if ref.get("blockOwnerDeletion")]
    return {"metadata": {"ownerReferences": refs, "uid": node.identity.uid}}
