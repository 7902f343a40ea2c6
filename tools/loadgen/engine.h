// Engine: one thread's share of the load: its UDP sockets, its io_uring, its slots and its statistics.
//
// Receiving: every socket has one multishot recvmsg on a provided buffer ring shared by the thread's
// sockets, so a datagram costs one completion and no submission. A completion without IORING_CQE_F_MORE
// (the ring ran dry: -ENOBUFS, or an error such as -ECONNREFUSED) marks the socket for re-arming at the end of
// the loop turn, after the buffers of the turn have been given back.
// Sending: each request or response is built in place in a send buffer from a fixed pool and goes out as one
// IORING_OP_SEND on the socket, which is connect()ed to the target (the kernel keeps the route, and datagrams
// from anywhere else are not delivered); all sends of a loop turn are submitted by one io_uring_enter.
//
// user_data: bits 56..63 the operation (op_recv, op_send), bits 0..31 the socket (recv) or send buffer (send).
//
// The loop turn: start the transactions due (open loop: --rate paced in 1 ms ticks; closed loop: as slots
// finish), expire requests older than --timeout-ms, submit and wait until a completion or the next tick,
// reap completions in a batch into a queue, then handle them (parse, match, call the scenario). Nothing is
// allocated or thrown after setup().
//
// Setup phase: a scenario whose pseudo devices must exist before the measured load (calls: every slot's
// callee registers) gets one setup transaction per slot (Scenario::on_setup), run by setup_devices() with a
// window of setup_window at a time, after setup() and before run(). It is counted apart (Stats::setup_*), and
// run_load() starts the clock only after every thread finished it.
#pragma once

#include <liburing.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sip/message.h"
#include "tools/loadgen/config.h"
#include "tools/loadgen/inflight.h"
#include "tools/loadgen/scenario.h"
#include "tools/loadgen/stats.h"
#include "tools/loadgen/users.h"

namespace parkd::loadgen {

enum class SlotPhase : uint8_t { idle, active, finishing };
enum class Outcome : uint8_t { completed, failed, lost };

struct Slot {
  uint32_t index = 0;
  uint32_t socket = 0;  // a slot is one pseudo device: always the same socket, so the same address
  uint64_t txn_id = 0;  // unique over the run and the threads: Call-ID and tags derive from it
  uint64_t txn_start_ns = 0;
  uint64_t txn_end_ns = 0;  // when it ended (finish()), for the timeline's latency
  uint64_t request_id = 0;  // the request awaiting its response; 0 when none
  SlotPhase phase = SlotPhase::idle;
  Outcome outcome = Outcome::completed;
  uint16_t status = 0;
};

// A request for Engine::send_request. The engine writes the Via (with rport and the socket's address),
// Max-Forwards, Call-ID (derived from the transaction unless given), CSeq, User-Agent and Content-Length.
struct OutgoingRequest {
  std::string_view method;       // "REGISTER"
  std::string_view request_uri;  // "sip:acme.example.com"
  std::string_view from_uri;     // without angle brackets
  std::string_view from_tag;     // empty: derived from the transaction
  std::string_view to_uri;
  std::string_view to_tag;   // empty: none
  std::string_view call_id;  // empty: derived from the transaction
  uint32_t cseq = 1;
  std::string_view headers;  // further header lines, each ending in CRLF
  std::string_view content_type;
  std::string_view body;
  // false: no response is expected (ACK): the request is not tracked and cannot time out. Its branch is
  // `branch_id` when non-zero (the ACK of a non-2xx final response reuses its INVITE's: Slot::request_id at
  // the time the INVITE was sent), otherwise a fresh one that no tracked request uses.
  bool expect_response = true;
  uint64_t branch_id = 0;
};

// A response for Engine::send_response. The engine copies Via, From, To, Call-ID and CSeq from the request and
// writes Content-Length.
struct OutgoingResponse {
  uint16_t status = 200;
  std::string_view reason = "OK";
  std::string_view to_tag;   // added to a To without a tag; empty: a fresh one per response
  std::string_view headers;  // further header lines, each ending in CRLF
  std::string_view content_type;
  std::string_view body;
};

struct SetupResult {
  bool ok = false;
  bool io_uring_unavailable = false;  // the kernel or a seccomp policy refuses io_uring
  std::string error;
};

class Engine {
 public:
  static constexpr uint32_t send_buffer_size = 2048;
  static constexpr uint32_t recv_buffer_size = 4096;
  static constexpr uint32_t recv_buffer_count = 4096;  // a power of two (the buffer ring's size)
  static constexpr uint32_t sq_entries = 4096;
  static constexpr uint32_t cq_entries = 16384;
  static constexpr uint64_t tick_ns = 1'000'000;
  static constexpr uint32_t setup_window = 128;  // setup transactions outstanding at a time

