// Shard-to-shard mailboxes: one SpscRing for every ordered pair of shards, and one Waker per shard so a producer
// can wake a consumer that sleeps in io_uring_wait.
//
// Contract:
// - ring(from, to) is pushed only by shard `from`'s thread and popped only by shard `to`'s thread; there is no
//   ring from a shard to itself. Rings are created (allocated) once, by MailboxMesh::create, before the shards
//   start; nothing allocates afterwards.
// - A full ring refuses the message; the sender decides (drop with a counter, or retry next loop turn).
// - Waker: each shard owns an eventfd (non-blocking). The reactor reads it through io_uring (a later step); this
//   file gives the fd and the protocol. The fd is counted: a wake written before the consumer sleeps is not lost.
//
// The sleep protocol, and the lost-wake-up race it avoids. Consumer shard, before it blocks:
//     waker.prepare_to_sleep();            // sleeping = true, then a seq_cst fence
//     if (mesh.has_incoming(me)) { waker.cancel_sleep(); run; }   // re-check every incoming ring
//     else { block in io_uring_wait; then waker.consume(); }
// Producer shard, after pushing (once per message with send(), or once per batch with wake_if_sleeping()):
//     ring.try_push(m);                     // tail store (release)
//     waker.wake_if_sleeping();             // seq_cst fence, then read sleeping; write the eventfd if it was set
// Without the fences this is the store-buffering pattern: the consumer's "sleeping = true" and the producer's
// tail store could each stay invisible to the other's following load, so the consumer sees an empty ring and the
// producer sees an awake consumer, and the message sits there until something else wakes the shard. With a
// seq_cst fence between the store and the load on both sides, at least one side sees the other's store: either
// the consumer's re-check finds the message, or the producer sees the flag and writes the eventfd (and since the
// eventfd counts, a write that lands before the consumer blocks still wakes it). Producers exchange the flag to
// false, so of several producers only one makes the write(2) syscall per sleep; while the consumer is awake no
// producer makes one. A wake may be spurious (the consumer found the work itself); that costs one empty turn.
#pragma once

#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/result.h"
#include "core/spsc_ring.h"

namespace parkd {

struct WakerCounters {
  uint64_t wakes_written = 0;   // eventfd writes (system calls) made by producers
  uint64_t wakes_consumed = 0;  // wakes the consumer found on the eventfd (several writes may count as one)
};

// One shard's wake-up: an eventfd plus the "sleeping" flag that lets producers skip the system call.
class alignas(kCacheLineBytes) Waker {
 public:
  // Opens the eventfd; on failure fd() is -1 and open_errno() says why.
  Waker();
  ~Waker();
  Waker(const Waker&) = delete;
  Waker& operator=(const Waker&) = delete;

  int fd() const { return fd_; }
  int open_errno() const { return open_errno_; }

