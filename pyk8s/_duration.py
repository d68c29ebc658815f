"""Go's duration syntax, as Kubernetes flags and annotations write durations: "40s", "5m0s",
"1h2m3.5s", "300ms", or a plain number of seconds."""

from __future__ import annotations

import re

__all__ = ["parse_go_duration"]

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_go_duration(text: str, *, allow_negative: bool = True) -> float:
    """Seconds; raises ValueError for anything else."""
    value = str(text).strip()
    try:
        seconds = float(value)
    except ValueError:
        sign = -1.0 if value.startswith("-") else 1.0
        body = value.lstrip("+-")
        position, total = 0, 0.0
        while position < len(body):
            match = _PART.match(body, position)
            if match is None:
                raise ValueError(f"invalid duration {text!r} (want e.g. 10s, 1m30s, 500ms)") from None
            total += float(match.group(1)) * _UNITS[match.group(2)]
            position = match.end()
        if not body:
            raise ValueError(f"invalid duration {text!r} (want e.g. 10s, 1m30s, 500ms)") from None
        seconds = sign * total
    if seconds < 0 and not allow_negative:
        raise ValueError(f"invalid duration {text!r}: negative")
    return seconds
