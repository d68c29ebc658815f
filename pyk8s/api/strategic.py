"""Strategic merge patch, as k8s.io/apimachinery/pkg/util/strategicpatch applies it server-side.

A strategic merge patch is a JSON merge patch whose lists know how to merge: the schema
says, per field, whether a list merges (``x-kubernetes-patch-strategy: merge``) and by which
key its items are matched (``x-kubernetes-patch-merge-key``: containers by ``name``, ports by
``containerPort``).  Lists without the merge strategy are replaced, maps merge recursively,
``null`` deletes.  Directives in the patch steer the merge and are never stored:

* ``$patch: replace`` / ``$patch: delete`` in a map (replace it / empty it), and as list
  items (``{"$patch": "replace"}`` replaces the whole list; ``{"name": "x", "$patch":
  "delete"}`` removes the items with that key);
* ``$retainKeys: [...]`` in a map: keys of the live map not listed are cleared;
* ``$setElementOrder/<list>: [...]``: the order the merged list must have;
* ``$deleteFromPrimitiveList/<list>: [...]``: values removed from a merging list of scalars.

This is what ``kubectl apply`` (client side), ``kubectl patch`` and the official clients send
for built-in kinds.  The algorithm mirrors upstream's ``mergeMap``/``mergeSlice`` step for step,
including its ordering rules (patch items first, server-only items slotted in by their live
order), because clients diff against the result.  It differs in three deliberate ways:

* nothing is mutated: the original and the patch are shared, read-only, across retries of a
  compare-and-swap;
* values the patch brings in for fields the live object lacks are merged into an empty value,
  so no directive or ``null`` inside them is stored (upstream relies on decoding into Go
  structs to drop them, which a JSON store does not do);
* a field the schema does not know merges as a plain map / replaces as a plain list, where
  upstream fails (it cannot hold unknown fields in the first place).

Errors are upstream's texts.  Those upstream maps to 400 and 422 keep their codes; the rest
(upstream answers 500 for a malformed patch such as a list item without its merge key) are
400 BadRequest here: the request is at fault, and the server never answers 500 for input.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson

from pyk8s.api.errors import StatusError, bad_request
from pyk8s.api.schema import schema_name_for, schemas

__all__ = ["PatchSchema", "schema_for", "strategic_merge_patch", "unprocessable_patch"]

_DIRECTIVE = "$patch"
_RETAIN_KEYS = "$retainKeys"
_SET_ORDER = "$setElementOrder"
_DELETE_FROM_LIST = "$deleteFromPrimitiveList"

Obj = dict[str, Any]


def unprocessable_patch(message: str) -> StatusError:
    """Upstream's ``NewGenericServerResponse(422, ...)``: how kube-apiserver reports a patch
    that is well-formed but cannot be applied (a failed JSON-patch ``test``, a missing path)."""
    return StatusError(
        422,
        "Invalid",
        "the server rejected our request due to an error in our request",
        {"causes": [{"reason": "UnexpectedServerResponse", "message": message}]},
    )


# -- patch metadata from the OpenAPI schemas --------------------------------------------------


class FieldPatchMeta(NamedTuple):
    """How one field merges.  ``schema`` describes the field's value (for a list: one item)."""

    schema: PatchSchema | None
    merge: bool  # lists: merge items (by merge_key for maps, as a set for scalars)
    replace: bool  # maps: the "replace" strategy, the whole map is swapped
    merge_key: str


_PLAIN = FieldPatchMeta(None, False, False, "")


def _resolve(node: Obj) -> Obj:
    """Follow ``$ref`` and the single-element ``allOf`` OpenAPI v3 wraps references in."""
    while True:
        ref = node.get("$ref")
        if ref is not None:
            node = schemas()[ref.rsplit("/", 1)[-1]]
            continue
        all_of = node.get("allOf")
        if all_of and len(all_of) == 1:
            node = all_of[0]
            continue
        return node


# One PatchSchema per schema node, so each node's field metadata is worked out once.
_SCHEMA_CACHE: dict[int, PatchSchema] = {}


