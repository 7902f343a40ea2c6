// Parser faults found while writing the torture and fuzz tests, beyond the RFC 4475 files: each test is the
// minimal input and the answer RFC 3261 calls for. They fail until sip/parser.cc is fixed (reported to the lead;
// see tests/data/rfc4475/README.md for the RFC 4475 ones).
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "sip/parser.h"

namespace parkd::sip {
namespace {

ParseResult parse_udp(const std::string& in) {
  static auto m = std::make_unique<MessageView>();
  return parse_message(in, Transport::udp, *m);
}

std::string options_with_via(const std::string& via) {
  return "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP " + via +
         "\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
}

// sent-by = host [ COLON port ], host = hostname / IPv4address / IPv6reference (RFC 3261 section 25.1). The
// parser takes any run of token characters as the host, so "h!!*~" and ".." are accepted as Via hosts.
TEST(ParserFindings, ViaHostMustBeAHostname) {
  for (const char* host : {"h!!*~", "..", "a*b.example.com", "~"}) {
    ParseResult r = parse_udp(options_with_via(std::string(host) + ";branch=z9hG4bK1"));
    EXPECT_EQ(r.status, ParseStatus::error) << host;
    EXPECT_EQ(r.error, ParseError::bad_via) << host;
  }
}

// IPv6reference = "[" IPv6address "]": the parser accepts any hex digits, colons and dots between the brackets.
TEST(ParserFindings, ViaIpv6MustBeAnAddress) {
  for (const char* host : {"[:::::]", "[1:2:3]", "[...]"}) {
    ParseResult r = parse_udp(options_with_via(std::string(host) + ";branch=z9hG4bK1"));
    EXPECT_EQ(r.status, ParseStatus::error) << host;
    EXPECT_EQ(r.error, ParseError::bad_via) << host;
  }
}

// The two RFC 4475 bugs, reduced to their minimal input.
TEST(ParserFindings, QuotedPairOfAControlCharacterIsValid) {  // RFC 4475 intmeth
  std::string in = options_with_via("h;branch=z9hG4bK1");
  in.replace(in.find("To: <sip:a@b>"), 13, std::string("To: \"a\\\x07\" <sip:a@b>"));
  EXPECT_EQ(parse_udp(in).status, ParseStatus::complete);
}

TEST(ParserFindings, TrailingSpaceAfterVersionIsAMalformedStartLine) {  // RFC 4475 trws
  std::string in = options_with_via("h;branch=z9hG4bK1");
  in.replace(in.find(" SIP/2.0\r\n"), 10, " SIP/2.0 \r\n");
  ParseResult r = parse_udp(in);
  EXPECT_EQ(r.status, ParseStatus::error);
  EXPECT_EQ(r.error, ParseError::bad_start_line) << reason_phrase(r.error);
}

}  // namespace
}  // namespace parkd::sip
