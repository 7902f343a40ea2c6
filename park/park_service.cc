#include "park/park_service.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "park/feature_code.h"
#include "park/park_info.h"
#include "sip/message.h"

namespace parkd::park {
namespace {

using calls::ParkedEvent;

constexpr uint32_t sip_uri_max = 320;  // "sip:" + number + "@" + domain, with room

int64_t unix_now_s() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec;
}

}  // namespace

ParkService::ParkService(unsigned shard_index, const ParkConfig& config, calls::CallService& calls,
                         const tenancy::Registrar& registrar)
    : shard_index_(shard_index),
      config_(config),
      calls_(calls),
      registrar_(registrar),
      table_(ParkTableConfig{std::clamp<uint32_t>(config.parked_max_per_shard, 1, park_capacity_max)}) {
  // The table keeps records for twice its capacity (departed calls wait for their last report).
  const size_t records = static_cast<size_t>(table_.capacity()) * 2;
  timers_ = std::make_unique<RecordTimer[]>(records);
  for (size_t i = 0; i < records; ++i) {
    timers_[i].set_callback(&ParkService::on_timer);
    timers_[i].service = this;
    timers_[i].index = static_cast<uint32_t>(i);
  }
  call_of_.assign(records, calls::CallRef{});
  retriever_of_.assign(records, UINT32_MAX);
  message_ = std::make_unique<char[]>(sip::message_size_max + 1);
  token_key_ = sip::random_token_key();
  token_counter_ = (static_cast<uint64_t>(shard_index_) << 56) | (uint64_t{1} << 54);
}

ParkService::~ParkService() {
  Shard* shard = calls_.shard();
  if (!timers_) return;
  const size_t records = static_cast<size_t>(table_.capacity()) * 2;
  for (size_t i = 0; i < records; ++i)
    if (timers_[i].armed() && shard != nullptr) shard->timers().cancel(timers_[i]);
}

uint64_t ParkService::now_ms() const { return calls_.shard()->now_ms(); }

// ---------------------------------------------------------------------------------------------------------
// Park.

uint16_t ParkService::on_refer(calls::CallService& /*calls*/, const calls::ReferContext& refer, uint64_t& handle) {
  const tenancy::TenantsConfig& config = registrar_.config();
  const tenancy::TenantView tenant = config.tenant(refer.tenant);
  const std::optional<tenancy::ExtensionView> own =
      refer.referrer_number.empty() ? std::nullopt : config.find_extension(refer.tenant, refer.referrer_number);
  auto match = match_feature_user(refer.refer_to_user, tenant, own);
  if (!match) {
    counters_.parks_refused.add();
    return 404;
  }
  if (match->kind != FeatureKind::park || !match->target) return 0;
  const tenancy::ExtensionView target = *match->target;
  char parker_uri_text[sip_uri_max];
  const std::string_view parker_uri =
      own ? sip::write_sip_uri(own->number(), tenant.domain(), parker_uri_text) : std::string_view{};
  const uint64_t now = now_ms();
  const tenancy::ParkSettings& settings = tenant.park();
  ParkRequest request;
  request.domain = tenant.domain();
  request.extension = target.number();
  request.parked = {refer.other.display, refer.other.uri};
  request.parker = {own ? own->display_name() : std::string_view{}, parker_uri};
  request.parker_extension = refer.referrer_number;
  request.call_id = refer.other.call_id;
  request.local_tag = refer.other.local_tag;
  request.remote_tag = refer.other.remote_tag;
  request.parked_at_unix_s = unix_now_s();
  request.recall_at_ms = now + uint64_t{settings.recall_after_s} * 1000;
  request.max_park_at_ms = now + uint64_t{settings.max_park_s} * 1000;
  ParkLimits limits;
  limits.per_extension = settings.max_parked_per_extension;
  limits.per_tenant = config_.parked_max_per_tenant;
  auto parked = table_.park(request, limits);
  if (!parked) {
    counters_.parks_full.add();
    return 486;
  }
  call_of_[parked->index] = {};
  retriever_of_[parked->index] = UINT32_MAX;
  handle = pack(*parked);
  counters_.parks.add();
  return 202;
}

