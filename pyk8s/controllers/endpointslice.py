"""The EndpointSlice controller, as upstream pkg/controller/endpointslice with the reconciler of
k8s.io/endpointslice: for every Service with a selector, discovery.k8s.io/v1 EndpointSlices
listing the matching pods (what kube-proxy and ``kubectl describe service`` read).

* Each slice is labelled ``kubernetes.io/service-name=<service>`` and
  ``endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io`` on top of the
  Service's own labels (plus ``service.kubernetes.io/headless`` for a headless Service), is
  created with ``generateName: <service>-`` and is owned by the Service (``controller`` and
  ``blockOwnerDeletion``): a deleted Service's slices go with it through the garbage
  collector, as upstream leaves it to.
* One address type per IP family of the Service (``spec.ipFamilies``); a pod counts when it
  has an IP of that family and is not terminal.  Terminating pods stay, with
  ``terminating: true`` and ``ready: false``; ``serving`` is the pod's readiness; ``ready``
  is ``serving`` and not terminating, or always true with ``publishNotReadyAddresses``.
  Each endpoint has ``nodeName``, ``zone`` (its node's ``topology.kubernetes.io/zone``),
  ``hostname`` (when the pod's subdomain is the Service's name) and a ``targetRef``.
* Ports are resolved per pod (a named ``targetPort`` is looked up in the pod's containers, as
  the endpoints controller does), so pods are grouped by their port list, each group in its
  own slices of at most ``max_endpoints_per_slice`` endpoints.  Existing slices are kept and
  topped up rather than rebuilt; a Service with no endpoints of a type gets one empty
  placeholder slice.  Nothing is written when nothing changed.
* A pod whose node is not known is left out and the Service tried again (unless it
  publishes not-ready addresses), as upstream does.

Options: ``concurrent_service_endpoint_syncs`` (5) services synced at once,
``max_endpoints_per_slice`` (100, at most 1000), ``endpointslice_updates_batch_period``
(0 s) how long pod changes are gathered before a Service is synced.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyk8s.client import (
    ENDPOINT_SLICES, NODES, PODS, SERVICES, ApiError, NotFound, TransportError, object_key, split_key,
)

from ._base import Controller, ControllerContext
from ._events import WARNING
from ._pods import error_text, is_namespace_terminating_error
from ._slices import LABEL_MANAGED_BY, LABEL_SERVICE_NAME, MANAGED_BY, Plan, owned_by, reconcile_slices
from .endpoints import _rfc3339_nano, _selector_matches, _TriggerTimes, services_to_update_on_pod_change

__all__ = ["EndpointSliceController", "SliceTracker"]

TRIGGER_TIME_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"
DEFAULT_MAX_ENDPOINTS_PER_SLICE = 100
_MAX_MAX_ENDPOINTS_PER_SLICE = 1000
# A slice changed by someone else is looked at again after this (endpointSliceChangeMinSyncDelay).
_SLICE_CHANGE_MIN_DELAY = 1.0
# First delays of a re-sync while the cache has not yet seen our own writes, and of one for
# a pod whose node is not known yet; each doubles up to the last.
_STALE_RETRY = 0.05
_MISSING_NODE_RETRY = 0.1
_MAX_RETRY_DELAY = 60.0

Obj = dict[str, Any]


def _resource_version(obj: Mapping) -> int:
    try:
        return int(obj["metadata"].get("resourceVersion") or 0)
    except ValueError:
        return 0


# -- what the cache must have caught up with -------------------------------------------------


class SliceTracker:
    """Upstream EndpointSliceTracker, by resourceVersion (pyk8s leaves an EndpointSlice's
    generation alone): the version of each slice this controller last wrote, or that it
    deleted one, filed under the slice's Service.  A sync from a cache older than that would
    undo or repeat those writes, so it waits; an event newer than our write is someone
    else's and asks for a sync."""

    _DELETED = -1

    def __init__(self) -> None:
        self._versions: dict[str, tuple[str, int]] = {}  # slice uid -> (service key, version)
        self._by_service: dict[str, set[str]] = {}  # service key -> slice uids

    def _set(self, endpoint_slice: Obj, version: int) -> None:
        meta = endpoint_slice["metadata"]
        service_key = f'{meta.get("namespace")}/{(meta.get("labels") or {}).get(LABEL_SERVICE_NAME, "")}'
        self._versions[meta["uid"]] = (service_key, version)
        self._by_service.setdefault(service_key, set()).add(meta["uid"])

    def wrote(self, endpoint_slice: Obj) -> None:
        self._set(endpoint_slice, _resource_version(endpoint_slice))

    def expect_deletion(self, endpoint_slice: Obj) -> None:
        self._set(endpoint_slice, self._DELETED)

    def should_sync(self, endpoint_slice: Obj) -> bool:
        known = self._versions.get(endpoint_slice["metadata"].get("uid"))
        return known is None or _resource_version(endpoint_slice) > known[1]

    def handle_deletion(self, endpoint_slice: Obj) -> bool:
        """Forget a deleted slice; True if this controller deleted it."""
        uid = endpoint_slice["metadata"].get("uid")
        known = self._versions.pop(uid, None)
        if known is None:
            return False
        self._by_service.get(known[0], set()).discard(uid)
        return known[1] == self._DELETED

    def stale(self, service_key: str, cached: list[Obj]) -> bool:
        """Whether ``cached`` (the namespace's slices in the cache) predates our writes for
        the Service: a slice we wrote missing or older, one we deleted still there."""
        uids = self._by_service.get(service_key)
        if not uids:
            return False
        present = {s["metadata"].get("uid"): s for s in cached}
        for uid in uids:
            version = self._versions[uid][1]
            endpoint_slice = present.get(uid)
            if version == self._DELETED:
                # One marked for deletion (finalizers) counts as gone, as upstream drops those.
                if endpoint_slice is not None and not endpoint_slice["metadata"].get("deletionTimestamp"):
                    return True
            elif endpoint_slice is None or _resource_version(endpoint_slice) < version:
                return True
        return False

    def forget(self, service_key: str) -> None:
        for uid in self._by_service.pop(service_key, set()):
            self._versions.pop(uid, None)


