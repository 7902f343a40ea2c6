// A shard: one thread, one io_uring, the sockets and state it owns. See docs/ARCHITECTURE.md.
//
// The loop (run()):
//   1. submit what the last turn queued and wait for at least one completion (bounded by the next deadline);
//   2. reap completions in a batch; for each: a UDP datagram or a framed TCP message goes to the Handler,
//      which answers through out_buffer() + send(); the receive buffer goes back to the ring at once;
//   3. housekeeping: TCP idle sweep, re-arm receives that stopped.
// Everything a shard touches is owned by it; other threads only call stop() and read counters().
//
// user_data of every SQE encodes what it was for (see Op): op in bits 56-63, a generation in bits 32-55
// (TCP connections, so a late completion of a closed connection is recognised), an index in bits 0-31.
//
// Limits (ShardConfig): receive buffers, send slots, TCP connections (global per shard and per source
// address), TCP message size (64 KiB: larger gets the Handler's oversize answer and the connection is closed),
// TCP idle time. At each limit the shard drops or refuses and counts it (counters()).
//
// Overload (pressure()): the bytes waiting in the kernel's receive queue of the shard's UDP sockets, read with
// SO_MEMINFO at the start of a loop turn (once per millisecond; on every turn that begins with many
// completions or while the shard is under pressure), against two watermarks with hysteresis. The shard only measures;
// what is shed at each level is the SIP layer's rule (sip/server.h, docs/limits.md).
#pragma once

#include <liburing.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "core/counters.h"
#include "core/endpoint.h"
#include "core/mailbox.h"
#include "core/timer_wheel.h"

namespace parkd {

class Shard;

struct Inbound {
  std::string_view data;
  int forwarded_from = -1;  // the shard that received it, when it was handed over through the mailbox
  Transport transport = Transport::udp;
  Endpoint peer;
  uint32_t socket = 0;         // UDP: index of the receiving socket; TCP: connection id
  bool truncated = false;      // UDP datagram larger than a receive buffer (MSG_TRUNC): data is a prefix
  bool oversize = false;       // TCP message larger than the limit: data is what was buffered
  bool framing_error = false;  // TCP bytes that cannot be framed: the connection closes after the answer
};

// What travels between shards (core/mailbox.h): a handed-over datagram (its bytes stay in the receiving
// shard's buffer until the release comes back), a buffer release, or a message of the layers above.
struct Mail {
  // inbound: a message handed over (UDP: bytes in the sender's receive buffer `buffer_id`; TCP: a copy in the
  //   sender's send slot `slot`); release_buffer / release_slot: give that memory back to its owner;
  // tcp_send: send `data` (in the sender's slot `slot`) on connection `socket` of the owner, who copies it;
  // tcp_close: close connection `socket` once its answers are sent; user: for the layers above.
  enum class Kind : uint8_t { inbound, release_buffer, release_slot, tcp_send, tcp_close, user };
  Kind kind = Kind::user;
  Transport transport = Transport::udp;
  uint16_t from = 0;       // sending shard
  uint16_t buffer_id = 0;  // inbound / release_buffer (UDP): the receive buffer in the owner's ring
  uint32_t slot = 0;       // inbound (TCP), tcp_send, release_slot: the send slot in the owner's pool
  uint32_t socket = 0;
  uint32_t size = 0;
  const char* data = nullptr;
  Endpoint peer;
  uint64_t user = 0;  // user mails: whatever the layers above put there
};

// How the Handler frames a TCP stream (the SIP parser's complete / incomplete / error).
struct Frame {
  enum Kind : uint8_t { complete, incomplete, error } kind = incomplete;
  uint32_t size = 0;  // complete: bytes of the first message
};

class Handler {
 public:
  virtual ~Handler() = default;
  virtual Frame frame(std::string_view stream) = 0;
  // Called on the shard thread; `in.data` is valid only during the call.
  virtual void on_message(Shard& shard, const Inbound& in) = 0;
  // Called once on the shard thread before its loop starts (the place to take the shard's timer wheel).
  virtual void on_start(Shard& /*shard*/) {}
  // Called once per loop turn after the completions were handled (the place for batched work).
  virtual void on_turn_end(Shard& /*shard*/) {}
  // A Mail::Kind::user message from another shard.
  virtual void on_mail(Shard& /*shard*/, const Mail& /*mail*/) {}
};

// How far behind the shard is (see the file comment): normal from the start and once the receive queue is at
// or below the low watermark again; high from the high watermark on; critical from the critical mark (close to
// where the kernel drops) until the queue is below the high watermark again.
enum class Pressure : uint8_t { normal, high, critical };
std::string_view pressure_name(Pressure pressure);

struct ShardConfig {
  unsigned index = 0;
  int cpu = -1;                     // pin to this CPU; -1: no pinning
  std::vector<int> udp_fds;         // owned by the shard from start
  std::vector<int> tcp_listen_fds;  // owned by the shard from start
  unsigned ring_entries = 2048;
  unsigned receive_buffers = 256;            // power of two
  unsigned receive_buffer_size = 66 * 1024;  // a whole UDP datagram (65507) plus recvmsg headers
  unsigned send_slots = 4096;
  unsigned send_slot_size = 8192;
  unsigned tcp_connections_max = 4096;
  unsigned tcp_connections_per_source_max = 64;
  unsigned tcp_message_size_max = 65535;
  unsigned tcp_idle_timeout_ms = 300'000;
  // Overload watermarks on the bytes queued in a UDP socket's receive queue (the kernel's accounting, which
  // counts each datagram's buffer overhead: about 1.1 KiB per 600-byte datagram on loopback). 0: the default,
  // high = 256 KiB (a couple of hundred requests, 1-3 ms of work) but at most a quarter of the socket's
  // receive buffer as the kernel reports it (SO_RCVBUF), low = a quarter of high. The kernel drops datagrams
  // when the queue reaches the receive buffer; the room above the high watermark absorbs stalls.
  unsigned overload_high_bytes = 0;
  unsigned overload_low_bytes = 0;
  // How long the queue must stay at or above the high mark before a calm shard is under pressure: a shard
  // that stalled (a page fault storm, a preempted vCPU) and then works its backlog off within this time costs
  // its callers latency, not answers. Within a second of leaving pressure (an overload that comes and goes)
  // and at the critical mark there is no grace.
  unsigned overload_grace_ms = 100;
  // Critical from this many bytes on: every new request is shed. 0: half the socket's receive buffer (16 MiB
  // with the node's request, doubled by the kernel) but at least twice the high mark: before the kernel drops.
  unsigned overload_critical_bytes = 0;
  MailboxMesh<Mail>* mailboxes = nullptr;  // shared by the node's shards; nullptr: a lone shard
};

// A buffer to build one outgoing message in (send_slot_size bytes), obtained from the shard.
struct OutBuffer {
  char* data = nullptr;  // nullptr: no slot free (counted as send_no_slot)
  uint32_t capacity = 0;
  uint32_t slot = 0;
};

class Shard {
 public:
  Shard(ShardConfig config, Handler& handler);
  ~Shard();
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  // Sets up the ring in the calling thread (SINGLE_ISSUER binds the ring to it) and runs until stop().
  // Returns false with a message when the ring cannot be set up.
  bool run(std::string* error);
  void stop();  // any thread

