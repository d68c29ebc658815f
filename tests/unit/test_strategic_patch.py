"""Strategic merge patch (pyk8s.api.strategic) against upstream's semantics.

Two tables.  The first runs on a small schema shaped like the ``MergeItem`` type upstream's
strategicpatch tests use (a merging list keyed by ``name``, merging and non-merging int
lists, a retainKeys map, a plain map), so each case isolates one rule; the expected results,
list order included, are what k8s.io/apimachinery produces.  The second runs on the real
Kubernetes schemas from definitions.json: containers/env/volumes by name, ports by
containerPort, finalizers as a set, Deployment strategy with retainKeys.
"""

from __future__ import annotations

import copy

import pytest

from pyk8s.api.errors import StatusError
from pyk8s.api.strategic import PatchSchema, schema_for, strategic_merge_patch

# -- a MergeItem-shaped schema -------------------------------------------------------------------

_ITEM: dict = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "value": {"type": "string"},
        "other": {"type": "string"},
        "mergingIntList": {"type": "array", "items": {"type": "integer"}, "x-kubernetes-patch-strategy": "merge"},
        "nonMergingIntList": {"type": "array", "items": {"type": "integer"}},
        "simpleMap": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
_ITEM["properties"]["mergingList"] = {
    "type": "array",
    "items": _ITEM,
    "x-kubernetes-patch-strategy": "merge",
    "x-kubernetes-patch-merge-key": "name",
}
_ITEM["properties"]["nonMergingList"] = {"type": "array", "items": _ITEM}
_ITEM["properties"]["retainKeysMap"] = {
    "allOf": [_ITEM],  # resolved as a $ref-in-allOf is
    "x-kubernetes-patch-strategy": "retainKeys",
}
_ITEM["properties"]["retainKeysMergingList"] = {
    "type": "array",
    "items": _ITEM,
    "x-kubernetes-patch-strategy": "merge,retainKeys",
    "x-kubernetes-patch-merge-key": "name",
}
MERGE_ITEM = PatchSchema(_ITEM)


def names(*items, **extra):
    return [{"name": n, **extra.get(str(n), {})} for n in items]


