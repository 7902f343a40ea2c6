// A full transaction table must not leak calls (issue 6): a BYE that cannot get a server transaction still
// ends its call. parkd runs with a tiny table (--transactions-max) and one call (--calls-max 1), and T1 = 10 ms
// so that transactions linger for 640 ms at most. Every wait is bounded.
#include <gtest/gtest.h>

#include <string>

#include "support/parkd.h"
#include "support/phone.h"

namespace parkd::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* acme = "acme.example.com";

// An unauthenticated INVITE from `phone` with its own Call-ID: it takes a server transaction (407, or 503 once
// the table is full). Returns the status.
uint16_t occupy_one(Phone& phone, int n) {
  const std::string port = std::to_string(phone.port());
  EXPECT_TRUE(phone.client().send(
      "INVITE sip:102@acme.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:" + port + ";branch=z9hG4bK-fill-" +
      std::to_string(n) + ";rport\r\nMax-Forwards: 70\r\nFrom: <sip:104@acme.example.com>;tag=fill" +
      std::to_string(n) + "\r\nTo: <sip:102@acme.example.com>\r\nCall-ID: fill-" + std::to_string(n) +
      "\r\nCSeq: 1 INVITE\r\nContact: <sip:104@127.0.0.1:" + port + ">\r\nContent-Length: 0\r\n\r\n"));
  Parsed answer = phone.wait_response("INVITE");
  return answer.ok ? answer->status_code : 0;
}

TEST(CallLimits, AByeWithoutATransactionStillEndsItsCall) {
  Parkd parkd({"--shards", "1", "--transactions-max", "6", "--calls-max", "1", "--sip-t1-ms", "10"});
  ASSERT_TRUE(parkd.ready());
  Phone alice(parkd.at(), "101", acme, "acme101-secret");
  Phone bob(parkd.at(), "102", acme, "acme102-secret");
  Phone dave(parkd.at(), "104", acme, "acme104-secret");
  ASSERT_TRUE(establish_call(alice, bob, "102"));
  // Fill the table until parkd refuses a new transaction.
  bool full = false;
  for (int n = 0; n < 12 && !full; ++n) full = occupy_one(dave, n) == 503;
  ASSERT_TRUE(full) << "the transaction table never filled";
  // Alice hangs up: answered 200 although no transaction could be had, and the call is freed.
  alice.send_in_dialog("BYE");
  Parsed bye_ok = alice.wait_response("BYE");
  ASSERT_TRUE(bye_ok.ok);
  EXPECT_EQ(bye_ok->status_code, 200) << bye_ok.bytes;
  // With --calls-max 1 a new call is accepted once the lingering transactions are gone (64*T1 = 640 ms): a
  // leaked call would keep answering "503 Too Many Calls". Each try waits for parkd's answer; between tries
  // the test waits for the transaction timers, which send nothing to wait for.
  bool room = false;
  for (int attempt = 0; attempt < 40 && !room; ++attempt) {
    if (attempt > 0) (void)alice.silent(100ms);
    room = occupy_one(dave, 100 + attempt) == 407;
  }
  ASSERT_TRUE(room) << "the transaction table never drained";
  // The probe's own transaction lingers until its timer H (64*T1 = 640 ms): nothing is sent when it ends.
  (void)alice.silent(900ms);
  Phone caller(parkd.at(), "101", acme, "acme101-secret");
  ASSERT_TRUE(caller.invite("102"));
  Parsed answer = caller.wait_response("INVITE");
  ASSERT_TRUE(answer.ok);
  EXPECT_NE(answer->status_code, 503) << "the first call leaked: " << answer.bytes;
  EXPECT_TRUE(bob.wait_request("INVITE").ok) << "the new call reaches Bob";
}

}  // namespace
}  // namespace parkd::test
