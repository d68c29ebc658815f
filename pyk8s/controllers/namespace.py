"""The namespace controller, as upstream's pkg/controller/namespace: a namespace being
deleted (deletionTimestamp set, phase Terminating, the ``kubernetes`` finalizer in
``spec.finalizers``) is emptied, then finalized, and the API server removes it.

Settings (``context.options``):

* ``concurrent_namespace_syncs`` (10): namespaces emptied at once;
* ``namespace_sync_period`` (300 s): how often every terminating namespace is looked at
  again even without a change (upstream's --namespace-sync-period).

One sync of a namespace (upstream's namespacedResourcesDeleter.Delete):

1. Read it live; gone or not being deleted: done.  Phase not yet Terminating: set it.
2. Read discovery; for every namespaced resource with the ``delete`` verb: estimate how long
   graceful deletion may still take (pods: the longest terminationGracePeriodSeconds of the
   pods not finished, counted from the namespace's deletionTimestamp), ``deletecollection``
   with propagationPolicy Background (or list and delete one by one where deletecollection
   is not served), then list what is left.
3. Write the status conditions (``NamespaceDeletionDiscoveryFailure``,
   ``NamespaceDeletionGroupVersionParsingFailure``, ``NamespaceDeletionContentFailure``,
   ``NamespaceContentRemaining``, ``NamespaceFinalizersRemaining``) with upstream's reasons
   and messages, when they changed.
4. Something left while graceful deletion or finalizers may still remove it: look again in
   ``estimate / 2 + 1`` seconds.  Failures: retry with back-off (capped at 60 s).
5. Nothing left: remove ``kubernetes`` from spec.finalizers through ``namespaces/{name}/finalize``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from pyk8s.client import (
    NAMESPACES, PODS, ApiError, BucketRateLimiter, Conflict, ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter, MethodNotAllowed, NotFound, RateLimitingQueue, ShutDown, TransportError,
)

from ._base import Controller, ControllerContext
from ._discovery import APIResource, GroupDiscoveryFailed, server_preferred_resources, with_verbs
from ._pods import parse_time, rfc3339

__all__ = ["NamespaceController", "ResourcesRemaining", "FINALIZER_KUBERNETES"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

FINALIZER_KUBERNETES = "kubernetes"
# Upstream's finalizerEstimateSeconds: how long to wait for content held by finalizers.
_FINALIZER_ESTIMATE_SECONDS = 15

DISCOVERY_FAILURE = "NamespaceDeletionDiscoveryFailure"
GROUP_VERSION_PARSING_FAILURE = "NamespaceDeletionGroupVersionParsingFailure"
CONTENT_FAILURE = "NamespaceDeletionContentFailure"
CONTENT_REMAINING = "NamespaceContentRemaining"
FINALIZERS_REMAINING = "NamespaceFinalizersRemaining"

# Upstream's conditionTypes, in order, with the reason and message each has when all is well.
_CONDITION_TYPES = (DISCOVERY_FAILURE, GROUP_VERSION_PARSING_FAILURE, CONTENT_FAILURE, CONTENT_REMAINING, FINALIZERS_REMAINING)
_OK = {
    DISCOVERY_FAILURE: ("ResourcesDiscovered", "All resources successfully discovered"),
    GROUP_VERSION_PARSING_FAILURE: ("ParsedGroupVersions", "All legacy kube types successfully parsed"),
    CONTENT_FAILURE: ("ContentDeleted", "All content successfully deleted, may be waiting on finalization"),
    CONTENT_REMAINING: ("ContentRemoved", "All content successfully removed"),
    FINALIZERS_REMAINING: ("ContentHasNoFinalizers", "All content-preserving finalizers finished"),
}


class ResourcesRemaining(Exception):
    """Content is still being removed; ``estimate`` seconds is how long that may take."""

    def __init__(self, estimate: int) -> None:
        self.estimate = estimate
        super().__init__(f"some content remains in the namespace, estimate {estimate} seconds before it is removed")


def _condition(condition_type: str, reason: str, message: str, status: str = "True") -> Obj:
    return {"type": condition_type, "status": status, "lastTransitionTime": rfc3339(), "reason": reason, "message": message}


class _ConditionUpdater:
    """Upstream's namespaceConditionUpdater: failures seen during one sync become conditions;
    every type not failing gets its "ok" variant."""

    def __init__(self) -> None:
        self.conditions: list[Obj] = []
        self.content_errors: list[str] = []

    def discovery_failed(self, error: Exception) -> None:
        if isinstance(error, GroupDiscoveryFailed):
            message = f"Discovery failed for some groups, {len(error.failed)} failing: {error}"
        else:
            message = str(error)
        self.conditions.append(_condition(DISCOVERY_FAILURE, "DiscoveryFailed", message))

    def content_failed(self, error: Exception) -> None:
        self.content_errors.append(str(error))

    def content_totals(self, remaining: Mapping[APIResource, int], finalizers: Mapping[str, int]) -> None:
        if remaining:
            parts = sorted(
                f"{api.resource.plural}.{api.resource.group} has {count} resource instances"
                for api, count in remaining.items() if count
            )
            self.conditions.append(_condition(
                CONTENT_REMAINING, "SomeResourcesRemain", f"Some resources are remaining: {', '.join(parts)}",
            ))
        if finalizers:
            parts = sorted(f"{name} in {count} resource instances" for name, count in finalizers.items() if count)
            self.conditions.append(_condition(
                FINALIZERS_REMAINING, "SomeFinalizersRemain",
                f"Some content in the namespace has finalizers remaining: {', '.join(parts)}",
            ))

    def apply(self, status: Obj) -> bool:
        """Bring ``status["conditions"]`` up to date; True when anything changed."""
        if self.content_errors and not any(c["type"] == CONTENT_FAILURE for c in self.conditions):
            messages = sorted(self.content_errors)
            self.conditions.append(_condition(
                CONTENT_FAILURE, "ContentDeletionFailed",
                f"Failed to delete all resource types, {len(messages)} remaining: {', '.join(messages)}",
            ))
        current = status.setdefault("conditions", [])
        changed = False
        for condition_type in _CONDITION_TYPES:
            new = next((c for c in self.conditions if c["type"] == condition_type), None)
            if new is None:
                reason, message = _OK[condition_type]
                new = _condition(condition_type, reason, message, status="False")
            old = next((c for c in current if c.get("type") == condition_type), None)
            if old is None:
                current.append(new)
                changed = True
            elif (old.get("status"), old.get("reason"), old.get("message")) != (new["status"], new["reason"], new["message"]):
                if old.get("status") != new["status"]:
                    old["lastTransitionTime"] = rfc3339()
                old.update(status=new["status"], reason=new["reason"], message=new["message"])
                changed = True
        return changed


def _namespace_controller_rate_limiter() -> MaxOfRateLimiter:
    # Upstream's nsControllerRateLimiter: retry at least every minute, 10 qps overall.
    return MaxOfRateLimiter(ItemExponentialFailureRateLimiter(0.005, 60.0), BucketRateLimiter(10.0, 100))


class NamespaceController(Controller):
    name = "namespace-controller"
    default_workers = 10

    def __init__(self, context: ControllerContext) -> None:
        super().__init__(context)
        self.queue = RateLimitingQueue(_namespace_controller_rate_limiter())
        self.metrics.register_queue(self.name, self.queue)
        self.sync_period = float(context.options.get("namespace_sync_period", 300.0))
        self.namespaces = context.informers.informer(NAMESPACES)
        self.namespaces.add_event_handler(on_add=self._enqueue_terminating, on_update=self._on_update)

    def _enqueue_terminating(self, namespace: Obj) -> None:
        if (namespace.get("metadata") or {}).get("deletionTimestamp"):
            self.enqueue((namespace.get("metadata") or {}).get("name") or "")

    def _on_update(self, _old: Obj, new: Obj) -> None:
        self._enqueue_terminating(new)

    async def run(self, workers: int | None = None) -> None:
        count = workers or int(self.context.options.get("concurrent_namespace_syncs", self.default_workers))
        resync = asyncio.create_task(self._resync(), name="namespace-resync")
        try:
            await super().run(count)
        finally:
            resync.cancel()
            await asyncio.gather(resync, return_exceptions=True)

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(self.sync_period)
            for namespace in self.namespaces.indexer.list():
                self._enqueue_terminating(namespace)

    async def _worker(self) -> None:
        # The base worker, except that content still going away is looked at again after
        # the estimate rather than with error back-off (upstream's workFunc).
        while True:
            try:
                key = await self.queue.get()
            except ShutDown:
                return
            started = asyncio.get_running_loop().time()
            try:
                await self.sync(key)
            except asyncio.CancelledError:
                self.queue.done(key)
                raise
            except ResourcesRemaining as remaining:
                wait = remaining.estimate // 2 + 1
                log.debug("%s: content remaining in namespace %s, waiting %d s", self.name, key, wait)
                self.metrics.sync_done(self.name, "requeue", asyncio.get_running_loop().time() - started)
                self.enqueue_after(key, wait)
            except Exception as error:
                if isinstance(error, (ApiError, TransportError, _ContentDeletionFailed, _NamespaceReplaced)):
                    log.info("%s: deletion of namespace %s failed: %s", self.name, key, error)
                else:
                    log.exception("%s: deletion of namespace %s crashed", self.name, key)
                self.metrics.sync_done(self.name, "error", asyncio.get_running_loop().time() - started)
                self.metrics.queue_retry(self.name)
                self.queue.add_rate_limited(key)
            else:
                self.metrics.sync_done(self.name, "success", asyncio.get_running_loop().time() - started)
                self.queue.forget(key)
            self.queue.done(key)

    # -- one namespace ---------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        if self.namespaces.indexer.get(key) is None:
            return
        try:
            namespace = await self.client.get(NAMESPACES, key)
        except NotFound:
            return
        if not namespace["metadata"].get("deletionTimestamp"):
            return
        try:
            namespace = await self._retry_on_conflict(namespace, self._mark_terminating)
        except NotFound:
            return
        if not namespace["metadata"].get("deletionTimestamp"):
            return
        if not (namespace.get("spec") or {}).get("finalizers"):
            await self._delete_finalized(namespace)
            return
        estimate = await self._delete_all_content(namespace)
        if estimate > 0:
            raise ResourcesRemaining(estimate)
        try:
            namespace = await self._retry_on_conflict(namespace, self._finalize)
        except NotFound:
            return
        await self._delete_finalized(namespace)

    async def _retry_on_conflict(self, namespace: Obj, change) -> Obj:
        """Upstream's retryOnConflictError: on a conflict, read the namespace again (same
        uid) and repeat ``change``."""
        latest = namespace
        while True:
            try:
                return await change(latest)
            except Conflict:
                previous = latest
                latest = await self.client.get(NAMESPACES, previous["metadata"]["name"])
                if latest["metadata"].get("uid") != previous["metadata"].get("uid"):
                    raise _NamespaceReplaced("namespace uid has changed across retries") from None

    async def _mark_terminating(self, namespace: Obj) -> Obj:
        if not namespace["metadata"].get("deletionTimestamp") or (namespace.get("status") or {}).get("phase") == "Terminating":
            return namespace
        changed = {**namespace, "status": {**(namespace.get("status") or {}), "phase": "Terminating"}}
        return await self.client.update(NAMESPACES, changed, subresource="status")

    async def _finalize(self, namespace: Obj) -> Obj:
        finalizers = sorted({f for f in (namespace.get("spec") or {}).get("finalizers") or () if f != FINALIZER_KUBERNETES})
        body = {
            "apiVersion": "v1", "kind": "Namespace", "metadata": namespace["metadata"],
            "spec": {**(namespace.get("spec") or {}), "finalizers": finalizers},
        }
        try:
            return await self.client.update(NAMESPACES, body, subresource="finalize")
        except NotFound:
            return {**namespace, "spec": body["spec"]}

    async def _delete_finalized(self, namespace: Obj) -> None:
        """A namespace whose spec.finalizers are all done is deleted with a uid
        precondition (the API server may have removed it at the finalize already)."""
        meta = namespace["metadata"]
        if (namespace.get("spec") or {}).get("finalizers") or meta.get("finalizers"):
            return
        try:
            await self.client.delete(NAMESPACES, meta["name"], preconditions={"uid": meta.get("uid")})
        except (NotFound, Conflict):
            pass

    async def _delete_all_content(self, namespace: Obj) -> int:
        """Delete everything in the namespace; the seconds graceful deletion may still take
        (0: nothing is expected to linger).  Raises the first failure after trying every
        resource and writing the conditions."""
        name = namespace["metadata"]["name"]
        deleted_at = parse_time(namespace["metadata"].get("deletionTimestamp")) or dt.datetime.now(dt.UTC)
        conditions = _ConditionUpdater()
        errors: list[Exception] = []
        try:
            resources, partial = await server_preferred_resources(self.client)
        except (ApiError, TransportError) as error:
            resources, partial = [], None
            errors.append(error)
            conditions.discovery_failed(error)
        if partial is not None:
            errors.append(partial)
            conditions.discovery_failed(partial)
        deletable = [api for api in with_verbs(resources, "delete") if api.namespaced]
        results = await asyncio.gather(*(self._delete_resource(api, name, deleted_at) for api in deletable))
        estimate = 0
        remaining: dict[APIResource, int] = {}
        finalizers: dict[str, int] = {}
        for api, (resource_estimate, count, by_finalizer, error) in zip(deletable, results):
            if error is not None:
                errors.append(error)
                conditions.content_failed(error)
            estimate = max(estimate, resource_estimate)
            if count:
                remaining[api] = count
                for finalizer, number in by_finalizer.items():
                    finalizers[finalizer] = finalizers.get(finalizer, 0) + number
        conditions.content_totals(remaining, finalizers)
        status = {**(namespace.get("status") or {})}
        status["conditions"] = [dict(c) for c in status.get("conditions") or ()]
        if conditions.apply(status):
            try:
                await self.client.update(NAMESPACES, {**namespace, "status": status}, subresource="status")
            except (ApiError, TransportError) as error:
                log.info("%s: couldn't update status condition for namespace %s: %s", self.name, name, error)
        if errors:
            raise _ContentDeletionFailed(errors)
        return estimate

    async def _delete_resource(
        self, api: APIResource, namespace: str, deleted_at: dt.datetime,
    ) -> tuple[int, int, dict[str, int], Exception | None]:
        """Upstream's deleteAllContentForGroupVersionResource: (estimate, objects left,
        objects left per finalizer, failure)."""
        try:
            estimate = await self._estimate_graceful_termination(api, namespace, deleted_at)
        except (ApiError, TransportError) as error:
            return 0, 0, {}, error
        try:
            if not await self._delete_collection(api, namespace):
                await self._delete_each(api, namespace)
            if "list" not in api.verbs:
                return estimate, 0, {}, None
            left = (await self.client.list_all(api.resource, namespace=namespace)).get("items") or []
        except (ApiError, TransportError) as error:
            return estimate, 0, {}, error
        if not left:
            return 0, 0, {}, None  # all gone: nothing to wait for, whatever the estimate said
        by_finalizer: dict[str, int] = {}
        for item in left:
            for finalizer in (item.get("metadata") or {}).get("finalizers") or ():
                by_finalizer[finalizer] = by_finalizer.get(finalizer, 0) + 1
        if estimate:
            return estimate, len(left), by_finalizer, None
        if by_finalizer:
            # Content held by finalizers is normal: give them time to finish.
            return _FINALIZER_ESTIMATE_SECONDS, len(left), by_finalizer, None
        unexpected = RuntimeError(
            f"unexpected items still remain in namespace: {namespace} for gvr: {_gvr(api)}"
        )
        return estimate, len(left), {}, unexpected

    async def _estimate_graceful_termination(self, api: APIResource, namespace: str, deleted_at: dt.datetime) -> int:
        if api.resource != PODS:
            return 0
        estimate = 0
        for pod in (await self.client.list_all(PODS, namespace=namespace)).get("items") or ():
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
            if grace is not None and grace > estimate:
                estimate = grace
        elapsed = (dt.datetime.now(dt.UTC) - deleted_at).total_seconds()
        return 0 if elapsed >= estimate else estimate

    async def _delete_collection(self, api: APIResource, namespace: str) -> bool:
        """False when the resource has no deletecollection (then each item is deleted).
        Background propagation, so the API server does not put the orphan finalizer on
        objects whose kind defaults to orphaning."""
        if "deletecollection" not in api.verbs:
            return False
        try:
            await self.client.delete_collection(api.resource, namespace=namespace, propagation_policy="Background")
        except (MethodNotAllowed, NotFound):
            return False
        return True

    async def _delete_each(self, api: APIResource, namespace: str) -> None:
        if "list" not in api.verbs:
            return
        for item in (await self.client.list_all(api.resource, namespace=namespace)).get("items") or ():
            try:
                await self.client.delete(api.resource, item["metadata"]["name"], namespace=namespace,
                                         propagation_policy="Background")
            except NotFound:
                pass


class _NamespaceReplaced(Exception):
    """The namespace was deleted and created again while one sync was retrying."""


class _ContentDeletionFailed(Exception):
    def __init__(self, errors: Iterable[Exception]) -> None:
        self.errors = list(errors)
        super().__init__(", ".join(str(error) for error in self.errors))


def _gvr(api: APIResource) -> str:
    resource = api.resource
    return f"{resource.group}/{resource.version}, Resource={resource.plural}"
