// Header name lookup, inline so that the parser's header loop does not call into another translation unit
// for every line (sip/header_id.h declares the public header_id(), which calls this). The tables are built at
// compile time from sip/headers.def, the one list of header names.
#pragma once

#include <emmintrin.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "sip/header_id.h"

namespace parkd::sip::internal {

struct Entry {
  const char* name;
  char compact;
  HeaderId id;
};

inline constexpr Entry entries[] = {
#define PARKD_SIP_HEADER(id, name, compact) {name, compact, HeaderId::id},
#include "sip/headers.def"
#undef PARKD_SIP_HEADER
};

inline constexpr size_t name_length_max = 24;

constexpr size_t length_of(const char* s) {
  size_t n = 0;
  while (s[n] != '\0') ++n;
  return n;
}
constexpr char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c | 0x20) : c; }

// Long names in a small hash table: the slot of a name is a multiplicative hash of its length and three of its
// bytes (first, middle, last, case-folded), with a multiplier searched at compile time so that no two known
// names share a slot. A lookup is then one hash and one comparison, instead of comparing every name of that
// length byte by byte.
struct LongName {
  char lower[name_length_max];  // the name in lower case
  char fold[name_length_max];   // 0x20 where `lower` has a letter: (byte | fold) == lower only for that letter
  uint8_t length;
  HeaderId id;
};

inline constexpr size_t slot_count = 1024;  // sparse, so that a collision-free multiplier is found in a few tries
inline constexpr uint8_t empty_slot = 0xFF;

constexpr uint32_t folded(char c) { return static_cast<unsigned char>(c) | 0x20U; }
constexpr size_t slot_of(const char* name, size_t len, uint32_t multiplier) {
  const uint32_t key =
      folded(name[0]) | folded(name[len / 2]) << 8 | folded(name[len - 1]) << 16 | static_cast<uint32_t>(len) << 24;
  return (key * multiplier) >> 22;  // the top 10 bits: slot_count is 1024
}

struct LongTable {
  std::array<LongName, std::size(entries)> names{};
  std::array<uint8_t, slot_count> slots{};  // index into names, or empty_slot
  uint32_t multiplier = 0;
};

