"""The Job controller's pure helpers: completedIndexes text, pending indexes, the order
surplus pods go in, pod failure back-off, and how pods count."""

from __future__ import annotations

import datetime as dt

from pyk8s.controllers._jobutil import (
    BackoffRecord, active_pods_removal_order, completion_index, duplicated_index_pods_for_removal,
    ensure_condition_status, first_pending_indexes, format_indexes, is_pod_failed, new_backoff_record,
    parse_indexes, pod_finished_time,
)

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
INDEX = "batch.kubernetes.io/job-completion-index"


def at(seconds: float) -> str:
    return (T0 + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def pod(name: str, *, index: int | None = None, phase: str = "Running", finished: float | None = None,
        node: str = "", ready: bool = False, created: float = 0, deleting: bool = False) -> dict:
    meta: dict = {"name": name, "uid": name, "creationTimestamp": at(created)}
    if index is not None:
        meta["annotations"] = {INDEX: str(index)}
    if deleting:
        meta["deletionTimestamp"] = at(created + 1)
    status: dict = {"phase": phase}
    if finished is not None:
        status["containerStatuses"] = [{"name": "main", "state": {"terminated": {"finishedAt": at(finished)}}}]
    if ready:
        status["conditions"] = [{"type": "Ready", "status": "True", "lastTransitionTime": at(created)}]
    return {"metadata": meta, "spec": {"nodeName": node}, "status": status}


def test_completed_indexes_round_trip_as_intervals():
    assert format_indexes([7, 1, 3, 4, 5]) == "1,3-5,7"
    assert format_indexes([]) == ""
    assert parse_indexes("1,3-5,7", 10) == {1, 3, 4, 5, 7}
    # Out of range (completions shrank) and malformed parts are ignored.
    assert parse_indexes("0-2,4-9,x,8", 6) == {0, 1, 2, 4, 5}


def test_pending_indexes_skip_succeeded_and_running_ones():
    running = [pod("a", index=1), pod("b", index=4)]
    assert first_pending_indexes({0, 2}, running, (), 3, 6) == [3, 5]
    assert first_pending_indexes(set(), running, [pod("c", index=0, deleting=True)], 2, 6) == [2, 3]


def test_completion_index_comes_from_the_annotation():
    assert completion_index(pod("a", index=3)) == 3
    assert completion_index(pod("a")) == -1
    assert completion_index({"metadata": {"annotations": {INDEX: "-1"}}}) == -1


def test_repeated_and_invalid_indexes_are_removed_keeping_the_most_advanced():
    pending = pod("pending", index=0, phase="Pending", created=10)
    running = pod("running", index=0, node="n1", created=5)
    stray = pod("stray")
    beyond = pod("beyond", index=9)
    remove, keep = duplicated_index_pods_for_removal([pending, running, stray, beyond, pod("one", index=1)], 3)
    assert sorted(p["metadata"]["name"] for p in remove) == ["beyond", "pending", "stray"]
    assert [p["metadata"]["name"] for p in keep] == ["running", "one"]


def test_surplus_pods_go_unassigned_pending_not_ready_and_newest_first():
    pods = [
        pod("ready-old", node="n", ready=True, created=1),
        pod("running-new", node="n", created=9),
        pod("running-old", node="n", created=2),
        pod("pending", phase="Pending", node="n", created=3),
        pod("unassigned", created=4),
    ]
    order = [p["metadata"]["name"] for p in sorted(pods, key=active_pods_removal_order)]
    assert order == ["unassigned", "pending", "running-new", "running-old", "ready-old"]


def test_back_off_doubles_per_failure_up_to_the_cap():
    record = new_backoff_record(None, [], [pod("f1", phase="Failed", finished=0)])
    assert record == BackoffRecord(1, T0)
    assert record.remaining(T0 + dt.timedelta(seconds=4), 10, 600) == 6
    record = new_backoff_record(record, [], [pod("f2", phase="Failed", finished=20),
                                             pod("f3", phase="Failed", finished=30)])
    # Three failures: 10 -> 20 -> 40 s after the latest one.
    assert record.failures_after_last_success == 3 and record.last_failure_time == T0 + dt.timedelta(seconds=30)
    assert record.remaining(T0 + dt.timedelta(seconds=40), 10, 600) == 30
    assert BackoffRecord(12, T0).remaining(T0, 10, 600) == 600


def test_a_success_resets_the_back_off_to_the_failures_after_it():
    record = BackoffRecord(4, T0)
    assert new_backoff_record(record, [pod("s", phase="Succeeded", finished=50)], []) == BackoffRecord()
    later = new_backoff_record(record, [pod("s", phase="Succeeded", finished=50)],
                               [pod("f1", phase="Failed", finished=40), pod("f2", phase="Failed", finished=60)])
    assert later == BackoffRecord(1, T0 + dt.timedelta(seconds=60))


def test_finish_time_falls_back_to_deletion_then_creation():
    assert pod_finished_time(pod("a", phase="Failed", finished=7)) == T0 + dt.timedelta(seconds=7)
    deleted = pod("b", created=3, deleting=True)
    deleted["metadata"]["deletionGracePeriodSeconds"] = 1
    assert pod_finished_time(deleted) == T0 + dt.timedelta(seconds=3)
    assert pod_finished_time(pod("c", created=2)) == T0 + dt.timedelta(seconds=2)


def test_deleted_pods_count_as_failed_unless_only_failed_pods_are_replaced():
    job = {"spec": {"podReplacementPolicy": "TerminatingOrFailed"}}
    assert is_pod_failed(pod("a", phase="Failed"), job)
    assert is_pod_failed(pod("b", deleting=True), job)
    assert not is_pod_failed(pod("c", phase="Succeeded", deleting=True), job)
    assert not is_pod_failed(pod("d", deleting=True), {"spec": {"podReplacementPolicy": "Failed"}})


def test_condition_status_is_only_appended_when_not_false():
    conditions: list = []
    assert not ensure_condition_status(conditions, "Suspended", "False", "JobResumed", "Job resumed", T0)
    assert ensure_condition_status(conditions, "Suspended", "True", "JobSuspended", "Job suspended", T0)
    assert not ensure_condition_status(conditions, "Suspended", "True", "JobSuspended", "Job suspended", T0)
    assert ensure_condition_status(conditions, "Suspended", "False", "JobResumed", "Job resumed", T0)
    assert conditions == [{"type": "Suspended", "status": "False", "lastProbeTime": "2025-01-01T00:00:00Z",
                           "lastTransitionTime": "2025-01-01T00:00:00Z", "reason": "JobResumed",
                           "message": "Job resumed"}]
