#include "park/feature_code.h"

#include <algorithm>
#include <array>
#include <span>

#include "sip/params.h"
#include "sip/uri.h"

namespace parkd::park {
namespace {

// The longest user part that can be a feature code: a code, an extension number and one '#'.
constexpr size_t user_length_max = tenancy::feature_code_length_max + tenancy::extension_number_length_max + 1;

// A URI with an unescaped '#' is rewritten in a buffer of this size (see parse_with_raw_hash).
constexpr size_t raw_hash_uri_length_max = 512;

bool all_digits(std::string_view s) {
  for (const char c : s)
    if (c < '0' || c > '9') return false;
  return !s.empty();
}

// Some phones send the '#' of "*68#" unescaped, which the SIP grammar does not allow in a user part. Such a URI
// is short: rewritten with "%23" into `buffer` and parsed again; false when it is something else or too long.
bool parse_with_raw_hash(std::string_view uri, std::span<char> buffer, sip::UriView& parsed) {
  const size_t colon = uri.find(':');
  const size_t at = uri.find('@');
  if (colon == std::string_view::npos || at == std::string_view::npos || at < colon) return false;
  const std::string_view user = uri.substr(colon + 1, at - colon - 1);
  const size_t hashes = static_cast<size_t>(std::count(user.begin(), user.end(), '#'));
  if (hashes == 0 || uri.size() + 2 * hashes > buffer.size()) return false;
  char* p = buffer.data();
  for (size_t i = 0; i < uri.size(); ++i) {
    if (uri[i] == '#' && i > colon && i < at) {
      *p++ = '%';
      *p++ = '2';
      *p++ = '3';
    } else {
      *p++ = uri[i];
    }
  }
  return sip::parse_uri({buffer.data(), static_cast<size_t>(p - buffer.data())}, parsed) == sip::UriError::none;
}

}  // namespace

std::string_view feature_code_error_text(FeatureCodeError error) {
  switch (error) {
    case FeatureCodeError::unknown_extension: return "unknown extension after feature code";
    case FeatureCodeError::no_own_extension: return "feature code without extension from a non-extension";
    case FeatureCodeError::other_domain: return "feature code for another domain";
    case FeatureCodeError::bad_park_id: return "malformed park-id";
  }
  return "feature code error";
}

Result<FeatureMatch, FeatureCodeError> match_feature_user(std::string_view user, const tenancy::TenantView& tenant,
                                                          std::optional<tenancy::ExtensionView> own) {
  FeatureMatch match;
  // Rule 1: a configured number is a call, whatever codes it starts with.
  if (all_digits(user) && tenant.find_extension(user)) return match;
  // Rule 2: the longest code that prefixes the user part.
  std::string_view code;
  for (const auto& [kind, candidate] :
       {std::pair{FeatureKind::park, tenant.park_code()}, std::pair{FeatureKind::retrieve, tenant.retrieve_code()}}) {
    if (!candidate.empty() && user.starts_with(candidate) && candidate.size() > code.size()) {
      code = candidate;
      match.kind = kind;
    }
  }
  if (match.kind == FeatureKind::none) return match;
  // Rule 3: own extension, or a configured one; one trailing '#' ("dial now") is dropped.
  std::string_view rest = user.substr(code.size());
  if (rest.ends_with('#')) rest.remove_suffix(1);
  if (rest.empty()) {
    if (!own) return Unexpected{FeatureCodeError::no_own_extension};
    match.own_extension = true;
    match.target = own;
    return match;
  }
  if (!all_digits(rest)) return Unexpected{FeatureCodeError::unknown_extension};
  match.target = tenant.find_extension(rest);
  if (!match.target) return Unexpected{FeatureCodeError::unknown_extension};
  return match;
}

Result<FeatureMatch, FeatureCodeError> match_feature_uri(std::string_view uri, const tenancy::TenantView& tenant,
                                                         std::optional<tenancy::ExtensionView> own) {
  sip::UriView parsed;
  std::array<char, raw_hash_uri_length_max> rewritten;
  if (sip::parse_uri(uri, parsed) != sip::UriError::none && !parse_with_raw_hash(uri, rewritten, parsed))
    return FeatureMatch{};
  if (parsed.scheme != sip::UriScheme::sip && parsed.scheme != sip::UriScheme::sips) return FeatureMatch{};
  if (parsed.user.empty() || parsed.user.size() > 3 * user_length_max) return FeatureMatch{};
  std::array<char, user_length_max> user_buffer;
  const ptrdiff_t user_length = sip::percent_decode(parsed.user, user_buffer.data(), user_buffer.size());
  if (user_length <= 0) return FeatureMatch{};
  auto match = match_feature_user({user_buffer.data(), static_cast<size_t>(user_length)}, tenant, own);
  if (!match.ok() || match->kind == FeatureKind::none) return match;
  // The tenant's code, but is it addressed to the tenant? Checked after the code so that an ordinary URI of
  // another domain stays `none` for the caller to judge.
  if (!sip::iequals(parsed.host, tenant.domain())) return Unexpected{FeatureCodeError::other_domain};
  if (match->kind != FeatureKind::retrieve) return match;
  sip::ParamView param;
  if (!sip::find_param(parsed.params, "park-id", param)) return match;
  std::array<char, park_id_length> id_buffer;
  const ptrdiff_t id_length = sip::percent_decode(param.value, id_buffer.data(), id_buffer.size());
  if (id_length <= 0 || !ParkId::parse({id_buffer.data(), static_cast<size_t>(id_length)}, match->park_id))
    return Unexpected{FeatureCodeError::bad_park_id};
  match->has_park_id = true;
  return match;
}

//   name-addr    = [ display-name ] LAQUOT addr-spec RAQUOT
//   display-name = *(token LWS) / quoted-string
// In the addr-spec form the URI runs to the first ';'.
bool address_uri(std::string_view s, std::string_view& uri) {
  size_t begin = 0;
  size_t end = s.size();
  while (begin < end && sip::is_lws(s[begin])) ++begin;
  while (end > begin && sip::is_lws(s[end - 1])) --end;
  s = s.substr(begin, end - begin);
  if (s.empty()) return false;
  size_t pos = 0;
  if (s[0] == '"') {
    pos = 1;
    while (pos < s.size() && s[pos] != '"') pos += s[pos] == '\\' ? 2 : 1;
    if (pos >= s.size()) return false;
    ++pos;  // past the closing quote; the '<' must follow
    while (pos < s.size() && sip::is_lws(s[pos])) ++pos;
    if (pos == s.size() || s[pos] != '<') return false;
  } else {
    pos = s.find('<');
  }
  if (pos == std::string_view::npos) {
    uri = s.substr(0, s.find(';'));
  } else {
    const size_t close = s.find('>', pos + 1);
    if (close == std::string_view::npos) return false;
    uri = s.substr(pos + 1, close - pos - 1);
  }
  while (!uri.empty() && sip::is_lws(uri.front())) uri.remove_prefix(1);
  while (!uri.empty() && sip::is_lws(uri.back())) uri.remove_suffix(1);
  return !uri.empty();
}

Result<FeatureMatch, FeatureCodeError> match_feature_address(std::string_view refer_to,
                                                             const tenancy::TenantView& tenant,
                                                             std::optional<tenancy::ExtensionView> own) {
  std::string_view uri;
  if (!address_uri(refer_to, uri)) return FeatureMatch{};
  return match_feature_uri(uri, tenant, own);
}

}  // namespace parkd::park
