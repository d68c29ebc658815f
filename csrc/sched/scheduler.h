// One scheduling cycle over the node table: PreFilter state, the Filter kernels walked
// from a rotating start until enough feasible nodes are found (upstream's adaptive
// percentageOfNodesToScore), PreScore/Score/NormalizeScore kernels with weights, and a
// seeded random tie-break among the best totals.  Also DefaultPreemption's dry run.
//
// Contract for callers: all methods run without Python; the caller holds the table
// exclusively for the duration of a call (the bindings release the GIL around it, and
// the facade serializes access).
#pragma once

#include <cstdint>
#include <vector>

#include "node_table.h"
#include "types.h"

namespace pyk8s::sched {

// Built-in plugin ids; names live in the Python facade (pyk8s/scheduler/plugins.py).
enum Plugin : uint8_t {
  kNodeUnschedulable = 0,
  kNodeName,
  kTaintToleration,
  kNodeAffinity,
  kNodePorts,
  kNodeResourcesFit,
  kPodTopologySpread,
  kInterPodAffinity,
  kNodeResourcesBalancedAllocation,
  kImageLocality,
  kPluginCount,
};

// Failure reasons: constants, turned into upstream's message text by the facade.
enum Reason : uint8_t {
  kPass = 0,
  kNodeUnschedulableReason,
  kNodeNameMismatch,
  kUntoleratedTaint,       // detail: taint key Id, detail2: taint value Id (explain only)
  kNodeAffinityMismatch,
  kPortsConflict,
  kInsufficientResources,  // fit_bits; detail: first insufficient extended resource (all are counted)
  kSpreadMissingLabel,
  kSpreadSkew,
  kAffinityRulesNotMatch,
  kAntiAffinityRulesNotMatch,
  kExistingAntiAffinity,
  kNoVictims,  // preemption only: no lower-priority pod on the node
};

enum FitBits : uint16_t { kTooManyPods = 1, kCpu = 2, kMemory = 4, kEphemeral = 8, kExtended = 16 };

struct NodeStatus {
  uint8_t plugin = kPluginCount;
  uint8_t reason = kPass;
  uint16_t fit_bits = 0;
  Id detail = kNoId;
  Id detail2 = kNoId;
};

struct ReasonCount {
  NodeStatus status;  // plugin, reason, one fit bit (if any), details
  int32_t count = 0;
};

enum class FitStrategy : uint8_t { LeastAllocated, MostAllocated, RequestedToCapacityRatio };

// Resource Ids for scoring: these three are negative; extended resources use their Id.
constexpr Id kResourceCpu = -1, kResourceMemory = -2, kResourceEphemeral = -3;

struct ResourceSpec {
  Id resource = kResourceCpu;
  int64_t weight = 1;
};

struct Config {
  std::vector<uint8_t> filters;                       // in order
  std::vector<std::pair<uint8_t, int64_t>> scores;    // plugin, weight
  FitStrategy fit_strategy = FitStrategy::LeastAllocated;
  std::vector<ResourceSpec> fit_resources{{kResourceCpu, 1}, {kResourceMemory, 1}};
  std::vector<std::pair<int64_t, int64_t>> shape;     // (utilization, score 0..100)
  std::vector<ResourceSpec> balanced_resources{{kResourceCpu, 1}, {kResourceMemory, 1}};
  int32_t percentage_of_nodes_to_score = 0;           // 0: adaptive
  int64_t hard_pod_affinity_weight = 1;
  bool ignore_preferred_terms_of_existing_pods = false;
  Id unschedulable_taint_key = kNoId;  // node.kubernetes.io/unschedulable
  Id hostname_key = kNoId;             // kubernetes.io/hostname
  Id empty_value = kNoId;              // "": the domain of nodes without a topology key
};

struct ScheduleResult {
  int32_t node = -1;  // node slot, or -1
  int32_t num_all_nodes = 0;
  int32_t evaluated = 0;
  int32_t feasible = 0;
  std::vector<ReasonCount> reasons;  // filled when nothing is feasible, or when explaining
  // Explain only: per evaluated node its status; per feasible node its scores.
  std::vector<int32_t> evaluated_nodes;
  std::vector<NodeStatus> statuses;
  std::vector<std::pair<int32_t, std::vector<Id>>> extended_shortfalls;  // node -> resources
  std::vector<int32_t> feasible_nodes;
  std::vector<std::vector<int64_t>> plugin_scores;  // [score plugin][feasible index], weighted
  std::vector<int64_t> totals;
};

struct PreemptionResult {
  int32_t node = -1;
  std::vector<int32_t> victims;  // placed-pod ids
  // Without a candidate, upstream's per-node preemption statuses: nodes whose failure
  // removing pods cannot resolve ("Preemption is not helpful for scheduling"), nodes
  // without lower-priority pods ("No preemption victims found for incoming pod"), and the
  // Filter reasons of nodes that stay infeasible with every lower-priority pod removed.
  int32_t num_all_nodes = 0;
  int32_t not_helpful = 0;
  int32_t no_victims = 0;
  std::vector<ReasonCount> reasons;
};

// Counts per topology value (a dense column indexed by value Id); reset through the
// touched list, so reuse across pods costs only what the last pod used.
struct DomainCounts {
  std::vector<int64_t> count;
  std::vector<uint8_t> present;
  std::vector<Id> touched;

