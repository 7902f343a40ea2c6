// libFuzzer target, differential: the SSE2 and AVX2 stop-byte scanners (sip/internal/scan.h) against the scalar
// one, which is obviously correct, at every start offset of the input and for every end with the start at 0.
// The input buffer is exactly `size` bytes, so a vector load past the end is an ASan report.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "sip/internal/scan.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

using namespace parkd::sip::internal;

bool has_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") != 0;
}

void compare(const char* p, const char* end, const char* base) {
  static const bool avx2 = has_avx2();
  const char* want = find_stop_scalar(p, end);
  const char* sse2 = find_stop_sse2(p, end);
  const char* wide = avx2 ? find_stop_avx2(p, end) : want;
  if (sse2 != want || wide != want) {
    std::fprintf(stderr, "scan_fuzz: scanners disagree on [%td, %td): scalar %td, sse2 %td, avx2 %td\n", p - base,
                 end - base, want - base, sse2 - base, wide - base);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* base = reinterpret_cast<const char*>(data);
  const char* end = base + size;
  for (size_t start = 0; start <= size; ++start) compare(base + start, end, base);
  for (size_t stop = 0; stop < size; ++stop) compare(base, base + stop, base);
  return 0;
}
