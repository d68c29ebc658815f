"""Stubs for the C++ scheduler core's bindings (pyk8s/_native/_sched.pyx).

The tuple layouts are the facade's business (pyk8s/scheduler/cluster.py); every string is
an interned int here.  Node slots and placed-pod ids are the core's handles.
"""

from typing import Any

Requirement = tuple[int, int, list[int], int]  # (key, op, sorted value ids, number)
Selector = list[Requirement] | None  # None: matches nothing; []: matches everything
NodeTerm = tuple[list[Requirement], list[Requirement], int]  # (expressions, name fields, weight)
PodTerm = tuple[Selector, list[int], Selector, int, int]  # (selector, namespaces, ns selector, key, weight)
Status = tuple[int, int, int, int, int]  # (plugin, reason, fit bits, detail, detail2)

def num_feasible_nodes_to_find(percentage: int, num_all_nodes: int) -> int: ...

class NativePod:
    """The per-pod PreFilter struct: (namespace, labels, priority, preempt_never, node_name,
    (cpu_milli, memory, ephemeral, [(resource, amount)]), nonzero_cpu_milli, nonzero_memory,
    host_ports, tolerations, node_selector, has_required_node_affinity, required_node_terms,
    preferred_node_terms, spread_constraints, required_affinity, required_anti_affinity,
    preferred_affinity, preferred_anti_affinity, images, num_containers,
    require_all_topologies)."""

    def __init__(self, compiled: tuple[Any, ...]) -> None: ...

class NativeScheduler:
    def configure(
        self,
        filters: list[int],
        scores: list[tuple[int, int]],
        fit_strategy: int,
        fit_resources: list[tuple[int, int]],
        shape: list[tuple[int, int]],
        balanced_resources: list[tuple[int, int]],
        percentage: int,
        hard_pod_affinity_weight: int,
        ignore_preferred_terms_of_existing_pods: bool,
        unschedulable_taint_key: int,
        hostname_key: int,
        empty_value: int,
    ) -> None: ...
    def seed(self, seed: int) -> None: ...
    @property
    def next_start_index(self) -> int: ...
    def add_node(self, node: tuple[Any, ...]) -> int: ...
    def update_node(self, slot: int, node: tuple[Any, ...]) -> None: ...
    def remove_node(self, slot: int) -> None: ...
    def add_pod(self, node: int, pod: NativePod, start_time: int, terminating: bool) -> int: ...
    def remove_pod(self, pod_id: int) -> None: ...
    def add_nominated(self, node: int, pod: NativePod) -> int: ...
    def remove_nominated(self, nominated_id: int) -> None: ...
    def set_namespace_labels(self, namespace_id: int, labels: list[tuple[int, int]]) -> None: ...
    def set_value_number(self, value: int, number: int) -> None: ...
    def node_order(self) -> list[int]: ...
    def schedule(
        self, pod: NativePod, explain: bool = ..., self_nominated: int = ...
    ) -> tuple[
        int, int, int, int, list[tuple[int, int, int, int, int, int]],
        tuple[list[tuple[int, Status]], list[int], list[list[int]], list[int], dict[int, list[int]]] | None,
    ]: ...
    def preempt(
        self, pod: NativePod, self_nominated: int = ...
    ) -> tuple[int, list[int], int, int, int, list[tuple[int, int, int, int, int, int]]]: ...
