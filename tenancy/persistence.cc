#include "tenancy/persistence.h"

#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <xxhash.h>

#include <algorithm>
#include <cassert>
#include <chrono>
#include <cstring>
#include <ctime>
#include <vector>

#include "tenancy/tenants_config.h"

namespace parkd::tenancy {

namespace {

constexpr uint8_t value_version = 1;
constexpr size_t value_header_bytes = 47;
static_assert(value_header_bytes <= 48, "stored_value_length_max leaves 48 bytes for the header");

uint64_t steady_ms() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

template <class T>
void put_le(char* out, T value) {
  for (size_t i = 0; i < sizeof(T); ++i) out[i] = static_cast<char>((static_cast<uint64_t>(value) >> (8 * i)) & 0xff);
}
template <class T>
T get_le(const char* in) {
  uint64_t value = 0;
  for (size_t i = 0; i < sizeof(T); ++i) value |= uint64_t{static_cast<uint8_t>(in[i])} << (8 * i);
  return static_cast<T>(value);
}

std::string lmdb_error(std::string_view what, int rc) { return std::string(what) + ": " + mdb_strerror(rc); }

MDB_val val_of(std::string_view text) { return MDB_val{text.size(), const_cast<char*>(text.data())}; }
std::string_view view_of(const MDB_val& v) { return {static_cast<const char*>(v.mv_data), v.mv_size}; }

// Drops LMDB's pages from this process's page tables: they stay in the page cache, but a long-running node that
// touched most of a multi-gigabyte file would otherwise count all of it as RSS (SPEC section 8 counts RSS).
void drop_map_pages(MDB_env* env) {
  MDB_envinfo info;
  MDB_stat stat;
  if (mdb_env_info(env, &info) != 0 || mdb_env_stat(env, &stat) != 0 || info.me_mapaddr == nullptr) return;
  const size_t used = (info.me_last_pgno + 1) * size_t{stat.ms_psize};
  madvise(info.me_mapaddr, used, MADV_DONTNEED);
}

}  // namespace

// --- encodings

size_t encode_stored_key(std::string_view domain, std::string_view number, std::string_view contact_uri,
                         std::string_view instance, uint32_t reg_id, char (&out)[stored_key_length_max]) {
  assert(domain.size() <= domain_length_max && number.size() <= extension_number_length_max);
  size_t n = 0;
  for (const char c : domain) out[n++] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  out[n++] = '\0';
  std::memcpy(out + n, number.data(), number.size());
  n += number.size();
  out[n++] = '\0';
  XXH128_hash_t hash;
  if (!instance.empty()) {
    // The device and its flow number name the binding (RFC 5626), whatever contact it registers.
    char id[instance_length_max + 4];
    std::memcpy(id, instance.data(), instance.size());
    put_le<uint32_t>(id + instance.size(), reg_id);
    hash = XXH3_128bits(id, instance.size() + 4);
    out[n++] = 'i';
  } else {
    hash = XXH3_128bits(contact_uri.data(), contact_uri.size());
    out[n++] = 'c';
  }
  put_le<uint64_t>(out + n, hash.high64);
  put_le<uint64_t>(out + n + 8, hash.low64);
  return n + 16;
}

// Value v1: version, flags (1: IPv6, 2: TCP), q (2), CSeq (4), Call-ID hash (4), reg-id (4), expiry (8, wall ms),
// address (16), port (2), URI length (2), instance length (1), listening socket index (2), then the URI and the
// instance. The socket index is a hint: the daemon checks it against its sockets after a restart.
size_t encode_stored_value(const StoredBinding& b, char (&out)[stored_value_length_max]) {
  assert(b.contact_uri.size() <= contact_uri_length_max && b.instance.size() <= instance_length_max);
  out[0] = static_cast<char>(value_version);
  out[1] = static_cast<char>((b.flow.source.ipv6 ? 1 : 0) | (b.flow.transport == Transport::tcp ? 2 : 0));
  put_le<uint16_t>(out + 2, b.q_thousandths);
  put_le<uint32_t>(out + 4, b.cseq);
  put_le<uint32_t>(out + 8, b.call_id_hash);
  put_le<uint32_t>(out + 12, b.reg_id);
  put_le<uint64_t>(out + 16, static_cast<uint64_t>(b.expires_at_wall_ms));
  std::memcpy(out + 24, b.flow.source.address, 16);
  put_le<uint16_t>(out + 40, b.flow.source.port);
  put_le<uint16_t>(out + 42, static_cast<uint16_t>(b.contact_uri.size()));
  out[44] = static_cast<char>(b.instance.size());
  put_le<uint16_t>(out + 45, b.flow.socket_index);
  std::memcpy(out + value_header_bytes, b.contact_uri.data(), b.contact_uri.size());
  if (!b.instance.empty()) {
    std::memcpy(out + value_header_bytes + b.contact_uri.size(), b.instance.data(), b.instance.size());
  }
  return value_header_bytes + b.contact_uri.size() + b.instance.size();
}

bool decode_stored_binding(std::string_view key, std::string_view value, StoredBinding& out) {
  const size_t domain_end = key.find('\0');
  if (domain_end == std::string_view::npos) return false;
  const size_t number_end = key.find('\0', domain_end + 1);
  if (number_end == std::string_view::npos || key.size() != number_end + 1 + 1 + 16) return false;
  out.domain = key.substr(0, domain_end);
  out.number = key.substr(domain_end + 1, number_end - domain_end - 1);
  if (value.size() < value_header_bytes || static_cast<uint8_t>(value[0]) != value_version) return false;
  const char* v = value.data();
  const uint8_t flags = static_cast<uint8_t>(v[1]);
  out.q_thousandths = get_le<uint16_t>(v + 2);
  out.cseq = get_le<uint32_t>(v + 4);
  out.call_id_hash = get_le<uint32_t>(v + 8);
  out.reg_id = get_le<uint32_t>(v + 12);
  out.expires_at_wall_ms = static_cast<int64_t>(get_le<uint64_t>(v + 16));
  out.flow = Flow{};
  std::memcpy(out.flow.source.address, v + 24, 16);
  out.flow.source.port = get_le<uint16_t>(v + 40);
  out.flow.source.ipv6 = (flags & 1) != 0;
  out.flow.transport = (flags & 2) != 0 ? Transport::tcp : Transport::udp;
  const size_t uri_length = get_le<uint16_t>(v + 42);
  const size_t instance_length = static_cast<uint8_t>(v[44]);
  out.flow.socket_index = get_le<uint16_t>(v + 45);
  if (value.size() != value_header_bytes + uri_length + instance_length) return false;
  out.contact_uri = value.substr(value_header_bytes, uri_length);
  out.instance = value.substr(value_header_bytes + uri_length, instance_length);
  return true;
}

// --- BindingStore

Result<std::unique_ptr<BindingStore>, std::string> BindingStore::open(const std::string& data_dir,
                                                                      const PersistenceOptions& options) {
  std::unique_ptr<BindingStore> store(new BindingStore());
  store->options_ = options;
  store->path_ = data_dir + "/registrations.mdb";
  struct stat st;
  if (::stat(data_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Unexpected<std::string>{data_dir + ": not a directory (--data-dir must exist)"};
  }
  int rc = mdb_env_create(&store->env_);
  if (rc != 0) return Unexpected<std::string>{lmdb_error(store->path_, rc)};
  rc = mdb_env_set_mapsize(store->env_, options.map_size_bytes);
  if (rc == 0) rc = mdb_env_open(store->env_, store->path_.c_str(), MDB_NOSUBDIR | MDB_NOTLS, 0644);
  if (rc != 0) {
    // The BindingStore destructor closes the environment.
    return Unexpected<std::string>{lmdb_error(store->path_, rc)};
  }
  MDB_txn* txn = nullptr;
  rc = mdb_txn_begin(store->env_, nullptr, 0, &txn);
  if (rc == 0) rc = mdb_dbi_open(txn, nullptr, 0, &store->dbi_);
  if (rc == 0) {
    rc = mdb_txn_commit(txn);
  } else if (txn != nullptr) {
    mdb_txn_abort(txn);
  }
  if (rc != 0) return Unexpected<std::string>{lmdb_error(store->path_, rc)};
  return store;
}

BindingStore::~BindingStore() {
  if (env_ != nullptr) mdb_env_close(env_);
}

Result<LoadStats, std::string> BindingStore::load(int64_t now_wall_ms,
                                                  const std::function<LoadVerdict(const StoredBinding&)>& visitor) {
  LoadStats stats;
  std::vector<std::string> to_erase;
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn);
  if (rc != 0) return Unexpected<std::string>{lmdb_error(path_, rc)};
  MDB_cursor* cursor = nullptr;
  rc = mdb_cursor_open(txn, dbi_, &cursor);
  if (rc != 0) {
    mdb_txn_abort(txn);
    return Unexpected<std::string>{lmdb_error(path_, rc)};
  }
  MDB_val key;
  MDB_val value;
  for (rc = mdb_cursor_get(cursor, &key, &value, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)) {
    StoredBinding binding;
    if (!decode_stored_binding(view_of(key), view_of(value), binding)) {
      ++stats.dropped;
      to_erase.emplace_back(view_of(key));
      continue;
    }
    if (binding.expires_at_wall_ms <= now_wall_ms) {
      ++stats.expired;
      to_erase.emplace_back(view_of(key));
      continue;
    }
    switch (visitor(binding)) {
      case LoadVerdict::keep: ++stats.restored; break;
      case LoadVerdict::not_mine: ++stats.not_mine; break;
      case LoadVerdict::drop:
        ++stats.dropped;
        to_erase.emplace_back(view_of(key));
        break;
    }
  }
  mdb_cursor_close(cursor);
  mdb_txn_abort(txn);
  if (rc != MDB_NOTFOUND) return Unexpected<std::string>{lmdb_error(path_, rc)};
  if (!to_erase.empty()) {
    rc = mdb_txn_begin(env_, nullptr, 0, &txn);
    if (rc != 0) return Unexpected<std::string>{lmdb_error(path_, rc)};
    for (const std::string& k : to_erase) {
      MDB_val v = val_of(k);
      rc = mdb_del(txn, dbi_, &v, nullptr);
      if (rc != 0 && rc != MDB_NOTFOUND) break;
      rc = 0;
    }
    if (rc == 0) {
      rc = mdb_txn_commit(txn);
    } else {
      mdb_txn_abort(txn);
    }
    if (rc != 0) return Unexpected<std::string>{lmdb_error(path_, rc)};
  }
  if (options_.drop_map_pages) drop_map_pages(env_);
  return stats;
}

size_t BindingStore::count() {
  MDB_txn* txn = nullptr;
  if (mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn) != 0) return 0;
  MDB_stat stat;
  const size_t entries = mdb_stat(txn, dbi_, &stat) == 0 ? stat.ms_entries : 0;
  mdb_txn_abort(txn);
  return entries;
}

