"""Reading container logs written in the CRI format (pkg/kubelet/kuberuntime/logs).

Each record is ``<RFC 3339 nano time> <stdout|stderr> <F|P> <text>``; a ``P`` (partial)
record's text continues in the next one, an ``F`` record ends a line.  ``LogOptions`` are the
kubelet's: ``tailLines`` (last N records), ``sinceSeconds``/``sinceTime`` (records at or after
the time), ``timestamps`` (each line prefixed with its time), ``limitBytes`` (stop after that
many bytes of output) and ``follow`` (keep reading what is appended until the run ends).
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import os
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

__all__ = ["LogOptions", "parse_record", "read_log", "parse_time", "tail_text"]

_BLOCK = 65536
_FOLLOW_POLL = 0.1


@dataclass
class LogOptions:
    follow: bool = False
    previous: bool = False
    timestamps: bool = False
    tail_lines: int | None = None
    since: float | None = None  # epoch seconds: records before it are skipped
    limit_bytes: int | None = None


def parse_time(text: str) -> float | None:
    """Epoch seconds of an RFC 3339 time (any number of fractional digits)."""
    try:
        head, _, rest = text.partition(".")
        if rest:
            digits = rest.rstrip("Z")
            zone = rest[len(digits):]
            base = dt.datetime.fromisoformat(head + ("+00:00" if zone == "Z" or not zone else zone))
            return base.timestamp() + float("0." + (digits or "0"))
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def parse_record(line: bytes) -> tuple[bytes, bytes, bool, bytes] | None:
    """(time, stream, partial, text) of one record (without its newline), or None."""
    parts = line.split(b" ", 3)
    if len(parts) < 3:
        return None
    if len(parts) == 3:
        parts.append(b"")
    time_text, stream, tag, text = parts
    return time_text, stream, tag == b"P", text


def _records(data: bytes) -> Iterator[bytes]:
    for line in data.split(b"\n"):
        if line:
            yield line


def _render(record: tuple[bytes, bytes, bool, bytes], timestamps: bool) -> bytes:
    time_text, _, partial, text = record
    out = time_text + b" " + text if timestamps else text
    return out if partial else out + b"\n"


class _Limiter:
    def __init__(self, limit: int | None) -> None:
        self.remaining = limit

    def cut(self, data: bytes) -> tuple[bytes, bool]:
        """(what may still be written, whether the limit is now reached)."""
        if self.remaining is None:
            return data, False
        data = data[: self.remaining]
        self.remaining -= len(data)
        return data, self.remaining <= 0


def _tail_start(handle, lines: int, size: int) -> int:
    """The offset of the last ``lines`` records of a file of ``size`` bytes."""
    if lines <= 0:
        return size
    position = size
    found = 0
    while position > 0:
        step = min(_BLOCK, position)
        position -= step
        handle.seek(position)
        block = handle.read(step)
        # The file's final newline ends the last record; it does not start one.
        end = len(block) - 1 if position + step == size else len(block)
        index = end
        while True:
            index = block.rfind(b"\n", 0, index)
            if index < 0:
                break
            found += 1
            if found >= lines:
                return position + index + 1
    return 0


async def read_log(
    path: str, options: LogOptions, write: Callable[[bytes], Awaitable[None]], finished: Callable[[], bool],
) -> None:
    """Write the selected part of the log at ``path`` through ``write``; with ``follow``,
    keep going until ``finished()`` (the run ended) and everything it wrote was sent."""
    limiter = _Limiter(options.limit_bytes)
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        return
    with handle:
        size = os.fstat(handle.fileno()).st_size
        tail = options.tail_lines
        if tail is not None and options.since is None:
            handle.seek(_tail_start(handle, tail, size))
            tail = None
        data = handle.read(size - handle.tell())
        cut = data.rfind(b"\n") + 1
        pending = data[cut:]
        selected = []
        for line in _records(data[:cut]):
            record = parse_record(line)
            if record is None:
                continue
            if options.since is not None:
                moment = parse_time(record[0].decode())
                if moment is not None and moment < options.since:
                    continue
            selected.append(record)
        if tail is not None:
            selected = list(collections.deque(selected, maxlen=tail)) if tail > 0 else []
        if selected:
            chunk, done = limiter.cut(b"".join(_render(r, options.timestamps) for r in selected))
            if chunk:
                await write(chunk)
            if done:
                return
        if not options.follow:
            return
        while True:
            ended = finished()
            data = handle.read()
            if data:
                data = pending + data
                cut = data.rfind(b"\n") + 1
                pending = data[cut:]
                rendered = [_render(r, options.timestamps) for line in _records(data[:cut]) if (r := parse_record(line))]
                if rendered:
                    chunk, done = limiter.cut(b"".join(rendered))
                    if chunk:
                        await write(chunk)
                    if done:
                        return
                continue
            if ended:
                return
            await asyncio.sleep(_FOLLOW_POLL)


def tail_text(path: str, lines: int, limit: int) -> bytes:
    """The text of the last ``lines`` records, at most the last ``limit`` bytes of it."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            handle.seek(_tail_start(handle, lines, size))
            data = handle.read()
    except OSError:
        return b""
    text = b"".join(_render(r, False) for line in _records(data) if (r := parse_record(line)))
    return text[-limit:]
