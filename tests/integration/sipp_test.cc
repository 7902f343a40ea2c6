// Every scenario of tools/sipp/ run with real SIPp (Debian sip-tester) against a real parkd, at a low rate,
// so none of them rots. SIPp exits 0 only when every call of the scenario succeeded.
#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <string>

#include "support/process.h"
#include "support/sipp.h"

namespace parkd::test {
namespace {

using namespace std::chrono_literals;

struct RunningParkd {
  std::unique_ptr<Process> process;
  std::string address;  // "127.0.0.1:PORT"
};

// SIPp 3.6 answers only MD5 and reads only the first challenge: parkd offers MD5 first for it.
RunningParkd start_parkd() {
  RunningParkd r;
  r.process = std::make_unique<Process>(
      PARKD_BINARY,
      std::vector<std::string>{"--demo", "--listen", "127.0.0.1:0", "--shards", "2", "--digest-prefer", "md5"});
  auto line = r.process->wait_for_line("listening udp+tcp 127.0.0.1:", 10s);
  if (line) r.address = line->substr(line->find("127.0.0.1:"));
  r.process->wait_for_line("ready", 10s);
  return r;
}

// Runs SIPp with the scenario (and injection file) against parkd; returns its exit status (0: every call
// succeeded).
int run_sipp(const std::string& scenario, const std::string& target, int calls, std::string* output,
             const std::string& injection_file = "") {
  const std::string dir = std::string(PARKD_SOURCE_DIR) + "/tools/sipp/";
  std::vector<std::string> args = {
      "-sf", dir + scenario,  "-m", std::to_string(calls),           "-r",       "10",
      "-i",  "127.0.0.1",     "-p", std::to_string(free_udp_port()), "-nostdin", "-timeout",
      "15s", "-timeout_error"};
  if (!injection_file.empty()) args.insert(args.end(), {"-inf", dir + injection_file});
  args.push_back(target);
  RunResult r = run(sipp_binary, args, 30s);
  *output = r.out + r.err;
  return r.status;
}

TEST(Sipp, OptionsScenario) {
  if (access(sipp_binary, X_OK) != 0) GTEST_SKIP() << "SIPp is not installed (apt-get install sip-tester)";
  RunningParkd parkd = start_parkd();
  ASSERT_FALSE(parkd.address.empty()) << parkd.process->stderr_text();
  std::string output;
  EXPECT_EQ(run_sipp("options.xml", parkd.address, 5, &output), 0) << output;
  parkd.process->send_signal(SIGTERM);
  EXPECT_EQ(parkd.process->wait_exit(10s), 0);
}

TEST(Sipp, RegisterWithDigestScenario) {
  if (access(sipp_binary, X_OK) != 0) GTEST_SKIP() << "SIPp is not installed (apt-get install sip-tester)";
  RunningParkd parkd = start_parkd();
  ASSERT_FALSE(parkd.address.empty()) << parkd.process->stderr_text();
  std::string output;
  // Every demo extension of both tenants: 401, then the authenticated REGISTER, then 200 with the binding.
  EXPECT_EQ(run_sipp("register.xml", parkd.address, 7, &output, "demo-users.csv"), 0) << output;
  parkd.process->send_signal(SIGTERM);
  EXPECT_EQ(parkd.process->wait_exit(10s), 0);
  EXPECT_NE(parkd.process->stderr_text().find("registered="), std::string::npos);
}

// A real SIPp caller calls a real SIPp callee through parkd: digest 407, ringing, answer, ACK, BYE.
TEST(Sipp, CallBetweenTwoSippInstances) {
  if (access(sipp_binary, X_OK) != 0) GTEST_SKIP() << "SIPp is not installed (apt-get install sip-tester)";
  RunningParkd parkd = start_parkd();
  ASSERT_FALSE(parkd.address.empty()) << parkd.process->stderr_text();
  const std::string dir = std::string(PARKD_SOURCE_DIR) + "/tools/sipp/";
  const uint16_t free_port = free_udp_port();
  ASSERT_NE(free_port, 0) << "no free UDP port on loopback";
  const std::string port = std::to_string(free_port);
  // The callee registers from the port it will then answer on.
  RunResult registered = run(sipp_binary,
                             {"-sf", dir + "register.xml", "-inf", dir + "callee-102.csv", "-m", "1", "-i", "127.0.0.1",
                              "-p", port, "-nostdin", "-timeout", "15s", "-timeout_error", parkd.address},
                             30s);
  ASSERT_EQ(registered.status, 0) << registered.out << registered.err;
  // The callee waits; parkd's INVITE is retransmitted (T1) should it come before SIPp listens.
  Process callee(sipp_binary, {"-sf", dir + "uas.xml", "-m", "1", "-i", "127.0.0.1", "-p", port, "-nostdin", "-timeout",
                               "20s", "-timeout_error", parkd.address});
  std::string output;
  EXPECT_EQ(run_sipp("uac.xml", parkd.address, 1, &output, "call-users.csv"), 0) << output;
  EXPECT_EQ(callee.wait_exit(20s), 0) << callee.stdout_text() << callee.stderr_text();
  parkd.process->send_signal(SIGTERM);
  EXPECT_EQ(parkd.process->wait_exit(10s), 0);
  EXPECT_NE(parkd.process->stderr_text().find("calls_answered=1"), std::string::npos) << parkd.process->stderr_text();
}

}  // namespace
}  // namespace parkd::test
