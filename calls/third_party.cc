// Third-party call control (RFC 3725) in the call layer: blind transfer (RFC 3515 REFER) and the mechanics
// park needs (split a call, hold the parked party with parkd's SDP, connect it to a retriever or ring the
// parker back). The park service decides what happens; this file only moves dialogs. docs/calls.md has the
// message flows.
#include <algorithm>
#include <cstring>

#include "calls/call_service.h"
#include "calls/call_state.h"
#include "core/log.h"
#include "sip/params.h"
#include "sip/sdp.h"
#include "sip/uri.h"

namespace parkd::calls {
namespace {

using sip::MessageView;
using sip::Method;
using namespace internal;
using sip::TransactionId;

constexpr uint32_t referrer_linger_ms = 32'000;  // SPEC section 6: parkd ends the referrer's leg itself

// The URI inside a kept name-addr ("\"Bob\" <sip:102@d>" -> "sip:102@d").
std::string_view uri_of(std::string_view name_addr) {
  const size_t open = name_addr.find('<');
  const size_t close = name_addr.rfind('>');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) return name_addr;
  return name_addr.substr(open + 1, close - open - 1);
}

bool gone_status(uint16_t code) { return code == 481 || code == 408; }

}  // namespace

CallRef CallService::ref_of(const Call& call) { return {call.index, call.generation}; }

CallService::Call* CallService::from_ref(CallRef ref) const {
  if (!ref.valid() || !calls_ || ref.index >= config_.calls_max_per_shard) return nullptr;
  Call& c = calls_[ref.index];
  if (c.generation != ref.generation || c.state == CallState::free) return nullptr;
  return &c;
}

std::optional<tenancy::ExtensionView> CallService::leg_extension(const Call& call, LegIndex leg) const {
  sip::UriView uri;
  if (sip::parse_uri(uri_of(text(call, call.legs[leg].remote_uri)), uri) != sip::UriError::none ||
      !sip::iequals(uri.host, text(call, call.domain)))
    return std::nullopt;
  return registrar_.config().find_extension(call.tenant, uri.user);
}

std::optional<PartyView> CallService::party(CallRef ref) const {
  const Call* call = from_ref(ref);
  if (call == nullptr) return std::nullopt;
  return party_of(*call, leg_a);
}

PartyView CallService::party_of(const Call& call, LegIndex leg) const {
  const Leg& l = call.legs[leg];
  PartyView view;
  if (auto extension = leg_extension(call, leg)) {
    view.display = extension->display_name();
    view.number = extension->number();
  }
  view.uri = uri_of(text(call, l.remote_uri));
  view.call_id = text(call, l.call_id);
  view.local_tag = text(call, l.local_tag);
  view.remote_tag = text(call, l.remote_tag);
  return view;
}

bool CallService::send_out_of_dialog(std::string_view request, const sip::Flow& to, uint64_t cookie) {
  if (layer_ == nullptr) return false;
  const uint64_t user_data = user_data_of_cookie(cookie);
  auto started = layer_->start_client(request, to, user_data);
  if (!started) {
    counters_.transaction_errors.add();
    return false;
  }
  counters_.out_of_dialog.add();
  return true;
}

// ---------------------------------------------------------------------------------------------------------
// REFER (RFC 3515) in a confirmed call.