  void reset() {
    for (Id v : touched) count[v] = 0, present[v] = 0;
    touched.clear();
  }
  void add(Id value, int64_t delta) {
    if (count.size() <= size_t(value)) count.resize(value + 1, 0), present.resize(value + 1, 0);
    if (!present[value]) present[value] = 1, touched.push_back(value);
    count[value] += delta;
  }
  int64_t get(Id value) const { return size_t(value) < count.size() ? count[value] : 0; }
  bool has(Id value) const { return size_t(value) < present.size() && present[value]; }
};

// Counts keyed by (topology key, topology value), upstream's topologyToMatchedTermCount.
class PairCounter {
 public:
  void reset() {
    for (size_t i = 0; i < used_; ++i) columns_[i].reset();
    keys_.clear();
    used_ = 0;
  }
  void add(Id key, Id value, int64_t delta) { column(key).add(value, delta); }
  int64_t get(Id key, Id value) const {
    for (size_t i = 0; i < used_; ++i)
      if (keys_[i] == key) return columns_[i].get(value);
    return 0;
  }
  // Entries upstream's map would hold: it deletes a pair whose count returns to zero.
  size_t nonzero() const {
    size_t n = 0;
    for (size_t i = 0; i < used_; ++i)
      for (Id v : columns_[i].touched) n += columns_[i].count[v] != 0;
    return n;
  }
  size_t entries() const {
    size_t n = 0;
    for (size_t i = 0; i < used_; ++i) n += columns_[i].touched.size();
    return n;
  }
  const std::vector<Id>& keys() const { return keys_; }
  const DomainCounts& column_at(size_t i) const { return columns_[i]; }

 private:
  DomainCounts& column(Id key) {
    for (size_t i = 0; i < used_; ++i)
      if (keys_[i] == key) return columns_[i];
    if (columns_.size() == used_) columns_.emplace_back();
    keys_.push_back(key);
    return columns_[used_++];
  }
  std::vector<Id> keys_;
  std::vector<DomainCounts> columns_;
  size_t used_ = 0;
};

// Nodes filtered per run in schedule(): at least the feasible nodes still wanted (fewer
// runs), at least a few dozen (few runs when most fail), at most a bounded buffer.
constexpr int32_t kMinFilterRun = 32;
constexpr int32_t kMaxFilterRun = 256;
// Distinct pod resource shapes whose scores are kept (Scheduler::signature_of).
constexpr size_t kMaxScoreSignatures = 64;

// A node's score for one pod resource signature, valid while the node is at `version`.
struct CachedScore {
  uint64_t version = 0;  // NodeTable::version_ when computed (0: never; versions start at 1)
  uint32_t signature = 0;
  int64_t score = 0;
};

class Scheduler {
 public:
  explicit Scheduler(NodeTable& table) : table_(table) {}

