// A bounded lock-free single-producer/single-consumer ring: the building block of the shard mailboxes.
//
// Contract:
// - Exactly one producer thread calls try_push/push_batch and exactly one consumer thread calls
//   try_pop/pop_batch (each may change over time only with external synchronisation). size_approx(), capacity()
//   and counters() may be called from any thread.
// - T is trivially copyable (a small message descriptor: buffer handle, length, source index...); elements are
//   copied in and out, never constructed or destroyed by the ring.
// - The capacity is a power of two fixed at construction (a request is rounded up); the slots are allocated once
//   there and never again. A full ring refuses the push (false / a short batch): the caller owns back-pressure.
// - No locks, no exceptions, no system calls. Waking a sleeping consumer is core/mailbox.h's job.
//
// Memory ordering (acquire/release only):
// - The producer writes a slot, then publishes it with tail_.store(release). The consumer reads tail_ with
//   acquire before reading any slot below it, so the slot's contents happen-before the consumer's read.
// - The consumer reads a slot, then frees it with head_.store(release). The producer reads head_ with acquire
//   before writing any slot below head_ + capacity, so the consumer's read happens-before the producer's
//   overwrite of that slot.
// - Each index is written by one thread only, so it is read by its owner with relaxed order and updated with a
//   plain store, never a read-modify-write. Indices count up forever (64 bits do not wrap in practice); a slot is
//   index & mask, full is tail - head == capacity, empty is tail == head.
// - Each side keeps a cached copy of the other side's index and re-reads the shared one only when the cache says
//   full (producer) or empty (consumer); the cache is always behind the truth, so it is conservative: the ring
//   can only look fuller or emptier than it is. This keeps the other side's cache line from bouncing on every
//   operation (as rigtorp's SPSCQueue and Folly's ProducerConsumerQueue do).
// - tail_ and its producer-only data share one cache line, head_ and its consumer-only data another, and the
//   read-only fields a third, so the two threads never write the same line.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <type_traits>

namespace parkd {

inline constexpr size_t kCacheLineBytes = 64;

struct SpscRingCounters {
  uint64_t pushes = 0;          // elements pushed
  uint64_t full_events = 0;     // pushes (or batches) refused or cut short because the ring was full
  uint64_t max_depth_seen = 0;  // the deepest backlog the consumer found when it re-read tail_: a true depth
                                // at that moment, so a lower bound of the true maximum
};

template <class T>
class SpscRing {
  static_assert(std::is_trivially_copyable_v<T>, "the ring copies elements as bytes");
  static_assert(std::is_default_constructible_v<T>, "the slots are allocated as an array of T");

 public:
  // capacity (>= 1) is rounded up to a power of two.
  explicit SpscRing(size_t capacity)
      : mask_(std::bit_ceil(std::max<size_t>(capacity, 1)) - 1), slots_(std::make_unique<T[]>(mask_ + 1)) {}
  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  size_t capacity() const { return mask_ + 1; }

  // Producer. False when the ring is full.
  bool try_push(const T& value) {
    const uint64_t tail = tail_.load(std::memory_order_relaxed);
    if (tail - producer_.head_cache == capacity()) {
      producer_.head_cache = head_.load(std::memory_order_acquire);
      if (tail - producer_.head_cache == capacity()) {
        bump(producer_.full_events, 1);
        return false;
      }
    }
    slots_[tail & mask_] = value;
    tail_.store(tail + 1, std::memory_order_release);
    bump(producer_.pushes, 1);
    return true;
  }

  // Producer. Pushes a prefix of `values` (all of them unless the ring fills) and returns its length.
  size_t push_batch(std::span<const T> values) {
    if (values.empty()) return 0;
    const uint64_t tail = tail_.load(std::memory_order_relaxed);
    size_t free_slots = capacity() - (tail - producer_.head_cache);
    if (free_slots < values.size()) {
      producer_.head_cache = head_.load(std::memory_order_acquire);
      free_slots = capacity() - (tail - producer_.head_cache);
    }
    const size_t count = std::min(free_slots, values.size());
    if (count < values.size()) bump(producer_.full_events, 1);
    if (count == 0) return 0;
    copy_in(tail, values.first(count));
    tail_.store(tail + count, std::memory_order_release);
    bump(producer_.pushes, count);
    return count;
  }

