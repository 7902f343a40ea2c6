// SIPp (Debian sip-tester) instances for integration tests: each runs one scenario against a real parkd,
// from a loopback port, with its <log> actions and its errors written to files in a temporary directory
// (the tests read what a scenario logged: a NOTIFY body, whose SDP a party got). An instance runs in the
// background (start, then wait) or to completion (run); every wait is bounded and a SIPp that outlives its
// test is killed.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "support/process.h"

namespace parkd::test {

inline constexpr const char* sipp_binary = "/usr/bin/sipp";

bool sipp_installed();

// A UDP port on 127.0.0.1 that was free a moment ago: for a SIPp instance that registers from a port and then
// answers calls on it, which needs the port before SIPp starts. 0 when none could be found.
uint16_t free_udp_port();

// A directory under the test's temporary directory, removed with everything in it.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  // Writes `text` to path()/name and returns the file's path.
  std::string write(const std::string& name, const std::string& text) const;

 private:
  std::string path_;
};

// What one SIPp instance runs: SippOptions(scenario, target).injection(csv).port(5062).calls(2)...
struct SippOptions {
  SippOptions(std::string scenario_file, std::string target_address)
      : scenario(std::move(scenario_file)), target(std::move(target_address)) {}
  SippOptions& injection(std::string file) {
    injection_file = std::move(file);
    return *this;
  }
  SippOptions& port(uint16_t local) {
    local_port = local;
    return *this;
  }
  SippOptions& calls(int count) {
    call_count = count;
    return *this;
  }
  SippOptions& rate(int per_second) {
    calls_per_second = per_second;
    return *this;
  }
  SippOptions& timeout(std::chrono::seconds limit) {
    call_timeout = limit;
    return *this;
  }
  SippOptions& args(std::vector<std::string> more) {
    extra_args = std::move(more);
    return *this;
  }

  std::string scenario;                   // path of the scenario file
  std::string target;                     // parkd (or the peer) as "127.0.0.1:PORT"
  std::string injection_file;             // -inf file, or empty
  uint16_t local_port = 0;                // -p; 0: a free one
  int call_count = 1;                     // -m: SIPp exits after this many calls
  int calls_per_second = 2;               // -r: new calls per second (a UAC); low, this is a smoke run
  std::chrono::seconds call_timeout{20};  // -timeout: SIPp gives up on a call (and fails) after this
  std::vector<std::string> extra_args;    // more SIPp arguments (before the target)
};

class Sipp {
 public:
  // `name` names the log files in `dir` (NAME.log: the scenario's <log> lines; NAME.errors: SIPp's errors).
  Sipp(const TempDir& dir, std::string name, SippOptions options);
  ~Sipp();
  Sipp(const Sipp&) = delete;
  Sipp& operator=(const Sipp&) = delete;

  void start();                                 // in the background
  int wait(std::chrono::milliseconds timeout);  // its exit status: 0 when every call succeeded; -1 on timeout
  int run(std::chrono::milliseconds timeout) {  // start() and wait()
    start();
    return wait(timeout);
  }
  uint16_t port() const { return options_.local_port; }
  std::string log() const;          // what the scenario's <log> actions wrote so far
  std::string diagnostics() const;  // for a failure message: its arguments, output, errors and log

 private:
  std::string name_;
  SippOptions options_;
  std::string log_path_;
  std::string errors_path_;
  std::unique_ptr<Process> process_;
  int status_ = -1;
};

}  // namespace parkd::test
