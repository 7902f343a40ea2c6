// MailboxMesh and Waker: four shard threads all sending to each other, and the sleep protocol waking a consumer
// blocked on its eventfd. Every wait is bounded (poll with a timeout), and no test sleeps to synchronise.
#include "core/mailbox.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace parkd {
namespace {

struct Message {
  uint32_t from;
  uint32_t sequence;
};

std::unique_ptr<MailboxMesh<Message>> make_mesh(size_t shards, size_t capacity) {
  auto mesh = MailboxMesh<Message>::create(shards, capacity);
  EXPECT_TRUE(mesh.ok());
  return std::move(mesh).value();
}

// Blocks until fd is readable or timeout_ms passes; true when readable.
bool wait_readable(int fd, int timeout_ms) {
  pollfd poll_fd{fd, POLLIN, 0};
  return poll(&poll_fd, 1, timeout_ms) == 1 && (poll_fd.revents & POLLIN) != 0;
}

TEST(MailboxMesh, HasOneRingPerOrderedPair) {
  auto mesh = make_mesh(3, 10);
  EXPECT_EQ(mesh->shard_count(), 3U);
  EXPECT_EQ(mesh->ring(0, 1).capacity(), 16U);
  EXPECT_NE(&mesh->ring(0, 1), &mesh->ring(1, 0));
  EXPECT_TRUE(mesh->send(2, 1, {2, 0}));
  EXPECT_TRUE(mesh->has_incoming(1));
  EXPECT_FALSE(mesh->has_incoming(2));
  EXPECT_EQ(mesh->ring(2, 1).size_approx(), 1U);
  EXPECT_EQ(mesh->ring(1, 2).size_approx(), 0U);
  std::array<Message, 4> out{};
  EXPECT_EQ(mesh->receive(1, out), 1U);
  EXPECT_EQ(out[0].from, 2U);
  EXPECT_FALSE(mesh->has_incoming(1));
  EXPECT_EQ(mesh->ring(2, 1).counters().pushes, 1U);
}

TEST(MailboxMesh, FourShardsAllSendingToEachOther) {
  constexpr size_t kShards = 4;
#ifdef PARKD_SANITIZE
  constexpr uint32_t kPerPair = 50'000;
#else
  constexpr uint32_t kPerPair = 200'000;
#endif
  auto mesh = make_mesh(kShards, 32);
  std::array<uint64_t, kShards> errors{};
  auto shard = [&mesh, &errors](uint32_t me) {
    std::array<uint32_t, kShards> next_to_send{};
    std::array<uint32_t, kShards> next_expected{};
    uint64_t received = 0;
    std::array<Message, 16> inbox{};
    unsigned idle_turns = 0;
    while (received < (kShards - 1) * uint64_t{kPerPair}) {
      bool progress = false;
      for (uint32_t to = 0; to < kShards; ++to) {
        if (to == me || next_to_send[to] == kPerPair) continue;
        if (mesh->ring(me, to).try_push({me, next_to_send[to]})) {
          ++next_to_send[to];
          progress = true;
        }
      }
      const size_t count = mesh->receive(me, inbox);
      for (size_t i = 0; i < count; ++i) {
        const Message& message = inbox[i];
        if (message.from >= kShards || message.from == me || message.sequence != next_expected[message.from]) {
          ++errors[me];
        }
        next_expected[message.from] = message.sequence + 1;
      }
      received += count;
      progress = progress || count > 0;
      if (!progress && ++idle_turns > 64) {
        std::this_thread::yield();  // 4 threads on as few as 2 cores
        idle_turns = 0;
      }
    }
    // Finish sending: the others may still be waiting for our messages.
    for (uint32_t to = 0; to < kShards; ++to) {
      while (to != me && next_to_send[to] < kPerPair) {
        if (mesh->ring(me, to).try_push({me, next_to_send[to]})) {
          ++next_to_send[to];
        } else {
          std::this_thread::yield();
        }
      }
    }
  };
  std::vector<std::thread> threads;
  for (uint32_t me = 0; me < kShards; ++me) threads.emplace_back(shard, me);
  for (std::thread& thread : threads) thread.join();
  for (size_t me = 0; me < kShards; ++me) {
    EXPECT_EQ(errors[me], 0U) << "shard " << me;
    EXPECT_FALSE(mesh->has_incoming(me));
    for (size_t from = 0; from < kShards; ++from) {
      if (from != me) {
        EXPECT_EQ(mesh->ring(from, me).counters().pushes, kPerPair);
      }
    }
  }
}

TEST(Waker, SkipsTheSystemCallWhileTheConsumerIsAwake) {
  Waker waker;
  ASSERT_GE(waker.fd(), 0) << "eventfd: errno " << waker.open_errno();
  EXPECT_FALSE(waker.wake_if_sleeping());
  EXPECT_FALSE(waker.consume()) << "nothing was written";
  waker.prepare_to_sleep();
  EXPECT_TRUE(waker.sleeping());
  EXPECT_TRUE(waker.wake_if_sleeping());
  EXPECT_FALSE(waker.wake_if_sleeping()) << "the first producer already woke it";
  EXPECT_TRUE(wait_readable(waker.fd(), 0)) << "the wake is counted on the eventfd";
  EXPECT_TRUE(waker.consume());
  EXPECT_FALSE(wait_readable(waker.fd(), 0));
  waker.prepare_to_sleep();
  waker.cancel_sleep();
  EXPECT_FALSE(waker.wake_if_sleeping());
  EXPECT_EQ(waker.counters().wakes_written, 1U);
  EXPECT_EQ(waker.counters().wakes_consumed, 1U);
}

TEST(Waker, WakesAThreadBlockedOnTheEventfd) {
  Waker waker;
  ASSERT_GE(waker.fd(), 0);
  std::atomic<bool> woken{false};
  std::thread consumer([&waker, &woken] {
    woken = wait_readable(waker.fd(), 10'000);
    waker.consume();
  });
  waker.wake();  // before or after the poll starts: the eventfd keeps the count either way
  consumer.join();
  EXPECT_TRUE(woken.load());
}

// The whole sleep protocol: a consumer that blocks whenever its rings look empty must still receive every
// message, and producers must make far fewer system calls than messages when the consumer is busy.
TEST(Waker, SleepProtocolLosesNoWakeUp) {
  constexpr size_t kShards = 3;  // shards 1 and 2 send to shard 0
#ifdef PARKD_SANITIZE
  constexpr uint32_t kPerProducer = 20'000;
#else
  constexpr uint32_t kPerProducer = 100'000;
#endif
  auto mesh = make_mesh(kShards, 64);
  uint64_t received = 0;
  uint64_t timeouts = 0;
  std::thread consumer([&] {
    std::array<Message, 32> inbox{};
    Waker& waker = mesh->waker(0);
    while (received < 2 * uint64_t{kPerProducer}) {
      const size_t count = mesh->receive(0, inbox);
      received += count;
      if (count > 0) continue;
      waker.prepare_to_sleep();
      if (mesh->has_incoming(0)) {
        waker.cancel_sleep();
        continue;
      }
      // A lost wake-up would block here until the timeout; the test counts those.
      if (!wait_readable(waker.fd(), 5'000)) ++timeouts;
      waker.consume();
    }
  });
  auto producer = [&mesh](uint32_t me) {
    for (uint32_t sequence = 0; sequence < kPerProducer;) {
      if (mesh->send(me, 0, {me, sequence})) {
        ++sequence;
      } else {
        std::this_thread::yield();
      }
    }
  };
  std::thread producer_1(producer, 1);
  std::thread producer_2(producer, 2);
  producer_1.join();
  producer_2.join();
  consumer.join();
  EXPECT_EQ(timeouts, 0U);
  EXPECT_EQ(received, 2 * uint64_t{kPerProducer});
  EXPECT_LE(mesh->waker(0).counters().wakes_written, 2 * uint64_t{kPerProducer});
  RecordProperty("wakes_written", static_cast<int>(mesh->waker(0).counters().wakes_written));
  RecordProperty("wakes_consumed", static_cast<int>(mesh->waker(0).counters().wakes_consumed));
}

}  // namespace
}  // namespace parkd
