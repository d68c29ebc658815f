"""The Job controller against a live API server, with pods driven by hand through
``pods/status`` (no kubelet runs): completions and parallelism, back-off, backoffLimit,
activeDeadlineSeconds, Indexed Jobs, finalizer tracking, suspend, Events, and kubectl."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import tempfile
import time

from controllerhelpers import fresh_namespace, running_controllers, wait_for

from pyk8s.client import EVENTS, JOBS, PODS, ApiClient

CONTROLLERS = ["job-controller"]
# Short timings: pod events are batched for 50 ms instead of 1 s; back-off starts at 0.2 s.
OPTIONS = {"job_sync_batch_period": 0.05, "job_backoff_base": 0.2, "job_api_backoff_base": 0.05}
TRACKING = "batch.kubernetes.io/job-tracking"
INDEX_KEY = "batch.kubernetes.io/job-completion-index"
KUBECTL = "/work/venv/bin/kubectl"


def job_manifest(name: str, **spec) -> dict:
    return {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
        "spec": {"template": {"spec": {"restartPolicy": "Never",
                                       "containers": [{"name": "main", "image": "busybox"}]}}, **spec},
    }


def precise_now() -> str:
    # Sub-second finish times let the tests measure back-off delays below a second.
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def finish_pod(client: ApiClient, pod: dict, phase: str) -> None:
    """What a kubelet would report for a pod whose only container exited."""
    exit_code = 0 if phase == "Succeeded" else 1
    now = precise_now()
    status = {"phase": phase, "containerStatuses": [{
        "name": "main", "image": "busybox", "imageID": "", "ready": False, "restartCount": 0,
        "state": {"terminated": {"exitCode": exit_code, "reason": "Completed" if exit_code == 0 else "Error",
                                 "startedAt": now, "finishedAt": now}},
    }]}
    meta = pod["metadata"]
    await client.patch(PODS, meta["name"], {"status": status}, namespace=meta["namespace"], subresource="status")


def is_active(pod: dict) -> bool:
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed") and not pod["metadata"].get("deletionTimestamp")


async def job_pods(client: ApiClient, namespace: str, job: str) -> list[dict]:
    listed = await client.list(PODS, namespace=namespace, label_selector=f"batch.kubernetes.io/job-name={job}")
    return sorted(listed["items"], key=lambda pod: pod["metadata"]["creationTimestamp"] + pod["metadata"]["name"])


async def active_pods(client: ApiClient, namespace: str, job: str) -> list[dict]:
    return [pod for pod in await job_pods(client, namespace, job) if is_active(pod)]


async def job_condition(client: ApiClient, namespace: str, name: str, condition_type: str) -> dict | None:
    job = await client.get(JOBS, name, namespace=namespace)
    for condition in (job.get("status") or {}).get("conditions") or ():
        if condition["type"] == condition_type and condition["status"] == "True":
            return job
    return None


async def events_for(client: ApiClient, manager, namespace: str, name: str) -> list[tuple[str, str, str]]:
    await manager.recorder.flush()
    items = (await client.list(EVENTS, namespace=namespace))["items"]
    return [(e["type"], e["reason"], e["message"]) for e in items if e["involvedObject"]["name"] == name]


class ActiveWatch:
    """Every state of a Job's pods the watch shows, with the most active pods seen at once."""

    def __init__(self, client: ApiClient, namespace: str, job: str) -> None:
        self.client, self.namespace, self.job = client, namespace, job
        self.pods: dict[str, dict] = {}
        self.max_active = 0
        self.created: set[str] = set()
        self.names: dict[str, str] = {}  # uid -> name of every pod seen
        self.task: asyncio.Task | None = None

    async def _run(self) -> None:
        stream = self.client.watch(PODS, namespace=self.namespace,
                                   label_selector=f"batch.kubernetes.io/job-name={self.job}", resource_version="0")
        async with stream:
            async for event_type, pod in stream:
                if event_type == "BOOKMARK":
                    continue
                uid = pod["metadata"]["uid"]
                self.created.add(uid)
                self.names[uid] = pod["metadata"]["name"]
                if event_type == "DELETED":
                    self.pods.pop(uid, None)
                else:
                    self.pods[uid] = pod
                self.max_active = max(self.max_active, sum(1 for p in self.pods.values() if is_active(p)))

    async def __aenter__(self) -> ActiveWatch:
        self.task = asyncio.create_task(self._run())
        await asyncio.sleep(0.1)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


