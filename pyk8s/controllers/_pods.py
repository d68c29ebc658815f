"""Pod and ownership helpers the workload controllers share (upstream's
pkg/controller/controller_utils.go and podutil): owner references, pods from a template,
and the pod states controllers count (active, ready, available)."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Mapping

__all__ = [
    "controller_ref", "is_pod_active", "is_pod_available", "is_pod_ready", "is_terminating",
    "owner_reference", "parse_time", "pod_from_template", "pod_ready_since", "rfc3339",
]

Obj = dict


def rfc3339(moment: dt.datetime | None = None) -> str:
    return (moment or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def owner_reference(owner: Mapping, *, controller: bool = True, block_owner_deletion: bool = True) -> Obj:
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": meta["name"], "uid": meta["uid"],
        "controller": controller, "blockOwnerDeletion": block_owner_deletion,
    }


def controller_ref(obj: Mapping) -> Obj | None:
    """The ownerReference with ``controller: true``, if any."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if ref.get("controller"):
            return ref
    return None


def pod_from_template(template: Mapping, owner: Mapping, *, generate_name: str | None = None,
                      extra_labels: Mapping[str, str] | None = None) -> Obj:
    """A pod for ``owner`` from its ``spec.template`` (upstream's GetPodFromTemplate): the
    template's labels, annotations, finalizers and spec; ``generateName`` ``<owner>-``; a
    controller ownerReference to ``owner``."""
    template_meta = template.get("metadata") or {}
    owner_meta = owner["metadata"]
    labels = dict(template_meta.get("labels") or {})
    if extra_labels:
        labels.update(extra_labels)
    meta: Obj = {
        "generateName": generate_name if generate_name is not None else f"{owner_meta['name']}-",
        "namespace": owner_meta.get("namespace"),
        "labels": labels,
        "ownerReferences": [owner_reference(owner)],
    }
    if template_meta.get("annotations"):
        meta["annotations"] = dict(template_meta["annotations"])
    if template_meta.get("finalizers"):
        meta["finalizers"] = list(template_meta["finalizers"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": copy.deepcopy(template.get("spec") or {})}


def is_terminating(obj: Mapping) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def is_pod_active(pod: Mapping) -> bool:
    """Upstream's IsPodActive: not Succeeded/Failed and not being deleted."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not is_terminating(pod)


def _ready_condition(pod: Mapping) -> Mapping | None:
    for condition in (pod.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Ready":
            return condition
    return None


def is_pod_ready(pod: Mapping) -> bool:
    condition = _ready_condition(pod)
    return condition is not None and condition.get("status") == "True"


def pod_ready_since(pod: Mapping) -> dt.datetime | None:
    condition = _ready_condition(pod)
    if condition is None or condition.get("status") != "True":
        return None
    return parse_time(condition.get("lastTransitionTime"))


def is_pod_available(pod: Mapping, min_ready_seconds: int, now: dt.datetime | None = None) -> bool:
    """Upstream's IsPodAvailable: Ready, and Ready for at least ``minReadySeconds``."""
    if not is_pod_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = pod_ready_since(pod)
    if since is None:
        return False
    return since + dt.timedelta(seconds=min_ready_seconds) <= (now or dt.datetime.now(dt.UTC))
