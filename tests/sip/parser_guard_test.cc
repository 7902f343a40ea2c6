// Over-read guard (picohttpparser test.c style): every RFC 4475 message, every prefix of it (lengths 0..n) and
// a few hand-made inputs that stop at the edge of one grammar rule are parsed from a buffer whose last byte is
// the last readable byte before a PROT_NONE page, so a read past the input crashes the test instead of going
// unnoticed. Both transports.
//
// The scanner is picked once at static init (PARKD_FORCE_BASELINE=1 cannot switch it inside one process), so
// the three implementations are also called directly here, at every start offset of every input, through the
// same guard, and must agree with the scalar one.
#include <gtest/gtest.h>

#include <sys/mman.h>
#include <unistd.h>
#include "support/guard_page.h"

#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sip/internal/scan.h"
#include "sip/parser.h"
#include "torture_data.h"

namespace parkd::sip {
namespace {

using ::parkd::test::GuardedBuffer;

using ::parkd::sip::testing::rfc4475_message;
using ::parkd::sip::testing::rfc4475_names;

// A whole message with bare LF line ends whose body is shorter than its Content-Length.
constexpr char bare_lf_message[] =
    "INVITE sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nFrom: <sip:a@b>;tag=1\nTo: <sip:a@b>\n"
    "Call-ID: c\nCSeq: 1 INVITE\nContent-Length: 4\n\nab";

// Inputs that end inside one rule of the grammar; with every prefix of each, the parser meets the end of its
// input at every point of that rule.
const char* const rule_edges[] = {
    "SIP/2.0 200",
    "SIP/2.0 200 OK\r",
    "SIP/2.",
    "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP [::1",
    "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h:50",
    "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=\"z9hG4bK",
    "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1,",
    "INVITE sip:a@b SIP/2.0\r\nTo: \"x\\",
    "INVITE sip:a@b SIP/2.0\r\nTo: \"x\\\"\" <sip:a@b",
    "INVITE sip:a@b SIP/2.0\r\nFrom: <sip:a@b>;tag=\"1\\",
    "INVITE sip:a@b SIP/2.0\r\nContact: <sip:a@b>;expires=3600;+sip.instance=\"<urn:",
    "INVITE sip:a@b SIP/2.0\r\nContact: *",
    "INVITE sip:a@b SIP/2.0\r\nCSeq: 1 ",
    "INVITE sip:a@b SIP/2.0\r\nCall-ID: a@",
    "INVITE sip:a@b SIP/2.0\r\nContent-Length: 6553",
    "INVITE sip:a@b SIP/2.0\r\nAuthorization: Digest username=\"a\", realm=\"",
    "INVITE sip:a@b SIP/2.0\r\nRoute: <sip:a@b;lr>, <sip:c",
    "INVITE sip:a@b SIP/2.0\r\nReplaces: abc;to-tag=1;from-tag=",
    "INVITE sip:a@b SIP/2.0\r\nRefer-To: <sip:a@b?Replaces=x%40y",
    "INVITE sip:a@b SIP/2.0\r\nSubject: folded\r\n\t",
    "INVITE sip:a@b SIP/2.0\r\nSubject: folded\r\n \r\n",
    bare_lf_message,
    "\r\n\r\nOPTIONS sip:a@b SIP/2.0\r\n\r\n",
};

void parse_every_prefix(const std::string& name, std::string_view message) {
  GuardedBuffer guard(message.size());
  auto m = std::make_unique<MessageView>();
  for (size_t n = 0; n <= message.size(); ++n) {
    std::string_view in = guard.place(message.substr(0, n));
    for (Transport t : {Transport::udp, Transport::tcp}) {
      ParseResult r = parse_message(in, t, *m);
      ASSERT_LE(r.consumed, n) << name << " prefix " << n;
      if (r.status == ParseStatus::incomplete) {
        ASSERT_GE(r.bytes_needed, 1u) << name << " prefix " << n;
      }
      if (r.status == ParseStatus::error) {
        ASSERT_NE(r.error, ParseError::none) << name << " prefix " << n;
      }
    }
  }
}

TEST(ParserGuard, EveryPrefixOfEveryRfc4475Message) {
  const std::vector<std::string> names = rfc4475_names();
  ASSERT_FALSE(names.empty());
  for (const std::string& name : names) {
    const std::string message = rfc4475_message(name);
    ASSERT_FALSE(message.empty()) << name;
    parse_every_prefix(name, message);
  }
}

TEST(ParserGuard, EveryPrefixOfTheRuleEdges) {
  for (const char* input : rule_edges) parse_every_prefix(input, input);
}

// ---------------------------------------------------------------------------------------------------------
// The scanners against each other.

bool cpu_has_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") != 0;
}

void scanners_agree(const std::string& name, std::string_view data) {
  GuardedBuffer guard(data.size());
  const bool avx2 = cpu_has_avx2();
  std::string_view in = guard.place(data);
  const char* end = in.data() + in.size();
  auto check = [&](const char* p, const char* e) {
    const char* want = internal::find_stop_scalar(p, e);
    ASSERT_EQ(internal::find_stop_sse2(p, e), want)
        << name << " [" << (p - in.data()) << ", " << (e - in.data()) << ")";
    if (avx2) {
      ASSERT_EQ(internal::find_stop_avx2(p, e), want)
          << name << " [" << (p - in.data()) << ", " << (e - in.data()) << ")";
    }
    ASSERT_EQ(internal::find_stop(p, e), want) << name;
  };
  // Every start offset up to the guard, and every end with the start at the beginning.
  for (const char* p = in.data(); p <= end; ++p) check(p, end);
  for (const char* e = in.data(); e <= end; ++e) check(in.data(), e);
}

TEST(ScannerGuard, AllImplementationsAgreeOnEveryOffset) {
  if (!cpu_has_avx2()) std::printf("note: no AVX2 on this CPU, find_stop_avx2 not checked\n");
  for (const std::string& name : rfc4475_names()) scanners_agree(name, rfc4475_message(name));
  for (const char* input : rule_edges) scanners_agree(input, input);
  // Every byte value at every position of a vector, with stop bytes nowhere else.
  std::string line(70, 'a');
  for (int byte = 0; byte < 256; ++byte) {
    for (size_t pos = 0; pos < line.size(); ++pos) {
      std::string s = line;
      s[pos] = static_cast<char>(byte);
      scanners_agree("byte " + std::to_string(byte) + " at " + std::to_string(pos), s);
    }
  }
}

}  // namespace
}  // namespace parkd::sip
