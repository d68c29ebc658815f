"""The plain-Python twin of csrc/sched: the same cycle, Filter kernels and preemption
over ParsedNode/ParsedPod with strings, written for obviousness.  It is the test oracle
(property tests require identical feasible sets, scores and choices) and the Python
baseline of benchmarks/sched_algorithm.py.  Score kernels: reference_score.py."""

from __future__ import annotations

from ._base import (
    PREEMPTION_NEVER,
    ClusterBase,
    Explanation,
    Preemption,
    ScheduleResult,
    preemption_failure,
)
from ._objects import UNSCHEDULABLE_TAINT_KEY, ParsedNode, ParsedPod, label_int
from .framework import Profile
from .plugins import FIT_REASONS, REASONS, UNRESOLVABLE_REASONS
from .reference_score import SCORERS

MASK = (1 << 64) - 1
INT32_MAX = 2**31 - 1
_REASON_CODES = {text: code for code, text in REASONS.items() if text}


# ---- matching --------------------------------------------------------------------------
def requirement_matches(requirement, labels: dict) -> bool:
    key, op, values, number = requirement
    value = labels.get(key)
    if op == "In":
        return value is not None and value in values
    if op == "NotIn":
        return value is None or value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    n = label_int(value) if value is not None else None
    if n is None:
        return False
    return n > number if op == "Gt" else n < number


def selector_matches(selector, labels: dict) -> bool:
    return selector is not None and all(requirement_matches(r, labels) for r in selector)


def node_term_matches(term, node: ParsedNode) -> bool:
    expressions, fields = term
    if not expressions and not fields:
        return False
    return all(requirement_matches(r, node.labels) for r in expressions) and all(
        (node.name in values) == (op == "In") for op, values in fields)


def tolerates(toleration, taint) -> bool:
    t_key, exists, t_value, t_effect = toleration
    key, value, effect = taint
    if t_effect and t_effect != effect:
        return False
    if t_key and t_key != key:
        return False
    return exists or t_value == value


def untolerated_taint(node: ParsedNode, tolerations):
    for taint in node.taints:
        if taint[2] in ("NoSchedule", "NoExecute") and not any(tolerates(t, taint) for t in tolerations):
            return taint
    return None


def required_node_affinity(pod: ParsedPod, node: ParsedNode) -> bool:
    if any(node.labels.get(k) != v for k, v in pod.node_selector.items()):
        return False
    return pod.required_node_terms is None or any(node_term_matches(t, node) for t in pod.required_node_terms)


def ports_conflict(a, b) -> bool:
    return a[2] == b[2] and a[1] == b[1] and (not a[0] or not b[0] or a[0] == b[0])