void CallService::refer(TransactionId id, Call& call, LegIndex leg, const MessageView& request) {
  counters_.refers.add();
  if (call.relay_server.valid()) {
    counters_.glare.add();
    layer_->respond(id, 491, "Request Pending");
    return;
  }
  if (request.refer_to.raw.empty()) {
    counters_.refers_refused.add();
    layer_->respond(id, 400, "Missing Refer-To");
    return;
  }
  if (!request.refer_to_replaces.empty()) {
    counters_.refers_refused.add();
    layer_->respond(id, 501, "Attended Transfer Not Supported");
    return;
  }
  sip::UriView target;
  char user[64];
  ptrdiff_t user_size = -1;
  if (sip::parse_uri(request.refer_to.uri, target) == sip::UriError::none)
    user_size = sip::percent_decode(target.user, user, sizeof user);
  if (user_size <= 0) {
    counters_.refers_refused.add();
    layer_->respond(id, 400, "Bad Refer-To");
    return;
  }
  const std::string_view target_user(user, static_cast<size_t>(user_size));
  // A transfer or park never leaves the tenant (SPEC section 3).
  if (!sip::iequals(target.host, text(call, call.domain))) {
    counters_.refers_refused.add();
    layer_->respond(id, 404, "Not Found");
    return;
  }
  // A REFER that overtakes the ACK of the call's 2xx (the other phone's ACK is still in flight): the 2xx is
  // no longer retransmitted, the ACK is absorbed when it comes. Without this a quick transferor gets 491.
  if (call.ack_wait.valid()) {
    call.ack_wait = {};
    if (call.retransmit_timer.armed()) shard_->timers().cancel(call.retransmit_timer);
  }
  const tenancy::TenantsConfig& config = registrar_.config();
  const LegIndex other = leg == leg_a ? leg_b : leg_a;
  // An extension is a blind transfer (the other party connected to it, the referrer told how it went);
  // anything else may be a feature code of the layer above (park), which answers for it.
  const std::optional<tenancy::ExtensionView> transfer_to = config.find_extension(call.tenant, target_user);
  uint64_t handle = 0;
  if (transfer_to) {
    const tenancy::LocationTable* location = registrar_.location();
    if (location == nullptr || location->lookup(call.tenant, transfer_to->index()).empty()) {
      counters_.refers_refused.add();
      layer_->respond(id, 480, "Temporarily Unavailable");
      return;
    }
  } else {
    uint16_t status = 0;
    if (features_ != nullptr) {
      const auto referrer_extension = leg_extension(call, leg);
      ReferContext context;
      context.tenant = call.tenant;
      context.domain = text(call, call.domain);
      context.referrer_number = referrer_extension ? referrer_extension->number() : std::string_view{};
      context.refer_to = &target;
      context.refer_to_user = target_user;
      context.other = party_of(call, other);
      status = features_->on_refer(*this, context, handle);
    }
    if (status != 202) {
      counters_.refers_refused.add();
      layer_->respond(id, status == 0 ? 404 : status);
      return;
    }
  }
  const uint32_t tenant = call.tenant;
  Call* referrer = nullptr;
  Call* party = nullptr;
  if (!split(call, leg, referrer, party)) {
    counters_.refers_refused.add();
    refuse_too_many_calls(id);
    if (!transfer_to) features_->on_parked_event(*this, handle, ParkedEvent::park_failed, {}, 503);
    return;
  }
  layer_->respond(id, 202);
  sipfrag(*referrer, 100, false);
  party->referrer = ref_of(*referrer);
  if (transfer_to) {
    party->connect_kind = ConnectKind::transfer;
    counters_.transfers.add();
    if (!connect(*party, tenant, transfer_to->index(), config_.ring_timeout_ms)) connect_failed(*party, 480);
    return;
  }
  counters_.parks.add();
  party->state = CallState::parked;
  party->feature_handle = handle;
  features_->on_parked_event(*this, handle, ParkedEvent::parked, ref_of(*party), 0);
  hold(*party);
}

bool CallService::copy_leg(const Call& from, LegIndex from_leg, Call& to, LegIndex to_leg) {
  const Leg& f = from.legs[from_leg];
  Leg& t = to.legs[to_leg];
  bool ok = keep(to, t.call_id, text(from, f.call_id)) && keep(to, t.local_tag, text(from, f.local_tag)) &&
            keep(to, t.remote_tag, text(from, f.remote_tag)) && keep(to, t.local_uri, text(from, f.local_uri)) &&
            keep(to, t.remote_uri, text(from, f.remote_uri)) && keep(to, t.remote_target, text(from, f.remote_target));
  for (uint32_t i = 0; ok && i < f.route_count; ++i) ok = keep(to, t.routes[i], text(from, f.routes[i]));
  t.route_count = f.route_count;
  t.local_cseq = f.local_cseq;
  t.flow = f.flow;
  return ok;
}

