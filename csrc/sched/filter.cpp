// PreFilter and Filter kernels.  One Filter call answers for one node and stops at the
// first failing plugin, as upstream's framework does; reasons are constants.
#include <algorithm>
#include <climits>
#include <type_traits>

#include "scheduler.h"

namespace pyk8s::sched {

namespace {

bool is_do_not_schedule_effect(TaintEffect e) { return e == TaintEffect::NoSchedule || e == TaintEffect::NoExecute; }

bool has_untolerated_do_not_schedule_taint(const std::vector<Taint>& taints, const std::vector<Toleration>& tolerations,
                                           const Taint** first) {
  for (const auto& taint : taints) {
    if (is_do_not_schedule_effect(taint.effect) && !tolerated(tolerations, taint)) {
      if (first) *first = &taint;
      return true;
    }
  }
  return false;
}

}  // namespace

bool Scheduler::term_matches(const PodTerm& term, const PodSpec& target) const {
  bool in_namespace = std::binary_search(term.namespaces.begin(), term.namespaces.end(), target.namespace_id);
  if (!in_namespace && term.has_namespace_selector)
    in_namespace = term.namespace_selector.matches(table_.namespace_labels(target.namespace_id), table_.numbers_);
  return in_namespace && term.selector.matches(target.labels, table_.numbers_);
}

bool Scheduler::required_node_affinity(const PodSpec& pod, int32_t node) const {
  const LabelPairs& labels = table_.labels_[node];
  for (const auto& [key, value] : pod.node_selector)
    if (label_value(labels, key) != value) return false;
  if (!pod.has_required_node_affinity) return true;
  for (const auto& term : pod.required_node_terms)
    if (term.matches(labels, table_.name_[node], table_.numbers_)) return true;
  return false;
}

bool Scheduler::spread_eligible(const PodSpec& pod, const SpreadConstraint& c, int32_t node) const {
  if (c.honor_node_affinity && !required_node_affinity(pod, node)) return false;
  if (c.honor_node_taints && has_untolerated_do_not_schedule_taint(table_.taints_[node], pod.tolerations, nullptr))
    return false;
  return true;
}

// Upstream's countPodsMatchSelector: an empty selector counts nothing; terminating pods
// and other namespaces are skipped.
int64_t Scheduler::count_matching(const Selector& selector, Id ns, int32_t node) const {
  if (selector.empty()) return 0;
  int64_t count = 0;
  for (int32_t id : table_.pods_[node]) {
    const PlacedPod& p = table_.placed_[id];
    if (p.terminating || p.spec.namespace_id != ns) continue;
    count += selector.matches(p.spec.labels, table_.numbers_);
  }
  return count;
}

void Scheduler::prefilter(const PodSpec& pod) {
  const auto& order = table_.order();

  // PodTopologySpread, DoNotSchedule constraints: matching pods per domain over nodes that
  // carry every constraint's key and pass the node inclusion policies.
  spread_constraints_.clear();
  for (const auto& c : pod.spread_constraints)
    if (c.when == WhenUnsatisfiable::DoNotSchedule) spread_constraints_.push_back(&c);
  spread_active_ = !spread_constraints_.empty();
  if (spread_active_) {
    const size_t n = spread_constraints_.size();
    if (spread_counts_.size() < n) spread_counts_.resize(n);
    spread_min_.assign(n, 0);
    for (size_t i = 0; i < n; ++i) spread_counts_[i].reset();
    for (int32_t node : order) {
      const LabelPairs& labels = table_.labels_[node];
      bool all_keys = true;
      for (const auto* c : spread_constraints_) all_keys = all_keys && label_value(labels, c->topology_key) != kNoId;
      if (!all_keys) continue;
      for (size_t i = 0; i < n; ++i) {
        const SpreadConstraint& c = *spread_constraints_[i];
        if (!spread_eligible(pod, c, node)) continue;
        spread_counts_[i].add(label_value(labels, c.topology_key), count_matching(c.selector, pod.namespace_id, node));
      }
    }
    for (size_t i = 0; i < n; ++i) {
      const DomainCounts& counts = spread_counts_[i];
      int64_t minimum = INT32_MAX;
      for (Id v : counts.touched) minimum = std::min(minimum, counts.count[v]);
      if (int64_t(counts.touched.size()) < spread_constraints_[i]->min_domains) minimum = 0;
      spread_min_[i] = minimum;
    }
  }

  active_filters_.clear();
  for (uint8_t plugin : config_.filters) {
    bool skip = (plugin == kNodeName && pod.node_name == kNoId) ||
                (plugin == kNodeAffinity && pod.node_selector.empty() && !pod.has_required_node_affinity) ||
                (plugin == kNodePorts && pod.host_ports.empty()) || (plugin == kPodTopologySpread && !spread_active_);
    if (!skip) active_filters_.push_back(plugin);
  }

  // InterPodAffinity: existing pods' required anti-affinity against this pod, and this
  // pod's required terms against existing pods.
  inter_pod_active_ = !pod.required_affinity.empty() || !pod.required_anti_affinity.empty() ||
                      !table_.anti_affinity_pods_.empty();
  if (!inter_pod_active_) {
    active_filters_.erase(std::remove(active_filters_.begin(), active_filters_.end(), uint8_t(kInterPodAffinity)),
                          active_filters_.end());
    return;
  }
  existing_anti_counts_.reset();
  affinity_counts_.reset();
  anti_affinity_counts_.reset();
  for (int32_t id : table_.anti_affinity_pods_) {
    const PlacedPod& p = table_.placed_[id];
    const LabelPairs& labels = table_.labels_[p.node];
    for (const auto& term : p.spec.required_anti_affinity) {
      if (!term_matches(term, pod)) continue;
      Id value = label_value(labels, term.topology_key);
      if (value != kNoId) existing_anti_counts_.add(term.topology_key, value, 1);
    }
  }
  if (!pod.required_affinity.empty() || !pod.required_anti_affinity.empty()) {
    for (int32_t node : order) {
      const LabelPairs& labels = table_.labels_[node];
      for (int32_t id : table_.pods_[node]) {
        const PodSpec& existing = table_.placed_[id].spec;
        if (!pod.required_affinity.empty()) {
          bool all = true;
          for (const auto& term : pod.required_affinity) all = all && term_matches(term, existing);
          if (all) {
            for (const auto& term : pod.required_affinity) {
              Id value = label_value(labels, term.topology_key);
              if (value != kNoId) affinity_counts_.add(term.topology_key, value, 1);
            }
          }
        }
        for (const auto& term : pod.required_anti_affinity) {
          if (!term_matches(term, existing)) continue;
          Id value = label_value(labels, term.topology_key);
          if (value != kNoId) anti_affinity_counts_.add(term.topology_key, value, 1);
        }
      }
    }
  }
  pod_matches_own_affinity_ = true;
  for (const auto& term : pod.required_affinity) pod_matches_own_affinity_ = pod_matches_own_affinity_ && term_matches(term, pod);
}

namespace {

// Calls f(std::integral_constant<uint8_t, P>{}) for the Filter plugin P == plugin: one
// switch, so that each plugin's kernel is compiled for its constant.
template <typename F>
decltype(auto) with_filter_plugin(uint8_t plugin, F&& f) {
  switch (plugin) {
    case kNodeUnschedulable: return f(std::integral_constant<uint8_t, kNodeUnschedulable>{});
    case kNodeName: return f(std::integral_constant<uint8_t, kNodeName>{});
    case kTaintToleration: return f(std::integral_constant<uint8_t, kTaintToleration>{});
    case kNodeAffinity: return f(std::integral_constant<uint8_t, kNodeAffinity>{});
    case kNodePorts: return f(std::integral_constant<uint8_t, kNodePorts>{});
    case kNodeResourcesFit: return f(std::integral_constant<uint8_t, kNodeResourcesFit>{});
    case kPodTopologySpread: return f(std::integral_constant<uint8_t, kPodTopologySpread>{});
    case kInterPodAffinity: return f(std::integral_constant<uint8_t, kInterPodAffinity>{});
    default: return f(std::integral_constant<uint8_t, kPluginCount>{});  // not a Filter: passes
  }
}

}  // namespace

bool Scheduler::filter_plugin(uint8_t plugin, const PodSpec& pod, int32_t node, NodeStatus& status) const {
  const bool passed = with_filter_plugin(plugin, [&](auto p) { return filter_one<decltype(p)::value>(pod, node, status); });
  if (!passed) status.plugin = plugin;
  return passed;
}

template <uint8_t kPlugin>
int32_t Scheduler::filter_survivors(const PodSpec& pod, const int32_t* nodes, NodeStatus* statuses, int32_t alive) const {
  int32_t* positions = batch_alive_.data();
  int32_t kept = 0;
  for (int32_t j = 0; j < alive; ++j) {
    const int32_t i = positions[j];
    if (filter_one<kPlugin>(pod, nodes[i], statuses[i])) {
      positions[kept++] = i;
    } else {
      statuses[i].plugin = kPlugin;
    }
  }
  return kept;
}

void Scheduler::filter_batch(const PodSpec& pod, const int32_t* nodes, int32_t n, NodeStatus* statuses) const {
  if (int32_t(batch_alive_.size()) < n) batch_alive_.resize(size_t(n));
  for (int32_t i = 0; i < n; ++i) {
    statuses[i] = NodeStatus();
    batch_alive_[size_t(i)] = i;
  }
  int32_t alive = n;
  for (uint8_t plugin : active_filters_) {
    alive = with_filter_plugin(plugin, [&](auto p) { return filter_survivors<decltype(p)::value>(pod, nodes, statuses, alive); });
    if (alive == 0) break;
  }
}

template <uint8_t kPlugin>
bool Scheduler::filter_one(const PodSpec& pod, int32_t node, NodeStatus& status) const {
  switch (kPlugin) {
    case kNodeUnschedulable: {
      if (!table_.unschedulable_[node]) return true;
      Taint unschedulable{config_.unschedulable_taint_key, kNoId, TaintEffect::NoSchedule};
      for (const auto& t : pod.tolerations) {
        // Upstream builds this taint with an empty value; an Equal toleration matches it
        // only with an empty value too (Python interns "" as kNoId for this purpose).
        if (t.tolerates(unschedulable)) return true;
      }
      status.reason = kNodeUnschedulableReason;
      return false;
    }
    case kNodeName:
      if (pod.node_name == kNoId || pod.node_name == table_.name_[node]) return true;
      status.reason = kNodeNameMismatch;
      return false;
    case kTaintToleration: {
      const Taint* taint = nullptr;
      if (!has_untolerated_do_not_schedule_taint(table_.taints_[node], pod.tolerations, &taint)) return true;
      status.reason = kUntoleratedTaint;
      status.detail = taint->key;
      status.detail2 = taint->value;
      return false;
    }
    case kNodeAffinity:
      if (required_node_affinity(pod, node)) return true;
      status.reason = kNodeAffinityMismatch;
      return false;
    case kNodePorts:
      for (const auto& wanted : pod.host_ports) {
        for (const auto& used : table_.used_ports_[node])
          if (wanted.conflicts(used)) {
            status.reason = kPortsConflict;
            return false;
          }
        for (int32_t id : table_.nominated_on_[node]) {
          if (!nominated_counts(id, pod)) continue;
          for (const auto& used : table_.nominated_[id].host_ports)
            if (wanted.conflicts(used)) {
              status.reason = kPortsConflict;
              return false;
            }
        }
      }
      return true;
    case kNodeResourcesFit: {
      uint16_t bits = 0;
      int64_t pods = table_.pod_count_[node], cpu = table_.req_cpu_[node], mem = table_.req_mem_[node],
              eph = table_.req_eph_[node];
      for (int32_t id : table_.nominated_on_[node]) {
        if (!nominated_counts(id, pod)) continue;
        const Resources& n = table_.nominated_[id].requests;
        ++pods, cpu += n.milli_cpu, mem += n.memory, eph += n.ephemeral_storage;
      }
      if (pods + 1 > table_.alloc_pods_[node]) bits |= kTooManyPods;
      const Resources& r = pod.requests;
      if (r.milli_cpu > 0 && r.milli_cpu > table_.alloc_cpu_[node] - cpu) bits |= kCpu;
      if (r.memory > 0 && r.memory > table_.alloc_mem_[node] - mem) bits |= kMemory;
      if (r.ephemeral_storage > 0 && r.ephemeral_storage > table_.alloc_eph_[node] - eph) bits |= kEphemeral;
      for (const auto& [resource, amount] : r.extended) {
        if (amount == 0) continue;
        if (amount > table_.ext_alloc(resource, node) - ext_used(pod, resource, node)) {
          if (!(bits & kExtended)) status.detail = resource;
          bits |= kExtended;
        }
      }
      if (!bits) return true;
      status.reason = kInsufficientResources;
      status.fit_bits = bits;
      return false;
    }
    case kPodTopologySpread: {
      if (!spread_active_) return true;
      const LabelPairs& labels = table_.labels_[node];
      for (size_t i = 0; i < spread_constraints_.size(); ++i) {
        const SpreadConstraint& c = *spread_constraints_[i];
        Id value = label_value(labels, c.topology_key);
        if (value == kNoId) {
          status.reason = kSpreadMissingLabel;
          return false;
        }
        int64_t self_match = c.selector.matches(pod.labels, table_.numbers_) ? 1 : 0;
        int64_t skew = spread_counts_[i].get(value) + self_match - spread_min_[i];
        if (skew > c.max_skew) {
          status.reason = kSpreadSkew;
          return false;
        }
      }
      return true;
    }
    case kInterPodAffinity: {
      if (!inter_pod_active_) return true;
      const LabelPairs& labels = table_.labels_[node];
      // Required affinity: every term's key on the node, and a matching pod in each
      // domain, unless no pod anywhere matches and the pod matches its own terms.
      bool pods_exist = true;
      for (const auto& term : pod.required_affinity) {
        Id value = label_value(labels, term.topology_key);
        if (value == kNoId) {
          status.reason = kAffinityRulesNotMatch;
          return false;
        }
        if (affinity_counts_.get(term.topology_key, value) <= 0) pods_exist = false;
      }
      if (!pods_exist && !(affinity_counts_.nonzero() == 0 && pod_matches_own_affinity_)) {
        status.reason = kAffinityRulesNotMatch;
        return false;
      }
      for (const auto& term : pod.required_anti_affinity) {
        Id value = label_value(labels, term.topology_key);
        if (value != kNoId && anti_affinity_counts_.get(term.topology_key, value) > 0) {
          status.reason = kAntiAffinityRulesNotMatch;
          return false;
        }
      }
      for (Id key : existing_anti_counts_.keys()) {
        Id value = label_value(labels, key);
        if (value != kNoId && existing_anti_counts_.get(key, value) > 0) {
          status.reason = kExistingAntiAffinity;
          return false;
        }
      }
      return true;
    }
    default:
      return true;
  }
}

// Every extended resource the node cannot supply (the Filter stops at the first; the
// failure message names them all).
void Scheduler::insufficient_extended(const PodSpec& pod, int32_t node, std::vector<Id>& out) const {
  for (const auto& [resource, amount] : pod.requests.extended)
    if (amount != 0 && amount > table_.ext_alloc(resource, node) - ext_used(pod, resource, node))
      out.push_back(resource);
}

// Upstream adds nominated pods of priority >= the pod's (other than the pod itself) to
// the node before running Filter.  Only their requests, host ports and pod slot are
// counted here: the kernels keep no per-node copy to add them to.
bool Scheduler::nominated_counts(int32_t id, const PodSpec& pod) const {
  return id != self_nominated_ && table_.nominated_[id].priority >= pod.priority;
}

int64_t Scheduler::ext_used(const PodSpec& pod, Id resource, int32_t node) const {
  int64_t used = table_.ext_requested(resource, node);
  for (int32_t id : table_.nominated_on_[node]) {
    if (!nominated_counts(id, pod)) continue;
    for (const auto& [r, amount] : table_.nominated_[id].requests.extended)
      if (r == resource) used += amount;
  }
  return used;
}

NodeStatus Scheduler::filter(const PodSpec& pod, int32_t node) const {
  NodeStatus status;
  for (uint8_t plugin : active_filters_)
    if (!filter_plugin(plugin, pod, node, status)) return status;
  return NodeStatus();
}

}  // namespace pyk8s::sched
