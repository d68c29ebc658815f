# cython: language_level=3
# The C++ scheduler core's declarations (csrc/sched/*.h), kept apart from the wrapper
# classes in _sched.pyx.  Only what the bindings use is declared.

from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint64_t
from libcpp cimport bool
from libcpp.utility cimport pair
from libcpp.vector cimport vector


cdef extern from "types.h" namespace "pyk8s::sched" nogil:
    ctypedef int32_t Id
    ctypedef vector[pair[Id, Id]] LabelPairs

    cdef enum class Op(uint8_t):
        pass
    cdef enum class TaintEffect(uint8_t):
        pass
    cdef enum class WhenUnsatisfiable(uint8_t):
        pass

    cdef cppclass Requirement:
        Id key
        Op op
        vector[Id] values
        int64_t number

    cdef cppclass Selector:
        bool nothing
        vector[Requirement] requirements

    cdef cppclass NodeSelectorTerm:
        vector[Requirement] expressions
        vector[Requirement] name_fields
        int32_t weight

    cdef cppclass Taint:
        Id key
        Id value
        TaintEffect effect

    cdef cppclass Toleration:
        Id key
        bool exists
        Id value
        TaintEffect effect

    cdef cppclass HostPort:
        Id ip
        uint8_t protocol
        int32_t port

    cdef cppclass PodTerm:
        Selector selector
        vector[Id] namespaces
        bool has_namespace_selector
        Selector namespace_selector
        Id topology_key
        int32_t weight

    cdef cppclass Resources:
        int64_t milli_cpu
        int64_t memory
        int64_t ephemeral_storage
        vector[pair[Id, int64_t]] extended

    cdef cppclass SpreadConstraint:
        int32_t max_skew
        Id topology_key
        WhenUnsatisfiable when
        Selector selector
        int32_t min_domains
        bool honor_node_affinity
        bool honor_node_taints

    cdef cppclass PodSpec:
        Id namespace_id
        LabelPairs labels
        int32_t priority
        bool preempt_never
        Id node_name
        Resources requests
        int64_t nonzero_milli_cpu
        int64_t nonzero_memory
        vector[HostPort] host_ports
        vector[Toleration] tolerations
        LabelPairs node_selector
        bool has_required_node_affinity
        vector[NodeSelectorTerm] required_node_terms
        vector[NodeSelectorTerm] preferred_node_terms
        vector[SpreadConstraint] spread_constraints
        bool require_all_topologies
        vector[PodTerm] required_affinity
        vector[PodTerm] required_anti_affinity
        vector[PodTerm] preferred_affinity
        vector[PodTerm] preferred_anti_affinity
        vector[Id] images
        int32_t num_containers


cdef extern from "node_table.h" namespace "pyk8s::sched" nogil:
    cdef cppclass NodeAttributes:
        Id name
        Id zone
        LabelPairs labels
        vector[Taint] taints
        bool unschedulable
        Resources allocatable
        int64_t allowed_pods
        vector[pair[Id, int64_t]] images

    cdef cppclass NodeTable:
        int32_t add_node(NodeAttributes attributes) except +
        void update_node(int32_t slot, NodeAttributes attributes) except +
        void remove_node(int32_t slot) except +
        int32_t add_pod(int32_t node, PodSpec spec, int64_t start_time, bool terminating) except +
        void remove_pod(int32_t pod) except +
        int32_t add_nominated(int32_t node, const PodSpec& spec) except +
        void remove_nominated(int32_t nominated) except +
        void set_namespace_labels(Id namespace_id, LabelPairs labels) except +
        void set_value_number(Id value, int64_t number) except +
        const vector[int32_t]& order()


cdef extern from "scheduler.h" namespace "pyk8s::sched" nogil:
    cdef enum class FitStrategy(uint8_t):
        pass

    cdef cppclass NodeStatus:
        uint8_t plugin
        uint8_t reason
        uint16_t fit_bits
        Id detail
        Id detail2

    cdef cppclass ReasonCount:
        NodeStatus status
        int32_t count

    cdef cppclass ResourceSpec:
        Id resource
        int64_t weight

    cdef cppclass Config:
        vector[uint8_t] filters
        vector[pair[uint8_t, int64_t]] scores
        FitStrategy fit_strategy
        vector[ResourceSpec] fit_resources
        vector[pair[int64_t, int64_t]] shape
        vector[ResourceSpec] balanced_resources
        int32_t percentage_of_nodes_to_score
        int64_t hard_pod_affinity_weight
        bool ignore_preferred_terms_of_existing_pods
        Id unschedulable_taint_key
        Id hostname_key
        Id empty_value

    cdef cppclass ScheduleResult:
        int32_t node
        int32_t num_all_nodes
        int32_t evaluated
        int32_t feasible
        vector[ReasonCount] reasons
        vector[int32_t] evaluated_nodes
        vector[NodeStatus] statuses
        vector[pair[int32_t, vector[Id]]] extended_shortfalls
        vector[int32_t] feasible_nodes
        vector[vector[int64_t]] plugin_scores
        vector[int64_t] totals

    cdef cppclass PreemptionResult:
        int32_t node
        vector[int32_t] victims
        int32_t num_all_nodes
        int32_t not_helpful
        int32_t no_victims
        vector[ReasonCount] reasons

    cdef cppclass Scheduler:
        Scheduler(NodeTable& table)
        void configure(Config config) except +
        void seed(uint64_t seed)
        int32_t next_start_index()
        ScheduleResult schedule(const PodSpec& pod, bool explain, int32_t self_nominated) except +
        PreemptionResult preempt(const PodSpec& pod, int32_t self_nominated) except +
        @staticmethod
        int32_t num_feasible_nodes_to_find(int32_t percentage, int32_t num_all_nodes)