// Each leg into a fresh call of its own, as that call's leg A: the calls start with compact text areas, and
// what happens to one party (a transfer ringing, a park) never waits on the other.
bool CallService::split(Call& call, LegIndex referrer_leg, Call*& referrer, Call*& party) {
  const LegIndex other = referrer_leg == leg_a ? leg_b : leg_a;
  referrer = allocate(call.tenant, false);
  party = referrer != nullptr ? allocate(call.tenant, false) : nullptr;
  bool ok = party != nullptr;
  ok = ok && keep(*referrer, referrer->domain, text(call, call.domain)) &&
       keep(*party, party->domain, text(call, call.domain)) && copy_leg(call, referrer_leg, *referrer, leg_a) &&
       copy_leg(call, other, *party, leg_a);
  if (!ok) {
    if (party != nullptr) free_call(*party);
    if (referrer != nullptr) free_call(*referrer);
    return false;
  }
  // The old call's dialog entries go with it; the new calls' entries point at their own text.
  free_call(call);
  referrer->state = CallState::referrer;
  party->state = CallState::confirmed;  // the caller says what it becomes
  dialogs_.insert_or_assign(text(*referrer, referrer->legs[leg_a].call_id), referrer->index << 1 | leg_a);
  dialogs_.insert_or_assign(text(*party, party->legs[leg_a].call_id), party->index << 1 | leg_a);
  shard_->timers().schedule(referrer->ring_timer, shard_->now_ms() + referrer_linger_ms);
  return true;
}

// RFC 3515 section 2.4.4: the progress of the referred request as a message/sipfrag NOTIFY.
void CallService::sipfrag(Call& referrer, uint16_t status, bool final) {
  if (referrer.state != CallState::referrer) return;
  char body[64];
  const int size = std::snprintf(body, sizeof body, "SIP/2.0 %u %.*s\r\n", static_cast<unsigned>(status),
                                 static_cast<int>(sip::default_reason_phrase(status).size()),
                                 sip::default_reason_phrase(status).data());
  if (size <= 0 || static_cast<size_t>(size) >= sizeof body) return;
  Extra extra;
  extra.event = "refer";
  extra.subscription_state = final ? "terminated;reason=noresource" : "active;expires=60";
  extra.content_type = "message/sipfrag;version=2.0";
  extra.body = {body, static_cast<size_t>(size)};
  (void)send_in_dialog(referrer, leg_a, Method::notify, nullptr, user_data_of(referrer, tag_notify), &extra);
}

// ---------------------------------------------------------------------------------------------------------
// Park: hold with parkd's SDP.

size_t CallService::build_hold_sdp(const sip::Flow& flow, char* out, size_t capacity) const {
  uint16_t port = 0;
  sip::HoldSdpParams params;
  params.session_id = static_cast<uint64_t>(shard_->now_ms());
  params.session_version = params.session_id;
  params.address = local_host(flow, port);
  params.port = 9;  // RFC 3264 section 5.1 keeps a held stream's port; parkd sends and expects no media
  params.direction = sip::SdpDirection::inactive;
  auto size = sip::write_hold_sdp(params, {out, capacity});
  return size ? *size : 0;
}

void CallService::hold(Call& call) {
  char sdp[512];
  const size_t size = build_hold_sdp(call.legs[leg_a].flow, sdp, sizeof sdp);
  Extra extra;
  extra.content_type = "application/sdp";
  extra.body = {sdp, size};
  call.hold_pending =
      size != 0 && send_in_dialog(call, leg_a, Method::invite, nullptr, user_data_of(call, tag_hold), &extra);
  if (!call.hold_pending) {
    // Parked without hold: the party keeps sending media to the parker's phone, which ignores it.
    counters_.holds_refused.add();
    if (Call* referrer = from_ref(call.referrer)) sipfrag(*referrer, 200, true);
    report(call, ParkedEvent::held, 500);
  }
}

