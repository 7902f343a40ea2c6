#include "sip/transaction.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "sip/parser.h"
#include "support/allocation_counter.h"

namespace parkd::sip {
namespace {

constexpr uint64_t base_ms = 1'000'000;

struct Sent {
  std::string bytes;
  Flow to;
  uint64_t at_ms = 0;  // relative to base_ms
};

class FakeSink final : public TransportSink {
 public:
  explicit FakeSink(const TimerWheel& wheel) : wheel_(wheel) {}
  bool send(std::string_view bytes, const Flow& to) override {
    if (fail) return false;
    sent.push_back(Sent{std::string(bytes), to, wheel_.now_ms() - base_ms});
    return true;
  }
  // Send times of the messages whose first line starts with `start`.
  std::vector<uint64_t> times(std::string_view start) const {
    std::vector<uint64_t> out;
    for (const Sent& s : sent)
      if (std::string_view(s.bytes).starts_with(start)) out.push_back(s.at_ms);
    return out;
  }
  size_t count(std::string_view start) const { return times(start).size(); }
  const Sent* last(std::string_view start) const {
    for (size_t i = sent.size(); i > 0; --i)
      if (std::string_view(sent[i - 1].bytes).starts_with(start)) return &sent[i - 1];
    return nullptr;
  }

  std::vector<Sent> sent;
  bool fail = false;

 private:
  const TimerWheel& wheel_;
};

struct Event {
  enum Kind { request, response, cancel, timeout, transport_error, terminated } kind;
  TransactionId id;
  uint64_t at_ms = 0;
  uint16_t code = 0;              // responses
  Method method = Method::other;  // requests
};

class RecordingUser final : public TransactionUser {
 public:
  explicit RecordingUser(const TimerWheel& wheel) : wheel_(wheel) {}
  void on_request(TransactionId id, const MessageView& request, const Flow& /*from*/) override {
    add(Event::request, id, 0, request.method);
    if (request_hook) request_hook(id, request);
  }
  void on_response(TransactionId id, const MessageView& response, const Flow& /*from*/) override {
    add(Event::response, id, response.status_code, Method::other);
  }
  void on_cancel(TransactionId invite, const MessageView& /*cancel*/) override {
    add(Event::cancel, invite, 0, Method::cancel);
    if (cancel_hook) cancel_hook(invite);
  }
  void on_timeout(TransactionId id) override {
    add(Event::timeout, id, 0, Method::other);
    if (failure_hook) failure_hook(id);
  }
  void on_transport_error(TransactionId id) override {
    add(Event::transport_error, id, 0, Method::other);
    if (failure_hook) failure_hook(id);
  }
  void on_terminated(TransactionId id) override { add(Event::terminated, id, 0, Method::other); }

  size_t count(Event::Kind kind) const {
    size_t n = 0;
    for (const Event& e : events) n += e.kind == kind ? 1 : 0;
    return n;
  }
  const Event* first(Event::Kind kind) const {
    for (const Event& e : events)
      if (e.kind == kind) return &e;
    return nullptr;
  }

  std::vector<Event> events;
  std::function<void(TransactionId, const MessageView&)> request_hook;
  std::function<void(TransactionId)> cancel_hook;
  std::function<void(TransactionId)> failure_hook;  // on_timeout and on_transport_error

 private:
  void add(Event::Kind kind, TransactionId id, uint16_t code, Method method) {
    events.push_back(Event{kind, id, wheel_.now_ms() - base_ms, code, method});
  }
  const TimerWheel& wheel_;
};

Flow udp_flow() {
  Flow f;
  f.transport = Transport::udp;
  EXPECT_TRUE(parse_endpoint("192.0.2.10:5060", f.peer));
  f.socket = 0;
  return f;
}
Flow tcp_flow() {
  Flow f = udp_flow();
  f.transport = Transport::tcp;
  f.socket = 7;
  return f;
}

struct RequestSpec {
  std::string method = "OPTIONS";
  std::string branch = "z9hG4bKclient1";
  uint32_t cseq = 1;
  std::string cseq_method;  // empty: method
  std::string to_tag;
  std::string request_uri = "sip:bob@acme.example.com";
  std::string via_host = "192.0.2.10:5060";
  std::string from_tag = "a1";
  std::string call_id = "c1@192.0.2.10";

  RequestSpec& set_to_tag(std::string v) {
    to_tag = std::move(v);
    return *this;
  }
  RequestSpec& set_via_host(std::string v) {
    via_host = std::move(v);
    return *this;
  }
  RequestSpec& set_call_id(std::string v) {
    call_id = std::move(v);
    return *this;
  }
};

RequestSpec req(std::string method, std::string branch) {
  RequestSpec r;
  r.method = std::move(method);
  r.branch = std::move(branch);
  return r;
}

std::string request_text(const RequestSpec& r) {
  std::string text = r.method + " " + r.request_uri + " SIP/2.0\r\n";
  text += "Via: SIP/2.0/UDP " + r.via_host + (r.branch.empty() ? "" : ";branch=" + r.branch) + "\r\n";
  text += "Max-Forwards: 70\r\n";
  text += "From: <sip:alice@acme.example.com>;tag=" + r.from_tag + "\r\n";
  text += "To: <sip:bob@acme.example.com>" + (r.to_tag.empty() ? "" : ";tag=" + r.to_tag) + "\r\n";
  text += "Call-ID: " + r.call_id + "\r\n";
  text += "CSeq: " + std::to_string(r.cseq) + " " + (r.cseq_method.empty() ? r.method : r.cseq_method) + "\r\n";
  text += "Route: <sip:proxy.example.com;lr>\r\n";
  text += "Content-Length: 0\r\n\r\n";
  return text;
}

std::string response_text(uint16_t code, std::string_view reason, std::string_view branch, std::string_view method,
                          uint32_t cseq = 1, std::string_view to_tag = "b2") {
  std::string text = "SIP/2.0 " + std::to_string(code) + " " + std::string(reason) + "\r\n";
  text += "Via: SIP/2.0/UDP parkd.example.com;branch=" + std::string(branch) + "\r\n";
  text += "From: <sip:alice@acme.example.com>;tag=a1\r\n";
  text += "To: <sip:bob@acme.example.com>;tag=" + std::string(to_tag) + "\r\n";
  text += "Call-ID: c1@192.0.2.10\r\n";
  text += "CSeq: " + std::to_string(cseq) + " " + std::string(method) + "\r\n";
  text += "Content-Length: 0\r\n\r\n";
  return text;
}

// A request parkd sends: built the way the B2BUA builds one.
std::string client_request(std::string_view method, std::string_view branch_suffix, uint32_t cseq = 1) {
  char buffer[2048];
  MessageWriter w(buffer, sizeof buffer);
  RequestParams p;
  p.method = method;
  p.request_uri = "sip:bob@192.0.2.20:5060";
  p.via_host = "parkd.example.com";
  p.branch_suffix = branch_suffix;
  p.from = "<sip:alice@acme.example.com>";
  p.from_tag = "a1";
  p.to = "<sip:bob@acme.example.com>";
  p.call_id = "c1@192.0.2.10";
  p.cseq = cseq;
  std::string_view route = "<sip:edge.example.com;lr>";
  p.route_set = std::span<const std::string_view>(&route, 1);
  p.contact = "<sip:parkd.example.com>";
  build_request(p, w);
  auto size = w.finish();
  EXPECT_TRUE(size.ok());
  return std::string(buffer, size.ok() ? *size : 0);
}

class TransactionTest : public ::testing::Test {
 protected:
  TransactionTest() { make({}); }

  void make(TransactionConfig config) {
    layer.reset();
    if (config.token_key.k0 == 0) config.token_key = TokenKey{1, 2};
    layer = std::make_unique<TransactionLayer>(config, wheel, sink, user);
  }

