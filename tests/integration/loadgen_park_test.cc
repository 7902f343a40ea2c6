// The load generator's park scenario (tools/loadgen/park.cc) against the real parkd, at a low rate: every cycle
// calls, parks by REFER to *68, gets the park-info NOTIFY to the target's device, retrieves with *88 and hangs
// up, each party played by a pseudo device, and parkd's own counters agree with what the load generator saw.
// A correctness test of the scenario `bench/run park` uses, not a timed one (nothing here depends on speed;
// every wait is bounded by the load generator's --timeout-ms and the process helpers' deadlines).
#include <gtest/gtest.h>
#include <unistd.h>
#include <cstdlib>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "support/parkd.h"
#include "tools/loadgen/config.h"
#include "tools/loadgen/run.h"

namespace parkd::test {
namespace {

using namespace std::chrono_literals;

// t0..t2.example.com with extensions 1000..1007 (password "<domain>-<number>", as tools/sipp/make-users
// writes them): two slots of four users per tenant, six slots in all.
class ParkTenants {
 public:
  ParkTenants() {
    std::string pattern = ::testing::TempDir() + "parkd-loadgen-park-XXXXXX";
    dir_ = mkdtemp(pattern.data()) != nullptr ? pattern : "";
    path_ = dir_ + "/tenants.json";
    std::ofstream out(path_);
    out << R"({"tenants": [)";
    for (int t = 0; t < 3; ++t) {
      std::string domain = std::to_string(t);  // (GCC 12 warns -Wrestrict on "t" + std::to_string(t))
      domain.insert(0, 1, 't').append(".example.com");
      out << (t != 0 ? ", " : "") << R"({"name": "tenant)" << t << R"(", "domain": ")" << domain
          << R"(", "extensions": [)";
      for (int e = 1000; e < 1008; ++e)
        out << (e != 1000 ? ", " : "") << R"({"number": ")" << e << R"(", "password": ")" << domain << "-" << e
            << R"("})";
      out << "]}";
    }
    out << "]}";
  }
  ~ParkTenants() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string dir_;
  std::string path_;
};

loadgen::Config park_config(const Parkd& parkd, std::vector<const char*> extra) {
  loadgen::Config c;
  std::string error;
  std::string target = "127.0.0.1:" + std::to_string(parkd.at().port);
  std::vector<const char*> args = {"parkd-loadgen", "--target", target.c_str(), "--scenario", "park",
                                   "--sockets",     "4",        "--timeout-ms", "3000"};
  args.insert(args.end(), extra.begin(), extra.end());
  EXPECT_EQ(loadgen::parse_command_line(static_cast<int>(args.size()), args.data(), c, error), 0) << error;
  return c;
}

loadgen::RunResult run(const loadgen::Config& c) {
  std::atomic<bool> stop{false};
  return loadgen::run_load(c, stop);
}

// The sum of every `name=` value in `log` (parkd's counter lines, SIGUSR1).
uint64_t counter(const std::string& log, const std::string& name) {
  uint64_t sum = 0;
  size_t at = 0;
  const std::string key = " " + name + "=";
  while ((at = log.find(key, at)) != std::string::npos) {
    at += key.size();
    sum += std::stoull(log.substr(at));
  }
  return sum;
}

#define RUN_OR_SKIP(config)                                            \
  loadgen::RunResult r = run(config);                                  \
  if (r.io_uring_unavailable) GTEST_SKIP() << "io_uring: " << r.error; \
  ASSERT_TRUE(r.ok) << r.error