void CallService::hold_response(Call& call, const MessageView& response) {
  const uint16_t code = response.status_code;
  if (code < 200 || !call.hold_pending) {
    if (code >= 200 && code < 300) send_ack(call, leg_a, response.cseq.number);  // a retransmitted 2xx
    return;
  }
  call.hold_pending = false;
  if (code < 300) {
    send_ack(call, leg_a, response.cseq.number);
    if (response.contact_count > 0 && response.contacts[0].address.uri != text(call, call.legs[leg_a].remote_target))
      (void)keep(call, call.legs[leg_a].remote_target, response.contacts[0].address.uri);
  }
  Call* referrer = from_ref(call.referrer);
  if (gone_status(code)) {
    if (referrer != nullptr) sipfrag(*referrer, code, true);
    party_gone(call);
    return;
  }
  if (code >= 300) counters_.holds_refused.add();  // parked all the same, without parkd's SDP
  if (referrer != nullptr) sipfrag(*referrer, 200, true);
  report(call, ParkedEvent::held, code);
}

// ---------------------------------------------------------------------------------------------------------
// Connecting leg A to a new party (transfer target, recall): a delayed-offer INVITE forks to the party's
// devices; the answering device's offer goes to leg A in a re-INVITE, leg A's answer back in the ACK
// (RFC 3725 flow I).

void CallService::reset_leg_b(Call& call) {
  Leg& b = call.legs[leg_b];
  if (b.call_id.size != 0) {
    auto it = dialogs_.find(text(call, b.call_id));
    if (it != dialogs_.end() && it->second == (call.index << 1 | leg_b)) dialogs_.erase(it);
  }
  b = {};
  call.branch_count = 0;
  call.branches = {};
  call.winner = UINT32_MAX;
  call.best_status = 0;
  call.connect_cseq = 0;
  if (call.ring_timer.armed()) shard_->timers().cancel(call.ring_timer);
  // Compact the text area to leg A and the domain (each recall or retrieve appends a leg B).
  if (call.text_used <= call_text_bytes / 2) return;
  Leg& a = call.legs[leg_a];
  auto entry = dialogs_.find(text(call, a.call_id));
  const bool mapped = entry != dialogs_.end();
  if (mapped) dialogs_.erase(entry);
  char moved[call_text_bytes];
  uint32_t used = 0;
  auto move = [&](Text& t) {
    std::memcpy(moved + used, call.text + t.offset, t.size);
    t.offset = static_cast<uint16_t>(used);
    used += t.size;
  };
  move(call.domain);
  for (Text* t : {&a.call_id, &a.local_tag, &a.remote_tag, &a.local_uri, &a.remote_uri, &a.remote_target}) move(*t);
  for (uint32_t i = 0; i < a.route_count; ++i) move(a.routes[i]);
  std::memcpy(call.text, moved, used);
  call.text_used = used;
  if (mapped) dialogs_.emplace(text(call, a.call_id), call.index << 1 | leg_a);
}

bool CallService::connect(Call& call, uint32_t tenant, uint32_t extension, uint32_t ring_ms) {
  const tenancy::LocationTable* location = registrar_.location();
  const tenancy::BindingRange bindings =
      location != nullptr ? location->lookup(tenant, extension) : tenancy::BindingRange{};
  if (bindings.empty()) return false;
  reset_leg_b(call);
  const tenancy::TenantsConfig& config = registrar_.config();
  const tenancy::ExtensionView callee = config.extension(extension);
  const std::string_view domain = text(call, call.domain);
  char party_text[512];
  char callee_text[512];
  const auto party_extension = leg_extension(call, leg_a);
  const std::string_view party_display = party_extension ? party_extension->display_name() : std::string_view{};
  // A party of the tenant by its address-of-record, anyone else by the URI it gave (a view into the call's text,
  // which keep_name_addr copies from an earlier part of the same area).
  const std::string_view party_uri = party_extension ? sip::write_sip_uri(party_extension->number(), domain, party_text)
                                                     : uri_of(text(call, call.legs[leg_a].remote_uri));
  const std::string_view callee_uri = sip::write_sip_uri(callee.number(), domain, callee_text);
  if (party_uri.empty() || callee_uri.empty()) return false;
  Leg& b = call.legs[leg_b];
  char token[sip::token_size];
  bool ok = keep(call, b.call_id, sip::write_token(++token_counter_, token_key_, token)) &&
            keep(call, b.local_tag, sip::write_token(++token_counter_, token_key_, token)) &&
            keep_name_addr(call, b.local_uri, party_display, party_uri) &&
            keep_name_addr(call, b.remote_uri, {}, callee_uri);
  if (!ok) return false;
  b.local_cseq = 1;
  dialogs_.insert_or_assign(text(call, b.call_id), call.index << 1 | leg_b);
  call.state = CallState::connecting;
  uint32_t started = 0;
  for (tenancy::BindingView binding : bindings) {
    if (call.branch_count == config_.fork_max) break;
    const uint32_t index = call.branch_count++;
    if (start_branch(call, index, binding, nullptr)) ++started;
  }
  if (started == 0) {
    reset_leg_b(call);
    return false;
  }
  shard_->timers().schedule(call.ring_timer, shard_->now_ms() + ring_ms);
  return true;
}

