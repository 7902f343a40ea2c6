// SIP, SIPS and tel URIs (RFC 3261 section 19.1 and 25, RFC 3966), parsed into views without allocation.
//
//   SIP-URI  = "sip:" [ userinfo ] hostport uri-parameters [ headers ]
//   userinfo = ( user / telephone-subscriber ) [ ":" password ] "@"
//   hostport = host [ ":" port ]       host = hostname / IPv4address / IPv6reference
//   uri-parameters = *( ";" uri-parameter )     headers = "?" header *( "&" header )
//   telephone-uri = "tel:" telephone-subscriber  (global "+digits" or local number, with ";" parameters)
//
// Contract: parse_uri() never reads outside `text`, allocates nothing, throws nothing, and accepts exactly the
// grammar above (escaped characters stay escaped in the views; percent_decode() decodes on demand). Every view
// in a UriView points into `text`. Schemes compare case-insensitively; `other` schemes are kept as scheme +
// opaque part. IPv6 references follow the corrected ABNF of RFC 5954 (RFC 3986 IPv6address).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace parkd::sip {

enum class UriScheme : uint8_t { sip, sips, tel, other };
enum class HostKind : uint8_t { none, name, ipv4, ipv6 };

struct UriView {
  UriScheme scheme = UriScheme::other;
  std::string_view scheme_text;
  std::string_view user;      // escaped, as written; for tel: the telephone-subscriber number
  std::string_view password;  // escaped, as written
  bool has_password = false;
  std::string_view host;  // IPv6 without the brackets; empty for tel
  HostKind host_kind = HostKind::none;
  uint16_t port = 0;
  bool has_port = false;
  std::string_view params;   // uri-parameters without the leading ';' (use ParamCursor / find_param)
  std::string_view headers;  // without the leading '?', '&'-separated, escaped
  std::string_view opaque;   // `other` schemes: everything after "scheme:"
  std::string_view raw;
};

enum class UriError : uint8_t {
  none,
  empty,
  bad_scheme,
  bad_user,
  bad_password,
  bad_host,
  bad_port,
  bad_params,
  bad_headers,
  bad_tel_number,
  bad_opaque,  // `other` scheme: empty, or whitespace / control characters after "scheme:"
};
std::string_view uri_error_text(UriError e);

// Parses `text` (no surrounding whitespace, no angle brackets).
UriError parse_uri(std::string_view text, UriView& out);

// Percent-decodes `in` into out[0, out_size); returns the decoded length, or -1 when `in` holds a malformed
// escape or the output does not fit.
ptrdiff_t percent_decode(std::string_view in, char* out, size_t out_size);

// IPv6address (RFC 3986, as RFC 5954 puts it into SIP), without brackets, into its 16 bytes (network order).
// Used by uri_equal() to compare hosts by address (RFC 5954 section 4) rather than by text.
bool parse_ipv6_address(std::string_view text, uint8_t (&out)[16]);

// A URI header value (`?Replaces=...`): the value of the first header named `name`, escaped as written.
bool find_uri_header(std::string_view headers, std::string_view name, std::string_view& value);

// URI equivalence, RFC 3261 section 19.1.4: user and password compare case-sensitively after unescaping,
// host and scheme case-insensitively (IP addresses by value, RFC 5954), port present on one side only
// differs, parameters present on both sides must match (user, ttl, method, maddr, transport must match when
// present on either side), headers must match (names case-insensitive, values exact after unescaping). An
// escaped reserved character is not equal to the same character unescaped ("%3B" is not ";"); any other
// escape equals its character. Unescaping streams over both sides: no buffer, no length limit. The first of
// repeated parameter names is the one compared. tel URIs compare by number (visual separators ignored) and
// parameters (RFC 3966 section 4: same names on both sides); other schemes by scheme and exact opaque part.
bool uri_equal(const UriView& a, const UriView& b);

}  // namespace parkd::sip
