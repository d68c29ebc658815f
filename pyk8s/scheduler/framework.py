"""The scheduling framework: one small interface per extension point, a name->factory
registry, and profile construction with validation (upstream's framework/runtime).

Filter and Score kernels run natively over every candidate node (csrc/sched); a plugin
takes part in them by naming its kernel in ``native_kernel``.  Plugins at the per-pod
extension points (PreFilter, PostFilter, Reserve, Bind) are plain Python.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


class Code(enum.Enum):
    """Status codes a plugin may return (upstream's framework.Code)."""

    SUCCESS = "Success"
    ERROR = "Error"
    UNSCHEDULABLE = "Unschedulable"
    UNSCHEDULABLE_AND_UNRESOLVABLE = "UnschedulableAndUnresolvable"
    SKIP = "Skip"


@dataclass(frozen=True)
class Status:
    code: Code = Code.SUCCESS
    reasons: tuple[str, ...] = ()
    plugin: str = ""

    @property
    def ok(self) -> bool:
        return self.code in (Code.SUCCESS, Code.SKIP)


SUCCESS = Status()


class Plugin:
    """Every plugin has a constant NAME; ``native_kernel`` names the csrc/sched kernel that
    implements its Filter/Score for built-ins (None for pure-Python plugins)."""

    NAME: str = ""
    native_kernel: str | None = None


class PreFilterPlugin(Plugin):
    def pre_filter(self, state: dict, pod: dict) -> Status:
        """Called once per pod before any Filter.  May return UNSCHEDULABLE(_AND_UNRESOLVABLE)
        to stop the cycle (its reasons become the whole failure message) or SKIP.  Must not
        assume the pod is scheduled afterwards; may be called again for the same pod."""
        raise NotImplementedError


class FilterPlugin(Plugin):
    """Filter runs per node: only native kernels may implement it (no Python loop over
    nodes).  A native Filter returns one constant reason per failing node."""


class PostFilterPlugin(Plugin):
    def post_filter(self, state: dict, pod: dict, result: Any) -> tuple[Status, Any]:
        """Called only when no node is feasible, with the failed ScheduleResult.  Returns
        SUCCESS with a nomination (e.g. Preemption) or UNSCHEDULABLE."""
        raise NotImplementedError


class PreScorePlugin(Plugin):
    """Per-pod state for Score; native for the built-ins (part of their kernels)."""


class ScorePlugin(Plugin):
    """Score (0..100 after NormalizeScore) runs per feasible node: native kernels only."""

    default_weight: int = 1


class ReservePlugin(Plugin):
    def reserve(self, state: dict, pod: dict, node_name: str) -> Status:
        """Called after a node is chosen, before binding; unreserve must undo it."""
        raise NotImplementedError

    def unreserve(self, state: dict, pod: dict, node_name: str) -> None:
        """Called when a later step fails; must be idempotent."""


class BindPlugin(Plugin):
    def bind(self, state: dict, pod: dict, node_name: str) -> Status:
        """Bind the pod; returning SKIP hands the pod to the next binder.  UNSCHEDULABLE
        sends the pod back to wait for a cluster event, ERROR to back-off; either way the
        pod is taken off the node and Reserve undone.  In the scheduler process it runs in
        the binding cycle and may return an awaitable of the Status (the process's API
        client is ``handle.client``); ``Cluster.run_cycle`` needs the Status itself."""
        raise NotImplementedError


EXTENSION_POINTS: Mapping[str, type] = {
    "preFilter": PreFilterPlugin,
    "filter": FilterPlugin,
    "postFilter": PostFilterPlugin,
    "preScore": PreScorePlugin,
    "score": ScorePlugin,
    "reserve": ReservePlugin,
    "bind": BindPlugin,
}

Factory = Callable[[Mapping[str, Any], Any], Plugin]


class Registry(dict):
    """name -> factory(args, handle).  Registering a name twice is an error."""

    def register(self, name: str, factory: Factory) -> None:
        if name in self:
            raise ValueError(f"a plugin named {name!r} already exists")
        self[name] = factory


class ProfileError(ValueError):
    """The scheduler configuration is invalid (raised at construction)."""


@dataclass
class Profile:
    scheduler_name: str
    plugins: dict[str, list[Plugin]] = field(default_factory=dict)  # extension point -> ordered
    score_weights: dict[str, int] = field(default_factory=dict)
    plugin_args: dict[str, dict] = field(default_factory=dict)
    percentage_of_nodes_to_score: int = 0

    def names(self, point: str) -> list[str]:
        return [p.NAME for p in self.plugins.get(point, ())]

    @functools.cached_property
    def python_pre_filters(self) -> list[Plugin]:
        """PreFilter plugins run in Python (the built-ins' PreFilter is part of their kernel).
        Computed on first use (the profile's plugins are complete by then); later reads find
        it in the instance, without a call."""
        return [p for p in self.plugins.get("preFilter", ()) if p.native_kernel is None]