def test_completions_never_exceed_parallelism(apiserver):
    async def scenario():
        async with running_controllers(apiserver.url, CONTROLLERS, options=OPTIONS) as (client, manager):
            ns = await fresh_namespace(client)
            async with ActiveWatch(client, ns, "work") as watch:
                await client.create(JOBS, job_manifest("work", completions=5, parallelism=2), namespace=ns)
                for _ in range(5):
                    pods = await wait_for(lambda: active_pods(client, ns, "work"), message="an active pod")
                    assert len(pods) <= 2
                    await finish_pod(client, pods[0], "Succeeded")
                    await asyncio.sleep(0.15)
                job = await wait_for(lambda: job_condition(client, ns, "work", "Complete"), message="Complete")
                await asyncio.sleep(0.2)
            status = job["status"]
            assert status["succeeded"] == 5 and "failed" not in status and "active" not in status
            assert status["ready"] == 0 and status["terminating"] == 0 and status["uncountedTerminatedPods"] == {}
            assert [c["type"] for c in status["conditions"]] == ["SuccessCriteriaMet", "Complete"]
            assert status["conditions"][1]["reason"] == "CompletionsReached"
            assert status["completionTime"] and status["startTime"]
            assert watch.max_active == 2, watch.max_active
            assert len(watch.created) == 5  # no pod beyond the completions
            pods = await job_pods(client, ns, "work")
            for pod in pods:
                meta = pod["metadata"]
                assert TRACKING not in (meta.get("finalizers") or [])
                ref = meta["ownerReferences"][0]
                assert (ref["kind"], ref["name"], ref["controller"]) == ("Job", "work", True)
                assert meta["labels"]["batch.kubernetes.io/controller-uid"] == job["metadata"]["uid"]
                assert meta["labels"]["job-name"] == "work" and meta["generateName"] == "work-"
            events = await events_for(client, manager, ns, "work")
            created = sorted(m for _t, r, m in events if r == "SuccessfulCreate")
            assert created == sorted(f"Created pod: {pod['metadata']['name']}" for pod in pods)
            assert ("Normal", "Completed", "Job completed") in events

    asyncio.run(scenario())


def test_failed_pod_is_replaced_after_exponential_back_off(apiserver):
    options = {**OPTIONS, "job_backoff_base": 1.0}

    async def scenario():
        async with running_controllers(apiserver.url, CONTROLLERS, options=options) as (client, _manager):
            ns = await fresh_namespace(client)
            await client.create(JOBS, job_manifest("retry", backoffLimit=6), namespace=ns)
            for attempt, base_delay in enumerate((1.0, 2.0)):
                (pod,) = await wait_for(lambda: active_pods(client, ns, "retry"), message="a pod")
                await finish_pod(client, pod, "Failed")
                failed_at = time.monotonic()
                (replacement,) = await wait_for(lambda: active_pods(client, ns, "retry"), timeout=10,
                                                interval=0.02, message="the replacement")
                waited = time.monotonic() - failed_at
                assert replacement["metadata"]["uid"] != pod["metadata"]["uid"]
                # 1 s after the first failure, 2 s after the second (doubling from the base).
                assert base_delay - 0.1 <= waited <= base_delay + 1.5, (attempt, waited)
            job = await wait_for(lambda: _with_status(client, ns, "retry", "active", 1), message="active 1")
            assert job["status"]["failed"] == 2
            await finish_pod(client, replacement, "Succeeded")
            job = await wait_for(lambda: job_condition(client, ns, "retry", "Complete"), message="Complete")
            assert job["status"]["failed"] == 2 and job["status"]["succeeded"] == 1

    asyncio.run(scenario())


