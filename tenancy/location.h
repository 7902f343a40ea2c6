// The registrar's location table (SPEC section 4, RFC 3261 section 10.3, RFC 5626 instance ids): the bindings of
// the extensions of one shard's tenants. docs/registrar.md has the layout, the numbers and every limit.
//
// Contract:
// - One table per shard, touched only by that shard's thread: no locks, no atomics.
// - Pure logic: time is a parameter (milliseconds on the shard's monotonic clock), no I/O. Expiry runs on the
//   shard's TimerWheel when one is given (one wheel entry per table, see below), or through expire(now_ms).
// - Compact because 10,000,000 registered extensions per node must fit in 4 GiB: a binding is one 64-byte record
//   in a slab of fixed pages (an index, never a pointer, names it) plus one blob of text (contact URI, instance id)
//   in an arena of fixed pages with a free list per size; no std::string and no heap node per binding. The
//   extension -> first binding index is an absl::flat_hash_set of record indices (5 bytes a slot): its rehashes
//   move nothing that is referenced from outside.
// - Keys are the indices of tenancy/tenants_config.h: `tenant` is the tenant index and `extension` the global
//   extension index (ExtensionView::index()). Two tenants' extensions never share a key, so the same number in
//   two tenants is two unrelated entries. After a reload the indices change: rebind() re-keys.
// - Binding handles (uint32_t) and BindingViews stay valid until the next call that changes the table (apply,
//   expire/timer, remove_tenant, rebind).
// - Expiry has one-second granularity: a binding registered for E seconds at time t expires at
//   ceil((t + E*1000) / 1000) seconds, i.e. never early and at most 999 ms late. Bindings sit on a doubly-linked
//   list per expiry second (4096 buckets: every expiry is at most 3601 s ahead), and the table arms one TimerEntry
//   for the earliest non-empty second. 8 bytes of list links per binding instead of a 40-byte TimerEntry.
// - Every change is reported to the LocationObserver, if any (persistence, tenancy/persistence.h), while the
//   binding's data is still readable.
#pragma once

#include <absl/base/attributes.h>
#include <absl/container/flat_hash_set.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "core/endpoint.h"
#include "core/timer_wheel.h"
#include "sip/message.h"
#include "sip/uri.h"

namespace parkd::tenancy {

class TenantsConfig;

inline constexpr uint32_t expires_default_s = 3600;
inline constexpr uint32_t expires_max_s = 3600;
inline constexpr uint32_t min_expires_s = 60;
inline constexpr uint32_t max_bindings_per_extension_default = 10;
inline constexpr uint32_t max_bindings_per_extension_max = 64;
inline constexpr size_t contact_uri_length_max = 4095;  // longer Contact URIs are refused with 400
inline constexpr size_t instance_length_max = 255;      // longer +sip.instance values are refused with 400
inline constexpr size_t register_contacts_max = sip::contact_count_max;
inline constexpr uint16_t q_absent = 1023;  // BindingView::q_thousandths() when the Contact had no q
inline constexpr uint32_t no_binding = UINT32_MAX;

// The flow a REGISTER arrived on: requests to the device go back over it (SPEC section 4, NAT).
struct Flow {
  Endpoint source;  // the request's source address and port (rport)
  Transport transport = Transport::udp;
  uint32_t connection_id = 0;  // TCP: the shard's connection id; 0 for UDP and for a flow restored from disk
  uint16_t socket_index = 0;   // the shard-local index of the listening socket the request came in on
};

// What the registrar needs from a REGISTER (after authentication); the views borrow the message.
struct RegisterRequest {
  std::span<const sip::ContactView> contacts;
  int64_t expires = -1;  // the Expires header; -1 when absent
  bool contact_star = false;
  std::string_view call_id;
  uint32_t cseq = 0;
  Flow flow;

