// Cross-thread throughput of SpscRing against the obvious baseline, a std::mutex + std::deque queue bounded to
// the same capacity. The benchmark thread produces, a second thread consumes; items/s is what the consumer can
// take from the producer. Messages are 16-byte descriptors, as the mailboxes will carry.
//
// The timed region is the producer's loop; the consumer lags by at most one ring (1,024 items) when it ends.
#include <benchmark/benchmark.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>

#include "core/spsc_ring.h"

namespace {

struct Message {
  uint64_t handle;
  uint32_t length;
  uint32_t source_index;
};

constexpr size_t kCapacity = 1024;
constexpr size_t kBatch = 32;

// Spins briefly, then yields: the benchmark machine may have fewer free cores than the two threads need.
inline void backoff(unsigned& failures) {
  if (++failures > 256) {
    std::this_thread::yield();
    failures = 0;
  }
}

// Runs `consume_one_or_more` on a second thread until it has taken every item the loop produced.
template <class Queue, class Produce, class Consume>
void run_cross_thread(benchmark::State& state, Queue& queue, size_t items_per_iteration, Produce produce,
                      Consume consume) {
  std::atomic<bool> done{false};
  std::atomic<uint64_t> target{0};
  std::thread consumer([&] {
    uint64_t taken = 0;
    uint64_t checksum = 0;
    unsigned failures = 0;
    for (;;) {
      const size_t count = consume(queue, checksum);
      taken += count;
      if (count > 0) continue;
      if (done.load(std::memory_order_acquire) && taken == target.load(std::memory_order_relaxed)) break;
      backoff(failures);
    }
    benchmark::DoNotOptimize(checksum);
  });
  uint64_t sequence = 0;
  for (auto _ : state) {
    produce(queue, sequence);
    sequence += items_per_iteration;
  }
  target.store(sequence, std::memory_order_relaxed);
  done.store(true, std::memory_order_release);
  consumer.join();
  state.SetItemsProcessed(static_cast<int64_t>(sequence));
}

void BM_SpscRing_OneByOne(benchmark::State& state) {
  parkd::SpscRing<Message> ring(kCapacity);
  run_cross_thread(
      state, ring, 1,
      [](parkd::SpscRing<Message>& queue, uint64_t sequence) {
        unsigned failures = 0;
        while (!queue.try_push({sequence, 100, 1})) backoff(failures);
      },
      [](parkd::SpscRing<Message>& queue, uint64_t& checksum) -> size_t {
        Message message{};
        if (!queue.try_pop(message)) return 0;
        checksum += message.handle;
        return 1;
      });
}

void BM_SpscRing_Batch32(benchmark::State& state) {
  parkd::SpscRing<Message> ring(kCapacity);
  run_cross_thread(
      state, ring, kBatch,
      [](parkd::SpscRing<Message>& queue, uint64_t sequence) {
        std::array<Message, kBatch> batch;
        for (size_t i = 0; i < kBatch; ++i) batch[i] = {sequence + i, 100, 1};
        std::span<const Message> rest(batch);
        unsigned failures = 0;
        while (!rest.empty()) {
          const size_t pushed = queue.push_batch(rest);
          rest = rest.subspan(pushed);
          if (pushed == 0) backoff(failures);
        }
      },
      [](parkd::SpscRing<Message>& queue, uint64_t& checksum) -> size_t {
        std::array<Message, kBatch> batch;
        const size_t count = queue.pop_batch(batch);
        for (size_t i = 0; i < count; ++i) checksum += batch[i].handle;
        return count;
      });
}

// The baseline: what one writes without a lock-free ring.
class MutexDequeQueue {
 public:
  bool try_push(const Message& message) {
    const std::lock_guard lock(mutex_);
    if (items_.size() == kCapacity) return false;
    items_.push_back(message);
    return true;
  }
  bool try_pop(Message& message) {
    const std::lock_guard lock(mutex_);
    if (items_.empty()) return false;
    message = items_.front();
    items_.pop_front();
    return true;
  }
  // The batch forms take the lock once per batch, as a careful baseline would.
  size_t push_batch(std::span<const Message> messages) {
    const std::lock_guard lock(mutex_);
    const size_t count = std::min(messages.size(), kCapacity - items_.size());
    items_.insert(items_.end(), messages.begin(), messages.begin() + static_cast<std::ptrdiff_t>(count));
    return count;
  }
  size_t pop_batch(std::span<Message> out) {
    const std::lock_guard lock(mutex_);
    const size_t count = std::min(out.size(), items_.size());
    std::copy_n(items_.begin(), count, out.begin());
    items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(count));
    return count;
  }

 private:
  std::mutex mutex_;
  std::deque<Message> items_;
};

void BM_MutexDeque_OneByOne(benchmark::State& state) {
  MutexDequeQueue queue;
  run_cross_thread(
      state, queue, 1,
      [](MutexDequeQueue& q, uint64_t sequence) {
        unsigned failures = 0;
        while (!q.try_push({sequence, 100, 1})) backoff(failures);
      },
      [](MutexDequeQueue& q, uint64_t& checksum) -> size_t {
        Message message{};
        if (!q.try_pop(message)) return 0;
        checksum += message.handle;
        return 1;
      });
}

void BM_MutexDeque_Batch32(benchmark::State& state) {
  MutexDequeQueue queue;
  run_cross_thread(
      state, queue, kBatch,
      [](MutexDequeQueue& q, uint64_t sequence) {
        std::array<Message, kBatch> batch;
        for (size_t i = 0; i < kBatch; ++i) batch[i] = {sequence + i, 100, 1};
        std::span<const Message> rest(batch);
        unsigned failures = 0;
        while (!rest.empty()) {
          const size_t pushed = q.push_batch(rest);
          rest = rest.subspan(pushed);
          if (pushed == 0) backoff(failures);
        }
      },
      [](MutexDequeQueue& q, uint64_t& checksum) -> size_t {
        std::array<Message, kBatch> batch;
        const size_t count = q.pop_batch(batch);
        for (size_t i = 0; i < count; ++i) checksum += batch[i].handle;
        return count;
      });
}

BENCHMARK(BM_SpscRing_OneByOne)->UseRealTime();
BENCHMARK(BM_MutexDeque_OneByOne)->UseRealTime();
BENCHMARK(BM_SpscRing_Batch32)->UseRealTime();
BENCHMARK(BM_MutexDeque_Batch32)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
