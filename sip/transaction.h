// The RFC 3261 section 17 transaction layer of one shard: client and server transactions, INVITE and
// non-INVITE, their retransmissions and timers (A-K, and L/M of RFC 6026), request and response matching
// (17.1.3, 17.2.3 with the RFC 2543 fallback) and CANCEL (9.2). docs/transactions.md draws the state machines.
//
// Contract:
// - Single-threaded: everything runs on the shard thread that owns the layer; there are no locks.
// - Time is the shard's TimerWheel: the layer schedules its timers there and takes "now" from
//   TimerWheel::now_ms(); the owner advances the wheel. Tests drive it by hand.
// - No sockets: bytes leave through a TransportSink (the shard in production, a fake in tests), and
//   everything the transaction user must know arrives through TransactionUser callbacks.
// - Bounded and allocation-free after construction: a fixed pool of transactions (config.transactions_max),
//   a fixed open-addressing table of twice that many slots, and fixed pools of message buffers. At a limit a
//   call returns an error value (table_full, no_buffer) and the caller decides (a new request gets 503).
// - A transaction keeps copies of the bytes it may have to send again (client: its request, and the ACK of
//   an INVITE; server: the request, to build later responses from, and the last response). MessageViews
//   given to the layer are only read during the call.
// - Re-entrancy: TransactionUser callbacks may call any method of the layer. A transaction's slot is freed
//   only from a timer callback (a zero-delay timer when a state has nothing to wait for), after
//   on_terminated() for it returns; never inside a call the TU made or inside receive(). A transaction ended
//   by a transport error no longer matches messages and refuses calls until then.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "core/counters.h"
#include "core/endpoint.h"
#include "core/shard.h"
#include "core/timer_wheel.h"
#include "sip/builder.h"
#include "sip/message.h"

namespace parkd::sip {

// Where a message came from or goes to: the transport, the peer and the socket (UDP: the index of the
// shard's socket; TCP: the connection id). Responses go back on the flow the request came in on.
struct Flow {
  Transport transport = Transport::udp;
  Endpoint peer;
  uint32_t socket = 0;

  bool reliable() const { return transport != Transport::udp; }
};
inline Flow flow_of(const Inbound& in) { return Flow{in.transport, in.peer, in.socket}; }

// Sends bytes on a flow. False when they could not be sent (no send buffer, a closed connection).
class TransportSink {
 public:
  virtual ~TransportSink() = default;
  virtual bool send(std::string_view bytes, const Flow& to) = 0;
};

// The shard as a TransportSink: copies the bytes into a send buffer of the shard (false when none is free or
// the message is larger than a send slot).
class ShardTransportSink final : public TransportSink {
 public:
  explicit ShardTransportSink(Shard& shard) : shard_(shard) {}
  bool send(std::string_view bytes, const Flow& to) override;

 private:
  Shard& shard_;
};

// A handle on a transaction; stale handles (of a transaction that ended) are recognised by the generation.
struct TransactionId {
  uint32_t index = 0;
  uint32_t generation = 0;  // 0: no transaction

