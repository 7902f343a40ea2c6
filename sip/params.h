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
  explicit ParamCursor(std::string_view params) : rest_(params) {}

  bool next(ParamView& out) {
    skip(';');
    if (rest_.empty()) return false;
    size_t i = 0;
    while (i < rest_.size() && !params_internal::ends(rest_[i], params_internal::ends_name)) ++i;
    if (i == 0) return fail();
    out = ParamView{rest_.substr(0, i), {}, false, false};
    rest_.remove_prefix(i);
    trim_front();
    if (!rest_.empty() && rest_.front() == '=') {
      rest_.remove_prefix(1);
      trim_front();
      out.has_value = true;
      if (!rest_.empty() && rest_.front() == '"') {
        size_t j = 1;
        while (j < rest_.size() && rest_[j] != '"') j += rest_[j] == '\\' ? 2 : 1;
        if (j >= rest_.size()) return fail();
        out.value = rest_.substr(1, j - 1);
        out.quoted = true;
        rest_.remove_prefix(j + 1);
      } else {
        size_t j = 0;
        while (j < rest_.size() && !params_internal::ends(rest_[j], params_internal::ends_value)) ++j;
        out.value = rest_.substr(0, j);
        rest_.remove_prefix(j);
      }
      trim_front();
    }
    if (!rest_.empty() && rest_.front() != ';') return fail();
    return true;
  }
  bool malformed() const { return malformed_; }

 private:
  void trim_front() {
    while (!rest_.empty() && is_lws(rest_.front())) rest_.remove_prefix(1);
  }
  void skip(char c) {
    trim_front();
    if (!rest_.empty() && rest_.front() == c) rest_.remove_prefix(1);
    trim_front();
  }
  bool fail() {
    malformed_ = true;
    rest_ = {};
    return false;
  }
  std::string_view rest_;
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
