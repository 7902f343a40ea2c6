#include "tools/loadgen/stats.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>

namespace parkd::loadgen {

void Stats::merge(const Stats& o) {
  started += o.started;
  completed += o.completed;
  failed += o.failed;
  lost += o.lost;
  skipped += o.skipped;
  requests_sent += o.requests_sent;
  responses_received += o.responses_received;
  requests_received += o.requests_received;
  unmatched += o.unmatched;
  stray_requests += o.stray_requests;
  parse_errors += o.parse_errors;
  truncated += o.truncated;
  send_errors += o.send_errors;
  recv_errors += o.recv_errors;
  no_buffers += o.no_buffers;
  responses_503 += o.responses_503;
  responses_503_retry_after += o.responses_503_retry_after;
  if (timeline.size() < o.timeline.size()) timeline.resize(o.timeline.size());
  for (size_t i = 0; i < o.timeline.size(); ++i) {
    TimelineBucket& b = timeline[i];
    const TimelineBucket& other = o.timeline[i];
    b.started += other.started;
    b.completed += other.completed;
    b.failed_503 += other.failed_503;
    b.failed_other += other.failed_other;
    b.lost += other.lost;
    b.latency_ns_sum += other.latency_ns_sum;
  }
  for (size_t i = 0; i < failed_by_status.size(); ++i) failed_by_status[i] += o.failed_by_status[i];
  latency_ns.merge(o.latency_ns);
  cycle_ns.merge(o.cycle_ns);
  setup_started += o.setup_started;
  setup_completed += o.setup_completed;
  setup_failed += o.setup_failed;
  setup_lost += o.setup_lost;
  for (size_t i = 0; i < setup_failed_by_status.size(); ++i) setup_failed_by_status[i] += o.setup_failed_by_status[i];
  setup_s = std::max(setup_s, o.setup_s);
}

namespace {

double us(uint64_t ns) { return static_cast<double>(ns) / 1000.0; }

__attribute__((format(printf, 1, 2))) std::string format(const char* fmt, ...) {
  char line[1024];
  va_list args;
  va_start(args, fmt);
  int n = std::vsnprintf(line, sizeof line, fmt, args);
  va_end(args);
  return std::string(line, n < 0 ? 0 : std::min<size_t>(static_cast<size_t>(n), sizeof line - 1));
}

using ull = unsigned long long;

}  // namespace

std::string Report::summary() const {
  const Stats& s = stats;
  const LatencyHistogram& h = s.latency_ns;
  std::string out;
  if (s.setup_started != 0) {
    out += format("setup: %llu devices registered in %.3f s, failed %llu, lost %llu (not part of what follows)\n",
                  ull(s.setup_completed), s.setup_s, ull(s.setup_failed), ull(s.setup_lost));
    for (size_t code = 0; code < s.setup_failed_by_status.size(); ++code)
      if (s.setup_failed_by_status[code] != 0)
        out += format("  setup failed with %zu: %llu\n", code, ull(s.setup_failed_by_status[code]));
  }
  out +=
      format("scenario %s: %.3f s, %llu transactions started, %llu requests sent, %llu responses, %llu requests in\n",
             scenario.c_str(), elapsed_s, ull(s.started), ull(s.requests_sent), ull(s.responses_received),
             ull(s.requests_received));
  out += format("  completed %llu (%.1f/s)  failed %llu  lost %llu  skipped %llu\n", ull(s.completed), rate(),
                ull(s.failed), ull(s.lost), ull(s.skipped));
  for (size_t code = 0; code < s.failed_by_status.size(); ++code)
    if (s.failed_by_status[code] != 0) out += format("  failed with %zu: %llu\n", code, ull(s.failed_by_status[code]));
  out += format("  latency us: p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n", us(h.percentile(50)),
                us(h.percentile(90)), us(h.percentile(99)), us(h.percentile(99.9)), us(h.max()));
  if (s.cycle_ns.count() != 0)
    out += format("  cycle us: p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n", us(s.cycle_ns.percentile(50)),
                  us(s.cycle_ns.percentile(90)), us(s.cycle_ns.percentile(99)), us(s.cycle_ns.percentile(99.9)),
                  us(s.cycle_ns.max()));
  out += format("  loadgen cpu: %.3f s, %.3f us per completed transaction\n", cpu_s, cpu_us_per_txn());
  if (s.unmatched + s.stray_requests + s.parse_errors + s.truncated + s.send_errors + s.recv_errors + s.no_buffers != 0)
    out += format(
        "  unmatched %llu  stray_requests %llu  parse_errors %llu  truncated %llu  send_errors %llu  "
        "recv_errors %llu  no_buffers %llu\n",
        ull(s.unmatched), ull(s.stray_requests), ull(s.parse_errors), ull(s.truncated), ull(s.send_errors),
        ull(s.recv_errors), ull(s.no_buffers));
  return out;
}

std::string Report::final_line() const {
  const Stats& s = stats;
  const LatencyHistogram& h = s.latency_ns;
  std::string setup;
  if (s.setup_started != 0)
    setup = format(" setup_completed=%llu setup_failed=%llu setup_s=%.3f requests_in=%llu stray_requests=%llu",
                   ull(s.setup_completed), ull(s.setup_failed) + ull(s.setup_lost), s.setup_s, ull(s.requests_received),
                   ull(s.stray_requests));
  std::string cycle;
  if (s.cycle_ns.count() != 0)
    cycle =
        format(" cycle_p50_us=%.1f cycle_p99_us=%.1f", us(s.cycle_ns.percentile(50)), us(s.cycle_ns.percentile(99)));
  return format(
             "loadgen: scenario=%s sent=%llu completed=%llu lost=%llu failed=%llu rate=%.1f p50_us=%.1f p99_us=%.1f "
             "cpu_us_per_txn=%.3f p90_us=%.1f p999_us=%.1f max_us=%.1f requests=%llu skipped=%llu unmatched=%llu "
             "send_errors=%llu elapsed_s=%.3f failed_503=%llu responses_503=%llu retry_after_503=%llu",
             scenario.c_str(), ull(s.started), ull(s.completed), ull(s.lost), ull(s.failed), rate(),
             us(h.percentile(50)), us(h.percentile(99)), cpu_us_per_txn(), us(h.percentile(90)), us(h.percentile(99.9)),
             us(h.max()), ull(s.requests_sent), ull(s.skipped), ull(s.unmatched), ull(s.send_errors), elapsed_s,
             ull(s.failed_by_status[503]), ull(s.responses_503), ull(s.responses_503_retry_after)) +
         setup + cycle;
}

std::string Report::timeline_csv(uint32_t bucket_ms) const {
  const std::vector<TimelineBucket>& t = stats.timeline;
  size_t rows = t.size();
  while (rows > 0 && t[rows - 1].started == 0) --rows;
  std::string out = "t_s,started,completed,failed_503,failed_other,lost,mean_latency_us\n";
  for (size_t i = 0; i < rows; ++i) {
    const TimelineBucket& b = t[i];
    double mean_us =
        b.completed > 0 ? static_cast<double>(b.latency_ns_sum) / 1000.0 / static_cast<double>(b.completed) : 0;
    out += format("%.3f,%llu,%llu,%llu,%llu,%llu,%.1f\n", static_cast<double>(i * bucket_ms) / 1000.0, ull(b.started),
                  ull(b.completed), ull(b.failed_503), ull(b.failed_other), ull(b.lost), mean_us);
  }
  return out;
}

std::string Report::json() const {
  const Stats& s = stats;
  const LatencyHistogram& h = s.latency_ns;
  std::string failed_codes;
  for (size_t code = 0; code < s.failed_by_status.size(); ++code) {
    if (s.failed_by_status[code] == 0) continue;
    if (!failed_codes.empty()) failed_codes += ", ";
    failed_codes += format("\"%zu\": %llu", code, ull(s.failed_by_status[code]));
  }
  std::string out = "{\n";
  out += format("  \"scenario\": \"%s\", \"elapsed_s\": %.6f, \"cpu_s\": %.6f, \"cpu_us_per_txn\": %.4f,\n",
                scenario.c_str(), elapsed_s, cpu_s, cpu_us_per_txn());
  out += format(
      "  \"sent\": %llu, \"completed\": %llu, \"failed\": %llu, \"lost\": %llu, \"skipped\": %llu, "
      "\"rate\": %.3f,\n",
      ull(s.started), ull(s.completed), ull(s.failed), ull(s.lost), ull(s.skipped), rate());
  out += "  \"failed_by_status\": {" + failed_codes + "},\n";
  out += format(
      "  \"requests_sent\": %llu, \"responses_received\": %llu, \"requests_received\": %llu, "
      "\"unmatched\": %llu, \"stray_requests\": %llu,\n",
      ull(s.requests_sent), ull(s.responses_received), ull(s.requests_received), ull(s.unmatched),
      ull(s.stray_requests));
  out += format(
      "  \"parse_errors\": %llu, \"truncated\": %llu, \"send_errors\": %llu, \"recv_errors\": %llu, "
      "\"no_buffers\": %llu,\n",
      ull(s.parse_errors), ull(s.truncated), ull(s.send_errors), ull(s.recv_errors), ull(s.no_buffers));
  out += format("  \"setup_completed\": %llu, \"setup_failed\": %llu, \"setup_lost\": %llu, \"setup_s\": %.6f,\n",
                ull(s.setup_completed), ull(s.setup_failed), ull(s.setup_lost), s.setup_s);
  if (s.cycle_ns.count() != 0)
    out += format("  \"cycle_us\": {\"p50\": %.3f, \"p99\": %.3f, \"max\": %.3f},\n", us(s.cycle_ns.percentile(50)),
                  us(s.cycle_ns.percentile(99)), us(s.cycle_ns.max()));
  out += format(
      "  \"latency_us\": {\"min\": %.3f, \"p50\": %.3f, \"p90\": %.3f, \"p99\": %.3f, \"p999\": %.3f, "
      "\"max\": %.3f}\n",
      us(h.min()), us(h.percentile(50)), us(h.percentile(90)), us(h.percentile(99)), us(h.percentile(99.9)),
      us(h.max()));
  out += "}\n";
  return out;
}

}  // namespace parkd::loadgen
