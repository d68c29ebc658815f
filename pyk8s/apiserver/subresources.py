"""Subresources beyond ``status`` (which the generic update and patch serve, told apart by
``route.subresource``): ``scale`` of deployments and replicasets (autoscaling/v1 Scale),
``binding`` and ``eviction`` of pods, ``finalize`` of namespaces.  As upstream's
pkg/registry/apps/deployment/storage (ScaleREST), pkg/registry/core/pod/storage
(BindingREST, EvictionREST) and pkg/registry/core/namespace/storage (FinalizeREST)."""

from __future__ import annotations

from typing import Any

import orjson

from pyk8s.api import errors
from pyk8s.api.errors import bad_request, invalid_value, required
from pyk8s.api.kinds import PODS
from pyk8s.api.kinds.workloads import selector_string
from pyk8s.api.meta import drop_empty_metadata, now_rfc3339, validate_metadata_update
from pyk8s.api.patch import MERGE_PATCH, parse_patch
from pyk8s.apiserver.handlers import MAX_RETRIES, ResourceHandlers, encode_object, with_warnings
from pyk8s.apiserver.options import parse_resource_version
from pyk8s.apiserver.routing import Route
from pyk8s.apiserver.write_options import DeleteOptions, delete_options, write_options
from pyk8s.store import WriteStatus

__all__ = ["Subresources", "SCALE_GVK"]

Obj = dict[str, Any]
SCALE_GVK = ("autoscaling", "v1", "Scale")
_CREATED = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
_CREATED_BYTES = orjson.dumps(_CREATED)


def _scale_of(obj: Obj) -> Obj:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    scale_meta = {key: meta[key] for key in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if key in meta}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": scale_meta,
        "spec": {"replicas": spec.get("replicas", 0)},
        "status": {"replicas": (obj.get("status") or {}).get("replicas", 0), "selector": selector_string(spec.get("selector") or {})},
    }


def _decode(body: bytes, what: str) -> Obj:
    if not body:
        raise bad_request(f"Object 'Kind' is missing in '{what}'")
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"couldn't decode {what} as JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise bad_request(f"the object provided is unrecognized (must be of type {what})")
    return obj


