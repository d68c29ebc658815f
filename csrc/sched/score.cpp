// PreScore, Score and NormalizeScore kernels: each writes one normalized 0..100 score per
// feasible node into `out` (weights are applied by the caller).  Arithmetic mirrors
// upstream's integer and float64 steps exactly so the Python twin agrees bit for bit.
#include <algorithm>
#include <cmath>
#include <climits>

#include "scheduler.h"

namespace pyk8s::sched {

namespace {

constexpr int64_t kMaxNodeScore = 100;

// a / b for 0 <= a, 0 < b, exactly as integer division: through a double quotient (far
// cheaper than a 64-bit idiv in the per-node loop) corrected by one step either way;
// operands past 2^53 take the integer path.
inline int64_t divide(int64_t a, int64_t b) {
  constexpr int64_t kExact = int64_t(1) << 53;
  if (a >= kExact || b >= kExact) return a / b;
  int64_t q = int64_t(double(a) / double(b));
  if (q * b > a) --q;
  else if ((q + 1) * b <= a) ++q;
  return q;
}

int64_t least_requested(int64_t requested, int64_t capacity) {
  if (capacity == 0 || requested > capacity) return 0;
  return divide((capacity - requested) * kMaxNodeScore, capacity);
}

int64_t most_requested(int64_t requested, int64_t capacity) {
  if (capacity == 0) return 0;
  if (requested > capacity) requested = capacity;  // pods without requests get defaults
  if (requested < 0) return requested * kMaxNodeScore / capacity;
  return divide(requested * kMaxNodeScore, capacity);
}

int64_t broken_linear(const std::vector<std::pair<int64_t, int64_t>>& shape, int64_t p) {
  for (size_t i = 0; i < shape.size(); ++i) {
    if (p <= shape[i].first) {
      if (i == 0) return shape[0].second;
      return shape[i - 1].second + (shape[i].second - shape[i - 1].second) * (p - shape[i - 1].first) /
                                       (shape[i].first - shape[i - 1].first);
    }
  }
  return shape.back().second;
}

// Upstream's helper.DefaultNormalizeScore.
void default_normalize(std::vector<int64_t>& scores, size_t n, bool reverse) {
  int64_t max_count = 0;
  for (size_t i = 0; i < n; ++i) max_count = std::max(max_count, scores[i]);
  if (max_count == 0) {
    if (reverse)
      for (size_t i = 0; i < n; ++i) scores[i] = kMaxNodeScore;
    return;
  }
  for (size_t i = 0; i < n; ++i) {
    int64_t s = kMaxNodeScore * scores[i] / max_count;
    scores[i] = reverse ? kMaxNodeScore - s : s;
  }
}

}  // namespace

// Each scored resource resolved once per pod to (allocatable column, requested column,
// this pod's request).  Left out: an extended resource the pod does not request or no
// node offers (upstream skips both).  Per node, a zero allocatable skips the resource.
// NodeResourcesFit scores non-zero requests (missing cpu/memory container requests count
// as 100m / 200Mi, on the node as for the pod); BalancedAllocation scores the requests as
// they are (upstream's useRequested).
bool Scheduler::resolve_resources(const std::vector<ResourceSpec>& specs, const PodSpec& pod, bool use_requested,
                                  std::vector<ResourceColumns>& out) const {
  out.clear();
  bool any_request = false;
  for (const auto& spec : specs) {
    ResourceColumns c;
    c.weight = spec.weight;
    switch (spec.resource) {
      case kResourceCpu:
        c = use_requested ? ResourceColumns{table_.alloc_cpu_.data(), table_.req_cpu_.data(), pod.requests.milli_cpu, spec.weight, spec.resource}
                          : ResourceColumns{table_.alloc_cpu_.data(), table_.nonzero_cpu_.data(), pod.nonzero_milli_cpu, spec.weight, spec.resource};
        break;
      case kResourceMemory:
        c = use_requested ? ResourceColumns{table_.alloc_mem_.data(), table_.req_mem_.data(), pod.requests.memory, spec.weight, spec.resource}
                          : ResourceColumns{table_.alloc_mem_.data(), table_.nonzero_mem_.data(), pod.nonzero_memory, spec.weight, spec.resource};
        break;
      case kResourceEphemeral:
        c = {table_.alloc_eph_.data(), table_.req_eph_.data(), pod.requests.ephemeral_storage, spec.weight, spec.resource};
        break;
      default: {
        int64_t wanted = 0;
        for (const auto& [r, amount] : pod.requests.extended)
          if (r == spec.resource) wanted = amount;
        if (wanted == 0 || size_t(spec.resource) >= table_.alloc_ext_.size()) continue;
        c = {table_.alloc_ext_[spec.resource].data(), table_.req_ext_[spec.resource].data(), wanted, spec.weight, spec.resource};
      }
    }
    any_request = any_request || c.pod_request != 0;
    out.push_back(c);
  }
  return any_request;
}

uint32_t Scheduler::signature_of(uint8_t plugin, const std::vector<ResourceColumns>& columns) {
  signature_key_.clear();
  signature_key_.push_back(plugin);
  for (const auto& c : columns) {
    signature_key_.push_back(c.resource);
    signature_key_.push_back(c.pod_request);
    signature_key_.push_back(c.weight);
  }
  for (const auto& [key, id] : signatures_)
    if (key == signature_key_) return id;
  if (signatures_.size() >= kMaxScoreSignatures) forget_scores();  // many pod shapes: start over
  signatures_.emplace_back(signature_key_, next_signature_);
  return next_signature_++;
}

void Scheduler::forget_scores() {
  signatures_.clear();
  fit_scores_.clear();
  balanced_scores_.clear();
}

void Scheduler::cached_scores(std::vector<CachedScore>& cache, const std::vector<int32_t>& nodes,
                              std::vector<int64_t>& out) {
  if (cache.size() < table_.slots()) cache.resize(table_.slots());
  const uint64_t* versions = table_.version_.data();
  const uint32_t signature = score_signature_;
  unscored_.clear();
  for (size_t k = 0; k < nodes.size(); ++k) {
    const CachedScore& cached = cache[size_t(nodes[k])];
    if (cached.signature == signature && cached.version == versions[nodes[k]]) {
      out[k] = cached.score;
    } else {
      unscored_.push_back(k);
    }
  }
}

void Scheduler::score_fit(const PodSpec&, const std::vector<int32_t>& nodes, std::vector<int64_t>& out) {
  cached_scores(fit_scores_, nodes, out);
  // The rest resource by resource (its columns and the strategy stay put over the nodes),
  // then each node's weighted mean over the resources it has.
  const size_t n = unscored_.size();
  const int32_t* node_ids = nodes.data();
  const size_t* positions = unscored_.data();
  fit_sum_.assign(n, 0);
  fit_weight_.assign(n, 0);
  int64_t* sum = fit_sum_.data();
  int64_t* weights = fit_weight_.data();
  const FitStrategy strategy = config_.fit_strategy;
  for (const auto& c : fit_columns_) {
    const int64_t* allocatable = c.allocatable;
    const int64_t* requested = c.requested;
    const int64_t pod_request = c.pod_request, weight = c.weight;
    for (size_t m = 0; m < n; ++m) {
      const int32_t node = node_ids[positions[m]];
      const int64_t alloc = allocatable[node];
      if (alloc == 0) continue;
      const int64_t req = requested[node] + pod_request;
      int64_t s;
      if (strategy == FitStrategy::LeastAllocated) {
        s = least_requested(req, alloc);
      } else if (strategy == FitStrategy::MostAllocated) {
        s = most_requested(req, alloc);
      } else {
        s = broken_linear(config_.shape, req > alloc ? 100 : req * 100 / alloc);
        if (s <= 0) continue;  // RequestedToCapacityRatio ignores zero-scored resources
      }
      sum[m] += s * weight;
      weights[m] += weight;
    }
  }
  for (size_t m = 0; m < n; ++m) {
    int64_t score;
    if (weights[m] == 0) {
      score = 0;
    } else if (strategy == FitStrategy::RequestedToCapacityRatio) {
      score = int64_t(std::round(double(sum[m]) / double(weights[m])));
    } else {
      score = divide(sum[m], weights[m]);
    }
    const int32_t node = node_ids[positions[m]];
    out[positions[m]] = score;
    fit_scores_[size_t(node)] = {table_.version_[size_t(node)], score_signature_, score};
  }
}

void Scheduler::score_balanced(const PodSpec&, const std::vector<int32_t>& nodes, std::vector<int64_t>& out) {
  cached_scores(balanced_scores_, nodes, out);
  const auto& columns = balanced_columns_;
  for (size_t k : unscored_) {
    const int32_t node = nodes[k];
    double fractions[16];
    size_t count = 0;
    double total = 0;
    for (const auto& c : columns) {
      const int64_t alloc = c.allocatable[node];
      if (alloc == 0 || count == 16) continue;
      double fraction = double(c.requested[node] + c.pod_request) / double(alloc);
      if (fraction > 1) fraction = 1;
      total += fraction;
      fractions[count++] = fraction;
    }
    double std_dev = 0;
    if (count == 2) {
      std_dev = std::fabs((fractions[0] - fractions[1]) / 2);
    } else if (count > 2) {
      double mean = total / double(count);
      double sum = 0;
      for (size_t i = 0; i < count; ++i) sum = sum + (fractions[i] - mean) * (fractions[i] - mean);
      std_dev = std::sqrt(sum / double(count));
    }
    out[k] = int64_t((1 - std_dev) * double(kMaxNodeScore));
    balanced_scores_[size_t(node)] = {table_.version_[size_t(node)], score_signature_, out[k]};
  }
}

void Scheduler::score_taints(const PodSpec& pod, const std::vector<int32_t>& nodes, std::vector<int64_t>& out) const {
  for (size_t k = 0; k < nodes.size(); ++k) {
    int64_t untolerated = 0;
    for (const auto& taint : table_.taints_[nodes[k]]) {
      if (taint.effect != TaintEffect::PreferNoSchedule) continue;
      bool ok = false;
      for (const auto& t : pod.tolerations)
        if ((t.effect == TaintEffect::Any || t.effect == TaintEffect::PreferNoSchedule) && t.tolerates(taint)) ok = true;
      untolerated += !ok;
    }
    out[k] = untolerated;
  }
  default_normalize(out, nodes.size(), true);
}

void Scheduler::score_node_affinity(const PodSpec& pod, const std::vector<int32_t>& nodes,
                                    std::vector<int64_t>& out) const {
  for (size_t k = 0; k < nodes.size(); ++k) {
    int64_t sum = 0;
    for (const auto& term : pod.preferred_node_terms)
      if (term.matches(table_.labels_[nodes[k]], table_.name_[nodes[k]], table_.numbers_)) sum += term.weight;
    out[k] = sum;
  }
  default_normalize(out, nodes.size(), false);
}

void Scheduler::score_image_locality(const PodSpec& pod, const std::vector<int32_t>& nodes,
                                     std::vector<int64_t>& out) const {
  constexpr int64_t mb = 1024 * 1024, min_threshold = 23 * mb, max_container_threshold = 1000 * mb;
  const double total_nodes = double(table_.order().size());
  const int64_t max_threshold = max_container_threshold * pod.num_containers;
  bool any_present = false;
  for (Id wanted : pod.images)
    any_present = any_present || (size_t(wanted) < table_.image_nodes_.size() && table_.image_nodes_[wanted] > 0);
  if (!any_present) {  // no node holds any of the images: every sum is clamped to the minimum
    std::fill(out.begin(), out.begin() + nodes.size(), 0);
    return;
  }
  for (size_t k = 0; k < nodes.size(); ++k) {
    const auto& images = table_.images_[nodes[k]];
    int64_t sum = 0;
    for (Id wanted : pod.images)
      for (const auto& [image, size] : images)
        if (image == wanted) {
          double spread = double(table_.image_nodes_[image]) / total_nodes;
          sum += int64_t(double(size) * spread);
          break;
        }
    if (sum < min_threshold) sum = min_threshold;
    else if (sum > max_threshold) sum = max_threshold;
    out[k] = max_threshold == min_threshold ? 0 : kMaxNodeScore * (sum - min_threshold) / (max_threshold - min_threshold);
  }
}

void Scheduler::score_spread(const PodSpec& pod, const std::vector<int32_t>& nodes, std::vector<int64_t>& out) {
  std::vector<const SpreadConstraint*> constraints;
  for (const auto& c : pod.spread_constraints)
    if (c.when == WhenUnsatisfiable::ScheduleAnyway) constraints.push_back(&c);
  if (constraints.empty()) {  // PreScore: Skip
    std::fill(out.begin(), out.begin() + nodes.size(), 0);
    return;
  }
  const size_t n = constraints.size();
  if (score_spread_counts_.size() < n) score_spread_counts_.resize(n);
  for (size_t i = 0; i < n; ++i) score_spread_counts_[i].reset();
  score_spread_weights_.assign(n, 0);
  score_ignored_.assign(nodes.size(), 0);
  auto has_all_keys = [&](int32_t node) {
    if (!pod.require_all_topologies) return true;
    for (const auto* c : constraints)
      if (label_value(table_.labels_[node], c->topology_key) == kNoId) return false;
    return true;
  };
  // A missing key reads as "" (a Go map lookup), one domain with an explicit "" value.
  auto domain = [&](int32_t node, Id key) {
    Id value = label_value(table_.labels_[node], key);
    return value == kNoId ? config_.empty_value : value;
  };
  std::vector<int64_t> topology_size(n, 0);
  size_t ignored = 0;
  for (size_t k = 0; k < nodes.size(); ++k) {
    if (!has_all_keys(nodes[k])) {
      score_ignored_[k] = 1;
      ++ignored;
      continue;
    }
    for (size_t i = 0; i < n; ++i) {
      if (constraints[i]->topology_key == config_.hostname_key) continue;  // counted per node in Score
      Id value = domain(nodes[k], constraints[i]->topology_key);
      if (!score_spread_counts_[i].has(value)) {
        score_spread_counts_[i].add(value, 0);
        ++topology_size[i];
      }
    }
  }
  for (size_t i = 0; i < n; ++i) {
    int64_t size = constraints[i]->topology_key == config_.hostname_key ? int64_t(nodes.size() - ignored) : topology_size[i];
    score_spread_weights_[i] = std::log(double(size + 2));
  }
  for (int32_t node : table_.order()) {
    if (!has_all_keys(node)) continue;
    for (size_t i = 0; i < n; ++i) {
      const SpreadConstraint& c = *constraints[i];
      if (!spread_eligible(pod, c, node)) continue;
      Id value = domain(node, c.topology_key);
      if (!score_spread_counts_[i].has(value)) continue;
      score_spread_counts_[i].add(value, count_matching(c.selector, pod.namespace_id, node));
    }
  }
  int64_t min_score = INT64_MAX, max_score = 0;
  for (size_t k = 0; k < nodes.size(); ++k) {
    if (score_ignored_[k]) continue;
    double score = 0;
    for (size_t i = 0; i < n; ++i) {
      const SpreadConstraint& c = *constraints[i];
      Id value = label_value(table_.labels_[nodes[k]], c.topology_key);
      if (value == kNoId) continue;
      int64_t count = c.topology_key == config_.hostname_key ? count_matching(c.selector, pod.namespace_id, nodes[k])
                                                              : score_spread_counts_[i].get(value);
      score += double(count) * score_spread_weights_[i] + double(c.max_skew - 1);
    }
    out[k] = int64_t(std::round(score));
    min_score = std::min(min_score, out[k]);
    max_score = std::max(max_score, out[k]);
  }
  for (size_t k = 0; k < nodes.size(); ++k) {
    if (score_ignored_[k]) out[k] = 0;
    else if (max_score == 0) out[k] = kMaxNodeScore;
    else out[k] = kMaxNodeScore * (max_score + min_score - out[k]) / max_score;
  }
}

void Scheduler::score_inter_pod(const PodSpec& pod, const std::vector<int32_t>& nodes, std::vector<int64_t>& out) {
  std::fill(out.begin(), out.begin() + nodes.size(), 0);
  const bool has_constraints = !pod.preferred_affinity.empty() || !pod.preferred_anti_affinity.empty();
  if (config_.ignore_preferred_terms_of_existing_pods && !has_constraints) return;
  if (!has_constraints && table_.total_pods_with_affinity_ == 0) return;  // nothing to count
  score_counts_.reset();
  auto process = [&](const PodTerm& term, const PodSpec& target, const LabelPairs& labels, int64_t weight) {
    if (!term_matches(term, target)) return;
    Id value = label_value(labels, term.topology_key);
    if (value != kNoId) score_counts_.add(term.topology_key, value, weight);
  };
  for (int32_t node : table_.order()) {
    if (!has_constraints && table_.pods_with_affinity_[node] == 0) continue;
    const LabelPairs& labels = table_.labels_[node];
    if (labels.empty()) continue;
    for (int32_t id : table_.pods_[node]) {
      const PlacedPod& placed = table_.placed_[id];
      if (!has_constraints && !placed.has_affinity()) continue;
      const PodSpec& existing = placed.spec;
      for (const auto& t : pod.preferred_affinity) process(t, existing, labels, t.weight);
      for (const auto& t : pod.preferred_anti_affinity) process(t, existing, labels, -int64_t(t.weight));
      if (config_.hard_pod_affinity_weight > 0)
        for (const auto& t : existing.required_affinity) process(t, pod, labels, config_.hard_pod_affinity_weight);
      for (const auto& t : existing.preferred_affinity) process(t, pod, labels, t.weight);
      for (const auto& t : existing.preferred_anti_affinity) process(t, pod, labels, -int64_t(t.weight));
    }
  }
  if (score_counts_.entries() == 0) return;  // PreScore: Skip
  int64_t min_count = INT64_MAX, max_count = INT64_MIN;
  for (size_t k = 0; k < nodes.size(); ++k) {
    int64_t score = 0;
    const auto& keys = score_counts_.keys();
    for (size_t i = 0; i < keys.size(); ++i) {
      Id value = label_value(table_.labels_[nodes[k]], keys[i]);
      if (value != kNoId) score += score_counts_.column_at(i).get(value);
    }
    out[k] = score;
    min_count = std::min(min_count, score);
    max_count = std::max(max_count, score);
  }
  const int64_t diff = max_count - min_count;
  for (size_t k = 0; k < nodes.size(); ++k) {
    double f = 0;
    if (diff > 0) f = double(kMaxNodeScore) * (double(out[k] - min_count) / double(diff));
    out[k] = int64_t(f);
  }
}

void Scheduler::score_plugin(uint8_t plugin, const PodSpec& pod, const std::vector<int32_t>& nodes,
                             std::vector<int64_t>& out) {
  if (out.size() < nodes.size()) out.resize(nodes.size());
  switch (plugin) {
    case kNodeResourcesFit:
      resolve_resources(config_.fit_resources, pod, false, fit_columns_);
      score_signature_ = signature_of(plugin, fit_columns_);
      score_fit(pod, nodes, out);
      break;
    case kNodeResourcesBalancedAllocation:
      // PreScore: Skip for a best-effort pod (it requests none of the resources), so that
      // such pods do not all pile onto the most balanced node (upstream issue 129138).
      if (!resolve_resources(config_.balanced_resources, pod, true, balanced_columns_)) {
        std::fill(out.begin(), out.begin() + nodes.size(), 0);
      } else {
        score_signature_ = signature_of(plugin, balanced_columns_);
        score_balanced(pod, nodes, out);
      }
      break;
    case kTaintToleration: score_taints(pod, nodes, out); break;
    case kNodeAffinity:
      if (pod.preferred_node_terms.empty()) std::fill(out.begin(), out.begin() + nodes.size(), 0);  // Skip
      else score_node_affinity(pod, nodes, out);
      break;
    case kImageLocality: score_image_locality(pod, nodes, out); break;
    case kPodTopologySpread: score_spread(pod, nodes, out); break;
    case kInterPodAffinity: score_inter_pod(pod, nodes, out); break;
    default: std::fill(out.begin(), out.begin() + nodes.size(), 0);
  }
}

}  // namespace pyk8s::sched
