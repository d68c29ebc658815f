"""Built-in plugins: upstream's names, extension points, default weights and args.  Their
Filter/Score work is done by the native kernels in csrc/sched (see ``native_kernel``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .framework import (
    SUCCESS,
    BindPlugin,
    Code,
    FilterPlugin,
    PostFilterPlugin,
    PreFilterPlugin,
    PreScorePlugin,
    Registry,
    ScorePlugin,
    Status,
)

# Kernel ids shared with csrc/sched/scheduler.h (enum Plugin).
KERNEL_IDS = {
    "NodeUnschedulable": 0,
    "NodeName": 1,
    "TaintToleration": 2,
    "NodeAffinity": 3,
    "NodePorts": 4,
    "NodeResourcesFit": 5,
    "PodTopologySpread": 6,
    "InterPodAffinity": 7,
    "NodeResourcesBalancedAllocation": 8,
    "ImageLocality": 9,
}
KERNEL_NAMES = {v: k for k, v in KERNEL_IDS.items()}

# Reason codes shared with csrc/sched/scheduler.h (enum Reason): upstream's texts.
REASONS = {
    1: "node(s) were unschedulable",
    2: "node(s) didn't match the requested node name",
    3: "node(s) had untolerated taint(s)",  # upstream logs the taint, the message names none
    4: "node(s) didn't match Pod's node affinity/selector",
    5: "node(s) didn't have free ports for the requested pod ports",
    6: None,  # NodeResourcesFit: one text per insufficient resource (FIT_REASONS)
    7: "node(s) didn't match pod topology spread constraints (missing required label)",
    8: "node(s) didn't match pod topology spread constraints",
    9: "node(s) didn't match pod affinity rules",
    10: "node(s) didn't match pod anti-affinity rules",
    11: "node(s) didn't satisfy existing pods anti-affinity rules",
}
FIT_REASONS = {1: "Too many pods", 2: "Insufficient cpu", 4: "Insufficient memory", 8: "Insufficient ephemeral-storage", 16: "Insufficient %s"}
# Failures preemption cannot resolve (upstream's UnschedulableAndUnresolvable).
UNRESOLVABLE_REASONS = frozenset({1, 2, 3, 4, 7, 9})


class _Native:
    def __init__(self, args: Mapping[str, Any] | None = None, handle: Any = None):
        self.args = dict(args or {})
        self.handle = handle


def _native(name: str, bases: tuple, weight: int = 1):
    attrs = {"NAME": name, "native_kernel": name, "default_weight": weight}
    if PreFilterPlugin in bases:
        # The native PreFilter state is built inside the kernel call; nothing to do here.
        attrs["pre_filter"] = lambda self, state, pod: SUCCESS
    return type(name, (_Native,) + bases, attrs)


NodeUnschedulable = _native("NodeUnschedulable", (FilterPlugin,))
NodeName = _native("NodeName", (FilterPlugin,))
TaintToleration = _native("TaintToleration", (FilterPlugin, PreScorePlugin, ScorePlugin), 3)
NodeAffinity = _native("NodeAffinity", (PreFilterPlugin, FilterPlugin, PreScorePlugin, ScorePlugin), 2)
NodePorts = _native("NodePorts", (PreFilterPlugin, FilterPlugin))
NodeResourcesFit = _native("NodeResourcesFit", (PreFilterPlugin, FilterPlugin, PreScorePlugin, ScorePlugin), 1)
PodTopologySpread = _native("PodTopologySpread", (PreFilterPlugin, FilterPlugin, PreScorePlugin, ScorePlugin), 2)
InterPodAffinity = _native("InterPodAffinity", (PreFilterPlugin, FilterPlugin, PreScorePlugin, ScorePlugin), 2)
NodeResourcesBalancedAllocation = _native("NodeResourcesBalancedAllocation", (PreScorePlugin, ScorePlugin), 1)
ImageLocality = _native("ImageLocality", (ScorePlugin,), 1)


class PrioritySort(_Native):
    """QueueSort: higher priority first, then earlier creation (the queue lives in the
    process layer; this is its ordering key)."""

    NAME = "PrioritySort"
    native_kernel = None

    @staticmethod
    def sort_key(pod: dict) -> tuple:
        meta = pod.get("metadata") or {}
        return (-int((pod.get("spec") or {}).get("priority") or 0), meta.get("creationTimestamp") or "")


class DefaultPreemption(_Native, PostFilterPlugin):
    """Picks victims with the core's dry run; the process layer deletes them and sets
    status.nominatedNodeName."""

    NAME = "DefaultPreemption"
    native_kernel = None

    def post_filter(self, state, pod, result):
        preemption = self.handle.preempt(pod)
        if preemption.node_name is None:
            reasons = (preemption.message,) if preemption.message else ()
            return Status(Code.UNSCHEDULABLE, reasons, self.NAME), preemption
        return SUCCESS, preemption


class DefaultBinder(_Native, BindPlugin):
    """Binds through the handle's ``bind`` callable (the process layer posts
    pods/{name}/binding; in-process, the Cluster assumes the pod onto the node)."""

    NAME = "DefaultBinder"
    native_kernel = None

    def bind(self, state, pod, node_name):
        self.handle.bind(pod, node_name)
        return SUCCESS


BUILTIN_PLUGINS = (
    PrioritySort, NodeUnschedulable, NodeName, TaintToleration, NodeAffinity, NodePorts, NodeResourcesFit,
    PodTopologySpread, InterPodAffinity, DefaultPreemption, NodeResourcesBalancedAllocation, ImageLocality,
    DefaultBinder,
)


def default_registry() -> Registry:
    registry = Registry()
    for plugin in BUILTIN_PLUGINS:
        registry.register(plugin.NAME, plugin)
    return registry


# Upstream's default multiPoint list (v1), in order, with score weights.
DEFAULT_MULTIPOINT = tuple((p.NAME, getattr(p, "default_weight", 0) if issubclass(p, ScorePlugin) else 0) for p in BUILTIN_PLUGINS)