TEST(LoadgenPark, ClosedLoopCyclesCompleteThroughParkd) {
  ParkTenants tenants;
  Parkd parkd({"--shards", "2", "--tenants", tenants.path()});  // the three tenants spread over both shards
  ASSERT_TRUE(parkd.ready()) << parkd.process().stderr_text();
  loadgen::Config c = park_config(parkd, {"--domains", "t{0..2}.example.com", "--extensions", "1000..1007",
                                          "--password-pattern", "{domain}-{ext}"});
  c.concurrency = 6;  // every group of four users: two per tenant
  c.count = 60;
  c.duration_s = 0;
  RUN_OR_SKIP(c);
  const loadgen::Stats& s = r.report.stats;
  EXPECT_EQ(s.setup_completed, 6u) << r.report.summary();
  EXPECT_EQ(s.setup_failed + s.setup_lost, 0u);
  EXPECT_EQ(s.started, 60u);
  EXPECT_EQ(s.completed, 60u) << r.report.summary();
  EXPECT_EQ(s.failed + s.lost, 0u) << r.report.summary();
  // Per cycle A sends INVITE, ACK (of the 407), INVITE, ACK, REFER, BYE and R the same but REFER; the pseudo
  // devices get B's INVITE, three ACKs, two re-INVITEs and the BYE, A's two sipfrag NOTIFYs, T's two park-infos.
  EXPECT_EQ(s.requests_sent, 11u * 60);
  EXPECT_EQ(s.requests_received, 11u * 60);
  EXPECT_EQ(s.stray_requests, 0u);
  EXPECT_EQ(s.unmatched, 0u);
  EXPECT_EQ(s.latency_ns.count(), 60u);
  EXPECT_GT(s.latency_ns.min(), 0u);
  EXPECT_EQ(s.cycle_ns.count(), 60u);
  EXPECT_GT(s.cycle_ns.min(), s.latency_ns.min()) << "a cycle lasts longer than its park-info's latency";
  EXPECT_NE(r.report.final_line().find("loadgen: scenario=park sent=60 completed=60 lost=0 failed=0 "),
            std::string::npos)
      << r.report.final_line();
  EXPECT_NE(r.report.final_line().find(" cycle_p99_us="), std::string::npos) << r.report.final_line();
  // parkd saw the same: 60 parks, 60 retrieves, two park-info NOTIFYs per cycle, each answered 200, nothing left.
  parkd.process().send_signal(SIGUSR1);
  std::string log;
  for (const char* shard : {"shard 0:", "shard 1:"}) {
    std::optional<std::string> line = parkd.process().wait_for_error_line(shard, 5s);
    ASSERT_TRUE(line.has_value()) << shard;
    log += *line + "\n";
  }
  EXPECT_EQ(counter(log, "parks"), 2u * 60) << "the call and the park counters both count parks=";
  EXPECT_EQ(counter(log, "notifies"), 2u * 60);
  EXPECT_EQ(counter(log, "notify_ok"), 2u * 60);
  EXPECT_EQ(counter(log, "parked_live"), 0u);
  EXPECT_EQ(counter(log, "calls_live"), 0u);
}

TEST(LoadgenPark, OpenLoopOnTheDemoTenant) {
  Parkd parkd({"--shards", "1"});
  ASSERT_TRUE(parkd.ready()) << parkd.process().stderr_text();
  // acme's 101..104 are one group: B 101, A 102, T 103, R 104.
  loadgen::Config c = park_config(
      parkd, {"--domains", "acme.example.com", "--extensions", "101..104", "--password-pattern", "acme{ext}-secret"});
  c.concurrency = 0;
  // One group of four extensions, so one cycle at a time: at 20/s a cycle has 50 ms before the next is due
  // (at 100/s a 10 ms stall of this shared CI machine made the load generator skip one).
  c.rate = 20;
  c.count = 20;
  c.duration_s = 0;
  c.max_inflight = 1;
  RUN_OR_SKIP(c);
  const loadgen::Stats& s = r.report.stats;
  EXPECT_EQ(s.setup_completed, 1u) << r.report.summary();
  EXPECT_EQ(s.completed, 20u) << r.report.summary();
  EXPECT_EQ(s.failed + s.lost + s.skipped + s.stray_requests, 0u) << r.report.summary();
  EXPECT_GE(r.report.elapsed_s, 0.9);  // 20 cycles paced at 20/s
}

TEST(LoadgenPark, WrongPasswordsFailEveryCycleWith407) {
  Parkd parkd({"--shards", "1"});
  ASSERT_TRUE(parkd.ready()) << parkd.process().stderr_text();
  loadgen::Config c = park_config(
      parkd, {"--domains", "acme.example.com", "--extensions", "101..104", "--password-pattern", "acme{ext}-wrong"});
  c.concurrency = 1;
  c.count = 4;  // with the failed registration, 5 failures: parkd's throttle (20) does not block the source
  c.duration_s = 0;
  RUN_OR_SKIP(c);
  const loadgen::Stats& s = r.report.stats;
  EXPECT_EQ(s.setup_failed_by_status[401], 1u) << r.report.summary();
  EXPECT_EQ(s.completed, 0u);
  EXPECT_EQ(s.failed_by_status[407], 4u) << r.report.summary();
  EXPECT_EQ(s.requests_received, 0u) << "nobody may be rung or told";
}

TEST(LoadgenPark, NeedsPatternsWithFourExtensionsPerDomain) {
  Parkd parkd({"--shards", "1"});
  ASSERT_TRUE(parkd.ready()) << parkd.process().stderr_text();
  loadgen::Config three = park_config(parkd, {"--domains", "acme.example.com", "--extensions", "101..103",
                                              "--password-pattern", "acme{ext}-secret", "--count", "1"});
  loadgen::RunResult r = run(three);
  if (r.io_uring_unavailable) GTEST_SKIP() << "io_uring: " << r.error;
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("4 extensions at least"), std::string::npos) << r.error;
  std::string csv = ::testing::TempDir() + "loadgen_park_users_" + std::to_string(getpid()) + ".csv";
  std::ofstream(csv) << "acme.example.com,101,acme101-secret\n";
  loadgen::Config from_csv = park_config(parkd, {"--users", csv.c_str(), "--count", "1"});
  r = run(from_csv);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("--users is not supported"), std::string::npos) << r.error;
  std::filesystem::remove(csv);
}

}  // namespace
}  // namespace parkd::test
