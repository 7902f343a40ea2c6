// libFuzzer target for sip/uri.h. For any input: parse_uri() must not crash or read outside the input. When
// it parses: every view lies inside the input, the URI equals itself, each escaped part percent-decodes, the
// URI rebuilt from its parts parses to an equal URI, and find_uri_header() walks the headers. Differential:
// parse_ipv6_address() agrees with inet_pton(AF_INET6) on the same text, address bytes included.
#include <arpa/inet.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include "sip/internal/uri.h"
#include "sip/uri.h"

namespace {

using parkd::sip::UriView;

void check(bool ok) {
  if (!ok) std::abort();
}

bool inside(std::string_view part, std::string_view whole) {
  return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

void check_decodes(std::string_view part, bool must_succeed) {
  char out[4096];
  if (part.size() > sizeof out) return;
  const ptrdiff_t n = parkd::sip::percent_decode(part, out, sizeof out);
  if (must_succeed) check(n >= 0 && static_cast<size_t>(n) <= part.size());
}

std::string rebuild(const UriView& uri) {
  std::string text(uri.scheme_text);
  text += ':';
  if (uri.scheme == parkd::sip::UriScheme::other) return text + std::string(uri.opaque);
  if (uri.scheme == parkd::sip::UriScheme::tel) {
    text += uri.user;
  } else {
    if (!uri.user.empty()) {
      text += uri.user;
      if (uri.has_password) text += ':' + std::string(uri.password);
      text += '@';
    }
    text += uri.host_kind == parkd::sip::HostKind::ipv6 ? '[' + std::string(uri.host) + ']' : std::string(uri.host);
    if (uri.has_port) text += ':' + std::to_string(uri.port);
  }
  if (!uri.params.empty()) text += ';' + std::string(uri.params);
  if (!uri.headers.empty()) text += '?' + std::string(uri.headers);
  return text;
}

void check_ipv6_against_inet_pton(std::string_view text) {
  if (text.size() > 64 || text.find('\0') != std::string_view::npos) return;
  char copy[65];
  std::memcpy(copy, text.data(), text.size());
  copy[text.size()] = '\0';
  uint8_t ours[16];
  uint8_t theirs[16];
  const bool ours_ok = parkd::sip::parse_ipv6_address(text, ours);
  const bool theirs_ok = inet_pton(AF_INET6, copy, theirs) == 1;
  check(ours_ok == theirs_ok);
  if (ours_ok) check(std::memcmp(ours, theirs, 16) == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  check_ipv6_against_inet_pton(text);

  // Differential: the fast path of parse_uri() agrees with the reference parser, error and views alike.
  UriView uri;
  UriView reference;
  const parkd::sip::UriError error = parkd::sip::parse_uri(text, uri);
  check(error == parkd::sip::internal::parse_uri_reference(text, reference));
  check(parkd::sip::internal::uri_is_valid(text) == (error == parkd::sip::UriError::none));
  if (error != parkd::sip::UriError::none) return 0;
  for (auto [a, b] : {std::pair{uri.scheme_text, reference.scheme_text},
                      {uri.user, reference.user},
                      {uri.password, reference.password},
                      {uri.host, reference.host},
                      {uri.params, reference.params},
                      {uri.headers, reference.headers},
                      {uri.opaque, reference.opaque},
                      {uri.raw, reference.raw}})
    check(a.size() == b.size() && (a.empty() || a.data() == b.data()));
  check(uri.scheme == reference.scheme && uri.has_password == reference.has_password &&
        uri.host_kind == reference.host_kind && uri.port == reference.port && uri.has_port == reference.has_port);
  for (std::string_view part :
       {uri.scheme_text, uri.user, uri.password, uri.host, uri.params, uri.headers, uri.opaque, uri.raw})
    check(inside(part, text));
  check(parkd::sip::uri_equal(uri, uri));
  // Every escape was validated, so every part but the opaque one decodes.
  for (std::string_view part : {uri.user, uri.password, uri.host, uri.params, uri.headers}) check_decodes(part, true);
  check_decodes(uri.opaque, false);
  if (uri.host_kind == parkd::sip::HostKind::ipv6) {
    uint8_t bytes[16];
    check(parkd::sip::parse_ipv6_address(uri.host, bytes));
  }

  const std::string again = rebuild(uri);
  UriView copy;
  check(parkd::sip::parse_uri(again, copy) == parkd::sip::UriError::none);
  check(parkd::sip::uri_equal(uri, copy) && parkd::sip::uri_equal(copy, uri));

  std::string_view value;
  if (parkd::sip::find_uri_header(uri.headers, "Replaces", value)) {
    check(inside(value, text));
    check_decodes(value, true);
  }
  return 0;
}
