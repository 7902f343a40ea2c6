// SIP, SIPS, tel and other URIs: parsing into views, percent-decoding, and RFC 3261 section 19.1.4 comparison.
//
// Every scan is a loop over a 256-entry table of character classes (one bit per ABNF character set), so a
// URI is validated in one pass over its bytes, plus a memchr for '@' (the one place where the grammar needs
// to look ahead: a ';' or '?' belongs to the user part exactly when an '@' follows).
#include "sip/uri.h"

#include <emmintrin.h>

#include <array>
#include <cstring>

#include "sip/internal/scan.h"
#include "sip/internal/uri.h"
#include "sip/params.h"

namespace parkd::sip {
namespace {

// Character classes, one bit per ABNF set (RFC 3261 section 25, RFC 3966 section 3).
enum : uint32_t {
  kAlpha = 1U << 0,
  kDigit = 1U << 1,
  kAlnum = 1U << 2,
  kHex = 1U << 3,
  kUnreserved = 1U << 4,     // unreserved = alphanum / mark; mark = "-" / "_" / "." / "!" / "~" / "*" / "'" / "(" / ")"
  kUserExtra = 1U << 5,      // user-unreserved = "&" / "=" / "+" / "$" / "," / ";" / "?" / "/"
  kPasswordExtra = 1U << 6,  // password = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," )
  kParamExtra = 1U << 7,     // param-unreserved = "[" / "]" / "/" / ":" / "&" / "+" / "$"
  kHeaderExtra = 1U << 8,    // hnv-unreserved = "[" / "]" / "/" / "?" / ":" / "+" / "$"
  kHostChar = 1U << 9,       // hostname characters: alphanum / "-" / "."
  kSchemeChar = 1U << 10,    // ALPHA / DIGIT / "+" / "-" / "."
  kOpaque = 1U << 11,        // any byte but whitespace and controls
  kTelPname = 1U << 12,      // tel pname = 1*( alphanum / "-" )
  kPhoneDigit = 1U << 13,    // phonedigit = DIGIT / visual-separator
  kPhoneDigitHex = 1U << 14,  // phonedigit-hex = HEXDIG / "*" / "#" / visual-separator
  kVisualSeparator = 1U << 15,
  kUricNoSemi = 1U << 16,  // uric = reserved / unreserved (escaped apart), without ";" which ends a tel par
  kReserved = 1U << 17,    // RFC 2396 reserved: ";" / "/" / "?" / ":" / "@" / "&" / "=" / "+" / "$" / ","
  kNameOnly = 1U << 18,    // host characters that cannot occur in an IPv4address: ALPHA / "-"
};

constexpr uint32_t kUserMask = kUnreserved | kUserExtra;
constexpr uint32_t kPasswordMask = kUnreserved | kPasswordExtra;
constexpr uint32_t kParamMask = kUnreserved | kParamExtra;
constexpr uint32_t kHeaderMask = kUnreserved | kHeaderExtra;

constexpr std::array<uint32_t, 256> make_classes() {
  std::array<uint32_t, 256> t{};
  auto add = [&t](std::string_view chars, uint32_t bits) {
    for (char c : chars) t[static_cast<unsigned char>(c)] |= bits;
  };
  for (int c = 0; c < 256; ++c) {
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    const bool digit = c >= '0' && c <= '9';
    const bool hex = digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    auto& bits = t[static_cast<size_t>(c)];
    if (alpha) bits |= kAlpha | kNameOnly;
    if (digit) bits |= kDigit | kPhoneDigit;
    if (alpha || digit) bits |= kAlnum | kUnreserved | kHostChar | kSchemeChar | kTelPname | kUricNoSemi;
    if (hex) bits |= kHex | kPhoneDigitHex;
    if (c > 0x20 && c != 0x7f) bits |= kOpaque;
  }
  add("-_.!~*'()", kUnreserved | kUricNoSemi);
  add("&=+$,;?/", kUserExtra);
  add("&=+$,", kPasswordExtra);
  add("[]/:&+$", kParamExtra);
  add("[]/?:+$", kHeaderExtra);
  add("-.", kHostChar);
  add("-", kNameOnly);
  add("+-.", kSchemeChar);
  add("-", kTelPname);
  add("-.()", kPhoneDigit | kPhoneDigitHex | kVisualSeparator);
  add("*#", kPhoneDigitHex);
  add(";/?:@&=+$,", kReserved);
  add("/?:@&=+$,", kUricNoSemi);
  return t;
}
constexpr std::array<uint32_t, 256> kClasses = make_classes();

inline bool is(char c, uint32_t mask) { return (kClasses[static_cast<unsigned char>(c)] & mask) != 0; }

inline unsigned hex_value(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u <= '9' ? u - '0' : (u | 0x20U) - 'a' + 10;
}

// escaped = "%" HEXDIG HEXDIG
inline bool is_escape_at(std::string_view s, size_t i) {
  return s.size() - i >= 3 && s[i] == '%' && is(s[i + 1], kHex) && is(s[i + 2], kHex);
}

// *( <chars of mask> / escaped ), from s[i]: advances i past the run. False when a '%' does not start a valid
// escape (i is left on it).
bool skip_escaped(std::string_view s, size_t& i, uint32_t mask) {
  const size_t n = s.size();
  while (i < n) {
    if (is(s[i], mask)) {
      ++i;
    } else if (s[i] == '%') {
      if (!is_escape_at(s, i)) return false;
      i += 3;
    } else {
      break;
    }
  }
  return true;
}

// The run of characters of `mask` from s[i] (no escapes).
inline void skip_plain(std::string_view s, size_t& i, uint32_t mask) {
  while (i < s.size() && is(s[i], mask)) ++i;
}

// IPv4address = 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT       (RFC 3261, each group 0-255)
// dec-octet   = DIGIT / %x31-39 DIGIT / "1" 2DIGIT / "2" %x30-34 DIGIT / "25" %x30-35   (RFC 3986, in IPv6)
// RFC 3261 allows leading zeros in a host ("010.0.0.1"); RFC 3986 (and so an IPv6 tail) does not.
bool parse_ipv4(std::string_view s, bool leading_zeros_allowed, uint8_t* out) {
  size_t i = 0;
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (i >= s.size() || s[i] != '.') return false;
      ++i;
    }
    const size_t start = i;
    unsigned value = 0;
    while (i < s.size() && is(s[i], kDigit) && i - start < 3)
      value = value * 10 + (static_cast<unsigned>(s[i++]) - '0');
    if (i == start || value > 255 || (i < s.size() && is(s[i], kDigit))) return false;
    if (!leading_zeros_allowed && i - start > 1 && s[start] == '0') return false;
    out[part] = static_cast<uint8_t>(value);
  }
  return i == s.size();
}

