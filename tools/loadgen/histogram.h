// LatencyHistogram: an HDR-style log-linear histogram of non-negative integers (the load generator records
// nanoseconds), in a fixed array: recording is a shift and an increment, nothing is allocated.
//
// Layout: values below 128 have one bucket each; above, every power-of-two range [2^k, 2^(k+1)) is split into
// 64 equal sub-buckets, so a bucket's width is at most 1/64 of its lowest value. percentile() reports the
// highest value equivalent to the bucket holding the requested rank (as HdrHistogram does), never more than
// the exact maximum, so a reported percentile is within +1/64 (1.6 %) of the true order statistic. Values of
// 2^40 and more (18 minutes in ns) are clamped.
#pragma once

#include <array>
#include <cstdint>

namespace parkd::loadgen {

class LatencyHistogram {
 public:
  static constexpr int sub_bucket_bits = 7;
  static constexpr uint32_t sub_bucket_count = 1u << sub_bucket_bits;  // 128
  static constexpr uint32_t sub_bucket_half = sub_bucket_count / 2;    // 64 per power of two
  static constexpr int value_bits = 40;
  static constexpr uint64_t value_max = (uint64_t{1} << value_bits) - 1;
  static constexpr uint32_t bucket_count = sub_bucket_count + (value_bits - sub_bucket_bits) * sub_bucket_half;

  void record(uint64_t value) {
    if (value > value_max) value = value_max;
    ++counts_[index_of(value)];
    ++count_;
    if (value > max_) max_ = value;
    if (value < min_) min_ = value;
  }

  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }
  uint64_t min() const { return count_ == 0 ? 0 : min_; }

  // The value at rank ceil(p/100 * count) (at least 1) in sorted order, as its bucket's highest equivalent
  // value clamped to max(); 0 when empty. p in [0, 100].
  uint64_t percentile(double p) const;

  void merge(const LatencyHistogram& other);
  void reset() { *this = LatencyHistogram{}; }

  static uint32_t index_of(uint64_t value) {
    if (value < sub_bucket_count) return static_cast<uint32_t>(value);
    int msb = 63 - __builtin_clzll(value);    // >= sub_bucket_bits
    int shift = msb - (sub_bucket_bits - 1);  // value >> shift is in [64, 128)
    return sub_bucket_count + static_cast<uint32_t>(shift - 1) * sub_bucket_half +
           static_cast<uint32_t>((value >> shift) - sub_bucket_half);
  }
  static uint64_t lowest_equivalent(uint32_t index);
  static uint64_t highest_equivalent(uint32_t index);

 private:
  std::array<uint64_t, bucket_count> counts_{};
  uint64_t count_ = 0;
  uint64_t max_ = 0;
  uint64_t min_ = UINT64_MAX;
};

}  // namespace parkd::loadgen