def test_backoff_limit_exceeded_fails_the_job(apiserver):
    async def scenario():
        async with running_controllers(apiserver.url, CONTROLLERS, options=OPTIONS) as (client, manager):
            ns = await fresh_namespace(client)
            await client.create(JOBS, job_manifest("flaky", backoffLimit=1), namespace=ns)
            for _ in range(2):
                (pod,) = await wait_for(lambda: active_pods(client, ns, "flaky"), message="a pod")
                await finish_pod(client, pod, "Failed")
            job = await wait_for(lambda: job_condition(client, ns, "flaky", "Failed"), message="Failed")
            status = job["status"]
            assert [c["type"] for c in status["conditions"]] == ["FailureTarget", "Failed"]
            failed = status["conditions"][1]
            assert failed["reason"] == "BackoffLimitExceeded"
            assert failed["message"] == "Job has reached the specified backoff limit"
            assert status["failed"] == 2 and "active" not in status and "completionTime" not in status
            await asyncio.sleep(0.3)
            assert await active_pods(client, ns, "flaky") == []  # no third attempt
            assert len(await job_pods(client, ns, "flaky")) == 2
            events = await events_for(client, manager, ns, "flaky")
            assert ("Warning", "BackoffLimitExceeded", "Job has reached the specified backoff limit") in events

    asyncio.run(scenario())


def test_active_deadline_fails_the_job_and_deletes_its_pods(apiserver):
    async def scenario():
        async with running_controllers(apiserver.url, CONTROLLERS, options=OPTIONS) as (client, manager):
            ns = await fresh_namespace(client)
            # Watched, not polled: the pods are active for only about the deadline, which a
            # loaded machine's polls (a list each) can miss.
            async with ActiveWatch(client, ns, "slow") as watch:
                await client.create(JOBS, job_manifest("slow", completions=4, parallelism=2, activeDeadlineSeconds=2),
                                    namespace=ns)
                await wait_for(lambda: watch.max_active >= 2, message="two active pods")
                job = await wait_for(lambda: job_condition(client, ns, "slow", "Failed"), timeout=10, message="Failed")
                names = sorted(watch.names.values())
            status = job["status"]
            assert [c["type"] for c in status["conditions"]] == ["FailureTarget", "Failed"]
            assert status["conditions"][1]["reason"] == "DeadlineExceeded"
            assert status["conditions"][1]["message"] == "Job was active longer than specified deadline"
            # The running pods were deleted, and counted as failed before they went.
            assert status["failed"] == 2 and "active" not in status and status["terminating"] == 0
            assert await job_pods(client, ns, "slow") == []
            events = await events_for(client, manager, ns, "slow")
            assert ("Warning", "DeadlineExceeded", "Job was active longer than specified deadline") in events
            deleted = sorted(m for _t, r, m in events if r == "SuccessfulDelete")
            assert len(names) == 2 and deleted == [f"Deleted pod: {name}" for name in names]

    asyncio.run(scenario())


async def _at_least(pods_awaitable, count: int):
    pods = await pods_awaitable
    return pods if len(pods) >= count else None


