"""Running controllers in-process against a live API server, and waiting on conditions.

    def test_scale(apiserver):
        async def scenario():
            async with running_controllers(apiserver.url, ["replicaset-controller"]) as (client, manager):
                await client.create(REPLICA_SETS, rs, namespace="default")
                await wait_for(lambda: ..., timeout=10)
        asyncio.run(scenario())
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

from pyk8s.client import NAMESPACES, ApiClient
from pyk8s.controllers.manager import ControllerManager


@contextlib.asynccontextmanager
async def running_controllers(
    url: str, names: Iterable[str], *, options: Mapping[str, Any] | None = None,
    workers: Mapping[str, int] | None = None,
) -> AsyncIterator[tuple[ApiClient, ControllerManager]]:
    async with ApiClient(url) as client:
        manager = ControllerManager(client, list(names), options=options, workers=workers)
        task = asyncio.create_task(manager.run())
        try:
            await manager.wait_started(timeout=20)
            yield client, manager
        finally:
            await manager.stop()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def wait_for(predicate: Callable[[], Any], *, timeout: float = 15.0, interval: float = 0.05,
                   message: str = "condition") -> Any:
    """Poll ``predicate`` (sync or async) until it returns something truthy; return it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Any = None
    while True:
        last = predicate()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message} (last: {last!r})")
        await asyncio.sleep(interval)


async def fresh_namespace(client: ApiClient, prefix: str = "t") -> str:
    """A new namespace for one test, so tests in a module do not see each other's objects."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    await client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name