  // Consumer: announce the intent to sleep. Must be followed by a re-check of every source of work, then either
  // cancel_sleep() (work found) or blocking on fd() and consume().
  void prepare_to_sleep() {
    sleeping_.store(true, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
  void cancel_sleep() { sleeping_.store(false, std::memory_order_relaxed); }
  // Consumer, after waking: clears the flag and drains the eventfd without blocking. Returns true when a wake
  // had been written. (When the reactor reads the fd through io_uring instead, call cancel_sleep().)
  bool consume();

  // Producer, after its pushes are visible (ring tail stored): wakes the consumer if it sleeps or is about to.
  // Returns true when it made the system call.
  bool wake_if_sleeping() {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (!sleeping_.load(std::memory_order_relaxed)) return false;
    if (!sleeping_.exchange(false, std::memory_order_relaxed)) return false;  // another producer is waking it
    write_wake();
    return true;
  }
  // Any thread: wakes the consumer unconditionally (shutdown, tests).
  void wake() { write_wake(); }

  bool sleeping() const { return sleeping_.load(std::memory_order_relaxed); }
  WakerCounters counters() const {
    return {wakes_written_.load(std::memory_order_relaxed), wakes_consumed_.load(std::memory_order_relaxed)};
  }

 private:
  void write_wake();

  std::atomic<bool> sleeping_{false};
  int fd_ = -1;
  int open_errno_ = 0;
  std::atomic<uint64_t> wakes_written_{0};  // several producers: fetch_add, only on the (rare) syscall path
  std::atomic<uint64_t> wakes_consumed_{0};
};

// One ring per ordered pair of shards plus one Waker per shard. T is the message descriptor.
template <class T>
class MailboxMesh {
 public:
  // Control plane (start-up): allocates every ring (capacity rounded up to a power of two) and opens every
  // eventfd. Fails with the errno of a failed eventfd().
  static Result<std::unique_ptr<MailboxMesh>, int> create(size_t shard_count, size_t ring_capacity) {
    assert(shard_count >= 1);
    std::unique_ptr<MailboxMesh> mesh(new MailboxMesh(shard_count, ring_capacity));
    for (const auto& waker : mesh->wakers_) {
      if (waker->fd() < 0) return Unexpected{waker->open_errno()};
    }
    return mesh;
  }
  MailboxMesh(const MailboxMesh&) = delete;
  MailboxMesh& operator=(const MailboxMesh&) = delete;

  size_t shard_count() const { return shard_count_; }

  SpscRing<T>& ring(size_t from, size_t to) { return *rings_[index(from, to)]; }
  const SpscRing<T>& ring(size_t from, size_t to) const { return *rings_[index(from, to)]; }
  Waker& waker(size_t shard) {
    assert(shard < shard_count_);
    return *wakers_[shard];
  }

  // Shard `from`: pushes one message and wakes `to` if it sleeps. False (nothing sent) when the ring is full.
  bool send(size_t from, size_t to, const T& message) {
    if (!ring(from, to).try_push(message)) return false;
    waker(to).wake_if_sleeping();
    return true;
  }

  // Shard `to`: whether any incoming ring holds a message (the re-check of the sleep protocol).
  bool has_incoming(size_t to) const {
    for (size_t from = 0; from < shard_count_; ++from) {
      if (from != to && !ring(from, to).empty_approx()) return true;
    }
    return false;
  }

  // Shard `to`: pops from the incoming rings into `out` (up to out.size()) and returns how many. Each call starts
  // one ring further on, so a busy sender cannot starve the others when `out` is small.
  size_t receive(size_t to, std::span<T> out) {
    assert(to < shard_count_);
    size_t& start = inboxes_[to].next_from;
    size_t received = 0;
    for (size_t step = 0; step < shard_count_ && received < out.size(); ++step) {
      const size_t from = (start + step) % shard_count_;
      if (from != to) received += ring(from, to).pop_batch(out.subspan(received));
    }
    start = (start + 1) % shard_count_;
    return received;
  }

 private:
  MailboxMesh(size_t shard_count, size_t ring_capacity) : shard_count_(shard_count), inboxes_(shard_count) {
    rings_.resize(shard_count * shard_count);
    for (size_t from = 0; from < shard_count; ++from) {
      for (size_t to = 0; to < shard_count; ++to) {
        if (from != to) rings_[from * shard_count + to] = std::make_unique<SpscRing<T>>(ring_capacity);
      }
    }
    wakers_.reserve(shard_count);
    for (size_t shard = 0; shard < shard_count; ++shard) wakers_.push_back(std::make_unique<Waker>());
  }

  size_t index(size_t from, size_t to) const {
    assert(from < shard_count_ && to < shard_count_ && from != to);
    return from * shard_count_ + to;
  }

  // Consumer-only state of one shard, on its own cache line.
  struct alignas(kCacheLineBytes) Inbox {
    size_t next_from = 0;
  };

  size_t shard_count_;
  std::vector<Inbox> inboxes_;
  std::vector<std::unique_ptr<SpscRing<T>>> rings_;  // [from * shard_count + to]; null on the diagonal
  std::vector<std::unique_ptr<Waker>> wakers_;
};

}  // namespace parkd