// hostname    = *( domainlabel "." ) toplabel [ "." ]
// domainlabel = alphanum / alphanum *( alphanum / "-" ) alphanum
// toplabel    = ALPHA / ALPHA *( alphanum / "-" ) alphanum
// `h` holds only alphanum, "-" and "." (the caller scanned it with kHostChar), so a label is well-formed
// exactly when it is not empty and neither starts nor ends with "-": one pass that looks at each byte and the
// one before it (a virtual "." before the first byte) checks every label.
bool is_hostname(std::string_view h) {
  if (!h.empty() && h.back() == '.') h.remove_suffix(1);
  if (h.empty()) return false;
  char prev = '.';
  size_t top = 0;  // where the last label starts
  for (size_t i = 0; i < h.size(); ++i) {
    const char c = h[i];
    if (c == '.') {
      if (prev == '.' || prev == '-') return false;  // empty label, or one ending in "-"
      top = i + 1;
    } else if (c == '-' && prev == '.') {
      return false;  // a label starting with "-"
    }
    prev = c;
  }
  return is(prev, kAlnum) && is(h[top], kAlpha);  // prev is alnum, so top < h.size()
}

// The host of a hostport in one pass: where it ends (the first byte that is not alphanum, "-" or "."), whether
// it holds only digits and dots (then it can only be an IPv4address: such a string is never a hostname, its
// toplabel would not start with a letter), and whether it is a hostname by the rule of is_hostname() above,
// checked on the fly from each byte and the one before it.
struct HostScan {
  size_t end = 0;
  bool digits_and_dots_only = true;
  bool hostname = false;
};

enum HostCode : uint8_t { kNotHost, kHostDigit, kHostLetter, kHostHyphen, kHostDot };
constexpr std::array<uint8_t, 256> make_host_codes() {
  std::array<uint8_t, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[static_cast<size_t>(c)] = kHostDigit;
  for (int c = 'a'; c <= 'z'; ++c) t[static_cast<size_t>(c)] = kHostLetter;
  for (int c = 'A'; c <= 'Z'; ++c) t[static_cast<size_t>(c)] = kHostLetter;
  t['-'] = kHostHyphen;
  t['.'] = kHostDot;
  return t;
}
constexpr std::array<uint8_t, 256> kHostCodes = make_host_codes();
// Bit n of kBadAfter[prev] is set when a byte of code n may not follow a byte of code prev: a label may not be
// empty ("..", or a leading "."), start with "-" (".-") or end with "-" ("-.").
constexpr std::array<uint8_t, 5> kBadAfter = {0, 0, 0, 1U << kHostDot, (1U << kHostDot) | (1U << kHostHyphen)};

HostScan scan_host(std::string_view text, size_t i) {
  HostScan r;
  const size_t start = i;
  unsigned prev = kHostDot;  // as if a "." came before the first byte: the first label may not start with "-"
  unsigned bad = 0;
  unsigned seen = 0;      // bit n: a byte of code n occurred
  size_t top = start;     // where the last label starts
  size_t top_before = 0;  // where the label before it starts (the toplabel when the host ends with ".")
  for (; i < text.size(); ++i) {
    const unsigned code = kHostCodes[static_cast<unsigned char>(text[i])];
    if (code == kNotHost) break;
    bad |= kBadAfter[prev] >> code;
    seen |= 1U << code;
    if (code == kHostDot) {
      top_before = top;
      top = i + 1;
    }
    prev = code;
  }
  r.end = i;
  r.digits_and_dots_only = (seen & ((1U << kHostLetter) | (1U << kHostHyphen))) == 0;
  if (i == start || (bad & 1U) != 0 || prev == kHostHyphen) return r;
  // hostname = *( domainlabel "." ) toplabel [ "." ]: a final "." ends the toplabel rather than a label.
  const size_t toplabel = prev == kHostDot ? top_before : top;
  r.hostname = toplabel < i && kHostCodes[static_cast<unsigned char>(text[toplabel])] == kHostLetter;
  return r;
}

// telephone-subscriber numbers (RFC 3966):
//   global-number-digits = "+" *phonedigit DIGIT *phonedigit
//   local-number-digits  = *phonedigit-hex ( HEXDIG / "*" / "#" ) *phonedigit-hex
bool is_global_number(std::string_view s) {
  if (s.empty() || s[0] != '+') return false;
  bool digit = false;
  for (size_t i = 1; i < s.size(); ++i) {
    if (!is(s[i], kPhoneDigit)) return false;
    digit = digit || is(s[i], kDigit);
  }
  return digit;
}

bool is_local_number(std::string_view s) {
  bool digit = false;
  for (char c : s) {
    if (!is(c, kPhoneDigitHex)) return false;
    digit = digit || !is(c, kVisualSeparator);
  }
  return digit;
}