def test_indexed_job_runs_each_index_once(apiserver):
    async def scenario():
        async with running_controllers(apiserver.url, CONTROLLERS, options=OPTIONS) as (client, _manager):
            ns = await fresh_namespace(client)
            await client.create(JOBS, job_manifest("idx", completions=3, parallelism=3, completionMode="Indexed"),
                                namespace=ns)
            pods = await wait_for(lambda: _at_least(active_pods(client, ns, "idx"), 3), message="three pods")
            by_index = {int(pod["metadata"]["annotations"][INDEX_KEY]): pod for pod in pods}
            assert sorted(by_index) == [0, 1, 2]
            for index, pod in by_index.items():
                meta = pod["metadata"]
                assert meta["labels"][INDEX_KEY] == str(index)
                assert meta["generateName"] == f"idx-{index}-"
                assert pod["spec"]["hostname"] == f"idx-{index}"
                (variable,) = pod["spec"]["containers"][0]["env"]
                assert variable["name"] == "JOB_COMPLETION_INDEX"
                assert variable["valueFrom"]["fieldRef"]["fieldPath"] == f"metadata.labels['{INDEX_KEY}']"
            await finish_pod(client, by_index[1], "Succeeded")
            await finish_pod(client, by_index[0], "Failed")

            async def replacement_for_zero():
                for pod in await active_pods(client, ns, "idx"):
                    if pod["metadata"]["annotations"][INDEX_KEY] == "0" and pod["metadata"]["uid"] != by_index[0]["metadata"]["uid"]:
                        return pod
                return None

            zero = await wait_for(replacement_for_zero, message="index 0 again")
            job = await client.get(JOBS, "idx", namespace=ns)
            assert job["status"]["completedIndexes"] == "1" and job["status"]["failed"] == 1
            assert len(await active_pods(client, ns, "idx")) == 2  # index 1 is not run again
            await finish_pod(client, zero, "Succeeded")
            await finish_pod(client, by_index[2], "Succeeded")
            job = await wait_for(lambda: job_condition(client, ns, "idx", "Complete"), message="Complete")
            assert job["status"]["completedIndexes"] == "0-2"
            assert job["status"]["succeeded"] == 3 and job["status"]["failed"] == 1

    asyncio.run(scenario())


def test_pods_are_counted_before_their_finalizer_goes(apiserver):
    async def scenario():
        async with running_controllers(apiserver.url, CONTROLLERS, options=OPTIONS) as (client, _manager):
            ns = await fresh_namespace(client)
            await client.create(JOBS, job_manifest("count", completions=2), namespace=ns)
            (first,) = await wait_for(lambda: active_pods(client, ns, "count"), message="a pod")
            assert first["metadata"]["finalizers"] == [TRACKING]
            # Finished and deleted at once: the finalizer keeps the pod until it is counted.
            await finish_pod(client, first, "Succeeded")
            await client.delete(PODS, first["metadata"]["name"], namespace=ns)
            (second,) = await wait_for(lambda: active_pods(client, ns, "count"), message="the second pod")
            job = await wait_for(lambda: _with_status(client, ns, "count", "succeeded", 1), message="succeeded 1")
            assert job["status"]["uncountedTerminatedPods"] == {}

            async def first_gone():
                return not any(p["metadata"]["uid"] == first["metadata"]["uid"] for p in await job_pods(client, ns, "count"))

            await wait_for(first_gone, message="the counted pod deleted")
            await finish_pod(client, second, "Succeeded")
            job = await wait_for(lambda: job_condition(client, ns, "count", "Complete"), message="Complete")
            assert job["status"]["succeeded"] == 2
            (left,) = await job_pods(client, ns, "count")
            assert TRACKING not in (left["metadata"].get("finalizers") or [])

    asyncio.run(scenario())


async def _with_status(client: ApiClient, namespace: str, name: str, field: str, value) -> dict | None:
    job = await client.get(JOBS, name, namespace=namespace)
    return job if (job.get("status") or {}).get(field) == value else None


