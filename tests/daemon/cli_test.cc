#include "daemon/cli.h"

#include <gtest/gtest.h>

#include <vector>

namespace parkd::daemon {
namespace {

Result<Options, std::string> parse(std::vector<const char*> args) { return parse_cli(args); }

TEST(Cli, DemoGetsDefaultListenAddress) {
  auto o = parse({"--demo"});
  ASSERT_TRUE(o.ok()) << o.error();
  EXPECT_TRUE(o->demo);
  ASSERT_EQ(o->listen.size(), 1u);
  EXPECT_EQ(o->listen[0].to_string(), "0.0.0.0:5060");
  EXPECT_EQ(o->shards, 0u);
  EXPECT_EQ(o->log_level, log::Level::info);
}

TEST(Cli, EveryFlagBothSpellings) {
  auto o = parse({"--tenants", "t.json", "--listen=127.0.0.1:5070", "--listen", "[::1]:0", "--shards=2", "--data-dir",
                  "/var/lib/parkd", "--log-level=debug"});
  ASSERT_TRUE(o.ok()) << o.error();
  EXPECT_EQ(o->tenants_file, "t.json");
  ASSERT_EQ(o->listen.size(), 2u);
  EXPECT_EQ(o->listen[0].to_string(), "127.0.0.1:5070");
  EXPECT_FALSE(o->listen[0].ipv6);
  EXPECT_EQ(o->listen[1].to_string(), "[::1]:0");
  EXPECT_TRUE(o->listen[1].ipv6);
  EXPECT_EQ(o->shards, 2u);
  EXPECT_EQ(o->data_dir, "/var/lib/parkd");
  EXPECT_EQ(o->log_level, log::Level::debug);
}

TEST(Cli, ParkAndTransactionLimits) {
  auto o = parse({"--demo", "--parked-max", "100", "--parked-max-per-tenant=7", "--transactions-max", "65536"});
  ASSERT_TRUE(o.ok()) << o.error();
  EXPECT_EQ(o->parked_max, 100u);
  EXPECT_EQ(o->parked_max_per_tenant, 7u);
  EXPECT_EQ(o->transactions_max, 65536u);
  EXPECT_FALSE(parse({"--demo", "--transactions-max", "3"}).ok());
  EXPECT_FALSE(parse({"--demo", "--parked-max", "0"}).ok());
}

TEST(Cli, HelpAndVersionNeedNothingElse) {
  EXPECT_TRUE(parse({"--help"})->help);
  EXPECT_TRUE(parse({"--version"})->version);
}

struct BadCase {
  std::vector<const char*> args;
  const char* reason_fragment;
};

class CliRejects : public ::testing::TestWithParam<BadCase> {};

TEST_P(CliRejects, WithOneLineReason) {
  auto o = parse(GetParam().args);
  ASSERT_FALSE(o.ok());
  EXPECT_NE(o.error().find(GetParam().reason_fragment), std::string::npos) << o.error();
  EXPECT_EQ(o.error().find('\n'), std::string::npos) << "reason must be one line";
}

INSTANTIATE_TEST_SUITE_P(
    Cases, CliRejects,
    ::testing::Values(
        BadCase{{}, "one of --tenants FILE or --demo"}, BadCase{{"--demo", "--bogus"}, "unknown option '--bogus'"},
        BadCase{{"--demo", "-x"}, "unknown option '-x'"}, BadCase{{"--demo", "extra"}, "unknown option 'extra'"},
        BadCase{{"--demo", "--tenants", "f"}, "exclude each other"}, BadCase{{"--demo", "--shards", "0"}, "--shards 0"},
        BadCase{{"--demo", "--shards", "257"}, "from 1 to 256"}, BadCase{{"--demo", "--shards", "two"}, "--shards two"},
        BadCase{{"--demo", "--shards"}, "--shards needs a value"},
        BadCase{{"--demo", "--log-level", "loud"}, "expected error, warn, info or debug"},
        BadCase{{"--demo", "--listen", "localhost:5060"}, "not a numeric IPv4"},
        BadCase{{"--demo", "--listen", "127.0.0.1"}, "expected ADDR:PORT"},
        BadCase{{"--demo", "--listen", "127.0.0.1:70000"}, "port must be a number"},
        BadCase{{"--demo", "--listen", "127.0.0.1:"}, "port must be a number"},
        BadCase{{"--demo", "--listen", "[::1:5060"}, "missing ']'"},
        BadCase{{"--demo", "--listen", "[::1]5060"}, "expected [IPv6]:PORT"},
        BadCase{{"--demo", "--listen", "[1.2.3.4]:5060"}, "not a numeric IPv6"},
        BadCase{{"--demo=yes"}, "--demo takes no value"}, BadCase{{"--tenants="}, "--tenants needs a file name"}),
    [](const ::testing::TestParamInfo<BadCase>& info) { return "case" + std::to_string(info.index); });

}  // namespace
}  // namespace parkd::daemon

namespace parkd::daemon {
namespace {

TEST(Cli, TcpLimits) {
  auto o = parse_cli(std::vector<const char*>{"--demo", "--tcp-max-connections", "100", "--tcp-max-per-source=3",
                                              "--tcp-idle-timeout-s", "9"});
  ASSERT_TRUE(o.ok()) << o.error();
  EXPECT_EQ(o->tcp_max_connections, 100u);
  EXPECT_EQ(o->tcp_max_per_source, 3u);
  EXPECT_EQ(o->tcp_idle_timeout_s, 9u);
  auto bad = parse_cli(std::vector<const char*>{"--demo", "--tcp-idle-timeout-s", "0"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error(), "--tcp-idle-timeout-s 0: expected a number from 1 to 86400");
}

}  // namespace
}  // namespace parkd::daemon

namespace parkd::daemon {
namespace {

TEST(Cli, OverloadWatermarks) {
  auto defaults = parse_cli(std::vector<const char*>{"--demo"});
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->overload_high_kb, 0u) << "0: the shard derives them from its receive buffer";
  EXPECT_EQ(defaults->overload_low_kb, 0u);
  auto o = parse_cli(std::vector<const char*>{"--demo", "--overload-high-kb", "512", "--overload-low-kb=128"});
  ASSERT_TRUE(o.ok()) << o.error();
  EXPECT_EQ(o->overload_high_kb, 512u);
  EXPECT_EQ(o->overload_low_kb, 128u);
  auto zero = parse_cli(std::vector<const char*>{"--demo", "--overload-high-kb", "0"});
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.error(), "--overload-high-kb 0: expected a number of KiB from 1 to 1048576");
  auto inverted = parse_cli(std::vector<const char*>{"--demo", "--overload-high-kb", "64", "--overload-low-kb", "64"});
  ASSERT_FALSE(inverted.ok());
  EXPECT_EQ(inverted.error(), "--overload-low-kb must be below --overload-high-kb");
  EXPECT_EQ(defaults->overload_grace_ms, 100u);
  auto grace = parse_cli(std::vector<const char*>{"--demo", "--overload-grace-ms", "0"});
  ASSERT_TRUE(grace.ok()) << grace.error();
  EXPECT_EQ(grace->overload_grace_ms, 0u);
  auto long_grace = parse_cli(std::vector<const char*>{"--demo", "--overload-grace-ms", "10001"});
  ASSERT_FALSE(long_grace.ok());
  EXPECT_EQ(long_grace.error(), "--overload-grace-ms 10001: expected a number of ms from 0 to 10000");
}

}  // namespace
}  // namespace parkd::daemon
