"""What the component commands share: upstream's flag value syntax (Go durations such as
``40s`` / ``5m0s``, kube-style booleans) and the event loop they run on."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from pyk8s._duration import parse_go_duration

__all__ = ["loop_factory", "parse_bool", "parse_duration", "parse_nonnegative_duration"]

_TRUE = {"true", "1", "yes", "t"}
_FALSE = {"false", "0", "no", "f"}


def parse_duration(text: str) -> float:
    """Seconds from a Go duration ("40s", "5m0s", "-1s") or a plain number of seconds."""
    try:
        return parse_go_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def parse_nonnegative_duration(text: str) -> float:
    try:
        return parse_go_duration(text, allow_negative=False)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def parse_bool(text: str) -> bool:
    """kube-style booleans: ``--leader-elect=false``."""
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {text!r}")


def loop_factory() -> Callable[[], Any] | None:
    """uvloop when installed, as the API server runs: the components are mostly HTTP and JSON."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return None
    return uvloop.new_event_loop