  void configure(Config config) {
    config_ = std::move(config);
    forget_scores();  // the scores depend on the configuration (strategy, shape, resources)
  }
  void seed(uint64_t seed) { rng_ = seed; }
  int32_t next_start_index() const { return next_start_; }

  // self_nominated: the pod's own nominated-pod id (or -1), which never counts against it.
  ScheduleResult schedule(const PodSpec& pod, bool explain, int32_t self_nominated = -1);
  PreemptionResult preempt(const PodSpec& pod, int32_t self_nominated = -1);

  static int32_t num_feasible_nodes_to_find(int32_t percentage, int32_t num_all_nodes);

 private:
  // PreFilter: state for PodTopologySpread (DoNotSchedule) and InterPodAffinity.
  void prefilter(const PodSpec& pod);
  NodeStatus filter(const PodSpec& pod, int32_t node) const;
  // filter() for nodes[0..n), plugin by plugin over the nodes still passing: the same
  // status per node (its first failing plugin decides), each plugin dispatched once per
  // run of nodes rather than once per node.
  void filter_batch(const PodSpec& pod, const int32_t* nodes, int32_t n, NodeStatus* statuses) const;
  bool filter_plugin(uint8_t plugin, const PodSpec& pod, int32_t node, NodeStatus& status) const;
  // One plugin's Filter on one node; on failure fills `status` but its plugin (the callers set it).
  template <uint8_t kPlugin>
  bool filter_one(const PodSpec& pod, int32_t node, NodeStatus& status) const;
  template <uint8_t kPlugin>
  int32_t filter_survivors(const PodSpec& pod, const int32_t* nodes, NodeStatus* statuses, int32_t alive) const;
  bool term_matches(const PodTerm& term, const PodSpec& target) const;
  void insufficient_extended(const PodSpec& pod, int32_t node, std::vector<Id>& out) const;
  // kPass with the victims, or the node's preemption failure: the Filter status with every
  // lower-priority pod removed (extended resources it lacks in `extended`), or
  // kNoVictims when it has no lower-priority pod.
  NodeStatus select_victims(const PodSpec& pod, int32_t node, std::vector<int32_t>& victims);
  // Usage of a node as the pod's Filter sees it: placed pods plus the nominated pods that
  // outrank or equal it.
  bool nominated_counts(int32_t nominated, const PodSpec& pod) const;
  int64_t ext_used(const PodSpec& pod, Id resource, int32_t node) const;
  bool required_node_affinity(const PodSpec& pod, int32_t node) const;
  bool spread_eligible(const PodSpec& pod, const SpreadConstraint& c, int32_t node) const;
  int64_t count_matching(const Selector& selector, Id ns, int32_t node) const;

  void score_plugin(uint8_t plugin, const PodSpec& pod, const std::vector<int32_t>& nodes, std::vector<int64_t>& out);
  void score_fit(const PodSpec& pod, const std::vector<int32_t>& nodes, std::vector<int64_t>& out);
  void score_balanced(const PodSpec& pod, const std::vector<int32_t>& nodes, std::vector<int64_t>& out);
  // The positions of `nodes` whose score is not in `cache` for score_signature_ (into
  // unscored_), the others' written to `out`.
  void cached_scores(std::vector<CachedScore>& cache, const std::vector<int32_t>& nodes, std::vector<int64_t>& out);
  void score_taints(const PodSpec& pod, const std::vector<int32_t>& nodes, std::vector<int64_t>& out) const;
  void score_node_affinity(const PodSpec& pod, const std::vector<int32_t>& nodes, std::vector<int64_t>& out) const;
  void score_image_locality(const PodSpec& pod, const std::vector<int32_t>& nodes, std::vector<int64_t>& out) const;
  void score_spread(const PodSpec& pod, const std::vector<int32_t>& nodes, std::vector<int64_t>& out);
  void score_inter_pod(const PodSpec& pod, const std::vector<int32_t>& nodes, std::vector<int64_t>& out);

