// The revisioned object store: one global revision, per resource a sorted key index of
// per-key histories (MVCC reads), an event log (watch replay), and the live watchers.
//
// Everything here runs without the GIL; the bindings marshal arguments into these types
// first and build Python objects from the results afterwards.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "event_log.h"
#include "key_history.h"
#include "key_table.h"
#include "notifier.h"
#include "object.h"
#include "scan_index.h"
#include "selection_index.h"
#include "selector.h"
#include "watcher.h"

namespace pyk8s::store {

enum class WriteStatus { kOk = 0, kNotFound = 1, kAlreadyExists = 2, kConflict = 3 };

// As the Python WriteResult: on kOk the stored (or deleted) object and the write's
// revision; on kConflict/kAlreadyExists the current object and its mod revision.
struct WriteResult {
  WriteStatus status = WriteStatus::kNotFound;
  Revision revision = 0;
  ObjectPtr object;
};

// Why a read at an explicit revision cannot be served (HTTP 410 / 504 upstream).
enum class RevisionError { kNone = 0, kCompacted = 1, kFuture = 2 };

struct WriteRequest {
  std::string_view resource, namespace_, name;
  std::string_view template_bytes;  // resourceVersion value empty, see rv_offset
  std::size_t rv_offset = 0;
  StringPairs labels;  // moved into the stored object
  StringPairs fields;
};

struct ListRequest {
  std::string_view resource;
  std::string_view namespace_;  // "" = all namespaces
  const Selector* selector = nullptr;
  std::size_t limit = 0;         // 0 = no limit
  std::string_view start_after;  // a key from a previous page, or ""
  Revision revision = 0;         // 0 = current
};

struct ListResult {
  RevisionError error = RevisionError::kNone;
  Revision error_bound = 0;  // the compacted or current revision, for the error message
  Revision revision = 0;
  std::vector<ObjectPtr> items;
  std::string next_key;  // meaningful only when remaining > 0
  std::size_t remaining = 0;
  std::size_t body_size = 0;  // sum of item sizes, for rendering in one allocation
};

struct WatchRequest {
  std::string_view resource;
  WatchFilter filter;
  Revision from_revision = 0;
  bool send_initial = false;
  NotifierPtr notifier;
};

struct WatchResult {
  RevisionError error = RevisionError::kNone;
  Revision error_bound = 0;
  std::shared_ptr<Watcher> watcher;
};

class Store {
 public:
  explicit Store(std::size_t watch_buffer);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  Revision current_revision() const { return revision_.load(std::memory_order_acquire); }
  Revision compacted_revision() const { return compacted_.load(std::memory_order_acquire); }

  // The live object, or nullptr.
  ObjectPtr get(std::string_view resource, std::string_view namespace_, std::string_view name) const;

  WriteResult create(WriteRequest request);
  // expected_revision 0 = unconditional.
  WriteResult update(WriteRequest request, Revision expected_revision);
  WriteResult remove(std::string_view resource, std::string_view namespace_, std::string_view name,
                     Revision expected_revision);

  void list(const ListRequest& request, ListResult* out) const;
  std::size_t count(std::string_view resource, std::string_view namespace_) const;

  WatchResult watch(WatchRequest request);
  // Deregisters `watcher` (it keeps its queue for the consumer).  Idempotent.
  void unwatch(const Watcher& watcher);

  // Drops history at or below `revision` (clamped to the current revision) in batches of
  // `batch_size` keys, releasing the lock between batches.  Returns the compacted revision.
  Revision compact(Revision revision, std::size_t batch_size);

  // From now on the selection index of `resource` holds only the given fields named in
  // `names` (SelectionIndex::index_fields); the others are still selectable, by a scan.
  void index_fields(std::string_view resource, std::vector<std::string> names);

  // Ends every watcher; the data stays readable.
  void close();

 private:
  struct Resource {
    KeyIndex keys;
    ScanIndex scan;  // `keys` as an array, for list scans
    // Point lookups for get(); the slots point at `keys`' nodes, which never move.
    KeyTable index;
    SelectionIndex selection;  // labels and fields of the live objects, for selector lists
    // Keys whose latest version is not a tombstone, in all and per namespace, so count()
    // answers without a walk.
    std::size_t live = 0;
    std::map<std::string, std::size_t, std::less<>> live_per_namespace;
    EventLog log;
    std::vector<std::shared_ptr<Watcher>> watchers;
  };

  const Resource* find_resource(std::string_view resource) const;
  Resource& resource_for_write(std::string_view resource);
  KeyNode* find_key(const Resource& res, std::string_view key) const;
  KeyNode& key_for_write(Resource& res, std::string key);
  // The list of a selector at the current revision from the selection index; false when
  // the selector has no indexable requirement (the caller scans instead).
  bool list_indexed(const Resource& res, const ListRequest& request, std::string_view prefix,
                    ListResult* out) const;
  static void count_live(Resource& res, std::string_view namespace_, bool added);
  // Steps 3-5 of a write: bump the revision, append the version and the event, offer the
  // event to the watchers (dropping those that ended).
  void commit(Resource& res, KeyHistory& history, EventPtr event, ObjectPtr version);
  ObjectPtr build_object(WriteRequest& request, Revision revision) const;
  void compact_keys(std::string_view resource, Revision revision, std::size_t batch_size);
  void compact_log(std::string_view resource, Revision revision, std::size_t batch_size);

  const std::size_t watch_buffer_;

  // Lock order: Store::mutex_ -> Watcher::mutex_ -> Notifier::mutex_.
  // Shared for get/list/count; exclusive for writes, watch (de)registration (so a new
  // watcher's initial state and its first live event have no gap and no overlap) and
  // each compaction batch.
  mutable std::shared_mutex mutex_;
  std::map<std::string, std::unique_ptr<Resource>, std::less<>> resources_;
  // Written only under the exclusive lock; atomic so current_revision() needs no lock.
  std::atomic<Revision> revision_{1};
  std::atomic<Revision> compacted_{0};
};

}  // namespace pyk8s::store
