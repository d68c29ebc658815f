"""Shared informers: one reflector and one indexed cache per watched resource, fanned out to
any number of event handlers, as client-go's ``sharedIndexInformer``.

Handlers are plain (synchronous) callables run on the event loop in the order events arrive:
``on_add(obj)``, ``on_update(old, new)``, ``on_delete(obj)``.  They should be quick (typically
they put a key on a ``WorkQueue``); an exception in one is logged and does not stop the others.
Cached objects are shared by every handler and the cache's indexes: treat them as read-only.

What handlers see:

* the first list: ``on_add`` for every object; ``has_synced()`` turns true after it;
* watch events: ``on_add`` for a new key, ``on_update`` for a known key, ``on_delete`` with the
  deleted object's final state;
* a re-list (after a 410 or a lost connection): ``on_add`` for new keys, ``on_update`` for
  objects whose resourceVersion changed, and ``on_delete`` with the last cached state for
  objects that vanished while the watch was down (upstream wraps those in
  ``DeletedFinalStateUnknown``; here the last known object itself is passed);
* every ``resync_period`` seconds: ``on_update(obj, obj)`` for every cached object;
* a handler added after the sync: ``on_add`` for everything already cached.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from collections.abc import Awaitable, Callable
from typing import Any

from pyk8s.client._cache import Indexer, IndexFunc, object_key
from pyk8s.client._reflector import Backoff, Reflector
from pyk8s.client._rest import ApiClient, Resource

__all__ = ["SharedInformer", "SharedInformerFactory", "EventHandler"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]


@dataclass(eq=False)
class EventHandler:
    """A registration returned by ``add_event_handler``; pass it to ``remove_event_handler``."""

    on_add: Callable[[Obj], None] | None = None
    on_update: Callable[[Obj, Obj], None] | None = None
    on_delete: Callable[[Obj], None] | None = None


def _resource_version(obj: Obj) -> str | None:
    return (obj.get("metadata") or {}).get("resourceVersion")


class SharedInformer:
    def __init__(
        self,
        client: ApiClient,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resync_period: float = 0.0,
        indexers: dict[str, IndexFunc] | None = None,
        page_size: int | None = 500,
        backoff: Backoff | None = None,
        watch_timeout_seconds: int | None = None,
    ) -> None:
        self.resource = resource
        self.indexer = Indexer(indexers)
        self.resync_period = resync_period
        self.reflector = Reflector(
            client, resource, self._replace, self._apply,
            namespace=namespace, label_selector=label_selector, field_selector=field_selector,
            page_size=page_size, backoff=backoff, watch_timeout_seconds=watch_timeout_seconds,
        )
        self._handlers: list[EventHandler] = []
        self._synced = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    # -- registration ----------------------------------------------------------------------

    def add_event_handler(
        self,
        on_add: Callable[[Obj], None] | None = None,
        on_update: Callable[[Obj, Obj], None] | None = None,
        on_delete: Callable[[Obj], None] | None = None,
    ) -> EventHandler:
        handler = EventHandler(on_add, on_update, on_delete)
        self._handlers.append(handler)
        if on_add is not None:
            for obj in self.indexer.list():
                self._call(on_add, obj)
        return handler

    def remove_event_handler(self, handler: EventHandler) -> None:
        self._handlers.remove(handler)

    def add_indexers(self, indexers: dict[str, IndexFunc]) -> None:
        self.indexer.add_indexers(indexers)

    def set_initial_list(self, fetch: Callable[[], Awaitable[Obj]]) -> None:
        """Before ``start()``: ``await fetch()`` gives the first list (the list object, with
        its resourceVersion) in place of the reflector's first request; it must list what
        this informer would (its resource, namespace and selectors), e.g. a list requested
        while the process was still starting (``ListPrefetch``).  Everything after is as
        ever: the watch from that resourceVersion, a re-list on 410.  If it fails, the
        reflector lists by itself at once."""
        if self.running or self.reflector.lists:
            raise RuntimeError("set_initial_list after the informer started")
        self.reflector.initial_list = fetch

    # -- state -----------------------------------------------------------------------------

    def has_synced(self) -> bool:
        return self._synced.is_set()

    async def wait_for_sync(self, timeout: float | None = None) -> bool:
        """True once the first list has been delivered; False if ``timeout`` passed first."""
        try:
            await asyncio.wait_for(self._synced.wait(), timeout)
        except TimeoutError:
            return False
        return True

    @property
    def last_sync_resource_version(self) -> str:
        return self.reflector.resource_version

    @property
    def running(self) -> bool:
        return any(not task.done() for task in self._tasks)

    # -- running ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the reflector (and resync timer) as tasks on the running loop; idempotent."""
        if self.running:
            return
        self._tasks = [asyncio.create_task(self.reflector.run(), name=f"reflector-{self.resource.plural}")]
        if self.resync_period > 0:
            self._tasks.append(asyncio.create_task(self._resync_loop(), name=f"resync-{self.resource.plural}"))

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _resync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.resync_period)
            if self.has_synced():
                for obj in self.indexer.list():
                    self._update(obj, obj)

    # -- the reflector's sink --------------------------------------------------------------

    def _replace(self, objects: list[Obj], resource_version: str) -> None:
        previous = {object_key(obj): obj for obj in self.indexer.list()}
        self.indexer.replace(objects)
        if not self._synced.is_set():
            for obj in objects:
                self._add(obj)
            self._synced.set()
            return
        for obj in objects:
            old = previous.pop(object_key(obj), None)
            if old is None:
                self._add(obj)
            elif _resource_version(old) != _resource_version(obj):
                self._update(old, obj)
        for vanished in previous.values():
            self._delete(vanished)

    def _apply(self, event_type: str, obj: Obj) -> None:
        if event_type == "DELETED":
            self.indexer.remove(object_key(obj))
            self._delete(obj)
            return
        old = self.indexer.upsert(obj)
        if old is None:
            self._add(obj)
        else:
            self._update(old, obj)

    # -- fan-out ---------------------------------------------------------------------------

    def _call(self, callback: Callable[..., None], *args: Obj) -> None:
        try:
            callback(*args)
        except Exception:
            log.exception("%s event handler %r failed", self.resource.plural, callback)

    # _call inlined: these run once per object of every list and watch event.
    def _add(self, obj: Obj) -> None:
        for handler in self._handlers:
            callback = handler.on_add
            if callback is not None:
                try:
                    callback(obj)
                except Exception:
                    log.exception("%s event handler %r failed", self.resource.plural, callback)

    def _update(self, old: Obj, new: Obj) -> None:
        for handler in self._handlers:
            callback = handler.on_update
            if callback is not None:
                try:
                    callback(old, new)
                except Exception:
                    log.exception("%s event handler %r failed", self.resource.plural, callback)

    def _delete(self, obj: Obj) -> None:
        for handler in self._handlers:
            callback = handler.on_delete
            if callback is not None:
                try:
                    callback(obj)
                except Exception:
                    log.exception("%s event handler %r failed", self.resource.plural, callback)


