// The load generator's configuration and its command line (tools/loadgen/README.md lists every flag).
//
// Control plane: parse_command_line() may allocate and reports a bad flag as a one-line reason.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace parkd::loadgen {

struct Address {
  sockaddr_storage storage{};
  socklen_t size = 0;
  int family() const { return storage.ss_family; }
  uint16_t port() const;
};

// "1.2.3.4", "1.2.3.4:5060", "::1", "[::1]", "[::1]:5060" (numeric only). `default_port` when none is given.
bool parse_address(std::string_view text, uint16_t default_port, Address& out);
// "1.2.3.4:5060" / "[::1]:5060"
std::string format_address(const Address& a);

// One step of --schedule: open loop at `rate` transactions per second for `seconds`.
struct RateStep {
  double rate = 0;
  double seconds = 0;
};

struct Config {
  std::string scenario = "options";  // options, register, register-noauth, calls
  Address target;                    // default 127.0.0.1:5060
  std::string bind_host;             // default: 127.0.0.1 or ::1 by the target's family
  uint32_t sockets = 64;
  uint32_t threads = 1;
  double rate = 0;           // transactions per second; 0: closed loop
  uint32_t concurrency = 0;  // closed loop: transactions outstanding (default 64 when no --rate)
  double duration_s = 0;     // 0: until --count (default 10 s when neither is given)
  uint64_t count = 0;        // transactions to start; 0: until --duration
  uint32_t timeout_ms = 2000;
  uint32_t max_inflight = 131072;  // per thread
  double interval_s = 0;
  std::string json_path;
  std::string domains = "example.com";
  std::string extensions = "100..199";
  std::string password_pattern = "{ext}-secret";
  std::string users_path;
  uint32_t expires_s = 3600;
  uint32_t rcvbuf_bytes = 4 << 20;
  bool quiet = false;  // only the final machine-readable line
  // register: the same Contact for every registration of a user (a phone re-registering), not one per slot
  bool fixed_contact = false;
  // --schedule: open loop through these rates in turn (rate = the highest, duration_s = their sum)
  std::vector<RateStep> schedule;
  // --timeline FILE: per timeline_ms of start time, what became of the transactions started then (CSV)
  std::string timeline_path;
  uint32_t timeline_ms = 100;
};

// Fills `config` from argv. Returns 0 to run, 1 after printing --help, 2 on a bad command line (`error` set).
int parse_command_line(int argc, const char* const* argv, Config& config, std::string& error);
std::string_view usage();

}  // namespace parkd::loadgen
