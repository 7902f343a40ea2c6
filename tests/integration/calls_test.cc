// Calls through the real parkd (issue 6, SPEC section 5): two test phones on UDP loopback play caller and
// callee, parkd bridges them as a back-to-back user agent. Every wait is bounded; nothing sleeps to
// synchronise (each step waits for the message it expects).
#include <gtest/gtest.h>

#include <string>

#include "support/parkd.h"
#include "support/phone.h"

namespace parkd::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* acme = "acme.example.com";

struct Extensions {
  explicit Extensions(const Endpoint& at)
      : alice(at, "101", acme, "acme101-secret"),
        bob(at, "102", acme, "acme102-secret"),
        carol(at, "103", acme, "acme103-secret") {}
  Phone alice;
  Phone bob;
  Phone carol;
};

// The caller calls `number`, its device rings (180 relayed to the caller). Returns the callee's INVITE.
Parsed ring(Phone& caller, Phone& callee, const std::string& number = "102") {
  EXPECT_TRUE(callee.register_device());
  EXPECT_TRUE(caller.invite(number));
  Parsed invite = callee.wait_request("INVITE");
  EXPECT_TRUE(invite.ok) << "the callee was not rung";
  if (!invite.ok) return invite;
  callee.reply(invite, 180);
  Parsed ringing = caller.wait_response("INVITE");
  EXPECT_TRUE(ringing.ok && ringing->status_code == 180) << ringing.bytes;
  return invite;
}

TEST(Calls, BasicCallByeFromCaller) {
  Parkd parkd({"--shards", "2"});
  ASSERT_TRUE(parkd.ready());
  Extensions x(parkd.at());
  ASSERT_TRUE(x.bob.register_device());
  ASSERT_TRUE(x.alice.invite("102"));
  Parsed invite = x.bob.wait_request("INVITE");
  ASSERT_TRUE(invite.ok);
  // Caller identity and the SDP, unchanged; a call leg of parkd's own (new Call-ID).
  EXPECT_EQ(invite->from.display_name, "Alice");
  EXPECT_EQ(invite->from.uri, "sip:101@acme.example.com");
  EXPECT_EQ(invite->to.uri, "sip:102@acme.example.com");
  EXPECT_EQ(invite->body, test_sdp);
  EXPECT_NE(invite->call_id, x.alice.dialog().call_id);
  EXPECT_EQ(invite->request_uri, "sip:102@127.0.0.1:" + std::to_string(x.bob.port()));
  x.bob.reply(invite, 180);
  Parsed ringing = x.alice.wait_response("INVITE");
  ASSERT_TRUE(ringing.ok);
  EXPECT_EQ(ringing->status_code, 180) << ringing.bytes;
  EXPECT_FALSE(ringing->to.tag.empty()) << "parkd's own To tag for leg A";
  x.bob.reply(invite, 200, answer_sdp);
  Parsed ok = x.alice.wait_response("INVITE");
  ASSERT_TRUE(ok.ok);
  ASSERT_EQ(ok->status_code, 200) << ok.bytes;
  EXPECT_EQ(ok->body, answer_sdp) << "Bob's SDP reaches Alice unchanged";
  EXPECT_EQ(ok->to.tag, ringing->to.tag);
  ASSERT_TRUE(x.bob.wait_request("ACK").ok) << "parkd ACKs the 2xx on leg B itself";
  x.alice.ack(ok);
  x.alice.send_in_dialog("BYE");
  Parsed bye_ok = x.alice.wait_response("BYE");
  ASSERT_TRUE(bye_ok.ok);
  EXPECT_EQ(bye_ok->status_code, 200);
  Parsed bye = x.bob.wait_request("BYE");
  ASSERT_TRUE(bye.ok) << "the BYE crosses the bridge";
  EXPECT_EQ(bye->call_id, invite->call_id);
  x.bob.reply(bye, 200);
}

TEST(Calls, BasicCallByeFromCallee) {
  Parkd parkd({"--shards", "2"});
  ASSERT_TRUE(parkd.ready());
  Extensions x(parkd.at());
  Parsed invite = ring(x.alice, x.bob);
  ASSERT_TRUE(invite.ok);
  x.bob.reply(invite, 200, answer_sdp);
  Parsed ok = x.alice.wait_response("INVITE");
  ASSERT_TRUE(ok.ok);
  ASSERT_EQ(ok->status_code, 200);
  x.alice.ack(ok);
  ASSERT_TRUE(x.bob.wait_request("ACK").ok);
  x.bob.send_in_dialog("BYE");
  Parsed bye_ok = x.bob.wait_response("BYE");
  ASSERT_TRUE(bye_ok.ok);
  EXPECT_EQ(bye_ok->status_code, 200);
  Parsed bye = x.alice.wait_request("BYE");
  ASSERT_TRUE(bye.ok);
  EXPECT_EQ(bye->call_id, x.alice.dialog().call_id);
  EXPECT_EQ(bye->to.tag, x.alice.dialog().local_tag);
  x.alice.reply(bye, 200);
}

