// What the builder writes, the parser reads back to the same values: responses built from parsed requests,
// new in-dialog requests, and bodies written in place (the two halves of sip/ checked against each other).
#include <gtest/gtest.h>

#include <array>
#include <memory>
#include <string>

#include "sip/builder.h"
#include "sip/parser.h"
#include "sip/sdp.h"

namespace parkd::sip {
namespace {

const std::string invite =
    "INVITE sip:102@acme.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKa1;rport\r\n"
    "Via: SIP/2.0/TCP [2001:db8::1]:5060;branch=z9hG4bKa0\r\n"
    "Max-Forwards: 70\r\n"
    "From: \"Alice \\\"A\\\"\" <sip:101@acme.example.com>;tag=f1\r\n"
    "To: <sip:102@acme.example.com>\r\n"
    "Call-ID: c1@192.0.2.10\r\n"
    "CSeq: 7 INVITE\r\n"
    "Record-Route: <sip:proxy.example.com;lr>\r\n"
    "Contact: <sip:101@192.0.2.10:5062>\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 0\r\n\r\n";

TEST(BuilderRoundTrip, ResponseToAParsedRequestParsesBack) {
  auto request = std::make_unique<MessageView>();
  ASSERT_EQ(parse_message(invite, Transport::udp, *request).status, ParseStatus::complete);
  std::array<char, 4096> buffer{};
  MessageWriter writer(buffer.data(), buffer.size());
  build_response(*request, 180, {}, "t9", writer, ResponseSource{"198.51.100.7", 40000});
  writer.header(HeaderId::contact, "<sip:parkd@203.0.113.1>");
  auto size = writer.finish();
  ASSERT_TRUE(size.ok());
  std::string text(buffer.data(), *size);

  auto response = std::make_unique<MessageView>();
  ASSERT_EQ(parse_message(text, Transport::udp, *response).status, ParseStatus::complete) << text;
  EXPECT_FALSE(response->is_request);
  EXPECT_EQ(response->status_code, 180);
  EXPECT_EQ(response->reason_phrase, "Ringing");
  ASSERT_EQ(response->via_count, 2u);
  EXPECT_EQ(response->vias[0].branch, "z9hG4bKa1");
  EXPECT_EQ(response->vias[0].received, "198.51.100.7");
  EXPECT_EQ(response->vias[0].rport, "40000");
  EXPECT_EQ(response->vias[1].host, "2001:db8::1");
  EXPECT_EQ(response->from.tag, "f1");
  EXPECT_EQ(response->from.display_name, request->from.display_name);
  EXPECT_EQ(response->to.tag, "t9");
  EXPECT_EQ(response->call_id, "c1@192.0.2.10");
  EXPECT_EQ(response->cseq.number, 7u);
  EXPECT_EQ(response->cseq.method, Method::invite);
  ASSERT_EQ(response->record_route_count, 1u) << "a 1xx-2xx to INVITE keeps the Record-Route";
  EXPECT_EQ(response->content_length, 0u);
}

TEST(BuilderRoundTrip, NewRequestWithHoldSdpParsesBack) {
  std::array<char, 4096> buffer{};
  MessageWriter writer(buffer.data(), buffer.size());
  const std::string_view routes[] = {"<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"};
  RequestParams params;
  params.method = "INVITE";
  params.request_uri = "sip:102@192.0.2.20:5062";
  params.via_host = "203.0.113.1";
  params.via_port = 5060;
  params.branch_suffix = "0123456789abcdef";
  params.from = "\"Park\" <sip:*68103@acme.example.com>";
  params.from_tag = "ft";
  params.to = "<sip:102@acme.example.com>";
  params.to_tag = "tt";
  params.call_id = "re-invite@parkd";
  params.cseq = 2;
  params.route_set = routes;
  params.contact = "<sip:parkd@203.0.113.1:5060>";
  build_request(params, writer);
  std::span<char> body = writer.begin_body("application/sdp");
  HoldSdpParams hold;
  hold.address = "203.0.113.1";
  hold.port = 40000;
  hold.session_id = 42;
  hold.session_version = 1;
  auto sdp_size = write_hold_sdp(hold, body);
  ASSERT_TRUE(sdp_size.ok());
  writer.end_body(*sdp_size);
  auto size = writer.finish();
  ASSERT_TRUE(size.ok());
  std::string text(buffer.data(), *size);

  auto m = std::make_unique<MessageView>();
  ASSERT_EQ(parse_message(text, Transport::tcp, *m).status, ParseStatus::complete) << text;
  EXPECT_EQ(m->method, Method::invite);
  EXPECT_EQ(m->request_uri, "sip:102@192.0.2.20:5062");
  EXPECT_EQ(m->vias[0].branch, "z9hG4bK0123456789abcdef");
  EXPECT_TRUE(m->vias[0].has_rport);
  EXPECT_EQ(m->max_forwards, 70);
  EXPECT_EQ(m->from.display_name, "Park");
  EXPECT_EQ(m->to.tag, "tt");
  EXPECT_EQ(m->cseq.number, 2u);
  ASSERT_EQ(m->route_count, 2u);
  EXPECT_EQ(m->routes[1].uri, "sip:p2.example.com;lr");
  EXPECT_EQ(m->content_length, m->body.size());
  SdpView sdp;
  ASSERT_EQ(parse_sdp(m->body, sdp), SdpError::none);
  EXPECT_EQ(sdp.audio_connection().address, "203.0.113.1");
}

}  // namespace
}  // namespace parkd::sip
