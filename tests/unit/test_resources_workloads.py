"""Deployments, ReplicaSets and Jobs (issue 3): upstream defaults, selector rules, status
and scale subresources; on every backend."""

from __future__ import annotations

import pytest

from pyk8s.apiserver.app import APIServer
from pyk8s.store import BACKENDS, open_store
from resourcehelpers import call, deployment, failure, ok

DEPLOY = "/apis/apps/v1/namespaces/default/deployments"
RS = "/apis/apps/v1/namespaces/default/replicasets"
JOBS = "/apis/batch/v1/namespaces/default/jobs"
MERGE = "application/merge-patch+json"


@pytest.fixture(params=BACKENDS)
def app(request):
    server = APIServer(open_store(request.param), compaction_interval=0)
    yield server
    server.store.close()


def replica_set(name="rs"):
    obj = deployment(name)
    obj["kind"] = "ReplicaSet"
    return obj


def job(name="j", **spec):
    obj = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
           "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}
    obj["spec"].update(spec)
    return obj


def test_deployment_defaults(app):
    created = ok(call(app, "POST", DEPLOY, {**deployment(), "status": {"replicas": 9}}), 201)
    spec = created["spec"]
    assert spec["replicas"] == 1 and spec["revisionHistoryLimit"] == 10 and spec["progressDeadlineSeconds"] == 600
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    template = spec["template"]["spec"]
    assert template["restartPolicy"] == "Always" and template["dnsPolicy"] == "ClusterFirst"
    assert template["containers"][0]["imagePullPolicy"] == "Always"
    assert created["status"] == {} and created["metadata"]["generation"] == 1


