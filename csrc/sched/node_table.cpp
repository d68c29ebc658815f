#include "node_table.h"

#include <algorithm>

namespace pyk8s::sched {

void NodeTable::ensure_ext(Id resource) {
  while (alloc_ext_.size() <= size_t(resource)) {
    alloc_ext_.emplace_back(name_.size(), 0);
    req_ext_.emplace_back(name_.size(), 0);
  }
}

void NodeTable::set_attributes(int32_t slot, NodeAttributes& a) {
  // Image spread counts follow the node's image list.
  for (const auto& image : images_[slot]) image_nodes_[image.first]--;
  for (const auto& image : a.images) {
    if (image_nodes_.size() <= size_t(image.first)) image_nodes_.resize(image.first + 1, 0);
    image_nodes_[image.first]++;
  }
  name_[slot] = a.name;
  unschedulable_[slot] = a.unschedulable;
  alloc_cpu_[slot] = a.allocatable.milli_cpu;
  alloc_mem_[slot] = a.allocatable.memory;
  alloc_eph_[slot] = a.allocatable.ephemeral_storage;
  alloc_pods_[slot] = a.allowed_pods;
  for (auto& column : alloc_ext_) column[slot] = 0;
  for (const auto& [resource, amount] : a.allocatable.extended) {
    ensure_ext(resource);
    alloc_ext_[resource][slot] = amount;
  }
  std::sort(a.labels.begin(), a.labels.end());
  labels_[slot] = std::move(a.labels);
  taints_[slot] = std::move(a.taints);
  images_[slot] = std::move(a.images);
  touch(slot);
}

int32_t NodeTable::add_node(NodeAttributes a) {
  int32_t slot;
  if (!free_node_slots_.empty()) {
    slot = free_node_slots_.back();
    free_node_slots_.pop_back();
  } else {
    slot = int32_t(name_.size());
    name_.push_back(kNoId);
    alive_.push_back(0);
    unschedulable_.push_back(0);
    labels_.emplace_back();
    taints_.emplace_back();
    for (auto* v : {&alloc_cpu_, &alloc_mem_, &alloc_eph_, &alloc_pods_, &req_cpu_, &req_mem_, &req_eph_,
                    &pod_count_, &nonzero_cpu_, &nonzero_mem_})
      v->push_back(0);
    for (auto& column : alloc_ext_) column.push_back(0);
    for (auto& column : req_ext_) column.push_back(0);
    used_ports_.emplace_back();
    images_.emplace_back();
    pods_.emplace_back();
    pods_with_affinity_.push_back(0);
    nominated_on_.emplace_back();
    zone_of_.push_back(kNoId);
    version_.push_back(0);
  }
  alive_[slot] = 1;
  req_cpu_[slot] = req_mem_[slot] = req_eph_[slot] = pod_count_[slot] = 0;
  nonzero_cpu_[slot] = nonzero_mem_[slot] = 0;
  for (auto& column : req_ext_) column[slot] = 0;
  used_ports_[slot].clear();
  images_[slot].clear();
  pods_[slot].clear();
  pods_with_affinity_[slot] = 0;
  nominated_on_[slot].clear();
  zone_insert(slot, a.zone);
  set_attributes(slot, a);
  order_dirty_ = true;
  return slot;
}

void NodeTable::update_node(int32_t slot, NodeAttributes a) {
  if (a.zone != zone_of_[slot]) {
    zone_erase(slot);
    zone_insert(slot, a.zone);
    order_dirty_ = true;
  }
  set_attributes(slot, a);
}

void NodeTable::zone_insert(int32_t slot, Id zone) {
  zone_of_[slot] = zone;
  for (auto& [key, slots] : zones_)
    if (key == zone) {
      slots.push_back(slot);
      return;
    }
  zones_.push_back({zone, {slot}});
}

void NodeTable::zone_erase(int32_t slot) {
  for (size_t z = 0; z < zones_.size(); ++z) {
    auto& slots = zones_[z].second;
    auto it = std::find(slots.begin(), slots.end(), slot);
    if (it == slots.end()) continue;
    slots.erase(it);
    if (slots.empty()) zones_.erase(zones_.begin() + z);
    return;
  }
}

void NodeTable::rebuild_order() const {
  order_dirty_ = false;
  order_.clear();
  for (size_t index = 0;; ++index) {
    bool any = false;
    for (const auto& zone : zones_)
      if (index < zone.second.size()) {
        order_.push_back(zone.second[index]);
        any = true;
      }
    if (!any) break;
  }
}

void NodeTable::remove_node(int32_t slot) {
  auto pods = pods_[slot];
  for (int32_t pod : pods) remove_pod(pod);
  auto nominated = nominated_on_[slot];
  for (int32_t id : nominated) remove_nominated(id);
  for (const auto& image : images_[slot]) image_nodes_[image.first]--;
  images_[slot].clear();
  alive_[slot] = 0;
  zone_erase(slot);
  order_dirty_ = true;
  free_node_slots_.push_back(slot);
  touch(slot);
}

void NodeTable::account(int32_t id, int sign) {
  PlacedPod& p = placed_[id];
  const int32_t n = p.node;
  const Resources& r = p.spec.requests;
  req_cpu_[n] += sign * r.milli_cpu;
  req_mem_[n] += sign * r.memory;
  req_eph_[n] += sign * r.ephemeral_storage;
  nonzero_cpu_[n] += sign * p.spec.nonzero_milli_cpu;
  nonzero_mem_[n] += sign * p.spec.nonzero_memory;
  pod_count_[n] += sign;
  touch(n);
  for (const auto& [resource, amount] : r.extended) {
    ensure_ext(resource);
    req_ext_[resource][n] += sign * amount;
  }
  auto& ports = used_ports_[n];
  for (const auto& port : p.spec.host_ports) {
    if (sign > 0) {
      ports.push_back(port);
    } else {
      auto it = std::find(ports.begin(), ports.end(), port);
      if (it != ports.end()) ports.erase(it);
    }
  }
  auto& on_node = pods_[n];
  if (sign > 0) {
    on_node.push_back(id);
  } else {
    on_node.erase(std::find(on_node.begin(), on_node.end(), id));
  }
  if (p.has_affinity()) {
    pods_with_affinity_[n] += sign;
    total_pods_with_affinity_ += sign;
  }
  if (!p.spec.required_anti_affinity.empty()) {
    if (sign > 0) {
      anti_affinity_pods_.push_back(id);
    } else {
      anti_affinity_pods_.erase(std::find(anti_affinity_pods_.begin(), anti_affinity_pods_.end(), id));
    }
  }
  p.attached = sign > 0;
}

int32_t NodeTable::add_pod(int32_t node, PodSpec spec, int64_t start_time, bool terminating) {
  int32_t id;
  if (!free_pod_slots_.empty()) {
    id = free_pod_slots_.back();
    free_pod_slots_.pop_back();
  } else {
    id = int32_t(placed_.size());
    placed_.emplace_back();
  }
  PlacedPod& p = placed_[id];
  p.alive = true;
  p.node = node;
  p.start_time = start_time;
  p.sequence = next_sequence_++;
  p.terminating = terminating;
  std::sort(spec.labels.begin(), spec.labels.end());
  p.spec = std::move(spec);
  account(id, +1);
  return id;
}

void NodeTable::remove_pod(int32_t id) {
  PlacedPod& p = placed_[id];
  if (!p.alive) return;
  if (p.attached) account(id, -1);
  p.alive = false;
  p.spec = PodSpec();
  free_pod_slots_.push_back(id);
}

void NodeTable::detach_pod(int32_t id) {
  if (placed_[id].attached) account(id, -1);
}

void NodeTable::attach_pod(int32_t id) {
  if (!placed_[id].attached) account(id, +1);
}

int32_t NodeTable::add_nominated(int32_t node, const PodSpec& spec) {
  int32_t id;
  if (!free_nominated_slots_.empty()) {
    id = free_nominated_slots_.back();
    free_nominated_slots_.pop_back();
  } else {
    id = int32_t(nominated_.size());
    nominated_.emplace_back();
  }
  NominatedPod& n = nominated_[id];
  n.alive = true;
  n.node = node;
  n.priority = spec.priority;
  n.requests = spec.requests;
  n.host_ports = spec.host_ports;
  nominated_on_[node].push_back(id);
  return id;
}

void NodeTable::remove_nominated(int32_t id) {
  NominatedPod& n = nominated_[id];
  if (!n.alive) return;
  auto& on_node = nominated_on_[n.node];
  on_node.erase(std::find(on_node.begin(), on_node.end(), id));
  n = NominatedPod();
  free_nominated_slots_.push_back(id);
}

void NodeTable::set_namespace_labels(Id ns, LabelPairs labels) {
  if (namespace_labels_.size() <= size_t(ns)) namespace_labels_.resize(ns + 1);
  std::sort(labels.begin(), labels.end());
  namespace_labels_[ns] = std::move(labels);
}

void NodeTable::set_value_number(Id value, int64_t number) {
  if (numbers_.number.size() <= size_t(value)) {
    numbers_.number.resize(value + 1, 0);
    numbers_.is_number.resize(value + 1, 0);
  }
  numbers_.number[value] = number;
  numbers_.is_number[value] = 1;
}

}  // namespace pyk8s::sched
