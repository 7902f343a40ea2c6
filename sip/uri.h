// SIP, SIPS and tel URIs (RFC 3261 section 19.1 and 25, RFC 3966), parsed into views without allocation.
//
//   SIP-URI  = "sip:" [ userinfo ] hostport uri-parameters [ headers ]
//   userinfo = ( user / telephone-subscriber ) [ ":" password ] "@"
//   hostport = host [ ":" port ]       host = hostname / IPv4address / IPv6reference
//   uri-parameters = *( ";" uri-parameter )     headers = "?" header *( "&" header )
//   telephone-uri = "tel:" telephone-subscriber  (global "+digits" or local number, with ";" parameters)
//
// Contract: parse_uri() never reads outside `text`, allocates nothing, and accepts exactly the grammar above
// (escaped characters stay escaped in the views; percent_decode() decodes on demand). Schemes compare
// case-insensitively; `other` schemes (absoluteURI) are kept as scheme + opaque part.
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
};
std::string_view uri_error_text(UriError e);

// Parses `text` (no surrounding whitespace, no angle brackets).
UriError parse_uri(std::string_view text, UriView& out);

// Percent-decodes `in` into out[0, out_size); returns the decoded length, or -1 when `in` holds a malformed
// escape or the output does not fit.
ptrdiff_t percent_decode(std::string_view in, char* out, size_t out_size);

// A URI header value (`?Replaces=...`): the value of the first header named `name`, escaped as written.
bool find_uri_header(std::string_view headers, std::string_view name, std::string_view& value);

// URI equivalence, RFC 3261 section 19.1.4: user and password compare case-sensitively after unescaping,
// host and scheme case-insensitively, port present on one side only differs, parameters present on both
// sides must match (user, ttl, method, maddr, transport must match when present on either side), headers
// must match. tel URIs compare by number (visual separators ignored) and parameters.
bool uri_equal(const UriView& a, const UriView& b);

}  // namespace parkd::sip