  static RegisterRequest from_message(const sip::MessageView& message, const Flow& flow);
};

enum class RemoveReason : uint8_t {
  unregistered,    // expires=0 or Contact: *
  expired,         // its time ran out
  replaced,        // the extension was at its binding limit and this was the oldest
  rekeyed,         // an equivalent contact URI with other bytes replaced it (persistence keys change)
  tenant_removed,  // remove_tenant()
  reload,          // rebind(): the extension is gone or its credentials changed
};

class LocationTable;

// A borrowing view of one binding.
class BindingView {
 public:
  BindingView(const LocationTable& table, uint32_t index) : table_(&table), index_(index) {}
  uint32_t index() const { return index_; }
  uint32_t tenant() const;
  uint32_t extension() const;
  std::string_view contact_uri() const ABSL_ATTRIBUTE_LIFETIME_BOUND;  // as the device wrote it
  std::string_view instance() const ABSL_ATTRIBUTE_LIFETIME_BOUND;     // "" when none
  uint32_t reg_id() const;                                             // 0 when none
  uint16_t q_thousandths() const;                                      // 0..1000, or q_absent
  uint64_t expires_at_ms() const;                                      // monotonic
  // Whole seconds left at now_ms (the 200's ;expires=); 0 once due.
  uint32_t remaining_s(uint64_t now_ms) const;
  uint32_t call_id_hash() const;
  uint32_t cseq() const;
  Flow flow() const;

 private:
  const LocationTable* table_;
  uint32_t index_;
};

// The bindings of one extension, oldest registration (or refresh) first.
class BindingRange {
 public:
  class Iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = BindingView;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = BindingView;
    Iterator() = default;
    Iterator(const LocationTable* table, uint32_t index) : table_(table), index_(index) {}
    BindingView operator*() const { return {*table_, index_}; }
    Iterator& operator++();
    Iterator operator++(int) {
      Iterator before = *this;
      ++*this;
      return before;
    }
    friend bool operator==(const Iterator& a, const Iterator& b) { return a.index_ == b.index_; }

   private:
    const LocationTable* table_ = nullptr;
    uint32_t index_ = no_binding;
  };

  BindingRange() = default;
  BindingRange(const LocationTable& table, uint32_t first) : table_(&table), first_(first) {}
  Iterator begin() const { return {table_, first_}; }
  Iterator end() const { return {table_, no_binding}; }
  bool empty() const { return first_ == no_binding; }
  size_t size() const;

 private:
  const LocationTable* table_ = nullptr;
  uint32_t first_ = no_binding;
};

struct RegisterResult {
  uint16_t status = 200;       // 200, 400, 423 or 500
  std::string_view reason;     // the reason phrase: "OK", or one naming the fault (static text)
  uint32_t min_expires_s = 0;  // with 423: the Min-Expires header
  bool changed = false;        // some binding was added, updated or removed
  uint32_t added_count = 0;    // bindings created by this request (a device that is new at this extension)
  std::array<uint32_t, register_contacts_max> added{};  // their handles (for park-info NOTIFY)
  uint32_t removed_count = 0;                           // unregistered or replaced by this request
  BindingRange bindings;  // with 200: every current binding of the extension (the 200's Contacts)
};

class LocationObserver {
 public:
  virtual ~LocationObserver() = default;
  // A binding was created or updated (its expiry, flow, URI...). `now_ms` is the table's time.
  virtual void binding_stored(const LocationTable& table, uint32_t binding, uint64_t now_ms) = 0;
  // A binding is about to be removed; its data is still readable.
  virtual void binding_removing(const LocationTable& table, uint32_t binding, RemoveReason reason) = 0;
};

struct LocationOptions {
  uint32_t max_bindings_per_extension = max_bindings_per_extension_default;  // 1..max_bindings_per_extension_max
};

struct LocationCounters {
  uint64_t bindings = 0;    // current
  uint64_t extensions = 0;  // with at least one binding
  uint64_t added_total = 0;
  uint64_t refreshed_total = 0;
  uint64_t unregistered_total = 0;
  uint64_t expired_total = 0;
  uint64_t replaced_total = 0;  // the oldest binding replaced at the limit
  uint64_t out_of_order_total = 0;
  uint64_t refused_total = 0;  // 400 and 423
  uint64_t full_total = 0;     // 500: the slab or the arena reached its 32-bit index limit
};

class LocationTable {
 public:
  // `wheel` may be null: then expiry happens only through expire(). The table arms one entry on the wheel.
  explicit LocationTable(TimerWheel* wheel, const LocationOptions& options = {});
  LocationTable(const LocationTable&) = delete;
  LocationTable& operator=(const LocationTable&) = delete;
  ~LocationTable();

  void set_observer(LocationObserver* observer) { observer_ = observer; }

  // A REGISTER for (tenant, extension), already authenticated. See docs/registrar.md for every rule.
  RegisterResult apply(uint32_t tenant, uint32_t extension, const RegisterRequest& request, uint64_t now_ms);

  BindingRange lookup(uint32_t tenant, uint32_t extension) const;
  BindingView binding(uint32_t index) const { return {*this, index}; }