  uint64_t next_random();
  int64_t random_below(int64_t n) { return int64_t(next_random() % uint64_t(n)); }

  NodeTable& table_;
  Config config_;
  uint64_t rng_ = 0x9E3779B97F4A7C15ull;
  int32_t next_start_ = 0;
  int32_t self_nominated_ = -1;

  // PreFilter state, reused across pods.
  bool spread_active_ = false;
  std::vector<DomainCounts> spread_counts_;    // per DoNotSchedule constraint
  std::vector<int64_t> spread_min_;
  std::vector<const SpreadConstraint*> spread_constraints_;
  bool inter_pod_active_ = false;
  PairCounter affinity_counts_, anti_affinity_counts_, existing_anti_counts_;
  bool pod_matches_own_affinity_ = false;

  // Filters that apply to this pod: upstream's PreFilter returns Skip for the others
  // (no host ports, no node selector or affinity, no spread constraints, ...).
  std::vector<uint8_t> active_filters_;

  // A scored resource resolved once per pod to its columns (see resolve_resources).
  struct ResourceColumns {
    const int64_t* allocatable = nullptr;
    const int64_t* requested = nullptr;
    int64_t pod_request = 0;
    int64_t weight = 0;
    Id resource = kResourceCpu;
  };
  bool resolve_resources(const std::vector<ResourceSpec>& specs, const PodSpec& pod, bool use_requested,
                         std::vector<ResourceColumns>& out) const;
  std::vector<ResourceColumns> fit_columns_, balanced_columns_;
  mutable std::vector<int64_t> fit_sum_, fit_weight_;  // score_fit's per-node sums, reused

  // NodeResourcesFit's and NodeResourcesBalancedAllocation's scores depend only on the
  // node's allocatable and requested columns (NodeTable::version_ says when they change)
  // and on the pod's resolved columns (a signature: the resources, the pod's requests and
  // the weights, interned to a number).  A node scored for the same signature at its
  // current version is not scored again: a cycle scores hundreds of nodes, and between two
  // cycles only the nodes that gained or lost a pod have changed.
  uint32_t signature_of(uint8_t plugin, const std::vector<ResourceColumns>& columns);
  void forget_scores();
  std::vector<CachedScore> fit_scores_, balanced_scores_;  // per node slot
  std::vector<std::pair<std::vector<int64_t>, uint32_t>> signatures_;
  std::vector<int64_t> signature_key_;
  uint32_t next_signature_ = 1;
  uint32_t score_signature_ = 0;  // of the plugin being scored
  mutable std::vector<size_t> unscored_;  // positions whose score is not cached

  // Filter batches (filter_batch), reused: the nodes of a run, their statuses, and the
  // positions still passing.
  std::vector<int32_t> batch_nodes_;
  std::vector<NodeStatus> batch_statuses_;
  mutable std::vector<int32_t> batch_alive_;

  // Score buffers, reused.
  std::vector<int32_t> feasible_;
  std::vector<std::vector<int64_t>> raw_scores_;
  std::vector<int64_t> totals_;
  PairCounter score_counts_;
  std::vector<DomainCounts> score_spread_counts_;
  std::vector<double> score_spread_weights_;
  std::vector<uint8_t> score_ignored_;
  std::vector<std::pair<int32_t, NodeStatus>> statuses_;  // failed nodes of this cycle
  std::vector<Id> extended_;
};

}  // namespace pyk8s::sched
