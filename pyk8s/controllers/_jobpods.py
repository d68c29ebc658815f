"""The Job controller's pod writes (upstream's pkg/controller/job pod handling and the
PodControllerRefManager it uses): claiming pods (adopting matching orphans, releasing pods
that stopped matching), creating pods from the template with the tracking finalizer,
deleting pods, and removing the tracking finalizer once a pod is counted.

Every write that the informer will echo is announced first, in ``ControllerExpectations``
(creations, deletions) or ``FinalizerRemovals`` (per pod uid), so a sync that runs before
the echo arrives neither over-creates nor counts a pod twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping

import orjson

from pyk8s.client import JOBS, ApiClient, ApiError, Indexer, Invalid, NotFound, TransportError

from ._expectations import ControllerExpectations
from ._jobutil import COMPLETION_INDEX_KEY, JOB_TRACKING_FINALIZER, has_tracking_finalizer
from ._pods import (
    SLOW_START_INITIAL_BATCH_SIZE, PodControl, controller_ref, is_namespace_terminating_error, is_pod_ready,
    owner_reference, pods_for_owner, selector_matches, slow_start_batch,
)

__all__ = ["FinalizerRemovals", "JobPods", "REMOVE_TRACKING_FINALIZER"]

Obj = dict

REMOVE_TRACKING_FINALIZER = {"metadata": {"$deleteFromPrimitiveList/finalizers": [JOB_TRACKING_FINALIZER]}}
COMPLETION_INDEX_ENV = "JOB_COMPLETION_INDEX"
# names.MaxGeneratedNameLength: a generateName prefix leaves room for the random suffix.
_MAX_GENERATED_NAME_PREFIX = 58


def _uid(obj: Mapping) -> str:
    return (obj.get("metadata") or {}).get("uid") or ""


class FinalizerRemovals:
    """Upstream's uidTrackingExpectations: per Job key, the uids of pods whose tracking
    finalizer this controller removed but whose update the informer has not delivered yet.
    Until then the cached pod still shows the finalizer, and must not be counted again."""

    def __init__(self) -> None:
        self._uids: dict[str, set[str]] = {}

    def expected(self, key: str) -> frozenset[str]:
        return frozenset(self._uids.get(key, ()))

    def expect(self, key: str, uids: Iterable[str]) -> None:
        self._uids.setdefault(key, set()).update(uids)

    def observed(self, key: str, uid: str) -> None:
        uids = self._uids.get(key)
        if uids is not None:
            uids.discard(uid)
            if not uids:
                del self._uids[key]

    def delete(self, key: str) -> None:
        self._uids.pop(key, None)


def _tally(results: list) -> tuple[int, int, BaseException | None]:
    """(ready pods handled, pods handled, first error) from gathered per-pod results, each
    ``is_pod_ready`` of the pod or an exception."""
    errors = [result for result in results if isinstance(result, BaseException)]
    ready = sum(1 for result in results if result is True)
    return ready, len(results) - len(errors), errors[0] if errors else None


class JobPods:
    def __init__(self, client: ApiClient, pod_control: PodControl, pods: Indexer,
                 expectations: ControllerExpectations, finalizer_removals: FinalizerRemovals) -> None:
        self.client = client
        self.pod_control = pod_control
        self.pods = pods
        self.expectations = expectations
        self.finalizer_removals = finalizer_removals

    # -- claiming (upstream's getPodsForJob / ClaimPods) -----------------------------------

    async def claim(self, job: Obj) -> list[Obj]:
        """The pods the Job manages: its own that still match its selector, and matching
        orphans, which it adopts (ownerReference and tracking finalizer).  Its own pods that
        stopped matching are released."""
        meta, selector = job["metadata"], job["spec"].get("selector")
        deleting = bool(meta.get("deletionTimestamp"))
        claimed: list[Obj] = []
        may_adopt: bool | None = None
        for pod in pods_for_owner(self.pods, job):
            pod_meta = pod["metadata"]
            matches = selector_matches(selector, pod_meta.get("labels") or {})
            if controller_ref(pod) is not None:
                if matches:
                    claimed.append(pod)
                elif not deleting:
                    await self._release(pod, job)
                continue
            if deleting or pod_meta.get("deletionTimestamp") or not matches:
                continue
            if may_adopt is None:
                may_adopt = await self._may_adopt(job)
            if may_adopt and await self._adopt(pod, job):
                # Counted as the patched pod will be, finalizer included.
                if not has_tracking_finalizer(pod):
                    pod = orjson.loads(orjson.dumps(pod))
                    pod["metadata"]["finalizers"] = list(pod_meta.get("finalizers") or ()) + [JOB_TRACKING_FINALIZER]
                claimed.append(pod)
        return claimed

    async def _may_adopt(self, job: Obj) -> bool:
        """A live read before adopting (upstream's RecheckDeletionTimestamp): the cache may
        not show yet that the Job is being deleted or was replaced."""
        meta = job["metadata"]
        try:
            fresh = await self.client.get(JOBS, meta["name"], namespace=meta.get("namespace"))
        except NotFound:
            return False
        fresh_meta = fresh.get("metadata") or {}
        return fresh_meta.get("uid") == meta.get("uid") and not fresh_meta.get("deletionTimestamp")

    async def _adopt(self, pod: Obj, job: Obj) -> bool:
        meta = pod["metadata"]
        # The pod's uid in the patch makes it fail on a pod recreated under the same name.
        patch = {"metadata": {"ownerReferences": [owner_reference(job)], "uid": meta.get("uid"),
                              "finalizers": [JOB_TRACKING_FINALIZER]}}
        try:
            await self.pod_control.patch_pod(meta.get("namespace") or "", meta["name"], patch)
        except NotFound:
            return False
        return True

    async def _release(self, pod: Obj, job: Obj) -> None:
        meta = pod["metadata"]
        patch: Obj = {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": _uid(job)}], "uid": meta.get("uid")}}
        if has_tracking_finalizer(pod):
            patch["metadata"]["$deleteFromPrimitiveList/finalizers"] = [JOB_TRACKING_FINALIZER]
        try:
            await self.pod_control.patch_pod(meta.get("namespace") or "", meta["name"], patch)
        except (NotFound, Invalid):
            pass  # gone, or its owner reference changed meanwhile: not ours to release

    # -- creating --------------------------------------------------------------------------

    @staticmethod
    def template(job: Obj) -> Obj:
        """The pod template with the tracking finalizer (and, for Indexed Jobs, the
        JOB_COMPLETION_INDEX variable in every container)."""
        template = orjson.loads(orjson.dumps(job["spec"].get("template") or {}))
        meta = template.setdefault("metadata", {})
        finalizers = list(meta.get("finalizers") or ())
        if JOB_TRACKING_FINALIZER not in finalizers:
            finalizers.append(JOB_TRACKING_FINALIZER)
        meta["finalizers"] = finalizers
        if job["spec"].get("completionMode") == "Indexed":
            pod_spec = template.setdefault("spec", {})
            for container in (pod_spec.get("initContainers") or []) + (pod_spec.get("containers") or []):
                env = container.setdefault("env", [])
                if not any(variable.get("name") == COMPLETION_INDEX_ENV for variable in env):
                    env.append({"name": COMPLETION_INDEX_ENV, "valueFrom": {"fieldRef": {
                        "fieldPath": f"metadata.labels['{COMPLETION_INDEX_KEY}']"}}})
        return template

    @staticmethod
    def indexed_template(template: Obj, job_name: str, index: int) -> tuple[Obj, str]:
        """(the template for completion ``index``, its generateName)."""
        indexed = orjson.loads(orjson.dumps(template))
        meta = indexed["metadata"]
        meta.setdefault("annotations", {})[COMPLETION_INDEX_KEY] = str(index)
        meta.setdefault("labels", {})[COMPLETION_INDEX_KEY] = str(index)
        indexed.setdefault("spec", {})["hostname"] = f"{job_name}-{index}"
        suffix = f"-{index}-"
        prefix = job_name + suffix
        if len(prefix) > _MAX_GENERATED_NAME_PREFIX:
            prefix = job_name[:_MAX_GENERATED_NAME_PREFIX - len(suffix)] + suffix
        return indexed, prefix

    async def create(self, job: Obj, key: str, count: int, indexes: list[int]) -> tuple[int, BaseException | None]:
        """Create ``count`` pods (one per entry of ``indexes`` for an Indexed Job) in
        slow-start batches; (how many were created, the first error)."""
        self.expectations.expect_creations(key, count)
        template = self.template(job)
        pending_indexes = list(indexes)
        attempts = 0

        async def create_one() -> None:
            nonlocal attempts
            attempts += 1
            pod_template, generate_name = template, None
            if pending_indexes:
                pod_template, generate_name = self.indexed_template(template, job["metadata"]["name"],
                                                                    pending_indexes.pop(0))
            try:
                await self.pod_control.create_pod(pod_template, job, generate_name=generate_name)
            except Exception as error:
                if is_namespace_terminating_error(error):
                    return  # every later create would fail alike; the namespace is going away
                self.expectations.creation_observed(key)  # no informer event will come for it
                raise

        created, error = await slow_start_batch(count, SLOW_START_INITIAL_BATCH_SIZE, create_one)
        for _ in range(count - attempts):
            self.expectations.creation_observed(key)  # skipped after a failed batch
        return created, error

    # -- deleting --------------------------------------------------------------------------

    async def delete_unwanted(self, job: Obj, key: str, pods: list[Obj]) -> tuple[int, int, BaseException | None]:
        """Delete pods the Job no longer wants (surplus, or suspended).  They are not
        counted: their finalizer goes first.  (ready ones deleted, deleted, first error)."""
        if not pods:
            return 0, 0, None
        self.expectations.expect_deletions(key, len(pods))

        async def delete(pod: Obj) -> bool:
            meta = pod["metadata"]
            namespace = meta.get("namespace") or ""
            try:
                if has_tracking_finalizer(pod):
                    await self.pod_control.patch_pod(namespace, meta["name"], REMOVE_TRACKING_FINALIZER)
                await self.pod_control.delete_pod(namespace, meta["name"], job)
            except Exception as error:
                self.expectations.deletion_observed(key)  # no informer event will come for it
                if not isinstance(error, NotFound):
                    raise
            return is_pod_ready(pod)

        return _tally(await asyncio.gather(*(delete(pod) for pod in pods), return_exceptions=True))

    async def delete_active(self, job: Obj, pods: list[Obj]) -> tuple[int, int, BaseException | None]:
        """A finishing Job's active pods: deleted with the finalizer kept, so each is
        counted (as failed) before it goes."""

        async def delete(pod: Obj) -> bool:
            meta = pod["metadata"]
            try:
                await self.pod_control.delete_pod(meta.get("namespace") or "", meta["name"], job)
            except NotFound:
                pass
            return is_pod_ready(pod)

        return _tally(await asyncio.gather(*(delete(pod) for pod in pods), return_exceptions=True))

    # -- the tracking finalizer ------------------------------------------------------------

    async def remove_tracking_finalizers(self, key: str, pods: list[Obj]) -> tuple[list[bool], BaseException | None]:
        """Per pod, whether its finalizer is gone (a pod already deleted counts as gone);
        the first error."""
        self.finalizer_removals.expect(key, (_uid(pod) for pod in pods))

        async def remove(pod: Obj) -> bool:
            meta = pod["metadata"]
            try:
                await self.pod_control.patch_pod(meta.get("namespace") or "", meta["name"], REMOVE_TRACKING_FINALIZER)
            except (ApiError, TransportError) as error:
                self.finalizer_removals.observed(key, _uid(pod))  # no update will be observed
                if not isinstance(error, NotFound):
                    raise
            return True

        results = await asyncio.gather(*(remove(pod) for pod in pods), return_exceptions=True)
        errors = [result for result in results if isinstance(result, BaseException)]
        return [result is True for result in results], errors[0] if errors else None

    async def remove_orphan_finalizer(self, pod: Obj) -> None:
        meta = pod["metadata"]
        try:
            await self.pod_control.patch_pod(meta.get("namespace") or "", meta["name"], REMOVE_TRACKING_FINALIZER)
        except NotFound:
            pass
