// The park table of one shard (SPEC section 6): every call parked at the extensions of the tenants this shard
// owns, ordered by park time per extension, with a short park id per call, the counts behind the limits, and the
// version that park-info NOTIFYs carry.
//
// Contract:
// - One table per shard, touched by that shard's thread only: no locks. Everything is allocated by the
//   constructor (records, text, hash indexes, free lists); no operation allocates afterwards, and none throws.
// - Capacity: `capacity` live calls (parked or recalling) per shard, the node's limit divided over the shards;
//   records for 2 x capacity, so calls that left the park can wait for their last report (below) while as many
//   new ones park. At each bound park() fails with a distinct ParkError, and the service answers 486.
// - Keys survive a tenants-file reload, which renumbers tenants and extensions: a call is filed under the
//   tenant's domain (compared case-insensitively) and the extension's number, kept as text in the table, never
//   under an index into the configuration.
// - Per extension, live calls are kept oldest first; oldest() and by-id lookups are O(1) (an unclaimed-oldest
//   lookup skips claimed calls, at most max_parked_per_extension of them).
// - Ids: "p" + 5 base32 characters (park/park_id.h) from SipHash-2-4 of a counter under a random key, unique
//   among the records of this table, so an id is neither sequential nor shared with another tenant's call.
// - Versions: every change of an extension's park (a call parked, recalling, back to parked, left) takes the next
//   value of one 64-bit counter per shard, seeded with the wall clock in microseconds at construction. So an
//   extension's versions strictly increase, also when its entry disappears and comes back, and also across a
//   restart or a move to another shard, as long as the shard makes fewer than one change per microsecond on
//   average (a million per second; the park benchmark's target is 10,000 cycles of about 4 changes) and the
//   wall clock does not step back. Values stay below 2^53 until the year 2255, so JavaScript reads them exactly.
// - Departure: finish() puts a call into its final state (retrieved, recalled, abandoned, expired). It stops
//   counting against every limit at once, but stays in the extension's list of departed calls so that the next
//   park-info body reports it, once. The service builds that body and then calls reported(), which forgets the
//   departed calls (and the extension, when nothing is parked there any more). Extensions changed since their
//   last report are listed by next_changed(), oldest change first; reported() must be called for each, even when
//   the extension has no registered device to tell.
// - Claims: claim() takes a live call for the caller (retrieve, recall answered) atomically, as the shard is
//   single-threaded: a second claim of the same call fails, so of two racing retrievers exactly one wins.
//   A claimed call stays parked (and counted) until finish() or release() (retrieve failed: back in the park).
// - Text: all text of a call (names, URIs, dialog identifiers) lives in park_text_bytes per record, of which
//   retriever_text_reserve bytes are kept for the retriever's name and number so that finish() never fails. A
//   request whose texts do not fit is refused (text_too_long). Texts are stored as given: unescaped and unquoted
//   (the park-info writer escapes them).
#pragma once

#include <absl/base/attributes.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "park/internal/slot_index.h"
#include "park/park_id.h"
#include "tenancy/tenants_config.h"

