#include "sip/transaction.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <type_traits>

#include <sys/random.h>
#include <xxhash.h>

#include "absl/hash/hash.h"
#include "sip/params.h"
#include "sip/parser.h"

namespace parkd::sip {

// One transaction. Its matching key is kept as spans into its stored request, so no key part is ever
// truncated and nothing but the buffer has to be copied.
struct TransactionLayer::Transaction {
  Timer retransmit_timer;  // A (client INVITE), E (client non-INVITE), G (server INVITE)
  Timer state_timer;       // B, F, H, the non-INVITE server guard; D, I, J, K, L, M; 0 ms for "end now"
  uint64_t user_data = 0;
  uint64_t hash = 0;
  Flow flow;
  BufferRef request;
  BufferRef extra;  // server: the last response sent; client INVITE: the ACK for a non-2xx final
  Span branch;
  Span host;
  Span method_text;  // Method::other only
  Span request_uri;
  Span from_tag;
  Span to_tag;
  Span call_id;
  Span top_via;
  uint32_t cseq = 0;
  uint32_t generation = 1;
  uint32_t next_free = 0;  // index + 1
  uint32_t interval_ms = 0;
  uint16_t port = 0;
  uint16_t last_status = 0;
  Method method = Method::other;
  TransactionState state = TransactionState::terminated;
  bool in_use = false;
  bool in_table = false;
  bool client = false;
  bool invite = false;
  bool rfc2543 = false;
  bool tu_knows = false;  // false for the layer's own CANCEL server transactions: no callbacks for them
  bool cancel_pending = false;
  uint8_t response_tag_size = 0;
  char response_tag[64] = {};
};

// A finished transaction (TransactionConfig::finished_max): its key, its deadline, and what it answers with.
// Trivial on purpose: the ring is allocated without being written, so its pages cost nothing until used.
struct TransactionLayer::Finished {
  FinishedKey key;
  uint64_t expires_ms;
  uint64_t user_data;
  uint32_t serial;  // the generation of its id; 0: a dropped record
  uint32_t buffer;  // key-class buffer index + 1; 0: no bytes
  uint16_t size;    // bytes in the buffer (a Flow first for client_rejected)
  uint16_t last_status;
  Method method;
  FinishedKind kind;
};
static_assert(std::is_trivially_copyable_v<Flow>);  // a client_rejected record copies it into its buffer

// The parts of a message that identify its transaction (RFC 3261 sections 17.1.3 and 17.2.3).
struct TransactionLayer::MatchKey {
  bool client = false;
  bool rfc2543 = false;
  bool ack = false;  // RFC 2543 matching: the To tag is compared with the one of the response
  Method method = Method::other;
  std::string_view method_text;  // Method::other only
  std::string_view branch;
  std::string_view host;
  uint16_t port = 0;
  std::string_view request_uri;
  std::string_view from_tag;
  std::string_view to_tag;
  std::string_view call_id;
  std::string_view top_via;
  uint32_t cseq = 0;
};

namespace {

constexpr std::array<HeaderId, 1> route_ids = {HeaderId::route};

bool has_cookie(std::string_view branch) { return branch.starts_with(branch_magic_cookie); }

bool is_2xx(uint16_t code) { return code >= 200 && code < 300; }

// Removes `value` from `table` (open addressing over indices + 1, 0 empty, linear probing, `mask` + 1 slots),
// looking from its home slot `home`, by backward-shift deletion: later entries of the run move into the hole
// when their home slot allows, so there are no tombstones and a probe ends at the first empty slot.
// `home_of(entry)` is an entry's home slot.
template <typename HomeOf>
void erase_shifting_back(uint32_t* table, uint32_t mask, uint32_t home, uint32_t value, HomeOf home_of) {
  uint32_t i = home;
  while (table[i] != value) {
    assert(table[i] != 0 && "the value is in the table");
    i = (i + 1) & mask;
  }
  table[i] = 0;
  uint32_t hole = i;
  for (uint32_t j = (i + 1) & mask; table[j] != 0; j = (j + 1) & mask) {
    const uint32_t h = home_of(table[j]);
    // The entry at j may fill the hole unless its home lies cyclically in (hole, j].
    const bool home_after_hole = hole <= j ? (h > hole && h <= j) : (h > hole || h <= j);
    if (home_after_hole) continue;
    table[hole] = table[j];
    table[j] = 0;
    hole = j;
  }
}

}  // namespace

std::string_view transaction_error_text(TransactionError error) {
  switch (error) {
    case TransactionError::none: return "none";
    case TransactionError::table_full: return "transaction table full";
    case TransactionError::no_buffer: return "no message buffer free";
    case TransactionError::message_too_large: return "message too large to store";
    case TransactionError::bad_message: return "message unusable for a transaction";
    case TransactionError::duplicate: return "duplicate transaction";
    case TransactionError::unknown_transaction: return "unknown transaction";
    case TransactionError::bad_state: return "not allowed in this transaction state";
    case TransactionError::build_failed: return "message could not be built";
    case TransactionError::transport_error: return "transport error";
  }
  return "?";
}

std::string_view transaction_state_name(TransactionState state) {
  switch (state) {
    case TransactionState::calling: return "calling";
    case TransactionState::trying: return "trying";
    case TransactionState::proceeding: return "proceeding";
    case TransactionState::completed: return "completed";
    case TransactionState::confirmed: return "confirmed";
    case TransactionState::accepted: return "accepted";
    case TransactionState::terminated: return "terminated";
  }
  return "?";
}

bool ShardTransportSink::send(std::string_view bytes, const Flow& to) {
  OutBuffer out = shard_.out_buffer();
  if (out.data == nullptr) return false;
  if (bytes.size() > out.capacity) {
    shard_.release(out);
    return false;
  }
  std::memcpy(out.data, bytes.data(), bytes.size());
  const auto length = static_cast<uint32_t>(bytes.size());
  if (to.transport == Transport::udp) {
    shard_.send_udp(out, length, to.socket, to.peer);
  } else {
    shard_.send_tcp(out, length, to.socket);
  }
  return true;
}

// ---------------------------------------------------------------------------------------------------------
// Construction: every pool is allocated here, once.

TransactionLayer::TransactionLayer(const TransactionConfig& config, TimerWheel& wheel, TransportSink& sink,
                                   TransactionUser& user)
    : config_(config), wheel_(wheel), sink_(sink), user_(user) {
  if (config_.transactions_max == 0) config_.transactions_max = 1;
  if (config_.small_buffers == 0) config_.small_buffers = 2 * std::min<uint32_t>(config_.transactions_max, 8192);
  if (config_.key_buffers == 0) config_.key_buffers = 8 * config_.transactions_max;
  if (config_.finished_max == 0) config_.finished_max = 16 * config_.transactions_max;
  if (config_.finished_short_max == 0) config_.finished_short_max = 4 * config_.transactions_max;
  config_.finished_max = std::min(config_.finished_max, finished_bit / 2);
  config_.finished_short_max = std::min(config_.finished_short_max, finished_bit / 2 - 1);
  if (config_.large_buffer_size < config_.small_buffer_size) config_.large_buffer_size = config_.small_buffer_size;
  const uint32_t count = config_.transactions_max;
  transactions_ = std::make_unique<Transaction[]>(count);
  for (uint32_t i = 0; i < count; ++i) {
    Transaction& t = transactions_[i];
    for (Timer* timer : {&t.retransmit_timer, &t.state_timer}) {
      timer->layer = this;
      timer->index = i;
    }
    t.retransmit_timer.set_callback(&TransactionLayer::on_retransmit_timer);
    t.state_timer.set_callback(&TransactionLayer::on_state_timer);
    t.next_free = i + 1 < count ? i + 2 : 0;
  }
  free_head_ = 1;
  // At most half full, so probes stay short and an empty slot always ends a probe.
  uint32_t table_size = 2;
  while (table_size < 2 * count) table_size *= 2;
  table_ = std::make_unique<uint32_t[]>(table_size);  // zeroed: every slot empty
  table_mask_ = table_size - 1;
  const uint32_t sizes[3] = {config_.small_buffer_size, config_.large_buffer_size, config_.key_buffer_size};
  const uint32_t counts[3] = {config_.small_buffers, config_.large_buffers, config_.key_buffers};
  for (int c = 0; c < 3; ++c) {
    BufferClass& bc = classes_[c];
    bc.size = sizes[c];
    // Not value-initialised: pages the pool never uses are never touched.
    bc.memory.reset(new char[static_cast<size_t>(sizes[c]) * counts[c]]);
    bc.free.reserve(counts[c]);
    for (uint32_t i = counts[c]; i > 0; --i) bc.free.push_back(i - 1);
  }
  compact_scratch_.reset(new char[config_.key_buffer_size]);
  static_assert(sizeof(Finished) == 48 && std::is_trivial_v<Finished>);  // docs/transactions.md
  // The record ring is never read before it is written (serial 0 marks nothing; slots are written in order).
  // One array, two rings: records that linger T4 (timers I, K) and those that linger 64*T1 (D, J, L, M). In
  // each ring every record lives equally long, so the oldest is always the first to expire.
  const uint32_t records = config_.finished_short_max + config_.finished_max;
  finished_ = std::make_unique_for_overwrite<Finished[]>(records);
  rings_[0].capacity = config_.finished_short_max;
  rings_[1].base = config_.finished_short_max;
  rings_[1].capacity = config_.finished_max;
  uint32_t index_size = 2;
  while (index_size < 2 * records) index_size *= 2;
  // calloc: the kernel's zero pages, touched only when a record lands on them.
  finished_index_.reset(static_cast<uint32_t*>(std::calloc(index_size, sizeof(uint32_t))));
  if (!finished_index_) throw std::bad_alloc();
  finished_index_mask_ = index_size - 1;
  for (size_t got = 0; got < sizeof finished_secret_;) {
    const ssize_t n = getrandom(finished_secret_ + got, sizeof finished_secret_ - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
  }
  scratch_view_ = std::make_unique<MessageView>();
  scratch_out_size_ = std::max<uint32_t>(config_.large_buffer_size, message_size_max);
  scratch_out_.reset(new char[scratch_out_size_]);
  if (config_.token_key.k0 == 0 && config_.token_key.k1 == 0) config_.token_key = random_token_key();
  token_counter_ = config_.token_counter_base;
}

TransactionLayer::~TransactionLayer() {
  for (uint32_t i = 0; i < config_.transactions_max; ++i) {
    wheel_.cancel(transactions_[i].retransmit_timer);
    wheel_.cancel(transactions_[i].state_timer);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Handles and slots.

TransactionLayer::Transaction* TransactionLayer::find_live(TransactionId id) {
  if (!id.valid() || id.index >= config_.transactions_max) return nullptr;
  Transaction& t = transactions_[id.index];
  if (!t.in_use || t.generation != id.generation || t.state == TransactionState::terminated) return nullptr;
  return &t;
}

const TransactionLayer::Transaction* TransactionLayer::find_live(TransactionId id) const {
  return const_cast<TransactionLayer*>(this)->find_live(id);  // NOLINT: the same lookup, read-only
}

const TransactionLayer::Transaction* TransactionLayer::find_in_use(TransactionId id) const {
  if (!id.valid() || id.index >= config_.transactions_max) return nullptr;
  const Transaction& t = transactions_[id.index];
  return t.in_use && t.generation == id.generation ? &t : nullptr;
}

TransactionId TransactionLayer::id_of(const Transaction& t) const {
  return TransactionId{static_cast<uint32_t>(&t - transactions_.get()), t.generation};
}

TransactionLayer::Transaction* TransactionLayer::allocate() {
  if (free_head_ == 0) {
    counters_.table_full.add();
    return nullptr;
  }
  Transaction& t = transactions_[free_head_ - 1];
  free_head_ = t.next_free;
  assert(!t.in_use && !t.retransmit_timer.armed() && !t.state_timer.armed());
  const uint32_t generation = t.generation;
  // Reset everything but the timers (armed entries must not move; these are not armed) and the generation.
  t.user_data = 0;
  t.hash = 0;
  t.flow = Flow{};
  t.request = BufferRef{};
  t.extra = BufferRef{};
  t.branch = t.host = t.method_text = t.request_uri = t.from_tag = t.to_tag = t.call_id = t.top_via = Span{};
  t.cseq = 0;
  t.generation = generation;
  t.next_free = 0;
  t.interval_ms = 0;
  t.port = 0;
  t.last_status = 0;
  t.method = Method::other;
  t.state = TransactionState::trying;
  t.in_use = true;
  t.in_table = false;
  t.client = t.invite = t.rfc2543 = t.tu_knows = t.cancel_pending = false;
  t.response_tag_size = 0;
  return &t;
}

// Gives a slot back (after terminate(), or when a transaction could not be set up).
void TransactionLayer::free_slot(Transaction& t) {
  wheel_.cancel(t.retransmit_timer);
  wheel_.cancel(t.state_timer);
  if (t.in_table) erase(t);
  release(t.request);
  release(t.extra);
  t.in_use = false;
  t.state = TransactionState::terminated;
  if (++t.generation == 0) t.generation = 1;  // 0 is the invalid id
  t.next_free = free_head_;
  free_head_ = id_of(t).index + 1;
}

void TransactionLayer::schedule(Timer& timer, uint64_t delay_ms) { wheel_.schedule(timer, wheel_.now_ms() + delay_ms); }

// Ends a transaction now: it leaves the table, the TU hears on_terminated (if it knows the transaction), and
// the slot goes back to the pool.
void TransactionLayer::terminate(Transaction& t) {
  if (!t.in_use) return;
  wheel_.cancel(t.retransmit_timer);
  wheel_.cancel(t.state_timer);
  if (t.in_table) erase(t);
  t.state = TransactionState::terminated;
  --live_;
  counters_.transactions_live.set(live_);
  if (t.tu_knows) user_.on_terminated(id_of(t));
  free_slot(t);
}

// Ends a transaction from the next timer pass, so that a call the TU made (or receive()) never sees its
// transaction disappear under it. Nothing matches it meanwhile.
void TransactionLayer::terminate_later(Transaction& t) {
  wheel_.cancel(t.retransmit_timer);
  if (t.in_table) erase(t);
  t.state = TransactionState::terminated;
  schedule(t.state_timer, 0);
}

// ---------------------------------------------------------------------------------------------------------
// Message buffers: two size classes, each a fixed array of buffers with a free list of indices.

TransactionError TransactionLayer::store(BufferRef& ref, std::string_view data, uint8_t first_class) {
  if (ref.valid() && data.size() <= classes_[ref.size_class].size) {
    std::memcpy(classes_[ref.size_class].memory.get() + static_cast<size_t>(ref.index) * classes_[ref.size_class].size,
                data.data(), data.size());
    ref.size = static_cast<uint32_t>(data.size());
    return TransactionError::none;
  }
  bool fits = false;
  const uint8_t end_class = first_class == key_class ? key_class + 1 : key_class;
  for (uint8_t c = first_class; c < end_class; ++c) {
    BufferClass& bc = classes_[c];
    if (data.size() > bc.size) continue;
    fits = true;
    if (bc.free.empty()) continue;  // a larger class may still have one
    release(ref);
    ref.size_class = c;
    ref.index = bc.free.back();
    bc.free.pop_back();
    ref.size = static_cast<uint32_t>(data.size());
    std::memcpy(bc.memory.get() + static_cast<size_t>(ref.index) * bc.size, data.data(), data.size());
    return TransactionError::none;
  }
  if (!fits) return TransactionError::message_too_large;
  counters_.buffers_exhausted.add();
  return TransactionError::no_buffer;
}

// A finished transaction needs its request only for matching (field()) and its last response only to answer
// retransmissions: both move into key-class buffers when they fit, and the 4 KiB buffers go back to the pool.
// Anything that does not fit, or a key class that is empty, leaves the transaction as it was.
void TransactionLayer::compact(Transaction& t) {
  if (t.request.valid() && t.request.size_class != key_class) {
    Span* spans[] = {&t.branch,   &t.host,   &t.method_text, &t.request_uri,
                     &t.from_tag, &t.to_tag, &t.call_id,     &t.top_via};
    size_t total = 0;
    for (const Span* span : spans) total += span->size;
    if (total <= config_.key_buffer_size && !classes_[key_class].free.empty()) {
      const std::string_view request = bytes(t.request);
      Span moved[std::size(spans)];
      size_t used = 0;
      for (size_t i = 0; i < std::size(spans); ++i) {
        std::memcpy(compact_scratch_.get() + used, request.data() + spans[i]->offset, spans[i]->size);
        moved[i] = Span{static_cast<uint32_t>(used), spans[i]->size};
        used += spans[i]->size;
      }
      BufferRef keys;
      if (store(keys, std::string_view(compact_scratch_.get(), used), key_class) == TransactionError::none &&
          keys.size_class == key_class) {
        release(t.request);
        t.request = keys;
        for (size_t i = 0; i < std::size(spans); ++i) *spans[i] = moved[i];
        counters_.compacted.add();
      } else {
        release(keys);
      }
    }
  }
  if (t.extra.valid() && t.extra.size_class != key_class && t.extra.size <= config_.key_buffer_size &&
      !classes_[key_class].free.empty()) {
    BufferRef response;
    if (store(response, bytes(t.extra), key_class) == TransactionError::none && response.size_class == key_class) {
      release(t.extra);
      t.extra = response;
    } else {
      release(response);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Finished records: a ring, oldest first, so expiry and eviction are both "drop the head"; every record of a
// kind lives equally long, and a short-lived record behind a long-lived one only waits (it no longer matches
// once past its deadline). No timers: the ring is trimmed whenever a record is added.

bool TransactionLayer::finished_key(bool client, Method method, std::string_view method_text, std::string_view branch,
                                    std::string_view host, uint16_t port, FinishedKey& out) const {
  char key[320];
  const size_t size = 2 + method_text.size() + 1 + branch.size() + 1 + host.size() + 2;
  if (size > sizeof key) return false;
  char* p = key;
  *p++ = client ? 'c' : 's';
  *p++ = static_cast<char>(method);
  p = std::copy(method_text.begin(), method_text.end(), p);
  *p++ = '\0';
  p = std::copy(branch.begin(), branch.end(), p);
  *p++ = '\0';
  for (const char c : host) *p++ = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
  *p++ = static_cast<char>(port >> 8);
  *p++ = static_cast<char>(port & 0xff);
  const XXH128_hash_t h = XXH3_128bits_withSecret(key, size, finished_secret_, sizeof finished_secret_);
  out = FinishedKey{h.low64, h.high64};
  return true;
}

TransactionLayer::Finished* TransactionLayer::find_finished(const FinishedKey& key) {
  if (finished_count_ == 0) return nullptr;
  const uint64_t now = wheel_.now_ms();
  for (uint32_t i = key.lo & finished_index_mask_;; i = (i + 1) & finished_index_mask_) {
    const uint32_t slot = finished_index_[i];
    if (slot == 0) return nullptr;
    Finished& f = finished_[slot - 1];
    if (f.key == key && f.expires_ms > now) return &f;
  }
}

// The record a request retransmits (`method`: INVITE for an ACK or a CANCEL); RFC 2543 requests have none.
TransactionLayer::Finished* TransactionLayer::find_finished_request(const MessageView& m, Method method) {
  const ViaView& via = m.vias[0];
  if (finished_count_ == 0 || !has_cookie(via.branch)) return nullptr;
  FinishedKey key;
  const std::string_view text = method == Method::other ? m.method_text : std::string_view{};
  if (!finished_key(false, method, text, via.branch, via.host, via.port, key)) return nullptr;
  return find_finished(key);
}

// The record of a client transaction with `key`'s method and branch; RFC 2543 branches have none.
TransactionLayer::Finished* TransactionLayer::find_finished_client(const MatchKey& key) {
  FinishedKey finished;
  if (finished_count_ == 0 || !has_cookie(key.branch) ||
      !finished_key(true, key.method, key.method_text, key.branch, {}, 0, finished))
    return nullptr;
  return find_finished(finished);
}

const TransactionLayer::Finished* TransactionLayer::find_record(TransactionId id) const {
  if (!id.valid() || (id.index & finished_bit) == 0) return nullptr;
  const uint32_t slot = id.index & ~finished_bit;
  const Ring& ring = rings_[slot >= rings_[1].base ? 1 : 0];
  if (slot - ring.base >= ring.capacity || ring.count == 0) return nullptr;
  // Only slots between the ring's head and its tail were written.
  const uint64_t offset = (slot - ring.base + ring.capacity - ring.head % ring.capacity) % ring.capacity;
  if (offset >= ring.count) return nullptr;
  const Finished& f = finished_[slot];
  return f.serial == id.generation ? &f : nullptr;
}

TransactionId TransactionLayer::record_id(uint32_t slot) const {
  return TransactionId{finished_bit | slot, finished_[slot].serial};
}

void TransactionLayer::drop_oldest_finished(Ring& ring) {
  const auto slot = ring.base + static_cast<uint32_t>(ring.head % ring.capacity);
  Finished& f = finished_[slot];
  erase_shifting_back(
      finished_index_.get(), finished_index_mask_, f.key.lo & finished_index_mask_, slot + 1,
      [&](uint32_t entry) { return static_cast<uint32_t>(finished_[entry - 1].key.lo & finished_index_mask_); });
  if (f.buffer != 0) {
    BufferRef ref{key_class, f.buffer - 1, f.size};
    release(ref);
  }
  f.serial = 0;
  ++ring.head;
  --ring.count;
  --finished_count_;
  counters_.finished_live.set(finished_count_);
}

bool TransactionLayer::retire(Transaction& t, FinishedKind kind, uint64_t linger_ms, std::string_view keep,
                              const Flow* keep_flow) {
  if (t.rfc2543 || !t.in_table) return false;
  const size_t keep_size = keep.size() + (keep_flow != nullptr ? sizeof(Flow) : 0);
  if (keep_size > config_.key_buffer_size || keep_size > UINT16_MAX) return false;
  FinishedKey key;
  // The key a retransmission is looked up by: the request's method (INVITE for an ACK / CANCEL), its branch,
  // and for a server its sent-by.
  const std::string_view text = t.method == Method::other ? field(t, t.method_text) : std::string_view{};
  const std::string_view host = t.client ? std::string_view{} : field(t, t.host);
  if (!finished_key(t.client, t.method, text, field(t, t.branch), host, t.client ? 0 : t.port, key)) return false;

  const uint64_t now = wheel_.now_ms();
  for (Ring& r : rings_) {
    while (r.count > 0 && finished_[r.base + r.head % r.capacity].expires_ms <= now) drop_oldest_finished(r);
  }
  Ring& ring = rings_[linger_ms > config_.t4_ms ? 1 : 0];
  if (ring.capacity == 0) return false;
  if (ring.count == ring.capacity) {
    counters_.finished_evicted.add();
    drop_oldest_finished(ring);
  }
  BufferRef buffer;
  if (keep_size > 0) {
    // Only the long ring's records (J, D) hold buffers.
    while (classes_[key_class].free.empty() && rings_[1].count > 0) {
      counters_.finished_evicted.add();
      drop_oldest_finished(rings_[1]);
    }
    if (classes_[key_class].free.empty()) return false;
    char* to = compact_scratch_.get();
    if (keep_flow != nullptr) std::memcpy(to, keep_flow, sizeof(Flow));
    std::memcpy(to + (keep_flow != nullptr ? sizeof(Flow) : 0), keep.data(), keep.size());
    if (store(buffer, std::string_view(to, keep_size), key_class) != TransactionError::none) return false;
  }
  const auto slot = ring.base + static_cast<uint32_t>((ring.head + ring.count) % ring.capacity);
  Finished& f = finished_[slot];
  f.key = key;
  f.expires_ms = now + linger_ms;
  f.user_data = t.user_data;
  if (++finished_serial_ == 0) finished_serial_ = 1;
  f.serial = finished_serial_;
  f.buffer = buffer.valid() ? buffer.index + 1 : 0;
  f.size = static_cast<uint16_t>(keep_size);
  f.last_status = t.last_status;
  f.method = t.method;
  f.kind = kind;
  // Into the index; an equal key (a retransmission that made a new transaction after its record was
  // dropped, then finished again) shadows nothing: the lookup finds the first, both expire in turn.
  uint32_t i = key.lo & finished_index_mask_;
  while (finished_index_[i] != 0) i = (i + 1) & finished_index_mask_;
  finished_index_[i] = slot + 1;
  ++ring.count;
  ++finished_count_;
  counters_.finished_live.set(finished_count_);
  counters_.retired.add();
  terminate_later(t);
  return true;
}

void TransactionLayer::release(BufferRef& ref) {
  if (!ref.valid()) return;
  classes_[ref.size_class].free.push_back(ref.index);  // never beyond the reserved capacity
  ref = BufferRef{};
}

std::string_view TransactionLayer::bytes(const BufferRef& ref) const {
  if (!ref.valid()) return {};
  const BufferClass& bc = classes_[ref.size_class];
  return {bc.memory.get() + static_cast<size_t>(ref.index) * bc.size, ref.size};
}

std::string_view TransactionLayer::field(const Transaction& t, Span span) const {
  return bytes(t.request).substr(span.offset, span.size);
}

namespace {
// Where `view` sits inside `base`; false when it is not inside (a MessageView not parsed from `base`).
bool locate(std::string_view base, std::string_view view, uint32_t& offset) {
  if (view.empty()) {
    offset = 0;
    return true;
  }
  const auto b = reinterpret_cast<uintptr_t>(base.data());
  const auto v = reinterpret_cast<uintptr_t>(view.data());
  if (v < b || v + view.size() > b + base.size()) return false;
  offset = static_cast<uint32_t>(v - b);
  return true;
}
}  // namespace

// ---------------------------------------------------------------------------------------------------------
// The table: open addressing with linear probing over transaction indices; deletion shifts entries back, so
// there are no tombstones and a probe ends at the first empty slot.

uint64_t TransactionLayer::hash_of(const MatchKey& key) {
  const std::string_view text = key.method == Method::other ? key.method_text : std::string_view{};
  // sent-by is left out of the hash (its host compares case-insensitively); the branch is unique enough.
  if (key.client || !key.rfc2543) return absl::HashOf(key.client, static_cast<uint8_t>(key.method), text, key.branch);
  return absl::HashOf(uint8_t{3}, static_cast<uint8_t>(key.method), text, key.call_id, key.cseq, key.from_tag);
}

bool TransactionLayer::matches(const Transaction& t, const MatchKey& key) const {
  if (t.client != key.client || t.method != key.method) return false;
  if (key.method == Method::other && field(t, t.method_text) != key.method_text) return false;
  if (key.client) return field(t, t.branch) == key.branch;
  if (t.rfc2543 != key.rfc2543) return false;
  if (!key.rfc2543)
    return field(t, t.branch) == key.branch && t.port == key.port && iequals(field(t, t.host), key.host);
  const std::string_view to_tag = key.ack ? std::string_view(t.response_tag, t.response_tag_size) : field(t, t.to_tag);
  return t.cseq == key.cseq && field(t, t.call_id) == key.call_id && field(t, t.from_tag) == key.from_tag &&
         to_tag == key.to_tag && field(t, t.request_uri) == key.request_uri && field(t, t.top_via) == key.top_via;
}

TransactionLayer::Transaction* TransactionLayer::lookup(const MatchKey& key) {
  const uint64_t hash = hash_of(key);
  for (uint32_t i = hash & table_mask_;; i = (i + 1) & table_mask_) {
    const uint32_t slot = table_[i];
    if (slot == 0) return nullptr;
    Transaction& t = transactions_[slot - 1];
    if (t.hash == hash && matches(t, key)) return &t;
  }
}

bool TransactionLayer::insert(Transaction& t, const MatchKey& key) {
  t.hash = hash_of(key);
  const uint32_t index = id_of(t).index;
  for (uint32_t i = t.hash & table_mask_;; i = (i + 1) & table_mask_) {
    const uint32_t slot = table_[i];
    if (slot == 0) {
      table_[i] = index + 1;
      t.in_table = true;
      return true;
    }
    const Transaction& other = transactions_[slot - 1];
    if (other.hash == t.hash && matches(other, key)) return false;
  }
}

void TransactionLayer::erase(Transaction& t) {
  erase_shifting_back(table_.get(), table_mask_, t.hash & table_mask_, id_of(t).index + 1, [&](uint32_t entry) {
    return static_cast<uint32_t>(transactions_[entry - 1].hash & table_mask_);
  });
  t.in_table = false;
}

bool TransactionLayer::set_key_fields(Transaction& t, std::string_view base, const MessageView& m) {
  const ViaView& via = m.vias[0];
  const std::string_view method_text = m.method == Method::other ? m.method_text : std::string_view{};
  struct Part {
    Span& span;
    std::string_view view;
  };
  const Part parts[] = {{t.branch, via.branch},         {t.host, via.host},       {t.method_text, method_text},
                        {t.request_uri, m.request_uri}, {t.from_tag, m.from.tag}, {t.to_tag, m.to.tag},
                        {t.call_id, m.call_id},         {t.top_via, via.raw}};
  for (const Part& part : parts) {
    if (!locate(base, part.view, part.span.offset)) return false;
    part.span.size = static_cast<uint32_t>(part.view.size());
  }
  t.port = via.port;
  t.cseq = m.cseq.number;
  t.method = m.method;
  t.rfc2543 = !has_cookie(via.branch);
  return true;
}

// The key of request `m` as the server side matches it (RFC 3261 section 17.2.3): branch + sent-by + method
// when the branch carries the magic cookie, the RFC 2543 fields otherwise. `method` is INVITE when looking
// up the INVITE transaction an ACK or a CANCEL refers to.
TransactionLayer::MatchKey TransactionLayer::request_key(const MessageView& m, Method method) {
  const ViaView& via = m.vias[0];
  MatchKey key;
  key.client = false;
  key.rfc2543 = !has_cookie(via.branch);
  key.ack = m.method == Method::ack;
  key.method = method;
  if (method == Method::other) key.method_text = m.method_text;
  key.branch = via.branch;
  key.host = via.host;
  key.port = via.port;
  key.request_uri = m.request_uri;
  key.from_tag = m.from.tag;
  key.to_tag = m.to.tag;
  key.call_id = m.call_id;
  key.top_via = via.raw;
  key.cseq = m.cseq.number;
  return key;
}

// ---------------------------------------------------------------------------------------------------------
// Sending.

bool TransactionLayer::deliver(Transaction& t, std::string_view data, bool retransmission, OnFailure on_failure) {
  if (sink_.send(data, t.flow)) {
    if (retransmission) counters_.retransmissions_sent.add();
    return true;
  }
  counters_.send_failures.add();
  if (!t.flow.reliable() || on_failure == OnFailure::ignore) return true;
  counters_.transport_errors.add();
  terminate_later(t);
  if (on_failure == OnFailure::end_and_notify && t.tu_knows) user_.on_transport_error(id_of(t));
  return false;
}

bool TransactionLayer::parse_stored(const Transaction& t) {
  // One whole message: UDP framing (the body is the rest) is right for bytes from either transport.
  const ParseResult r = parse_message(bytes(t.request), Transport::udp, *scratch_view_);
  return r.status == ParseStatus::complete && scratch_view_->via_count > 0;
}

TransactionError TransactionLayer::send_stateless(std::string_view data, const Flow& to) {
  if (sink_.send(data, to)) return TransactionError::none;
  counters_.send_failures.add();
  return TransactionError::transport_error;
}

TransactionError TransactionLayer::respond_stateless(const MessageView& request, const Flow& to, uint16_t code,
                                                     std::string_view reason) {
  if (!request.is_request || request.via_count == 0) return TransactionError::bad_message;
  MessageWriter writer(scratch_out_.get(), scratch_out_size_);
  char host[64];
  const size_t host_size = to.peer.host_text(host, sizeof host);
  char tag[token_size];
  std::string_view to_tag;
  if (code > 100 && request.to.tag.empty()) to_tag = write_token(++token_counter_, config_.token_key, tag);
  build_response(request, code, reason, to_tag, writer,
                 ResponseSource{std::string_view(host, host_size), to.peer.port});
  const auto size = writer.finish();
  if (!size) return TransactionError::build_failed;
  return send_stateless(std::string_view(scratch_out_.get(), *size), to);
}

// ---------------------------------------------------------------------------------------------------------
// Receiving.

Result<Received, TransactionError> TransactionLayer::receive(std::string_view raw, const MessageView& message,
                                                             const Flow& from) {
  if (message.via_count == 0) return Unexpected{TransactionError::bad_message};
  if (message.is_request) return receive_request(raw, message, from);
  return receive_response(message, from);
}

Result<TransactionLayer::Transaction*, TransactionError> TransactionLayer::create_server(std::string_view raw,
                                                                                         const MessageView& m,
                                                                                         const Flow& from) {
  Transaction* t = allocate();
  if (t == nullptr) return Unexpected{TransactionError::table_full};
  if (const TransactionError e = store(t->request, raw); e != TransactionError::none) {
    free_slot(*t);
    return Unexpected{e};
  }
  const MatchKey key = request_key(m, m.method);
  if (!set_key_fields(*t, raw, m) || !insert(*t, key)) {
    free_slot(*t);
    return Unexpected{TransactionError::bad_message};
  }
  t->flow = from;
  t->invite = m.method == Method::invite;
  t->state = t->invite ? TransactionState::proceeding : TransactionState::trying;
  if (!m.to.tag.empty() && m.to.tag.size() <= sizeof t->response_tag) {
    std::memcpy(t->response_tag, m.to.tag.data(), m.to.tag.size());
    t->response_tag_size = static_cast<uint8_t>(m.to.tag.size());
  }
  // A non-INVITE server transaction the TU never answers would hold its slot forever; by 64*T1 the client
  // has given up (timer F), so the transaction times out then.
  if (!t->invite) schedule(t->state_timer, 64ull * config_.t1_ms);
  ++live_;
  counters_.transactions_live.set(live_);
  counters_.transactions_created.add();
  counters_.server_created.add();
  return t;
}

Result<Received, TransactionError> TransactionLayer::receive_request(std::string_view raw, const MessageView& m,
                                                                     const Flow& from) {
  if (m.method == Method::ack) return receive_ack(m, from);
  if (Transaction* t = lookup(request_key(m, m.method))) {
    // A retransmission (17.2.1, 17.2.2): the last response goes out again; none yet (trying), or the TU's 2xx
    // retransmissions cover it (accepted, RFC 6026), or the ACK already came (confirmed): nothing is sent.
    counters_.retransmissions_absorbed.add();
    const bool resend =
        t->extra.valid() && (t->state == TransactionState::proceeding || t->state == TransactionState::completed);
    if (resend) {
      deliver(*t, bytes(t->extra), true, OnFailure::end_and_notify);
    } else if (t->invite && t->state == TransactionState::proceeding && t->last_status == 0 && config_.invite_trying) {
      // The client is waiting and its 100 was not due yet: send it now.
      (void)respond_to(
          *t, 100, {}, {}, [](MessageWriter&) {}, OnFailure::ignore);
    }
    return Received::retransmission;
  }
  if (const Finished* f = find_finished_request(m, m.method)) {
    counters_.retransmissions_absorbed.add();
    if (f->kind == FinishedKind::server_resend && f->buffer != 0) {
      if (sink_.send(bytes(BufferRef{key_class, f->buffer - 1, f->size}), from)) {
        counters_.retransmissions_sent.add();
      } else {
        counters_.send_failures.add();
      }
    }
    return Received::retransmission;
  }
  if (m.method == Method::cancel) return receive_cancel(raw, m, from);
  auto created = create_server(raw, m, from);
  if (!created) return Unexpected{created.error()};
  Transaction& t = **created;
  t.tu_knows = true;
  const TransactionId id = id_of(t);
  receiving_ = &t;
  receiving_view_ = &m;
  user_.on_request(id, m, from);
  // 17.2.1: the 100 is owed unless the TU answers within 200 ms. One that answered at once (a 407 challenge,
  // a 486) owes none; otherwise it goes after trying_delay_ms unless a response went first (the retransmit
  // timer, idle while proceeding). The slot is still `t`: slots are only reused after a timer pass.
  if (t.invite && config_.invite_trying && find_live(id) != nullptr && t.last_status == 0) {
    if (config_.trying_delay_ms == 0) {
      // The 100 is only a courtesy: if it cannot go, the TU's own responses will report the failure.
      (void)respond_to(
          t, 100, {}, {}, [](MessageWriter&) {}, OnFailure::ignore);
    } else {
      schedule(t.retransmit_timer, config_.trying_delay_ms);
    }
  }
  receiving_ = nullptr;
  receiving_view_ = nullptr;
  return Received::new_transaction;
}

Result<Received, TransactionError> TransactionLayer::receive_ack(const MessageView& m, const Flow& from) {
  Transaction* t = lookup(request_key(m, Method::invite));
  if (t == nullptr) {
    if (const Finished* f = find_finished_request(m, Method::invite);
        f != nullptr && f->kind == FinishedKind::server_confirmed) {
      counters_.retransmissions_absorbed.add();
      return Received::ack_absorbed;
    }
    // The ACK for a 2xx carries a branch of its own: a transaction-less request for the TU (17.2.3, 13.3.1.4).
    user_.on_request(TransactionId{}, m, from);
    return Received::ack_to_tu;
  }
  switch (t->state) {
    case TransactionState::completed:
      // 17.2.1: the ACK for the non-2xx final: stop G and H, absorb further ACKs for T4 (timer I).
      t->state = TransactionState::confirmed;
      wheel_.cancel(t->retransmit_timer);
      schedule(t->state_timer, t->flow.reliable() ? 0 : config_.t4_ms);
      release(t->extra);  // confirmed: the final response is not sent again
      if (t->flow.reliable() || !retire(*t, FinishedKind::server_confirmed, config_.t4_ms)) compact(*t);
      return Received::ack_absorbed;
    case TransactionState::confirmed: counters_.retransmissions_absorbed.add(); return Received::ack_absorbed;
    case TransactionState::accepted:
      // RFC 6026 section 7.1: an ACK that matches an accepted INVITE transaction goes to the TU.
      user_.on_request(id_of(*t), m, from);
      return Received::ack_to_tu;
    default: return Received::ack_absorbed;  // an ACK before any final response: nothing to acknowledge
  }
}

Result<Received, TransactionError> TransactionLayer::receive_cancel(std::string_view raw, const MessageView& m,
                                                                    const Flow& from) {
  // 9.2: the CANCEL targets the INVITE server transaction it would match if it were the INVITE.
  Transaction* invite = lookup(request_key(m, Method::invite));
  if (invite == nullptr && find_finished_request(m, Method::invite) != nullptr) {
    // The INVITE has its final response: the CANCEL has no effect, and is answered 200 all the same.
    counters_.cancels_matched.add();
    auto created = create_server(raw, m, from);
    if (created) {
      (void)respond_to(
          **created, 200, {}, {}, [](MessageWriter&) {}, OnFailure::ignore);
    } else {
      (void)respond_stateless(m, from, 200);
    }
    return Received::cancel_accepted;
  }
  if (invite == nullptr) {
    counters_.cancels_unmatched.add();
    (void)respond_stateless(m, from, 481);
    return Received::cancel_unmatched;
  }
  counters_.cancels_matched.add();
  const TransactionId invite_id = id_of(*invite);
  const bool proceeding = invite->state == TransactionState::proceeding;
  // The CANCEL's own transaction absorbs its retransmissions; if none can be had, answer it statelessly (a
  // retransmitted CANCEL is then answered again, and the TU told again only if the INVITE still proceeds).
  auto created = create_server(raw, m, from);
  if (created) {
    (void)respond_to(
        **created, 200, {}, {}, [](MessageWriter&) {}, OnFailure::ignore);
  } else {
    (void)respond_stateless(m, from, 200);
  }
  if (proceeding && find_live(invite_id) != nullptr) user_.on_cancel(invite_id, m);
  return Received::cancel_accepted;
}

Result<Received, TransactionError> TransactionLayer::receive_response(const MessageView& m, const Flow& from) {
  MatchKey key;
  key.client = true;
  key.method = m.cseq.method;
  if (key.method == Method::other) key.method_text = m.cseq.method_text;
  key.branch = m.vias[0].branch;
  Transaction* found = lookup(key);
  if (found == nullptr) {
    if (const Finished* f = find_finished_client(key)) {
      const uint16_t code = m.status_code;
      if (f->kind == FinishedKind::client_accepted && is_2xx(code)) {
        // RFC 6026 section 8.4 (accepted): every 2xx goes to the TU, which acknowledges it.
        user_.on_response(record_id(static_cast<uint32_t>(f - finished_.get())), m, from);
        return Received::response;
      }
      counters_.retransmissions_absorbed.add();
      if (f->kind == FinishedKind::client_rejected && code >= 300 && f->buffer != 0) {
        // 17.1.1.2: a retransmitted non-2xx final gets the ACK again, on the INVITE's flow.
        const std::string_view stored = bytes(BufferRef{key_class, f->buffer - 1, f->size});
        Flow to;
        std::memcpy(&to, stored.data(), sizeof(Flow));
        if (sink_.send(stored.substr(sizeof(Flow)), to)) {
          counters_.retransmissions_sent.add();
        } else {
          counters_.send_failures.add();
        }
      }
      return Received::response_absorbed;
    }
  }
  if (found == nullptr) {
    counters_.stray_responses.add();
    user_.on_response(TransactionId{}, m, from);
    return Received::stray_response;
  }
  Transaction& t = *found;
  const TransactionId id = id_of(t);
  const uint16_t code = m.status_code;
  const bool open = t.state == TransactionState::calling || t.state == TransactionState::trying ||
                    t.state == TransactionState::proceeding;
  if (!t.invite) {
    // 17.1.2.2.
    if (!open) {
      counters_.retransmissions_absorbed.add();
      return Received::response_absorbed;
    }
    t.last_status = code;
    if (code < 200) {
      t.state = TransactionState::proceeding;  // timer E goes on, at T2 from its next firing
    } else {
      t.state = TransactionState::completed;
      wheel_.cancel(t.retransmit_timer);
      schedule(t.state_timer, t.flow.reliable() ? 0 : config_.t4_ms);  // timer K
    }
    user_.on_response(id, m, from);
    if (t.state == TransactionState::completed &&
        (t.flow.reliable() || !retire(t, FinishedKind::client_completed, config_.t4_ms)))
      compact(t);
    return Received::response;
  }
  // 17.1.1.2, with the accepted state of RFC 6026.
  if (code < 200) {
    if (!open) {
      counters_.retransmissions_absorbed.add();
      return Received::response_absorbed;
    }
    const bool was_calling = t.state == TransactionState::calling;
    t.state = TransactionState::proceeding;
    t.last_status = code;
    if (was_calling) {
      wheel_.cancel(t.retransmit_timer);
      wheel_.cancel(t.state_timer);  // timer B only runs while calling
    }
    user_.on_response(id, m, from);
    if (t.cancel_pending && find_live(id) != nullptr) send_pending_cancel(t);
    return Received::response;
  }
  if (is_2xx(code)) {
    if (open) {
      t.state = TransactionState::accepted;
      t.last_status = code;
      t.cancel_pending = false;
      wheel_.cancel(t.retransmit_timer);
      schedule(t.state_timer, 64ull * config_.t1_ms);  // timer M
    } else if (t.state != TransactionState::accepted) {
      counters_.retransmissions_absorbed.add();
      return Received::response_absorbed;
    }
    // Every 2xx reaches the TU: it acknowledges each (13.2.2.4), and a retransmitted one means its ACK was lost.
    user_.on_response(id, m, from);
    // Accepted (timer M): what is left is passing further 2xx to the TU, which a record does.
    if (t.state == TransactionState::accepted && !retire(t, FinishedKind::client_accepted, 64ull * config_.t1_ms))
      compact(t);
    return Received::response;
  }
  if (!open) {
    // A retransmitted non-2xx final while completed: the ACK goes out again (17.1.1.2).
    counters_.retransmissions_absorbed.add();
    if (t.state == TransactionState::completed && t.extra.valid()) {
      deliver(t, bytes(t.extra), true, OnFailure::end_and_notify);
    }
    return Received::response_absorbed;
  }
  t.state = TransactionState::completed;
  t.last_status = code;
  t.cancel_pending = false;
  wheel_.cancel(t.retransmit_timer);
  schedule(t.state_timer, t.flow.reliable() ? 0 : config_.timer_d_ms);  // timer D replaces B
  user_.on_response(id, m, from);
  // 17.1.1.3: the ACK, built from the stored INVITE with the response's To (its tag), kept to answer the
  // response's retransmissions until timer D (32 s over UDP, none over TCP).
  if (t.state != TransactionState::completed) return Received::response;
  const size_t ack_size = build_ack_or_cancel(t, Method::ack, m.to.raw);
  if (ack_size > 0 && store(t.extra, std::string_view(scratch_out_.get(), ack_size)) == TransactionError::none) {
    deliver(t, bytes(t.extra), false, OnFailure::end_and_notify);
  }
  if (t.state == TransactionState::completed &&
      (t.flow.reliable() || !retire(t, FinishedKind::client_rejected, config_.timer_d_ms, bytes(t.extra), &t.flow)))
    compact(t);
  return Received::response;
}

// ---------------------------------------------------------------------------------------------------------
// Server transactions: responses from the TU.

TransactionError TransactionLayer::respond(TransactionId id, uint16_t code, std::string_view reason,
                                           std::string_view to_tag, absl::FunctionRef<void(MessageWriter&)> extra) {
  Transaction* t = find_live(id);
  if (t == nullptr) return TransactionError::unknown_transaction;
  return respond_to(*t, code, reason, to_tag, extra, OnFailure::end);
}

TransactionError TransactionLayer::respond(TransactionId id, uint16_t code, std::string_view reason,
                                           std::string_view to_tag) {
  return respond(id, code, reason, to_tag, [](MessageWriter&) {});
}

TransactionError TransactionLayer::respond_to(Transaction& t, uint16_t code, std::string_view reason,
                                              std::string_view to_tag, absl::FunctionRef<void(MessageWriter&)> extra,
                                              OnFailure on_failure) {
  if (t.client) return TransactionError::bad_state;
  const bool open = t.state == TransactionState::trying || t.state == TransactionState::proceeding;
  const bool another_2xx = t.state == TransactionState::accepted && is_2xx(code);
  if (!open && !another_2xx) return TransactionError::bad_state;
  if (code < 100 || code > 699) return TransactionError::build_failed;
  // Compacted (finished): only the keys are left, no request to build another response from.
  if (t.request.size_class == key_class) return TransactionError::bad_state;
  // The request as it arrived while the TU answers from inside on_request() (a 407, a BYE's 200, the 100);
  // later, the stored copy parsed again.
  const MessageView* arrived = receiving_ == &t ? receiving_view_ : nullptr;
  if (arrived == nullptr && !parse_stored(t)) return TransactionError::bad_message;
  const MessageView& request = arrived != nullptr ? *arrived : *scratch_view_;
  // One To tag for every response of the transaction (the dialog's, 12.1.1); the TU's when it gives one.
  std::string_view tag;
  if (code > 100 && request.to.tag.empty()) {
    if (!to_tag.empty()) {
      if (to_tag.size() > sizeof t.response_tag) return TransactionError::build_failed;
      std::memcpy(t.response_tag, to_tag.data(), to_tag.size());
      t.response_tag_size = static_cast<uint8_t>(to_tag.size());
    } else if (t.response_tag_size == 0) {
      t.response_tag_size = static_cast<uint8_t>(
          write_token(++token_counter_, config_.token_key, std::span<char>(t.response_tag, token_size)).size());
    }
    tag = std::string_view(t.response_tag, t.response_tag_size);
  }
  MessageWriter writer(scratch_out_.get(), scratch_out_size_);
  char host[64];
  const size_t host_size = t.flow.peer.host_text(host, sizeof host);
  build_response(request, code, reason, tag, writer,
                 ResponseSource{std::string_view(host, host_size), t.flow.peer.port});
  extra(writer);
  const auto size = writer.finish();
  if (!size) return TransactionError::build_failed;
  if (const TransactionError e = store(t.extra, std::string_view(scratch_out_.get(), *size));
      e != TransactionError::none) {
    return e;
  }
  t.last_status = code;
  if (t.invite) wheel_.cancel(t.retransmit_timer);  // the delayed 100 (receive_request()) is not needed now
  if (code < 200) {
    t.state = TransactionState::proceeding;
  } else if (t.invite && is_2xx(code)) {
    if (t.state != TransactionState::accepted) {
      // RFC 6026 section 8.5: accepted until timer L; the TU retransmits the 2xx meanwhile.
      t.state = TransactionState::accepted;
      schedule(t.state_timer, 64ull * config_.t1_ms);
    }
  } else {
    t.state = TransactionState::completed;
    if (t.invite) {
      if (!t.flow.reliable()) {
        t.interval_ms = config_.t1_ms;
        schedule(t.retransmit_timer, t.interval_ms);  // timer G
      }
      schedule(t.state_timer, 64ull * config_.t1_ms);  // timer H
    } else {
      schedule(t.state_timer, t.flow.reliable() ? 0 : 64ull * config_.t1_ms);  // timer J
    }
  }
  if (!deliver(t, bytes(t.extra), false, on_failure)) return TransactionError::transport_error;
  // A final response ends what the request is needed for: from here on the transaction absorbs
  // retransmissions, and the TU retransmits a 2xx with retransmit_response() (the last response is kept).
  // A non-INVITE over UDP only has to answer retransmissions with this response (timer J): a record does.
  const bool retired = t.state == TransactionState::completed && !t.invite && !t.flow.reliable() &&
                       retire(t, FinishedKind::server_resend, 64ull * config_.t1_ms, bytes(t.extra));
  if (!retired && (t.state == TransactionState::completed || t.state == TransactionState::accepted)) compact(t);
  return TransactionError::none;
}

TransactionError TransactionLayer::retransmit_response(TransactionId id) {
  Transaction* t = find_live(id);
  if (t == nullptr) return TransactionError::unknown_transaction;
  if (t->client || !t->extra.valid()) return TransactionError::bad_state;
  if (!deliver(*t, bytes(t->extra), true, OnFailure::end)) return TransactionError::transport_error;
  return TransactionError::none;
}

void TransactionLayer::acknowledged(TransactionId id) {
  Transaction* t = find_live(id);
  if (t == nullptr || t->client || !t->invite || t->state != TransactionState::accepted) return;
  // Over TCP no INVITE is retransmitted: it ends. Over UDP the rest of timer L goes to a record (or, when no
  // record can be had, the transaction stays accepted until timer L).
  if (t->flow.reliable()) {
    terminate_later(*t);
    return;
  }
  (void)retire(*t, FinishedKind::server_accepted, 64ull * config_.t1_ms);
}

// ---------------------------------------------------------------------------------------------------------
// Client transactions.

Result<TransactionId, TransactionError> TransactionLayer::start_client(std::string_view request, const Flow& to,
                                                                       uint64_t user_data) {
  Transaction* t = allocate();
  if (t == nullptr) return Unexpected{TransactionError::table_full};
  if (const TransactionError e = store(t->request, request); e != TransactionError::none) {
    free_slot(*t);
    return Unexpected{e};
  }
  const std::string_view stored = bytes(t->request);
  const ParseResult parsed = parse_message(stored, Transport::udp, *scratch_view_);
  const MessageView& m = *scratch_view_;
  if (parsed.status != ParseStatus::complete || !m.is_request || m.via_count == 0 || m.method == Method::ack ||
      !has_cookie(m.vias[0].branch) || !set_key_fields(*t, stored, m)) {
    free_slot(*t);
    return Unexpected{TransactionError::bad_message};
  }
  t->client = true;
  t->invite = m.method == Method::invite;
  MatchKey key;
  key.client = true;
  key.method = m.method;
  if (key.method == Method::other) key.method_text = m.method_text;
  key.branch = m.vias[0].branch;
  // A finished transaction's record still holds the branch: the same request again is a duplicate too.
  if (find_finished_client(key) != nullptr || !insert(*t, key)) {
    free_slot(*t);
    return Unexpected{TransactionError::duplicate};
  }
  t->flow = to;
  t->user_data = user_data;
  if (!sink_.send(stored, to)) {
    counters_.send_failures.add();
    if (to.reliable()) {
      counters_.transport_errors.add();
      free_slot(*t);
      return Unexpected{TransactionError::transport_error};
    }
    // UDP: as if the datagram were lost; timer A / E sends it again.
  }
  t->tu_knows = true;
  t->state = t->invite ? TransactionState::calling : TransactionState::trying;
  if (!to.reliable()) {
    t->interval_ms = config_.t1_ms;
    schedule(t->retransmit_timer, t->interval_ms);  // timer A / E
  }
  schedule(t->state_timer, 64ull * config_.t1_ms);  // timer B / F
  ++live_;
  counters_.transactions_live.set(live_);
  counters_.transactions_created.add();
  counters_.client_created.add();
  return id_of(*t);
}

size_t TransactionLayer::build_ack_or_cancel(const Transaction& t, Method method, std::string_view to) {
  if (!parse_stored(t)) return 0;
  const MessageView& r = *scratch_view_;
  // 17.1.1.3 and 9.1: the Request-URI, Call-ID, From, CSeq number and Route of the INVITE, its top Via only
  // (the same branch), the To of the response (ACK) or of the INVITE (CANCEL).
  MessageWriter w(scratch_out_.get(), scratch_out_size_);
  w.start_request(method, r.request_uri);
  w.header(HeaderId::via, r.vias[0].raw);
  w.header_int(HeaderId::max_forwards, 70);
  w.header(HeaderId::from, r.from.raw);
  w.header(HeaderId::to, method == Method::ack ? to : r.to.raw);
  w.header(HeaderId::call_id, r.call_id);
  w.begin_header(HeaderId::cseq);
  w.append_int(r.cseq.number);
  w.append(" ");
  w.append(method_name(method));
  w.end_header();
  copy_headers_with_id(r, route_ids, w);
  const auto size = w.finish();
  return size ? *size : 0;
}

Result<TransactionLayer::CancelResult, TransactionError> TransactionLayer::cancel(TransactionId invite) {
  Transaction* t = find_live(invite);
  if (t == nullptr) return Unexpected{TransactionError::unknown_transaction};
  if (!t->client || !t->invite) return Unexpected{TransactionError::bad_state};
  if (t->state == TransactionState::calling) {
    // 9.1: no CANCEL before a provisional response; it goes out with the first one.
    t->cancel_pending = true;
    return CancelResult{TransactionId{}, true};
  }
  if (t->state != TransactionState::proceeding) return Unexpected{TransactionError::bad_state};
  const size_t size = build_ack_or_cancel(*t, Method::cancel, {});
  if (size == 0) return Unexpected{TransactionError::build_failed};
  auto started = start_client(std::string_view(scratch_out_.get(), size), t->flow, t->user_data);
  if (!started) return Unexpected{started.error()};
  return CancelResult{*started, false};
}

void TransactionLayer::send_pending_cancel(Transaction& invite) {
  invite.cancel_pending = false;
  const size_t size = build_ack_or_cancel(invite, Method::cancel, {});
  if (size == 0) return;
  // A CANCEL that cannot start (table full) is not retried: the TU still has its own ringing limit.
  (void)start_client(std::string_view(scratch_out_.get(), size), invite.flow, invite.user_data);
}

// ---------------------------------------------------------------------------------------------------------
// Timers.

void TransactionLayer::on_retransmit_timer(TimerEntry& entry) {
  auto& timer = static_cast<Timer&>(entry);
  timer.layer->retransmit_timer_fired(timer.layer->transactions_[timer.index]);
}

void TransactionLayer::on_state_timer(TimerEntry& entry) {
  auto& timer = static_cast<Timer&>(entry);
  timer.layer->state_timer_fired(timer.layer->transactions_[timer.index]);
}

void TransactionLayer::retransmit_timer_fired(Transaction& t) {
  std::string_view data;
  uint64_t next_ms = 0;
  if (t.client && t.state == TransactionState::calling) {
    data = bytes(t.request);  // timer A: doubling, no cap (B ends it)
    next_ms = 2ull * t.interval_ms;
  } else if (t.client && (t.state == TransactionState::trying || t.state == TransactionState::proceeding)) {
    data = bytes(t.request);  // timer E: doubling up to T2; T2 straight away once proceeding
    next_ms = t.state == TransactionState::proceeding ? config_.t2_ms
                                                      : std::min<uint64_t>(2ull * t.interval_ms, config_.t2_ms);
  } else if (!t.client && t.state == TransactionState::completed) {
    data = bytes(t.extra);  // timer G: doubling up to T2
    next_ms = std::min<uint64_t>(2ull * t.interval_ms, config_.t2_ms);
  } else {
    // The delayed 100 Trying of an INVITE nobody has answered yet (receive_request()).
    if (!t.client && t.invite && t.state == TransactionState::proceeding && t.last_status == 0)
      (void)respond_to(
          t, 100, {}, {}, [](MessageWriter&) {}, OnFailure::ignore);
    return;
  }
  if (!deliver(t, data, true, OnFailure::end_and_notify)) return;
  t.interval_ms = static_cast<uint32_t>(next_ms);
  schedule(t.retransmit_timer, t.interval_ms);
}

void TransactionLayer::state_timer_fired(Transaction& t) {
  bool timeout = false;
  switch (t.state) {
    case TransactionState::calling:  // B
    case TransactionState::trying:   // F, or the non-INVITE server guard
      timeout = true;
      break;
    case TransactionState::proceeding: timeout = t.client || !t.invite; break;  // F / guard
    case TransactionState::completed: timeout = !t.client && t.invite; break;   // H; else D, J, K
    default: break;                                                             // I, L, M, or ending now
  }
  if (timeout) {
    counters_.timeouts.add();
    wheel_.cancel(t.retransmit_timer);
    if (t.in_table) erase(t);
    t.state = TransactionState::terminated;
    if (t.tu_knows) user_.on_timeout(id_of(t));
  }
  terminate(t);
}

// ---------------------------------------------------------------------------------------------------------
// Queries.

TransactionState TransactionLayer::state(TransactionId id) const {
  const Transaction* t = find_live(id);
  return t == nullptr ? TransactionState::terminated : t->state;
}

Method TransactionLayer::method(TransactionId id) const {
  if (const Finished* f = find_record(id)) return f->method;
  const Transaction* t = find_in_use(id);
  return t == nullptr ? Method::other : t->method;
}

bool TransactionLayer::is_client(TransactionId id) const {
  if (const Finished* f = find_record(id))
    return f->kind == FinishedKind::client_completed || f->kind == FinishedKind::client_rejected ||
           f->kind == FinishedKind::client_accepted;
  const Transaction* t = find_in_use(id);
  return t != nullptr && t->client;
}

uint16_t TransactionLayer::last_status(TransactionId id) const {
  if (const Finished* f = find_record(id)) return f->last_status;
  const Transaction* t = find_in_use(id);
  return t == nullptr ? 0 : t->last_status;
}

uint64_t TransactionLayer::user_data(TransactionId id) const {
  if (const Finished* f = find_record(id)) return f->user_data;
  const Transaction* t = find_in_use(id);
  return t == nullptr ? 0 : t->user_data;
}

void TransactionLayer::set_user_data(TransactionId id, uint64_t value) {
  if (Transaction* t = find_live(id)) t->user_data = value;
}

}  // namespace parkd::sip
