#include "store.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <thread>
#include <utility>

namespace pyk8s::store {

namespace {

// Unique across stores, so one Notifier may serve watchers of several stores.
std::atomic<std::uint64_t> next_watcher_id{1};

bool has_prefix(std::string_view key, std::string_view prefix) {
  return key.size() >= prefix.size() && key.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

Store::Store(std::size_t watch_buffer) : watch_buffer_(watch_buffer) {}

Store::~Store() { close(); }

const Store::Resource* Store::find_resource(std::string_view resource) const {
  auto it = resources_.find(resource);
  return it == resources_.end() ? nullptr : it->second.get();
}

Store::Resource& Store::resource_for_write(std::string_view resource) {
  auto it = resources_.find(resource);
  if (it == resources_.end()) {
    it = resources_.emplace(std::string(resource), std::make_unique<Resource>()).first;
  }
  return *it->second;
}

KeyNode* Store::find_key(const Resource& res, std::string_view key) const { return res.index.find(key); }

KeyNode& Store::key_for_write(Resource& res, std::string key) {
  if (KeyNode* found = res.index.find(key)) return *found;
  auto node = res.keys.emplace(std::move(key), KeyHistory{}).first;
  res.scan.invalidate();
  res.index.insert(&*node);
  return *node;
}

void Store::count_live(Resource& res, std::string_view namespace_, bool added) {
  auto it = res.live_per_namespace.find(namespace_);
  if (added) {
    ++res.live;
    if (it == res.live_per_namespace.end()) {
      res.live_per_namespace.emplace(std::string(namespace_), 1);
    } else {
      ++it->second;
    }
  } else {
    --res.live;
    if (--it->second == 0) res.live_per_namespace.erase(it);
  }
}

ObjectPtr Store::get(std::string_view resource, std::string_view namespace_,
                     std::string_view name) const {
  // The hot read: build the key on the stack when it fits (names are at most 253 bytes,
  // namespaces 63), so a get allocates nothing.
  char buffer[384];
  std::string heap_key;
  std::string_view key;
  if (namespace_.size() + 1 + name.size() <= sizeof buffer) {
    std::memcpy(buffer, namespace_.data(), namespace_.size());
    buffer[namespace_.size()] = '/';
    std::memcpy(buffer + namespace_.size() + 1, name.data(), name.size());
    key = std::string_view(buffer, namespace_.size() + 1 + name.size());
  } else {
    heap_key = make_key(namespace_, name);
    key = heap_key;
  }
  const std::uint64_t hash = KeyTable::hash(key);  // before the lock: it needs none
  std::shared_lock<std::shared_mutex> lock(mutex_);
  const Resource* res = find_resource(resource);
  if (!res) return nullptr;
  const KeyNode* node = res->index.find(key, hash);
  return node ? node->second.latest() : nullptr;
}

ObjectPtr Store::build_object(WriteRequest& request, Revision revision) const {
  auto object = std::make_shared<Object>();
  object->namespace_.assign(request.namespace_);
  object->name.assign(request.name);
  object->data = stamp_template(request.template_bytes, request.rv_offset, revision,
                                &object->rv_length);
  object->rv_offset = request.rv_offset;
  object->mod_revision = revision;
  object->labels = std::move(request.labels);
  object->fields = std::move(request.fields);
  return object;
}

// A write, in steps (all under the exclusive lock):
//   1. find the key and check the precondition (exists / expected mod revision);
//   2. build the new object with the next revision stamped into its bytes;
//   3. append the version to the key's history;
//   4. append the event to the resource's log;
//   5. offer the event to every watcher of the resource (never blocking);
//   6. publish the new global revision.
// Publishing last matters: current_revision() is read without the lock (e.g. for watch
// bookmarks), and a reader that sees revision R must find R's event already queued on
// every watcher, or a client resuming from a bookmark at R would miss it.
// A write-ahead log would append its record between 2 and 3.
void Store::commit(Resource& res, KeyHistory& history, EventPtr event, ObjectPtr version) {
  Revision revision = event->revision;
  history.append(revision, std::move(version));
  res.log.append(event);
  auto& watchers = res.watchers;
  watchers.erase(std::remove_if(watchers.begin(), watchers.end(),
                                [&](const std::shared_ptr<Watcher>& w) { return !w->offer(event); }),
                 watchers.end());
  revision_.store(revision, std::memory_order_release);
}

void Store::index_fields(std::string_view resource, std::vector<std::string> names) {
  std::unique_lock<std::shared_mutex> lock(mutex_);
  Resource& res = resource_for_write(resource);
  std::vector<std::pair<const KeyNode*, const Object*>> live;
  live.reserve(res.live);
  for (const KeyNode& node : res.keys) {
    if (const Object* object = node.second.live()) live.emplace_back(&node, object);
  }
  res.selection.index_fields(std::move(names), live);
}

WriteResult Store::create(WriteRequest request) {
  std::string key = make_key(request.namespace_, request.name);
  std::unique_lock<std::shared_mutex> lock(mutex_);
  Resource& res = resource_for_write(request.resource);
  KeyNode& node = key_for_write(res, std::move(key));
  KeyHistory& history = node.second;
  if (const ObjectPtr& current = history.latest()) {
    return WriteResult{WriteStatus::kAlreadyExists, current->mod_revision, current};
  }
  Revision revision = current_revision() + 1;
  ObjectPtr object = build_object(request, revision);
  auto event = std::make_shared<const Event>(Event{EventType::kAdded, revision, object, nullptr});
  commit(res, history, std::move(event), object);
  res.index.hint(node.first, object.get());
  res.selection.add(&node, *object);
  count_live(res, object->namespace_, /*added=*/true);
  return WriteResult{WriteStatus::kOk, revision, std::move(object)};
}

WriteResult Store::update(WriteRequest request, Revision expected_revision) {
  std::string key = make_key(request.namespace_, request.name);
  std::unique_lock<std::shared_mutex> lock(mutex_);
  auto found = resources_.find(request.resource);
  if (found == resources_.end()) return WriteResult{};
  Resource& res = *found->second;
  KeyNode* node = find_key(res, key);
  if (!node || !node->second.latest()) return WriteResult{};
  ObjectPtr current = node->second.latest();
  if (expected_revision != 0 && current->mod_revision != expected_revision) {
    return WriteResult{WriteStatus::kConflict, current->mod_revision, current};
  }
  Revision revision = current_revision() + 1;
  ObjectPtr object = build_object(request, revision);
  res.selection.replace(node, *current, *object);
  auto event =
      std::make_shared<const Event>(Event{EventType::kModified, revision, object, std::move(current)});
  commit(res, node->second, std::move(event), object);
  res.index.hint(node->first, object.get());
  return WriteResult{WriteStatus::kOk, revision, std::move(object)};
}

WriteResult Store::remove(std::string_view resource, std::string_view namespace_,
                          std::string_view name, Revision expected_revision) {
  std::string key = make_key(namespace_, name);
  std::unique_lock<std::shared_mutex> lock(mutex_);
  auto found = resources_.find(resource);
  if (found == resources_.end()) return WriteResult{};
  Resource& res = *found->second;
  KeyNode* node = find_key(res, key);
  if (!node || !node->second.latest()) return WriteResult{};
  ObjectPtr current = node->second.latest();
  if (expected_revision != 0 && current->mod_revision != expected_revision) {
    return WriteResult{WriteStatus::kConflict, current->mod_revision, current};
  }
  Revision revision = current_revision() + 1;
  ObjectPtr deleted = restamp(*current, revision);
  res.selection.remove(node, *current);
  count_live(res, current->namespace_, /*added=*/false);
  auto event =
      std::make_shared<const Event>(Event{EventType::kDeleted, revision, deleted, std::move(current)});
  commit(res, node->second, std::move(event), nullptr);
  res.index.hint(node->first, nullptr);
  return WriteResult{WriteStatus::kOk, revision, std::move(deleted)};
}

void Store::list(const ListRequest& request, ListResult* out) const {
  std::string prefix;
  if (!request.namespace_.empty()) prefix = make_key(request.namespace_, "");
  std::shared_lock<std::shared_mutex> lock(mutex_);
  Revision current = current_revision();
  Revision at = request.revision == 0 ? current : request.revision;
  if (at < compacted_revision()) {
    out->error = RevisionError::kCompacted;
    out->error_bound = compacted_revision();
    return;
  }
  if (at > current) {
    out->error = RevisionError::kFuture;
    out->error_bound = current;
    return;
  }
  out->revision = at;
  const Resource* res = find_resource(request.resource);
  if (!res) return;
  if (at == current && request.selector && !request.selector->empty() &&
      list_indexed(*res, request, prefix, out)) {
    return;
  }
  const auto& entries = res->scan.entries(res->keys);
  auto key_less = [](const ScanIndex::Entry& e, std::string_view k) { return e.key < k; };
  std::size_t begin =
      std::lower_bound(entries.begin(), entries.end(), std::string_view(prefix), key_less) - entries.begin();
  if (!request.start_after.empty() && request.start_after >= std::string_view(prefix)) {
    auto after = std::upper_bound(entries.begin(), entries.end(), request.start_after,
                                  [](std::string_view k, const ScanIndex::Entry& e) { return k < e.key; });
    begin = static_cast<std::size_t>(after - entries.begin());
  }
  const std::size_t n = entries.size();
  const bool at_current = at == current;
  const bool whole_resource = prefix.empty();
  const Selector* selector = request.selector && !request.selector->empty() ? request.selector : nullptr;
  const std::size_t limit = request.limit;
  std::string_view last_key;
  // Prefetch pipeline (current revision only): the tree node kStep*3 entries ahead, the
  // object kStep*2 ahead, its labels/fields kStep ahead, so each entry's three dependent
  // cache misses are in flight before the loop reaches it.
  constexpr std::size_t kStep = 4;
  for (std::size_t i = begin; i < n; ++i) {
    const ScanIndex::Entry& entry = entries[i];
    if (!whole_resource && !has_prefix(entry.key, prefix)) break;
    if (at_current) {
      if (i + 3 * kStep < n) __builtin_prefetch(entries[i + 3 * kStep].history);
      if (i + 2 * kStep < n) {
        if (const Object* ahead = entries[i + 2 * kStep].history->live()) {
          __builtin_prefetch(ahead);
          __builtin_prefetch(&ahead->labels);
        }
      }
      if (selector && i + kStep < n) {
        if (const Object* ahead = entries[i + kStep].history->live()) {
          __builtin_prefetch(ahead->labels.data());
          __builtin_prefetch(ahead->fields.data());
        }
      }
    }
    const KeyHistory& history = *entry.history;
    // At the current revision the latest version is the answer: no search, and no
    // reference count taken unless the object is returned.
    ObjectPtr old_object;
    const Object* object;
    if (at_current) {
      object = history.live();
    } else {
      old_object = history.at(at);
      object = old_object.get();
    }
    if (!object) continue;
    if (selector && !selector->matches(*object)) continue;
    if (limit != 0 && out->items.size() >= limit) {
      ++out->remaining;  // upstream's remainingItemCount: keep counting matches
      continue;
    }
    out->body_size += object->data.size();
    out->items.push_back(at_current ? history.latest() : std::move(old_object));
    last_key = entry.key;
  }
  if (out->remaining > 0) out->next_key.assign(last_key);
}

bool Store::list_indexed(const Resource& res, const ListRequest& request, std::string_view prefix,
                         ListResult* out) const {
  // The same range as the scan's: the namespace's keys ("ns/" up to "ns0", '0' being the
  // byte after '/'), resuming after start_after when it lies at or past the range start.
  std::string until;
  if (!prefix.empty()) {
    until.assign(prefix);
    until.back() = '/' + 1;
  }
  KeyRange range{prefix, false, until};
  if (!request.start_after.empty() && request.start_after >= prefix) {
    range.from = request.start_after;
    range.after = true;
  }
  std::vector<const KeyNode*> candidates;
  bool exact = false;
  const Selector& selector = *request.selector;
  if (!res.selection.candidates(selector, range, &candidates, &exact)) return false;
  const std::size_t n = candidates.size();
  const std::size_t limit = request.limit;
  const KeyNode* last = nullptr;
  // The scan's prefetch pipeline over the candidates: node, then object, then (when the
  // selector still has to be tested) its labels and fields.
  constexpr std::size_t kStep = 4;
  for (std::size_t i = 0; i < n; ++i) {
    if (i + 3 * kStep < n) __builtin_prefetch(&candidates[i + 3 * kStep]->second);
    if (i + 2 * kStep < n) {
      if (const Object* ahead = candidates[i + 2 * kStep]->second.live()) {
        __builtin_prefetch(ahead);
        __builtin_prefetch(&ahead->labels);
      }
    }
    if (!exact && i + kStep < n) {
      if (const Object* ahead = candidates[i + kStep]->second.live()) {
        // Every line of the label pairs (64 bytes each): a selector tests several keys.
        const char* labels = reinterpret_cast<const char*>(ahead->labels.data());
        const std::size_t label_bytes = ahead->labels.size() * sizeof(ahead->labels[0]);
        for (std::size_t offset = 0; offset < label_bytes; offset += 64) __builtin_prefetch(labels + offset);
        if (!selector.fields.empty()) __builtin_prefetch(ahead->fields.data());
      }
    }
    const KeyHistory& history = candidates[i]->second;
    const Object* object = history.live();
    if (!object) continue;  // the index holds live keys only; kept as the scan's guard
    if (!exact && !selector.matches(*object)) continue;
    if (limit != 0 && out->items.size() >= limit) {
      ++out->remaining;
      continue;
    }
    out->body_size += object->data.size();
    out->items.push_back(history.latest());
    last = candidates[i];
  }
  if (out->remaining > 0) out->next_key.assign(last->first);
  return true;
}

std::size_t Store::count(std::string_view resource, std::string_view namespace_) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  const Resource* res = find_resource(resource);
  if (!res) return 0;
  if (namespace_.empty()) return res->live;
  auto it = res->live_per_namespace.find(namespace_);
  return it == res->live_per_namespace.end() ? 0 : it->second;
}

// Registration, atomically with respect to writes (exclusive lock):
//   1. check from_revision against the compacted revision;
//   2. collect the initial state (send_initial) or the log events after from_revision;
//   3. preload them into the watcher (exempt from its bound);
//   4. add the watcher to the resource, so the next write's event is its next event.
WatchResult Store::watch(WatchRequest request) {
  WatchResult result;
  auto watcher = std::make_shared<Watcher>(next_watcher_id.fetch_add(1), std::string(request.resource),
                                           std::move(request.filter), watch_buffer_, request.notifier);
  std::vector<WatchEvent> initial;
  {
    std::unique_lock<std::shared_mutex> lock(mutex_);
    Resource& res = resource_for_write(request.resource);
    const WatchFilter& filter = watcher->filter();
    if (request.send_initial) {
      std::string prefix;
      if (!filter.namespace_.empty()) prefix = make_key(filter.namespace_, "");
      for (auto it = res.keys.lower_bound(std::string_view(prefix));
           it != res.keys.end() && has_prefix(it->first, prefix); ++it) {
        const ObjectPtr& object = it->second.latest();
        if (!object || !filter.matches(*object)) continue;
        auto event = std::make_shared<const Event>(
            Event{EventType::kAdded, object->mod_revision, object, nullptr});
        initial.push_back(WatchEvent{EventType::kAdded, std::move(event)});
      }
    } else if (request.from_revision != 0) {
      if (request.from_revision < compacted_revision()) {
        result.error = RevisionError::kCompacted;
        result.error_bound = compacted_revision();
        return result;
      }
      for (auto it = res.log.first_after(request.from_revision); it != res.log.end(); ++it) {
        EventType type;
        if (watcher->translate(**it, &type)) initial.push_back(WatchEvent{type, *it});
      }
    }
    bool signal = !initial.empty();
    watcher->preload(std::move(initial));
    res.watchers.push_back(watcher);
    // Replayed events are news too: an event loop waiting on the notifier must wake.
    if (signal && request.notifier) request.notifier->signal(watcher->id());
  }
  result.watcher = std::move(watcher);
  return result;
}

void Store::unwatch(const Watcher& watcher) {
  std::unique_lock<std::shared_mutex> lock(mutex_);
  auto it = resources_.find(watcher.resource());
  if (it == resources_.end()) return;
  auto& watchers = it->second->watchers;
  watchers.erase(std::remove_if(watchers.begin(), watchers.end(),
                                [&](const std::shared_ptr<Watcher>& w) { return w.get() == &watcher; }),
                 watchers.end());
}

// Compaction, as etcd's: publish the new compacted revision first (reads below it now
// fail with kCompacted), then trim each resource's key histories and event log in
// batches, releasing the lock between batches so writers and readers make progress.
// Reads at or above the new compacted revision see the same answers throughout, because
// each key keeps its state as of that revision.
Revision Store::compact(Revision revision, std::size_t batch_size) {
  if (batch_size == 0) batch_size = 1;
  std::vector<std::string> names;
  {
    std::unique_lock<std::shared_mutex> lock(mutex_);
    revision = std::min(revision, current_revision());
    if (revision <= compacted_revision()) return compacted_revision();
    compacted_.store(revision, std::memory_order_release);
    for (const auto& entry : resources_) names.push_back(entry.first);
  }
  for (const auto& name : names) {
    compact_keys(name, revision, batch_size);
    compact_log(name, revision, batch_size);
  }
  return revision;
}

void Store::compact_keys(std::string_view resource, Revision revision, std::size_t batch_size) {
  std::string resume_from;  // first key of the next batch ("" sorts before every key)
  for (;;) {
    {
      std::unique_lock<std::shared_mutex> lock(mutex_);
      auto found = resources_.find(resource);
      if (found == resources_.end()) return;
      Resource& res = *found->second;
      auto it = res.keys.lower_bound(std::string_view(resume_from));
      for (std::size_t n = 0; n < batch_size && it != res.keys.end(); ++n) {
        if (it->second.compact(revision)) {
          res.index.erase(std::string_view(it->first));
          res.scan.invalidate();
          it = res.keys.erase(it);
        } else {
          ++it;
        }
      }
      if (it == res.keys.end()) return;
      resume_from = it->first;
    }
    std::this_thread::yield();  // let waiting writers and readers in between batches
  }
}

void Store::compact_log(std::string_view resource, Revision revision, std::size_t batch_size) {
  for (;;) {
    {
      std::unique_lock<std::shared_mutex> lock(mutex_);
      auto found = resources_.find(resource);
      if (found == resources_.end()) return;
      if (found->second->log.trim(revision, batch_size) < batch_size) return;
    }
    std::this_thread::yield();
  }
}

void Store::close() {
  std::unique_lock<std::shared_mutex> lock(mutex_);
  for (auto& entry : resources_) {
    for (auto& w : entry.second->watchers) w->end(/*signal=*/true);
    entry.second->watchers.clear();
  }
}

}  // namespace pyk8s::store
