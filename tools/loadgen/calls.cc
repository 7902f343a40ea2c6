// Scenario "calls": whole calls through the server, both ends played by the load generator.
//
// Slot k owns two users for the whole run: its callee (user Engine::user_index_of_slot(k), so no two slots
// share one) and its caller (another user of the callee's domain, UserSource::same_domain_partner). Before the
// measured run, the setup phase registers every slot's callee once, with
//   Contact: <sip:<ext>@<bind address>;lg=<k>>
// No port in it: the Contact is the same in every run, so a new process refreshes the binding instead of
// adding a second one that would be rung too. The server reaches the device at the address the REGISTER came
// from (parkd: its flow, SPEC section 4; Kamailio: nathelper's fix_nated_register, bench/kamailio/calls.cfg),
// and the Request-URI it sends carries ";lg=k", which brings the INVITE to slot k.
//
// One call (one transaction of the engine):
//   caller (slot k)                server                      callee (slot k)
//   INVITE, SDP offer ----------->
//                 <-------------- 407 Proxy-Authenticate (or 401 WWW-Authenticate)
//   ACK of the 407 -------------->  (same branch: it ends the INVITE's server transaction)
//   INVITE + credentials, CSeq 2 ->
//                                   INVITE ----------------------> Request-URI ;lg=k, SDP checked
//                                          <---------------------- 180, then 200 with the SDP answer
//                 <-------------- 180, 200                         (one To tag; Record-Route copied)
//   ACK (route set, target) ----->  ACK ------------------------->
//   BYE ------------------------->  BYE ------------------------->
//                 <-------------- 200     <---------------------- 200
// The call completes when both legs are over: the caller has the 200 to its BYE and the callee has had its BYE
// (parkd answers the caller's BYE before it sends its own to the callee; a proxy relays the callee's 200). What
// is timed is the call's setup: from the first INVITE sent to the 200 received. The call is held for no time
// (a benchmark of call setup and tear-down).
//
// Nothing is retransmitted; an INVITE or BYE unanswered for --timeout-ms loses the call. A final failure to an
// INVITE is ACKed (RFC 3261 section 17.1.1.3) and fails the call with its status. Requests the callee cannot
// place (a slot that is in no call, or an INVITE whose SDP names another call: the o= session id is the call's
// transaction id) get 480 and count as stray; a BYE always gets 200 (one for no current call counts as stray).
// The callee's BYE is awaited with --timeout-ms like a response (Engine::await_request).
#include <string>
#include <vector>

#include "sip/parser.h"
#include "tools/loadgen/client_auth.h"
#include "tools/loadgen/digest.h"
#include "tools/loadgen/engine.h"
#include "tools/loadgen/scenario.h"
#include "tools/loadgen/users.h"
#include "tools/loadgen/writer.h"

namespace parkd::loadgen {
namespace {

constexpr std::string_view allow_line = "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS\r\n";

class CallsScenario final : public Scenario {
 public:
  std::string_view name() const override { return "calls"; }

  uint64_t slot_limit(const UserSource& users, uint32_t threads) const override { return users.size() / threads; }

  bool prepare(Engine& engine, uint32_t slot_count, std::string& error) override {
    state_.assign(slot_count, SlotState{});
    const UserSource& users = engine.users();
    for (uint32_t k = 0; k < slot_count; ++k) {
      SlotState& s = state_[k];
      s.callee = engine.user_index_of_slot(k);
      s.caller = users.same_domain_partner(s.callee);
      if (s.caller == s.callee) {
        error = "every domain needs two users at least (a caller and a callee); --extensions gives one";
        return false;
      }
    }
    return true;
  }

  bool has_setup() const override { return true; }

  void on_setup(Engine& engine, Slot& slot) override {
    SlotState& s = state_[slot.index];
    s.step = Step::register_open;
    send_register(engine, slot, nullptr);
  }