  // Consumer. False when the ring is empty.
  bool try_pop(T& value) {
    const uint64_t head = head_.load(std::memory_order_relaxed);
    if (head == consumer_.tail_cache) {
      refresh_tail(head);
      if (head == consumer_.tail_cache) return false;
    }
    value = slots_[head & mask_];
    head_.store(head + 1, std::memory_order_release);
    return true;
  }

  // Consumer. Pops up to out.size() elements into the front of `out` and returns how many.
  size_t pop_batch(std::span<T> out) {
    if (out.empty()) return 0;
    const uint64_t head = head_.load(std::memory_order_relaxed);
    size_t available = consumer_.tail_cache - head;
    if (available < out.size()) {
      refresh_tail(head);
      available = consumer_.tail_cache - head;
    }
    const size_t count = std::min(available, out.size());
    if (count == 0) return 0;
    copy_out(head, out.first(count));
    head_.store(head + count, std::memory_order_release);
    return count;
  }

  // Any thread. Exact when neither side is running; otherwise a value the ring held at some moment during the
  // call, or close to one.
  size_t size_approx() const {
    // head first: head only grows and never passes tail, so a later tail is >= this head.
    const uint64_t head = head_.load(std::memory_order_acquire);
    const uint64_t tail = tail_.load(std::memory_order_acquire);
    return static_cast<size_t>(std::min<uint64_t>(tail - head, capacity()));
  }
  bool empty_approx() const { return size_approx() == 0; }

  // Any thread (relaxed reads of counters each written by one side).
  SpscRingCounters counters() const {
    return {producer_.pushes.load(std::memory_order_relaxed), producer_.full_events.load(std::memory_order_relaxed),
            consumer_.max_depth_seen.load(std::memory_order_relaxed)};
  }

 private:
  // Each counter has one writer: load + store, not a locked read-modify-write.
  static void bump(std::atomic<uint64_t>& counter, uint64_t by) {
    counter.store(counter.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  }

  // Consumer: the only place it reads the producer's line; the depth seen there is exact for that moment.
  void refresh_tail(uint64_t head) {
    consumer_.tail_cache = tail_.load(std::memory_order_acquire);
    const uint64_t depth = consumer_.tail_cache - head;
    if (depth > consumer_.max_depth_seen.load(std::memory_order_relaxed)) {
      consumer_.max_depth_seen.store(depth, std::memory_order_relaxed);
    }
  }

  // Copies `values` into the slots from index `from` on, in at most two pieces (before and after the wrap).
  void copy_in(uint64_t from, std::span<const T> values) {
    const size_t start = from & mask_;
    const size_t first = std::min(values.size(), capacity() - start);
    std::copy_n(values.data(), first, slots_.get() + start);
    std::copy_n(values.data() + first, values.size() - first, slots_.get());
  }
  void copy_out(uint64_t from, std::span<T> out) const {
    const size_t start = from & mask_;
    const size_t first = std::min(out.size(), capacity() - start);
    std::copy_n(slots_.get() + start, first, out.data());
    std::copy_n(slots_.get(), out.size() - first, out.data() + first);
  }

  // Producer's line.
  alignas(kCacheLineBytes) std::atomic<uint64_t> tail_{0};
  struct {
    uint64_t head_cache = 0;
    std::atomic<uint64_t> pushes{0};
    std::atomic<uint64_t> full_events{0};
  } producer_;

  // Consumer's line.
  alignas(kCacheLineBytes) std::atomic<uint64_t> head_{0};
  struct {
    uint64_t tail_cache = 0;
    std::atomic<uint64_t> max_depth_seen{0};
  } consumer_;

  // Read-only after construction.
  alignas(kCacheLineBytes) const size_t mask_;
  const std::unique_ptr<T[]> slots_;
};

}  // namespace parkd