  bool valid() const { return generation != 0; }
  friend bool operator==(const TransactionId&, const TransactionId&) = default;
};

class TransactionLayer;

// What the layer tells the layer above (the UA core of the B2BUA). Every callback may call into the layer.
class TransactionUser {
 public:
  virtual ~TransactionUser() = default;
  // A request that created server transaction `id`; answer it with TransactionLayer::respond(). Also an ACK
  // that matched no transaction (the ACK for a 2xx, a request of its own: RFC 3261 section 17.2.3), with an
  // invalid id, and an ACK matching an INVITE server transaction that sent a 2xx (RFC 2543 peers reusing
  // the INVITE's identifiers), with that id.
  virtual void on_request(TransactionId id, const MessageView& request, const Flow& from) = 0;
  // A response for client transaction `id` (retransmitted non-2xx finals are absorbed and not repeated
  // here; retransmitted 2xx are, so the TU can send its ACK again). With an invalid id: a response that
  // matched no client transaction (RFC 3261 section 18.1.2: it goes to the core).
  virtual void on_response(TransactionId id, const MessageView& response, const Flow& from) = 0;
  // A CANCEL matched INVITE server transaction `invite` while it was proceeding; the layer answered the
  // CANCEL 200. The TU must answer the INVITE 487 (RFC 3261 section 9.2).
  virtual void on_cancel(TransactionId invite, const MessageView& cancel) = 0;
  // Timer B, F or H fired (or a non-INVITE server transaction got no final response within 64*T1).
  virtual void on_timeout(TransactionId id) = 0;
  // A send the layer made on its own (a retransmission, an ACK, a response resent) failed on a reliable
  // transport. Sends the TU asked for report failure by their return value instead.
  virtual void on_transport_error(TransactionId id) = 0;
  // The transaction has ended; `id` is stale when this returns. Always the last callback for an id.
  virtual void on_terminated(TransactionId id) = 0;
};

enum class TransactionError : uint8_t {
  none,
  table_full,           // transactions_max reached: answer 503
  no_buffer,            // the buffer pool of the message's size class is empty: answer 503
  message_too_large,    // larger than the largest buffer class
  bad_message,          // not a request / response the layer can use (no branch, unparseable own request, ...)
  duplicate,            // a client transaction with this branch and method exists
  unknown_transaction,  // a stale or invalid id
  bad_state,            // not allowed in the transaction's state (a response after the final one, ...)
  build_failed,         // the response did not fit the largest buffer, or a bad value (MessageWriter)
  transport_error,      // the sink refused the bytes
};
std::string_view transaction_error_text(TransactionError error);

// What receive() did with a message.
enum class Received : uint8_t {
  new_transaction,    // a server transaction was created and the TU told (on_request)
  retransmission,     // a retransmitted request, absorbed (the last response, if any, sent again)
  ack_absorbed,       // an ACK for a non-2xx final, absorbed by the INVITE server transaction
  ack_to_tu,          // an ACK passed to the TU (on_request)
  cancel_accepted,    // a CANCEL matched an INVITE server transaction: 200 sent (TU told if proceeding)
  cancel_unmatched,   // a CANCEL matched nothing: 481 sent
  response,           // a response passed to its client transaction's TU (on_response)
  response_absorbed,  // a response absorbed by its client transaction (retransmitted final, late 1xx)
  stray_response,     // a response that matched no client transaction, passed to the TU
};

enum class TransactionState : uint8_t { calling, trying, proceeding, completed, confirmed, accepted, terminated };
std::string_view transaction_state_name(TransactionState state);

struct TransactionConfig {
  uint32_t transactions_max = 8192;  // per shard, client and server together
  // Message buffers: a small class for nearly everything and a large one for big bodies (up to the parser's
  // 64 KiB limit). A transaction holds at most two buffers at a time.
  uint32_t small_buffer_size = 4096;
  uint32_t small_buffers = 0;  // 0: 2 * min(transactions_max, 8192): what transactions in progress hold
  uint32_t large_buffer_size = 65536;
  uint32_t large_buffers = 64;
  // A finished transaction only absorbs retransmissions (timers D, I, J, K, L, M: up to 64*T1). Over UDP it
  // leaves its slot for a 48-byte record in one of two rings, by how long it lingers (oldest first when full:
  // a retransmission after that is treated as a new request / a stray response), with the bytes it may have
  // to send again (the last response of a non-INVITE server, the ACK of a client INVITE) in a key_buffer_size
  // buffer. What cannot become a record (RFC 2543 peers, bytes that do not fit) keeps its slot, with its keys
  // and last response moved into these small buffers (docs/transactions.md, "Finished transactions").
  // Pages of all of these are touched only when used.
  uint32_t key_buffer_size = 512;
  uint32_t key_buffers = 0;         // 0: 8 * transactions_max
  uint32_t finished_max = 0;        // records lingering 64*T1 (D, J, L, M); 0: 16 * transactions_max
  uint32_t finished_short_max = 0;  // records lingering T4 (I, K); 0: 4 * transactions_max
  // RFC 3261 section 17.1.1.1 timer values; shorten them in tests only.
  uint32_t t1_ms = 500;
  uint32_t t2_ms = 4000;
  uint32_t t4_ms = 5000;
  uint32_t timer_d_ms = 32000;  // 17.1.1.2: "at least 32 seconds" over UDP
  // Send 100 Trying for an INVITE the TU has not answered (RFC 3261 section 17.2.1: required unless the TU
  // answers within 200 ms), trying_delay_ms after it arrived: a callee that rings sooner makes it unneeded.
  bool invite_trying = true;
  uint32_t trying_delay_ms = 100;
  TokenKey token_key;               // for the To tags the layer generates; all zero: random_token_key()
  uint64_t token_counter_base = 0;  // give each shard its own range (see sip/builder.h)
};

// clang-format off (it does not settle on one layout for this list)
#define PARKD_SIP_TRANSACTION_COUNTERS(X) \
  X(transactions_live)                    \
  X(transactions_created)                 \
  X(client_created)                       \
  X(server_created)                       \
  X(timeouts)                             \
  X(retransmissions_sent)                 \
  X(retransmissions_absorbed)             \
  X(table_full)                           \
  X(buffers_exhausted)                    \
  X(compacted)                            \
  X(retired)                              \
  X(finished_live)                        \
  X(finished_evicted)                     \
  X(stray_responses)                      \
  X(send_failures)                        \
  X(transport_errors)                     \
  X(cancels_matched)                      \
  X(cancels_unmatched)
// clang-format on

struct TransactionCounters {
  PARKD_COUNTERS(PARKD_SIP_TRANSACTION_COUNTERS)
  std::string to_string() const { return counters_text(*this); }
};

class TransactionLayer {
 public:
  // Allocates every pool up front (control plane). `wheel`, `sink` and `user` must outlive the layer.
  TransactionLayer(const TransactionConfig& config, TimerWheel& wheel, TransportSink& sink, TransactionUser& user);
  ~TransactionLayer();
  TransactionLayer(const TransactionLayer&) = delete;
  TransactionLayer& operator=(const TransactionLayer&) = delete;

