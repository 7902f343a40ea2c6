// Calls through the real parkd when something goes wrong, and what crosses an established call besides
// re-INVITE and BYE (issue 6, SPEC section 5; calls_test.cc has the happy paths). parkd runs with a short T1
// (--sip-t1-ms) so timers B and F fire within seconds. A lost datagram is played by a test phone that reads a
// message and does not answer it. Every wait is bounded; nothing sleeps to synchronise: each step waits for
// the message it expects, and "parkd stopped sending" is a quiet period longer than any gap parkd may leave
// while it still retransmits. Timing is never asserted precisely: only counts, order and generous bounds.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <future>
#include <string>
#include <tuple>
#include <vector>

#include "support/parkd.h"
#include "support/phone.h"

namespace parkd::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds t1 = 50ms;  // --sip-t1-ms below; T2 = 8*T1
constexpr milliseconds t2 = 8 * t1;
constexpr const char* t1_flag = "50";
constexpr const char* acme = "acme.example.com";

struct Extensions {
  explicit Extensions(const Endpoint& at, Transport alice_transport = Transport::udp,
                      Transport bob_transport = Transport::udp)
      : alice(at, "101", acme, "acme101-secret", alice_transport),
        bob(at, "102", acme, "acme102-secret", bob_transport) {}
  Phone alice;
  Phone bob;
};

// The next message other than a 100 Trying (or a TCP keep-alive); !ok on timeout.
Parsed next_message(Phone& phone, milliseconds timeout = 5s) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return Parsed{};
    auto bytes = phone.client().receive(left);
    if (!bytes) return Parsed{};
    Parsed p = parse(std::move(*bytes));
    if (p.ok && (p->is_request || p->status_code != 100)) return p;
  }
}

struct Arrival {
  Parsed message;
  Clock::time_point at;
};

// Everything `phone` receives, with the time it was read, until nothing arrives for `quiet`, a message matches
// `until` (that one included), or `limit` has passed. Meant to run on a thread of its own (std::async) so the
// test can talk to the other phone meanwhile; nothing else may read `phone` until it returns.
std::vector<Arrival> record(Phone& phone, milliseconds quiet, milliseconds limit,
                            const std::function<bool(const Parsed&)>& until = nullptr) {
  std::vector<Arrival> out;
  const auto deadline = Clock::now() + limit;
  for (;;) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return out;
    auto bytes = phone.client().receive(std::min(quiet, left));
    if (!bytes) return out;
    out.push_back({parse(std::move(*bytes)), Clock::now()});
    if (until && out.back().message.ok && until(out.back().message)) return out;
  }
}

bool is_request(const Parsed& p, sip::Method method) { return p.ok && p->is_request && p->method == method; }
bool is_response(const Parsed& p, sip::Method method) { return p.ok && !p->is_request && p->cseq.method == method; }

// The copies of one request parkd sent while nobody answered: all byte for byte the first (a retransmission
// is the same request, same branch). Returns their count.
size_t expect_retransmissions(const std::vector<Arrival>& copies, size_t count, sip::Method method) {
  for (size_t i = 0; i < count; ++i) {
    EXPECT_TRUE(is_request(copies[i].message, method)) << "message " << i << ":\n" << copies[i].message.bytes;
    EXPECT_EQ(copies[i].message.bytes, copies[0].message.bytes) << "copy " << i << " is not a retransmission";
  }
  return count;
}

// Alice calls Bob, Bob answers, both ACKs arrive: an established call. Returns Bob's INVITE.
Parsed establish(Extensions& x) {
  EXPECT_TRUE(x.bob.register_device());
  EXPECT_TRUE(x.alice.invite("102"));
  Parsed invite = x.bob.wait_request("INVITE");
  EXPECT_TRUE(invite.ok) << "Bob was not rung";
  if (!invite.ok) return invite;
  x.bob.reply(invite, 200, answer_sdp);
  Parsed ok = x.alice.wait_response("INVITE");
  EXPECT_TRUE(ok.ok && ok->status_code == 200) << ok.bytes;
  if (!ok.ok) return Parsed{};
  EXPECT_TRUE(x.bob.wait_request("ACK").ok) << "parkd ACKs Bob's 200";
  x.alice.ack(ok);
  return invite;
}

