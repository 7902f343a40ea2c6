// The real parkd binary: exit codes and messages of SPEC section 1.
#include <gtest/gtest.h>

#include <csignal>

#include "support/process.h"

namespace parkd::test {
namespace {

using namespace std::chrono_literals;

TEST(ParkdBinary, VersionPrintsAndExitsZero) {
  auto r = run(PARKD_BINARY, {"--version"});
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out.rfind("parkd ", 0), 0u) << r.out;
}

TEST(ParkdBinary, HelpListsEveryFlag) {
  auto r = run(PARKD_BINARY, {"--help"});
  EXPECT_EQ(r.status, 0);
  for (const char* flag : {"--tenants", "--demo", "--listen", "--shards", "--data-dir", "--log-level", "--version"})
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag;
}

TEST(ParkdBinary, UnknownFlagExitsTwoWithOneLine) {
  auto r = run(PARKD_BINARY, {"--demo", "--frobnicate"});
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err, "parkd: unknown option '--frobnicate' (see parkd --help)\n");
  EXPECT_TRUE(r.out.empty());
}

TEST(ParkdBinary, BadValueExitsTwo) {
  auto r = run(PARKD_BINARY, {"--demo", "--shards", "-3"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--shards -3"), std::string::npos) << r.err;
}

TEST(ParkdBinary, SigtermShutsDownWithExitZero) {
  Process p(PARKD_BINARY, {"--demo", "--listen", "127.0.0.1:0"});
  ASSERT_TRUE(p.wait_for_line("Ctrl-C", 10s)) << p.stdout_text();
  p.send_signal(SIGTERM);
  EXPECT_EQ(p.wait_exit(10s), 0);
}

TEST(ParkdBinary, SigintShutsDownWithExitZero) {
  Process p(PARKD_BINARY, {"--demo", "--listen", "127.0.0.1:0"});
  ASSERT_TRUE(p.wait_for_line("Ctrl-C", 10s)) << p.stdout_text();
  p.send_signal(SIGINT);
  EXPECT_EQ(p.wait_exit(10s), 0);
}

}  // namespace
}  // namespace parkd::test