  // A parsed message as it arrived: `raw` is the bytes `message` was parsed from (every view of `message`
  // points into it), `from` the flow it came in on. Requests are matched to server transactions, responses
  // to client transactions (see Received). Errors: table_full / no_buffer for a request that would need a new
  // transaction (the caller answers 503, e.g. with respond_stateless()), bad_message.
  Result<Received, TransactionError> receive(std::string_view raw, const MessageView& message, const Flow& from);

  // Server transactions. Answers `id` with `code`: the response is built from the stored request (RFC 3261
  // section 8.2.6.2, see build_response()); `extra` adds headers and may end with a body. `to_tag` is used
  // when the request's To has none and code > 100; empty: a tag the layer generates, the same for every
  // response of this transaction. 1xx keep the transaction proceeding; 2xx to an INVITE moves it to accepted
  // (RFC 6026: the TU retransmits the 2xx, see retransmit_response()); other finals complete it.
  TransactionError respond(TransactionId id, uint16_t code, std::string_view reason, std::string_view to_tag,
                           absl::FunctionRef<void(MessageWriter&)> extra);
  TransactionError respond(TransactionId id, uint16_t code, std::string_view reason = {}, std::string_view to_tag = {});
  // Sends the last response of server transaction `id` again: the TU's 2xx retransmissions (RFC 3261
  // section 13.3.1.4) while the INVITE transaction is accepted.
  TransactionError retransmit_response(TransactionId id);
  // The TU has the ACK for the 2xx of accepted INVITE server transaction `id` and sends the 2xx no more: the
  // transaction ends for the TU (on_terminated follows), and over UDP a finished record absorbs the INVITE's
  // retransmissions until timer L. Without this call the transaction stays accepted until timer L.
  void acknowledged(TransactionId id);

  // Client transactions. Sends `request` (built by the TU, e.g. with build_request(); its top Via branch
  // must carry the magic cookie and be unique) to `to` and starts an INVITE or non-INVITE client transaction
  // for it. ACK is not a transaction: send it with send_stateless().
  Result<TransactionId, TransactionError> start_client(std::string_view request, const Flow& to,
                                                       uint64_t user_data = 0);
  // Cancels client INVITE transaction `invite` (RFC 3261 section 9.1): builds the CANCEL from the stored
  // INVITE and starts a non-INVITE client transaction for it (its events reach the TU with the INVITE's
  // user data). Before any provisional response the CANCEL waits for one (it is dropped if a final response
  // comes first); `pending` then says so. bad_state once the INVITE has a final response.
  struct CancelResult {
    TransactionId cancel;  // invalid while pending
    bool pending = false;
  };
  Result<CancelResult, TransactionError> cancel(TransactionId invite);

  // Outside any transaction: a response to `request` (481, 503, ...; a generated To tag for code > 100),
  // and raw bytes (the TU's ACK for a 2xx).
  TransactionError respond_stateless(const MessageView& request, const Flow& to, uint16_t code,
                                     std::string_view reason = {});
  TransactionError send_stateless(std::string_view bytes, const Flow& to);

