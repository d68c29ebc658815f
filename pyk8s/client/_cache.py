"""The informer's local cache: objects by key plus secondary indexes, as client-go's
``cache.Indexer`` (thread-safety is not needed: one event loop owns it).

A key is ``namespace/name`` (``name`` for cluster-scoped objects).  An index function maps
an object to the values it is filed under (``[]`` leaves it out); ``by_index(index, value)``
returns the objects filed under ``value``.  The ``namespace`` index is always present.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

__all__ = [
    "Indexer", "IndexFunc", "NAMESPACE_INDEX", "object_key", "split_key",
    "namespace_index", "field_index", "label_index",
]

Obj = dict[str, Any]
IndexFunc = Callable[[Obj], list[str]]

NAMESPACE_INDEX = "namespace"


def object_key(obj: Obj) -> str:
    """client-go's MetaNamespaceKeyFunc."""
    metadata = obj.get("metadata") or {}
    namespace = metadata.get("namespace")
    name = metadata.get("name") or ""
    return f"{namespace}/{name}" if namespace else name


def split_key(key: str) -> tuple[str | None, str]:
    """``(namespace, name)``; namespace None for a cluster-scoped key."""
    namespace, sep, name = key.partition("/")
    return (namespace, name) if sep else (None, key)


def namespace_index(obj: Obj) -> list[str]:
    namespace = (obj.get("metadata") or {}).get("namespace")
    return [namespace] if namespace else []


def field_index(path: str) -> IndexFunc:
    """Index by a dotted field path, e.g. ``field_index("spec.nodeName")``; objects where it
    is absent or empty are not indexed."""
    parts = path.split(".")

    def index(obj: Obj) -> list[str]:
        value: Any = obj
        for part in parts:
            if not isinstance(value, dict):
                return []
            value = value.get(part)
        return [str(value)] if value not in (None, "") else []

    return index


def label_index(key: str) -> IndexFunc:
    """Index by the value of label ``key`` (objects without the label are not indexed)."""

    def index(obj: Obj) -> list[str]:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return [labels[key]] if key in labels else []

    return index


class Indexer:
    def __init__(self, indexers: dict[str, IndexFunc] | None = None) -> None:
        self._items: dict[str, Obj] = {}
        self._indexers: dict[str, IndexFunc] = {NAMESPACE_INDEX: namespace_index}
        # index name -> value -> keys filed under it
        self._indices: dict[str, dict[str, set[str]]] = {NAMESPACE_INDEX: {}}
        # The indexers besides the namespace one, which ``upsert`` files inline.
        self._other_indexers: tuple[tuple[str, IndexFunc], ...] = ()
        if indexers:
            self.add_indexers(indexers)

    def add_indexers(self, indexers: dict[str, IndexFunc]) -> None:
        """New indexes are built over what is already cached; a name already taken is an
        error (two controllers disagreeing about what an index means would be a silent bug)."""
        for name, func in indexers.items():
            if name in self._indexers:
                raise ValueError(f"indexer {name!r} already exists")
            self._indexers[name] = func
            index: dict[str, set[str]] = {}
            for key, obj in self._items.items():
                for value in func(obj):
                    index.setdefault(value, set()).add(key)
            self._indices[name] = index
        self._other_indexers = tuple((name, func) for name, func in self._indexers.items() if name != NAMESPACE_INDEX)

    # -- reads -----------------------------------------------------------------------------

    def get(self, key: str) -> Obj | None:
        return self._items.get(key)

    def get_object(self, namespace: str | None, name: str) -> Obj | None:
        return self._items.get(f"{namespace}/{name}" if namespace else name)

    def list(self) -> list[Obj]:
        return list(self._items.values())

    def keys(self) -> list[str]:
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def by_index(self, index_name: str, value: str) -> list[Obj]:
        return [self._items[key] for key in self.index_keys(index_name, value)]

    def index_keys(self, index_name: str, value: str) -> list[str]:
        try:
            index = self._indices[index_name]
        except KeyError:
            raise KeyError(f"no indexer named {index_name!r}") from None
        return sorted(index.get(value, ()))

    def index_values(self, index_name: str) -> list[str]:
        """The values that have at least one object filed under them."""
        return [value for value, keys in self._indices[index_name].items() if keys]

    # -- writes (the informer's) ----------------------------------------------------------

    def upsert(self, obj: Obj) -> Obj | None:
        """Store ``obj``; the object it replaced, if any."""
        # Once per watch event: object_key and namespace_index inlined.
        metadata = obj.get("metadata") or {}
        namespace = metadata.get("namespace")
        obj_name = metadata.get("name") or ""
        key = f"{namespace}/{obj_name}" if namespace else obj_name
        items = self._items
        old = items.get(key)
        items[key] = obj
        if old is None:
            if namespace:
                by_namespace = self._indices[NAMESPACE_INDEX]
                keys = by_namespace.get(namespace)
                if keys is None:
                    by_namespace[namespace] = {key}
                else:
                    keys.add(key)
            for name, func in self._other_indexers:
                index = self._indices[name]
                for value in func(obj):
                    index.setdefault(value, set()).add(key)
            return None
        # An update mostly leaves the index values alone: only the indices whose values
        # changed are touched.  The namespace index never is: the key holds the namespace,
        # so the object it replaced had the same one.
        for name, func in self._other_indexers:
            before, after = func(old), func(obj)
            if before == after:
                continue
            index = self._indices[name]
            for value in before:
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]
            for value in after:
                index.setdefault(value, set()).add(key)
        return old

    def remove(self, key: str) -> Obj | None:
        old = self._items.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old

    def replace(self, objects: Iterable[Obj]) -> None:
        # A list hands over every object at once (tens of thousands at a component's start):
        # object_key and namespace_index are inlined here.
        items: dict[str, Obj] = {}
        by_namespace: dict[str, set[str]] = {}
        for obj in objects:
            metadata = obj.get("metadata") or {}
            namespace = metadata.get("namespace")
            name = metadata.get("name") or ""
            if namespace:
                key = f"{namespace}/{name}"
                items[key] = obj
                keys = by_namespace.get(namespace)
                if keys is None:
                    by_namespace[namespace] = {key}
                else:
                    keys.add(key)
            else:
                items[name] = obj
        self._items = items
        for name, func in self._indexers.items():
            if name == NAMESPACE_INDEX:  # always namespace_index: built in the loop above
                self._indices[name] = by_namespace
                continue
            index: dict[str, set[str]] = {}
            for key, obj in items.items():
                for value in func(obj):
                    index.setdefault(value, set()).add(key)
            self._indices[name] = index

    def _unindex(self, key: str, obj: Obj) -> None:
        for name, func in self._indexers.items():
            index = self._indices[name]
            for value in func(obj):
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]
