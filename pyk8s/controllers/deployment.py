"""The Deployment controller, as upstream's pkg/controller/deployment.

A Deployment owns ReplicaSets (controller ownerReference; orphans whose labels match its
selector are adopted, owned ones that stop matching are released).  The ReplicaSet whose pod
template equals the Deployment's is the *new* one, named ``<deployment>-<pod-template-hash>``
and selecting that label; the others are *old*.  One sync of a Deployment, in upstream's
order of precedence:

1. being deleted: only the status is brought up to date;
2. the Progressing condition records pausing / resuming (DeploymentPaused / DeploymentResumed),
   so a long pause does not read as a missed progress deadline;
3. paused, or a *scaling event* (an active ReplicaSet's desired-replicas annotation differs
   from ``spec.replicas``): resize proportionally, no rollout;
4. otherwise roll out: RollingUpdate grows the new ReplicaSet within ``replicas + maxSurge``
   and shrinks old ones while ``replicas - maxUnavailable`` pods stay available; Recreate
   scales the old ones to zero, waits until none of their pods runs, then creates the new.

Revisions live in the ``deployment.kubernetes.io/revision`` annotation: the new ReplicaSet
gets the highest old revision plus one (an old ReplicaSet brought back by ``kubectl rollout
undo`` is renumbered and remembers its former numbers in ``revision-history``), and the
Deployment carries its new ReplicaSet's.  Old ReplicaSets scaled to zero beyond
``revisionHistoryLimit`` are deleted, lowest revision first, once a rollout completes.

The arithmetic is pure and tested on its own: ``_deployment_util`` (fenceposts, hashing,
revisions, annotations), ``_deployment_scaling`` (how far each ReplicaSet may be resized),
``_deployment_status`` (status and conditions).

Settings: how many Deployments sync at once is the manager's
``workers["deployment-controller"]`` (``--concurrent-deployment-syncs``, default 5).
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
from collections.abc import Mapping, Sequence

from pyk8s.client import (
    DEPLOYMENTS, PODS, REPLICA_SETS, AlreadyExists, ApiError, Invalid, NotFound, PatchType, object_key,
)

from . import _deployment_scaling as scaling
from . import _deployment_status as progress
from . import _deployment_util as util
from ._base import Controller, ControllerContext
from ._controller_ref import CannotAdopt, adopt_patch, recheck_deletion_timestamp, release_patch
from ._events import NORMAL, WARNING
from ._pods import (
    POD_CONTROLLER_UID_INDEX, add_pod_controller_uid_index, controller_ref, error_text, is_namespace_terminating_error,
    selector_matches,
)

__all__ = ["DeploymentController"]

log = logging.getLogger(__name__)

Obj = dict


def _meta(obj: Mapping) -> Mapping:
    return obj.get("metadata") or {}


def _labels(obj: Mapping) -> Mapping[str, str]:
    return _meta(obj).get("labels") or {}


def _name(obj: Mapping | None) -> str:
    return _meta(obj).get("name", "") if obj is not None else ""


def _selects(deployment: Mapping, obj: Mapping) -> bool:
    """The Deployment's selector matches ``obj``'s labels; an empty selector matches nothing
    here (upstream: "a nil or empty selector should match nothing, not everything")."""
    return selector_matches((deployment.get("spec") or {}).get("selector"), _labels(obj))


def _owner_reference(deployment: Mapping) -> Obj:
    return adopt_patch(deployment, "")["metadata"]["ownerReferences"][0]


class DeploymentController(Controller):
    name = "deployment-controller"
    default_workers = 5  # upstream's --concurrent-deployment-syncs

    def __init__(self, context: ControllerContext) -> None:
        super().__init__(context)
        self.deployments = self.informers.informer(DEPLOYMENTS)
        self.replica_sets = self.informers.informer(REPLICA_SETS)
        self.pods = self.informers.informer(PODS)
        add_pod_controller_uid_index(self.pods)
        self.deployments.add_event_handler(self.enqueue_object, self.enqueue_object, self.enqueue_object)
        self.replica_sets.add_event_handler(self._add_replica_set, self._update_replica_set, self._delete_replica_set)
        self.pods.add_event_handler(on_delete=self._delete_pod)

    @staticmethod
    def now() -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    # -- informer handlers -------------------------------------------------------------------

    def _resolve(self, namespace: str | None, ref: Mapping) -> Mapping | None:
        if ref.get("kind") != "Deployment":
            return None
        deployment = self.deployments.indexer.get_object(namespace, ref.get("name", ""))
        if deployment is None or util.uid(deployment) != ref.get("uid"):
            return None
        return deployment

    def _deployments_for_replica_set(self, rs: Mapping) -> list[Mapping]:
        if not _labels(rs):
            return []
        namespace = _meta(rs).get("namespace")
        candidates = self.deployments.indexer.by_index("namespace", namespace) if namespace else []
        found = [d for d in candidates if _selects(d, rs)]
        if len(found) > 1:
            log.info("replica set %s/%s is selected by more than one deployment: %s", namespace, _name(rs),
                     ", ".join(_name(d) for d in found))
        return found

    def _enqueue_owner(self, obj: Mapping, ref: Mapping | None) -> bool:
        if ref is None:
            return False
        deployment = self._resolve(_meta(obj).get("namespace"), ref)
        if deployment is not None:
            self.enqueue(object_key(deployment))
        return True

    def _add_replica_set(self, rs: Obj) -> None:
        if _meta(rs).get("deletionTimestamp"):
            self._delete_replica_set(rs)
            return
        if self._enqueue_owner(rs, controller_ref(rs)):
            return
        for deployment in self._deployments_for_replica_set(rs):
            self.enqueue(object_key(deployment))

    def _update_replica_set(self, old: Obj, cur: Obj) -> None:
        if _meta(old).get("resourceVersion") == _meta(cur).get("resourceVersion"):
            return
        old_ref, cur_ref = controller_ref(old), controller_ref(cur)
        ref_changed = old_ref != cur_ref
        if ref_changed and old_ref is not None:
            self._enqueue_owner(old, old_ref)
        if self._enqueue_owner(cur, cur_ref):
            return
        if ref_changed or _labels(old) != _labels(cur):
            for deployment in self._deployments_for_replica_set(cur):
                self.enqueue(object_key(deployment))

    def _delete_replica_set(self, rs: Obj) -> None:
        self._enqueue_owner(rs, controller_ref(rs))

    def _deployment_for_pod(self, pod: Mapping) -> Mapping | None:
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return None
        rs = self.replica_sets.indexer.get_object(_meta(pod).get("namespace"), ref.get("name", ""))
        if rs is None or util.uid(rs) != ref.get("uid"):
            return None
        rs_ref = controller_ref(rs)
        return self._resolve(_meta(rs).get("namespace"), rs_ref) if rs_ref is not None else None

    def _delete_pod(self, pod: Obj) -> None:
        # Only Recreate waits on pods: the last old pod going away lets it create the new set.
        deployment = self._deployment_for_pod(pod)
        if deployment is None or ((deployment.get("spec") or {}).get("strategy") or {}).get("type") != "Recreate":
            return
        owned = self._owned_replica_sets(deployment)
        # While a ReplicaSet still reports pods, its status update to zero will sync the
        # Deployment anyway; so the pods are looked at (a scan) only once none is reported,
        # not on each of thousands of deletions.
        if util.actual_replica_count(owned) > 0:
            return
        if not any(self._pod_map(deployment, owned).values()):
            self.enqueue(object_key(deployment))

    # -- reading the caches ------------------------------------------------------------------

    def _owned_replica_sets(self, deployment: Mapping) -> list[Mapping]:
        namespace = _meta(deployment).get("namespace")
        deployment_uid = util.uid(deployment)
        return [rs for rs in self.replica_sets.indexer.by_index("namespace", namespace)
                if (controller_ref(rs) or {}).get("uid") == deployment_uid and _selects(deployment, rs)]

    def _pod_map(self, deployment: Mapping, rs_list: Sequence[Mapping]) -> dict[str, list[Mapping]]:
        """The Deployment's pods grouped by the ReplicaSet (of ``rs_list``) controlling them,
        inactive pods included: Recreate must see every old pod gone."""
        namespace = _meta(deployment).get("namespace")
        pod_map: dict[str, list[Mapping]] = {}
        for rs in rs_list:
            pods = self.pods.indexer.by_index(POD_CONTROLLER_UID_INDEX, util.uid(rs))
            pod_map[util.uid(rs)] = [p for p in pods if _meta(p).get("namespace") == namespace and _selects(deployment, p)]
        return pod_map

    # -- writes --------------------------------------------------------------------------------

    async def _update_status(self, deployment: Obj) -> None:
        """PUT /status with the Deployment as this sync holds it (annotations included, as
        upstream's UpdateStatus); later writes in the same sync go on from the new version."""
        updated = await self.client.update(DEPLOYMENTS, deployment, subresource="status")
        deployment["metadata"]["resourceVersion"] = updated["metadata"]["resourceVersion"]

    async def _scale_replica_set(self, rs: Mapping, size: int, deployment: Obj, operation: str) -> tuple[bool, Mapping]:
        """Set the size and the desired/max-replicas annotations; an event when the size
        changed (upstream's scaleReplicaSet)."""
        desired = util.replicas(deployment)
        maximum = desired + util.max_surge(deployment)
        old_size = util.replicas(rs)
        size_changed = old_size != size
        if not size_changed and not util.replicas_annotations_need_update(rs, desired, maximum):
            return False, rs
        rs_copy = copy.deepcopy(dict(rs))
        rs_copy["spec"]["replicas"] = size
        util.set_replicas_annotations(rs_copy, desired, maximum)
        updated = await self.client.update(REPLICA_SETS, rs_copy)
        if size_changed:
            self.recorder.event(deployment, NORMAL, "ScalingReplicaSet",
                                f"Scaled {operation} replica set {_name(updated)} from {old_size} to {size}")
        return size_changed, updated

    async def _scale_and_record(self, rs: Mapping, size: int, deployment: Obj) -> tuple[bool, Mapping]:
        if util.replicas(rs) == size:
            return False, rs
        return await self._scale_replica_set(rs, size, deployment, "up" if util.replicas(rs) < size else "down")

    async def _apply(self, steps: Sequence[scaling.ScaleStep], deployment: Obj) -> None:
        # A ReplicaSet resized twice in one plan (unhealthy pods first, then available ones)
        # is written the second time from what the first write returned.
        written: dict[str, Mapping] = {}
        for step in steps:
            rs = written.get(util.uid(step.rs), step.rs)
            if step.operation is None:
                _, rs = await self._scale_and_record(rs, step.replicas, deployment)
            else:
                _, rs = await self._scale_replica_set(rs, step.replicas, deployment, step.operation)
            written[util.uid(rs)] = rs

    # -- ownership -----------------------------------------------------------------------------

    async def _claim_replica_sets(self, deployment: Obj) -> list[Mapping]:
        """ClaimReplicaSets: owned and matching are kept, owned but no longer matching are
        released, matching orphans are adopted (after re-reading the Deployment from the
        server, so a Deployment being deleted, or re-created under its name, adopts nothing).
        A failed adoption or release fails the sync, which is retried."""
        namespace = _meta(deployment).get("namespace")
        deployment_uid = util.uid(deployment)
        deleting = bool(_meta(deployment).get("deletionTimestamp"))
        claimed: list[Mapping] = []
        orphans: list[Mapping] = []
        errors: list[ApiError] = []
        for rs in self.replica_sets.indexer.by_index("namespace", namespace):
            ref = controller_ref(rs)
            matches = _selects(deployment, rs)
            if ref is not None:
                if ref.get("uid") != deployment_uid:
                    continue
                if matches:
                    claimed.append(rs)
                elif not deleting:
                    try:
                        await self._patch_replica_set(rs, release_patch(deployment_uid, util.uid(rs)))
                    except (NotFound, Invalid):
                        pass  # gone, re-created under the same name, or already released
                    except ApiError as error:
                        errors.append(error)
                continue
            if not deleting and matches and not _meta(rs).get("deletionTimestamp"):
                orphans.append(rs)
        if orphans:
            can_adopt = recheck_deletion_timestamp(
                lambda: self.client.get(DEPLOYMENTS, _name(deployment), namespace=namespace), deployment_uid)
            try:
                await can_adopt()
            except CannotAdopt as refusal:
                # The event that made the fresh read differ syncs this Deployment again.
                log.info("%s/%s: not adopting replica sets: %s", namespace, _name(deployment), refusal)
                orphans = []
        for rs in orphans:
            try:
                claimed.append(await self._patch_replica_set(rs, adopt_patch(deployment, util.uid(rs))))
            except NotFound:
                pass
            except ApiError as error:
                errors.append(error)
        if errors:
            raise errors[0]
        return claimed

    async def _patch_replica_set(self, rs: Mapping, patch: Obj) -> Mapping:
        return await self.client.patch(REPLICA_SETS, _name(rs), patch, namespace=_meta(rs).get("namespace"),
                                       patch_type=PatchType.STRATEGIC)

    # -- the sync ------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        cached = self.deployments.indexer.get(key)
        if cached is None:
            return
        deployment = copy.deepcopy(cached)
        deployment["apiVersion"], deployment["kind"] = "apps/v1", "Deployment"
        deployment.setdefault("status", {})
        selector = (deployment.get("spec") or {}).get("selector")
        if isinstance(selector, dict) and not selector.get("matchLabels") and not selector.get("matchExpressions"):
            self.recorder.event(deployment, WARNING, "SelectingAll",
                                "This deployment is selecting all pods. A non-empty selector is required.")
            if (deployment["status"].get("observedGeneration") or 0) < _meta(deployment).get("generation", 0):
                deployment["status"]["observedGeneration"] = _meta(deployment).get("generation", 0)
                await self._update_status(deployment)
            return
        rs_list = await self._claim_replica_sets(deployment)
        if _meta(deployment).get("deletionTimestamp"):
            new_rs, old_rss = await self._all_replica_sets(deployment, rs_list, create=False)
            await self._sync_deployment_status([*old_rss, new_rs], new_rs, deployment)
            return
        await self._check_paused_conditions(deployment)
        if deployment["spec"].get("paused"):
            await self._sync_scaling(deployment, rs_list)
            return
        if await self._is_scaling_event(deployment, rs_list):
            await self._sync_scaling(deployment, rs_list)
            return
        strategy = (deployment["spec"].get("strategy") or {}).get("type")
        if strategy == "Recreate":
            await self._rollout_recreate(deployment, rs_list)
        elif strategy == "RollingUpdate":
            await self._rollout_rolling(deployment, rs_list)
        else:
            raise ValueError(f"unexpected deployment strategy type: {strategy}")

    async def _check_paused_conditions(self, deployment: Obj) -> None:
        if not util.has_progress_deadline(deployment):
            return
        status = deployment["status"]
        current = progress.get_condition(status, "Progressing")
        if current is not None and current.get("reason") == util.TIMED_OUT:
            return  # a reported failure stays until a new rollout
        paused_recorded = current is not None and current.get("reason") == util.PAUSED
        paused = bool(deployment["spec"].get("paused"))
        if paused and not paused_recorded:
            progress.set_condition(status, progress.new_condition("Progressing", "Unknown", util.PAUSED, "Deployment is paused"))
        elif not paused and paused_recorded:
            progress.set_condition(status, progress.new_condition("Progressing", "Unknown", util.RESUMED, "Deployment is resumed"))
        else:
            return
        await self._update_status(deployment)

    async def _all_replica_sets(self, deployment: Obj, rs_list: list[Mapping],
                                *, create: bool) -> tuple[Mapping | None, list[Mapping]]:
        """getAllReplicaSetsAndSyncRevision: the new ReplicaSet (created if asked and missing)
        with its revision brought up to date, and all the old ones."""
        old_rss = util.find_old_replica_sets(deployment, rs_list)
        new_rs = await self._new_replica_set(deployment, rs_list, old_rss, create)
        return new_rs, old_rss

    async def _new_replica_set(self, deployment: Obj, rs_list: list[Mapping], old_rss: list[Mapping],
                               create: bool) -> Mapping | None:
        existing = util.find_new_replica_set(deployment, rs_list)
        new_revision = str(util.max_revision(old_rss) + 1)
        status = deployment["status"]
        if existing is not None:
            rs_copy = copy.deepcopy(dict(existing))
            annotations_changed = util.set_new_replica_set_annotations(deployment, rs_copy, new_revision, True)
            min_ready = deployment["spec"].get("minReadySeconds", 0)
            if annotations_changed or rs_copy["spec"].get("minReadySeconds", 0) != min_ready:
                rs_copy["spec"]["minReadySeconds"] = min_ready
                updated = await self.client.update(REPLICA_SETS, rs_copy)
                # Later steps of this sync must not write from the stale cached copy.
                rs_list[:] = [updated if util.uid(rs) == util.uid(updated) else rs for rs in rs_list]
                return updated
            needs_update = util.set_deployment_revision(deployment, util.annotations(rs_copy).get(util.REVISION_ANNOTATION, ""))
            if util.has_progress_deadline(deployment) and progress.get_condition(status, "Progressing") is None:
                progress.set_condition(status, progress.new_condition(
                    "Progressing", "True", util.FOUND_NEW_REPLICA_SET, f'Found new replica set "{_name(rs_copy)}"'))
                needs_update = True
            if needs_update:
                await self._update_status(deployment)
            return rs_copy
        if not create:
            return None
        return await self._create_new_replica_set(deployment, rs_list, old_rss, new_revision)

    async def _create_new_replica_set(self, deployment: Obj, rs_list: list[Mapping], old_rss: list[Mapping],
                                      new_revision: str) -> Mapping:
        namespace = _meta(deployment).get("namespace")
        status = deployment["status"]
        template = copy.deepcopy(deployment["spec"].get("template") or {})
        pod_template_hash = util.compute_hash(template, status.get("collisionCount"))
        template.setdefault("metadata", {})
        template["metadata"]["labels"] = {**(template["metadata"].get("labels") or {}),
                                          util.POD_TEMPLATE_HASH_LABEL: pod_template_hash}
        selector = copy.deepcopy(deployment["spec"].get("selector") or {})
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), util.POD_TEMPLATE_HASH_LABEL: pod_template_hash}
        name = f"{_name(deployment)}-{pod_template_hash}"
        new_rs: Obj = {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": namespace, "ownerReferences": [_owner_reference(deployment)],
                         "labels": dict(template["metadata"]["labels"])},
            "spec": {"replicas": 0, "minReadySeconds": deployment["spec"].get("minReadySeconds", 0),
                     "selector": selector, "template": template},
        }
        size = scaling.new_rs_new_replicas(deployment, [*old_rss, new_rs], new_rs)
        new_rs["spec"]["replicas"] = size
        util.set_new_replica_set_annotations(deployment, new_rs, new_revision, False)
        already_exists = False
        try:
            created: Mapping = await self.client.create(REPLICA_SETS, new_rs, namespace=namespace)
        except AlreadyExists:
            # A slow cache, or a hash collision: ours only if we own it and the template matches.
            already_exists = True
            found = self.replica_sets.indexer.get_object(namespace, name)
            if found is None:
                raise
            ref = controller_ref(found)
            if ref is None or ref.get("uid") != util.uid(deployment) or not util.equal_ignore_hash(
                    deployment["spec"].get("template"), (found.get("spec") or {}).get("template")):
                status["collisionCount"] = (status.get("collisionCount") or 0) + 1
                try:
                    await self._update_status(deployment)
                    log.info("hash collision for deployment %s/%s: collisionCount now %d",
                             namespace, _name(deployment), status["collisionCount"])
                except ApiError:
                    pass
                raise
            created = found
        except ApiError as error:
            if is_namespace_terminating_error(error):
                raise
            message = f'Failed to create new replica set "{name}": {error_text(error)}'
            if util.has_progress_deadline(deployment):
                progress.set_condition(status, progress.new_condition("Progressing", "False", util.FAILED_RS_CREATE, message))
                try:
                    await self._update_status(deployment)
                except ApiError:
                    pass  # the create failure is the thing to report
            self.recorder.event(deployment, WARNING, util.FAILED_RS_CREATE, message)
            raise
        if not already_exists:
            rs_list.append(created)
            if size > 0:
                self.recorder.event(deployment, NORMAL, "ScalingReplicaSet",
                                    f"Scaled up replica set {_name(created)} from 0 to {size}")
        needs_update = util.set_deployment_revision(deployment, new_revision)
        if not already_exists and util.has_progress_deadline(deployment):
            progress.set_condition(status, progress.new_condition(
                "Progressing", "True", util.NEW_REPLICA_SET_CREATED, f'Created new replica set "{_name(created)}"'))
            needs_update = True
        if needs_update:
            await self._update_status(deployment)
        return created

    async def _is_scaling_event(self, deployment: Obj, rs_list: list[Mapping]) -> bool:
        """An active ReplicaSet was sized for a different ``spec.replicas`` than now."""
        new_rs, old_rss = await self._all_replica_sets(deployment, rs_list, create=False)
        for rs in util.filter_active([*old_rss, new_rs]):
            desired = util.desired_replicas_annotation(rs)
            if desired is not None and desired != util.replicas(deployment):
                return True
        return False

    async def _sync_scaling(self, deployment: Obj, rs_list: list[Mapping]) -> None:
        """Upstream's ``sync``: scaling events and paused Deployments."""
        new_rs, old_rss = await self._all_replica_sets(deployment, rs_list, create=False)
        await self._apply(scaling.scale_plan(deployment, new_rs, old_rss), deployment)
        if deployment["spec"].get("paused"):
            await self._cleanup(old_rss, deployment)
        await self._sync_deployment_status([*old_rss, new_rs], new_rs, deployment)

    async def _rollout_rolling(self, deployment: Obj, rs_list: list[Mapping]) -> None:
        new_rs, old_rss = await self._all_replica_sets(deployment, rs_list, create=True)
        assert new_rs is not None
        all_rss = [*old_rss, new_rs]
        if await self._reconcile_new_replica_set(all_rss, new_rs, deployment):
            await self._sync_rollout_status(all_rss, new_rs, deployment)
            return
        steps = scaling.reconcile_old_plan(deployment, all_rss, util.filter_active(old_rss), new_rs)
        if steps:
            await self._apply(steps, deployment)
            await self._sync_rollout_status(all_rss, new_rs, deployment)
            return
        if progress.deployment_complete(deployment, deployment["status"]):
            await self._cleanup(old_rss, deployment)
        await self._sync_rollout_status(all_rss, new_rs, deployment)

    async def _reconcile_new_replica_set(self, all_rss: list[Mapping], new_rs: Mapping, deployment: Obj) -> bool:
        desired = util.replicas(deployment)
        if util.replicas(new_rs) == desired:
            return False
        if util.replicas(new_rs) > desired:
            scaled, _ = await self._scale_and_record(new_rs, desired, deployment)
            return scaled
        scaled, _ = await self._scale_and_record(new_rs, scaling.new_rs_new_replicas(deployment, all_rss, new_rs), deployment)
        return scaled

    async def _rollout_recreate(self, deployment: Obj, rs_list: list[Mapping]) -> None:
        # The new ReplicaSet is created only once the old pods are gone: no overlap.
        new_rs, old_rss = await self._all_replica_sets(deployment, rs_list, create=False)
        all_rss = [*old_rss, new_rs]
        scaled_down = False
        for rs in util.filter_active(old_rss):
            scaled, _ = await self._scale_and_record(rs, 0, deployment)
            scaled_down = scaled_down or scaled
        if scaled_down or self._old_pods_running(deployment, new_rs, old_rss, rs_list):
            await self._sync_rollout_status(all_rss, new_rs, deployment)
            return
        if new_rs is None:
            new_rs, old_rss = await self._all_replica_sets(deployment, rs_list, create=True)
            all_rss = [*old_rss, new_rs]
        assert new_rs is not None
        await self._scale_and_record(new_rs, util.replicas(deployment), deployment)
        if progress.deployment_complete(deployment, deployment["status"]):
            await self._cleanup(old_rss, deployment)
        await self._sync_rollout_status(all_rss, new_rs, deployment)

    def _old_pods_running(self, deployment: Mapping, new_rs: Mapping | None, old_rss: Sequence[Mapping],
                          rs_list: Sequence[Mapping]) -> bool:
        """Old ReplicaSets still report pods, or one of their pods is not yet Succeeded/Failed
        (a pod in phase Unknown counts as running: it may be)."""
        if util.actual_replica_count(old_rss) > 0:
            return True
        new_uid = util.uid(new_rs) if new_rs is not None else None
        for rs_uid, pods in self._pod_map(deployment, rs_list).items():
            if rs_uid == new_uid:
                continue
            if any((pod.get("status") or {}).get("phase") not in ("Failed", "Succeeded") for pod in pods):
                return True
        return False

    async def _cleanup(self, old_rss: Sequence[Mapping], deployment: Mapping) -> None:
        """Delete old ReplicaSets beyond revisionHistoryLimit, lowest revision first, only those
        at zero whose controller has caught up."""
        if not util.has_revision_history_limit(deployment):
            return
        alive = [rs for rs in old_rss if not _meta(rs).get("deletionTimestamp")]
        excess = len(alive) - deployment["spec"]["revisionHistoryLimit"]
        if excess <= 0:
            return
        for rs in util.by_revision(alive)[:excess]:
            status = rs.get("status") or {}
            if status.get("replicas") or util.replicas(rs) != 0 \
                    or _meta(rs).get("generation", 0) > (status.get("observedGeneration") or 0):
                continue
            try:
                await self.client.delete(REPLICA_SETS, _name(rs), namespace=_meta(rs).get("namespace"))
            except NotFound:
                pass

    # -- status --------------------------------------------------------------------------------

    async def _sync_deployment_status(self, all_rss: list[Mapping | None], new_rs: Mapping | None,
                                      deployment: Obj) -> None:
        new_status = progress.calculate_status(all_rss, new_rs, deployment, self.now())
        if progress.normalized_status(deployment["status"]) == new_status:
            return
        deployment["status"] = new_status
        await self._update_status(deployment)

    async def _sync_rollout_status(self, all_rss: list[Mapping | None], new_rs: Mapping | None,
                                   deployment: Obj) -> None:
        now = self.now()
        new_status = progress.rollout_status(all_rss, new_rs, deployment, now)
        if progress.normalized_status(deployment["status"]) == new_status:
            # Nothing new: come back when the progress deadline would pass.
            delay = progress.progress_check_delay(deployment, new_status, now)
            if delay == 0:
                self.queue.add_rate_limited(object_key(deployment))
            elif delay is not None:
                self.enqueue_after(object_key(deployment), delay)
            return
        deployment["status"] = new_status
        await self._update_status(deployment)
