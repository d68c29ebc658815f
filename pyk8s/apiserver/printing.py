"""Building blocks of server-side tables (``printers``): column definitions with upstream's
descriptions, kube's human-readable durations, and the cell formats several printers share
(container lists, label selectors), as k8s.io/kubernetes pkg/printers and
k8s.io/apimachinery's duration and labels packages render them.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from functools import lru_cache
from typing import Any, Callable, NamedTuple

__all__ = [
    "Column", "Printer", "column", "resolve_columns", "parse_time", "human_duration", "timestamp_since", "age",
    "name_of", "dig", "container_cells", "selector_string", "format_label_selector", "format_labels", "has_condition",
    "OBJECT_META", "NAME_COLUMN", "AGE_COLUMN", "CONTAINERS_COLUMN", "IMAGES_COLUMN",
]

Obj = dict[str, Any]
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


class Column(NamedTuple):
    name: str
    type: str
    format: str
    description: str
    priority: int


class Printer(NamedTuple):
    columns: tuple[Column, ...]
    row: Callable[[Obj, float], Any]


@lru_cache(maxsize=1)
def _schemas() -> dict[str, Any]:
    path = os.path.join(os.path.dirname(os.path.dirname(__file__)), "api", "_data", "definitions.json")
    with open(path, "rb") as file:
        return json.load(file)["schemas"]


def _doc(schema: str, field: str) -> str:
    """The field's documentation, as upstream's ``SwaggerDoc()[field]`` gives it."""
    found = _schemas().get(schema, {}).get("properties", {}).get(field, {})
    return found.get("description", "")


def column(name: str, description: str | tuple[str, str], type_: str = "string", format_: str = "", priority: int = 0):
    return (name, type_, format_, description, priority)


def resolve_columns(specs: tuple) -> tuple[Column, ...]:
    columns = []
    for name, type_, format_, description, priority in specs:
        if isinstance(description, tuple):
            description = _doc(*description)
        columns.append(Column(name, type_, format_, description, priority))
    return tuple(columns)


NAME_COLUMN = column("Name", (OBJECT_META, "name"), format_="name")
AGE_COLUMN = column("Age", (OBJECT_META, "creationTimestamp"))
CONTAINERS_COLUMN = column("Containers", "Names of each container in the template.", priority=1)
IMAGES_COLUMN = column("Images", "Images referenced by each container in the template.", priority=1)

# -- time --------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def parse_time(value: str) -> float | None:
    """Epoch seconds of an RFC 3339 timestamp, or None when absent or unreadable."""
    if not value or not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def human_duration(seconds: float) -> str:
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration."""
    whole = int(seconds)
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 60 * 2:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        rest = whole % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = whole // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def timestamp_since(value: Any, now: float) -> str:
    """Upstream translateTimestampSince: "<unknown>" for a zero time."""
    stamp = parse_time(value) if isinstance(value, str) else None
    if stamp is None:
        return "<unknown>"
    return human_duration(now - stamp)


def age(obj: Obj, now: float) -> str:
    return timestamp_since((obj.get("metadata") or {}).get("creationTimestamp"), now)


def name_of(obj: Obj) -> str:
    return (obj.get("metadata") or {}).get("name", "")


def dig(obj: Any, *path: str, default: Any = None) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return default
        obj = obj.get(key)
    return default if obj is None else obj


# -- shared cell formats -----------------------------------------------------------------------


def container_cells(containers: list) -> tuple[str, str]:
    containers = [c for c in containers or () if isinstance(c, dict)]
    return ",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers)


def selector_string(selector: Any) -> str:
    """labels.Selector.String() of metav1.LabelSelectorAsSelector: requirements sorted by key."""
    if not isinstance(selector, dict):
        return ""
    requirements = []
    for key, value in (selector.get("matchLabels") or {}).items():
        requirements.append((key, f"{key}={value}"))
    for expression in selector.get("matchExpressions") or ():
        key, operator = expression.get("key", ""), expression.get("operator", "")
        values = ",".join(sorted(expression.get("values") or ()))
        text = {
            "In": f"{key} in ({values})",
            "NotIn": f"{key} notin ({values})",
            "Exists": key,
            "DoesNotExist": f"!{key}",
        }.get(operator, f"{key} {operator} ({values})")
        requirements.append((key, text))
    requirements.sort(key=lambda item: item[0])
    return ",".join(text for _key, text in requirements)


def format_label_selector(selector: Any) -> str:
    # metav1.FormatLabelSelector
    return selector_string(selector) or "<none>"


def format_labels(labels: Any) -> str:
    # labels.FormatLabels
    if not labels:
        return "<none>"
    return ",".join(f"{key}={labels[key]}" for key in sorted(labels))


def has_condition(conditions: Any, kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions or () if isinstance(c, dict))