namespace parkd::park {

// parked and recalling are live; the others are final: the call has left the park.
enum class ParkState : uint8_t { parked, recalling, retrieved, recalled, abandoned, expired };
std::string_view park_state_name(ParkState state);  // "parked", ... as in park-info
constexpr bool is_final(ParkState state) { return state >= ParkState::retrieved; }

inline constexpr size_t park_text_bytes = 1024;
inline constexpr size_t retriever_text_reserve =
    tenancy::display_name_length_max + tenancy::extension_number_length_max;
inline constexpr uint32_t park_capacity_max = 1U << 20;  // per shard: 2x records use at most 1/16 of the ids

enum class ParkError : uint8_t {
  extension_full,  // max_parked_per_extension live calls at the target extension
  tenant_full,     // the per-tenant ceiling
  node_full,       // the table's capacity: the per-node ceiling divided over the shards
  no_free_record,  // every record is taken by live calls and departed calls not yet reported
  text_too_long,   // the call's texts do not fit in park_text_bytes (or a domain/number is over its limit)
  no_free_id,      // no unused id found in a bounded number of draws (the table is far too full for 25 bits)
};
std::string_view park_error_text(ParkError error);

enum class ClaimError : uint8_t {
  nothing_parked,   // no unclaimed live call at the extension: 404
  no_such_call,     // no call with that id at that extension (or a stale reference): 404
  already_claimed,  // the call was claimed first by someone else (or has left the park): 404
};
std::string_view claim_error_text(ClaimError error);

// A reference to a record; a stale one (the record was freed, maybe reused) is recognised by its generation.
struct CallRef {
  uint32_t index = UINT32_MAX;
  uint32_t generation = 0;
  bool operator==(const CallRef&) const = default;
};
struct ExtensionRef {
  uint32_t index = UINT32_MAX;
  uint32_t generation = 0;
  bool operator==(const ExtensionRef&) const = default;
};

struct PartyText {
  std::string_view display_name;  // unquoted; may be empty
  std::string_view uri;
};

struct ParkRequest {
  std::string_view domain;     // the tenant's domain (TenantView::domain(), as written in the tenants file)
  std::string_view extension;  // the number the call is parked at
  PartyText parked;            // the parked party
  PartyText parker;            // who parked it
  std::string_view parker_extension;
  // The dialog between parkd and the parked party, as parkd sees it (local tag = parkd's).
  std::string_view call_id;
  std::string_view local_tag;
  std::string_view remote_tag;
  int64_t parked_at_unix_s = 0;
  uint64_t recall_at_ms = 0;    // the service's monotonic clock (the timer wheel's)
  uint64_t max_park_at_ms = 0;  // the same clock
  uint64_t handle = 0;          // opaque: how the service finds its call
};

struct ParkLimits {
  uint32_t per_extension = 4;  // tenancy::ParkSettings::max_parked_per_extension
  uint32_t per_tenant = 0;     // 0: no ceiling beyond the table's capacity
};

struct ParkTableConfig {
  uint32_t capacity = 1024;             // live calls in this shard (1 to park_capacity_max)
  uint64_t version_seed = 0;            // 0: the wall clock in microseconds (CLOCK_REALTIME)
  std::array<uint64_t, 2> id_key = {};  // both 0: 128 random bits (getrandom)
};

class ParkTable;

// A borrowing view of one call: valid until the table changes that record (finish, reported, park).
class ParkedCallView {
 public:
  ParkedCallView(const ParkTable& table, uint32_t index) : table_(&table), index_(index) {}
  CallRef ref() const;
  const ParkId& id() const;
  ParkState state() const;
  bool claimed() const;
  ExtensionRef extension_ref() const;
  std::string_view domain() const;
  std::string_view extension() const;
  std::string_view parked_display() const;
  std::string_view parked_uri() const;
  std::string_view parker_display() const;
  std::string_view parker_uri() const;
  std::string_view parker_extension() const;
  std::string_view call_id() const;
  std::string_view local_tag() const;
  std::string_view remote_tag() const;
  std::string_view retriever_display() const;    // retrieved only; may be empty
  std::string_view retriever_extension() const;  // retrieved only; empty when not given
  int64_t parked_at_unix_s() const;
  uint64_t recall_at_ms() const;
  uint64_t max_park_at_ms() const;
  uint32_t recall_count() const;  // recalls started so far
  uint64_t handle() const;

 private:
  const ParkTable* table_;
  uint32_t index_;
};

// The calls of one extension: live ones oldest first, then departed ones in the order they left. Hold the
// optional in a variable before iterating: `for (c : *table.extension(ref))` iterates a destroyed temporary.
class ExtensionParkView {
 public:
  class Iterator {
   public:
    Iterator(const ParkTable* table, uint32_t index, bool in_live) : table_(table), index_(index), live_(in_live) {}
    ParkedCallView operator*() const { return {*table_, index_}; }
    Iterator& operator++();
    bool operator==(const Iterator& other) const { return index_ == other.index_; }

