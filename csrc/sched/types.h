// Value types shared by the node table and the kernels.  Every string (label keys and
// values, namespaces, taint keys, resource and image names) is interned to an Id by the
// Python facade before it gets here, so matching is integer comparison and nothing in a
// kernel formats or hashes a string.
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

namespace pyk8s::sched {

using Id = int32_t;
constexpr Id kNoId = -1;

// Sorted by key: lookups are a short binary search, no hashing.
using LabelPairs = std::vector<std::pair<Id, Id>>;

inline Id label_value(const LabelPairs& labels, Id key) {
  auto it = std::lower_bound(labels.begin(), labels.end(), std::make_pair(key, Id(-2147483647 - 1)));
  return (it != labels.end() && it->first == key) ? it->second : kNoId;
}

enum class Op : uint8_t { In, NotIn, Exists, DoesNotExist, Gt, Lt };

// Numeric reading of each interned label value (for Gt/Lt), indexed by value Id.
struct ValueNumbers {
  std::vector<int64_t> number;
  std::vector<uint8_t> is_number;
  bool get(Id value, int64_t& out) const {
    if (value < 0 || size_t(value) >= is_number.size() || !is_number[value]) return false;
    out = number[value];
    return true;
  }
};

struct Requirement {
  Id key = kNoId;
  Op op = Op::In;
  std::vector<Id> values;  // sorted
  int64_t number = 0;      // Gt/Lt operand

  bool matches(const LabelPairs& labels, const ValueNumbers& numbers) const {
    Id v = label_value(labels, key);
    switch (op) {
      case Op::In: return v != kNoId && std::binary_search(values.begin(), values.end(), v);
      case Op::NotIn: return v == kNoId || !std::binary_search(values.begin(), values.end(), v);
      case Op::Exists: return v != kNoId;
      case Op::DoesNotExist: return v == kNoId;
      case Op::Gt:
      case Op::Lt: {
        int64_t n;
        if (v == kNoId || !numbers.get(v, n)) return false;
        return op == Op::Gt ? n > number : n < number;
      }
    }
    return false;
  }
};

// A label selector.  `nothing` is the nil selector (matches no object); an empty list of
// requirements is the empty selector (matches every object).
struct Selector {
  bool nothing = false;
  std::vector<Requirement> requirements;

  bool empty() const { return !nothing && requirements.empty(); }
  bool matches(const LabelPairs& labels, const ValueNumbers& numbers) const {
    if (nothing) return false;
    for (const auto& r : requirements)
      if (!r.matches(labels, numbers)) return false;
    return true;
  }
};

// One nodeSelectorTerm: matchExpressions over labels and matchFields over metadata.name.
// A term with neither matches nothing (upstream's rule).
struct NodeSelectorTerm {
  std::vector<Requirement> expressions;
  std::vector<Requirement> name_fields;  // key unused; values are node-name Ids
  int32_t weight = 0;                    // preferred terms only

  bool matches(const LabelPairs& labels, Id node_name, const ValueNumbers& numbers) const {
    if (expressions.empty() && name_fields.empty()) return false;
    for (const auto& r : expressions)
      if (!r.matches(labels, numbers)) return false;
    for (const auto& f : name_fields) {
      bool in = std::binary_search(f.values.begin(), f.values.end(), node_name);
      if ((f.op == Op::In) != in) return false;
    }
    return true;
  }
};

enum class TaintEffect : uint8_t { Any = 0, NoSchedule, PreferNoSchedule, NoExecute };

struct Taint {
  Id key = kNoId;
  Id value = kNoId;
  TaintEffect effect = TaintEffect::NoSchedule;
};

struct Toleration {
  Id key = kNoId;  // kNoId: empty key (with Exists, tolerates everything)
  bool exists = false;
  Id value = kNoId;
  TaintEffect effect = TaintEffect::Any;

  bool tolerates(const Taint& t) const {
    if (effect != TaintEffect::Any && effect != t.effect) return false;
    if (key != kNoId && key != t.key) return false;
    return exists || value == t.value;
  }
};

inline bool tolerated(const std::vector<Toleration>& tolerations, const Taint& taint) {
  for (const auto& t : tolerations)
    if (t.tolerates(taint)) return true;
  return false;
}

// A used host port.  ip == kNoId stands for 0.0.0.0 (every address).
struct HostPort {
  Id ip = kNoId;
  uint8_t protocol = 0;
  int32_t port = 0;
  bool operator==(const HostPort& o) const { return ip == o.ip && protocol == o.protocol && port == o.port; }
  bool conflicts(const HostPort& o) const {
    return port == o.port && protocol == o.protocol && (ip == kNoId || o.ip == kNoId || ip == o.ip);
  }
};

// A pod (anti-)affinity term as upstream's framework.AffinityTerm, plus its weight when it
// is a preferred term.
struct PodTerm {
  Selector selector;
  std::vector<Id> namespaces;  // sorted
  bool has_namespace_selector = false;
  Selector namespace_selector;
  Id topology_key = kNoId;
  int32_t weight = 0;
};

struct Resources {
  int64_t milli_cpu = 0;
  int64_t memory = 0;
  int64_t ephemeral_storage = 0;
  std::vector<std::pair<Id, int64_t>> extended;  // sorted by resource Id
};

enum class WhenUnsatisfiable : uint8_t { DoNotSchedule, ScheduleAnyway };

struct SpreadConstraint {
  int32_t max_skew = 1;
  Id topology_key = kNoId;
  WhenUnsatisfiable when = WhenUnsatisfiable::DoNotSchedule;
  Selector selector;  // matchLabelKeys already merged in
  int32_t min_domains = 1;
  bool honor_node_affinity = true;
  bool honor_node_taints = false;
};

// Everything the kernels read about the pod being scheduled: built once per pod
// (upstream's PreFilter), read for every node.
struct PodSpec {
  Id namespace_id = kNoId;
  LabelPairs labels;
  int32_t priority = 0;
  bool preempt_never = false;
  Id node_name = kNoId;  // spec.nodeName
  Resources requests;     // max(sum containers, max init) + overhead
  int64_t nonzero_milli_cpu = 0;  // as requests, missing container requests defaulted
  int64_t nonzero_memory = 0;
  std::vector<HostPort> host_ports;
  std::vector<Toleration> tolerations;
  LabelPairs node_selector;
  bool has_required_node_affinity = false;
  std::vector<NodeSelectorTerm> required_node_terms;
  std::vector<NodeSelectorTerm> preferred_node_terms;
  std::vector<SpreadConstraint> spread_constraints;
  // False only for the scheduler's system-default constraints: scoring then keeps nodes
  // that lack a topology key (upstream's requireAllTopologies).
  bool require_all_topologies = true;
  std::vector<PodTerm> required_affinity;
  std::vector<PodTerm> required_anti_affinity;
  std::vector<PodTerm> preferred_affinity;
  std::vector<PodTerm> preferred_anti_affinity;
  std::vector<Id> images;  // normalized image names of containers and init containers
  int32_t num_containers = 0;
};

}  // namespace pyk8s::sched
