// What a run counts, and the report printed from it.
//
// A transaction is one unit of the scenario: an OPTIONS and its response, or a registration (REGISTER, 401,
// authenticated REGISTER, 200). Every transaction started ends exactly once, as completed (2xx), failed
// (another final response, counted by status code), or lost (a request unanswered within --timeout-ms), so
// at the end started == completed + failed + lost. A call (scenario calls) is INVITE (407, authenticated
// INVITE), 180, 200, ACK, BYE, 200: it completes with the BYE's 200. A park cycle (scenario park, park.cc)
// completes with its last 200.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "tools/loadgen/histogram.h"

namespace parkd::loadgen {

// --timeline: the transactions started within one interval and what became of them.
struct TimelineBucket {
  uint64_t started = 0;
  uint64_t completed = 0;
  uint64_t failed_503 = 0;
  uint64_t failed_other = 0;
  uint64_t lost = 0;
  uint64_t latency_ns_sum = 0;  // over the completed ones
};

struct Stats {
  uint64_t started = 0;
  uint64_t completed = 0;
  uint64_t failed = 0;
  uint64_t lost = 0;
  uint64_t skipped = 0;  // open loop: starts due while --max-inflight requests were in flight
  uint64_t requests_sent = 0;
  uint64_t responses_received = 0;
  uint64_t requests_received = 0;  // requests from the server to pseudo devices
  uint64_t unmatched = 0;          // responses to no request in flight (late, after the timeout, or stray)
  uint64_t stray_requests = 0;     // requests from the server for no call the pseudo device was in
  uint64_t parse_errors = 0;
  uint64_t truncated = 0;  // datagrams larger than a receive buffer
  uint64_t send_errors = 0;
  uint64_t recv_errors = 0;
  uint64_t no_buffers = 0;                 // -ENOBUFS: the receive buffer ring ran dry
  uint64_t responses_503 = 0;              // 503 final responses matched to a request in flight
  uint64_t responses_503_retry_after = 0;  // ... of which carried a Retry-After header
  std::array<uint64_t, 700> failed_by_status{};
  LatencyHistogram latency_ns;           // per completed transaction, from its first request to its final 2xx
                                         // (calls: to the 2xx of the INVITE, the call's setup; park: the
                                         // park-info's latency, from the parked party's 200 to the NOTIFY)
  LatencyHistogram cycle_ns;             // park only: a whole cycle, from the first INVITE to the last 200
  std::vector<TimelineBucket> timeline;  // --timeline only: sized at setup, indexed by start time
  // The setup phase (calls: registering the callees), before the measured run and not part of it.
  uint64_t setup_started = 0;
  uint64_t setup_completed = 0;
  uint64_t setup_failed = 0;
  uint64_t setup_lost = 0;
  std::array<uint64_t, 700> setup_failed_by_status{};
  double setup_s = 0;  // the longest thread's

  void merge(const Stats& other);
};

// Counters a thread publishes once per loop turn for the --interval lines of another thread.
struct LiveCounters {
  std::atomic<uint64_t> started{0};
  std::atomic<uint64_t> completed{0};
  std::atomic<uint64_t> failed{0};
  std::atomic<uint64_t> lost{0};
  std::atomic<bool> done{false};
};

struct Report {
  std::string scenario;
  Stats stats;
  double elapsed_s = 0;
  double cpu_s = 0;  // user + system of the whole process while the load ran

  double rate() const { return elapsed_s > 0 ? static_cast<double>(stats.completed) / elapsed_s : 0; }
  double cpu_us_per_txn() const { return stats.completed > 0 ? cpu_s * 1e6 / static_cast<double>(stats.completed) : 0; }
  // The human-readable summary (several lines) and the final line:
  // loadgen: scenario=<s> sent=<n> completed=<n> lost=<n> failed=<n> rate=<x> p50_us=<x> p99_us=<x>
  //          cpu_us_per_txn=<x> [further key=value pairs]
  std::string summary() const;
  std::string final_line() const;
  std::string json() const;
  // --timeline: "t_s,started,completed,failed_503,failed_other,lost,mean_latency_us" and a row per bucket up
  // to the last one in which something started.
  std::string timeline_csv(uint32_t bucket_ms) const;
};

}  // namespace parkd::loadgen
