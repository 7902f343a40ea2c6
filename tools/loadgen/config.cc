#include "tools/loadgen/config.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>

namespace parkd::loadgen {

uint16_t Address::port() const {
  if (family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
}

bool parse_address(std::string_view text, uint16_t default_port, Address& out) {
  out = Address{};
  std::string host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return false;
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port_text = rest.substr(1);
    }
  } else if (text.find(':') != text.rfind(':')) {  // bare IPv6, no port
    host = text;
  } else {
    size_t colon = text.find(':');
    host = text.substr(0, colon);
    if (colon != std::string_view::npos) port_text = text.substr(colon + 1);
  }
  uint32_t port = default_port;
  if (!port_text.empty()) {
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535) return false;
  } else if (text.size() > 0 && text.back() == ':') {
    return false;
  }
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out.storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    out.size = sizeof(sockaddr_in);
    return true;
  }
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    out.size = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

std::string format_address(const Address& a) {
  char host[INET6_ADDRSTRLEN] = {};
  if (a.family() == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&a.storage)->sin6_addr, host, sizeof host);
    std::string out = "[";  // built step by step: g++ 12 warns falsely (-Wrestrict) on "[" + std::string
    out += host;
    out += "]:";
    out += std::to_string(a.port());
    return out;
  }
  inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&a.storage)->sin_addr, host, sizeof host);
  return std::string(host) + ":" + std::to_string(a.port());
}

std::string_view usage() {
  return R"(usage: parkd-loadgen [options]
A SIP load generator on io_uring: UDP, no retransmissions, precise pacing. See tools/loadgen/README.md.

  --target ADDR[:PORT]     server address, IPv4 or [IPv6] (default 127.0.0.1:5060)
  --bind ADDR              local address of the sockets (default 127.0.0.1, or ::1 for an IPv6 target)
  --sockets N              UDP sockets, each on its own ephemeral port (default 64)
  --threads N              threads, each with its own ring and N/threads sockets (default 1)
  --scenario NAME          options | register | register-noauth | calls | park (default options)
  --rate R                 open loop: R transactions per second, paced in 1 ms ticks
  --concurrency C          closed loop: C transactions outstanding (default 64 when --rate is absent)
  --duration S             seconds to start transactions for (default 10 unless --count is given)
  --count N                transactions to start in total (with --duration: whichever ends first)
  --schedule R:S[,R:S...]  open loop through rates in turn: R per second for S seconds each (instead of
                           --rate and --duration), e.g. 100000:30,25000:10
  --timeout-ms T           a request unanswered after T ms is lost, never retransmitted (default 2000)
  --max-inflight N         requests in flight per thread; beyond it a due start is skipped (default 131072);
                           calls: also the open loop's call slots, at most users / threads;
                           park: likewise, at most domains x (extensions / 4) / threads
  --domains PATTERN        register, calls, park: NAME or PREFIX{A..B}SUFFIX (default example.com)
  --extensions RANGE       register, calls, park: N or A..B (default 100..199)
  --password-pattern P     register, calls, park: password, {ext} and {domain} substituted (default {ext}-secret)
  --users FILE             register, calls: CSV of domain,ext,password instead of the patterns (not park)
  --expires S              register, calls, park: Expires value (default 3600)
  --fixed-contact          register: one Contact per user, sip:<ext>@<bind address> without a port, the same
                           in every run, as a phone re-registering (default: the slot's socket and
                           ;lg=<slot>, so a new Contact, a new binding, at nearly every registration)
  --rcvbuf BYTES           SO_RCVBUF of each socket (default 4194304)
  --interval S             print counters every S seconds (default 0: only at the end)
  --json FILE              also write the final report as JSON
  --timeline FILE          also write, per --timeline-ms of start time, what became of the transactions
                           started then (CSV: completed, failed with 503, failed otherwise, lost)
  --timeline-ms N          the timeline's resolution (default 100)
  --quiet                  print only the final machine-readable line
  --help                   this text
)";
}

namespace {

template <class T>
bool parse_number(std::string_view s, T& out) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

// "R:S,R:S,...": rates (> 0) and seconds (> 0).
bool parse_schedule(std::string_view text, std::vector<RateStep>& out) {
  out.clear();
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view step = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    size_t colon = step.find(':');
    if (colon == std::string_view::npos) return false;
    RateStep s;
    if (!parse_number(step.substr(0, colon), s.rate) || !(s.rate > 0) ||
        !parse_number(step.substr(colon + 1), s.seconds) || !(s.seconds > 0))
      return false;
    out.push_back(s);
    if (comma != std::string_view::npos && text.empty()) return false;  // a trailing comma
  }
  return !out.empty() && out.size() <= 64;
}

}  // namespace

