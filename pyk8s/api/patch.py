"""Patch application.  Issue 2 serves JSON merge patch (RFC 7386); JSON patch and strategic
merge patch (issue 3) slot in beside it, keyed by media type."""

from __future__ import annotations

from typing import Any

__all__ = ["MERGE_PATCH", "merge_patch"]

MERGE_PATCH = "application/merge-patch+json"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 MergePatch: objects merge recursively, ``null`` deletes, anything else
    (arrays included) replaces.  ``target`` is not modified."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result
