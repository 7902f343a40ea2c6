// sip/uri.h: one test per grammar rule (valid and invalid inputs), the RFC 3261 section 19.1.4 comparison
// examples, the URI cases of RFC 4475 and RFC 5118, and every input parsed again right before a guard page.
#include "sip/uri.h"

#include <gtest/gtest.h>

#include <sys/mman.h>
#include <unistd.h>
#include "support/guard_page.h"

#include <cstring>
#include <string>
#include <vector>

namespace parkd::sip {
namespace {

struct Case {
  std::string_view text;
  UriError error;
};

void expect_cases(const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    UriView uri;
    EXPECT_EQ(parse_uri(c.text, uri), c.error) << c.text << ": got " << uri_error_text(parse_uri(c.text, uri));
  }
}

UriView parsed(std::string_view text) {
  UriView uri;
  EXPECT_EQ(parse_uri(text, uri), UriError::none) << text;
  return uri;
}

bool equal(std::string_view a, std::string_view b) {
  UriView x;
  UriView y;
  EXPECT_EQ(parse_uri(a, x), UriError::none) << a;
  EXPECT_EQ(parse_uri(b, y), UriError::none) << b;
  return uri_equal(x, y);
}

std::string decoded(std::string_view in) {
  char buffer[256];
  const ptrdiff_t n = percent_decode(in, buffer, sizeof buffer);
  return n < 0 ? std::string("<error>") : std::string(buffer, static_cast<size_t>(n));
}

// scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), case-insensitive.
TEST(UriParse, Scheme) {
  EXPECT_EQ(parsed("sip:atlanta.com").scheme, UriScheme::sip);
  EXPECT_EQ(parsed("SIP:atlanta.com").scheme, UriScheme::sip);
  EXPECT_EQ(parsed("sIpS:atlanta.com").scheme, UriScheme::sips);
  EXPECT_EQ(parsed("TEL:+1234").scheme, UriScheme::tel);
  EXPECT_EQ(parsed("sip:atlanta.com").scheme_text, "sip");
  const UriView other = parsed("urn:service:sos");
  EXPECT_EQ(other.scheme, UriScheme::other);
  EXPECT_EQ(other.scheme_text, "urn");
  EXPECT_EQ(other.opaque, "service:sos");
  EXPECT_EQ(parsed("x-a.b+c1:stuff").scheme_text, "x-a.b+c1");
  expect_cases({
      {"", UriError::empty},
      {"sip", UriError::bad_scheme},
      {":atlanta.com", UriError::bad_scheme},
      {"1sip:atlanta.com", UriError::bad_scheme},
      {"s_p:atlanta.com", UriError::bad_scheme},
      {" sip:atlanta.com", UriError::bad_scheme},
      {"sip :atlanta.com", UriError::bad_scheme},
  });
}

// user = 1*( unreserved / escaped / user-unreserved ); userinfo ends at the first '@'.
TEST(UriParse, User) {
  EXPECT_EQ(parsed("sip:alice@atlanta.com").user, "alice");
  EXPECT_EQ(parsed("sip:a-_.!~*'()&=+$,;?/z@atlanta.com").user, "a-_.!~*'()&=+$,;?/z");
  EXPECT_EQ(parsed("sip:%61lice@atlanta.com").user, "%61lice");  // views stay escaped
  const UriView semicolon = parsed("sip:alice;day=tuesday@atlanta.com");
  EXPECT_EQ(semicolon.user, "alice;day=tuesday");
  EXPECT_EQ(semicolon.host, "atlanta.com");
  EXPECT_TRUE(semicolon.params.empty());
  const UriView question = parsed("sip:a?b@host");  // '?' is user-unreserved: the '@' decides
  EXPECT_EQ(question.user, "a?b");
  EXPECT_TRUE(question.headers.empty());
  EXPECT_TRUE(parsed("sip:atlanta.com").user.empty());
  expect_cases({
      {"sip:@atlanta.com", UriError::bad_user},
      {"sip:al ice@atlanta.com", UriError::bad_user},
      {"sip:al\"ice@atlanta.com", UriError::bad_user},
      {"sip:al<ice@atlanta.com", UriError::bad_user},
      {"sip:al#ice@atlanta.com", UriError::bad_user},
      {"sip:alice%4@atlanta.com", UriError::bad_user},
      {"sip:alice%zz@atlanta.com", UriError::bad_user},
      {"sip:alice%@atlanta.com", UriError::bad_user},
      {"sip:alice@@atlanta.com", UriError::bad_host},
      {"sip:alice@bob@atlanta.com", UriError::bad_host},
      {"sip:al\x01ice@atlanta.com", UriError::bad_user},
      {"sip:al\xc3\xa9@atlanta.com", UriError::bad_user},
  });
}

// password = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," ), after the first ':' of userinfo.
TEST(UriParse, Password) {
  const UriView uri = parsed("sip:alice:secret@atlanta.com");
  EXPECT_EQ(uri.user, "alice");
  EXPECT_TRUE(uri.has_password);
  EXPECT_EQ(uri.password, "secret");
  const UriView empty = parsed("sip:alice:@atlanta.com");
  EXPECT_TRUE(empty.has_password);
  EXPECT_TRUE(empty.password.empty());
  EXPECT_EQ(parsed("sip:alice:a&=+$,%20-_.!~*'()@atlanta.com").password, "a&=+$,%20-_.!~*'()");
  // telephone-subscriber with a password: the ':' after the number starts the password.
  const UriView phone = parsed("sip:+1-212-555-1212:1234@gateway.com;user=phone");
  EXPECT_EQ(phone.user, "+1-212-555-1212");
  EXPECT_EQ(phone.password, "1234");
  EXPECT_EQ(phone.host, "gateway.com");
  EXPECT_EQ(phone.params, "user=phone");
  EXPECT_FALSE(parsed("sip:alice@atlanta.com").has_password);
  expect_cases({
      {"sip:alice:se:cret@atlanta.com", UriError::bad_password},
      {"sip:alice:se;cret@atlanta.com", UriError::bad_password},
      {"sip:alice:se/cret@atlanta.com", UriError::bad_password},
      {"sip:alice:se?cret@atlanta.com", UriError::bad_password},
      {"sip:alice:se%2@atlanta.com", UriError::bad_password},
      {"sip:alice:se cret@atlanta.com", UriError::bad_password},
      {"sip::secret@atlanta.com", UriError::bad_user},
  });
}

// hostname = *( domainlabel "." ) toplabel [ "." ]; labels of alphanum and inner '-'; toplabel starts ALPHA.
TEST(UriParse, Hostname) {
  EXPECT_EQ(parsed("sip:atlanta.com").host_kind, HostKind::name);
  EXPECT_EQ(parsed("sip:atlanta.com.").host, "atlanta.com.");
  EXPECT_EQ(parsed("sip:a").host, "a");
  EXPECT_EQ(parsed("sip:x-1.b2-c.example9").host, "x-1.b2-c.example9");
  EXPECT_EQ(parsed("sip:123.example.com").host_kind, HostKind::name);
  EXPECT_EQ(parsed("sip:AtLanTa.CoM").host, "AtLanTa.CoM");
  expect_cases({
      {"sip:", UriError::bad_host},
      {"sip:alice@", UriError::bad_host},
      {"sip:-atlanta.com", UriError::bad_host},
      {"sip:atlanta-.com", UriError::bad_host},
      {"sip:atlanta..com", UriError::bad_host},
      {"sip:.atlanta.com", UriError::bad_host},
      {"sip:atlanta.com..", UriError::bad_host},
      {"sip:atlanta.1com", UriError::bad_host},
      {"sip:123", UriError::bad_host},
      {"sip:atl_anta.com", UriError::bad_host},
      {"sip:atlanta.com x", UriError::bad_host},
      {"sip:atlanta.com>", UriError::bad_host},
      {"sip:alice@atlanta.com\r\n", UriError::bad_host},
  });
}

// IPv4address = 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT, each 0-255.
TEST(UriParse, Ipv4Address) {
  EXPECT_EQ(parsed("sip:192.0.2.4").host_kind, HostKind::ipv4);
  EXPECT_EQ(parsed("sip:0.0.0.0").host_kind, HostKind::ipv4);
  EXPECT_EQ(parsed("sip:255.255.255.255").host_kind, HostKind::ipv4);
  EXPECT_EQ(parsed("sip:010.000.02.4").host_kind, HostKind::ipv4);  // RFC 3261 allows leading zeros
  const UriView uri = parsed("sip:bob@192.0.2.4:5060");
  EXPECT_EQ(uri.host, "192.0.2.4");
  EXPECT_EQ(uri.port, 5060);
  expect_cases({
      {"sip:256.0.0.1", UriError::bad_host},
      {"sip:1.2.3", UriError::bad_host},
      {"sip:1.2.3.4.5", UriError::bad_host},
      {"sip:1.2.3.0004", UriError::bad_host},
      {"sip:1.2.3.4.", UriError::bad_host},
      {"sip:1..3.4", UriError::bad_host},
      {"sip:999.1.1.1", UriError::bad_host},
  });
}

// IPv6reference = "[" IPv6address "]" (RFC 3986 IPv6address, RFC 5954); the view excludes the brackets.
TEST(UriParse, Ipv6Reference) {
  const UriView uri = parsed("sip:[2001:db8::10]");
  EXPECT_EQ(uri.host, "2001:db8::10");
  EXPECT_EQ(uri.host_kind, HostKind::ipv6);
  for (std::string_view text : {"sip:[::]", "sip:[::1]", "sip:[1::]", "sip:[1:2:3:4:5:6:7:8]", "sip:[1:2:3:4:5:6::8]",
                                "sip:[::ffff:192.0.2.10]", "sip:[2001:db8::192.0.2.1]", "sip:[1:2:3:4:5:6:1.2.3.4]",
                                "sip:[FEDC:BA98:7654:3210:FEDC:BA98:7654:3210]", "sip:alice@[::1]:5070;lr"}) {
    EXPECT_EQ(parsed(text).host_kind, HostKind::ipv6) << text;
  }
  expect_cases({
      {"sip:[]", UriError::bad_host},
      {"sip:[:]", UriError::bad_host},
      {"sip:[:::]", UriError::bad_host},
      {"sip:[1:2:3:4:5:6:7:8:9]", UriError::bad_host},
      {"sip:[1:2:3:4:5:6:7]", UriError::bad_host},
      {"sip:[1:2:3:4:5:6:7::8]", UriError::bad_host},  // "::" must stand for a zero group
      {"sip:[1::2::3]", UriError::bad_host},
      {"sip:[12345::]", UriError::bad_host},
      {"sip:[:1::2]", UriError::bad_host},
      {"sip:[1:]", UriError::bad_host},
      {"sip:[2001:db8:::192.0.2.1]", UriError::bad_host},
      {"sip:[::1.2.3.04]", UriError::bad_host},  // no leading zeros inside an IPv6 address (RFC 3986)
      {"sip:[::1.2.3]", UriError::bad_host},
      {"sip:[1:2:3:4:5:6:7:1.2.3.4]", UriError::bad_host},
      {"sip:[::1.2.3.4:5]", UriError::bad_host},
      {"sip:[::1", UriError::bad_host},
      {"sip:[::1]]", UriError::bad_host},
      {"sip:[::g]", UriError::bad_host},
      {"sip:[fe80::1%eth0]", UriError::bad_host},
      {"sip:[ ::1]", UriError::bad_host},
  });
  uint8_t bytes[16];
  ASSERT_TRUE(parse_ipv6_address("::ffff:192.0.2.10", bytes));
  const uint8_t want[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 10};
  EXPECT_EQ(std::memcmp(bytes, want, 16), 0);
}

// port = 1*DIGIT, here 1 to 5 digits and at most 65535.
TEST(UriParse, Port) {
  EXPECT_EQ(parsed("sip:host:0").port, 0);
  EXPECT_TRUE(parsed("sip:host:0").has_port);
  EXPECT_EQ(parsed("sip:host:5060").port, 5060);
  EXPECT_EQ(parsed("sip:host:65535").port, 65535);
  EXPECT_EQ(parsed("sip:host:05060").port, 5060);
  EXPECT_FALSE(parsed("sip:host").has_port);
  expect_cases({
      {"sip:host:", UriError::bad_port},
      {"sip:host:65536", UriError::bad_port},
      {"sip:host:99999", UriError::bad_port},
      {"sip:host:005060", UriError::bad_port},
      {"sip:host:50a", UriError::bad_port},
      {"sip:host:-1", UriError::bad_port},
      {"sip:host:5060:5061", UriError::bad_port},
      {"sip:host:5060 ", UriError::bad_port},
  });
}

// uri-parameters = *( ";" uri-parameter ); pname [ "=" pvalue ], 1*( param-unreserved / unreserved / escaped ).
TEST(UriParse, Parameters) {
  const UriView uri = parsed("sip:alice@atlanta.com;transport=tcp;lr;maddr=[::1];x=%41&+$/:[]");
  EXPECT_EQ(uri.params, "transport=tcp;lr;maddr=[::1];x=%41&+$/:[]");
  EXPECT_EQ(uri.host, "atlanta.com");
  EXPECT_EQ(parsed("sip:p.example.com;lr").params, "lr");
  EXPECT_EQ(parsed("sip:p.example.com:5060;lr").params, "lr");
  EXPECT_EQ(parsed("sip:p.example.com;ttl=15;method=REGISTER;user=ip").params, "ttl=15;method=REGISTER;user=ip");
  expect_cases({
      {"sip:host;", UriError::bad_params},
      {"sip:host;;lr", UriError::bad_params},
      {"sip:host;lr;", UriError::bad_params},
      {"sip:host;=x", UriError::bad_params},
      {"sip:host;x=", UriError::bad_params},
      {"sip:host;x=a=b", UriError::bad_params},
      {"sip:host;x=a b", UriError::bad_params},
      {"sip:host;x=%4g", UriError::bad_params},
      {"sip:host;x=\"q\"", UriError::bad_params},
      {"sip:host;x=a,b", UriError::bad_params},
      {"sip:host;x=a|b", UriError::bad_params},
      {"sip:host;x=a@b", UriError::none},  // the '@' makes "host;x=a" the user part
  });
}

// headers = "?" header *( "&" header ); header = hname "=" hvalue (hvalue may be empty).
TEST(UriParse, Headers) {
  const UriView uri = parsed("sip:alice@atlanta.com?subject=project%20x&priority=urgent");
  EXPECT_EQ(uri.headers, "subject=project%20x&priority=urgent");
  EXPECT_EQ(parsed("sip:host?a=").headers, "a=");
  EXPECT_EQ(parsed("sip:host;lr?a=b?c:[]/+$").headers, "a=b?c:[]/+$");
  expect_cases({
      {"sip:host?", UriError::bad_headers},
      {"sip:host?a", UriError::bad_headers},
      {"sip:host?=b", UriError::bad_headers},
      {"sip:host?a=b&", UriError::bad_headers},
      {"sip:host?a=b&&c=d", UriError::bad_headers},
      {"sip:host?a=b=c", UriError::bad_headers},
      {"sip:host?a=b;c", UriError::bad_headers},
      {"sip:host?a=b c", UriError::bad_headers},
      {"sip:host?a=%", UriError::bad_headers},
      {"sip:host?a=b?c=d;lr", UriError::bad_headers},
  });
}

// escaped = "%" HEXDIG HEXDIG, anywhere escapes are allowed; anything else after '%' is an error.
TEST(UriParse, Escapes) {
  EXPECT_EQ(parsed("sip:%41%62c:%7e@host;%61=%62?%63=%64").user, "%41%62c");
  expect_cases({
      {"sip:%4@host", UriError::bad_user},
      {"sip:%G1@host", UriError::bad_user},
      {"sip:a:%@host", UriError::bad_password},
      {"sip:host;a=%", UriError::bad_params},
      {"sip:host;a=%1", UriError::bad_params},
      {"sip:host?a=%1x", UriError::bad_headers},
      {"sip:ho%73t", UriError::bad_host},  // no escapes in a hostname
  });
}

// telephone-uri = "tel:" telephone-subscriber (RFC 3966).
TEST(UriParse, Tel) {
  const UriView global = parsed("tel:+1-201-555-0123");
  EXPECT_EQ(global.scheme, UriScheme::tel);
  EXPECT_EQ(global.user, "+1-201-555-0123");
  EXPECT_TRUE(global.host.empty());
  EXPECT_EQ(global.host_kind, HostKind::none);
  const UriView local = parsed("tel:7042;phone-context=example.com");
  EXPECT_EQ(local.user, "7042");
  EXPECT_EQ(local.params, "phone-context=example.com");
  EXPECT_EQ(parsed("tel:863-1234;phone-context=+1-914-555").user, "863-1234");
  EXPECT_EQ(parsed("tel:+1(800)555.0000;ext=22;isub=ab%2Fc/d").params, "ext=22;isub=ab%2Fc/d");
  EXPECT_EQ(parsed("tel:*68#;phone-context=pbx.example.com;x-flag").user, "*68#");
  EXPECT_EQ(parsed("tel:+49;foo=bar;flag").params, "foo=bar;flag");
  expect_cases({
      {"tel:", UriError::bad_tel_number},
      {"tel:+", UriError::bad_tel_number},
      {"tel:+-", UriError::bad_tel_number},
      {"tel:+1a", UriError::bad_tel_number},
      {"tel:7042", UriError::bad_tel_number},  // a local number needs its phone-context
      {"tel:--;phone-context=example.com", UriError::bad_tel_number},
      {"tel:+1 201", UriError::bad_tel_number},
      {"tel:+1@host", UriError::bad_tel_number},
      {"tel:+1;", UriError::bad_params},
      {"tel:+1;ext=", UriError::bad_params},
      {"tel:+1;ext", UriError::bad_params},
      {"tel:+1;ext=1a", UriError::bad_params},
      {"tel:+1;isub=", UriError::bad_params},
      {"tel:+1;x_y=1", UriError::bad_params},
      {"tel:+1;x=%zz", UriError::bad_params},
      {"tel:+1;x=a?b", UriError::bad_params},
      {"tel:7042;phone-context=", UriError::bad_params},
      {"tel:7042;phone-context=+", UriError::bad_params},
      {"tel:7042;phone-context=-bad.com", UriError::bad_params},
  });
}

// absoluteURI of other schemes: scheme ":" then at least one non-whitespace, non-control byte.
TEST(UriParse, OtherSchemes) {
  EXPECT_EQ(parsed("mailto:alice@atlanta.com").opaque, "alice@atlanta.com");
  EXPECT_EQ(parsed("http://www.example.com/a?b=c#d").opaque, "//www.example.com/a?b=c#d");
  expect_cases({
      {"urn:", UriError::bad_opaque},
      {"urn:a b", UriError::bad_opaque},
      {"urn:a\tb", UriError::bad_opaque},
      {"urn:a\x7f", UriError::bad_opaque},
  });
}

// No whitespace anywhere in a URI: every position of a valid URI, with a space put in, fails.
TEST(UriParse, NoWhitespaceAnywhere) {
  const std::string base = "sip:alice:pw@atlanta.com:5060;transport=tcp;lr?subject=x&priority=urgent";
  for (size_t i = 0; i <= base.size(); ++i) {
    for (char space : {' ', '\t', '\r', '\n'}) {
      std::string text = base;
      text.insert(i, 1, space);
      UriView uri;
      EXPECT_NE(parse_uri(text, uri), UriError::none) << i;
    }
  }
}

TEST(UriParse, ViewsPointIntoTheInput) {
  const std::string text = "sips:bob:pw@[::1]:5061;lr?h=v";
  const UriView uri = parsed(text);
  const char* begin = text.data();
  const char* end = begin + text.size();
  for (std::string_view view : {uri.scheme_text, uri.user, uri.password, uri.host, uri.params, uri.headers, uri.raw}) {
    EXPECT_GE(view.data(), begin);
    EXPECT_LE(view.data() + view.size(), end);
  }
  EXPECT_EQ(uri.raw, text);
  EXPECT_EQ(uri.port, 5061);
}

TEST(UriPercentDecode, DecodesAndRefusesMalformed) {
  EXPECT_EQ(decoded("%61lice"), "alice");
  EXPECT_EQ(decoded("abc%40host%3Bto-tag%3D1"), "abc@host;to-tag=1");
  EXPECT_EQ(decoded("%7e%7E"), "~~");
  EXPECT_EQ(decoded(""), "");
  EXPECT_EQ(decoded("%00"), std::string(1, '\0'));
  EXPECT_EQ(decoded("%"), "<error>");
  EXPECT_EQ(decoded("%4"), "<error>");
  EXPECT_EQ(decoded("%4x"), "<error>");
  char small[3];
  EXPECT_EQ(percent_decode("abc", small, sizeof small), 3);
  EXPECT_EQ(percent_decode("abcd", small, sizeof small), -1);
  EXPECT_EQ(percent_decode("ab%41", small, sizeof small), 3);
  EXPECT_EQ(percent_decode("", nullptr, 0), 0);
  EXPECT_EQ(percent_decode("a", nullptr, 0), -1);
}

TEST(UriHeaders, FindUriHeader) {
  const UriView uri = parsed("sip:[::1]:5060;transport=tcp?Replaces=abc%40host%3Bto-tag%3D1&x=&Subject=hi");
  std::string_view value;
  ASSERT_TRUE(find_uri_header(uri.headers, "replaces", value));
  EXPECT_EQ(value, "abc%40host%3Bto-tag%3D1");
  EXPECT_EQ(decoded(value), "abc@host;to-tag=1");
  ASSERT_TRUE(find_uri_header(uri.headers, "x", value));
  EXPECT_EQ(value, "");
  ASSERT_TRUE(find_uri_header(uri.headers, "SUBJECT", value));
  EXPECT_EQ(value, "hi");
  EXPECT_FALSE(find_uri_header(uri.headers, "to", value));
  EXPECT_FALSE(find_uri_header("", "to", value));
  ASSERT_TRUE(find_uri_header("%52eplaces=1", "Replaces", value));  // escaped names match too
  EXPECT_EQ(value, "1");
}

TEST(UriErrorText, EveryErrorHasText) {
  for (int e = 0; e <= static_cast<int>(UriError::bad_opaque); ++e)
    EXPECT_FALSE(uri_error_text(static_cast<UriError>(e)).empty()) << e;
  EXPECT_EQ(uri_error_text(UriError::bad_host), "Malformed URI host");
}

// RFC 3261 section 19.1.4, the examples as the RFC lists them.
TEST(UriEqual, Rfc3261EquivalentExamples) {
  const std::pair<std::string_view, std::string_view> pairs[] = {
      {"sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"},
      {"sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"},
      {"sip:carol@chicago.com", "sip:carol@chicago.com;security=on"},
      {"sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on"},
      {"sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
       "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"},
      {"sip:alice@atlanta.com?subject=project%20x&priority=urgent",
       "sip:alice@atlanta.com?priority=urgent&subject=project%20x"},
  };
  for (const auto& [a, b] : pairs) {
    EXPECT_TRUE(equal(a, b)) << a << " vs " << b;
    EXPECT_TRUE(equal(b, a)) << b << " vs " << a;
  }
}

TEST(UriEqual, Rfc3261NotEquivalentExamples) {
  const std::pair<std::string_view, std::string_view> pairs[] = {
      {"SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"},  // different usernames
      {"sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"},                               // can resolve to other ports
      {"sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"},  // can resolve to other transports
      {"sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"},
      {"sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"},  // different header component
      {"sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"},                    // even if the name resolves to it
      // "Note that equality is not transitive": both equal sip:carol@chicago.com, not each other.
      {"sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off"},
  };
  for (const auto& [a, b] : pairs) {
    EXPECT_FALSE(equal(a, b)) << a << " vs " << b;
    EXPECT_FALSE(equal(b, a)) << b << " vs " << a;
  }
}

TEST(UriEqual, ComponentRules) {
  EXPECT_FALSE(equal("sip:alice@atlanta.com", "sips:alice@atlanta.com"));  // never equivalent
  EXPECT_FALSE(equal("sip:atlanta.com", "sip:alice@atlanta.com"));         // user on one side only
  EXPECT_FALSE(equal("sip:alice@atlanta.com", "sip:alice:@atlanta.com"));  // password on one side only
  EXPECT_FALSE(equal("sip:alice:a@atlanta.com", "sip:alice:A@atlanta.com"));
  EXPECT_TRUE(equal("sip:alice:%41@atlanta.com", "sip:alice:A@atlanta.com"));
  // Only non-reserved characters equal their escapes.
  EXPECT_FALSE(equal("sip:a%3Bb@atlanta.com", "sip:a;b@atlanta.com"));
  EXPECT_TRUE(equal("sip:a%3Bb@atlanta.com", "sip:a%3bb@atlanta.com"));
  EXPECT_TRUE(equal("sip:%7Ealice@atlanta.com", "sip:~alice@atlanta.com"));
  // user, ttl, method, maddr, transport on one side only: different; other params only when on both sides.
  for (std::string_view param : {";user=phone", ";ttl=1", ";method=INVITE", ";maddr=239.255.255.1", ";transport=tcp"}) {
    const std::string with = "sip:bob@biloxi.com" + std::string(param);
    EXPECT_FALSE(equal("sip:bob@biloxi.com", with)) << param;
    EXPECT_FALSE(equal(with, "sip:bob@biloxi.com")) << param;
    EXPECT_TRUE(equal(with, with)) << param;
  }
  EXPECT_TRUE(equal("sip:bob@biloxi.com;lr", "sip:bob@biloxi.com"));
  EXPECT_FALSE(equal("sip:bob@biloxi.com;lr", "sip:bob@biloxi.com;lr=on"));
  EXPECT_TRUE(equal("sip:bob@biloxi.com;%6Cr=%4Fn", "sip:bob@biloxi.com;LR=on"));
  EXPECT_TRUE(equal("sip:bob@biloxi.com;x=1;x=2", "sip:bob@biloxi.com;x=1"));  // the first of a name counts
  EXPECT_TRUE(equal("sip:bob@biloxi.com;x=1;x=2", "sip:bob@biloxi.com;x=1;x=2"));
  // Hosts: case-insensitive names, addresses by value (RFC 5954 section 4).
  EXPECT_TRUE(equal("sip:[2001:db8::10]", "sip:[2001:DB8:0:0:0:0:0:10]"));
  EXPECT_TRUE(equal("sip:[::ffff:192.0.2.1]", "sip:[::FFFF:C000:0201]"));
  EXPECT_FALSE(equal("sip:[::1]", "sip:[::2]"));
  EXPECT_TRUE(equal("sip:010.0.0.1", "sip:10.0.0.1"));
  EXPECT_FALSE(equal("sip:10.0.0.1", "sip:10.0.0.2"));
  EXPECT_FALSE(equal("sip:atlanta.com", "sip:atlanta.com."));
  // Headers: all must match; names case-insensitive, values exact after unescaping.
  EXPECT_TRUE(equal("sip:h?Subject=a%41", "sip:h?subject=aA"));
  EXPECT_FALSE(equal("sip:h?Subject=a", "sip:h?Subject=A"));
  EXPECT_FALSE(equal("sip:h?a=1&b=2", "sip:h?a=1"));
  EXPECT_FALSE(equal("sip:h?a=1&a=1", "sip:h?a=1&b=1"));
}

// RFC 3966 section 4.
TEST(UriEqual, Tel) {
  EXPECT_TRUE(equal("tel:+1-201-555-0123", "tel:+1.201.555.0123"));
  EXPECT_TRUE(equal("tel:+1(201)5550123", "TEL:+12015550123"));
  EXPECT_FALSE(equal("tel:+12015550123", "tel:+12015550124"));
  EXPECT_FALSE(equal("tel:+1234", "tel:1234;phone-context=+1"));  // global vs local
  EXPECT_TRUE(equal("tel:7042;phone-context=Example.COM", "tel:7042;phone-context=example.com"));
  EXPECT_TRUE(equal("tel:7042;phone-context=+1-914", "tel:7-0-4-2;phone-context=+1914"));
  EXPECT_TRUE(equal("tel:+1234;ext=1-2;x=y", "tel:+1234;x=Y;ext=12"));
  EXPECT_FALSE(equal("tel:+1234;x=y", "tel:+1234"));  // a parameter on one side only differs
  EXPECT_FALSE(equal("tel:+1234", "tel:+1234;x=y"));
  EXPECT_FALSE(equal("tel:+1234;x", "tel:+1234;x=y"));
  EXPECT_FALSE(equal("tel:+1234", "sip:+1234@host"));
  EXPECT_TRUE(equal("tel:*68A;phone-context=pbx.example", "tel:*68a;phone-context=pbx.example"));
}

TEST(UriEqual, OtherSchemes) {
  EXPECT_TRUE(equal("URN:service:sos", "urn:service:sos"));
  EXPECT_FALSE(equal("urn:service:sos", "urn:Service:sos"));
  EXPECT_FALSE(equal("urn:service:sos", "mailto:service:sos"));
}

// RFC 4475 (SIP torture tests): the URI-related cases, by the RFC's test names.
TEST(UriRfc4475, Cases) {
  UriView uri;
  // esc01: escapes in the user part of the Request-URI, including an escaped ':' and '@'.
  EXPECT_TRUE(equal("sip:sips%3Auser%40example.com@example.net", "sip:sips%3auser%40example.com@example.net"));
  EXPECT_EQ(decoded(parsed("sip:sips%3Auser%40example.com@example.net").user), "sips:user@example.com");
  EXPECT_TRUE(equal("sip:%61lice@atlanta.com", "sip:alice@atlanta.com"));
  // escnull: escaped nulls.
  EXPECT_EQ(decoded(parsed("sip:null-%00-null@example.com").user), std::string("null-\0-null", 11));
  // esc02: "%75se%72" is "user".
  EXPECT_TRUE(equal("sip:%75se%72@example.com", "sip:user@example.com"));
  // semiuri: a ';' in the user part, with an escaped '@'.
  const UriView semi = parsed("sip:user;par=u%40example.net@example.com");
  EXPECT_EQ(semi.user, "user;par=u%40example.net");
  EXPECT_EQ(semi.host, "example.com");
  EXPECT_TRUE(semi.params.empty());
  EXPECT_EQ(decoded(semi.user), "user;par=u@example.net");
  // intmeth: a wide range of valid characters in user and password.
  const UriView wide = parsed(
      "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com");
  EXPECT_EQ(wide.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
  EXPECT_EQ(wide.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
  // escruri: escaped headers in a URI are valid URI syntax (a Request-URI may not carry them: the parser's job).
  ASSERT_EQ(parse_uri("sip:user@example.com?Route=%3Csip:example.com%3E", uri), UriError::none);
  EXPECT_EQ(decoded(uri.headers), "Route=<sip:example.com>");
  // ltgtruri: a Request-URI in angle brackets is invalid.
  EXPECT_NE(parse_uri("<sip:user@example.com>", uri), UriError::none);
  // lwsruri: whitespace inside the Request-URI.
  EXPECT_NE(parse_uri("sip:user@example.com; lr", uri), UriError::none);
  // scalar02 / scalarlg style: ports beyond 65535.
  EXPECT_EQ(parse_uri("sip:user@example.com:65536", uri), UriError::bad_port);
  EXPECT_EQ(parse_uri("sip:user@example.com:4294967301", uri), UriError::bad_port);
  // unkscm, novelsc, unksm2: unknown schemes are valid absoluteURIs.
  for (std::string_view text :
       {"nobodyKnowsThisScheme:totallyopaquecontent", "soap.beep://192.0.2.103:3002", "isbn:2983792873"}) {
    ASSERT_EQ(parse_uri(text, uri), UriError::none) << text;
    EXPECT_EQ(uri.scheme, UriScheme::other);
  }
  // IPv6 with a transport and an escaped Replaces header (a Refer-To target).
  const UriView replaces = parsed("sip:[::1]:5060;transport=tcp?Replaces=abc%40host%3Bto-tag%3D1");
  EXPECT_EQ(replaces.host, "::1");
  EXPECT_EQ(replaces.port, 5060);
  EXPECT_EQ(replaces.params, "transport=tcp");
  EXPECT_EQ(replaces.headers, "Replaces=abc%40host%3Bto-tag%3D1");
  EXPECT_EQ(parse_uri("tel:+1-201-555-0123", uri), UriError::none);
}

// RFC 5118 (IPv6 torture tests): the URI parts.
TEST(UriRfc5118, Cases) {
  UriView uri;
  // 4.1 valid IPv6 reference.
  EXPECT_EQ(parse_uri("sip:[2001:db8::10]", uri), UriError::none);
  // 4.2 an IPv6 address without brackets is invalid.
  EXPECT_NE(parse_uri("sip:[2001:db8::10", uri), UriError::none);
  EXPECT_NE(parse_uri("sip:2001:db8::10", uri), UriError::none);
  // 4.3 port ambiguous: all of it is the address, no port.
  ASSERT_EQ(parse_uri("sip:[2001:db8::10:5070]", uri), UriError::none);
  EXPECT_EQ(uri.host, "2001:db8::10:5070");
  EXPECT_FALSE(uri.has_port);
  // 4.4 port unambiguous.
  ASSERT_EQ(parse_uri("sip:user@[2001:db8::10]:5070", uri), UriError::none);
  EXPECT_EQ(uri.host, "2001:db8::10");
  EXPECT_EQ(uri.port, 5070);
  // 4.9 IPv4-mapped addresses.
  EXPECT_EQ(parse_uri("sip:user@[::ffff:192.0.2.10]", uri), UriError::none);
  EXPECT_EQ(parse_uri("sip:user@[::ffff:192.0.2.10]:19823", uri), UriError::none);
  // 4.10 the RFC 3261 ABNF bug: both forms are valid under the corrected ABNF (RFC 5954).
  EXPECT_EQ(parse_uri("sip:[2001:db8::9:1]", uri), UriError::none);
  EXPECT_EQ(parse_uri("sip:[2001:db8::9:255]", uri), UriError::none);
  EXPECT_EQ(parse_uri("sip:[2001:db8::192.0.2.1]", uri), UriError::none);
  // Invalid: three colons, too many groups, a zone.
  EXPECT_EQ(parse_uri("sip:[2001:db8:::192.0.2.1]", uri), UriError::bad_host);
  EXPECT_EQ(parse_uri("sip:[2001:db8:0:0:0:0:0:0:10]", uri), UriError::bad_host);
}

// Every input of this file, valid or not, placed so that its last byte is the last byte before a PROT_NONE
// page: reading one byte too far crashes the test (picohttpparser's test.c).
TEST(UriGuardPage, NoReadPastTheEnd) {
  test::GuardedBuffer guard;
  const std::string_view inputs[] = {"",
                                     "s",
                                     "sip",
                                     "sip:",
                                     "sip:a",
                                     "sip:a@",
                                     "sip:a:",
                                     "sip:a:b",
                                     "sip:a:b@",
                                     "sip:a%",
                                     "sip:a%4",
                                     "sip:a%41",
                                     "sip:alice@atlanta.com",
                                     "sip:alice@atlanta.com:",
                                     "sip:alice@atlanta.com:5",
                                     "sip:alice@atlanta.com:65535",
                                     "sip:alice@atlanta.com:65536",
                                     "sip:alice@atlanta.com;",
                                     "sip:alice@atlanta.com;lr",
                                     "sip:h;lr=",
                                     "sip:h;lr=%",
                                     "sip:h;lr=%4",
                                     "sip:h?",
                                     "sip:h?a",
                                     "sip:h?a=",
                                     "sip:h?a=%",
                                     "sip:h?a=%4",
                                     "sip:h?a=b&",
                                     "sip:[",
                                     "sip:[:",
                                     "sip:[::",
                                     "sip:[::1",
                                     "sip:[::1]",
                                     "sip:[::1]:",
                                     "sip:[::1]:5060",
                                     "sip:[::1.2.3",
                                     "sip:[::1.2.3.4]",
                                     "sip:1.2.3",
                                     "sip:1.2.3.",
                                     "sip:1.2.3.4",
                                     "sip:1.2.3.255",
                                     "sip:h.",
                                     "sip:h-",
                                     "sips:%61lice@atlanta.com",
                                     "sip:alice;day=tuesday@atlanta.com",
                                     "sip:+1-212-555-1212:1234@gateway.com;user=phone",
                                     "sip:[::1]:5060;transport=tcp?Replaces=abc%40host%3Bto-tag%3D1",
                                     "tel:",
                                     "tel:+",
                                     "tel:+1",
                                     "tel:+1;",
                                     "tel:+1;e",
                                     "tel:+1;ext",
                                     "tel:+1;ext=",
                                     "tel:+1;ext=1",
                                     "tel:+1;isub=%",
                                     "tel:+1;isub=%4",
                                     "tel:1",
                                     "tel:1;phone-context",
                                     "tel:1;phone-context=",
                                     "tel:1;phone-context=+",
                                     "tel:1;phone-context=+1",
                                     "tel:1;phone-context=a.",
                                     "tel:+1-201-555-0123",
                                     "urn:",
                                     "urn:x",
                                     "x:",
                                     "x",
                                     "SIP:ALICE@AtLanTa.CoM"};
  for (std::string_view input : inputs) {
    const std::string_view view = guard.place(input);
    UriView uri;
    const UriError error = parse_uri(view, uri);
    if (error == UriError::none) {
      EXPECT_TRUE(uri_equal(uri, uri)) << input;
      char out[64];
      for (std::string_view part : {uri.user, uri.password, uri.host, uri.params, uri.headers, uri.opaque})
        (void)percent_decode(part, out, sizeof out);
      std::string_view value;
      (void)find_uri_header(uri.headers, "replaces", value);
    }
    uint8_t bytes[16];
    (void)parse_ipv6_address(view.substr(view.find('[') == std::string_view::npos ? view.size() : view.find('[') + 1),
                             bytes);
  }
}

}  // namespace
}  // namespace parkd::sip
