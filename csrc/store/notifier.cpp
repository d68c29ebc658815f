#include "notifier.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace pyk8s::store {

Notifier::Notifier() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
}

Notifier::~Notifier() { close(); }

int Notifier::fileno() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return fd_;
}

void Notifier::signal(std::uint64_t watcher_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (fd_ < 0) return;
  bool was_empty = pending_.empty();
  pending_.push_back(watcher_id);
  if (was_empty) {
    std::uint64_t one = 1;
    // Non-blocking: EAGAIN only if the counter would overflow, i.e. it is readable anyway.
    ssize_t written = ::write(fd_, &one, sizeof one);
    (void)written;
  }
}

std::vector<std::uint64_t> Notifier::drain() {
  std::vector<std::uint64_t> out;
  std::lock_guard<std::mutex> lock(mutex_);
  if (fd_ >= 0) {
    std::uint64_t counter;
    ssize_t got = ::read(fd_, &counter, sizeof counter);  // EAGAIN when nothing was signalled
    (void)got;
  }
  out.swap(pending_);
  return out;
}

void Notifier::close() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  pending_.clear();
}

}  // namespace pyk8s::store
