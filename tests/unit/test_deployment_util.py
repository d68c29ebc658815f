"""The Deployment controller's arithmetic against hand-made objects: upstream's tables from
pkg/controller/deployment/{util/deployment_util_test.go, sync_test.go, rolling_test.go,
progress_test.go}, with the expected numbers worked out beside each case."""

from __future__ import annotations

import datetime as dt

import pytest

from pyk8s.controllers import _deployment_scaling as scaling
from pyk8s.controllers import _deployment_status as progress
from pyk8s.controllers import _deployment_util as util

OLDER = "2024-01-01T00:00:00Z"
OLD = "2024-01-01T00:01:00Z"
NEW = "2024-01-01T00:02:00Z"
NOW = dt.datetime(2024, 1, 1, 1, 0, 0, tzinfo=dt.UTC)


def deployment(replicas=1, surge=0, unavailable=0, strategy="RollingUpdate", generation=1, **spec):
    """upstream's test newDeployment: maxSurge and maxUnavailable 0 unless given."""
    strategy_obj = {"type": strategy}
    if strategy == "RollingUpdate":
        strategy_obj["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    return {
        "metadata": {"name": "foo", "namespace": "default", "uid": "d-uid", "generation": generation},
        "spec": {"replicas": replicas, "strategy": strategy_obj, "progressDeadlineSeconds": 600,
                 "template": {"metadata": {"labels": {"app": "foo"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
                 **spec},
        "status": {},
    }


def rs(name, size, created=NEW, available=None, annotations=None, template=None, **status):
    obj = {
        "metadata": {"name": name, "namespace": "default", "uid": f"{name}-uid", "creationTimestamp": created,
                     "annotations": dict(annotations or {})},
        "spec": {"replicas": size, "template": template or {}},
        "status": dict(status),
    }
    if available is not None:
        obj["status"]["availableReplicas"] = available
    return obj


def sized(steps, *rss):
    """The sizes after applying ``steps`` to ``rss``, by name."""
    sizes = {r["metadata"]["name"]: r["spec"]["replicas"] for r in rss if r is not None}
    for step in steps:
        sizes[step.rs["metadata"]["name"]] = step.replicas
    return sizes


# -- maxSurge / maxUnavailable -------------------------------------------------------------------


@pytest.mark.parametrize("surge, unavailable, desired, expected", [
    ("25%", "25%", 10, (3, 2)),    # 2.5 up -> 3, 2.5 down -> 2
    ("25%", "25%", 4, (1, 1)),     # exact
    ("25%", "25%", 1, (1, 0)),     # 0.25 up -> 1, down -> 0
    ("25%", "25%", 3, (1, 0)),     # 0.75 up -> 1, down -> 0
    ("34%", "34%", 3, (2, 1)),     # 1.02 up -> 2, down -> 1
    (0, "10%", 5, (0, 1)),         # 0.5 down -> 0: both zero -> unavailable 1
    ("0%", "0%", 10, (0, 1)),      # both zero -> unavailable 1
    (1, 0, 3, (1, 0)),
    (None, None, 3, (0, 1)),       # nil counts as 0
    ("100%", "0%", 7, (7, 0)),
])
def test_resolve_fenceposts(surge, unavailable, desired, expected):
    assert util.resolve_fenceposts(surge, unavailable, desired) == expected


@pytest.mark.parametrize("value", ["5", "abc%", "1.5%", "5 %", "1_0%", True, 1.5])
def test_scaled_value_rejects_what_go_rejects(value):
    with pytest.raises(ValueError):
        util.scaled_value(value, 10, True)


def test_max_surge_and_unavailable_of_a_deployment():
    assert util.max_surge(deployment(10, "25%", "25%")) == 3
    assert util.max_unavailable(deployment(10, "25%", "25%")) == 2
    assert util.max_unavailable(deployment(3, 0, 5)) == 3          # capped at replicas
    assert util.max_unavailable(deployment(0, "25%", "25%")) == 0  # nothing to lose
    recreate = deployment(5, strategy="Recreate")
    assert util.max_surge(recreate) == 0 and util.max_unavailable(recreate) == 0 and util.min_available(recreate) == 0
    assert util.min_available(deployment(10, "25%", "25%")) == 8


# -- hashing and templates -------------------------------------------------------------------


def test_fnv32a_and_safe_encoding():
    assert util.fnv32a(b"") == 0x811C9DC5
    assert util.fnv32a(b"a") == 0xE40C292C
    assert util.fnv32a(b"foobar") == 0xBF9CF968
    # '0' is byte 48, 48 % 27 = 21 -> '4'; '6' is 54 % 27 = 0 -> 'b'
    assert util.safe_encode_string("0123456789") == "456789bcdf"


def test_compute_hash_is_stable_and_changes_with_collision_count():
    template = deployment()["spec"]["template"]
    reordered = {"spec": template["spec"], "metadata": template["metadata"]}
    first = util.compute_hash(template, None)
    assert first == util.compute_hash(reordered, None)
    assert set(first) <= set("bcdfghjklmnpqrstvwxz2456789") and 1 <= len(first) <= 10
    assert util.compute_hash(template, 0) != first            # a non-nil count is hashed in
    assert util.compute_hash(template, 1) != util.compute_hash(template, 0)
    changed = {**template, "spec": {"containers": [{"name": "c", "image": "other"}]}}
    assert util.compute_hash(changed, None) != first


def test_equal_ignore_hash():
    base = {"metadata": {"labels": {"app": "foo"}}, "spec": {"containers": [{"name": "c"}]}}
    hashed = {"metadata": {"labels": {"app": "foo", "pod-template-hash": "abc"}}, "spec": {"containers": [{"name": "c"}]}}
    assert util.equal_ignore_hash(base, hashed)
    # what kubectl's Go structs send back: creationTimestamp null, empty maps
    round_trip = {"metadata": {"creationTimestamp": None, "labels": {"app": "foo"}, "annotations": {}},
                  "spec": {"containers": [{"name": "c", "resources": {}}]}}
    assert util.equal_ignore_hash(base, round_trip)
    assert not util.equal_ignore_hash(base, {"metadata": {"labels": {"app": "bar"}}, "spec": base["spec"]})
    only_hash = {"metadata": {"labels": {"pod-template-hash": "x"}}}
    assert util.equal_ignore_hash({}, only_hash)


def test_equal_ignore_hash_compares_quantities_by_value():
    def with_resources(cpu, memory, size_limit="1Gi"):
        return {"spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu, "memory": memory}}}],
                         "volumes": [{"name": "v", "emptyDir": {"sizeLimit": size_limit}}]}}

    # what the user wrote vs what kubectl's Go Quantity sends back on rollout undo
    assert util.equal_ignore_hash(with_resources("0.5", "1024Mi"), with_resources("500m", "1Gi", "1024Mi"))
    assert not util.equal_ignore_hash(with_resources("0.5", "1Gi"), with_resources("0.6", "1Gi"))
    assert util.parse_quantity("1e3") == 1000 and util.parse_quantity("2Ki") == 2048


def test_find_new_and_old_replica_sets():
    d = deployment()
    template = d["spec"]["template"]
    hashed = {**template, "metadata": {"labels": {"app": "foo", "pod-template-hash": "h"}}}
    newer_match = rs("b", 1, created=NEW, template=hashed)
    older_match = rs("a", 1, created=OLD, template=template)
    other = rs("c", 1, created=OLDER, template={"metadata": {"labels": {"app": "x"}}})
    # two matching (upstream #40415): the oldest wins
    assert util.find_new_replica_set(d, [newer_match, other, older_match]) is older_match
    assert util.find_old_replica_sets(d, [newer_match, other, older_match]) == [newer_match, other]
    assert util.find_new_replica_set(d, [other]) is None


# -- revisions and annotations ---------------------------------------------------------------


def test_new_replica_set_annotations_on_create():
    d = deployment(10, "25%", "25%")
    d["metadata"]["annotations"] = {
        "kubernetes.io/change-cause": "kubectl set image", "team": "a",
        util.LAST_APPLIED_ANNOTATION: "{}", util.REVISION_ANNOTATION: "7",
    }
    new = rs("n", 0, annotations={})
    assert util.set_new_replica_set_annotations(d, new, "3", exists=False)
    assert new["metadata"]["annotations"] == {
        "kubernetes.io/change-cause": "kubectl set image", "team": "a",
        util.REVISION_ANNOTATION: "3",
        util.DESIRED_REPLICAS_ANNOTATION: "10", util.MAX_REPLICAS_ANNOTATION: "13",  # 10 + ceil(2.5)
    }
    assert not util.set_new_replica_set_annotations(d, new, "3", exists=True)


def test_rollback_renumbers_and_keeps_history():
    d = deployment()
    old = rs("o", 0, annotations={util.REVISION_ANNOTATION: "1"})
    assert util.set_new_replica_set_annotations(d, old, "3", exists=True)
    assert old["metadata"]["annotations"][util.REVISION_ANNOTATION] == "3"
    assert old["metadata"]["annotations"][util.REVISION_HISTORY_ANNOTATION] == "1"
    util.set_new_replica_set_annotations(d, old, "5", exists=True)
    assert old["metadata"]["annotations"][util.REVISION_HISTORY_ANNOTATION] == "1,3"
    # never lowered
    assert not util.set_new_replica_set_annotations(d, old, "4", exists=True)
    assert old["metadata"]["annotations"][util.REVISION_ANNOTATION] == "5"


def test_revision_history_is_capped_in_characters():
    old = rs("o", 0, annotations={util.REVISION_ANNOTATION: "9", util.REVISION_HISTORY_ANNOTATION: "1,2,3"})
    # "1,2,3" + ",9" is 7 chars; over the limit of 5 the oldest entry goes ("1,": 7 - 2 = 5)
    util.set_new_replica_set_annotations(deployment(), old, "10", exists=True, history_limit_chars=5)
    assert old["metadata"]["annotations"][util.REVISION_HISTORY_ANNOTATION] == "2,3,9"


def test_unparsable_revision_is_left_alone():
    old = rs("o", 0, annotations={util.REVISION_ANNOTATION: "x"})
    assert not util.set_new_replica_set_annotations(deployment(), old, "3", exists=True)
    assert util.revision(old) is None and util.max_revision([old, rs("p", 0, annotations={util.REVISION_ANNOTATION: "4"})]) == 4


def test_by_revision_oldest_first():
    a = rs("a", 0, created=NEW, annotations={util.REVISION_ANNOTATION: "1"})
    b = rs("b", 0, created=OLDER, annotations={util.REVISION_ANNOTATION: "3"})
    c = rs("c", 0, created=OLD, annotations={util.REVISION_ANNOTATION: "2"})
    assert [r["metadata"]["name"] for r in util.by_revision([b, c, a])] == ["a", "c", "b"]


# -- NewRSNewReplicas ------------------------------------------------------------------------


@pytest.mark.parametrize("strategy, dep_replicas, new_replicas, surge, expected", [
    # upstream TestNewRSNewReplicas: allRSs is one old RS of 5
    ("RollingUpdate", 1, 5, 1, 5),   # 5 >= 1 + 1: cannot scale up, stays 5
    ("RollingUpdate", 6, 2, 10, 6),  # room 6 + 10 - 5 = 11, capped at 6 - 2 = 4: 6
    ("Recreate", 3, 1, 1, 3),
])
def test_new_rs_new_replicas(strategy, dep_replicas, new_replicas, surge, expected):
    d = deployment(dep_replicas, surge, 0, strategy=strategy)
    assert scaling.new_rs_new_replicas(d, [rs("old", 5)], rs("new", new_replicas)) == expected


def test_new_rs_grows_by_the_surge_only():
    d = deployment(10, "25%", "25%")                # surge 3: at most 13 in all
    old, new = rs("old", 10, OLD), rs("new", 0)
    assert scaling.new_rs_new_replicas(d, [old, new], new) == 3
    assert scaling.new_rs_new_replicas(d, [rs("old", 8, OLD), rs("new", 3)], rs("new", 3)) == 5


# -- reconcileOldReplicaSets / cleanupUnhealthyReplicas ----------------------------------------


@pytest.mark.parametrize("dep, unavailable, old_size, new_size, old_ready, new_ready, expected_old", [
    # upstream TestDeploymentController_reconcileOldReplicaSets
    (10, 0, 10, 0, 10, 0, 9),     # surge 0 and unavailable 0 -> unavailable 1: 10 -> 9
    (10, 2, 10, 0, 10, 0, 8),
    (10, 2, 10, 0, 8, 0, 8),      # the 2 unhealthy go first; then availability is at the minimum
    (10, 2, 10, 0, 9, 0, 8),      # 1 unhealthy + 1 available
    (10, 2, 8, 2, 8, 0, None),    # max scaled down = 10 - 8 - 2 (new not available) = 0: nothing
])
def test_reconcile_old_replica_sets(dep, unavailable, old_size, new_size, old_ready, new_ready, expected_old):
    d = deployment(dep, 0, unavailable)
    old = rs("old", old_size, OLD, available=old_ready)
    new = rs("new", new_size, NEW, available=new_ready)
    steps = scaling.reconcile_old_plan(d, [old, new], [old], new)
    if expected_old is None:
        assert steps == []
    else:
        assert sized(steps, old)["old"] == expected_old


@pytest.mark.parametrize("ready, max_cleanup, expected", [
    # upstream TestDeploymentController_cleanupUnhealthyReplicas: 10 old, 2 unhealthy
    (8, 1, 1), (8, 3, 2), (8, 0, 0), (10, 3, 0),
])
def test_cleanup_unhealthy_replicas(ready, max_cleanup, expected):
    steps, after, count = scaling.cleanup_unhealthy_plan([rs("old", 10, available=ready)], max_cleanup)
    assert count == expected and len(steps) == (1 if expected else 0)
    assert after[0]["spec"]["replicas"] == 10 - expected


def test_cleanup_takes_oldest_first():
    older, old = rs("older", 3, OLDER, available=1), rs("old", 3, OLD, available=0)
    steps, _, count = scaling.cleanup_unhealthy_plan([old, older], 3)
    # older has 2 unhealthy (3 - 1), then old gives 1 of its 3
    assert count == 3 and [(s.rs["metadata"]["name"], s.replicas) for s in steps] == [("older", 1), ("old", 2)]


@pytest.mark.parametrize("unavailable, ready, old_size, expected_old", [
    # upstream TestDeploymentController_scaleDownOldReplicaSetsForRollingUpdate (10 replicas)
    (0, 10, 10, 9),
    (2, 10, 10, 8),
    (2, 8, 10, None),   # 8 available = the minimum
    (2, 10, 0, None),   # nothing to scale down
    (2, 1, 10, None),
])
def test_scale_down_old_for_rolling_update(unavailable, ready, old_size, expected_old):
    d = deployment(10, 0, unavailable)
    old = rs("old", old_size, available=ready)
    steps = scaling.scale_down_old_plan(d, [old], [old])
    assert (sized(steps, old)["old"] if steps else None) == expected_old


def test_stale_status_does_not_overdraw_availability():
    # An old ReplicaSet just scaled 3 -> 2 still reports 3 available: only 2 count, so with
    # 2 new available and a minimum of 3 (4 - 1) one more old pod may go, not two.
    d = deployment(4, 1, 1)
    old, new = rs("old", 2, OLD, available=3), rs("new", 2, NEW, available=2)
    steps = scaling.scale_down_old_plan(d, [old, new], [old])
    assert sized(steps, old)["old"] == 1


# -- proportional scaling (upstream TestScale) --------------------------------------------------


def annotated(obj, desired, maximum):
    util.set_replicas_annotations(obj, desired, maximum)
    return obj


SCALE_CASES = {
    # name: (deployment, previous (replicas, maxSurge), new RS, old RSs, expected sizes)
    "normal scaling event: 10 -> 12": (deployment(12), (10, 0), rs("v1", 10), [], {"v1": 12}),
    "normal scaling event: 10 -> 5": (deployment(5), (10, 0), rs("v1", 10), [], {"v1": 5}),
    # 2/5 and 3/5 of 10: 4 and 6
    "proportional scaling: 5 -> 10": (deployment(10), (5, 0), rs("v2", 2), [rs("v1", 3, OLD)], {"v2": 4, "v1": 6}),
    # round(2*3/5)=1, round(3*3/5)=2
    "proportional scaling: 5 -> 3": (deployment(3), (5, 0), rs("v2", 2), [rs("v1", 3, OLD)], {"v2": 1, "v1": 2}),
    # round(8*4/9)=4, round(1*4/9)=0
    "proportional scaling: 9 -> 4": (deployment(4), (9, 0), rs("v2", 8), [rs("v1", 1, OLD)], {"v2": 4, "v1": 0}),
    # round(3*10/7)=4, round(2*10/7)=3 twice: 3 added
    "proportional scaling: 7 -> 10": (deployment(10), (7, 0), rs("v3", 2), [rs("v2", 3, OLD), rs("v1", 2, OLDER)],
                                      {"v3": 3, "v2": 4, "v1": 3}),
    # round(8*8/13)=5, round(3*8/13)=2, round(2*8/13)=1
    "proportional scaling: 13 -> 8": (deployment(8), (13, 0), rs("v3", 2), [rs("v2", 8, OLD), rs("v1", 3, OLDER)],
                                      {"v3": 1, "v2": 5, "v1": 2}),
    # every share rounds to 0: the leftover 1 goes to the newest of the largest
    "leftover distribution: 3 -> 4": (deployment(4), (3, 0), rs("v3", 1), [rs("v2", 1, OLD), rs("v1", 1, OLDER)],
                                      {"v3": 2, "v2": 1, "v1": 1}),
    # and when shrinking, from the oldest of the largest
    "leftover distribution: 3 -> 2": (deployment(2), (3, 0), rs("v3", 1), [rs("v2", 1, OLD), rs("v1", 1, OLDER)],
                                      {"v3": 1, "v2": 1, "v1": 0}),
    # round(2*5/4) = round(2.5) = 3 (half away from zero, as Go's math.Round)
    "proportional scaling (no new rs): 4 -> 5": (deployment(5), (4, 0), None, [rs("v2", 2, OLD), rs("v1", 2, OLDER)],
                                                 {"v2": 3, "v1": 2}),
    "proportional scaling: 6 -> 0": (deployment(0), (6, 0), rs("v3", 3), [rs("v2", 2, OLD), rs("v1", 1, OLDER)],
                                     {"v3": 0, "v2": 0, "v1": 0}),
    "proportional scaling: 0 -> 6": (deployment(6), (6, 0), rs("v3", 0), [rs("v2", 0, OLD), rs("v1", 0, OLDER)],
                                     {"v3": 6, "v2": 0, "v1": 0}),
    # 12 -> 22 max: round(6*22/12) = 11 each
    "deployment with surge pods": (deployment(20, 2), (10, 2), rs("v2", 6), [rs("v1", 6, OLD)], {"v2": 11, "v1": 11}),
    # 13 -> 56 max: round(8*56/13) = 34, round(5*56/13) = 22
    "change both surge and size": (deployment(50, 6), (10, 3), rs("v2", 5), [rs("v1", 8, OLD)], {"v2": 22, "v1": 34}),
}


@pytest.mark.parametrize("name", SCALE_CASES)
def test_scale(name):
    d, (previous, previous_surge), new, olds, expected = SCALE_CASES[name]
    for obj in [new, *olds]:
        if obj is not None:
            annotated(obj, previous, previous + previous_surge)
    steps = scaling.scale_plan(d, new, olds)
    assert sized(steps, new, *olds) == expected
    # a resize never goes below zero, and growing never passes replicas + maxSurge in all
    assert sum(expected.values()) <= max(util.replicas(d) + util.max_surge(d), sum(sized([], new, *olds).values()))


def test_scale_after_a_failed_update_uses_each_replica_sets_own_annotation():
    # upstream "failed rs update": v2 still says it was sized for 3
    d = deployment(5)
    new = annotated(rs("v3", 2), 5, 5)
    olds = [annotated(rs("v2", 1, OLD), 3, 3), annotated(rs("v1", 1, OLDER), 5, 5)]
    assert sized(scaling.scale_plan(d, new, olds), new, *olds) == {"v3": 2, "v2": 2, "v1": 1}


def test_saturated_new_replica_set_scales_old_ones_to_zero():
    d = deployment(3, 1, 0)
    new = annotated(rs("new", 3, available=3), 3, 4)
    old = rs("old", 1, OLD)
    assert [(s.rs["metadata"]["name"], s.replicas) for s in scaling.scale_plan(d, new, [old])] == [("old", 0)]
    # but a saturated size that is not available (broken template) leaves the old pods alone
    d = deployment(2, 1, 1)
    broken = annotated(rs("new", 2, available=0), 2, 3)
    steps = scaling.scale_plan(d, broken, [annotated(rs("old", 1, OLD), 2, 3)])
    assert sized(steps, broken, rs("old", 1)) == {"new": 2, "old": 1}


def test_change_both_size_and_template():
    d = deployment(14)
    olds = [annotated(rs("v2", 7, NEW), 10, 10), annotated(rs("v1", 3, OLD), 10, 10)]
    # round(7*14/10) = 10, round(3*14/10) = 4
    assert sized(scaling.scale_plan(d, None, olds), *olds) == {"v2": 10, "v1": 4}


def test_find_active_or_latest():
    new, old, older = rs("new", 0, NEW), rs("old", 0, OLD), rs("older", 0, OLDER)
    assert scaling.find_active_or_latest(new, [older, old]) is new
    assert scaling.find_active_or_latest(None, [older, old]) is old
    active = rs("older", 2, OLDER)
    assert scaling.find_active_or_latest(new, [active, old]) is active
    assert scaling.find_active_or_latest(rs("new", 1), [active]) is None


# -- status and progress ---------------------------------------------------------------------


def test_calculate_status():
    d = deployment(3, 1, 1, generation=4)
    d["status"] = {"collisionCount": 2}
    new = rs("new", 2, available=1, replicas=2, readyReplicas=1, observedGeneration=1, terminatingReplicas=0)
    old = rs("old", 1, OLD, available=1, replicas=2, readyReplicas=2, observedGeneration=3, terminatingReplicas=1)
    status = progress.calculate_status([old, new], new, d, NOW)
    conditions = status.pop("conditions")
    assert status == {"observedGeneration": 4, "replicas": 4, "updatedReplicas": 2, "readyReplicas": 3,
                      "availableReplicas": 2, "unavailableReplicas": 1, "terminatingReplicas": 1, "collisionCount": 2}
    assert conditions == [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                           "message": "Deployment has minimum availability.",
                           "lastUpdateTime": "2024-01-01T01:00:00Z", "lastTransitionTime": "2024-01-01T01:00:00Z"}]


def test_terminating_replicas_unknown_while_a_synced_replica_set_does_not_report_it():
    synced = rs("a", 1, observedGeneration=1)
    fresh = rs("b", 1)
    assert util.terminating_replica_count([fresh]) == 0
    assert util.terminating_replica_count([fresh, synced]) is None


def complete_status(d, new_name="foo-abc"):
    new = rs(new_name, 3, available=3, replicas=3, readyReplicas=3)
    return new, progress.rollout_status([new], new, d, NOW)


def test_rollout_status_complete_and_idempotent():
    d = deployment(3, 1, 1)
    new, status = complete_status(d)
    progressing = progress.get_condition(status, "Progressing")
    assert progressing["reason"] == "NewReplicaSetAvailable" and progressing["status"] == "True"
    assert progressing["message"] == 'ReplicaSet "foo-abc" has successfully progressed.'
    d["status"] = status
    later = NOW + dt.timedelta(minutes=5)
    assert progress.rollout_status([new], new, d, later) == status   # no change, no write
    assert progress.progress_check_delay(d, status, later) is None


def test_rollout_status_progressing_keeps_transition_time_and_refreshes_update_time():
    d = deployment(3, 1, 1)
    earlier = "2024-01-01T00:30:00Z"
    d["status"] = {"replicas": 3, "updatedReplicas": 1, "availableReplicas": 3, "conditions": [
        {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated", "message": "m",
         "lastUpdateTime": earlier, "lastTransitionTime": earlier}]}
    new = rs("foo-new", 2, replicas=2, available=0)
    old = rs("foo-old", 2, OLD, replicas=2, available=2, readyReplicas=2)
    status = progress.rollout_status([old, new], new, d, NOW)
    condition = progress.get_condition(status, "Progressing")
    assert condition["message"] == 'ReplicaSet "foo-new" is progressing.'
    assert condition["lastTransitionTime"] == earlier and condition["lastUpdateTime"] == "2024-01-01T01:00:00Z"
    assert [c["type"] for c in status["conditions"]] == ["Available", "Progressing"]


def test_progress_deadline():
    d = deployment(3, 1, 1, progressDeadlineSeconds=60)
    stamp = "2024-01-01T00:59:30Z"   # 30 s before NOW
    d["status"] = {"replicas": 3, "updatedReplicas": 1, "conditions": [
        {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated", "message": "m",
         "lastUpdateTime": stamp, "lastTransitionTime": stamp}]}
    new = rs("foo-new", 1, replicas=1)
    old = rs("foo-old", 2, OLD, replicas=2)
    status = progress.rollout_status([old, new], new, d, NOW)
    assert progress.get_condition(status, "Progressing")["reason"] == "ReplicaSetUpdated"
    # check again at 00:59:30 + 60 s, plus a second against timer skew
    assert progress.progress_check_delay(d, status, NOW) == 31
    late = NOW + dt.timedelta(seconds=31)
    status = progress.rollout_status([old, new], new, d, late)
    condition = progress.get_condition(status, "Progressing")
    assert (condition["status"], condition["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert condition["message"] == 'ReplicaSet "foo-new" has timed out progressing.'


def test_no_progress_deadline_means_no_progressing_condition():
    d = deployment(3, 1, 1, progressDeadlineSeconds=2**31 - 1)
    d["status"] = {"conditions": [{"type": "Progressing", "status": "True", "reason": "x", "message": "",
                                   "lastUpdateTime": OLD, "lastTransitionTime": OLD}]}
    _, status = complete_status(d)
    assert progress.get_condition(status, "Progressing") is None


def test_available_condition_false_below_minimum():
    d = deployment(4, 1, 1)   # minimum 3
    status = progress.calculate_status([rs("a", 4, available=2)], None, d, NOW)
    condition = progress.get_condition(status, "Available")
    assert (condition["status"], condition["reason"]) == ("False", "MinimumReplicasUnavailable")
    assert condition["message"] == "Deployment does not have minimum availability."


def test_replica_failure_is_carried_from_replica_sets():
    failure = {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": "quota",
               "lastTransitionTime": OLD}
    new = rs("n", 1, conditions=[failure])
    status = progress.rollout_status([new], new, deployment(1), NOW)
    assert progress.get_condition(status, "ReplicaFailure") == {
        "type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": "quota",
        "lastUpdateTime": OLD, "lastTransitionTime": OLD}


def test_set_condition_semantics():
    status = {}
    progress.set_condition(status, progress.new_condition("Progressing", "True", "A", "m", NOW))
    first = dict(status["conditions"][0])
    later = NOW + dt.timedelta(seconds=5)
    progress.set_condition(status, progress.new_condition("Progressing", "True", "A", "m2", later))
    assert status["conditions"][0] == first          # same status and reason: untouched
    progress.set_condition(status, progress.new_condition("Progressing", "True", "B", "m3", later))
    assert status["conditions"][0]["lastTransitionTime"] == first["lastTransitionTime"]
    assert status["conditions"][0]["lastUpdateTime"] == "2024-01-01T01:00:05Z"


def test_normalized_status_drops_go_zero_values():
    assert progress.normalized_status({"replicas": 0, "conditions": [], "collisionCount": 0,
                                       "terminatingReplicas": None, "observedGeneration": 2}) == \
        {"collisionCount": 0, "observedGeneration": 2}
