#include "calls/call_service.h"

#include <algorithm>
#include <cstring>

#include "calls/call_state.h"
#include "core/log.h"
#include "sip/params.h"
#include "sip/uri.h"
#include "tenancy/registrar.h"
#include "tenancy/routing.h"

namespace parkd::calls {
namespace {

using sip::MessageView;
using sip::Method;
using namespace internal;
using sip::TransactionId;

// RFC 3261 section 16.7 step 6, simplified for a B2BUA: which failure the caller hears when every branch
// failed. 6xx ends the search; "busy" beats "unavailable" beats anything else.
int failure_rank(uint16_t code) {
  if (code >= 600) return 4;
  if (code == 486) return 3;
  if (code == 480) return 2;
  return 1;
}

// What a device's failure means to the caller: a redirect, a challenge of the device's own, a timeout are
// "unavailable" (the caller can do nothing with them); 503 from a device is not parkd's overload.
uint16_t caller_status(uint16_t code) {
  if (code < 400 || code == 401 || code == 407 || code == 408) return 480;
  if (code == 503) return 500;
  return code;
}

// "<" uri ">" into out; empty when it does not fit.
std::string_view bracket(std::string_view uri, std::span<char> out) {
  if (uri.size() + 2 > out.size()) return {};
  out[0] = '<';
  std::memcpy(out.data() + 1, uri.data(), uri.size());
  out[uri.size() + 1] = '>';
  return {out.data(), uri.size() + 2};
}

}  // namespace

CallService::CallService(unsigned shard_index, const CallsShared& shared, tenancy::Registrar& registrar)
    : shard_index_(shard_index), shared_(shared), config_(shared.config), registrar_(registrar) {}

CallService::~CallService() {
  if (!calls_) return;
  for (uint32_t i = 0; i < config_.calls_max_per_shard; ++i) {
    // The wheel belongs to the shard, which outlives nothing here; disarm so the entries may be destroyed.
    if (calls_[i].ring_timer.armed() && shard_ != nullptr) shard_->timers().cancel(calls_[i].ring_timer);
    if (calls_[i].retransmit_timer.armed() && shard_ != nullptr) shard_->timers().cancel(calls_[i].retransmit_timer);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Start-up (control plane): every pool allocated here.

void CallService::on_start(Shard& shard) {
  shard_ = &shard;
  config_.fork_max = std::clamp<uint32_t>(config_.fork_max, 1, fork_max_limit);
  config_.calls_max_per_shard = std::clamp<uint32_t>(config_.calls_max_per_shard, 1, calls_per_shard_max);
  config_.transactions.token_counter_base = static_cast<uint64_t>(shard_index_) << 56;
  token_key_ = sip::random_token_key();
  token_counter_ = (static_cast<uint64_t>(shard_index_) << 56) | (uint64_t{1} << 55);  // apart from the layer's
  sink_ = std::make_unique<sip::ShardTransportSink>(shard);
  layer_ = std::make_unique<sip::TransactionLayer>(config_.transactions, shard.timers(), *sink_,
                                                   static_cast<sip::TransactionUser&>(*this));
  const uint32_t n = config_.calls_max_per_shard;
  calls_ = std::make_unique<Call[]>(n);
  text_ = std::make_unique<char[]>(static_cast<size_t>(n) * call_text_bytes);
  for (uint32_t i = 0; i < n; ++i) {
    Call& c = calls_[i];
    c.index = i;
    c.text = text_.get() + static_cast<size_t>(i) * call_text_bytes;
    c.next_free = i + 2 <= n ? i + 2 : 0;
    c.ring_timer.set_callback(&CallService::on_ring_timer);
    c.ring_timer.service = this;
    c.ring_timer.index = i;
    c.retransmit_timer.set_callback(&CallService::on_retransmit_timer);
    c.retransmit_timer.service = this;
    c.retransmit_timer.index = i;
  }
  free_head_ = 1;
  dialogs_.reserve(static_cast<size_t>(n) * 2);
  scratch_size_ = sip::message_size_max + 1;
  scratch_ = std::make_unique<char[]>(scratch_size_);
  for (const Endpoint& e : shared_.local) {
    char host[64];
    size_t size = e.host_text(host, sizeof host);
    local_hosts_.emplace_back(host, size);
    local_ports_.push_back(e.port);
    std::string hostport =
        (e.ipv6 ? "[" + local_hosts_.back() + "]" : local_hosts_.back()) + ":" + std::to_string(e.port);
    contact_udp_.push_back("<sip:" + hostport + ">");
    contact_tcp_.push_back("<sip:" + hostport + ";transport=tcp>");
  }
  if (local_hosts_.empty()) {  // a test without addresses: something valid in Via and Contact
    local_hosts_.emplace_back("127.0.0.1");
    local_ports_.push_back(5060);
    contact_udp_.emplace_back("<sip:127.0.0.1:5060>");
    contact_tcp_.emplace_back("<sip:127.0.0.1:5060;transport=tcp>");
  }
  seen_config_ = nullptr;
  remap_tenants();
}

void CallService::on_turn_end(Shard& /*shard*/) {
  remap_tenants();
  counters_.calls_live.set(live_);
}

// After a reload tenant indices change: each live call finds its tenant again by domain, and the per-tenant
// counts are rebuilt (control plane: at most once per reload).
void CallService::remap_tenants() {
  const tenancy::TenantsConfig& config = registrar_.config();
  if (&config == seen_config_) return;
  seen_config_ = &config;
  tenant_calls_.assign(config.tenant_count(), 0);
  if (!calls_) return;
  for (uint32_t i = 0; i < config_.calls_max_per_shard; ++i) {
    Call& c = calls_[i];
    if (c.state == CallState::free) continue;
    auto tenant = config.find_tenant(text(c, c.domain));
    c.tenant = tenant ? tenant->index() : UINT32_MAX;
    if (tenant) ++tenant_calls_[tenant->index()];
  }
}

// ---------------------------------------------------------------------------------------------------------
// Text area, pool, lookups.

std::string_view CallService::text(const Call& call, Text t) const { return {call.text + t.offset, t.size}; }

bool CallService::keep(Call& call, Text& out, std::string_view value) {
  if (value.size() > call_text_bytes - call.text_used) return false;
  std::memcpy(call.text + call.text_used, value.data(), value.size());
  out.offset = static_cast<uint16_t>(call.text_used);
  out.size = static_cast<uint16_t>(value.size());
  call.text_used += static_cast<uint32_t>(value.size());
  return true;
}

// `"display" <uri>` (display escaped as a quoted-string, RFC 3261 section 25.1) or `<uri>`.
bool CallService::keep_name_addr(Call& call, Text& out, std::string_view display, std::string_view uri) {
  const uint32_t start = call.text_used;
  auto put = [&](std::string_view s) {
    if (s.size() > call_text_bytes - call.text_used) return false;
    std::memcpy(call.text + call.text_used, s.data(), s.size());
    call.text_used += static_cast<uint32_t>(s.size());
    return true;
  };
  bool ok = true;
  if (!display.empty()) {
    ok = put("\"");
    for (char ch : display) {
      if (!ok) break;
      if (ch == '"' || ch == '\\') ok = put("\\");
      if (ok) ok = put(std::string_view(&ch, 1));
    }
    ok = ok && put("\" ");
  }
  ok = ok && put("<") && put(uri) && put(">");
  if (!ok) {
    call.text_used = start;
    return false;
  }
  out.offset = static_cast<uint16_t>(start);
  out.size = static_cast<uint16_t>(call.text_used - start);
  return true;
}

CallService::Call* CallService::allocate(uint32_t tenant, bool tenant_limit) {
  if (free_head_ == 0) return nullptr;
  if (tenant_limit && config_.calls_max_per_tenant != 0 && tenant < tenant_calls_.size() &&
      tenant_calls_[tenant] >= config_.calls_max_per_tenant)
    return nullptr;
  Call& c = calls_[free_head_ - 1];
  free_head_ = c.next_free;
  c.next_free = 0;
  c.state = CallState::ringing;
  c.tenant = tenant;
  c.text_used = 0;
  c.legs = {};
  c.a_invite = {};
  c.branch_count = 0;
  c.branches = {};
  c.winner = UINT32_MAX;
  c.best_status = 0;
  c.ack_wait = {};
  c.relay_server = {};
  c.relay_client = {};
  c.feature_handle = 0;
  c.hold_pending = false;
  c.referrer = {};
  if (tenant < tenant_calls_.size()) ++tenant_calls_[tenant];
  ++live_;
  return &c;
}

void CallService::free_call(Call& call) {
  if (call.state == CallState::free) return;
  TimerWheel& wheel = shard_->timers();
  if (call.ring_timer.armed()) wheel.cancel(call.ring_timer);
  if (call.retransmit_timer.armed()) wheel.cancel(call.retransmit_timer);
  for (const Leg& leg : call.legs) {
    if (leg.call_id.size == 0) continue;
    auto it = dialogs_.find(text(call, leg.call_id));
    if (it != dialogs_.end() && (it->second >> 1) == call.index) dialogs_.erase(it);
  }
  if (call.tenant < tenant_calls_.size() && tenant_calls_[call.tenant] > 0) --tenant_calls_[call.tenant];
  call.state = CallState::free;
  if (++call.generation == 0) call.generation = 1;
  call.next_free = free_head_;
  free_head_ = call.index + 1;
  --live_;
}

uint64_t CallService::user_data_of(const Call& call, uint32_t tag) {
  return (static_cast<uint64_t>(call.generation) << 32) | (static_cast<uint64_t>(tag) << 24) | call.index;
}

CallService::Call* CallService::from_user_data(uint64_t user_data, uint32_t& tag) {
  const uint32_t index = static_cast<uint32_t>(user_data & call_index_max);
  const auto generation = static_cast<uint32_t>(user_data >> 32);
  tag = static_cast<uint32_t>(user_data >> 24) & 0xFF;
  if (generation == 0 || index >= config_.calls_max_per_shard) return nullptr;
  Call& c = calls_[index];
  if (c.generation != generation || c.state == CallState::free) return nullptr;
  return &c;
}

CallService::Call* CallService::find_dialog(std::string_view call_id, LegIndex& leg) {
  auto it = dialogs_.find(call_id);
  if (it == dialogs_.end()) return nullptr;
  leg = static_cast<LegIndex>(it->second & 1);
  return &calls_[it->second >> 1];
}

std::string_view CallService::local_host(const sip::Flow& flow, uint16_t& port) const {
  size_t i = flow.transport == Transport::udp ? flow.socket : 0;
  if (i >= local_hosts_.size()) i = 0;
  port = local_ports_[i];
  return local_hosts_[i];
}

std::string_view CallService::contact_of(const sip::Flow& flow) const {
  size_t i = flow.transport == Transport::udp ? flow.socket : 0;
  if (i >= local_hosts_.size()) i = 0;
  return flow.reliable() ? contact_tcp_[i] : contact_udp_[i];
}

// ---------------------------------------------------------------------------------------------------------
// The chain: what the call layer takes, and on which shard.

bool CallService::on_request(sip::Server& server, const sip::Incoming& request) {
  switch (request.message.method) {
    case Method::invite:
    case Method::ack:
    case Method::bye:
    case Method::cancel:
    case Method::update:
    case Method::info:
    case Method::refer: break;
    default: return false;
  }
  if (layer_ == nullptr) {
    if (request.message.method != Method::ack) server.respond(request, 500, "Call layer not started");
    return true;
  }
  if (take_here(server, request)) receive(server, request);
  return true;
}

void CallService::on_response(sip::Server& server, const sip::Incoming& response) {
  if (layer_ == nullptr) return;
  if (take_here(server, response)) receive(server, response);
}

bool CallService::take_here(sip::Server& server, const sip::Incoming& incoming) {
  const MessageView& m = incoming.message;
  const bool answerable = m.is_request && m.method != Method::ack;
  const tenancy::TenantsConfig& config = registrar_.config();
  // SPEC section 3: the tenant is the host of the From URI (for leg B's messages that is the caller's
  // domain, or the callee's: the same tenant).
  sip::UriView from;
  std::optional<tenancy::TenantView> tenant;
  if (sip::parse_uri(m.from.uri, from) == sip::UriError::none && from.host_kind != sip::HostKind::none)
    tenant = config.find_tenant(from.host);
  if (!tenant) {
    counters_.unknown_domain.add();
    if (answerable) server.respond(incoming, 403, "Forbidden");
    return false;
  }
  const unsigned owner = tenancy::owner_shard(tenant->domain(), shared_.shard_count);
  if (owner != shard_index_) {
    if (incoming.shard.forward(owner, incoming.inbound)) {
      counters_.forwarded.add();
    } else {
      counters_.forward_failed.add();
      if (answerable)
        server.respond(incoming, 503, {}, [](sip::MessageWriter& w) { w.header_int(sip::HeaderId::retry_after, 1); });
    }
    return false;
  }
  current_tenant_ = tenant->index();
  return true;
}

void CallService::receive(sip::Server& server, const sip::Incoming& incoming) {
  const MessageView& m = incoming.message;
  auto received = layer_->receive(incoming.inbound.data, m, sip::flow_of(incoming.inbound));
  if (received) return;
  counters_.transaction_errors.add();
  if (!m.is_request || m.method == Method::ack) return;
  const sip::TransactionError error = received.error();
  if ((error == sip::TransactionError::table_full || error == sip::TransactionError::no_buffer) &&
      m.method == Method::bye && !m.to.tag.empty()) {
    // A BYE must end its call even when no transaction can be had for it: answered 200 statelessly (its
    // retransmission gets another 200), the other leg hung up if a transaction can be had for that BYE, and
    // the call freed. Refusing it would leave a confirmed call that nothing ever ends.
    LegIndex leg = leg_a;
    Call* call = find_dialog(m.call_id, leg);
    if (call != nullptr && m.to.tag == text(*call, call->legs[leg].local_tag)) {
      server.respond(incoming, 200);
      counters_.stateless_byes.add();
      if (call->state == CallState::confirmed) {
        end_call(*call, static_cast<uint8_t>(1u << (leg == leg_a ? leg_b : leg_a)));
      } else if (call->state == CallState::parked || call->state == CallState::connecting ||
                 call->state == CallState::retrieving) {
        if (leg == leg_a) party_gone(*call);
      } else if (call->state == CallState::referrer) {
        counters_.calls_ended.add();
        free_call(*call);
      }
      return;
    }
  }
  if (error == sip::TransactionError::table_full || error == sip::TransactionError::no_buffer) {
    server.respond(incoming, 503, {}, [](sip::MessageWriter& w) { w.header_int(sip::HeaderId::retry_after, 1); });
  } else if (error == sip::TransactionError::message_too_large) {
    server.respond(incoming, 513);
  } else {
    server.respond(incoming, 400, sip::transaction_error_text(error));
  }
}

// ---------------------------------------------------------------------------------------------------------
// Requests.

void CallService::on_request(TransactionId id, const MessageView& request, const sip::Flow& from) {
  if (request.method == Method::ack) {
    dialog_ack(request);
    return;
  }
  if (!request.to.tag.empty()) {
    in_dialog(id, request, from);
    return;
  }
  if (request.method == Method::invite) {
    new_call(id, request, from);
    return;
  }
  counters_.no_dialog.add();
  layer_->respond(id, 481, "Call/Transaction Does Not Exist");
}

void CallService::new_call(TransactionId id, const MessageView& m, const sip::Flow& from) {
  counters_.invites.add();
  const tenancy::TenantsConfig& config = registrar_.config();
  const tenancy::TenantView tenant = config.tenant(current_tenant_);
  sip::Authenticator* authenticator = registrar_.authenticator();
  const uint64_t now = shard_->now_ms();
  if (authenticator == nullptr) {
    layer_->respond(id, 500, "Digest unavailable");
    return;
  }
  sip::FailureThrottle& throttle = registrar_.throttle();
  if (throttle.blocked(from.peer, now)) {
    layer_->respond(id, 403, "Forbidden");
    return;
  }
  sip::UriView from_uri;
  (void)sip::parse_uri(m.from.uri, from_uri);  // parsed by take_here
  const auto caller = config.find_extension(tenant.index(), from_uri.user);
  // SPEC section 3: 407 with Proxy-Authenticate; an unknown caller is challenged like a known one.
  const tenancy::DigestCredentials credentials(caller);
  const uint8_t algorithms = credentials.algorithms();
  auto challenge = [&](bool stale) {
    counters_.challenged.add();
    layer_->respond(id, 407, {}, {}, [&](sip::MessageWriter& w) {
      authenticator->write_challenges(w, sip::HeaderId::proxy_authenticate, tenant.domain(), algorithms, stale, now);
    });
  };
  if (!m.proxy_authorization.present) {
    challenge(false);
    return;
  }
  const sip::AuthResult result =
      authenticator->verify(m.proxy_authorization, m.method_text, tenant.domain(), credentials.stored(), now);
  if (result != sip::AuthResult::ok) {
    if (sip::auth_counts_as_failure(result)) {
      counters_.auth_failures.add();
      throttle.record_failure(from.peer, now);
    }
    challenge(result == sip::AuthResult::stale_nonce);
    return;
  }
  if (m.proxy_authorization.username != from_uri.user) {
    // One extension's credentials calling as another: the callee would see a false identity.
    layer_->respond(id, 403, "Forbidden");
    return;
  }
  throttle.record_success(from.peer);

  sip::UriView target;
  if (sip::parse_uri(m.request_uri, target) != sip::UriError::none || target.user.empty() ||
      !sip::iequals(target.host, tenant.domain())) {
    counters_.not_found.add();
    layer_->respond(id, 404, "Not Found");
    return;
  }
  const auto callee = config.find_extension(tenant.index(), target.user);
  if (!callee) {
    // Not an extension: a feature code of the layer above (retrieve), or nobody.
    uint16_t status = 0;
    if (features_ != nullptr && m.contact_count > 0) {
      InviteContext context{tenant.index(), tenant.domain(), caller->number(), &target, id, &m, &from};
      status = features_->on_invite(*this, context);
    }
    if (status == 1) return;
    if (status == 0) counters_.not_found.add();
    layer_->respond(id, status == 0 ? 404 : status);
    return;
  }
  const tenancy::LocationTable* location = registrar_.location();
  const tenancy::BindingRange bindings =
      location != nullptr ? location->lookup(tenant.index(), callee->index()) : tenancy::BindingRange{};
  if (bindings.empty()) {
    counters_.unavailable.add();
    layer_->respond(id, 480, "Temporarily Unavailable");
    return;
  }
  if (m.contact_count == 0) {
    layer_->respond(id, 400, "Missing Contact");
    return;
  }
  LegIndex existing_leg = leg_a;
  if (find_dialog(m.call_id, existing_leg) != nullptr) {
    layer_->respond(id, 482, "Loop Detected");  // RFC 3261 section 8.2.2.2: a merged request
    return;
  }
  Call* call = allocate(tenant.index());
  if (call == nullptr) {
    counters_.limit_reached.add();
    refuse_too_many_calls(id);
    return;
  }
  Call& c = *call;
  c.a_invite = id;
  c.a_invite_cseq = m.cseq.number;
  Leg& a = c.legs[leg_a];
  Leg& b = c.legs[leg_b];
  char token[sip::token_size];
  char caller_text[512];
  char callee_text[512];
  const std::string_view caller_uri = sip::write_sip_uri(caller->number(), tenant.domain(), caller_text);
  const std::string_view callee_uri = sip::write_sip_uri(callee->number(), tenant.domain(), callee_text);
  bool ok = !caller_uri.empty() && !callee_uri.empty() && keep(c, c.domain, tenant.domain());
  // Leg A: parkd is the UAS (RFC 3261 section 12.1.1): the route set is the Record-Route list in order.
  ok = ok && keep(c, a.call_id, m.call_id) && keep(c, a.remote_tag, m.from.tag) &&
       keep(c, a.local_tag, sip::write_token(++token_counter_, token_key_, token)) &&
       keep_name_addr(c, a.local_uri, {}, m.to.uri) && keep_name_addr(c, a.remote_uri, {}, m.from.uri) &&
       keep(c, a.remote_target, m.contacts[0].address.uri);
  for (uint32_t i = 0; ok && i < m.record_route_count; ++i) ok = keep(c, a.routes[i], m.record_routes[i].raw);
  a.route_count = m.record_route_count;
  a.flow = from;
  // Leg B: parkd is the UAC; the caller's identity (the tenants file's display name and number) reaches the
  // callee.
  ok = ok && keep(c, b.call_id, sip::write_token(++token_counter_, token_key_, token)) &&
       keep(c, b.local_tag, sip::write_token(++token_counter_, token_key_, token)) &&
       keep_name_addr(c, b.local_uri, caller->display_name(), caller_uri) &&
       keep_name_addr(c, b.remote_uri, {}, callee_uri);
  b.local_cseq = 1;
  if (!ok) {
    free_call(c);
    layer_->respond(id, 500, "Call State Too Large");
    return;
  }
  dialogs_.emplace(text(c, a.call_id), c.index << 1 | leg_a);
  dialogs_.emplace(text(c, b.call_id), c.index << 1 | leg_b);
  counters_.calls_started.add();
  uint32_t started = 0;
  for (tenancy::BindingView binding : bindings) {
    if (c.branch_count == config_.fork_max) break;
    const uint32_t index = c.branch_count++;
    if (start_branch(c, index, binding, &m)) ++started;
  }
  if (started == 0) {
    counters_.calls_failed.add();
    respond_a(c, 503, "No Branch Could Be Started", nullptr);
    free_call(c);
    return;
  }
  shard_->timers().schedule(c.ring_timer, shard_->now_ms() + config_.ring_timeout_ms);
}

bool CallService::start_branch(Call& call, uint32_t index, const tenancy::BindingView& binding,
                               const MessageView* invite) {
  Branch& branch = call.branches[index];
  const tenancy::Flow f = binding.flow();
  branch.flow = sip::Flow{f.transport, f.source, f.transport == Transport::udp ? f.socket_index : f.connection_id};
  const Leg& b = call.legs[leg_b];
  uint16_t port = 0;
  const std::string_view host = local_host(branch.flow, port);
  char token[sip::token_size];
  sip::RequestParams p;
  p.method = "INVITE";
  p.request_uri = binding.contact_uri();
  p.via_transport = branch.flow.reliable() ? "TCP" : "UDP";
  p.via_host = host;
  p.via_port = port;
  p.branch_suffix = sip::write_token(++token_counter_, token_key_, token);
  p.from = text(call, b.local_uri);
  p.from_tag = text(call, b.local_tag);
  p.to = text(call, b.remote_uri);
  p.call_id = text(call, b.call_id);
  p.cseq = 1;
  p.contact = contact_of(branch.flow);
  sip::MessageWriter w(scratch_.get(), scratch_size_);
  sip::build_request(p, w);
  w.header(sip::HeaderId::allow, allow_value);
  if (invite != nullptr) sip::copy_body(*invite, w);  // SDP unchanged; none: a delayed offer (3PCC)
  auto size = w.finish();
  if (!size) {
    branch.final_status = 500;
    return false;
  }
  auto started = layer_->start_client({scratch_.get(), *size}, branch.flow, user_data_of(call, index));
  if (!started) {
    counters_.transaction_errors.add();
    branch.final_status = 503;
    return false;
  }
  branch.invite = *started;
  counters_.branches_started.add();
  return true;
}

void CallService::dialog_ack(const MessageView& ack) {
  LegIndex leg = leg_a;
  Call* call = find_dialog(ack.call_id, leg);
  if (call == nullptr || !call->ack_wait.valid() || leg != call->ack_wait_leg || ack.cseq.number != call->ack_wait_cseq)
    return;  // an ACK parkd has no use for (a retransmission, or for a 2xx already acknowledged)
  layer_->acknowledged(call->ack_wait);  // the INVITE's transaction only absorbs retransmissions now
  call->ack_wait = {};
  if (call->retransmit_timer.armed()) shard_->timers().cancel(call->retransmit_timer);
}

void CallService::in_dialog(TransactionId id, const MessageView& request, const sip::Flow& /*from*/) {
  LegIndex leg = leg_a;
  Call* found = find_dialog(request.call_id, leg);
  if (found == nullptr || request.to.tag != text(*found, found->legs[leg].local_tag) ||
      (found->state == CallState::confirmed && request.from.tag != text(*found, found->legs[leg].remote_tag))) {
    counters_.no_dialog.add();
    layer_->respond(id, 481, "Call/Transaction Does Not Exist");
    return;
  }
  Call& call = *found;
  if (call.state != CallState::ringing && call.state != CallState::confirmed) {
    feature_in_dialog(id, call, leg, request);
    return;
  }
  if (call.state == CallState::ringing) {
    if (leg == leg_a && request.method == Method::bye) {
      // A BYE on the early dialog: the caller gives up, like a CANCEL.
      layer_->respond(id, 200);
      counters_.calls_cancelled.add();
      respond_a(call, 487, {}, nullptr);
      cancel_branches(call, UINT32_MAX);
      free_call(call);
      return;
    }
    layer_->respond(id, leg == leg_a ? 491 : 481);
    return;
  }
  const LegIndex other = leg == leg_a ? leg_b : leg_a;
  if (request.method == Method::bye) {
    layer_->respond(id, 200);
    end_call(call, static_cast<uint8_t>(1u << other));
    return;
  }
  if (request.method == Method::refer) {
    refer(id, call, leg, request);
    return;
  }
  // re-INVITE, UPDATE, INFO: relayed to the other leg, its answer relayed back. One at a time per call.
  if (call.relay_server.valid() || call.ack_wait.valid()) {
    counters_.glare.add();
    layer_->respond(id, 491, "Request Pending");
    return;
  }
  // Target refresh (RFC 3261 section 12.2.2): a re-INVITE or UPDATE may carry a new Contact.
  Leg& from_leg = call.legs[leg];
  if (request.contact_count > 0 && request.contacts[0].address.uri != text(call, from_leg.remote_target))
    (void)keep(call, from_leg.remote_target, request.contacts[0].address.uri);
  if (!send_in_dialog(call, other, request.method, &request, user_data_of(call, tag_relay))) {
    layer_->respond(id, 500, "Relay Failed");
    return;
  }
  counters_.relayed_requests.add();
  call.relay_server = id;
  call.relay_from = leg;
  call.relay_method = request.method;
  call.relay_cseq = request.cseq.number;
}

void CallService::on_cancel(TransactionId invite, const MessageView& cancel) {
  LegIndex leg = leg_a;
  Call* call = find_dialog(cancel.call_id, leg);
  if (call != nullptr && call->state == CallState::ringing && call->a_invite == invite) {
    counters_.calls_cancelled.add();
    respond_a(*call, 487, {}, nullptr);
    cancel_branches(*call, UINT32_MAX);
    free_call(*call);
    return;
  }
  if (call != nullptr && call->state == CallState::retrieving && call->relay_server == invite) {
    layer_->respond(invite, 487, {}, text(*call, call->legs[leg_b].local_tag));
    (void)layer_->cancel(call->relay_client);
    call->relay_server = {};
    call->relay_client = {};
    back_to_park(*call);
    report(*call, ParkedEvent::retrieve_failed, 487);
    return;
  }
  layer_->respond(invite, 487);
  if (call != nullptr && call->relay_server == invite) {
    (void)layer_->cancel(call->relay_client);
    call->relay_server = {};
  }
}

// ---------------------------------------------------------------------------------------------------------
// Responses.

void CallService::on_response(TransactionId id, const MessageView& response, const sip::Flow& from) {
  const bool invite_2xx =
      response.cseq.method == Method::invite && response.status_code >= 200 && response.status_code < 300;
  if (!id.valid()) {
    if (invite_2xx) hang_up_stray(response, from);
    return;
  }
  if (layer_->method(id) == Method::cancel) return;  // a CANCEL's answer: its INVITE's answer is what counts
  const uint64_t user_data = layer_->user_data(id);
  if (is_cookie(user_data)) {
    if (response.status_code >= 200 && features_ != nullptr)
      features_->on_out_of_dialog_answer(*this, cookie_of(user_data), response.status_code);
    return;
  }
  uint32_t tag = 0;
  Call* call = from_user_data(user_data, tag);
  if (call == nullptr) {
    if (invite_2xx) hang_up_stray(response, from);
    return;
  }
  if (tag < fork_max_limit) {
    branch_response(*call, tag, response);
  } else if (tag == tag_relay) {
    if (call->state == CallState::retrieving) {
      retrieve_answer(*call, id, response);
    } else {
      relay_response(*call, id, response);
    }
  } else if (tag == tag_hold) {
    hold_response(*call, response);
  } else if (tag == tag_connect) {
    connect_leg_a_answer(*call, response);
  }
}

void CallService::branch_response(Call& call, uint32_t branch, const MessageView& response) {
  const uint16_t code = response.status_code;
  if (call.state == CallState::connecting) {
    connect_response(call, branch, response);
    return;
  }
  if (call.state == CallState::confirmed) {
    if (code < 200 || code >= 300) return;
    if (branch == call.winner) {
      send_ack(call, leg_b, 1);  // our ACK was lost: the device retransmits its 2xx
    } else {
      hang_up_stray(response, call.branches[branch].flow);  // answered although cancelled
    }
    return;
  }
  if (call.state != CallState::ringing || call.branches[branch].final_status != 0) return;
  if (code == 100) return;
  if (code < 200) {
    respond_a(call, code, response.reason_phrase, &response);  // 180 / 183 with early media SDP
    return;
  }
  if (code < 300) {
    answer(call, branch, response);
    return;
  }
  branch_failed(call, branch, code);
}

void CallService::branch_failed(Call& call, uint32_t branch, uint16_t code) {
  call.branches[branch].final_status = code;
  const uint16_t status = caller_status(code);
  if (call.best_status == 0 || failure_rank(status) > failure_rank(call.best_status)) call.best_status = status;
  bool open = false;
  if (code >= 600) {
    cancel_branches(call, branch);  // RFC 3261 section 16.7: a 6xx ends the search
  } else {
    for (uint32_t i = 0; i < call.branch_count; ++i) open = open || call.branches[i].final_status == 0;
  }
  if (open) return;
  if (call.state == CallState::connecting) {
    connect_failed(call, call.best_status);
    return;
  }
  counters_.calls_failed.add();
  respond_a(call, call.best_status, {}, nullptr);
  free_call(call);
}

void CallService::answer(Call& call, uint32_t branch, const MessageView& response) {
  Leg& b = call.legs[leg_b];
  Branch& br = call.branches[branch];
  br.final_status = response.status_code;
  // Leg B's dialog (RFC 3261 section 12.1.2): the route set is the Record-Route list in reverse.
  bool ok =
      keep(call, b.remote_tag, response.to.tag) &&
      keep(call, b.remote_target, response.contact_count > 0 ? response.contacts[0].address.uri : response.to.uri);
  for (uint32_t i = 0; ok && i < response.record_route_count; ++i)
    ok = keep(call, b.routes[i], response.record_routes[response.record_route_count - 1 - i].raw);
  b.route_count = response.record_route_count;
  b.flow = br.flow;
  if (!ok) {
    hang_up_stray(response, br.flow);
    cancel_branches(call, UINT32_MAX);
    counters_.calls_failed.add();
    respond_a(call, 500, "Call State Too Large", nullptr);
    free_call(call);
    return;
  }
  call.winner = branch;
  call.state = CallState::confirmed;
  if (call.ring_timer.armed()) shard_->timers().cancel(call.ring_timer);
  counters_.calls_answered.add();
  send_ack(call, leg_b, 1);
  cancel_branches(call, branch);
  respond_a(call, response.status_code, response.reason_phrase, &response);
  await_ack(call, leg_a, call.a_invite, call.a_invite_cseq);
}

void CallService::relay_response(Call& call, TransactionId id, const MessageView& response) {
  const uint16_t code = response.status_code;
  if (code < 200) return;  // provisional answers to a re-INVITE mean nothing to the other side
  const LegIndex answering = call.relay_from == leg_a ? leg_b : leg_a;
  if (id != call.relay_client) {
    // The relay was cancelled meanwhile; a 2xx to a re-INVITE still needs its ACK.
    if (code < 300 && response.cseq.method == Method::invite) send_ack(call, answering, response.cseq.number);
    return;
  }
  const TransactionId server = call.relay_server;
  const Method method = call.relay_method;
  call.relay_server = {};
  call.relay_client = {};
  Leg& answering_leg = call.legs[answering];
  if (code < 300 && response.contact_count > 0 &&
      response.contacts[0].address.uri != text(call, answering_leg.remote_target))
    (void)keep(call, answering_leg.remote_target, response.contacts[0].address.uri);
  const sip::Flow& back = call.legs[call.relay_from].flow;
  layer_->respond(server, code, response.reason_phrase, {}, [&](sip::MessageWriter& w) {
    if (code < 300 && (method == Method::invite || method == Method::update))
      w.header(sip::HeaderId::contact, contact_of(back));
    sip::copy_body(response, w);
  });
  if (method == Method::invite && code < 300) {
    send_ack(call, answering, response.cseq.number);
    await_ack(call, call.relay_from, server, call.relay_cseq);
  }
}

void CallService::on_timeout(TransactionId id) {
  const uint64_t user_data = layer_->user_data(id);
  if (is_cookie(user_data)) {
    if (features_ != nullptr) features_->on_out_of_dialog_answer(*this, cookie_of(user_data), 0);
    return;
  }
  uint32_t tag = 0;
  Call* call = from_user_data(user_data, tag);
  if (call == nullptr) {
    if (layer_->method(id) == Method::bye) counters_.leg_timeouts.add();  // the call has ended already
    return;
  }
  if (layer_->method(id) == Method::cancel) return;  // the INVITE's own timer ends that branch
  counters_.leg_timeouts.add();
  if (tag < fork_max_limit) {
    if ((call->state == CallState::ringing || call->state == CallState::connecting) &&
        call->branches[tag].final_status == 0)
      branch_failed(*call, tag, 408);
    return;
  }
  if (tag == tag_hold || tag == tag_connect) {
    party_gone(*call);  // the parked (or transferred) party stopped answering
    return;
  }
  if (tag == tag_relay && id == call->relay_client && call->state == CallState::retrieving) {
    layer_->respond(call->relay_server, 480, "Parked Party Unavailable", text(*call, call->legs[leg_b].local_tag));
    call->relay_server = {};
    party_gone(*call);
    return;
  }
  if (tag == tag_relay && id == call->relay_client) {
    // The other leg stopped answering mid-call: the call is over for both.
    layer_->respond(call->relay_server, 408, "Request Timeout");
    call->relay_server = {};
    end_call(*call, 1u << leg_a | 1u << leg_b);
  }
}

void CallService::on_transport_error(TransactionId id) { on_timeout(id); }

void CallService::on_terminated(TransactionId /*id*/) {}

// ---------------------------------------------------------------------------------------------------------
// Sending.

size_t CallService::build_in_dialog(Call& call, LegIndex leg, Method method, uint32_t cseq,
                                    const MessageView* copy_from, const Extra* extra) {
  const Leg& l = call.legs[leg];
  std::array<std::string_view, sip::route_count_max> routes;
  for (uint32_t i = 0; i < l.route_count; ++i) routes[i] = text(call, l.routes[i]);
  uint16_t port = 0;
  const std::string_view host = local_host(l.flow, port);
  char token[sip::token_size];
  sip::RequestParams p;
  p.method = sip::method_name(method);
  p.request_uri = text(call, l.remote_target);
  p.via_transport = l.flow.reliable() ? "TCP" : "UDP";
  p.via_host = host;
  p.via_port = port;
  p.branch_suffix = sip::write_token(++token_counter_, token_key_, token);
  p.from = text(call, l.local_uri);
  p.from_tag = text(call, l.local_tag);
  p.to = text(call, l.remote_uri);
  p.to_tag = text(call, l.remote_tag);
  p.call_id = text(call, l.call_id);
  p.cseq = cseq;
  p.route_set = {routes.data(), l.route_count};
  if (method == Method::invite || method == Method::update) p.contact = contact_of(l.flow);
  sip::MessageWriter w(scratch_.get(), scratch_size_);
  sip::build_request(p, w);
  if (copy_from != nullptr) {
    sip::copy_headers(*copy_from, sip::dialog_headers, w);
    sip::copy_body(*copy_from, w);
  } else if (extra != nullptr) {
    if (!extra->event.empty()) w.header(sip::HeaderId::event, extra->event);
    if (!extra->subscription_state.empty()) w.header(sip::HeaderId::subscription_state, extra->subscription_state);
    if (!extra->body.empty()) w.body(extra->content_type, extra->body);
  }
  auto size = w.finish();
  return size ? *size : 0;
}

bool CallService::send_in_dialog(Call& call, LegIndex leg, Method method, const MessageView* copy_from,
                                 uint64_t user_data, const Extra* extra) {
  Leg& l = call.legs[leg];
  const size_t size = build_in_dialog(call, leg, method, ++l.local_cseq, copy_from, extra);
  if (size == 0) return false;
  auto started = layer_->start_client({scratch_.get(), size}, l.flow, user_data);
  if (!started) {
    counters_.transaction_errors.add();
    return false;
  }
  if (user_data == user_data_of(call, tag_relay)) call.relay_client = *started;
  return true;
}

void CallService::send_ack(Call& call, LegIndex leg, uint32_t cseq, const Extra* extra) {
  const size_t size = build_in_dialog(call, leg, Method::ack, cseq, nullptr, extra);
  if (size != 0) (void)layer_->send_stateless({scratch_.get(), size}, call.legs[leg].flow);
}

void CallService::hang_up_stray(const MessageView& response, const sip::Flow& from) {
  counters_.stray_2xx.add();
  char from_buffer[1024];
  char to_buffer[1024];
  const std::string_view from_addr = bracket(response.from.uri, from_buffer);
  const std::string_view to_addr = bracket(response.to.uri, to_buffer);
  if (from_addr.empty() || to_addr.empty() || response.from.tag.empty() || response.to.tag.empty()) return;
  std::array<std::string_view, sip::route_count_max> routes;
  for (uint32_t i = 0; i < response.record_route_count; ++i)
    routes[i] = response.record_routes[response.record_route_count - 1 - i].raw;
  uint16_t port = 0;
  const std::string_view host = local_host(from, port);
  for (Method method : {Method::ack, Method::bye}) {
    char token[sip::token_size];
    sip::RequestParams p;
    p.method = sip::method_name(method);
    p.request_uri = response.contact_count > 0 ? response.contacts[0].address.uri : response.to.uri;
    p.via_transport = from.reliable() ? "TCP" : "UDP";
    p.via_host = host;
    p.via_port = port;
    p.branch_suffix = sip::write_token(++token_counter_, token_key_, token);
    p.from = from_addr;
    p.from_tag = response.from.tag;
    p.to = to_addr;
    p.to_tag = response.to.tag;
    p.call_id = response.call_id;
    p.cseq = method == Method::ack ? response.cseq.number : response.cseq.number + 1;
    p.route_set = {routes.data(), response.record_route_count};
    sip::MessageWriter w(scratch_.get(), scratch_size_);
    sip::build_request(p, w);
    auto size = w.finish();
    if (!size) return;
    if (method == Method::ack) {
      (void)layer_->send_stateless({scratch_.get(), *size}, from);
    } else {
      (void)layer_->start_client({scratch_.get(), *size}, from, 0);
    }
  }
}

void CallService::cancel_branches(Call& call, uint32_t except) {
  for (uint32_t i = 0; i < call.branch_count; ++i) {
    Branch& br = call.branches[i];
    if (i == except || br.final_status != 0) continue;
    br.final_status = 487;
    if (br.invite.valid()) (void)layer_->cancel(br.invite);
  }
}

// The pool or the tenant's share of it is full: the phone may try again shortly.
void CallService::refuse_too_many_calls(TransactionId id) {
  layer_->respond(id, 503, "Too Many Calls", {},
                  [](sip::MessageWriter& w) { w.header_int(sip::HeaderId::retry_after, 5); });
}

void CallService::respond_a(Call& call, uint16_t code, std::string_view reason, const MessageView* body_from) {
  const Leg& a = call.legs[leg_a];
  const sip::TransactionError error =
      layer_->respond(call.a_invite, code, reason, text(call, a.local_tag), [&](sip::MessageWriter& w) {
        if (code > 100 && code < 300) {
          w.header(sip::HeaderId::contact, contact_of(a.flow));
          w.header(sip::HeaderId::allow, allow_value);
        }
        if (body_from != nullptr) sip::copy_body(*body_from, w);
      });
  if (error != sip::TransactionError::none) counters_.transaction_errors.add();
}

void CallService::end_call(Call& call, uint8_t legs) {
  for (LegIndex leg : {leg_a, leg_b})
    if ((legs & (1u << leg)) != 0) (void)send_in_dialog(call, leg, Method::bye, nullptr, user_data_of(call, tag_bye));
  counters_.calls_ended.add();
  free_call(call);
}

void CallService::await_ack(Call& call, LegIndex leg, TransactionId id, uint32_t cseq) {
  const sip::TransactionConfig& t = layer_->config();
  call.ack_wait = id;
  call.ack_wait_leg = leg;
  call.ack_wait_cseq = cseq;
  call.retransmit_interval_ms = t.t1_ms;
  const uint64_t now = shard_->now_ms();
  call.ack_deadline_ms = now + 64ull * t.t1_ms;
  // RFC 3261 section 13.3.1.4: over UDP the 2xx is sent again at T1, 2*T1, ... up to T2 until the ACK;
  // over TCP only the deadline matters.
  const uint64_t next = call.legs[leg].flow.reliable() ? call.ack_deadline_ms : now + t.t1_ms;
  TimerWheel& wheel = shard_->timers();
  if (call.retransmit_timer.armed()) wheel.cancel(call.retransmit_timer);
  wheel.schedule(call.retransmit_timer, next);
}

void CallService::on_ring_timer(TimerEntry& entry) {
  auto& timer = static_cast<CallTimer&>(entry);
  CallService& self = *timer.service;
  Call& call = self.calls_[timer.index];
  if (call.state == CallState::connecting) {
    self.counters_.ring_timeouts.add();
    self.cancel_branches(call, UINT32_MAX);
    self.connect_failed(call, 480);
    return;
  }
  if (call.state == CallState::referrer) {
    self.end_call(call, 1u << leg_a);  // the referrer did not hang up by itself (SPEC section 6: 32 s)
    return;
  }
  if (call.state != CallState::ringing) return;
  self.counters_.ring_timeouts.add();
  self.cancel_branches(call, UINT32_MAX);
  self.respond_a(call, 480, "No Answer", nullptr);
  self.free_call(call);
}

void CallService::on_retransmit_timer(TimerEntry& entry) {
  auto& timer = static_cast<CallTimer&>(entry);
  CallService& self = *timer.service;
  Call& call = self.calls_[timer.index];
  if (call.state != CallState::confirmed || !call.ack_wait.valid()) return;
  const uint64_t now = self.shard_->now_ms();
  if (now >= call.ack_deadline_ms) {
    // No ACK within 64*T1: the dialog is ended with a BYE (RFC 3261 section 13.3.1.4), on both legs.
    self.counters_.ack_timeouts.add();
    self.end_call(call, 1u << leg_a | 1u << leg_b);
    return;
  }
  (void)self.layer_->retransmit_response(call.ack_wait);
  const sip::TransactionConfig& t = self.layer_->config();
  call.retransmit_interval_ms = std::min(call.retransmit_interval_ms * 2, t.t2_ms);
  self.shard_->timers().schedule(call.retransmit_timer,
                                 std::min<uint64_t>(now + call.retransmit_interval_ms, call.ack_deadline_ms));
}

}  // namespace parkd::calls