void ParkService::on_parked_event(calls::CallService& calls, uint64_t handle, ParkedEvent event, calls::CallRef call,
                                  uint16_t /*status*/) {
  const CallRef ref = unpack(handle);
  const auto view = table_.get(ref);
  if (!view || is_final(view->state())) {
    // The park ended meanwhile (expired); a call that is still parkd's has nobody to go to.
    if (event == ParkedEvent::parked || event == ParkedEvent::held) calls.hang_up(call);
    return;
  }
  switch (event) {
    case ParkedEvent::parked:
      call_of_[ref.index] = call;
      return;  // park-info goes out when the parked party is on hold (held)
    case ParkedEvent::park_failed:
      // Nothing was parked: forget it without telling anyone.
      (void)table_.withdraw(ref);
      return;
    case ParkedEvent::held:
      arm(ref);
      flush();
      return;
    case ParkedEvent::gone:
      counters_.abandoned.add();
      finish(ref, ParkState::abandoned);
      return;
    case ParkedEvent::retrieved: finish(ref, ParkState::retrieved); return;
    case ParkedEvent::retrieve_failed: (void)table_.release(ref); return;
    case ParkedEvent::recall_answered:
      counters_.recalls_answered.add();
      finish(ref, ParkState::recalled);
      return;
    case ParkedEvent::recall_unanswered: {
      counters_.recalls_unanswered.add();
      const uint64_t now = now_ms();
      if (now >= view->max_park_at_ms()) {
        expire(ref);
        return;
      }
      const auto tenant = registrar_.config().find_tenant(view->domain());
      const uint64_t after = tenant ? uint64_t{tenant->park().recall_after_s} * 1000 : 45'000;
      (void)table_.return_to_park(ref, std::min(now + after, view->max_park_at_ms()));
      (void)table_.release(ref);
      arm(ref);
      flush();
      return;
    }
  }
}

void ParkService::finish(CallRef ref, ParkState state) {
  std::string_view display;
  std::string_view number;
  if (state == ParkState::retrieved && retriever_of_[ref.index] < registrar_.config().extension_count()) {
    const tenancy::ExtensionView retriever = registrar_.config().extension(retriever_of_[ref.index]);
    display = retriever.display_name();
    number = retriever.number();
  }
  if (timers_[ref.index].armed()) calls_.shard()->timers().cancel(timers_[ref.index]);
  (void)table_.finish(ref, state, display, number);
  call_of_[ref.index] = {};
  retriever_of_[ref.index] = UINT32_MAX;
  flush();
}

// ---------------------------------------------------------------------------------------------------------
// Retrieve.

uint16_t ParkService::on_invite(calls::CallService& calls, const calls::InviteContext& invite) {
  const tenancy::TenantsConfig& config = registrar_.config();
  const tenancy::TenantView tenant = config.tenant(invite.tenant);
  const std::optional<tenancy::ExtensionView> own = config.find_extension(invite.tenant, invite.caller_number);
  auto match = match_feature_uri(invite.invite->request_uri, tenant, own);
  if (!match) {
    counters_.retrieves_refused.add();
    return 404;
  }
  if (match->kind != FeatureKind::retrieve || !match->target) return 0;
  auto claimed = table_.claim(tenant.domain(), match->target->number(), match->has_park_id ? &match->park_id : nullptr);
  if (!claimed) {
    counters_.retrieves_refused.add();
    return 404;
  }
  const CallRef ref = *claimed;
  if (!calls.retrieve(call_of_[ref.index], invite, pack(ref))) {
    // Not connectable now (its hold is still on its way): as if nothing were parked.
    (void)table_.release(ref);
    counters_.retrieves_refused.add();
    return 404;
  }
  retriever_of_[ref.index] = own ? own->index() : UINT32_MAX;
  counters_.retrieves.add();
  return 1;
}

// ---------------------------------------------------------------------------------------------------------
// Recall and expiry: one timer per record, at the earlier of the next recall and the end of the park.

void ParkService::arm(CallRef ref) {
  const auto view = table_.get(ref);
  if (!view || is_final(view->state())) return;
  uint64_t at = view->max_park_at_ms();
  if (view->state() == ParkState::parked) at = std::min(at, view->recall_at_ms());
  timers_[ref.index].generation = ref.generation;
  calls_.shard()->timers().schedule(timers_[ref.index], at);
}

void ParkService::on_timer(TimerEntry& entry) {
  auto& timer = static_cast<RecordTimer&>(entry);
  ParkService& self = *timer.service;
  const CallRef ref{timer.index, timer.generation};
  const auto live = self.table_.get(ref);
  if (!live || is_final(live->state())) return;
  const uint64_t now = self.now_ms();
  if (now >= live->max_park_at_ms()) {
    self.expire(ref);
    return;
  }
  if (live->state() == ParkState::parked && !live->claimed() && now >= live->recall_at_ms()) {
    self.start_recall(ref);
    return;
  }
  self.arm(ref);
}

void ParkService::start_recall(CallRef ref) {
  const auto view = table_.get(ref);
  const tenancy::TenantsConfig& config = registrar_.config();
  const auto tenant = config.find_tenant(view->domain());
  const auto parker = tenant ? config.find_extension(tenant->index(), view->parker_extension()) : std::nullopt;
  const uint32_t ring_ms = tenant ? tenant->park().recall_ring_s * 1000 : 30'000;
  const uint64_t after = tenant ? uint64_t{tenant->park().recall_after_s} * 1000 : 45'000;
  // Claimed while it rings the parker, so a retrieve takes another call and the recall is not raced.
  if (parker && table_.claim(ref)) {
    if (calls_.recall(call_of_[ref.index], parker->index(), ring_ms)) {
      (void)table_.start_recall(ref);
      counters_.recalls.add();
      arm(ref);
      flush();
      return;
    }
    (void)table_.release(ref);
  }
  // Nobody to ring now (the parker has no device, or the call is busy): try again after recall_after_s. The
  // phones see nothing change, so they are sent nothing.
  counters_.recalls_postponed.add();
  (void)table_.postpone_recall(ref, std::min(now_ms() + after, view->max_park_at_ms()));
  arm(ref);
}