void CallService::connect_response(Call& call, uint32_t branch, const MessageView& response) {
  const uint16_t code = response.status_code;
  if (call.connect_cseq != 0) {
    // A device answered already; its 2xx waits for leg A's answer before parkd ACKs it.
    if (code >= 200 && code < 300 && branch != call.connect_branch) hang_up_stray(response, call.branches[branch].flow);
    return;
  }
  if (call.branches[branch].final_status != 0 || code < 200) return;
  if (code >= 300) {
    branch_failed(call, branch, code);
    return;
  }
  Leg& b = call.legs[leg_b];
  Branch& br = call.branches[branch];
  br.final_status = code;
  bool ok =
      keep(call, b.remote_tag, response.to.tag) &&
      keep(call, b.remote_target, response.contact_count > 0 ? response.contacts[0].address.uri : response.to.uri);
  for (uint32_t i = 0; ok && i < response.record_route_count; ++i)
    ok = keep(call, b.routes[i], response.record_routes[response.record_route_count - 1 - i].raw);
  b.route_count = response.record_route_count;
  b.flow = br.flow;
  call.winner = branch;
  if (call.ring_timer.armed()) shard_->timers().cancel(call.ring_timer);
  cancel_branches(call, branch);
  // The device's offer goes to leg A. A device that answered a delayed offer without one cannot be bridged.
  Extra extra;
  extra.content_type = response.content_type;
  extra.body = response.body;
  if (!ok || response.body.empty() || response.content_type.empty() ||
      !send_in_dialog(call, leg_a, Method::invite, nullptr, user_data_of(call, tag_connect), &extra)) {
    send_ack(call, leg_b, response.cseq.number);
    (void)send_in_dialog(call, leg_b, Method::bye, nullptr, user_data_of(call, tag_bye));
    connect_failed(call, ok ? 488 : 500);
    return;
  }
  call.connect_branch = branch;
  call.connect_cseq = call.legs[leg_a].local_cseq;
}

void CallService::connect_leg_a_answer(Call& call, const MessageView& response) {
  const uint16_t code = response.status_code;
  if (code < 200) return;
  if (call.state != CallState::connecting || call.connect_cseq != response.cseq.number) {
    if (code < 300) send_ack(call, leg_a, response.cseq.number);  // a retransmission
    return;
  }
  const uint32_t b_cseq = 1;
  if (code < 300) {
    send_ack(call, leg_a, response.cseq.number);
    Extra answer;
    answer.content_type = response.content_type;
    answer.body = response.body;
    send_ack(call, leg_b, b_cseq, &answer);
    call.state = CallState::confirmed;
    call.connect_cseq = 0;
    if (call.connect_kind == ConnectKind::transfer) {
      if (Call* referrer = from_ref(call.referrer)) sipfrag(*referrer, 200, true);
      call.referrer = {};
    } else {
      counters_.recalls_answered.add();
      report(call, ParkedEvent::recall_answered, code);
      call.feature_handle = 0;
    }
    return;
  }
  // Leg A refused the new party's offer: that device is hung up again.
  send_ack(call, leg_b, b_cseq);
  (void)send_in_dialog(call, leg_b, Method::bye, nullptr, user_data_of(call, tag_bye));
  call.connect_cseq = 0;
  if (gone_status(code)) {
    party_gone(call);
    return;
  }
  connect_failed(call, code);
}

