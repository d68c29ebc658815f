// The scheduling cycle and DefaultPreemption's dry run.
#include "scheduler.h"

#include <algorithm>
#include <climits>

namespace pyk8s::sched {

namespace {

constexpr int32_t kMinFeasibleNodesToFind = 100;
constexpr int32_t kMinFeasibleNodesPercentageToFind = 5;
constexpr int32_t kMinCandidateNodesPercentage = 10;
constexpr int32_t kMinCandidateNodesAbsolute = 100;

// Nodes where removing pods cannot help: upstream's UnschedulableAndUnresolvable codes.
bool resolvable(uint8_t reason) {
  switch (reason) {
    case kPortsConflict:
    case kInsufficientResources:
    case kSpreadSkew:
    case kAntiAffinityRulesNotMatch:
    case kExistingAntiAffinity:
      return true;
    default:
      return false;
  }
}

void count_reason(std::vector<ReasonCount>& counts, const NodeStatus& status) {
  for (auto& c : counts) {
    const NodeStatus& s = c.status;
    if (s.plugin == status.plugin && s.reason == status.reason && s.fit_bits == status.fit_bits &&
        s.detail == status.detail && s.detail2 == status.detail2) {
      ++c.count;
      return;
    }
  }
  counts.push_back(ReasonCount{status, 1});
}

void aggregate(std::vector<ReasonCount>& counts, const NodeStatus& status, const std::vector<Id>& extended) {
  if (status.reason == kUntoleratedTaint) {
    // Upstream's message names no taint ("node(s) had untolerated taint(s)"); the
    // taint stays in the per-node status for explanations only.
    NodeStatus any_taint = status;
    any_taint.detail = any_taint.detail2 = kNoId;
    count_reason(counts, any_taint);
    return;
  }
  if (status.reason != kInsufficientResources) {
    count_reason(counts, status);
    return;
  }
  // NodeResourcesFit reports every insufficient resource of a node, extended ones by name.
  for (uint16_t bit = 1; bit < kExtended; bit <<= 1) {
    if (!(status.fit_bits & bit)) continue;
    NodeStatus one = status;
    one.fit_bits = bit;
    one.detail = kNoId;
    count_reason(counts, one);
  }
  for (Id resource : extended) {
    NodeStatus one = status;
    one.fit_bits = kExtended;
    one.detail = resource;
    count_reason(counts, one);
  }
}

}  // namespace

int32_t Scheduler::num_feasible_nodes_to_find(int32_t percentage, int32_t num_all_nodes) {
  if (num_all_nodes < kMinFeasibleNodesToFind) return num_all_nodes;
  if (percentage == 0) {
    percentage = 50 - num_all_nodes / 125;
    if (percentage < kMinFeasibleNodesPercentageToFind) percentage = kMinFeasibleNodesPercentageToFind;
  }
  int32_t num_nodes = int32_t(int64_t(num_all_nodes) * percentage / 100);
  return num_nodes < kMinFeasibleNodesToFind ? kMinFeasibleNodesToFind : num_nodes;
}

// splitmix64: small, seedable, and reproduced exactly by the Python twin.
uint64_t Scheduler::next_random() {
  uint64_t z = (rng_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

ScheduleResult Scheduler::schedule(const PodSpec& pod, bool explain, int32_t self_nominated) {
  ScheduleResult result;
  self_nominated_ = self_nominated;
  const auto& order = table_.order();
  const int32_t num_all = int32_t(order.size());
  result.num_all_nodes = num_all;
  if (num_all == 0) return result;
  if (next_start_ >= num_all) next_start_ %= num_all;

  // 1. PreFilter, then Filter from the rotating start until enough nodes are feasible.
  prefilter(pod);
  const int32_t to_find = num_feasible_nodes_to_find(config_.percentage_of_nodes_to_score, num_all);
  feasible_.clear();
  statuses_.clear();
  int32_t evaluated = 0;
  int32_t index = next_start_;  // walks the order from the rotating start, wrapping once
  // Nodes are filtered a run at a time (filter_batch), and then taken in order exactly as
  // one at a time: the walk stops at the node that makes enough feasible, and the rest
  // of its run counts as not evaluated (Filter changes nothing, so nothing is undone).
  while (evaluated < num_all && int32_t(feasible_.size()) < to_find) {
    const int32_t wanted = to_find - int32_t(feasible_.size());
    const int32_t run = std::min({std::max(wanted, kMinFilterRun), kMaxFilterRun, num_all - evaluated});
    batch_nodes_.resize(size_t(run));
    batch_statuses_.resize(size_t(run));
    for (int32_t i = 0, at = index; i < run; ++i) {
      batch_nodes_[size_t(i)] = order[at];
      if (++at == num_all) at = 0;
    }
    filter_batch(pod, batch_nodes_.data(), run, batch_statuses_.data());
    for (int32_t i = 0; i < run && int32_t(feasible_.size()) < to_find; ++i) {
      ++evaluated;
      if (++index == num_all) index = 0;
      const int32_t node = batch_nodes_[size_t(i)];
      const NodeStatus& status = batch_statuses_[size_t(i)];
      if (status.reason == kPass) {
        feasible_.push_back(node);
      } else {
        statuses_.push_back({node, status});
      }
      if (explain) {
        result.evaluated_nodes.push_back(node);
        result.statuses.push_back(status);
        if (status.fit_bits & kExtended) {
          result.extended_shortfalls.push_back({node, {}});
          insufficient_extended(pod, node, result.extended_shortfalls.back().second);
        }
      }
    }
  }
  next_start_ = (next_start_ + evaluated) % num_all;
  result.evaluated = evaluated;
  result.feasible = int32_t(feasible_.size());
  if (feasible_.empty() || explain)
    for (const auto& [node, status] : statuses_) {
      extended_.clear();
      if (status.fit_bits & kExtended) insufficient_extended(pod, node, extended_);
      aggregate(result.reasons, status, extended_);
    }
  if (feasible_.empty()) return result;
  if (explain) result.feasible_nodes = feasible_;
  if (feasible_.size() == 1) {  // upstream skips scoring a single feasible node
    result.node = feasible_[0];
    return result;
  }

  // 2. Score, normalize and weight per plugin.
  const size_t n = feasible_.size();
  totals_.assign(n, 0);
  if (raw_scores_.size() < config_.scores.size()) raw_scores_.resize(config_.scores.size());
  for (size_t p = 0; p < config_.scores.size(); ++p) {
    auto& out = raw_scores_[p];
    score_plugin(config_.scores[p].first, pod, feasible_, out);
    const int64_t weight = config_.scores[p].second;
    if (weight == 1) {
      for (size_t k = 0; k < n; ++k) totals_[k] += out[k];
    } else {
      for (size_t k = 0; k < n; ++k) totals_[k] += out[k] * weight;
    }
    if (explain) result.plugin_scores.emplace_back(out.begin(), out.begin() + n);
  }
  if (config_.scores.empty()) std::fill(totals_.begin(), totals_.end(), 1);
  if (explain) result.totals = totals_;

  // 3. Highest total wins; ties broken uniformly at random, as upstream's selectHost (which
  // draws once per tie, reservoir-style): here the ties are counted and one is drawn.
  const int64_t best = *std::max_element(totals_.begin(), totals_.end());
  int64_t ties = 0;
  for (size_t k = 0; k < n; ++k) ties += totals_[k] == best;
  int64_t pick = ties > 1 ? random_below(ties) : 0;
  size_t selected = 0;
  for (size_t k = 0; k < n; ++k) {
    if (totals_[k] == best && pick-- == 0) {
      selected = k;
      break;
    }
  }
  result.node = feasible_[selected];
  return result;
}

// Upstream's selectVictimsOnNode: remove every lower-priority pod; if the pod then fits,
// put them back most important first, keeping each one that still lets the pod fit.
NodeStatus Scheduler::select_victims(const PodSpec& pod, int32_t node, std::vector<int32_t>& victims) {
  victims.clear();
  std::vector<int32_t> lower;
  for (int32_t id : table_.pods_[node])
    if (table_.placed_[id].spec.priority < pod.priority) lower.push_back(id);
  if (lower.empty()) {
    NodeStatus none;
    none.reason = kNoVictims;
    return none;
  }
  for (int32_t id : lower) table_.detach_pod(id);
  prefilter(pod);
  NodeStatus without_lower = filter(pod, node);
  if (without_lower.reason != kPass) {
    extended_.clear();
    if (without_lower.fit_bits & kExtended) insufficient_extended(pod, node, extended_);
    for (int32_t id : lower) table_.attach_pod(id);
    return without_lower;
  }
  std::sort(lower.begin(), lower.end(), [&](int32_t a, int32_t b) {
    const PlacedPod& pa = table_.placed_[a];
    const PlacedPod& pb = table_.placed_[b];
    if (pa.spec.priority != pb.spec.priority) return pa.spec.priority > pb.spec.priority;
    if (pa.start_time != pb.start_time) return pa.start_time < pb.start_time;
    return pa.sequence < pb.sequence;
  });
  for (int32_t id : lower) {
    table_.attach_pod(id);
    prefilter(pod);
    if (filter(pod, node).reason != kPass) {
      table_.detach_pod(id);
      victims.push_back(id);
    }
  }
  for (int32_t id : victims) table_.attach_pod(id);
  return NodeStatus();
}

PreemptionResult Scheduler::preempt(const PodSpec& pod, int32_t self_nominated) {
  PreemptionResult result;
  self_nominated_ = self_nominated;
  const auto& order = table_.order();
  result.num_all_nodes = int32_t(order.size());
  if (pod.preempt_never) return result;
  prefilter(pod);
  std::vector<int32_t> potential;
  for (int32_t node : order) {
    NodeStatus status = filter(pod, node);
    if (status.reason == kPass) {  // the pod fits: nothing to preempt, nothing to report
      result.not_helpful = 0;
      return result;
    }
    if (resolvable(status.reason)) {
      potential.push_back(node);
    } else {
      ++result.not_helpful;
    }
  }
  if (potential.empty()) return result;

  int32_t num_candidates = int32_t(potential.size()) * kMinCandidateNodesPercentage / 100;
  if (num_candidates < kMinCandidateNodesAbsolute) num_candidates = kMinCandidateNodesAbsolute;
  if (num_candidates > int32_t(potential.size())) num_candidates = int32_t(potential.size());
  const size_t offset = size_t(random_below(int64_t(potential.size())));

  struct Candidate {
    int32_t node;
    std::vector<int32_t> victims;
  };
  std::vector<Candidate> candidates;
  std::vector<int32_t> victims;
  for (size_t i = 0; i < potential.size() && int32_t(candidates.size()) < num_candidates; ++i) {
    int32_t node = potential[(offset + i) % potential.size()];
    NodeStatus status = select_victims(pod, node, victims);
    if (status.reason == kPass) {
      candidates.push_back({node, victims});
    } else if (status.reason == kNoVictims) {
      ++result.no_victims;
    } else {
      aggregate(result.reasons, status, extended_);
    }
  }
  if (candidates.empty()) return result;

  // pickOneNodeForPreemption: a node needing no victims wins outright; then, in order,
  // lowest highest-priority victim, lowest priority sum, fewest victims, latest start
  // of the highest-priority victims (no PodDisruptionBudgets, so none is violated).
  for (const auto& c : candidates)
    if (c.victims.empty()) {
      result.node = c.node;
      return result;
    }
  struct Key {
    int64_t highest, sum, count, earliest_start;
  };
  std::vector<Key> keys;
  for (const auto& c : candidates) {
    Key k{INT64_MIN, 0, int64_t(c.victims.size()), INT64_MAX};
    for (int32_t id : c.victims) {
      const PlacedPod& p = table_.placed_[id];
      k.highest = std::max<int64_t>(k.highest, p.spec.priority);
      k.sum += int64_t(p.spec.priority) + int64_t(INT32_MAX) + 1;
    }
    for (int32_t id : c.victims) {
      const PlacedPod& p = table_.placed_[id];
      if (p.spec.priority == k.highest) k.earliest_start = std::min(k.earliest_start, p.start_time);
    }
    keys.push_back(k);
  }
  size_t best = 0;
  for (size_t i = 1; i < candidates.size(); ++i) {
    const Key &a = keys[i], &b = keys[best];
    if (a.highest != b.highest) {
      if (a.highest < b.highest) best = i;
    } else if (a.sum != b.sum) {
      if (a.sum < b.sum) best = i;
    } else if (a.count != b.count) {
      if (a.count < b.count) best = i;
    } else if (a.earliest_start > b.earliest_start) {
      best = i;
    }
  }
  result.node = candidates[best].node;
  result.victims = candidates[best].victims;
  return result;
}

}  // namespace pyk8s::sched