  // Queries (false / defaults for a stale id). alive() and state() say whether the transaction still runs;
  // what it is (method, side, last status, user data) stays readable until on_terminated() for it returns,
  // so on_timeout() and on_transport_error() can tell which request of theirs failed. A transaction that
  // finished over UDP ends for the TU at its final response (client non-INVITE and INVITE, server non-INVITE),
  // at the ACK (server INVITE, non-2xx) or at acknowledged() (server INVITE, 2xx); a retransmitted 2xx that
  // its record passes on afterwards (client INVITE, RFC 6026 accepted) comes with an id of the record's own,
  // for which these queries answer until the record expires.
  bool alive(TransactionId id) const { return find_live(id) != nullptr; }
  TransactionState state(TransactionId id) const;
  Method method(TransactionId id) const;
  bool is_client(TransactionId id) const;
  uint16_t last_status(TransactionId id) const;  // the last response sent (server) or received (client)
  uint64_t user_data(TransactionId id) const;
  void set_user_data(TransactionId id, uint64_t value);

  const TransactionCounters& counters() const { return counters_; }
  const TransactionConfig& config() const { return config_; }
  uint32_t live() const { return live_; }

 private:
  struct Transaction;
  // Finished transactions (the record ring): what a transaction still does after it ends for the TU.
  enum class FinishedKind : uint8_t {
    server_resend,     // non-INVITE server, completed: a retransmitted request gets the last response again
    server_confirmed,  // INVITE server, ACK for its non-2xx came: ACKs and INVITEs absorbed (timer I)
    server_accepted,   // INVITE server, 2xx acknowledged: INVITEs absorbed, ACKs go to the TU (timer L)
    client_completed,  // non-INVITE client: responses absorbed (timer K)
    client_rejected,   // INVITE client, non-2xx final: its retransmissions get the ACK again (timer D)
    client_accepted,   // INVITE client, 2xx: further 2xx go to the TU, the rest absorbed (timer M)
  };
  struct Finished;
  struct FinishedKey {  // trivial: see Finished
    uint64_t lo;
    uint64_t hi;
    friend bool operator==(const FinishedKey&, const FinishedKey&) = default;
  };
  static constexpr uint32_t finished_bit = 0x80000000u;  // in TransactionId::index: a record's id
  struct Timer : TimerEntry {
    TransactionLayer* layer = nullptr;
    uint32_t index = 0;
  };
  struct BufferRef {
    uint8_t size_class = 0xff;  // 0xff: none
    uint32_t index = 0;
    uint32_t size = 0;  // bytes stored
    bool valid() const { return size_class != 0xff; }
  };
  struct Span {
    uint32_t offset = 0;
    uint32_t size = 0;
  };
  struct MatchKey;
  struct BufferClass {
    uint32_t size = 0;
    std::unique_ptr<char[]> memory;
    std::vector<uint32_t> free;  // reserved to the class's count: push and pop never allocate
  };

  // What a failed send does: UDP failures are counted only (a lost datagram: the timers recover); on a
  // reliable flow the transaction ends (end), and the TU hears on_transport_error when the send was the
  // layer's own (end_and_notify). Returns false when the transaction was ended.
  enum class OnFailure : uint8_t { ignore, end, end_and_notify };
  Transaction* find_live(TransactionId id);
  const Transaction* find_live(TransactionId id) const;
  // The slot of `id` while it is in use, terminated or not (until its on_terminated() returned).
  const Transaction* find_in_use(TransactionId id) const;
  TransactionId id_of(const Transaction& t) const;

  // Buffers.
  TransactionError store(BufferRef& ref, std::string_view bytes, uint8_t first_class = 0);
  // Moves a finished transaction's keys (and last response) into the key class, freeing its message buffers.
  void compact(Transaction& t);
  void release(BufferRef& ref);
  std::string_view bytes(const BufferRef& ref) const;
  std::string_view field(const Transaction& t, Span span) const;
  // Sets the key spans of `t` from `m`, whose views point into `base` (the bytes stored in t.request).
  bool set_key_fields(Transaction& t, std::string_view base, const MessageView& m);

  // The table.
  static uint64_t hash_of(const MatchKey& key);
  bool matches(const Transaction& t, const MatchKey& key) const;
  Transaction* lookup(const MatchKey& key);
  bool insert(Transaction& t, const MatchKey& key);
  void erase(Transaction& t);

  Transaction* allocate();
  void terminate(Transaction& t);
  void terminate_later(Transaction& t);
  void schedule(Timer& timer, uint64_t delay_ms);

  bool deliver(Transaction& t, std::string_view bytes, bool retransmission, OnFailure on_failure);
  bool parse_stored(const Transaction& t);  // the stored request into scratch_view_
  static MatchKey request_key(const MessageView& m, Method method);
  void free_slot(Transaction& t);