MERGE_ITEM_CASES = [
    # (description, original, patch, expected)
    ("add a field, keep the rest", {"name": 1, "other": "a"}, {"value": 1}, {"name": 1, "value": 1, "other": "a"}),
    ("null deletes, unmatched null ignored", {"name": 1, "other": "a"}, {"name": None, "value": 1, "missing": None},
     {"value": 1, "other": "a"}),
    ("nested map merges", {"simpleMap": {"key1": "1", "key2": "1"}}, {"simpleMap": {"key2": None, "key3": "3"}},
     {"simpleMap": {"key1": "1", "key3": "3"}}),
    ("$patch: delete empties a map", {"simpleMap": {"key1": "1"}}, {"simpleMap": {"$patch": "delete"}}, {"simpleMap": {}}),
    ("$patch: replace replaces a map", {"name": 1, "value": 1}, {"other": "a", "$patch": "replace"}, {"other": "a"}),
    ("non-merging list replaced", {"nonMergingIntList": [1, 2]}, {"nonMergingIntList": [2, 3]},
     {"nonMergingIntList": [2, 3]}),
    # 1 is server-only and comes before 2 in the live list, so it stays in front.
    ("merging int list is a set", {"mergingIntList": [1, 2]}, {"mergingIntList": [2, 3]}, {"mergingIntList": [1, 2, 3]}),
    ("patch order wins for items it names", {"mergingIntList": [1, 2, 3]}, {"mergingIntList": [3, 1]},
     {"mergingIntList": [2, 3, 1]}),
    ("merging list merges items by key",
     {"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": "2", "other": "b"}]},
     {"mergingList": [{"name": 1, "value": "1"}]},
     {"mergingList": [{"name": 1, "value": "1", "other": "a"}, {"name": 2, "value": "2", "other": "b"}]}),
    # Upstream places patch items by the patch's order and slots server-only items in by the
    # live order: 2 (server-only, live index 1) comes before 3 (live index 2).
    ("patch order in a merging list", {"mergingList": [{"name": 1}, {"name": 2, "value": "b"}, {"name": 3}]},
     {"mergingList": [{"name": 3, "value": "c"}, {"name": 1, "value": "a"}]},
     {"mergingList": [{"name": 2, "value": "b"}, {"name": 3, "value": "c"}, {"name": 1, "value": "a"}]}),
    ("a new item without $setElementOrder goes first", {"mergingList": names(1, 2)}, {"mergingList": names(3)},
     {"mergingList": names(3, 1, 2)}),
    ("$setElementOrder puts a new item in place", {"mergingList": names(1, 2)},
     {"$setElementOrder/mergingList": names(1, 3, 2), "mergingList": names(3)}, {"mergingList": names(1, 3, 2)}),
    ("$setElementOrder reorders without content", {"mergingList": names(1, 2, 3)},
     {"$setElementOrder/mergingList": names(3, 2, 1)}, {"mergingList": names(3, 2, 1)}),
    ("$setElementOrder with items it does not know",
     {"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": "2", "other": "b"}]},
     {"$setElementOrder/mergingList": names(4, 1, 2, 3), "mergingList": [{"name": 4, "value": "4"}, {"name": 3, "value": "3"}]},
     {"mergingList": [{"name": 4, "value": "4"}, {"name": 1, "other": "a"}, {"name": 2, "value": "2", "other": "b"},
                      {"name": 3, "value": "3"}]}),
    ("$patch: delete removes every matching item",
     {"mergingList": [{"name": 1}, {"name": 1}, {"name": 2, "value": "a"}, {"name": 3}, {"name": 3}]},
     {"mergingList": [{"name": 1, "$patch": "delete"}, {"name": 3, "$patch": "delete"}]},
     {"mergingList": [{"name": 2, "value": "a"}]}),
    ("$patch: replace as a list item", {"mergingList": names(1, 2)}, {"mergingList": [{"$patch": "replace"}]},
     {"mergingList": []}),
    ("$patch: replace keeps the patch's other items", {"mergingList": names(1, 2)},
     {"mergingList": [{"name": 3}, {"$patch": "replace"}]}, {"mergingList": names(3)}),
    # The next two follow upstream through a quirk: deletions shift the live list in place,
    # and the $setElementOrder step reads the live order through that shifted array.
    ("add and delete with server-only items",
     {"mergingList": [{"name": 1}, {"name": 2, "other": "b"}, {"name": 4, "other": "c"}]},
     {"$setElementOrder/mergingList": names(2, 3), "mergingList": [{"name": 3}, {"name": 1, "$patch": "delete"}]},
     {"mergingList": [{"name": 2, "other": "b"}, {"name": 4, "other": "c"}, {"name": 3}]}),
    ("add and delete when the live list changed",
     {"mergingList": [{"name": 1, "other": "a"}, {"name": 4, "other": "c"}]},
     {"$setElementOrder/mergingList": names(2, 3),
      "mergingList": [{"name": 2}, {"name": 3}, {"name": 1, "$patch": "delete"}]},
     {"mergingList": [{"name": 4, "other": "c"}, {"name": 2}, {"name": 3}]}),
    ("deleting a missing item, adding another", {"mergingList": [{"name": 3, "other": "a"}]},
     {"$setElementOrder/mergingList": names(2), "mergingList": [{"name": 2}, {"name": 1, "$patch": "delete"}]},
     {"mergingList": [{"name": 2}, {"name": 3, "other": "a"}]}),
    ("a delete directive for an item that never existed", {"name": "hi", "mergingList": names("hello2")},
     {"$setElementOrder/mergingList": names("hello", "doesntexist"),
      "mergingList": [{"name": "hello"}, {"$patch": "delete", "name": "doesntexist"}]},
     {"name": "hi", "mergingList": names("hello", "hello2")}),
    ("$deleteFromPrimitiveList", {"mergingIntList": [1, 2, 3, 3, 4]},
     {"$setElementOrder/mergingIntList": [1, 2], "$deleteFromPrimitiveList/mergingIntList": [3]},
     {"mergingIntList": [1, 2, 4]}),
    ("$deleteFromPrimitiveList of an absent value", {"mergingIntList": [1, 2]},
     {"$deleteFromPrimitiveList/mergingIntList": [3]}, {"mergingIntList": [1, 2]}),
    ("$deleteFromPrimitiveList never creates the list", {"foo": ["bar"]},
     {"$deleteFromPrimitiveList/mergingIntList": [3]}, {"foo": ["bar"]}),
    ("$deleteFromPrimitiveList on a non-merging list", {"nonMergingIntList": [1, 2, 3]},
     {"$deleteFromPrimitiveList/nonMergingIntList": [2]}, {"nonMergingIntList": [1, 3]}),
    ("add and delete in a primitive list with order", {"retainKeysMap": {"name": "foo", "mergingIntList": [1, 2, 3, 4]}},
     {"retainKeysMap": {"$retainKeys": ["mergingIntList", "name"], "mergingIntList": [5],
                        "$deleteFromPrimitiveList/mergingIntList": [2], "$setElementOrder/mergingIntList": [1, 3, 5]}},
     {"retainKeysMap": {"name": "foo", "mergingIntList": [1, 3, 5, 4]}}),
    ("$retainKeys clears keys it does not list", {"retainKeysMap": {"name": "foo", "value": "a", "other": "x"}},
     {"retainKeysMap": {"$retainKeys": ["name", "value"], "value": "b"}},
     {"retainKeysMap": {"name": "foo", "value": "b"}}),
    ("retainKeys strategy alone does nothing without the directive", {"retainKeysMap": {"name": "foo", "value": "a"}},
     {"retainKeysMap": {"value": None}}, {"retainKeysMap": {"name": "foo"}}),
    ("$retainKeys in merging list items",
     {"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "a", "other": "x"}]},
     {"$setElementOrder/retainKeysMergingList": names("bar", "foo"),
      "retainKeysMergingList": [{"$retainKeys": ["name", "value"], "name": "foo"}]},
     {"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "a"}]}),
    ("a new subtree stores no directives or nulls", {"name": 1},
     {"retainKeysMap": {"$retainKeys": ["name"], "name": "x", "value": None},
      "mergingList": [{"name": 1, "$setElementOrder/mergingIntList": [2], "mergingIntList": [2]},
                      {"name": 9, "$patch": "delete"}]},
     {"name": 1, "retainKeysMap": {"name": "x"}, "mergingList": [{"name": 1, "mergingIntList": [2]}]}),
    ("items a new list brings are not merged with each other", {},
     {"mergingList": [{"name": 1, "value": "a"}, {"name": 1, "value": "b"}]},
     {"mergingList": [{"name": 1, "value": "a"}, {"name": 1, "value": "b"}]}),
    ("a changed type is replaced", {"simpleMap": ["x"]}, {"simpleMap": {"a": "b"}}, {"simpleMap": {"a": "b"}}),
]


@pytest.mark.parametrize("description,original,patch,expected", MERGE_ITEM_CASES, ids=[c[0] for c in MERGE_ITEM_CASES])
def test_merge_item_semantics(description, original, patch, expected):
    original_copy, patch_copy = copy.deepcopy(original), copy.deepcopy(patch)
    assert strategic_merge_patch(original, patch, MERGE_ITEM) == expected
    # Neither input is touched: a retried compare-and-swap applies the same patch again.
    assert original == original_copy and patch == patch_copy


ERROR_CASES = [
    # (description, original, patch, code, message fragment)
    ("an item without its merge key", {"mergingList": [{"name": 1, "value": "a"}]}, {"mergingList": [{"value": "b"}]},
     400, "does not contain declared merge key: name"),
    ("$setElementOrder disagrees with the patch", {"mergingList": names(1, 3, 2)},
     {"$setElementOrder/mergingList": names(1, 2, 3), "mergingList": [{"name": 3, "value": "3"}, {"name": 1, "value": "1"}]},
     400, "doesn't match"),
    ("$setElementOrder of int list disagrees", {"mergingIntList": [1, 3, 2]},
     {"$setElementOrder/mergingIntList": [1, 2, 3], "mergingIntList": [3, 1]}, 400, "doesn't match"),
    ("$patch: merge in a list", {"mergingList": names(1)}, {"mergingList": [{"name": 1, "$patch": "merge"}]},
     400, "merging lists cannot yet be specified"),
    ("unknown map directive", {"simpleMap": {}}, {"simpleMap": {"$patch": "frobnicate"}}, 400, "unknown patch type"),
    ("patch content outside $retainKeys", {"retainKeysMap": {"name": "a"}},
     {"retainKeysMap": {"$retainKeys": ["name"], "value": "b"}}, 422, ""),
    ("$retainKeys not a list", {"retainKeysMap": {}}, {"retainKeysMap": {"$retainKeys": "name"}}, 400,
     "invalid patch format of retainKeys"),
    ("malformed delete-list key", {}, {"$deleteFromPrimitiveListmergingIntList": [1]}, 400,
     "invalid patch format of primitive list"),
    ("lists of lists", {"mergingIntList": [[1]]}, {"mergingIntList": [[2]]}, 422, ""),
    ("mixed item types", {"mergingIntList": [1]}, {"mergingIntList": [{"a": 1}]}, 400, "not identical"),
]


@pytest.mark.parametrize("description,original,patch,code,fragment", ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_malformed_patches_are_client_errors(description, original, patch, code, fragment):
    with pytest.raises(StatusError) as raised:
        strategic_merge_patch(original, patch, MERGE_ITEM)
    assert raised.value.code == code
    if code == 422:
        # upstream's NewGenericServerResponse(422): reason Invalid, detail in a cause
        assert raised.value.reason == "Invalid"
        assert raised.value.details["causes"][0]["reason"] == "UnexpectedServerResponse"
    assert fragment in raised.value.message


# -- the real schemas ------------------------------------------------------------------------------

POD = ("", "v1", "Pod")
DEPLOYMENT = ("apps", "v1", "Deployment")


def live_pod():
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "labels": {"app": "web"}, "finalizers": ["a.io/one", "b.io/two"]},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "app:1",
                    "args": ["--one", "--two"],
                    "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 443, "protocol": "TCP"}],
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                },
                {"name": "sidecar", "image": "sidecar:1"},
            ],
            "volumes": [{"name": "data", "emptyDir": {}}, {"name": "conf", "configMap": {"name": "conf"}}],
            "tolerations": [{"key": "k", "operator": "Exists"}],
            "nodeSelector": {"disk": "ssd"},
        },
    }


