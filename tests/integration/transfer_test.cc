// Blind transfer through the real parkd (issue 6, SPEC section 5, RFC 3515): the transferor REFERs the other
// party to an extension, parkd answers 202, reports progress with sipfrag NOTIFYs and connects the transferee
// to the target by third-party call control (a delayed-offer INVITE to the target, its offer to the
// transferee in a re-INVITE, the answer back in the ACK). Every wait is bounded; nothing sleeps.
#include <gtest/gtest.h>

#include <string>

#include "support/parkd.h"
#include "support/phone.h"

namespace parkd::test {
namespace {

constexpr const char* target_sdp =
    "v=0\r\no=- 3 3 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n";
constexpr const char* acme = "acme.example.com";

struct Call {
  explicit Call(const Endpoint& at)
      : alice(at, "101", acme, "acme101-secret"),
        bob(at, "102", acme, "acme102-secret"),
        carol(at, "103", acme, "acme103-secret") {}
  // Alice calls Bob; both sides confirmed.
  bool establish() { return establish_call(alice, bob, "102"); }
  Phone alice;
  Phone bob;
  Phone carol;
};

std::string refer_to(const std::string& user) { return "Refer-To: <sip:" + user + "@" + acme + ">\r\n"; }

TEST(Transfer, BlindTransferConnectsTheTransfereeToTheTarget) {
  Parkd parkd({"--shards", "2"});
  ASSERT_TRUE(parkd.ready());
  Call c(parkd.at());
  ASSERT_TRUE(c.carol.register_device());
  ASSERT_TRUE(c.establish());
  // Bob transfers Alice to Carol (103).
  c.bob.send_in_dialog("REFER", "", refer_to("103"));
  Parsed accepted = c.bob.wait_response("REFER");
  ASSERT_TRUE(accepted.ok);
  EXPECT_EQ(accepted->status_code, 202) << accepted.bytes;
  Parsed trying = c.bob.wait_request("NOTIFY");
  ASSERT_TRUE(trying.ok) << "sipfrag 100";
  EXPECT_EQ(trying->body, "SIP/2.0 100 Trying\r\n");
  EXPECT_NE(trying.bytes.find("Event: refer"), std::string::npos) << trying.bytes;
  EXPECT_NE(trying.bytes.find("message/sipfrag"), std::string::npos) << trying.bytes;
  c.bob.reply(trying, 200);
  // Carol is rung with Alice as the caller and no offer (delayed offer).
  Parsed invite = c.carol.wait_request("INVITE");
  ASSERT_TRUE(invite.ok);
  EXPECT_EQ(invite->from.uri, "sip:101@acme.example.com");
  EXPECT_EQ(invite->from.display_name, "Alice");
  EXPECT_TRUE(invite->body.empty()) << invite.bytes;
  c.carol.reply(invite, 180);
  c.carol.reply(invite, 200, target_sdp);
  // Alice gets Carol's offer in a re-INVITE on her own dialog; her answer goes to Carol in the ACK.
  Parsed reinvite = c.alice.wait_request("INVITE");
  ASSERT_TRUE(reinvite.ok);
  EXPECT_EQ(reinvite->call_id, c.alice.dialog().call_id);
  EXPECT_EQ(reinvite->body, target_sdp);
  c.alice.reply(reinvite, 200, answer_sdp);
  EXPECT_TRUE(c.alice.wait_request("ACK").ok);
  Parsed ack = c.carol.wait_request("ACK");
  ASSERT_TRUE(ack.ok);
  EXPECT_EQ(ack->body, answer_sdp) << "the answer travels in the ACK";
  // Bob hears the outcome, then hangs up.
  Parsed done = c.bob.wait_request("NOTIFY");
  ASSERT_TRUE(done.ok);
  EXPECT_EQ(done->body, "SIP/2.0 200 OK\r\n");
  EXPECT_NE(done.bytes.find("terminated"), std::string::npos) << done.bytes;
  c.bob.reply(done, 200);
  c.bob.send_in_dialog("BYE");
  Parsed bye_ok = c.bob.wait_response("BYE");
  ASSERT_TRUE(bye_ok.ok);
  EXPECT_EQ(bye_ok->status_code, 200);
  // Alice and Carol are bridged: Alice's BYE reaches Carol.
  c.alice.send_in_dialog("BYE");
  Parsed alice_bye_ok = c.alice.wait_response("BYE");
  ASSERT_TRUE(alice_bye_ok.ok);
  EXPECT_EQ(alice_bye_ok->status_code, 200);
  Parsed bye = c.carol.wait_request("BYE");
  ASSERT_TRUE(bye.ok) << "the transferee and the target are bridged";
  EXPECT_EQ(bye->call_id, invite->call_id);
  c.carol.reply(bye, 200);
}

TEST(Transfer, UnknownTargetIsRefusedAndTheCallStays) {
  Parkd parkd({"--shards", "2"});
  ASSERT_TRUE(parkd.ready());
  Call c(parkd.at());
  ASSERT_TRUE(c.establish());
  c.bob.send_in_dialog("REFER", "", refer_to("999"));
  Parsed refused = c.bob.wait_response("REFER");
  ASSERT_TRUE(refused.ok);
  EXPECT_EQ(refused->status_code, 404) << refused.bytes;
  // Another tenant's domain is no target either.
  c.bob.send_in_dialog("REFER", "", "Refer-To: <sip:103@globex.example.com>\r\n");
  Parsed other_tenant = c.bob.wait_response("REFER");
  ASSERT_TRUE(other_tenant.ok);
  EXPECT_EQ(other_tenant->status_code, 404) << other_tenant.bytes;
  // The call is as it was: a re-INVITE still crosses the bridge.
  c.alice.send_in_dialog("INVITE", answer_sdp);
  Parsed reinvite = c.bob.wait_request("INVITE");
  ASSERT_TRUE(reinvite.ok) << "the call survived the refused REFER";
  c.bob.reply(reinvite, 200, answer_sdp);
  Parsed ok = c.alice.wait_response("INVITE");
  ASSERT_TRUE(ok.ok);
  EXPECT_EQ(ok->status_code, 200);
}

TEST(Transfer, BusyTargetIsReportedAndTheTransfereeReleased) {
  Parkd parkd({"--shards", "2"});
  ASSERT_TRUE(parkd.ready());
  Call c(parkd.at());
  ASSERT_TRUE(c.carol.register_device());
  ASSERT_TRUE(c.establish());
  c.bob.send_in_dialog("REFER", "", refer_to("103"));
  Parsed accepted = c.bob.wait_response("REFER");
  ASSERT_TRUE(accepted.ok);
  ASSERT_EQ(accepted->status_code, 202);
  Parsed trying = c.bob.wait_request("NOTIFY");
  ASSERT_TRUE(trying.ok);
  c.bob.reply(trying, 200);
  Parsed invite = c.carol.wait_request("INVITE");
  ASSERT_TRUE(invite.ok);
  c.carol.reply(invite, 486);
  Parsed outcome = c.bob.wait_request("NOTIFY");
  ASSERT_TRUE(outcome.ok);
  EXPECT_EQ(outcome->body, "SIP/2.0 486 Busy Here\r\n");
  c.bob.reply(outcome, 200);
  Parsed bye = c.alice.wait_request("BYE");
  ASSERT_TRUE(bye.ok) << "a blind transfer that failed releases the transferee";
  c.alice.reply(bye, 200);
}

}  // namespace
}  // namespace parkd::test
