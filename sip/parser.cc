// The SIP message parser (sip/parser.h). One pass over the header block: each line is found with the SIMD
// stop-byte scanner, its name looked up in the generated table, and the indexed headers are parsed into the
// MessageView as they are met. Every function takes [p, end) bounds and checks them before each read.
#include "sip/parser.h"

#include <cstring>
#include <type_traits>

#include "sip/internal/header_id.h"
#include "sip/internal/scan.h"
#include "sip/internal/uri.h"
#include "sip/params.h"
#include "sip/uri.h"

namespace parkd::sip {
namespace {

// ---------------------------------------------------------------------------------------------------------
// Character classes (RFC 3261 section 25.1).

enum CharClass : uint8_t {
  k_token = 1,  // token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
  k_word = 2,   // word = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" /
                //        "(" / ")" / "<" / ">" / ":" / "\" / DQUOTE / "/" / "[" / "]" / "?" / "{" / "}")
  k_digit = 4,
  k_ws = 8,  // SP / HTAB
  k_alnum = 16,
  k_lws = 32,   // SP / HTAB / CR / LF (folded lines are kept as written)
  k_host = 64,  // hostname and IPv4address bytes: alphanum / "-" / "."
};

constexpr std::array<uint8_t, 256> build_classes() {
  std::array<uint8_t, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] |= k_token | k_word | k_digit | k_alnum;
  for (int c = 'a'; c <= 'z'; ++c) t[c] |= k_token | k_word | k_alnum;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] |= k_token | k_word | k_alnum;
  for (char c : std::string_view("-.!%*_+`'~")) t[static_cast<unsigned char>(c)] |= k_token | k_word;
  for (char c : std::string_view("()<>:\\\"/[]?{}")) t[static_cast<unsigned char>(c)] |= k_word;
  t[' '] |= k_ws;
  t['\t'] |= k_ws;
  for (char c : std::string_view(" \t\r\n")) t[static_cast<unsigned char>(c)] |= k_lws;
  for (int c = 0; c < 256; ++c)
    if ((t[static_cast<size_t>(c)] & k_alnum) != 0 || c == '-' || c == '.') t[static_cast<size_t>(c)] |= k_host;
  return t;
}
constexpr std::array<uint8_t, 256> char_class = build_classes();

inline bool is(char c, uint8_t cls) { return (char_class[static_cast<unsigned char>(c)] & cls) != 0; }
inline bool is_token_char(char c) { return is(c, k_token); }
inline bool is_digit(char c) { return is(c, k_digit); }

// quoted-string = SWS DQUOTE *(qdtext / quoted-pair) DQUOTE. `open` points at the opening quote (inside
// [lo, end)); returns the closing one, or `end` when the string is not closed. Jumps from '"' or '\\' to the
// next with one vector search.
const char* closing_quote(const char* lo, const char* open, const char* end) {
  const char* q = open + 1;
  for (;;) {
    q = internal::find_byte2(lo, q, end, '"', '\\');
    if (q == end || *q == '"') return q;
    q += end - q >= 2 ? 2 : 1;  // quoted-pair
  }
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!is_token_char(c)) return false;
  return true;
}

// LWS inside a header value (folding has been kept as written: CR and LF are whitespace there).
inline std::string_view trim(std::string_view s) {
  const char* p = s.data();
  const char* end = p + s.size();
  while (p < end && is_lws(*p)) ++p;
  while (end > p && is_lws(end[-1])) --end;
  return {p, static_cast<size_t>(end - p)};
}
inline void skip_lws(std::string_view& s) {
  while (!s.empty() && is_lws(s.front())) s.remove_prefix(1);
}

// Decimal digits to uint64 with overflow detection; the whole view must be digits.
bool parse_uint(std::string_view s, uint64_t limit, uint64_t& out) {
  if (s.empty() || s.size() > 20) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (!is_digit(c)) return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
    if (v > limit) return false;
  }
  out = v;
  return true;
}

// delta-seconds = 1*DIGIT. RFC 3261 section 20.19/20.10: a value above 2^32-1 is taken as 2^32-1.
bool parse_delta_seconds(std::string_view s, int64_t& out) {
  if (s.empty()) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (!is_digit(c)) return false;
    if (v < (1ull << 32)) v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  out = static_cast<int64_t>(v > 0xFFFFFFFFull ? 0xFFFFFFFFull : v);
  return true;
}

// ---------------------------------------------------------------------------------------------------------
// Lists: elements separated by commas outside quoted strings and angle brackets.

// Takes the next element of a comma-separated list; false at the end. Sets `bad` on an unterminated quote or
// bracket.
bool next_element(std::string_view& rest, std::string_view& element, bool& bad) {
  const char* const lo = rest.data();
  const char* const end = lo + rest.size();
  const char* p = lo;
  while (p < end && (is_lws(*p) || *p == ',')) ++p;  // empty elements are skipped (RFC 7230-style leniency)
  if (p == end) {
    rest = {};
    return false;
  }
  const char* const begin = p;
  bool in_quotes = false;
  bool in_angle = false;
  // Jump from delimiter to delimiter ('"', '\\', '<', '>', ','); everything between them is plain text.
  for (p = internal::find_list_delimiter_from(lo, p, end); p < end;
       p = internal::find_list_delimiter_from(lo, p, end)) {
    const char c = *p;
    if (in_quotes) {
      if (c == '\\') {
        p += end - p >= 2 ? 2 : 1;  // quoted-pair
        continue;
      }
      if (c == '"') in_quotes = false;
    } else if (c == '"') {
      in_quotes = true;
    } else if (c == '<') {
      in_angle = true;
    } else if (c == '>') {
      in_angle = false;
    } else if (c == ',' && !in_angle) {
      break;
    }
    ++p;
  }
  if (in_quotes || in_angle) {
    bad = true;
    return false;
  }
  element = trim(std::string_view(begin, static_cast<size_t>(p - begin)));
  rest = p < end ? std::string_view(p + 1, static_cast<size_t>(end - p - 1)) : std::string_view{};
  return true;
}

