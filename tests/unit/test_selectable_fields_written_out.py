"""``event_fields`` and ``pod_fields`` are written out field by field (they run on every
event and pod write); they must give what the table-driven form gives: the same pairs, in
the same order, empty values left out."""

from __future__ import annotations

import pytest

from pyk8s.api.kinds.config import EVENTS, _EVENT_FIELDS, _INVOLVED_FIELDS, event_fields
from pyk8s.api.kinds.pods import PODS, pod_fields


def _table_driven(event):
    get = event.get
    involved = (get("involvedObject") or {}).get
    fields = {}
    for name, key in _INVOLVED_FIELDS:
        value = involved(key, "")
        if value != "":
            fields[name] = value
    for name, value in (
        ("reason", get("reason", "")),
        ("reportingComponent", get("reportingComponent", "")),
        ("source", (get("source") or {}).get("component", "")),
        ("type", get("type", "")),
    ):
        if value != "":
            fields[name] = value
    return fields


FULL_INVOLVED = {
    "kind": "Pod", "namespace": "ns", "name": "p", "uid": "u", "apiVersion": "v1",
    "resourceVersion": "5", "fieldPath": "spec.containers{c}",
}


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"involvedObject": None, "source": None},
        {"involvedObject": {}, "source": {}},
        {"involvedObject": FULL_INVOLVED, "reason": "Scheduled", "reportingComponent": "default-scheduler",
         "source": {"component": "default-scheduler", "host": "h"}, "type": "Normal"},
        {"involvedObject": {**FULL_INVOLVED, "name": "", "uid": ""}, "reason": "", "type": "Warning"},
        {"involvedObject": {"fieldPath": "x", "kind": "Node"}, "source": {"component": ""}, "reportingComponent": "kubelet"},
    ],
)
def test_same_pairs_in_the_same_order(event):
    assert list(event_fields(event).items()) == list(_table_driven(event).items())


def test_every_pair_is_a_selectable_field():
    event = {"involvedObject": FULL_INVOLVED, "reason": "r", "reportingComponent": "c", "source": {"component": "s"}, "type": "t"}
    assert list(event_fields(event)) == list(_EVENT_FIELDS)
    assert set(event_fields(event)) <= EVENTS.selectable_fields


def _pod_table_driven(pod):
    spec = (pod.get("spec") or {}).get
    status = (pod.get("status") or {}).get
    fields = {}
    for name, value in (
        ("spec.nodeName", spec("nodeName", "")),
        ("spec.restartPolicy", spec("restartPolicy", "")),
        ("spec.schedulerName", spec("schedulerName", "")),
        ("spec.serviceAccountName", spec("serviceAccountName", "")),
        ("spec.hostNetwork", "true" if spec("hostNetwork") else "false"),
        ("status.phase", status("phase", "")),
        ("status.podIP", status("podIP", "")),
        ("status.nominatedNodeName", status("nominatedNodeName", "")),
    ):
        if value != "":
            fields[name] = value
    return fields


@pytest.mark.parametrize(
    "pod",
    [
        {},
        {"spec": None, "status": None},
        {"spec": {"restartPolicy": "Always", "schedulerName": "default-scheduler", "serviceAccountName": "default"},
         "status": {"phase": "Pending"}},
        {"spec": {"nodeName": "n1", "hostNetwork": True, "restartPolicy": ""},
         "status": {"phase": "Running", "podIP": "10.0.0.1", "nominatedNodeName": "n2"}},
        {"spec": {"nodeName": "", "hostNetwork": False}, "status": {"podIP": ""}},
    ],
)
def test_pod_fields_same_pairs_in_the_same_order(pod):
    assert list(pod_fields(pod).items()) == list(_pod_table_driven(pod).items())
    assert set(pod_fields(pod)) <= PODS.selectable_fields