// A whole call with both ends answering, to show parkd is still healthy.
void expect_a_call_works(Extensions& x) {
  ASSERT_TRUE(x.alice.invite("102"));
  Parsed invite = x.bob.wait_request("INVITE");
  ASSERT_TRUE(invite.ok) << "a new call does not ring";
  x.bob.reply(invite, 200, answer_sdp);
  Parsed ok = x.alice.wait_response("INVITE");
  ASSERT_TRUE(ok.ok);
  ASSERT_EQ(ok->status_code, 200) << ok.bytes;
  ASSERT_TRUE(x.bob.wait_request("ACK").ok);
  x.alice.ack(ok);
  x.alice.send_in_dialog("BYE");
  Parsed bye_ok = x.alice.wait_response("BYE");
  ASSERT_TRUE(bye_ok.ok);
  EXPECT_EQ(bye_ok->status_code, 200);
  Parsed bye = x.bob.wait_request("BYE");
  ASSERT_TRUE(bye.ok);
  x.bob.reply(bye, 200);
}

// --------------------------------------------------------------------------------------------------------
// Timeouts: timer B on the INVITE, timer F on a BYE, timer B on a relayed re-INVITE.

TEST(CallFailures, CalleeThatNeverAnswersGetsTheInviteRetransmittedThenTheCallerGets480) {
  Parkd parkd({"--shards", "2", "--sip-t1-ms", t1_flag});
  ASSERT_TRUE(parkd.ready());
  Extensions x(parkd.at());
  ASSERT_TRUE(x.bob.register_device());
  ASSERT_TRUE(x.alice.invite("102"));
  // Bob reads the INVITE and its copies and never answers. Timer A doubles without a cap: the copies leave at
  // 0, T1, 3T1, 7T1, 15T1, 31T1, 63T1, and timer B ends the branch at 64T1. Were timer A still running, its
  // next copy would come 64T1 after the last: a quiet period longer than that shows it stopped.
  auto recording = std::async(std::launch::async, [&] { return record(x.bob, 64 * t1 + 500ms, 20s); });
  Parsed final_answer = x.alice.wait_response("INVITE", 15s);
  const auto answered_at = Clock::now();
  std::vector<Arrival> copies = recording.get();
  ASSERT_TRUE(final_answer.ok) << "the caller got no final answer";
  // A branch that timed out counts as 480 (docs/calls.md).
  EXPECT_EQ(final_answer->status_code, 480) << final_answer.bytes;
  x.alice.ack_failure(final_answer);

  ASSERT_FALSE(copies.empty()) << "Bob was not rung";
  const size_t n = expect_retransmissions(copies, copies.size(), sip::Method::invite);
  EXPECT_GE(n, 4u) << "the INVITE was not retransmitted (timer A)";
  EXPECT_LE(n, 7u) << "more copies than timer A sends before timer B (64*T1), or parkd never gave up";
  EXPECT_GE(answered_at - copies.front().at, 32 * t1) << "the 480 came long before timer B";
  if (n >= 4) {
    const auto first_gap = copies[1].at - copies[0].at;
    const auto last_gap = copies[n - 1].at - copies[n - 2].at;
    EXPECT_GT(last_gap, first_gap) << "the retransmission interval does not grow";
    EXPECT_GE(last_gap, 4 * t1) << "the retransmission interval does not double";
  }
  // No CANCEL either: the branch never sent a provisional answer (RFC 3261 section 9.1), and every message
  // Bob saw was the INVITE (checked above).
}