def _schema_of(node: Obj) -> PatchSchema:
    node = _resolve(node)
    schema = _SCHEMA_CACHE.get(id(node))
    if schema is None:
        schema = _SCHEMA_CACHE.setdefault(id(node), PatchSchema(node))
    return schema


class PatchSchema:
    """The patch metadata of one object schema: per field, its strategy and value schema."""

    __slots__ = ("_node", "_fields")

    def __init__(self, node: Obj) -> None:
        self._node = node  # kept so the id() the cache is keyed by stays this node's
        self._fields: dict[str, FieldPatchMeta] = {}

    def field(self, key: str) -> FieldPatchMeta:
        meta = self._fields.get(key)
        if meta is None:
            meta = self._fields[key] = self._lookup(key)
        return meta

    def _lookup(self, key: str) -> FieldPatchMeta:
        properties = self._node.get("properties")
        if properties is not None:
            prop = properties.get(key)
        else:  # map[string]T: every key has the same value schema
            prop = self._node.get("additionalProperties")
        if not isinstance(prop, dict):
            return _PLAIN
        strategies = {s for s in prop.get("x-kubernetes-patch-strategy", "").split(",") if s}
        value = _resolve(prop)
        items = value.get("items")
        if items is not None:  # a list: its metadata describes the items
            value = _resolve(items)
        schema = _schema_of(value) if ("properties" in value or "additionalProperties" in value) else None
        return FieldPatchMeta(
            schema,
            "merge" in strategies,
            "replace" in strategies,
            prop.get("x-kubernetes-patch-merge-key", ""),
        )


def schema_for(group: str, version: str, kind: str) -> PatchSchema | None:
    """The patch schema of a served kind, found by its x-kubernetes-group-version-kind."""
    try:
        name = schema_name_for(group, version, kind)
    except LookupError:
        return None
    return _schema_of(schemas()[name])


# -- helpers -----------------------------------------------------------------------------------


def _go(value: Any) -> str:
    """A value as Go's ``%v`` prints it in upstream's error messages (close enough to read)."""
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_go(v) for v in value) + "]"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _identity(value: Any) -> Any:
    """A hashable stand-in for a JSON value, equal where Go's ``==`` on decoded JSON is
    (``true`` is not ``1`` there)."""
    kind = type(value)
    if kind is str or kind is int:
        return value
    if kind is dict or kind is list:
        return ("json", orjson.dumps(value, option=orjson.OPT_SORT_KEYS))
    return (kind is bool, value)


def _no_merge_key(item: Obj, merge_key: str) -> StatusError:
    return bad_request(f"map: {_go(item)} does not contain declared merge key: {merge_key}")


def _split_directive_key(key: str, prefix: str, error: str) -> str:
    head, sep, rest = key.partition("/")
    if not sep or head != prefix:
        raise bad_request(error)
    return rest


def _element_kind(*lists: list) -> type | None:
    """``dict`` or ``object`` (scalars) for the items of ``lists``, ``None`` if there are none.
    Upstream's sliceElementType: mixed item types and lists of lists are refused."""
    kind = None
    for items in lists:
        for item in items:
            if isinstance(item, list):
                raise unprocessable_patch("lists of lists are not supported")
            if item is None:
                raise bad_request("list items may not be null in a strategic merge patch")
            this = dict if isinstance(item, dict) else object
            if kind is None:
                kind = this
            elif kind is not this:
                raise bad_request(f"list element types are not identical: {_go(list(lists))}")
    return kind


# -- maps ----------------------------------------------------------------------------------------


def strategic_merge_patch(original: Obj, patch: Obj, schema: PatchSchema | None) -> Obj:
    """Apply ``patch`` to ``original`` (neither is modified); ``schema`` is the patched kind's
    (``schema_for``), or ``None`` to merge every map and replace every list."""
    return _merge_map(original, patch, schema)