TEST(Calls, BusyIsPassedBack) {
  Parkd parkd({"--shards", "2"});
  ASSERT_TRUE(parkd.ready());
  Extensions x(parkd.at());
  ASSERT_TRUE(x.bob.register_device());
  ASSERT_TRUE(x.alice.invite("102"));
  Parsed invite = x.bob.wait_request("INVITE");
  ASSERT_TRUE(invite.ok);
  x.bob.reply(invite, 486);
  Parsed busy = x.alice.wait_response("INVITE");
  ASSERT_TRUE(busy.ok);
  EXPECT_EQ(busy->status_code, 486) << busy.bytes;
  EXPECT_TRUE(x.bob.wait_request("ACK").ok) << "the transaction layer ACKs the 486";
}

TEST(Calls, CancelFromTheCallerCancelsTheCallee) {
  Parkd parkd({"--shards", "2"});
  ASSERT_TRUE(parkd.ready());
  Extensions x(parkd.at());
  Parsed invite = ring(x.alice, x.bob);
  ASSERT_TRUE(invite.ok);
  x.alice.cancel();
  Parsed cancel_ok = x.alice.wait_response("CANCEL");
  ASSERT_TRUE(cancel_ok.ok);
  EXPECT_EQ(cancel_ok->status_code, 200);
  Parsed terminated = x.alice.wait_response("INVITE");
  ASSERT_TRUE(terminated.ok);
  EXPECT_EQ(terminated->status_code, 487);
  Parsed cancel = x.bob.wait_request("CANCEL");
  ASSERT_TRUE(cancel.ok) << "the CANCEL crosses the bridge";
  EXPECT_EQ(cancel->vias[0].branch, invite->vias[0].branch);
  x.bob.reply(cancel, 200);
  x.bob.reply(invite, 487);
  EXPECT_TRUE(x.bob.wait_request("ACK").ok);
}

TEST(Calls, NoAnswerWithinTheRingTimeoutIsCancelledAnd480) {
  Parkd parkd({"--shards", "1", "--ring-timeout-s", "1"});
  ASSERT_TRUE(parkd.ready());
  Extensions x(parkd.at());
  Parsed invite = ring(x.alice, x.bob);
  ASSERT_TRUE(invite.ok);
  Parsed cancel = x.bob.wait_request("CANCEL", 5s);
  ASSERT_TRUE(cancel.ok) << "no CANCEL after the ring timeout";
  x.bob.reply(cancel, 200);
  x.bob.reply(invite, 487);
  Parsed unavailable = x.alice.wait_response("INVITE", 5s);
  ASSERT_TRUE(unavailable.ok);
  EXPECT_EQ(unavailable->status_code, 480) << unavailable.bytes;
}

TEST(Calls, ForksToEveryDeviceFirstAnswerWinsTheOtherIsCancelled) {
  Parkd parkd({"--shards", "2"});
  ASSERT_TRUE(parkd.ready());
  Extensions x(parkd.at());
  Phone bob_desk(parkd.at(), "102", acme, "acme102-secret");
  ASSERT_TRUE(x.bob.register_device());
  ASSERT_TRUE(bob_desk.register_device());
  ASSERT_TRUE(x.alice.invite("102"));
  Parsed mobile = x.bob.wait_request("INVITE");
  Parsed desk = bob_desk.wait_request("INVITE");
  ASSERT_TRUE(mobile.ok && desk.ok) << "both devices ring";
  x.bob.reply(mobile, 180);
  bob_desk.reply(desk, 180);
  Parsed ringing = x.alice.wait_response("INVITE");
  ASSERT_TRUE(ringing.ok);
  EXPECT_EQ(ringing->status_code, 180);
  EXPECT_EQ(mobile->call_id, desk->call_id);
  EXPECT_NE(mobile->vias[0].branch, desk->vias[0].branch);
  bob_desk.reply(desk, 200, answer_sdp);
  Parsed ok = x.alice.wait_response("INVITE");
  if (ok.ok && ok->status_code == 180) ok = x.alice.wait_response("INVITE");  // the second device's 180
  ASSERT_TRUE(ok.ok);
  EXPECT_EQ(ok->status_code, 200);
  EXPECT_TRUE(bob_desk.wait_request("ACK").ok);
  Parsed cancel = x.bob.wait_request("CANCEL");
  ASSERT_TRUE(cancel.ok) << "the device that lost gets CANCEL";
  x.bob.reply(cancel, 200);
  x.bob.reply(mobile, 487);
  x.alice.ack(ok);
}

