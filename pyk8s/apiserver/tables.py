"""Conversions a client asks for in its Accept header: ``meta.k8s.io`` Table and
PartialObjectMetadata(List), as k8s.io/apiserver's handlers/response.go produces them.

    {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
     "metadata": {"resourceVersion": "42", "continue": "..."},
     "columnDefinitions": [{"name": "Name", "type": "string", "format": "name",
                            "description": "...", "priority": 0}, ...],
     "rows": [{"cells": ["nginx", "1/1", "Running", "0", "5m", ...],
               "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                          "metadata": {...}}}]}

The cells come from ``printers`` (upstream's printers for the kinds it has them for, else
upstream's default Name / Created At).  ``includeObject`` chooses what ``rows[].object``
is: ``Metadata`` (the default), ``Object`` (the whole object) or ``None``.  A watch asking
for Table gets one-row Tables, with the column definitions only in its first event.

These re-decode the stored bytes: a conversion is for people and tools reading tables, not
the hot path, which hands the stored bytes out as they are.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from pyk8s.api.errors import StatusError, bad_request
from pyk8s.apiserver.negotiation import MediaType
from pyk8s.apiserver.printers import default_columns, printer_for
from pyk8s.apiserver.printing import Column

__all__ = ["Converter", "include_object_option"]

Obj = dict[str, Any]
_INCLUDE_OBJECT = ("Metadata", "None", "Object")


def include_object_option(value: str | None) -> str:
    """The ``includeObject`` query parameter (upstream TableOptions, default Metadata)."""
    if not value:
        return "Metadata"
    if value not in _INCLUDE_OBJECT:
        raise bad_request(
            f'includeObject: Unsupported value: "{value}": supported values: "Metadata", "None", "Object"'
        )
    return value


def _columns_json(columns: tuple[Column, ...]) -> list[dict[str, Any]]:
    return [
        {"name": c.name, "type": c.type, "format": c.format, "description": c.description, "priority": c.priority}
        for c in columns
    ]


def _group_of(api_version: str) -> str:
    return api_version.rpartition("/")[0]


class Converter:
    """One response's conversion (``media`` from the Accept header)."""

    def __init__(self, media: MediaType, include_object: str = "Metadata") -> None:
        self.media = media
        self.api_version = f"meta.k8s.io/{media.version}"
        self.include_object = include_object
        self._columns_sent = False

    def _partial(self, obj: Obj) -> Obj:
        return {"kind": "PartialObjectMetadata", "apiVersion": self.api_version, "metadata": obj.get("metadata") or {}}

    # -- whole responses ---------------------------------------------------------------------

    def convert(self, body: bytes) -> bytes:
        """The converted form of a GET response (one object or a list)."""
        document = orjson.loads(body)
        if not isinstance(document, dict):
            raise StatusError(500, "InternalError", "the stored response is not an object")
        is_list = isinstance(document.get("items"), list) and document.get("kind", "").endswith("List")
        if self.media.convert == "Table":
            return orjson.dumps(self._table(document, is_list, with_columns=True))
        if is_list:
            return orjson.dumps({
                "kind": "PartialObjectMetadataList",
                "apiVersion": self.api_version,
                "metadata": document.get("metadata") or {},
                "items": [self._partial(item) for item in document["items"]],
            })
        return orjson.dumps(self._partial(document))

    def _table(self, document: Obj, is_list: bool, with_columns: bool) -> Obj:
        now = time.time()
        if is_list:
            items = document["items"]
            kind = document.get("kind", "")[: -len("List")]
            list_meta = document.get("metadata") or {}
            metadata = {key: list_meta[key] for key in ("resourceVersion", "continue", "remainingItemCount") if key in list_meta}
        else:
            items = [document]
            kind = document.get("kind", "")
            resource_version = (document.get("metadata") or {}).get("resourceVersion")
            metadata = {"resourceVersion": resource_version} if resource_version else {}
        printer = printer_for(_group_of(document.get("apiVersion", "")), kind)
        rows = [self._row(item, printer, now) for item in items]
        table: Obj = {"kind": "Table", "apiVersion": self.api_version, "metadata": metadata}
        # Upstream leaves the definitions out (null) of every watch event after the first.
        columns = printer.columns if printer is not None else default_columns()
        table["columnDefinitions"] = _columns_json(columns) if with_columns else None
        table["rows"] = rows
        return table

    def _row(self, obj: Obj, printer, now: float) -> Obj:
        if printer is None:
            meta = obj.get("metadata") or {}
            cells: Any = [meta.get("name", ""), meta.get("creationTimestamp") or "0001-01-01T00:00:00Z"]
            conditions = None
        else:
            cells = printer.row(obj, now)
            conditions = None
            if isinstance(cells, tuple):
                cells, conditions = cells
        row: Obj = {"cells": cells}
        if conditions:
            row["conditions"] = conditions
        if self.include_object == "Metadata":
            row["object"] = self._partial(obj)
        elif self.include_object == "Object":
            row["object"] = obj
        return row

    # -- watch events --------------------------------------------------------------------------

    def event_object(self, data: bytes) -> bytes:
        """A watch event's object as a one-row Table (the first one carries the columns)."""
        if self.media.convert != "Table":
            return orjson.dumps(self._partial(orjson.loads(data)))
        with_columns = not self._columns_sent
        self._columns_sent = True
        return orjson.dumps(self._table(orjson.loads(data), False, with_columns))

    def bookmark_object(self, revision: int, annotations: dict[str, str] | None = None) -> bytes:
        """A BOOKMARK's object when the watch asked for Table: a table without rows that
        carries the revision (a Pod-shaped bookmark would not decode as a Table)."""
        metadata: Obj = {"resourceVersion": str(revision)}
        if self.media.convert != "Table":
            if annotations:
                metadata["annotations"] = annotations
            return orjson.dumps({"kind": "PartialObjectMetadata", "apiVersion": self.api_version, "metadata": metadata})
        return orjson.dumps({"kind": "Table", "apiVersion": self.api_version, "metadata": metadata, "columnDefinitions": None, "rows": []})
