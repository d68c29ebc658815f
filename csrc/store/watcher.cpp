#include "watcher.h"

#include <algorithm>
#include <chrono>
#include <utility>

namespace pyk8s::store {

Watcher::Watcher(std::uint64_t id, std::string resource, WatchFilter filter, std::size_t bound,
                 NotifierPtr notifier)
    : id_(id),
      resource_(std::move(resource)),
      filter_(std::move(filter)),
      bound_(bound),
      notifier_(std::move(notifier)) {}

bool Watcher::translate(const Event& event, EventType* type) const {
  // Evaluate the filter on the object before and after the write, as kube-apiserver's
  // watch cache does, so objects moving across the selection boundary are seen to come
  // and go.  A delete only has a "before" (its object is the re-stamped deleted one).
  bool before = event.previous && filter_.matches(*event.previous);
  if (event.type == EventType::kDeleted) {
    *type = EventType::kDeleted;
    return before;
  }
  bool now = filter_.matches(*event.object);
  if (now && before) *type = EventType::kModified;
  else if (now) *type = EventType::kAdded;
  else if (before) *type = EventType::kDeleted;
  else return false;
  return true;
}

void Watcher::preload(std::vector<WatchEvent> events) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& e : events) queue_.push_back(std::move(e));
  preloaded_ = queue_.size();
}

bool Watcher::offer(const EventPtr& event) {
  EventType type;
  if (!translate(*event, &type)) return !closed();
  bool wake;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) return false;
    if (queue_.size() - preloaded_ >= bound_) {
      // Too far behind: end it rather than block the writer or grow without bound.
      expired_ = true;
      closed_ = true;
      queue_.clear();
      preloaded_ = 0;
    } else {
      queue_.push_back(WatchEvent{type, event});
    }
    wake = queue_.size() == 1 || closed_;
    ready_.notify_all();
    if (wake && notifier_) notifier_->signal(id_);
    return !closed_;
  }
}

void Watcher::pop(std::size_t max_events, std::vector<WatchEvent>* out) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::size_t n = std::min(max_events, queue_.size());
  out->reserve(out->size() + n);
  for (std::size_t i = 0; i < n; ++i) {
    out->push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  preloaded_ -= std::min(preloaded_, n);
}

bool Watcher::wait(double timeout_seconds) {
  std::unique_lock<std::mutex> lock(mutex_);
  auto ready = [this] { return !queue_.empty() || closed_; };
  if (timeout_seconds < 0) {
    ready_.wait(lock, ready);
    return true;
  }
  auto timeout = std::chrono::duration<double>(timeout_seconds);
  return ready_.wait_for(lock, std::chrono::duration_cast<std::chrono::nanoseconds>(timeout), ready);
}

void Watcher::end(bool signal) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (closed_) return;
  closed_ = true;
  ready_.notify_all();
  if (signal && notifier_) notifier_->signal(id_);
}

bool Watcher::expired() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return expired_;
}

bool Watcher::closed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return closed_;
}

bool Watcher::has_events() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return !queue_.empty();
}

}  // namespace pyk8s::store
