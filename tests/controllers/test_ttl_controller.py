"""The TTL-after-finished controller against a live API server: finished Jobs with
``ttlSecondsAfterFinished`` are deleted once it has passed since they finished, and not
before; unfinished Jobs and Jobs without a TTL stay.  (Deleting the Job's pods is the
garbage collector's work, not checked here.)"""

from __future__ import annotations

import asyncio
import datetime as dt
import time

from controllerhelpers import fresh_namespace, running_controllers, wait_for

from pyk8s.client import JOBS, PODS, ApiClient, NotFound

JOB_OPTIONS = {"job_sync_batch_period": 0.05, "job_api_backoff_base": 0.05}


def job_manifest(name: str, **spec) -> dict:
    return {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
        "spec": {"template": {"spec": {"restartPolicy": "Never",
                                       "containers": [{"name": "main", "image": "busybox"}]}}, **spec},
    }


def stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


async def mark_finished(client: ApiClient, namespace: str, name: str, condition_type: str, at: dt.datetime) -> None:
    """Write a terminal condition as the Job controller would (none runs in these tests)."""
    condition = {"type": condition_type, "status": "True", "lastProbeTime": stamp(at), "lastTransitionTime": stamp(at)}
    status = {"startTime": stamp(at), "conditions": [condition]}
    if condition_type == "Complete":
        status["completionTime"] = stamp(at)
    await client.patch(JOBS, name, {"status": status}, namespace=namespace, subresource="status")


async def gone(client: ApiClient, namespace: str, name: str) -> bool:
    try:
        await client.get(JOBS, name, namespace=namespace)
    except NotFound:
        return True
    return False


def test_completed_job_is_deleted_once_its_ttl_has_passed(apiserver):
    async def scenario():
        async with running_controllers(apiserver.url, ["job-controller", "ttl-after-finished-controller", "garbage-collector-controller"],
                                       options=JOB_OPTIONS) as (client, _manager):
            ns = await fresh_namespace(client)
            await client.create(JOBS, job_manifest("short", ttlSecondsAfterFinished=1), namespace=ns)

            async def pod():
                items = (await client.list(PODS, namespace=ns))["items"]
                return items[0] if items else None

            created = await wait_for(pod, message="the Job's pod")
            now = stamp(dt.datetime.now(dt.UTC))
            await client.patch(PODS, created["metadata"]["name"], {"status": {"phase": "Succeeded", "containerStatuses": [{
                "name": "main", "image": "busybox", "imageID": "", "ready": False, "restartCount": 0,
                "state": {"terminated": {"exitCode": 0, "startedAt": now, "finishedAt": now}}}]}},
                namespace=ns, subresource="status")

            async def complete():
                job = await client.get(JOBS, "short", namespace=ns)
                return next((c for c in (job.get("status") or {}).get("conditions") or () if c["type"] == "Complete"), None)

            condition = await wait_for(complete, message="Complete")
            finished = dt.datetime.fromisoformat(condition["lastTransitionTime"].replace("Z", "+00:00"))
            await wait_for(lambda: gone(client, ns, "short"), timeout=10, interval=0.02, message="the Job deleted")
            # Foreground: the Job went only after the garbage collector deleted its pod.
            assert (await client.list(PODS, namespace=ns))["items"] == []
            # Not before the TTL: 1 s after the Complete condition's time.
            assert dt.datetime.now(dt.UTC) >= finished + dt.timedelta(seconds=1)

    asyncio.run(scenario())


def test_finished_jobs_are_deleted_after_their_ttl_and_others_stay(apiserver):
    async def scenario():
        async with running_controllers(apiserver.url, ["ttl-after-finished-controller", "garbage-collector-controller"]) as (client, _manager):
            ns = await fresh_namespace(client)
            now = dt.datetime.now(dt.UTC)
            # Long past its TTL, Failed rather than Complete: goes at once.
            await client.create(JOBS, job_manifest("old", ttlSecondsAfterFinished=60), namespace=ns)
            await mark_finished(client, ns, "old", "Failed", now - dt.timedelta(hours=1))
            # Due in about 2 s.
            await client.create(JOBS, job_manifest("soon", ttlSecondsAfterFinished=2), namespace=ns)
            await mark_finished(client, ns, "soon", "Complete", now)
            # Finished without a TTL, and unfinished with one: both stay.
            await client.create(JOBS, job_manifest("keep"), namespace=ns)
            await mark_finished(client, ns, "keep", "Complete", now - dt.timedelta(hours=1))
            await client.create(JOBS, job_manifest("running", ttlSecondsAfterFinished=0), namespace=ns)
            started = time.monotonic()
            await wait_for(lambda: gone(client, ns, "old"), timeout=5, message="the expired Job deleted")
            assert not await gone(client, ns, "soon")
            await wait_for(lambda: gone(client, ns, "soon"), timeout=10, interval=0.02, message="the Job due soon deleted")
            # The condition's time has whole seconds: the TTL ran out 1 to 2 s after it was written.
            assert time.monotonic() - started >= 0.9
            assert not await gone(client, ns, "keep")
            assert not await gone(client, ns, "running")

    asyncio.run(scenario())


def test_raising_the_ttl_before_it_runs_out_keeps_the_job(apiserver):
    async def scenario():
        async with running_controllers(apiserver.url, ["ttl-after-finished-controller", "garbage-collector-controller"]) as (client, _manager):
            ns = await fresh_namespace(client)
            await client.create(JOBS, job_manifest("extended", ttlSecondsAfterFinished=1), namespace=ns)
            await mark_finished(client, ns, "extended", "Complete", dt.datetime.now(dt.UTC))
            await client.patch(JOBS, "extended", {"spec": {"ttlSecondsAfterFinished": 3600}}, namespace=ns)
            await asyncio.sleep(2.2)
            assert not await gone(client, ns, "extended")
            await client.patch(JOBS, "extended", {"spec": {"ttlSecondsAfterFinished": 0}}, namespace=ns)
            await wait_for(lambda: gone(client, ns, "extended"), timeout=5, message="the Job deleted")

    asyncio.run(scenario())