  // Removes every binding whose time is up at now_ms (the wheel calls this) and returns how many.
  size_t expire(uint64_t now_ms);

  // Drops every binding of a tenant (a tenant removed from the configuration); returns how many.
  size_t remove_tenant(uint32_t tenant);

  // After a reload: re-keys the bindings of every extension that still exists in `new_config` (same domain,
  // case-insensitive, same number, same H(A1)s), and drops the rest (RemoveReason::reload). Returns how many
  // were dropped. O(registered extensions).
  size_t rebind(const TenantsConfig& old_config, const TenantsConfig& new_config);

  // Restores a binding (from disk at start-up). No observer call. False when the extension already holds the
  // limit of bindings, the same identity is present, or the data is invalid.
  bool restore(uint32_t tenant, uint32_t extension, std::string_view contact_uri, std::string_view instance,
               uint32_t reg_id, uint16_t q_thousandths, uint64_t expires_at_ms, uint32_t call_id_hash, uint32_t cseq,
               const Flow& flow, uint64_t now_ms);

  // Iteration over every binding (persistence resync): the next live binding at or after `from`, or no_binding.
  uint32_t next_live(uint32_t from) const;

  size_t size() const { return live_count_; }
  size_t extension_count() const { return heads_.size(); }
  // Sizes the extension index for this many registered extensions at once (start-up, reload), so that it
  // never rehashes while the shard serves: a rehash reads every record and, at millions of bindings, stalls
  // the shard for longer than its socket buffer lasts (bench/run scale lost datagrams at 3.7M and 7.3M).
  void reserve_extensions(size_t extensions) { heads_.reserve(extensions); }
  LocationCounters counters() const;
  // Bytes held: slab pages, text arena pages, the map's slots, the expiry buckets.
  size_t memory_bytes() const;

  static uint32_t hash_call_id(std::string_view call_id);

 private:
  friend class BindingView;
  friend class BindingRange;

  // One binding: 64 bytes (static_assert in location.cc). Hot fields (expiry, links, flow) here; the variable
  // text in the arena blob: [contact URI][instance][reg-id, 4 bytes, only with an instance].
  struct Record {
    uint32_t expires_at_s = 0;  // monotonic seconds; 0: the record is free
    uint32_t call_id_hash = 0;
    uint32_t tenant = 0;
    uint32_t extension = 0;
    uint32_t text = 0;  // the blob's first granule in the arena
    uint32_t cseq = 0;
    uint32_t next = no_binding;  // the next binding of the same extension (newer), or the slab's free list
    uint32_t expiry_prev = no_binding;
    uint32_t expiry_next = no_binding;
    uint32_t connection_id = 0;
    uint8_t address[16] = {};
    uint16_t port = 0;
    uint16_t socket_index = 0;
    uint32_t uri_length : 12 = 0;
    uint32_t instance_length : 8 = 0;
    uint32_t q : 10 = q_absent;
    uint32_t ipv6 : 1 = 0;
    uint32_t tcp : 1 = 0;
  };
  static_assert(sizeof(Record) == 64, "one binding record is one cache line (docs/registrar.md)");

  // Fixed pages so that growing never copies (a doubling vector would briefly hold twice the records).
  static constexpr uint32_t kRecordsPerPageBits = 12;
  static constexpr uint32_t kRecordsPerPage = 1u << kRecordsPerPageBits;
  static constexpr uint32_t kGranuleBytes = 8;
  static constexpr uint32_t kGranulesPerPageBits = 17;  // 1 MiB pages
  static constexpr uint32_t kGranulesPerPage = 1u << kGranulesPerPageBits;
  static constexpr uint32_t kMaxBlobGranules =
      (contact_uri_length_max + instance_length_max + 4 + kGranuleBytes - 1) / kGranuleBytes;
  static constexpr uint32_t kBucketBits = 12;  // 4096 one-second buckets > expires_max_s + 1
  static constexpr uint32_t kBuckets = 1u << kBucketBits;

  struct ExpiryTimer : TimerEntry {
    LocationTable* table = nullptr;
  };

  // A parsed, validated contact of a request.
  struct Incoming {
    const sip::ContactView* contact;
    sip::UriView uri;
    uint32_t expires_s;
    uint32_t reg_id;
    uint16_t q;
    uint32_t existing;  // the binding with the same identity before this request, or no_binding
  };

  static uint64_t key_of(uint32_t tenant, uint32_t extension) { return (uint64_t{tenant} << 32) | extension; }

