// The keys carrying one (label, value) or (field, value) pair, in key order: one posting
// set of the selection index (selection_index.h).
//
// A sorted array of map-node pointers, cut into chunks of at most kMaxChunk entries:
// iterating it is a walk over contiguous pointers (so a list can prefetch what it will
// test next) and an insert or erase moves at most one chunk, where a single sorted array
// would move up to the whole set (creates into an early namespace would then cost a
// memmove of every pod carrying a common label).  Entries point at KeyIndex nodes, which
// never move: no key is copied.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "key_history.h"

namespace pyk8s::store {

using KeyNode = KeyIndex::value_type;  // pair<const "namespace/name", KeyHistory>

class PostingList {
 public:
  // Adds `node`, which must not be present.
  void insert(const KeyNode* node);
  // Removes `node`; a no-op when it is absent.
  void erase(const KeyNode* node);
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // Appends to `out`, in key order, the entries whose keys lie in the range that starts at
  // `from` (inclusive, or exclusive when `after`) and ends before `until` ("" = no end).
  void collect(std::string_view from, bool after, std::string_view until,
               std::vector<const KeyNode*>* out) const;

 private:
  static constexpr std::size_t kMaxChunk = 512;

  struct Position {
    std::size_t chunk;
    std::size_t offset;
  };
  // The first entry whose key is >= `key` (> `key` when `after`); {chunks_.size(), 0} if none.
  Position find(std::string_view key, bool after) const;

  std::vector<std::vector<const KeyNode*>> chunks_;  // none empty; ascending keys throughout
  std::size_t size_ = 0;
};

}  // namespace pyk8s::store
