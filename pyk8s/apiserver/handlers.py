"""CRUD handlers: a request's parts in, ``(status code, body bytes)`` out.

Nothing here knows about granian or asyncio; the app adapts the wire to these calls and
unit tests call them directly.  Writes follow one path (DESIGN.md): decode with orjson,
check types, default, validate, stamp metadata, encode once with ``encode_template``,
store.  Every rejection happens before the store is touched, so a rejected request
changes nothing.  Reads hand the store's bytes out unchanged.
"""

from __future__ import annotations

from typing import Any

import orjson

from pyk8s.api import errors
from pyk8s.api.errors import StatusError, bad_request
from pyk8s.api.meta import generate_name, stamp_create, stamp_update
from pyk8s.api.patch import merge_patch
from pyk8s.api.registry import ResourceDef
from pyk8s.api.validation import check_types
from pyk8s.apiserver.options import ListOptions, encode_continue, parse_resource_version
from pyk8s.apiserver.routing import Route
from pyk8s.store import ExpiredError, FutureRevisionError, Storage, WriteStatus, encode_template

__all__ = ["ResourceHandlers", "CONTINUE_EXPIRED_MESSAGE"]

CONTINUE_EXPIRED_MESSAGE = (
    "The provided continue parameter is too old to display a consistent list result. You can start a new "
    "list without the continue parameter, or use the continue value from the 410 response."
)
# An unconditional update or patch re-reads and retries when a concurrent write wins the
# compare-and-swap, as upstream's GuaranteedUpdate does; bounded so a hot key cannot spin us.
_MAX_RETRIES = 16

Obj = dict[str, Any]


