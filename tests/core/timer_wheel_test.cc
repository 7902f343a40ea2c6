// The timer wheel against a sorted reference: nothing early, nothing late, expiry order, and callbacks that
// change the wheel while it runs. Time is always a parameter; no test reads a clock.
#include "core/timer_wheel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "support/allocation_counter.h"

namespace parkd {
namespace {

struct Firing {
  uint64_t expires_at_ms;
  uint64_t fired_at_ms;  // the wheel's time inside the callback
  size_t id;
};

// A timer owned by a test object, recovered in the callback with PARKD_TIMER_OWNER.
struct Recorded {
  TimerEntry entry{&Recorded::on_fire};
  TimerWheel* wheel = nullptr;
  std::vector<Firing>* log = nullptr;
  size_t id = 0;

  static void on_fire(TimerEntry& fired) {
    Recorded& self = PARKD_TIMER_OWNER(Recorded, entry, fired);
    self.log->push_back({fired.expires_at_ms(), self.wheel->now_ms(), self.id});
  }
};

std::unique_ptr<Recorded[]> make_recorded(size_t count, TimerWheel& wheel, std::vector<Firing>& log) {
  auto timers = std::make_unique<Recorded[]>(count);
  for (size_t i = 0; i < count; ++i) {
    timers[i].wheel = &wheel;
    timers[i].log = &log;
    timers[i].id = i;
  }
  return timers;
}

// An expiry distance spread evenly over orders of magnitude, 1 ms .. max_ms, so every level gets timers.
uint64_t log_uniform_ms(std::mt19937_64& random, uint64_t max_ms) {
  std::uniform_real_distribution<double> exponent(0.0, std::log2(static_cast<double>(max_ms)));
  return std::max<uint64_t>(1, static_cast<uint64_t>(std::exp2(exponent(random))));
}

constexpr uint64_t kStart = 1'234'567'891;  // not aligned to any level, so slot boundaries fall mid-range

TEST(TimerWheel, SingleTimerFiresExactlyAtExpiryAtEveryLevel) {
  for (uint64_t delay_ms : {1ULL, 2ULL, 63ULL, 64ULL, 65ULL, 500ULL, 4095ULL, 4096ULL, 32'000ULL, 262'144ULL,
                            3'600'000ULL, 86'400'000ULL, 1ULL << 30, (1ULL << 36) - 1, 1ULL << 36}) {
    SCOPED_TRACE(delay_ms);
    TimerWheel wheel(kStart);
    std::vector<Firing> log;
    auto timers = make_recorded(1, wheel, log);
    const uint64_t expires = kStart + delay_ms;
    wheel.schedule(timers[0].entry, expires);
    EXPECT_TRUE(TimerWheel::armed(timers[0].entry));
    EXPECT_EQ(wheel.size(), 1U);
    ASSERT_TRUE(wheel.next_expiry_ms().has_value());
    EXPECT_LE(*wheel.next_expiry_ms(), expires);
    EXPECT_GT(*wheel.next_expiry_ms(), kStart);

    EXPECT_EQ(wheel.advance(expires - 1), 0U);
    EXPECT_TRUE(log.empty());
    EXPECT_EQ(wheel.next_expiry_ms(), expires) << "one millisecond before, the timer sits in level 0";
    EXPECT_EQ(wheel.advance(expires), 1U);
    ASSERT_EQ(log.size(), 1U);
    EXPECT_EQ(log[0].fired_at_ms, expires);
    EXPECT_FALSE(TimerWheel::armed(timers[0].entry));
    EXPECT_EQ(wheel.size(), 0U);
    EXPECT_FALSE(wheel.next_expiry_ms().has_value());
  }
}

TEST(TimerWheel, SleepingUntilNextExpiryNeverMissesATimer) {
  // A reactor that only wakes at next_expiry_ms() must see every timer fire at its exact expiry.
  std::mt19937_64 random(7);
  TimerWheel wheel(kStart);
  std::vector<Firing> log;
  constexpr size_t kCount = 2000;
  auto timers = make_recorded(kCount, wheel, log);
  for (size_t i = 0; i < kCount; ++i) wheel.schedule(timers[i].entry, kStart + log_uniform_ms(random, 1ULL << 33));
  size_t wakeups = 0;
  while (auto next = wheel.next_expiry_ms()) {
    wheel.advance(*next);
    ++wakeups;
  }
  ASSERT_EQ(log.size(), kCount);
  for (const Firing& firing : log) EXPECT_EQ(firing.fired_at_ms, firing.expires_at_ms);
  EXPECT_LT(wakeups, kCount * TimerWheel::kLevels);
}

// Many timers with seeded random expiries over every level, advanced in random steps (small and huge): the
// firing order is the sorted order of the expiries, and each timer fires in the first advance() that reaches it.
void check_random_timers(uint64_t seed, uint64_t max_delay_ms, uint64_t max_step_ms) {
  std::mt19937_64 random(seed);
  TimerWheel wheel(kStart);
  std::vector<Firing> log;
  constexpr size_t kCount = 20'000;
  auto timers = make_recorded(kCount, wheel, log);
  std::vector<uint64_t> reference;
  for (size_t i = 0; i < kCount; ++i) {
    const uint64_t expires = kStart + log_uniform_ms(random, max_delay_ms);
    wheel.schedule(timers[i].entry, expires);
    reference.push_back(expires);
  }
  std::sort(reference.begin(), reference.end());

  uint64_t now = kStart;
  size_t advances = 0;
  while (!wheel.empty()) {
    const uint64_t previous = now;
    now += log_uniform_ms(random, max_step_ms);
    const size_t before = log.size();
    const size_t fired = wheel.advance(now);
    ++advances;
    ASSERT_EQ(fired, log.size() - before);
    for (size_t i = before; i < log.size(); ++i) {
      ASSERT_GT(log[i].expires_at_ms, previous) << "fired late: it was due in an earlier advance()";
      ASSERT_LE(log[i].expires_at_ms, now) << "fired early";
      ASSERT_EQ(log[i].fired_at_ms, log[i].expires_at_ms);
    }
  }
  ASSERT_EQ(log.size(), kCount);
  for (size_t i = 0; i < kCount; ++i) ASSERT_EQ(log[i].expires_at_ms, reference[i]) << "position " << i;
  EXPECT_EQ(wheel.counters().fired_total, kCount);
  EXPECT_GT(advances, 10U);
}

TEST(TimerWheel, RandomTimersFireInSortedOrderWithSmallSteps) { check_random_timers(1, 600'000, 64); }
TEST(TimerWheel, RandomTimersFireInSortedOrderUpToADay) { check_random_timers(2, 86'400'000, 1ULL << 22); }
TEST(TimerWheel, RandomTimersBeyondTheTopLevelAreClampedAndReCascaded) {
  check_random_timers(3, 1ULL << 40, 1ULL << 34);
}

TEST(TimerWheel, CancelBeforeFire) {
  TimerWheel wheel(kStart);
  std::vector<Firing> log;
  auto timers = make_recorded(3, wheel, log);
  wheel.schedule(timers[0].entry, kStart + 10);
  wheel.schedule(timers[1].entry, kStart + 10);
  wheel.schedule(timers[2].entry, kStart + 100'000);
  wheel.cancel(timers[0].entry);
  wheel.cancel(timers[2].entry);
  wheel.cancel(timers[2].entry);  // not armed: a no-op
  EXPECT_FALSE(TimerWheel::armed(timers[0].entry));
  EXPECT_EQ(wheel.size(), 1U);
  EXPECT_EQ(wheel.advance(kStart + 1'000'000), 1U);
  ASSERT_EQ(log.size(), 1U);
  EXPECT_EQ(log[0].id, 1U);
  EXPECT_FALSE(wheel.next_expiry_ms().has_value());
}

// A timer whose callback cancels another one.
struct Canceller {
  TimerEntry entry{&Canceller::on_fire};
  TimerWheel* wheel = nullptr;
  TimerEntry* victim = nullptr;
  int fired = 0;
  static void on_fire(TimerEntry& fired_entry) {
    Canceller& self = PARKD_TIMER_OWNER(Canceller, entry, fired_entry);
    ++self.fired;
    self.wheel->cancel(*self.victim);
  }
};

TEST(TimerWheel, CallbackCancelsTimersDueInTheSameAdvance) {
  TimerWheel wheel(kStart);
  std::vector<Firing> log;
  auto victims = make_recorded(2, wheel, log);
  Canceller canceller;
  canceller.wheel = &wheel;
  // Same millisecond (scheduled after the canceller, so it runs later in the same pass), then a later one.
  wheel.schedule(canceller.entry, kStart + 300);
  wheel.schedule(victims[0].entry, kStart + 300);
  wheel.schedule(victims[1].entry, kStart + 5'000);
  canceller.victim = &victims[0].entry;
  EXPECT_EQ(wheel.advance(kStart + 10'000), 2U);  // the canceller and victims[1]
  EXPECT_EQ(canceller.fired, 1);
  ASSERT_EQ(log.size(), 1U);
  EXPECT_EQ(log[0].id, 1U);

  // The victim due later than the canceller, within the same advance.
  wheel.schedule(canceller.entry, kStart + 20'000);
  wheel.schedule(victims[0].entry, kStart + 20'001);
  wheel.schedule(victims[1].entry, kStart + 20'002);
  canceller.victim = &victims[1].entry;
  EXPECT_EQ(wheel.advance(kStart + 30'000), 2U);
  ASSERT_EQ(log.size(), 2U);
  EXPECT_EQ(log[1].id, 0U);
  EXPECT_TRUE(wheel.empty());
}

// A periodic timer: re-schedules itself from its callback.
struct Periodic {
  TimerEntry entry{&Periodic::on_fire};
  TimerWheel* wheel = nullptr;
  uint64_t period_ms = 0;
  std::vector<uint64_t> fired_at_ms;
  static void on_fire(TimerEntry& fired) {
    Periodic& self = PARKD_TIMER_OWNER(Periodic, entry, fired);
    self.fired_at_ms.push_back(self.wheel->now_ms());
    self.wheel->schedule(self.entry, fired.expires_at_ms() + self.period_ms);
  }
};

TEST(TimerWheel, PeriodicTimerReschedulesItselfWithoutDrift) {
  TimerWheel wheel(kStart);
  Periodic periodic;
  periodic.wheel = &wheel;
  periodic.period_ms = 20;
  wheel.schedule(periodic.entry, kStart + 20);
  EXPECT_EQ(wheel.advance(kStart + 1'000), 50U);  // one call covers fifty periods
  wheel.advance(kStart + 1'013);
  wheel.advance(kStart + 1'037);
  wheel.advance(kStart + 1'040);
  ASSERT_EQ(periodic.fired_at_ms.size(), 52U);
  for (size_t i = 0; i < periodic.fired_at_ms.size(); ++i) EXPECT_EQ(periodic.fired_at_ms[i], kStart + 20 * (i + 1));
  EXPECT_TRUE(TimerWheel::armed(periodic.entry));
  wheel.cancel(periodic.entry);
  EXPECT_TRUE(wheel.empty());
}

TEST(TimerWheel, TimerAtOrBeforeNowFiresOnTheNextAdvance) {
  TimerWheel wheel(kStart);
  std::vector<Firing> log;
  auto timers = make_recorded(2, wheel, log);
  wheel.schedule(timers[0].entry, kStart);
  wheel.schedule(timers[1].entry, kStart - 5'000);  // already in the past
  EXPECT_EQ(wheel.next_expiry_ms(), kStart);
  EXPECT_EQ(wheel.advance(kStart), 2U) << "the same time as the wheel's";
  ASSERT_EQ(log.size(), 2U);
  EXPECT_EQ(log[0].id, 0U);  // overdue timers fire in scheduling order
  EXPECT_EQ(log[1].id, 1U);
}

TEST(TimerWheel, CallbackReschedulingItselfAtNowFiresOncePerPass) {
  TimerWheel wheel(kStart);
  Periodic busy;  // period 0: always due again
  busy.wheel = &wheel;
  wheel.schedule(busy.entry, kStart);
  EXPECT_EQ(wheel.advance(kStart), 1U) << "advance() must terminate";
  EXPECT_EQ(wheel.next_expiry_ms(), kStart);
  EXPECT_EQ(wheel.advance(kStart), 1U);
  // Moving time on: one pass on entry, one at the new time.
  EXPECT_EQ(wheel.advance(kStart + 10), 2U);
  wheel.cancel(busy.entry);
}

TEST(TimerWheel, OverdueTimersFromCallbacksFireBeforeLaterTimers) {
  TimerWheel wheel(kStart);
  std::vector<Firing> log;
  auto timers = make_recorded(2, wheel, log);
  // A callback that schedules another timer in the past from inside a pass.
  struct Scheduler {
    TimerEntry entry{&Scheduler::on_fire};
    TimerWheel* wheel = nullptr;
    TimerEntry* target = nullptr;
    static void on_fire(TimerEntry& fired) {
      Scheduler& self = PARKD_TIMER_OWNER(Scheduler, entry, fired);
      self.wheel->schedule(*self.target, fired.expires_at_ms() - 1);
    }
  } scheduler;
  scheduler.wheel = &wheel;
  scheduler.target = &timers[0].entry;
  wheel.schedule(scheduler.entry, kStart + 100);
  wheel.schedule(timers[1].entry, kStart + 101);
  EXPECT_EQ(wheel.advance(kStart + 200), 3U);
  ASSERT_EQ(log.size(), 2U);
  EXPECT_EQ(log[0].id, 0U);
  EXPECT_EQ(log[0].fired_at_ms, kStart + 101) << "the next pass of the same advance()";
  EXPECT_EQ(log[1].id, 1U);
}

TEST(TimerWheel, ReschedulingAnArmedTimerMovesIt) {
  TimerWheel wheel(kStart);
  std::vector<Firing> log;
  auto timers = make_recorded(1, wheel, log);
  wheel.schedule(timers[0].entry, kStart + 3'600'000);
  wheel.schedule(timers[0].entry, kStart + 50);
  EXPECT_EQ(wheel.size(), 1U);
  EXPECT_EQ(wheel.advance(kStart + 49), 0U);
  EXPECT_EQ(wheel.advance(kStart + 50), 1U);
  wheel.schedule(timers[0].entry, kStart + 100);
  wheel.schedule(timers[0].entry, kStart + 7'000'000);
  EXPECT_EQ(wheel.advance(kStart + 6'999'999), 0U);
  EXPECT_EQ(wheel.advance(kStart + 7'000'000), 1U);
  ASSERT_EQ(log.size(), 2U);
  EXPECT_EQ(log[1].fired_at_ms, kStart + 7'000'000);
}

TEST(TimerWheel, LargeJumpFiresEverythingDueInOrder) {
  std::mt19937_64 random(11);
  TimerWheel wheel(kStart);
  std::vector<Firing> log;
  constexpr size_t kCount = 10'000;
  auto timers = make_recorded(kCount, wheel, log);
  std::vector<uint64_t> reference;
  for (size_t i = 0; i < kCount; ++i) {
    // SIP timers, registrations, park recall: 500 ms .. 24 h, plus some due after the jump.
    const uint64_t expires = kStart + 500 + log_uniform_ms(random, 100'000'000);
    wheel.schedule(timers[i].entry, expires);
    if (expires <= kStart + 25 * 3'600'000ULL) reference.push_back(expires);
  }
  std::sort(reference.begin(), reference.end());
  const size_t fired = wheel.advance(kStart + 25 * 3'600'000ULL);  // 25 hours at once
  EXPECT_EQ(fired, reference.size());
  ASSERT_EQ(log.size(), reference.size());
  for (size_t i = 0; i < log.size(); ++i) {
    ASSERT_EQ(log[i].expires_at_ms, reference[i]);
    ASSERT_EQ(log[i].fired_at_ms, reference[i]);
  }
  EXPECT_EQ(wheel.size(), kCount - reference.size());
  EXPECT_EQ(wheel.counters().armed, kCount - reference.size());
  for (size_t i = 0; i < kCount; ++i) wheel.cancel(timers[i].entry);  // before the entries are destroyed
}

TEST(TimerWheel, MillionTimersScheduleAndCancelWithoutAllocation) {
  constexpr size_t kCount = 1'000'000;
  std::mt19937_64 random(5);
  TimerWheel wheel(kStart);
  auto entries = std::make_unique<TimerEntry[]>(kCount);
  std::vector<uint64_t> expiries(kCount);
  for (uint64_t& expires : expiries) expires = kStart + log_uniform_ms(random, 86'400'000);
  std::vector<uint32_t> cancel_order(kCount);
  for (uint32_t i = 0; i < kCount; ++i) cancel_order[i] = i;
  std::shuffle(cancel_order.begin(), cancel_order.end(), random);

  const uint64_t allocations_before = test::allocation_count();
  for (size_t i = 0; i < kCount; ++i) wheel.schedule(entries[i], expiries[i]);
  const size_t armed = wheel.size();
  for (const uint32_t i : cancel_order) wheel.cancel(entries[i]);
  const uint64_t allocations_after = test::allocation_count();

  EXPECT_EQ(allocations_after, allocations_before);
  auto probe = std::make_unique<int>(1);  // the counter is live: this one is seen
  EXPECT_GT(test::allocation_count(), allocations_after);
  EXPECT_EQ(armed, kCount);
  EXPECT_TRUE(wheel.empty());
  EXPECT_FALSE(wheel.next_expiry_ms().has_value());
  EXPECT_EQ(wheel.advance(kStart + 100'000'000), 0U);
}

TEST(TimerWheel, DestroyingTheWheelDisarmsItsEntries) {
  TimerEntry entry;
  {
    TimerWheel wheel(kStart);
    wheel.schedule(entry, kStart + 10);
    EXPECT_TRUE(entry.armed());
  }
  EXPECT_FALSE(entry.armed());
}

}  // namespace
}  // namespace parkd
