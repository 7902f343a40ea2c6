#include "park/park_table.h"

#include <absl/hash/hash.h>
#include <sys/random.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "park/internal/siphash.h"
#include "sip/params.h"

namespace parkd::park {
namespace {

constexpr uint32_t id_draws_max = 64;

uint64_t wall_clock_us() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000U + static_cast<uint64_t>(ts.tv_nsec) / 1000U;
}

std::array<uint64_t, 2> random_key() {
  std::array<uint64_t, 2> key{};
  auto* bytes = reinterpret_cast<char*>(key.data());
  size_t got = 0;
  while (got < sizeof key) {
    const ssize_t n = getrandom(bytes + got, sizeof key - got, 0);
    if (n > 0) {
      got += static_cast<size_t>(n);
    } else if (n < 0 && errno != EINTR) {
      // No entropy source: ids stay unique (the table checks), only less unpredictable.
      key[0] ^= wall_clock_us();
      break;
    }
  }
  key[1] |= 1;  // never both zero (that means "pick one")
  return key;
}

// The text cut to `limit` bytes, not in the middle of a UTF-8 sequence.
std::string_view cut(std::string_view s, size_t limit) {
  if (s.size() <= limit) return s;
  size_t n = limit;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0U) == 0x80U) --n;
  return s.substr(0, n);
}

}  // namespace

std::string_view park_state_name(ParkState state) {
  switch (state) {
    case ParkState::parked: return "parked";
    case ParkState::recalling: return "recalling";
    case ParkState::retrieved: return "retrieved";
    case ParkState::recalled: return "recalled";
    case ParkState::abandoned: return "abandoned";
    case ParkState::expired: return "expired";
  }
  return "parked";
}

std::string_view park_error_text(ParkError error) {
  switch (error) {
    case ParkError::extension_full: return "extension park full";
    case ParkError::tenant_full: return "tenant park full";
    case ParkError::node_full: return "node park full";
    case ParkError::no_free_record: return "no free park record";
    case ParkError::text_too_long: return "park text too long";
    case ParkError::no_free_id: return "no free park id";
  }
  return "park error";
}

std::string_view claim_error_text(ClaimError error) {
  switch (error) {
    case ClaimError::nothing_parked: return "nothing parked";
    case ClaimError::no_such_call: return "no such parked call";
    case ClaimError::already_claimed: return "parked call already taken";
  }
  return "claim error";
}

// --- construction

ParkTable::ParkTable(const ParkTableConfig& config)
    : capacity_(std::clamp<uint32_t>(config.capacity, 1, park_capacity_max)),
      records_(2 * static_cast<size_t>(capacity_)),
      text_(records_.size() * park_text_bytes),
      extensions_(records_.size()),
      tenants_(records_.size()),
      id_index_(static_cast<uint32_t>(records_.size())),
      extension_index_(static_cast<uint32_t>(records_.size())),
      tenant_index_(static_cast<uint32_t>(records_.size())),
      version_counter_(config.version_seed != 0 ? config.version_seed : wall_clock_us()),
      id_key_(config.id_key[0] != 0 || config.id_key[1] != 0 ? config.id_key : random_key()) {
  // Free lists in index order, so that the first records used are the first in memory.
  for (uint32_t i = static_cast<uint32_t>(records_.size()); i-- > 0;) {
    records_[i].next = free_record_;
    free_record_ = i;
    extensions_[i].changed_next = free_extension_;
    free_extension_ = i;
    tenants_[i].next_free = free_tenant_;
    free_tenant_ = i;
  }
}

size_t ParkTable::memory_bytes() const {
  return sizeof(*this) + records_.capacity() * sizeof(Record) + text_.capacity() +
         extensions_.capacity() * sizeof(ExtensionSlot) + tenants_.capacity() * sizeof(TenantSlot) +
         id_index_.memory_bytes() + extension_index_.memory_bytes() + tenant_index_.memory_bytes();
}

// --- keys

