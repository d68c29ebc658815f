"""Probes and lifecycle hooks: exec, httpGet and tcpSocket actions against a container's
processes, and the per-container probe workers (pkg/kubelet/prober).

* An exec action runs its command as a process with the container's environment and working
  directory (there is no container to enter); its output is kept up to 10 KiB.
* httpGet and tcpSocket go to ``host`` (default: the pod IP) on the port named or numbered,
  which ``ProbeTarget.port`` maps to the host port the container port was given.
* gRPC probes are not supported: such a probe never produces a result (as a prober error
  upstream), and an event says so.

Probe workers follow upstream's: the first run comes ``initialDelaySeconds`` after the
container started, then every ``periodSeconds``; a result flips after ``successThreshold``
(``failureThreshold``) consecutive successes (failures).  Readiness starts as failure,
liveness as success; until the startup probe has succeeded neither runs and the container is
not ``started``.  A liveness or startup failure is reported to the pod worker, which kills the
container (it restarts as its restart policy says).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

__all__ = ["ContainerProber", "ProbeTarget", "run_action", "run_handler"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

_MAX_OUTPUT = 10 * 1024
_USER_AGENT = "kube-probe/1.37"


@dataclass
class ProbeTarget:
    """Where a container's actions run: its environment for exec, the pod IP and its ports
    for the network actions."""

    host: str
    env: Mapping[str, str]
    cwd: str
    ports: Mapping[str, int] = field(default_factory=dict)  # container port number or name -> host port

    def port(self, value: Any) -> int | None:
        if isinstance(value, int):
            return self.ports.get(str(value), value)
        text = str(value)
        if text.isdigit():
            return self.ports.get(text, int(text))
        return self.ports.get(text)


async def _exec(command: list[str], target: ProbeTarget, timeout: float) -> tuple[bool, str]:
    if not command:
        return False, "exec action has no command"
    try:
        process = await asyncio.create_subprocess_exec(
            *command, env=dict(target.env), cwd=target.cwd, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
        )
    except OSError as error:
        return False, f'exec: "{command[0]}": {error.strerror or error}'
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        await _kill(process)
        return False, f"command {command!r} timed out"
    except asyncio.CancelledError:
        await _kill(process)  # a stopped prober leaves no process behind
        raise
    text = output[:_MAX_OUTPUT].decode("utf-8", "replace")
    if process.returncode != 0:
        return False, f"command {command!r} exited with {process.returncode}: {text}"
    return True, text


async def _kill(process: asyncio.subprocess.Process) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except OSError:
        pass
    await process.wait()


async def _http_get(action: Mapping, target: ProbeTarget, timeout: float, session: aiohttp.ClientSession) -> tuple[bool, str]:
    port = target.port(action.get("port"))
    if port is None:
        return False, f"unknown port {action.get('port')!r}"
    scheme = (action.get("scheme") or "HTTP").lower()
    host = action.get("host") or target.host
    path = action.get("path") or "/"
    if not path.startswith("/"):
        path = "/" + path
    url = f"{scheme}://{host}:{port}{path}"
    headers = {"User-Agent": _USER_AGENT, "Accept": "*/*"}
    for header in action.get("httpHeaders") or ():
        headers[header.get("name", "")] = header.get("value", "")
    try:
        async with session.get(url, headers=headers, ssl=False, timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            body = await response.content.read(_MAX_OUTPUT)
            if 200 <= response.status < 400:
                return True, body.decode("utf-8", "replace")
            return False, f"HTTP probe failed with statuscode: {response.status}"
    except TimeoutError:
        return False, f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)'
    except aiohttp.ClientConnectorError as error:
        return False, f'Get "{url}": dial tcp {host}:{port}: connect: {_reason(error.os_error)}'
    except (aiohttp.ClientError, OSError) as error:
        return False, f'Get "{url}": {error}'


def _reason(error: OSError) -> str:
    """Go's wording of a failed connect: ``connection refused``."""
    if error.errno:
        return os.strerror(error.errno).lower()
    return str(error)


async def _tcp(action: Mapping, target: ProbeTarget, timeout: float) -> tuple[bool, str]:
    port = target.port(action.get("port"))
    if port is None:
        return False, f"unknown port {action.get('port')!r}"
    host = action.get("host") or target.host
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except TimeoutError:
        return False, f"dial tcp {host}:{port}: i/o timeout"
    except OSError as error:
        return False, f"dial tcp {host}:{port}: connect: {_reason(error)}"
    writer.close()
    return True, ""