int parse_command_line(int argc, const char* const* argv, Config& config, std::string& error) {
  bool target_given = false;
  bool concurrency_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::string_view value;
    bool has_value = false;
    if (size_t eq = arg.find('='); arg.substr(0, 2) == "--" && eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    auto need = [&]() -> bool {
      if (has_value) return true;
      if (i + 1 >= argc) {
        error = std::string(arg) + " needs a value";
        return false;
      }
      value = argv[++i];
      return true;
    };
    auto bad = [&]() {
      error = "bad value for " + std::string(arg) + ": '" + std::string(value) + "'";
      return 2;
    };
    if (arg == "--help" || arg == "-h") {
      std::fputs(usage().data(), stdout);
      return 1;
    }
    if (arg == "--quiet") {
      config.quiet = true;
      continue;
    }
    if (arg == "--fixed-contact") {
      config.fixed_contact = true;
      continue;
    }
    if (!need()) return 2;
    if (arg == "--target") {
      if (!parse_address(value, 5060, config.target)) return bad();
      target_given = true;
    } else if (arg == "--bind") {
      Address a;
      if (!parse_address(value, 0, a)) return bad();
      config.bind_host = value;
    } else if (arg == "--sockets") {
      if (!parse_number(value, config.sockets) || config.sockets == 0 || config.sockets > 4096) return bad();
    } else if (arg == "--threads") {
      if (!parse_number(value, config.threads) || config.threads == 0 || config.threads > 64) return bad();
    } else if (arg == "--scenario") {
      if (value != "options" && value != "register" && value != "register-noauth" && value != "calls" &&
          value != "park")
        return bad();
      config.scenario = value;
    } else if (arg == "--rate") {
      if (!parse_number(value, config.rate) || !(config.rate > 0)) return bad();
    } else if (arg == "--concurrency") {
      if (!parse_number(value, config.concurrency) || config.concurrency == 0) return bad();
      concurrency_given = true;
    } else if (arg == "--duration") {
      if (!parse_number(value, config.duration_s) || !(config.duration_s > 0)) return bad();
    } else if (arg == "--count") {
      if (!parse_number(value, config.count) || config.count == 0) return bad();
    } else if (arg == "--timeout-ms") {
      if (!parse_number(value, config.timeout_ms) || config.timeout_ms == 0) return bad();
    } else if (arg == "--max-inflight") {
      if (!parse_number(value, config.max_inflight) || config.max_inflight == 0 || config.max_inflight > (1u << 24))
        return bad();
    } else if (arg == "--interval") {
      if (!parse_number(value, config.interval_s) || config.interval_s < 0) return bad();
    } else if (arg == "--json") {
      config.json_path = value;
    } else if (arg == "--schedule") {
      if (!parse_schedule(value, config.schedule)) return bad();
    } else if (arg == "--timeline") {
      config.timeline_path = value;
    } else if (arg == "--timeline-ms") {
      if (!parse_number(value, config.timeline_ms) || config.timeline_ms == 0) return bad();
    } else if (arg == "--domains") {
      config.domains = value;
    } else if (arg == "--extensions") {
      config.extensions = value;
    } else if (arg == "--password-pattern") {
      config.password_pattern = value;
    } else if (arg == "--users") {
      config.users_path = value;
    } else if (arg == "--expires") {
      if (!parse_number(value, config.expires_s)) return bad();
    } else if (arg == "--rcvbuf") {
      if (!parse_number(value, config.rcvbuf_bytes)) return bad();
    } else {
      error = "unknown option " + std::string(arg) + " (see --help)";
      return 2;
    }
  }
  if (!target_given) parse_address("127.0.0.1:5060", 5060, config.target);
  if (!config.schedule.empty()) {
    if (config.rate > 0 || config.duration_s > 0 || concurrency_given) {
      error = "--schedule sets the rates and the duration: not with --rate, --duration or --concurrency";
      return 2;
    }
    for (const RateStep& s : config.schedule) {
      config.rate = std::max(config.rate, s.rate);
      config.duration_s += s.seconds;
    }
  }
  if (!config.timeline_path.empty()) {
    if (config.duration_s == 0) {
      error = "--timeline needs --duration or --schedule (it is sized from the run's length)";
      return 2;
    }
    if (config.duration_s * 1000 / config.timeline_ms > 1e6) {
      error = "--timeline would have more than 1,000,000 rows: raise --timeline-ms";
      return 2;
    }
  }
  if (config.rate > 0 && concurrency_given) {
    error = "--rate (open loop) and --concurrency (closed loop) exclude each other";
    return 2;
  }
  if (config.rate == 0 && config.concurrency == 0) config.concurrency = 64;
  if (config.duration_s == 0 && config.count == 0) config.duration_s = 10;
  if (config.threads > config.sockets) {
    error = "--threads must not exceed --sockets";
    return 2;
  }
  if (config.concurrency > 0 && config.concurrency / config.threads + 1 > config.max_inflight) {
    error = "--concurrency per thread exceeds --max-inflight";
    return 2;
  }
  if (config.bind_host.empty()) config.bind_host = config.target.family() == AF_INET6 ? "::1" : "127.0.0.1";
  Address bind;
  if (!parse_address(config.bind_host, 0, bind) || bind.family() != config.target.family()) {
    error = "--bind must be an address of the target's family";
    return 2;
  }
  return 0;
}

}  // namespace parkd::loadgen