TEST(CallFailures, ByeToASilentPeerIsRetransmittedThenGivenUpAndParkdStaysHealthy) {
  Parkd parkd({"--shards", "2", "--sip-t1-ms", t1_flag});
  ASSERT_TRUE(parkd.ready());
  Extensions x(parkd.at());
  ASSERT_TRUE(establish(x).ok);
  x.alice.send_in_dialog("BYE");
  // Bob never answers parkd's BYE. Timer E: 0, T1, 3T1, 7T1, then every T2 until timer F at 64T1; a quiet
  // period of 2*T2 shows the copies stopped.
  auto recording = std::async(std::launch::async, [&] { return record(x.bob, 2 * t2 + 200ms, 20s); });
  // Alice's 200 does not wait for Bob: it comes long before timer F (64*T1).
  Parsed bye_ok = x.alice.wait_response("BYE", 32 * t1);
  std::vector<Arrival> copies = recording.get();
  ASSERT_TRUE(bye_ok.ok) << "the BYE from Alice was not answered at once";
  EXPECT_EQ(bye_ok->status_code, 200);
  ASSERT_FALSE(copies.empty()) << "the BYE did not cross the bridge";
  const size_t n = expect_retransmissions(copies, copies.size(), sip::Method::bye);
  EXPECT_GE(n, 3u) << "the BYE was not retransmitted (timer E)";
  EXPECT_LE(n, 11u) << "more copies than timer E sends before timer F (64*T1), or parkd never gave up";
  EXPECT_EQ(copies[0].message->call_id, x.bob.dialog().call_id);
  EXPECT_LE(copies.back().at - copies.front().at, 64 * t1 + 2s) << "the BYE was retransmitted past timer F";
  expect_a_call_works(x);
}

TEST(CallFailures, RelayedReInviteToASilentPeerIs408AndEndsBothLegs) {
  Parkd parkd({"--shards", "2", "--sip-t1-ms", t1_flag});
  ASSERT_TRUE(parkd.ready());
  Extensions x(parkd.at());
  ASSERT_TRUE(establish(x).ok);
  const std::string hold = std::string(test_sdp) + "a=sendonly\r\n";
  x.alice.send_in_dialog("INVITE", hold);
  // Bob reads the relayed re-INVITE and its copies, never answers, until parkd hangs up on him.
  auto recording = std::async(std::launch::async, [&] {
    return record(x.bob, 64 * t1 + 500ms, 20s, [](const Parsed& p) { return is_request(p, sip::Method::bye); });
  });
  // docs/calls.md: a relayed request that times out gets 408 and ends the call on both legs.
  Parsed first = next_message(x.alice, 15s);
  Parsed second = next_message(x.alice, 5s);
  std::vector<Arrival> messages = recording.get();
  ASSERT_TRUE(first.ok && second.ok) << "Alice expected a 408 and a BYE";
  const Parsed& timeout = is_response(first, sip::Method::invite) ? first : second;
  const Parsed& alice_bye = is_response(first, sip::Method::invite) ? second : first;
  ASSERT_TRUE(is_response(timeout, sip::Method::invite)) << first.bytes << second.bytes;
  EXPECT_EQ(timeout->status_code, 408) << timeout.bytes;
  x.alice.ack_failure(timeout);
  ASSERT_TRUE(is_request(alice_bye, sip::Method::bye)) << alice_bye.bytes;
  EXPECT_EQ(alice_bye->call_id, x.alice.dialog().call_id);
  x.alice.reply(alice_bye, 200);

  ASSERT_GE(messages.size(), 2u) << "Bob expected the re-INVITE and a BYE";
  const Arrival& last = messages.back();
  ASSERT_TRUE(is_request(last.message, sip::Method::bye)) << "no BYE to Bob:\n" << last.message.bytes;
  EXPECT_EQ(last.message->call_id, x.bob.dialog().call_id);
  const size_t n = expect_retransmissions(messages, messages.size() - 1, sip::Method::invite);
  EXPECT_EQ(messages[0].message->body, hold);
  EXPECT_GE(n, 4u) << "the re-INVITE was not retransmitted (timer A)";
  EXPECT_LE(n, 7u) << "more copies than timer A sends before timer B";
  x.bob.reply(last.message, 200);
  expect_a_call_works(x);
}

// --------------------------------------------------------------------------------------------------------
// Packet loss on one leg: the retransmission recovers.