  void on_start(Engine& engine, Slot& slot) override {
    SlotState& s = state_[slot.index];
    s.step = Step::invite_open;
    s.invite_cseq = 1;
    s.setup_ns = 0;
    s.caller_bye_ok = false;
    s.callee_bye = false;
    send_invite(engine, slot, nullptr, 0);
  }

  void on_response(Engine& engine, Slot& slot, const sip::MessageView& response) override {
    SlotState& s = state_[slot.index];
    const uint16_t code = response.status_code;
    switch (s.step) {
      case Step::register_open:
      case Step::register_authenticated: {
        if (code < 300) {
          engine.complete(slot);
          return;
        }
        DigestChallenge challenge;
        if (code != 401 || s.step != Step::register_open ||
            !choose_challenge(response, sip::HeaderId::www_authenticate, challenge)) {
          engine.fail(slot, code);
          return;
        }
        s.step = Step::register_authenticated;
        send_register(engine, slot, &challenge);
        return;
      }
      case Step::invite_open:
      case Step::invite_authenticated: on_invite_response(engine, slot, response); return;
      case Step::bye:
        if (code >= 300) {
          engine.fail(slot, code);
        } else if (s.callee_bye) {
          engine.complete(slot, s.setup_ns);
        } else {
          s.caller_bye_ok = true;
          engine.await_request(slot);  // the callee's BYE
        }
        return;
    }
  }

  void on_request(Engine& engine, Slot* slot, uint32_t socket, const sip::MessageView& request) override {
    switch (request.method) {
      case sip::Method::invite: on_callee_invite(engine, slot, socket, request); return;
      case sip::Method::ack: return;  // parkd's ACK of the callee's 200, or the caller's relayed by a proxy
      case sip::Method::bye: on_callee_bye(engine, slot, socket, request); return;
      case sip::Method::cancel: engine.send_response(socket, request, 200, "OK"); return;
      default: Scenario::on_request(engine, slot, socket, request); return;
    }
  }

 private:
  enum class Step : uint8_t { register_open, register_authenticated, invite_open, invite_authenticated, bye };

  struct SlotState {
    uint64_t callee = 0;  // user indices
    uint64_t caller = 0;
    Step step = Step::register_open;
    uint32_t invite_cseq = 1;
    uint64_t invite_branch = 0;  // the INVITE in flight: its ACK, for a non-2xx answer, reuses the branch
    uint64_t setup_ns = 0;       // INVITE sent -> 2xx received
    bool caller_bye_ok = false;  // the caller's BYE has its 200
    bool callee_bye = false;     // the callee had its BYE
  };

  // The callee's To tag in the current call of a slot ("lgc" and the transaction id in hex).
  static std::string_view callee_tag(const Slot& slot, Writer& w) {
    w.put("lgc").put_hex(slot.txn_id);
    return w.view();
  }

  void send_register(Engine& engine, Slot& slot, const DigestChallenge* challenge) {
    const SlotState& s = state_[slot.index];
    UserCreds user;
    engine.users().get(s.callee, user);
    send_device_register(hasher_, engine, slot, user, challenge, s.step == Step::register_open ? 1 : 2);
  }

