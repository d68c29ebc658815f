"""What the native Cluster and its plain-Python twin share: bookkeeping of nodes and
pods, the framework cycle around the kernels, results and upstream's failure message."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._default_selector import DefaultSelector
from ._objects import (
    ParsedNode,
    ParsedPod,
    SchedulingInputError,
    label_selector,
    parse_node,
    PodTemplates,
    parse_pod,
)
from .config import DEFAULT_SCHEDULER_NAME, build_profiles
from .framework import Code, Profile, Registry, Status
from .plugins import FIT_REASONS, REASONS

NO_NODES_MESSAGE = "no nodes available to schedule pods"


@dataclass
class Explanation:
    """Per evaluated node: the failing plugin and its reasons (None, () when feasible).
    Per feasible node: each score plugin's normalized 0..100 score, and the weighted total."""

    filter: dict[str, tuple[str | None, tuple[str, ...]]] = field(default_factory=dict)
    scores: dict[str, dict[str, int]] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)


@dataclass
class ScheduleResult:
    pod: str
    node_name: str | None
    num_all_nodes: int
    evaluated_nodes: int = 0
    feasible_nodes: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # failure text -> node count
    explain: Explanation | None = None
    prefilter_message: str = ""
    # Without a node: the plugins that rejected it (upstream's UnschedulablePlugins), which
    # decide the cluster events that can make it schedulable (queueing_hints.py).
    unschedulable_plugins: frozenset[str] = frozenset()

    @property
    def message(self) -> str:
        """Upstream's FitError text, e.g. "0/3 nodes are available: 1 Insufficient cpu, 2 ..."."""
        if self.node_name is not None:
            return ""
        if self.num_all_nodes == 0:
            return NO_NODES_MESSAGE
        text = f"0/{self.num_all_nodes} nodes are available:"
        if self.prefilter_message:
            return f"{text} {self.prefilter_message}."
        parts = sorted(f"{count} {reason}" for reason, count in self.reasons.items())
        return f"{text} {', '.join(parts)}." if parts else text


@dataclass
class Preemption:
    node_name: str | None
    victims: list[str] = field(default_factory=list)  # namespace/name of pods to delete
    # Without a node: upstream's PostFilter message, e.g. "preemption: 0/3 nodes are
    # available: 1 No preemption victims found for incoming pod, 2 Preemption is not
    # helpful for scheduling" (the caller ends the sentence).
    message: str = ""
    # Every node failed in a way removing pods cannot resolve: upstream then clears the
    # pod's status.nominatedNodeName.
    clear_nomination: bool = False


PREEMPTION_NOT_HELPFUL = "Preemption is not helpful for scheduling"
PREEMPTION_NO_VICTIMS = "No preemption victims found for incoming pod"
PREEMPTION_NEVER = "preemption: not eligible due to preemptionPolicy=Never"


def preemption_failure(num_all_nodes: int, not_helpful: int, no_victims: int, reasons: Mapping[str, int]) -> Preemption:
    """Upstream's FitError of a preemption without candidates: every node counted once, by
    why it cannot host the pod even with lower-priority pods removed."""
    if num_all_nodes == 0:
        return Preemption(None, message=f"preemption: {NO_NODES_MESSAGE}")
    if not (not_helpful or no_victims or reasons):  # the pod fits somewhere: nothing to report
        return Preemption(None)
    counts = dict(reasons)
    for text, count in ((PREEMPTION_NOT_HELPFUL, not_helpful), (PREEMPTION_NO_VICTIMS, no_victims)):
        if count:
            counts[text] = counts.get(text, 0) + count
    parts = sorted(f"{count} {reason}" for reason, count in counts.items())
    return Preemption(None, message=f"preemption: 0/{num_all_nodes} nodes are available: {', '.join(parts)}",
                      clear_nomination=not_helpful == num_all_nodes)


@dataclass
class CycleOutcome:
    result: ScheduleResult
    bound: bool = False
    preemption: Preemption | None = None
    status: Status | None = None


def reason_text(reason: int, fit_bit: int, detail: str | None, detail2: str | None) -> str:
    if reason == 6:
        text = FIT_REASONS[fit_bit]
        return text % detail if fit_bit == 16 else text
    return REASONS[reason]