TEST(CallFailures, CalleeLosesTheFirstInviteTheRetransmissionCompletesTheCall) {
  Parkd parkd({"--shards", "2", "--sip-t1-ms", t1_flag});
  ASSERT_TRUE(parkd.ready());
  Extensions x(parkd.at());
  ASSERT_TRUE(x.bob.register_device());
  ASSERT_TRUE(x.alice.invite("102"));
  Parsed lost = x.bob.wait_request("INVITE");
  ASSERT_TRUE(lost.ok);
  Parsed invite = x.bob.wait_request("INVITE");  // timer A, T1 later
  ASSERT_TRUE(invite.ok) << "the INVITE was not retransmitted";
  EXPECT_EQ(invite.bytes, lost.bytes);
  x.bob.reply(invite, 180);
  Parsed ringing = x.alice.wait_response("INVITE");
  ASSERT_TRUE(ringing.ok);
  EXPECT_EQ(ringing->status_code, 180);
  x.bob.reply(invite, 200, answer_sdp);
  Parsed ok = x.alice.wait_response("INVITE");
  ASSERT_TRUE(ok.ok);
  ASSERT_EQ(ok->status_code, 200) << ok.bytes;
  EXPECT_EQ(ok->body, answer_sdp);
  ASSERT_TRUE(x.bob.wait_request("ACK").ok);
  x.alice.ack(ok);
  x.bob.send_in_dialog("BYE");
  Parsed bye_ok = x.bob.wait_response("BYE");
  ASSERT_TRUE(bye_ok.ok);
  EXPECT_EQ(bye_ok->status_code, 200);
  Parsed bye = x.alice.wait_request("BYE");
  ASSERT_TRUE(bye.ok);
  x.alice.reply(bye, 200);
}

TEST(CallFailures, CallerLosesThe200ItIsRetransmittedUntilTheLateAck) {
  Parkd parkd({"--shards", "2", "--sip-t1-ms", t1_flag});
  ASSERT_TRUE(parkd.ready());
  Extensions x(parkd.at());
  ASSERT_TRUE(x.bob.register_device());
  ASSERT_TRUE(x.alice.invite("102"));
  Parsed invite = x.bob.wait_request("INVITE");
  ASSERT_TRUE(invite.ok);
  x.bob.reply(invite, 200, answer_sdp);
  Parsed lost = x.alice.wait_response("INVITE");
  ASSERT_TRUE(lost.ok);
  ASSERT_EQ(lost->status_code, 200);
  ASSERT_TRUE(x.bob.wait_request("ACK").ok);
  // Alice "lost" that 200: parkd sends it again (RFC 3261 section 13.3.1.4), twice here before she ACKs.
  Parsed again = x.alice.wait_response("INVITE");
  ASSERT_TRUE(again.ok) << "the 200 was not retransmitted";
  EXPECT_EQ(again.bytes, lost.bytes);
  Parsed third = x.alice.wait_response("INVITE");
  ASSERT_TRUE(third.ok) << "the 200 was retransmitted only once";
  EXPECT_EQ(third.bytes, lost.bytes);
  x.alice.ack(third);
  // The late ACK is taken: the copies stop (their interval is at most T2) and parkd does not hang up (which it
  // would 64*T1 after the 200 without an ACK). Copies already on their way when the ACK left may still come.
  const auto deadline = Clock::now() + 64 * t1 + 1s;
  while (Clock::now() < deadline) {
    Parsed p = next_message(x.alice, 2 * t2 + 200ms);
    if (!p.ok) break;
    ASSERT_TRUE(is_response(p, sip::Method::invite) && p.bytes == lost.bytes) << "unexpected:\n" << p.bytes;
  }
  EXPECT_TRUE(x.alice.silent(64 * t1)) << "parkd still sends to Alice after her ACK (or hangs up: no ACK seen)";
  // The call is up: a re-INVITE is relayed (not 491, which it would be while parkd waits for the ACK).
  x.alice.send_in_dialog("INVITE", test_sdp);
  Parsed reinvite = x.bob.wait_request("INVITE");
  ASSERT_TRUE(reinvite.ok);
  x.bob.reply(reinvite, 200, answer_sdp);
  Parsed answer = x.alice.wait_response("INVITE");
  ASSERT_TRUE(answer.ok);
  EXPECT_EQ(answer->status_code, 200) << answer.bytes;
  x.alice.ack(answer);
  ASSERT_TRUE(x.bob.wait_request("ACK").ok);
}