// Walks "a=b;c" (URI parameters) or "a=b&c=d" (URI headers): name up to '=' or the separator.
struct Pair {
  std::string_view name;
  std::string_view value;
  bool has_value = false;
};

class PairCursor {
 public:
  PairCursor(std::string_view list, char separator) : rest_(list), separator_(separator), done_(list.empty()) {}
  bool next(Pair& out) {
    if (done_) return false;
    const size_t end = rest_.find(separator_);
    std::string_view item = rest_.substr(0, end);
    if (end == std::string_view::npos) {
      done_ = true;
    } else {
      rest_.remove_prefix(end + 1);
    }
    const size_t eq = item.find('=');
    out.name = item.substr(0, eq);
    out.has_value = eq != std::string_view::npos;
    out.value = out.has_value ? item.substr(eq + 1) : std::string_view{};
    return true;
  }

 private:
  std::string_view rest_;
  char separator_;
  bool done_;
};

// One character of a component for comparison: the byte after unescaping, plus a mark when it is a reserved
// character that was escaped (RFC 3261 section 19.1.4: only non-reserved characters equal their escapes).
class UnescapingReader {
 public:
  explicit UnescapingReader(std::string_view s) : s_(s) {}
  bool next(unsigned& unit) {
    if (i_ >= s_.size()) return false;
    if (is_escape_at(s_, i_)) {
      const auto byte = static_cast<char>(hex_value(s_[i_ + 1]) * 16 + hex_value(s_[i_ + 2]));
      i_ += 3;
      unit = static_cast<unsigned char>(byte) | (is(byte, kReserved) ? 0x100U : 0U);
    } else {
      unit = static_cast<unsigned char>(s_[i_++]);
    }
    return true;
  }

 private:
  std::string_view s_;
  size_t i_ = 0;
};

inline unsigned fold_case(unsigned unit) { return unit >= 'A' && unit <= 'Z' ? unit | 0x20U : unit; }

bool unescaped_equal(std::string_view a, std::string_view b, bool case_insensitive) {
  if (case_insensitive ? iequals(a, b) : a == b) return true;
  UnescapingReader ra(a);
  UnescapingReader rb(b);
  unsigned ua = 0;
  unsigned ub = 0;
  for (;;) {
    const bool more_a = ra.next(ua);
    const bool more_b = rb.next(ub);
    if (more_a != more_b) return false;
    if (!more_a) return true;
    if (case_insensitive) {
      ua = fold_case(ua);
      ub = fold_case(ub);
    }
    if (ua != ub) return false;
  }
}

inline bool name_equal(std::string_view a, std::string_view b) { return unescaped_equal(a, b, true); }

// The first parameter of `list` whose name equals `name`.
bool find_pair(std::string_view list, char separator, std::string_view name, Pair& out) {
  PairCursor cursor(list, separator);
  while (cursor.next(out))
    if (name_equal(out.name, name)) return true;
  return false;
}

// True when `index` is the first parameter of `list` called `name` (later ones are not compared).
bool is_first_of_name(std::string_view list, char separator, size_t index, std::string_view name) {
  PairCursor cursor(list, separator);
  Pair p;
  for (size_t i = 0; i < index && cursor.next(p); ++i)
    if (name_equal(p.name, name)) return false;
  return true;
}

// RFC 3261 section 19.1.4 (with RFC 3261's own examples, which add transport):
//   - Any uri-parameter appearing in both URIs must match.
//   - A user, ttl, method (or transport) uri-parameter appearing in only one URI never matches.
//   - A URI that includes an maddr parameter will not match a URI that contains no maddr parameter.
//   - All other uri-parameters appearing in only one URI are ignored when comparing the URIs.
bool is_sticky_param(std::string_view name) {
  for (std::string_view sticky : {"user", "ttl", "method", "maddr", "transport"})
    if (name_equal(name, sticky)) return true;
  return false;
}

// Parameters of `a` checked against `b`; called both ways round.
bool sip_params_match(std::string_view a, std::string_view b) {
  PairCursor cursor(a, ';');
  Pair p;
  Pair q;
  for (size_t index = 0; cursor.next(p); ++index) {
    if (!is_first_of_name(a, ';', index, p.name)) continue;
    if (find_pair(b, ';', p.name, q)) {
      if (p.has_value != q.has_value || !unescaped_equal(p.value, q.value, true)) return false;
    } else if (is_sticky_param(p.name)) {
      return false;
    }
  }
  return true;
}

size_t pair_count(std::string_view list, char separator) {
  if (list.empty()) return 0;
  size_t count = 1;
  for (char c : list) count += c == separator ? 1 : 0;
  return count;
}

// "Header components are never ignored. Any present header component MUST be present in both URIs and match
// for the URIs to match." Names compare case-insensitively, values exactly after unescaping: the headers
// parkd reads from URIs (Replaces) carry Call-IDs and tags, which are case-sensitive.
bool headers_contained(std::string_view a, std::string_view b) {
  PairCursor ca(a, '&');
  Pair p;
  while (ca.next(p)) {
    PairCursor cb(b, '&');
    Pair q;
    bool found = false;
    while (!found && cb.next(q))
      found = name_equal(p.name, q.name) && p.has_value == q.has_value && unescaped_equal(p.value, q.value, false);
    if (!found) return false;
  }
  return true;
}

bool hosts_equal(const UriView& a, const UriView& b) {
  if (a.host_kind != b.host_kind) return false;  // an address never equals a name that resolves to it
  if (a.host_kind == HostKind::ipv4) {
    uint8_t x[4];
    uint8_t y[4];
    if (parse_ipv4(a.host, true, x) && parse_ipv4(b.host, true, y)) return std::memcmp(x, y, 4) == 0;
  } else if (a.host_kind == HostKind::ipv6) {
    uint8_t x[16];
    uint8_t y[16];
    if (parse_ipv6_address(a.host, x) && parse_ipv6_address(b.host, y)) return std::memcmp(x, y, 16) == 0;
  }
  return iequals(a.host, b.host);
}

