#include "daemon/cli.h"

#include <arpa/inet.h>

#include <charconv>

namespace parkd::daemon {
namespace {

using Error = Unexpected<std::string>;

template <class T>
bool parse_number(std::string_view text, T& out) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size();
}

// Flags that take a value; the value is either the next argument or follows '='.
bool takes_value(std::string_view flag) {
  return flag == "--listen" || flag == "--tenants" || flag == "--shards" || flag == "--data-dir" ||
         flag == "--log-level" || flag == "--tcp-max-connections" || flag == "--tcp-max-per-source" ||
         flag == "--tcp-idle-timeout-s" || flag == "--digest-prefer" || flag == "--calls-max" ||
         flag == "--calls-max-per-tenant" || flag == "--ring-timeout-s" || flag == "--sip-t1-ms" ||
         flag == "--parked-max" || flag == "--parked-max-per-tenant" || flag == "--overload-high-kb" ||
         flag == "--overload-low-kb" || flag == "--overload-grace-ms" || flag == "--transactions-max";
}

}  // namespace

std::string ListenAddress::to_string() const { return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port); }

Result<ListenAddress, std::string> parse_listen_address(std::string_view text) {
  ListenAddress out;
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return Error{"--listen " + std::string(text) + ": missing ']'"};
    host = text.substr(1, close - 1);
    if (close + 1 >= text.size() || text[close + 1] != ':')
      return Error{"--listen " + std::string(text) + ": expected [IPv6]:PORT"};
    port = text.substr(close + 2);
    out.ipv6 = true;
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos)
      return Error{"--listen " + std::string(text) + ": expected ADDR:PORT (IPv6 as [ADDR]:PORT)"};
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  out.host = std::string(host);
  unsigned char buf[16];
  if (inet_pton(out.ipv6 ? AF_INET6 : AF_INET, out.host.c_str(), buf) != 1)
    return Error{"--listen " + std::string(text) + ": '" + out.host + "' is not a numeric " +
                 (out.ipv6 ? "IPv6" : "IPv4") + " address"};
  unsigned value = 0;
  if (!parse_number(port, value) || value > 65535)
    return Error{"--listen " + std::string(text) + ": port must be a number from 0 to 65535"};
  out.port = static_cast<uint16_t>(value);
  return out;
}

Result<Options, std::string> parse_cli(std::span<const char* const> args) {
  Options o;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    std::string_view flag = arg;
    std::string_view value;
    bool has_inline_value = false;
    if (arg.starts_with("--")) {
      size_t eq = arg.find('=');
      if (eq != std::string_view::npos) {
        flag = arg.substr(0, eq);
        value = arg.substr(eq + 1);
        has_inline_value = true;
      }
    }
    if (takes_value(flag)) {
      if (!has_inline_value) {
        if (i + 1 >= args.size()) return Error{std::string(flag) + " needs a value"};
        value = args[++i];
      }
    } else if (has_inline_value) {
      return Error{std::string(flag) + " takes no value"};
    }

    if (flag == "--help" || flag == "-h") {
      o.help = true;
    } else if (flag == "--version") {
      o.version = true;
    } else if (flag == "--demo") {
      o.demo = true;
    } else if (flag == "--listen") {
      auto addr = parse_listen_address(value);
      if (!addr) return Error{addr.error()};
      o.listen.push_back(std::move(addr).value());
    } else if (flag == "--tenants") {
      if (value.empty()) return Error{"--tenants needs a file name"};
      o.tenants_file = std::string(value);
    } else if (flag == "--shards") {
      if (!parse_number(value, o.shards) || o.shards < 1 || o.shards > shards_max)
        return Error{"--shards " + std::string(value) + ": expected a number from 1 to " + std::to_string(shards_max)};
    } else if (flag == "--data-dir") {
      if (value.empty()) return Error{"--data-dir needs a directory"};
      o.data_dir = std::string(value);
    } else if (flag == "--log-level") {
      auto level = log::parse_level(value);
      if (!level) return Error{"--log-level " + std::string(value) + ": expected error, warn, info or debug"};
      o.log_level = *level;
    } else if (flag == "--digest-prefer") {
      if (value != "sha256" && value != "md5")
        return Error{"--digest-prefer " + std::string(value) + ": expected sha256 or md5"};
      o.digest_md5_first = value == "md5";
    } else if (flag == "--tcp-max-connections" || flag == "--tcp-max-per-source" || flag == "--tcp-idle-timeout-s") {
      unsigned max = flag == "--tcp-idle-timeout-s" ? 86400 : 1000000;
      unsigned v = 0;
      if (!parse_number(value, v) || v < 1 || v > max)
        return Error{std::string(flag) + " " + std::string(value) + ": expected a number from 1 to " +
                     std::to_string(max)};
      (flag == "--tcp-max-connections"  ? o.tcp_max_connections
       : flag == "--tcp-max-per-source" ? o.tcp_max_per_source
                                        : o.tcp_idle_timeout_s) = v;
    } else if (flag == "--calls-max" || flag == "--calls-max-per-tenant" || flag == "--ring-timeout-s" ||
               flag == "--sip-t1-ms" || flag == "--parked-max" || flag == "--parked-max-per-tenant") {
      const unsigned min = flag == "--calls-max-per-tenant" || flag == "--parked-max-per-tenant" ? 0
                           : flag == "--sip-t1-ms"                                               ? 10
                                                                                                 : 1;
      const unsigned max = flag == "--ring-timeout-s" ? 3600 : flag == "--sip-t1-ms" ? 5000 : 1000000;
      unsigned v = 0;
      if (!parse_number(value, v) || v < min || v > max)
        return Error{std::string(flag) + " " + std::string(value) + ": expected a number from " + std::to_string(min) +
                     " to " + std::to_string(max)};
      (flag == "--calls-max"               ? o.calls_max
       : flag == "--calls-max-per-tenant"  ? o.calls_max_per_tenant
       : flag == "--ring-timeout-s"        ? o.ring_timeout_s
       : flag == "--parked-max"            ? o.parked_max
       : flag == "--parked-max-per-tenant" ? o.parked_max_per_tenant
                                           : o.sip_t1_ms) = v;
    } else if (flag == "--transactions-max") {
      unsigned v = 0;
      if (!parse_number(value, v) || v < 4 || v > 1048576)
        return Error{std::string(flag) + " " + std::string(value) + ": expected a number from 4 to 1048576"};
      o.transactions_max = v;
    } else if (flag == "--overload-high-kb" || flag == "--overload-low-kb") {
      unsigned v = 0;
      if (!parse_number(value, v) || v < 1 || v > 1048576)
        return Error{std::string(flag) + " " + std::string(value) + ": expected a number of KiB from 1 to 1048576"};
      (flag == "--overload-high-kb" ? o.overload_high_kb : o.overload_low_kb) = v;
    } else if (flag == "--overload-grace-ms") {
      unsigned v = 0;
      if (!parse_number(value, v) || v > 10000)
        return Error{std::string(flag) + " " + std::string(value) + ": expected a number of ms from 0 to 10000"};
      o.overload_grace_ms = v;
    } else {
      return Error{"unknown option '" + std::string(arg) + "' (see parkd --help)"};
    }
  }
  if (o.help || o.version) return o;
  if (o.demo && !o.tenants_file.empty()) return Error{"--demo and --tenants exclude each other"};
  if (!o.demo && o.tenants_file.empty()) return Error{"one of --tenants FILE or --demo is required"};
  if (o.listen.empty()) o.listen.push_back(ListenAddress{"0.0.0.0", 5060, false});
  if (o.overload_high_kb != 0 && o.overload_low_kb >= o.overload_high_kb)
    return Error{"--overload-low-kb must be below --overload-high-kb"};
  return o;
}