// A parameter name compared with a known lower-case name of the same length: in 8-, 4- or 2-byte words, the
// last one overlapping the one before. Known names are all letters, and (byte | 0x20) equals a lower-case
// letter only for that letter in either case, so this is exactly iequals().
template <size_t N>
struct LowerName {
  char text[N]{};
  constexpr LowerName(const char (&s)[N]) {  // NOLINT(google-explicit-constructor): used as a template argument
    for (size_t i = 0; i < N; ++i) text[i] = s[i];
  }
};
template <typename T, size_t N>
constexpr T pack_folded(const char (&s)[N], size_t offset) {
  T w = 0;
  for (size_t i = 0; i < sizeof(T); ++i) w |= static_cast<T>(static_cast<unsigned char>(s[offset + i])) << (8 * i);
  return w;
}
template <typename T>
T load_folded(const char* p) {
  T w;
  std::memcpy(&w, p, sizeof(T));
  return w | static_cast<T>(0x2020202020202020ULL);
}
template <LowerName name>
bool is_name(const char* p) {  // the caller has checked that the length is sizeof(name.text) - 1
  constexpr size_t n = sizeof(name.text) - 1;
  static_assert(n >= 2 && n <= 16);
  using W = std::conditional_t<n >= 8, uint64_t, std::conditional_t<n >= 4, uint32_t, uint16_t>>;
  return load_folded<W>(p) == pack_folded<W>(name.text, 0) &&
         load_folded<W>(p + n - sizeof(W)) == pack_folded<W>(name.text, n - sizeof(W));
}

// ---------------------------------------------------------------------------------------------------------
// Header parameters: *( SEMI generic-param ), generic-param = token [ EQUAL gen-value ].

inline const char* skip_lws_from(const char* p, const char* end) {
  while (p < end && is_lws(*p)) ++p;
  return p;
}

// Walks [p, end) exactly as ParamCursor does (sip/params.h: same separators, same values, same leniency) and
// also requires each name to be a token, which the callers used to check with a second scan of every name:
// here the token scan is the name scan (a name ends at LWS, '=' or ';'; any other non-token byte before that
// made is_token() fail). Calls on_param(const ParamView&) for each parameter; false when the list is
// malformed, a name is not a token, or on_param returns false.
template <typename OnParam>
bool walk_token_params(const char* p, const char* end, OnParam&& on_param) {
  for (;;) {
    p = skip_lws_from(p, end);
    if (p < end && *p == ';') ++p;
    p = skip_lws_from(p, end);
    if (p == end) return true;
    const char* const name = p;
    while (p < end && is_token_char(*p)) ++p;
    if (p == name || (p < end && !params_internal::ends(*p, params_internal::ends_name))) return false;
    ParamView param{std::string_view(name, static_cast<size_t>(p - name)), {}, false, false};
    p = skip_lws_from(p, end);
    if (p < end && *p == '=') {
      p = skip_lws_from(p + 1, end);
      param.has_value = true;
      if (p < end && *p == '"') {
        const char* q = p + 1;
        while (q < end && *q != '"') q += *q == '\\' && end - q >= 2 ? 2 : 1;  // quoted-pair
        if (q == end) return false;
        param.value = std::string_view(p + 1, static_cast<size_t>(q - p - 1));
        param.quoted = true;
        p = q + 1;
      } else {
        const char* const value = p;
        while (p < end && !params_internal::ends(*p, params_internal::ends_value)) ++p;
        param.value = std::string_view(value, static_cast<size_t>(p - value));
      }
      p = skip_lws_from(p, end);
    }
    if (p < end && *p != ';') return false;
    if (!on_param(param)) return false;
  }
}
inline bool walk_token_params(std::string_view params, const auto& on_param) {
  return walk_token_params(params.data(), params.data() + params.size(), on_param);
}

// ---------------------------------------------------------------------------------------------------------
// name-addr / addr-spec (From, To, Contact, Route, Record-Route, Refer-To).
//
//   name-addr   = [ display-name ] LAQUOT addr-spec RAQUOT
//   display-name = *(token LWS) / quoted-string
//   addr-spec   = SIP-URI / SIPS-URI / absoluteURI
// In the addr-spec form (no angle brackets) the URI ends at the first ';' and what follows are header
// parameters (RFC 3261 section 20.10), so such a URI carries no parameters of its own.
//
// One pass: a quoted display name is skipped to its closing quote, a token one is scanned up to the first byte
// that is neither token nor LWS, which must be the '<' (the addr-spec form has no '<' at all); the '>' is found
// with one vector step, and the parameters are walked once, each handed to `on_param` (Contact reads its own
// from the same walk). Every parameter name must be a token; `tag` is kept for From and To.
template <typename OnParam>
bool parse_name_addr(std::string_view s, NameAddrView& out, OnParam&& on_param) {
  out = NameAddrView{};
  out.raw = s;
  s = trim(s);
  if (s.empty()) return false;
  const char* const lo = s.data();
  const char* const end = lo + s.size();
  const char* p = lo;
  const char* uri_begin = nullptr;
  const char* uri_end = nullptr;
  if (*p == '"') {
    const char* q = closing_quote(lo, p, end);
    if (q == end) return false;
    out.display_name = std::string_view(p + 1, static_cast<size_t>(q - p - 1));
    out.display_name_quoted = true;
    p = q + 1;
    while (p < end && is_lws(*p)) ++p;
    if (p == end || *p != '<') return false;
  } else {
    const char* q = p;
    while (q < end && is(q[0], k_token | k_lws)) ++q;
    if (q == end || *q != '<') {
      // No '<' up to here: the addr-spec form, unless a '<' follows (then the display name holds a byte that is
      // neither token nor LWS).
      if (q != end && internal::find_byte(lo, q, end, '<') != end) return false;
      uri_begin = p;
      uri_end = internal::find_byte(lo, p, end, ';');
    } else {
      out.display_name = trim(std::string_view(p, static_cast<size_t>(q - p)));
      p = q;
    }
  }
  if (uri_begin == nullptr) {  // p is on the '<'
    uri_begin = p + 1;
    uri_end = internal::find_byte(lo, uri_begin, end, '>');
    if (uri_end == end) return false;
    p = uri_end + 1;
  } else {
    p = uri_end;
  }
  while (uri_begin < uri_end && is_lws(*uri_begin)) ++uri_begin;
  while (uri_end > uri_begin && is_lws(uri_end[-1])) --uri_end;
  if (uri_begin == uri_end || internal::contains_lws(uri_begin, uri_end)) return false;
  out.uri = std::string_view(uri_begin, static_cast<size_t>(uri_end - uri_begin));
  while (p < end && is_lws(*p)) ++p;
  if (p == end) return true;
  if (*p != ';') return false;
  out.params = std::string_view(p + 1, static_cast<size_t>(end - p - 1));
  return walk_token_params(p + 1, end, [&](const ParamView& param) {
    if (param.name.size() == 3 && iequals(param.name, "tag")) out.tag = param.value;
    return on_param(param);
  });
}