bool sip_equal(const UriView& a, const UriView& b) {
  // "For two URIs to be equal, the user, password, host, and port components must match."
  if (a.user.empty() != b.user.empty() || !unescaped_equal(a.user, b.user, false)) return false;
  if (a.has_password != b.has_password || !unescaped_equal(a.password, b.password, false)) return false;
  if (!hosts_equal(a, b)) return false;
  if (a.has_port != b.has_port || a.port != b.port) return false;
  if (!sip_params_match(a.params, b.params) || !sip_params_match(b.params, a.params)) return false;
  return pair_count(a.headers, '&') == pair_count(b.headers, '&') && headers_contained(a.headers, b.headers) &&
         headers_contained(b.headers, a.headers);
}

// RFC 3966 section 4: numbers equal after removing visual separators; "Parameters are compared according to
// 'pname', regardless of the order they appeared in the URI. If one URI has a parameter name not found in
// the other, the two URIs are not equal. URI comparisons are case-insensitive."
bool phone_digits_equal(std::string_view a, std::string_view b) {
  size_t i = 0;
  size_t j = 0;
  for (;;) {
    while (i < a.size() && is(a[i], kVisualSeparator)) ++i;
    while (j < b.size() && is(b[j], kVisualSeparator)) ++j;
    if (i == a.size() || j == b.size()) return i == a.size() && j == b.size();
    if (fold_case(static_cast<unsigned char>(a[i])) != fold_case(static_cast<unsigned char>(b[j]))) return false;
    ++i;
    ++j;
  }
}

bool tel_params_contained(std::string_view a, std::string_view b) {
  PairCursor cursor(a, ';');
  Pair p;
  Pair q;
  for (size_t index = 0; cursor.next(p); ++index) {
    if (!is_first_of_name(a, ';', index, p.name)) continue;
    if (!find_pair(b, ';', p.name, q) || p.has_value != q.has_value) return false;
    const bool digits = iequals(p.name, "ext") || (iequals(p.name, "phone-context") && p.value.starts_with('+'));
    if (digits ? !phone_digits_equal(p.value, q.value) : !unescaped_equal(p.value, q.value, true)) return false;
  }
  return true;
}

bool tel_equal(const UriView& a, const UriView& b) {
  return phone_digits_equal(a.user, b.user) && tel_params_contained(a.params, b.params) &&
         tel_params_contained(b.params, a.params);
}

// hostport = host [ ":" port ]
// host = hostname / IPv4address / IPv6reference       IPv6reference = "[" IPv6address "]"
// port = 1*DIGIT                                     (1 to 5 digits, at most 65535)
UriError parse_hostport(std::string_view text, size_t& i, UriView& out) {
  const size_t n = text.size();
  if (i < n && text[i] == '[') {
    const size_t start = ++i;
    while (i < n && (is(text[i], kHex) || text[i] == ':' || text[i] == '.')) ++i;
    if (i >= n || text[i] != ']') return UriError::bad_host;
    out.host = text.substr(start, i - start);
    uint8_t bytes[16];
    if (!parse_ipv6_address(out.host, bytes)) return UriError::bad_host;
    out.host_kind = HostKind::ipv6;
    ++i;
  } else {
    const size_t start = i;
    const HostScan host = scan_host(text, i);
    i = host.end;
    out.host = text.substr(start, i - start);
    uint8_t bytes[4];
    if (host.digits_and_dots_only) {
      if (!parse_ipv4(out.host, true, bytes)) return UriError::bad_host;
      out.host_kind = HostKind::ipv4;
    } else {
      if (!host.hostname) return UriError::bad_host;
      out.host_kind = HostKind::name;
    }
  }
  if (i < n && text[i] == ':') {
    const size_t start = ++i;
    uint32_t port = 0;
    while (i < n && is(text[i], kDigit) && i - start < 5) port = port * 10 + (static_cast<uint32_t>(text[i++]) - '0');
    if (i == start || port > 65535 || (i < n && is(text[i], kDigit))) return UriError::bad_port;
    out.port = static_cast<uint16_t>(port);
    out.has_port = true;
  }
  return UriError::none;
}

