#include "core/counters.h"

namespace parkd {

std::string ShardCounters::to_string() const {
  std::string out;
#define PARKD_PRINT_COUNTER(name) \
  if (!out.empty()) out += ' ';   \
  out += #name "=" + std::to_string(name.get());
  PARKD_SHARD_COUNTERS(PARKD_PRINT_COUNTER)
#undef PARKD_PRINT_COUNTER
  return out;
}

}  // namespace parkd
