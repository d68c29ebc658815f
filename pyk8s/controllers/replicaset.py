"""The ReplicaSet controller, as upstream's pkg/controller/replicaset.

One sync of a ReplicaSet ``ns/name``:

1. Its candidate pods come from the pods informer's controller-uid index: the pods it
   controls and its namespace's orphans (no scan of every pod).  Pods that are finished
   (Succeeded/Failed) or being deleted are not active and are not counted.
2. It claims them: keeps its own matching pods, releases its pods whose labels stopped
   matching, adopts matching orphans (``_controller_ref``).
3. If its expectations are satisfied (every pod it created or deleted in an earlier sync
   has reached the informer) and it is not being deleted, it creates or deletes pods to
   reach ``spec.replicas``, at most ``burst_replicas`` (500) per sync: creations in
   slow-start batches (1, 2, 4, ...; the first failing batch ends the sync), deletions of
   the pods ranked first by ``pods_to_delete``.  Expectations are set before the first
   write so that no sync over-creates while the watch catches up.
4. It writes ``status`` through the status subresource when anything changed: replicas,
   fullyLabeledReplicas, readyReplicas, availableReplicas (Ready for minReadySeconds),
   terminatingReplicas, observedGeneration, and the ReplicaFailure condition while pod
   creation or deletion fails.  A ReplicaSet whose pods are all ready but not yet all
   available is synced again after minReadySeconds.

Options: none of its own; ``concurrent_replicaset_syncs`` (the manager's workers count).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Mapping

from pyk8s.client import PODS, REPLICA_SETS, ApiError, Conflict, NotFound, TransportError, object_key

from ._base import Controller, ControllerContext
from ._controller_ref import PodControllerRefManager, recheck_deletion_timestamp
from ._expectations import UIDTrackingExpectations
from ._pods import (
    SLOW_START_INITIAL_BATCH_SIZE, Obj, PodControl, add_pod_controller_uid_index, controller_ref, error_text,
    is_namespace_terminating_error, is_pod_available, is_pod_ready, pods_for_owner, pods_to_delete, rfc3339,
    selector_matcher, selector_matches, slow_start_batch,
)

__all__ = ["ReplicaSetController", "BURST_REPLICAS", "REPLICA_SET_CONTROLLER_UID_INDEX", "calculate_status"]

log = logging.getLogger(__name__)

BURST_REPLICAS = 500  # upstream BurstReplicas: creations or deletions per sync
STATUS_UPDATE_RETRIES = 1
REPLICA_FAILURE = "ReplicaFailure"
# ReplicaSets by the uid of their controller (a Deployment), to find a ReplicaSet's siblings.
REPLICA_SET_CONTROLLER_UID_INDEX = "controllerUID"


def _replica_set_controller_uid(rs: Obj) -> list[str]:
    ref = controller_ref(rs)
    return [ref["uid"]] if ref is not None and ref.get("uid") else []


def _replicas(rs: Mapping) -> int:
    replicas = (rs.get("spec") or {}).get("replicas")
    return 1 if replicas is None else int(replicas)


def calculate_status(rs: Mapping, active_pods: list[Obj], terminating_pods: list[Obj],
                     manage_error: BaseException | None, now: dt.datetime | None = None) -> Obj:
    """Upstream's calculateStatus: the counts over the claimed active pods, and the
    ReplicaFailure condition set when managing replicas failed (kept, not re-stamped, while
    it keeps failing) and removed once it succeeds."""
    spec = rs.get("spec") or {}
    status = dict(rs.get("status") or {})
    template_labels = (((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}).items()
    min_ready_seconds = spec.get("minReadySeconds") or 0
    now = now or dt.datetime.now(dt.UTC)
    fully_labeled = ready = available = 0
    for pod in active_pods:
        if template_labels <= (pod["metadata"].get("labels") or {}).items():
            fully_labeled += 1
        if is_pod_ready(pod):
            ready += 1
            if min_ready_seconds <= 0 or is_pod_available(pod, min_ready_seconds, now):
                available += 1
    conditions = [dict(c) for c in status.get("conditions") or ()]
    failure = next((c for c in conditions if c.get("type") == REPLICA_FAILURE), None)
    if manage_error is not None and failure is None:
        difference = len(active_pods) - _replicas(rs)
        reason = "FailedCreate" if difference < 0 else "FailedDelete" if difference > 0 else ""
        conditions.append({
            "type": REPLICA_FAILURE, "status": "True", "lastTransitionTime": rfc3339(now),
            "reason": reason, "message": error_text(manage_error),
        })
    elif manage_error is None and failure is not None:
        conditions = [c for c in conditions if c.get("type") != REPLICA_FAILURE]
    if conditions:
        status["conditions"] = conditions
    else:
        status.pop("conditions", None)
    status.update(replicas=len(active_pods), fullyLabeledReplicas=fully_labeled, readyReplicas=ready,
                  availableReplicas=available, terminatingReplicas=len(terminating_pods))
    return status


def _status_unchanged(rs: Mapping, new: Mapping) -> bool:
    old = rs.get("status") or {}
    counts = ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas")
    return (
        all((old.get(field) or 0) == new.get(field) for field in counts)
        and old.get("terminatingReplicas") == new.get("terminatingReplicas")
        and (rs["metadata"].get("generation") or 0) == (old.get("observedGeneration") or 0)
        and (old.get("conditions") or None) == (new.get("conditions") or None)
    )


class ReplicaSetController(Controller):
    name = "replicaset-controller"
    default_workers = 5
    burst_replicas = BURST_REPLICAS
    kind = "ReplicaSet"

    def __init__(self, context: ControllerContext) -> None:
        super().__init__(context)
        self.expectations = UIDTrackingExpectations()
        self.pod_control = PodControl(self.client, self.recorder)
        self.replica_sets = self.informers.informer(REPLICA_SETS)
        self.pods = self.informers.informer(PODS)
        add_pod_controller_uid_index(self.pods)
        try:
            self.replica_sets.indexer.index_values(REPLICA_SET_CONTROLLER_UID_INDEX)
        except KeyError:
            self.replica_sets.add_indexers({REPLICA_SET_CONTROLLER_UID_INDEX: _replica_set_controller_uid})
        self.replica_sets.add_event_handler(self._rs_added, self._rs_updated, self._rs_deleted)
        self.pods.add_event_handler(self._pod_added, self._pod_updated, self._pod_deleted)

    # -- ReplicaSet events -----------------------------------------------------------------

    def _rs_added(self, rs: Obj) -> None:
        self.enqueue(object_key(rs))

    def _rs_updated(self, old: Obj, new: Obj) -> None:
        if old["metadata"].get("uid") != new["metadata"].get("uid"):
            # Deleted and re-created between two watch events: forget the old one first.
            self._rs_deleted(old)
        # Any change syncs (a status write included): a ReplicaSet whose creates failed is
        # retried on the informer's resync rather than stalling.
        self.enqueue(object_key(new))

    def _rs_deleted(self, rs: Obj) -> None:
        key = object_key(rs)
        # A ReplicaSet re-created under the same name starts without stale expectations.
        self.expectations.delete_expectations(key)
        self.enqueue(key)

    # -- pod events ------------------------------------------------------------------------

    def _resolve_controller_ref(self, namespace: str, ref: Mapping) -> Obj | None:
        if ref.get("kind") != self.kind:
            return None
        rs = self.replica_sets.indexer.get_object(namespace, ref.get("name") or "")
        if rs is None or rs["metadata"].get("uid") != ref.get("uid"):
            # A different ReplicaSet by the same name: the pod's owner is gone.
            return None
        return rs

    def _replica_sets_for_pod(self, pod: Obj) -> list[Obj]:
        """The ReplicaSets of the pod's namespace whose selector matches it (who might adopt it)."""
        namespace = pod["metadata"].get("namespace") or ""
        labels = pod["metadata"].get("labels") or {}
        return [rs for rs in self.replica_sets.indexer.by_index("namespace", namespace)
                if selector_matches((rs.get("spec") or {}).get("selector"), labels)]

    def _pod_added(self, pod: Obj) -> None:
        meta = pod["metadata"]
        if meta.get("deletionTimestamp"):
            # Seen for the first time already being deleted (e.g. after a restart): that is
            # not the creation anyone waits for.
            self._pod_deleted(pod)
            return
        ref = controller_ref(pod)
        if ref is not None:
            rs = self._resolve_controller_ref(meta.get("namespace") or "", ref)
            if rs is not None:
                key = object_key(rs)
                self.expectations.creation_observed(key)
                self.enqueue(key)
            return
        # An orphan: every matching ReplicaSet may want it; no creation is observed, since
        # nobody waits for an orphan.
        for rs in self._replica_sets_for_pod(pod):
            self.enqueue(object_key(rs))

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        old_meta, new_meta = old["metadata"], new["metadata"]
        if old_meta.get("resourceVersion") == new_meta.get("resourceVersion"):
            return  # a periodic resync: nothing changed
        labels_changed = old_meta.get("labels") != new_meta.get("labels")
        if new_meta.get("deletionTimestamp"):
            # A graceful delete shows first as this update; the ReplicaSet replaces the pod
            # now rather than when the kubelet finally removes it.
            self._pod_deleted(new)
            if labels_changed:
                self._pod_deleted(old)
            return
        new_ref, old_ref = controller_ref(new), controller_ref(old)
        namespace = new_meta.get("namespace") or ""
        ref_changed = new_ref != old_ref
        if ref_changed and old_ref is not None:
            previous = self._resolve_controller_ref(namespace, old_ref)
            if previous is not None:
                self.enqueue(object_key(previous))
        if new_ref is not None:
            rs = self._resolve_controller_ref(namespace, new_ref)
            if rs is None:
                return
            key = object_key(rs)
            self.enqueue(key)
            min_ready_seconds = (rs.get("spec") or {}).get("minReadySeconds") or 0
            if min_ready_seconds > 0 and not is_pod_ready(old) and is_pod_ready(new):
                # Available minReadySeconds after Ready: look again then (+1 s for the
                # second-resolution timestamps).
                self.enqueue_after(key, min_ready_seconds + 1)
            return
        if labels_changed or ref_changed:
            for rs in self._replica_sets_for_pod(new):
                self.enqueue(object_key(rs))

    def _pod_deleted(self, pod: Obj) -> None:
        ref = controller_ref(pod)
        if ref is None:
            return  # nobody cares about a deleted orphan
        rs = self._resolve_controller_ref(pod["metadata"].get("namespace") or "", ref)
        if rs is None:
            return
        key = object_key(rs)
        self.expectations.deletion_observed(key, object_key(pod))
        self.enqueue(key)

    # -- the sync --------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        rs = self.replica_sets.indexer.get(key)
        if rs is None:
            self.expectations.delete_expectations(key)
            return
        needs_sync = self.expectations.satisfied(key)
        meta, spec = rs["metadata"], rs.get("spec") or {}
        selector = spec.get("selector")
        uid = meta["uid"]
        selector_matches = selector_matcher(selector)
        # One pass over the candidates: active ones are claimed; this ReplicaSet's matching
        # pods that are being deleted but not finished are its terminatingReplicas.
        active: list[Obj] = []
        terminating: list[Obj] = []
        for pod in pods_for_owner(self.pods.indexer, rs):
            phase = (pod.get("status") or {}).get("phase")
            if phase in ("Succeeded", "Failed"):
                continue
            if not pod["metadata"].get("deletionTimestamp"):
                active.append(pod)
            elif (controller_ref(pod) or {}).get("uid") == uid and selector_matches(pod["metadata"].get("labels") or {}):
                terminating.append(pod)
        claimed, claim_errors = await self._claim_pods(rs, selector, active)
        if claim_errors:
            raise claim_errors[0]
        manage_error: Exception | None = None
        if needs_sync and not meta.get("deletionTimestamp"):
            try:
                await self._manage_replicas(key, rs, claimed)
            except (ApiError, TransportError, ValueError) as error:
                manage_error = error
        status = calculate_status(rs, claimed, terminating, manage_error)
        updated = await self._update_status(rs, status)
        if manage_error is not None:
            raise manage_error
        updated_spec, updated_status = updated.get("spec") or {}, updated.get("status") or {}
        min_ready_seconds = updated_spec.get("minReadySeconds") or 0
        if (min_ready_seconds > 0 and updated_status.get("readyReplicas") == _replicas(updated)
                and updated_status.get("availableReplicas") != _replicas(updated)):
            # The last line against pods whose readiness update was missed or clocks skewed.
            self.enqueue_after(key, min_ready_seconds)

    async def _claim_pods(self, rs: Obj, selector: Mapping | None, pods: list[Obj]) -> tuple[list[Obj], list]:
        namespace, name, uid = rs["metadata"].get("namespace"), rs["metadata"]["name"], rs["metadata"]["uid"]

        async def fresh() -> Obj:
            return await self.client.get(REPLICA_SETS, name, namespace=namespace)

        manager = PodControllerRefManager(self.pod_control, self._as_owner(rs), selector or {},
                                          recheck_deletion_timestamp(fresh, uid))
        return await manager.claim_pods(pods)

    def _as_owner(self, rs: Obj) -> Obj:
        # Watch and list items carry apiVersion/kind on this server; be explicit anyway,
        # since ownerReferences and Events need them.
        if rs.get("apiVersion") and rs.get("kind"):
            return rs
        return {**rs, "apiVersion": "apps/v1", "kind": self.kind}

    async def _manage_replicas(self, key: str, rs: Obj, active: list[Obj]) -> None:
        difference = len(active) - _replicas(rs)
        owner = self._as_owner(rs)
        if difference < 0:
            count = min(-difference, self.burst_replicas)
            self.expectations.expect_creations(key, count)
            log.debug("%s: too few replicas: need %d, creating %d", key, _replicas(rs), count)
            template = (rs.get("spec") or {}).get("template") or {}

            async def create() -> None:
                try:
                    await self.pod_control.create_pod(template, owner)
                except ApiError as error:
                    # Every create fails while the namespace is being deleted: not an error.
                    if not is_namespace_terminating_error(error):
                        raise

            successes, error = await slow_start_batch(count, SLOW_START_INITIAL_BATCH_SIZE, create)
            skipped = count - successes
            if skipped > 0:
                # Creates that failed or were never tried produce no informer event.
                self.expectations.lower_expectations(key, skipped, 0)
            if error is not None:
                raise error
        elif difference > 0:
            count = min(difference, self.burst_replicas)
            log.debug("%s: too many replicas: need %d, deleting %d", key, _replicas(rs), count)
            victims = pods_to_delete(active, self._indirectly_related_pods(rs), count)
            # Expect exactly these pods, so each is counted once whether its delete shows
            # as an update (deletionTimestamp) or as the delete itself.
            self.expectations.expect_deletions(key, [object_key(pod) for pod in victims])
            results = await asyncio.gather(
                *(self.pod_control.delete_pod(pod["metadata"]["namespace"], pod["metadata"]["name"], owner)
                  for pod in victims),
                return_exceptions=True,
            )
            first_error: BaseException | None = None
            for pod, result in zip(victims, results):
                if isinstance(result, BaseException):
                    # No informer event will come for a delete that failed.
                    self.expectations.deletion_observed(key, object_key(pod))
                    if not isinstance(result, NotFound) and first_error is None:
                        first_error = result
            if first_error is not None:
                raise first_error

    def _indirectly_related_pods(self, rs: Obj) -> list[Obj]:
        """Pods of the ReplicaSets that share this one's controller (a Deployment's old and
        new ReplicaSets): a pod on a node crowded with them is deleted first.  Upstream
        lists each sibling's selector; their owned pods are the same set for the
        Deployment-managed ReplicaSets this matters for, and come from the index."""
        ref = controller_ref(rs)
        if ref is None or not ref.get("uid"):
            return []
        seen: set[str] = set()
        related: list[Obj] = []
        for sibling in self.replica_sets.indexer.by_index(REPLICA_SET_CONTROLLER_UID_INDEX, ref["uid"]):
            for pod in pods_for_owner(self.pods.indexer, sibling, include_orphans=False):
                pod_uid = pod["metadata"].get("uid")
                if pod_uid not in seen:
                    seen.add(pod_uid)
                    related.append(pod)
        return related

    async def _update_status(self, rs: Obj, status: Obj) -> Obj:
        """Upstream's updateReplicaSetStatus: skip an unchanged status; write with the
        cached resourceVersion, and on a conflict once more with a fresh read."""
        if _status_unchanged(rs, status):
            return rs
        # The generation this sync acted on, also when the retry reads a newer object.
        status = {**status, "observedGeneration": rs["metadata"].get("generation") or 0}
        attempt = 0
        current = rs
        while True:
            body = {**current, "status": status}
            try:
                return await self.client.update(REPLICA_SETS, body, subresource="status")
            except Conflict:
                if attempt >= STATUS_UPDATE_RETRIES:
                    raise
            attempt += 1
            meta = rs["metadata"]
            current = await self.client.get(REPLICA_SETS, meta["name"], namespace=meta.get("namespace"))