TEST(CallFailures, CalleeRetransmitsIts200ParkdAcksEveryCopy) {
  Parkd parkd({"--shards", "2", "--sip-t1-ms", t1_flag});
  ASSERT_TRUE(parkd.ready());
  Extensions x(parkd.at());
  ASSERT_TRUE(x.bob.register_device());
  ASSERT_TRUE(x.alice.invite("102"));
  Parsed invite = x.bob.wait_request("INVITE");
  ASSERT_TRUE(invite.ok);
  // Bob sends his 200 and, as if parkd's ACK were lost, sends it again twice: each copy gets an ACK (RFC 3261
  // section 13.2.2.4), and only one call comes of it.
  x.bob.reply(invite, 200, answer_sdp);
  Parsed ack = x.bob.wait_request("ACK");
  ASSERT_TRUE(ack.ok);
  for (int copy = 0; copy < 2; ++copy) {
    x.bob.reply(invite, 200, answer_sdp);
    Parsed again = x.bob.wait_request("ACK");
    ASSERT_TRUE(again.ok) << "copy " << copy << " of the 200 was not ACKed";
    EXPECT_EQ(again->cseq.number, 1u);
    EXPECT_EQ(again->call_id, ack->call_id);
    EXPECT_EQ(again->to.tag, ack->to.tag);
  }
  Parsed ok = x.alice.wait_response("INVITE");
  ASSERT_TRUE(ok.ok);
  ASSERT_EQ(ok->status_code, 200);
  x.alice.ack(ok);
  // Alice's 200 may have been retransmitted before her ACK arrived; nothing else is for her.
  for (Parsed p = next_message(x.alice, 2 * t2 + 200ms); p.ok; p = next_message(x.alice, 2 * t2 + 200ms))
    ASSERT_TRUE(is_response(p, sip::Method::invite) && p->status_code == 200) << p.bytes;
  x.alice.send_in_dialog("BYE");
  Parsed bye_ok = x.alice.wait_response("BYE");
  ASSERT_TRUE(bye_ok.ok);
  EXPECT_EQ(bye_ok->status_code, 200);
  // The first thing Bob gets after the ACKs is Alice's BYE, and only one: no copy of his 200 was taken for a
  // second answer (which parkd would ACK and BYE, RFC 3261 section 13.2.2.4).
  Parsed bye = next_message(x.bob);
  ASSERT_TRUE(is_request(bye, sip::Method::bye)) << bye.bytes;
  EXPECT_EQ(bye->call_id, ack->call_id);
  x.bob.reply(bye, 200);
  // Copies of that BYE sent before Bob's 200 arrived may follow; nothing else may.
  for (Parsed p = next_message(x.bob, 2 * t2); p.ok; p = next_message(x.bob, 2 * t2))
    EXPECT_EQ(p.bytes, bye.bytes) << "a second BYE";
}

// --------------------------------------------------------------------------------------------------------
// UPDATE and INFO across the bridge, and glare.