// --- ShardWriter

ShardWriter::ShardWriter(BindingStore& store, std::function<bool(std::string_view)> owns_domain,
                         std::function<void(uint64_t)> commit_hook)
    : store_(store),
      owns_domain_(std::move(owns_domain)),
      commit_hook_(std::move(commit_hook)),
      ring_(store.options().ring_bytes) {
  thread_ = std::thread([this] { run(); });
}

ShardWriter::~ShardWriter() {
  stop_.store(true, std::memory_order_release);
  waker_.wake();
  thread_.join();
}

ShardWriterCounters ShardWriter::counters() const {
  return {changes_pushed_.load(std::memory_order_relaxed),        ring_full_total_.load(std::memory_order_relaxed),
          changes_applied_.load(std::memory_order_relaxed),       commits_total_.load(std::memory_order_relaxed),
          commit_failures_total_.load(std::memory_order_relaxed), resyncs_total_.load(std::memory_order_relaxed)};
}

// A frame: body length (4), op (1), key length (2), key, value. The whole frame is pushed in one batch (one
// release of the ring's tail), so the writer sees all of it or none.
bool ShardWriter::push(Op op, std::string_view key, std::string_view value) {
  const size_t body = 1 + 2 + key.size() + value.size();
  const size_t total = 4 + body;
  assert(total <= sizeof(frame_));
  // The producer's view of the free space is conservative (the consumer only frees more), so the batch fits whole.
  if (ring_.capacity() - ring_.size_approx() < total) return false;
  put_le<uint32_t>(frame_, static_cast<uint32_t>(body));
  frame_[4] = static_cast<char>(op);
  put_le<uint16_t>(frame_ + 5, static_cast<uint16_t>(key.size()));
  // Empty views may have a null data(), which memcpy must not see even with a zero size.
  if (!key.empty()) std::memcpy(frame_ + 7, key.data(), key.size());
  if (!value.empty()) std::memcpy(frame_ + 7 + key.size(), value.data(), value.size());
  const size_t pushed = ring_.push_batch(std::span<const char>(frame_, total));
  assert(pushed == total);
  (void)pushed;
  bump(changes_pushed_);
  waker_.wake_if_sleeping();
  return true;
}

