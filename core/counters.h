// Per-shard counters. Written only by the owning shard thread (relaxed load + store, no atomic RMW on the hot
// path), read by any thread for printing and metrics.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace parkd {

class Counter {
 public:
  void add(uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  void set(uint64_t n) { v_.store(n, std::memory_order_relaxed); }
  void max(uint64_t n) {
    if (n > v_.load(std::memory_order_relaxed)) v_.store(n, std::memory_order_relaxed);
  }
  uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

// A counter struct is declared from an X-macro list of names: PARKD_COUNTERS(LIST) declares one Counter per
// name and for_each(f), which calls f("name", value) for each; counters_text() prints any such struct.
#define PARKD_COUNTER_MEMBER(name) ::parkd::Counter name;
#define PARKD_COUNTER_VISIT(name) visit(#name, (name).get());
// clang-format off
#define PARKD_COUNTERS(LIST)           \
  LIST(PARKD_COUNTER_MEMBER)           \
  template <class Visit>               \
  void for_each(Visit&& visit) const { \
    LIST(PARKD_COUNTER_VISIT)          \
  }
// clang-format on

// "name=value name=value ..." for logs.
template <class Counters>
std::string counters_text(const Counters& counters) {
  std::string out;
  counters.for_each([&out](const char* name, uint64_t value) {
    if (!out.empty()) out += ' ';
    out += name;
    out += '=';
    out += std::to_string(value);
  });
  return out;
}

// clang-format off
#define PARKD_SHARD_COUNTERS(X)                                                                                 \
  X(udp_datagrams_in)                                                                                           \
  X(udp_bytes_in)                                                                                               \
  X(udp_datagrams_out)                                                                                          \
  X(udp_bytes_out)                                                                                              \
  X(udp_truncated)                                                                                              \
  X(udp_no_buffers)                                                                                             \
  X(udp_rearms)                                                                                                 \
  X(send_no_slot)                                                                                               \
  X(send_errors) X(tcp_accepted) X(tcp_refused_limit) X(tcp_closed) X(tcp_idle_closed) X(tcp_connections)       \
      X(tcp_bytes_in) X(tcp_bytes_out) X(tcp_messages_in) X(tcp_messages_out) X(tcp_oversize) X(tcp_keepalives) \
          X(loop_turns) X(mailbox_in) X(mailbox_full) X(mailbox_depth_max) X(timers_fired) X(timers_armed)    \
              X(overload_high_entered) X(overload_critical_entered) X(overload_turns) X(receive_queue_max_bytes)
// clang-format on

struct ShardCounters {
  PARKD_COUNTERS(PARKD_SHARD_COUNTERS)
  std::string to_string() const { return counters_text(*this); }
};

}  // namespace parkd