// `from` sends `method` in the call; `to` gets it relayed in its own dialog, with the body and every header
// that is not a dialog's own, and answers `code` with `answer_body`, which `from` gets back.
void relay(Phone& from, Phone& to, const std::string& method, const std::string& body, const std::string& type,
           uint16_t code, const std::string& answer_body, const std::string& answer_type) {
  SCOPED_TRACE(method + " answered " + std::to_string(code));
  from.send_in_dialog(method, body, "X-Relay-Test: " + method + "\r\n", type);
  Parsed request = to.wait_request(method);
  ASSERT_TRUE(request.ok) << method << " did not cross the bridge";
  EXPECT_EQ(request->call_id, to.dialog().call_id) << "not in the other leg's dialog";
  EXPECT_EQ(request->to.tag, to.dialog().local_tag);
  EXPECT_EQ(request->from.tag, to.dialog().remote_tag);
  EXPECT_EQ(request->body, body);
  EXPECT_EQ(request.header("Content-Type"), type);
  EXPECT_EQ(request.header("X-Relay-Test"), method);
  to.reply(request, code, answer_body, answer_type);
  Parsed answer = from.wait_response(method);
  ASSERT_TRUE(answer.ok) << "no answer to " << method;
  EXPECT_EQ(answer->status_code, code) << answer.bytes;
  EXPECT_EQ(answer->call_id, from.dialog().call_id);
  EXPECT_EQ(answer->body, answer_body);
  if (!answer_body.empty()) {
    EXPECT_EQ(answer.header("Content-Type"), answer_type);
  }
}

TEST(CallFailures, UpdateAndInfoCrossTheBridgeBothWaysWithTheirAnswers) {
  Parkd parkd({"--shards", "2"});
  ASSERT_TRUE(parkd.ready());
  Extensions x(parkd.at());
  ASSERT_TRUE(establish(x).ok);
  const std::string dtmf = "Signal=5\r\nDuration=160\r\n";
  const std::string update_sdp = std::string(test_sdp) + "a=recvonly\r\n";
  // Alice's ACK may still be on its way when Bob's first request arrives (it reaches the tenant's shard by
  // another path): parkd then answers 491 and Bob retries, as RFC 3261 section 14.1 says. So Alice goes first.
  relay(x.alice, x.bob, "INFO", dtmf, "application/dtmf-relay", 200, "", "");
  relay(x.bob, x.alice, "INFO", dtmf, "application/dtmf-relay", 415, "", "");  // a non-2xx comes back too
  relay(x.alice, x.bob, "UPDATE", update_sdp, "application/sdp", 200, answer_sdp, "application/sdp");
  relay(x.bob, x.alice, "UPDATE", update_sdp, "application/sdp", 488, "", "");
  relay(x.bob, x.alice, "INFO", "{\"key\":\"#\"}", "application/json", 200, "{\"ok\":true}", "application/json");
  relay(x.alice, x.bob, "UPDATE", update_sdp, "application/sdp", 500, "", "");
  // And the call still ends normally.
  x.bob.send_in_dialog("BYE");
  Parsed bye_ok = x.bob.wait_response("BYE");
  ASSERT_TRUE(bye_ok.ok);
  EXPECT_EQ(bye_ok->status_code, 200);
  ASSERT_TRUE(x.alice.wait_request("BYE").ok);
}

