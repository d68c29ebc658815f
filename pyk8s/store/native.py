"""The native (C++) backend: the embedded default.

``NativeStore`` is the extension's store class under its public name; every method is the
compiled one (no Python frame per call), marshalling in ``pyk8s/_native/_store.pyx`` and
semantics in ``csrc/store``.
"""

from __future__ import annotations

from pyk8s._native._store import ListResult, Notifier, Store, Watcher

__all__ = ["NativeStore", "NativeListResult", "NativeNotifier", "NativeWatcher"]

NativeListResult = ListResult
NativeNotifier = Notifier
NativeWatcher = Watcher


class NativeStore(Store):
    """Storage on the C++ store (see ``pyk8s.store._protocol.Storage``).

    ``NativeStore(watch_buffer=10000)``: each watcher buffers at most ``watch_buffer`` live
    events before it is ended as expired.
    """

    __slots__ = ()