// A name-addr whose URI must parse (From, To, Contact, Refer-To): the URI grammar is checked here so that a
// handler never meets an unparseable address.
template <typename OnParam>
bool parse_address(std::string_view s, NameAddrView& out, OnParam&& on_param) {
  return parse_name_addr(s, out, on_param) && internal::uri_is_valid(out.uri);
}
bool parse_address(std::string_view s, NameAddrView& out) {
  return parse_address(s, out, [](const ParamView&) { return true; });
}

// ---------------------------------------------------------------------------------------------------------
// Via (RFC 3261 section 20.42).
//
//   via-parm     = sent-protocol LWS sent-by *( SEMI via-params )
//   sent-protocol = protocol-name SLASH protocol-version SLASH transport
//   sent-by      = host [ COLON port ]
bool parse_via_parm(std::string_view s, ViaView& v) {
  v = ViaView{};
  v.raw = s;
  const char* p = s.data();
  const char* const end = p + s.size();
  // sent-protocol, with optional LWS around the slashes.
  std::string_view parts[3];
  for (int k = 0; k < 3; ++k) {
    p = skip_lws_from(p, end);
    const char* const part = p;
    while (p < end && is_token_char(*p)) ++p;
    if (p == part) return false;
    parts[k] = std::string_view(part, static_cast<size_t>(p - part));
    p = skip_lws_from(p, end);
    if (k < 2) {
      if (p == end || *p != '/') return false;
      ++p;
    }
  }
  if (parts[0].size() != 3 || !is_name<"sip">(parts[0].data()) || parts[1] != "2.0") return false;
  v.transport = parts[2];
  // sent-by
  if (p == end) return false;
  if (*p == '[') {
    const char* const close = internal::find_byte(s.data(), p, end, ']');
    if (close == end || close - p < 2) return false;
    v.host = std::string_view(p + 1, static_cast<size_t>(close - p - 1));
    v.host_is_ipv6 = true;
    uint8_t address[16];
    if (!parse_ipv6_address(v.host, address)) return false;
    p = close + 1;
  } else {
    // host = hostname / IPv4address: labels of alphanumerics and '-', separated by single dots (the rule of
    // valid_hostname(), checked from each byte and the one before it while scanning).
    const char* const host = p;
    char previous = '.';
    for (; p < end && is(*p, k_host); ++p) {
      const char c = *p;
      if (c == '.' ? previous == '.' || previous == '-' : c == '-' && previous == '.') return false;
      previous = c;
    }
    if (p == host || previous == '-') return false;
    v.host = std::string_view(host, static_cast<size_t>(p - host));
  }
  p = skip_lws_from(p, end);
  if (p < end && *p == ':') {
    p = skip_lws_from(p + 1, end);
    const char* const digits = p;
    while (p < end && is_digit(*p)) ++p;
    uint64_t port = 0;
    if (!parse_uint(std::string_view(digits, static_cast<size_t>(p - digits)), 65535, port) || port == 0) return false;
    v.port = static_cast<uint16_t>(port);
    p = skip_lws_from(p, end);
  }
  if (p == end) return true;
  if (*p != ';') return false;
  v.params = std::string_view(p + 1, static_cast<size_t>(end - p - 1));
  // via-params = via-ttl / via-maddr / via-received / via-branch / via-extension: recognised by length and
  // first letter, then one folded word compare.
  return walk_token_params(p + 1, end, [&v](const ParamView& param) {
    const char* const name = param.name.data();
    switch (param.name.size()) {
      case 3:
        if (is_name<"ttl">(name)) v.ttl = param.value;
        break;
      case 5:
        if ((name[0] | 0x20) == 'r' && is_name<"rport">(name)) {
          v.has_rport = true;
          v.rport = param.value;
        } else if ((name[0] | 0x20) == 'm' && is_name<"maddr">(name)) {
          v.maddr = param.value;
        }
        break;
      case 6:
        if (is_name<"branch">(name)) {
          if (param.value.empty()) return false;
          v.branch = param.value;
        }
        break;
      case 8:
        if (is_name<"received">(name)) v.received = param.value;
        break;
      default: break;
    }
    return true;
  });
}

