// TimerWheel against the obvious baseline, std::multimap<expiry, Entry*>, doing the same work.
//
//   schedule+cancel: a timer armed then disarmed (a SIP transaction answered before its timer), with 100,000
//                    other timers armed, as on a busy shard.
//   schedule+fire:   100,000 timers that re-arm themselves from their callback at a random distance; time moves
//                    on in fixed steps. Items are timers fired (each one fire plus one schedule).
// Both run over the SIP range (up to 32 s, 1 ms steps) and the registration range (up to 3600 s, 100 ms steps).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "core/timer_wheel.h"

namespace {

using parkd::TimerEntry;
using parkd::TimerWheel;

constexpr uint64_t kStart = 1'000'000;
constexpr size_t kPopulation = 100'000;
constexpr size_t kDelays = 1 << 16;  // a table of random distances, indexed round-robin

std::vector<uint64_t> random_delays(uint64_t max_delay_ms) {
  std::mt19937_64 random(42);
  std::uniform_int_distribution<uint64_t> delay(1, max_delay_ms);
  std::vector<uint64_t> delays(kDelays);
  for (uint64_t& value : delays) value = delay(random);
  return delays;
}

// --- schedule + cancel ---

void BM_TimerWheel_ScheduleCancel(benchmark::State& state) {
  const auto delays = random_delays(static_cast<uint64_t>(state.range(0)));
  TimerWheel wheel(kStart);
  auto background = std::make_unique<TimerEntry[]>(kPopulation);
  for (size_t i = 0; i < kPopulation; ++i) wheel.schedule(background[i], kStart + delays[i % kDelays]);
  TimerEntry entry;
  size_t i = 0;
  for (auto _ : state) {
    wheel.schedule(entry, kStart + delays[i++ & (kDelays - 1)]);
    wheel.cancel(entry);
  }
  benchmark::DoNotOptimize(wheel.size());
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  for (size_t j = 0; j < kPopulation; ++j) wheel.cancel(background[j]);
}

struct MapEntry {
  std::multimap<uint64_t, MapEntry*>::iterator position;
};

void BM_Multimap_ScheduleCancel(benchmark::State& state) {
  const auto delays = random_delays(static_cast<uint64_t>(state.range(0)));
  std::multimap<uint64_t, MapEntry*> timers;
  std::vector<MapEntry> background(kPopulation);
  for (size_t i = 0; i < kPopulation; ++i) {
    background[i].position = timers.emplace(kStart + delays[i % kDelays], &background[i]);
  }
  MapEntry entry;
  size_t i = 0;
  for (auto _ : state) {
    entry.position = timers.emplace(kStart + delays[i++ & (kDelays - 1)], &entry);
    timers.erase(entry.position);
  }
  benchmark::DoNotOptimize(timers.size());
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

// --- schedule + fire ---

struct WheelTimer {
  TimerEntry entry{&WheelTimer::on_fire};
  TimerWheel* wheel = nullptr;
  const std::vector<uint64_t>* delays = nullptr;
  size_t* next_delay = nullptr;
  static void on_fire(TimerEntry& fired) {
    WheelTimer& self = PARKD_TIMER_OWNER(WheelTimer, entry, fired);
    const uint64_t delay = (*self.delays)[(*self.next_delay)++ & (kDelays - 1)];
    self.wheel->schedule(self.entry, self.wheel->now_ms() + delay);
  }
};

void BM_TimerWheel_ScheduleFire(benchmark::State& state) {
  const auto delays = random_delays(static_cast<uint64_t>(state.range(0)));
  const auto step_ms = static_cast<uint64_t>(state.range(1));
  TimerWheel wheel(kStart);
  size_t next_delay = 0;
  auto timers = std::make_unique<WheelTimer[]>(kPopulation);
  for (size_t i = 0; i < kPopulation; ++i) {
    timers[i].wheel = &wheel;
    timers[i].delays = &delays;
    timers[i].next_delay = &next_delay;
    wheel.schedule(timers[i].entry, kStart + delays[next_delay++ & (kDelays - 1)]);
  }
  uint64_t now = kStart;
  int64_t fired = 0;
  for (auto _ : state) {
    now += step_ms;
    fired += static_cast<int64_t>(wheel.advance(now));
  }
  state.SetItemsProcessed(fired);
  for (size_t i = 0; i < kPopulation; ++i) wheel.cancel(timers[i].entry);
}

void BM_Multimap_ScheduleFire(benchmark::State& state) {
  const auto delays = random_delays(static_cast<uint64_t>(state.range(0)));
  const auto step_ms = static_cast<uint64_t>(state.range(1));
  std::multimap<uint64_t, MapEntry*> timers;
  std::vector<MapEntry> entries(kPopulation);
  size_t next_delay = 0;
  for (size_t i = 0; i < kPopulation; ++i) {
    entries[i].position = timers.emplace(kStart + delays[next_delay++ & (kDelays - 1)], &entries[i]);
  }
  uint64_t now = kStart;
  int64_t fired = 0;
  for (auto _ : state) {
    now += step_ms;
    // The usual loop: pop the earliest while due, run it; the "callback" re-arms the timer.
    while (!timers.empty() && timers.begin()->first <= now) {
      MapEntry* entry = timers.begin()->second;
      const uint64_t due = timers.begin()->first;
      timers.erase(timers.begin());
      ++fired;
      entry->position = timers.emplace(due + delays[next_delay++ & (kDelays - 1)], entry);
    }
  }
  state.SetItemsProcessed(fired);
}

constexpr int64_t kSipRangeMs = 32'000;
constexpr int64_t kRegistrationRangeMs = 3'600'000;

BENCHMARK(BM_TimerWheel_ScheduleCancel)->Arg(kSipRangeMs)->Arg(kRegistrationRangeMs);
BENCHMARK(BM_Multimap_ScheduleCancel)->Arg(kSipRangeMs)->Arg(kRegistrationRangeMs);
BENCHMARK(BM_TimerWheel_ScheduleFire)->Args({kSipRangeMs, 1})->Args({kRegistrationRangeMs, 100});
BENCHMARK(BM_Multimap_ScheduleFire)->Args({kSipRangeMs, 1})->Args({kRegistrationRangeMs, 100});

}  // namespace

BENCHMARK_MAIN();