  // Shard thread only.
  OutBuffer out_buffer();
  void release(OutBuffer buffer);  // give back a buffer that will not be sent
  void send_udp(OutBuffer buffer, uint32_t length, uint32_t socket, const Endpoint& to);
  void send_tcp(OutBuffer buffer, uint32_t length, uint32_t connection);
  void reply(const Inbound& in, OutBuffer buffer, uint32_t length);
  void close_connection_after_send(uint32_t connection);

  // Hands the message being handled (`in`, inside on_message) to shard `to`. A UDP datagram is not copied:
  // its receive buffer comes back when `to` has handled it. A TCP message is copied once into a send slot
  // (the connection's buffer is compacted after framing); answers from `to` travel back to this shard, which
  // owns the connection. False when it cannot go (a full mailbox or no free slot: counted); the caller then
  // handles it here.
  bool forward(unsigned to, const Inbound& in);
  // Sends a Mail::Kind::user message to shard `to`; false when its mailbox is full (counted).
  bool post(unsigned to, Mail mail);

  TimerWheel& timers() { return timers_; }
  unsigned index() const { return config_.index; }
  // Shard thread only (a plain read of the last sample; see the file comment).
  Pressure pressure() const { return pressure_; }
  uint64_t receive_queue_bytes() const { return receive_queue_bytes_; }
  const ShardCounters& counters() const { return counters_; }
  uint64_t now_ms() const { return now_ms_; }

 private:
  enum class Op : uint8_t { none, udp_recv, udp_send, accept, tcp_recv, tcp_send, tcp_close, wake };