class Subresources:
    def __init__(self, handlers: ResourceHandlers) -> None:
        self.handlers = handlers
        self.store = handlers.store

    def _current(self, route: Route) -> tuple[Obj, int]:
        resource = route.resource
        found = self.store.get(resource.plural, route.namespace, route.name)
        if found is None:
            raise errors.not_found(resource.plural, route.name, resource.group)
        return orjson.loads(found[0]), found[1]

    # -- scale ---------------------------------------------------------------------------

    def get_scale(self, route: Route) -> tuple[int, bytes]:
        return 200, orjson.dumps(_scale_of(self._current(route)[0]))

    def update_scale(self, route: Route, body: bytes, params: dict[str, str] | None = None) -> tuple:
        scale = _decode(body, "Scale")
        return self._write_scale(route, scale, write_options(params, "UpdateOptions").dry_run)

    def patch_scale(self, route: Route, body: bytes, media_type: str = MERGE_PATCH, params: dict[str, str] | None = None) -> tuple:
        patch = parse_patch(media_type, body)
        current = _scale_of(self._current(route)[0])
        return self._write_scale(route, patch.apply(current, SCALE_GVK), write_options(params, "PatchOptions").dry_run)

    def _write_scale(self, route: Route, scale: Obj, dry_run: bool) -> tuple:
        """ScaleREST.Update: the Scale's spec.replicas becomes the object's; its
        resourceVersion, if any, is a precondition on the object."""
        if scale.get("kind", "Scale") != "Scale" or scale.get("apiVersion", "autoscaling/v1") != "autoscaling/v1":
            raise bad_request(
                f"the kind in the data ({scale.get('kind')}, {scale.get('apiVersion')}) does not match the expected kind "
                "(Scale, autoscaling/v1)"
            )
        meta = scale.get("metadata") if isinstance(scale.get("metadata"), dict) else {}
        if meta.get("name", route.name) != route.name:
            raise bad_request(f"the name of the object ({meta.get('name')}) does not match the name on the URL ({route.name})")
        replicas = (scale.get("spec") or {}).get("replicas", 0) if isinstance(scale.get("spec"), dict) else None
        if type(replicas) is not int:
            raise bad_request('Scale in version "v1" cannot be handled as a Scale: spec.replicas must be an integer')
        if replicas < 0:
            cause = invalid_value("spec.replicas", replicas, "must be greater than or equal to 0")
            raise errors.invalid("Scale", route.name, [cause], "autoscaling")
        rv = meta.get("resourceVersion") or ""
        expected = parse_resource_version(rv) if isinstance(rv, str) else 0

        def apply(old: Obj, old_bytes: bytes) -> Obj:
            obj = orjson.loads(old_bytes)
            obj.setdefault("spec", {})["replicas"] = replicas
            return obj

        main = route._replace(subresource="")
        status, data = self.handlers._guaranteed_update(main, apply, expected, dry_run)
        return status, orjson.dumps(_scale_of(orjson.loads(data)))

    # -- pods/binding --------------------------------------------------------------------

    def create_binding(self, route: Route, body: bytes, params: dict[str, str] | None = None) -> tuple:
        """POST to the legacy ``bindings`` collection: the Binding's metadata.name names the
        pod, in the URL's namespace (or the body's, as a create without one takes it)."""
        binding = _decode(body, "Binding")
        meta = binding.get("metadata") if isinstance(binding.get("metadata"), dict) else {}
        name = meta.get("name") or ""
        body_namespace = meta.get("namespace") or ""
        if not isinstance(name, str) or not isinstance(body_namespace, str):
            raise bad_request('Binding in version "v1" cannot be handled as a Binding: metadata.name and metadata.namespace must be strings')
        if route.namespace and body_namespace and body_namespace != route.namespace:
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        if not name:
            raise bad_request("resource name may not be empty")
        pod_route = Route(PODS, route.namespace or body_namespace or "default", name, "binding", False)
        return self._assign(pod_route, binding, params)

    def bind(self, route: Route, body: bytes, params: dict[str, str] | None = None) -> tuple:
        """pods/{name}/binding."""
        return self._assign(route, _decode(body, "Binding"), params)

    def _assign(self, route: Route, binding: Obj, params: dict[str, str] | None) -> tuple:
        """BindingREST.Create: set spec.nodeName once (409 when already bound), copy the
        binding's annotations, mark the pod PodScheduled.  ``route`` is the pod's, with
        subresource ``binding``."""
        options = write_options(params, "CreateOptions")
        meta = binding.get("metadata") if isinstance(binding.get("metadata"), dict) else {}
        if meta.get("name", route.name) != route.name:
            raise bad_request("name in URL does not match name in Binding object")
        target = binding.get("target") if isinstance(binding.get("target"), dict) else {}
        node = target.get("name", "")
        causes = []
        if not node or not isinstance(node, str):
            causes.append(required("target.name"))
        if target.get("kind", "Node") not in ("Node", ""):
            causes.append(invalid_value("target.kind", target.get("kind"), "must be empty or 'Node'"))
        if causes:
            raise errors.invalid("Binding", route.name, causes)
        annotations = meta.get("annotations") if isinstance(meta.get("annotations"), dict) else {}
        # The binding's uid and resourceVersion are preconditions on the pod.
        uid = meta.get("uid") or ""
        expected_version = meta.get("resourceVersion") or ""
        # Upstream's setPodNodeAndMetadata: a GuaranteedUpdate straight on storage, with no
        # update strategy (so the generation stays) and no validation of the pod; done here
        # on the one decoded copy, changed in place (a binding is one of the three writes of
        # every scheduled pod).
        resource = route.resource
        store = self.store
        namespace, name = route.namespace, route.name
        for _ in range(MAX_RETRIES):
            old_bytes, old_revision = self.handlers.stored(resource, namespace, name)
            pod = orjson.loads(old_bytes)
            # Assigning a key a dict already holds keeps its place: the key order, and so
            # the stored bytes, are those of the generic path's copies.
            pod_meta = pod["metadata"] = pod.get("metadata") or {}
            spec = pod["spec"] = pod.get("spec") or {}
            if uid and uid != pod_meta.get("uid"):
                raise errors.conflict(
                    "pods/binding", name,
                    f"Precondition failed: UID in precondition: {uid}, UID in object meta: {pod_meta.get('uid')}",
                )
            if pod_meta.get("deletionTimestamp"):
                raise errors.conflict("pods/binding", name, f"pod {name} is being deleted, cannot be assigned to a host")
            if expected_version and expected_version != str(old_revision):
                raise errors.conflict(
                    "pods/binding", name,
                    f"Precondition failed: ResourceVersion in precondition: {expected_version}, "
                    f"ResourceVersion in object meta: {old_revision}",
                )
            if spec.get("nodeName"):
                raise errors.conflict("pods/binding", name, f'pod {name} is already assigned to node "{spec["nodeName"]}"')
            if spec.get("schedulingGates"):  # a pod not ready for scheduling
                raise errors.conflict("pods/binding", name, f"pod {name} has non-empty .spec.schedulingGates")
            spec["nodeName"] = node
            if annotations:
                pod_meta["annotations"] = {**(pod_meta.get("annotations") or {}), **annotations}
            status = pod["status"] = pod.get("status") or {}
            conditions = status.get("conditions")
            # A pod being bound has usually no conditions yet (no list to filter).
            conditions = [c for c in conditions if c.get("type") != "PodScheduled"] if conditions else []
            conditions.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": now_rfc3339()})
            status["conditions"] = conditions
            if "selfLink" in pod_meta:
                del pod_meta["selfLink"]
            pod_meta["resourceVersion"] = ""
            drop_empty_metadata(pod_meta)
            # The uid and finalizers are the stored ones and the pod is not being deleted,
            # so the stored metadata is its own "old" for ValidateObjectMetaUpdate.
            causes = validate_metadata_update(pod_meta, pod_meta)
            if causes:
                raise errors.invalid(
                    resource.kind, pod_meta.get("name") or pod_meta.get("generateName", ""), causes, resource.group
                )
            if options.dry_run:
                return 201, _CREATED_BYTES
            data, offset = encode_object(pod)
            result = store.update(
                resource.plural, namespace, name, data, offset, pod_meta.get("labels"), resource.fields(pod), old_revision
            )
            if result.status is WriteStatus.OK:
                return 201, _CREATED_BYTES
            if result.status is WriteStatus.NOT_FOUND:
                raise errors.not_found(resource.plural, name, resource.group)
        raise errors.conflict(resource.plural, name, group=resource.group)

    # -- pods/eviction -------------------------------------------------------------------

    def evict(self, route: Route, body: bytes, params: dict[str, str] | None = None) -> tuple:
        """EvictionREST.Create without PodDisruptionBudgets (none are served): the pod is
        deleted with the eviction's DeleteOptions."""
        eviction = _decode(body, "Eviction")
        meta = eviction.get("metadata") if isinstance(eviction.get("metadata"), dict) else {}
        if meta.get("name", route.name) != route.name:
            raise bad_request("name in URL does not match name in Eviction object")
        raw = eviction.get("deleteOptions") if isinstance(eviction.get("deleteOptions"), dict) else {}
        options: DeleteOptions = delete_options(orjson.dumps(raw) if raw else b"", params)
        self.handlers.delete_object(route.resource, route.namespace, route.name, options)
        return 201, _CREATED_BYTES

    # -- namespaces/finalize -------------------------------------------------------------

    def finalize(self, route: Route, body: bytes, params: dict[str, str] | None = None) -> tuple:
        """FinalizeREST.Update: only spec.finalizers changes (the namespace controller
        removes ``kubernetes`` once the namespace is empty)."""
        options = write_options(params, "UpdateOptions")
        warnings: list[str] = []
        obj = self.handlers._decode_object(route.resource, body, options.field_validation, warnings)
        if obj["metadata"].get("name", "") != route.name:
            raise bad_request(f"the name of the object ({obj['metadata'].get('name', '')}) does not match the name on the URL ({route.name})")
        expected = parse_resource_version(obj["metadata"].get("resourceVersion", ""))
        finalizers = (obj.get("spec") or {}).get("finalizers")

        def apply(old: Obj, old_bytes: bytes) -> Obj:
            ns = orjson.loads(old_bytes)
            spec = ns.setdefault("spec", {})
            if finalizers:
                spec["finalizers"] = finalizers
            else:
                spec.pop("finalizers", None)
            return ns

        status, data = self.handlers._guaranteed_update(route, apply, expected, options.dry_run)
        return with_warnings(status, data, warnings)