// ---------------------------------------------------------------------------------------------------------
// Contact (RFC 3261 section 20.10, RFC 5626 +sip.instance and reg-id).
//
//   Contact = ("Contact" / "m") HCOLON ( STAR / (contact-param *(COMMA contact-param)))
//   contact-param = (name-addr / addr-spec) *(SEMI contact-params)
bool parse_contact(std::string_view s, ContactView& c) {
  c = ContactView{};
  // contact-params = c-p-q / c-p-expires / contact-extension     c-p-expires = "expires" EQUAL delta-seconds
  // The parameters come from the name-addr's own walk; a quoted expires ("60") is not delta-seconds.
  return parse_address(s, c.address, [&c](const ParamView& p) {
    if (iequals(p.name, "expires")) {
      if (p.quoted || !parse_delta_seconds(p.value, c.expires)) return false;
    } else if (iequals(p.name, "q")) {
      c.q = p.value;
    } else if (iequals(p.name, "+sip.instance")) {
      std::string_view v = p.value;  // "<urn:uuid:...>" (quotes already removed by the cursor)
      if (v.size() >= 2 && v.front() == '<' && v.back() == '>') v = v.substr(1, v.size() - 2);
      c.instance = v;
    } else if (iequals(p.name, "reg-id")) {
      c.reg_id = p.value;
    }
    return true;
  });
}

// ---------------------------------------------------------------------------------------------------------
// Authorization / WWW-Authenticate (RFC 3261 section 25.1, RFC 8760).
//
//   credentials = ("Digest" LWS digest-response) / other-response
//   digest-response = dig-resp *(COMMA dig-resp)      dig-resp = token EQUAL ( token / quoted-string )

// Stores one auth-param in the field it names; other names are ignored (a later duplicate wins). One switch on
// the length, one on the first letter, then one word compare.
void set_auth_param(AuthView& a, std::string_view name, std::string_view value) {
  const char* const p = name.data();
  const auto first = static_cast<char>(p[0] | 0x20);
  std::string_view* field = nullptr;
  switch (name.size()) {
    case 2:
      if (is_name<"nc">(p)) field = &a.nc;
      break;
    case 3:
      if (first == 'u' && is_name<"uri">(p)) field = &a.uri;
      if (first == 'q' && is_name<"qop">(p)) field = &a.qop;
      break;
    case 5:
      if (first == 'r' && is_name<"realm">(p)) field = &a.realm;
      if (first == 'n' && is_name<"nonce">(p)) field = &a.nonce;
      if (first == 's' && is_name<"stale">(p)) field = &a.stale;
      break;
    case 6:
      if (first == 'c' && is_name<"cnonce">(p)) field = &a.cnonce;
      if (first == 'o' && is_name<"opaque">(p)) field = &a.opaque;
      if (first == 'd' && is_name<"domain">(p)) field = &a.domain;
      break;
    case 8:
      if (first == 'u' && is_name<"username">(p)) field = &a.username;
      if (first == 'r' && is_name<"response">(p)) field = &a.response;
      break;
    case 9:
      if (is_name<"algorithm">(p)) field = &a.algorithm;
      break;
    default: break;
  }
  if (field != nullptr) *field = value;
}

// Bytes that end an unquoted auth-param value: the ',' that ends the parameter, and '"', '<', '>', which may
// not appear in one (a token or a host, RFC 3261 section 25.1; they would start a quoted string or a URI).
constexpr std::array<bool, 256> build_auth_value_stops() {
  std::array<bool, 256> t{};
  for (char c : std::string_view(",\"<>")) t[static_cast<unsigned char>(c)] = true;
  return t;
}
constexpr std::array<bool, 256> auth_value_stop = build_auth_value_stops();

// credentials = ("Digest" LWS digest-response) / other-response     (challenge likewise)
// digest-response = dig-resp *(COMMA dig-resp)     other-response = auth-scheme LWS auth-param *(COMMA auth-param)
// auth-param = auth-param-name EQUAL ( token / quoted-string )       EQUAL = SWS "=" SWS   COMMA = SWS "," SWS
//
// In one pass, as accepted since the first parser, with three leniencies: empty list elements (",,") are
// skipped, an unquoted value is any run of bytes up to the next ',' (inner whitespace kept, trailing whitespace
// dropped), and the value of an unknown name is not checked further. Refused: a quoted value followed by
// anything but LWS and then ',' or the end ('realm="a"nonce="b"' is two parameters run together, not a realm
// with quotes in it), and an unquoted value holding '"', '<' or '>'.
bool parse_auth(std::string_view s, AuthView& a) {
  a = AuthView{};
  a.raw = s;
  a.present = true;
  s = trim(s);
  const char* p = s.data();
  const char* const lo = p;
  const char* const end = p + s.size();
  while (p < end && is_token_char(*p)) ++p;
  if (p == lo) return false;
  a.scheme = std::string_view(lo, static_cast<size_t>(p - lo));
  if (p == end) return true;  // a scheme with no parameters
  if (!is_lws(*p)) return false;
  for (;;) {
    while (p < end && (is_lws(*p) || *p == ',')) ++p;
    if (p == end) return true;
    const char* const name_begin = p;
    while (p < end && is_token_char(*p)) ++p;
    if (p == name_begin) return false;
    const std::string_view name(name_begin, static_cast<size_t>(p - name_begin));
    while (p < end && is_lws(*p)) ++p;
    if (p == end || *p != '=') return false;
    ++p;
    while (p < end && is_lws(*p)) ++p;
    if (p == end) return false;  // an empty value
    std::string_view value;
    if (*p == '"') {
      // quoted-string = SWS DQUOTE *(qdtext / quoted-pair ) DQUOTE: jump from '"' or '\\' to the next.
      const char* q = closing_quote(lo, p, end);
      if (q == end) return false;
      value = std::string_view(p + 1, static_cast<size_t>(q - p - 1));
      p = q + 1;
      while (p < end && is_lws(*p)) ++p;
      if (p < end && *p != ',') return false;
    } else {
      const char* const value_begin = p;  // not LWS: skipped above
      while (p < end && !auth_value_stop[static_cast<unsigned char>(*p)]) ++p;
      if (p < end && *p != ',') return false;
      const char* value_end = p;
      while (is_lws(value_end[-1])) --value_end;  // stops at value_begin at the latest
      value = std::string_view(value_begin, static_cast<size_t>(value_end - value_begin));
    }
    set_auth_param(a, name, value);
  }
}