def test_selector_required_and_must_match(app):
    missing = deployment()
    del missing["spec"]["selector"]
    body = failure(call(app, "POST", DEPLOY, missing), 422, "Invalid")
    assert body["details"]["causes"][0]["field"] == "spec.selector"
    mismatch = deployment()
    mismatch["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    body = failure(call(app, "POST", DEPLOY, mismatch), 422, "Invalid")
    assert "`selector` does not match template `labels`" in body["message"]
    failure(call(app, "POST", DEPLOY, deployment(replicas=-1)), 422, "Invalid")
    failure(call(app, "POST", RS, {**replica_set(), "spec": {**replica_set()["spec"], "selector": {}}}), 422, "Invalid")


def test_selector_immutable(app):
    created = ok(call(app, "POST", DEPLOY, deployment()), 201)
    created["spec"]["selector"]["matchLabels"]["x"] = "y"
    created["spec"]["template"]["metadata"]["labels"]["x"] = "y"
    failure(call(app, "PUT", f"{DEPLOY}/web", created), 422, "Invalid")


def test_generation_and_status_subresource(app):
    ok(call(app, "POST", DEPLOY, deployment()), 201)
    patched = ok(call(app, "PATCH", f"{DEPLOY}/web", {"spec": {"replicas": 2}, "status": {"replicas": 7}},
                      content_type=MERGE))
    assert patched["metadata"]["generation"] == 2 and patched["status"] == {}
    status = ok(call(app, "PATCH", f"{DEPLOY}/web/status",
                     {"spec": {"replicas": 9}, "status": {"replicas": 2, "observedGeneration": 2},
                      "metadata": {"labels": {"x": "y"}}}, content_type=MERGE))
    assert status["status"] == {"replicas": 2, "observedGeneration": 2}
    assert status["spec"]["replicas"] == 2 and status["metadata"]["generation"] == 2
    assert "labels" not in status["metadata"]  # deploymentStatusStrategy keeps labels
    # Annotations are copied to the ReplicaSets, so changing them is a new generation too.
    annotated = ok(call(app, "PATCH", f"{DEPLOY}/web", {"metadata": {"annotations": {"kubernetes.io/change-cause": "x"}}},
                        content_type=MERGE))
    assert annotated["metadata"]["generation"] == 3
    # Through /status (the controller's revision annotation) it is not.
    status = ok(call(app, "PATCH", f"{DEPLOY}/web/status", {"metadata": {"annotations": {"deployment.kubernetes.io/revision": "1"}}},
                     content_type=MERGE))
    assert status["metadata"]["generation"] == 3 and status["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"


def test_scale_subresource(app):
    ok(call(app, "POST", DEPLOY, deployment()), 201)
    scale = ok(call(app, "GET", f"{DEPLOY}/web/scale"))
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"] == {"replicas": 1} and scale["status"] == {"replicas": 0, "selector": "app=web"}
    scale["spec"]["replicas"] = 4
    assert ok(call(app, "PUT", f"{DEPLOY}/web/scale", scale))["spec"]["replicas"] == 4
    failure(call(app, "PUT", f"{DEPLOY}/web/scale", scale), 409, "Conflict")  # stale resourceVersion
    assert ok(call(app, "PATCH", f"{DEPLOY}/web/scale", {"spec": {"replicas": 6}}, content_type=MERGE))["spec"] == {
        "replicas": 6}
    current = ok(call(app, "GET", f"{DEPLOY}/web"))
    assert current["spec"]["replicas"] == 6 and current["metadata"]["generation"] == 3
    failure(call(app, "PATCH", f"{DEPLOY}/web/scale", {"spec": {"replicas": -1}}, content_type=MERGE), 422, "Invalid")
    failure(call(app, "GET", f"{DEPLOY}/missing/scale"), 404, "NotFound")
    ok(call(app, "POST", RS, replica_set()), 201)
    rs_scale = ok(call(app, "PATCH", f"{RS}/rs/scale", {"spec": {"replicas": 3}}, content_type=MERGE))
    assert rs_scale["spec"]["replicas"] == 3
    failure(call(app, "GET", f"{JOBS}/j/scale"), 404, "NotFound")


def test_job_defaults_and_generated_selector(app):
    created = ok(call(app, "POST", JOBS, job()), 201)
    spec = created["spec"]
    uid = created["metadata"]["uid"]
    assert (spec["completions"], spec["parallelism"], spec["backoffLimit"]) == (1, 1, 6)
    assert spec["completionMode"] == "NonIndexed" and spec["suspend"] is False
    assert spec["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    labels = spec["template"]["metadata"]["labels"]
    assert labels["batch.kubernetes.io/controller-uid"] == uid and labels["batch.kubernetes.io/job-name"] == "j"
    work_queue = ok(call(app, "POST", JOBS, job("q", parallelism=3)), 201)["spec"]
    assert "completions" not in work_queue and work_queue["parallelism"] == 3


def test_job_validation(app):
    always = job()
    always["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    failure(call(app, "POST", JOBS, always), 422, "Invalid")
    created = ok(call(app, "POST", JOBS, job()), 201)
    created["spec"]["completions"] = 5
    failure(call(app, "PUT", f"{JOBS}/j", created), 422, "Invalid")
    status = ok(call(app, "PATCH", f"{JOBS}/j/status", {"status": {"active": 1}}, content_type=MERGE))
    assert status["status"] == {"active": 1}


def test_job_selector_is_generated_unless_manual(app):
    chosen = job("m", selector={"matchLabels": {"pick": "me"}})
    chosen["spec"]["template"]["metadata"] = {"labels": {"pick": "me"}}
    failure(call(app, "POST", JOBS, chosen), 422, "Invalid")
    chosen["spec"]["manualSelector"] = True
    created = ok(call(app, "POST", JOBS, chosen), 201)
    assert created["spec"]["selector"] == {"matchLabels": {"pick": "me"}}
    assert "batch.kubernetes.io/controller-uid" not in created["spec"]["template"]["metadata"]["labels"]


def test_replica_set_status_always_has_replicas(app):
    # ReplicaSetStatus.replicas has no omitempty: upstream answers {"replicas": 0}.
    created = ok(call(app, "POST", RS, {**replica_set(), "status": {"replicas": 7}}), 201)
    assert created["status"] == {"replicas": 0}
    assert ok(call(app, "GET", f"{RS}/rs"))["status"] == {"replicas": 0}
    ready = ok(call(app, "PATCH", f"{RS}/rs/status", {"status": {"readyReplicas": 1}}, content_type=MERGE))
    assert ready["status"] == {"replicas": 0, "readyReplicas": 1}
    emptied = ok(call(app, "PUT", f"{RS}/rs/status", {**ready, "status": {}}))
    assert emptied["status"] == {"replicas": 0}
    # Deployment and Job statuses are all omitempty: an empty status stays empty.
    assert ok(call(app, "POST", DEPLOY, deployment()), 201)["status"] == {}
    assert ok(call(app, "POST", JOBS, job()), 201)["status"] == {}


def test_job_without_labels_takes_its_template_labels(app):
    created = ok(call(app, "POST", JOBS, job()), 201)
    uid = created["metadata"]["uid"]
    expected = {
        "batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": "j",
        "controller-uid": uid, "job-name": "j",
    }
    assert created["metadata"]["labels"] == expected
    assert created["spec"]["template"]["metadata"]["labels"] == expected
    assert ok(call(app, "GET", f"{JOBS}/j"))["metadata"]["labels"] == expected


def test_job_labels_with_template_labels_or_its_own(app):
    templated = job("t")
    templated["spec"]["template"]["metadata"] = {"labels": {"app": "batch"}}
    created = ok(call(app, "POST", JOBS, templated), 201)
    labels = created["metadata"]["labels"]
    assert labels == created["spec"]["template"]["metadata"]["labels"] and labels["app"] == "batch"
    assert labels["job-name"] == "t"
    own = job("o")
    own["metadata"]["labels"] = {"team": "a"}
    assert ok(call(app, "POST", JOBS, own), 201)["metadata"]["labels"] == {"team": "a"}


def test_job_delete_without_policy_orphans_its_pods(app):
    """batch/v1 Jobs default to orphaning (upstream's DefaultGarbageCollectionPolicy);
    an explicit policy or a GC finalizer already set wins."""
    template = {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}
    for name in ("plain", "background", "foreground"):
        ok(call(app, "POST", "/apis/batch/v1/namespaces/default/jobs",
                {"metadata": {"name": name}, "spec": {"template": template}}), 201)
    plain = ok(call(app, "DELETE", "/apis/batch/v1/namespaces/default/jobs/plain"))
    assert plain["metadata"]["finalizers"] == ["orphan"] and plain["metadata"]["deletionTimestamp"]
    ok(call(app, "DELETE", "/apis/batch/v1/namespaces/default/jobs/background", {"propagationPolicy": "Background"}))
    failure(call(app, "GET", "/apis/batch/v1/namespaces/default/jobs/background"), 404, "NotFound")
    foreground = ok(call(app, "DELETE", "/apis/batch/v1/namespaces/default/jobs/foreground", {"propagationPolicy": "Foreground"}))
    assert foreground["metadata"]["finalizers"] == ["foregroundDeletion"]
    again = ok(call(app, "DELETE", "/apis/batch/v1/namespaces/default/jobs/foreground"))
    assert again["metadata"]["finalizers"] == ["foregroundDeletion"]


def test_update_may_not_change_uid(app):
    """ValidateObjectMetaUpdate: metadata.uid is immutable; an update without one keeps it."""
    created = ok(call(app, "POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "uid-check"}}), 201)
    changed = {**created, "metadata": {**created["metadata"], "uid": "00000000-0000-0000-0000-000000000000"}}
    # PUT: the body's uid is a precondition (409); PATCH: changing it is invalid (422).
    body = failure(call(app, "PUT", "/api/v1/namespaces/default/configmaps/uid-check", changed), 409, "Conflict")
    assert "Precondition failed: UID in precondition: 00000000-0000-0000-0000-000000000000" in body["message"]
    body = failure(call(app, "PATCH", "/api/v1/namespaces/default/configmaps/uid-check",
                        {"metadata": {"uid": "00000000-0000-0000-0000-000000000000"}}, content_type="application/merge-patch+json"),
                   422, "Invalid")
    assert body["details"]["causes"][0]["field"] == "metadata.uid"
    without = {**created, "metadata": {k: v for k, v in created["metadata"].items() if k != "uid"}, "data": {"a": "b"}}
    updated = ok(call(app, "PUT", "/api/v1/namespaces/default/configmaps/uid-check", without))
    assert updated["metadata"]["uid"] == created["metadata"]["uid"] and updated["data"] == {"a": "b"}


def test_empty_metadata_collections_are_not_stored(app):
    """Go's omitempty: removing the last finalizer/label leaves no empty list or map behind."""
    ok(call(app, "POST", "/api/v1/namespaces/default/configmaps",
            {"metadata": {"name": "empties", "labels": {}, "finalizers": ["example.com/f"]}}), 201)
    patched = ok(call(app, "PATCH", "/api/v1/namespaces/default/configmaps/empties",
                      {"metadata": {"$deleteFromPrimitiveList/finalizers": ["example.com/f"]}},
                      content_type="application/strategic-merge-patch+json"))
    assert "finalizers" not in patched["metadata"] and "labels" not in patched["metadata"]
    assert "finalizers" not in ok(call(app, "GET", "/api/v1/namespaces/default/configmaps/empties"))["metadata"]
