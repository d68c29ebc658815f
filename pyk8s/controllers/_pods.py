"""Pod and ownership helpers the workload controllers share (upstream's
pkg/controller/controller_utils.go and podutil): owner references, pods from a template,
the pod states controllers count (active, ready, available, terminating), the pod index by
controller uid, ``PodControl`` (pod writes with their Events), ``slow_start_batch`` and the
order in which a scale-down deletes pods."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import functools
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass

from pyk8s.api.kinds.workloads import selector_matches as _workload_selector_matches
from pyk8s.client import (
    PODS, ApiClient, ApiError, Forbidden, Indexer, NotFound, PatchType, SharedInformer, TransportError,
)

from ._events import NORMAL, WARNING, ComponentRecorder, EventRecorder

__all__ = [
    "NAMESPACE_TERMINATING_CAUSE", "POD_CONTROLLER_UID_INDEX", "POD_DELETION_COST", "PodControl",
    "SLOW_START_INITIAL_BATCH_SIZE", "add_pod_controller_uid_index", "controller_ref", "error_text",
    "is_namespace_terminating_error", "is_pod_active", "is_pod_available", "is_pod_ready",
    "is_pod_terminating", "is_terminating", "orphan_index_key", "owner_reference", "parse_time",
    "pod_controller_uid_index", "pod_from_template", "pod_ready_since", "pods_for_owner",
    "pods_to_delete", "rfc3339", "selector_matcher", "selector_matches", "slow_start_batch",
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
                      extra_labels: Mapping[str, str] | None = None, copy_spec: bool = True) -> Obj:
    """A pod for ``owner`` from its ``spec.template`` (upstream's GetPodFromTemplate): the
    template's labels, annotations, finalizers and spec; ``generateName`` ``<owner>-``; a
    controller ownerReference to ``owner``.  ``copy_spec=False`` shares the template's spec
    (for a pod that is only serialized, never changed)."""
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
    spec = template.get("spec") or {}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": copy.deepcopy(spec) if copy_spec else spec}


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


def is_pod_terminating(pod: Mapping) -> bool:
    """Upstream's controller.IsPodTerminating: being deleted but not yet terminal (the
    ``status.terminatingReplicas`` count)."""
    phase = (pod.get("status") or {}).get("phase")
    return is_terminating(pod) and phase not in ("Succeeded", "Failed")


def selector_matches(selector: Mapping | None, labels: Mapping[str, str]) -> bool:
    """A controller's metav1.LabelSelector against a pod's labels.  A missing or empty
    selector matches nothing here: upstream's controllers skip such objects rather than
    letting them select every pod."""
    if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        return False
    return _workload_selector_matches(selector, labels)


def selector_matcher(selector: Mapping | None) -> Callable[[Mapping[str, str]], bool]:
    """``selector_matches`` prepared once for many pods: a plain matchLabels selector (the
    usual kind) becomes one subset test of label items."""
    if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        return lambda _labels: False
    if selector.get("matchExpressions"):
        return lambda labels: _workload_selector_matches(selector, labels)
    wanted = dict(selector["matchLabels"]).items()
    return lambda labels: wanted <= labels.items()


# -- the pod index by controller ---------------------------------------------------------------

POD_CONTROLLER_UID_INDEX = "podControllerUID"


def orphan_index_key(namespace: str) -> str:
    """The index value of a namespace's pods that have no controller (uids never hold '/')."""
    return f"orphan/{namespace}"


def pod_controller_uid_index(pod: Obj) -> list[str]:
    """Upstream's PodControllerUIDIndex: a pod is filed under its controller's uid, an
    orphan under its namespace's orphan key, so a controller finds its own pods and the
    orphans it might adopt without scanning every pod."""
    ref = controller_ref(pod)
    if ref is not None and ref.get("uid"):
        return [ref["uid"]]
    return [orphan_index_key((pod.get("metadata") or {}).get("namespace") or "")]