# -- the controller ----------------------------------------------------------------------------


class EndpointSliceController(Controller):
    name = "endpointslice-controller"
    default_workers = 5

    def __init__(self, context: ControllerContext) -> None:
        super().__init__(context)
        options = context.options
        self.max_endpoints_per_slice = int(options.get("max_endpoints_per_slice") or DEFAULT_MAX_ENDPOINTS_PER_SLICE)
        if not 1 <= self.max_endpoints_per_slice <= _MAX_MAX_ENDPOINTS_PER_SLICE:
            raise ValueError(f"max_endpoints_per_slice must be between 1 and {_MAX_MAX_ENDPOINTS_PER_SLICE}, "
                             f"got {self.max_endpoints_per_slice}")
        self.batch_period = float(options.get("endpointslice_updates_batch_period") or 0.0)
        self.services = self.informers.informer(SERVICES)
        self.pods = self.informers.informer(PODS)
        self.nodes = self.informers.informer(NODES)
        self.slices = self.informers.informer(ENDPOINT_SLICES)
        self.services.add_event_handler(
            on_add=self.enqueue_object, on_update=self.enqueue_object, on_delete=self.enqueue_object,
        )
        self.pods.add_event_handler(on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_added)
        self.slices.add_event_handler(
            on_add=self._slice_added, on_update=self._slice_updated, on_delete=self._slice_deleted,
        )
        self.tracker = SliceTracker()
        self.trigger_times = _TriggerTimes()
        # Service key -> retries so far of a sync that must wait (a stale cache, a missing node).
        self._retries: dict[str, int] = {}

    # -- events to services -------------------------------------------------------------------

    def _services_of(self, pod: Obj) -> set[str]:
        labels = pod["metadata"].get("labels")
        return {
            object_key(service) for service in self.services.indexer.by_index("namespace", pod["metadata"].get("namespace"))
            if (service.get("spec") or {}).get("selector") and _selector_matches(service["spec"]["selector"], labels)
        }

    def _enqueue_batched(self, keys: set[str]) -> None:
        for key in keys:
            if self.batch_period > 0:
                self.enqueue_after(key, self.batch_period)
            else:
                self.enqueue(key)

    def _pod_added(self, pod: Obj) -> None:
        self._enqueue_batched(self._services_of(pod))

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        services = services_to_update_on_pod_change(old, new, self._services_of)
        if services:
            self._enqueue_batched(services)

    def _enqueue_for_slice(self, endpoint_slice: Obj) -> None:
        service = (endpoint_slice["metadata"].get("labels") or {}).get(LABEL_SERVICE_NAME)
        if service:
            key = f'{endpoint_slice["metadata"].get("namespace")}/{service}'
            self.enqueue_after(key, max(_SLICE_CHANGE_MIN_DELAY, self.batch_period))

    @staticmethod
    def _managed(endpoint_slice: Obj) -> bool:
        return (endpoint_slice["metadata"].get("labels") or {}).get(LABEL_MANAGED_BY) == MANAGED_BY

    def _slice_added(self, endpoint_slice: Obj) -> None:
        if self._managed(endpoint_slice) and self.tracker.should_sync(endpoint_slice):
            self._enqueue_for_slice(endpoint_slice)

    def _slice_updated(self, old: Obj, new: Obj) -> None:
        old_labels, new_labels = old["metadata"].get("labels") or {}, new["metadata"].get("labels") or {}
        if old_labels.get(LABEL_SERVICE_NAME) != new_labels.get(LABEL_SERVICE_NAME):
            self._enqueue_for_slice(new)
            self._enqueue_for_slice(old)
        elif (self._managed(old) != self._managed(new)) or (self._managed(new) and self.tracker.should_sync(new)):
            self._enqueue_for_slice(new)

    def _slice_deleted(self, endpoint_slice: Obj) -> None:
        if self._managed(endpoint_slice) and not self.tracker.handle_deletion(endpoint_slice):
            self._enqueue_for_slice(endpoint_slice)

    # -- sync ---------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        namespace, name = split_key(key)
        service = self.services.indexer.get(key)
        if service is None:
            # The garbage collector deletes the slices through their owner reference.
            self.tracker.forget(key)
            self.trigger_times.forget(key)
            self._retries.pop(key, None)
            return
        spec = service.get("spec") or {}
        if spec.get("type") == "ExternalName" or not spec.get("selector"):
            return
        pods = sorted((pod for pod in self.pods.indexer.by_index("namespace", namespace)
                       if _selector_matches(spec["selector"], pod["metadata"].get("labels"))),
                      key=lambda pod: pod["metadata"]["name"])
        in_namespace = self.slices.indexer.by_index("namespace", namespace)
        if self.tracker.stale(key, in_namespace):
            self._retry(key, _STALE_RETRY)
            return
        slices = [s for s in in_namespace
                  if self._managed(s) and (s["metadata"].get("labels") or {}).get(LABEL_SERVICE_NAME) == name
                  and not s["metadata"].get("deletionTimestamp")]
        trigger_time = self.trigger_times.compute(key, service, pods)
        plan = reconcile_slices(service, pods, slices, self.nodes.indexer.get, self.max_endpoints_per_slice)
        service_ref = {**service, "apiVersion": "v1", "kind": "Service"}
        try:
            await self._write(service, plan, trigger_time)
        except (ApiError, TransportError) as error:
            if is_namespace_terminating_error(error):
                return
            self.recorder.event(service_ref, WARNING, "FailedToUpdateEndpointSlices",
                                f"Error updating Endpoint Slices for Service {key}: {error_text(error)}")
            raise
        if plan.skipped:
            self.recorder.event(service_ref, WARNING, "FailedToUpdateEndpointSlices",
                                f"Error updating Endpoint Slices for Service {key}: {'; '.join(dict.fromkeys(plan.skipped))}")
            self._retry(key, _MISSING_NODE_RETRY)
        else:
            self._retries.pop(key, None)

    def _retry(self, key: str, first_delay: float) -> None:
        """Sync ``key`` again later, waiting twice as long each time (upstream returns an
        error for these and lets the rate limiter back off; here the sync itself succeeded)."""
        attempts = self._retries.get(key, 0)
        self._retries[key] = attempts + 1
        self.enqueue_after(key, min(first_delay * 2 ** attempts, _MAX_RETRY_DELAY))

    async def _write(self, service: Obj, plan: Plan, trigger_time) -> None:
        """Upstream finalize: a slice about to be deleted takes the place of one about to be
        created (an update instead of a delete and a create); no creates for a Service being
        deleted; then updates, then deletes."""
        namespace = service["metadata"].get("namespace")
        deletes = list(plan.delete)
        for old in list(deletes):
            if not plan.create:
                break
            if old.get("addressType") == plan.create[-1]["addressType"] and owned_by(old, service):
                replacement = plan.create.pop()
                replacement["metadata"]["name"] = old["metadata"]["name"]
                plan.update.append(replacement)
                deletes.remove(old)
        if not service["metadata"].get("deletionTimestamp"):
            for endpoint_slice in plan.create:
                _stamp_trigger_time(endpoint_slice, trigger_time)
                self.tracker.wrote(await self.client.create(ENDPOINT_SLICES, endpoint_slice, namespace=namespace))
        for endpoint_slice in plan.update:
            _stamp_trigger_time(endpoint_slice, trigger_time)
            self.tracker.wrote(await self.client.update(ENDPOINT_SLICES, endpoint_slice, namespace=namespace))
        for endpoint_slice in deletes:
            try:
                await self.client.delete(ENDPOINT_SLICES, endpoint_slice["metadata"]["name"], namespace=namespace)
            except NotFound:
                pass  # gone already (the garbage collector, or a person): what we wanted
            self.tracker.expect_deletion(endpoint_slice)


def _stamp_trigger_time(endpoint_slice: Obj, trigger_time) -> None:
    """Upstream addTriggerTimeAnnotation: the last change that led to this write, or none."""
    annotations = endpoint_slice["metadata"].setdefault("annotations", {})
    if trigger_time is not None:
        annotations[TRIGGER_TIME_ANNOTATION] = _rfc3339_nano(trigger_time)
    else:
        annotations.pop(TRIGGER_TIME_ANNOTATION, None)
    if not annotations:
        del endpoint_slice["metadata"]["annotations"]
