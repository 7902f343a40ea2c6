// Parameter lists: ";name=value;flag;name=\"quoted\"" as in Via, Contact, From/To and URIs.
//
//   generic-param = token [ EQUAL gen-value ]      gen-value = token / host / quoted-string
//   EQUAL = SWS "=" SWS     SEMI = SWS ";" SWS     (header parameters; URI parameters carry no whitespace)
//
// ParamCursor walks a list that the parser has already validated or that comes from a trusted builder: it
// never reads outside the view, and on a malformed list it stops (next() returns false and malformed() is
// true), so it is safe on any input too.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace parkd::sip {

struct ParamView {
  std::string_view name;
  std::string_view value;  // without quotes when quoted; empty for a flag
  bool has_value = false;
  bool quoted = false;
};

// SP, HTAB, CR, LF (CR and LF because folded lines are kept as written). One compare and one bit test: this
// runs on nearly every byte the parser trims or skips, where a chain of four compares showed up in profiles.
inline bool is_lws(char c) {
  constexpr uint64_t lws_bits = (1ULL << ' ') | (1ULL << '\t') | (1ULL << '\r') | (1ULL << '\n');
  const auto u = static_cast<unsigned char>(c);
  return u <= ' ' && ((lws_bits >> u) & 1U) != 0;
}

namespace params_internal {
// What ends a parameter name (LWS, '=', ';') and what ends an unquoted value (LWS, ';'): one table lookup per
// byte in ParamCursor's loops.
enum : uint8_t { ends_name = 1, ends_value = 2 };
constexpr std::array<uint8_t, 256> make_param_stops() {
  std::array<uint8_t, 256> t{};
  for (const char c : {' ', '\t', '\r', '\n', ';'}) t[static_cast<unsigned char>(c)] = ends_name | ends_value;
  t['='] = ends_name;
  return t;
}
inline constexpr std::array<uint8_t, 256> param_stops = make_param_stops();
inline bool ends(char c, uint8_t what) { return (param_stops[static_cast<unsigned char>(c)] & what) != 0; }
}  // namespace params_internal

// ASCII case-insensitive equality (SIP tokens, header names, parameter names, host names).
inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x == y) continue;
    if (static_cast<unsigned char>((x | 0x20) - 'a') > 'z' - 'a' || (x | 0x20) != (y | 0x20)) return false;
  }
  return true;
}

class ParamCursor {
 public:
  // `params` without the leading ';' (as stored in the views), or with it: both work.
  explicit ParamCursor(std::string_view params) : p_(params.data()), end_(params.data() + params.size()) {}

  // generic-param = token [ EQUAL gen-value ], separated by SEMI; a name is taken up to LWS, '=' or ';' (the
  // parser checks that it is a token), an unquoted value up to LWS or ';'. On pointers held in locals: one
  // table lookup per byte, no view bookkeeping.
  bool next(ParamView& out) {
    const char* p = p_;
    const char* const end = end_;
    p = skip_lws(p, end);
    if (p < end && *p == ';') ++p;
    p = skip_lws(p, end);
    if (p == end) {
      p_ = p;
      return false;
    }
    const char* const name = p;
    while (p < end && !params_internal::ends(*p, params_internal::ends_name)) ++p;
    if (p == name) return fail();
    out = ParamView{std::string_view(name, static_cast<size_t>(p - name)), {}, false, false};
    p = skip_lws(p, end);
    if (p < end && *p == '=') {
      p = skip_lws(p + 1, end);
      out.has_value = true;
      if (p < end && *p == '"') {
        const char* q = p + 1;
        while (q < end && *q != '"') q += *q == '\\' && end - q >= 2 ? 2 : 1;  // quoted-pair
        if (q == end) return fail();
        out.value = std::string_view(p + 1, static_cast<size_t>(q - p - 1));
        out.quoted = true;
        p = q + 1;
      } else {
        const char* const value = p;
        while (p < end && !params_internal::ends(*p, params_internal::ends_value)) ++p;
        out.value = std::string_view(value, static_cast<size_t>(p - value));
      }
      p = skip_lws(p, end);
    }
    if (p < end && *p != ';') return fail();
    p_ = p;
    return true;
  }
  bool malformed() const { return malformed_; }

 private:
  static const char* skip_lws(const char* p, const char* end) {
    while (p < end && is_lws(*p)) ++p;
    return p;
  }
  bool fail() {
    malformed_ = true;
    p_ = end_;
    return false;
  }
  const char* p_;
  const char* end_;
  bool malformed_ = false;
};

// The first parameter called `name` (case-insensitive), or nullptr-like: returns false when absent.
inline bool find_param(std::string_view params, std::string_view name, ParamView& out) {
  ParamCursor cursor(params);
  while (cursor.next(out))
    if (iequals(out.name, name)) return true;
  return false;
}

}  // namespace parkd::sip