def add_pod_controller_uid_index(informer: SharedInformer) -> None:
    """Add the index to a (shared) pods informer unless another controller already did."""
    try:
        informer.indexer.index_values(POD_CONTROLLER_UID_INDEX)
    except KeyError:
        informer.add_indexers({POD_CONTROLLER_UID_INDEX: pod_controller_uid_index})


def pods_for_owner(indexer: Indexer, owner: Mapping, *, include_orphans: bool = True) -> list[Obj]:
    """Upstream's FilterPodsByOwner: the pods ``owner`` controls, plus (with
    ``include_orphans``) the controller-less pods of its namespace, from an indexer that has
    ``POD_CONTROLLER_UID_INDEX``."""
    meta = owner["metadata"]
    namespace = meta.get("namespace") or ""
    pods = [pod for pod in indexer.by_index(POD_CONTROLLER_UID_INDEX, meta["uid"])
            if pod["metadata"].get("namespace") == namespace]
    if include_orphans:
        pods += indexer.by_index(POD_CONTROLLER_UID_INDEX, orphan_index_key(namespace))
    return pods


# -- writing pods (upstream's RealPodControl) --------------------------------------------------

NAMESPACE_TERMINATING_CAUSE = "NamespaceTerminating"


def is_namespace_terminating_error(error: BaseException) -> bool:
    """A create refused because the namespace is being deleted: expected while the namespace
    controller empties it, so no event and no error (upstream checks the Status cause; the
    message is the fallback for servers that send none)."""
    if not isinstance(error, Forbidden):
        return False
    causes = error.details.get("causes") or ()
    if any(cause.get("type") == NAMESPACE_TERMINATING_CAUSE for cause in causes):
        return True
    return "because it is being terminated" in error.message


def error_text(error: BaseException) -> str:
    """What upstream prints for an error (a Status error prints its message)."""
    return error.message if isinstance(error, ApiError) else str(error)


class PodControl:
    """Creates, deletes and patches pods on behalf of a controller object and records the
    Events upstream's RealPodControl records (SuccessfulCreate "Created pod: NAME",
    FailedCreate "Error creating: ERR", SuccessfulDelete, FailedDelete).  At most
    ``max_in_flight`` of its requests run at once, however many callers ask: a 10,000-pod
    scale-up must not open 10,000 connections."""

    def __init__(self, client: ApiClient, recorder: EventRecorder | ComponentRecorder, *,
                 max_in_flight: int = 64) -> None:
        self.client = client
        self.recorder = recorder
        self.max_in_flight = max_in_flight
        self._slots: asyncio.Semaphore | None = None

    def _semaphore(self) -> asyncio.Semaphore:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_in_flight)
        return self._slots

    async def create_pod(self, template: Mapping, owner: Mapping, *, generate_name: str | None = None,
                         extra_labels: Mapping[str, str] | None = None) -> Obj:
        # The pod is encoded and sent at once, so it may share the (cached) template's spec:
        # a deep copy per pod costs more than the rest of building it.
        pod = pod_from_template(template, owner, generate_name=generate_name, extra_labels=extra_labels,
                                copy_spec=False)
        if not pod["metadata"]["labels"]:
            raise ValueError("unable to create pods, no labels")
        namespace = owner["metadata"].get("namespace")
        try:
            async with self._semaphore():
                created = await self.client.create(PODS, pod, namespace=namespace)
        except (ApiError, TransportError) as error:
            if not is_namespace_terminating_error(error):
                self.recorder.event(owner, WARNING, "FailedCreate", f"Error creating: {error_text(error)}")
            raise
        self.recorder.event(owner, NORMAL, "SuccessfulCreate", f"Created pod: {created['metadata']['name']}")
        return created

    async def delete_pod(self, namespace: str, name: str, owner: Mapping) -> None:
        try:
            async with self._semaphore():
                await self.client.delete(PODS, name, namespace=namespace)
        except NotFound:
            raise  # already gone: what was wanted, so no FailedDelete event
        except (ApiError, TransportError) as error:
            self.recorder.event(owner, WARNING, "FailedDelete", f"Error deleting: {error_text(error)}")
            raise
        self.recorder.event(owner, NORMAL, "SuccessfulDelete", f"Deleted pod: {name}")

    async def patch_pod(self, namespace: str, name: str, patch: Mapping) -> Obj:
        async with self._semaphore():
            return await self.client.patch(PODS, name, patch, namespace=namespace, patch_type=PatchType.STRATEGIC)


