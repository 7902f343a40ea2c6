#include <emmintrin.h>
#include <immintrin.h>

#include "core/cpu.h"
#include "sip/internal/scan.h"

namespace parkd::sip::internal {

const char* find_stop_scalar(const char* p, const char* end) {
  while (p < end && !is_stop_byte(static_cast<unsigned char>(*p))) ++p;
  return p;
}

// Per 16 bytes: a byte is a stop byte when saturating 0x20 - byte is non-zero (byte < 0x20) or byte == 0x7F.
const char* find_stop_sse2(const char* p, const char* end) {
  const __m128i space = _mm_set1_epi8(0x20);
  const __m128i del = _mm_set1_epi8(0x7F);
  const __m128i zero = _mm_setzero_si128();
  while (end - p >= 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    __m128i below = _mm_cmpeq_epi8(_mm_subs_epu8(space, v), zero);  // 0xFF where byte >= 0x20
    __m128i is_del = _mm_cmpeq_epi8(v, del);
    unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(below)) ^ 0xFFFFu;
    mask |= static_cast<unsigned>(_mm_movemask_epi8(is_del));
    if (mask != 0) return p + __builtin_ctz(mask);
    p += 16;
  }
  return find_stop_scalar(p, end);
}

__attribute__((target("avx2"))) const char* find_stop_avx2(const char* p, const char* end) {
  const __m256i space = _mm256_set1_epi8(0x20);
  const __m256i del = _mm256_set1_epi8(0x7F);
  const __m256i zero = _mm256_setzero_si256();
  while (end - p >= 32) {
    __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    __m256i ok = _mm256_cmpeq_epi8(_mm256_subs_epu8(space, v), zero);
    __m256i is_del = _mm256_cmpeq_epi8(v, del);
    unsigned mask = ~static_cast<unsigned>(_mm256_movemask_epi8(ok));
    mask |= static_cast<unsigned>(_mm256_movemask_epi8(is_del));
    if (mask != 0) return p + __builtin_ctz(mask);
    p += 32;
  }
  return find_stop_sse2(p, end);
}

const char* find_list_delimiter_scalar(const char* p, const char* end) {
  while (p < end && !is_list_delimiter(*p)) ++p;
  return p;
}

const char* find_list_delimiter(const char* p, const char* end) {
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i open = _mm_set1_epi8('<');
  const __m128i close = _mm_set1_epi8('>');
  const __m128i comma = _mm_set1_epi8(',');
  while (end - p >= 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    __m128i hit = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, open), _mm_cmpeq_epi8(v, close)), _mm_cmpeq_epi8(v, comma)));
    auto mask = static_cast<unsigned>(_mm_movemask_epi8(hit));
    if (mask != 0) return p + __builtin_ctz(mask);
    p += 16;
  }
  return find_list_delimiter_scalar(p, end);
}

namespace {
FindStopFn choose() { return cpu::features().avx2 ? find_stop_avx2 : find_stop_sse2; }
}  // namespace

FindStopFn find_stop_impl = choose();

}  // namespace parkd::sip::internal