def container(obj, name):
    return next(c for c in obj["spec"]["containers"] if c["name"] == name)


def test_containers_merge_by_name():
    patched = strategic_merge_patch(live_pod(), {"spec": {"containers": [{"name": "app", "image": "app:2"}]}},
                                    schema_for(*POD))
    assert [c["name"] for c in patched["spec"]["containers"]] == ["app", "sidecar"]
    assert container(patched, "app")["image"] == "app:2"
    assert container(patched, "app")["env"] == live_pod()["spec"]["containers"][0]["env"]
    assert container(patched, "sidecar") == {"name": "sidecar", "image": "sidecar:1"}


def test_ports_merge_by_container_port():
    patch = {"spec": {"containers": [{"name": "app", "ports": [{"containerPort": 443, "name": "https"},
                                                               {"containerPort": 8080}]}]}}
    ports = container(strategic_merge_patch(live_pod(), patch, schema_for(*POD)), "app")["ports"]
    # 80 is server-only and precedes 443 in the live list; 8080 is new and follows the patch.
    assert ports == [
        {"containerPort": 80, "protocol": "TCP"},
        {"containerPort": 443, "protocol": "TCP", "name": "https"},
        {"containerPort": 8080},
    ]


def test_env_merges_by_name_and_deletes():
    patch = {"spec": {"containers": [{"name": "app", "$setElementOrder/env": [{"name": "A"}, {"name": "C"}],
                                      "env": [{"name": "C", "value": "3"}, {"name": "B", "$patch": "delete"}]}]}}
    env = container(strategic_merge_patch(live_pod(), patch, schema_for(*POD)), "app")["env"]
    assert env == [{"name": "A", "value": "1"}, {"name": "C", "value": "3"}]