  Result<Received, TransactionError> feed(std::string text, const Flow& from) {
    inbox = std::move(text);
    ParseResult r = parse_message(inbox, from.transport, *view);
    EXPECT_EQ(r.status, ParseStatus::complete) << inbox;
    return layer->receive(inbox, *view, from);
  }
  Received feed_ok(std::string text, const Flow& from) {
    auto r = feed(std::move(text), from);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : transaction_error_text(r.error()));
    return r.ok() ? *r : Received::stray_response;
  }
  void at(uint64_t relative_ms) { wheel.advance(base_ms + relative_ms); }
  // BYE number `i` of a series (branch z9hG4bK<series><i>, To tag b2), as a phone sends and retransmits it.
  static std::string bye(const std::string& series, int i) {
    return request_text(req("BYE", "z9hG4bK" + series + std::to_string(i)).set_to_tag("b2"));
  }
  // Feeds BYEs 0 to count-1 of `series` over UDP and answers each 200: each leaves a record.
  void answer_byes(const std::string& series, int count) {
    TransactionId id;
    user.request_hook = [&](TransactionId t, const MessageView&) { id = t; };
    for (int i = 0; i < count; ++i) {
      ASSERT_EQ(feed_ok(bye(series, i), udp_flow()), Received::new_transaction) << series << i;
      ASSERT_EQ(layer->respond(id, 200), TransactionError::none) << series << i;
    }
    user.request_hook = nullptr;
  }

