// One watch: a filter, a bounded queue of events, and the wakeup paths (a condition
// variable for threads, an optional Notifier for event loops).
//
// Push model, as etcd's watchable store: the writer, holding the store lock, offers each
// committed event to every watcher of the resource.  The writer never blocks on a slow
// consumer: a watcher whose queue already holds `bound` live events is ended with
// expired() == true (the client re-lists), as a "victim" would be in etcd.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "event_log.h"
#include "notifier.h"
#include "selector.h"

namespace pyk8s::store {

// An event as one watcher sees it: the type may differ from the write's own type when the
// object moves into (ADDED) or out of (DELETED) the watcher's selection.
struct WatchEvent {
  EventType type;
  EventPtr event;
};

class Watcher {
 public:
  Watcher(std::uint64_t id, std::string resource, WatchFilter filter, std::size_t bound,
          NotifierPtr notifier);

  std::uint64_t id() const { return id_; }
  const std::string& resource() const { return resource_; }
  const WatchFilter& filter() const { return filter_; }

  // How `event` looks through this watcher's filter; false when it does not concern it.
  bool translate(const Event& event, EventType* type) const;

  // Registration only (store lock held, watcher not yet visible to writers): queue initial
  // or replayed events, which do not count against the bound.
  void preload(std::vector<WatchEvent> events);

  // Writer side (store lock held).  False once the watcher has ended (closed or expired),
  // telling the writer to drop it from the resource's watcher list.
  bool offer(const EventPtr& event);

  // Consumer side: moves up to `max_events` queued events into `out`.
  void pop(std::size_t max_events, std::vector<WatchEvent>* out);
  // Blocks until an event is queued or the watcher ended; timeout < 0 waits forever.
  // True unless it timed out.
  bool wait(double timeout_seconds);
  // Ends the watcher (already queued events can still be popped).  `signal` also wakes the notifier (used when the
  // store ends it; a consumer closing its own watch needs no wakeup).
  void end(bool signal);

  bool expired() const;
  bool closed() const;
  bool has_events() const;

 private:
  const std::uint64_t id_;
  const std::string resource_;
  const WatchFilter filter_;
  const std::size_t bound_;
  const NotifierPtr notifier_;  // may be null

  // Lock order: Store::mutex_ -> Watcher::mutex_ -> Notifier::mutex_.  Consumers take
  // only this one, so pop() and wait() never contend with readers of the store.
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<WatchEvent> queue_;
  // Initial/replayed events still queued (always at the front): exempt from the bound.
  std::size_t preloaded_ = 0;
  bool expired_ = false;
  bool closed_ = false;
};

}  // namespace pyk8s::store
