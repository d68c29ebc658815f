"""The container shim: one small process per container run, as containerd-shim and conmon are.

``python -I -S shim.py`` reads a JSON launch spec on stdin (argv, env, cwd, and the paths of
the run's log, launch record and exit record), then:

1. starts the command in its own session and process group, with stdin from /dev/null and
   PR_SET_PDEATHSIG so it cannot outlive the shim;
2. writes the launch record (the shim's and the container's pid and /proc start time, and
   ``startedAt``) and answers one JSON line on stdout, which it then closes;
3. copies the container's stdout and stderr into the log file in the CRI format
   (``<RFC 3339 nano time> <stdout|stderr> <F|P> <text>``, a ``P`` record for each 16 KiB
   piece of a longer line), so a restarted kubelet loses no output;
4. when the command exits, kills what is left of its process group (as a container's pid
   namespace dies with its first process), drains the pipes and writes the exit record
   (exit code, or 128+signal, ``finishedAt``) before exiting.

A command that cannot be started gets an exit record with reason ``StartError`` and exit
code 128 (what containerd reports).  The shim ignores SIGINT, SIGTERM and SIGHUP: only the
kubelet decides when a container stops, by signalling the container's process group.

Only the standard library is used, and the file runs as a script, so starting it costs one
bare interpreter start.
"""

from __future__ import annotations

import ctypes
import json
import os
import selectors
import signal
import subprocess
import sys
import time

_MAX_LINE = 16 * 1024  # containerd's maximum log line before it is split into partial records
_DRAIN_SECONDS = 1.0  # how long pipes held open by an escaped grandchild are still read
_PR_SET_PDEATHSIG = 1


def nano_time(ns: int | None = None) -> str:
    ns = time.time_ns() if ns is None else ns
    seconds, fraction = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{fraction:09d}Z"


def rfc3339(ns: int | None = None) -> str:
    seconds = (time.time_ns() if ns is None else ns) // 1_000_000_000
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def proc_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22): with
    the pid it names one process for good, whatever reuse of pids follows."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2:].split()
    return int(fields[19]) if len(fields) > 19 else None


def write_json(path: str, value: dict) -> None:
    temporary = f"{path}.tmp"
    with open(temporary, "w") as handle:
        json.dump(value, handle)
    os.replace(temporary, path)


class LogWriter:
    """CRI log records from one stream's bytes."""

    def __init__(self, fd: int, stream: str) -> None:
        self.fd = fd
        self.stream = stream.encode()
        self.pending = b""

    def feed(self, data: bytes) -> None:
        self.pending += data
        records = []
        while True:
            cut = self.pending.find(b"\n")
            if cut < 0 or cut > _MAX_LINE:
                if len(self.pending) < _MAX_LINE:
                    break
                records.append(self._record(b"P", self.pending[:_MAX_LINE]))
                self.pending = self.pending[_MAX_LINE:]
                continue
            records.append(self._record(b"F", self.pending[:cut]))
            self.pending = self.pending[cut + 1:]
        if records:
            os.write(self.fd, b"".join(records))

    def close(self) -> None:
        if self.pending:
            os.write(self.fd, self._record(b"F", self.pending))
            self.pending = b""

    def _record(self, tag: bytes, text: bytes) -> bytes:
        return b"%s %s %s %s\n" % (nano_time().encode(), self.stream, tag, text)


def _die_with_shim(shim_pid: int):
    libc = ctypes.CDLL(None, use_errno=True)

    def prepare() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != shim_pid:  # the shim died before prctl took effect
            os._exit(137)

    return prepare


def _start_error(exc: OSError, argv: list[str], cwd: str) -> str:
    if exc.filename == cwd and cwd:
        return f'chdir to cwd ("{cwd}") failed: {exc.strerror}'
    if isinstance(exc, FileNotFoundError) and "/" not in argv[0]:
        return f'exec: "{argv[0]}": executable file not found in $PATH'
    return f'exec: "{argv[0]}": {exc.strerror or exc}'


def _answer(reply: dict) -> None:
    os.write(1, (json.dumps(reply) + "\n").encode())
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


def _ignore(signum, frame) -> None:
    pass


def main() -> int:
    # Caught, not ignored: an ignored signal would stay ignored in the container after exec.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _ignore)
    # Whatever the kubelet's event loop let us inherit (uvloop passes its socketpairs on) is
    # closed: a descriptor of the kubelet's kept open here would hide this shim's exit.
    os.closerange(3, max(os.sysconf("SC_OPEN_MAX"), 1 << 16))
    spec = json.loads(sys.stdin.buffer.read())
    argv, cwd = spec["argv"], spec["cwd"]
    log_fd = os.open(spec["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    started_ns = time.time_ns()
    try:
        child = subprocess.Popen(
            argv, env=spec["env"], cwd=cwd, stdin=subprocess.DEVNULL, stdout=out_write, stderr=err_write,
            start_new_session=True, preexec_fn=_die_with_shim(os.getpid()),
        )
    except OSError as exc:
        message = _start_error(exc, argv, cwd)
        now = rfc3339()
        write_json(spec["exit"], {"exitCode": 128, "reason": "StartError", "message": message,
                                  "startedAt": None, "finishedAt": now, "finishedAtNs": time.time_ns()})
        _answer({"error": message})
        return 0
    os.close(out_write)
    os.close(err_write)
    record = {
        "shimPid": os.getpid(), "shimStartTime": proc_start_time(os.getpid()), "pid": child.pid,
        "pidStartTime": proc_start_time(child.pid), "startedAt": rfc3339(started_ns), "startedAtNs": started_ns,
        "messagePolicy": spec.get("messagePolicy", "File"),
    }
    write_json(spec["record"], record)
    _answer(record)
    code = _pump(child, {out_read: LogWriter(log_fd, "stdout"), err_read: LogWriter(log_fd, "stderr")})
    finished_ns = time.time_ns()
    exit_record = {"exitCode": code if code >= 0 else 128 - code, "reason": "Completed" if code == 0 else "Error",
                   "startedAt": record["startedAt"], "finishedAt": rfc3339(finished_ns), "finishedAtNs": finished_ns}
    if code < 0:
        exit_record["signal"] = -code
    write_json(spec["exit"], exit_record)
    return 0


def _pump(child: subprocess.Popen, writers: dict[int, LogWriter]) -> int:
    """Copy output until the child exits (and its pipes drain); the child's wait status as
    Popen.returncode has it (negative: killed by that signal)."""
    selector = selectors.DefaultSelector()
    for fd in writers:
        selector.register(fd, selectors.EVENT_READ)
    try:
        pidfd = os.pidfd_open(child.pid)
        selector.register(pidfd, selectors.EVENT_READ)
    except (AttributeError, OSError):
        pidfd = None
    open_fds = set(writers)
    drain_deadline = None
    while open_fds:
        timeout = None if pidfd is not None else 0.1
        if drain_deadline is not None:
            timeout = max(drain_deadline - time.monotonic(), 0)
            if timeout == 0:
                break
        for key, _ in selector.select(timeout):
            fd = key.fd
            if fd == pidfd:
                continue
            data = os.read(fd, 65536)
            if data:
                writers[fd].feed(data)
            else:
                selector.unregister(fd)
                open_fds.discard(fd)
        if drain_deadline is None and child.poll() is not None:
            _kill_group(child.pid)
            drain_deadline = time.monotonic() + _DRAIN_SECONDS
            if pidfd is not None:
                selector.unregister(pidfd)
                os.close(pidfd)
                pidfd = None
    for writer in writers.values():
        writer.close()
    code = child.wait()
    _kill_group(child.pid)
    return code


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main())