TEST(CallFailures, ReInvitesFromBothSidesAtOnceOneGets491TheOtherIsRelayed) {
  Parkd parkd({"--shards", "2"});
  ASSERT_TRUE(parkd.ready());
  Extensions x(parkd.at());
  ASSERT_TRUE(establish(x).ok);
  const std::string alice_offer = std::string(test_sdp) + "a=sendonly\r\n";
  const std::string bob_offer = std::string(answer_sdp) + "a=sendonly\r\n";
  // Both send before either reads. Alice's ACK left before her re-INVITE on the same path, so it is not what
  // makes either of them wait.
  x.alice.send_in_dialog("INVITE", alice_offer);
  x.bob.send_in_dialog("INVITE", bob_offer);
  // The loser gets two messages: 491 to its own re-INVITE and the winner's re-INVITE relayed. The winner gets
  // nothing until the loser answers.
  auto up_to_two = [](Phone& phone, Parsed* got) {
    got[0] = next_message(phone, 2s);
    if (got[0].ok) got[1] = next_message(phone, 2s);
  };
  Parsed alice_got[2];
  Parsed bob_got[2];
  up_to_two(x.alice, alice_got);
  up_to_two(x.bob, bob_got);
  auto find = [](Parsed* got, bool request) -> Parsed* {
    for (int i = 0; i < 2; ++i)
      if (got[i].ok && got[i]->is_request == request) return &got[i];
    return nullptr;
  };
  Parsed* alice_answer = find(alice_got, false);
  Parsed* bob_answer = find(bob_got, false);
  Parsed* alice_relayed = find(alice_got, true);
  Parsed* bob_relayed = find(bob_got, true);
  ASSERT_TRUE(alice_answer != nullptr || bob_answer != nullptr) << "nobody got 491";
  const bool alice_lost = alice_answer != nullptr && (*alice_answer)->status_code == 491;
  const bool bob_lost = bob_answer != nullptr && (*bob_answer)->status_code == 491;
  ASSERT_NE(alice_lost, bob_lost) << "exactly one re-INVITE gets 491";
  Phone& winner = alice_lost ? x.bob : x.alice;
  Phone& loser = alice_lost ? x.alice : x.bob;
  Parsed& pending = alice_lost ? *alice_answer : *bob_answer;
  Parsed* relayed = alice_lost ? alice_relayed : bob_relayed;
  EXPECT_EQ(alice_lost ? bob_answer : alice_answer, nullptr) << "the winner is answered only by the other side";
  EXPECT_EQ(alice_lost ? bob_relayed : alice_relayed, nullptr) << "the loser's re-INVITE was relayed anyway";
  loser.ack_failure(pending);
  ASSERT_NE(relayed, nullptr) << "the winner's re-INVITE did not reach the loser";
  EXPECT_EQ((*relayed)->body, alice_lost ? bob_offer : alice_offer);
  loser.reply(*relayed, 200, alice_lost ? alice_offer : bob_offer);
  Parsed answer = winner.wait_response("INVITE");
  ASSERT_TRUE(answer.ok);
  EXPECT_EQ(answer->status_code, 200) << answer.bytes;
  ASSERT_TRUE(loser.wait_request("ACK").ok);
  winner.ack(answer);
  // The loser tries again (RFC 3261 section 14.1) once the winner's ACK is in: an INFO from the winner behind
  // its ACK on the same path shows parkd took the ACK, so the retry is not met by 491 again.
  winner.send_in_dialog("INFO", "Signal=2\r\n", "", "application/dtmf-relay");
  Parsed info = loser.wait_request("INFO");
  ASSERT_TRUE(info.ok) << "the INFO did not cross";
  loser.reply(info, 200);
  Parsed info_ok = winner.wait_response("INFO");
  ASSERT_TRUE(info_ok.ok);
  EXPECT_EQ(info_ok->status_code, 200);
  loser.send_in_dialog("INVITE", test_sdp);
  Parsed retried = winner.wait_request("INVITE");
  ASSERT_TRUE(retried.ok) << "the retried re-INVITE never crossed";
  winner.reply(retried, 200, answer_sdp);
  Parsed last = loser.wait_response("INVITE");
  ASSERT_TRUE(last.ok);
  EXPECT_EQ(last->status_code, 200);
  loser.ack(last);
}

// --------------------------------------------------------------------------------------------------------
// TCP: a leg over TCP has no retransmissions and the same call flow.

class CallsOverTcp : public testing::TestWithParam<std::tuple<Transport, Transport>> {};