std::string_view usage() {
  return R"(usage: parkd (--tenants FILE | --demo) [options]

Multi-tenant SIP server: registrar, back-to-back calls and call park without park spots.

  --tenants FILE        tenants file (JSON, see docs); SIGHUP reloads it
  --demo                run on the embedded demo tenants and print their credentials
  --listen ADDR:PORT    UDP and TCP listen address, repeatable (default 0.0.0.0:5060;
                        IPv6 as [::1]:5060; port 0 picks a free port)
  --shards N            reactor threads, 1 to 256 (default: one per online CPU)
  --data-dir DIR        keep registrations there across restarts (default: nothing persisted)
  --log-level LEVEL     error, warn, info (default) or debug
  --digest-prefer ALG   sha256 (default) or md5: which digest challenge comes first; md5 for
                        clients that read only the first challenge and know only MD5
  --tcp-max-connections N   TCP connections per node, split over the shards (default 16384)
  --tcp-max-per-source N    TCP connections per source address and shard (default 64)
  --tcp-idle-timeout-s N    close a TCP connection silent this long (default 300)
  --calls-max N             calls in progress per node, split over the shards (default 4096)
  --calls-max-per-tenant N  calls in progress per tenant (default 0: no limit but the node's)
  --ring-timeout-s N        ring this long, then CANCEL and 480 to the caller (default 60)
  --sip-t1-ms N             RFC 3261 timer T1 (default 500; T2 = 8*T1, T4 = 10*T1); for tests
  --parked-max N            calls parked per node, split over the shards (default 4096)
  --transactions-max N      SIP transactions in progress per shard (default 65536); a finished
                            one leaves a 48-byte record (up to 20 per slot) until its timer
  --parked-max-per-tenant N calls parked per tenant (default 0: no limit but the node's)
  --overload-high-kb N      a shard's UDP receive queue this deep makes it answer new requests 503
                            (default 256, at most a quarter of the socket's receive buffer)
  --overload-low-kb N       ... until the queue is this short again (default a quarter of the high
                            mark); see docs/limits.md, "Overload"
  --overload-grace-ms N     ... once the queue has stayed at the high mark this long (default 100;
                            a shard that stalled and catches up within it sheds nothing)
  --help                this text
  --version             print the version

Exit status: 0 after a clean shutdown (SIGTERM/SIGINT), 1 when start-up fails (the message names the
cause), 2 for a bad command line.
)";
}

}  // namespace parkd::daemon