   private:
    const ParkTable* table_;
    uint32_t index_;
    bool live_;
  };

  ExtensionParkView(const ParkTable& table, uint32_t index) : table_(&table), index_(index) {}
  ExtensionRef ref() const;
  std::string_view domain() const;
  std::string_view extension() const;
  uint64_t version() const;
  uint32_t live_count() const;
  uint32_t departed_count() const;
  Iterator begin() const;
  Iterator end() const { return {table_, UINT32_MAX, false}; }

 private:
  const ParkTable* table_;
  uint32_t index_;
};

class ParkTable {
 public:
  explicit ParkTable(const ParkTableConfig& config);
  ParkTable(const ParkTable&) = delete;
  ParkTable& operator=(const ParkTable&) = delete;

  // Parks a call; the extension's version moves on and the extension is listed as changed.
  Result<CallRef, ParkError> park(const ParkRequest& request, const ParkLimits& limits);

  std::optional<ParkedCallView> get(CallRef call) const;
  std::optional<ExtensionParkView> extension(ExtensionRef extension) const;
  std::optional<ExtensionParkView> find_extension(std::string_view domain, std::string_view number) const;
  // The call with this id at that extension (a retrieve with ;park-id=); another extension's call is not found.
  std::optional<CallRef> find(std::string_view domain, std::string_view number, const ParkId& id) const;
  // The oldest unclaimed live call at that extension.
  std::optional<CallRef> oldest(std::string_view domain, std::string_view number) const;

  // Retrieve: claims the oldest unclaimed live call at the extension, or the one with `id` there.
  Result<CallRef, ClaimError> claim(std::string_view domain, std::string_view number, const ParkId* id = nullptr);
  // Claims a call the caller already holds (the parker answered the recall). Parked or recalling, unclaimed.
  Result<CallRef, ClaimError> claim(CallRef call);
  // Gives a claimed call back to the park (the retrieve failed). No visible change: no new version.
  bool release(CallRef call);

  // parked -> recalling (the parker's devices ring). Counts the recall. False when not parked. The call keeps
  // its claim state: the service claims it for the recall so that no retrieve takes it meanwhile.
  bool start_recall(CallRef call);
  // recalling -> parked (the recall was not answered), with the next recall time. False when not recalling.
  bool return_to_park(CallRef call, uint64_t recall_at_ms);
  // A parked call's recall moves to `recall_at_ms` (nobody could be rung). No visible change: no new version,
  // no park-info. False when not parked.
  bool postpone_recall(CallRef call, uint64_t recall_at_ms);
  // The call leaves the park in a final state; `retriever_*` (retrieved: who took it) are copied and cut to the
  // tenants file's limits. False when the reference is stale or the call has already left.
  bool finish(CallRef call, ParkState final_state, std::string_view retriever_display = {},
              std::string_view retriever_extension = {});

  // Takes back a park nobody has been told about (the hold re-INVITE failed): the record is freed at once, with
  // no departed entry, and an extension left empty is forgotten and taken off the changed list. Other calls'
  // pending changes stay listed. False when the reference is stale or the call has already left.
  bool withdraw(CallRef call);
  // Replaces the service's handle (no visible change). False when the reference is stale.
  bool set_handle(CallRef call, uint64_t handle);

  // The extension changed longest ago and not reported since, if any.
  std::optional<ExtensionRef> next_changed() const;
  // Its park-info body has been built (or nobody was there to tell): forgets its departed calls, takes it off
  // the changed list, and frees it when nothing is parked there.
  void reported(ExtensionRef extension);

  uint32_t capacity() const { return capacity_; }
  uint32_t live_count() const { return live_count_; }
  uint32_t records_in_use() const { return records_in_use_; }
  uint32_t tenant_live_count(std::string_view domain) const;
  size_t memory_bytes() const;

  // Every live call of the shard (for shutdown and reloads): f(ParkedCallView). f must not change the table.
  template <class F>
  void for_each_live(F&& f) const {
    for (uint32_t i = 0; i < records_.size(); ++i)
      if (records_[i].in_use && !is_final(records_[i].state)) f(ParkedCallView(*this, i));
  }

