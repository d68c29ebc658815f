"""The process runtime: each container run is a local process under its own shim (shim.py).

Layout under ``--root-dir`` (all of a pod's state, so a restarted kubelet finds it again):

    pods/<uid>/pod.json                      namespace, name, uid and the host ports assigned
    pods/<uid>/work/                         default working directory of the pod's containers
    pods/<uid>/volumes/<volume>/             configMap, secret, emptyDir, downwardAPI files
    pods/<uid>/containers/<name>/<n>.log     run n's stdout and stderr, CRI format (n = restartCount)
    pods/<uid>/containers/<name>/<n>.json    run n's launch record (pids, start times)
    pods/<uid>/containers/<name>/<n>.exit    run n's exit record, written by its shim
    pods/<uid>/containers/<name>/<n>.termination-log   run n's $PYK8S_TERMINATION_MESSAGE_PATH

A run is identified by its pid and the pid's /proc start time, so after a kubelet restart a
live run is adopted (its exit is then noticed through a pidfd) and a reused pid is never
mistaken for it.  Only the last two runs of a container are kept on disk (the current one
and the one ``kubectl logs --previous`` shows).

The container ID is ``pyk8s://<pid>``: the process a user can find, signal, or kill.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyk8s.kubelet.logs import tail_text
from pyk8s.kubelet.shim import proc_start_time

__all__ = ["ContainerRun", "ExitRecord", "LaunchSpec", "ProcessRuntime", "SHIM_PATH", "kill_leftovers", "process_environ"]

log = logging.getLogger(__name__)

SHIM_PATH = str(Path(__file__).with_name("shim.py"))
_RUN_FILE = re.compile(r"^(\d+)\.(json|exit|log|termination-log)$")
_KEEP_RUNS = 2
_MESSAGE_LIMIT = 4096
_FALLBACK_LINES = 80
_FALLBACK_BYTES = 2048


@dataclass
class LaunchSpec:
    argv: list[str]
    env: dict[str, str]
    cwd: str
    message_policy: str = "File"  # terminationMessagePolicy


@dataclass
class ExitRecord:
    exit_code: int
    reason: str  # Completed, Error, StartError, ContainerStatusUnknown
    finished_at: str
    finished_ns: int
    started_at: str | None = None
    message: str | None = None
    signal: int | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExitRecord:
        return cls(
            exit_code=int(data["exitCode"]), reason=data.get("reason") or "Error", finished_at=data["finishedAt"],
            finished_ns=int(data.get("finishedAtNs") or 0), started_at=data.get("startedAt"),
            message=data.get("message"), signal=data.get("signal"),
        )


@dataclass(eq=False)
class ContainerRun:
    """One run (attempt) of a container: running until ``exit`` is set."""

    pod_uid: str
    name: str
    attempt: int
    log_path: str
    pid: int | None = None
    pid_start: int | None = None
    shim_pid: int | None = None
    shim_start: int | None = None
    started_at: str | None = None
    started_ns: int = 0
    message_policy: str = "File"
    exit: ExitRecord | None = None
    exited: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def container_id(self) -> str | None:
        return f"pyk8s://{self.pid}" if self.pid else None

    @property
    def running(self) -> bool:
        return self.exit is None

    def process_alive(self) -> bool:
        """The container's first process still exists (same pid, same start time)."""
        return self.pid is not None and _alive(self.pid, self.pid_start)


