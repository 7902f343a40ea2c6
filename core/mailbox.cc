#include "core/mailbox.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

namespace parkd {

Waker::Waker() : fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (fd_ < 0) open_errno_ = errno;
}

Waker::~Waker() {
  if (fd_ >= 0) close(fd_);
}

void Waker::write_wake() {
  const uint64_t one = 1;
  ssize_t written = 0;
  do {
    written = write(fd_, &one, sizeof one);
  } while (written < 0 && errno == EINTR);
  // EAGAIN would mean the counter is at 2^64 - 2: the consumer has a wake pending anyway.
  wakes_written_.fetch_add(1, std::memory_order_relaxed);
}

bool Waker::consume() {
  sleeping_.store(false, std::memory_order_relaxed);
  uint64_t count = 0;
  ssize_t got = 0;
  do {
    got = read(fd_, &count, sizeof count);
  } while (got < 0 && errno == EINTR);
  if (got != static_cast<ssize_t>(sizeof count)) return false;  // EAGAIN: nothing was written
  wakes_consumed_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

}  // namespace parkd