constexpr LongTable build_long_table() {
  LongTable t{};
  for (size_t k = 0; k < std::size(entries); ++k) {
    const size_t len = length_of(entries[k].name);
    for (size_t i = 0; i < len; ++i) {
      const char c = lower(entries[k].name[i]);
      t.names[k].lower[i] = c;
      t.names[k].fold[i] = c >= 'a' && c <= 'z' ? 0x20 : 0;
    }
    t.names[k].length = static_cast<uint8_t>(len);
    t.names[k].id = entries[k].id;
  }
  // The first multiplier (of a Fibonacci-hashing sequence) that puts every name in its own slot. A bit set
  // keeps each attempt cheap enough for the compiler's constexpr budget.
  for (uint32_t i = 1; i < 100000; ++i) {
    const uint32_t m = i * 2654435761U;
    std::array<uint64_t, slot_count / 64> used{};
    bool collision = false;
    for (size_t k = 0; k < std::size(entries) && !collision; ++k) {
      const size_t slot = slot_of(entries[k].name, t.names[k].length, m);
      collision = (used[slot / 64] >> (slot % 64) & 1U) != 0;
      used[slot / 64] |= uint64_t{1} << (slot % 64);
    }
    if (collision) continue;
    t.multiplier = m;
    t.slots.fill(empty_slot);
    for (size_t k = 0; k < std::size(entries); ++k)
      t.slots[slot_of(entries[k].name, t.names[k].length, m)] = static_cast<uint8_t>(k);
    return t;
  }
  return t;  // multiplier 0: caught by the static_assert below
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

inline constexpr LongTable long_table = build_long_table();
inline constexpr std::array<HeaderId, 128> compact_table = build_compact_table();

static_assert(
    [] {
      for (const Entry& e : entries)
        if (length_of(e.name) > name_length_max || length_of(e.name) < 2) return false;
      return true;
    }(),
    "header names must be 2 to name_length_max characters");
static_assert(long_table.multiplier != 0, "no multiplier gives every header name its own slot: change slot_of()");
static_assert(std::size(entries) < empty_slot && slot_count == 1024);

// One chunk of `T` bytes at `offset`: equal when every letter matches in either case and every other byte
// exactly.
template <typename T>
inline bool chunk_equal(const char* name, const LongName& known, size_t offset) {
  T in;
  T fold;
  T lower_case;
  std::memcpy(&in, name + offset, sizeof(T));
  std::memcpy(&fold, known.fold + offset, sizeof(T));
  std::memcpy(&lower_case, known.lower + offset, sizeof(T));
  return (in | fold) == lower_case;
}

// Compares in 8-, 4- or 2-byte chunks; the last chunk overlaps the one before rather than reading past `len`.
inline bool equal_folded(const char* name, size_t len, const LongName& known) {
  if (len != known.length) return false;
  if (len >= 8) {
    for (size_t offset = 0; offset + 8 < len; offset += 8)
      if (!chunk_equal<uint64_t>(name, known, offset)) return false;
    return chunk_equal<uint64_t>(name, known, len - 8);
  }
  if (len >= 4) return chunk_equal<uint32_t>(name, known, 0) && chunk_equal<uint32_t>(name, known, len - 4);
  return chunk_equal<uint16_t>(name, known, 0) && chunk_equal<uint16_t>(name, known, len - 2);
}

// Letters compare in either case and every other byte exactly, so only a name spelled as in headers.def (up to
// the case of its letters) is known, whatever bytes `name` holds.
inline HeaderId find_header_id(std::string_view name) {
  const size_t len = name.size();
  if (len == 1) {
    auto c = static_cast<unsigned char>(name[0]);
    return c < 128 ? compact_table[c] : HeaderId::other;
  }
  if (len < 2 || len > name_length_max) return HeaderId::other;
  const uint8_t k = long_table.slots[slot_of(name.data(), len, long_table.multiplier)];
  if (k == empty_slot || !equal_folded(name.data(), len, long_table.names[k])) return HeaderId::other;
  return long_table.names[k].id;
}

// The header name at the start of a line, from one 16-byte load that also finds where the name most likely ends
// (the first ':', SP or HT): returns that end and sets `id` as find_header_id() would for the bytes before it,
// or returns nullptr (id untouched) when none of the 16 bytes is ':', SP or HT, and the caller takes the
// general path. [p, p + 16) must be readable. The known name is compared in one vector step: byte | fold equals
// the lower-case spelling for each byte of the name.
inline const char* match_header_name16(const char* p, HeaderId& id) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i blank = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(' ')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\t')));
  const auto stops =
      static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(':')), blank)));
  if (stops == 0) return nullptr;
  const auto len = static_cast<size_t>(__builtin_ctz(stops));
  if (len < 2) {
    const auto c = static_cast<unsigned char>(p[0]);
    id = len == 1 && c < 128 ? compact_table[c] : HeaderId::other;
    return p + len;
  }
  id = HeaderId::other;
  const uint8_t k = long_table.slots[slot_of(p, len, long_table.multiplier)];
  if (k != empty_slot) {
    const LongName& known = long_table.names[k];
    const __m128i fold = _mm_loadu_si128(reinterpret_cast<const __m128i*>(known.fold));
    const __m128i lower_case = _mm_loadu_si128(reinterpret_cast<const __m128i*>(known.lower));
    const auto equal = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_or_si128(v, fold), lower_case)));
    const unsigned want = (1U << len) - 1;
    if (known.length == len && (equal & want) == want) id = known.id;
  }
  return p + len;
}

}  // namespace parkd::sip::internal