bool ShardWriter::put(std::string_view key, std::string_view value) { return push(op_put, key, value); }
bool ShardWriter::erase(std::string_view key) { return push(op_erase, key, {}); }
bool ShardWriter::begin_resync() { return push(op_begin_resync, {}, {}); }
bool ShardWriter::end_resync() { return push(op_end_resync, {}, {}); }

bool ShardWriter::flush() {
  const uint64_t sequence = ++sync_sequence_;
  char key[8];
  put_le<uint64_t>(key, sequence);
  if (!push(op_sync, std::string_view(key, 8), {})) {
    --sync_sequence_;
    return false;
  }
  waker_.wake();
  for (uint64_t seen = synced_.load(std::memory_order_acquire); seen < sequence;
       seen = synced_.load(std::memory_order_acquire)) {
    synced_.wait(seen, std::memory_order_acquire);
  }
  return true;
}

size_t ShardWriter::drain() {
  size_t applied = 0;
  for (;;) {
    if (ring_.pop_batch(std::span<char>(incoming_, 4)) == 0) break;
    const uint32_t body = get_le<uint32_t>(incoming_);
    const size_t got = ring_.pop_batch(std::span<char>(incoming_, body));
    assert(got == body);
    (void)got;
    const Op op = static_cast<Op>(incoming_[0]);
    const size_t key_length = get_le<uint16_t>(incoming_ + 1);
    const std::string_view key(incoming_ + 3, key_length);
    const std::string_view value(incoming_ + 3 + key_length, body - 3 - key_length);
    ++applied;
    if (op == op_sync) {
      sync_seen_ = get_le<uint64_t>(key.data());
      continue;
    }
    if (op == op_end_resync) {
      if (resyncing_) {
        resyncing_ = false;
        bump(resyncs_total_);
      }
      continue;
    }
    if (txn_ == nullptr) {
      const int rc = mdb_txn_begin(store_.env(), nullptr, 0, &txn_);
      if (rc != 0) {
        txn_ = nullptr;
        abort_after_failure();
        continue;
      }
      txn_opened_ms_ = steady_ms();
      txn_changes_ = 0;
    }
    int rc = 0;
    if (op == op_put) {
      MDB_val k = val_of(key);
      MDB_val v = val_of(value);
      rc = mdb_put(txn_, store_.dbi(), &k, &v, 0);
    } else if (op == op_erase) {
      MDB_val k = val_of(key);
      rc = mdb_del(txn_, store_.dbi(), &k, nullptr);
      if (rc == MDB_NOTFOUND) rc = 0;
    } else if (op == op_begin_resync) {
      // Erase every record of this shard's tenants; the rewrite that follows stays in this transaction.
      resyncing_ = true;
      MDB_cursor* cursor = nullptr;
      rc = mdb_cursor_open(txn_, store_.dbi(), &cursor);
      MDB_val k;
      MDB_val v;
      int got_rc = rc == 0 ? mdb_cursor_get(cursor, &k, &v, MDB_FIRST) : rc;
      while (rc == 0 && got_rc == 0) {
        const std::string_view stored = view_of(k);
        if (owns_domain_(stored.substr(0, stored.find('\0')))) rc = mdb_cursor_del(cursor, 0);
        if (rc == 0) got_rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT);
      }
      if (cursor != nullptr) mdb_cursor_close(cursor);
      if (rc == 0 && got_rc != MDB_NOTFOUND) rc = got_rc;
    }
    if (rc != 0) {
      abort_after_failure();
      continue;
    }
    ++txn_changes_;
    bump(changes_applied_);
  }
  return applied;
}

