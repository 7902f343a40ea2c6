// The real parkd binary for integration tests: started on the demo tenants (unless --tenants is given) on a
// loopback port chosen by the kernel, ready once it printed "ready". Every wait is bounded.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/endpoint.h"
#include "support/process.h"

namespace parkd::test {

class Parkd {
 public:
  explicit Parkd(std::vector<std::string> args);
  bool ready() const { return ready_; }
  const Endpoint& at() const { return at_; }
  Process& process() { return *process_; }
  // Waits for the persistence writer's commit log line (needs --log-level debug).
  bool wait_persisted();

 private:
  std::unique_ptr<Process> process_;
  Endpoint at_;
  bool ready_ = false;
};

}  // namespace parkd::test