// SIP-URI  = "sip:" [ userinfo ] hostport uri-parameters [ headers ]
// SIPS-URI = "sips:" [ userinfo ] hostport uri-parameters [ headers ]
// userinfo = ( user / telephone-subscriber ) [ ":" password ] "@"
// user     = 1*( unreserved / escaped / user-unreserved )
// password = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," )
// uri-parameters = *( ";" uri-parameter )     uri-parameter = pname [ "=" pvalue ] (and the named forms)
// pname = 1*paramchar     pvalue = 1*paramchar     paramchar = param-unreserved / unreserved / escaped
// headers = "?" header *( "&" header )       header = hname "=" hvalue
// hname = 1*( hnv-unreserved / unreserved / escaped )     hvalue = *( hnv-unreserved / unreserved / escaped )
//
// '@' is in none of the sets after userinfo, nor in user or password: so when the URI holds an '@', userinfo
// ends at the first one, and ';' '?' '/' before it belong to the user ("sip:alice;day=tuesday@atlanta.com").
// telephone-subscriber uses no character outside user's set (its '#' must be escaped in a SIP URI).
UriError parse_sip(std::string_view text, size_t i, UriView& out) {
  const size_t n = text.size();
  const void* at = i < n ? std::memchr(text.data() + i, '@', n - i) : nullptr;
  if (at != nullptr) {
    const auto at_index = static_cast<size_t>(static_cast<const char*>(at) - text.data());
    const size_t start = i;
    if (!skip_escaped(text, i, kUserMask) || i == start) return UriError::bad_user;
    out.user = text.substr(start, i - start);
    if (text[i] == ':') {  // i <= at_index < n
      const size_t password = ++i;
      if (!skip_escaped(text, i, kPasswordMask) || i != at_index) return UriError::bad_password;
      out.password = text.substr(password, i - password);
      out.has_password = true;
    } else if (i != at_index) {
      return UriError::bad_user;
    }
    i = at_index + 1;
  }
  if (UriError e = parse_hostport(text, i, out); e != UriError::none) return e;
  UriError trailing = out.has_port ? UriError::bad_port : UriError::bad_host;

  if (i < n && text[i] == ';') {
    const size_t start = i + 1;
    do {
      const size_t name = ++i;
      if (!skip_escaped(text, i, kParamMask) || i == name) return UriError::bad_params;
      if (i < n && text[i] == '=') {
        const size_t value = ++i;
        if (!skip_escaped(text, i, kParamMask) || i == value) return UriError::bad_params;
      }
    } while (i < n && text[i] == ';');
    out.params = text.substr(start, i - start);
    trailing = UriError::bad_params;
  }

  if (i < n && text[i] == '?') {
    const size_t start = i + 1;
    do {
      const size_t name = ++i;
      if (!skip_escaped(text, i, kHeaderMask) || i == name || i >= n || text[i] != '=') return UriError::bad_headers;
      ++i;
      if (!skip_escaped(text, i, kHeaderMask)) return UriError::bad_headers;
    } while (i < n && text[i] == '&');
    out.headers = text.substr(start, i - start);
    trailing = UriError::bad_headers;
  }
  return i == n ? UriError::none : trailing;
}

// telephone-uri        = "tel:" telephone-subscriber                         (RFC 3966 section 3)
// telephone-subscriber = global-number / local-number
// global-number        = global-number-digits *par
// local-number         = local-number-digits *par context *par
// par                  = parameter / extension / isdn-subaddress
// isdn-subaddress      = ";isub=" 1*uric          extension = ";ext=" 1*phonedigit
// context              = ";phone-context=" descriptor      descriptor = domainname / global-number-digits
// parameter            = ";" pname ["=" pvalue ]  pname = 1*( alphanum / "-" )   pvalue = 1*paramchar
// An isub value ends at the next ';' (uric includes ';'; a par can follow the subaddress).
UriError parse_tel(std::string_view text, size_t i, UriView& out) {
  const size_t n = text.size();
  const size_t start = i;
  if (i < n && text[i] == '+') ++i;
  skip_plain(text, i, kPhoneDigitHex);
  out.user = text.substr(start, i - start);
  const bool global = out.user.starts_with('+');
  if (global ? !is_global_number(out.user) : !is_local_number(out.user)) return UriError::bad_tel_number;
  if (i < n && text[i] != ';') return UriError::bad_tel_number;

  bool has_context = false;
  if (i < n) {
    const size_t params = i + 1;
    do {
      const size_t name_start = ++i;
      skip_plain(text, i, kTelPname);
      const std::string_view name = text.substr(name_start, i - name_start);
      if (name.empty()) return UriError::bad_params;
      if (i >= n || text[i] != '=') {
        if (iequals(name, "isub") || iequals(name, "ext") || iequals(name, "phone-context"))
          return UriError::bad_params;
        continue;
      }
      const size_t value_start = ++i;
      bool ok = true;
      if (iequals(name, "isub")) {
        ok = skip_escaped(text, i, kUricNoSemi);
      } else if (iequals(name, "ext")) {
        skip_plain(text, i, kPhoneDigit);
      } else if (iequals(name, "phone-context")) {
        has_context = true;
        if (value_start < n && text[value_start] == '+') {
          ++i;
          skip_plain(text, i, kPhoneDigit);
          ok = is_global_number(text.substr(value_start, i - value_start));
        } else {
          skip_plain(text, i, kHostChar);
          ok = is_hostname(text.substr(value_start, i - value_start));
        }
      } else {
        ok = skip_escaped(text, i, kParamMask);
      }
      if (!ok || i == value_start) return UriError::bad_params;
    } while (i < n && text[i] == ';');
    out.params = text.substr(params, i - params);
    if (i != n) return UriError::bad_params;
  }
  // "local-number = local-number-digits *par context *par": a local number needs its phone-context.
  if (!global && !has_context) return UriError::bad_tel_number;
  return UriError::none;
}

// ---------------------------------------------------------------------------------------------------------
// The fast path: sip and sips URIs of the shape nearly every message carries, in one pass.
//
//   ( "sip:" / "sips:" ) [ user [ ":" password ] "@" ] host [ ":" port ] *( ";" pname [ "=" pvalue ] )
//   user = 1*( unreserved / user-unreserved )     password = *( unreserved / "&" / "=" / "+" / "$" / "," )
//   host = hostname (without a final ".") / IPv4address
//   pname = 1*paramchar     pvalue = 1*paramchar     paramchar = param-unreserved / unreserved
// This is the grammar of parse_sip() minus escapes, IPv6 references, a trailing dot and URI headers. When the
// input has exactly this shape the reference parser builds the same UriView (the differential test checks
// it); on anything else, valid or not, the fast path gives up without deciding and the reference parser runs
// from the start, so errors and rare forms are the reference's alone.

