// Instruction-set features detected once at start-up, for run-time dispatch of SIMD code.
//
// parkd is compiled for the x86-64 baseline (SSE2) so the binary runs on any x86-64 CPU. A function that gains
// from a wider instruction set is compiled a second time with __attribute__((target("avx2"))) and chosen
// through these flags. PARKD_FORCE_BASELINE=1 in the environment pins the baseline (tests and benchmarks use it
// to run both paths on one machine).
#pragma once

namespace parkd::cpu {

struct Features {
  bool sse42 = false;
  bool avx2 = false;
};

// The features of this CPU, read once (thread-safe static).
const Features& features();

}  // namespace parkd::cpu
