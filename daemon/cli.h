// The parkd command line (SPEC section 1).
//
// parse_cli() is pure: it reads argv and returns the options or a one-line reason; main() turns a reason into
// exit status 2. Values are checked for form here (an address that is not an address, a shard count that is
// not a number); whether a file exists or a port is free is found out at start-up.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/log.h"
#include "core/result.h"

namespace parkd::daemon {

struct ListenAddress {
  std::string host;  // numeric IPv4 or IPv6 address, without brackets
  uint16_t port = 0;
  bool ipv6 = false;

  std::string to_string() const;  // "0.0.0.0:5060", "[::1]:5060"
};

inline constexpr unsigned shards_max = 256;

struct Options {
  std::vector<ListenAddress> listen;  // default: 0.0.0.0:5060
  std::string tenants_file;
  bool demo = false;
  unsigned shards = 0;   // 0: one per online CPU
  std::string data_dir;  // empty: nothing persisted
  log::Level log_level = log::Level::info;
  // TCP limits (SPEC section 1 is silent; see docs/DECISIONS.md). Per shard: a connection belongs to the
  // shard that accepted it, and each shard counts its own.
  unsigned tcp_max_connections = 16384;  // per node, split evenly over the shards
  unsigned tcp_max_per_source = 64;      // per shard and source address
  unsigned tcp_idle_timeout_s = 300;
  bool digest_md5_first = false;  // --digest-prefer md5
  // Calls (docs/calls.md). The node limit is divided evenly over the shards (a tenant's calls live on its
  // shard); 0 per tenant: only the node limit applies.
  unsigned calls_max = 4096;
  unsigned calls_max_per_tenant = 0;
  unsigned ring_timeout_s = 60;
  unsigned sip_t1_ms = 500;           // RFC 3261 T1; T2 and T4 scale with it (shortened by tests only)
  unsigned transactions_max = 65536;  // SIP transactions per shard (docs/transactions.md)
  // Park (docs/park-info.md): calls parked per node (split over the shards) and per tenant (0: no ceiling).
  unsigned parked_max = 4096;
  unsigned parked_max_per_tenant = 0;
  // Overload watermarks on a shard's UDP receive queue, KiB (docs/limits.md); 0: from the receive buffer.
  unsigned overload_high_kb = 0;
  unsigned overload_low_kb = 0;
  unsigned overload_grace_ms = 100;  // the queue over the high mark this long before shedding
  bool help = false;
  bool version = false;
};

// Parses "ADDR:PORT" where ADDR is a numeric IPv4 address or a bracketed IPv6 address.
Result<ListenAddress, std::string> parse_listen_address(std::string_view text);

// argv without the program name.
Result<Options, std::string> parse_cli(std::span<const char* const> args);

std::string_view usage();

}  // namespace parkd::daemon
