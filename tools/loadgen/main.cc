// parkd-loadgen: the SIP load generator every parkd benchmark uses. See tools/loadgen/README.md.
#include <csignal>
#include <cstdio>
#include <fstream>

#include "tools/loadgen/config.h"
#include "tools/loadgen/run.h"

namespace {

std::atomic<bool> stop_requested{false};

void on_signal(int) { stop_requested.store(true); }

}  // namespace

int main(int argc, char** argv) {
  parkd::loadgen::Config config;
  std::string error;
  int rc = parkd::loadgen::parse_command_line(argc, argv, config, error);
  if (rc == 1) return 0;
  if (rc != 0) {
    std::fprintf(stderr, "parkd-loadgen: %s\n", error.c_str());
    return 2;
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  auto interval = [&](const parkd::loadgen::IntervalSample& s) {
    std::printf("[%7.1fs] started %llu  completed %llu (%.0f/s)  failed %llu  lost %llu\n", s.elapsed_s,
                static_cast<unsigned long long>(s.started), static_cast<unsigned long long>(s.completed),
                s.completed_per_s, static_cast<unsigned long long>(s.failed), static_cast<unsigned long long>(s.lost));
    std::fflush(stdout);
  };
  parkd::loadgen::RunResult result = parkd::loadgen::run_load(config, stop_requested, interval);
  if (!result.ok) {
    std::fprintf(stderr, "parkd-loadgen: %s\n", result.error.c_str());
    return 1;
  }
  if (!config.quiet) std::fputs(result.report.summary().c_str(), stdout);
  std::printf("%s\n", result.report.final_line().c_str());
  if (!config.timeline_path.empty()) {
    std::ofstream timeline(config.timeline_path);
    timeline << result.report.timeline_csv(config.timeline_ms);
    if (!timeline) {
      std::fprintf(stderr, "parkd-loadgen: cannot write %s\n", config.timeline_path.c_str());
      return 1;
    }
  }
  if (!config.json_path.empty()) {
    std::ofstream json(config.json_path);
    json << result.report.json();
    if (!json) {
      std::fprintf(stderr, "parkd-loadgen: cannot write %s\n", config.json_path.c_str());
      return 1;
    }
  }
  return 0;
}
