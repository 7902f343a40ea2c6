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

#define PARKD_SHARD_COUNTERS(X)                                                                                     \
  X(udp_datagrams_in)                                                                                               \
  X(udp_bytes_in)                                                                                                   \
  X(udp_datagrams_out)                                                                                              \
  X(udp_bytes_out)                                                                                                  \
  X(udp_truncated)                                                                                                  \
  X(udp_no_buffers) X(udp_rearms) X(send_no_slot) X(send_errors) X(tcp_accepted) X(tcp_refused_limit) X(tcp_closed) \
      X(tcp_idle_closed) X(tcp_connections) X(tcp_bytes_in) X(tcp_bytes_out) X(tcp_messages_in) X(tcp_messages_out) \
          X(tcp_oversize) X(tcp_keepalives) X(loop_turns) X(mailbox_in) X(mailbox_full) X(timers_fired)

struct ShardCounters {
#define PARKD_DECLARE_COUNTER(name) Counter name;
  PARKD_SHARD_COUNTERS(PARKD_DECLARE_COUNTER)
#undef PARKD_DECLARE_COUNTER

  // "name=value name=value ..." for logs.
  std::string to_string() const;
};

}  // namespace parkd
