// The load generator's calls scenario (tools/loadgen/calls.cc) against the real parkd on its demo tenants, at a
// low rate: every call goes INVITE, 407, ACK, INVITE with credentials, 180, 200, ACK, BYE, 200 between two
// pseudo devices, and each leg's requests reach the device they are for. A correctness test of the scenario
// that `bench/run calls` uses, not a timed one (nothing here depends on speed; every wait is bounded by the
// load generator's --timeout-ms).
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <string>

#include "support/parkd.h"
#include "tools/loadgen/config.h"
#include "tools/loadgen/run.h"

namespace parkd::test {
namespace {

// The demo's users (tenancy/demo_tenants.json) as the load generator's CSV: 4 in acme, 3 in globex.
std::string demo_users_csv(const std::string& password_suffix = "") {
  std::string path = ::testing::TempDir() + "loadgen_calls_users_" + std::to_string(getpid()) + ".csv";
  std::ofstream out(path);
  for (const char* ext : {"101", "102", "103", "104"})
    out << "acme.example.com," << ext << ",acme" << ext << "-secret" << password_suffix << "\n";
  for (const char* ext : {"101", "102", "103"})
    out << "globex.example.com," << ext << ",globex" << ext << "-secret" << password_suffix << "\n";
  return path;
}

loadgen::Config calls_config(const Parkd& parkd, const std::string& users) {
  loadgen::Config c;
  std::string error;
  std::string target = "127.0.0.1:" + std::to_string(parkd.at().port);
  std::vector<const char*> args = {"parkd-loadgen", "--target",    target.c_str(), "--scenario", "calls",
                                   "--users",       users.c_str(), "--sockets",    "4",          "--timeout-ms",
                                   "3000"};
  EXPECT_EQ(loadgen::parse_command_line(static_cast<int>(args.size()), args.data(), c, error), 0) << error;
  return c;
}

loadgen::RunResult run(const loadgen::Config& c) {
  std::atomic<bool> stop{false};
  return loadgen::run_load(c, stop);
}

#define RUN_OR_SKIP(config)                                            \
  loadgen::RunResult r = run(config);                                  \
  if (r.io_uring_unavailable) GTEST_SKIP() << "io_uring: " << r.error; \
  ASSERT_TRUE(r.ok) << r.error

TEST(LoadgenCalls, ClosedLoopCallsCompleteThroughParkd) {
  Parkd parkd({"--shards", "2"});  // two shards: acme and globex may live on different ones
  ASSERT_TRUE(parkd.ready()) << parkd.process().stderr_text();
  loadgen::Config c = calls_config(parkd, demo_users_csv());
  c.concurrency = 3;  // slots 0..2: callees acme 101, 102, 103; callers the next extension of each
  c.count = 120;
  c.duration_s = 0;
  RUN_OR_SKIP(c);
  const loadgen::Stats& s = r.report.stats;
  EXPECT_EQ(s.setup_completed, 3u) << r.report.summary();
  EXPECT_EQ(s.setup_failed + s.setup_lost, 0u);
  EXPECT_EQ(s.started, 120u);
  EXPECT_EQ(s.completed, 120u) << r.report.summary();
  EXPECT_EQ(s.failed + s.lost, 0u) << r.report.summary();
  // Per call the caller sends INVITE, ACK (of the 407), INVITE, ACK, BYE; the callee gets INVITE, ACK, BYE.
  EXPECT_EQ(s.requests_sent, 5u * 120);
  EXPECT_EQ(s.requests_received, 3u * 120);
  EXPECT_EQ(s.stray_requests, 0u);
  EXPECT_EQ(s.unmatched, 0u);
  EXPECT_EQ(s.latency_ns.count(), 120u);
  EXPECT_GT(s.latency_ns.min(), 0u);
  EXPECT_NE(r.report.final_line().find("loadgen: scenario=calls sent=120 completed=120 lost=0 failed=0 "),
            std::string::npos)
      << r.report.final_line();
}

TEST(LoadgenCalls, OpenLoopCallsCompleteThroughParkd) {
  Parkd parkd({"--shards", "1"});
  ASSERT_TRUE(parkd.ready()) << parkd.process().stderr_text();
  loadgen::Config c = calls_config(parkd, demo_users_csv());
  c.concurrency = 0;
  c.rate = 200;
  c.count = 60;
  c.duration_s = 0;
  c.max_inflight = 7;  // every user is a callee (7 slots); the callers are their domain partners
  RUN_OR_SKIP(c);
  const loadgen::Stats& s = r.report.stats;
  EXPECT_EQ(s.setup_completed, 7u) << r.report.summary();
  EXPECT_EQ(s.completed, 60u) << r.report.summary();
  EXPECT_EQ(s.failed + s.lost + s.skipped, 0u) << r.report.summary();
  EXPECT_EQ(s.requests_received, 3u * 60);
  EXPECT_GE(r.report.elapsed_s, 0.25);  // 60 calls paced at 200/s
}

TEST(LoadgenCalls, WrongPasswordsFailEveryCallWith407) {
  Parkd parkd({"--shards", "1"});
  ASSERT_TRUE(parkd.ready()) << parkd.process().stderr_text();
  loadgen::Config c = calls_config(parkd, demo_users_csv("-wrong"));
  c.concurrency = 2;
  c.count = 8;  // with the 2 failed registrations, 10 failures: parkd's throttle (20) does not block the source
  c.duration_s = 0;
  RUN_OR_SKIP(c);
  const loadgen::Stats& s = r.report.stats;
  EXPECT_EQ(s.setup_completed, 0u);
  EXPECT_EQ(s.setup_failed, 2u);
  EXPECT_EQ(s.setup_failed_by_status[401], 2u);
  EXPECT_EQ(s.completed, 0u);
  EXPECT_EQ(s.failed_by_status[407], 8u) << r.report.summary();
  EXPECT_EQ(s.requests_received, 0u) << "no callee may be rung";
}

}  // namespace
}  // namespace parkd::test
