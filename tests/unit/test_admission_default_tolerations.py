"""DefaultTolerationSeconds admission (upstream plugin/pkg/admission/defaulttolerationseconds):
pods get NoExecute tolerations for the not-ready and unreachable node taints unless they
already tolerate them; the seconds come from the API server's flags."""

from __future__ import annotations

import pytest

from pyk8s.apiserver.app import APIServer
from pyk8s.cli.apiserver import parse_args
from pyk8s.store import open_store
from resourcehelpers import call, ok, pod

PODS = "/api/v1/namespaces/default/pods"
MERGE = "application/merge-patch+json"
NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"


def default(key, seconds=300):
    return {"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": seconds}


@pytest.fixture
def app():
    server = APIServer(open_store("native"), compaction_interval=0)
    yield server
    server.store.close()


def test_pod_without_tolerations_gets_both(app):
    created = ok(call(app, "POST", PODS, pod()), 201)
    assert created["spec"]["tolerations"] == [default(NOT_READY), default(UNREACHABLE)]


def test_own_tolerations_are_kept_and_the_defaults_appended(app):
    own = {"key": "gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
    created = ok(call(app, "POST", PODS, pod(tolerations=[own])), 201)
    assert created["spec"]["tolerations"] == [own, default(NOT_READY), default(UNREACHABLE)]


@pytest.mark.parametrize(
    "tolerations, expected_added",
    [
        # Its own seconds for one taint: only the other one is added.
        ([{"key": NOT_READY, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10}], [UNREACHABLE]),
        ([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}], [NOT_READY]),
        # A toleration without an effect covers NoExecute too.
        ([{"key": UNREACHABLE, "operator": "Exists"}], [NOT_READY]),
        # No key (with Exists) tolerates every taint: nothing is added.
        ([{"operator": "Exists"}], []),
        ([{"operator": "Exists", "effect": "NoExecute"}], []),
        # A NoSchedule toleration of the same key does not cover NoExecute.
        ([{"key": NOT_READY, "operator": "Exists", "effect": "NoSchedule"}], [NOT_READY, UNREACHABLE]),
    ],
)
def test_existing_tolerations_decide(app, tolerations, expected_added):
    created = ok(call(app, "POST", PODS, pod(tolerations=tolerations)), 201)
    assert created["spec"]["tolerations"] == tolerations + [default(key) for key in expected_added]


def test_flag_values_are_used():
    server = APIServer(open_store("native"), compaction_interval=0,
                       default_not_ready_toleration_seconds=30, default_unreachable_toleration_seconds=7)
    try:
        created = ok(call(server, "POST", PODS, pod()), 201)
        assert created["spec"]["tolerations"] == [default(NOT_READY, 30), default(UNREACHABLE, 7)]
    finally:
        server.store.close()


def test_cli_flags():
    config = parse_args([])
    assert (config.default_not_ready_toleration_seconds, config.default_unreachable_toleration_seconds) == (300, 300)
    config = parse_args(["--default-not-ready-toleration-seconds", "60", "--default-unreachable-toleration-seconds", "5"])
    assert (config.default_not_ready_toleration_seconds, config.default_unreachable_toleration_seconds) == (60, 5)


def test_update_restores_them_but_status_writes_do_not(app):
    # Upstream's plugin handles Create and Update of the pod itself (not subresources): a
    # replace that drops the defaults gets them back.
    created = ok(call(app, "POST", PODS, pod()), 201)
    stripped = {**created, "spec": {**created["spec"], "tolerations": []}}
    replaced = ok(call(app, "PUT", f"{PODS}/p", stripped))
    assert replaced["spec"]["tolerations"] == [default(NOT_READY), default(UNREACHABLE)]
    status = ok(call(app, "PATCH", f"{PODS}/p/status", {"status": {"phase": "Running"}}, content_type=MERGE))
    assert status["spec"]["tolerations"] == [default(NOT_READY), default(UNREACHABLE)]


def test_dry_run_shows_them(app):
    created = ok(call(app, "POST", PODS, pod(), query="dryRun=All"), 201)
    assert [t["key"] for t in created["spec"]["tolerations"]] == [NOT_READY, UNREACHABLE]