void CallService::connect_failed(Call& call, uint16_t status) {
  if (call.connect_kind == ConnectKind::transfer) {
    // Blind transfer semantics: the transferee is not given back to the referrer (who may have hung up).
    counters_.transfers_failed.add();
    if (Call* referrer = from_ref(call.referrer)) sipfrag(*referrer, status, true);
    reset_leg_b(call);
    end_call(call, 1u << leg_a);
    return;
  }
  back_to_park(call);
  report(call, ParkedEvent::recall_unanswered, status);
}

// ---------------------------------------------------------------------------------------------------------
// Retrieve, recall, hang up: what the park service asks for.

bool CallService::retrieve(CallRef ref, const InviteContext& invite, uint64_t handle) {
  Call* found = from_ref(ref);
  if (found == nullptr || found->state != CallState::parked || found->hold_pending || invite.invite == nullptr ||
      invite.from == nullptr || invite.invite->contact_count == 0)
    return false;
  Call& call = *found;
  const MessageView& m = *invite.invite;
  LegIndex existing = leg_a;
  if (find_dialog(m.call_id, existing) != nullptr) return false;
  reset_leg_b(call);
  Leg& b = call.legs[leg_b];
  char token[sip::token_size];
  // The retriever's leg: parkd is the UAS, as for leg A of an ordinary call.
  bool ok = keep(call, b.call_id, m.call_id) && keep(call, b.remote_tag, m.from.tag) &&
            keep(call, b.local_tag, sip::write_token(++token_counter_, token_key_, token)) &&
            keep_name_addr(call, b.local_uri, {}, m.to.uri) && keep_name_addr(call, b.remote_uri, {}, m.from.uri) &&
            keep(call, b.remote_target, m.contacts[0].address.uri);
  for (uint32_t i = 0; ok && i < m.record_route_count; ++i) ok = keep(call, b.routes[i], m.record_routes[i].raw);
  b.route_count = m.record_route_count;
  b.flow = *invite.from;
  if (!ok) {
    b = {};
    return false;
  }
  dialogs_.insert_or_assign(text(call, b.call_id), call.index << 1 | leg_b);
  // The parked party gets the retriever's offer; its answer goes to the retriever (retrieve_answer).
  if (!send_in_dialog(call, leg_a, Method::invite, &m, user_data_of(call, tag_relay))) {
    reset_leg_b(call);
    return false;
  }
  call.state = CallState::retrieving;
  call.feature_handle = handle;
  call.relay_server = invite.id;
  call.relay_from = leg_b;
  call.relay_method = Method::invite;
  call.relay_cseq = m.cseq.number;
  counters_.retrieves.add();
  return true;
}

void CallService::retrieve_answer(Call& call, TransactionId id, const MessageView& response) {
  const uint16_t code = response.status_code;
  if (code < 200) return;
  if (id != call.relay_client) {
    if (code < 300) send_ack(call, leg_a, response.cseq.number);
    return;
  }
  const TransactionId server = call.relay_server;
  call.relay_server = {};
  call.relay_client = {};
  Leg& a = call.legs[leg_a];
  const Leg& b = call.legs[leg_b];
  if (code < 300) {
    if (response.contact_count > 0 && response.contacts[0].address.uri != text(call, a.remote_target))
      (void)keep(call, a.remote_target, response.contacts[0].address.uri);
    layer_->respond(server, code, response.reason_phrase, text(call, b.local_tag), [&](sip::MessageWriter& w) {
      w.header(sip::HeaderId::contact, contact_of(b.flow));
      w.header(sip::HeaderId::allow, allow_value);
      sip::copy_body(response, w);
    });
    send_ack(call, leg_a, response.cseq.number);
    call.state = CallState::confirmed;
    await_ack(call, leg_b, server, call.relay_cseq);
    report(call, ParkedEvent::retrieved, code);
    call.feature_handle = 0;
    return;
  }
  counters_.retrieves_failed.add();
  layer_->respond(server, gone_status(code) ? 480 : code, gone_status(code) ? "Parked Party Unavailable" : "",
                  text(call, b.local_tag));
  if (gone_status(code)) {
    party_gone(call);
    return;
  }
  back_to_park(call);
  report(call, ParkedEvent::retrieve_failed, code);
}

