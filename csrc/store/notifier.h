// Wakes an event loop when watchers attached to it have news, through one Linux eventfd
// for any number of watchers (one fd per watch would not scale to thousands of watches).
//
// A watcher signals when its queue goes from empty to non-empty or when it ends; the
// loop's reader callback calls drain() and pops the watchers whose ids it gets back.
// The eventfd is written only when the pending list goes from empty to non-empty, so a
// burst of events costs one write() and one wakeup.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace pyk8s::store {

class Notifier {
 public:
  // Throws std::system_error if the eventfd cannot be created.
  Notifier();
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  int fileno() const;
  // Records `watcher_id` as pending; writes the eventfd if nothing was pending.
  void signal(std::uint64_t watcher_id);
  // Clears the eventfd and returns the pending ids, oldest first (a watcher that emptied
  // and refilled between two drains is listed twice; consumers just pop it again).
  std::vector<std::uint64_t> drain();
  // Closes the eventfd; later signals are ignored.  Idempotent.
  void close();

 private:
  // Lock order: Store::mutex_ -> Watcher::mutex_ -> Notifier::mutex_ (a leaf: nothing is
  // locked while holding it).  Writing the eventfd under it keeps "pending non-empty"
  // and "eventfd readable" in step, so drain() can never lose a wakeup.
  mutable std::mutex mutex_;
  int fd_ = -1;
  std::vector<std::uint64_t> pending_;
};

using NotifierPtr = std::shared_ptr<Notifier>;

}  // namespace pyk8s::store
