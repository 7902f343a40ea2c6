#include "tenancy/location.h"

#include <absl/hash/hash.h>
#include <xxhash.h>

#include <algorithm>
#include <cassert>
#include <cstring>

#include "sip/uri.h"
#include "tenancy/tenants_config.h"

namespace parkd::tenancy {

namespace {

// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )    (RFC 3261 section 25.1)
// In thousandths; false when malformed.
bool parse_qvalue(std::string_view text, uint16_t& out) {
  if (text.empty() || (text[0] != '0' && text[0] != '1')) return false;
  uint32_t value = text[0] == '1' ? 1000 : 0;
  if (text.size() == 1) {
    out = static_cast<uint16_t>(value);
    return true;
  }
  if (text[1] != '.' || text.size() > 5) return false;
  uint32_t scale = 100;
  for (size_t i = 2; i < text.size(); ++i, scale /= 10) {
    const char c = text[i];
    if (c < '0' || c > '9') return false;
    if (value == 1000 && c != '0') return false;
    value += static_cast<uint32_t>(c - '0') * scale;
  }
  out = static_cast<uint16_t>(value);
  return true;
}

// reg-id = 1*DIGIT ; 1 to (2^31 - 1)    (RFC 5626 section 13)
bool parse_reg_id(std::string_view text, uint32_t& out) {
  if (text.empty() || text.size() > 10) return false;
  uint64_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  if (value < 1 || value > 0x7fffffff) return false;
  out = static_cast<uint32_t>(value);
  return true;
}

uint32_t seconds_ceil(uint64_t ms) { return static_cast<uint32_t>((ms + 999) / 1000); }

RegisterResult refusal(uint16_t status, std::string_view reason) {
  RegisterResult result;
  result.status = status;
  result.reason = reason;
  return result;
}

// A binding's flow into its record (BindingView::flow() reads it back).
template <class Record>
void store_flow(Record& r, const Flow& flow) {
  std::memcpy(r.address, flow.source.address, sizeof(r.address));
  r.port = flow.source.port;
  r.ipv6 = flow.source.ipv6 ? 1 : 0;
  r.tcp = flow.transport == Transport::tcp ? 1 : 0;
  r.connection_id = flow.connection_id;
  r.socket_index = flow.socket_index;
}

}  // namespace

// --- RegisterRequest

RegisterRequest RegisterRequest::from_message(const sip::MessageView& message, const Flow& flow) {
  RegisterRequest request;
  request.contacts = std::span<const sip::ContactView>(message.contacts.data(), message.contact_count);
  request.expires = message.expires;
  request.contact_star = message.contact_star;
  request.call_id = message.call_id;
  request.cseq = message.cseq.number;
  request.flow = flow;
  return request;
}

// --- views

uint32_t BindingView::tenant() const { return table_->record(index_).tenant; }
uint32_t BindingView::extension() const { return table_->record(index_).extension; }
std::string_view BindingView::contact_uri() const { return table_->uri_of(table_->record(index_)); }
std::string_view BindingView::instance() const { return table_->instance_of(table_->record(index_)); }
uint32_t BindingView::reg_id() const { return table_->reg_id_of(table_->record(index_)); }
uint16_t BindingView::q_thousandths() const { return table_->record(index_).q; }
uint64_t BindingView::expires_at_ms() const { return uint64_t{table_->record(index_).expires_at_s} * 1000; }
uint32_t BindingView::remaining_s(uint64_t now_ms) const {
  const uint64_t at = expires_at_ms();
  return at <= now_ms ? 0 : static_cast<uint32_t>((at - now_ms) / 1000);
}
uint32_t BindingView::call_id_hash() const { return table_->record(index_).call_id_hash; }
uint32_t BindingView::cseq() const { return table_->record(index_).cseq; }
Flow BindingView::flow() const {
  const auto& r = table_->record(index_);
  Flow flow;
  std::memcpy(flow.source.address, r.address, sizeof(r.address));
  flow.source.port = r.port;
  flow.source.ipv6 = r.ipv6 != 0;
  flow.transport = r.tcp != 0 ? Transport::tcp : Transport::udp;
  flow.connection_id = r.connection_id;
  flow.socket_index = r.socket_index;
  return flow;
}

BindingRange::Iterator& BindingRange::Iterator::operator++() {
  index_ = table_->record(index_).next;
  return *this;
}

size_t BindingRange::size() const {
  size_t count = 0;
  for (uint32_t i = first_; i != no_binding; i = table_->record(i).next) ++count;
  return count;
}

// --- the head set

size_t LocationTable::HeadHash::operator()(uint32_t head) const { return (*this)(table->key_of_record(head)); }
size_t LocationTable::HeadHash::operator()(uint64_t key) const { return absl::Hash<uint64_t>{}(key); }
bool LocationTable::HeadEq::operator()(uint32_t a, uint32_t b) const {
  return table->key_of_record(a) == table->key_of_record(b);
}
bool LocationTable::HeadEq::operator()(uint32_t a, uint64_t b) const { return table->key_of_record(a) == b; }

uint32_t LocationTable::head_of(uint64_t key) const {
  auto it = heads_.find(key);
  return it == heads_.end() ? no_binding : *it;
}

void LocationTable::set_head(uint64_t key, uint32_t old_head, uint32_t new_head) {
  if (old_head != no_binding) {
    auto it = heads_.find(key);
    assert(it != heads_.end() && *it == old_head);
    heads_.erase(it);
  }
  if (new_head != no_binding) {
    assert(key_of_record(new_head) == key);
    heads_.insert(new_head);
  }
}

// --- construction

LocationTable::LocationTable(TimerWheel* wheel, const LocationOptions& options)
    : wheel_(wheel),
      options_(options),
      heads_(0, HeadHash{this}, HeadEq{this}),
      buckets_(std::make_unique<uint32_t[]>(kBuckets)) {
  assert(options_.max_bindings_per_extension >= 1 &&
         options_.max_bindings_per_extension <= max_bindings_per_extension_max);
  options_.max_bindings_per_extension =
      std::clamp<uint32_t>(options_.max_bindings_per_extension, 1, max_bindings_per_extension_max);
  timer_.table = this;
  timer_.set_callback(&LocationTable::on_timer);
  free_blobs_.fill(no_binding);
  std::fill_n(buckets_.get(), kBuckets, no_binding);
}

LocationTable::~LocationTable() {
  if (wheel_ != nullptr) wheel_->cancel(timer_);
}

LocationCounters LocationTable::counters() const {
  LocationCounters c = counters_;
  c.bindings = live_count_;
  c.extensions = heads_.size();
  return c;
}

size_t LocationTable::memory_bytes() const {
  return sizeof(*this) + record_pages_.capacity() * sizeof(record_pages_[0]) +
         record_pages_.size() * kRecordsPerPage * sizeof(Record) + text_pages_.capacity() * sizeof(text_pages_[0]) +
         text_pages_.size() * size_t{kGranulesPerPage} * kGranuleBytes + heads_.capacity() * (sizeof(uint32_t) + 1) +
         kBuckets * sizeof(uint32_t);
}

uint32_t LocationTable::hash_call_id(std::string_view call_id) {
  return static_cast<uint32_t>(XXH3_64bits(call_id.data(), call_id.size()));
}

// --- slab and arena

uint32_t LocationTable::allocate_record() {
  if (free_records_ != no_binding) {
    const uint32_t index = free_records_;
    free_records_ = record(index).next;
    record(index) = Record{};
    return index;
  }
  if (record_count_ >= no_binding - 1) return no_binding;
  if ((record_count_ & (kRecordsPerPage - 1)) == 0) {
    record_pages_.push_back(std::make_unique<Record[]>(kRecordsPerPage));
  }
  return record_count_++;
}

void LocationTable::free_record(uint32_t index) {
  Record& r = record(index);
  r = Record{};
  r.next = free_records_;
  free_records_ = index;
}

uint32_t LocationTable::allocate_blob(uint32_t granules) {
  assert(granules >= 1 && granules <= kMaxBlobGranules);
  if (free_blobs_[granules] != no_binding) {
    const uint32_t granule = free_blobs_[granules];
    std::memcpy(&free_blobs_[granules], blob(granule), sizeof(uint32_t));
    free_blob_granules_ -= granules;
    return granule;
  }
  if (text_pages_.empty() || text_used_ + granules > kGranulesPerPage) {
    // The rest of the last page becomes a free blob of its size; a blob never spans pages.
    if (!text_pages_.empty() && text_used_ < kGranulesPerPage) {
      const uint32_t rest = std::min(kGranulesPerPage - text_used_, kMaxBlobGranules);
      free_blob(static_cast<uint32_t>((text_pages_.size() - 1) << kGranulesPerPageBits) + text_used_, rest);
    }
    if (text_pages_.size() >= (size_t{1} << (32 - kGranulesPerPageBits)) - 1) return no_binding;
    // Not value-initialised: pages are touched only as blobs are written.
    text_pages_.push_back(std::unique_ptr<char[]>(new char[size_t{kGranulesPerPage} * kGranuleBytes]));
    text_used_ = 0;
  }
  const uint32_t granule = static_cast<uint32_t>((text_pages_.size() - 1) << kGranulesPerPageBits) + text_used_;
  text_used_ += granules;
  return granule;
}

void LocationTable::free_blob(uint32_t granule, uint32_t granules) {
  if (granules == 0) return;
  std::memcpy(blob(granule), &free_blobs_[granules], sizeof(uint32_t));
  free_blobs_[granules] = granule;
  free_blob_granules_ += granules;
}

uint32_t LocationTable::reg_id_of(const Record& r) const {
  if (r.instance_length == 0) return 0;
  uint32_t reg_id = 0;
  std::memcpy(&reg_id, blob(r.text) + r.uri_length + r.instance_length, sizeof(reg_id));
  return reg_id;
}

bool LocationTable::store_text(Record& r, std::string_view uri, std::string_view instance, uint32_t reg_id,
                               bool has_blob) {
  const uint32_t granules = blob_granules(uri.size(), instance.size());
  if (!has_blob || blob_granules(r.uri_length, r.instance_length) != granules) {
    const uint32_t granule = allocate_blob(granules);
    if (granule == no_binding) return false;
    if (has_blob) free_blob(r.text, blob_granules(r.uri_length, r.instance_length));
    r.text = granule;
  }
  char* out = blob(r.text);
  std::memcpy(out, uri.data(), uri.size());
  if (!instance.empty()) {  // an empty view may have a null data(): memcpy must not see it
    std::memcpy(out + uri.size(), instance.data(), instance.size());
    std::memcpy(out + uri.size() + instance.size(), &reg_id, sizeof(reg_id));
  }
  r.uri_length = static_cast<uint32_t>(uri.size()) & 0xfff;
  r.instance_length = static_cast<uint32_t>(instance.size()) & 0xff;
  return true;
}

// --- expiry

void LocationTable::expiry_link(uint32_t index) {
  Record& r = record(index);
  uint32_t& head = buckets_[r.expires_at_s & (kBuckets - 1)];
  r.expiry_prev = no_binding;
  r.expiry_next = head;
  if (head != no_binding) record(head).expiry_prev = index;
  head = index;
  arm_timer(r.expires_at_s);
}

void LocationTable::expiry_unlink(uint32_t index) {
  Record& r = record(index);
  if (r.expiry_prev != no_binding) {
    record(r.expiry_prev).expiry_next = r.expiry_next;
  } else {
    buckets_[r.expires_at_s & (kBuckets - 1)] = r.expiry_next;
  }
  if (r.expiry_next != no_binding) record(r.expiry_next).expiry_prev = r.expiry_prev;
  r.expiry_prev = r.expiry_next = no_binding;
}

void LocationTable::arm_timer(uint32_t expires_at_s) {
  if (wheel_ == nullptr) return;
  const uint64_t at_ms = uint64_t{expires_at_s} * 1000;
  if (!timer_.armed() || at_ms < timer_.expires_at_ms()) wheel_->schedule(timer_, at_ms);
}

void LocationTable::rearm_timer() {
  if (wheel_ == nullptr) return;
  // Every live binding is due within (swept_through_s_, swept_through_s_ + kBuckets): the buckets in that order
  // are the bindings in expiry order, and every binding of one bucket has the same second.
  for (uint32_t s = 1; s <= kBuckets; ++s) {
    const uint32_t head = buckets_[(swept_through_s_ + s) & (kBuckets - 1)];
    if (head != no_binding) {
      wheel_->schedule(timer_, uint64_t{record(head).expires_at_s} * 1000);
      return;
    }
  }
  wheel_->cancel(timer_);
}

void LocationTable::on_timer(TimerEntry& entry) {
  auto& timer = static_cast<ExpiryTimer&>(entry);
  timer.table->expire(timer.table->wheel_->now_ms());
}

size_t LocationTable::expire(uint64_t now_ms) {
  const uint32_t now_s = static_cast<uint32_t>(now_ms / 1000);
  if (now_s <= swept_through_s_) return 0;
  size_t removed = 0;
  const uint32_t seconds = std::min<uint32_t>(now_s - swept_through_s_, kBuckets);
  for (uint32_t s = 1; s <= seconds; ++s) {
    uint32_t index = buckets_[(swept_through_s_ + s) & (kBuckets - 1)];
    while (index != no_binding) {
      const uint32_t next = record(index).expiry_next;
      if (record(index).expires_at_s <= now_s) {
        remove(index, RemoveReason::expired);
        ++counters_.expired_total;
        ++removed;
      }
      index = next;
    }
  }
  swept_through_s_ = now_s;
  rearm_timer();
  return removed;
}

// --- per-extension lists

void LocationTable::append(uint64_t key, uint32_t index) {
  record(index).next = no_binding;
  const uint32_t head = head_of(key);
  if (head == no_binding) {
    set_head(key, no_binding, index);
    return;
  }
  uint32_t last = head;
  while (record(last).next != no_binding) last = record(last).next;
  record(last).next = index;
}

void LocationTable::unlink_from_extension(uint64_t key, uint32_t index) {
  const uint32_t head = head_of(key);
  assert(head != no_binding);
  if (head == index) {
    set_head(key, index, record(index).next);
  } else {
    uint32_t previous = head;
    while (record(previous).next != index) {
      previous = record(previous).next;
      assert(previous != no_binding);
    }
    record(previous).next = record(index).next;
  }
  record(index).next = no_binding;
}

void LocationTable::remove(uint32_t index, RemoveReason reason) {
  if (observer_ != nullptr) observer_->binding_removing(*this, index, reason);
  Record& r = record(index);
  unlink_from_extension(key_of(r.tenant, r.extension), index);
  expiry_unlink(index);
  free_blob(r.text, blob_granules(r.uri_length, r.instance_length));
  free_record(index);
  --live_count_;
}

uint32_t LocationTable::find_identity(uint32_t first, const Incoming& incoming) const {
  const std::string_view instance = incoming.contact->instance;
  for (uint32_t i = first; i != no_binding; i = record(i).next) {
    const Record& r = record(i);
    if (!instance.empty()) {
      // RFC 5626: the device (instance) and its flow number (reg-id) name the binding, whatever the URI.
      if (instance_of(r) == instance && reg_id_of(r) == incoming.reg_id) return i;
    } else if (r.instance_length == 0) {
      // RFC 3261 section 10.3 step 7: the contact URI, compared per section 19.1.4.
      sip::UriView stored;
      if (sip::parse_uri(uri_of(r), stored) == sip::UriError::none && sip::uri_equal(stored, incoming.uri)) return i;
    }
  }
  return no_binding;
}

// --- REGISTER

RegisterResult LocationTable::apply(uint32_t tenant, uint32_t extension, const RegisterRequest& request,
                                    uint64_t now_ms) {
  expire(now_ms);  // nothing due lingers, and every live expiry stays within the bucket window
  const uint64_t key = key_of(tenant, extension);
  const uint32_t call_id_hash = hash_call_id(request.call_id);

  if (request.contact_star) {
    // RFC 3261 section 10.3 step 6.
    if (!request.contacts.empty() || request.expires != 0) {
      ++counters_.refused_total;
      return refusal(400, "Contact: * needs Expires: 0 and no other Contact");
    }
    for (uint32_t i = head_of(key); i != no_binding; i = record(i).next) {
      if (record(i).call_id_hash == call_id_hash && request.cseq <= record(i).cseq) {
        ++counters_.out_of_order_total;
        return refusal(500, "Out of order REGISTER");
      }
    }
    RegisterResult result;
    result.reason = "OK";
    while (head_of(key) != no_binding) {
      remove(head_of(key), RemoveReason::unregistered);
      ++result.removed_count;
      ++counters_.unregistered_total;
    }
    result.changed = result.removed_count > 0;
    result.bindings = BindingRange(*this, no_binding);
    return result;
  }

  if (request.contacts.size() > register_contacts_max) {
    ++counters_.refused_total;
    return refusal(400, "Too many Contacts");
  }

  // Validate every contact before changing anything: the update is atomic (section 10.3 step 7).
  std::array<Incoming, register_contacts_max> incoming;
  const size_t count = request.contacts.size();
  bool too_brief = false;
  uint32_t new_bindings = 0;
  size_t new_text_bytes = 0;
  const uint32_t first = head_of(key);
  for (size_t i = 0; i < count; ++i) {
    const sip::ContactView& contact = request.contacts[i];
    Incoming& in = incoming[i];
    in.contact = &contact;
    if (contact.address.uri.size() > contact_uri_length_max) {
      ++counters_.refused_total;
      return refusal(400, "Contact URI too long");
    }
    if (sip::parse_uri(contact.address.uri, in.uri) != sip::UriError::none) {
      ++counters_.refused_total;
      return refusal(400, "Bad Contact URI");
    }
    if (contact.instance.size() > instance_length_max) {
      ++counters_.refused_total;
      return refusal(400, "+sip.instance too long");
    }
    in.q = q_absent;
    if (!contact.q.empty() && !parse_qvalue(contact.q, in.q)) {
      ++counters_.refused_total;
      return refusal(400, "Bad q value");
    }
    in.reg_id = 0;
    // RFC 5626 section 6: without an instance, reg-id is ignored and RFC 3261 rules apply.
    if (!contact.instance.empty() && !contact.reg_id.empty() && !parse_reg_id(contact.reg_id, in.reg_id)) {
      ++counters_.refused_total;
      return refusal(400, "Bad reg-id");
    }
    const int64_t expires = contact.expires >= 0 ? contact.expires : request.expires;
    const uint64_t seconds = expires >= 0 ? static_cast<uint64_t>(expires) : expires_default_s;
    if (seconds > 0 && seconds < min_expires_s) too_brief = true;
    in.expires_s = static_cast<uint32_t>(std::min<uint64_t>(seconds, expires_max_s));
    in.existing = find_identity(first, in);
    if (in.existing == no_binding && in.expires_s > 0) {
      ++new_bindings;
      new_text_bytes += contact.address.uri.size() + contact.instance.size() + 4 + kGranuleBytes;
    }
  }
  if (too_brief) {
    ++counters_.refused_total;
    RegisterResult result = refusal(423, "Interval Too Brief");
    result.min_expires_s = min_expires_s;
    return result;
  }
  for (size_t i = 0; i < count; ++i) {
    const uint32_t existing = incoming[i].existing;
    if (existing != no_binding && record(existing).call_id_hash == call_id_hash &&
        request.cseq <= record(existing).cseq) {
      // Same Call-ID, CSeq not higher: an older or repeated request overtook a newer one. RFC 3261 says the
      // request fails; 500 with no change (the device's next refresh has a higher CSeq).
      ++counters_.out_of_order_total;
      return refusal(500, "Out of order REGISTER");
    }
  }
  // Room for the new records and text, so that nothing fails half-way (32-bit indices; practically never).
  const uint64_t granules_left =
      (uint64_t{1} << 32) - kGranulesPerPage - uint64_t{text_pages_.size()} * kGranulesPerPage;
  if (uint64_t{record_count_} + new_bindings >= no_binding - 1 || new_text_bytes / kGranuleBytes + 1 >= granules_left) {
    ++counters_.full_total;
    return refusal(500, "Location table full");
  }

  RegisterResult result;
  result.reason = "OK";
  for (size_t i = 0; i < count; ++i) {
    const Incoming& in = incoming[i];
    const sip::ContactView& contact = *in.contact;
    // Again: an earlier contact of this request may have added or removed the same identity.
    uint32_t index = find_identity(head_of(key), in);
    if (in.expires_s == 0) {
      if (index != no_binding) {
        remove(index, RemoveReason::unregistered);
        ++result.removed_count;
        ++counters_.unregistered_total;
        result.changed = true;
      }
      continue;
    }
    const bool fresh = index == no_binding;
    if (fresh) {
      uint32_t bindings = 0;
      for (uint32_t j = head_of(key); j != no_binding; j = record(j).next) ++bindings;
      if (bindings >= options_.max_bindings_per_extension) {
        remove(head_of(key), RemoveReason::replaced);  // the oldest: least recently registered or refreshed
        ++result.removed_count;
        ++counters_.replaced_total;
      }
      index = allocate_record();
      assert(index != no_binding);
      Record& r = record(index);
      r.tenant = tenant;
      r.extension = extension;
      const bool stored = store_text(r, contact.address.uri, contact.instance, in.reg_id, false);
      assert(stored);
      (void)stored;
      ++live_count_;
      ++counters_.added_total;
      result.added[result.added_count++] = index;
    } else {
      Record& r = record(index);
      if (contact.instance.empty() && uri_of(r) != contact.address.uri && observer_ != nullptr) {
        // An equivalent URI written differently: the stored text (and the persistence key) change.
        observer_->binding_removing(*this, index, RemoveReason::rekeyed);
      }
      const bool stored = store_text(r, contact.address.uri, contact.instance, in.reg_id, true);
      assert(stored);
      (void)stored;
      unlink_from_extension(key, index);
      expiry_unlink(index);
      ++counters_.refreshed_total;
    }
    Record& r = record(index);
    r.expires_at_s = seconds_ceil(now_ms + uint64_t{in.expires_s} * 1000);
    r.call_id_hash = call_id_hash;
    r.cseq = request.cseq;
    r.q = in.q;
    const Flow& flow = request.flow;
    store_flow(r, flow);
    append(key, index);  // newest last
    expiry_link(index);
    result.changed = true;
    if (observer_ != nullptr) observer_->binding_stored(*this, index, now_ms);
  }
  result.bindings = BindingRange(*this, head_of(key));
  return result;
}

BindingRange LocationTable::lookup(uint32_t tenant, uint32_t extension) const {
  return BindingRange(*this, head_of(key_of(tenant, extension)));
}

uint32_t LocationTable::next_live(uint32_t from) const {
  for (uint32_t i = from; i < record_count_; ++i) {
    if (record(i).expires_at_s != 0) return i;
  }
  return no_binding;
}

size_t LocationTable::remove_tenant(uint32_t tenant) {
  size_t removed = 0;
  for (uint32_t i = 0; i < record_count_; ++i) {
    if (record(i).expires_at_s != 0 && record(i).tenant == tenant) {
      remove(i, RemoveReason::tenant_removed);
      ++removed;
    }
  }
  rearm_timer();
  return removed;
}

size_t LocationTable::rebind(const TenantsConfig& old_config, const TenantsConfig& new_config) {
  // Two passes: decide for every registered extension first (the head set is keyed by the records' fields, so
  // they must not change while it is being walked), then re-key.
  struct Move {
    uint32_t head;
    uint32_t tenant;
    uint32_t extension;
    bool keep;
  };
  std::vector<Move> moves;
  moves.reserve(heads_.size());
  for (const uint32_t head : heads_) {
    const Record& r = record(head);
    Move move{head, 0, 0, false};
    if (r.tenant < old_config.tenant_count() && r.extension < old_config.extension_count()) {
      const ExtensionView old_extension = old_config.extension(r.extension);
      const auto tenant = new_config.find_tenant(old_config.tenant(r.tenant).domain());
      if (tenant) {
        const auto extension = tenant->find_extension(old_extension.number());
        // Same credentials too: a changed password must not leave the old device registered for up to an hour.
        if (extension && extension->ha1_md5() == old_extension.ha1_md5() &&
            extension->ha1_sha256() == old_extension.ha1_sha256()) {
          move = {head, tenant->index(), extension->index(), true};
        }
      }
    }
    moves.push_back(move);
  }
  size_t dropped = 0;
  for (const Move& move : moves) {
    if (move.keep) continue;
    const uint64_t key = key_of_record(move.head);
    while (true) {
      const uint32_t head = head_of(key);
      if (head == no_binding) break;
      remove(head, RemoveReason::reload);
      ++dropped;
    }
  }
  heads_.clear();
  for (const Move& move : moves) {
    if (!move.keep) continue;
    for (uint32_t i = move.head; i != no_binding; i = record(i).next) {
      record(i).tenant = move.tenant;
      record(i).extension = move.extension;
    }
    heads_.insert(move.head);
  }
  rearm_timer();
  return dropped;
}

bool LocationTable::restore(uint32_t tenant, uint32_t extension, std::string_view contact_uri,
                            std::string_view instance, uint32_t reg_id, uint16_t q_thousandths, uint64_t expires_at_ms,
                            uint32_t call_id_hash, uint32_t cseq, const Flow& flow, uint64_t now_ms) {
  expire(now_ms);
  if (expires_at_ms <= now_ms || contact_uri.size() > contact_uri_length_max || instance.size() > instance_length_max ||
      (q_thousandths > 1000 && q_thousandths != q_absent)) {
    return false;
  }
  sip::ContactView contact;
  contact.address.uri = contact_uri;
  contact.instance = instance;
  Incoming in{&contact, {}, 0, instance.empty() ? 0 : reg_id, q_thousandths, no_binding};
  if (sip::parse_uri(contact_uri, in.uri) != sip::UriError::none) return false;
  const uint64_t key = key_of(tenant, extension);
  const uint32_t head = head_of(key);
  if (find_identity(head, in) != no_binding) return false;
  uint32_t bindings = 0;
  for (uint32_t j = head; j != no_binding; j = record(j).next) ++bindings;
  if (bindings >= options_.max_bindings_per_extension) return false;
  const uint32_t index = allocate_record();
  if (index == no_binding) return false;
  Record& r = record(index);
  r.tenant = tenant;
  r.extension = extension;
  if (!store_text(r, contact_uri, instance, in.reg_id, false)) {
    free_record(index);
    return false;
  }
  // A clock that jumped must not keep a binding longer than a REGISTER could.
  const uint64_t latest_ms = now_ms + uint64_t{expires_max_s} * 1000;
  r.expires_at_s = seconds_ceil(std::min(expires_at_ms, latest_ms));
  r.call_id_hash = call_id_hash;
  r.cseq = cseq;
  r.q = q_thousandths;
  store_flow(r, flow);
  ++live_count_;
  append(key, index);
  expiry_link(index);
  return true;
}

}  // namespace parkd::tenancy
