"""The TTL-after-finished controller, as upstream's pkg/controller/ttlafterfinished: a
finished Job (a True ``Complete`` or ``Failed`` condition) with
``spec.ttlSecondsAfterFinished`` is deleted that many seconds after the condition's
``lastTransitionTime``.  A Job not yet due is requeued for the moment it will be.

Before deleting, the Job is read again from the API server: the cached copy may be stale
(its TTL raised, or the Job replaced by a new one of the same name), and the delete carries
the fresh Job's uid as a precondition.

Options (``context.options``): ``concurrent_ttl_after_finished_syncs`` (workers, 5).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping

from pyk8s.client import JOBS, NotFound, split_key

from ._base import Controller, ControllerContext
from ._jobutil import is_job_finished
from ._pods import parse_time

__all__ = ["TTLAfterFinishedController"]

log = logging.getLogger(__name__)

# As upstream: Foreground, so the Job stays (with the foregroundDeletion finalizer) until the
# garbage collector has deleted its pods; the Job is never gone while its pods still run.
PROPAGATION_POLICY = "Foreground"


def _needs_cleanup(job: Mapping) -> bool:
    return (job.get("spec") or {}).get("ttlSecondsAfterFinished") is not None and is_job_finished(job)


def _finish_time(job: Mapping) -> dt.datetime | None:
    """When the Job finished: its True Complete/Failed condition's lastTransitionTime."""
    for condition in (job.get("status") or {}).get("conditions") or ():
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            return parse_time(condition.get("lastTransitionTime"))
    return None


class TTLAfterFinishedController(Controller):
    name = "ttl-after-finished-controller"
    default_workers = 5

    def __init__(self, context: ControllerContext) -> None:
        super().__init__(context)
        self.default_workers = int(context.options.get("concurrent_ttl_after_finished_syncs", 5))
        self.jobs = self.informers.informer(JOBS)
        self.jobs.add_event_handler(on_add=self._job_changed, on_update=lambda _old, new: self._job_changed(new))

    def _job_changed(self, job: Mapping) -> None:
        if not (job.get("metadata") or {}).get("deletionTimestamp") and _needs_cleanup(job):
            self.enqueue_object(job)

    def _expired(self, key: str, job: Mapping) -> bool:
        """Whether ``job``'s TTL has run out; if it will later, the key is requeued for then."""
        if (job.get("metadata") or {}).get("deletionTimestamp") or not _needs_cleanup(job):
            return False
        finished = _finish_time(job)
        if finished is None:
            # A finished Job without the time it finished: upstream reports an error and
            # retries with back-off; nothing here will ever supply the time.
            log.warning("%s: job %s finished at an unknown time; not cleaned up", self.name, key)
            return False
        expires = finished + dt.timedelta(seconds=job["spec"]["ttlSecondsAfterFinished"])
        remaining = (expires - dt.datetime.now(dt.UTC)).total_seconds()
        if remaining > 0:
            self.enqueue_after(key, remaining)
            return False
        return True

    async def sync(self, key: str) -> None:
        job = self.jobs.indexer.get(key)
        if job is None or not self._expired(key, job):
            return
        namespace, name = split_key(key)
        try:
            fresh = await self.client.get(JOBS, name, namespace=namespace)
        except NotFound:
            return
        if not self._expired(key, fresh):
            return
        try:
            await self.client.delete(JOBS, name, namespace=namespace, propagation_policy=PROPAGATION_POLICY,
                                     preconditions={"uid": fresh["metadata"]["uid"]})
        except NotFound:
            pass
