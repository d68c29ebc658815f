"""The native-backed cluster snapshot: interns strings, hands csrc/sched plain tuples,
and turns the core's ids back into names."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pyk8s._native import _sched

from ._base import (
    PREEMPTION_NEVER,
    ClusterBase,
    Explanation,
    Preemption,
    ScheduleResult,
    preemption_failure,
    reason_text,
)
from ._objects import (
    EFFECTS,
    HOSTNAME_KEY,
    OPS,
    PROTOCOLS,
    UNSCHEDULABLE_TAINT_KEY,
    ParsedNode,
    ParsedPod,
    label_int,
)
from .framework import Profile, Registry
from .plugins import KERNEL_IDS, KERNEL_NAMES

_FIT_STRATEGY_IDS = {"LeastAllocated": 0, "MostAllocated": 1, "RequestedToCapacityRatio": 2}
_STANDARD_SCORE_RESOURCES = {"cpu": -1, "memory": -2, "ephemeral-storage": -3}
_WHEN = {"DoNotSchedule": 0, "ScheduleAnyway": 1}


class _Interner:
    """str -> dense int.  Ids index C++ vectors, so they stay small and are never reused."""

    def __init__(self):
        self.ids: dict[str, int] = {}
        self.names: list[str] = []

    def __call__(self, name: str) -> int:
        found = self.ids.get(name)
        if found is None:
            found = self.ids[name] = len(self.names)
            self.names.append(name)
        return found


class Cluster(ClusterBase):
    """Nodes, pods and profiles of one scheduler, with native Filter/Score kernels.

    One writer at a time: the process layer calls it from its scheduling loop and feeds
    informer events through the same thread (or a lock).  The kernels release the GIL, so
    other Python threads (informers, HTTP) keep running during a cycle."""

    def __init__(self, config: Mapping | str | None = None, *, seed: int = 0, registry: Registry | None = None,
                 default_spread_selector: Callable[[Mapping], Mapping | None] | None = None):
        self._native = _sched.NativeScheduler()
        self._strings = _Interner()
        self._resources = _Interner()
        self._node_slots: dict[str, int] = {}
        self._slot_names: dict[int, str] = {}
        self._pod_ids: dict[str, int] = {}
        self._pod_keys: dict[int, str] = {}
        self._nominated_ids: dict[str, int] = {}  # pod key -> the core's nominated-pod id
        self._configured: Profile | None = None
        super().__init__(config, seed=seed, registry=registry, default_spread_selector=default_spread_selector)

    def seed(self, seed: int) -> None:
        self._native.seed(seed & 0xFFFFFFFFFFFFFFFF)

    @property
    def next_start_index(self) -> int:
        return self._native.next_start_index

    # ---- compiling to the core's tuples ------------------------------------------------
    def _label_value(self, value: str) -> int:
        known = value in self._strings.ids
        vid = self._strings(value)
        if not known:
            number = label_int(value)
            if number is not None:
                self._native.set_value_number(vid, number)
        return vid

    def _pairs(self, labels: Mapping[str, str]) -> list:
        if not labels:
            return []
        s = self._strings
        return sorted((s(k), self._label_value(v)) for k, v in labels.items())

    def _optional(self, text: str) -> int:
        return self._strings(text) if text else -1

    def _requirement(self, r) -> tuple:
        key, op, values, number = r
        return (self._strings(key), OPS[op], sorted(self._label_value(v) for v in values), number or 0)

    def _selector(self, selector):
        return None if selector is None else [self._requirement(r) for r in selector]

    def _node_term(self, term, weight: int = 0) -> tuple:
        expressions, fields = term
        s = self._strings
        return ([self._requirement(r) for r in expressions], [(-1, OPS[op], sorted(s(v) for v in values), 0) for op, values in fields], weight)

    def _pod_terms(self, terms) -> list:
        s = self._strings
        return [(self._selector(sel), sorted(s(n) for n in namespaces), self._selector(ns_sel), s(key), weight)
                for sel, namespaces, ns_sel, key, weight in terms]

    def _extended(self, amounts: Mapping[str, int]) -> list:
        if amounts.keys() <= _STANDARD_SCORE_RESOURCES.keys():
            return []  # the common node and pod: nothing but cpu and memory
        out = [(self._resources(n), a) for n, a in amounts.items() if n not in _STANDARD_SCORE_RESOURCES]
        out.sort()
        return out

    def _native_pod(self, p: ParsedPod) -> _sched.NativePod:
        # The compiled struct never reads spec.nodeName of a placed pod, so the form built
        # for scheduling serves for the assumed pod as well.  A template's struct is built
        # from the entry (no nodeName: PodTemplates.parse_placed hands out clones of it on
        # nodes), so it serves the template's pending pods too.
        if p.native is None:
            template = p.template
            if template is None:
                p.native = self._compile(p)
            elif template.native is None:
                p.native = template.native = self._compile(template)
            else:
                p.native = template.native
        return p.native

    def _compile(self, p: ParsedPod) -> _sched.NativePod:
        s = self._strings
        r = p.requests
        return _sched.NativePod((
            s(p.namespace), self._pairs(p.labels), p.priority, p.preempt_never, self._optional(p.node_name),
            (r.get("cpu", 0), r.get("memory", 0), r.get("ephemeral-storage", 0), self._extended(r)),
            p.nonzero_cpu, p.nonzero_memory,
            [(self._optional(ip), PROTOCOLS.get(proto, 0), port) for ip, proto, port in p.host_ports],
            [(self._optional(k), exists, self._optional(v), EFFECTS[e]) for k, exists, v, e in p.tolerations],
            self._pairs(p.node_selector),
            p.required_node_terms is not None,
            [self._node_term(t) for t in p.required_node_terms or ()],
            [self._node_term(t, w) for w, t in p.preferred_node_terms],
            [(skew, s(key), _WHEN[when], self._selector(sel), min_domains, honor_aff, honor_taints)
             for skew, key, when, sel, min_domains, honor_aff, honor_taints in p.spread_constraints],
            self._pod_terms(p.required_affinity) if p.required_affinity else [],
            self._pod_terms(p.required_anti_affinity) if p.required_anti_affinity else [],
            self._pod_terms(p.preferred_affinity) if p.preferred_affinity else [],
            self._pod_terms(p.preferred_anti_affinity) if p.preferred_anti_affinity else [],
            [s(i) for i in p.images], p.num_containers, p.require_all_topologies,
        ))

    def _node_tuple(self, n: ParsedNode) -> tuple:
        s = self._strings
        a = n.allocatable
        return (
            s(n.name), self._pairs(n.labels),
            [(s(k), self._optional(v), EFFECTS[e]) for k, v, e in n.taints] if n.taints else [],
            n.unschedulable, (a.get("cpu", 0), a.get("memory", 0), a.get("ephemeral-storage", 0), self._extended(a)),
            n.allowed_pods, sorted({s(name): size for name, size in n.images}.items()) if n.images else [], s(n.zone),
        )

    def _configure(self, profile: Profile) -> None:
        if self._configured is profile:
            return
        k = self.kernel_settings(profile)
        def resource(name):
            return _STANDARD_SCORE_RESOURCES.get(name, None) if name in _STANDARD_SCORE_RESOURCES else self._resources(name)
        self._native.configure(
            [KERNEL_IDS[n] for n in k["filters"]],
            [(KERNEL_IDS[n], w) for n, w in k["scores"]],
            _FIT_STRATEGY_IDS[k["fit_strategy"]],
            [(resource(n), w) for n, w in k["fit_resources"]],
            k["shape"],
            [(resource(n), w) for n, w in k["balanced_resources"]],
            k["percentage"], k["hard_pod_affinity_weight"], k["ignore_preferred_terms_of_existing_pods"],
            self._strings(UNSCHEDULABLE_TAINT_KEY), self._strings(HOSTNAME_KEY), self._label_value(""),
        )
        self._configured = profile

    def node_order(self) -> list[str]:
        """The order the core filters nodes in (upstream's nodeTree round-robin over zones)."""
        return [self._slot_names[slot] for slot in self._native.node_order()]

    # ---- ClusterBase hooks ----------------------------------------------------------------
    def _node_added(self, node: ParsedNode) -> None:
        slot = self._native.add_node(self._node_tuple(node))
        self._node_slots[node.name] = slot
        self._slot_names[slot] = node.name

    def _node_updated(self, node: ParsedNode) -> None:
        self._native.update_node(self._node_slots[node.name], self._node_tuple(node))

    def _node_removed(self, name: str) -> None:
        slot = self._node_slots.pop(name)
        del self._slot_names[slot]
        self._native.remove_node(slot)
        for key in [k for k, pid in self._pod_ids.items() if k not in self.pods]:
            del self._pod_keys[self._pod_ids.pop(key)]

    def _pod_added(self, pod: ParsedPod) -> None:
        native = pod.native if pod.native is not None else self._native_pod(pod)
        pid = self._native.add_pod(self._node_slots[pod.node_name], native, pod.start_time, pod.terminating)
        self._pod_ids[pod.key] = pid
        self._pod_keys[pid] = pod.key

    def _pod_removed(self, pod: ParsedPod) -> None:
        pid = self._pod_ids.pop(pod.key)
        del self._pod_keys[pid]
        self._native.remove_pod(pid)

    def _nominated_added(self, pod: ParsedPod, node_name: str) -> None:
        self._nominated_ids[pod.key] = self._native.add_nominated(self._node_slots[node_name], self._native_pod(pod))

    def _nominated_removed(self, pod: ParsedPod) -> None:
        self._native.remove_nominated(self._nominated_ids.pop(pod.key))

    def _namespace_labels(self, namespace: str, labels: dict) -> None:
        self._native.set_namespace_labels(self._strings(namespace), self._pairs(labels))

    def _text(self, reason: int, fit_bit: int, detail: int, detail2: int) -> str:
        if reason == 6:
            return reason_text(reason, fit_bit, self._resources.names[detail] if detail >= 0 else None, None)
        names = self._strings.names
        return reason_text(reason, fit_bit, names[detail] if detail >= 0 else None, names[detail2] if detail2 >= 0 else "")

    def _schedule(self, pod: ParsedPod, profile: Profile, explain: bool) -> ScheduleResult:
        if self._configured is not profile:
            self._configure(profile)
        native = pod.native if pod.native is not None else self._native_pod(pod)
        node, num_all, evaluated, feasible, reasons, details = self._native.schedule(
            native, explain, self._nominated_ids.get(pod.key, -1) if self._nominated_ids else -1)
        result = ScheduleResult(pod.key, self._slot_names[node] if node >= 0 else None, num_all, evaluated, feasible)
        for _plugin, reason, fit_bit, detail, detail2, count in reasons:
            t = self._text(reason, fit_bit, detail, detail2)
            result.reasons[t] = result.reasons.get(t, 0) + count
        if node < 0 and reasons:
            result.unschedulable_plugins = frozenset(KERNEL_NAMES[r[0]] for r in reasons)
        if details is not None:
            self._explain(result, profile, details)
        return result

    def _explain(self, result: ScheduleResult, profile: Profile, details) -> None:
        statuses, feasible_nodes, plugin_scores, totals, shortfalls = details
        ex = result.explain = Explanation()
        for slot, (plugin, reason, bits, detail, detail2) in statuses:
            if reason == 0:
                ex.filter[self._slot_names[slot]] = (None, ())
                continue
            if reason == 6:
                texts = tuple(self._text(reason, bit, detail, detail2) for bit in (1, 2, 4, 8) if bits & bit)
                texts += tuple(sorted(self._text(reason, 16, r, -1) for r in shortfalls.get(slot, ())))
            else:
                texts = (self._text(reason, 0, detail, detail2),)
            ex.filter[self._slot_names[slot]] = (KERNEL_NAMES[plugin], texts)
        score_names = profile.names("score")
        for k, slot in enumerate(feasible_nodes):
            name = self._slot_names[slot]
            if plugin_scores:
                ex.scores[name] = {score_names[p]: plugin_scores[p][k] for p in range(len(score_names))}
                ex.totals[name] = totals[k]

    def _preempt(self, pod: ParsedPod, profile: Profile) -> Preemption:
        self._configure(profile)
        if pod.preempt_never:
            return Preemption(None, message=PREEMPTION_NEVER)
        node, victims, num_all, not_helpful, no_victims, reasons = self._native.preempt(
            self._native_pod(pod), self._nominated_ids.get(pod.key, -1))
        if node < 0:
            texts: dict[str, int] = {}
            for _plugin, reason, fit_bit, detail, detail2, count in reasons:
                t = self._text(reason, fit_bit, detail, detail2)
                texts[t] = texts.get(t, 0) + count
            return preemption_failure(num_all, not_helpful, no_victims, texts)
        return Preemption(self._slot_names[node], [self._pod_keys[v] for v in victims])