TEST_P(CallsOverTcp, CallReInviteAndByeWithoutRetransmissions) {
  const auto [caller_transport, callee_transport] = GetParam();
  Parkd parkd({"--shards", "2", "--sip-t1-ms", t1_flag});
  ASSERT_TRUE(parkd.ready());
  Extensions x(parkd.at(), caller_transport, callee_transport);
  const std::string bob_via = callee_transport == Transport::tcp ? "SIP/2.0/TCP " : "SIP/2.0/UDP ";
  const std::string alice_via = caller_transport == Transport::tcp ? "SIP/2.0/TCP " : "SIP/2.0/UDP ";
  ASSERT_TRUE(x.bob.register_device());
  ASSERT_TRUE(x.alice.invite("102"));
  Parsed invite = x.bob.wait_request("INVITE");
  ASSERT_TRUE(invite.ok) << "Bob was not rung";
  EXPECT_EQ(std::string(invite->vias[0].raw).rfind(bob_via, 0), 0u) << invite->vias[0].raw;
  EXPECT_EQ(invite->body, test_sdp);
  if (callee_transport == Transport::tcp) {
    // No timer A over TCP: over UDP a copy would come after T1 and 3T1.
    EXPECT_TRUE(x.bob.silent(5 * t1)) << "the INVITE was retransmitted over TCP";
  }
  x.bob.reply(invite, 180);
  Parsed ringing = x.alice.wait_response("INVITE");
  ASSERT_TRUE(ringing.ok);
  EXPECT_EQ(ringing->status_code, 180);
  x.bob.reply(invite, 200, answer_sdp);
  Parsed ok = x.alice.wait_response("INVITE");
  ASSERT_TRUE(ok.ok);
  ASSERT_EQ(ok->status_code, 200) << ok.bytes;
  EXPECT_EQ(ok->body, answer_sdp);
  ASSERT_TRUE(x.bob.wait_request("ACK").ok);
  if (caller_transport == Transport::tcp) {
    // No 2xx retransmission over TCP (RFC 3261 section 13.3.1.4 leaves it to the transport).
    EXPECT_TRUE(x.alice.silent(5 * t1)) << "the 200 was retransmitted over TCP";
  }
  x.alice.ack(ok);
  // An INFO from Alice, behind her ACK on the same path (so parkd has taken the ACK when Bob gets the INFO),
  // then a re-INVITE from Bob: each crosses over the other side's transport and its answer comes back.
  x.alice.send_in_dialog("INFO", "Signal=1\r\n", "", "application/dtmf-relay");
  Parsed info = x.bob.wait_request("INFO");
  ASSERT_TRUE(info.ok) << "the INFO did not cross";
  EXPECT_EQ(std::string(info->vias[0].raw).rfind(bob_via, 0), 0u) << info->vias[0].raw;
  x.bob.reply(info, 200);
  Parsed info_ok = x.alice.wait_response("INFO");
  ASSERT_TRUE(info_ok.ok);
  EXPECT_EQ(info_ok->status_code, 200);
  const std::string hold = std::string(answer_sdp) + "a=sendonly\r\n";
  x.bob.send_in_dialog("INVITE", hold);
  Parsed reinvite = x.alice.wait_request("INVITE");
  ASSERT_TRUE(reinvite.ok) << "the re-INVITE did not cross";
  EXPECT_EQ(std::string(reinvite->vias[0].raw).rfind(alice_via, 0), 0u) << reinvite->vias[0].raw;
  EXPECT_EQ(reinvite->body, hold);
  x.alice.reply(reinvite, 200, test_sdp);
  Parsed answer = x.bob.wait_response("INVITE");
  ASSERT_TRUE(answer.ok);
  EXPECT_EQ(answer->status_code, 200);
  EXPECT_EQ(answer->body, test_sdp);
  ASSERT_TRUE(x.alice.wait_request("ACK").ok);
  x.bob.ack(answer);
  x.alice.send_in_dialog("BYE");
  Parsed bye_ok = x.alice.wait_response("BYE");
  ASSERT_TRUE(bye_ok.ok);
  EXPECT_EQ(bye_ok->status_code, 200);
  Parsed bye = x.bob.wait_request("BYE");
  ASSERT_TRUE(bye.ok);
  EXPECT_EQ(std::string(bye->vias[0].raw).rfind(bob_via, 0), 0u);
  x.bob.reply(bye, 200);
}

INSTANTIATE_TEST_SUITE_P(Legs, CallsOverTcp,
                         testing::Values(std::tuple{Transport::tcp, Transport::udp},
                                         std::tuple{Transport::udp, Transport::tcp},
                                         std::tuple{Transport::tcp, Transport::tcp}),
                         [](const testing::TestParamInfo<CallsOverTcp::ParamType>& param) {
                           auto name = [](Transport leg) { return leg == Transport::tcp ? std::string("Tcp") : "Udp"; };
                           return "Caller" + name(std::get<0>(param.param)) + "Callee" + name(std::get<1>(param.param));
                         });

}  // namespace
}  // namespace parkd::test