def test_suspended_job_starts_when_resumed(apiserver):
    async def scenario():
        async with running_controllers(apiserver.url, CONTROLLERS, options=OPTIONS) as (client, manager):
            ns = await fresh_namespace(client)
            await client.create(JOBS, job_manifest("later", suspend=True), namespace=ns)
            job = await wait_for(lambda: job_condition(client, ns, "later", "Suspended"), message="Suspended")
            assert "startTime" not in job["status"]
            assert await job_pods(client, ns, "later") == []
            await client.patch(JOBS, "later", {"spec": {"suspend": False}}, namespace=ns)
            (pod,) = await wait_for(lambda: active_pods(client, ns, "later"), message="a pod")

            async def resumed():
                job = await client.get(JOBS, "later", namespace=ns)
                (suspended,) = [c for c in job["status"]["conditions"] if c["type"] == "Suspended"]
                return job if suspended["status"] == "False" else None

            job = await wait_for(resumed, message="Suspended=False")
            (suspended,) = [c for c in job["status"]["conditions"] if c["type"] == "Suspended"]
            assert suspended["reason"] == "JobResumed" and suspended["message"] == "Job resumed"
            assert job["status"]["startTime"]
            events = await events_for(client, manager, ns, "later")
            assert ("Normal", "Suspended", "Job suspended") in events
            assert ("Normal", "Resumed", "Job resumed") in events

    asyncio.run(scenario())


JOB_YAML = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: pi
spec:
  completions: 2
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: busybox
        command: ["sh", "-c", "echo hi"]