  // The caller's INVITE: without credentials first, then with them for `challenge` (a 401 or 407).
  void send_invite(Engine& engine, Slot& slot, const DigestChallenge* challenge, uint16_t challenge_code) {
    SlotState& s = state_[slot.index];
    UserCreds caller;
    UserCreds callee;
    engine.users().get(s.caller, caller);
    engine.users().get(s.callee, callee);
    char request_uri[300];
    Writer ru(request_uri, sizeof request_uri);
    ru.put("sip:").put(callee.ext).put('@').put(callee.domain);
    char from[300];
    Writer f(from, sizeof from);
    f.put("sip:").put(caller.ext).put('@').put(caller.domain);
    char headers[1400];
    Writer h(headers, sizeof headers);
    h.put("Contact: <sip:").put(caller.ext).put('@').put(engine.local_hostport(slot)).put(";lg=");
    h.put_uint(slot.index).put(">\r\n").put(allow_line);
    if (challenge != nullptr &&
        !write_credentials(hasher_, engine, caller, "INVITE", ru.view(), *challenge,
                           challenge_code == 407 ? "Proxy-Authorization" : "Authorization", h)) {
      engine.fail(slot, challenge_code);
      return;
    }
    char body[400];
    Writer b(body, sizeof body);
    write_phone_sdp(b, engine, slot.txn_id, 1, 40000 + 2 * (slot.index % 10000));
    if (ru.overflow() || f.overflow() || h.overflow() || b.overflow()) {
      engine.lose(slot);
      return;
    }
    OutgoingRequest r;
    r.method = "INVITE";
    r.request_uri = ru.view();
    r.from_uri = f.view();
    r.to_uri = ru.view();
    r.cseq = s.invite_cseq;
    r.headers = h.view();
    r.content_type = "application/sdp";
    r.body = b.view();
    if (engine.send_request(slot, r)) s.invite_branch = slot.request_id;
  }

  // ACK of a non-2xx final answer to the INVITE: the INVITE's Request-URI, From, Call-ID, CSeq number and
  // branch, the To of the answer (RFC 3261 section 17.1.1.3).
  void ack_failure(Engine& engine, Slot& slot, const sip::MessageView& response) {
    const SlotState& s = state_[slot.index];
    UserCreds caller;
    UserCreds callee;
    engine.users().get(s.caller, caller);
    engine.users().get(s.callee, callee);
    char request_uri[300];
    Writer ru(request_uri, sizeof request_uri);
    ru.put("sip:").put(callee.ext).put('@').put(callee.domain);
    char from[300];
    Writer f(from, sizeof from);
    f.put("sip:").put(caller.ext).put('@').put(caller.domain);
    if (ru.overflow() || f.overflow()) return;
    OutgoingRequest r;
    r.method = "ACK";
    r.request_uri = ru.view();
    r.from_uri = f.view();
    r.to_uri = ru.view();
    r.to_tag = response.to.tag;
    r.cseq = s.invite_cseq;
    r.expect_response = false;
    r.branch_id = s.invite_branch;
    engine.send_request(slot, r);
  }

  void on_invite_response(Engine& engine, Slot& slot, const sip::MessageView& response) {
    SlotState& s = state_[slot.index];
    const uint16_t code = response.status_code;
    if (code >= 300) {
      ack_failure(engine, slot, response);
      DigestChallenge challenge;
      const sip::HeaderId header = code == 407 ? sip::HeaderId::proxy_authenticate : sip::HeaderId::www_authenticate;
      if ((code != 401 && code != 407) || s.step != Step::invite_open ||
          !choose_challenge(response, header, challenge)) {
        engine.fail(slot, code);
        return;
      }
      s.step = Step::invite_authenticated;
      s.invite_cseq = 2;
      send_invite(engine, slot, &challenge, code);
      return;
    }
    // 2xx: the call is set up. ACK it and hang up at once, in the dialog the 2xx made (RFC 3261 section
    // 12.1.2: remote target = its Contact, route set = its Record-Route reversed).
    s.setup_ns = engine.now_ns() - slot.txn_start_ns;
    if (response.contact_count == 0 || response.to.tag.empty()) {
      engine.fail(slot, code);  // no dialog to end: the server's 2xx is broken, counted as a failure
      return;
    }
    UserCreds caller;
    UserCreds callee;
    engine.users().get(s.caller, caller);
    engine.users().get(s.callee, callee);
    char from[300];
    Writer f(from, sizeof from);
    f.put("sip:").put(caller.ext).put('@').put(caller.domain);
    char to[300];
    Writer t(to, sizeof to);
    t.put("sip:").put(callee.ext).put('@').put(callee.domain);
    char routes[1200];
    Writer rt(routes, sizeof routes);
    for (uint32_t i = response.record_route_count; i-- > 0;)
      rt.put("Route: ").put(response.record_routes[i].raw).put("\r\n");
    if (f.overflow() || t.overflow() || rt.overflow()) {
      engine.lose(slot);
      return;
    }
    OutgoingRequest r;
    r.method = "ACK";
    r.request_uri = response.contacts[0].address.uri;
    r.from_uri = f.view();
    r.to_uri = t.view();
    r.to_tag = response.to.tag;
    r.cseq = s.invite_cseq;
    r.headers = rt.view();
    r.expect_response = false;
    if (!engine.send_request(slot, r)) return;
    s.step = Step::bye;
    r.method = "BYE";
    r.cseq = s.invite_cseq + 1;
    r.expect_response = true;
    engine.send_request(slot, r);
  }

