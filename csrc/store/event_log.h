// The per-resource log of committed writes, in revision order: what watches replay from
// and what compaction trims.  Entries are shared with watcher queues, so a write is
// allocated once however many watchers receive it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>

#include "object.h"

namespace pyk8s::store {

enum class EventType : std::uint8_t { kAdded = 0, kModified = 1, kDeleted = 2 };

struct Event {
  // What the write was: kAdded (create), kModified (update) or kDeleted (delete).  A
  // filtered watcher may see it as another type (an object moving in or out of its view).
  EventType type;
  Revision revision;
  // The bytes every watcher receives: the new object, or for a delete the deleted object
  // re-stamped with the delete's revision.
  ObjectPtr object;
  // The object before the write (nullptr for a create): filters are evaluated on both.
  ObjectPtr previous;
};

using EventPtr = std::shared_ptr<const Event>;

class EventLog {
 public:
  using const_iterator = std::deque<EventPtr>::const_iterator;

  void append(EventPtr event) { events_.push_back(std::move(event)); }
  // The first event with revision > `revision` (binary search: revisions ascend).
  const_iterator first_after(Revision revision) const;
  const_iterator end() const { return events_.end(); }
  // Removes up to `max_events` events with revision <= `revision`; returns how many.
  std::size_t trim(Revision revision, std::size_t max_events);

 private:
  std::deque<EventPtr> events_;
};

}  // namespace pyk8s::store