def test_volumes_merge_by_name():
    patch = {"spec": {"volumes": [{"name": "conf", "configMap": {"name": "conf2"}}, {"name": "extra", "emptyDir": {}}]}}
    volumes = strategic_merge_patch(live_pod(), patch, schema_for(*POD))["spec"]["volumes"]
    assert volumes == [
        {"name": "data", "emptyDir": {}},
        {"name": "conf", "configMap": {"name": "conf2"}},
        {"name": "extra", "emptyDir": {}},
    ]


def test_volume_source_switch_with_retain_keys():
    # kubectl sends $retainKeys for volumes ("merge,retainKeys"): the old source goes.
    patch = {"spec": {"volumes": [{"$retainKeys": ["name", "secret"], "name": "conf", "secret": {"secretName": "s"}}]}}
    volumes = strategic_merge_patch(live_pod(), patch, schema_for(*POD))["spec"]["volumes"]
    assert {"name": "conf", "secret": {"secretName": "s"}} in volumes


def test_set_element_order_reorders_containers():
    patch = {"spec": {"$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}]}}
    patched = strategic_merge_patch(live_pod(), patch, schema_for(*POD))
    assert [c["name"] for c in patched["spec"]["containers"]] == ["sidecar", "app"]
    assert "$setElementOrder/containers" not in patched["spec"]


def test_delete_one_container():
    patch = {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}
    assert [c["name"] for c in strategic_merge_patch(live_pod(), patch, schema_for(*POD))["spec"]["containers"]] == ["app"]


def test_lists_without_merge_strategy_are_replaced():
    patch = {"spec": {"tolerations": [{"key": "other", "operator": "Exists"}],
                      "containers": [{"name": "app", "args": ["--three"]}]}}
    patched = strategic_merge_patch(live_pod(), patch, schema_for(*POD))
    assert patched["spec"]["tolerations"] == [{"key": "other", "operator": "Exists"}]
    assert container(patched, "app")["args"] == ["--three"]


def test_maps_merge_and_null_deletes():
    patch = {"metadata": {"labels": {"tier": "front", "app": None}}, "spec": {"nodeSelector": {"zone": "a"}}}
    patched = strategic_merge_patch(live_pod(), patch, schema_for(*POD))
    assert patched["metadata"]["labels"] == {"tier": "front"}
    assert patched["spec"]["nodeSelector"] == {"disk": "ssd", "zone": "a"}


def test_finalizers_merge_as_a_set():
    schema = schema_for(*POD)
    added = strategic_merge_patch(live_pod(), {"metadata": {"finalizers": ["b.io/two", "c.io/three"]}}, schema)
    assert added["metadata"]["finalizers"] == ["a.io/one", "b.io/two", "c.io/three"]
    removed = strategic_merge_patch(
        live_pod(), {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a.io/one"]}}, schema
    )
    assert removed["metadata"]["finalizers"] == ["b.io/two"]


def test_retain_keys_on_deployment_strategy():
    live = {"spec": {"replicas": 2, "strategy": {"type": "RollingUpdate",
                                                 "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}}}
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    patched = strategic_merge_patch(live, patch, schema_for(*DEPLOYMENT))
    assert patched == {"spec": {"replicas": 2, "strategy": {"type": "Recreate"}}}


def test_schema_lookup_follows_refs_and_caches():
    deployment = schema_for(*DEPLOYMENT)
    template = deployment.field("spec").schema.field("template").schema
    containers = template.field("spec").schema.field("containers")
    assert containers.merge and containers.merge_key == "name"
    ports = containers.schema.field("ports")
    assert ports.merge and ports.merge_key == "containerPort"
    strategy = deployment.field("spec").schema.field("strategy")
    assert not strategy.merge and strategy.schema is not None
    finalizers = deployment.field("metadata").schema.field("finalizers")
    assert finalizers.merge and finalizers.merge_key == ""
    assert deployment.field("spec") is deployment.field("spec")
    assert schema_for(*POD).field("spec").schema is template.field("spec").schema  # one PodSpec
    assert deployment.field("no-such-field").schema is None
    assert schema_for("example.com", "v1", "Widget") is None