class ClusterBase:
    """Subclasses implement the kernels: _node_added/_node_updated/_node_removed,
    _pod_added/_pod_removed, _nominated_added/_nominated_removed, _namespace_labels,
    _schedule(parsed, profile, explain), _preempt(parsed, profile)."""

    def __init__(self, config: Mapping | str | None = None, *, seed: int = 0, registry: Registry | None = None,
                 default_spread_selector: Callable[[Mapping], Mapping | None] | None = None):
        """PodTopologySpread's default constraints count pods matching upstream's
        DefaultSelector, built from the Services and ReplicaSets given to ``add_service`` /
        ``add_replica_set`` (the process layer feeds them from its informers).
        ``default_spread_selector(pod) -> labelSelector or None`` replaces that lookup."""
        self.workload_selectors = DefaultSelector()
        self.default_spread_selector = default_spread_selector or self.workload_selectors
        # The process layer's ApiClient (upstream's Handle.ClientSet) for plugins that talk
        # to the API server, e.g. a custom Bind plugin; None in-process.
        self.client = None
        self.profiles: dict[str, Profile] = build_profiles(config, registry=registry, handle=self)
        self.nodes: dict[str, ParsedNode] = {}
        self.pods: dict[str, ParsedPod] = {}
        self.pods_by_node: dict[str, set[str]] = {}
        self.namespace_labels: dict[str, dict] = {}
        # Pods nominated by preemption, not bound yet: key -> (pod, node name).  Those on
        # a known node hold their space there (see add_nominated_pod).
        self.nominated: dict[str, tuple[ParsedPod, str]] = {}
        self.zones: dict[str, list[str]] = {}  # zone key -> node names (upstream's nodeTree)
        self._sequence = 0
        self._last_scheduled: tuple = (None, None)
        self._templates = PodTemplates()
        self.seed(seed)

    # ---- cluster state (informer events) ----------------------------------------------
    def add_node(self, node: Mapping) -> None:
        parsed = parse_node(node)
        if parsed.name in self.nodes:
            return self.update_node(node)
        self.nodes[parsed.name] = parsed
        self.pods_by_node[parsed.name] = set()
        self.zones.setdefault(parsed.zone, []).append(parsed.name)
        self._node_added(parsed)
        for nominated, node_name in self.nominated.values():
            if node_name == parsed.name:
                self._nominated_added(nominated, node_name)

    def update_node(self, node: Mapping) -> None:
        parsed = parse_node(node)
        if parsed.name not in self.nodes:
            return self.add_node(node)
        old_zone = self.nodes[parsed.name].zone
        if old_zone != parsed.zone:
            self._zone_remove(old_zone, parsed.name)
            self.zones.setdefault(parsed.zone, []).append(parsed.name)
        self.nodes[parsed.name] = parsed
        self._node_updated(parsed)

    def remove_node(self, name: str) -> None:
        if name not in self.nodes:
            return
        for key in self.pods_by_node.pop(name):
            del self.pods[key]
        for nominated, node_name in self.nominated.values():
            if node_name == name:
                self._nominated_removed(nominated)
        self._zone_remove(self.nodes[name].zone, name)
        del self.nodes[name]
        self._node_removed(name)

    def _zone_remove(self, zone: str, name: str) -> None:
        self.zones[zone].remove(name)
        if not self.zones[zone]:
            del self.zones[zone]

    def node_order(self) -> list[str]:
        """Upstream's nodeTree.list(): round-robin over zones (in order of first appearance),
        each zone's nodes in insertion order; the order in which nodes are filtered."""
        order, index = [], 0
        while True:
            row = [names[index] for names in self.zones.values() if index < len(names)]
            if not row:
                return order
            order.extend(row)
            index += 1

    def add_pod(self, pod: Mapping) -> None:
        """Account for a bound (or assumed) pod; its spec.nodeName must name a known node."""
        parsed = pod if isinstance(pod, ParsedPod) else self._templates.parse_placed(pod)
        if parsed.node_name not in self.nodes:
            raise SchedulingInputError(f"pod {parsed.key} is on unknown node {parsed.node_name!r}")
        if parsed.key in self.pods:
            self.remove_pod(parsed.key)
        self._sequence += 1
        parsed.sequence = self._sequence
        self.pods[parsed.key] = parsed
        self.pods_by_node[parsed.node_name].add(parsed.key)
        self._pod_added(parsed)

    def remove_pod(self, pod: Mapping | str) -> None:
        key = pod if isinstance(pod, str) else parse_pod(pod).key
        parsed = self.pods.pop(key, None)
        if parsed is None:
            return
        self.pods_by_node[parsed.node_name].discard(key)
        self._pod_removed(parsed)

    def add_nominated_pod(self, pod: Mapping, node_name: str) -> None:
        """Upstream's nominator: a pod preemption nominated to a node (status.nominatedNodeName)
        counts there, while it waits for its victims to go, when pods of no higher priority
        are filtered (not when it is scheduled itself).  Its requests, host ports and pod
        slot are what it holds.  A nomination to a node not known yet applies once the
        node is added."""
        parsed = parse_pod(pod)
        self.remove_nominated_pod(parsed.key)
        self.nominated[parsed.key] = (parsed, node_name)
        if node_name in self.nodes:
            self._nominated_added(parsed, node_name)

    def remove_nominated_pod(self, key: str) -> None:
        """The pod was bound (or assumed), deleted, or lost its nomination."""
        entry = self.nominated.pop(key, None)
        if entry is not None and entry[1] in self.nodes:
            self._nominated_removed(entry[0])

    def set_namespace_labels(self, namespace: str, labels: Mapping[str, str]) -> None:
        self.namespace_labels[namespace] = dict(labels)
        self._namespace_labels(namespace, dict(labels))

    def add_service(self, service: Mapping) -> None:
        """A Service (added or updated): its spec.selector joins the default spreading
        selector of the pods it selects."""
        self.workload_selectors.set_service(service)

    def remove_service(self, service: Mapping) -> None:
        self.workload_selectors.remove_service(service)

    def add_replica_set(self, replica_set: Mapping) -> None:
        """A ReplicaSet (added or updated): its spec.selector joins the default spreading
        selector of the pods it controls."""
        self.workload_selectors.set_replica_set(replica_set)

    def remove_replica_set(self, replica_set: Mapping) -> None:
        self.workload_selectors.remove_replica_set(replica_set)

    # ---- scheduling ---------------------------------------------------------------------
    def profile_for(self, pod: Mapping) -> Profile:
        name = (pod.get("spec") or {}).get("schedulerName") or DEFAULT_SCHEDULER_NAME
        try:
            return self.profiles[name]
        except KeyError:
            raise SchedulingInputError(f"no profile for schedulerName {name!r}") from None

    def schedule_one(self, pod: Mapping, *, explain: bool = False, profile: Profile | None = None) -> ScheduleResult:
        """Run PreFilter, Filter and Score for one pod and choose a node; changes nothing.
        ``profile``: ``profile_for(pod)``, when the caller has it already."""
        if profile is None:
            profile = self.profile_for(pod)
        parsed = self._with_default_spreading(self._templates.parse(pod), pod, profile)
        self._last_scheduled = (pod, parsed)
        pre_filters = profile.python_pre_filters
        if pre_filters:  # (none in the default profiles: no state dict per pod then)
            state: dict = {}
            for plugin in pre_filters:
                status = plugin.pre_filter(state, pod)
                if status.code in (Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE, Code.ERROR):
                    return ScheduleResult(parsed.key, None, len(self.nodes), prefilter_message="; ".join(status.reasons),
                                          unschedulable_plugins=frozenset((status.plugin or plugin.NAME,)))
        return self._schedule(parsed, profile, explain)

    def preempt(self, pod: Mapping) -> Preemption:
        """DefaultPreemption's choice for a pod that fits nowhere: (node, victims)."""
        profile = self.profile_for(pod)
        return self._preempt(self._with_default_spreading(self._templates.parse(pod), pod, profile), profile)

    def _with_default_spreading(self, parsed: ParsedPod, pod: Mapping, profile: Profile) -> ParsedPod:
        """PodTopologySpread's default constraints (upstream's buildDefaultConstraints) for a
        pod that has none of its own: the profile's defaultConstraints, each counting the
        pods that match the pod's DefaultSelector."""
        if parsed.spread_constraints:
            return parsed
        args = profile.plugin_args.get("PodTopologySpread")
        if args is None or not args["defaultConstraints"]:
            return parsed
        found = self.default_spread_selector(pod)
        selector = label_selector(found) if found is not None else None
        if not selector:  # no Service or owner selects the pod: upstream adds nothing
            return parsed
        # The constraints now differ from the template's: compile this pod on its own.
        parsed.template = None
        parsed.native = None
        parsed.spread_constraints = tuple(
            (c["maxSkew"], c["topologyKey"], c["whenUnsatisfiable"], selector,
             c.get("minDomains", 1) if c["whenUnsatisfiable"] == "DoNotSchedule" else 1,
             c.get("nodeAffinityPolicy", "Honor") == "Honor", c.get("nodeTaintsPolicy", "Ignore") == "Honor")
            for c in args["defaultConstraints"])
        # System defaults keep nodes without a zone label in the Score (upstream's
        # requireAllTopologies is false only for system-defaulted constraints).
        parsed.require_all_topologies = args["defaultingType"] != "System"
        return parsed

    def bind(self, pod: Mapping, node_name: str) -> None:
        """In-process binding: assume the pod onto the node (the process layer replaces
        this with a pods/binding call)."""
        last_pod, parsed = self._last_scheduled
        if last_pod is pod:  # the pod just scheduled: reuse its parsed (and compiled) form
            self._last_scheduled = (None, None)  # owned by the cluster from here on
            parsed.node_name = node_name
            return self.add_pod(parsed)
        bound = dict(pod)
        bound["spec"] = dict(pod.get("spec") or {}, nodeName=node_name)
        self.add_pod(bound)

    def run_cycle(self, pod: Mapping) -> CycleOutcome:
        """schedule_one, then PostFilter on failure, or Reserve and Bind on success."""
        profile = self.profile_for(pod)
        result = self.schedule_one(pod)
        state: dict = {}
        if result.node_name is None:
            for plugin in profile.plugins["postFilter"]:
                status, nomination = plugin.post_filter(state, pod, result)
                if status.ok:
                    return CycleOutcome(result, preemption=nomination, status=status)
            return CycleOutcome(result)
        reserved = []
        for plugin in profile.plugins["reserve"]:
            status = plugin.reserve(state, pod, result.node_name)
            if not status.ok:
                for done in reversed(reserved):
                    done.unreserve(state, pod, result.node_name)
                return CycleOutcome(result, status=status)
            reserved.append(plugin)
        for plugin in profile.plugins["bind"]:
            status = plugin.bind(state, pod, result.node_name)
            if status.code != Code.SKIP:
                return CycleOutcome(result, bound=status.ok, status=status)
        return CycleOutcome(result)

    # ---- profile settings the kernels read ----------------------------------------------
    @staticmethod
    def kernel_settings(profile: Profile) -> dict[str, Any]:
        fit = profile.plugin_args.get("NodeResourcesFit", {}).get("scoringStrategy") or {
            "type": "LeastAllocated", "resources": [{"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1}]}
        balanced = profile.plugin_args.get("NodeResourcesBalancedAllocation", {}).get("resources") or [
            {"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1}]
        inter = profile.plugin_args.get("InterPodAffinity", {})
        shape = [(p["utilization"], p["score"] * 10) for p in (fit.get("requestedToCapacityRatio") or {}).get("shape", ())]
        return {
            "filters": profile.names("filter"),
            "scores": [(name, profile.score_weights[name]) for name in profile.names("score")],
            "fit_strategy": fit["type"],
            "fit_resources": [(r["name"], r["weight"]) for r in fit["resources"]],
            "shape": shape,
            "balanced_resources": [(r["name"], r["weight"]) for r in balanced],
            "percentage": profile.percentage_of_nodes_to_score,
            "hard_pod_affinity_weight": inter.get("hardPodAffinityWeight", 1),
            "ignore_preferred_terms_of_existing_pods": inter.get("ignorePreferredTermsOfExistingPods", False),
        }