void ParkService::expire(CallRef ref) {
  counters_.expired.add();
  calls_.hang_up(call_of_[ref.index]);
  finish(ref, ParkState::expired);
}

// ---------------------------------------------------------------------------------------------------------
// park-info NOTIFYs.

void ParkService::flush() {
  counters_.parked_live.set(table_.live_count());
  while (auto changed = table_.next_changed()) {
    if (auto extension = table_.extension(*changed)) send_park_info(*extension, nullptr);
    table_.reported(*changed);
  }
}

void ParkService::send_park_info(const ExtensionParkView& extension, const Endpoint* only_from) {
  const tenancy::TenantsConfig& config = registrar_.config();
  const auto tenant = config.find_tenant(extension.domain());
  if (!tenant) return;
  const auto target = config.find_extension(tenant->index(), extension.extension());
  const tenancy::LocationTable* location = registrar_.location();
  if (!target || location == nullptr) return;
  const std::string_view domain = tenant->domain();
  char from_text[sip_uri_max + 16];
  char to_text[sip_uri_max + 2];
  char from_uri[sip_uri_max];
  char to_uri[sip_uri_max];
  const std::string_view from_address = sip::write_sip_uri("park", domain, from_uri);
  const std::string_view to_address = sip::write_sip_uri(target->number(), domain, to_uri);
  if (from_address.empty() || to_address.empty()) return;
  const int from_size = std::snprintf(from_text, sizeof from_text, "\"Park\" <%.*s>",
                                      static_cast<int>(from_address.size()), from_address.data());
  const int to_size =
      std::snprintf(to_text, sizeof to_text, "<%.*s>", static_cast<int>(to_address.size()), to_address.data());
  const uint64_t now = now_ms();
  for (tenancy::BindingView binding : location->lookup(tenant->index(), target->index())) {
    const tenancy::Flow f = binding.flow();
    if (only_from != nullptr && !(f.source == *only_from)) continue;
    const sip::Flow flow{f.transport, f.source, f.transport == Transport::udp ? f.socket_index : f.connection_id};
    uint16_t port = 0;
    const std::string_view host = calls_.local_host(flow, port);
    char branch[sip::token_size];
    char tag[sip::token_size];
    char call_id[sip::token_size];
    sip::RequestParams p;
    p.method = "NOTIFY";
    p.request_uri = binding.contact_uri();
    p.via_transport = flow.reliable() ? "TCP" : "UDP";
    p.via_host = host;
    p.via_port = port;
    p.branch_suffix = sip::write_token(++token_counter_, token_key_, branch);
    p.from = {from_text, static_cast<size_t>(from_size)};
    p.from_tag = sip::write_token(++token_counter_, token_key_, tag);
    p.to = {to_text, static_cast<size_t>(to_size)};
    p.call_id = sip::write_token(++token_counter_, token_key_, call_id);
    p.cseq = 1;
    p.contact = calls_.contact_of(flow);
    sip::MessageWriter w(message_.get(), sip::message_size_max);
    sip::build_request(p, w);
    w.header(sip::HeaderId::event, park_info_event);
    w.header(sip::HeaderId::subscription_state, "active");
    std::span<char> body = w.begin_body(park_info_content_type);
    auto written = write_park_info(extension, tenant->retrieve_code(), now, body);
    if (written) {
      w.end_body(*written);
    } else {
      w.fail(sip::BuildError::overflow);
    }
    auto size = w.finish();
    if (!size || !calls_.send_out_of_dialog({message_.get(), *size}, flow, 1)) {
      counters_.notify_unsent.add();
      continue;
    }
    counters_.notifies.add();
  }
}

void ParkService::on_out_of_dialog_answer(calls::CallService& /*calls*/, uint64_t /*cookie*/, uint16_t status) {
  if (status == 0) {
    counters_.notify_timeouts.add();
  } else if (status < 300) {
    counters_.notify_ok.add();
  } else if (status == 481 || status == 489) {
    counters_.notify_rejected.add();  // a phone that does not know the event: counted, never retried
  } else {
    counters_.notify_failed.add();
  }
}

void ParkService::on_registered(uint32_t tenant, uint32_t extension, const Endpoint& source) {
  if (table_.live_count() == 0) return;  // the common case: nothing parked on this shard
  const tenancy::TenantsConfig& config = registrar_.config();
  if (tenant >= config.tenant_count() || extension >= config.extension_count()) return;
  const auto view = table_.find_extension(config.tenant(tenant).domain(), config.extension(extension).number());
  if (!view || view->live_count() == 0) return;
  send_park_info(*view, &source);
}

}  // namespace parkd::park