  Record& record(uint32_t index) { return record_pages_[index >> kRecordsPerPageBits][index & (kRecordsPerPage - 1)]; }
  const Record& record(uint32_t index) const {
    return record_pages_[index >> kRecordsPerPageBits][index & (kRecordsPerPage - 1)];
  }
  char* blob(uint32_t granule) {
    return text_pages_[granule >> kGranulesPerPageBits].get() +
           size_t{granule & (kGranulesPerPage - 1)} * kGranuleBytes;
  }
  const char* blob(uint32_t granule) const {
    return text_pages_[granule >> kGranulesPerPageBits].get() +
           size_t{granule & (kGranulesPerPage - 1)} * kGranuleBytes;
  }
  static uint32_t blob_granules(size_t uri_length, size_t instance_length) {
    const size_t bytes = uri_length + instance_length + (instance_length > 0 ? 4 : 0);
    return static_cast<uint32_t>((bytes + kGranuleBytes - 1) / kGranuleBytes);
  }
  std::string_view uri_of(const Record& r) const { return {blob(r.text), r.uri_length}; }
  std::string_view instance_of(const Record& r) const { return {blob(r.text) + r.uri_length, r.instance_length}; }
  uint32_t reg_id_of(const Record& r) const;

  uint32_t allocate_record();
  void free_record(uint32_t index);
  uint32_t allocate_blob(uint32_t granules);  // no_binding when the arena is full
  void free_blob(uint32_t granule, uint32_t granules);
  // Writes the text of a binding into a blob of the right size (reusing the old one when the size matches).
  bool store_text(Record& r, std::string_view uri, std::string_view instance, uint32_t reg_id, bool has_blob);

  void expiry_link(uint32_t index);
  void expiry_unlink(uint32_t index);
  void arm_timer(uint32_t expires_at_s);
  void rearm_timer();
  static void on_timer(TimerEntry& entry);

  // Unlinks a binding from its extension (erasing the map entry when it was the last), the expiry list and
  // frees it. Calls the observer first.
  void remove(uint32_t index, RemoveReason reason);
  // Appends `index` at the end (newest) of the extension's list.
  void append(uint64_t key, uint32_t index);
  void unlink_from_extension(uint64_t key, uint32_t index);
  uint32_t find_identity(uint32_t first, const Incoming& incoming) const;

  TimerWheel* wheel_;
  LocationOptions options_;
  LocationObserver* observer_ = nullptr;
  ExpiryTimer timer_;

  // The oldest binding of every registered extension, found by key_of(tenant, extension): a set of record indices
  // whose hash and equality read the key out of the record (heterogeneous lookup by the uint64_t key), so a slot
  // is 4 bytes plus a control byte instead of a 16-byte (key, value) pair.
  struct HeadHash {
    using is_transparent = void;
    const LocationTable* table;
    size_t operator()(uint32_t head) const;
    size_t operator()(uint64_t key) const;
  };
  struct HeadEq {
    using is_transparent = void;
    const LocationTable* table;
    bool operator()(uint32_t a, uint32_t b) const;
    bool operator()(uint32_t a, uint64_t b) const;
    bool operator()(uint64_t a, uint32_t b) const { return (*this)(b, a); }
  };
  uint64_t key_of_record(uint32_t index) const { return key_of(record(index).tenant, record(index).extension); }
  uint32_t head_of(uint64_t key) const;
  void set_head(uint64_t key, uint32_t old_head, uint32_t new_head);  // old or new may be no_binding

  absl::flat_hash_set<uint32_t, HeadHash, HeadEq> heads_;

  std::vector<std::unique_ptr<Record[]>> record_pages_;
  uint32_t record_count_ = 0;  // records ever handed out (slab high-water mark)
  uint32_t free_records_ = no_binding;
  size_t live_count_ = 0;

  std::vector<std::unique_ptr<char[]>> text_pages_;
  uint32_t text_used_ = 0;                                 // granules handed out from the last page
  std::array<uint32_t, kMaxBlobGranules + 1> free_blobs_;  // by size in granules; the link is the blob's first 4 bytes
  uint64_t free_blob_granules_ = 0;

  std::unique_ptr<uint32_t[]> buckets_;  // kBuckets list heads, by expires_at_s % kBuckets
  uint32_t swept_through_s_ = 0;         // every binding due at or before this second has been removed

  LocationCounters counters_;
};

}  // namespace parkd::tenancy
