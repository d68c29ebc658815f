"""The kubelet's HTTP server (upstream's pkg/kubelet/server, the read-only part, plain HTTP):

* ``GET /healthz`` -> ``ok``;
* ``GET /pods`` -> the PodList this kubelet runs;
* ``GET /containerLogs/{namespace}/{pod}/{container}`` with ``follow``, ``previous``,
  ``timestamps``, ``tailLines``, ``sinceSeconds``, ``sinceTime`` and ``limitBytes``: the
  container's log as ``text/plain``, chunked.  The API server proxies ``pods/{name}/log``
  here (node address + ``daemonEndpoints.kubeletEndpoint.Port``).  Which run's log is chosen,
  and the errors, follow upstream's validateContainerLogStatus (400 with the message as text;
  404 for an unknown pod or container).

Upstream serves this over HTTPS with authentication; here it is plain HTTP without any, so
``--address`` defaults to loopback.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import orjson
from aiohttp import web

from pyk8s.kubelet.containers import REGULAR, ContainerSlot
from pyk8s.kubelet.logs import LogOptions, parse_time, read_log
from pyk8s.kubelet.process import ContainerRun

if TYPE_CHECKING:
    from pyk8s.kubelet.kubelet import Kubelet

__all__ = ["KubeletServer"]

log = logging.getLogger(__name__)


class LogRequestError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _flag(value: str | None) -> bool:
    return value is not None and value.lower() not in ("0", "false")


def _number(query, key: str) -> int | None:
    if key not in query:
        return None
    try:
        return int(query[key])
    except ValueError:
        raise LogRequestError(400, f'invalid {key} "{query[key]}"') from None


def log_options(query) -> LogOptions:
    options = LogOptions(follow=_flag(query.get("follow")), previous=_flag(query.get("previous")),
                         timestamps=_flag(query.get("timestamps")), tail_lines=_number(query, "tailLines"),
                         limit_bytes=_number(query, "limitBytes"))
    since_seconds = _number(query, "sinceSeconds")
    if since_seconds is not None:
        options.since = time.time() - since_seconds
    elif query.get("sinceTime"):
        options.since = parse_time(query["sinceTime"])
        if options.since is None:
            raise LogRequestError(400, f'invalid sinceTime "{query["sinceTime"]}"')
    return options


def choose_run(slot: ContainerSlot, pod_name: str, previous: bool, initialized: bool) -> ContainerRun:
    """The run whose log is asked for, from the container's status as reported."""
    status = slot.status(initialized=initialized)
    state, last = status.get("state") or {}, (status.get("lastState") or {}).get("terminated")
    by_id = {run.container_id: run for run in slot.runs if run.container_id}
    name = slot.name
    if previous:
        if not last or last.get("containerID") not in by_id:
            raise LogRequestError(400, f'previous terminated container "{name}" in pod "{pod_name}" not found')
        return by_id[last["containerID"]]
    if "running" in state and slot.current is not None:
        return slot.current
    if "terminated" in state or last is not None:
        for candidate in ((state.get("terminated") or {}).get("containerID"), (last or {}).get("containerID")):
            if candidate in by_id:
                return by_id[candidate]
        raise LogRequestError(400, f'container "{name}" in pod "{pod_name}" is terminated')
    reason = (state.get("waiting") or {}).get("reason", "")
    if reason:
        raise LogRequestError(400, f'container "{name}" in pod "{pod_name}" is waiting to start: {reason}')
    raise LogRequestError(400, f'container "{name}" in pod "{pod_name}" is waiting to start - no logs yet')


class KubeletServer:
    def __init__(self, kubelet: Kubelet) -> None:
        self.kubelet = kubelet
        self.app = web.Application()
        self.app.router.add_get("/healthz", self.healthz)
        self.app.router.add_get("/pods", self.pods)
        self.app.router.add_get("/pods/", self.pods)
        self.app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self.container_logs)
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def start(self, host: str, port: int) -> int:
        """Listen; the port bound (``port`` 0 picks a free one)."""
        self.runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port, reuse_address=True)
        await site.start()
        self.port = self.runner.addresses[0][1]
        return self.port

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def pods(self, request: web.Request) -> web.Response:
        items = [worker.pod for worker in self.kubelet.workers.values()]
        body = orjson.dumps({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items})
        return web.Response(body=body, content_type="application/json")

    async def container_logs(self, request: web.Request) -> web.StreamResponse:
        namespace = request.match_info["namespace"]
        pod_name = request.match_info["pod"]
        container = request.match_info["container"]
        try:
            options = log_options(request.query)
            worker = self.kubelet.find_worker(namespace, pod_name)
            if worker is None:
                raise LogRequestError(404, f'pod "{pod_name}" does not exist\n')
            slot = next((s for s in worker.slots if s.name == container), None)
            if slot is None:
                raise LogRequestError(404, f'container "{container}" not found in pod "{pod_name}"\n')
            initialized = all(s.succeeded or s.started for s in worker.slots if s.kind != REGULAR)
            run = choose_run(slot, pod_name, options.previous, initialized)
        except LogRequestError as error:
            return web.Response(status=error.status, text=str(error))
        response = web.StreamResponse(status=200, headers={"Content-Type": "text/plain"})
        response.enable_chunked_encoding()
        await response.prepare(request)

        async def write(data: bytes) -> None:
            await response.write(data)

        try:
            await read_log(run.log_path, options, write, lambda: run.exit is not None)
        except (ConnectionError, RuntimeError) as error:
            log.debug("log stream of %s/%s/%s ended: %s", namespace, pod_name, container, error)
            return response
        await response.write_eof()
        return response