class ReferenceCluster(ClusterBase):
    """Same API and same decisions as Cluster, in plain Python."""

    def seed(self, seed: int) -> None:
        self._rng = seed & MASK
        self._next_start = 0

    @property
    def next_start_index(self) -> int:
        return self._next_start

    def random_below(self, n: int) -> int:
        """splitmix64, as csrc/sched/scheduler.cpp."""
        self._rng = (self._rng + 0x9E3779B97F4A7C15) & MASK
        z = self._rng
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return (z ^ (z >> 31)) % n

    def _node_added(self, node): pass
    def _node_updated(self, node): pass
    def _node_removed(self, name): pass
    def _pod_added(self, pod): pass
    def _pod_removed(self, pod): pass
    def _namespace_labels(self, namespace, labels): pass
    def _nominated_added(self, pod, node_name): pass
    def _nominated_removed(self, pod): pass

    def node_pods(self, name: str):
        return [self.pods[k] for k in self.pods_by_node[name]]

    def nominated_against(self, pod: ParsedPod, node_name: str) -> list[ParsedPod]:
        """Nominated pods that hold their space on the node against this pod: priority at
        least the pod's, and not the pod itself (upstream's addNominatedPods)."""
        return [p for p, name in self.nominated.values()
                if name == node_name and p.priority >= pod.priority and p.key != pod.key]

    def term_matches(self, term, target: ParsedPod) -> bool:
        selector, namespaces, ns_selector, _key, _weight = term
        in_namespace = target.namespace in namespaces or (
            ns_selector is not None and selector_matches(ns_selector, self.namespace_labels.get(target.namespace, {})))
        return in_namespace and selector_matches(selector, target.labels)

    def count_matching(self, selector, namespace: str, node_name: str) -> int:
        if selector is not None and len(selector) == 0:
            return 0  # upstream: an empty selector counts nothing
        return sum(1 for p in self.node_pods(node_name)
                   if not p.terminating and p.namespace == namespace and selector_matches(selector, p.labels))

    def spread_eligible(self, pod: ParsedPod, constraint, node: ParsedNode) -> bool:
        _skew, _key, _when, _sel, _min, honor_affinity, honor_taints = constraint
        if honor_affinity and not required_node_affinity(pod, node):
            return False
        return not (honor_taints and untolerated_taint(node, pod.tolerations) is not None)

    # ---- PreFilter ---------------------------------------------------------------------
    def prefilter(self, pod: ParsedPod) -> dict:
        state = {}
        constraints = [c for c in pod.spread_constraints if c[2] == "DoNotSchedule"]
        if constraints:
            counts = [{} for _ in constraints]
            for node in self.nodes.values():
                if any(c[1] not in node.labels for c in constraints):
                    continue
                for i, c in enumerate(constraints):
                    if self.spread_eligible(pod, c, node):
                        value = node.labels[c[1]]
                        counts[i][value] = counts[i].get(value, 0) + self.count_matching(c[3], pod.namespace, node.name)
            minimums = []
            for i, c in enumerate(constraints):
                minimum = min(counts[i].values()) if counts[i] else INT32_MAX
                minimums.append(0 if len(counts[i]) < c[4] else minimum)
            state["spread"] = (constraints, counts, minimums)
        anti_pods = [p for p in self.pods.values() if p.required_anti_affinity]
        if pod.required_affinity or pod.required_anti_affinity or anti_pods:
            existing, affinity, anti = {}, {}, {}
            for p in anti_pods:
                labels = self.nodes[p.node_name].labels
                for term in p.required_anti_affinity:
                    if self.term_matches(term, pod) and term[3] in labels:
                        pair = (term[3], labels[term[3]])
                        existing[pair] = existing.get(pair, 0) + 1
            if pod.required_affinity or pod.required_anti_affinity:
                for node in self.nodes.values():
                    for p in self.node_pods(node.name):
                        if pod.required_affinity and all(self.term_matches(t, p) for t in pod.required_affinity):
                            for t in pod.required_affinity:
                                if t[3] in node.labels:
                                    pair = (t[3], node.labels[t[3]])
                                    affinity[pair] = affinity.get(pair, 0) + 1
                        for t in pod.required_anti_affinity:
                            if self.term_matches(t, p) and t[3] in node.labels:
                                pair = (t[3], node.labels[t[3]])
                                anti[pair] = anti.get(pair, 0) + 1
            own = all(self.term_matches(t, pod) for t in pod.required_affinity)
            state["inter_pod"] = (existing, affinity, anti, own)
        return state

    # ---- Filter ------------------------------------------------------------------------
    def filter_plugin(self, name: str, pod: ParsedPod, node: ParsedNode, state: dict):
        """-> None when the node passes, else the tuple of reason texts."""
        if name == "NodeUnschedulable":
            taint = (UNSCHEDULABLE_TAINT_KEY, "", "NoSchedule")
            if node.unschedulable and not any(tolerates(t, taint) for t in pod.tolerations):
                return (REASONS[1],)
        elif name == "NodeName":
            if pod.node_name and pod.node_name != node.name:
                return (REASONS[2],)
        elif name == "TaintToleration":
            if untolerated_taint(node, pod.tolerations) is not None:
                return (REASONS[3],)
        elif name == "NodeAffinity":
            if not required_node_affinity(pod, node):
                return (REASONS[4],)
        elif name == "NodePorts":
            holders = self.node_pods(node.name) + self.nominated_against(pod, node.name)
            used = [port for p in holders for port in p.host_ports]
            if any(ports_conflict(w, u) for w in pod.host_ports for u in used):
                return (REASONS[5],)
        elif name == "NodeResourcesFit":
            return self.fit_reasons(pod, node) or None
        elif name == "PodTopologySpread" and "spread" in state:
            constraints, counts, minimums = state["spread"]
            for i, c in enumerate(constraints):
                if c[1] not in node.labels:
                    return (REASONS[7],)
                self_match = 1 if selector_matches(c[3], pod.labels) else 0
                if counts[i].get(node.labels[c[1]], 0) + self_match - minimums[i] > c[0]:
                    return (REASONS[8],)
        elif name == "InterPodAffinity" and "inter_pod" in state:
            existing, affinity, anti, own = state["inter_pod"]
            pods_exist = True
            for t in pod.required_affinity:
                if t[3] not in node.labels:
                    return (REASONS[9],)
                if affinity.get((t[3], node.labels[t[3]]), 0) <= 0:
                    pods_exist = False
            if not pods_exist and not (not affinity and own):
                return (REASONS[9],)
            for t in pod.required_anti_affinity:
                if t[3] in node.labels and anti.get((t[3], node.labels[t[3]]), 0) > 0:
                    return (REASONS[10],)
            if any(existing.get((k, v), 0) > 0 for k, v in node.labels.items()):
                return (REASONS[11],)
        return None

    def fit_reasons(self, pod: ParsedPod, node: ParsedNode) -> tuple:
        reasons = []
        on_node = self.node_pods(node.name) + self.nominated_against(pod, node.name)
        if len(on_node) + 1 > node.allowed_pods:
            reasons.append(FIT_REASONS[1])
        def free(resource):
            return node.allocatable.get(resource, 0) - sum(p.requests.get(resource, 0) for p in on_node)
        for resource, bit in (("cpu", 2), ("memory", 4), ("ephemeral-storage", 8)):
            wanted = pod.requests.get(resource, 0)
            if wanted > 0 and wanted > free(resource):
                reasons.append(FIT_REASONS[bit])
        extended = sorted((n, a) for n, a in pod.requests.items() if n not in ("cpu", "memory", "ephemeral-storage", "pods"))
        for resource, wanted in extended:
            if wanted and wanted > free(resource):
                reasons.append(FIT_REASONS[16] % resource)
        return tuple(reasons)

    def filter(self, pod: ParsedPod, node: ParsedNode, state: dict, filters):
        for name in filters:
            reasons = self.filter_plugin(name, pod, node, state)
            if reasons:
                return name, reasons
        return None, ()

    # ---- the cycle -----------------------------------------------------------------------
    def _schedule(self, pod: ParsedPod, profile: Profile, explain: bool) -> ScheduleResult:
        k = self.kernel_settings(profile)
        order = [self.nodes[name] for name in self.node_order()]
        result = ScheduleResult(pod.key, None, len(order))
        if not order:
            return result
        self._next_start %= len(order)
        state = self.prefilter(pod)
        to_find = num_feasible_nodes_to_find(k["percentage"], len(order))
        feasible, ex = [], Explanation() if explain else None
        evaluated = 0
        rejecting = set()
        while evaluated < len(order) and len(feasible) < to_find:
            node = order[(self._next_start + evaluated) % len(order)]
            evaluated += 1
            plugin, reasons = self.filter(pod, node, state, k["filters"])
            if plugin is None:
                feasible.append(node)
            else:
                rejecting.add(plugin)
                for reason in reasons:
                    result.reasons[reason] = result.reasons.get(reason, 0) + 1
            if ex is not None:
                ex.filter[node.name] = (plugin, reasons)
        self._next_start = (self._next_start + evaluated) % len(order)
        result.evaluated_nodes, result.feasible_nodes, result.explain = evaluated, len(feasible), ex
        if not feasible:
            result.unschedulable_plugins = frozenset(rejecting)
            return result
        if not explain:
            result.reasons = {}
        if len(feasible) == 1:
            result.node_name = feasible[0].name
            return result
        totals = [0] * len(feasible)
        for name, weight in k["scores"]:
            scores = SCORERS[name](self, pod, feasible, k)
            for i, s in enumerate(scores):
                totals[i] += s * weight
                if ex is not None:
                    ex.scores.setdefault(feasible[i].name, {})[name] = s
        if not k["scores"]:
            totals = [1] * len(feasible)
        if ex is not None:
            ex.totals = {n.name: t for n, t in zip(feasible, totals)}
        # Uniformly among the highest totals, as upstream's selectHost: the ties are
        # counted and one is drawn (the native core's order of draws).
        best = max(totals)
        tied = [i for i, total in enumerate(totals) if total == best]
        selected = tied[self.random_below(len(tied))] if len(tied) > 1 else tied[0]
        result.node_name = feasible[selected].name
        return result

    # ---- DefaultPreemption ----------------------------------------------------------------
    def _fits_without(self, pod: ParsedPod, node: ParsedNode, removed: set, filters) -> bool:
        return not self._reasons_without(pod, node, removed, filters)

    def _reasons_without(self, pod: ParsedPod, node: ParsedNode, removed: set, filters) -> tuple:
        """The node's Filter reasons with the `removed` pods taken off it (() when it fits)."""
        saved = {}
        for key in removed:
            saved[key] = self.pods.pop(key)
            self.pods_by_node[node.name].discard(key)
        try:
            return self.filter(pod, node, self.prefilter(pod), filters)[1]
        finally:
            for key, p in saved.items():
                self.pods[key] = p
                self.pods_by_node[node.name].add(key)

    def _preempt(self, pod: ParsedPod, profile: Profile) -> Preemption:
        if pod.preempt_never:
            return Preemption(None, message=PREEMPTION_NEVER)
        filters = self.kernel_settings(profile)["filters"]
        state = self.prefilter(pod)
        potential = []
        order = self.node_order()
        for node in (self.nodes[name] for name in order):
            plugin, reasons = self.filter(pod, node, state, filters)
            if plugin is None:
                return Preemption(None)
            if _REASON_CODES.get(reasons[0]) not in UNRESOLVABLE_REASONS:
                potential.append(node)
        not_helpful, no_victims, failures = len(order) - len(potential), 0, {}
        if not potential:
            return preemption_failure(len(order), not_helpful, no_victims, failures)
        num_candidates = min(max(len(potential) * 10 // 100, 100), len(potential))
        offset = self.random_below(len(potential))
        candidates = []
        for i in range(len(potential)):
            if len(candidates) >= num_candidates:
                break
            node = potential[(offset + i) % len(potential)]
            lower = [p for p in self.node_pods(node.name) if p.priority < pod.priority]
            if not lower:
                no_victims += 1
                continue
            removed = {p.key for p in lower}
            reasons = self._reasons_without(pod, node, removed, filters)
            if reasons:
                for reason in reasons:
                    failures[reason] = failures.get(reason, 0) + 1
                continue
            lower.sort(key=lambda p: (-p.priority, p.start_time, p.sequence))
            victims = []
            for p in lower:
                removed.discard(p.key)
                if not self._fits_without(pod, node, removed, filters):
                    removed.add(p.key)
                    victims.append(p)
            candidates.append((node, victims))
        if not candidates:
            return preemption_failure(len(order), not_helpful, no_victims, failures)
        for node, victims in candidates:
            if not victims:
                return Preemption(node.name)
        def key(candidate):
            victims = candidate[1]
            highest = max(v.priority for v in victims)
            earliest = min(v.start_time for v in victims if v.priority == highest)
            return (highest, sum(v.priority + INT32_MAX + 1 for v in victims), len(victims), -earliest)
        node, victims = min(candidates, key=key)  # min() keeps the first of equals
        return Preemption(node.name, [v.key for v in victims])


def num_feasible_nodes_to_find(percentage: int, num_all_nodes: int) -> int:
    if num_all_nodes < 100:
        return num_all_nodes
    if percentage == 0:
        percentage = max(50 - num_all_nodes // 125, 5)
    return max(num_all_nodes * percentage // 100, 100)