void ShardWriter::abort_after_failure() {
  // A failed put (map full, disk error) leaves the transaction unusable: drop it and ask the shard to rewrite.
  if (txn_ != nullptr) mdb_txn_abort(txn_);
  txn_ = nullptr;
  resyncing_ = false;
  bump(commit_failures_total_);
  resync_requested_.store(true, std::memory_order_release);
}

void ShardWriter::commit() {
  uint64_t changes = 0;
  if (txn_ != nullptr) {
    changes = txn_changes_;
    const int rc = mdb_txn_commit(txn_);
    txn_ = nullptr;
    if (rc != 0) {
      abort_after_failure();
      return;
    }
    bump(commits_total_);
    if (store_.options().drop_map_pages) drop_map_pages(store_.env());
  }
  if (sync_seen_ > synced_.load(std::memory_order_relaxed)) {
    synced_.store(sync_seen_, std::memory_order_release);
    synced_.notify_all();
  }
  if (commit_hook_) commit_hook_(changes);
}

void ShardWriter::run() {
  const uint64_t interval_ms = store_.options().commit_interval_ms;
  for (;;) {
    const size_t drained = drain();
    const bool stopping = stop_.load(std::memory_order_acquire);
    if (stopping && drained == 0 && ring_.empty_approx()) {
      if (resyncing_ && txn_ != nullptr) {
        // Stopped in the middle of a rewrite: committing it would lose what was not rewritten yet.
        mdb_txn_abort(txn_);
        txn_ = nullptr;
      }
      commit();
      return;
    }
    const uint64_t now = steady_ms();
    const bool sync_due = sync_seen_ > synced_.load(std::memory_order_relaxed);
    if (!resyncing_ && (sync_due || (txn_ != nullptr && (txn_changes_ >= store_.options().batch_max ||
                                                         now - txn_opened_ms_ >= interval_ms)))) {
      commit();
    }
    if (drained > 0) continue;
    pollfd fd{waker_.fd(), POLLIN, 0};
    if (txn_ == nullptr) {
      // Idle: sleep until a producer wakes us (it does so only when we announced the sleep).
      waker_.prepare_to_sleep();
      if (!ring_.empty_approx() || stop_.load(std::memory_order_acquire)) {
        waker_.cancel_sleep();
        continue;
      }
      ::poll(&fd, 1, -1);
    } else {
      // A transaction is open: look at the ring every 10 ms (it fills without waking us) until its deadline.
      const uint64_t deadline = txn_opened_ms_ + interval_ms;
      const uint64_t wait = deadline > now ? std::min<uint64_t>(deadline - now, 10) : 0;
      ::poll(&fd, 1, static_cast<int>(wait));
    }
    waker_.consume();
  }
}

