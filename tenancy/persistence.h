// Registrations that survive a restart (SPEC section 4, `--data-dir`): LMDB, written off the hot path.
// docs/registrar.md explains the design; docs/DECISIONS.md why LMDB.
//
// Contract:
// - One LMDB environment per node, DIR/registrations.mdb (plus its -lock file), one database in it. Every record
//   belongs to exactly one tenant and every tenant to exactly one shard, so the shards' writers never touch the
//   same key: each shard has its own writer thread, and LMDB serialises their transactions. A restart with another
//   --shards needs nothing special: every shard loads the records of the tenants it owns now.
// - Key: lowercase domain, NUL, extension number, NUL, then 'i' + XXH3-128(instance id, reg-id) or
//   'c' + XXH3-128(contact URI): at most 305 bytes (LMDB's key limit is 511). Value: a versioned little-endian
//   record with the expiry as wall-clock milliseconds (what expired while parkd was down is skipped at load).
// - The shard thread never blocks on disk: LocationPersister (a LocationObserver) encodes every change into the
//   shard's ShardWriter ring (a bounded SPSC byte ring), and the writer thread applies them in a transaction that it
//   commits at most commit_interval_ms after its first change (or sooner when it holds batch_max changes). A kill -9
//   loses at most the changes of the last interval (plus the time of one commit).
// - A full ring loses no state: the persister counts the overflow, stops pushing single changes, and as soon as the
//   ring has room rewrites the shard's whole state (a "clear what this shard owns" marker, then every binding, then
//   an end marker; the writer keeps all of it in one transaction). A failed commit (disk full) asks for the same.
// - A TCP flow does not survive a restart: a restored binding keeps its transport and address with connection id 0.
#pragma once

#include <lmdb.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "core/mailbox.h"
#include "core/result.h"
#include "core/spsc_ring.h"
#include "tenancy/location.h"
#include "tenancy/tenants_config.h"

namespace parkd::tenancy {

inline constexpr size_t stored_key_length_max = domain_length_max + 1 + extension_number_length_max + 1 + 1 + 16;
inline constexpr size_t stored_value_length_max = 48 + contact_uri_length_max + instance_length_max;

// One stored binding, decoded; the views point into the key and value they were decoded from.
struct StoredBinding {
  std::string_view domain;  // lowercase
  std::string_view number;
  std::string_view contact_uri;
  std::string_view instance;
  uint32_t reg_id = 0;
  uint16_t q_thousandths = q_absent;
  int64_t expires_at_wall_ms = 0;  // CLOCK_REALTIME
  uint32_t call_id_hash = 0;
  uint32_t cseq = 0;
  Flow flow;
};

// The encodings (exposed for tests). Each returns the length written; `out` holds the maximum.
size_t encode_stored_key(std::string_view domain, std::string_view number, std::string_view contact_uri,
                         std::string_view instance, uint32_t reg_id, char (&out)[stored_key_length_max]);
size_t encode_stored_value(const StoredBinding& binding, char (&out)[stored_value_length_max]);
bool decode_stored_binding(std::string_view key, std::string_view value, StoredBinding& out);

struct PersistenceOptions {
  uint32_t commit_interval_ms = 500;    // the longest a change waits for its commit (SPEC: at most 1 s is lost)
  uint32_t batch_max = 20'000;          // commit sooner when a transaction holds this many changes
  size_t ring_bytes = size_t{2} << 20;  // per shard; a full ring triggers a full rewrite
  uint64_t map_size_bytes = uint64_t{64} << 30;  // LMDB's map: address space, not memory or disk
  bool drop_map_pages = true;  // madvise the map away after each commit so LMDB's pages do not count as RSS
};

struct LoadStats {
  uint64_t restored = 0;  // kept by the visitor
  uint64_t not_mine = 0;  // another shard's
  uint64_t expired = 0;   // erased: expired while parkd was down
  uint64_t dropped = 0;   // erased: undecodable, or the visitor said drop (tenant or extension gone)
};

enum class LoadVerdict : uint8_t { keep, not_mine, drop };

// The node's environment.
class BindingStore {
 public:
  // Opens (creating if needed) DIR/registrations.mdb; DIR must exist. The error names the file and the cause.
  static Result<std::unique_ptr<BindingStore>, std::string> open(const std::string& data_dir,
                                                                 const PersistenceOptions& options = {});
  BindingStore(const BindingStore&) = delete;
  BindingStore& operator=(const BindingStore&) = delete;
  ~BindingStore();

  // Start-up: visits every stored binding, erasing the expired ones (expires_at_wall_ms <= now_wall_ms) and those
  // the visitor drops. Several shards may load at once (each with its own verdicts).
  Result<LoadStats, std::string> load(int64_t now_wall_ms,
                                      const std::function<LoadVerdict(const StoredBinding&)>& visitor);
  // Every record, decoded (tests, tools).
  size_t count();

  MDB_env* env() const { return env_; }
  MDB_dbi dbi() const { return dbi_; }
  const PersistenceOptions& options() const { return options_; }
  std::string path() const { return path_; }