  struct UdpSocket {
    int fd = -1;
    msghdr msg{};
    bool armed = false;
  };
  struct SendSlot {
    char* data = nullptr;
    uint32_t length = 0;
    uint32_t sent = 0;
    uint32_t connection = 0;  // TCP
    uint32_t next = 0;        // free list / per-connection queue (index + 1; 0 = none)
    msghdr msg{};
    iovec iov{};
    sockaddr_storage address{};
  };
  struct Connection : TimerEntry {  // the entry is the idle timer
    Shard* shard = nullptr;
    uint32_t index = 0;
    int fd = -1;
    uint32_t generation = 0;
    Endpoint peer;
    std::unique_ptr<char[]> buffer;
    uint32_t used = 0;
    uint64_t last_activity_ms = 0;
    uint32_t send_head = 0;  // slot index + 1
    uint32_t send_tail = 0;
    bool send_in_flight = false;
    bool recv_in_flight = false;
    bool closing = false;  // close once the send queue is empty
    bool close_submitted = false;
  };

  static uint64_t encode(Op op, uint32_t index, uint32_t generation = 0) {
    return (static_cast<uint64_t>(op) << 56) | (static_cast<uint64_t>(generation & 0xFFFFFF) << 32) | index;
  }
  io_uring_sqe* sqe();
  bool setup_ring(std::string* error);
  void arm_udp(uint32_t socket);
  void arm_accept(uint32_t listener);
  void arm_wake();
  unsigned connection_count() const { return config_.tcp_connections_max; }
  void arm_tcp_recv(uint32_t connection);
  void return_buffer(uint16_t bid);
  void handle(io_uring_cqe* cqe);
  void on_udp(uint32_t socket, io_uring_cqe* cqe);
  void on_accept(uint32_t listener, io_uring_cqe* cqe);
  void on_tcp_recv(uint32_t connection, io_uring_cqe* cqe);
  void on_send_done(uint32_t slot, io_uring_cqe* cqe, bool tcp);
  void deliver_tcp(uint32_t connection);
  void pump_tcp_send(uint32_t connection);
  void close_connection(uint32_t connection);
  void drop_send_queue(Connection& c);
  void free_slot(uint32_t slot);
  static void on_idle(TimerEntry& entry);
  void drain_mailbox();
  void on_mail(const Mail& mail);
  void setup_watermarks();
  void sample_pressure();
  // A TCP connection id names its owner: shard (8 bits) | generation (8 bits) | index (16 bits). Any shard
  // may send on it (send_tcp posts to the owner); a stale id (closed and reused 256 times over) is the only
  // way to reach the wrong connection.
  uint32_t connection_id(uint32_t index) const {
    return (config_.index << 24) | ((connections_[index].generation & 0xFF) << 16) | index;
  }
  static unsigned connection_owner(uint32_t id) { return id >> 24; }
  void release_to(unsigned owner, const Mail& release);
  Connection* connection_from_id(uint32_t id);

  ShardConfig config_;
  Handler& handler_;
  io_uring ring_{};
  bool ring_ready_ = false;
  Waker own_waker_;  // used when the shard has no mailboxes
  Waker* waker_ = nullptr;
  uint64_t wake_value_ = 0;
  std::atomic<bool> stopping_{false};

  // Receive buffers (one region) and their provided-buffer ring.
  io_uring_buf_ring* buf_ring_ = nullptr;
  size_t buf_ring_bytes_ = 0;
  char* receive_region_ = nullptr;
  size_t receive_region_bytes_ = 0;
  static constexpr int buffer_group = 0;

  std::vector<UdpSocket> udp_;
  std::vector<int> listeners_;
  std::vector<SendSlot> slots_;
  std::unique_ptr<char[]> slot_memory_;
  uint32_t free_slots_ = 0;  // head of the free list (index + 1)
  std::unique_ptr<Connection[]> connections_;
  std::vector<uint32_t> free_connections_;
  absl::flat_hash_map<std::array<uint8_t, 16>, uint32_t> connections_per_source_;
  uint64_t now_ms_ = 0;
  TimerWheel timers_{0};
  // The datagram being handled: forward() keeps its buffer from going back to the ring.
  int current_buffer_ = -1;
  struct PendingRelease {
    uint16_t owner;
    Mail mail;
  };
  std::vector<PendingRelease> pending_releases_;  // reserved at start: owners x receive_buffers
  bool current_retained_ = false;
  // Overload: the watermarks in bytes (setup_watermarks), the last sample and when it was taken.
  uint64_t overload_high_ = 0;
  uint64_t overload_low_ = 0;
  uint64_t overload_critical_ = 0;
  uint64_t receive_queue_bytes_ = 0;
  uint64_t sampled_ms_ = UINT64_MAX;
  uint64_t above_high_since_ms_ = UINT64_MAX;  // since when the samples are at or above the high mark
  uint64_t left_pressure_ms_ = UINT64_MAX;     // when the shard last went back to normal
  Pressure pressure_ = Pressure::normal;
  ShardCounters counters_;
};

uint64_t monotonic_ms();

}  // namespace parkd