def _merge_map(original: Obj | None, patch: Obj, schema: PatchSchema | None) -> Obj:
    if _DIRECTIVE in patch:
        directive = patch[_DIRECTIVE]
        if directive == "replace":
            return _merge_map(None, {k: v for k, v in patch.items() if k != _DIRECTIVE}, schema)
        if directive == "delete":
            return {}
        raise bad_request(f"unknown patch type: {_go(directive)} in map: {_go(patch)}")

    result: Obj = dict(original) if original else {}
    pending = dict(patch)
    if _RETAIN_KEYS in pending:
        _retain_keys(result, pending)
    _apply_element_orders(result, pending, schema)

    for key, value in pending.items():
        delete_list = key.startswith(_DELETE_FROM_LIST)
        if delete_list:
            key = _split_directive_key(key, _DELETE_FROM_LIST, "invalid patch format of primitive list")
        if value is None:
            result.pop(key, None)
            continue
        meta = schema.field(key) if schema is not None else _PLAIN
        current = result.get(key)
        if key not in result or _json_kind(current) is not _json_kind(value):
            if not delete_list:
                result[key] = _fresh(value, meta)
            continue
        if isinstance(value, dict):
            result[key] = _fresh(value, meta) if meta.replace else _merge_map(current, value, meta.schema)
        elif isinstance(value, list):
            # A delete list acts whatever the field's strategy, as upstream's mergeSliceHandler.
            if meta.merge or delete_list:
                result[key] = _merge_list(current, value, meta, delete_list)
            else:
                result[key] = _fresh(value, meta)
        else:
            result[key] = value
    return result


def _json_kind(value: Any) -> type:
    if isinstance(value, dict):
        return dict
    if isinstance(value, list):
        return list
    return object


def _fresh(value: Any, meta: FieldPatchMeta) -> Any:
    """A patch value for a field the original lacks (or whose type it replaces): merged into
    nothing, which drops nulls and directives and applies list semantics within it."""
    if isinstance(value, dict):
        return _merge_map(None, value, meta.schema)
    if isinstance(value, list):
        # Upstream takes such a list as it stands: items are not merged with each other
        # (two ports 53, TCP and UDP, stay two), and a ``$patch`` item has nothing to act on.
        return [
            _merge_map(None, item, meta.schema) if isinstance(item, dict) else item
            for item in value
            if not (isinstance(item, dict) and _DIRECTIVE in item)
        ]
    return value


def _retain_keys(result: Obj, pending: Obj) -> None:
    """``$retainKeys``: every key the patch sets must be listed; live keys not listed go."""
    retain = pending.pop(_RETAIN_KEYS)
    if not isinstance(retain, list):
        raise bad_request("invalid patch format of retainKeys")
    keep = {_identity(k) for k in retain}
    for key, value in pending.items():
        if value is None or key.startswith(_DELETE_FROM_LIST) or key.startswith(_SET_ORDER):
            continue
        if _identity(key) not in keep:
            raise unprocessable_patch("patch content doesn't match retainKeys list")
    for key in [k for k in result if _identity(k) not in keep]:
        del result[key]


# -- $setElementOrder ------------------------------------------------------------------------


def _apply_element_orders(result: Obj, pending: Obj, schema: PatchSchema | None) -> None:
    """Merge each list that has a ``$setElementOrder/<list>`` directive and order it: the
    directive's order first, then the patch's, then the live object's.  The directive and its
    list leave ``pending``, so the main loop does not merge them again."""
    for directive in [k for k in pending if k.startswith(_SET_ORDER)]:
        order = pending.pop(directive)
        list_key = _split_directive_key(directive, _SET_ORDER, "invalid patch format of setElementOrder list")
        if not isinstance(order, list):
            raise bad_request("invalid patch format of setElementOrder list")
        meta = schema.field(list_key) if schema is not None else _PLAIN
        in_original = list_key in result
        in_patch = list_key in pending
        original_list = result.get(list_key) if in_original else []
        patch_list = pending.get(list_key) if in_patch else []
        if not isinstance(original_list, list) or not isinstance(patch_list, list):
            raise bad_request(f"expected a list for {list_key}, but received a {_json_kind(original_list).__name__}")
        _check_against_order(patch_list, order, meta.merge_key)
        live_view = original_list
        if in_original and in_patch:
            if meta.merge:
                merged, live_view = _merge_list_and_view(original_list, patch_list, meta, False)
            else:
                merged = _fresh(patch_list, meta)
        elif in_patch:
            merged = _fresh(patch_list, meta)
        elif in_original:
            merged = original_list
        else:
            continue
        pending.pop(list_key, None)
        kind = _element_kind(original_list, patch_list)
        if kind is None:
            result[list_key] = merged
            continue
        key_of = _key_function(kind, meta.merge_key)
        for item in order:
            key_of(item)  # every entry must carry the merge key
        result[list_key] = _normalize_order(merged, order, live_view, key_of)


