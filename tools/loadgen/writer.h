// Writer: appends text to a fixed buffer, the way every outgoing message is built. No allocation; writing
// past the end sets overflow() and drops the rest, and the caller discards the message.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace parkd::loadgen {

class Writer {
 public:
  Writer(char* buffer, size_t capacity) : buffer_(buffer), capacity_(capacity) {}

  Writer& put(std::string_view s) {
    if (s.empty()) return *this;  // an empty view may have a null data(), which memcpy must not get
    if (s.size() > capacity_ - size_) {
      overflow_ = true;
      return *this;
    }
    std::memcpy(buffer_ + size_, s.data(), s.size());
    size_ += s.size();
    return *this;
  }
  Writer& put(char c) { return put(std::string_view(&c, 1)); }
  Writer& put_uint(uint64_t v) {
    char digits[20];
    size_t n = 0;
    do {
      digits[sizeof digits - ++n] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    return put(std::string_view(digits + sizeof digits - n, n));
  }
  // Lowercase hex without leading zeros; `width` pads with zeros to at least that many digits.
  Writer& put_hex(uint64_t v, size_t width = 1) {
    if (width > 16) width = 16;
    char digits[16];
    size_t n = 0;
    do {
      digits[sizeof digits - ++n] = "0123456789abcdef"[v & 15];
      v >>= 4;
    } while (v != 0 || n < width);
    return put(std::string_view(digits + sizeof digits - n, n));
  }

  bool overflow() const { return overflow_; }
  size_t size() const { return size_; }
  std::string_view view() const { return {buffer_, size_}; }

 private:
  char* buffer_;
  size_t capacity_;
  size_t size_ = 0;
  bool overflow_ = false;
};

}  // namespace parkd::loadgen
