"""The namespace controller's status conditions (upstream's namespaceConditionUpdater):
reasons and messages for each failure, the "ok" variant of every type not failing, and
lastTransitionTime kept while the status does not flip."""

from __future__ import annotations

from pyk8s.client import PODS, Resource
from pyk8s.controllers._discovery import APIResource, GroupDiscoveryFailed
from pyk8s.controllers.namespace import _ConditionUpdater

PODS_API = APIResource(PODS, "Pod", True, frozenset({"delete", "list"}))
WIDGETS_API = APIResource(Resource("example.com", "v1", "widgets"), "Widget", True, frozenset({"delete"}))


def by_type(status: dict) -> dict:
    return {c["type"]: (c["status"], c["reason"], c["message"]) for c in status["conditions"]}


def test_all_well_sets_every_ok_condition():
    status: dict = {"phase": "Terminating"}
    assert _ConditionUpdater().apply(status)
    assert by_type(status) == {
        "NamespaceDeletionDiscoveryFailure": ("False", "ResourcesDiscovered", "All resources successfully discovered"),
        "NamespaceDeletionGroupVersionParsingFailure": (
            "False", "ParsedGroupVersions", "All legacy kube types successfully parsed"),
        "NamespaceDeletionContentFailure": (
            "False", "ContentDeleted", "All content successfully deleted, may be waiting on finalization"),
        "NamespaceContentRemaining": ("False", "ContentRemoved", "All content successfully removed"),
        "NamespaceFinalizersRemaining": ("False", "ContentHasNoFinalizers", "All content-preserving finalizers finished"),
    }
    # The same outcome again changes nothing.
    assert not _ConditionUpdater().apply(status)


def test_failures_and_remaining_content():
    updater = _ConditionUpdater()
    updater.discovery_failed(GroupDiscoveryFailed({"example.com/v1": RuntimeError("boom")}))
    updater.content_failed(RuntimeError("b failed"))
    updater.content_failed(RuntimeError("a failed"))
    updater.content_totals({PODS_API: 2, WIDGETS_API: 1}, {"example.com/hold": 3})
    status: dict = {}
    assert updater.apply(status)
    conditions = by_type(status)
    assert conditions["NamespaceDeletionDiscoveryFailure"] == (
        "True", "DiscoveryFailed",
        "Discovery failed for some groups, 1 failing: unable to retrieve the complete list of server APIs: "
        "example.com/v1: boom")
    assert conditions["NamespaceDeletionContentFailure"] == (
        "True", "ContentDeletionFailed", "Failed to delete all resource types, 2 remaining: a failed, b failed")
    assert conditions["NamespaceContentRemaining"] == (
        "True", "SomeResourcesRemain",
        "Some resources are remaining: pods. has 2 resource instances, widgets.example.com has 1 resource instances")
    assert conditions["NamespaceFinalizersRemaining"] == (
        "True", "SomeFinalizersRemain",
        "Some content in the namespace has finalizers remaining: example.com/hold in 3 resource instances")


def test_transition_time_moves_only_when_the_status_flips():
    status: dict = {}
    _ConditionUpdater().apply(status)
    for condition in status["conditions"]:
        condition["lastTransitionTime"] = "2000-01-01T00:00:00Z"
    updater = _ConditionUpdater()
    updater.content_totals({PODS_API: 1}, {})
    assert updater.apply(status)
    times = {c["type"]: c["lastTransitionTime"] for c in status["conditions"]}
    assert times["NamespaceContentRemaining"] != "2000-01-01T00:00:00Z"
    assert times["NamespaceFinalizersRemaining"] == "2000-01-01T00:00:00Z"