  // Finished records. retire() ends `t` and leaves a record of `kind` for `linger_ms` (with `keep` to send
  // again, after `keep_flow` when given); false, with `t` untouched, when it cannot (RFC 2543 keys, too long
  // a key, `keep` larger than a key buffer, no buffer even after dropping every record).
  bool retire(Transaction& t, FinishedKind kind, uint64_t linger_ms, std::string_view keep = {},
              const Flow* keep_flow = nullptr);
  bool finished_key(bool client, Method method, std::string_view method_text, std::string_view branch,
                    std::string_view host, uint16_t port, FinishedKey& out) const;
  Finished* find_finished(const FinishedKey& key);
  Finished* find_finished_request(const MessageView& m, Method method);
  Finished* find_finished_client(const MatchKey& key);  // a client transaction's record (key.client)
  const Finished* find_record(TransactionId id) const;
  TransactionId record_id(uint32_t slot) const;
  struct Ring {
    uint32_t base = 0;      // its first slot in finished_
    uint32_t capacity = 0;  // slots
    uint64_t head = 0;      // position of its oldest record (slot = base + position % capacity)
    uint32_t count = 0;
  };
  void drop_oldest_finished(Ring& ring);

  Result<Received, TransactionError> receive_request(std::string_view raw, const MessageView& m, const Flow& from);
  Result<Received, TransactionError> receive_ack(const MessageView& m, const Flow& from);
  Result<Received, TransactionError> receive_cancel(std::string_view raw, const MessageView& m, const Flow& from);
  Result<Received, TransactionError> receive_response(const MessageView& m, const Flow& from);
  Result<Transaction*, TransactionError> create_server(std::string_view raw, const MessageView& m, const Flow& from);
  TransactionError respond_to(Transaction& t, uint16_t code, std::string_view reason, std::string_view to_tag,
                              absl::FunctionRef<void(MessageWriter&)> extra, OnFailure on_failure);
  // The ACK (17.1.1.3) or CANCEL (9.1) for the stored INVITE of `t`, into scratch_out_; its size, 0 on failure.
  size_t build_ack_or_cancel(const Transaction& t, Method method, std::string_view to);
  void send_pending_cancel(Transaction& invite);

  static void on_retransmit_timer(TimerEntry& entry);
  static void on_state_timer(TimerEntry& entry);
  void retransmit_timer_fired(Transaction& t);
  void state_timer_fired(Transaction& t);

  TransactionConfig config_;
  TimerWheel& wheel_;
  TransportSink& sink_;
  TransactionUser& user_;
  std::unique_ptr<Transaction[]> transactions_;
  uint32_t free_head_ = 0;  // index + 1; 0: none
  uint32_t live_ = 0;
  std::unique_ptr<uint32_t[]> table_;  // transaction index + 1; 0: empty
  uint32_t table_mask_ = 0;
  // 0: small, 1: large, 2: keys of finished transactions (only compact() stores there).
  static constexpr uint8_t key_class = 2;
  BufferClass classes_[3];
  std::unique_ptr<char[]> compact_scratch_;
  std::unique_ptr<MessageView> scratch_view_;  // the stored messages are parsed again into this
  // The server transaction whose request is being handed to the TU, and that request as parsed on arrival:
  // responses the TU makes meanwhile are built from it instead of parsing the stored copy again.
  const Transaction* receiving_ = nullptr;
  const MessageView* receiving_view_ = nullptr;
  std::unique_ptr<char[]> scratch_out_;  // responses, ACKs and CANCELs are built here
  uint32_t scratch_out_size_ = 0;
  uint64_t token_counter_ = 0;
  // The records: two rings (0: lingering T4, 1: lingering 64*T1) in one array, and their open-addressing
  // index (record slot + 1; 0: empty).
  std::unique_ptr<Finished[]> finished_;
  Ring rings_[2];
  struct FreeDeleter {
    void operator()(uint32_t* p) const { std::free(p); }
  };
  std::unique_ptr<uint32_t[], FreeDeleter> finished_index_;
  uint32_t finished_index_mask_ = 0;
  uint32_t finished_count_ = 0;  // in both rings
  uint32_t finished_serial_ = 0;
  // Record keys are XXH3-128 with this random secret: a peer cannot aim a request at another's record.
  unsigned char finished_secret_[192] = {};
  TransactionCounters counters_;
};

}  // namespace parkd::sip