class SharedInformerFactory:
    """Hands out one ``SharedInformer`` per (resource, namespace, label selector, field
    selector), so every controller in a process that watches pods shares one watch and one
    cache.  ``informer_kwargs`` (resync_period, page_size, backoff, watch_timeout_seconds)
    apply to every informer it makes."""

    def __init__(self, client: ApiClient, *, namespace: str | None = None, **informer_kwargs: Any) -> None:
        self.client = client
        self.namespace = namespace
        self.informer_kwargs = informer_kwargs
        self._informers: dict[tuple, SharedInformer] = {}

    def informer(
        self,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> SharedInformer:
        namespace = namespace if namespace is not None else self.namespace
        key = (resource, namespace or None, label_selector or None, field_selector or None)
        informer = self._informers.get(key)
        if informer is None:
            informer = SharedInformer(
                self.client, resource, namespace=namespace, label_selector=label_selector,
                field_selector=field_selector, **self.informer_kwargs,
            )
            self._informers[key] = informer
        return informer

    @property
    def informers(self) -> list[SharedInformer]:
        return list(self._informers.values())

    def start(self) -> None:
        """Start every informer not yet running (those asked for later need another call)."""
        for informer in self._informers.values():
            informer.start()

    async def wait_for_cache_sync(self, timeout: float | None = None) -> bool:
        """True when every informer has synced within ``timeout``."""
        results = await asyncio.gather(*(i.wait_for_sync(timeout) for i in self._informers.values()))
        return all(results)

    async def shutdown(self) -> None:
        await asyncio.gather(*(informer.stop() for informer in self._informers.values()))
