#include "event_log.h"

#include <algorithm>

namespace pyk8s::store {

EventLog::const_iterator EventLog::first_after(Revision revision) const {
  return std::upper_bound(events_.begin(), events_.end(), revision,
                          [](Revision r, const EventPtr& e) { return r < e->revision; });
}

std::size_t EventLog::trim(Revision revision, std::size_t max_events) {
  std::size_t removed = 0;
  while (removed < max_events && !events_.empty() && events_.front()->revision <= revision) {
    events_.pop_front();
    ++removed;
  }
  return removed;
}

}  // namespace pyk8s::store
