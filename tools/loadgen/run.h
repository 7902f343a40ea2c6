// run_load: a whole load-generator run (threads, engines, the report), as main() and the tests call it.
#pragma once

#include <atomic>
#include <functional>
#include <string>

#include "tools/loadgen/config.h"
#include "tools/loadgen/stats.h"

namespace parkd::loadgen {

struct IntervalSample {
  double elapsed_s = 0;
  uint64_t started = 0;
  uint64_t completed = 0;
  uint64_t failed = 0;
  uint64_t lost = 0;
  double completed_per_s = 0;  // over the interval
};

struct RunResult {
  bool ok = false;
  bool io_uring_unavailable = false;
  std::string error;  // set when !ok
  Report report;
};

// Runs `config` to its end (or until `stop` becomes true). `on_interval` is called on the calling thread every
// config.interval_s seconds when both are set.
RunResult run_load(const Config& config, const std::atomic<bool>& stop,
                   const std::function<void(const IntervalSample&)>& on_interval = {});

}  // namespace parkd::loadgen
