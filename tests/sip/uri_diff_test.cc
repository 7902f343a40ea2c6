// Differential test of parse_uri() (a one-pass fast path for common sip/sips URIs, falling back to the
// reference parser) against internal::parse_uri_reference() (the rule-by-rule parser it falls back to): over
// the URI fuzz corpus, the seeds below, and random mutations of both, the two must return the same UriError
// and, on success, identical UriViews (every view the same bytes at the same address); internal::uri_is_valid()
// must agree with both.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "sip/internal/uri.h"
#include "sip/uri.h"

namespace parkd::sip {
namespace {

bool same_view(std::string_view a, std::string_view b) { return a.data() == b.data() && a.size() == b.size(); }
bool same_or_empty(std::string_view a, std::string_view b) { return same_view(a, b) || (a.empty() && b.empty()); }

void expect_same(const std::string& text) {
  // Each input in its own exactly-sized heap block, so ASan (sanitize preset) catches any read past the end.
  std::vector<char> block(text.begin(), text.end());
  const std::string_view in(block.data(), block.size());
  UriView fast;
  UriView reference;
  const UriError e_fast = parse_uri(in, fast);
  const UriError e_reference = internal::parse_uri_reference(in, reference);
  ASSERT_EQ(e_fast, e_reference) << "input: " << text;
  ASSERT_EQ(internal::uri_is_valid(in), e_reference == UriError::none) << "input: " << text;
  if (e_fast != UriError::none) return;
  ASSERT_EQ(fast.scheme, reference.scheme) << text;
  ASSERT_TRUE(same_or_empty(fast.scheme_text, reference.scheme_text)) << text;
  ASSERT_TRUE(same_or_empty(fast.user, reference.user)) << text;
  ASSERT_TRUE(same_or_empty(fast.password, reference.password)) << text;
  ASSERT_EQ(fast.has_password, reference.has_password) << text;
  ASSERT_TRUE(same_or_empty(fast.host, reference.host)) << text;
  ASSERT_EQ(fast.host_kind, reference.host_kind) << text;
  ASSERT_EQ(fast.port, reference.port) << text;
  ASSERT_EQ(fast.has_port, reference.has_port) << text;
  ASSERT_TRUE(same_or_empty(fast.params, reference.params)) << text;
  ASSERT_TRUE(same_or_empty(fast.headers, reference.headers)) << text;
  ASSERT_TRUE(same_or_empty(fast.opaque, reference.opaque)) << text;
  ASSERT_TRUE(same_view(fast.raw, reference.raw)) << text;
}

std::vector<std::string> seeds() {
  std::vector<std::string> out = {
      "sip:acme.example.com",
      "sip:101@acme.example.com",
      "sip:101@192.0.2.41:5060",
      "sip:102@198.51.100.7:5062;transport=udp",
      "sip:203.0.113.5;lr",
      "SIPS:Alice:secret@Atlanta.COM:65535;maddr=239.255.255.1;ttl=15",
      "sip:alice;day=tuesday@atlanta.com",
      "sip:+1-212-555-1212:1234@gateway.com;user=phone",
      "sip:host.:5060",
      "sip:a-b.c-d.e1",
      "sip:1.2.3.4",
      "sip:255.255.255.255:1",
      "sip:256.1.1.1",
      "sip:01.002.3.4",
      "sip:1.2.3",
      "sip:1.2.3.4.5",
      "sip:example.123",
      "sip:123.example",
      "sip:a..b",
      "sip:-a.b",
      "sip:a-.b",
      "sip:a.-b",
      "sip:[2001:db8::1]:5060",
      "sip:host:0",
      "sip:host:65536",
      "sip:host:123456",
      "sip:host;a",
      "sip:host;a=",
      "sip:host;=b",
      "sip:host;;a",
      "sip:host;a=b;c",
      "sip:host?subject=x&priority=urgent",
      "sip:u%41@host",
      "sip:u%4@host",
      "sip:@host",
      "sip::pw@host",
      "sip:u:@host",
      "sip:u:p:q@host",
      "sip:u@host@x",
      "sip:host:5060;x=@y",
      "sip:u@",
      "sip:",
      "sips:",
      "sip:x",
      "sipx:host",
      "sip\x1ahost",
      "tel:+1-201-555-0123",
      "mailto:a@b",
      "sip:host:5060;transport=tcp;lr;maddr=x.y",
      "sip:*88103@acme.example.com;park-id=p4f2a",
      // Hosts around the 16-byte vector window (scan_host16): shorter, exactly 16, longer, at the end of the
      // URI or followed by a port or parameters, and IPv4 groups at the 255 boundary.
      "sip:abcdefghijklmno.p",
      "sip:abcdefghijklmn.op:5060",
      "sip:u@abcdefghijk.lmnop",
      "sip:u@abcdefghijk.lmnopq;lr",
      "sip:a.b",
      "sip:a-b-c.d-e-f.g-h-i.j-k-l.mno",
      "sip:x@10.0.0.1",
      "sip:x@255.255.255.255:5060",
      "sip:x@255.255.255.256",
      "sip:x@249.250.199.100;lr",
      "sip:x@260.1.1.1;lr",
      "sip:x@1.2.3.4.5;lr",
      "sip:x@1.2.3;lr",
      "sip:x@0001.2.3.4",
      "sip:x@001.002.003.004",
      "sip:x@1.2.3.4a",
      "sip:x@1.2.3.a4",
      "sip:x@a1.2.3.4",
      "sip:x@1.2.3.4-",
      "sip:x@1-2.3.4.5",
  };
  const std::filesystem::path corpus = std::filesystem::path(PARKD_SOURCE_DIR) / "tests/fuzz/corpus/uri";
  if (std::filesystem::exists(corpus))
    for (const auto& entry : std::filesystem::directory_iterator(corpus)) {
      std::ifstream f(entry.path(), std::ios::binary);
      out.emplace_back(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    }
  return out;
}

TEST(UriDiffTest, SeedsAndCorpusMatchReference) {
  for (const std::string& s : seeds()) {
    expect_same(s);
    for (size_t n = 0; n < s.size(); ++n) expect_same(s.substr(0, n));  // every prefix
  }
}

TEST(UriDiffTest, MutationsMatchReference) {
  static constexpr char letters[] = "sipSIP:@;=?&.%-_+[]0123456789abcfxyzAZ!~*'()/$, \t\x00\x7f\x80\xff";
  const std::string alphabet(letters, sizeof letters - 1);  // with its NUL
  std::mt19937 rng(3261);
  const std::vector<std::string> inputs = seeds();
  for (int round = 0; round < 200000; ++round) {
    std::string s = inputs[rng() % inputs.size()];
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < edits; ++k) {
      const char c = alphabet[rng() % alphabet.size()];
      const size_t at = s.empty() ? 0 : rng() % (s.size() + 1);
      switch (rng() % 3) {
        case 0:
          if (at < s.size()) s[at] = c;
          break;
        case 1: s.insert(at, 1, c); break;
        default:
          if (at < s.size()) s.erase(at, 1);
          break;
      }
    }
    expect_same(s);
    if (HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace parkd::sip
