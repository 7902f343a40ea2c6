// Memory whose last byte sits right before a PROT_NONE page, for over-read tests (picohttpparser's test.c):
// bytes placed at the end of the buffer crash any reader that goes one byte past them.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <span>
#include <string_view>

namespace parkd::test {

class GuardedBuffer {
 public:
  // At least `capacity` readable bytes (whole pages) and the guard page after them. Test infrastructure:
  // aborts when the memory cannot be had.
  explicit GuardedBuffer(size_t capacity = 1) {
    page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    readable_ = capacity == 0 ? page_ : (capacity + page_ - 1) / page_ * page_;
    void* map = mmap(nullptr, readable_ + page_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) std::abort();
    base_ = static_cast<char*>(map);
    if (mprotect(base_ + readable_, page_, PROT_NONE) != 0) std::abort();
  }
  ~GuardedBuffer() { munmap(base_, readable_ + page_); }
  GuardedBuffer(const GuardedBuffer&) = delete;
  GuardedBuffer& operator=(const GuardedBuffer&) = delete;

  size_t capacity() const { return readable_; }
  // Copies `text` so that it ends exactly at the guard page; returns the copy.
  std::string_view place(std::string_view text) {
    if (text.size() > readable_) std::abort();
    char* at = base_ + readable_ - text.size();
    if (!text.empty()) std::memcpy(at, text.data(), text.size());
    return {at, text.size()};
  }
  // A writable span of `size` bytes that ends right at the guard page.
  std::span<char> tail(size_t size) {
    if (size > readable_) std::abort();
    return {base_ + readable_ - size, size};
  }

 private:
  size_t page_ = 0;
  size_t readable_ = 0;
  char* base_ = nullptr;
};

}  // namespace parkd::test
