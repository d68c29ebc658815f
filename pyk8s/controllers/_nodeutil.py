"""What the node lifecycle and taint eviction controllers share, as upstream's
pkg/controller/util/node, pkg/util/taints and the Toleration helpers of core/v1: the
node-condition taint keys, taint and toleration matching, node zones, the pods-by-node index,
and the writes both controllers make (node taints, pods marked not ready, node events)."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping

from pyk8s.client import (
    NODES, PODS, ApiClient, ApiError, Conflict, NotFound, SharedInformer, TransportError, field_index,
)

from ._events import WARNING, EventRecorder
from ._pods import rfc3339

__all__ = [
    "CONDITION_TAINTS", "NO_EXECUTE", "NO_SCHEDULE", "NOT_READY_TAINT", "POD_NODE_NAME_INDEX",
    "TAINT_NOT_READY", "TAINT_UNREACHABLE", "TAINT_UNSCHEDULABLE", "UNREACHABLE_TAINT",
    "ensure_pod_node_name_index", "has_taint", "mark_pods_not_ready", "matching_tolerations",
    "min_toleration_seconds", "no_execute_taints", "node_condition", "node_ref", "pods_on_node",
    "record_node_event", "taint_matches", "tolerates", "update_node_taints", "zone_key",
]

log = logging.getLogger(__name__)

NO_EXECUTE = "NoExecute"
NO_SCHEDULE = "NoSchedule"

TAINT_NOT_READY = "node.kubernetes.io/not-ready"
TAINT_UNREACHABLE = "node.kubernetes.io/unreachable"
TAINT_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"

NOT_READY_TAINT = {"key": TAINT_NOT_READY, "effect": NO_EXECUTE}
UNREACHABLE_TAINT = {"key": TAINT_UNREACHABLE, "effect": NO_EXECUTE}

# Which condition status puts which NoSchedule taint on a node (upstream's
# nodeConditionToTaintKeyStatusMap, the TaintNodesByCondition feature).
CONDITION_TAINTS: dict[str, dict[str, str]] = {
    "Ready": {"False": TAINT_NOT_READY, "Unknown": TAINT_UNREACHABLE},
    "MemoryPressure": {"True": "node.kubernetes.io/memory-pressure"},
    "DiskPressure": {"True": "node.kubernetes.io/disk-pressure"},
    "NetworkUnavailable": {"True": "node.kubernetes.io/network-unavailable"},
    "PIDPressure": {"True": "node.kubernetes.io/pid-pressure"},
}

# upstream controller.PodNodeNameKeyIndex; every controller that files pods by node shares it.
POD_NODE_NAME_INDEX = "spec.nodeName"

# Upstream's UpdateTaintBackoff / NodeHealthUpdateRetry: attempts at a node write that keeps
# losing compare-and-swap races.
_WRITE_ATTEMPTS = 5

_ZONE_LABELS = ("topology.kubernetes.io/region", "topology.kubernetes.io/zone")
_BETA_ZONE_LABELS = ("failure-domain.beta.kubernetes.io/region", "failure-domain.beta.kubernetes.io/zone")

Obj = dict


# -- reading nodes and pods ------------------------------------------------------------------


def node_condition(status: Mapping | None, condition_type: str) -> Obj | None:
    for condition in (status or {}).get("conditions") or ():
        if condition.get("type") == condition_type:
            return condition
    return None


def zone_key(node: Mapping) -> str:
    """Upstream nodetopology.GetZoneKey: ``region:\\x00:zone`` from the topology labels (the
    beta ones as a fallback); "" for a node without either."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    region = labels.get(_ZONE_LABELS[0]) or labels.get(_BETA_ZONE_LABELS[0]) or ""
    zone = labels.get(_ZONE_LABELS[1]) or labels.get(_BETA_ZONE_LABELS[1]) or ""
    if not region and not zone:
        return ""
    return f"{region}:\x00:{zone}"


def ensure_pod_node_name_index(pods: SharedInformer) -> None:
    """File the pod cache by ``spec.nodeName`` once, whichever controller asks first
    (upstream AddPodNodeNameIndexer is idempotent the same way)."""
    try:
        pods.indexer.index_keys(POD_NODE_NAME_INDEX, "")
    except KeyError:
        pods.add_indexers({POD_NODE_NAME_INDEX: field_index("spec.nodeName")})


def pods_on_node(pods: SharedInformer, node_name: str) -> list[Obj]:
    return pods.indexer.by_index(POD_NODE_NAME_INDEX, node_name)


def node_ref(node: Mapping) -> Obj:
    """The reference upstream's node events carry: kind, name and uid, no resourceVersion."""
    meta = node.get("metadata") or {}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": meta.get("name"), "uid": meta.get("uid")}}


def record_node_event(recorder: EventRecorder, node: Mapping, event_type: str, reason: str, event: str) -> None:
    """Upstream RecordNodeEvent: ``Node <name> event: <event>``."""
    name = (node.get("metadata") or {}).get("name")
    recorder.event(node_ref(node), event_type, reason, f"Node {name} event: {event}")