  // The callee's side: 180, then 200 with an SDP answer, both with the same To tag and the Record-Route of
  // the INVITE (a proxy's record_route needs it back, RFC 3261 section 12.1.1).
  void on_callee_invite(Engine& engine, Slot* slot, uint32_t socket, const sip::MessageView& request) {
    const SlotState* s = slot != nullptr ? &state_[slot->index] : nullptr;
    char expected[40];
    Writer e(expected, sizeof expected);
    if (slot != nullptr) e.put("o=- ").put_uint(slot->txn_id).put(' ');
    if (s == nullptr || (s->step != Step::invite_open && s->step != Step::invite_authenticated) ||
        request.body.find(e.view()) == std::string_view::npos) {
      engine.count_stray_request();
      engine.send_response(socket, request, 480, "Temporarily Unavailable");
      return;
    }
    UserCreds callee;
    engine.users().get(s->callee, callee);
    char tag[24];
    Writer tg(tag, sizeof tag);
    callee_tag(*slot, tg);
    char headers[1400];
    Writer h(headers, sizeof headers);
    for (uint32_t i = 0; i < request.record_route_count; ++i)
      h.put("Record-Route: ").put(request.record_routes[i].raw).put("\r\n");
    h.put("Contact: <sip:").put(callee.ext).put('@').put(engine.local_hostport(socket)).put(";lg=");
    h.put_uint(slot->index).put(">\r\n");
    char body[400];
    Writer b(body, sizeof body);
    write_phone_sdp(b, engine, slot->txn_id, 2, 50000 + 2 * (slot->index % 10000));
    if (tg.overflow() || h.overflow() || b.overflow()) {
      engine.send_response(socket, request, 500, "Server Internal Error");
      return;
    }
    OutgoingResponse r;
    r.status = 180;
    r.reason = "Ringing";
    r.to_tag = tg.view();
    r.headers = h.view();
    engine.send_response(socket, request, r);
    h.put(allow_line);
    r.status = 200;
    r.reason = "OK";
    r.headers = h.view();
    r.content_type = "application/sdp";
    r.body = b.view();
    engine.send_response(socket, request, r);
  }

  // A BYE to the callee: 200 whatever it is for; it ends the slot's call when it is that call's.
  void on_callee_bye(Engine& engine, Slot* slot, uint32_t socket, const sip::MessageView& request) {
    engine.send_response(socket, request, 200, "OK");
    char tag[24];
    Writer tg(tag, sizeof tag);
    SlotState* s = slot != nullptr ? &state_[slot->index] : nullptr;
    if (s == nullptr || s->callee_bye || request.to.tag != callee_tag(*slot, tg)) {
      engine.count_stray_request();
      return;
    }
    s->callee_bye = true;
    if (s->caller_bye_ok) engine.complete(*slot, s->setup_ns);
  }

  std::vector<SlotState> state_;
  DigestHasher hasher_;
};

}  // namespace

std::unique_ptr<Scenario> make_calls_scenario() { return std::make_unique<CallsScenario>(); }

}  // namespace parkd::loadgen
