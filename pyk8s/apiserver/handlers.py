"""CRUD handlers: a request's parts in, ``(status code, body bytes[, headers])`` out (headers
only when there are ``Warning``s to send).

Nothing here knows about granian or asyncio; the app adapts the wire to these calls and
unit tests call them directly.  Writes follow one path (DESIGN.md): decode with orjson,
check types, PrepareForCreate/Update, admit, default, stamp metadata, validate, encode once
with ``encode_template``, store.  Deletes mark (finalizers, grace periods, namespaces) or
remove; subresources other than ``status`` live in ``subresources``.  Every rejection
happens before the store is touched, so a rejected request changes nothing.  Reads hand the store's bytes out unchanged.
"""

from __future__ import annotations

from typing import Any

import orjson

from pyk8s.api import errors
from pyk8s.api.errors import StatusError, bad_request
from pyk8s.api.kinds import NAMESPACES, PODS, PRIORITY_CLASSES, SERVICE_ACCOUNTS, SERVICES
from pyk8s.api.meta import (
    deletion_marks,
    generate_name,
    stamp_create,
    stamp_update,
    validate_finalizers,
    validate_metadata_update,
    validate_owner_references,
)
from pyk8s.api.patch import MERGE_PATCH, parse_patch
from pyk8s.api.registry import ResourceDef
from pyk8s.api.schema import check_object
from pyk8s.api.validation import validate_object_meta
from pyk8s.apiserver.admission import Admission
from pyk8s.apiserver.options import ListOptions, encode_continue, parse_list_options, parse_resource_version
from pyk8s.apiserver.pod_specs import SpecOutcome
from pyk8s.apiserver.routing import Route
from pyk8s.apiserver.write_options import DeleteOptions, delete_options, write_options
from pyk8s.store import ExpiredError, FutureRevisionError, Storage, WriteStatus, encode_template

__all__ = ["ResourceHandlers", "CONTINUE_EXPIRED_MESSAGE", "MAX_RETRIES", "encode_object", "with_warnings"]

CONTINUE_EXPIRED_MESSAGE = (
    "The provided continue parameter is too old to display a consistent list result. You can start a new "
    "list without the continue parameter, or use the continue value from the 410 response."
)
# An unconditional update or patch re-reads and retries when a concurrent write wins the
# compare-and-swap, as upstream's GuaranteedUpdate does; bounded so a hot key cannot spin us.
MAX_RETRIES = 16
# Attempts at a fresh generated name when the last one was taken.
_GENERATE_NAME_ATTEMPTS = 8

JSON_HEADERS = [("content-type", "application/json")]
# (status, body) or (status, body, headers): the fields of the app's Response.
Reply = tuple

Obj = dict[str, Any]


def encode_object(obj: Obj) -> tuple[bytes, int]:
    try:
        return encode_template(obj)
    except orjson.JSONEncodeError as exc:
        # orjson decodes deeper nesting than it encodes (1024 vs 255 levels).
        raise bad_request(f"the object cannot be stored: {exc}") from None


def with_warnings(status: int, body: bytes, warnings: list[str]) -> Reply:
    """Warnings go out as ``Warning: 299 - "<text>"`` headers, as upstream sends them."""
    if not warnings:
        return status, body
    return status, body, JSON_HEADERS + [("warning", "299 - " + orjson.dumps(text).decode()) for text in warnings]


def _dry_run_bytes(obj: Obj, resource_version: str) -> bytes:
    """What a dry run answers with: the object as it would be stored (with the current
    resourceVersion for an update; none for a create, which has not got one)."""
    meta = obj["metadata"]
    if resource_version:
        meta["resourceVersion"] = resource_version
    else:
        meta.pop("resourceVersion", None)
    return orjson.dumps(obj)


def _decode(body: bytes, what: str = "request body") -> Any:
    if not body:
        raise bad_request(f"Object 'Kind' is missing in '{what}'")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"couldn't decode {what} as JSON: {exc}") from None