# -- taints and tolerations --------------------------------------------------------------------


def taint_matches(a: Mapping, b: Mapping) -> bool:
    """Upstream Taint.MatchTaint: the same key and effect (a node holds one of each pair)."""
    return a.get("key") == b.get("key") and a.get("effect") == b.get("effect")


def has_taint(taints: Iterable[Mapping] | None, template: Mapping) -> bool:
    return any(taint_matches(taint, template) for taint in taints or ())


def no_execute_taints(node: Mapping | None) -> list[Obj]:
    if node is None:
        return []
    return [taint for taint in (node.get("spec") or {}).get("taints") or () if taint.get("effect") == NO_EXECUTE]


def tolerates(toleration: Mapping, taint: Mapping) -> bool:
    """Upstream Toleration.ToleratesTaint: an empty effect or key matches any; an empty
    operator means Equal."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Equal":
        return (toleration.get("value") or "") == (taint.get("value") or "")
    return operator == "Exists"


def matching_tolerations(taints: list[Mapping], tolerations: list[Mapping] | None) -> tuple[bool, list[Mapping]]:
    """Upstream GetMatchingTolerations: whether every taint is tolerated, and for each taint
    the first toleration that does."""
    used: list[Mapping] = []
    for taint in taints:
        match = next((toleration for toleration in tolerations or () if tolerates(toleration, taint)), None)
        if match is None:
            return False, []
        used.append(match)
    return True, used


def min_toleration_seconds(used: list[Mapping]) -> float:
    """Upstream getMinTolerationTime: the shortest tolerationSeconds among ``used`` (0 for none
    or a non-positive one), or -1 when every one tolerates forever."""
    if not used:
        return 0
    shortest = math.inf
    for toleration in used:
        seconds = toleration.get("tolerationSeconds")
        if seconds is None:
            continue
        if seconds <= 0:
            return 0
        shortest = min(shortest, seconds)
    return -1 if shortest == math.inf else shortest


# -- writes ----------------------------------------------------------------------------------


async def update_node_taints(
    client: ApiClient, node: Mapping, add: Iterable[Mapping] = (), remove: Iterable[Mapping] = (),
) -> bool:
    """Upstream SwapNodeControllerTaint in one write: drop the taints matching ``remove``, put
    ``add`` (stamped with timeAdded) in place of same key+effect ones, and patch
    ``spec.taints`` with the node's resourceVersion as precondition (the list has no merge key,
    so only a compare-and-swap makes removal safe).  The first attempt uses ``node`` as given
    (the informer's copy); a lost race re-reads it.  False when the node is gone or nothing
    changes; a write error that outlasts the retries is raised."""
    add, remove = list(add), list(remove)
    stamp = rfc3339()
    name = node["metadata"]["name"]
    for attempt in range(_WRITE_ATTEMPTS):
        if attempt:
            try:
                node = await client.get(NODES, name)
            except NotFound:
                return False
        old = list((node.get("spec") or {}).get("taints") or ())
        taints = [taint for taint in old if not any(taint_matches(taint, gone) for gone in remove)]
        for wanted in add:
            fresh = {**wanted, "timeAdded": stamp}
            index = next((i for i, taint in enumerate(taints) if taint_matches(taint, wanted)), None)
            if index is None:
                taints.append(fresh)
            elif (taints[index].get("value") or "") != (wanted.get("value") or ""):
                taints[index] = fresh
            # else the same taint is already there: keep its timeAdded.
        if taints == old:
            return False
        patch = {"metadata": {"resourceVersion": node["metadata"]["resourceVersion"]}, "spec": {"taints": taints or None}}
        try:
            await client.patch(NODES, name, patch)
            return True
        except NotFound:
            return False
        except Conflict:
            if attempt == _WRITE_ATTEMPTS - 1:
                raise
    return False


async def mark_pods_not_ready(
    client: ApiClient, recorder: EventRecorder, pods: Iterable[Mapping], node_name: str,
) -> list[Exception]:
    """Upstream MarkPodsNotReady: each pod of ``node_name`` whose Ready condition is not
    already False gets Ready=False through pods/status, and a ``NodeNotReady`` Warning.  The
    errors of the pods that could not be written (a pod that is gone is not one)."""
    errors: list[Exception] = []
    for pod in pods:
        if (pod.get("spec") or {}).get("nodeName") != node_name:
            continue
        ready = node_condition(pod.get("status"), "Ready")
        if ready is None or ready.get("status") == "False":
            continue
        status = dict(pod.get("status") or {})
        status["conditions"] = [
            {**condition, "status": "False", "lastTransitionTime": rfc3339()} if condition is ready else condition
            for condition in status.get("conditions") or ()
        ]
        meta = pod["metadata"]
        try:
            await client.update(PODS, {**pod, "status": status}, subresource="status")
        except NotFound:
            continue
        except (ApiError, TransportError) as error:
            log.info("marking pod %s/%s not ready failed: %s", meta.get("namespace"), meta.get("name"), error)
            errors.append(error)
        recorder.event(pod, WARNING, "NodeNotReady", "Node is not ready")
    return errors