def _encode(obj: Obj) -> tuple[bytes, int]:
    try:
        return encode_template(obj)
    except orjson.JSONEncodeError as exc:
        # orjson decodes deeper nesting than it encodes (1024 vs 255 levels).
        raise bad_request(f"the object cannot be stored: {exc}") from None


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
                raise errors.expired(CONTINUE_EXPIRED_MESSAGE) from None
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

    def _decode_object(self, resource: ResourceDef, body: bytes) -> Obj:
        obj = _decode(body)
        if not isinstance(obj, dict):
            raise bad_request(f"the object provided is unrecognized (must be of type {resource.kind})")
        check_types(obj, resource.shape, resource.kind, resource.api_version)
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

    def create(self, route: Route, body: bytes) -> tuple[int, bytes]:
        resource = route.resource
        obj = self._decode_object(resource, body)
        meta = obj["metadata"]
        namespace = ""
        if resource.namespaced:
            body_namespace = meta.get("namespace", "")
            if route.namespace and body_namespace and body_namespace != route.namespace:
                raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
            namespace = route.namespace or body_namespace or "default"
        if meta.get("resourceVersion"):
            raise bad_request("resourceVersion should not be set on objects to be created")
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = generate_name(meta["generateName"])
        resource.default(obj)
        stamp_create(obj, namespace)
        causes = resource.validate(obj)
        if causes:
            raise self._invalid(resource, obj, causes)
        name = meta["name"]
        data, offset = _encode(obj)
        result = self.store.create(resource.plural, namespace, name, data, offset, meta.get("labels"), resource.fields(obj))
        if result.status is WriteStatus.ALREADY_EXISTS:
            raise errors.already_exists(resource.plural, name, resource.group)
        return 201, result.data

    def update(self, route: Route, body: bytes) -> tuple[int, bytes]:
        resource = route.resource
        obj = self._decode_object(resource, body)
        meta = obj["metadata"]
        body_name = meta.get("name", "")
        if body_name != route.name:
            raise bad_request(f"the name of the object ({body_name}) does not match the name on the URL ({route.name})")
        if resource.namespaced and meta.get("namespace", route.namespace) != route.namespace:
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        expected = parse_resource_version(meta.get("resourceVersion", ""))
        resource.default(obj)
        return self._guaranteed_update(route, lambda old, old_bytes: obj, expected)

    def patch(self, route: Route, body: bytes) -> tuple[int, bytes]:
        """JSON merge patch.  A ``metadata.resourceVersion`` in the patch is a precondition,
        as upstream treats it; without one the patch applies to whatever is current."""
        resource = route.resource
        patch = _decode(body, "patch")
        if not isinstance(patch, dict):
            raise bad_request("json: cannot unmarshal the patch: a merge patch must be a JSON object")
        patch_meta = patch.get("metadata")
        expected = 0
        if isinstance(patch_meta, dict) and isinstance(patch_meta.get("resourceVersion"), str):
            expected = parse_resource_version(patch_meta["resourceVersion"])

        def apply(old: Obj, old_bytes: bytes) -> Obj:
            # Patch a private copy: merge_patch shares untouched subtrees with its target, and
            # defaulting the result must not alter the ``old`` that changes are judged against.
            obj = merge_patch(orjson.loads(old_bytes), patch)
            check_types(obj, resource.shape, resource.kind, resource.api_version)
            if obj.get("kind") != resource.kind or obj.get("apiVersion") != resource.api_version:
                raise bad_request(f"the patch may not change the kind or apiVersion of a {resource.kind}")
            meta = obj.setdefault("metadata", {})
            old_meta = old.get("metadata") or {}
            causes = []
            for key in ("name", "namespace"):
                if meta.get(key, "") != old_meta.get(key, ""):
                    value = meta.get(key, "")
                    causes.append(errors.invalid_value(f"metadata.{key}", value, "field is immutable"))
            if causes:
                raise errors.invalid(resource.kind, route.name, causes, resource.group)
            resource.default(obj)
            return obj

        return self._guaranteed_update(route, apply, expected)

    def _guaranteed_update(self, route: Route, make, expected: int) -> tuple[int, bytes]:
        """Read, transform, compare-and-swap; retry on a lost race unless the client asked
        for a specific resourceVersion (then a mismatch is its 409)."""
        resource = route.resource
        store = self.store
        for _ in range(_MAX_RETRIES):
            found = store.get(resource.plural, route.namespace, route.name)
            if found is None:
                raise errors.not_found(resource.plural, route.name, resource.group)
            old_bytes, old_revision = found
            if expected and expected != old_revision:
                raise errors.conflict(resource.plural, route.name, group=resource.group)
            old = orjson.loads(old_bytes)
            obj = make(old, old_bytes)
            stamp_update(obj, old)
            causes = resource.validate_update(obj, old)
            if causes:
                raise self._invalid(resource, obj, causes)
            data, offset = _encode(obj)
            # An update that changes nothing writes nothing (no new revision, no event).
            if data[:offset] + str(old_revision).encode() + data[offset:] == old_bytes:
                return 200, old_bytes
            meta = obj["metadata"]
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
                return 200, result.data
            if result.status is WriteStatus.NOT_FOUND:
                raise errors.not_found(resource.plural, route.name, resource.group)
            if expected:
                raise errors.conflict(resource.plural, route.name, group=resource.group)
        raise errors.conflict(resource.plural, route.name, group=resource.group)

    def delete(self, route: Route, body: bytes) -> tuple[int, bytes]:
        resource = route.resource
        uid, expected = self._delete_preconditions(body)
        expected_revision = 0
        if uid or expected:
            found = self.store.get(resource.plural, route.namespace, route.name)
            if found is None:
                raise errors.not_found(resource.plural, route.name, resource.group)
            if expected and expected != found[1]:
                raise errors.precondition_failed(
                    resource.plural, route.name, "ResourceVersion", str(expected), str(found[1]), resource.group
                )
            if uid:
                actual = (orjson.loads(found[0]).get("metadata") or {}).get("uid", "")
                if actual != uid:
                    raise errors.precondition_failed(resource.plural, route.name, "UID", uid, actual, resource.group)
            expected_revision = found[1]
        result = self.store.delete(resource.plural, route.namespace, route.name, expected_revision)
        if result.status is WriteStatus.NOT_FOUND:
            raise errors.not_found(resource.plural, route.name, resource.group)
        if result.status is WriteStatus.CONFLICT:
            raise errors.conflict(resource.plural, route.name, group=resource.group)
        if resource.return_deleted_object:
            return 200, result.data
        deleted_uid = (orjson.loads(result.data).get("metadata") or {}).get("uid")
        return 200, orjson.dumps(errors.success_status(resource.plural, route.name, deleted_uid, resource.group))

    @staticmethod
    def _delete_preconditions(body: bytes) -> tuple[str, int]:
        """``(uid, resourceVersion)`` from a DeleteOptions body's preconditions, if any."""
        if not body.strip():
            return "", 0
        options = _decode(body, "DeleteOptions")
        if not isinstance(options, dict):
            raise bad_request("the body of a DELETE must be a DeleteOptions object")
        preconditions = options.get("preconditions") or {}
        if not isinstance(preconditions, dict):
            raise bad_request("DeleteOptions.preconditions must be an object")
        uid = preconditions.get("uid") or ""
        rv = preconditions.get("resourceVersion") or ""
        if not isinstance(uid, str) or not isinstance(rv, str):
            raise bad_request("DeleteOptions.preconditions.uid and resourceVersion must be strings")
        return uid, parse_resource_version(rv)
