# cython: language_level=3, boundscheck=False, wraparound=False, embedsignature=True, binding=False
# distutils: language = c++
"""Bindings for the C++ scheduler core (csrc/sched).

Marshalling only: the facade (pyk8s/scheduler) interns every string to an int and hands
over plain tuples in the layouts documented on each method; this module copies them into
the C++ structs, runs the core with the GIL released, and returns plain tuples.
"""

from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t
from libcpp cimport bool
from libcpp.utility cimport move, pair
from libcpp.vector cimport vector

from _csched cimport (
    Config,
    FitStrategy,
    HostPort,
    Id,
    LabelPairs,
    NodeAttributes,
    NodeSelectorTerm,
    NodeStatus,
    NodeTable,
    Op,
    PodSpec,
    PodTerm,
    PreemptionResult,
    Requirement,
    ResourceSpec,
    ScheduleResult,
    Scheduler,
    Selector,
    SpreadConstraint,
    Taint,
    TaintEffect,
    Toleration,
    WhenUnsatisfiable,
)


cdef Requirement _requirement(tuple r) except *:
    # (key, op, [value ids], number)
    cdef Requirement out
    out.key = r[0]
    out.op = <Op><uint8_t>r[1]
    out.values = r[2]
    out.number = r[3]
    return out


cdef Selector _selector(object s) except *:
    # None: matches nothing; a list of requirements (empty: matches everything).
    cdef Selector out
    if s is None:
        out.nothing = True
        return out
    for r in s:
        out.requirements.push_back(_requirement(r))
    return out


cdef NodeSelectorTerm _node_term(tuple t) except *:
    # ([requirements], [name requirements], weight)
    cdef NodeSelectorTerm out
    for r in t[0]:
        out.expressions.push_back(_requirement(r))
    for r in t[1]:
        out.name_fields.push_back(_requirement(r))
    out.weight = t[2]
    return out


cdef PodTerm _pod_term(tuple t) except *:
    # (selector, [namespace ids], namespace selector or None, topology key, weight)
    cdef PodTerm term
    term.selector = _selector(t[0])
    term.namespaces = t[1]
    term.has_namespace_selector = t[2] is not None
    if t[2] is not None:
        term.namespace_selector = _selector(t[2])
    term.topology_key = t[3]
    term.weight = t[4]
    return term


cdef vector[PodTerm] _pod_terms(list terms) except *:
    cdef vector[PodTerm] out
    for t in terms:
        out.push_back(_pod_term(t))
    return out


cdef SpreadConstraint _spread(tuple t) except *:
    # (max_skew, topology key, when, selector, min_domains, honor_affinity, honor_taints)
    cdef SpreadConstraint constraint
    constraint.max_skew = t[0]
    constraint.topology_key = t[1]
    constraint.when = <WhenUnsatisfiable><uint8_t>t[2]
    constraint.selector = _selector(t[3])
    constraint.min_domains = t[4]
    constraint.honor_node_affinity = t[5]
    constraint.honor_node_taints = t[6]
    return constraint


cdef class NativePod:
    """The PreFilter struct of one pod, built once from the facade's compiled tuple:

    (namespace, labels, priority, preempt_never, node_name, (cpu_milli, memory, ephemeral,
    extended), nonzero_cpu_milli, nonzero_memory, host_ports, tolerations, node_selector,
    has_required_node_affinity, required_node_terms, preferred_node_terms, spread_constraints,
    required_affinity, required_anti_affinity, preferred_affinity, preferred_anti_affinity,
    images, num_containers, require_all_topologies)
    """

    cdef PodSpec spec

    def __init__(self, tuple c):
        cdef PodSpec* s = &self.spec
        cdef HostPort port
        cdef Toleration toleration
        s.namespace_id = c[0]
        s.labels = c[1]
        s.priority = c[2]
        s.preempt_never = c[3]
        s.node_name = c[4]
        requests = c[5]
        s.requests.milli_cpu = requests[0]
        s.requests.memory = requests[1]
        s.requests.ephemeral_storage = requests[2]
        s.requests.extended = requests[3]
        s.nonzero_milli_cpu = c[6]
        s.nonzero_memory = c[7]
        for p in c[8]:
            port.ip = p[0]
            port.protocol = p[1]
            port.port = p[2]
            s.host_ports.push_back(port)
        for t in c[9]:
            toleration.key = t[0]
            toleration.exists = t[1]
            toleration.value = t[2]
            toleration.effect = <TaintEffect><uint8_t>t[3]
            s.tolerations.push_back(toleration)
        s.node_selector = c[10]
        s.has_required_node_affinity = c[11]
        for t in c[12]:
            s.required_node_terms.push_back(_node_term(t))
        for t in c[13]:
            s.preferred_node_terms.push_back(_node_term(t))
        for t in c[14]:
            s.spread_constraints.push_back(_spread(t))
        if c[15]:
            s.required_affinity = _pod_terms(c[15])
        if c[16]:
            s.required_anti_affinity = _pod_terms(c[16])
        if c[17]:
            s.preferred_affinity = _pod_terms(c[17])
        if c[18]:
            s.preferred_anti_affinity = _pod_terms(c[18])
        s.images = c[19]
        s.num_containers = c[20]
        s.require_all_topologies = c[21]


cdef NodeAttributes _node(tuple n) except *:
    # (name, labels, [(key, value, effect)], unschedulable,
    #  (cpu_milli, memory, ephemeral, [(resource, amount)]), pods, [(image, size)], zone key)
    cdef NodeAttributes a
    cdef Taint taint
    a.name = n[0]
    a.zone = n[7]
    a.labels = n[1]
    for t in n[2]:
        taint.key = t[0]
        taint.value = t[1]
        taint.effect = <TaintEffect><uint8_t>t[2]
        a.taints.push_back(taint)
    a.unschedulable = n[3]
    alloc = n[4]
    a.allocatable.milli_cpu = alloc[0]
    a.allocatable.memory = alloc[1]
    a.allocatable.ephemeral_storage = alloc[2]
    a.allocatable.extended = alloc[3]
    a.allowed_pods = n[5]
    a.images = n[6]
    return a


