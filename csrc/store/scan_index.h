// A contiguous, key-ordered array of a resource's index entries, rebuilt lazily after
// keys are added or removed (updates keep it valid: they change a KeyHistory in place).
//
// Why: walking a std::map chases one pointer per step, so each key of a list costs
// several dependent cache misses (tree node, object, labels).  Walking an array instead
// lets the scan prefetch the entries it will test a few steps ahead, so those misses
// overlap.  Rebuilding costs one map walk, paid at most once per key-set change.
#pragma once

#include <atomic>
#include <mutex>
#include <string_view>
#include <vector>

#include "key_history.h"

namespace pyk8s::store {

class ScanIndex {
 public:
  struct Entry {
    std::string_view key;  // points into the KeyIndex node
    const KeyHistory* history;
  };

  // Writers call this, holding the store lock exclusively, when a key is added or removed.
  void invalidate() { stale_.store(true, std::memory_order_release); }

  // The entries of `keys` in key order.  Callers hold the store lock (shared is enough):
  // the returned array stays valid until the next writer takes the lock.
  const std::vector<Entry>& entries(const KeyIndex& keys) const {
    if (stale_.load(std::memory_order_acquire)) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stale_.load(std::memory_order_relaxed)) {
        entries_.clear();
        entries_.reserve(keys.size());
        for (const auto& node : keys) entries_.push_back(Entry{node.first, &node.second});
        stale_.store(false, std::memory_order_release);
      }
    }
    return entries_;
  }

 private:
  // Lock order: Store::mutex_ (shared) -> ScanIndex::mutex_.  It only serializes readers
  // that find the array stale; writers never take it (they hold the store lock
  // exclusively, so no reader is using the array when they invalidate it).
  mutable std::mutex mutex_;
  mutable std::atomic<bool> stale_{true};
  mutable std::vector<Entry> entries_;
};

}  // namespace pyk8s::store
