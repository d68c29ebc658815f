// The versions of one key, oldest first: what MVCC reads and compaction work on.
//
// A key that was created at 3, updated at 5, deleted at 8 and re-created at 11:
//
//     [3: obj] [5: obj] [8: tombstone] [11: obj]
//
//   read at 4  -> version 3        read at 9  -> absent (tombstone)
//   read at 7  -> version 5        read at 12 -> version 11
//
// compact(6) keeps the state as of 6 (version 5) and everything newer:
//
//     [5: obj] [8: tombstone] [11: obj]
//
// compact(9) finds a tombstone as the state as of 9, so it goes too:
//
//     [11: obj]
//
// and a key whose last version is a compacted tombstone disappears from the index.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "object.h"

namespace pyk8s::store {

struct Version {
  Revision revision;
  ObjectPtr object;  // nullptr: tombstone (deleted at `revision`)
};

class KeyHistory {
 public:
  // The live object, or nullptr if the key is deleted (or has no versions).  Cached in
  // the index node itself (not read from the versions vector), so a get reaches the
  // object with one fewer dependent cache miss.
  const ObjectPtr& latest() const { return latest_; }
  // The same as a raw pointer: list scans test selectors through it without taking a
  // reference (an atomic increment per scanned key was a third of a scan's time).
  const Object* live() const { return latest_.get(); }
  // The object as of `revision`, or nullptr if absent at that revision.
  ObjectPtr at(Revision revision) const;
  // Revisions only grow, so appending keeps the vector sorted.
  void append(Revision revision, ObjectPtr object);
  // Drops what no read at or above `revision` can see.  True when nothing is left and
  // the key can be removed from the index.
  bool compact(Revision revision);
  bool empty() const { return versions_.empty(); }

 private:
  std::vector<Version> versions_;  // ascending revision
  ObjectPtr latest_;               // versions_.back().object, kept in step
};

// A resource's keys, sorted by "namespace/name" (byte order) for range scans and paging.
// Nodes never move, so other structures may point at a KeyHistory.
using KeyIndex = std::map<std::string, KeyHistory, std::less<>>;

}  // namespace pyk8s::store
