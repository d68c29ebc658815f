#include "host_release.h"

#include <atomic>
#include <mutex>

namespace pyk8s::store {

namespace {
// Lock order: a leaf; taken under any other lock, and nothing is locked under it.
std::mutex parked_mutex;
std::vector<void*> parked;
std::atomic<bool> any_parked{false};
}  // namespace

void defer_host_release(void* host_object) {
  std::lock_guard<std::mutex> lock(parked_mutex);
  parked.push_back(host_object);
  any_parked.store(true, std::memory_order_release);
}

bool has_deferred_host_releases() { return any_parked.load(std::memory_order_acquire); }

std::vector<void*> take_deferred_host_releases() {
  std::vector<void*> out;
  std::lock_guard<std::mutex> lock(parked_mutex);
  out.swap(parked);
  any_parked.store(false, std::memory_order_release);
  return out;
}

}  // namespace pyk8s::store