def _check_against_order(patch_list: list, order: list, merge_key: str) -> None:
    """Upstream's validatePatchWithSetOrderList: the patch's items (deletions aside) appear in
    ``$setElementOrder`` in the same relative order."""
    if not order or not patch_list:
        return
    if merge_key:
        for item in (*patch_list, *order):
            if not isinstance(item, dict):
                raise bad_request(f"expected a map, but received a {type(item).__name__}")
        items = [i for i in patch_list if i.get(_DIRECTIVE) != "delete"]
    else:
        items = patch_list
    position = 0
    for wanted in order:
        while position < len(items) and isinstance(items[position], dict) and _DIRECTIVE in items[position]:
            position += 1
        if position >= len(items):
            return
        if merge_key:
            if merge_key not in items[position]:
                raise _no_merge_key(items[position], merge_key)
            if merge_key not in wanted:
                raise _no_merge_key(wanted, merge_key)
            same = _identity(items[position][merge_key]) == _identity(wanted[merge_key])
        else:
            same = _identity(items[position]) == _identity(wanted)
        if same:
            position += 1
    while position < len(items) and isinstance(items[position], dict) and _DIRECTIVE in items[position]:
        position += 1
    if position < len(items):
        raise bad_request(
            f"The order in patch list:\n{_go(patch_list)}\n doesn't match {_SET_ORDER} list:\n{_go(order)}\n"
        )


# -- lists -----------------------------------------------------------------------------------------


def _key_function(kind: type, merge_key: str):
    if kind is dict and merge_key:

        def key_of(item: Any) -> Any:
            if not isinstance(item, dict):
                raise bad_request(f"expected a map, but received a {type(item).__name__}")
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)
            return _identity(item[merge_key])

        return key_of
    return _identity


def _merge_list(original: list, patch: list, meta: FieldPatchMeta, delete_list: bool) -> list:
    return _merge_list_and_view(original, patch, meta, delete_list)[0]


def _merge_list_and_view(original: list, patch: list, meta: FieldPatchMeta, delete_list: bool) -> tuple[list, list]:
    """Upstream's mergeSlice for a list with the merge strategy: the merged list, and the live
    list as upstream's caller sees it afterwards (see ``_LiveArray``)."""
    if not original and not patch:
        return list(original), original
    kind = _element_kind(original, patch)
    if kind is not dict:
        if delete_list:
            doomed = {_identity(v) for v in patch}
            return [v for v in original if _identity(v) not in doomed], original
        merged = []
        seen = set()
        for value in (*original, *patch):
            identity = _identity(value)
            if identity not in seen:
                seen.add(identity)
                merged.append(value)
        return _normalize_order(merged, patch, original, _identity), original

    merge_key = meta.merge_key
    if not merge_key:
        raise bad_request("cannot merge lists without merge key for type map")
    key_of = _key_function(dict, merge_key)
    live = _LiveArray(original)
    replacement, patch = _apply_list_directives(live, patch, merge_key, meta)
    if replacement is not None:
        return replacement, live.array
    server_order = live.items()
    merged = list(server_order)
    index: dict[Any, int] = {}
    for position, item in enumerate(merged):
        index.setdefault(key_of(item), position)
    for item in patch:
        identity = key_of(item)
        position = index.get(identity)
        if position is None:
            index[identity] = len(merged)
            item = _merge_map(None, item, meta.schema)
            merged.append(item)
            live.append(item)
        else:
            merged[position] = _merge_map(merged[position], item, meta.schema)
    return _normalize_order(merged, patch, server_order, key_of), live.array