TEST(Calls, UnknownNumberIs404NobodyRegisteredIs480) {
  Parkd parkd({"--shards", "2"});
  ASSERT_TRUE(parkd.ready());
  Extensions x(parkd.at());
  ASSERT_TRUE(x.alice.invite("999"));
  Parsed unknown = x.alice.wait_response("INVITE");
  ASSERT_TRUE(unknown.ok);
  EXPECT_EQ(unknown->status_code, 404) << unknown.bytes;
  ASSERT_TRUE(x.alice.invite("103"));
  Parsed unregistered = x.alice.wait_response("INVITE");
  ASSERT_TRUE(unregistered.ok);
  EXPECT_EQ(unregistered->status_code, 480) << unregistered.bytes;
}

TEST(Calls, InviteWithoutCredentialsIsChallengedWith407) {
  Parkd parkd({"--shards", "1"});
  ASSERT_TRUE(parkd.ready());
  Phone intruder(parkd.at(), "101", acme, "wrong-password");
  ASSERT_TRUE(intruder.invite("102"));
  Parsed r = intruder.wait_response("INVITE");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r->status_code, 407) << "a wrong password is challenged again";
  EXPECT_EQ(r->proxy_authenticate.realm, acme);
}

TEST(Calls, TenantCallLimitAnswers503) {
  Parkd parkd({"--shards", "2", "--calls-max-per-tenant", "1"});
  ASSERT_TRUE(parkd.ready());
  Extensions x(parkd.at());
  Parsed invite = ring(x.alice, x.bob);
  ASSERT_TRUE(invite.ok);
  ASSERT_TRUE(x.carol.invite("102"));
  Parsed refused = x.carol.wait_response("INVITE");
  ASSERT_TRUE(refused.ok);
  EXPECT_EQ(refused->status_code, 503) << refused.bytes;
  EXPECT_FALSE(refused.header("Retry-After").empty());
}

TEST(Calls, HoldAndResumeReInvitesCrossTheBridge) {
  Parkd parkd({"--shards", "2"});
  ASSERT_TRUE(parkd.ready());
  Extensions x(parkd.at());
  Parsed invite = ring(x.alice, x.bob);
  ASSERT_TRUE(invite.ok);
  x.bob.reply(invite, 200, answer_sdp);
  Parsed ok = x.alice.wait_response("INVITE");
  ASSERT_TRUE(ok.ok);
  x.alice.ack(ok);
  ASSERT_TRUE(x.bob.wait_request("ACK").ok);
  const std::string hold = std::string(test_sdp) + "a=sendonly\r\n";
  for (const std::string& offer : {hold, std::string(test_sdp)}) {  // hold, then resume
    x.alice.send_in_dialog("INVITE", offer);
    Parsed reinvite = x.bob.wait_request("INVITE");
    ASSERT_TRUE(reinvite.ok);
    EXPECT_FALSE(reinvite->to.tag.empty()) << "in Bob's dialog";
    EXPECT_EQ(reinvite->body, offer) << "SDP unchanged";
    x.bob.reply(reinvite, 200, answer_sdp);
    Parsed answer = x.alice.wait_response("INVITE");
    ASSERT_TRUE(answer.ok);
    EXPECT_EQ(answer->status_code, 200);
    EXPECT_EQ(answer->body, answer_sdp);
    EXPECT_TRUE(x.bob.wait_request("ACK").ok);
    x.alice.ack(answer);
  }
  // And from Bob's side. Alice's last ACK may still be on its way through parkd (it reaches the tenant's shard
  // by another path than Bob's request): parkd then answers 491 and Bob tries again, as RFC 3261 section 14.1
  // says.
  for (int attempt = 0; attempt < 5; ++attempt) {
    x.bob.send_in_dialog("INVITE", hold);
    Parsed pending = x.bob.wait_response("INVITE", 300ms);
    if (!pending.ok) break;
    ASSERT_EQ(pending->status_code, 491) << pending.bytes;
  }
  Parsed reinvite = x.alice.wait_request("INVITE");
  ASSERT_TRUE(reinvite.ok);
  EXPECT_EQ(reinvite->body, hold);
  x.alice.reply(reinvite, 200, test_sdp);
  Parsed answer = x.bob.wait_response("INVITE");
  ASSERT_TRUE(answer.ok);
  EXPECT_EQ(answer->status_code, 200);
}

}  // namespace
}  // namespace parkd::test