uint64_t ParkTable::domain_hash(std::string_view domain) {
  std::array<char, tenancy::domain_length_max> lower;
  const size_t n = std::min(domain.size(), lower.size());
  for (size_t i = 0; i < n; ++i) {
    const char c = domain[i];
    lower[i] = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return absl::HashOf(std::string_view(lower.data(), n));
}

uint64_t ParkTable::extension_hash(uint32_t tenant, std::string_view number) { return absl::HashOf(tenant, number); }

uint64_t ParkTable::id_hash(const ParkId& id) const { return absl::HashOf(id.view()); }

uint32_t ParkTable::find_tenant_slot(std::string_view domain, uint64_t hash) const {
  return tenant_index_.find(hash, [&](uint32_t slot) {
    const TenantSlot& t = tenants_[slot];
    return sip::iequals(std::string_view(t.domain.data(), t.domain_length), domain);
  });
}

uint32_t ParkTable::find_extension_slot(uint32_t tenant, std::string_view number, uint64_t hash) const {
  return extension_index_.find(hash, [&](uint32_t slot) {
    const ExtensionSlot& e = extensions_[slot];
    return e.tenant == tenant && std::string_view(e.number.data(), e.number_length) == number;
  });
}

uint32_t ParkTable::find_extension_slot(std::string_view domain, std::string_view number) const {
  if (domain.size() > tenancy::domain_length_max || number.size() > tenancy::extension_number_length_max) return none;
  const uint32_t tenant = find_tenant_slot(domain, domain_hash(domain));
  if (tenant == none) return none;
  return find_extension_slot(tenant, number, extension_hash(tenant, number));
}

uint32_t ParkTable::find_id(const ParkId& id, uint64_t hash) const {
  return id_index_.find(hash, [&](uint32_t slot) { return records_[slot].id == id; });
}

// --- text

std::string_view ParkTable::text(uint32_t record, Field field) const {
  const Text t = records_[record].fields[field];
  return {text_.data() + static_cast<size_t>(record) * park_text_bytes + t.offset, t.size};
}

void ParkTable::store(uint32_t record, Field field, std::string_view value) {
  Record& r = records_[record];
  assert(r.text_used + value.size() <= park_text_bytes);
  if (!value.empty())
    std::memcpy(text_.data() + static_cast<size_t>(record) * park_text_bytes + r.text_used, value.data(), value.size());
  r.fields[field] = Text{r.text_used, static_cast<uint16_t>(value.size())};
  r.text_used = static_cast<uint16_t>(r.text_used + value.size());
}

// --- parking

Result<CallRef, ParkError> ParkTable::park(const ParkRequest& q, const ParkLimits& limits) {
  if (q.domain.empty() || q.domain.size() > tenancy::domain_length_max || q.extension.empty() ||
      q.extension.size() > tenancy::extension_number_length_max)
    return Unexpected{ParkError::text_too_long};
  const std::string_view texts[] = {q.parked.display_name, q.parked.uri, q.parker.display_name, q.parker.uri,
                                    q.parker_extension,    q.call_id,    q.local_tag,           q.remote_tag};
  size_t text_size = 0;
  for (const std::string_view t : texts) text_size += t.size();
  if (text_size > park_text_bytes - retriever_text_reserve) return Unexpected{ParkError::text_too_long};

  const uint64_t tenant_hash = domain_hash(q.domain);
  uint32_t tenant = find_tenant_slot(q.domain, tenant_hash);
  uint32_t extension = none;
  uint64_t ext_hash = 0;
  if (tenant != none) {
    ext_hash = extension_hash(tenant, q.extension);
    extension = find_extension_slot(tenant, q.extension, ext_hash);
  }
  // The limits, narrowest first, so that the answer names the one that applies to this extension.
  if (limits.per_extension == 0 || (extension != none && extensions_[extension].live_count >= limits.per_extension))
    return Unexpected{ParkError::extension_full};
  if (tenant != none && limits.per_tenant != 0 && tenants_[tenant].live_count >= limits.per_tenant)
    return Unexpected{ParkError::tenant_full};
  if (live_count_ >= capacity_) return Unexpected{ParkError::node_full};
  // A record, and slots for a new tenant or extension: there are as many slots of each as records, and every
  // slot in use refers to at least one record, so a free record implies free slots.
  if (free_record_ == none) return Unexpected{ParkError::no_free_record};
  assert(free_extension_ != none && free_tenant_ != none);

  // An id unused in this table.
  ParkId id;
  uint64_t hash = 0;
  uint32_t draws = 0;
  do {
    if (++draws > id_draws_max) return Unexpected{ParkError::no_free_id};
    const uint64_t counter = id_counter_++;
    id = ParkId::from_bits(internal::siphash24(
        id_key_[0], id_key_[1], std::string_view(reinterpret_cast<const char*>(&counter), sizeof counter)));
    hash = id_hash(id);
  } while (find_id(id, hash) != none);

  if (tenant == none) {
    tenant = free_tenant_;
    TenantSlot& t = tenants_[tenant];
    free_tenant_ = t.next_free;
    t = TenantSlot{};
    t.in_use = true;
    t.domain_length = static_cast<uint8_t>(q.domain.size());
    std::memcpy(t.domain.data(), q.domain.data(), q.domain.size());
    t.hash = tenant_hash;
    tenant_index_.insert(tenant_hash, tenant);
    ext_hash = extension_hash(tenant, q.extension);
  }
  if (extension == none) {
    extension = free_extension_;
    ExtensionSlot& e = extensions_[extension];
    free_extension_ = e.changed_next;
    const uint32_t generation = e.generation;
    e = ExtensionSlot{};
    e.generation = generation;
    e.in_use = true;
    e.tenant = tenant;
    e.number_length = static_cast<uint8_t>(q.extension.size());
    std::memcpy(e.number.data(), q.extension.data(), q.extension.size());
    e.hash = ext_hash;
    extension_index_.insert(ext_hash, extension);
    ++tenants_[tenant].extension_count;
  }

  const uint32_t index = free_record_;
  Record& r = records_[index];
  free_record_ = r.next;
  const uint32_t generation = r.generation;
  r = Record{};
  r.generation = generation;
  r.in_use = true;
  r.extension = extension;
  r.id = id;
  r.id_hash = hash;
  r.parked_at_unix_s = q.parked_at_unix_s;
  r.recall_at_ms = q.recall_at_ms;
  r.max_park_at_ms = q.max_park_at_ms;
  r.handle = q.handle;
  for (size_t f = 0; f < std::size(texts); ++f) store(index, static_cast<Field>(f), texts[f]);
  id_index_.insert(hash, index);

  ExtensionSlot& e = extensions_[extension];
  r.prev = e.live_tail;
  if (e.live_tail != none)
    records_[e.live_tail].next = index;
  else
    e.live_head = index;
  e.live_tail = index;
  ++e.live_count;
  ++tenants_[tenant].live_count;
  ++live_count_;
  ++records_in_use_;
  mark_changed(extension);
  return CallRef{index, r.generation};
}

void ParkTable::mark_changed(uint32_t extension) {
  ExtensionSlot& e = extensions_[extension];
  e.version = ++version_counter_;
  if (e.changed) return;
  e.changed = true;
  e.changed_prev = changed_tail_;
  e.changed_next = none;
  if (changed_tail_ != none)
    extensions_[changed_tail_].changed_next = extension;
  else
    changed_head_ = extension;
  changed_tail_ = extension;
}

// --- lookups

bool ParkTable::live_ref(CallRef call) const {
  return call.index < records_.size() && records_[call.index].in_use &&
         records_[call.index].generation == call.generation && !is_final(records_[call.index].state);
}

std::optional<ParkedCallView> ParkTable::get(CallRef call) const {
  if (call.index >= records_.size() || !records_[call.index].in_use ||
      records_[call.index].generation != call.generation)
    return std::nullopt;
  return ParkedCallView(*this, call.index);
}

std::optional<ExtensionParkView> ParkTable::extension(ExtensionRef ref) const {
  if (ref.index >= extensions_.size() || !extensions_[ref.index].in_use ||
      extensions_[ref.index].generation != ref.generation)
    return std::nullopt;
  return ExtensionParkView(*this, ref.index);
}

std::optional<ExtensionParkView> ParkTable::find_extension(std::string_view domain, std::string_view number) const {
  const uint32_t slot = find_extension_slot(domain, number);
  if (slot == none) return std::nullopt;
  return ExtensionParkView(*this, slot);
}

std::optional<CallRef> ParkTable::find(std::string_view domain, std::string_view number, const ParkId& id) const {
  const uint32_t index = find_id(id, id_hash(id));
  if (index == none || records_[index].extension != find_extension_slot(domain, number)) return std::nullopt;
  return CallRef{index, records_[index].generation};
}

std::optional<CallRef> ParkTable::oldest(std::string_view domain, std::string_view number) const {
  const uint32_t slot = find_extension_slot(domain, number);
  if (slot == none) return std::nullopt;
  for (uint32_t i = extensions_[slot].live_head; i != none; i = records_[i].next)
    if (!records_[i].claimed) return CallRef{i, records_[i].generation};
  return std::nullopt;
}

uint32_t ParkTable::tenant_live_count(std::string_view domain) const {
  if (domain.size() > tenancy::domain_length_max) return 0;
  const uint32_t slot = find_tenant_slot(domain, domain_hash(domain));
  return slot == none ? 0 : tenants_[slot].live_count;
}

// --- claims and state changes

Result<CallRef, ClaimError> ParkTable::claim(std::string_view domain, std::string_view number, const ParkId* id) {
  if (id == nullptr) {
    const auto call = oldest(domain, number);
    if (!call) return Unexpected{ClaimError::nothing_parked};
    records_[call->index].claimed = true;
    return *call;
  }
  const auto call = find(domain, number, *id);
  if (!call) return Unexpected{ClaimError::no_such_call};
  return claim(*call);
}

Result<CallRef, ClaimError> ParkTable::claim(CallRef call) {
  if (call.index >= records_.size() || !records_[call.index].in_use ||
      records_[call.index].generation != call.generation)
    return Unexpected{ClaimError::no_such_call};
  Record& r = records_[call.index];
  if (r.claimed || is_final(r.state)) return Unexpected{ClaimError::already_claimed};
  r.claimed = true;
  return call;
}

bool ParkTable::release(CallRef call) {
  if (!live_ref(call) || !records_[call.index].claimed) return false;
  records_[call.index].claimed = false;
  return true;
}

bool ParkTable::start_recall(CallRef call) {
  if (!live_ref(call) || records_[call.index].state != ParkState::parked) return false;
  Record& r = records_[call.index];
  r.state = ParkState::recalling;
  ++r.recall_count;
  mark_changed(r.extension);
  return true;
}

bool ParkTable::return_to_park(CallRef call, uint64_t recall_at_ms) {
  if (!live_ref(call) || records_[call.index].state != ParkState::recalling) return false;
  Record& r = records_[call.index];
  r.state = ParkState::parked;
  r.recall_at_ms = recall_at_ms;
  mark_changed(r.extension);
  return true;
}

bool ParkTable::postpone_recall(CallRef call, uint64_t recall_at_ms) {
  if (!live_ref(call) || records_[call.index].state != ParkState::parked) return false;
  records_[call.index].recall_at_ms = recall_at_ms;
  return true;
}

bool ParkTable::set_handle(CallRef call, uint64_t handle) {
  if (!get(call)) return false;
  records_[call.index].handle = handle;
  return true;
}

void ParkTable::unlink_live(uint32_t index) {
  Record& r = records_[index];
  ExtensionSlot& e = extensions_[r.extension];
  if (r.prev != none)
    records_[r.prev].next = r.next;
  else
    e.live_head = r.next;
  if (r.next != none)
    records_[r.next].prev = r.prev;
  else
    e.live_tail = r.prev;
  r.prev = r.next = none;
  --e.live_count;
}

bool ParkTable::finish(CallRef call, ParkState final_state, std::string_view retriever_display,
                       std::string_view retriever_extension) {
  if (!is_final(final_state) || !live_ref(call)) return false;
  const uint32_t index = call.index;
  Record& r = records_[index];
  unlink_live(index);
  ExtensionSlot& e = extensions_[r.extension];
  r.prev = e.departed_tail;
  if (e.departed_tail != none)
    records_[e.departed_tail].next = index;
  else
    e.departed_head = index;
  e.departed_tail = index;
  ++e.departed_count;
  --tenants_[e.tenant].live_count;
  --live_count_;
  r.state = final_state;
  r.claimed = false;
  if (final_state == ParkState::retrieved) {
    // The reserve at park() time guarantees room for both.
    store(index, retriever_display_field, cut(retriever_display, tenancy::display_name_length_max));
    store(index, retriever_extension_field, cut(retriever_extension, tenancy::extension_number_length_max));
  }
  mark_changed(r.extension);
  return true;
}

// --- reports and freeing

std::optional<ExtensionRef> ParkTable::next_changed() const {
  if (changed_head_ == none) return std::nullopt;
  return ExtensionRef{changed_head_, extensions_[changed_head_].generation};
}

void ParkTable::free_record(uint32_t index) {
  Record& r = records_[index];
  id_index_.erase(r.id_hash, index);
  r.in_use = false;
  ++r.generation;
  r.extension = none;
  r.prev = none;
  r.next = free_record_;
  free_record_ = index;
  --records_in_use_;
}

void ParkTable::free_extension(uint32_t index) {
  ExtensionSlot& e = extensions_[index];
  assert(e.live_count == 0 && e.departed_count == 0 && !e.changed);
  extension_index_.erase(e.hash, index);
  TenantSlot& t = tenants_[e.tenant];
  if (--t.extension_count == 0) {
    assert(t.live_count == 0);
    tenant_index_.erase(t.hash, e.tenant);
    t.in_use = false;
    t.next_free = free_tenant_;
    free_tenant_ = e.tenant;
  }
  e.in_use = false;
  ++e.generation;
  e.tenant = none;
  e.changed_next = free_extension_;
  free_extension_ = index;
}

void ParkTable::reported(ExtensionRef ref) {
  if (ref.index >= extensions_.size() || !extensions_[ref.index].in_use ||
      extensions_[ref.index].generation != ref.generation)
    return;
  ExtensionSlot& e = extensions_[ref.index];
  for (uint32_t i = e.departed_head; i != none;) {
    const uint32_t next = records_[i].next;
    free_record(i);
    i = next;
  }
  e.departed_head = e.departed_tail = none;
  e.departed_count = 0;
  unlink_changed(ref.index);
  if (e.live_count == 0) free_extension(ref.index);
}

void ParkTable::unlink_changed(uint32_t extension) {
  ExtensionSlot& e = extensions_[extension];
  if (!e.changed) return;
  if (e.changed_prev != none)
    extensions_[e.changed_prev].changed_next = e.changed_next;
  else
    changed_head_ = e.changed_next;
  if (e.changed_next != none)
    extensions_[e.changed_next].changed_prev = e.changed_prev;
  else
    changed_tail_ = e.changed_prev;
  e.changed = false;
  e.changed_prev = e.changed_next = none;
}

bool ParkTable::withdraw(CallRef call) {
  if (!live_ref(call)) return false;
  const uint32_t extension = records_[call.index].extension;
  unlink_live(call.index);
  ExtensionSlot& e = extensions_[extension];
  --tenants_[e.tenant].live_count;
  --live_count_;
  free_record(call.index);
  if (e.live_count == 0 && e.departed_count == 0) {
    unlink_changed(extension);
    free_extension(extension);
  }
  return true;
}

// --- views

CallRef ParkedCallView::ref() const { return {index_, table_->records_[index_].generation}; }
const ParkId& ParkedCallView::id() const { return table_->records_[index_].id; }
ParkState ParkedCallView::state() const { return table_->records_[index_].state; }
bool ParkedCallView::claimed() const { return table_->records_[index_].claimed; }
ExtensionRef ParkedCallView::extension_ref() const {
  const uint32_t e = table_->records_[index_].extension;
  return {e, table_->extensions_[e].generation};
}
std::string_view ParkedCallView::domain() const {
  return ExtensionParkView(*table_, table_->records_[index_].extension).domain();
}
std::string_view ParkedCallView::extension() const {
  return ExtensionParkView(*table_, table_->records_[index_].extension).extension();
}
std::string_view ParkedCallView::parked_display() const {
  return table_->text(index_, ParkTable::parked_display_field);
}
std::string_view ParkedCallView::parked_uri() const { return table_->text(index_, ParkTable::parked_uri_field); }
std::string_view ParkedCallView::parker_display() const {
  return table_->text(index_, ParkTable::parker_display_field);
}
std::string_view ParkedCallView::parker_uri() const { return table_->text(index_, ParkTable::parker_uri_field); }
std::string_view ParkedCallView::parker_extension() const {
  return table_->text(index_, ParkTable::parker_extension_field);
}
std::string_view ParkedCallView::call_id() const { return table_->text(index_, ParkTable::call_id_field); }
std::string_view ParkedCallView::local_tag() const { return table_->text(index_, ParkTable::local_tag_field); }
std::string_view ParkedCallView::remote_tag() const { return table_->text(index_, ParkTable::remote_tag_field); }
std::string_view ParkedCallView::retriever_display() const {
  return table_->text(index_, ParkTable::retriever_display_field);
}
std::string_view ParkedCallView::retriever_extension() const {
  return table_->text(index_, ParkTable::retriever_extension_field);
}
int64_t ParkedCallView::parked_at_unix_s() const { return table_->records_[index_].parked_at_unix_s; }
uint64_t ParkedCallView::recall_at_ms() const { return table_->records_[index_].recall_at_ms; }
uint64_t ParkedCallView::max_park_at_ms() const { return table_->records_[index_].max_park_at_ms; }
uint32_t ParkedCallView::recall_count() const { return table_->records_[index_].recall_count; }
uint64_t ParkedCallView::handle() const { return table_->records_[index_].handle; }

ExtensionRef ExtensionParkView::ref() const { return {index_, table_->extensions_[index_].generation}; }
std::string_view ExtensionParkView::domain() const {
  const auto& t = table_->tenants_[table_->extensions_[index_].tenant];
  return {t.domain.data(), t.domain_length};
}
std::string_view ExtensionParkView::extension() const {
  const auto& e = table_->extensions_[index_];
  return {e.number.data(), e.number_length};
}
uint64_t ExtensionParkView::version() const { return table_->extensions_[index_].version; }
uint32_t ExtensionParkView::live_count() const { return table_->extensions_[index_].live_count; }
uint32_t ExtensionParkView::departed_count() const { return table_->extensions_[index_].departed_count; }

ExtensionParkView::Iterator ExtensionParkView::begin() const {
  const auto& e = table_->extensions_[index_];
  if (e.live_head != ParkTable::none) return {table_, e.live_head, true};
  return {table_, e.departed_head, false};
}

ExtensionParkView::Iterator& ExtensionParkView::Iterator::operator++() {
  const auto& r = table_->records_[index_];
  index_ = r.next;
  if (index_ == ParkTable::none && live_) {
    live_ = false;
    index_ = table_->extensions_[r.extension].departed_head;
  }
  return *this;
}

}  // namespace parkd::park