class _LiveArray:
    """The live list as a Go slice over its backing array.  Upstream deletes (``$patch:
    delete``) by shifting items left within that array and appends new items into the room
    freed, so the caller that later orders by ``$setElementOrder`` reads the live list through
    its old slice header as: remaining items, then the first appended ones (or stale copies).
    Its ordering depends on that view, so it is reproduced here."""

    __slots__ = ("array", "length")

    def __init__(self, items: list) -> None:
        self.array = list(items)
        self.length = len(items)

    def items(self) -> list:
        return self.array[: self.length]

    def delete_at(self, position: int) -> None:
        self.array[position : self.length - 1] = self.array[position + 1 : self.length]
        self.length -= 1

    def append(self, item: Any) -> None:
        # Past the old length the write lands beyond the view (or in a new array): unseen.
        if self.length < len(self.array):
            self.array[self.length] = item
        self.length += 1


def _apply_list_directives(
    live: _LiveArray, patch: list, merge_key: str, meta: FieldPatchMeta
) -> tuple[list | None, list]:
    """Upstream's mergeSliceWithSpecialElements: ``$patch`` items delete by merge key or make
    the rest of the patch list replace the original; they are not items themselves.  Returns
    ``(replacement list or None, patch items left to merge)``."""
    plain = []
    replace = False
    for item in patch:
        if _DIRECTIVE not in item:
            plain.append(item)
            continue
        directive = item[_DIRECTIVE]
        if directive == "delete":
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)
            doomed = _identity(item[merge_key])
            position = 0
            while position < live.length:
                candidate = live.array[position]
                if merge_key in candidate and _identity(candidate[merge_key]) == doomed:
                    live.delete_at(position)
                else:
                    position += 1
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise bad_request("merging lists cannot yet be specified in the patch")
        else:
            raise bad_request(f"unknown patch type: {_go(directive)} in map: {_go(item)}")
    if replace:
        return [_merge_map(None, item, meta.schema) for item in plain], []
    return None, plain


def _normalize_order(merged: list, patch_order: list, server_order: list, key_of) -> list:
    """Upstream's partition + normalizeElementOrder: items named in ``patch_order`` are sorted
    by it, the others ("server-only") by ``server_order``; then each server-only item is put
    in front of the first patch item that comes after it in ``server_order``.  A patch item the
    server order lacks (a new one) goes before the server-only items it meets."""
    patch_rank = _ranks(patch_order, key_of)
    server_rank = _ranks(server_order, key_of)
    end = len(patch_order) + len(server_order)
    patch_items = []  # (rank in the patch, rank in the live list or None, item)
    server_only = []
    for item in merged:
        key = key_of(item)
        rank = patch_rank.get(key)
        if rank is None:
            server_only.append((server_rank.get(key, end), item))
        else:
            patch_items.append((rank, server_rank.get(key), item))
    patch_items.sort(key=_first)
    server_only.sort(key=_first)
    result = []
    i = j = 0
    while i < len(server_only) and j < len(patch_items):
        left = server_only[i][0]
        right = patch_items[j][1]
        if right is not None and left < right:  # a server-only item's rank is < end only if live
            result.append(server_only[i][1])
            i += 1
        else:
            result.append(patch_items[j][2])
            j += 1
    result.extend(entry[1] for entry in server_only[i:])
    result.extend(entry[2] for entry in patch_items[j:])
    return result


def _first(entry: tuple) -> Any:
    return entry[0]


def _ranks(order: list, key_of) -> dict[Any, int]:
    ranks: dict[Any, int] = {}
    for position, item in enumerate(order):
        if isinstance(item, dict) and _DIRECTIVE in item:
            continue
        ranks.setdefault(key_of(item), position)
    return ranks