// The hostname rule of is_hostname() as a DFA over bytes: each state is a row of 256 next states, stored as
// the row's offset so that a step is one load (next = table[state + byte]). The states record what the label
// started with (a toplabel must start with a letter) and whether the last byte was "-" (a label may not end
// with one); kHostEnd is any byte that cannot be in a host, kHostBad a byte that breaks a label (".." ".-"
// "-." or a leading "." or "-").
enum : uint16_t {
  kLabelStart = 0 * 256,   // before the first byte, or after "."
  kDigitLabel = 1 * 256,   // label started with a digit, last byte alphanumeric
  kDigitHyphen = 2 * 256,  // label started with a digit, last byte "-"
  kAlphaLabel = 3 * 256,   // label started with a letter, last byte alphanumeric
  kAlphaHyphen = 4 * 256,  // label started with a letter, last byte "-"
  kHostEnd = 5 * 256,      // + the row of the state it ended in
  kHostBad = 6 * 256,
};
constexpr std::array<uint16_t, 5 * 256> make_host_dfa() {
  std::array<uint16_t, 5 * 256> t{};
  for (unsigned row = 0; row < 5; ++row) {
    const unsigned state = row * 256;
    const bool alpha_label = state == kAlphaLabel || state == kAlphaHyphen;
    const bool after_hyphen = state == kDigitHyphen || state == kAlphaHyphen;
    for (unsigned c = 0; c < 256; ++c) {
      const bool digit = c >= '0' && c <= '9';
      const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
      auto next = static_cast<uint16_t>(kHostEnd + row);
      if (state == kLabelStart) {
        if (digit) next = kDigitLabel;
        if (letter) next = kAlphaLabel;
        if (c == '-' || c == '.') next = kHostBad;
      } else {
        if (digit || letter) next = alpha_label ? kAlphaLabel : kDigitLabel;
        if (c == '-') next = alpha_label ? kAlphaHyphen : kDigitHyphen;
        if (c == '.') next = after_hyphen ? kHostBad : kLabelStart;
      }
      t[state + c] = next;
    }
  }
  return t;
}
constexpr std::array<uint16_t, 5 * 256> kHostDfa = make_host_dfa();

// "sip:" or "sips:" (any case): the length of the scheme and its colon, or 0.
inline size_t sip_scheme_length(const char* p, size_t n, UriScheme& scheme) {
  constexpr uint32_t sip_colon = 's' | 'i' << 8 | 'p' << 16 | static_cast<uint32_t>(':') << 24;
  constexpr uint32_t sips = 's' | 'i' << 8 | 'p' << 16 | static_cast<uint32_t>('s') << 24;
  if (n < 5) return 0;
  uint32_t w;
  std::memcpy(&w, p, 4);
  if ((w | 0x00202020U) == sip_colon) {  // letters fold to lower case; ':' must match exactly
    scheme = UriScheme::sip;
    return 4;
  }
  if ((w | 0x20202020U) == sips && p[4] == ':') {
    scheme = UriScheme::sips;
    return 5;
  }
  return 0;
}

// The host at p, for hosts that end within 16 bytes, from one vector load: per byte a digit / letter / dot /
// hyphen bit, then the label rules of is_hostname() as bit operations on those masks. Returns false (the
// caller then runs the DFA below, which decides every case) when [text, end) is shorter than 16 bytes, the host
// may go on past the 16 bytes, or it is anything but a hostname without a final dot or a digits-and-dots host
// (which parse_ipv4() then checks). The load lies inside [lo, end): at p, or ending exactly at `end`.
inline bool scan_host16(const char* lo, const char* p, const char* end, size_t& length, HostKind& kind) {
  if (end - lo < 16) return false;
  const char* const window = end - p >= 16 ? p : end - 16;
  const auto shift = static_cast<unsigned>(p - window);
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(window));
  const __m128i digit_offset = _mm_sub_epi8(v, _mm_set1_epi8('0'));
  const __m128i letter_offset = _mm_sub_epi8(_mm_or_si128(v, _mm_set1_epi8(0x20)), _mm_set1_epi8('a'));
  auto bits = [shift](__m128i m) { return static_cast<unsigned>(_mm_movemask_epi8(m)) >> shift; };
  const unsigned digits = bits(_mm_cmpeq_epi8(_mm_min_epu8(digit_offset, _mm_set1_epi8(9)), digit_offset));
  const unsigned letters = bits(_mm_cmpeq_epi8(_mm_min_epu8(letter_offset, _mm_set1_epi8(25)), letter_offset));
  const unsigned dots = bits(_mm_cmpeq_epi8(v, _mm_set1_epi8('.')));
  const unsigned hyphens = bits(_mm_cmpeq_epi8(v, _mm_set1_epi8('-')));
  const unsigned available = 16 - shift;
  const auto n = static_cast<unsigned>(__builtin_ctz(~(digits | letters | dots | hyphens)));  // <= available
  if (n == 0 || (n == available && p + n < end)) return false;
  const unsigned last = 1U << (n - 1);
  const unsigned all = (last << 1) - 1;
  const unsigned dot = dots & all;
  const unsigned hyphen = hyphens & all;
  const unsigned label_starts = ((dot << 1) | 1U) & all;
  // A label may not be empty, start with "-" or end with "-"; a final "." (valid) is left to the reference.
  if ((label_starts & (dot | hyphen)) != 0 || ((hyphen << 1) & dot) != 0 || ((hyphen | dot) & last) != 0) return false;
  const unsigned toplabel = dot == 0 ? 1U : 1U << (32 - __builtin_clz(dot));
  length = n;
  if ((letters & toplabel) != 0) {
    kind = HostKind::name;
    return true;
  }
  // The toplabel starts with a digit: an IPv4address when the host holds digits and dots only (four groups of
  // one to three digits, each at most 255, leading zeros allowed as parse_ipv4(s, true, ...) has them);
  // otherwise not a hostname, which the reference reports.
  if (((letters | hyphens) & all) != 0) return false;
  // Exactly three dots (labels are not empty: checked above); each group at most 3 digits, and a 3-digit group
  // at most "255", compared as a 3-byte big-endian number.
  const unsigned dot2 = dot & (dot - 1);
  const unsigned dot3 = dot2 & (dot2 - 1);
  if (dot3 == 0 || (dot3 & (dot3 - 1)) != 0) return false;
  const unsigned ends[4] = {static_cast<unsigned>(__builtin_ctz(dot)), static_cast<unsigned>(__builtin_ctz(dot2)),
                            static_cast<unsigned>(__builtin_ctz(dot3)), n};
  unsigned start = 0;
  for (const unsigned group_end : ends) {
    const unsigned digit_count = group_end - start;
    if (digit_count > 3) return false;
    if (digit_count == 3) {
      const auto* const g = reinterpret_cast<const unsigned char*>(p + start);
      if ((static_cast<unsigned>(g[0]) << 16 | static_cast<unsigned>(g[1]) << 8 | g[2]) > ('2' << 16 | '5' << 8 | '5'))
        return false;
    }
    start = group_end + 1;
  }
  kind = HostKind::ipv4;
  return true;
}

