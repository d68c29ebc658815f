"""The reflector: keeps a local picture of one resource in step with the server by list, then
watch, as client-go's ``cache.Reflector``.

1. List (in pages of ``page_size`` with ``limit``/``continue``; if a continue token expires
   mid-way, list again unpaged) and hand every object plus the list's resourceVersion to
   ``replace``.
2. Watch from that resourceVersion with bookmarks; hand each event to ``apply`` and advance
   the resourceVersion on every event and bookmark, so the next watch resumes exactly after
   the last thing seen.
3. A watch that ends cleanly (its ``timeoutSeconds``) is re-opened from the current
   resourceVersion with no list.
4. A 410 (an ``ERROR`` event with code 410, or ``Expired`` opening the watch) means the
   history no longer reaches back that far: list again at once.  Any other failure (stream
   dropped, connection refused, server error) lists again after an exponential back-off with
   jitter; the back-off is reset once a watch streams again.

The first list may come from elsewhere (``initial_list``, e.g. requested while the process
was still starting, see ``ListPrefetch``): it stands for step 1 once, with the same
objects; if it failed, step 1 runs as usual at once.

Re-listing rather than re-watching after a dropped stream is deliberate: a restarted server
without persistent storage starts its revisions afresh, and only a list tells the cache
which objects vanished.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from pyk8s.client._errors import ApiError, Expired, TransportError, error_from_status
from pyk8s.client._rest import ApiClient, Resource

__all__ = ["Reflector", "Backoff"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

# client-go: minWatchTimeout = 5 min; each watch asks for a random timeout in [5, 10) min so
# that many clients' watches do not all end together.
MIN_WATCH_TIMEOUT_SECONDS = 300


class Backoff:
    """Exponential back-off with jitter and a cap (client-go reflector: 800 ms doubling,
    30 s cap, jitter 1.0 i.e. up to +100 %)."""

    def __init__(
        self, initial: float = 0.8, cap: float = 30.0, factor: float = 2.0, jitter: float = 1.0,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.initial = initial
        self.cap = cap
        self.factor = factor
        self.jitter = jitter
        self.rng = rng
        self.failures = 0

    def next_delay(self) -> float:
        base = min(self.cap, self.initial * self.factor ** self.failures)
        self.failures += 1
        return min(self.cap, base * (1.0 + self.jitter * self.rng()))

    def reset(self) -> None:
        self.failures = 0


class Reflector:
    """Drives ``replace(objects, resource_version)`` and ``apply(event_type, obj)`` (both
    synchronous) from the server until ``run()`` is cancelled."""

    def __init__(
        self,
        client: ApiClient,
        resource: Resource,
        replace: Callable[[list[Obj], str], None],
        apply: Callable[[str, Obj], None],
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        page_size: int | None = 500,
        backoff: Backoff | None = None,
        watch_timeout_seconds: int | None = None,
        initial_list: Callable[[], Awaitable[Obj]] | None = None,
    ) -> None:
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.page_size = page_size
        self.backoff = backoff or Backoff()
        self.watch_timeout_seconds = watch_timeout_seconds
        self._replace = replace
        self._apply = apply
        self.initial_list = initial_list
        self.resource_version = ""
        # Counters for tests and metrics.
        self.lists = 0
        self.watches = 0
        self.last_error: BaseException | None = None

    def _describe(self) -> str:
        where = f" in {self.namespace}" if self.namespace else ""
        return f"{self.resource.plural}{where}"

    async def run(self) -> None:
        relist_delay = 0.0
        while True:
            if relist_delay:
                await asyncio.sleep(relist_delay)
            try:
                await self._list()
                while await self._watch():
                    pass
            except Expired as error:
                # A 410 after a healthy watch re-lists at once; a run of them (history shorter
                # than a list takes) backs off like any other failure.
                self.last_error = error
                if self.backoff.failures == 0:
                    relist_delay = 0.0
                    self.backoff.failures = 1
                else:
                    relist_delay = self.backoff.next_delay()
                log.info("%s: %s; re-listing in %.2fs", self._describe(), error, relist_delay)
            except (ApiError, TransportError) as error:
                self.last_error = error
                relist_delay = self.backoff.next_delay()
                log.warning("%s: %s; re-listing in %.2fs", self._describe(), error, relist_delay)

    async def _list(self) -> None:
        self.lists += 1
        listed = None
        initial, self.initial_list = self.initial_list, None
        if initial is not None:
            try:
                listed = await initial()
            except (ApiError, TransportError) as error:
                log.info("%s: the initial list failed (%s); listing", self._describe(), error)
        if listed is None:
            listed = await self._list_from_server()
        items = listed.get("items") or []
        kind = (listed.get("kind") or "").removesuffix("List")
        api_version = listed.get("apiVersion")
        if kind:
            # List items may come without their type; watch events and gets carry it.
            for item in items:
                if "kind" not in item:
                    item["kind"] = kind
                    item["apiVersion"] = api_version
        resource_version = (listed.get("metadata") or {}).get("resourceVersion") or ""
        self._replace(items, resource_version)
        self.resource_version = resource_version

    async def _list_from_server(self) -> Obj:
        selectors = dict(namespace=self.namespace, label_selector=self.label_selector, field_selector=self.field_selector)
        try:
            return await self.client.list_all(self.resource, page_size=self.page_size, **selectors)
        except Expired:
            if not self.page_size:
                raise
            # A continue token outlived the history: the unpaged list is one consistent read.
            return await self.client.list_all(self.resource, page_size=None, **selectors)

    async def _watch(self) -> bool:
        """One watch; True when it ended cleanly and should simply be re-opened."""
        self.watches += 1
        timeout = self.watch_timeout_seconds or int(MIN_WATCH_TIMEOUT_SECONDS * (1.0 + random.random()))
        stream = self.client.watch(
            self.resource, namespace=self.namespace, label_selector=self.label_selector,
            field_selector=self.field_selector, resource_version=self.resource_version,
            allow_watch_bookmarks=True, timeout_seconds=timeout,
        )
        loop = asyncio.get_running_loop()
        opened = loop.time()
        delivered = 0
        apply = self._apply
        async with stream:
            async for batch in stream.batches():
                for event_type, obj in batch:
                    if event_type == "ERROR":
                        raise error_from_status(obj)
                    if not delivered:
                        # The server is answering and streaming: past failures are behind us.
                        self.backoff.reset()
                    delivered += 1
                    resource_version = (obj.get("metadata") or {}).get("resourceVersion")
                    if event_type != "BOOKMARK":
                        apply(event_type, obj)
                    if resource_version:
                        self.resource_version = resource_version
        # client-go's "very short watch": a server ending watches at once, with nothing in
        # them, would otherwise be re-watched in a tight loop.
        if not delivered and loop.time() - opened < min(1.0, timeout / 2):
            raise TransportError(f"{self._describe()}: very short watch with no events")
        self.backoff.reset()
        return True
