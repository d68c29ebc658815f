"""The scheduler process's binding cycle, after the pod was assumed onto its node: how it
ends (bound, or forgotten and retried), and the profile's Bind plugins when they are not
DefaultBinder alone.

DefaultBinder alone, the default, is the hot path in scheduler.py (``Scheduler._bind``: one
pipelined ``pods/binding`` POST and a callback).  Any other Bind plugin list runs here as
upstream's RunBindPlugins: in order until one does not return Skip.  DefaultBinder in the
list is that same POST; a custom plugin's ``bind(state, pod, node_name)`` returns a Status
or an awaitable of one (it runs in the binding cycle, off the scheduling loop, and reaches
the API server through ``self.handle.client``).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import time

import orjson

from pyk8s.client import PODS, ApiError, NotFound, TransportError

from ._pipeline import answer
from .framework import SUCCESS, Code, Plugin, Profile, Status
from .plugins import DefaultBinder
from .queue import QueuedPod
from .queueing_hints import ClusterEvent

__all__ = ["BindPluginsCycle", "binding_request"]

log = logging.getLogger(__name__)

_REJECTED = (Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE)


def binding_request(pod: dict, node: str) -> tuple[str, bytes]:
    """The path and body of DefaultBinder's POST pods/{name}/binding."""
    meta = pod["metadata"]
    namespace = meta.get("namespace") or "default"
    body = {
        "apiVersion": "v1", "kind": "Binding",
        "metadata": {"name": meta["name"], "namespace": namespace, "uid": meta.get("uid")},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    }
    return f"{_pods_path(namespace)}/{meta['name']}/binding", orjson.dumps(body)


@functools.lru_cache(maxsize=1024)
def _pods_path(namespace: str) -> str:
    return PODS.path(namespace)


class BindPluginsCycle:
    """Mixed into ``Scheduler``: uses its queue, cluster, writer, metrics, events, _forget,
    binds_in_flight and _bind_room."""

    def _bind_started(self) -> None:
        self.binds_in_flight += 1
        if self.binds_in_flight >= self.max_binds_in_flight:
            self._bind_room.clear()  # back-pressure on the scheduling loop
            self._bind_room_full = True

    def _bind_finished(self) -> None:
        self.binds_in_flight -= 1
        # _bind_room_full mirrors "not _bind_room.is_set()": the event is touched only when
        # it changes, not once per binding.
        if self._bind_room_full and self.binds_in_flight < self.max_binds_in_flight:
            self._bind_room_full = False
            self._bind_room.set()

    def _scheduled(self, entry: QueuedPod, node: str, profile_name: str, started: float) -> None:
        """The binding cycle succeeded."""
        self.metrics.observe_attempt("scheduled", profile_name, time.perf_counter() - started)
        self.queue.done(entry.key)
        # The key is the pod's namespace/name, as upstream's message spells them.
        self.events.record(entry.pod, "Normal", "Scheduled", f"Successfully assigned {entry.key} to {node}", "Binding")

    def _binding_failed(self, entry: QueuedPod, node: str, profile: Profile, started: float, state: dict,
                        message: str | None) -> None:
        """An error in the binding cycle (upstream's handleBindingCycleError): forget the
        assumed pod, undo Reserve, and retry after back-off; ``message`` (None: the pod is
        gone) goes into a FailedScheduling Event."""
        self._forget(entry.key, node)
        self._unreserve(profile, state, entry, node)
        self.metrics.observe_attempt("error", profile.scheduler_name, time.perf_counter() - started)
        if message is not None:
            self.events.record(entry.pod, "Warning", "FailedScheduling", message, "Binding")
        self.queue.add_backoff(entry)

    @staticmethod
    def _unreserve(profile: Profile, state: dict, entry: QueuedPod, node: str) -> None:
        for plugin in reversed(profile.plugins.get("reserve", ())):
            plugin.unreserve(state, entry.pod, node)

    async def _run_bind_plugins(self, entry: QueuedPod, node: str, profile: Profile, started: float, state: dict,
                                cycle: int) -> None:
        """The binding cycle through the profile's Bind plugins (``_bind_started`` was
        called for it).  A plugin's Unschedulable status sends the pod to unschedulable
        with that plugin recorded; an error, or every plugin skipping, to back-off."""
        status = Status(Code.SKIP)
        quiet = False  # the pod is gone: no Event
        decided_by = ""
        try:
            for plugin in profile.plugins["bind"]:
                decided_by = plugin.NAME
                try:
                    status = await self._call_bind_plugin(plugin, state, entry, node)
                except NotFound:
                    status, quiet = Status(Code.ERROR, ("pod not found",), plugin.NAME), True
                except (ApiError, TransportError) as error:
                    status = Status(Code.ERROR, (f"Binding rejected: {error}",), plugin.NAME)
                except Exception as error:  # a plugin's bug fails this binding, not the scheduler
                    log.exception("Bind plugin %s failed for %s", plugin.NAME, entry.key)
                    status = Status(Code.ERROR, (f"running Bind plugin {plugin.NAME!r}: {error!r}",), plugin.NAME)
                if status.code != Code.SKIP:
                    break
        finally:
            self._bind_finished()
        if not self._leading.is_set():
            return  # stopped or lost the lease: the next leader decides
        if status.code == Code.SUCCESS:
            self._scheduled(entry, node, profile.scheduler_name, started)
        elif status.code in _REJECTED:
            message = f"Binding rejected: {'; '.join(status.reasons) or status.code.value}"
            forgotten = self._forget(entry.key, node, announce=False)
            self._unreserve(profile, state, entry, node)
            self.metrics.observe_attempt("unschedulable", profile.scheduler_name, time.perf_counter() - started)
            self.events.record(entry.pod, "Warning", "FailedScheduling", message, "Binding")
            self.queue.add_unschedulable(entry, cycle, {message: 1}, (status.plugin or decided_by,))
            if forgotten:
                # As upstream, the room the pod leaves moves other pods, never the pod
                # itself (that would retry it at once, whatever rejected it).
                self.queue.move_all(ClusterEvent.ASSIGNED_POD_DELETE, lambda other: other is not entry)
        elif status.code == Code.SKIP:
            self._binding_failed(entry, node, profile, started, state, "Binding rejected: every Bind plugin skipped the pod")
        else:
            message = "; ".join(status.reasons) or f"running Bind plugin {decided_by!r}: {status.code.value}"
            self._binding_failed(entry, node, profile, started, state, None if quiet else message)

    async def _call_bind_plugin(self, plugin: Plugin, state: dict, entry: QueuedPod, node: str) -> Status:
        if plugin.NAME == DefaultBinder.NAME:  # the process's binder: the pods/binding POST
            future = self.writer.send("POST", *binding_request(entry.pod, node))
            await asyncio.wait((future,))
            answer(future)
            return SUCCESS
        status = plugin.bind(state, entry.pod, node)
        if inspect.isawaitable(status):
            status = await status
        if not isinstance(status, Status):
            raise TypeError(f"Bind plugin {plugin.NAME} returned {status!r}, not a Status")
        return status
