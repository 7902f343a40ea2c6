#include "sip/builder.h"

#include <gtest/gtest.h>

#include <sys/mman.h>
#include <unistd.h>
#include "support/guard_page.h"

#include <array>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <string_view>

#include "sip/sdp.h"

namespace parkd::sip {
namespace {

using ::parkd::test::GuardedBuffer;

// The parser is not in this branch yet: requests are MessageViews filled by hand, the way parse_message()
// fills them (views into one text). The lead's round-trip test parses the builder's output later.
struct FakeRequest {
  std::string text;
  std::unique_ptr<MessageView> view = std::make_unique<MessageView>();

  std::string_view find(std::string_view part) const {
    size_t at = text.find(part);
    if (at == std::string::npos) std::abort();
    return std::string_view(text).substr(at, part.size());
  }
  void add_header(HeaderId id, std::string_view name, std::string_view value) {
    MessageView& m = *view;
    m.headers[m.header_count++] = HeaderView{id, find(name), find(value)};
  }
  ViaView& add_via(std::string_view raw, std::string_view host, bool rport) {
    MessageView& m = *view;
    ViaView& via = m.vias[m.via_count++];
    via.raw = find(raw);
    via.host = find(host);
    via.transport = find("UDP");
    via.has_rport = rport;
    return via;
  }
};

constexpr std::string_view invite_text =
    "INVITE sip:bob@acme.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKnashds8;rport\r\n"
    "v: SIP/2.0/UDP proxy.example.com;branch=z9hG4bK77ef4c2312983.1, SIP/2.0/TCP p2.example.com;branch=z9hG4bK2\r\n"
    "Max-Forwards: 70\r\n"
    "To: Bob <sip:bob@acme.example.com>\r\n"
    "From: \"Alice\" <sip:alice@acme.example.com>;tag=1928301774\r\n"
    "Call-ID: a84b4c76e66710@pc33.acme.example.com\r\n"
    "CSeq: 314159 INVITE\r\n"
    "Record-Route: <sip:proxy.example.com;lr>\r\n"
    "Contact: <sip:alice@192.0.2.10>\r\n"
    "Timestamp: 54\r\n"
    "X-Account: 77\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 4\r\n"
    "\r\n"
    "v=0\n";

FakeRequest make_invite() {
  FakeRequest r;
  r.text = invite_text;
  MessageView& m = *r.view;
  m.is_request = true;
  m.method = Method::invite;
  m.method_text = r.find("INVITE");
  m.request_uri = r.find("sip:bob@acme.example.com");
  r.add_header(HeaderId::via, "Via", "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKnashds8;rport");
  r.add_header(
      HeaderId::via, "v",
      "SIP/2.0/UDP proxy.example.com;branch=z9hG4bK77ef4c2312983.1, SIP/2.0/TCP p2.example.com;branch=z9hG4bK2");
  r.add_header(HeaderId::max_forwards, "Max-Forwards", "70");
  r.add_header(HeaderId::to, "To", "Bob <sip:bob@acme.example.com>");
  r.add_header(HeaderId::from, "From", "\"Alice\" <sip:alice@acme.example.com>;tag=1928301774");
  r.add_header(HeaderId::call_id, "Call-ID", "a84b4c76e66710@pc33.acme.example.com");
  r.add_header(HeaderId::cseq, "CSeq", "314159 INVITE");
  r.add_header(HeaderId::record_route, "Record-Route", "<sip:proxy.example.com;lr>");
  r.add_header(HeaderId::contact, "Contact", "<sip:alice@192.0.2.10>");
  r.add_header(HeaderId::timestamp, "Timestamp", "54");
  r.add_header(HeaderId::other, "X-Account", "77");
  r.add_header(HeaderId::content_type, "Content-Type", "application/sdp");
  r.add_header(HeaderId::content_length, "Content-Length", "4");
  ViaView& top = r.add_via("SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKnashds8;rport", "192.0.2.10", true);
  top.port = 5060;
  top.branch = r.find("z9hG4bKnashds8");
  r.add_via("SIP/2.0/UDP proxy.example.com;branch=z9hG4bK77ef4c2312983.1", "proxy.example.com", false);
  r.add_via("SIP/2.0/TCP p2.example.com;branch=z9hG4bK2", "p2.example.com", false);
  m.from.tag = r.find("1928301774");
  m.call_id = r.find("a84b4c76e66710@pc33.acme.example.com");
  m.cseq = CSeqView{314159, Method::invite, m.method_text};
  m.content_type = r.find("application/sdp");
  m.has_content_length = true;
  m.content_length = 4;
  m.body = r.find("v=0\n");
  return r;
}

// The response every test below expects for the INVITE above (200, to tag "8321234356", no source).
constexpr std::string_view ok_response =
    "SIP/2.0 200 OK\r\n"
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKnashds8;rport\r\n"
    "Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bK77ef4c2312983.1, SIP/2.0/TCP p2.example.com;branch=z9hG4bK2\r\n"
    "From: \"Alice\" <sip:alice@acme.example.com>;tag=1928301774\r\n"
    "To: Bob <sip:bob@acme.example.com>;tag=8321234356\r\n"
    "Call-ID: a84b4c76e66710@pc33.acme.example.com\r\n"
    "CSeq: 314159 INVITE\r\n"
    "Record-Route: <sip:proxy.example.com;lr>\r\n"
    "Contact: <sip:bob@203.0.113.5>\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 4\r\n"
    "\r\n"
    "v=0\n";

Result<size_t, BuildError> build_ok(const MessageView& request, std::span<char> buffer) {
  MessageWriter writer(buffer);
  build_response(request, 200, {}, "8321234356", writer);
  writer.header(HeaderId::contact, "<sip:bob@203.0.113.5>");
  writer.body("application/sdp", "v=0\n");
  return writer.finish();
}

std::string response(const MessageView& request, uint16_t code, std::string_view to_tag,
                     const ResponseSource& source = {}) {
  std::array<char, 4096> buffer{};
  MessageWriter writer(buffer);
  build_response(request, code, {}, to_tag, writer, source);
  auto size = writer.finish();
  if (!size) {
    ADD_FAILURE() << build_error_text(size.error());
    return {};
  }
  return std::string(buffer.data(), *size);
}

TEST(HeaderNames, GeneratedFromTheOneList) {
  EXPECT_EQ(header_name(HeaderId::call_id), "Call-ID");
  EXPECT_EQ(header_name(HeaderId::www_authenticate), "WWW-Authenticate");
  EXPECT_EQ(header_name(HeaderId::cseq), "CSeq");
  EXPECT_EQ(header_name(HeaderId::other), "");
  EXPECT_EQ(header_name(HeaderId::count_), "");
  EXPECT_EQ(header_compact_form(HeaderId::call_id), 'i');
  EXPECT_EQ(header_compact_form(HeaderId::via), 'v');
  EXPECT_EQ(header_compact_form(HeaderId::cseq), '\0');
  EXPECT_EQ(method_name(Method::invite), "INVITE");
  EXPECT_EQ(method_name(Method::register_), "REGISTER");
  EXPECT_EQ(method_name(Method::other), "");
  for (int i = 1; i < static_cast<int>(HeaderId::count_); ++i)
    EXPECT_FALSE(header_name(static_cast<HeaderId>(i)).empty()) << i;
}

TEST(BuildResponse, ExactTextOfA200) {
  FakeRequest invite = make_invite();
  std::array<char, 4096> buffer{};
  auto size = build_ok(*invite.view, buffer);
  ASSERT_TRUE(size) << build_error_text(size.error());
  EXPECT_EQ(std::string_view(buffer.data(), *size), ok_response);
}

TEST(BuildResponse, KeepsViaOrderAndValues) {
  FakeRequest invite = make_invite();
  std::string text = response(*invite.view, 486, "x");
  size_t first = text.find("Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKnashds8;rport\r\n");
  size_t second = text.find(
      "Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bK77ef4c2312983.1, SIP/2.0/TCP "
      "p2.example.com;branch=z9hG4bK2\r\n");
  ASSERT_NE(first, std::string::npos) << text;
  ASSERT_NE(second, std::string::npos) << text;
  EXPECT_LT(first, second);
  EXPECT_TRUE(text.starts_with("SIP/2.0 486 Busy Here\r\n"));
  // Not a dialog-creating answer: no Record-Route; a non-100: no Timestamp; no Contact unless asked.
  EXPECT_EQ(text.find("Record-Route"), std::string::npos);
  EXPECT_EQ(text.find("Timestamp"), std::string::npos);
  EXPECT_EQ(text.find("X-Account"), std::string::npos);
  EXPECT_TRUE(text.ends_with("Content-Length: 0\r\n\r\n"));
}

TEST(BuildResponse, AddsTheToTagOnlyWhenMissingAndNotFor100) {
  FakeRequest invite = make_invite();
  EXPECT_NE(response(*invite.view, 180, "abc").find("To: Bob <sip:bob@acme.example.com>;tag=abc\r\n"),
            std::string::npos);
  std::string trying = response(*invite.view, 100, "abc");
  EXPECT_NE(trying.find("To: Bob <sip:bob@acme.example.com>\r\n"), std::string::npos) << trying;
  EXPECT_NE(trying.find("Timestamp: 54\r\n"), std::string::npos) << trying;  // RFC 3261 section 8.2.6.1

  // In-dialog request: its To already has a tag, which stays the only one.
  FakeRequest bye;
  bye.text = "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKnashds8\r\nTo: Bob <sip:bob@acme.example.com>;tag=zz\r\n";
  bye.view->is_request = true;
  bye.view->method = Method::bye;
  bye.add_header(HeaderId::via, "Via", "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKnashds8");
  bye.add_header(HeaderId::to, "To", "Bob <sip:bob@acme.example.com>;tag=zz");
  bye.view->to.tag = bye.find("zz");
  std::string ok = response(*bye.view, 200, "abc");
  EXPECT_NE(ok.find("To: Bob <sip:bob@acme.example.com>;tag=zz\r\n"), std::string::npos) << ok;
  EXPECT_EQ(ok.find("abc"), std::string::npos) << ok;
}

TEST(BuildResponse, ReceivedAndRportInTheTopViaOnly) {
  FakeRequest invite = make_invite();
  std::string text = response(*invite.view, 200, "t", ResponseSource{"198.51.100.7", 34567});
  EXPECT_NE(text.find("Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKnashds8;rport=34567;received=198.51.100.7\r\n"
                      "Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bK77ef4c2312983.1, SIP/2.0/TCP "
                      "p2.example.com;branch=z9hG4bK2\r\n"),
            std::string::npos)
      << text;
}

TEST(BuildResponse, ReceivedWithoutRportOnlyWhenTheHostDiffers) {
  FakeRequest request;
  request.text =
      "Via: SIP/2.0/UDP 10.0.0.1:5060 ;branch=z9hG4bK1;received=1.1.1.1;x=\"a b\", SIP/2.0/UDP p;branch=z9hG4bK2";
  request.view->is_request = true;
  request.view->method = Method::options;
  request.add_header(
      HeaderId::via, "Via",
      "SIP/2.0/UDP 10.0.0.1:5060 ;branch=z9hG4bK1;received=1.1.1.1;x=\"a b\", SIP/2.0/UDP p;branch=z9hG4bK2");
  request.add_via("SIP/2.0/UDP 10.0.0.1:5060 ;branch=z9hG4bK1;received=1.1.1.1;x=\"a b\"", "10.0.0.1", false);
  std::string same = response(*request.view, 200, "t", ResponseSource{"10.0.0.1", 5060});
  EXPECT_NE(same.find("Via: SIP/2.0/UDP 10.0.0.1:5060 ;branch=z9hG4bK1;received=1.1.1.1;x=\"a b\", SIP/2.0/UDP "
                      "p;branch=z9hG4bK2\r\n"),
            std::string::npos)
      << same;
  std::string natted = response(*request.view, 200, "t", ResponseSource{"203.0.113.9", 1024});
  EXPECT_NE(natted.find("Via: SIP/2.0/UDP 10.0.0.1:5060 ;branch=z9hG4bK1;x=\"a b\";received=203.0.113.9, SIP/2.0/UDP "
                        "p;branch=z9hG4bK2\r\n"),
            std::string::npos)
      << natted;
}

TEST(BuildResponse, ContentLengthForEmptyAndNonEmptyBodies) {
  FakeRequest invite = make_invite();
  std::array<char, 4096> buffer{};
  for (std::string_view body : {std::string_view(), std::string_view("x"), std::string_view("v=0\r\n0123456789")}) {
    MessageWriter writer(buffer);
    build_response(*invite.view, 200, "OK", "t", writer);
    if (!body.empty()) writer.body("text/plain", body);
    auto size = writer.finish();
    ASSERT_TRUE(size);
    std::string_view text(buffer.data(), *size);
    std::string expected = "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    expected += body;
    EXPECT_TRUE(text.ends_with(expected)) << text;
    EXPECT_EQ(text.find("Content-Length"), text.rfind("Content-Length"));
  }
}

TEST(BuildResponse, OverflowAtEveryCapacityNeverWritesPastTheEnd) {
  FakeRequest invite = make_invite();
  GuardedBuffer guard;
  for (size_t capacity = 0; capacity <= ok_response.size(); ++capacity) {
    std::span<char> tail = guard.tail(capacity);
    auto size = build_ok(*invite.view, tail);
    if (capacity < ok_response.size()) {
      ASSERT_FALSE(size) << capacity;
      EXPECT_EQ(size.error(), BuildError::overflow);
    } else {
      ASSERT_TRUE(size);
      EXPECT_EQ(std::string_view(tail.data(), *size), ok_response);
    }
  }
  // A canary check too, for the in-place body path (begin_body/end_body).
  for (size_t capacity = 0; capacity < 400; ++capacity) {
    std::array<char, 512> buffer;
    buffer.fill('#');
    MessageWriter writer(buffer.data(), capacity);
    build_response(*invite.view, 200, {}, "t", writer);
    std::span<char> space = writer.begin_body("application/sdp");
    auto sdp = write_hold_sdp({.address = "203.0.113.5", .port = 4000}, space);
    if (sdp) {
      writer.end_body(*sdp);
    } else {
      writer.fail(BuildError::overflow);
    }
    (void)writer.finish();
    for (size_t i = capacity; i < buffer.size(); ++i) ASSERT_EQ(buffer[i], '#') << capacity << " " << i;
  }
}

TEST(MessageWriter, BodyWrittenInPlace) {
  std::array<char, 2048> buffer{};
  MessageWriter writer(buffer);
  writer.start_request(Method::invite, "sip:103@10.0.0.5:5062");
  writer.header(HeaderId::call_id, "x");
  std::span<char> space = writer.begin_body("application/sdp");
  auto sdp = write_hold_sdp({.session_id = 1, .session_version = 2, .address = "203.0.113.5", .port = 4000}, space);
  ASSERT_TRUE(sdp);
  std::string body(space.data(), *sdp);
  writer.end_body(*sdp);
  auto size = writer.finish();
  ASSERT_TRUE(size);
  std::string expected =
      "INVITE sip:103@10.0.0.5:5062 SIP/2.0\r\nCall-ID: x\r\nContent-Type: application/sdp\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  EXPECT_EQ(std::string_view(buffer.data(), *size), expected);
}

TEST(MessageWriter, HeaderFormsAndNumbers) {
  std::array<char, 512> buffer{};
  MessageWriter writer(buffer);
  writer.start_response(423, "");
  writer.header_int(HeaderId::min_expires, 60);
  writer.header_int("X-Big", UINT64_MAX);
  writer.header("X-Folded", "a,\r\n b");
  writer.begin_header(HeaderId::warning);
  writer.append("399 parkd \"");
  writer.append_int(0);
  writer.append("\"");
  writer.end_header();
  auto size = writer.finish();
  ASSERT_TRUE(size);
  EXPECT_EQ(std::string_view(buffer.data(), *size),
            "SIP/2.0 423 Interval Too Brief\r\nMin-Expires: 60\r\nX-Big: 18446744073709551615\r\n"
            "X-Folded: a,\r\n b\r\nWarning: 399 parkd \"0\"\r\nContent-Length: 0\r\n\r\n");
}

TEST(MessageWriter, RefusesValuesThatBreakFraming) {
  std::array<char, 512> buffer{};
  for (std::string_view value : {std::string_view("a\r\nX-Evil: 1"), std::string_view("a\nb"), std::string_view("a\rb"),
                                 std::string_view("a\r\n"), std::string_view("a\r\n\r\n")}) {
    MessageWriter writer(buffer);
    writer.start_response(200);
    writer.header(HeaderId::subject, value);
    auto size = writer.finish();
    ASSERT_FALSE(size);
    EXPECT_EQ(size.error(), BuildError::bad_value);
  }
  auto refused = [&](auto build) {
    MessageWriter writer(buffer);
    build(writer);
    auto size = writer.finish();
    return !size && size.error() == BuildError::bad_value;
  };
  EXPECT_TRUE(refused([](MessageWriter& w) { w.start_response(99); }));
  EXPECT_TRUE(refused([](MessageWriter& w) { w.start_response(700); }));
  EXPECT_TRUE(refused([](MessageWriter& w) { w.start_response(200, "OK\r\nX: y"); }));
  EXPECT_TRUE(refused([](MessageWriter& w) { w.start_request("INV ITE", "sip:a"); }));
  EXPECT_TRUE(refused([](MessageWriter& w) { w.start_request("INVITE", "sip:a b"); }));
  EXPECT_TRUE(refused([](MessageWriter& w) { w.start_request(Method::other, "sip:a"); }));
  EXPECT_TRUE(refused([](MessageWriter& w) {
    w.start_response(200);
    w.header(HeaderId::content_length, "5");
  }));
  EXPECT_TRUE(refused([](MessageWriter& w) {
    w.start_response(200);
    w.header("content-length", "5");
  }));
  EXPECT_TRUE(refused([](MessageWriter& w) {
    w.start_response(200);
    w.header("Bad Name", "5");
  }));
  EXPECT_TRUE(refused([](MessageWriter& w) {
    w.start_response(200);
    w.header(HeaderId::other, "5");
  }));
  EXPECT_TRUE(refused([](MessageWriter& w) {
    w.start_response(200);
    w.body("", "body without a type");
  }));
}

TEST(MessageWriter, CallsOutOfOrderAreBadState) {
  std::array<char, 512> buffer{};
  auto state_error = [&](auto build) {
    MessageWriter writer(buffer);
    build(writer);
    auto size = writer.finish();
    return !size && size.error() == BuildError::bad_state;
  };
  EXPECT_TRUE(state_error([](MessageWriter& w) { w.header(HeaderId::via, "x"); }));
  EXPECT_TRUE(state_error([](MessageWriter&) {}));
  EXPECT_TRUE(state_error([](MessageWriter& w) {
    w.start_response(200);
    w.start_response(200);
  }));
  EXPECT_TRUE(state_error([](MessageWriter& w) {
    w.start_response(200);
    w.body("text/plain", "x");
    w.header(HeaderId::via, "x");
  }));
  EXPECT_TRUE(state_error([](MessageWriter& w) {
    w.start_response(200);
    w.begin_header(HeaderId::via);
  }));
  EXPECT_TRUE(state_error([](MessageWriter& w) {
    w.start_response(200);
    w.end_body(0);
  }));
  EXPECT_TRUE(state_error([](MessageWriter& w) {
    w.start_response(200);
    (void)w.begin_body("text/plain");
  }));
  // finish() twice returns the same size.
  MessageWriter writer(buffer);
  writer.start_response(200);
  auto first = writer.finish();
  auto second = writer.finish();
  ASSERT_TRUE(first);
  ASSERT_TRUE(second);
  EXPECT_EQ(*first, *second);
}

TEST(BuildRequest, NewRequestInADialogHasEveryMandatoryHeader) {
  std::array<std::string_view, 2> routes = {"<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"};
  RequestParams params;
  params.method = "INVITE";
  params.request_uri = "sip:102@192.0.2.20:5062";
  params.via_host = "203.0.113.5";
  params.via_port = 5060;
  params.branch_suffix = "0123456789abcdef";
  params.from = "\"Alice\" <sip:101@acme.example.com>";
  params.from_tag = "f00";
  params.to = "<sip:102@acme.example.com>";
  params.to_tag = "b4r";
  params.call_id = "c4ll@203.0.113.5";
  params.cseq = 2;
  params.route_set = routes;
  params.contact = "<sip:parkd@203.0.113.5:5060>";
  std::array<char, 1024> buffer{};
  MessageWriter writer(buffer);
  build_request(params, writer);
  writer.body("application/sdp", "v=0\r\n");
  auto size = writer.finish();
  ASSERT_TRUE(size) << build_error_text(size.error());
  EXPECT_EQ(std::string_view(buffer.data(), *size),
            "INVITE sip:102@192.0.2.20:5062 SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bK0123456789abcdef;rport\r\n"
            "Max-Forwards: 70\r\n"
            "From: \"Alice\" <sip:101@acme.example.com>;tag=f00\r\n"
            "To: <sip:102@acme.example.com>;tag=b4r\r\n"
            "Call-ID: c4ll@203.0.113.5\r\n"
            "CSeq: 2 INVITE\r\n"
            "Route: <sip:p1.example.com;lr>\r\n"
            "Route: <sip:p2.example.com;lr>\r\n"
            "Contact: <sip:parkd@203.0.113.5:5060>\r\n"
            "Content-Type: application/sdp\r\n"
            "Content-Length: 5\r\n"
            "\r\n"
            "v=0\r\n");
}

TEST(BuildRequest, OutOfDialogNotifyOverIpv6) {
  RequestParams params;
  params.method = method_name(Method::notify);
  params.request_uri = "sip:103@[2001:db8::7]:5062";
  params.via_transport = "TCP";
  params.via_host = "2001:db8::1";
  params.branch_suffix = "1";
  params.via_rport = false;
  params.from = "<sip:103@acme.example.com>";
  params.from_tag = "t";
  params.to = "<sip:103@acme.example.com>";
  params.call_id = "n1";
  params.contact = "<sip:parkd@[2001:db8::1];transport=tcp>";
  std::array<char, 1024> buffer{};
  MessageWriter writer(buffer);
  build_request(params, writer);
  writer.header(HeaderId::event, "park-info");
  auto size = writer.finish();
  ASSERT_TRUE(size);
  std::string_view text(buffer.data(), *size);
  EXPECT_NE(text.find("Via: SIP/2.0/TCP [2001:db8::1];branch=z9hG4bK1\r\n"), std::string_view::npos) << text;
  EXPECT_NE(text.find("To: <sip:103@acme.example.com>\r\n"), std::string_view::npos) << text;
  EXPECT_NE(text.find("CSeq: 1 NOTIFY\r\n"), std::string_view::npos) << text;
  EXPECT_EQ(text.find("Route:"), std::string_view::npos) << text;
}

TEST(BuildRequest, MissingMandatoryPartsAreRefused) {
  std::array<char, 1024> buffer{};
  RequestParams params;
  params.method = "BYE";
  params.request_uri = "sip:a";
  params.via_host = "h";
  params.branch_suffix = "1";
  params.from = "<sip:a>";
  params.from_tag = "t";
  params.to = "<sip:b>";
  params.call_id = "c";
  {
    MessageWriter writer(buffer);
    build_request(params, writer);
    EXPECT_TRUE(writer.finish());
  }
  for (std::string_view RequestParams::*field :
       {&RequestParams::via_host, &RequestParams::branch_suffix, &RequestParams::from_tag, &RequestParams::call_id,
        &RequestParams::method, &RequestParams::request_uri}) {
    RequestParams broken = params;
    broken.*field = {};
    MessageWriter writer(buffer);
    build_request(broken, writer);
    auto size = writer.finish();
    ASSERT_FALSE(size);
    EXPECT_EQ(size.error(), BuildError::bad_value);
  }
}

TEST(CopyHeaders, SkipsDialogHeadersAndCopiesTheRest) {
  FakeRequest invite = make_invite();
  std::array<char, 2048> buffer{};
  MessageWriter writer(buffer);
  writer.start_request("INVITE", "sip:102@192.0.2.20");
  copy_headers(*invite.view, dialog_headers, writer);
  copy_body(*invite.view, writer);
  auto size = writer.finish();
  ASSERT_TRUE(size);
  EXPECT_EQ(std::string_view(buffer.data(), *size),
            "INVITE sip:102@192.0.2.20 SIP/2.0\r\n"
            "Timestamp: 54\r\n"
            "X-Account: 77\r\n"
            "Content-Type: application/sdp\r\n"
            "Content-Length: 4\r\n"
            "\r\n"
            "v=0\n");
}

TEST(CopyHeaders, SkipNamesAndCopyById) {
  FakeRequest invite = make_invite();
  std::array<char, 2048> buffer{};
  MessageWriter writer(buffer);
  writer.start_request("INVITE", "sip:x");
  std::array<std::string_view, 1> skip_names = {"x-account"};
  std::array<HeaderId, 1> skip = {HeaderId::timestamp};
  copy_headers(*invite.view, skip, writer, skip_names);
  std::array<HeaderId, 3> ids = {HeaderId::via, HeaderId::content_length, HeaderId::cseq};
  copy_headers_with_id(*invite.view, ids, writer);
  auto size = writer.finish();
  ASSERT_TRUE(size);
  std::string_view text(buffer.data(), *size);
  EXPECT_EQ(text.find("X-Account"), std::string_view::npos);
  EXPECT_EQ(text.find("Timestamp"), std::string_view::npos);
  // Known headers get their canonical name: the compact "v:" comes out as "Via:".
  EXPECT_NE(text.find("Via: SIP/2.0/UDP proxy.example.com"), std::string_view::npos) << text;
  EXPECT_NE(text.find("Record-Route: <sip:proxy.example.com;lr>\r\n"), std::string_view::npos) << text;
  EXPECT_EQ(text.find("Content-Length: 4"), std::string_view::npos) << text;
  EXPECT_TRUE(text.ends_with("CSeq: 314159 INVITE\r\nContent-Length: 0\r\n\r\n")) << text;
}

TEST(Tokens, UniqueHexAndKeyed) {
  TokenKey key{0x0123456789abcdefULL, 0xfedcba9876543210ULL};
  std::set<std::string> seen;
  std::array<char, token_size> buffer{};
  for (uint64_t counter = 0; counter < 100000; ++counter) {
    std::string_view token = write_token(counter, key, buffer);
    ASSERT_EQ(token.size(), token_size);
    for (char c : token) ASSERT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << token;
    ASSERT_TRUE(seen.emplace(token).second) << counter;
  }
  std::string first(write_token(1, key, buffer));
  EXPECT_EQ(write_token(1, key, buffer), first);  // deterministic for one key
  EXPECT_NE(write_token(1, TokenKey{1, 2}, buffer), first);
  EXPECT_NE(first, "0000000000000001");

  std::array<char, branch_size> branch{};
  std::string_view b = write_branch(7, key, branch);
  EXPECT_EQ(b.size(), 23U);
  EXPECT_TRUE(b.starts_with("z9hG4bK"));
  EXPECT_EQ(b.substr(7), std::string(write_token(7, key, buffer)));

  std::array<char, branch_size - 1> small{};
  EXPECT_TRUE(write_branch(7, key, small).empty());
  EXPECT_TRUE(write_token(7, key, std::span<char>(small).first(token_size - 1)).empty());
  TokenKey a = random_token_key();
  TokenKey b2 = random_token_key();
  EXPECT_TRUE(a.k0 != b2.k0 || a.k1 != b2.k1);
}

TEST(WriteSipUri, AddressOfRecordOrNothingWhenItDoesNotFit) {
  char out[32];
  EXPECT_EQ(write_sip_uri("103", "acme.example.com", out), "sip:103@acme.example.com");
  char tight[24];  // exactly the 24 characters; a span one shorter does not fit
  EXPECT_TRUE(write_sip_uri("103", "acme.example.com", std::span<char>(tight, 23)).empty());
  EXPECT_EQ(write_sip_uri("103", "acme.example.com", tight), "sip:103@acme.example.com");
}

}  // namespace
}  // namespace parkd::sip
