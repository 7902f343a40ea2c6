// Parameter lists: ";name=value;flag;name=\"quoted\"" as in Via, Contact, From/To and URIs.
//
//   generic-param = token [ EQUAL gen-value ]      gen-value = token / host / quoted-string
//   EQUAL = SWS "=" SWS     SEMI = SWS ";" SWS     (header parameters; URI parameters carry no whitespace)
//
// ParamCursor walks a list that the parser has already validated or that comes from a trusted builder: it
// never reads outside the view, and on a malformed list it stops (next() returns false and malformed() is
// true), so it is safe on any input too.
#pragma once

#include <string_view>

namespace parkd::sip {

struct ParamView {
  std::string_view name;
  std::string_view value;  // without quotes when quoted; empty for a flag
  bool has_value = false;
  bool quoted = false;
};

inline bool is_lws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

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
    while (i < rest_.size() && !is_lws(rest_[i]) && rest_[i] != '=' && rest_[i] != ';') ++i;
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
        while (j < rest_.size() && !is_lws(rest_[j]) && rest_[j] != ';') ++j;
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