 private:
  friend class ParkedCallView;
  friend class ExtensionParkView;
  friend class ExtensionParkView::Iterator;

  static constexpr uint32_t none = UINT32_MAX;

  // A piece of a record's text.
  struct Text {
    uint16_t offset = 0;
    uint16_t size = 0;
  };
  enum Field : uint8_t {
    parked_display_field,
    parked_uri_field,
    parker_display_field,
    parker_uri_field,
    parker_extension_field,
    call_id_field,
    local_tag_field,
    remote_tag_field,
    retriever_display_field,
    retriever_extension_field,
    field_count,
  };
  struct Record {
    uint32_t generation = 0;
    uint32_t extension = none;  // slot in extensions_
    uint32_t prev = none;       // in the extension's live or departed list
    uint32_t next = none;       // ... or, when free, the next free record
    uint64_t id_hash = 0;       // the key of ids_
    ParkId id;
    ParkState state = ParkState::parked;
    bool in_use = false;
    bool claimed = false;
    uint32_t recall_count = 0;
    int64_t parked_at_unix_s = 0;
    uint64_t recall_at_ms = 0;
    uint64_t max_park_at_ms = 0;
    uint64_t handle = 0;
    uint16_t text_used = 0;
    std::array<Text, field_count> fields{};
  };
  struct ExtensionSlot {
    uint32_t generation = 0;
    uint32_t tenant = none;  // slot in tenants_
    bool in_use = false;
    bool changed = false;
    uint8_t number_length = 0;
    std::array<char, tenancy::extension_number_length_max> number{};
    uint64_t hash = 0;  // the key of extension_index_
    uint64_t version = 0;
    uint32_t live_head = none, live_tail = none, live_count = 0;
    uint32_t departed_head = none, departed_tail = none, departed_count = 0;
    uint32_t changed_prev = none, changed_next = none;  // the changed list; when free: next free slot
  };
  struct TenantSlot {
    bool in_use = false;
    uint8_t domain_length = 0;
    std::array<char, tenancy::domain_length_max> domain{};  // as first given
    uint64_t hash = 0;                                      // the key of tenant_index_ (lowercased domain)
    uint32_t live_count = 0;
    uint32_t extension_count = 0;  // extension slots that refer to it
    uint32_t next_free = none;
  };

  static uint64_t domain_hash(std::string_view domain);
  static uint64_t extension_hash(uint32_t tenant, std::string_view number);
  uint32_t find_tenant_slot(std::string_view domain, uint64_t hash) const;
  uint32_t find_extension_slot(std::string_view domain, std::string_view number) const;
  uint32_t find_extension_slot(uint32_t tenant, std::string_view number, uint64_t hash) const;
  uint32_t find_id(const ParkId& id, uint64_t hash) const;
  uint64_t id_hash(const ParkId& id) const;
  std::string_view text(uint32_t record, Field field) const;
  void store(uint32_t record, Field field, std::string_view value);
  void mark_changed(uint32_t extension);
  void unlink_live(uint32_t record);
  void unlink_changed(uint32_t extension);
  void free_record(uint32_t record);
  void free_extension(uint32_t extension);
  bool live_ref(CallRef call) const;

  uint32_t capacity_;
  std::vector<Record> records_;
  std::vector<char> text_;  // park_text_bytes per record
  std::vector<ExtensionSlot> extensions_;
  std::vector<TenantSlot> tenants_;
  internal::SlotIndex id_index_;
  internal::SlotIndex extension_index_;
  internal::SlotIndex tenant_index_;
  uint32_t free_record_ = none;
  uint32_t free_extension_ = none;
  uint32_t free_tenant_ = none;
  uint32_t changed_head_ = none, changed_tail_ = none;
  uint32_t live_count_ = 0;
  uint32_t records_in_use_ = 0;
  uint64_t version_counter_;
  uint64_t id_counter_ = 0;
  std::array<uint64_t, 2> id_key_;
};

}  // namespace parkd::park
