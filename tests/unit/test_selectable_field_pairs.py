"""The selectable-field pairs an Event and a Pod give the store on every write: each field
with a value, empty ones left out (the store compares a field it was not given as ""), and
only fields the resource declares selectable."""

from __future__ import annotations

import pytest

from pyk8s.api.kinds.config import EVENTS, event_fields
from pyk8s.api.kinds.pods import PODS, pod_fields

FULL_INVOLVED = {
    "kind": "Pod", "namespace": "ns", "name": "p", "uid": "u", "apiVersion": "v1",
    "resourceVersion": "5", "fieldPath": "spec.containers{c}",
}
FULL_EVENT_PAIRS = {
    "involvedObject.kind": "Pod", "involvedObject.namespace": "ns", "involvedObject.name": "p",
    "involvedObject.uid": "u", "involvedObject.apiVersion": "v1", "involvedObject.resourceVersion": "5",
    "involvedObject.fieldPath": "spec.containers{c}", "reason": "Scheduled",
    "reportingComponent": "default-scheduler", "source": "default-scheduler", "type": "Normal",
}


@pytest.mark.parametrize(("event", "pairs"), [
    ({}, {}),
    ({"involvedObject": None, "source": None}, {}),
    ({"involvedObject": {}, "source": {}}, {}),
    ({"involvedObject": FULL_INVOLVED, "reason": "Scheduled", "reportingComponent": "default-scheduler",
      "source": {"component": "default-scheduler", "host": "h"}, "type": "Normal"}, FULL_EVENT_PAIRS),
    ({"involvedObject": {**FULL_INVOLVED, "name": "", "uid": ""}, "reason": "", "type": "Warning"},
     {key: value for key, value in FULL_EVENT_PAIRS.items()
      if key.startswith("involvedObject.") and key not in ("involvedObject.name", "involvedObject.uid")} | {"type": "Warning"}),
    ({"involvedObject": {"fieldPath": "x", "kind": "Node"}, "source": {"component": ""}, "reportingComponent": "kubelet"},
     {"involvedObject.fieldPath": "x", "involvedObject.kind": "Node", "reportingComponent": "kubelet"}),
])
def test_event_pairs(event, pairs):
    assert event_fields(event) == pairs
    assert set(event_fields(event)) <= EVENTS.selectable_fields


@pytest.mark.parametrize(("pod", "pairs"), [
    ({}, {"spec.hostNetwork": "false"}),
    ({"spec": None, "status": None}, {"spec.hostNetwork": "false"}),
    ({"spec": {"nodeName": "n1", "restartPolicy": "Always", "schedulerName": "default-scheduler",
               "serviceAccountName": "default", "hostNetwork": True},
      "status": {"phase": "Running", "podIP": "10.0.0.1", "nominatedNodeName": "n2"}},
     {"spec.nodeName": "n1", "spec.restartPolicy": "Always", "spec.schedulerName": "default-scheduler",
      "spec.serviceAccountName": "default", "spec.hostNetwork": "true", "status.phase": "Running",
      "status.podIP": "10.0.0.1", "status.nominatedNodeName": "n2"}),
    ({"spec": {"nodeName": "", "restartPolicy": "Never"}, "status": {"phase": "Pending", "podIP": ""}},
     {"spec.restartPolicy": "Never", "spec.hostNetwork": "false", "status.phase": "Pending"}),
])
def test_pod_pairs(pod, pairs):
    assert pod_fields(pod) == pairs
    assert set(pod_fields(pod)) <= PODS.selectable_fields