// Stands in for a UriView when only validity is wanted (internal::uri_is_valid()): every field assignment of the
// fast path compiles to nothing.
struct DiscardedUri {
  struct Field {
    template <typename T>
    Field& operator=(const T& /*value*/) {
      return *this;
    }
  };
  Field scheme, scheme_text, user, password, has_password, host, host_kind, port, has_port, params, headers, opaque,
      raw;
};

// True when it parsed `text` into `out`; false when the reference parser must decide. `Out` is UriView, or
// DiscardedUri to validate without storing.
template <typename Out>
bool parse_sip_fast(std::string_view text, Out& out) {
  const char* const b = text.data();
  const size_t n = text.size();
  UriScheme scheme = UriScheme::other;
  size_t i = sip_scheme_length(b, n, scheme);
  if (i == 0) return false;
  out.scheme = scheme;
  out.scheme_text = std::string_view(b, i - 1);
  out.user = {};
  out.password = {};
  out.has_password = false;
  out.port = 0;
  out.has_port = false;
  out.params = {};
  out.headers = {};
  out.opaque = {};
  out.raw = text;

  // userinfo ends at the first '@' when there is one (see parse_sip()).
  const char* const at = internal::find_byte(b, b + i, b + n, '@');
  if (at != b + n) {
    const auto at_index = static_cast<size_t>(at - b);
    const size_t start = i;
    while (i < at_index && is(b[i], kUserMask)) ++i;
    if (i == start) return false;
    out.user = std::string_view(b + start, i - start);
    if (i != at_index) {
      if (b[i] != ':') return false;
      const size_t password = ++i;
      while (i < at_index && is(b[i], kPasswordMask)) ++i;
      if (i != at_index) return false;
      out.password = std::string_view(b + password, i - password);
      out.has_password = true;
    }
    i = at_index + 1;
  }

  // host: one vector step when it ends within 16 bytes, else one DFA step per byte (a load, an add and a table
  // load; a non-host byte leads to kHostEnd plus the row of the last state, so the loop keeps one variable).
  const size_t host_start = i;
  size_t host_length = 0;
  HostKind kind = HostKind::none;
  if (scan_host16(b, b + i, b + n, host_length, kind)) {
    i += host_length;
  } else {
    const auto* const ub = reinterpret_cast<const unsigned char*>(b);
    size_t state = kLabelStart;
    while (i < n) {
      state = kHostDfa[state + ub[i]];
      if (state >= kHostEnd) break;
      ++i;
    }
    if (state >= kHostEnd) {
      if (state == kHostBad) return false;
      state = (state - kHostEnd) * 256;
    }
    if (state == kAlphaLabel) {
      kind = HostKind::name;
    } else if (state == kDigitLabel) {
      // A toplabel starting with a digit: an IPv4address when the host is digits and dots only, otherwise not a
      // hostname, which the reference reports.
      uint8_t bytes[4];
      if (!parse_ipv4(std::string_view(b + host_start, i - host_start), true, bytes)) return false;
      kind = HostKind::ipv4;
    } else {
      return false;  // empty, ending in "-" or "." (a trailing dot is valid: the reference handles it)
    }
  }
  out.host = std::string_view(b + host_start, i - host_start);
  out.host_kind = kind;

  // port = 1*DIGIT, 1 to 5 digits, at most 65535
  if (i < n && b[i] == ':') {
    const size_t start = ++i;
    uint32_t port = 0;
    while (i < n && is(b[i], kDigit) && i - start < 5) port = port * 10 + (static_cast<uint32_t>(b[i++]) - '0');
    if (i == start || port > 65535 || (i < n && is(b[i], kDigit))) return false;
    out.port = static_cast<uint16_t>(port);
    out.has_port = true;
  }

  if (i < n && b[i] == ';') {
    const size_t start = i + 1;
    do {
      const size_t name = ++i;
      while (i < n && is(b[i], kParamMask)) ++i;
      if (i == name) return false;
      if (i < n && b[i] == '=') {
        const size_t value = ++i;
        while (i < n && is(b[i], kParamMask)) ++i;
        if (i == value) return false;
      }
    } while (i < n && b[i] == ';');
    out.params = std::string_view(b + start, i - start);
  }
  return i == n;  // '%', '?' or any other byte left: the reference decides
}

}  // namespace

UriError parse_uri(std::string_view text, UriView& out) {
  if (parse_sip_fast(text, out)) return UriError::none;
  return internal::parse_uri_reference(text, out);
}

bool internal::uri_is_valid(std::string_view text) {
  DiscardedUri discarded;
  if (parse_sip_fast(text, discarded)) return true;
  UriView uri;
  return parse_uri_reference(text, uri) == UriError::none;
}

