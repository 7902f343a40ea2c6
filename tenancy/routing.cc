#include "tenancy/routing.h"

#include <xxhash.h>

#include <algorithm>

namespace parkd::tenancy {

unsigned owner_shard(std::string_view domain, unsigned shards) {
  if (shards <= 1) return 0;
  // A host name is at most 253 bytes; only the first 256 take part (a longer "domain" is no tenant's).
  char lower[256];
  const size_t n = std::min(domain.size(), sizeof lower);
  for (size_t i = 0; i < n; ++i) {
    char c = domain[i];
    lower[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c | 0x20) : c;
  }
  return static_cast<unsigned>(XXH3_64bits(lower, n) % shards);
}

}  // namespace parkd::tenancy
