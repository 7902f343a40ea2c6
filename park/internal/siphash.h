// SipHash-2-4 (Aumasson and Bernstein, 2012) under a 128-bit key: a keyed pseudo-random function, so park ids
// derived from a counter reveal neither the counter nor anything about other ids without the key. Written from
// the paper's description; checked against its published test vector in tests/park.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace parkd::park::internal {

inline uint64_t siphash24(uint64_t k0, uint64_t k1, std::string_view message) {
  uint64_t v0 = k0 ^ 0x736f6d6570736575ULL;
  uint64_t v1 = k1 ^ 0x646f72616e646f6dULL;
  uint64_t v2 = k0 ^ 0x6c7967656e657261ULL;
  uint64_t v3 = k1 ^ 0x7465646279746573ULL;
  auto round = [&] {
    v0 += v1;
    v1 = std::rotl(v1, 13);
    v1 ^= v0;
    v0 = std::rotl(v0, 32);
    v2 += v3;
    v3 = std::rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = std::rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = std::rotl(v1, 17);
    v1 ^= v2;
    v2 = std::rotl(v2, 32);
  };
  auto compress = [&](uint64_t m) {
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  };
  // Little-endian 8-byte words; the last word holds the tail bytes and the length (mod 256) in its top byte.
  const size_t full = message.size() / 8 * 8;
  for (size_t i = 0; i < full; i += 8) {
    uint64_t m = 0;
    for (size_t b = 0; b < 8; ++b) m |= uint64_t{static_cast<unsigned char>(message[i + b])} << (8 * b);
    compress(m);
  }
  uint64_t last = uint64_t{message.size() & 0xff} << 56;
  for (size_t b = 0; full + b < message.size(); ++b)
    last |= uint64_t{static_cast<unsigned char>(message[full + b])} << (8 * b);
  compress(last);
  v2 ^= 0xff;
  round();
  round();
  round();
  round();
  return v0 ^ v1 ^ v2 ^ v3;
}

}  // namespace parkd::park::internal