std::string_view uri_error_text(UriError e) {
  switch (e) {
    case UriError::none: return "OK";
    case UriError::empty: return "Empty URI";
    case UriError::bad_scheme: return "Malformed URI scheme";
    case UriError::bad_user: return "Malformed URI user part";
    case UriError::bad_password: return "Malformed URI password";
    case UriError::bad_host: return "Malformed URI host";
    case UriError::bad_port: return "Malformed URI port";
    case UriError::bad_params: return "Malformed URI parameters";
    case UriError::bad_headers: return "Malformed URI headers";
    case UriError::bad_tel_number: return "Malformed telephone number";
    case UriError::bad_opaque: return "Malformed URI";
  }
  return "Malformed URI";
}

// SIP-URI / SIPS-URI / telephone-uri / absoluteURI, told apart by the scheme:
//   scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
// Other schemes keep their part after ':' as opaque (any bytes but whitespace and controls, at least one).
UriError internal::parse_uri_reference(std::string_view text, UriView& out) {
  out = UriView{};
  out.raw = text;
  if (text.empty()) return UriError::empty;
  size_t i = 0;
  if (!is(text[0], kAlpha)) return UriError::bad_scheme;
  skip_plain(text, i, kSchemeChar);
  if (i >= text.size() || text[i] != ':') return UriError::bad_scheme;
  out.scheme_text = text.substr(0, i);
  ++i;
  if (iequals(out.scheme_text, "sip")) {
    out.scheme = UriScheme::sip;
  } else if (iequals(out.scheme_text, "sips")) {
    out.scheme = UriScheme::sips;
  } else if (iequals(out.scheme_text, "tel")) {
    out.scheme = UriScheme::tel;
    return parse_tel(text, i, out);
  } else {
    out.scheme = UriScheme::other;
    out.opaque = text.substr(i);
    size_t j = i;
    skip_plain(text, j, kOpaque);
    return out.opaque.empty() || j != text.size() ? UriError::bad_opaque : UriError::none;
  }
  return parse_sip(text, i, out);
}

// IPv6address (RFC 3986 section 3.2.2, adopted by RFC 5954):
//   6( h16 ":" ) ls32 / "::" 5( h16 ":" ) ls32 / [ h16 ] "::" 4( h16 ":" ) ls32 / ... / [ *6( h16 ":" ) h16 ] "::"
//   h16 = 1*4HEXDIG     ls32 = ( h16 ":" h16 ) / IPv4address
// Equivalently: at most 8 groups of 16 bits, exactly 8 unless one "::" stands for one or more zero groups, an
// IPv4address only as the last 32 bits. Written as inet_pton does it, in one pass.
bool parse_ipv6_address(std::string_view s, uint8_t (&out)[16]) {
  uint8_t bytes[16] = {};
  const size_t n = s.size();
  size_t i = 0;
  if (n < 2) return false;
  if (s[0] == ':' && s[1] != ':') return false;
  if (s[0] == ':') i = 1;  // the second ':' of a leading "::" marks the gap below
  size_t used = 0;
  int gap = -1;
  size_t group_start = i;
  unsigned value = 0;
  int digits = 0;
  while (i < n) {
    const char c = s[i++];
    if (is(c, kHex)) {
      if (digits == 4) return false;
      value = value << 4 | hex_value(c);
      ++digits;
      continue;
    }
    if (c == ':') {
      group_start = i;
      if (digits == 0) {
        if (gap >= 0) return false;
        gap = static_cast<int>(used);
        continue;
      }
      if (i == n || used + 2 > 16) return false;
      bytes[used++] = static_cast<uint8_t>(value >> 8);
      bytes[used++] = static_cast<uint8_t>(value);
      value = 0;
      digits = 0;
      continue;
    }
    if (c == '.' && used + 4 <= 16) {
      if (!parse_ipv4(s.substr(group_start), false, bytes + used)) return false;
      used += 4;
      digits = 0;
      break;
    }
    return false;
  }
  if (digits > 0) {
    if (used + 2 > 16) return false;
    bytes[used++] = static_cast<uint8_t>(value >> 8);
    bytes[used++] = static_cast<uint8_t>(value);
  }
  if (gap >= 0) {
    if (used == 16) return false;  // "::" stands for at least one group
    const size_t tail = used - static_cast<size_t>(gap);
    std::memmove(bytes + 16 - tail, bytes + gap, tail);
    std::memset(bytes + gap, 0, 16 - tail - static_cast<size_t>(gap));
    used = 16;
  }
  if (used != 16) return false;
  std::memcpy(out, bytes, 16);
  return true;
}

ptrdiff_t percent_decode(std::string_view in, char* out, size_t out_size) {
  size_t written = 0;
  for (size_t i = 0; i < in.size();) {
    if (written == out_size) return -1;
    if (in[i] == '%') {
      if (!is_escape_at(in, i)) return -1;
      out[written++] = static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2]));
      i += 3;
    } else {
      out[written++] = in[i++];
    }
  }
  return static_cast<ptrdiff_t>(written);
}

bool find_uri_header(std::string_view headers, std::string_view name, std::string_view& value) {
  if (headers.starts_with('?')) headers.remove_prefix(1);
  if (headers.empty()) return false;
  Pair p;
  if (!find_pair(headers, '&', name, p)) return false;
  value = p.value;
  return true;
}

bool uri_equal(const UriView& a, const UriView& b) {
  if (a.scheme != b.scheme) return false;  // "SIP and SIPS URIs are never equivalent."
  switch (a.scheme) {
    case UriScheme::sip:
    case UriScheme::sips: return sip_equal(a, b);
    case UriScheme::tel: return tel_equal(a, b);
    case UriScheme::other: return iequals(a.scheme_text, b.scheme_text) && a.opaque == b.opaque;
  }
  return false;
}

}  // namespace parkd::sip
