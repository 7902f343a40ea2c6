#include "tools/loadgen/histogram.h"

#include <algorithm>
#include <cmath>

namespace parkd::loadgen {

uint64_t LatencyHistogram::lowest_equivalent(uint32_t index) {
  if (index < sub_bucket_count) return index;
  uint32_t k = index - sub_bucket_count;
  uint32_t shift = k / sub_bucket_half + 1;
  uint64_t sub = k % sub_bucket_half + sub_bucket_half;
  return sub << shift;
}

uint64_t LatencyHistogram::highest_equivalent(uint32_t index) {
  if (index < sub_bucket_count) return index;
  uint32_t shift = (index - sub_bucket_count) / sub_bucket_half + 1;
  return lowest_equivalent(index) + (uint64_t{1} << shift) - 1;
}

uint64_t LatencyHistogram::percentile(double p) const {
  if (count_ == 0) return 0;
  p = std::clamp(p, 0.0, 100.0);
  auto rank = static_cast<uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (uint32_t i = 0; i < bucket_count; ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(highest_equivalent(i), max_);
  }
  return max_;
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (uint32_t i = 0; i < bucket_count; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  max_ = std::max(max_, other.max_);
  min_ = std::min(min_, other.min_);
}

}  // namespace parkd::loadgen