bool CallService::recall(CallRef ref, uint32_t extension, uint32_t ring_ms) {
  Call* call = from_ref(ref);
  if (call == nullptr || call->state != CallState::parked || call->hold_pending) return false;
  call->connect_kind = ConnectKind::recall;
  if (!connect(*call, call->tenant, extension, ring_ms)) {
    call->state = CallState::parked;
    return false;
  }
  counters_.recalls.add();
  return true;
}

void CallService::hang_up(CallRef ref) {
  Call* call = from_ref(ref);
  if (call == nullptr) return;
  call->feature_handle = 0;
  if (call->state == CallState::connecting) cancel_branches(*call, UINT32_MAX);
  if (call->state == CallState::retrieving && call->relay_server.valid()) {
    layer_->respond(call->relay_server, 480, "Parked Party Unavailable", text(*call, call->legs[leg_b].local_tag));
    call->relay_server = {};
  }
  reset_leg_b(*call);
  end_call(*call, 1u << leg_a);
}

void CallService::back_to_park(Call& call) {
  reset_leg_b(call);
  call.state = CallState::parked;
}

void CallService::report(Call& call, ParkedEvent event, uint16_t status) {
  if (features_ != nullptr && call.feature_handle != 0)
    features_->on_parked_event(*this, call.feature_handle, event, ref_of(call), status);
}

// Leg A's party is gone (it hung up, or stopped answering): whatever was being set up for it ends too.
void CallService::party_gone(Call& call) {
  if (call.state == CallState::connecting) {
    cancel_branches(call, UINT32_MAX);
    if (call.connect_cseq != 0) {
      send_ack(call, leg_b, 1);
      (void)send_in_dialog(call, leg_b, Method::bye, nullptr, user_data_of(call, tag_bye));
    }
    if (call.connect_kind == ConnectKind::transfer)
      if (Call* referrer = from_ref(call.referrer)) sipfrag(*referrer, 487, true);
  }
  if (call.state == CallState::retrieving && call.relay_server.valid()) {
    layer_->respond(call.relay_server, 480, "Parked Party Unavailable", text(call, call.legs[leg_b].local_tag));
    call.relay_server = {};
  }
  report(call, ParkedEvent::gone, 0);
  counters_.calls_ended.add();
  free_call(call);
}

// In-dialog requests while parkd, not a phone, is the other side.
void CallService::feature_in_dialog(TransactionId id, Call& call, LegIndex leg, const MessageView& request) {
  const Leg& l = call.legs[leg];
  if (l.remote_tag.size != 0 && request.from.tag != text(call, l.remote_tag)) {
    counters_.no_dialog.add();
    layer_->respond(id, 481, "Call/Transaction Does Not Exist");
    return;
  }
  if (call.state == CallState::referrer) {
    if (request.method == Method::bye) {
      layer_->respond(id, 200);
      counters_.calls_ended.add();
      free_call(call);
      return;
    }
    layer_->respond(id, request.method == Method::info ? 200 : 481);
    return;
  }
  if (leg == leg_a && request.method == Method::bye) {
    layer_->respond(id, 200);
    party_gone(call);
    return;
  }
  if (request.method == Method::info) {
    layer_->respond(id, 200);
    return;
  }
  if (leg == leg_a && call.state == CallState::parked && !call.hold_pending &&
      (request.method == Method::invite || request.method == Method::update)) {
    // A session refresh or a new offer while parked: parkd answers with its own (held) SDP.
    char sdp[512];
    const size_t size = request.body.empty() ? 0 : build_hold_sdp(call.legs[leg_a].flow, sdp, sizeof sdp);
    layer_->respond(id, 200, {}, {}, [&](sip::MessageWriter& w) {
      w.header(sip::HeaderId::contact, contact_of(call.legs[leg_a].flow));
      if (size != 0) w.body("application/sdp", {sdp, size});
    });
    return;
  }
  counters_.glare.add();
  layer_->respond(id, 491, "Request Pending");
}

}  // namespace parkd::calls