SLOW_START_INITIAL_BATCH_SIZE = 1


async def slow_start_batch(count: int, initial_batch_size: int,
                           call: Callable[[], Awaitable[object]]) -> tuple[int, BaseException | None]:
    """Upstream's slowStartBatch: run ``call`` ``count`` times in batches of 1, 2, 4, ...,
    each batch concurrently; stop after the first batch with a failure.  Returns how many
    calls succeeded and the first error.  A namespace out of quota thus costs one failed
    request, not ``count`` of them (nor ``count`` FailedCreate events)."""
    remaining, successes = count, 0
    batch = min(remaining, initial_batch_size)
    while batch > 0:
        results = await asyncio.gather(*(call() for _ in range(batch)), return_exceptions=True)
        errors = [result for result in results if isinstance(result, BaseException)]
        successes += batch - len(errors)
        if errors:
            return successes, errors[0]
        remaining -= batch
        batch = min(2 * batch, remaining)
    return successes, None


# -- which pods to delete first (upstream's ActivePodsWithRanks) -------------------------------

POD_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}
_NANOS = 1_000_000_000


@functools.lru_cache(maxsize=4096)
def _timestamp_nanos(text: str | None) -> int | None:
    # Second-resolution stamps repeat across a ReplicaSet's pods: parse each once.
    moment = parse_time(text)
    return None if moment is None else int(moment.timestamp()) * _NANOS


def _deletion_cost(annotations: Mapping[str, str]) -> int:
    text = annotations.get(POD_DELETION_COST)
    if text is None:
        return 0
    try:
        cost = int(text.strip())
    except ValueError:
        return 0
    # An int32; upstream rejects anything else and then treats the pod as cost 0.
    return cost if -(2 ** 31) <= cost < 2 ** 31 else 0


def _max_restarts(pod: Mapping) -> tuple[int, int]:
    """(highest restart count of a regular container, of a sidecar: an init container
    with restartPolicy Always)."""
    status = pod.get("status") or {}
    regular = max((c.get("restartCount") or 0 for c in status.get("containerStatuses") or ()), default=0)
    sidecars = {c.get("name") for c in (pod.get("spec") or {}).get("initContainers") or ()
                if c.get("restartPolicy") == "Always"}
    sidecar = max((c.get("restartCount") or 0 for c in status.get("initContainerStatuses") or ()
                   if c.get("name") in sidecars), default=0)
    return regular, sidecar


@dataclass(slots=True)
class _Ranked:
    pod: Obj
    node: str
    phase: int
    ready: bool
    cost: int
    rank: int
    ready_time: int | None
    restarts: tuple[int, int]
    created: int | None
    uid: str


def _log_rank(moment: int, now: int) -> int:
    elapsed = now - moment
    return int(math.log2(elapsed)) if elapsed > 0 else -1


def _newer_first(first: int | None, second: int | None, now: int, uid_first: str, uid_second: str) -> bool:
    """Upstream's LogarithmicScaleDown order of two different times: zero first, then the
    newer by power-of-two age buckets, the uid breaking ties within a bucket."""
    if first is None or second is None:
        return first is None
    difference = _log_rank(first, now) - _log_rank(second, now)
    if difference == 0:
        return uid_first < uid_second
    return difference < 0