class ResourceHandlers:
    """The generic registry: one set of verbs for every ``ResourceDef``."""

    def __init__(self, store: Storage) -> None:
        self.store = store
        self.admission = Admission(store)
        self._list_heads: dict[str, bytes] = {}

    # -- reads ---------------------------------------------------------------------------

    def get(self, route: Route) -> tuple[int, bytes]:
        resource = route.resource
        found = self.store.get(resource.plural, route.namespace, route.name)
        if found is None:
            raise errors.not_found(resource.plural, route.name, resource.group)
        return 200, found[0]

    def list(self, route: Route, options: ListOptions) -> tuple[int, bytes]:
        resource = route.resource
        revision = options.revision
        if not options.has_continue:
            revision = self._list_revision(options)
        try:
            result = self.store.list(
                resource.plural,
                route.namespace,
                options.label_selector,
                options.field_selector,
                options.limit,
                options.start_after,
                revision,
            )
        except ExpiredError as exc:
            if options.has_continue:
                # As upstream's etcd3 store (handleCompactedErrorForPaging): the 410 carries a
                # token for the same key at revision -1, which continues at the current one.
                error = errors.expired(CONTINUE_EXPIRED_MESSAGE)
                error.list_meta = {"continue": encode_continue(-1, options.start_after)}
                raise error from None
            raise errors.resource_version_too_old(exc.requested, exc.compacted) from None
        except FutureRevisionError as exc:
            raise errors.too_large_resource_version(exc.requested, exc.current) from None
        meta = b'{"resourceVersion":"%d"' % result.revision
        if result.next_key is not None:
            meta += b',"continue":"' + encode_continue(result.revision, result.next_key).encode() + b'"'
            # Upstream counts the rest only when no selector filters it (ListMeta docs).
            if not options.label_selector and not options.field_selector:
                meta += b',"remainingItemCount":%d' % result.remaining
        return 200, result.render(self._list_head(resource) + meta + b'},"items":[', b"]}")

    def _list_revision(self, options: ListOptions) -> int:
        """Revision for a list without ``continue``: Exact lists at that revision; any other
        resourceVersion asks for data not older than it, which the current state is."""
        if options.resource_version_match == "Exact":
            return options.revision
        if options.revision > 0:
            current = self.store.current_revision()
            if options.revision > current:
                raise errors.too_large_resource_version(options.revision, current)
        return 0

    def _list_head(self, resource: ResourceDef) -> bytes:
        head = self._list_heads.get(resource.plural)
        if head is None:
            head = b'{"kind":"%s","apiVersion":"%s","metadata":' % (
                resource.list_kind.encode(),
                resource.api_version.encode(),
            )
            self._list_heads[resource.plural] = head
        return head

    # -- writes --------------------------------------------------------------------------

    def _decode_object(
        self, resource: ResourceDef, body: bytes, field_validation: str = "Warn", warnings: list[str] | None = None
    ) -> Obj:
        """Decode and schema-check a body; unknown-field warnings (``Warn``) go to ``warnings``."""
        return self._check_decoded(resource, _decode(body), field_validation, warnings)

    def _check_decoded(
        self, resource: ResourceDef, obj: Any, field_validation: str = "Warn", warnings: list[str] | None = None
    ) -> Obj:
        if not isinstance(obj, dict):
            raise bad_request(f"the object provided is unrecognized (must be of type {resource.kind})")
        found = check_object(obj, resource, field_validation)
        if found and warnings is not None:
            warnings.extend(found)
        kind = obj.get("kind", resource.kind) or resource.kind
        api_version = obj.get("apiVersion", resource.api_version) or resource.api_version
        if api_version != resource.api_version:
            raise bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version "
                f"({resource.api_version})"
            )
        if kind != resource.kind:
            raise bad_request(f"the kind in the data ({kind}) does not match the expected kind ({resource.kind})")
        obj["kind"] = resource.kind
        obj["apiVersion"] = resource.api_version
        obj.setdefault("metadata", {})
        return obj

    def _invalid(self, resource: ResourceDef, obj: Obj, causes: list) -> StatusError:
        meta = obj.get("metadata") or {}
        return errors.invalid(resource.kind, meta.get("name") or meta.get("generateName", ""), causes, resource.group)

    def create(self, route: Route, body: bytes, params: dict[str, str] | None = None) -> Reply:
        resource = route.resource
        options = write_options(params, "CreateOptions")
        warnings: list[str] = []
        spec_key = known = None
        if resource is PODS:
            obj = _decode(body)
            if isinstance(obj, dict):
                pod_specs = self.admission.pod_specs
                spec_key = pod_specs.key(obj.get("spec"))
                if spec_key is not None:
                    known = pod_specs.get(spec_key)
                    if known is not None:
                        del obj["spec"]  # its half of the path comes from ``known``
            obj = self._check_decoded(resource, obj, options.field_validation, warnings)
        else:
            obj = self._decode_object(resource, body, options.field_validation, warnings)
        meta = obj["metadata"]
        namespace = ""
        if resource.namespaced:
            body_namespace = meta.get("namespace", "")
            if route.namespace and body_namespace and body_namespace != route.namespace:
                raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
            namespace = route.namespace or body_namespace or "default"
        if meta.get("resourceVersion"):
            raise bad_request("resourceVersion should not be set on objects to be created")
        generated = not meta.get("name") and bool(meta.get("generateName"))
        if generated:
            meta["name"] = generate_name(meta["generateName"])
        if resource.namespaced:
            self.admission.check_namespace(resource, namespace, meta.get("name", ""))
        data = self._create_object(resource, namespace, obj, options.dry_run, generated,
                                   known=known, remember=None if warnings else spec_key)
        return with_warnings(201, data, warnings)

    def _create_object(
        self, resource: ResourceDef, namespace: str, obj: Obj, dry_run: bool, generated: bool,
        known: SpecOutcome | None = None, remember: bytes | None = None,
    ) -> bytes:
        """PrepareForCreate, admission, defaulting, metadata, validation, allocation, store.
        For a pod, ``known`` is the outcome of the spec half for its spec (pod_specs.py),
        and ``remember`` the key under which to keep this create's outcome."""
        resource.prepare_create(obj)
        if known is not None:
            obj["spec"] = known.spec
            obj["status"] = known.status
            stamp_create(obj, namespace)
            causes = validate_object_meta(obj["metadata"], namespaced=True)
        else:
            if resource is PODS:
                self.admission.resolve_priority(obj)
            resource.default(obj)
            if resource is PODS:
                self.admission.add_default_tolerations(obj)
            stamp_create(obj, namespace)
            causes = resource.validate(obj)
        meta = obj["metadata"]
        if "ownerReferences" in meta or "finalizers" in meta:
            causes += validate_owner_references(meta) + validate_finalizers(meta)
        if causes:
            raise self._invalid(resource, obj, causes)
        if resource is PRIORITY_CLASSES:
            self.admission.check_priority_class(obj)
        finish = self.admission.allocate_service(obj, None, dry_run) if resource is SERVICES else None
        committed = False
        try:
            for attempt in range(_GENERATE_NAME_ATTEMPTS):
                name = meta["name"]
                if dry_run:
                    if self.store.get(resource.plural, namespace, name) is not None:
                        raise errors.already_exists(resource.plural, name, resource.group)
                    return _dry_run_bytes(obj, "")
                data, offset = encode_object(obj)
                fields = known.fields if known is not None else resource.fields(obj)
                result = self.store.create(resource.plural, namespace, name, data, offset, meta.get("labels"), fields)
                if result.status is WriteStatus.OK:
                    committed = True
                    if remember is not None and known is None:
                        self.admission.pod_specs.remember(remember, obj["spec"], obj["status"], fields)
                    break
                # A generated name that is taken is drawn again (upstream retries too).
                if not generated or attempt == _GENERATE_NAME_ATTEMPTS - 1:
                    raise errors.already_exists(resource.plural, name, resource.group)
                meta["name"] = generate_name(meta["generateName"])
        finally:
            if finish is not None:
                finish(committed)
        if resource is NAMESPACES:
            self.ensure_default_service_account(meta["name"])
        elif resource is PRIORITY_CLASSES:
            self.admission.priority_classes_changed()
        return result.data

    def ensure_default_service_account(self, namespace: str) -> None:
        """The ``default`` ServiceAccount every namespace has (upstream's serviceaccounts
        controller makes it; there is no controller manager yet, so the server does)."""
        if self.store.get("serviceaccounts", namespace, "default") is None:
            account = {"kind": "ServiceAccount", "apiVersion": "v1", "metadata": {"name": "default"}}
            try:
                self._create_object(SERVICE_ACCOUNTS, namespace, account, False, False)
            except StatusError as error:
                if error.reason != "AlreadyExists":
                    raise

    def update(self, route: Route, body: bytes, params: dict[str, str] | None = None) -> Reply:
        resource = route.resource
        options = write_options(params, "UpdateOptions")
        warnings: list[str] = []
        obj = self._decode_object(resource, body, options.field_validation, warnings)
        meta = obj["metadata"]
        body_name = meta.get("name", "")
        if body_name != route.name:
            raise bad_request(f"the name of the object ({body_name}) does not match the name on the URL ({route.name})")
        if resource.namespaced and meta.get("namespace", route.namespace) != route.namespace:
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        expected = parse_resource_version(meta.get("resourceVersion", ""))
        resource.default(obj)
        body_uid = meta.get("uid")

        def replace(old: Obj, old_bytes: bytes) -> Obj:
            # The body's uid is a precondition of a PUT (upstream's defaultUpdatedObjectInfo
            # .Preconditions); a PATCH that changes it fails validation instead (422).
            old_uid = (old.get("metadata") or {}).get("uid", "")
            if body_uid and body_uid != old_uid:
                raise errors.precondition_failed(resource.plural, route.name, "UID", body_uid, old_uid, resource.group)
            return obj

        status, data = self._guaranteed_update(route, replace, expected, options.dry_run)
        return with_warnings(status, data, warnings)

    def patch(
        self, route: Route, body: bytes, media_type: str = MERGE_PATCH, params: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        """Merge, JSON or strategic merge patch (``media_type``, see pyk8s.api.patch).  A
        ``metadata.resourceVersion`` the patched object carries is a precondition, as upstream
        treats it; without one the patch applies to whatever is current."""
        resource = route.resource
        options = write_options(params, "PatchOptions")
        patch = parse_patch(media_type, body)
        gvk = (resource.group, resource.version, resource.kind)

        def apply(old: Obj, old_bytes: bytes) -> Obj:
            # Patch a private copy: patches share untouched subtrees with their target, and
            # defaulting the result must not alter the ``old`` that changes are judged against.
            obj = patch.apply(orjson.loads(old_bytes), gvk)
            check_object(obj, resource, "Ignore")
            if obj.get("kind") != resource.kind or obj.get("apiVersion") != resource.api_version:
                raise bad_request(f"the patch may not change the kind or apiVersion of a {resource.kind}")
            meta = obj.setdefault("metadata", {})
            old_meta = old.get("metadata") or {}
            requested = meta.get("resourceVersion") or ""
            if requested and str(parse_resource_version(requested)) != old_meta.get("resourceVersion"):
                raise errors.conflict(resource.plural, route.name, group=resource.group)
            causes = []
            for key in ("name", "namespace"):
                if meta.get(key, "") != old_meta.get(key, ""):
                    value = meta.get(key, "")
                    causes.append(errors.invalid_value(f"metadata.{key}", value, "field is immutable"))
            if causes:
                raise errors.invalid(resource.kind, route.name, causes, resource.group)
            resource.default(obj)
            return obj

        return self._guaranteed_update(route, apply, 0, options.dry_run)

    def _prepare_update(self, resource: ResourceDef, obj: Obj, old: Obj, subresource: str) -> None:
        """PrepareForUpdate: the main resource keeps the stored status (for kinds with a
        status subresource), ``/status`` keeps the spec; ``/finalize`` makes its own object."""
        if subresource == "":
            if resource.has_status:
                if "status" in old:
                    obj["status"] = old["status"]
                else:
                    obj.pop("status", None)
            resource.prepare_update(obj, old)
        elif subresource == "status":
            resource.prepare_status_update(obj, old)

    def stored(self, resource: ResourceDef, namespace: str, name: str) -> tuple[bytes, int]:
        """The stored bytes and revision of an object a write starts from; 404 when gone
        (each attempt of a compare-and-swap loop reads anew)."""
        found = self.store.get(resource.plural, namespace, name)
        if found is None:
            raise errors.not_found(resource.plural, name, resource.group)
        return found

    def _guaranteed_update(self, route: Route, make, expected: int, dry_run: bool = False) -> tuple[int, bytes]:
        """Read, transform, compare-and-swap; retry on a lost race unless the client asked
        for a specific resourceVersion (then a mismatch is its 409)."""
        resource = route.resource
        store = self.store
        for _ in range(MAX_RETRIES):
            old_bytes, old_revision = self.stored(resource, route.namespace, route.name)
            if expected and expected != old_revision:
                raise errors.conflict(resource.plural, route.name, group=resource.group)
            old = orjson.loads(old_bytes)
            obj = make(old, old_bytes)
            self._prepare_update(resource, obj, old, route.subresource)
            if resource is PODS and not route.subresource:
                self.admission.add_default_tolerations(obj)
            stamp_update(obj, old, not route.subresource)
            meta, old_meta = obj["metadata"], old.get("metadata") or {}
            causes = resource.validate_update(obj, old)
            causes += validate_metadata_update(meta, old_meta)
            if causes:
                raise self._invalid(resource, obj, causes)
            # Removing the last finalizer of an object being deleted deletes it (upstream
            # Store.Update's deleteForEmptyFinalizers; a pod still in its grace period waits
            # for the kubelet; a namespace waits for its spec.finalizers too, as upstream's
            # ShouldDeleteNamespaceDuringUpdate, or the GC's removal of ``orphan`` would
            # delete it before the namespace controller has emptied it).
            # A namespace's spec.finalizers count as finalizers here: /finalize removing the
            # last one deletes it (ShouldDeleteNamespaceDuringUpdate).
            if (
                old_meta.get("deletionTimestamp")
                and (old_meta.get("finalizers") or (resource is NAMESPACES and (old.get("spec") or {}).get("finalizers")))
                and not meta.get("finalizers")
                and not (resource.deletion_grace and meta.get("deletionGracePeriodSeconds"))
                and not (resource is NAMESPACES and (obj.get("spec") or {}).get("finalizers"))
            ):
                if dry_run:
                    return 200, _dry_run_bytes(obj, str(old_revision))
                result = store.delete(resource.plural, route.namespace, route.name, old_revision)
                if result.status is WriteStatus.OK:
                    self._after_delete(resource, result.data)
                    # The reply shows the update that finished it (its finalizers gone).
                    return 200, _dry_run_bytes(obj, str(old_revision))
                if result.status is WriteStatus.NOT_FOUND:
                    raise errors.not_found(resource.plural, route.name, resource.group)
                continue
            if resource is PRIORITY_CLASSES:
                self.admission.check_priority_class(obj)
            finish = self.admission.allocate_service(obj, old, dry_run) if resource is SERVICES else None
            committed = False
            try:
                if dry_run:
                    return 200, _dry_run_bytes(obj, str(old_revision))
                data, offset = encode_object(obj)
                # An update that changes nothing writes nothing (no new revision, no event).
                # The lengths are compared first: most updates change the size, and then
                # the object with its revision filled in need not be built.
                revision_text = str(old_revision).encode()
                if len(data) + len(revision_text) == len(old_bytes) and (
                    data[:offset] + revision_text + data[offset:] == old_bytes
                ):
                    committed = True
                    return 200, old_bytes
                result = store.update(
                    resource.plural,
                    route.namespace,
                    route.name,
                    data,
                    offset,
                    meta.get("labels"),
                    resource.fields(obj),
                    old_revision,
                )
                if result.status is WriteStatus.OK:
                    committed = True
                    if resource is PRIORITY_CLASSES:
                        self.admission.priority_classes_changed()
                    return 200, result.data
            finally:
                if finish is not None:
                    finish(committed)
            if result.status is WriteStatus.NOT_FOUND:
                raise errors.not_found(resource.plural, route.name, resource.group)
            if expected:
                raise errors.conflict(resource.plural, route.name, group=resource.group)
        raise errors.conflict(resource.plural, route.name, group=resource.group)

    # -- deletes -------------------------------------------------------------------------

    def delete(self, route: Route, body: bytes, params: dict[str, str] | None = None) -> tuple[int, bytes]:
        options = delete_options(body, params)
        return self.delete_object(route.resource, route.namespace, route.name, options)

    def delete_object(self, resource: ResourceDef, namespace: str, name: str, options: DeleteOptions) -> tuple[int, bytes]:
        """Upstream Store.Delete: preconditions; then either mark the object (finalizers
        pending, graceful deletion, a namespace's termination) and keep it, or delete it."""
        if resource is NAMESPACES:
            self.admission.check_namespace_delete(name)
        store = self.store
        for _ in range(MAX_RETRIES):
            old_bytes, revision = self.stored(resource, namespace, name)
            old = orjson.loads(old_bytes)
            old_meta = old.get("metadata") or {}
            if options.resource_version and options.resource_version != revision:
                raise errors.precondition_failed(
                    resource.plural, name, "ResourceVersion", str(options.resource_version), str(revision), resource.group
                )
            if options.uid and options.uid != old_meta.get("uid", ""):
                raise errors.precondition_failed(resource.plural, name, "UID", options.uid, old_meta.get("uid", ""), resource.group)
            marked = deletion_marks(resource, old, options)
            if marked is None:
                if options.dry_run:
                    return self._deleted_reply(resource, name, old_bytes)
                result = store.delete(resource.plural, namespace, name, revision)
                if result.status is WriteStatus.OK:
                    self._after_delete(resource, result.data)
                    return self._deleted_reply(resource, name, result.data)
                if result.status is WriteStatus.NOT_FOUND:
                    raise errors.not_found(resource.plural, name, resource.group)
                continue
            if marked == old or options.dry_run:
                return 200, old_bytes if marked == old else _dry_run_bytes(marked, str(revision))
            marked["metadata"]["resourceVersion"] = ""
            data, offset = encode_object(marked)
            result = store.update(
                resource.plural, namespace, name, data, offset, marked["metadata"].get("labels"), resource.fields(marked), revision
            )
            if result.status is WriteStatus.OK:
                return 200, result.data
            if result.status is WriteStatus.NOT_FOUND:
                raise errors.not_found(resource.plural, name, resource.group)
        raise errors.conflict(resource.plural, name, group=resource.group)

    def _deleted_reply(self, resource: ResourceDef, name: str, data: bytes) -> tuple[int, bytes]:
        if resource.return_deleted_object:
            return 200, data
        deleted_uid = (orjson.loads(data).get("metadata") or {}).get("uid")
        return 200, orjson.dumps(errors.success_status(resource.plural, name, deleted_uid, resource.group))

    def _after_delete(self, resource: ResourceDef, data: bytes) -> None:
        if resource is SERVICES:
            self.admission.release_service(orjson.loads(data))
        elif resource is PRIORITY_CLASSES:
            self.admission.priority_classes_changed()

    def delete_collection(self, route: Route, body: bytes, params: dict[str, str]) -> tuple[int, bytes]:
        """DELETE on a collection: every selected object goes through ``delete_object``;
        the answer is the list of what was deleted or marked, as upstream's DeleteCollection."""
        resource = route.resource
        if "deletecollection" not in resource.verbs:
            raise errors.method_not_allowed()
        options = delete_options(body, params)
        list_options = parse_list_options(resource, params)
        listed = self.store.list(resource.plural, route.namespace, list_options.label_selector, list_options.field_selector)
        items = []
        for data in listed.items():
            meta = orjson.loads(data)["metadata"]
            try:
                _status, out = self.delete_object(resource, meta.get("namespace", ""), meta["name"], options)
            except StatusError as error:
                if error.code == 404:
                    continue  # deleted meanwhile
                raise
            items.append(out if out[:15] != b'{"kind":"Status' else data)
        head = self._list_head(resource) + b'{"resourceVersion":"%d"},"items":[' % self.store.current_revision()
        return 200, head + b",".join(items) + b"]}"
