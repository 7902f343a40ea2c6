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

}  // namespace parkd::sip::internal