def _delete_before(a: _Ranked, b: _Ranked, now: int) -> bool:
    # 1. unassigned < assigned
    if a.node != b.node and (not a.node or not b.node):
        return not a.node
    # 2. Pending < Unknown < Running
    if a.phase != b.phase:
        return a.phase < b.phase
    # 3. not ready < ready
    if a.ready != b.ready:
        return not a.ready
    # 4. lower pod-deletion-cost first
    if a.cost != b.cost:
        return a.cost < b.cost
    # 5. doubled up (more related pods on the node) first
    if a.rank != b.rank:
        return a.rank > b.rank
    # 6. ready for less time first
    if a.ready and b.ready and a.ready_time != b.ready_time:
        return _newer_first(a.ready_time, b.ready_time, now, a.uid, b.uid)
    # 7. more container restarts first
    if a.restarts != b.restarts:
        return a.restarts > b.restarts
    # 8. newer first
    if a.created != b.created:
        return _newer_first(a.created, b.created, now, a.uid, b.uid)
    return False


def _ranked(pod: Obj, rank: int) -> _Ranked:
    meta = pod.get("metadata") or {}
    ready_condition = _ready_condition(pod)
    ready = ready_condition is not None and ready_condition.get("status") == "True"
    return _Ranked(
        pod=pod, node=(pod.get("spec") or {}).get("nodeName") or "",
        phase=_PHASE_ORDINAL.get((pod.get("status") or {}).get("phase"), 0), ready=ready,
        cost=_deletion_cost(meta.get("annotations") or {}), rank=rank,
        ready_time=_timestamp_nanos(ready_condition.get("lastTransitionTime")) if ready else None,
        restarts=_max_restarts(pod), created=_timestamp_nanos(meta.get("creationTimestamp")),
        uid=meta.get("uid") or "",
    )


def pods_to_delete(active_pods: list[Obj], related_pods: Iterable[Obj], count: int,
                   now: dt.datetime | None = None) -> list[Obj]:
    """Upstream's getPodsToDelete: the ``count`` pods a scale-down removes first, ranked
    unassigned < assigned, Pending < Unknown < Running, not ready < ready, lower
    pod-deletion-cost, more active ``related_pods`` on the same node, ready for less time,
    more restarts, newer (times compared in power-of-two age buckets, as
    LogarithmicScaleDown does)."""
    if count >= len(active_pods):
        return list(active_pods)
    on_node: dict[str, int] = {}
    for pod in related_pods:
        if is_pod_active(pod):
            node = (pod.get("spec") or {}).get("nodeName") or ""
            on_node[node] = on_node.get(node, 0) + 1
    now_nanos = int((now or dt.datetime.now(dt.UTC)).timestamp() * _NANOS)
    ranked = [_ranked(pod, on_node.get((pod.get("spec") or {}).get("nodeName") or "", 0)) for pod in active_pods]

    # Criteria 1-5 and the age bucket of criterion 6 decide exactly like a tuple key, so a
    # key sort orders most pods; the comparator (uid tie-breaks that no key expresses) only
    # orders the one group of equal keys that straddles the cut.
    def prefix(entry: _Ranked) -> tuple:
        if entry.ready and entry.ready_time is not None:
            ready_level = (1, _log_rank(entry.ready_time, now_nanos))
        else:
            ready_level = (0, 0)
        return (1 if entry.node else 0, entry.phase, entry.ready, entry.cost, -entry.rank, ready_level)

    keyed = sorted(((prefix(entry), index) for index, entry in enumerate(ranked)))
    ordered = [ranked[index] for _key, index in keyed]
    cut_key = keyed[count - 1][0]
    if keyed[count][0] == cut_key:
        start = count - 1
        while start > 0 and keyed[start - 1][0] == cut_key:
            start -= 1
        end = count
        while end < len(keyed) and keyed[end][0] == cut_key:
            end += 1

        def compare(a: _Ranked, b: _Ranked) -> int:
            if _delete_before(a, b, now_nanos):
                return -1
            return 1 if _delete_before(b, a, now_nanos) else 0

        ordered[start:end] = sorted(ordered[start:end], key=functools.cmp_to_key(compare))
    return [entry.pod for entry in ordered[:count]]