cdef tuple _status(const NodeStatus& s):
    return (s.plugin, s.reason, s.fit_bits, s.detail, s.detail2)


def num_feasible_nodes_to_find(int32_t percentage, int32_t num_all_nodes):
    return Scheduler.num_feasible_nodes_to_find(percentage, num_all_nodes)


cdef class NativeScheduler:
    """A NodeTable plus the Scheduler that reads it.  Not thread-safe: the facade
    serializes calls (the GIL is released inside, so other Python threads keep running)."""

    cdef NodeTable* table
    cdef Scheduler* scheduler

    def __cinit__(self):
        self.table = new NodeTable()
        self.scheduler = new Scheduler(self.table[0])

    def __dealloc__(self):
        del self.scheduler
        del self.table

    def configure(self, list filters, list scores, int fit_strategy, list fit_resources, list shape,
                  list balanced_resources, int32_t percentage, int64_t hard_pod_affinity_weight,
                  bool ignore_preferred_terms_of_existing_pods, Id unschedulable_taint_key,
                  Id hostname_key, Id empty_value):
        cdef Config config
        cdef ResourceSpec spec
        config.filters = filters
        config.scores = scores
        config.fit_strategy = <FitStrategy><uint8_t>fit_strategy
        config.fit_resources.clear()
        for r in fit_resources:
            spec.resource = r[0]
            spec.weight = r[1]
            config.fit_resources.push_back(spec)
        config.shape = shape
        config.balanced_resources.clear()
        for r in balanced_resources:
            spec.resource = r[0]
            spec.weight = r[1]
            config.balanced_resources.push_back(spec)
        config.percentage_of_nodes_to_score = percentage
        config.hard_pod_affinity_weight = hard_pod_affinity_weight
        config.ignore_preferred_terms_of_existing_pods = ignore_preferred_terms_of_existing_pods
        config.unschedulable_taint_key = unschedulable_taint_key
        config.hostname_key = hostname_key
        config.empty_value = empty_value
        self.scheduler.configure(move(config))

    def seed(self, uint64_t seed):
        self.scheduler.seed(seed)

    @property
    def next_start_index(self):
        return self.scheduler.next_start_index()

    def add_node(self, tuple node):
        cdef NodeAttributes a = _node(node)
        with nogil:
            slot = self.table.add_node(move(a))
        return slot

    def update_node(self, int32_t slot, tuple node):
        cdef NodeAttributes a = _node(node)
        with nogil:
            self.table.update_node(slot, move(a))

    def remove_node(self, int32_t slot):
        with nogil:
            self.table.remove_node(slot)

    def add_pod(self, int32_t node, NativePod pod, int64_t start_time, bool terminating):
        cdef PodSpec copy = pod.spec
        with nogil:
            pod_id = self.table.add_pod(node, move(copy), start_time, terminating)
        return pod_id

    def remove_pod(self, int32_t pod_id):
        with nogil:
            self.table.remove_pod(pod_id)

    def add_nominated(self, int32_t node, NativePod pod):
        """A pod nominated to a node: it holds its requests, host ports and pod slot there
        against pods of no higher priority.  -> nominated-pod id"""
        with nogil:
            nominated_id = self.table.add_nominated(node, pod.spec)
        return nominated_id

    def remove_nominated(self, int32_t nominated_id):
        with nogil:
            self.table.remove_nominated(nominated_id)

    def set_namespace_labels(self, Id namespace_id, list labels):
        self.table.set_namespace_labels(namespace_id, labels)

    def set_value_number(self, Id value, int64_t number):
        self.table.set_value_number(value, number)

    def node_order(self):
        return list(self.table.order())

    def schedule(self, NativePod pod, bool explain=False, int32_t self_nominated=-1):
        """-> (node slot or -1, num_all_nodes, evaluated, feasible,
        [(plugin, reason, fit_bit, detail, detail2, count)], explain tuple or None) where the
        explain tuple is ([(node, status)], [feasible nodes], [[scores per plugin]], [totals],
        {node: [extended resources it lacks]}).  self_nominated: the pod's own nominated-pod
        id, or -1."""
        cdef ScheduleResult r
        with nogil:
            r = self.scheduler.schedule(pod.spec, explain, self_nominated)
        reasons = [_status(c.status) + (c.count,) for c in r.reasons]
        details = None
        if explain:
            details = (
                [(r.evaluated_nodes[i], _status(r.statuses[i])) for i in range(r.evaluated_nodes.size())],
                list(r.feasible_nodes),
                [list(s) for s in r.plugin_scores],
                list(r.totals),
                {p.first: list(p.second) for p in r.extended_shortfalls},
            )
        return (r.node, r.num_all_nodes, r.evaluated, r.feasible, reasons, details)

    def preempt(self, NativePod pod, int32_t self_nominated=-1):
        """-> (node slot or -1, [victim pod ids], num_all_nodes, not_helpful, no_victims,
        [(plugin, reason, fit_bit, detail, detail2, count)]); the last four say why no node
        is a candidate."""
        cdef PreemptionResult r
        with nogil:
            r = self.scheduler.preempt(pod.spec, self_nominated)
        reasons = [_status(c.status) + (c.count,) for c in r.reasons]
        return (r.node, list(r.victims), r.num_all_nodes, r.not_helpful, r.no_victims, reasons)
