"""The Job controller, as upstream's pkg/controller/job (1.3x semantics): runs a Job's pods
to ``completions`` (``NonIndexed``, or ``Indexed`` with one pod per completion index) at most
``parallelism`` at a time, re-creates failed pods with exponential back-off, fails the Job
past ``backoffLimit`` or ``activeDeadlineSeconds``, and suspends it on ``spec.suspend``.

Pods are tracked with the ``batch.kubernetes.io/job-tracking`` finalizer, so counts stay
exact even when finished pods are deleted at once:

1. every pod is created with the finalizer;
2. a finished pod's uid is first written to ``status.uncountedTerminatedPods`` (for Indexed
   Jobs, its index to ``status.completedIndexes``);
3. then its finalizer is removed;
4. then the uid moves from the uncounted list into ``status.succeeded`` / ``failed``.

A crash between any two steps leaves enough in the status or on the pod to finish the count
exactly once.  Terminal conditions come in two steps too: ``SuccessCriteriaMet`` /
``FailureTarget`` first, then ``Complete`` / ``Failed`` once no pod is left uncounted or
terminating.

Options (``context.options``): ``concurrent_job_syncs`` (workers, 5);
``job_backoff_base`` / ``job_backoff_max`` (pod failure back-off, 10 s doubling up to 600 s,
upstream's DefaultJobPodFailureBackOff / MaxJobPodFailureBackOff); ``job_sync_batch_period``
(how long pod events are gathered before a sync, 1 s); ``job_api_backoff_base`` (first retry
of a failed sync, 1 s doubling up to 60 s).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson

from pyk8s.client import (
    JOBS, NAMESPACE_INDEX, PODS, ItemExponentialFailureRateLimiter, RateLimitingQueue, object_key,
)

from ._base import Controller, ControllerContext
from ._events import NORMAL, WARNING
from ._expectations import ControllerExpectations
from ._jobpods import FinalizerRemovals, JobPods
from ._jobutil import (
    UNKNOWN_INDEX, BackoffRecord, active_pods_removal_order,
    completion_index, duplicated_index_pods_for_removal, ensure_condition_status,
    first_pending_indexes, format_indexes, has_tracking_finalizer, is_job_finished, is_pod_failed,
    new_backoff_record, new_condition, only_replace_failed_pods, parse_indexes, past_backoff_limit_on_failure,
    set_count, terminating_pods, true_condition, uncounted_succeeded_indexes, count_uncounted_without_finalizer,
)
from ._pods import (
    POD_CONTROLLER_UID_INDEX, PodControl, add_pod_controller_uid_index, controller_ref, is_pod_active,
    is_pod_ready, is_pod_terminating, parse_time, rfc3339, selector_matches,
)

__all__ = ["JobController"]

Obj = dict

# spec.managedBy naming this controller; any other value belongs to an external controller.
JOB_CONTROLLER_MANAGER = "kubernetes.io/job-controller"
# Upstream's MaxUncountedPods (keeps uncountedTerminatedPods under ~20 KB) and
# MaxPodCreateDeletePerSync (a big Job does not starve the others).
MAX_UNCOUNTED_PODS = 500
MAX_POD_CREATE_DELETE_PER_SYNC = 500
# Orphan pods whose tracking finalizer must go share the queue under this prefix (upstream
# has a second queue); namespaces cannot contain ':', so no Job key collides.
_ORPHAN_POD = "orphan-pod:"

BACKOFF_LIMIT_EXCEEDED = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
DEADLINE_EXCEEDED = ("DeadlineExceeded", "Job was active longer than specified deadline")
COMPLETIONS_REACHED = ("CompletionsReached", "Reached expected number of succeeded pods")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _uid(obj: Mapping) -> str:
    return (obj.get("metadata") or {}).get("uid") or ""


def _managed_elsewhere(job: Mapping) -> bool:
    managed_by = (job.get("spec") or {}).get("managedBy")
    return managed_by is not None and managed_by != JOB_CONTROLLER_MANAGER


@dataclass
class _JobSync:
    """One sync's view of a Job (upstream's syncJobCtx)."""

    key: str
    job: Obj
    pods: list[Obj]
    active_pods: list[Obj]
    uncounted_succeeded: set[str]
    uncounted_failed: set[str]
    expected_removals: frozenset[str]
    terminating: int
    ready: int
    succeeded: int = 0
    failed: int = 0
    finished_condition: Obj | None = None
    prev_succeeded_indexes: set[int] = field(default_factory=set)
    succeeded_indexes: set[int] = field(default_factory=set)
    backoff: BackoffRecord = field(default_factory=BackoffRecord)

    @property
    def indexed(self) -> bool:
        return self.job["spec"].get("completionMode") == "Indexed"

    @property
    def completions(self) -> int | None:
        return self.job["spec"].get("completions")


class JobController(Controller):
    name = "job-controller"
    default_workers = 5

    def __init__(self, context: ControllerContext) -> None:
        super().__init__(context)
        options = context.options
        self.default_workers = int(options.get("concurrent_job_syncs", 5))
        self.backoff_base = float(options.get("job_backoff_base", 10.0))
        self.backoff_max = float(options.get("job_backoff_max", 600.0))
        self.batch_period = float(options.get("job_sync_batch_period", 1.0))
        # Upstream's job queue retries a failed sync after 1 s doubling to 1 min (the
        # DefaultJobApiBackOff / MaxJobApiBackOff), not client-go's 5 ms default.
        api_backoff = float(options.get("job_api_backoff_base", 1.0))
        self.queue = RateLimitingQueue(ItemExponentialFailureRateLimiter(api_backoff, 60.0))
        self.metrics.register_queue(self.name, self.queue)
        self.expectations = ControllerExpectations()
        self.finalizer_removals = FinalizerRemovals()
        self.backoff_records: dict[str, BackoffRecord] = {}
        self.jobs = self.informers.informer(JOBS)
        self.pods = self.informers.informer(PODS)
        add_pod_controller_uid_index(self.pods)
        self.job_pods = JobPods(self.client, PodControl(self.client, self.recorder), self.pods.indexer,
                                self.expectations, self.finalizer_removals)
        self.jobs.add_event_handler(self._add_job, self._update_job, self._delete_job)
        self.pods.add_event_handler(self._add_pod, self._update_pod, self._delete_pod)

    # -- enqueueing ------------------------------------------------------------------------

    def _enqueue_job(self, job: Mapping, delay: float = 0.0) -> None:
        if delay > 0:
            self.enqueue_after(object_key(job), delay)
        else:
            self.enqueue(object_key(job))

    def _enqueue_batched(self, job: Mapping) -> None:
        # Pod events of a busy Job arrive in bursts; one sync per batch period handles them all.
        self._enqueue_job(job, self.batch_period)

    def _enqueue_orphan_pod(self, pod: Mapping) -> None:
        self.enqueue(_ORPHAN_POD + object_key(pod))

    def _resolve_controller_ref(self, namespace: str, ref: Mapping) -> Obj | None:
        if ref.get("kind") != "Job":
            return None
        job = self.jobs.indexer.get_object(namespace, ref.get("name") or "")
        if job is None or _uid(job) != ref.get("uid"):
            return None
        return job

    def _jobs_selecting(self, pod: Mapping) -> list[Obj]:
        meta = pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        return [job for job in self.jobs.indexer.by_index(NAMESPACE_INDEX, meta.get("namespace") or "")
                if selector_matches((job.get("spec") or {}).get("selector"), labels)]

    # -- job events ------------------------------------------------------------------------

    def _add_job(self, job: Obj) -> None:
        self._enqueue_job(job)

    def _update_job(self, old: Obj, new: Obj) -> None:
        if old["metadata"].get("generation") == new["metadata"].get("generation"):
            self._enqueue_batched(new)  # a status write, usually caused by pod events
        else:
            self._enqueue_job(new)
        if is_job_finished(new):
            # A backup: the finalizers of a finished Job's pods should already be gone.
            self._cleanup_pod_finalizers(new)
        started = parse_time((new.get("status") or {}).get("startTime"))
        deadline = (new.get("spec") or {}).get("activeDeadlineSeconds")
        if started is not None and deadline is not None and deadline != (old.get("spec") or {}).get("activeDeadlineSeconds"):
            self._enqueue_job(new, deadline - (_now() - started).total_seconds())

    def _delete_job(self, job: Obj) -> None:
        self._enqueue_job(job)
        self._cleanup_pod_finalizers(job)

    def _cleanup_pod_finalizers(self, job: Mapping) -> None:
        for pod in self.pods.indexer.by_index(POD_CONTROLLER_UID_INDEX, _uid(job)):
            if has_tracking_finalizer(pod):
                self._enqueue_orphan_pod(pod)

    # -- pod events ------------------------------------------------------------------------

    def _add_pod(self, pod: Obj) -> None:
        if pod["metadata"].get("deletionTimestamp"):
            # Seen for the first time already being deleted (e.g. after a restart): not a
            # creation this controller waits for.
            self._pod_deleted(pod, final=False)
            return
        ref = controller_ref(pod)
        if ref is not None:
            job = self._resolve_controller_ref(pod["metadata"].get("namespace") or "", ref)
            if job is not None:
                self.expectations.creation_observed(object_key(job))
                self._enqueue_batched(job)
            return
        if has_tracking_finalizer(pod):
            self._enqueue_orphan_pod(pod)
        for job in self._jobs_selecting(pod):
            self._enqueue_batched(job)

    def _update_pod(self, old: Obj, new: Obj) -> None:
        meta = new["metadata"]
        if meta.get("resourceVersion") == old["metadata"].get("resourceVersion"):
            return
        if meta.get("deletionTimestamp"):
            # A graceful deletion: replace the pod now rather than when it is finally gone.
            self._pod_deleted(new, final=False)
            return
        namespace = meta.get("namespace") or ""
        finalizer_removed = not has_tracking_finalizer(new)
        ref, old_ref = controller_ref(new), controller_ref(old)
        if ref != old_ref and old_ref is not None:
            job = self._resolve_controller_ref(namespace, old_ref)
            if job is not None:
                if finalizer_removed:
                    self.finalizer_removals.observed(object_key(job), _uid(new))
                self._enqueue_batched(job)
        if ref is not None:
            job = self._resolve_controller_ref(namespace, ref)
            if job is not None:
                if finalizer_removed:
                    self.finalizer_removals.observed(object_key(job), _uid(new))
                self._enqueue_batched(job)
            return
        if has_tracking_finalizer(new):
            self._enqueue_orphan_pod(new)
        if ref != old_ref or meta.get("labels") != old["metadata"].get("labels"):
            for job in self._jobs_selecting(new):
                self._enqueue_batched(job)

    def _delete_pod(self, pod: Obj) -> None:
        self._pod_deleted(pod, final=True)

    def _pod_deleted(self, pod: Obj, *, final: bool) -> None:
        """``final``: the pod is gone; otherwise it just got its deletionTimestamp."""
        has_finalizer = has_tracking_finalizer(pod)
        ref = controller_ref(pod)
        if ref is None:
            if has_finalizer:
                self._enqueue_orphan_pod(pod)
            return
        job = self._resolve_controller_ref(pod["metadata"].get("namespace") or "", ref)
        if job is None or is_job_finished(job):
            if has_finalizer:
                self._enqueue_orphan_pod(pod)  # no sync of the Job will remove it
            return
        key = object_key(job)
        self.expectations.deletion_observed(key)
        if final or not has_finalizer:
            self.finalizer_removals.observed(key, _uid(pod))
        self._enqueue_batched(job)

    # -- syncing ---------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        if key.startswith(_ORPHAN_POD):
            await self._sync_orphan_pod(key[len(_ORPHAN_POD):])
        else:
            await self._sync_job(key)

    async def _sync_orphan_pod(self, pod_key: str) -> None:
        """Remove the tracking finalizer of a pod no running Job will count."""
        pod = self.pods.indexer.get(pod_key)
        if pod is None or not has_tracking_finalizer(pod):
            return
        meta = pod["metadata"]
        ref = controller_ref(pod)
        if ref is not None:
            if ref.get("kind") != "Job" or ref.get("apiVersion") != "batch/v1":
                return
            job = self._resolve_controller_ref(meta.get("namespace") or "", ref)
            if job is not None and (_managed_elsewhere(job) or not is_job_finished(job)):
                return  # adopted, or counted by a running Job
        await self.job_pods.remove_orphan_finalizer(pod)

    async def _sync_job(self, key: str) -> None:
        shared = self.jobs.indexer.get(key)
        if shared is None:
            self.expectations.delete_expectations(key)
            self.finalizer_removals.delete(key)
            self.backoff_records.pop(key, None)
            return
        if _managed_elsewhere(shared):
            return
        if is_job_finished(shared):
            self.backoff_records.pop(key, None)
            return
        job = orjson.loads(orjson.dumps(shared))  # the cache's copy is shared and read-only
        job.setdefault("apiVersion", "batch/v1")
        job.setdefault("kind", "Job")
        spec, status = job["spec"], job.setdefault("status", {})
        if spec.get("completionMode", "NonIndexed") not in ("NonIndexed", "Indexed"):
            self.recorder.event(job, WARNING, "UnknownCompletionMode", "Skipped Job sync because completion mode is unknown")
            return
        uncounted = status.setdefault("uncountedTerminatedPods", {})
        # Checked before the pods are read: a pod created after this point defers the sync
        # to the next event rather than being missed.
        satisfied = self.expectations.satisfied(key)
        pods = await self.job_pods.claim(job)
        active_pods = [pod for pod in pods if is_pod_active(pod)]
        state = _JobSync(
            key=key, job=job, pods=pods, active_pods=active_pods,
            uncounted_succeeded=set(uncounted.get("succeeded") or ()), uncounted_failed=set(uncounted.get("failed") or ()),
            expected_removals=self.finalizer_removals.expected(key),
            terminating=sum(1 for pod in pods if is_pod_terminating(pod)),
            ready=sum(1 for pod in active_pods if is_pod_ready(pod)),
        )
        active = len(active_pods)
        new_succeeded, new_failed = self._new_finished_pods(state)
        state.succeeded = status.get("succeeded", 0) + len(new_succeeded) + len(state.uncounted_succeeded)
        state.failed = status.get("failed", 0) + len(new_failed) + len(state.uncounted_failed)
        now = _now()
        suspended = bool(spec.get("suspend"))
        if not status.get("startTime") and not suspended:
            status["startTime"] = rfc3339(now)
        state.backoff = new_backoff_record(self.backoff_records.get(key), new_succeeded, new_failed)
        self._find_finished_condition(state, now)
        if state.indexed:
            completions = state.completions or 0
            state.prev_succeeded_indexes = parse_indexes(status.get("completedIndexes"), completions)
            # Succeeded pods still holding the finalizer are not counted yet: their indexes join.
            state.succeeded_indexes = state.prev_succeeded_indexes | uncounted_succeeded_indexes(pods, completions)
            state.succeeded = len(state.succeeded_indexes)

        error: BaseException | None = None
        suspend_changed = False
        if state.finished_condition is not None:
            deleted_ready, deleted, error = await self.job_pods.delete_active(job, active_pods)
            if deleted != active or not satisfied:
                # Pods may remain, or exist unseen: not finished yet.
                state.finished_condition = None
            active -= deleted
            state.terminating += deleted
            state.ready -= deleted_ready
        else:
            managed = satisfied and not job["metadata"].get("deletionTimestamp")
            if managed:
                active, error = await self._manage_job(state, now)
            completions = state.completions
            if completions is None:
                # A work-queue Job: done once any pod succeeded and the others have exited.
                complete = state.succeeded > 0 and active == 0
            else:
                complete = state.succeeded >= completions and active == 0
            if complete:
                state.finished_condition = new_condition("SuccessCriteriaMet", "True", *COMPLETIONS_REACHED, now)
            elif managed:
                suspend_changed = self._update_suspended_condition(job, suspended, now)

        needs_flush = (suspend_changed or active != status.get("active", 0) or state.ready != status.get("ready")
                       or state.terminating != status.get("terminating"))
        set_count(status, "active", active)
        status["ready"] = state.ready
        status["terminating"] = state.terminating
        await self._track_status_and_remove_finalizers(state, needs_flush, now)
        if error is not None:
            raise error

    def _new_finished_pods(self, state: _JobSync) -> tuple[list[Obj], list[Obj]]:
        """Finished pods not yet counted anywhere: they still have the finalizer, are not in
        the uncounted lists and (Indexed) have a valid index."""
        succeeded, failed = [], []
        for pod in state.pods:
            uid = _uid(pod)
            if not has_tracking_finalizer(pod) or uid in state.expected_removals:
                continue
            if state.indexed and not UNKNOWN_INDEX < completion_index(pod) < (state.completions or 0):
                continue
            if (pod.get("status") or {}).get("phase") == "Succeeded" and uid not in state.uncounted_succeeded:
                succeeded.append(pod)
            if is_pod_failed(pod, state.job) and uid not in state.uncounted_failed:
                failed.append(pod)
        return succeeded, failed

    def _find_finished_condition(self, state: _JobSync, now: dt.datetime) -> None:
        """The terminal condition this sync works towards, if any: an interim condition
        already written is carried on; otherwise backoffLimit and activeDeadlineSeconds."""
        job, status, spec = state.job, state.job["status"], state.job["spec"]
        met = true_condition(status, "SuccessCriteriaMet")
        if met is not None:
            state.finished_condition = dict(met)
            return
        target = true_condition(status, "FailureTarget")
        if target is not None:
            state.finished_condition = new_condition(
                "Failed", "True", target.get("reason", ""), target.get("message", ""), now)
            return
        started = parse_time(status.get("startTime"))
        deadline = spec.get("activeDeadlineSeconds")
        suspended = bool(spec.get("suspend"))
        if state.failed > spec.get("backoffLimit", 6) or past_backoff_limit_on_failure(job, state.pods):
            state.finished_condition = new_condition("FailureTarget", "True", *BACKOFF_LIMIT_EXCEEDED, now)
        elif deadline is not None and started is not None and not suspended:
            elapsed = (now - started).total_seconds()
            if elapsed >= deadline:
                state.finished_condition = new_condition("FailureTarget", "True", *DEADLINE_EXCEEDED, now)
            else:
                self.enqueue_after(state.key, deadline - elapsed)

    def _update_suspended_condition(self, job: Obj, suspended: bool, now: dt.datetime) -> bool:
        status = job["status"]
        conditions = status.get("conditions") or []
        if suspended:
            changed = ensure_condition_status(conditions, "Suspended", "True", "JobSuspended", "Job suspended", now)
            if changed:
                self.recorder.event(job, NORMAL, "Suspended", "Job suspended")
        else:
            changed = ensure_condition_status(conditions, "Suspended", "False", "JobResumed", "Job resumed", now)
            if changed:
                self.recorder.event(job, NORMAL, "Resumed", "Job resumed")
                # activeDeadlineSeconds counts continuous activity: resuming restarts the clock.
                status["startTime"] = rfc3339(now)
        if conditions:
            status["conditions"] = conditions
        return changed

    # -- creating and deleting pods --------------------------------------------------------

    async def _manage_job(self, state: _JobSync, now: dt.datetime) -> tuple[int, BaseException | None]:
        """Create or delete pods towards the wanted number of active ones; the new active
        count and the first error (upstream's manageJob)."""
        job, key, spec = state.job, state.key, state.job["spec"]
        active = len(state.active_pods)
        if spec.get("suspend"):
            removed_ready, removed, error = await self.job_pods.delete_unwanted(job, key, self._pods_for_removal(state, active))
            state.terminating += removed
            state.ready -= removed_ready
            return active - removed, error
        parallelism = spec.get("parallelism", 1)
        completions = state.completions
        if completions is None:
            # Without completions, once one pod succeeded the Job only waits for the rest.
            want = active if state.succeeded > 0 else parallelism
        else:
            want = max(min(completions - state.succeeded, parallelism), 0)
        surplus = self._pods_for_removal(state, max(active - want, 0))[:MAX_POD_CREATE_DELETE_PER_SYNC]
        if surplus:
            # Deletion takes precedence: creations wait for the next sync.
            removed_ready, removed, error = await self.job_pods.delete_unwanted(job, key, surplus)
            state.terminating += removed
            state.ready -= removed_ready
            return active - removed, error
        terminating = state.terminating if only_replace_failed_pods(job) else 0
        missing = want - terminating - active
        if missing <= 0:
            return active, None
        wait = state.backoff.remaining(now, self.backoff_base, self.backoff_max)
        if wait > 0:
            self._enqueue_job(job, max(wait, self.batch_period))
            return active, None
        missing = min(missing, MAX_POD_CREATE_DELETE_PER_SYNC)
        indexes: list[int] = []
        if state.indexed:
            replaced_later = terminating_pods(state.pods) if only_replace_failed_pods(job) else ()
            indexes = first_pending_indexes(state.succeeded_indexes, state.active_pods, replaced_later,
                                            missing, completions or 0)
            missing = len(indexes)
            if not missing:
                return active, None
        created, error = await self.job_pods.create(job, key, missing, indexes)
        return active + created, error

    def _pods_for_removal(self, state: _JobSync, at_least: int) -> list[Obj]:
        """Upstream's activePodsForRemoval: an Indexed Job's pods with a bad or repeated
        index first, then the least advanced active pods."""
        if state.indexed:
            remove, keep = duplicated_index_pods_for_removal(state.active_pods, state.completions or 0)
        else:
            remove, keep = [], list(state.active_pods)
        if len(remove) < at_least:
            keep.sort(key=active_pods_removal_order)
            remove += keep[:at_least - len(remove)]
        return remove

    # -- status and finalizers -------------------------------------------------------------

    async def _track_status_and_remove_finalizers(self, state: _JobSync, needs_flush: bool, now: dt.datetime) -> None:
        """Upstream's trackJobStatusAndRemoveFinalizers (the numbered steps in the module
        doc), then the terminal condition once nothing is left to count."""
        job, status = state.job, state.job["status"]
        uncounted = status["uncountedTerminatedPods"]
        completions = state.completions or 0
        pods = sorted(state.pods, key=completion_index) if state.indexed else state.pods
        with_finalizer = {_uid(pod) for pod in pods
                          if has_tracking_finalizer(pod) and _uid(pod) not in state.expected_removals}
        if count_uncounted_without_finalizer(status, with_finalizer):
            needs_flush = True
        finishing_unsuccessfully = (state.finished_condition is not None
                                    and state.finished_condition["type"] != "SuccessCriteriaMet")
        to_remove: list[Obj] = []
        new_indexes: list[int] = []
        reached_max_uncounted = False
        for pod in pods:
            uid = _uid(pod)
            if not has_tracking_finalizer(pod) or uid in state.expected_removals:
                continue  # counted by an earlier sync
            failed = is_pod_failed(pod, job)
            if not self._can_remove_finalizer(state, pod, failed):
                continue
            to_remove.append(pod)
            index = completion_index(pod)
            if (pod.get("status") or {}).get("phase") == "Succeeded" and uid not in state.uncounted_failed:
                if state.indexed:
                    # The index alone keeps a success from being counted twice.
                    if UNKNOWN_INDEX < index < completions and index not in state.prev_succeeded_indexes:
                        new_indexes.append(index)
                        needs_flush = True
                elif uid not in state.uncounted_succeeded:
                    uncounted.setdefault("succeeded", []).append(uid)
                    needs_flush = True
            elif failed or finishing_unsuccessfully:
                # A Job that is failing counts every pod that did not succeed as failed.
                if uid not in state.uncounted_failed and (not state.indexed or UNKNOWN_INDEX < index < completions):
                    uncounted.setdefault("failed", []).append(uid)
                    needs_flush = True
            if len(new_indexes) + len(uncounted.get("succeeded") or ()) + len(uncounted.get("failed") or ()) >= MAX_UNCOUNTED_PODS:
                # The rest waits for the next sync: the status stays small and other Jobs get a turn.
                reached_max_uncounted = True
                break
        if state.indexed:
            state.succeeded_indexes |= set(new_indexes)
            text = format_indexes(state.succeeded_indexes)
            if text != status.get("completedIndexes", ""):
                needs_flush = True
            set_count(status, "succeeded", len(state.succeeded_indexes))
            if text:
                status["completedIndexes"] = text
            else:
                status.pop("completedIndexes", None)
        finished = state.finished_condition
        if finished is not None and finished["type"] == "FailureTarget":
            # Written before any finalizer goes, so the reason survives a crash.
            status.setdefault("conditions", []).append(finished)
            needs_flush = True
            state.finished_condition = new_condition("Failed", "True", finished.get("reason", ""),
                                                     finished.get("message", ""), now)
        elif finished is not None and finished["type"] == "SuccessCriteriaMet":
            if true_condition(status, "SuccessCriteriaMet") is None:
                status.setdefault("conditions", []).append(finished)
                needs_flush = True
            state.finished_condition = new_condition("Complete", "True", finished.get("reason", ""),
                                                     finished.get("message", ""), now)
        needs_flush = await self._flush_and_remove_finalizers(state, to_remove, with_finalizer, needs_flush)
        job_finished = not reached_max_uncounted and self._enact_job_finished(state, now)
        if job_finished or needs_flush:
            state.job = await self._update_status(state.job)
            if job_finished:
                self._record_job_finished(state.job, state.finished_condition)

    @staticmethod
    def _can_remove_finalizer(state: _JobSync, pod: Mapping, failed: bool) -> bool:
        if state.job["metadata"].get("deletionTimestamp") or state.finished_condition is not None:
            return True
        return (pod.get("status") or {}).get("phase") == "Succeeded" or failed

    async def _flush_and_remove_finalizers(self, state: _JobSync, pods: list[Obj], with_finalizer: set[str],
                                           needs_flush: bool) -> bool:
        """Write the uncounted uids, remove the pods' finalizers, then count the pods whose
        finalizer is gone; whether a status write is still pending."""
        if needs_flush:
            state.job = await self._update_status(state.job)
            # The pods counted above are now on record: their failures feed the back-off.
            self.backoff_records[state.key] = state.backoff
            needs_flush = False
        error: BaseException | None = None
        if pods:
            removed, error = await self.job_pods.remove_tracking_finalizers(state.key, pods)
            for pod, ok in zip(pods, removed):
                if ok:
                    with_finalizer.discard(_uid(pod))
        if count_uncounted_without_finalizer(state.job["status"], with_finalizer):
            needs_flush = True
        if error is not None:
            if needs_flush:
                state.job = await self._update_status(state.job)  # keep what was counted
            raise error
        return needs_flush

    def _enact_job_finished(self, state: _JobSync, now: dt.datetime) -> bool:
        """Add the Complete or Failed condition once no pod is left uncounted or terminating."""
        condition = state.finished_condition
        if condition is None:
            return False
        status = state.job["status"]
        uncounted = status.get("uncountedTerminatedPods") or {}
        if uncounted.get("succeeded") or uncounted.get("failed") or state.terminating > 0:
            return False
        conditions = status.get("conditions") or []
        ensure_condition_status(conditions, condition["type"], condition["status"], condition.get("reason", ""),
                                condition.get("message", ""), now)
        status["conditions"] = conditions
        if condition["type"] == "Complete":
            status["completionTime"] = condition["lastTransitionTime"]
        return True

    def _record_job_finished(self, job: Obj, condition: Mapping) -> None:
        if condition["type"] == "Complete":
            completions = job["spec"].get("completions")
            if completions is not None and (job.get("status") or {}).get("succeeded", 0) > completions:
                self.recorder.event(job, WARNING, "TooManySucceededPods",
                                    "Too many succeeded pods running after completion count reached")
            self.recorder.event(job, NORMAL, "Completed", "Job completed")
        else:
            self.recorder.event(job, WARNING, condition.get("reason", ""), condition.get("message", ""))

    async def _update_status(self, job: Obj) -> Obj:
        """PUT the status subresource; the stored Job (a stale resourceVersion is a Conflict
        and the sync is retried)."""
        return await self.client.update(JOBS, job, subresource="status")

