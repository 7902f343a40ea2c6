#include "core/cpu.h"

#include <cstdlib>
#include <cstring>

namespace parkd::cpu {
namespace {

Features detect() {
  Features f;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  f.sse42 = __builtin_cpu_supports("sse4.2") != 0;
  f.avx2 = __builtin_cpu_supports("avx2") != 0;
#endif
  const char* force = std::getenv("PARKD_FORCE_BASELINE");
  if (force != nullptr && std::strcmp(force, "1") == 0) f = Features{};
  return f;
}

}  // namespace

const Features& features() {
  static const Features f = detect();
  return f;
}

}  // namespace parkd::cpu