  TimerWheel wheel{base_ms};
  FakeSink sink{wheel};
  RecordingUser user{wheel};
  std::unique_ptr<TransactionLayer> layer;
  std::string inbox;
  std::unique_ptr<MessageView> view = std::make_unique<MessageView>();
};

// ---------------------------------------------------------------------------------------------------------
// Client transactions.

TEST_F(TransactionTest, NonInviteClientRetransmitsOnTimerEAndTimesOutOnTimerF) {
  auto id = layer->start_client(client_request("OPTIONS", "n1"), udp_flow());
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(layer->state(*id), TransactionState::trying);
  at(40'000);
  // 500, 1000, 2000, 4000, then T2 (4000) each time: 17.1.2.2.
  EXPECT_EQ(sink.times("OPTIONS"),
            (std::vector<uint64_t>{0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500}));
  ASSERT_EQ(user.count(Event::timeout), 1u);
  EXPECT_EQ(user.first(Event::timeout)->at_ms, 32'000u);
  EXPECT_EQ(user.first(Event::terminated)->at_ms, 32'000u);
  EXPECT_EQ(user.events.back().kind, Event::terminated);
  EXPECT_FALSE(layer->alive(*id));
  EXPECT_EQ(layer->counters().retransmissions_sent.get(), 10u);
  EXPECT_EQ(layer->counters().timeouts.get(), 1u);
  EXPECT_EQ(layer->live(), 0u);
}

TEST_F(TransactionTest, NonInviteClientRetransmitsAtT2AfterAProvisional) {
  auto id = layer->start_client(client_request("OPTIONS", "n1"), udp_flow());
  ASSERT_TRUE(id.ok());
  at(600);
  EXPECT_EQ(feed_ok(response_text(100, "Trying", "z9hG4bKn1", "OPTIONS"), udp_flow()), Received::response);
  EXPECT_EQ(layer->state(*id), TransactionState::proceeding);
  at(40'000);
  // E was due at 1500; from then on it runs at T2 (17.1.2.2: "reset with a value of T2").
  EXPECT_EQ(sink.times("OPTIONS"),
            (std::vector<uint64_t>{0, 500, 1500, 5500, 9500, 13500, 17500, 21500, 25500, 29500}));
  EXPECT_EQ(user.first(Event::timeout)->at_ms, 32'000u);
}

TEST_F(TransactionTest, NonInviteClientCompletesOnFinalAndAbsorbsItsRetransmissions) {
  auto id = layer->start_client(client_request("OPTIONS", "n1"), udp_flow());
  ASSERT_TRUE(id.ok());
  at(700);
  EXPECT_EQ(feed_ok(response_text(200, "OK", "z9hG4bKn1", "OPTIONS"), udp_flow()), Received::response);
  // Ended for the TU (readable until on_terminated), its slot given back; a record absorbs for timer K.
  EXPECT_EQ(layer->state(*id), TransactionState::terminated);
  EXPECT_EQ(layer->last_status(*id), 200);
  at(1000);
  EXPECT_EQ(user.first(Event::terminated)->at_ms, 700u);
  EXPECT_EQ(layer->live(), 0u);
  EXPECT_EQ(feed_ok(response_text(200, "OK", "z9hG4bKn1", "OPTIONS"), udp_flow()), Received::response_absorbed);
  at(5'699);
  EXPECT_EQ(feed_ok(response_text(200, "OK", "z9hG4bKn1", "OPTIONS"), udp_flow()), Received::response_absorbed);
  at(5'700);  // timer K = T4: the record no longer matches
  EXPECT_EQ(feed_ok(response_text(200, "OK", "z9hG4bKn1", "OPTIONS"), udp_flow()), Received::stray_response);
  at(40'000);
  EXPECT_EQ(sink.count("OPTIONS"), 2u);        // the first send and the one at 500 ms
  EXPECT_EQ(user.count(Event::response), 2u);  // the final, and the stray one after K
  EXPECT_EQ(user.count(Event::timeout), 0u);
  EXPECT_EQ(layer->counters().retransmissions_absorbed.get(), 2u);
  EXPECT_EQ(layer->counters().retired.get(), 1u);
}

TEST_F(TransactionTest, NonInviteClientOverTcpNeverRetransmitsButTimesOut) {
  auto id = layer->start_client(client_request("OPTIONS", "n1"), tcp_flow());
  ASSERT_TRUE(id.ok());
  at(40'000);
  EXPECT_EQ(sink.times("OPTIONS"), (std::vector<uint64_t>{0}));
  EXPECT_EQ(sink.sent[0].to.transport, Transport::tcp);
  EXPECT_EQ(user.first(Event::timeout)->at_ms, 32'000u);
}

TEST_F(TransactionTest, NonInviteClientOverTcpEndsAtOnceOnFinal) {
  auto id = layer->start_client(client_request("OPTIONS", "n1"), tcp_flow());
  ASSERT_TRUE(id.ok());
  at(100);
  EXPECT_EQ(feed_ok(response_text(200, "OK", "z9hG4bKn1", "OPTIONS"), tcp_flow()), Received::response);
  EXPECT_TRUE(layer->alive(*id));  // ends from the timer pass, not inside receive()
  at(100);
  EXPECT_FALSE(layer->alive(*id));  // timer K is zero
  EXPECT_EQ(user.first(Event::terminated)->at_ms, 100u);
}

TEST_F(TransactionTest, InviteClientRetransmitsOnTimerAAndTimesOutOnTimerB) {
  auto id = layer->start_client(client_request("INVITE", "i1"), udp_flow());
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(layer->state(*id), TransactionState::calling);
  at(70'000);
  // Intervals 0.5, 1, 2, 4, 8, 16 s; timer B at 64*T1 = 32 s.
  EXPECT_EQ(sink.times("INVITE"), (std::vector<uint64_t>{0, 500, 1500, 3500, 7500, 15500, 31500}));
  EXPECT_EQ(user.first(Event::timeout)->at_ms, 32'000u);
  EXPECT_EQ(layer->counters().retransmissions_sent.get(), 6u);
}

TEST_F(TransactionTest, InviteClientOverTcpNeverRetransmitsButTimesOut) {
  auto id = layer->start_client(client_request("INVITE", "i1"), tcp_flow());
  ASSERT_TRUE(id.ok());
  at(70'000);
  EXPECT_EQ(sink.times("INVITE"), (std::vector<uint64_t>{0}));
  EXPECT_EQ(user.first(Event::timeout)->at_ms, 32'000u);
}

TEST_F(TransactionTest, InviteClientStopsOnProvisionalAndAcknowledgesA486) {
  auto id = layer->start_client(client_request("INVITE", "i1"), udp_flow());
  ASSERT_TRUE(id.ok());
  at(600);
  EXPECT_EQ(feed_ok(response_text(180, "Ringing", "z9hG4bKi1", "INVITE"), udp_flow()), Received::response);
  EXPECT_EQ(layer->state(*id), TransactionState::proceeding);
  at(60'000);  // proceeding: no retransmission, no timer B
  EXPECT_EQ(sink.times("INVITE"), (std::vector<uint64_t>{0, 500}));
  EXPECT_EQ(user.count(Event::timeout), 0u);

  EXPECT_EQ(feed_ok(response_text(486, "Busy Here", "z9hG4bKi1", "INVITE", 1, "busy7"), udp_flow()),
            Received::response);
  EXPECT_EQ(layer->state(*id), TransactionState::terminated);  // for the TU; a record answers for timer D
  const Sent* ack = sink.last("ACK");
  ASSERT_NE(ack, nullptr);
  // 17.1.1.3: same Request-URI, the INVITE's top Via (its branch), the response's To tag, CSeq number + ACK,
  // the INVITE's Route.
  EXPECT_TRUE(ack->bytes.starts_with("ACK sip:bob@192.0.2.20:5060 SIP/2.0\r\n")) << ack->bytes;
  EXPECT_NE(ack->bytes.find("Via: SIP/2.0/UDP parkd.example.com;branch=z9hG4bKi1"), std::string::npos);
  EXPECT_NE(ack->bytes.find("To: <sip:bob@acme.example.com>;tag=busy7\r\n"), std::string::npos);
  EXPECT_NE(ack->bytes.find("CSeq: 1 ACK\r\n"), std::string::npos);
  EXPECT_NE(ack->bytes.find("Route: <sip:edge.example.com;lr>\r\n"), std::string::npos);
  EXPECT_NE(ack->bytes.find("Call-ID: c1@192.0.2.10\r\n"), std::string::npos);
  MessageView parsed;
  EXPECT_EQ(parse_message(ack->bytes, Transport::udp, parsed).status, ParseStatus::complete);

  // The retransmitted 486 is absorbed: the ACK goes again, the TU hears nothing.
  EXPECT_EQ(feed_ok(response_text(486, "Busy Here", "z9hG4bKi1", "INVITE", 1, "busy7"), udp_flow()),
            Received::response_absorbed);
  EXPECT_EQ(sink.count("ACK"), 2u);
  EXPECT_EQ(sink.last("ACK")->bytes, ack->bytes);
  EXPECT_EQ(sink.last("ACK")->to.peer, udp_flow().peer);
  EXPECT_EQ(user.count(Event::response), 2u);  // 180 and 486
  at(60'000 + 31'999);
  EXPECT_EQ(feed_ok(response_text(486, "Busy Here", "z9hG4bKi1", "INVITE", 1, "busy7"), udp_flow()),
            Received::response_absorbed);
  EXPECT_EQ(sink.count("ACK"), 3u);
  at(60'000 + 32'000);  // timer D: the 486 is a stray response now, and nobody ACKs it
  EXPECT_EQ(feed_ok(response_text(486, "Busy Here", "z9hG4bKi1", "INVITE", 1, "busy7"), udp_flow()),
            Received::stray_response);
  EXPECT_EQ(sink.count("ACK"), 3u);
}

TEST_F(TransactionTest, InviteClientOverTcpAcknowledgesAndEndsAtOnce) {
  auto id = layer->start_client(client_request("INVITE", "i1"), tcp_flow());
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(feed_ok(response_text(603, "Decline", "z9hG4bKi1", "INVITE"), tcp_flow()), Received::response);
  EXPECT_EQ(sink.count("ACK"), 1u);
  at(0);
  EXPECT_FALSE(layer->alive(*id));  // timer D is zero over TCP
}

TEST_F(TransactionTest, InviteClientPassesEvery2xxToTheTuUntilTimerM) {
  auto id = layer->start_client(client_request("INVITE", "i1"), udp_flow(), 77);
  ASSERT_TRUE(id.ok());
  at(100);
  EXPECT_EQ(feed_ok(response_text(200, "OK", "z9hG4bKi1", "INVITE"), udp_flow()), Received::response);
  EXPECT_EQ(user.events.back().id, *id);
  EXPECT_EQ(layer->state(*id), TransactionState::terminated);  // a record stands in for it until timer M
  EXPECT_EQ(sink.count("ACK"), 0u);                            // the ACK for a 2xx is the TU's (13.2.2.4)
  at(600);
  EXPECT_EQ(user.first(Event::terminated)->id, *id);
  EXPECT_EQ(feed_ok(response_text(200, "OK", "z9hG4bKi1", "INVITE"), udp_flow()), Received::response);
  EXPECT_EQ(user.count(Event::response), 2u);
  // The record's own id: what the request was and whose it is stay readable.
  const TransactionId record = user.events.back().id;
  EXPECT_TRUE(record.valid());
  EXPECT_NE(record, *id);
  EXPECT_EQ(layer->user_data(record), 77u);
  EXPECT_EQ(layer->method(record), Method::invite);
  EXPECT_TRUE(layer->is_client(record));
  EXPECT_EQ(layer->last_status(record), 200);
  EXPECT_FALSE(layer->alive(record));
  // A provisional or another final for it is absorbed.
  EXPECT_EQ(feed_ok(response_text(180, "Ringing", "z9hG4bKi1", "INVITE"), udp_flow()), Received::response_absorbed);
  EXPECT_EQ(sink.count("INVITE"), 1u);  // no retransmission after the 2xx
  at(100 + 32'000);
  EXPECT_EQ(user.count(Event::timeout), 0u);
  // After the transaction: a stray 2xx still reaches the TU (18.1.2), with no transaction.
  EXPECT_EQ(feed_ok(response_text(200, "OK", "z9hG4bKi1", "INVITE"), udp_flow()), Received::stray_response);
  EXPECT_FALSE(user.events.back().id.valid());
}

TEST_F(TransactionTest, ClientMatchesByBranchAndCSeqMethod) {
  auto invite = layer->start_client(client_request("INVITE", "x1"), udp_flow());
  ASSERT_TRUE(invite.ok());
  // A response with the INVITE's branch but another CSeq method belongs to no transaction.
  EXPECT_EQ(feed_ok(response_text(200, "OK", "z9hG4bKx1", "BYE"), udp_flow()), Received::stray_response);
  EXPECT_EQ(feed_ok(response_text(200, "OK", "z9hG4bKother", "INVITE"), udp_flow()), Received::stray_response);
  EXPECT_EQ(layer->state(*invite), TransactionState::calling);
  auto again = layer->start_client(client_request("INVITE", "x1"), udp_flow());
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error(), TransactionError::duplicate);
  auto no_cookie = layer->start_client(request_text(req("OPTIONS", "abc")), udp_flow());
  ASSERT_FALSE(no_cookie.ok());
  EXPECT_EQ(no_cookie.error(), TransactionError::bad_message);
}

TEST_F(TransactionTest, ClientCancelWaitsForAProvisionalAndHasItsOwnTransaction) {
  auto invite = layer->start_client(client_request("INVITE", "c1"), udp_flow(), 42);
  ASSERT_TRUE(invite.ok());
  auto pending = layer->cancel(*invite);
  ASSERT_TRUE(pending.ok());
  EXPECT_TRUE(pending->pending);
  EXPECT_EQ(sink.count("CANCEL"), 0u);  // 9.1: not before a provisional response
  EXPECT_EQ(feed_ok(response_text(180, "Ringing", "z9hG4bKc1", "INVITE"), udp_flow()), Received::response);
  const Sent* cancel = sink.last("CANCEL");
  ASSERT_NE(cancel, nullptr);
  EXPECT_NE(cancel->bytes.find("branch=z9hG4bKc1"), std::string::npos);
  EXPECT_NE(cancel->bytes.find("CSeq: 1 CANCEL\r\n"), std::string::npos);
  EXPECT_NE(cancel->bytes.find("To: <sip:bob@acme.example.com>\r\n"), std::string::npos);
  // The 200 to the CANCEL reaches the CANCEL's transaction, which carries the INVITE's user data.
  EXPECT_EQ(feed_ok(response_text(200, "OK", "z9hG4bKc1", "CANCEL"), udp_flow()), Received::response);
  TransactionId cancel_id = user.events.back().id;
  EXPECT_NE(cancel_id, *invite);
  EXPECT_EQ(layer->user_data(cancel_id), 42u);
  EXPECT_EQ(layer->method(cancel_id), Method::cancel);
  EXPECT_EQ(layer->state(*invite), TransactionState::proceeding);
  // A second cancel() once proceeding starts a CANCEL at once.
  auto second = layer->cancel(*invite);
  ASSERT_FALSE(second.ok());  // the branch + CANCEL transaction has finished, its record is still there
  EXPECT_EQ(second.error(), TransactionError::duplicate);
  EXPECT_EQ(feed_ok(response_text(487, "Request Terminated", "z9hG4bKc1", "INVITE"), udp_flow()), Received::response);
  auto late = layer->cancel(*invite);
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error(), TransactionError::unknown_transaction);  // ended with its final response
}

// ---------------------------------------------------------------------------------------------------------
// Server transactions.

TEST_F(TransactionTest, InviteServerSendsTryingAndResendsTheLastProvisional) {
  RequestSpec invite = req("INVITE", "z9hG4bKs1");
  TransactionId id;
  user.request_hook = [&](TransactionId t, const MessageView&) { id = t; };
  EXPECT_EQ(feed_ok(request_text(invite), udp_flow()), Received::new_transaction);
  ASSERT_TRUE(id.valid());
  EXPECT_EQ(layer->state(id), TransactionState::proceeding);
  // The TU has not answered: the 100 goes after trying_delay_ms (17.2.1 allows 200 ms).
  EXPECT_EQ(sink.count("SIP/2.0 100 Trying"), 0u);
  at(99);
  EXPECT_EQ(sink.count("SIP/2.0 100 Trying"), 0u);
  at(100);
  ASSERT_EQ(sink.count("SIP/2.0 100 Trying"), 1u);
  EXPECT_EQ(sink.sent[0].to.peer, udp_flow().peer);
  EXPECT_EQ(feed_ok(request_text(invite), udp_flow()), Received::retransmission);
  EXPECT_EQ(sink.count("SIP/2.0 100 Trying"), 2u);
  EXPECT_EQ(layer->respond(id, 180), TransactionError::none);
  const Sent* ringing = sink.last("SIP/2.0 180");
  ASSERT_NE(ringing, nullptr);
  EXPECT_NE(ringing->bytes.find("To: <sip:bob@acme.example.com>;tag="), std::string::npos);
  EXPECT_EQ(feed_ok(request_text(invite), udp_flow()), Received::retransmission);
  EXPECT_EQ(sink.count("SIP/2.0 180"), 2u);
  EXPECT_EQ(sink.last("SIP/2.0 180")->bytes, ringing->bytes);
  EXPECT_EQ(user.count(Event::request), 1u);
  EXPECT_EQ(layer->counters().retransmissions_absorbed.get(), 2u);
}

TEST_F(TransactionTest, AnInviteTheTuAnswersAtOnceGetsNo100) {
  // A 407 challenge (or any answer) from inside on_request: the 100 would only cost a datagram.
  user.request_hook = [&](TransactionId t, const MessageView&) {
    EXPECT_EQ(layer->respond(t, 407), TransactionError::none);
  };
  EXPECT_EQ(feed_ok(request_text(req("INVITE", "z9hG4bKq1")), udp_flow()), Received::new_transaction);
  EXPECT_EQ(sink.count("SIP/2.0 100"), 0u);
  EXPECT_EQ(sink.count("SIP/2.0 407"), 1u);
  EXPECT_EQ(sink.sent.size(), 1u);
  // A provisional answer from the TU replaces it too.
  user.request_hook = [&](TransactionId t, const MessageView&) {
    EXPECT_EQ(layer->respond(t, 180), TransactionError::none);
  };
  EXPECT_EQ(feed_ok(request_text(req("INVITE", "z9hG4bKq2")), udp_flow()), Received::new_transaction);
  EXPECT_EQ(sink.count("SIP/2.0 100"), 0u);
  EXPECT_EQ(sink.count("SIP/2.0 180"), 1u);
  // The TU answers later, but before the 100 was due: none is sent either.
  TransactionId later;
  user.request_hook = [&](TransactionId t, const MessageView&) { later = t; };
  EXPECT_EQ(feed_ok(request_text(req("INVITE", "z9hG4bKq3")), udp_flow()), Received::new_transaction);
  at(50);
  EXPECT_EQ(layer->respond(later, 180), TransactionError::none);
  at(500);
  EXPECT_EQ(sink.count("SIP/2.0 100"), 0u);
  EXPECT_EQ(sink.count("SIP/2.0 180"), 2u);
  // A retransmitted INVITE before the 100 was due gets it at once, and the timer sends no second one.
  EXPECT_EQ(feed_ok(request_text(req("INVITE", "z9hG4bKq4")), udp_flow()), Received::new_transaction);
  EXPECT_EQ(feed_ok(request_text(req("INVITE", "z9hG4bKq4")), udp_flow()), Received::retransmission);
  EXPECT_EQ(sink.count("SIP/2.0 100"), 1u);
  at(1'000);
  EXPECT_EQ(sink.count("SIP/2.0 100"), 1u);
}

TEST_F(TransactionTest, InviteServerRetransmitsANon2xxOnTimerGUntilTheAck) {
  RequestSpec invite = req("INVITE", "z9hG4bKs1");
  TransactionId id;
  user.request_hook = [&](TransactionId t, const MessageView&) { id = t; };
  feed_ok(request_text(invite), udp_flow());
  EXPECT_EQ(layer->respond(id, 486), TransactionError::none);
  EXPECT_EQ(layer->state(id), TransactionState::completed);
  at(8'000);
  // G: T1 doubling up to T2.
  EXPECT_EQ(sink.times("SIP/2.0 486"), (std::vector<uint64_t>{0, 500, 1500, 3500, 7500}));
  // A retransmitted INVITE gets the 486 again too.
  EXPECT_EQ(feed_ok(request_text(invite), udp_flow()), Received::retransmission);
  EXPECT_EQ(sink.count("SIP/2.0 486"), 6u);
  // The ACK (same branch, the To tag of the 486) is absorbed: confirmed, G stops, the TU hears nothing.
  std::string tag = std::string(sink.last("SIP/2.0 486")->bytes);
  size_t at_tag = tag.find(";tag=", tag.find("\r\nTo:"));
  RequestSpec ack = invite;
  ack.method = "ACK";
  ack.to_tag = tag.substr(at_tag + 5, 16);
  EXPECT_EQ(feed_ok(request_text(ack), udp_flow()), Received::ack_absorbed);
  EXPECT_EQ(layer->state(id), TransactionState::terminated);  // confirmed: a record absorbs for timer I
  EXPECT_EQ(feed_ok(request_text(ack), udp_flow()), Received::ack_absorbed);
  at(8'000 + 4'999);
  EXPECT_EQ(sink.count("SIP/2.0 486"), 6u);  // G stopped
  EXPECT_EQ(feed_ok(request_text(ack), udp_flow()), Received::ack_absorbed);
  EXPECT_EQ(feed_ok(request_text(invite), udp_flow()), Received::retransmission);
  EXPECT_EQ(sink.count("SIP/2.0 486"), 6u);  // confirmed: the final is not sent again
  at(8'000 + 5'000);                         // timer I = T4: an ACK is the TU's again
  EXPECT_EQ(feed_ok(request_text(ack), udp_flow()), Received::ack_to_tu);
  EXPECT_EQ(user.count(Event::request), 2u);
  EXPECT_EQ(user.count(Event::timeout), 0u);
}

TEST_F(TransactionTest, InviteServerTimesOutOnTimerHWithoutAck) {
  TransactionId id;
  user.request_hook = [&](TransactionId t, const MessageView&) { id = t; };
  feed_ok(request_text(req("INVITE", "z9hG4bKs1")), udp_flow());
  EXPECT_EQ(layer->respond(id, 480), TransactionError::none);
  at(40'000);
  EXPECT_EQ(sink.times("SIP/2.0 480"),
            (std::vector<uint64_t>{0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500}));
  EXPECT_EQ(user.first(Event::timeout)->at_ms, 32'000u);
  EXPECT_EQ(user.first(Event::timeout)->id, id);
}

TEST_F(TransactionTest, InviteServerOverTcpSendsTheFinalOnceAndEndsOnAck) {
  TransactionId id;
  user.request_hook = [&](TransactionId t, const MessageView&) { id = t; };
  RequestSpec invite = req("INVITE", "z9hG4bKs1");
  feed_ok(request_text(invite), tcp_flow());
  EXPECT_EQ(layer->respond(id, 486, {}, "tcptag"), TransactionError::none);
  at(10'000);
  EXPECT_EQ(sink.count("SIP/2.0 486"), 1u);
  EXPECT_EQ(sink.last("SIP/2.0 486")->to.socket, 7u);
  RequestSpec ack = invite;
  ack.method = "ACK";
  ack.to_tag = "tcptag";
  EXPECT_EQ(feed_ok(request_text(ack), tcp_flow()), Received::ack_absorbed);
  at(10'000);
  EXPECT_FALSE(layer->alive(id));  // timer I is zero
}

TEST_F(TransactionTest, InviteServer2xxIsAcceptedUntilTimerLAndTheAckGoesToTheTu) {
  RequestSpec invite = req("INVITE", "z9hG4bKs1");
  TransactionId id;
  user.request_hook = [&](TransactionId t, const MessageView&) { id = t; };
  feed_ok(request_text(invite), udp_flow());
  EXPECT_EQ(layer->respond(id, 200, {}, "t2", [](MessageWriter& w) { w.header(HeaderId::contact, "<sip:p@x>"); }),
            TransactionError::none);
  EXPECT_EQ(layer->state(id), TransactionState::accepted);
  EXPECT_NE(sink.last("SIP/2.0 200")->bytes.find("Contact: <sip:p@x>\r\n"), std::string::npos);
  // RFC 6026: a retransmitted INVITE is absorbed without an answer; the TU retransmits the 2xx itself.
  EXPECT_EQ(feed_ok(request_text(invite), udp_flow()), Received::retransmission);
  EXPECT_EQ(sink.count("SIP/2.0 200"), 1u);
  EXPECT_EQ(user.count(Event::request), 1u);
  at(500);
  EXPECT_EQ(sink.count("SIP/2.0 200"), 1u);  // no timer G for a 2xx
  EXPECT_EQ(layer->retransmit_response(id), TransactionError::none);
  EXPECT_EQ(sink.count("SIP/2.0 200"), 2u);
  EXPECT_EQ(layer->respond(id, 486), TransactionError::bad_state);
  // The ACK for the 2xx has a branch of its own: a request without transaction for the TU.
  RequestSpec ack = invite;
  ack.method = "ACK";
  ack.branch = "z9hG4bKack1";
  ack.to_tag = "t2";
  EXPECT_EQ(feed_ok(request_text(ack), udp_flow()), Received::ack_to_tu);
  EXPECT_EQ(user.events.back().kind, Event::request);
  EXPECT_EQ(user.events.back().method, Method::ack);
  EXPECT_FALSE(user.events.back().id.valid());
  at(32'000);  // timer L
  EXPECT_FALSE(layer->alive(id));
}

TEST_F(TransactionTest, AnAcknowledged2xxLeavesARecordThatAbsorbsTheInviteUntilTimerL) {
  RequestSpec invite = req("INVITE", "z9hG4bKs1");
  TransactionId id;
  user.request_hook = [&](TransactionId t, const MessageView&) { id = t; };
  feed_ok(request_text(invite), udp_flow());
  at(100);
  EXPECT_EQ(layer->respond(id, 200, {}, "t2"), TransactionError::none);
  at(200);
  layer->acknowledged(id);  // the TU has its ACK
  EXPECT_EQ(layer->state(id), TransactionState::terminated);
  EXPECT_EQ(layer->retransmit_response(id), TransactionError::unknown_transaction);
  at(300);
  EXPECT_EQ(user.first(Event::terminated)->id, id);
  EXPECT_EQ(layer->live(), 0u);
  // A late retransmission of the INVITE is absorbed, not a new call; an ACK reusing its branch is the TU's.
  EXPECT_EQ(feed_ok(request_text(invite), udp_flow()), Received::retransmission);
  RequestSpec ack = invite;
  ack.method = "ACK";
  ack.to_tag = "t2";
  EXPECT_EQ(feed_ok(request_text(ack), udp_flow()), Received::ack_to_tu);
  EXPECT_EQ(sink.count("SIP/2.0 200"), 1u);
  // A CANCEL for it finds it answered: 200, no effect.
  RequestSpec cancel = invite;
  cancel.method = "CANCEL";
  EXPECT_EQ(feed_ok(request_text(cancel), udp_flow()), Received::cancel_accepted);
  EXPECT_EQ(sink.count("SIP/2.0 200"), 2u);
  EXPECT_EQ(user.count(Event::cancel), 0u);
  at(200 + 32'000);  // the rest of timer L: the same INVITE is a new request again
  EXPECT_EQ(feed_ok(request_text(invite), udp_flow()), Received::new_transaction);
}

TEST_F(TransactionTest, AnAcknowledged2xxOverTcpEndsAtOnce) {
  TransactionId id;
  user.request_hook = [&](TransactionId t, const MessageView&) { id = t; };
  feed_ok(request_text(req("INVITE", "z9hG4bKs1")), tcp_flow());
  EXPECT_EQ(layer->respond(id, 200, {}, "t2"), TransactionError::none);
  layer->acknowledged(id);
  at(0);
  EXPECT_FALSE(layer->alive(id));
  EXPECT_EQ(user.count(Event::terminated), 1u);
  EXPECT_EQ(layer->counters().retired.get(), 0u);
}

TEST_F(TransactionTest, NonInviteServerResendsTheFinalAndEndsAfterTimerJ) {
  RequestSpec bye = req("BYE", "z9hG4bKb1").set_to_tag("b2");
  TransactionId id;
  user.request_hook = [&](TransactionId t, const MessageView&) { id = t; };
  EXPECT_EQ(feed_ok(request_text(bye), udp_flow()), Received::new_transaction);
  EXPECT_EQ(layer->state(id), TransactionState::trying);
  EXPECT_EQ(sink.sent.size(), 0u);                                              // no 100 for a non-INVITE
  EXPECT_EQ(feed_ok(request_text(bye), udp_flow()), Received::retransmission);  // trying: nothing to resend
  EXPECT_EQ(sink.sent.size(), 0u);
  at(100);
  EXPECT_EQ(layer->respond(id, 200), TransactionError::none);
  EXPECT_EQ(layer->state(id), TransactionState::terminated);  // completed: a record answers for timer J
  EXPECT_EQ(feed_ok(request_text(bye), udp_flow()), Received::retransmission);
  EXPECT_EQ(sink.count("SIP/2.0 200"), 2u);
  EXPECT_EQ(sink.sent[0].bytes, sink.sent[1].bytes);
  // The request's To tag is kept; no second tag is added.
  EXPECT_NE(sink.sent[0].bytes.find("To: <sip:bob@acme.example.com>;tag=b2\r\n"), std::string::npos);
  // The same branch from another sent-by is another transaction (17.2.3).
  RequestSpec elsewhere = bye;
  elsewhere.via_host = "192.0.2.99";
  EXPECT_EQ(feed_ok(request_text(elsewhere), udp_flow()), Received::new_transaction);
  EXPECT_EQ(layer->respond(id, 481), TransactionError::none);
  at(100 + 31'999);
  EXPECT_EQ(feed_ok(request_text(bye), udp_flow()), Received::retransmission);
  EXPECT_EQ(sink.count("SIP/2.0 200"), 3u);
  at(100 + 32'000);  // timer J = 64*T1
  // After J the same request is a new transaction.
  EXPECT_EQ(feed_ok(request_text(bye), udp_flow()), Received::new_transaction);
}

TEST_F(TransactionTest, FinishedTransactionsGiveBackTheirSlotsAndBuffers) {
  // Four slots and four 4 KiB buffers: ten answered BYEs would need ten of each for timer J if finished
  // transactions kept them. Records keep the key and the response instead.
  TransactionConfig config;
  config.transactions_max = 4;
  config.small_buffers = 4;
  make(config);
  std::vector<TransactionId> ids;
  user.request_hook = [&](TransactionId t, const MessageView&) { ids.push_back(t); };
  for (int i = 0; i < 10; ++i) {
    RequestSpec bye = req("BYE", "z9hG4bKc" + std::to_string(i)).set_to_tag("b2");
    ASSERT_EQ(feed_ok(request_text(bye), udp_flow()), Received::new_transaction) << i;
    ASSERT_EQ(layer->respond(ids.back(), 200), TransactionError::none) << i;
    at(static_cast<uint64_t>(i) + 1);  // the slot goes back at the next timer pass
  }
  EXPECT_EQ(layer->counters().retired.get(), 10u);
  EXPECT_EQ(layer->counters().finished_live.get(), 10u);
  EXPECT_EQ(layer->counters().table_full.get(), 0u);
  EXPECT_EQ(layer->counters().buffers_exhausted.get(), 0u);
  EXPECT_EQ(layer->live(), 0u);
  // Each record still matches its retransmitted request and sends the same final again.
  for (int i : {0, 9}) {
    const size_t before = sink.count("SIP/2.0 200");
    EXPECT_EQ(feed_ok(request_text(req("BYE", "z9hG4bKc" + std::to_string(i)).set_to_tag("b2")), udp_flow()),
              Received::retransmission);
    EXPECT_EQ(sink.count("SIP/2.0 200"), before + 1);
    EXPECT_EQ(sink.sent.back().bytes, sink.sent[static_cast<size_t>(i)].bytes);
  }
}

TEST_F(TransactionTest, AFullRecordRingDropsTheOldestRecordFirst) {
  TransactionConfig config;
  config.finished_max = 4;
  make(config);
  answer_byes("e", 6);
  EXPECT_EQ(layer->counters().finished_evicted.get(), 2u);
  EXPECT_EQ(layer->counters().finished_live.get(), 4u);
  // The two oldest are forgotten: their retransmission is a request again (the TU answers it, e.g. 481).
  TransactionId id;
  user.request_hook = [&](TransactionId t, const MessageView&) { id = t; };
  EXPECT_EQ(feed_ok(bye("e", 0), udp_flow()), Received::new_transaction);
  EXPECT_EQ(layer->respond(id, 481), TransactionError::none);
  EXPECT_EQ(feed_ok(bye("e", 5), udp_flow()), Received::retransmission);
}

TEST_F(TransactionTest, ShortAndLongLivedRecordsHaveRingsOfTheirOwn) {
  // Timer K records (T4) do not queue behind timer J records (64*T1): each kind has its own ring, so a full
  // short ring drops only short-lived records.
  TransactionConfig config;
  config.finished_short_max = 2;
  config.finished_max = 2;
  make(config);
  TransactionId id;
  user.request_hook = [&](TransactionId t, const MessageView&) { id = t; };
  ASSERT_EQ(feed_ok(request_text(req("BYE", "z9hG4bKlong").set_to_tag("b2")), udp_flow()), Received::new_transaction);
  ASSERT_EQ(layer->respond(id, 200), TransactionError::none);
  for (int i = 0; i < 3; ++i) {
    const std::string branch = "s" + std::to_string(i);
    ASSERT_TRUE(layer->start_client(client_request("OPTIONS", branch), udp_flow()).ok());
    ASSERT_EQ(feed_ok(response_text(200, "OK", "z9hG4bK" + branch, "OPTIONS"), udp_flow()), Received::response);
  }
  EXPECT_EQ(layer->counters().finished_evicted.get(), 1u);
  EXPECT_EQ(feed_ok(response_text(200, "OK", "z9hG4bKs0", "OPTIONS"), udp_flow()), Received::stray_response);
  EXPECT_EQ(feed_ok(response_text(200, "OK", "z9hG4bKs2", "OPTIONS"), udp_flow()), Received::response_absorbed);
  EXPECT_EQ(feed_ok(request_text(req("BYE", "z9hG4bKlong").set_to_tag("b2")), udp_flow()), Received::retransmission);
  // The short ones expire after T4 while the long one still answers.
  at(5'000);
  EXPECT_EQ(feed_ok(response_text(200, "OK", "z9hG4bKs2", "OPTIONS"), udp_flow()), Received::stray_response);
  EXPECT_EQ(feed_ok(request_text(req("BYE", "z9hG4bKlong").set_to_tag("b2")), udp_flow()), Received::retransmission);
}

TEST_F(TransactionTest, RecordsWaitingForAKeyBufferMakeRoomOldestFirst) {
  TransactionConfig config;
  config.key_buffers = 2;
  make(config);
  answer_byes("k", 3);
  EXPECT_EQ(layer->counters().finished_evicted.get(), 1u);
  EXPECT_EQ(feed_ok(bye("k", 1), udp_flow()), Received::retransmission);
  EXPECT_EQ(feed_ok(bye("k", 2), udp_flow()), Received::retransmission);
}

TEST_F(TransactionTest, AnRfc2543TransactionKeepsItsSlotWithItsKeysCompacted) {
  // Without the magic cookie the key is the whole request's identity (17.2.3): such a transaction is not
  // made a record; it keeps its slot until timer J, with its keys and response in a key buffer.
  TransactionId id;
  user.request_hook = [&](TransactionId t, const MessageView&) { id = t; };
  const std::string bye = request_text(req("BYE", "old1").set_to_tag("b2"));
  ASSERT_EQ(feed_ok(bye, udp_flow()), Received::new_transaction);
  ASSERT_EQ(layer->respond(id, 200), TransactionError::none);
  EXPECT_EQ(layer->state(id), TransactionState::completed);
  EXPECT_EQ(layer->counters().compacted.get(), 1u);
  EXPECT_EQ(layer->counters().retired.get(), 0u);
  EXPECT_EQ(feed_ok(bye, udp_flow()), Received::retransmission);
  EXPECT_EQ(sink.count("SIP/2.0 200"), 2u);
  at(32'000);
  EXPECT_FALSE(layer->alive(id));
}

TEST_F(TransactionTest, NonInviteServerOverTcpEndsRightAfterTheFinal) {
  TransactionId id;
  user.request_hook = [&](TransactionId t, const MessageView&) {
    layer->respond(t, 200);
    id = t;
  };
  feed_ok(request_text(req("MESSAGE", "z9hG4bKm1")), tcp_flow());
  EXPECT_TRUE(layer->alive(id));  // answered inside on_request; ends from the next timer pass
  at(0);
  EXPECT_FALSE(layer->alive(id));
  EXPECT_EQ(user.events.back().kind, Event::terminated);
}

TEST_F(TransactionTest, NonInviteServerUnansweredTimesOut) {
  feed_ok(request_text(req("MESSAGE", "z9hG4bKm1")), udp_flow());
  at(32'000);
  EXPECT_EQ(user.count(Event::timeout), 1u);
  EXPECT_EQ(layer->live(), 0u);
}

TEST_F(TransactionTest, ServerMatchesBranchSentByAndMethod) {
  feed_ok(request_text(req("MESSAGE", "z9hG4bKm1")), udp_flow());
  // Same branch from another sent-by, or another method: other transactions (17.2.3).
  EXPECT_EQ(feed_ok(request_text(req("MESSAGE", "z9hG4bKm1").set_via_host("192.0.2.11:5060")), udp_flow()),
            Received::new_transaction);
  EXPECT_EQ(feed_ok(request_text(req("INFO", "z9hG4bKm1")), udp_flow()), Received::new_transaction);
  // sent-by hosts compare case-insensitively.
  EXPECT_EQ(feed_ok(request_text(req("MESSAGE", "z9hG4bKm2").set_via_host("Host.Example.com")), udp_flow()),
            Received::new_transaction);
  EXPECT_EQ(feed_ok(request_text(req("MESSAGE", "z9hG4bKm2").set_via_host("host.example.COM")), udp_flow()),
            Received::retransmission);
  EXPECT_EQ(layer->live(), 4u);
}

TEST_F(TransactionTest, Rfc2543RequestsMatchOnTheirIdentifiers) {
  RequestSpec invite = req("INVITE", "").set_call_id("old@192.0.2.10");
  TransactionId id;
  user.request_hook = [&](TransactionId t, const MessageView&) {
    if (!id.valid()) id = t;
  };
  EXPECT_EQ(feed_ok(request_text(invite), udp_flow()), Received::new_transaction);
  EXPECT_EQ(feed_ok(request_text(invite), udp_flow()), Received::retransmission);
  RequestSpec other_cseq = invite;
  other_cseq.cseq = 2;
  EXPECT_EQ(feed_ok(request_text(other_cseq), udp_flow()), Received::new_transaction);
  RequestSpec other_from = invite;
  other_from.from_tag = "zz";
  EXPECT_EQ(feed_ok(request_text(other_from), udp_flow()), Received::new_transaction);
  RequestSpec other_uri = invite;
  other_uri.request_uri = "sip:carol@acme.example.com";
  EXPECT_EQ(feed_ok(request_text(other_uri), udp_flow()), Received::new_transaction);
  RequestSpec cookie_less = invite;  // a branch without the magic cookie is RFC 2543 too
  cookie_less.branch = "1234";
  cookie_less.call_id = "old2@192.0.2.10";
  EXPECT_EQ(feed_ok(request_text(cookie_less), udp_flow()), Received::new_transaction);
  EXPECT_EQ(feed_ok(request_text(cookie_less), udp_flow()), Received::retransmission);

  // The ACK matches with the To tag of the final response.
  user.request_hook = nullptr;
  ASSERT_EQ(layer->respond(id, 486, {}, "final9"), TransactionError::none);
  RequestSpec ack = invite;
  ack.method = "ACK";
  ack.to_tag = "wrong";
  EXPECT_EQ(feed_ok(request_text(ack), udp_flow()), Received::ack_to_tu);
  ack.to_tag = "final9";
  EXPECT_EQ(feed_ok(request_text(ack), udp_flow()), Received::ack_absorbed);
  EXPECT_EQ(layer->state(id), TransactionState::confirmed);
}

TEST_F(TransactionTest, CancelGets200AndTheTuIsTold) {
  RequestSpec invite = req("INVITE", "z9hG4bKs1");
  TransactionId id;
  user.request_hook = [&](TransactionId t, const MessageView&) {
    id = t;
    layer->respond(t, 180);
  };
  user.cancel_hook = [&](TransactionId invite_id) {
    EXPECT_EQ(layer->respond(invite_id, 487), TransactionError::none);
  };
  feed_ok(request_text(invite), udp_flow());
  RequestSpec cancel = invite;
  cancel.method = "CANCEL";
  EXPECT_EQ(feed_ok(request_text(cancel), udp_flow()), Received::cancel_accepted);
  ASSERT_EQ(user.count(Event::cancel), 1u);
  EXPECT_EQ(user.first(Event::cancel)->id, id);
  const Sent* ok = sink.last("SIP/2.0 200");
  ASSERT_NE(ok, nullptr);
  EXPECT_NE(ok->bytes.find("CSeq: 1 CANCEL\r\n"), std::string::npos);
  EXPECT_EQ(sink.count("SIP/2.0 487"), 1u);
  EXPECT_NE(sink.last("SIP/2.0 487")->bytes.find("CSeq: 1 INVITE\r\n"), std::string::npos);
  // The 487 carries the same To tag as the 180 (one dialog).
  auto to_of = [](const std::string& text) { return text.substr(text.find("\r\nTo:"), 60); };
  EXPECT_EQ(to_of(sink.last("SIP/2.0 487")->bytes), to_of(sink.last("SIP/2.0 180")->bytes));
  // A retransmitted CANCEL hits the CANCEL's transaction: the 200 again, the TU not told twice.
  EXPECT_EQ(feed_ok(request_text(cancel), udp_flow()), Received::retransmission);
  EXPECT_EQ(sink.count("SIP/2.0 200"), 2u);
  EXPECT_EQ(user.count(Event::cancel), 1u);
  EXPECT_EQ(layer->counters().cancels_matched.get(), 1u);
}

TEST_F(TransactionTest, CancelAfterTheFinalResponseGets200Only) {
  RequestSpec invite = req("INVITE", "z9hG4bKs1");
  user.request_hook = [&](TransactionId t, const MessageView&) { layer->respond(t, 486); };
  feed_ok(request_text(invite), udp_flow());
  RequestSpec cancel = invite;
  cancel.method = "CANCEL";
  EXPECT_EQ(feed_ok(request_text(cancel), udp_flow()), Received::cancel_accepted);
  EXPECT_EQ(user.count(Event::cancel), 0u);
  EXPECT_EQ(sink.count("SIP/2.0 200"), 1u);
}

TEST_F(TransactionTest, CancelWithoutTransactionGets481) {
  EXPECT_EQ(feed_ok(request_text(req("CANCEL", "z9hG4bKnone")), udp_flow()), Received::cancel_unmatched);
  const Sent* answer = sink.last("SIP/2.0 481");
  ASSERT_NE(answer, nullptr);
  EXPECT_NE(answer->bytes.find("CSeq: 1 CANCEL\r\n"), std::string::npos);
  EXPECT_EQ(user.events.size(), 0u);
  EXPECT_EQ(layer->live(), 0u);
  EXPECT_EQ(layer->counters().cancels_unmatched.get(), 1u);
}

TEST_F(TransactionTest, FullTableIsAnErrorValue) {
  TransactionConfig config;
  config.transactions_max = 4;
  make(config);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(feed_ok(request_text(req("MESSAGE", "z9hG4bKf" + std::to_string(i))), udp_flow()),
              Received::new_transaction);
  }
  auto refused = feed(request_text(req("MESSAGE", "z9hG4bKf9")), udp_flow());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error(), TransactionError::table_full);
  EXPECT_EQ(layer->respond_stateless(*view, udp_flow(), 503), TransactionError::none);
  EXPECT_EQ(sink.count("SIP/2.0 503"), 1u);
  auto client = layer->start_client(client_request("OPTIONS", "f"), udp_flow());
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.error(), TransactionError::table_full);
  // Retransmissions of existing transactions and ACKs still work at the limit.
  EXPECT_EQ(feed_ok(request_text(req("MESSAGE", "z9hG4bKf0")), udp_flow()), Received::retransmission);
  EXPECT_EQ(layer->counters().table_full.get(), 2u);
  at(32'000);  // the unanswered ones time out and free their slots
  EXPECT_EQ(layer->live(), 0u);
  EXPECT_TRUE(layer->start_client(client_request("OPTIONS", "f"), udp_flow()).ok());
}

TEST_F(TransactionTest, BufferPoolExhaustionIsAnErrorValue) {
  TransactionConfig config;
  config.transactions_max = 8;
  config.small_buffers = 2;
  config.large_buffers = 1;
  make(config);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(feed_ok(request_text(req("MESSAGE", "z9hG4bKp" + std::to_string(i))), udp_flow()),
              Received::new_transaction);
  }
  auto refused = feed(request_text(req("MESSAGE", "z9hG4bKp9")), udp_flow());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error(), TransactionError::no_buffer);
  EXPECT_EQ(layer->live(), 3u);
}

TEST_F(TransactionTest, TransportErrorsEndReliableTransactions) {
  auto id = layer->start_client(client_request("INVITE", "e1"), tcp_flow());
  ASSERT_TRUE(id.ok());
  sink.fail = true;
  feed_ok(response_text(486, "Busy Here", "z9hG4bKe1", "INVITE"), tcp_flow());  // the ACK cannot go
  EXPECT_EQ(user.count(Event::transport_error), 1u);
  EXPECT_FALSE(layer->alive(*id));
  at(0);
  EXPECT_EQ(user.events.back().kind, Event::terminated);
  EXPECT_EQ(layer->live(), 0u);
  auto refused = layer->start_client(client_request("OPTIONS", "e2"), tcp_flow());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error(), TransactionError::transport_error);
  // UDP: a failed send is a lost datagram; the timers go on.
  auto udp = layer->start_client(client_request("OPTIONS", "e3"), udp_flow());
  ASSERT_TRUE(udp.ok());
  sink.fail = false;
  at(500);
  EXPECT_EQ(sink.count("OPTIONS"), 1u);
}

// The TU finds out which of its requests failed from the id's user data and method: both must still read
// inside on_timeout and on_transport_error, although the transaction no longer runs.
TEST_F(TransactionTest, FailureCallbacksCanStillReadWhatTheTransactionWas) {
  std::vector<std::pair<uint64_t, Method>> seen;
  user.failure_hook = [&](TransactionId id) {
    EXPECT_FALSE(layer->alive(id));
    seen.emplace_back(layer->user_data(id), layer->method(id));
  };
  auto invite = layer->start_client(client_request("INVITE", "f1"), udp_flow(), 41);  // timer B
  auto bye = layer->start_client(client_request("BYE", "f2"), udp_flow(), 42);        // timer F
  auto tcp = layer->start_client(client_request("INVITE", "f3"), tcp_flow(), 43);     // transport error
  ASSERT_TRUE(invite.ok() && bye.ok() && tcp.ok());
  sink.fail = true;
  feed_ok(response_text(486, "Busy Here", "z9hG4bKf3", "INVITE"), tcp_flow());  // its ACK cannot go
  sink.fail = false;
  at(40'000);
  EXPECT_EQ(seen,
            (std::vector<std::pair<uint64_t, Method>>{{43, Method::invite}, {41, Method::invite}, {42, Method::bye}}));
  // After on_terminated the id is stale.
  EXPECT_EQ(layer->user_data(*invite), 0u);
  EXPECT_EQ(layer->method(*bye), Method::other);
}

TEST_F(TransactionTest, StaleIdsAreRefused) {
  TransactionId id;
  user.request_hook = [&](TransactionId t, const MessageView&) { id = t; };
  feed_ok(request_text(req("MESSAGE", "z9hG4bKs")), tcp_flow());
  EXPECT_EQ(layer->respond(id, 200), TransactionError::none);
  at(0);
  EXPECT_EQ(layer->respond(id, 200), TransactionError::unknown_transaction);
  EXPECT_EQ(layer->retransmit_response(id), TransactionError::unknown_transaction);
  EXPECT_EQ(layer->respond(TransactionId{}, 200), TransactionError::unknown_transaction);
  // The slot is reused with a new generation.
  TransactionId old = id;
  feed_ok(request_text(req("MESSAGE", "z9hG4bKt")), tcp_flow());
  EXPECT_EQ(id.index, old.index);
  EXPECT_NE(id.generation, old.generation);
}

TEST_F(TransactionTest, TableKeepsFindingEntriesThroughManyRemovals) {
  // A small table (64 transactions, 128 slots) filled and emptied at random: backward-shift deletion must
  // keep every live entry reachable and never leave a stale one behind.
  TransactionConfig config;
  config.transactions_max = 64;
  make(config);
  std::mt19937 random(7);
  std::vector<std::pair<std::string, TransactionId>> live;
  TransactionId last;
  user.request_hook = [&](TransactionId t, const MessageView&) { last = t; };
  uint32_t next = 0;
  for (int round = 0; round < 200; ++round) {
    while (live.size() < 64) {
      std::string branch = "z9hG4bKr" + std::to_string(next++);
      ASSERT_EQ(feed_ok(request_text(req("MESSAGE", branch)), tcp_flow()), Received::new_transaction);
      live.emplace_back(branch, last);
    }
    std::shuffle(live.begin(), live.end(), random);
    const size_t keep = random() % 64;
    for (size_t i = keep; i < live.size(); ++i) ASSERT_EQ(layer->respond(live[i].second, 200), TransactionError::none);
    at(0);  // timer J is zero over TCP: the answered ones end
    for (size_t i = keep; i < live.size(); ++i) EXPECT_FALSE(layer->alive(live[i].second));
    live.resize(keep);
    ASSERT_EQ(layer->live(), keep);
    for (const auto& [branch, id] : live) {
      ASSERT_EQ(feed_ok(request_text(req("MESSAGE", branch)), tcp_flow()), Received::retransmission) << branch;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Steady state: no allocation per message.

// Answers every request 200 at once, and counts.
class AnsweringUser final : public TransactionUser {
 public:
  void on_request(TransactionId id, const MessageView& /*request*/, const Flow& /*from*/) override {
    if (id.valid() && layer->respond(id, 200) == TransactionError::none) ++answered;
  }
  void on_response(TransactionId id, const MessageView& /*response*/, const Flow& /*from*/) override {
    if (id.valid()) ++responses;
  }
  void on_cancel(TransactionId /*invite*/, const MessageView& /*cancel*/) override {}
  void on_timeout(TransactionId /*id*/) override { ++timeouts; }
  void on_transport_error(TransactionId /*id*/) override {}
  void on_terminated(TransactionId /*id*/) override { ++terminated; }

  TransactionLayer* layer = nullptr;
  uint64_t answered = 0;
  uint64_t responses = 0;
  uint64_t timeouts = 0;
  uint64_t terminated = 0;
};

class CountingSink final : public TransportSink {
 public:
  bool send(std::string_view bytes, const Flow& /*to*/) override {
    ++sent;
    size += bytes.size();
    return true;
  }
  uint64_t sent = 0;
  uint64_t size = 0;
};

// Overwrites the 8 hex digits after `marker` in `text` with `n`: a new branch without allocating.
void set_counter(std::string& text, std::string_view marker, uint32_t n) {
  size_t at = text.find(marker) + marker.size();
  for (int i = 7; i >= 0; --i) {
    text[at + static_cast<size_t>(i)] = "0123456789abcdef"[n & 15];
    n >>= 4;
  }
}

TEST(TransactionSteadyState, HundredThousandTransactionsWithoutAllocation) {
  TimerWheel wheel(base_ms);
  CountingSink sink;
  AnsweringUser user;
  TransactionConfig config;
  config.transactions_max = 4096;
  config.token_key = TokenKey{3, 4};
  TransactionLayer layer(config, wheel, sink, user);
  user.layer = &layer;

  std::string server_request = request_text(req("MESSAGE", "z9hG4bKsrv00000000"));
  std::string client_text = client_request("MESSAGE", "cli00000000");
  std::string client_answer = response_text(200, "OK", "z9hG4bKcli00000000", "MESSAGE");
  auto view = std::make_unique<MessageView>();
  const Flow flow = udp_flow();
  constexpr uint32_t total = 100'000;
  constexpr uint32_t warm_up = 5'000;
  uint64_t now = base_ms;
  uint64_t allocations_before = 0;
  uint32_t failures = 0;
  for (uint32_t i = 0; i < total; ++i) {
    if (i == warm_up) allocations_before = test::allocation_count();
    // A server transaction: the request, answered 200 by the TU inside on_request.
    set_counter(server_request, "z9hG4bKsrv", i);
    if (parse_message(server_request, Transport::udp, *view).status != ParseStatus::complete) ++failures;
    auto received = layer.receive(server_request, *view, flow);
    if (!received.ok() || *received != Received::new_transaction) ++failures;
    // A client transaction: the request and its 200.
    set_counter(client_text, "z9hG4bKcli", i);
    if (!layer.start_client(client_text, flow).ok()) ++failures;
    set_counter(client_answer, "z9hG4bKcli", i);
    if (parse_message(client_answer, Transport::udp, *view).status != ParseStatus::complete) ++failures;
    auto answered = layer.receive(client_answer, *view, flow);
    if (!answered.ok() || *answered != Received::response) ++failures;
    // Every 1000 iterations, time moves past timers J and K: the completed transactions end.
    if (i % 1000 == 999) {
      now += 33'000;
      wheel.advance(now);
    }
  }
  now += 33'000;
  wheel.advance(now);
  const uint64_t allocations = test::allocation_count() - allocations_before;
  EXPECT_EQ(failures, 0u);
  EXPECT_EQ(allocations, 0u);
  EXPECT_EQ(user.answered, total);
  EXPECT_EQ(user.responses, total);
  EXPECT_EQ(user.timeouts, 0u);
  EXPECT_EQ(user.terminated, 2u * total);
  EXPECT_EQ(layer.live(), 0u);
  EXPECT_EQ(layer.counters().transactions_created.get(), 2u * total);
  EXPECT_EQ(wheel.size(), 0u);
}

}  // namespace
}  // namespace parkd::sip
