"""Storage backends behind one protocol (see ``_protocol``)."""

from __future__ import annotations

from ._protocol import (
    Event,
    ExpiredError,
    FutureRevisionError,
    ListResult,
    Notifier,
    Storage,
    Watcher,
    WriteResult,
    WriteStatus,
)
from ._template import encode_template

__all__ = [
    "Event",
    "ExpiredError",
    "FutureRevisionError",
    "ListResult",
    "Notifier",
    "Storage",
    "Watcher",
    "WriteResult",
    "WriteStatus",
    "encode_template",
    "open_store",
    "BACKENDS",
]

BACKENDS = ("native", "reference")


def open_store(kind: str = "native", *, watch_buffer: int = 10000) -> Storage:
    """A new empty store of the given backend: ``"native"`` (C++, default) or ``"reference"``."""
    if kind == "native":
        from .native import NativeStore

        return NativeStore(watch_buffer=watch_buffer)
    if kind == "reference":
        from .reference import ReferenceStore

        return ReferenceStore(watch_buffer=watch_buffer)
    raise ValueError(f"unknown storage backend {kind!r}; choose one of {', '.join(BACKENDS)}")