def _alive(pid: int, start_time: int | None) -> bool:
    if start_time is None or proc_start_time(pid) != start_time:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2:][:1] not in (b"Z", b"X")


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def process_environ(pid: int | None) -> dict[str, str] | None:
    """A running process's environment (/proc/<pid>/environ): hooks and probes of a run a
    kubelet adopted run with it."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            raw = handle.read()
    except OSError:
        return None
    env = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            env[key.decode(errors="replace")] = value.decode(errors="replace")
    return env


def kill_leftovers(root_dir: str | os.PathLike) -> int:
    """SIGKILL every container process still running from ``root_dir`` (and its shim): what
    a killed kubelet left behind, for whoever cleans up instead of restarting it (tests,
    ``pyk8s up``).  Returns how many runs were killed.  Synchronous; no kubelet may be running
    on ``root_dir``."""
    killed = 0
    for record_path in Path(root_dir).glob("pods/*/containers/*/*.json"):
        record = _read_json(record_path)
        if not record:
            continue
        for pid_key, start_key in (("pid", "pidStartTime"), ("shimPid", "shimStartTime")):
            pid = record.get(pid_key)
            if pid and _alive(pid, record.get(start_key)):
                try:
                    if pid_key == "pid":
                        os.killpg(pid, signal.SIGKILL)
                        killed += 1
                    else:
                        os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
    return killed


def _termination_message(directory: Path, run: ContainerRun) -> str | None:
    """What the run wrote to ``$PYK8S_TERMINATION_MESSAGE_PATH`` (its terminationMessagePath:
    at most 4096 bytes), or with FallbackToLogsOnError and a failure, the end of its log (80
    lines, 2048 bytes), as upstream."""
    try:
        with open(directory / f"{run.attempt}.termination-log", "rb") as handle:
            text = handle.read(_MESSAGE_LIMIT)
    except OSError:
        text = b""
    if not text and run.message_policy == "FallbackToLogsOnError" and run.exit and run.exit.exit_code != 0:
        text = tail_text(run.log_path, _FALLBACK_LINES, _FALLBACK_BYTES)
    return text.decode("utf-8", "replace") if text else None


class ProcessRuntime:
    def __init__(self, root_dir: str | os.PathLike) -> None:
        self.root = Path(root_dir)
        self.pods_dir = self.root / "pods"
        self._watchers: set[asyncio.Task] = set()
        self.live: set[ContainerRun] = set()  # runs started or adopted that have not ended
        self._starting: set[asyncio.Task] = set()

    # -- readiness and layout ------------------------------------------------------------

    def status(self) -> str | None:
        """None when containers can be started, else why not (the node's Ready message)."""
        if not os.path.isfile(SHIM_PATH):
            return f"container runtime is down: the shim {SHIM_PATH} is missing"
        if not os.access(self.pods_dir, os.W_OK):
            return f"container runtime is down: {self.pods_dir} is not writable"
        return None

    def prepare(self) -> None:
        self.pods_dir.mkdir(parents=True, exist_ok=True)

    def pod_dir(self, uid: str) -> Path:
        return self.pods_dir / uid

    def container_dir(self, uid: str, name: str) -> Path:
        return self.pods_dir / uid / "containers" / name

    def log_path(self, uid: str, name: str, attempt: int) -> str:
        return str(self.container_dir(uid, name) / f"{attempt}.log")

    def known_pods(self) -> dict[str, dict[str, Any]]:
        """uid -> pod.json of every pod with state on disk."""
        pods = {}
        if self.pods_dir.is_dir():
            for entry in self.pods_dir.iterdir():
                meta = _read_json(entry / "pod.json")
                if meta is not None:
                    pods[entry.name] = meta
        return pods

    def pod_record(self, uid: str) -> dict[str, Any] | None:
        """The pod.json of one pod, or None when this runtime has no state of it."""
        return _read_json(self.pod_dir(uid) / "pod.json")

    def write_pod_record(self, uid: str, record: dict[str, Any]) -> None:
        directory = self.pod_dir(uid)
        directory.mkdir(parents=True, exist_ok=True)
        temporary = directory / "pod.json.tmp"
        temporary.write_text(json.dumps(record))
        os.replace(temporary, directory / "pod.json")

    def remove_pod(self, uid: str) -> None:
        shutil.rmtree(self.pod_dir(uid), ignore_errors=True)

    # -- runs ----------------------------------------------------------------------------

    async def start(self, uid: str, name: str, attempt: int, spec: LaunchSpec) -> ContainerRun:
        """Start run ``attempt`` of a container; the run comes back with ``exit`` set
        (reason StartError) when the command could not be started.  A caller cancelled
        meanwhile does not stop the start: the run is still tracked (``live``) and stopped
        by ``stop_all``."""
        starting = asyncio.ensure_future(self._start(uid, name, attempt, spec))
        self._starting.add(starting)
        starting.add_done_callback(self._starting.discard)
        return await asyncio.shield(starting)

    async def _start(self, uid: str, name: str, attempt: int, spec: LaunchSpec) -> ContainerRun:
        directory = self.container_dir(uid, name)
        directory.mkdir(parents=True, exist_ok=True)
        self._prune(directory, attempt)
        run = ContainerRun(uid, name, attempt, str(directory / f"{attempt}.log"), message_policy=spec.message_policy)
        env = {**spec.env, "PYK8S_TERMINATION_MESSAGE_PATH": str(directory / f"{attempt}.termination-log")}
        launch = {
            "argv": spec.argv, "env": env, "cwd": spec.cwd, "log": run.log_path, "messagePolicy": spec.message_policy,
            "record": str(directory / f"{attempt}.json"), "exit": str(directory / f"{attempt}.exit"),
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-I", "-S", SHIM_PATH, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL, start_new_session=True,
        )
        process.stdin.write(json.dumps(launch).encode())
        process.stdin.close()
        answer = await process.stdout.readline()
        reply = json.loads(answer) if answer.strip() else {"error": "the container shim failed to start"}
        if "error" in reply:
            await process.wait()
            run.exit = self._exit_record(directory, attempt) or self._unknown_exit(reply["error"], "StartError", 128)
            run.exited.set()
            return run
        self._fill(run, reply)
        self._watch(run, process.wait())
        return run

    def _fill(self, run: ContainerRun, record: dict[str, Any]) -> None:
        run.pid, run.pid_start = record.get("pid"), record.get("pidStartTime")
        run.shim_pid, run.shim_start = record.get("shimPid"), record.get("shimStartTime")
        run.started_at, run.started_ns = record.get("startedAt"), int(record.get("startedAtNs") or 0)
        run.message_policy = record.get("messagePolicy") or "File"

    def _watch(self, run: ContainerRun, shim_exit) -> None:
        self.live.add(run)
        task = asyncio.ensure_future(self._await_exit(run, shim_exit))
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)

    async def _await_exit(self, run: ContainerRun, shim_exit) -> None:
        await shim_exit
        directory = self.container_dir(run.pod_uid, run.name)
        run.exit = self._exit_record(directory, run.attempt) or self._unknown_exit(
            "the container's shim exited without recording how the container ended", "ContainerStatusUnknown", 137,
        )
        if run.exit.started_at is None:
            run.exit.started_at = run.started_at
        if run.exit.message is None:
            run.exit.message = _termination_message(directory, run)
        self.live.discard(run)
        run.exited.set()

    @staticmethod
    def _exit_record(directory: Path, attempt: int) -> ExitRecord | None:
        data = _read_json(directory / f"{attempt}.exit")
        return ExitRecord.from_json(data) if data else None

    @staticmethod
    def _unknown_exit(message: str, reason: str, code: int) -> ExitRecord:
        now = time.time_ns()
        return ExitRecord(exit_code=code, reason=reason, finished_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                          finished_ns=now, message=message)

    def _prune(self, directory: Path, attempt: int) -> None:
        for entry in directory.iterdir():
            match = _RUN_FILE.match(entry.name)
            if match and int(match.group(1)) <= attempt - _KEEP_RUNS:
                entry.unlink(missing_ok=True)

    def recover(self, uid: str) -> dict[str, list[ContainerRun]]:
        """The runs on disk of each of a pod's containers (oldest first); a live run is
        adopted and watched, a run whose processes vanished without an exit record is
        reported as ContainerStatusUnknown."""
        containers_dir = self.pod_dir(uid) / "containers"
        found: dict[str, list[ContainerRun]] = {}
        if not containers_dir.is_dir():
            return found
        for directory in containers_dir.iterdir():
            attempts = sorted({int(m.group(1)) for e in directory.iterdir() if (m := _RUN_FILE.match(e.name))})
            runs = []
            for attempt in attempts[-_KEEP_RUNS:]:
                run = ContainerRun(uid, directory.name, attempt, str(directory / f"{attempt}.log"))
                record = _read_json(directory / f"{attempt}.json")
                if record:
                    self._fill(run, record)
                run.exit = self._exit_record(directory, attempt)
                if run.exit is None:
                    if record and run.shim_pid and _alive(run.shim_pid, run.shim_start):
                        self._watch(run, self._pidfd_exit(run.shim_pid))
                        runs.append(run)
                        continue
                    if run.process_alive():
                        # The shim is gone but the process is not: nothing records it any more.
                        self.kill_group(run, signal.SIGKILL)
                    run.exit = self._unknown_exit(
                        "The container could not be located when the kubelet restarted", "ContainerStatusUnknown", 137,
                    )
                    run.exit.started_at = run.started_at
                run.exited.set()
                runs.append(run)
            if runs:
                found[directory.name] = runs
        return found

    async def _pidfd_exit(self, pid: int) -> None:
        """Wait for a process that is not our child to exit."""
        loop = asyncio.get_running_loop()
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            return
        done = loop.create_future()
        loop.add_reader(pidfd, lambda: done.done() or done.set_result(None))
        try:
            await done
        finally:
            loop.remove_reader(pidfd)
            os.close(pidfd)

    # -- signals -------------------------------------------------------------------------

    def kill_group(self, run: ContainerRun, signum: int) -> bool:
        """Signal the run's process group (only if its first process is still the one we
        started); False if there was nothing to signal."""
        if run.exit is not None or not run.process_alive():
            return False
        try:
            os.killpg(run.pid, signum)
        except ProcessLookupError:
            return False
        except PermissionError as error:
            log.warning("cannot signal container %s (pid %s): %s", run.name, run.pid, error)
            return False
        return True

    async def stop(self, run: ContainerRun, grace: float) -> None:
        """SIGTERM, up to ``grace`` seconds, then SIGKILL; returns once the run has ended."""
        if run.exit is not None:
            return
        self.kill_group(run, signal.SIGTERM)
        try:
            await asyncio.wait_for(run.exited.wait(), max(grace, 0))
            return
        except TimeoutError:
            pass
        await self.kill(run)

    async def kill(self, run: ContainerRun) -> None:
        """SIGKILL the run's process group; returns once the run has ended."""
        if run.exit is not None:
            return
        self.kill_group(run, signal.SIGKILL)
        try:
            await asyncio.wait_for(run.exited.wait(), 10)
        except TimeoutError:
            log.error("container %s (pid %s) did not end after SIGKILL", run.name, run.pid)

    async def stop_all(self, grace: float) -> None:
        """Stop every run still going (those whose pod worker is gone included)."""
        if self._starting:
            await asyncio.wait(set(self._starting))
        await asyncio.gather(*(self.stop(run, grace) for run in list(self.live)))

    async def close(self) -> None:
        """Stop watching (call ``stop_all`` first: the runs themselves are not stopped)."""
        watchers, self._watchers = set(self._watchers), set()
        if watchers:
            await asyncio.wait(watchers, timeout=2)
        for task in watchers:
            task.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