  Engine(const Config& config, const UserSource& users, Scenario& scenario, uint32_t thread_index);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Creates the ring, buffers and sockets. Call it on the thread that calls run() (the ring is created
  // IORING_SETUP_SINGLE_ISSUER where the kernel allows).
  SetupResult setup();
  // The setup phase (see above); a no-op for a scenario without one. Call it after setup(), on run()'s thread.
  void setup_devices();
  // Runs until the thread's share of --count or --duration is started and every transaction has ended, or
  // until `stop` becomes true (then it stops starting and lets the outstanding ones end). `live`, if given,
  // gets the counters once per loop turn.
  void run(const std::atomic<bool>& stop, LiveCounters* live);
  const Stats& stats() const { return stats_; }

  // For scenarios.
  uint64_t now_ns() const { return now_ns_; }
  const Config& config() const { return config_; }
  const UserSource& users() const { return users_; }
  // The next user index of this thread (threads take interleaved indices).
  uint64_t next_user_index() { return user_counter_++ * threads_ + thread_index_; }
  // The user index that belongs to a slot for the whole run (distinct over slots and threads).
  uint64_t user_index_of_slot(uint32_t slot_index) const { return uint64_t{slot_index} * threads_ + thread_index_; }
  uint32_t slot_count() const { return static_cast<uint32_t>(slots_.size()); }
  // "127.0.0.1:40001" / "[::1]:40001": the slot's socket as it appears in Via and Contact.
  std::string_view local_hostport(const Slot& slot) const;
  std::string_view local_hostport(uint32_t socket) const;
  // "127.0.0.1" / "[::1]": the sockets' address without a port (a user's fixed Contact).
  std::string_view local_host() const;
  // The same address as SDP writes it: without brackets (c=, o=), and its address type ("IP4" / "IP6").
  std::string_view media_host() const;
  std::string_view media_address_type() const {
    return media_host().find(':') != std::string_view::npos ? "IP6" : "IP4";
  }
  std::string_view target_hostport() const { return target_hostport_; }
  // A token unique per call over the run (for cnonce values and the like), as hex.
  uint64_t unique_counter() { return ++unique_counter_; }
  // The run's random token (hex in branches and default Call-IDs): Call-IDs a scenario makes itself include
  // it so that a second run against the same server never reuses one.
  uint64_t run_token() const { return run_token_; }

  // Builds and sends a request of `slot`, tracked for its response. False (and the transaction ends as lost,
  // counted in send_errors) when it cannot be sent: no send buffer, the in-flight table full, or too long.
  bool send_request(Slot& slot, const OutgoingRequest& request);
  // Answers a request from the server: Via, From, To (with a tag added when it has none), Call-ID and CSeq
  // copied from it. `headers`: further lines ending in CRLF.
  bool send_response(uint32_t socket, const sip::MessageView& request, uint16_t status, std::string_view reason,
                     std::string_view headers = {});
  bool send_response(uint32_t socket, const sip::MessageView& request, const OutgoingResponse& response);
  // The slot waits for a request from the server (not a response), with the same --timeout-ms: the wait
  // is an entry of the in-flight table without a datagram. It ends with the transaction (complete/fail/lose)
  // or as lost when it times out. False (and lost) when the table is full.
  bool await_request(Slot& slot);
  void complete(Slot& slot) { finish(slot, Outcome::completed, 200); }
  // Completes with `latency_ns` recorded instead of the time since the transaction started (calls: the call
  // ends after its BYE, but what is timed is its setup).
  void complete(Slot& slot, uint64_t latency_ns) { finish(slot, Outcome::completed, 200, latency_ns); }
  // Also records `cycle_ns` in Stats::cycle_ns (park: the whole cycle, while `latency_ns` is the park-info's).
  void complete(Slot& slot, uint64_t latency_ns, uint64_t cycle_ns) {
    if (slot.phase == SlotPhase::active && !in_setup_) stats_.cycle_ns.record(cycle_ns);
    finish(slot, Outcome::completed, 200, latency_ns);
  }
  // Ends the slot's wait of await_request() (or forgets its tracked request) before the slot sends its next
  // request: a scenario that waits for several things at once (park: responses and the server's requests, in
  // any order) calls it once every one has come, so no stale entry can time out and end a later step.
  void end_wait(Slot& slot);
  // Submits the sends queued so far now instead of at the end of the loop turn and returns the time just before
  // (park: the moment the parked party's 200 leaves, from which the park-info's latency is timed).
  uint64_t submit_now();
  void fail(Slot& slot, uint16_t status) { finish(slot, Outcome::failed, status); }
  // A request from the server that no pseudo device expected (a call that ended, a slot that moved on).
  void count_stray_request() { ++stats_.stray_requests; }
  void lose(Slot& slot) { finish(slot, Outcome::lost, 0); }

 private:
  static constexpr uint64_t op_recv = 1;
  static constexpr uint64_t op_send = 2;
  static uint64_t encode(uint64_t op, uint32_t index) { return op << 56 | index; }

  struct Socket {
    int fd = -1;
    bool armed = false;
    uint8_t local_size = 0;
    char local[62] = {};
  };
  struct Completion {
    uint64_t user_data;
    int32_t res;
    uint32_t flags;
  };

  static uint64_t clock_ns();
  io_uring_sqe* get_sqe();
  char* take_send_buffer(uint32_t& index);
  void send_buffer(uint32_t socket, uint32_t buffer, size_t size);
  void arm_receives();
  void reap();
  void handle_completions();
  void handle(const Completion& c);
  void on_datagram(uint32_t socket, std::string_view data);
  bool can_start() const;
  void start(Slot& slot);
  void finish(Slot& slot, Outcome outcome, uint16_t status, uint64_t latency_ns = UINT64_MAX);
  // One loop turn's I/O: submit, wait until a completion or `next_tick_ns`, reap and handle.
  void wait_and_handle(uint64_t next_tick_ns);
  void process_finished();
  void expire();
  void open_loop_starts();
  uint64_t starts_due(uint64_t ticks) const;  // open loop: starts due in the first `ticks` ms of the run
  TimelineBucket* timeline_bucket(uint64_t at_ns);
  void publish(LiveCounters* live) const;

  const Config& config_;
  const UserSource& users_;
  Scenario& scenario_;
  uint32_t thread_index_;
  uint32_t threads_;

  // This thread's share.
  uint32_t socket_count_ = 0;
  double rate_ = 0;
  std::vector<RateStep> schedule_;  // --schedule, this thread's share of each rate
  uint64_t timeline_ns_ = 0;        // --timeline bucket width; 0: no timeline
  uint32_t concurrency_ = 0;
  uint64_t count_ = 0;  // transactions to start; UINT64_MAX: no --count
  uint64_t duration_ns_ = 0;
  uint64_t timeout_ns_ = 0;

  io_uring ring_{};
  bool ring_ready_ = false;
  io_uring_buf_ring* buf_ring_ = nullptr;
  size_t buf_ring_bytes_ = 0;
  uint32_t buffers_returned_ = 0;
  msghdr recv_msghdr_{};
  std::unique_ptr<char[]> recv_memory_;
  std::unique_ptr<char[]> send_memory_;
  std::vector<uint32_t> send_free_;
  uint32_t send_buffer_count_ = 0;
  std::vector<Socket> sockets_;
  std::vector<Completion> pending_;

  std::vector<Slot> slots_;
  std::vector<uint32_t> free_slots_;  // open loop
  uint32_t next_socket_ = 0;          // open loop: each start takes the next socket, round robin
  std::vector<uint32_t> finished_;    // ring of slots whose transaction ended; each slot at most once
  size_t finished_head_ = 0;
  size_t finished_size_ = 0;
  uint32_t active_ = 0;
  InflightTable inflight_;
  std::unique_ptr<sip::MessageView> message_;

  std::string target_hostport_;
  uint64_t run_token_ = 0;
  uint64_t txn_counter_ = 0;
  uint64_t user_counter_ = 0;
  uint64_t unique_counter_ = 0;
  uint64_t now_ns_ = 0;
  uint64_t start_ns_ = 0;
  uint64_t scheduled_ = 0;  // open loop: starts due so far (taken or skipped)
  bool stopping_ = false;
  bool in_setup_ = false;  // setup_devices() is running
  Stats stats_;
};

}  // namespace parkd::loadgen