async def run_action(action: Mapping, target: ProbeTarget, timeout: float, session: aiohttp.ClientSession) -> tuple[bool | None, str]:
    """(success, output or failure message); success is None for an action this runtime
    cannot perform."""
    if "exec" in action:
        return await _exec(list((action["exec"] or {}).get("command") or ()), target, timeout)
    if "httpGet" in action:
        return await _http_get(action["httpGet"], target, timeout, session)
    if "tcpSocket" in action:
        return await _tcp(action["tcpSocket"], target, timeout)
    if "grpc" in action:
        return None, "gRPC probes are not supported by the pyk8s process runtime"
    return None, "the probe names no action"


async def run_handler(handler: Mapping, target: ProbeTarget, timeout: float, session: aiohttp.ClientSession) -> str | None:
    """A postStart/preStop hook; None on success, else the error message."""
    if "sleep" in handler:
        await asyncio.sleep(max(float((handler["sleep"] or {}).get("seconds", 0)), 0))
        return None
    if "tcpSocket" in handler:
        return None  # deprecated for hooks: upstream accepts and ignores it
    ok, output = await run_action(handler, target, timeout, session)
    return None if ok else output


class ContainerProber:
    """The startup, liveness and readiness workers of one container run."""

    def __init__(
        self, container: Mapping, target: ProbeTarget, started_at: float, session: aiohttp.ClientSession, *,
        on_change: Callable[[], None], on_failure: Callable[[str, str], Awaitable[None] | None],
        on_unhealthy: Callable[[str, str], None],
    ) -> None:
        self.container = container
        self.target = target
        self.started_at = started_at  # epoch seconds
        self.session = session
        self.on_change = on_change
        self.on_failure = on_failure
        self.on_unhealthy = on_unhealthy
        self.has_startup = bool(container.get("startupProbe"))
        self.has_readiness = bool(container.get("readinessProbe"))
        self.started = not self.has_startup
        self.ready = self.started and not self.has_readiness
        self._started_event = asyncio.Event()
        if self.started:
            self._started_event.set()
        self._tasks: list[asyncio.Task] = []

    def start(self) -> None:
        for kind, key in (("Startup", "startupProbe"), ("Liveness", "livenessProbe"), ("Readiness", "readinessProbe")):
            probe = self.container.get(key)
            if probe:
                self._tasks.append(asyncio.ensure_future(self._worker(kind, probe)))

    def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks = []

    async def _worker(self, kind: str, probe: Mapping) -> None:
        loop = asyncio.get_running_loop()
        period = max(int(probe.get("periodSeconds") or 10), 1)
        timeout = max(int(probe.get("timeoutSeconds") or 1), 1)
        success_needed = max(int(probe.get("successThreshold") or 1), 1)
        failure_needed = max(int(probe.get("failureThreshold") or 3), 1)
        first = self.started_at + int(probe.get("initialDelaySeconds") or 0)
        await asyncio.sleep(max(first - time.time(), 0))
        if kind != "Startup":
            await self._started_event.wait()
        # Readiness starts failed, liveness succeeded, startup unknown (either result counts).
        current: bool | None = {"Liveness": True, "Readiness": False}.get(kind)
        streak_value: bool | None = None
        streak = 0
        reported_unsupported = False
        while True:
            began = loop.time()
            ok, output = await run_action(probe, self.target, timeout, self.session)
            if ok is None:
                if not reported_unsupported:
                    self.on_unhealthy(kind, output)
                    reported_unsupported = True
            else:
                if not ok:
                    self.on_unhealthy(kind, output)
                streak = streak + 1 if ok == streak_value else 1
                streak_value = ok
                if ok != current and streak >= (success_needed if ok else failure_needed):
                    current = ok
                    if await self._flipped(kind, ok, output):
                        return
            await asyncio.sleep(max(period - (loop.time() - began), 0))

    async def _flipped(self, kind: str, ok: bool, output: str) -> bool:
        """Apply a result change; True when this worker is done."""
        if kind == "Readiness":
            self.ready = ok
            self.on_change()
            return False
        if kind == "Startup":
            if ok:
                self.started = True
                self._started_event.set()
                if not self.has_readiness:
                    self.ready = True
                self.on_change()
                return True
        if not ok:
            outcome = self.on_failure(kind, output)
            if outcome is not None:
                await outcome
            return True
        return False
