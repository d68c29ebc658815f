"""Claiming pods for a controller, as upstream's pkg/controller/controller_ref_manager.go.

A controller owns the pods whose controller ownerReference carries its uid.  On every sync
it *claims* the candidates (its own pods and its namespace's orphans):

* owned and matching its selector: claimed, nothing to do (even while it is being deleted);
* owned but no longer matching: released (ownerReference removed), unless it is being
  deleted (the garbage collector then deals with its pods);
* an orphan that matches, is not being deleted, in its namespace: adopted (a controller
  ownerReference patched in), unless the controller itself is being deleted.

Before the first adoption of a sync the controller is re-read from the API server (not the
cache): a controller deleted, or deleted and re-created under the same name, since the cache
was filled must not adopt (upstream's RecheckDeletionTimestamp and uid check, #42639).  The
patches carry the pod's uid as well, so a pod re-created under the same name is not touched.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from pyk8s.client import ApiError, Invalid, NotFound, TransportError

from ._pods import Obj, PodControl, controller_ref, is_terminating, selector_matcher

__all__ = ["PodControllerRefManager", "CannotAdopt", "adopt_patch", "release_patch", "recheck_deletion_timestamp"]

log = logging.getLogger(__name__)


class CannotAdopt(Exception):
    """The fresh read of the controller says it must not adopt (deleted, or a new uid)."""


def adopt_patch(owner: Mapping, pod_uid: str) -> Obj:
    """Strategic merge patch adding a controller ownerReference (merged by uid)."""
    meta = owner["metadata"]
    reference = {
        "apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": meta["name"], "uid": meta["uid"],
        "controller": True, "blockOwnerDeletion": True,
    }
    return {"metadata": {"ownerReferences": [reference], "uid": pod_uid}}


def release_patch(owner_uid: str, pod_uid: str) -> Obj:
    """Strategic merge patch deleting the ownerReference with ``owner_uid``."""
    return {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": owner_uid}], "uid": pod_uid}}


def recheck_deletion_timestamp(get_fresh: Callable[[], Awaitable[Mapping]], uid: str) -> Callable[[], Awaitable[None]]:
    """An ``can_adopt`` check: ``get_fresh()`` (a quorum read) must return the same object
    (same uid) and it must not be being deleted."""

    async def can_adopt() -> None:
        try:
            fresh = await get_fresh()
        except (ApiError, TransportError) as error:
            raise CannotAdopt(f"can't recheck DeletionTimestamp: {error}") from error
        meta = fresh.get("metadata") or {}
        if meta.get("uid") != uid:
            raise CannotAdopt(f"original {meta.get('namespace')}/{meta.get('name')} is gone: "
                              f"got uid {meta.get('uid')}, wanted {uid}")
        if meta.get("deletionTimestamp"):
            raise CannotAdopt(f"{meta.get('namespace')}/{meta.get('name')} has just been deleted at "
                              f"{meta['deletionTimestamp']}")

    return can_adopt


class PodControllerRefManager:
    def __init__(self, pod_control: PodControl, controller: Mapping, selector: Mapping,
                 can_adopt: Callable[[], Awaitable[None]]) -> None:
        self.pod_control = pod_control
        self.controller = controller
        self.selector = selector
        self.can_adopt = can_adopt

    async def claim_pods(self, pods: list[Obj], *,
                         extra_match: Callable[[Obj], bool] | None = None) -> tuple[list[Obj], list[BaseException]]:
        """(the pods this controller now owns, the errors of failed adoptions/releases).
        ``extra_match`` narrows the selector (upstream's filters argument)."""
        meta = self.controller["metadata"]
        uid, namespace = meta["uid"], meta.get("namespace")
        being_deleted = bool(meta.get("deletionTimestamp"))
        selector_matches = selector_matcher(self.selector)
        claimed: list[Obj] = []
        to_adopt: list[Obj] = []
        to_release: list[Obj] = []
        for pod in pods:
            pod_meta = pod["metadata"]
            matches = selector_matches(pod_meta.get("labels") or {}) and (
                extra_match is None or extra_match(pod))
            ref = controller_ref(pod)
            if ref is not None:
                if ref.get("uid") != uid:
                    continue
                if matches:
                    claimed.append(pod)
                elif not being_deleted:
                    to_release.append(pod)
                continue
            if being_deleted or not matches or is_terminating(pod):
                continue
            if namespace and pod_meta.get("namespace") != namespace:
                continue
            to_adopt.append(pod)
        errors: list[BaseException] = []
        if to_release:
            errors += [e for e in await asyncio.gather(*(self._release(pod) for pod in to_release)) if e is not None]
        if to_adopt:
            try:
                await self.can_adopt()
            except CannotAdopt as refusal:
                # The informer delivers the deletion (or the new object) that made the fresh
                # read differ, and that event syncs this controller again.
                log.info("%s/%s: not adopting %d pods: %s", namespace, meta.get("name"), len(to_adopt), refusal)
                return claimed, errors
            results = await asyncio.gather(*(self._adopt(pod) for pod in to_adopt))
            for result in results:
                if isinstance(result, BaseException):
                    errors.append(result)
                elif result is not None:
                    claimed.append(result)
        return claimed, errors

    async def _adopt(self, pod: Obj) -> Obj | BaseException | None:
        pod_meta = pod["metadata"]
        try:
            return await self.pod_control.patch_pod(
                pod_meta["namespace"], pod_meta["name"], adopt_patch(self.controller, pod_meta["uid"]))
        except NotFound:
            return None
        except (ApiError, TransportError) as error:
            # Someone else claimed it first, or a transient failure: the sync is retried.
            return error

    async def _release(self, pod: Obj) -> BaseException | None:
        pod_meta = pod["metadata"]
        try:
            await self.pod_control.patch_pod(
                pod_meta["namespace"], pod_meta["name"], release_patch(self.controller["metadata"]["uid"], pod_meta["uid"]))
        except (NotFound, Invalid):
            # Gone, or re-created under the same name (uid mismatch), or already released.
            return None
        except (ApiError, TransportError) as error:
            return error
        return None
