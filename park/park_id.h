// A park id: the short, stable name of one parked call, as it appears in park-info (`id="p4f2a"`) and in a
// retrieve URI (`;park-id=p4f2a`).
//
// Contract: "p" followed by park_id_digits characters of lowercase Crockford base32 (0-9 a-z without i l o u),
// so it is a URI token and an XML attribute value without any escaping. URI parameters compare without regard
// to case (RFC 3261 section 19.1.4), so parse() accepts upper case and stores lower case. The table
// (park/park_table.h) makes ids unique within a shard and derives them from a keyed hash, so an id tells
// nothing about other calls or other tenants.
#pragma once

#include <absl/base/attributes.h>

#include <array>
#include <cstdint>
#include <string_view>

namespace parkd::park {

inline constexpr size_t park_id_digits = 5;  // 25 bits: 33 million ids for at most 2 x capacity records
inline constexpr size_t park_id_length = 1 + park_id_digits;
inline constexpr std::string_view park_id_alphabet = "0123456789abcdefghjkmnpqrstvwxyz";

struct ParkId {
  std::array<char, park_id_length> text{};

  std::string_view view() const ABSL_ATTRIBUTE_LIFETIME_BOUND { return {text.data(), text.size()}; }
  bool operator==(const ParkId&) const = default;

  // The id of a 25-bit value (the low park_id_digits * 5 bits are used).
  static ParkId from_bits(uint64_t bits) {
    ParkId id;
    id.text[0] = 'p';
    for (size_t i = 0; i < park_id_digits; ++i) {
      id.text[park_id_length - 1 - i] = park_id_alphabet[bits & 31U];
      bits >>= 5;
    }
    return id;
  }

  // `text` as written in a URI parameter (already percent-decoded) into `out`; false when it cannot be an id.
  static bool parse(std::string_view text, ParkId& out) {
    if (text.size() != park_id_length || (text[0] != 'p' && text[0] != 'P')) return false;
    out.text[0] = 'p';
    for (size_t i = 1; i < park_id_length; ++i) {
      char c = text[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (park_id_alphabet.find(c) == std::string_view::npos) return false;
      out.text[i] = c;
    }
    return true;
  }
};

}  // namespace parkd::park