// --- LocationPersister

LocationPersister::LocationPersister(ShardWriter& writer, const LocationTable& table, const TenantsConfig* config)
    : writer_(writer), table_(table), config_(config) {}

int64_t LocationPersister::system_wall_clock_ms() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1'000'000;
}

size_t LocationPersister::key_of(uint32_t binding, char (&out)[stored_key_length_max]) const {
  const BindingView b = table_.binding(binding);
  assert(config_ != nullptr && b.tenant() < config_->tenant_count() && b.extension() < config_->extension_count());
  return encode_stored_key(config_->tenant(b.tenant()).domain(), config_->extension(b.extension()).number(),
                           b.contact_uri(), b.instance(), b.reg_id(), out);
}

bool LocationPersister::push_binding(uint32_t binding, uint64_t now_ms) {
  const BindingView b = table_.binding(binding);
  StoredBinding stored;
  stored.contact_uri = b.contact_uri();
  stored.instance = b.instance();
  stored.reg_id = b.reg_id();
  stored.q_thousandths = b.q_thousandths();
  stored.expires_at_wall_ms = wall_clock_ms_() + static_cast<int64_t>(b.expires_at_ms()) - static_cast<int64_t>(now_ms);
  stored.call_id_hash = b.call_id_hash();
  stored.cseq = b.cseq();
  stored.flow = b.flow();
  const size_t key_length = key_of(binding, key_);
  const size_t value_length = encode_stored_value(stored, value_);
  return writer_.put(std::string_view(key_, key_length), std::string_view(value_, value_length));
}