 private:
  BindingStore() = default;
  MDB_env* env_ = nullptr;
  MDB_dbi dbi_ = 0;
  PersistenceOptions options_;
  std::string path_;
};

struct ShardWriterCounters {
  uint64_t changes_pushed = 0;         // producer: records accepted by the ring
  uint64_t ring_full_total = 0;        // producer: pushes refused (each starts or restarts a full rewrite)
  uint64_t changes_applied = 0;        // writer: puts and deletes done in LMDB
  uint64_t commits_total = 0;          // writer: transactions committed
  uint64_t commit_failures_total = 0;  // writer: failed puts or commits (each asks for a full rewrite)
  uint64_t resyncs_total = 0;          // writer: full rewrites committed
};

// One shard's writer thread and the ring that feeds it. The producer methods are for the shard thread only.
class ShardWriter {
 public:
  // `owns_domain` (called on the writer thread with a lowercase domain) says whether a stored record belongs to this
  // shard: the full rewrite erases those first. It must agree with the tenant-to-shard mapping.
  // `commit_hook` runs on the writer thread after every commit with the number of changes in it (tests,
  // logging); it is fixed before the thread starts.
  ShardWriter(BindingStore& store, std::function<bool(std::string_view)> owns_domain,
              std::function<void(uint64_t changes)> commit_hook = {});
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;
  // Drains the ring, commits, and joins the thread.
  ~ShardWriter();

  // --- producer (the shard thread). Each returns false when the ring is full (nothing was pushed).
  bool put(std::string_view key, std::string_view value);
  bool erase(std::string_view key);
  bool begin_resync();  // the writer erases every record that owns_domain() claims, in a transaction kept open...
  bool end_resync();    // ...until this marker: the rewrite is committed whole
  // Blocks until every change pushed before it is committed (clean shutdown, tests). False if the ring is full.
  bool flush();
  // True once when a commit failed since the last call: the producer should rewrite everything.
  bool take_resync_request() { return resync_requested_.exchange(false, std::memory_order_acq_rel); }
  void count_ring_full() { bump(ring_full_total_); }

  // Any thread.
  ShardWriterCounters counters() const;

 private:
  enum Op : uint8_t { op_put = 1, op_erase = 2, op_begin_resync = 3, op_end_resync = 4, op_sync = 5 };
  bool push(Op op, std::string_view key, std::string_view value);
  void run();
  // Applies every message in the ring to the open transaction (opening one if needed); returns how many.
  size_t drain();
  void commit();
  void abort_after_failure();
  static void bump(std::atomic<uint64_t>& counter) {
    counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }

  BindingStore& store_;
  std::function<bool(std::string_view)> owns_domain_;
  std::function<void(uint64_t)> commit_hook_;
  SpscRing<char> ring_;
  Waker waker_;

  // Producer side.
  uint64_t sync_sequence_ = 0;
  char frame_[8 + stored_key_length_max + stored_value_length_max];

  // Writer side.
  char incoming_[8 + stored_key_length_max + stored_value_length_max];
  MDB_txn* txn_ = nullptr;
  uint64_t txn_changes_ = 0;
  uint64_t txn_opened_ms_ = 0;
  bool resyncing_ = false;
  bool failed_ = false;  // the open transaction hit an error: it is aborted at commit time
  uint64_t sync_seen_ = 0;

  std::atomic<bool> stop_{false};
  std::atomic<bool> resync_requested_{false};
  std::atomic<uint64_t> synced_{0};  // the highest sync sequence committed
  std::atomic<uint64_t> changes_pushed_{0};
  std::atomic<uint64_t> ring_full_total_{0};
  std::atomic<uint64_t> changes_applied_{0};
  std::atomic<uint64_t> commits_total_{0};
  std::atomic<uint64_t> commit_failures_total_{0};
  std::atomic<uint64_t> resyncs_total_{0};
  std::thread thread_;
};

// The shard side: turns location table changes into writer records. Set as the table's observer.
class LocationPersister : public LocationObserver {
 public:
  LocationPersister(ShardWriter& writer, const LocationTable& table, const TenantsConfig* config);
  // After a reload (call after LocationTable::rebind with the new configuration): keys use domain and number, so
  // kept bindings keep their records.
  void set_config(const TenantsConfig* config) { config_ = config; }

  void binding_stored(const LocationTable& table, uint32_t binding, uint64_t now_ms) override;
  void binding_removing(const LocationTable& table, uint32_t binding, RemoveReason reason) override;

  // Every loop turn of the shard: continues a full rewrite when one is due. Returns true when none is pending.
  bool pump(uint64_t now_ms);
  bool resync_pending() const { return state_ != State::live; }
  // Clean shutdown: finishes a pending rewrite, then waits for the writer's commit. Blocks.
  bool flush(uint64_t now_ms);

  // Wall clock used for expiries on disk (tests replace it).
  void set_wall_clock(int64_t (*wall_clock_ms)()) { wall_clock_ms_ = wall_clock_ms; }
  static int64_t system_wall_clock_ms();

 private:
  enum class State : uint8_t { live, need_begin, rewriting };
  bool push_binding(uint32_t binding, uint64_t now_ms);
  size_t key_of(uint32_t binding, char (&out)[stored_key_length_max]) const;
  void overflow();

  ShardWriter& writer_;
  const LocationTable& table_;
  const TenantsConfig* config_;
  int64_t (*wall_clock_ms_)() = &system_wall_clock_ms;
  State state_ = State::live;
  uint32_t cursor_ = 0;                       // the rewrite's position in the table's slab
  uint64_t writer_resync_not_before_ms_ = 0;  // a failing disk gets one rewrite every 5 s, not one per turn
  char key_[stored_key_length_max];
  char value_[stored_value_length_max];
};

// Start-up: loads into `table` every stored binding of the tenants for which `owns(tenant index)` is true; drops
// (erases) records whose tenant or extension no longer exists or that the table refuses.
Result<LoadStats, std::string> restore_location(BindingStore& store, const TenantsConfig& config, LocationTable& table,
                                                const std::function<bool(uint32_t)>& owns, int64_t now_wall_ms,
                                                uint64_t now_ms);

}  // namespace parkd::tenancy