// ---------------------------------------------------------------------------------------------------------
// The rest of the indexed headers.

// Replaces = callid *(SEMI replaces-param)   replaces-param = to-tag / from-tag / early-flag / generic-param
bool parse_replaces(std::string_view s, ReplacesView& r) {
  r = ReplacesView{};
  r.raw = s;
  s = trim(s);
  size_t semi = s.find(';');
  r.call_id = trim(s.substr(0, semi));
  if (r.call_id.empty()) return false;
  for (char c : r.call_id)
    if (!is(c, k_word) && c != '@') return false;
  if (semi == std::string_view::npos) return false;  // to-tag and from-tag are required
  ParamCursor cursor(s.substr(semi + 1));
  ParamView p;
  bool has_to = false;
  bool has_from = false;
  while (cursor.next(p)) {
    if (iequals(p.name, "to-tag")) {
      r.to_tag = p.value;
      has_to = true;
    } else if (iequals(p.name, "from-tag")) {
      r.from_tag = p.value;
      has_from = true;
    } else if (iequals(p.name, "early-only")) {
      r.early_only = true;
    }
  }
  return !cursor.malformed() && has_to && has_from;
}

// Call-ID = ( "Call-ID" / "i" ) HCOLON callid      callid = word [ "@" word ]
bool valid_call_id(std::string_view s) {
  const char* p = s.data();
  const char* const end = p + s.size();
  const char* const first = p;
  while (p < end && is(*p, k_word)) ++p;
  if (p == end) return p != first;
  if (*p != '@' || p == first) return false;
  const char* const second = ++p;
  while (p < end && is(*p, k_word)) ++p;
  return p == end && p != second;
}

// CSeq = "CSeq" HCOLON 1*DIGIT LWS Method
bool parse_cseq(std::string_view s, CSeqView& c) {
  size_t i = 0;
  while (i < s.size() && is_digit(s[i])) ++i;
  uint64_t n = 0;
  if (!parse_uint(s.substr(0, i), 0x7FFFFFFF, n)) return false;  // RFC 3261 8.1.1.5: below 2^31
  s.remove_prefix(i);
  if (s.empty() || !is_lws(s.front())) return false;
  s = trim(s);
  if (!is_token(s)) return false;
  c.number = static_cast<uint32_t>(n);
  c.method_text = s;
  c.method = method_from_token(s);
  return true;
}

// media-type = m-type SLASH m-subtype *(SEMI m-parameter)
bool valid_content_type(std::string_view s) {
  size_t slash = s.find('/');
  if (slash == std::string_view::npos) return false;
  if (!is_token(trim(s.substr(0, slash)))) return false;
  std::string_view rest = s.substr(slash + 1);
  size_t semi = rest.find(';');
  if (!is_token(trim(rest.substr(0, semi)))) return false;
  if (semi == std::string_view::npos) return true;
  return walk_token_params(rest.substr(semi + 1), [](const ParamView&) { return true; });
}

// Event = ( "Event" / "o" ) HCOLON event-type *( SEMI event-param )   (also Subscription-State's substate)
bool valid_token_with_params(std::string_view s) {
  size_t semi = s.find(';');
  if (!is_token(trim(s.substr(0, semi)))) return false;
  if (semi == std::string_view::npos) return true;
  return walk_token_params(s.substr(semi + 1), [](const ParamView&) { return true; });
}

// ---------------------------------------------------------------------------------------------------------
// The message.

class Parser {
 public:
  Parser(std::string_view in, Transport transport, MessageView& m)
      : begin_(in.data()), p_(in.data()), end_(in.data() + in.size()), transport_(transport), m_(m) {}

  ParseResult run();

 private:
  ParseResult error(ParseError e) { return {ParseStatus::error, e, 0, 0}; }
  ParseResult incomplete(uint32_t needed) { return {ParseStatus::incomplete, ParseError::none, 0, needed}; }

  // Finds the end of the current line starting at p_: sets line_end_ (first byte of the line terminator)
  // and next_ (first byte after it). Returns none, or an error; `more` is set when the input ended first.
  ParseError find_line_end(const char* from, bool allow_folding, bool& more);
  ParseError parse_start_line(bool& more);
  ParseError index_header(HeaderView& h);
  ParseError check_mandatory();

  const char* begin_;
  const char* p_;
  const char* end_;
  const char* line_end_ = nullptr;
  const char* next_ = nullptr;
  Transport transport_;
  MessageView& m_;
  bool seen_from_ = false;
  bool seen_to_ = false;
  bool seen_call_id_ = false;
  bool seen_cseq_ = false;
};

inline __attribute__((always_inline)) ParseError Parser::find_line_end(const char* from, bool allow_folding,
                                                                       bool& more) {
  const char* const end = end_;
  const char* q = from;
  for (;;) {
    q = internal::find_stop(q, end);
    if (q == end) {
      more = true;
      return ParseError::none;
    }
    const char c = *q;
    if (c == '\r' || c == '\n') {  // the common stop byte first
      const char* const eol = q;
      if (c == '\r') {
        if (q + 1 == end) {
          more = true;
          return ParseError::none;
        }
        if (q[1] != '\n') return ParseError::bad_line_ending;
        q += 2;
      } else {  // a bare LF ends a line too: robustness, as most servers accept it
        q += 1;
      }
      // Folding: a line that starts with whitespace continues the previous one (RFC 3261 section 7.3.1).
      if (allow_folding) {
        if (q == end) {
          more = true;
          return ParseError::none;
        }
        if (*q == ' ' || *q == '\t') continue;
      }
      line_end_ = eol;
      next_ = q;
      return ParseError::none;
    }
    // HT is whitespace; any other control character is allowed only as the second byte of a quoted-pair
    // (quoted-pair = "\\" (%x00-09 / %x0B-0C / %x0E-7F), RFC 4475 intmeth); the value parsers check that it
    // sits inside a quoted string.
    if (c != '\t' && (q == from || q[-1] != '\\')) return ParseError::bad_header_character;
    ++q;
  }
}

