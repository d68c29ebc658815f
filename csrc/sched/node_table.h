// The scheduler's cluster snapshot as a struct of arrays: one vector per node attribute,
// indexed by node slot, kept current by small incremental updates as nodes and pods come
// and go (upstream's cache + snapshot, without the per-cycle copy).  Kernels read these
// arrays; nothing here is rebuilt per pod.
#pragma once

#include <cstdint>
#include <vector>

#include "types.h"

namespace pyk8s::sched {

// A pod the table accounts for (bound or assumed).  Its PodSpec keeps what other pods'
// kernels need: labels and namespace for selectors, its own affinity terms, requests
// and ports for release on removal.
struct PlacedPod {
  bool alive = false;
  bool attached = false;  // counted on its node (preemption detaches for a dry run)
  int32_t node = -1;
  int64_t start_time = 0;  // status.startTime, seconds * 1e6
  uint64_t sequence = 0;   // order of addition: the last tie-break among equally important pods
  bool terminating = false;
  PodSpec spec;
  bool has_affinity() const {
    return !spec.required_affinity.empty() || !spec.required_anti_affinity.empty() ||
           !spec.preferred_affinity.empty() || !spec.preferred_anti_affinity.empty();
  }
};

// A pod nominated to a node by preemption but not bound yet (upstream's nominator).  It
// holds its space against pods of no higher priority: the Filter counts its requests,
// host ports and pod slot on the node (upstream's RunFilterPluginsWithNominatedPods).
struct NominatedPod {
  bool alive = false;
  int32_t node = -1;
  int32_t priority = 0;
  Resources requests;
  std::vector<HostPort> host_ports;
};

struct NodeAttributes {
  Id name = kNoId;
  Id zone = kNoId;  // upstream's zone key (region + ":\0:" + zone), "" for none
  LabelPairs labels;
  std::vector<Taint> taints;
  bool unschedulable = false;
  Resources allocatable;
  int64_t allowed_pods = 0;
  std::vector<std::pair<Id, int64_t>> images;  // image Id, size in bytes
};

class NodeTable {
 public:
  // Node slots are stable while a node exists; `order()` lists live slots in the order the
  // scheduler walks them: upstream's nodeTree, round-robin over zones (in order of first
  // appearance), nodes of a zone in insertion order, so a sampled share of nodes spans
  // every zone.  Rebuilt when membership or a node's zone changes, never per pod.
  int32_t add_node(NodeAttributes attributes);
  void update_node(int32_t slot, NodeAttributes attributes);
  void remove_node(int32_t slot);  // its pods are released too
  int32_t add_pod(int32_t node, PodSpec spec, int64_t start_time, bool terminating);
  void remove_pod(int32_t pod);
  int32_t add_nominated(int32_t node, const PodSpec& spec);
  void remove_nominated(int32_t nominated);
  void set_namespace_labels(Id namespace_id, LabelPairs labels);
  void set_value_number(Id value, int64_t number);

  // Dry-run helpers for preemption: take a pod's usage off its node and put it back.
  void detach_pod(int32_t pod);
  void attach_pod(int32_t pod);

  const std::vector<int32_t>& order() const {
    if (order_dirty_) rebuild_order();
    return order_;
  }
  size_t slots() const { return name_.size(); }

  // ---- struct of arrays, indexed by node slot ----
  std::vector<Id> name_;
  std::vector<uint8_t> alive_;
  std::vector<uint8_t> unschedulable_;
  std::vector<LabelPairs> labels_;
  std::vector<std::vector<Taint>> taints_;
  std::vector<int64_t> alloc_cpu_, alloc_mem_, alloc_eph_, alloc_pods_;
  std::vector<int64_t> req_cpu_, req_mem_, req_eph_, pod_count_;
  std::vector<int64_t> nonzero_cpu_, nonzero_mem_;
  // Extended resources: [resource Id][node slot].
  std::vector<std::vector<int64_t>> alloc_ext_, req_ext_;
  std::vector<std::vector<HostPort>> used_ports_;
  std::vector<std::vector<std::pair<Id, int64_t>>> images_;
  std::vector<std::vector<int32_t>> pods_;  // placed-pod ids per node
  std::vector<int32_t> pods_with_affinity_;  // count per node
  std::vector<std::vector<int32_t>> nominated_on_;  // nominated-pod ids per node
  // Changes to a node's attributes or placed pods: a fresh number each time (never reused,
  // a re-used slot included), so a score computed at one version holds while it is current.
  std::vector<uint64_t> version_;
  int64_t total_pods_with_affinity_ = 0;

  // ---- cluster-wide ----
  std::vector<PlacedPod> placed_;
  std::vector<NominatedPod> nominated_;
  std::vector<int32_t> anti_affinity_pods_;  // pods with required anti-affinity terms
  std::vector<int32_t> image_nodes_;         // image Id -> number of nodes holding it
  std::vector<LabelPairs> namespace_labels_;  // namespace Id -> labels
  ValueNumbers numbers_;

  int64_t ext_alloc(Id resource, int32_t node) const {
    return size_t(resource) < alloc_ext_.size() ? alloc_ext_[resource][node] : 0;
  }
  int64_t ext_requested(Id resource, int32_t node) const {
    return size_t(resource) < req_ext_.size() ? req_ext_[resource][node] : 0;
  }
  const LabelPairs& namespace_labels(Id ns) const {
    static const LabelPairs none;
    return size_t(ns) < namespace_labels_.size() ? namespace_labels_[ns] : none;
  }

 private:
  void ensure_ext(Id resource);
  void set_attributes(int32_t slot, NodeAttributes& attributes);
  void account(int32_t pod, int sign);
  void touch(int32_t slot) { version_[slot] = ++changes_; }
  uint64_t changes_ = 0;

  void zone_insert(int32_t slot, Id zone);
  void zone_erase(int32_t slot);
  void rebuild_order() const;

  // Rebuilt on first use after a change, so loading thousands of nodes stays linear.
  mutable std::vector<int32_t> order_;
  mutable bool order_dirty_ = false;
  std::vector<Id> zone_of_;                                     // per node slot
  std::vector<std::pair<Id, std::vector<int32_t>>> zones_;      // zone key -> slots
  std::vector<int32_t> free_node_slots_;
  std::vector<int32_t> free_pod_slots_;
  std::vector<int32_t> free_nominated_slots_;
  uint64_t next_sequence_ = 0;
};

}  // namespace pyk8s::sched
