// The parser's hot loop: find the first byte in [p, end) that ends or breaks a header line.
//
// A "stop byte" is any byte below 0x20 (CR, LF, HT, NUL and the other controls) or DEL (0x7F). Header text
// is otherwise free of them, so one pass finds the line end and any invalid character together; the caller
// steps over HT, which is legal whitespace.
//
// Three implementations with one contract: returns the address of the first stop byte, or `end` when there
// is none; reads only [p, end) (vector loads are issued only while a whole vector fits before `end`).
// find_stop() picks the widest the CPU has, once (core/cpu.h). The scalar one is the reference the
// differential fuzzer checks the others against.
#pragma once

#include <emmintrin.h>

#include <cstdint>
#include <cstring>

namespace parkd::sip::internal {

const char* find_stop_scalar(const char* p, const char* end);
const char* find_stop_sse2(const char* p, const char* end);
const char* find_stop_avx2(const char* p, const char* end);  // only call when cpu::features().avx2

using FindStopFn = const char* (*)(const char*, const char*);
extern FindStopFn find_stop_impl;

inline const char* find_stop(const char* p, const char* end) { return find_stop_impl(p, end); }

inline bool is_stop_byte(unsigned char c) { return c < 0x20 || c == 0x7F; }

// The bytes that structure a comma-separated header list: '"', '\\', '<', '>' and ','. Returns the first one
// in [p, end), or `end`. SSE2 (the x86-64 baseline), reading only whole 16-byte blocks inside the range.
const char* find_list_delimiter(const char* p, const char* end);
const char* find_list_delimiter_scalar(const char* p, const char* end);
inline bool is_list_delimiter(char c) { return c == '"' || c == '\\' || c == '<' || c == '>' || c == ','; }

// The first ':', SP or HT in [p, end), or `end`: where a header name most likely ends. Inline because it runs
// once per header line and usually finds its byte in the first 16-byte block (SSE2, whole blocks inside the
// range only; the bytes after the last whole block are checked one by one).
inline const char* find_colon_or_blank(const char* p, const char* end) {
  const __m128i colon = _mm_set1_epi8(':');
  const __m128i space = _mm_set1_epi8(' ');
  const __m128i tab = _mm_set1_epi8('\t');
  while (end - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i hit =
        _mm_or_si128(_mm_cmpeq_epi8(v, colon), _mm_or_si128(_mm_cmpeq_epi8(v, space), _mm_cmpeq_epi8(v, tab)));
    const auto mask = static_cast<unsigned>(_mm_movemask_epi8(hit));
    if (mask != 0) return p + __builtin_ctz(mask);
    p += 16;
  }
  while (p < end && *p != ':' && *p != ' ' && *p != '\t') ++p;
  return p;
}

// True when [p, end) holds SP, HT, CR or LF. Word at a time: (w - 0x21..21) & ~w & 0x80..80 is non-zero exactly
// when some byte of w is below 0x21 (SWAR), and URIs, where this runs, hold none, so the exact byte check runs
// only for the rare word that has one. 8-byte loads stay inside the range (the last one overlaps the one
// before); ranges under 8 bytes are checked byte by byte.
inline bool contains_lws(const char* p, const char* end) {
  auto is_lws_byte = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  auto bytewise = [&](const char* from, const char* to) {
    for (; from < to; ++from)
      if (is_lws_byte(*from)) return true;
    return false;
  };
  if (end - p < 8) return bytewise(p, end);
  constexpr uint64_t ones = 0x0101010101010101ULL;
  constexpr uint64_t highs = 0x8080808080808080ULL;
  auto word_may_have = [&](const char* at) {
    uint64_t w;
    std::memcpy(&w, at, 8);
    return ((w - ones * 0x21) & ~w & highs) != 0;
  };
  for (; end - p > 8; p += 8)
    if (word_may_have(p) && bytewise(p, p + 8)) return true;
  return word_may_have(end - 8) && bytewise(end - 8, end);
}

// The first `c` in [p, end), or `end`. Reads only [lo, end), lo <= p: whole 16-byte blocks from p, then, when
// bytes remain and [lo, end) holds at least 16, one last block that ends exactly at `end` (it overlaps bytes
// already checked, or before p, which are masked off); only inputs shorter than 16 bytes are scanned byte by
// byte. URIs, where this runs, are 15-60 bytes: no loop iteration and no scalar tail in the common case.
inline const char* find_byte(const char* lo, const char* p, const char* end, char c) {
  const __m128i needle = _mm_set1_epi8(c);
  while (end - p >= 16) {
    const auto mask = static_cast<unsigned>(
        _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), needle)));
    if (mask != 0) return p + __builtin_ctz(mask);
    p += 16;
  }
  if (p == end) return end;
  if (end - lo >= 16) {
    const char* const last = end - 16;
    const auto mask = static_cast<unsigned>(_mm_movemask_epi8(
                          _mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(last)), needle))) >>
                      (p - last);
    return mask != 0 ? p + __builtin_ctz(mask) : end;
  }
  while (p < end && *p != c) ++p;
  return p;
}

// The shared walk of the 16-byte scanners below: whole blocks from p, then one block ending exactly at `end`
// when [lo, end) holds 16 bytes (bytes before p masked off) instead of a byte loop over the tail, else the
// scalar test byte by byte. `hits(at)` is the 16-bit mask of matching bytes at [at, at + 16). Reads only
// [lo, end), lo <= p.
template <class Hits, class Match>
inline const char* find_hit(const char* lo, const char* p, const char* end, Hits hits, Match match) {
  while (end - p >= 16) {
    const unsigned mask = hits(p);
    if (mask != 0) return p + __builtin_ctz(mask);
    p += 16;
  }
  if (p == end) return end;
  if (end - lo >= 16) {
    const char* const last = end - 16;
    const unsigned mask = hits(last) >> (p - last);
    return mask != 0 ? p + __builtin_ctz(mask) : end;
  }
  while (p < end && !match(*p)) ++p;
  return p;
}

// The first `a` or `b` in [p, end), or `end`; the same loads as find_byte() (only [lo, end) is read). Finds the
// closing quote of a quoted-string (a = '"', b = '\\' for a quoted-pair) in one or two 16-byte steps.
inline const char* find_byte2(const char* lo, const char* p, const char* end, char a, char b) {
  const __m128i na = _mm_set1_epi8(a);
  const __m128i nb = _mm_set1_epi8(b);
  auto hits = [&](const char* at) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at));
    return static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, na), _mm_cmpeq_epi8(v, nb))));
  };
  return find_hit(lo, p, end, hits, [a, b](char c) { return c == a || c == b; });
}

// find_list_delimiter() inline, for the short header values it runs on: whole 16-byte blocks from p, then one
// block ending exactly at `end` when [lo, end) holds 16 bytes (bytes before p masked off), instead of a byte
// loop over the tail. Reads only [lo, end), lo <= p.
inline const char* find_list_delimiter_from(const char* lo, const char* p, const char* end) {
  auto hits = [](const char* at) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at));
    const __m128i hit = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('<')), _mm_cmpeq_epi8(v, _mm_set1_epi8('>'))),
                     _mm_cmpeq_epi8(v, _mm_set1_epi8(','))));
    return static_cast<unsigned>(_mm_movemask_epi8(hit));
  };
  return find_hit(lo, p, end, hits, is_list_delimiter);
}

}  // namespace parkd::sip::internal
