// SpscRing: single-thread semantics (full, empty, wrap-around, batches across the wrap) and a real two-thread
// run on a tiny ring that forces full/empty transitions, checked for strict order and no loss.
#include "core/spsc_ring.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <thread>
#include <vector>

#include "support/allocation_counter.h"

namespace parkd {
namespace {

// The shape of a mailbox message: a buffer handle, its length and where it came from.
struct Message {
  uint64_t sequence;
  uint32_t length;
  uint16_t source_index;
};

TEST(SpscRing, CapacityIsRoundedUpToAPowerOfTwo) {
  EXPECT_EQ(SpscRing<int>(0).capacity(), 1U);
  EXPECT_EQ(SpscRing<int>(1).capacity(), 1U);
  EXPECT_EQ(SpscRing<int>(5).capacity(), 8U);
  EXPECT_EQ(SpscRing<int>(64).capacity(), 64U);
}

TEST(SpscRing, FullAndEmpty) {
  SpscRing<int> ring(4);
  int value = -1;
  EXPECT_FALSE(ring.try_pop(value));
  EXPECT_EQ(ring.size_approx(), 0U);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(ring.try_push(i));
  EXPECT_EQ(ring.size_approx(), 4U);
  EXPECT_FALSE(ring.try_push(99)) << "full";
  EXPECT_EQ(ring.counters().full_events, 1U);
  EXPECT_EQ(ring.counters().pushes, 4U);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(ring.try_pop(value));
    EXPECT_EQ(value, i);
  }
  EXPECT_FALSE(ring.try_pop(value)) << "empty";
  EXPECT_TRUE(ring.try_push(4)) << "room again after the pops";
  EXPECT_EQ(ring.counters().max_depth_seen, 4U);
}

TEST(SpscRing, WrapsAroundManyTimes) {
  SpscRing<Message> ring(4);
  uint64_t next_in = 0;
  uint64_t next_out = 0;
  for (int round = 0; round < 1000; ++round) {
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(ring.try_push({next_in++, 100, 7}));
    for (int i = 0; i < 3; ++i) {
      Message message{};
      ASSERT_TRUE(ring.try_pop(message));
      ASSERT_EQ(message.sequence, next_out++);
      ASSERT_EQ(message.length, 100U);
      ASSERT_EQ(message.source_index, 7U);
    }
  }
  EXPECT_EQ(ring.size_approx(), 0U);
}

TEST(SpscRing, BatchesAcrossTheWrap) {
  SpscRing<int> ring(8);
  std::array<int, 16> out{};
  const std::array<int, 5> first{0, 1, 2, 3, 4};
  EXPECT_EQ(ring.push_batch(first), 5U);
  EXPECT_EQ(ring.pop_batch(out), 5U);  // head and tail now at 5: the next batch wraps

  const std::array<int, 7> second{10, 11, 12, 13, 14, 15, 16};
  EXPECT_EQ(ring.push_batch(second), 7U);
  EXPECT_EQ(ring.size_approx(), 7U);
  EXPECT_EQ(ring.pop_batch(std::span<int>(out).first(3)), 3U);
  EXPECT_EQ(out[0], 10);
  EXPECT_EQ(out[2], 12);
  EXPECT_EQ(ring.pop_batch(out), 4U);
  EXPECT_EQ(out[0], 13);
  EXPECT_EQ(out[3], 16);
  EXPECT_EQ(ring.pop_batch(out), 0U);
  EXPECT_EQ(ring.push_batch({}), 0U);

  // A batch larger than the free room is cut short and counted as back-pressure.
  const std::array<int, 10> third{20, 21, 22, 23, 24, 25, 26, 27, 28, 29};
  EXPECT_EQ(ring.push_batch(third), 8U);
  EXPECT_EQ(ring.push_batch(third), 0U);
  EXPECT_EQ(ring.counters().full_events, 2U);
  EXPECT_EQ(ring.pop_batch(out), 8U);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(out[i], 20 + i);
}

TEST(SpscRing, NoAllocationAfterConstruction) {
  SpscRing<Message> ring(64);
  std::array<Message, 16> batch{};
  const uint64_t before = test::allocation_count();
  for (uint64_t i = 0; i < 10'000; ++i) {
    (void)ring.try_push({i, 1, 2});
    (void)ring.push_batch(batch);
    Message message{};
    (void)ring.try_pop(message);
    (void)ring.pop_batch(batch);
  }
  EXPECT_EQ(test::allocation_count(), before);
}

// Sanitizer builds run several times slower; the count keeps the test within a few seconds in both.
#ifdef PARKD_SANITIZE
constexpr uint64_t kThreadedCount = 5'000'000;
#else
constexpr uint64_t kThreadedCount = 10'000'000;
#endif

// Spins a few times, then gives the core away: the test machine may have fewer free cores than threads.
void backoff(unsigned& failures) {
  if (++failures > 64) {
    std::this_thread::yield();
    failures = 0;
  }
}

TEST(SpscRing, TwoThreadsKeepStrictOrderWithoutLoss) {
  SpscRing<uint64_t> ring(64);  // tiny: forces full and empty transitions all the time
  std::thread producer([&ring] {
    unsigned failures = 0;
    for (uint64_t sequence = 0; sequence < kThreadedCount;) {
      if (ring.try_push(sequence)) {
        ++sequence;
      } else {
        backoff(failures);
      }
    }
  });
  uint64_t expected = 0;
  uint64_t out_of_order = 0;
  unsigned failures = 0;
  while (expected < kThreadedCount) {
    uint64_t value = 0;
    if (ring.try_pop(value)) {
      out_of_order += value != expected ? 1 : 0;
      expected = value + 1;
    } else {
      backoff(failures);
    }
  }
  producer.join();
  EXPECT_EQ(out_of_order, 0U);
  uint64_t extra = 0;
  EXPECT_FALSE(ring.try_pop(extra));
  EXPECT_EQ(ring.counters().pushes, kThreadedCount);
  EXPECT_LE(ring.counters().max_depth_seen, 64U);
}

TEST(SpscRing, TwoThreadsWithBatchesKeepStrictOrderWithoutLoss) {
  constexpr uint64_t kCount = kThreadedCount / 2;
  SpscRing<Message> ring(64);
  std::thread producer([&ring] {
    std::array<Message, 37> batch{};  // not a divisor of the capacity: batches straddle the wrap
    unsigned failures = 0;
    uint64_t sequence = 0;
    while (sequence < kCount) {
      const size_t want = std::min<uint64_t>(batch.size(), kCount - sequence);
      for (size_t i = 0; i < want; ++i) batch[i] = {sequence + i, static_cast<uint32_t>(sequence + i), 3};
      const size_t pushed = ring.push_batch(std::span<const Message>(batch).first(want));
      sequence += pushed;  // the unpushed tail is rebuilt next time round
      if (pushed == 0) backoff(failures);
    }
  });
  std::array<Message, 29> out{};
  uint64_t expected = 0;
  uint64_t bad = 0;
  unsigned failures = 0;
  while (expected < kCount) {
    const size_t popped = ring.pop_batch(out);
    if (popped == 0) backoff(failures);
    for (size_t i = 0; i < popped; ++i) {
      bad += (out[i].sequence != expected || out[i].length != static_cast<uint32_t>(expected)) ? 1 : 0;
      expected = out[i].sequence + 1;
    }
  }
  producer.join();
  EXPECT_EQ(bad, 0U);
  EXPECT_EQ(expected, kCount);
  EXPECT_EQ(ring.size_approx(), 0U);
}

}  // namespace
}  // namespace parkd