// Request-Line = Method SP Request-URI SP SIP-Version CRLF
// Status-Line  = SIP-Version SP Status-Code SP Reason-Phrase CRLF
ParseError Parser::parse_start_line(bool& more) {
  // Leading CRLFs before a message are ignored (RFC 3261 section 7.5).
  while (p_ < end_ && (*p_ == '\r' || *p_ == '\n')) ++p_;
  ParseError e = find_line_end(p_, false, more);
  if (e != ParseError::none || more) return e;
  std::string_view line(p_, static_cast<size_t>(line_end_ - p_));
  p_ = next_;

  constexpr std::string_view version = "SIP/2.0";
  if (line.size() >= 4 && iequals(line.substr(0, 4), "SIP/")) {
    m_.is_request = false;
    if (line.size() < version.size() || !iequals(line.substr(0, version.size()), version))
      return ParseError::bad_sip_version;
    line.remove_prefix(version.size());
    if (line.empty() || line.front() != ' ') {
      return line.empty() || is_digit(line.front()) || line.front() == '.' ? ParseError::bad_sip_version
                                                                           : ParseError::bad_start_line;
    }
    line.remove_prefix(1);
    if (line.size() < 3 || !is_digit(line[0]) || !is_digit(line[1]) || !is_digit(line[2]) || line[0] == '0')
      return ParseError::bad_status_code;
    m_.status_code = static_cast<uint16_t>((line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0'));
    line.remove_prefix(3);
    if (!line.empty()) {
      if (line.front() != ' ') return ParseError::bad_status_code;
      line.remove_prefix(1);
    }
    m_.reason_phrase = line;
    return ParseError::none;
  }

  m_.is_request = true;
  size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return ParseError::bad_start_line;
  m_.method_text = line.substr(0, sp1);
  if (!is_token(m_.method_text)) return ParseError::bad_method;
  m_.method = method_from_token(m_.method_text);
  line.remove_prefix(sp1 + 1);
  size_t sp2 = line.find(' ');
  if (sp2 == std::string_view::npos) return ParseError::bad_start_line;
  m_.request_uri = line.substr(0, sp2);
  std::string_view v = line.substr(sp2 + 1);
  if (v.size() >= 4 && iequals(v.substr(0, 4), "SIP/")) {
    // "SIP/2.0 " with anything after it is a malformed line, not another version (RFC 4475 trws).
    if (v.size() > version.size() && iequals(v.substr(0, version.size()), version)) return ParseError::bad_start_line;
    if (!iequals(v, version)) return ParseError::bad_sip_version;
  } else {
    // More than one space, or whitespace inside the Request-URI.
    return ParseError::bad_request_uri;
  }
  if (m_.request_uri.empty() || !internal::uri_is_valid(m_.request_uri)) return ParseError::bad_request_uri;
  return ParseError::none;
}

ParseError Parser::index_header(HeaderView& h) {
  std::string_view v = h.value;
  switch (h.id) {
    case HeaderId::via: {
      bool bad = false;
      std::string_view element;
      while (next_element(v, element, bad)) {
        if (m_.via_count == via_count_max) return ParseError::too_many_vias;
        if (!parse_via_parm(element, m_.vias[m_.via_count])) return ParseError::bad_via;
        ++m_.via_count;
      }
      if (bad) return ParseError::bad_via;
      return ParseError::none;
    }
    case HeaderId::from:
      if (seen_from_) return ParseError::duplicate_from;
      seen_from_ = true;
      return parse_address(v, m_.from) ? ParseError::none : ParseError::bad_from;
    case HeaderId::to:
      if (seen_to_) return ParseError::duplicate_to;
      seen_to_ = true;
      return parse_address(v, m_.to) ? ParseError::none : ParseError::bad_to;
    case HeaderId::call_id:
      if (seen_call_id_) return ParseError::duplicate_call_id;
      seen_call_id_ = true;
      m_.call_id = v;
      return valid_call_id(v) ? ParseError::none : ParseError::bad_call_id;
    case HeaderId::cseq:
      if (seen_cseq_) return ParseError::duplicate_cseq;
      seen_cseq_ = true;
      return parse_cseq(v, m_.cseq) ? ParseError::none : ParseError::bad_cseq;
    case HeaderId::max_forwards: {
      uint64_t n = 0;
      if (m_.max_forwards >= 0 || !parse_uint(v, 0x7FFFFFFF, n)) return ParseError::bad_max_forwards;
      m_.max_forwards = static_cast<int32_t>(n);
      return ParseError::none;
    }
    case HeaderId::content_length: {
      uint64_t n = 0;
      if (!parse_uint(v, message_size_max, n)) {
        // All digits but larger than any message parkd accepts: the length is well-formed but impossible.
        bool digits = !v.empty() && v.size() <= 20;
        for (char c : v) digits = digits && is_digit(c);
        return digits ? ParseError::message_too_large : ParseError::bad_content_length;
      }
      if (m_.has_content_length && m_.content_length != n) return ParseError::conflicting_content_length;
      m_.has_content_length = true;
      m_.content_length = static_cast<uint32_t>(n);
      return ParseError::none;
    }
    case HeaderId::contact: {
      if (v == "*") {
        if (m_.contact_count != 0 || m_.contact_star) return ParseError::bad_contact;
        m_.contact_star = true;
        return ParseError::none;
      }
      if (m_.contact_star) return ParseError::bad_contact;
      bool bad = false;
      std::string_view element;
      while (next_element(v, element, bad)) {
        if (m_.contact_count == contact_count_max) return ParseError::too_many_contacts;
        if (!parse_contact(element, m_.contacts[m_.contact_count])) return ParseError::bad_contact;
        ++m_.contact_count;
      }
      return bad ? ParseError::bad_contact : ParseError::none;
    }
    case HeaderId::expires:
      if (m_.expires >= 0) return ParseError::bad_expires;
      return parse_delta_seconds(v, m_.expires) ? ParseError::none : ParseError::bad_expires;
    case HeaderId::content_type:
      m_.content_type = v;
      return valid_content_type(v) ? ParseError::none : ParseError::bad_content_type;
    case HeaderId::event: m_.event = v; return valid_token_with_params(v) ? ParseError::none : ParseError::bad_event;
    case HeaderId::subscription_state:
      m_.subscription_state = v;
      return valid_token_with_params(v) ? ParseError::none : ParseError::bad_subscription_state;
    case HeaderId::refer_to: {
      if (!m_.refer_to.raw.empty()) return ParseError::bad_refer_to;
      if (!parse_address(v, m_.refer_to)) return ParseError::bad_refer_to;
      UriView uri;
      (void)parse_uri(m_.refer_to.uri, uri);  // validated by parse_address
      std::string_view replaces;
      if (!uri.headers.empty() && find_uri_header(uri.headers, "Replaces", replaces)) m_.refer_to_replaces = replaces;
      return ParseError::none;
    }
    case HeaderId::replaces: return parse_replaces(v, m_.replaces) ? ParseError::none : ParseError::bad_replaces;
    case HeaderId::authorization:
      if (m_.authorization.present) return ParseError::none;  // the first credentials are the ones checked
      return parse_auth(v, m_.authorization) ? ParseError::none : ParseError::bad_authorization;
    case HeaderId::proxy_authorization:
      if (m_.proxy_authorization.present) return ParseError::none;
      return parse_auth(v, m_.proxy_authorization) ? ParseError::none : ParseError::bad_authorization;
    case HeaderId::www_authenticate:
      if (m_.www_authenticate.present) return ParseError::none;
      return parse_auth(v, m_.www_authenticate) ? ParseError::none : ParseError::bad_authenticate;
    case HeaderId::proxy_authenticate:
      if (m_.proxy_authenticate.present) return ParseError::none;
      return parse_auth(v, m_.proxy_authenticate) ? ParseError::none : ParseError::bad_authenticate;
    case HeaderId::route:
    case HeaderId::record_route: {
      bool is_route = h.id == HeaderId::route;
      auto& list = is_route ? m_.routes : m_.record_routes;
      uint32_t& count = is_route ? m_.route_count : m_.record_route_count;
      bool bad = false;
      std::string_view element;
      while (next_element(v, element, bad)) {
        if (count == route_count_max) return ParseError::too_many_routes;
        // rec-route = name-addr *( SEMI rr-param ): angle brackets are required.
        if (element.find('<') == std::string_view::npos || !parse_address(element, list[count]))
          return ParseError::bad_route;
        ++count;
      }
      return bad ? ParseError::bad_route : ParseError::none;
    }
    default: return ParseError::none;
  }
}

ParseError Parser::check_mandatory() {
  // RFC 3261 section 8.1.1: To, From, CSeq, Call-ID, Max-Forwards (optional here), Via.
  if (m_.via_count == 0) return ParseError::missing_via;
  if (!seen_from_) return ParseError::missing_from;
  if (!seen_to_) return ParseError::missing_to;
  if (!seen_call_id_) return ParseError::missing_call_id;
  if (!seen_cseq_) return ParseError::missing_cseq;
  if (m_.is_request && m_.cseq.method_text != m_.method_text) return ParseError::cseq_method_mismatch;
  return ParseError::none;
}

ParseResult Parser::run() {
  // Reset only what parsing sets conditionally; the arrays are overwritten up to their counts.
  m_.is_request = false;
  m_.method = Method::other;
  m_.method_text = {};
  m_.request_uri = {};
  m_.status_code = 0;
  m_.reason_phrase = {};
  m_.header_count = 0;
  m_.via_count = 0;
  m_.from = {};
  m_.to = {};
  m_.call_id = {};
  m_.cseq = {};
  m_.max_forwards = -1;
  m_.contact_count = 0;
  m_.contact_star = false;
  m_.expires = -1;
  m_.has_content_length = false;
  m_.content_length = 0;
  m_.content_type = {};
  m_.event = {};
  m_.subscription_state = {};
  m_.refer_to = {};
  m_.refer_to_replaces = {};
  m_.replaces = {};
  m_.authorization.present = false;
  m_.proxy_authorization.present = false;
  m_.www_authenticate.present = false;
  m_.proxy_authenticate.present = false;
  m_.route_count = 0;
  m_.record_route_count = 0;
  m_.body = {};

  const bool tcp = transport_ == Transport::tcp;
  // A UDP datagram is the whole message; a TCP stream is searched only within the first 64 KiB.
  if (!tcp && end_ - begin_ > static_cast<ptrdiff_t>(message_size_max)) return error(ParseError::message_too_large);
  const char* const hard_end = end_;
  if (tcp && end_ - begin_ > static_cast<ptrdiff_t>(message_size_max)) end_ = begin_ + message_size_max;
  auto ran_out = [&]() -> ParseResult {
    if (!tcp) return error(ParseError::unterminated_headers);
    if (end_ != hard_end) return error(ParseError::message_too_large);
    return incomplete(1);
  };

  bool more = false;
  ParseError e = parse_start_line(more);
  if (e == ParseError::bad_line_ending || e == ParseError::bad_header_character) return error(e);
  if (more) return ran_out();
  // A start line that ended properly but is malformed is reported like a fault in a header value: after the
  // headers are read, so that the answer (400, 505) can copy them.
  ParseError start_line_error = e;

  // Header lines until the empty line.
  ParseError first_header_error = start_line_error;
  for (;;) {
    // Locals rather than the members p_ and end_: stores into the MessageView may alias members, which would
    // force a reload of each after every store.
    const char* p = p_;
    const char* const end = end_;
    if (p == end) return ran_out();
    if (*p == '\r' || *p == '\n') {
      if (*p == '\r') {
        if (p + 1 == end) return ran_out();
        if (p[1] != '\n') return error(ParseError::bad_line_ending);
        p_ = p + 2;
      } else {
        p_ = p + 1;
      }
      break;
    }
    // header-name HCOLON: HCOLON = *( SP / HTAB ) ":" SWS
    const char* const name_begin = p;
    // Known names are looked up before their bytes are checked: the name most likely ends at the first ':',
    // SP or HT, and find_header_id() matches only names spelled as in headers.def, which are tokens. So a hit is
    // a token followed by a non-token byte (or the end), exactly what the byte-by-byte scan below would find.
    HeaderId id = HeaderId::other;
    const char* name_guess = end - p >= 16 ? internal::match_header_name16(p, id) : nullptr;
    if (name_guess == nullptr) {  // a name of 16 bytes or more, or the last bytes of the input
      name_guess = internal::find_colon_or_blank(p, end - p > 64 ? p + 64 : end);
      id = internal::find_header_id(std::string_view(p, static_cast<size_t>(name_guess - p)));
    }
    if (id != HeaderId::other) {
      p = name_guess;
    } else {
      while (p < end && is_token_char(*p)) ++p;
    }
    if (p == end) return ran_out();
    if (p == name_begin) return error(ParseError::bad_header_name);
    const char* const name_end = p;
    if (*p != ':') {  // p < end here; whitespace before the colon is rare
      while (p < end && (*p == ' ' || *p == '\t')) ++p;
      if (p == end) return ran_out();
      if (*p != ':') return error(ParseError::missing_colon);
    }
    const char* const value_begin = p + 1;
    e = find_line_end(value_begin, true, more);
    if (e != ParseError::none) return error(e);
    if (more) return ran_out();
    const char* const line_end = line_end_;
    if (line_end - name_begin > static_cast<ptrdiff_t>(header_line_length_max))
      return error(ParseError::header_too_long);
    if (m_.header_count == header_count_max) return error(ParseError::too_many_headers);
    p_ = next_;
    HeaderView& h = m_.headers[m_.header_count++];
    const std::string_view name(name_begin, static_cast<size_t>(name_end - name_begin));
    if (id == HeaderId::other) id = internal::find_header_id(name);
    h.id = id;
    h.name = name;
    h.value = trim(std::string_view(value_begin, static_cast<size_t>(line_end - value_begin)));
    if (h.id != HeaderId::other && first_header_error == ParseError::none) {
      // After a fault in one header's value the rest is still read, so that a 400 can copy the Vias,
      // From, To, Call-ID and CSeq that follow it; only the first fault is reported.
      first_header_error = index_header(h);
    } else if (h.id == HeaderId::via || h.id == HeaderId::from || h.id == HeaderId::to || h.id == HeaderId::call_id ||
               h.id == HeaderId::cseq) {
      (void)index_header(h);
    }
  }
  if (first_header_error != ParseError::none) return error(first_header_error);

  e = check_mandatory();
  if (e != ParseError::none) return error(e);

  // Body, framed by Content-Length (RFC 3261 section 18.3).
  const auto header_bytes = static_cast<uint32_t>(p_ - begin_);
  const auto available = static_cast<uint32_t>(hard_end - p_);
  uint32_t body_size = available;
  if (m_.has_content_length) {
    if (header_bytes + m_.content_length > message_size_max) return error(ParseError::message_too_large);
    if (available < m_.content_length) {
      if (tcp) return incomplete(m_.content_length - available);
      return error(ParseError::body_shorter_than_content_length);
    }
    body_size = m_.content_length;  // UDP: bytes beyond Content-Length are discarded
  } else if (tcp) {
    return error(ParseError::missing_content_length);
  }
  m_.body = std::string_view(p_, body_size);
  return {ParseStatus::complete, ParseError::none, header_bytes + body_size, 0};
}

}  // namespace

ParseResult parse_message(std::string_view in, Transport transport, MessageView& out) {
  return Parser(in, transport, out).run();
}

std::string_view unquote(std::string_view quoted_body, char* out, size_t out_size) {
  size_t n = 0;
  for (size_t i = 0; i < quoted_body.size(); ++i) {
    char c = quoted_body[i];
    if (c == '\\' && i + 1 < quoted_body.size()) c = quoted_body[++i];
    if (n == out_size) return {};
    out[n++] = c;
  }
  return {out, n};
}

const HeaderView* MessageView::find(HeaderId id) const {
  for (uint32_t i = 0; i < header_count; ++i)
    if (headers[i].id == id) return &headers[i];
  return nullptr;
}

bool MessageView::has_option_tag(HeaderId id, std::string_view tag) const {
  for (uint32_t i = 0; i < header_count; ++i) {
    if (headers[i].id != id) continue;
    std::string_view rest = headers[i].value;
    std::string_view element;
    bool bad = false;
    while (next_element(rest, element, bad))
      if (iequals(element, tag)) return true;
  }
  return false;
}

std::string_view MessageView::first_unsupported(HeaderId id, std::initializer_list<std::string_view> supported) const {
  for (uint32_t i = 0; i < header_count; ++i) {
    if (headers[i].id != id) continue;
    std::string_view rest = headers[i].value;
    std::string_view element;
    bool bad = false;
    while (next_element(rest, element, bad)) {
      bool known = false;
      for (std::string_view s : supported) known = known || iequals(element, s);
      if (!known) return element;
    }
  }
  return {};
}

}  // namespace parkd::sip