"""


def test_kubectl_waits_for_a_completed_job(apiserver):
    async def scenario():
        async with running_controllers(apiserver.url, CONTROLLERS, options=OPTIONS) as (client, _manager):
            ns = await fresh_namespace(client)
            with tempfile.TemporaryDirectory() as tmp:
                manifest = os.path.join(tmp, "job.yaml")
                with open(manifest, "w") as handle:
                    handle.write(JOB_YAML)

                def kubectl(*args: str) -> subprocess.CompletedProcess:
                    return subprocess.run(
                        [KUBECTL, "--server", apiserver.url, "--cache-dir", os.path.join(tmp, "cache"), "-n", ns, *args],
                        capture_output=True, text=True, timeout=60)

                applied = await asyncio.to_thread(kubectl, "apply", "-f", manifest)
                assert applied.returncode == 0, applied.stderr
                waiter = asyncio.create_task(asyncio.to_thread(
                    kubectl, "wait", "--for=condition=complete", "job/pi", "--timeout=30s"))
                pods = await wait_for(lambda: _at_least(active_pods(client, ns, "pi"), 2), message="two pods")
                running = await asyncio.to_thread(kubectl, "get", "job", "pi")
                assert running.returncode == 0, running.stderr
                assert "0/2" in running.stdout.splitlines()[1] and "Running" in running.stdout
                for pod in pods:
                    await finish_pod(client, pod, "Succeeded")
                waited = await waiter
                assert waited.returncode == 0, waited.stderr
                assert waited.stdout.strip() == "job.batch/pi condition met"
                table = await asyncio.to_thread(kubectl, "get", "job", "pi")
                header, row = table.stdout.splitlines()
                assert header.split()[:3] == ["NAME", "STATUS", "COMPLETIONS"]
                assert row.split()[:3] == ["pi", "Complete", "2/2"]

    asyncio.run(scenario())


def test_orphans_matching_a_manual_selector_are_adopted_and_released(apiserver):
    async def scenario():
        async with running_controllers(apiserver.url, CONTROLLERS, options=OPTIONS) as (client, _manager):
            ns = await fresh_namespace(client)
            orphan = await client.create(PODS, {
                "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "orphan", "labels": {"app": "adopt"}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]},
            }, namespace=ns)
            manifest = job_manifest("adopter", manualSelector=True, selector={"matchLabels": {"app": "adopt"}})
            manifest["spec"]["template"]["metadata"] = {"labels": {"app": "adopt"}}
            job = await client.create(JOBS, manifest, namespace=ns)

            async def adopted():
                pod = await client.get(PODS, "orphan", namespace=ns)
                return pod if pod["metadata"].get("ownerReferences") else None

            pod = await wait_for(adopted, message="the orphan adopted")
            ref = pod["metadata"]["ownerReferences"][0]
            assert (ref["uid"], ref["controller"]) == (job["metadata"]["uid"], True)
            assert TRACKING in pod["metadata"]["finalizers"]
            await asyncio.sleep(0.3)
            listed = (await client.list(PODS, namespace=ns))["items"]
            assert [p["metadata"]["name"] for p in listed] == ["orphan"]  # adopted, not duplicated

            # Relabelled out of the selector: released (reference and finalizer gone), replaced.
            await client.patch(PODS, "orphan", {"metadata": {"labels": {"app": "other"}}}, namespace=ns)

            async def released():
                pod = await client.get(PODS, "orphan", namespace=ns)
                meta = pod["metadata"]
                return not meta.get("ownerReferences") and TRACKING not in (meta.get("finalizers") or [])

            await wait_for(released, message="the pod released")

            async def replacement():
                items = (await client.list(PODS, namespace=ns, label_selector="app=adopt"))["items"]
                return items or None

            (new,) = await wait_for(replacement, message="a replacement pod")
            assert new["metadata"]["uid"] != orphan["metadata"]["uid"]
            await finish_pod(client, new, "Succeeded")
            await wait_for(lambda: job_condition(client, ns, "adopter", "Complete"), message="Complete")

    asyncio.run(scenario())


def test_lowering_parallelism_deletes_surplus_pods_without_counting_them(apiserver):
    async def scenario():
        async with running_controllers(apiserver.url, CONTROLLERS, options=OPTIONS) as (client, manager):
            ns = await fresh_namespace(client)
            await client.create(JOBS, job_manifest("wide", completions=6, parallelism=3), namespace=ns)
            await wait_for(lambda: _at_least(active_pods(client, ns, "wide"), 3), message="three pods")
            await client.patch(JOBS, "wide", {"spec": {"parallelism": 1}}, namespace=ns)

            async def one_left():
                pods = await job_pods(client, ns, "wide")
                return pods if len(pods) == 1 else None

            (kept,) = await wait_for(one_left, message="the surplus deleted")
            # Counted as terminating while they go, then not at all.
            async def settled():
                job = await client.get(JOBS, "wide", namespace=ns)
                return job if (job["status"].get("active"), job["status"].get("terminating")) == (1, 0) else None

            job = await wait_for(settled, message="one active, none terminating")
            assert "failed" not in job["status"]
            assert kept["metadata"]["finalizers"] == [TRACKING]
            events = await events_for(client, manager, ns, "wide")
            assert sum(1 for _t, reason, _m in events if reason == "SuccessfulDelete") == 2

    asyncio.run(scenario())


def test_work_queue_job_completes_when_one_pod_succeeded_and_the_rest_exited(apiserver):
    async def scenario():
        async with running_controllers(apiserver.url, CONTROLLERS, options=OPTIONS) as (client, _manager):
            ns = await fresh_namespace(client)
            manifest = job_manifest("queue", parallelism=2)  # no completions: a work queue
            await client.create(JOBS, manifest, namespace=ns)
            first, second = await wait_for(lambda: _at_least(active_pods(client, ns, "queue"), 2), message="two pods")
            await finish_pod(client, first, "Succeeded")
            job = await wait_for(lambda: _with_status(client, ns, "queue", "succeeded", 1), message="succeeded 1")
            await asyncio.sleep(0.3)
            assert len(await job_pods(client, ns, "queue")) == 2  # a success stops new pods
            assert await job_condition(client, ns, "queue", "Complete") is None
            await finish_pod(client, second, "Succeeded")
            job = await wait_for(lambda: job_condition(client, ns, "queue", "Complete"), message="Complete")
            assert job["status"]["succeeded"] == 2 and "completions" not in job["spec"]

    asyncio.run(scenario())