void LocationPersister::overflow() {
  writer_.count_ring_full();
  state_ = State::need_begin;
}

void LocationPersister::binding_stored(const LocationTable& /*table*/, uint32_t binding, uint64_t now_ms) {
  if (state_ == State::need_begin) return;  // the coming rewrite carries it
  if (!push_binding(binding, now_ms)) overflow();
}

void LocationPersister::binding_removing(const LocationTable& /*table*/, uint32_t binding, RemoveReason /*reason*/) {
  if (state_ == State::need_begin) return;
  const size_t key_length = key_of(binding, key_);
  if (!writer_.erase(std::string_view(key_, key_length))) overflow();
}

bool LocationPersister::pump(uint64_t now_ms) {
  if (state_ == State::live && now_ms >= writer_resync_not_before_ms_ && writer_.take_resync_request()) {
    state_ = State::need_begin;
    writer_resync_not_before_ms_ = now_ms + 5000;
  }
  if (state_ == State::need_begin) {
    if (!writer_.begin_resync()) return false;
    state_ = State::rewriting;
    cursor_ = 0;
  }
  while (state_ == State::rewriting) {
    const uint32_t next = table_.next_live(cursor_);
    if (next == no_binding) {
      if (!writer_.end_resync()) return false;
      state_ = State::live;
      break;
    }
    if (!push_binding(next, now_ms)) return false;  // the ring is full: go on next turn, nothing is lost
    cursor_ = next + 1;
  }
  return true;
}

bool LocationPersister::flush(uint64_t now_ms) {
  while (!pump(now_ms)) std::this_thread::yield();  // the writer is draining the ring meanwhile
  while (!writer_.flush()) std::this_thread::yield();
  return true;
}

// --- start-up

Result<LoadStats, std::string> restore_location(BindingStore& store, const TenantsConfig& config, LocationTable& table,
                                                const std::function<bool(uint32_t)>& owns, int64_t now_wall_ms,
                                                uint64_t now_ms) {
  return store.load(now_wall_ms, [&](const StoredBinding& b) {
    const auto tenant = config.find_tenant(b.domain);
    if (!tenant) return LoadVerdict::drop;
    if (!owns(tenant->index())) return LoadVerdict::not_mine;
    const auto extension = tenant->find_extension(b.number);
    if (!extension) return LoadVerdict::drop;
    Flow flow = b.flow;
    flow.connection_id = 0;  // the TCP connection died with the old process
    const uint64_t expires_at_ms = now_ms + static_cast<uint64_t>(b.expires_at_wall_ms - now_wall_ms);
    const bool restored = table.restore(tenant->index(), extension->index(), b.contact_uri, b.instance, b.reg_id,
                                        b.q_thousandths, expires_at_ms, b.call_id_hash, b.cseq, flow, now_ms);
    return restored ? LoadVerdict::keep : LoadVerdict::drop;
  });
}

}  // namespace parkd::tenancy
