// Unit tests of the SIP parser, one group per grammar rule (RFC 3261 section 25). The RFC 4475 torture
// messages are in rfc4475_test.cc; over-reads are checked in parser_guard_test.cc.
#include "sip/parser.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace parkd::sip {
namespace {

// A minimal valid request with the given extra headers and body.
std::string request(const std::string& extra = "", const std::string& body = "",
                    const std::string& start = "INVITE sip:bob@biloxi.example.com SIP/2.0") {
  return start +
         "\r\n"
         "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n"
         "Max-Forwards: 70\r\n"
         "To: Bob <sip:bob@biloxi.example.com>\r\n"
         "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
         "Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
         "CSeq: 314159 INVITE\r\n" +
         extra + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

struct Parsed {
  ParseResult result;
  std::unique_ptr<MessageView> view = std::make_unique<MessageView>();
  std::string input;  // the views point into this
};

std::unique_ptr<Parsed> parse(std::string text, Transport transport = Transport::udp) {
  auto p = std::make_unique<Parsed>();
  p->input = std::move(text);
  p->result = parse_message(p->input, transport, *p->view);
  return p;
}

void expect_error(const std::string& text, ParseError error, Transport transport = Transport::udp) {
  auto p = parse(text, transport);
  EXPECT_EQ(p->result.status, ParseStatus::error) << text;
  EXPECT_EQ(p->result.error, error) << "got '" << reason_phrase(p->result.error) << "' for:\n" << text;
}

TEST(ParserStartLine, Request) {
  auto p = parse(request());
  ASSERT_EQ(p->result.status, ParseStatus::complete) << reason_phrase(p->result.error);
  const auto& m = *p->view;
  EXPECT_TRUE(m.is_request);
  EXPECT_EQ(m.method, Method::invite);
  EXPECT_EQ(m.method_text, "INVITE");
  EXPECT_EQ(m.request_uri, "sip:bob@biloxi.example.com");
  EXPECT_EQ(p->result.consumed, p->input.size());
}

TEST(ParserStartLine, ExtensionMethodIsAnyToken) {
  std::string text = request();
  text.replace(0, text.find("\r\n"), "FOO.bar-1 sip:x@y SIP/2.0");
  text.replace(text.find("314159 INVITE"), 13, "314159 FOO.bar-1");  // CSeq must name the same method
  auto p = parse(text);
  ASSERT_EQ(p->result.status, ParseStatus::complete) << reason_phrase(p->result.error);
  EXPECT_EQ(p->view->method, Method::other);
  EXPECT_EQ(p->view->method_text, "FOO.bar-1");
}

TEST(ParserStartLine, Response) {
  std::string text = request();
  text.replace(0, text.find("\r\n"), "SIP/2.0 180 Ringing Now");
  auto p = parse(text);
  ASSERT_EQ(p->result.status, ParseStatus::complete) << reason_phrase(p->result.error);
  EXPECT_FALSE(p->view->is_request);
  EXPECT_EQ(p->view->status_code, 180);
  EXPECT_EQ(p->view->reason_phrase, "Ringing Now");
}

TEST(ParserStartLine, Errors) {
  auto with_start = [](const std::string& start) {
    std::string text = request();
    text.replace(0, text.find("\r\n"), start);
    return text;
  };
  expect_error(with_start("INVITE sip:bob@biloxi.example.com SIP/3.0"), ParseError::bad_sip_version);
  expect_error(with_start("INVITE sip:bob@biloxi.example.com HTTP/1.1"), ParseError::bad_request_uri);
  expect_error(with_start("INVITE  sip:bob@biloxi.example.com SIP/2.0"), ParseError::bad_request_uri);
  expect_error(with_start("INVITE sip:bob@biloxi.example.com"), ParseError::bad_start_line);
  expect_error(with_start("INV(TE sip:bob@biloxi.example.com SIP/2.0"), ParseError::bad_method);
  expect_error(with_start("SIP/2.0 20 OK"), ParseError::bad_status_code);
  expect_error(with_start("SIP/2.0 099 Weird"), ParseError::bad_status_code);
  expect_error(with_start("SIP/2.0 2000 OK"), ParseError::bad_status_code);
  expect_error(with_start("SIP/1.0 200 OK"), ParseError::bad_sip_version);
}

TEST(ParserStartLine, LeadingCrlfIgnored) {
  auto p = parse("\r\n\r\n" + request());
  EXPECT_EQ(p->result.status, ParseStatus::complete) << reason_phrase(p->result.error);
}

TEST(ParserHeaders, CompactFormsAndCaseInsensitiveNames) {
  std::string text =
      "REGISTER sip:example.com SIP/2.0\r\n"
      "v: SIP/2.0/TCP client.example.com:5070;branch=z9hG4bKnashds7\r\n"
      "MAX-FORWARDS: 70\r\n"
      "t: <sip:alice@example.com>\r\n"
      "f: <sip:alice@example.com>;tag=456248\r\n"
      "i: 843817637684230@998sdasdh09\r\n"
      "cseq: 1826 REGISTER\r\n"
      "m: <sip:alice@192.0.2.4>\r\n"
      "k: path, gruu\r\n"
      "o: park-info\r\n"
      "u: park-info, refer\r\n"
      "l: 0\r\n\r\n";
  auto p = parse(text, Transport::tcp);
  ASSERT_EQ(p->result.status, ParseStatus::complete) << reason_phrase(p->result.error);
  const auto& m = *p->view;
  EXPECT_EQ(m.via_count, 1u);
  EXPECT_EQ(m.vias[0].transport, "TCP");
  EXPECT_EQ(m.vias[0].port, 5070);
  EXPECT_EQ(m.max_forwards, 70);
  EXPECT_EQ(m.call_id, "843817637684230@998sdasdh09");
  EXPECT_EQ(m.cseq.number, 1826u);
  EXPECT_EQ(m.cseq.method, Method::register_);
  EXPECT_EQ(m.contact_count, 1u);
  EXPECT_EQ(m.event, "park-info");
  EXPECT_TRUE(m.has_option_tag(HeaderId::supported, "GRUU"));
  EXPECT_FALSE(m.has_option_tag(HeaderId::supported, "100rel"));
  EXPECT_EQ(m.find(HeaderId::allow_events)->value, "park-info, refer");
  EXPECT_EQ(m.find(HeaderId::supported)->name, "k");
  EXPECT_TRUE(m.has_content_length);
}

TEST(ParserHeaders, UnknownHeadersKeptVerbatimInOrder) {
  auto p = parse(request("X-Custom:  some value ;with=stuff  \r\nP-Foo:bar\r\n"));
  ASSERT_EQ(p->result.status, ParseStatus::complete);
  const auto& m = *p->view;
  ASSERT_GE(m.header_count, 8u);
  EXPECT_EQ(m.headers[6].name, "X-Custom");
  EXPECT_EQ(m.headers[6].id, HeaderId::other);
  EXPECT_EQ(m.headers[6].value, "some value ;with=stuff");
  EXPECT_EQ(m.headers[7].value, "bar");
}

TEST(ParserHeaders, LineFolding) {
  auto p = parse(request("Subject: I know you're there,\r\n   pick up the phone\r\n\tand talk to me!\r\n"));
  ASSERT_EQ(p->result.status, ParseStatus::complete) << reason_phrase(p->result.error);
  EXPECT_EQ(p->view->find(HeaderId::subject)->value,
            "I know you're there,\r\n   pick up the phone\r\n\tand talk to me!");
}

TEST(ParserHeaders, FoldedViaAndWhitespaceBeforeColon) {
  std::string text = request();
  text.replace(text.find("Via: SIP/2.0/UDP"), 16, "Via  :\r\n SIP / 2.0 / UDP");
  auto p = parse(text);
  ASSERT_EQ(p->result.status, ParseStatus::complete) << reason_phrase(p->result.error);
  EXPECT_EQ(p->view->vias[0].transport, "UDP");
  EXPECT_EQ(p->view->vias[0].host, "pc33.atlanta.example.com");
}

TEST(ParserHeaders, Errors) {
  expect_error(request("Bad Header: x\r\n"), ParseError::missing_colon);
  expect_error(request(": novalue\r\n"), ParseError::bad_header_name);
  expect_error(request(std::string("X-Nul: a\0b\r\n", 12)), ParseError::bad_header_character);
  expect_error(request("X-Cr: a\rb\r\n"), ParseError::bad_line_ending);
}

TEST(ParserHeaders, LimitsAreErrorsNotOverreads) {
  std::string many;
  for (int i = 0; i < 130; ++i) many += "X-H" + std::to_string(i) + ": v\r\n";
  expect_error(request(many), ParseError::too_many_headers);
  expect_error(request("X-Long: " + std::string(header_line_length_max, 'a') + "\r\n"), ParseError::header_too_long);
  expect_error(request("", std::string(70000, 'x')), ParseError::message_too_large);
}

TEST(ParserMandatory, EachMissingHeaderIsNamed) {
  struct Case {
    const char* header;
    ParseError error;
  };
  for (auto [header, error] : {Case{"Via: ", ParseError::missing_via}, Case{"To: ", ParseError::missing_to},
                               Case{"From: ", ParseError::missing_from}, Case{"Call-ID: ", ParseError::missing_call_id},
                               Case{"CSeq: ", ParseError::missing_cseq}}) {
    std::string text = request();
    size_t at = text.find(header);
    text.erase(at, text.find("\r\n", at) + 2 - at);
    expect_error(text, error);
  }
}

TEST(ParserMandatory, MissingCallIdReasonPhrase) {
  EXPECT_EQ(reason_phrase(ParseError::missing_call_id), "Missing Call-ID");
  EXPECT_EQ(reason_phrase(ParseError::cseq_method_mismatch), "CSeq method does not match");
}

TEST(ParserMandatory, SingleValuedHeadersAppearOnce) {
  expect_error(request("Call-ID: other@host\r\n"), ParseError::duplicate_call_id);
  expect_error(request("From: <sip:x@y>;tag=2\r\n"), ParseError::duplicate_from);
  expect_error(request("t: <sip:x@y>\r\n"), ParseError::duplicate_to);
  expect_error(request("CSeq: 1 INVITE\r\n"), ParseError::duplicate_cseq);
}

TEST(ParserCSeq, MethodMustMatchAndNumberBounded) {
  std::string text = request();
  text.replace(text.find("314159 INVITE"), 13, "314159 BYE");
  expect_error(text, ParseError::cseq_method_mismatch);
  text = request();
  text.replace(text.find("314159 INVITE"), 13, "2147483648 INVITE");
  expect_error(text, ParseError::bad_cseq);
  text = request();
  text.replace(text.find("314159 INVITE"), 13, "INVITE");
  expect_error(text, ParseError::bad_cseq);
  text = request();
  text.replace(text.find("314159 INVITE"), 13, "314159INVITE");
  expect_error(text, ParseError::bad_cseq);
}

TEST(ParserVia, SeveralViasInOneAndManyHeaders) {
  std::string text = request(
      "Via: SIP/2.0/TCP [2001:db8::9:1]:5061;branch=z9hG4bK2;received=192.0.2.1;rport=5062, "
      "SIP/2.0/UDP h3.example.com;rport;maddr=224.2.0.1;ttl=16;branch=z9hG4bK3\r\n"
      "v: SIP/2.0/TLS h4.example.com:5061;branch=z9hG4bK4\r\n");
  auto p = parse(text);
  ASSERT_EQ(p->result.status, ParseStatus::complete) << reason_phrase(p->result.error);
  const auto& m = *p->view;
  ASSERT_EQ(m.via_count, 4u);
  EXPECT_EQ(m.vias[0].branch, "z9hG4bK776asdhds");
  EXPECT_EQ(m.vias[0].port, 0);
  EXPECT_EQ(m.vias[1].host, "2001:db8::9:1");
  EXPECT_TRUE(m.vias[1].host_is_ipv6);
  EXPECT_EQ(m.vias[1].port, 5061);
  EXPECT_EQ(m.vias[1].received, "192.0.2.1");
  EXPECT_TRUE(m.vias[1].has_rport);
  EXPECT_EQ(m.vias[1].rport, "5062");
  EXPECT_TRUE(m.vias[2].has_rport);
  EXPECT_EQ(m.vias[2].rport, "");
  EXPECT_EQ(m.vias[2].maddr, "224.2.0.1");
  EXPECT_EQ(m.vias[2].ttl, "16");
  EXPECT_EQ(m.vias[3].transport, "TLS");
}

TEST(ParserVia, Errors) {
  expect_error(request("Via: SIP/2.0 h.example.com;branch=z9hG4bK1\r\n"), ParseError::bad_via);
  expect_error(request("Via: SIP/3.0/UDP h.example.com\r\n"), ParseError::bad_via);
  expect_error(request("Via: SIP/2.0/UDP h.example.com:99999\r\n"), ParseError::bad_via);
  expect_error(request("Via: SIP/2.0/UDP h.example.com;branch=\r\n"), ParseError::bad_via);
  expect_error(request("Via: SIP/2.0/UDP [::1\r\n"), ParseError::bad_via);
  std::string many;
  for (int i = 0; i < 16; ++i) many += "Via: SIP/2.0/UDP h" + std::to_string(i) + ".example.com\r\n";
  expect_error(request(many), ParseError::too_many_vias);
}

TEST(ParserNameAddr, DisplayNamesTagsAndAddrSpec) {
  std::string text = request();
  text.replace(text.find("To: Bob <sip:bob@biloxi.example.com>"), 36,
               "To: \"Bob \\\"the builder\\\" B\" <sip:bob@biloxi.example.com;transport=tcp>;tag=x1");
  const std::string from = "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774";
  text.replace(text.find(from), from.size(), "From: sip:alice@atlanta.example.com;tag=1928301774");
  auto p = parse(text);
  ASSERT_EQ(p->result.status, ParseStatus::complete) << reason_phrase(p->result.error);
  const auto& m = *p->view;
  EXPECT_TRUE(m.to.display_name_quoted);
  EXPECT_EQ(m.to.display_name, "Bob \\\"the builder\\\" B");
  char buf[64];
  EXPECT_EQ(unquote(m.to.display_name, buf, sizeof buf), "Bob \"the builder\" B");
  EXPECT_EQ(m.to.uri, "sip:bob@biloxi.example.com;transport=tcp");
  EXPECT_EQ(m.to.tag, "x1");
  EXPECT_EQ(m.from.display_name, "");
  EXPECT_EQ(m.from.uri, "sip:alice@atlanta.example.com");
  EXPECT_EQ(m.from.tag, "1928301774");
}

TEST(ParserNameAddr, TokenDisplayNameAndErrors) {
  std::string text = request();
  text.replace(text.find("To: Bob <"), 9, "To: Bob  Smith <");
  auto p = parse(text);
  ASSERT_EQ(p->result.status, ParseStatus::complete);
  EXPECT_EQ(p->view->to.display_name, "Bob  Smith");
  text = request();
  text.replace(text.find("To: Bob <sip:bob@biloxi.example.com>"), 36, "To: Bob <sip:bob@biloxi.example.com");
  expect_error(text, ParseError::bad_to);
  text = request();
  text.replace(text.find("To: Bob <"), 9, "To: \"Bob <");
  expect_error(text, ParseError::bad_to);
  text = request();
  text.replace(text.find("From: Alice <"), 13, "From: Al@ice <");
  expect_error(text, ParseError::bad_from);
}

TEST(ParserContact, ListStarAndParameters) {
  auto p = parse(
      request("Contact: \"Desk\" <sip:101@192.0.2.10:5062;transport=udp>;expires=120;q=0.7;"
              "+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>\";reg-id=1, sip:101@198.51.100.7\r\n"
              "m: <sip:101@[2001:db8::7]>;expires=99999999999\r\n"));
  ASSERT_EQ(p->result.status, ParseStatus::complete) << reason_phrase(p->result.error);
  const auto& m = *p->view;
  ASSERT_EQ(m.contact_count, 3u);
  EXPECT_EQ(m.contacts[0].address.display_name, "Desk");
  EXPECT_EQ(m.contacts[0].address.uri, "sip:101@192.0.2.10:5062;transport=udp");
  EXPECT_EQ(m.contacts[0].expires, 120);
  EXPECT_EQ(m.contacts[0].q, "0.7");
  EXPECT_EQ(m.contacts[0].instance, "urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF");
  EXPECT_EQ(m.contacts[0].reg_id, "1");
  EXPECT_EQ(m.contacts[1].address.uri, "sip:101@198.51.100.7");
  EXPECT_EQ(m.contacts[1].expires, -1);
  EXPECT_EQ(m.contacts[2].expires, 0xFFFFFFFF) << "RFC 3261: above 2^32-1 is taken as 2^32-1";

  auto star = parse(request("Contact: *\r\nExpires: 0\r\n"));
  ASSERT_EQ(star->result.status, ParseStatus::complete);
  EXPECT_TRUE(star->view->contact_star);
  EXPECT_EQ(star->view->expires, 0);
  expect_error(request("Contact: *, <sip:a@b>\r\n"), ParseError::bad_contact);
  expect_error(request("Contact: <sip:a@b>\r\nContact: *\r\n"), ParseError::bad_contact);
  expect_error(request("Contact: <sip:a@b>;expires=soon\r\n"), ParseError::bad_contact);
  // c-p-expires = "expires" EQUAL delta-seconds: a quoted value is not delta-seconds (the first parser
  // accepted it); a malformed parameter list is refused too.
  expect_error(request("Contact: <sip:a@b>;expires=\"60\"\r\n"), ParseError::bad_contact);
  expect_error(request("Contact: <sip:a@b>;expires=\"\"\r\n"), ParseError::bad_contact);
  expect_error(request("Contact: <sip:a@b>;q=0.5;;expires=60\r\n"), ParseError::bad_contact);
  expect_error(request("Contact: <sip:a@b>;+sip.instance=\"<urn:x>\r\n"), ParseError::bad_contact);
  std::string many = "Contact: ";
  for (int i = 0; i < 17; ++i) many += (i ? ", <sip:a" : "<sip:a") + std::to_string(i) + "@b>";
  expect_error(request(many + "\r\n"), ParseError::too_many_contacts);
}

TEST(ParserExpiresAndMaxForwards, Values) {
  expect_error(request("Expires: -1\r\n"), ParseError::bad_expires);
  expect_error(request("Expires: 1\r\nExpires: 2\r\n"), ParseError::bad_expires);
  std::string text = request();
  text.replace(text.find("Max-Forwards: 70"), 16, "Max-Forwards: 0");
  auto p = parse(text);
  ASSERT_EQ(p->result.status, ParseStatus::complete);
  EXPECT_EQ(p->view->max_forwards, 0);
  text.replace(text.find("Max-Forwards: 0"), 15, "Max-Forwards: x");
  expect_error(text, ParseError::bad_max_forwards);
}

TEST(ParserBody, ContentLengthFramesUdpAndTcp) {
  std::string body = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n";
  auto p = parse(request("Content-Type: application/sdp\r\n", body) + "trailing junk", Transport::udp);
  ASSERT_EQ(p->result.status, ParseStatus::complete);
  EXPECT_EQ(p->view->body, body) << "UDP: bytes beyond Content-Length are discarded";
  EXPECT_EQ(p->view->content_type, "application/sdp");

  std::string two = request("", body) + request("", "xyz");
  p = parse(two, Transport::tcp);
  ASSERT_EQ(p->result.status, ParseStatus::complete);
  EXPECT_EQ(p->result.consumed, request("", body).size()) << "TCP: the next message starts after consumed";
  EXPECT_EQ(p->view->body, body);
}

TEST(ParserBody, TcpIncompleteReportsBytesNeeded) {
  std::string full = request("", "0123456789");
  for (size_t cut = 0; cut < full.size(); ++cut) {
    auto p = parse(full.substr(0, cut), Transport::tcp);
    ASSERT_EQ(p->result.status, ParseStatus::incomplete) << "cut at " << cut;
    size_t header_end = full.size() - 10;
    if (cut >= header_end) {
      EXPECT_EQ(p->result.bytes_needed, full.size() - cut) << "cut at " << cut;
    } else {
      EXPECT_GE(p->result.bytes_needed, 1u);
    }
  }
  EXPECT_EQ(parse(full, Transport::tcp)->result.status, ParseStatus::complete);
}

TEST(ParserBody, UdpWithoutContentLengthTakesTheRest) {
  std::string text = request("", "");
  text.erase(text.find("Content-Length: 0\r\n"), 19);
  auto p = parse(text + "body bytes");
  ASSERT_EQ(p->result.status, ParseStatus::complete);
  EXPECT_EQ(p->view->body, "body bytes");
  expect_error(text, ParseError::missing_content_length, Transport::tcp);
}

TEST(ParserBody, Errors) {
  std::string text = request("", "abc");
  text.replace(text.find("Content-Length: 3"), 17, "Content-Length: 30");
  expect_error(text, ParseError::body_shorter_than_content_length);
  expect_error(request("l: 5\r\n"), ParseError::conflicting_content_length);
  expect_error(request("", "").replace(request().find("Content-Length: 0"), 17, "Content-Length: x"),
               ParseError::bad_content_length);
  expect_error(request("", "").replace(request().find("Content-Length: 0"), 17, "Content-Length: 99999999999"),
               ParseError::message_too_large);
  std::string unterminated = request();
  unterminated.resize(unterminated.size() - 2);
  expect_error(unterminated, ParseError::unterminated_headers);
}

TEST(ParserAuth, DigestCredentialsAndChallenge) {
  auto p = parse(
      request("Authorization: Digest username=\"101\", realm=\"acme.example.com\", nonce=\"abc\",\r\n"
              " uri=\"sip:acme.example.com\", response=\"0123456789abcdef0123456789abcdef\", algorithm=SHA-256,\r\n"
              " cnonce=\"0a4f113b\", opaque=\"5ccc\", qop=auth, nc=00000001\r\n"
              "WWW-Authenticate: Digest realm=\"acme.example.com\", nonce=\"n1\", stale=TRUE, qop=\"auth\"\r\n"));
  ASSERT_EQ(p->result.status, ParseStatus::complete) << reason_phrase(p->result.error);
  const auto& a = p->view->authorization;
  EXPECT_TRUE(a.present);
  EXPECT_EQ(a.scheme, "Digest");
  EXPECT_EQ(a.username, "101");
  EXPECT_EQ(a.realm, "acme.example.com");
  EXPECT_EQ(a.nonce, "abc");
  EXPECT_EQ(a.uri, "sip:acme.example.com");
  EXPECT_EQ(a.response, "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(a.algorithm, "SHA-256");
  EXPECT_EQ(a.cnonce, "0a4f113b");
  EXPECT_EQ(a.opaque, "5ccc");
  EXPECT_EQ(a.qop, "auth");
  EXPECT_EQ(a.nc, "00000001");
  EXPECT_EQ(p->view->www_authenticate.stale, "TRUE");
  EXPECT_EQ(p->view->www_authenticate.qop, "auth");
  EXPECT_FALSE(p->view->proxy_authorization.present);
  expect_error(request("Authorization: Digest username\r\n"), ParseError::bad_authorization);
  expect_error(request("Proxy-Authorization: Digest username=\"x\r\n"), ParseError::bad_authorization);
}

// Fixed leniencies of the first parser: a quoted value must be followed by LWS and ',' or the end (it used to
// swallow the next parameter: realm became `a"nonce="b`), and an unquoted value may not hold '"', '<' or '>'.
TEST(ParserAuth, ParametersMustBeSeparatedAndUnquotedValuesPlain) {
  expect_error(request("Authorization: Digest realm=\"a\"nonce=\"b\"\r\n"), ParseError::bad_authorization);
  expect_error(request("Authorization: Digest realm=\"a\" nonce=\"b\"\r\n"), ParseError::bad_authorization);
  expect_error(request("Authorization: Digest realm=\"a\"x, nonce=\"b\"\r\n"), ParseError::bad_authorization);
  expect_error(request("WWW-Authenticate: Digest realm=\"a\" \"b\"\r\n"), ParseError::bad_authenticate);
  expect_error(request("Authorization: Digest qop=au\"th\"\r\n"), ParseError::bad_authorization);
  expect_error(request("Authorization: Digest uri=<sip:a@b>\r\n"), ParseError::bad_authorization);
  expect_error(request("Authorization: Digest uri=sip:a@b>, nc=1\r\n"), ParseError::bad_authorization);
  expect_error(request("Proxy-Authorization: Digest nc=<1\r\n"), ParseError::bad_authorization);

  // Still accepted: LWS (folding included) around '=' and ',', empty elements, escapes in quoted values, inner
  // whitespace in unquoted values, any case of the names, a later duplicate winning.
  auto p =
      parse(request("Authorization: Digest  ,USERNAME = \"a\\\"b\" \r\n , ,realm=\"r\",qop=auth int ,"
                    "Nonce=n1, nonce=\"n2\"\t,\r\n"));
  ASSERT_EQ(p->result.status, ParseStatus::complete) << reason_phrase(p->result.error);
  const auto& a = p->view->authorization;
  EXPECT_EQ(a.username, "a\\\"b");
  EXPECT_EQ(a.realm, "r");
  EXPECT_EQ(a.qop, "auth int");
  EXPECT_EQ(a.nonce, "n2");
}

TEST(ParserRefer, ReferToWithEmbeddedReplacesAndReplacesHeader) {
  std::string text = request();
  text.replace(0, text.find("\r\n"), "REFER sip:bob@biloxi.example.com SIP/2.0");
  text.replace(text.find("314159 INVITE"), 13, "314159 REFER");
  size_t at = text.find("Content-Length");
  text.insert(at,
              "r: <sip:*68103@acme.example.com?Replaces=abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2>\r\n"
              "Replaces: 98asjd8@host;to-tag=a1;from-tag=b2;early-only\r\n"
              "Referred-By: <sip:alice@atlanta.example.com>\r\n");
  auto p = parse(text);
  ASSERT_EQ(p->result.status, ParseStatus::complete) << reason_phrase(p->result.error);
  const auto& m = *p->view;
  EXPECT_EQ(m.refer_to.uri, "sip:*68103@acme.example.com?Replaces=abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2");
  EXPECT_EQ(m.refer_to_replaces, "abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2");
  EXPECT_EQ(m.replaces.call_id, "98asjd8@host");
  EXPECT_EQ(m.replaces.to_tag, "a1");
  EXPECT_EQ(m.replaces.from_tag, "b2");
  EXPECT_TRUE(m.replaces.early_only);
  expect_error(request("Replaces: 98asjd8@host;to-tag=a1\r\n"), ParseError::bad_replaces);
  expect_error(request("Refer-To: <sip:a@b>\r\nRefer-To: <sip:c@d>\r\n"), ParseError::bad_refer_to);
}

TEST(ParserRoute, RouteAndRecordRouteLists) {
  auto p =
      parse(request("Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n"
                    "Route: <sip:p3.example.com;lr>\r\n"
                    "Record-Route: <sip:rr.example.com;lr;ftag=1>\r\n"));
  ASSERT_EQ(p->result.status, ParseStatus::complete) << reason_phrase(p->result.error);
  ASSERT_EQ(p->view->route_count, 3u);
  EXPECT_EQ(p->view->routes[1].uri, "sip:p2.example.com;lr");
  ASSERT_EQ(p->view->record_route_count, 1u);
  EXPECT_EQ(p->view->record_routes[0].uri, "sip:rr.example.com;lr;ftag=1");
  expect_error(request("Route: sip:p1.example.com\r\n"), ParseError::bad_route);
}

TEST(ParserOptionTags, FirstUnsupported) {
  auto p = parse(request("Require: timer, 100rel\r\nRequire: foo\r\n"));
  ASSERT_EQ(p->result.status, ParseStatus::complete);
  EXPECT_EQ(p->view->first_unsupported(HeaderId::require, {"timer", "100rel"}), "foo");
  EXPECT_EQ(p->view->first_unsupported(HeaderId::proxy_require, {"timer"}), "");
}

TEST(ParserEventAndState, Validation) {
  auto p = parse(request("Event: park-info;id=7\r\nSubscription-State: terminated;reason=noresource\r\n"));
  ASSERT_EQ(p->result.status, ParseStatus::complete);
  EXPECT_EQ(p->view->event, "park-info;id=7");
  EXPECT_EQ(p->view->subscription_state, "terminated;reason=noresource");
  expect_error(request("Event: park info\r\n"), ParseError::bad_event);
  expect_error(request("Content-Type: application\r\n"), ParseError::bad_content_type);
}

TEST(ParserReuse, OneViewParsesManyMessages) {
  MessageView view;
  std::string a = request("Contact: <sip:a@b>\r\nExpires: 30\r\n");
  std::string b = request();
  ASSERT_EQ(parse_message(a, Transport::udp, view).status, ParseStatus::complete);
  EXPECT_EQ(view.contact_count, 1u);
  ASSERT_EQ(parse_message(b, Transport::udp, view).status, ParseStatus::complete);
  EXPECT_EQ(view.contact_count, 0u) << "a reused view must not keep the previous message's fields";
  EXPECT_EQ(view.expires, -1);
}

TEST(HeaderIds, EveryNameAndCompactFormResolves) {
  EXPECT_EQ(header_id("Call-ID"), HeaderId::call_id);
  EXPECT_EQ(header_id("call-id"), HeaderId::call_id);
  EXPECT_EQ(header_id("CALL-ID"), HeaderId::call_id);
  EXPECT_EQ(header_id("i"), HeaderId::call_id);
  EXPECT_EQ(header_id("I"), HeaderId::call_id);
  EXPECT_EQ(header_id("WWW-Authenticate"), HeaderId::www_authenticate);
  EXPECT_EQ(header_id("r"), HeaderId::refer_to);
  EXPECT_EQ(header_id("b"), HeaderId::referred_by);
  EXPECT_EQ(header_id("o"), HeaderId::event);
  EXPECT_EQ(header_id("u"), HeaderId::allow_events);
  EXPECT_EQ(header_id("X-Call-ID"), HeaderId::other);
  EXPECT_EQ(header_id("Call-IE"), HeaderId::other);
  EXPECT_EQ(header_id("g"), HeaderId::other);
}

}  // namespace
}  // namespace parkd::sip
