#include "sip/header_id.h"

#include <array>
#include <cstring>

#include "sip/errors.h"
#include "sip/message.h"

namespace parkd::sip {
namespace {

struct Entry {
  const char* name;
  char compact;
  HeaderId id;
};

constexpr Entry entries[] = {
#define PARKD_SIP_HEADER(id, name, compact) {name, compact, HeaderId::id},
#include "sip/headers.def"
#undef PARKD_SIP_HEADER
};

constexpr size_t name_length_max = 24;

constexpr size_t length_of(const char* s) {
  size_t n = 0;
  while (s[n] != '\0') ++n;
  return n;
}
constexpr char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c | 0x20) : c; }

// Long names bucketed by length, each stored lower-case, so a lookup compares only names of the right length.
struct LongTable {
  struct Name {
    char lower[name_length_max];
    HeaderId id;
  };
  std::array<Name, std::size(entries)> names{};
  std::array<uint8_t, name_length_max + 2> bucket_start{};  // names of length L: [start[L], start[L+1])
};

constexpr LongTable build_long_table() {
  LongTable t{};
  size_t n = 0;
  for (size_t len = 0; len <= name_length_max; ++len) {
    t.bucket_start[len] = static_cast<uint8_t>(n);
    for (const Entry& e : entries) {
      if (length_of(e.name) != len) continue;
      for (size_t i = 0; i < len; ++i) t.names[n].lower[i] = lower(e.name[i]);
      t.names[n].id = e.id;
      ++n;
    }
  }
  t.bucket_start[name_length_max + 1] = static_cast<uint8_t>(n);
  return t;
}

constexpr std::array<HeaderId, 128> build_compact_table() {
  std::array<HeaderId, 128> t{};
  for (const Entry& e : entries)
    if (e.compact != 0) {
      t[static_cast<unsigned char>(e.compact)] = e.id;
      t[static_cast<unsigned char>(e.compact) & ~0x20u] = e.id;  // upper case
    }
  return t;
}

constexpr LongTable long_table = build_long_table();
constexpr std::array<HeaderId, 128> compact_table = build_compact_table();

static_assert(
    [] {
      for (const Entry& e : entries)
        if (length_of(e.name) > name_length_max || length_of(e.name) < 2) return false;
      return true;
    }(),
    "header names must be 2 to name_length_max characters");

}  // namespace

// `name` is a token (checked by the parser). For token characters, byte | 0x20 maps upper-case letters to
// lower case and leaves every other token character unchanged or outside the lower-case names' alphabet, so
// comparing folded input against the lower-case table is exact.
HeaderId header_id(std::string_view name) {
  if (name.size() == 1) {
    auto c = static_cast<unsigned char>(name[0]);
    return c < 128 ? compact_table[c] : HeaderId::other;
  }
  if (name.size() > name_length_max) return HeaderId::other;
  const size_t len = name.size();
  for (size_t k = long_table.bucket_start[len]; k < long_table.bucket_start[len + 1]; ++k) {
    const auto& candidate = long_table.names[k];
    size_t i = 0;
    while (i < len && static_cast<char>(name[i] | 0x20) == candidate.lower[i]) ++i;
    if (i == len) return candidate.id;
  }
  return HeaderId::other;
}

std::string_view reason_phrase(ParseError error) {
  static constexpr std::string_view texts[] = {
#define PARKD_SIP_ERROR(id, text) text,
#include "sip/errors.def"
#undef PARKD_SIP_ERROR
  };
  auto i = static_cast<size_t>(error);
  return i < std::size(texts) ? texts[i] : "Bad Request";
}

Method method_from_token(std::string_view t) {
  switch (t.size()) {
    case 3:
      if (t == "ACK") return Method::ack;
      if (t == "BYE") return Method::bye;
      break;
    case 4:
      if (t == "INFO") return Method::info;
      break;
    case 5:
      if (t == "PRACK") return Method::prack;
      if (t == "REFER") return Method::refer;
      break;
    case 6:
      if (t == "INVITE") return Method::invite;
      if (t == "CANCEL") return Method::cancel;
      if (t == "UPDATE") return Method::update;
      if (t == "NOTIFY") return Method::notify;
      break;
    case 7:
      if (t == "OPTIONS") return Method::options;
      if (t == "MESSAGE") return Method::message;
      if (t == "PUBLISH") return Method::publish;
      break;
    case 8:
      if (t == "REGISTER") return Method::register_;
      break;
    case 9:
      if (t == "SUBSCRIBE") return Method::subscribe;
      break;
    default: break;
  }
  return Method::other;
}

}  // namespace parkd::sip
