// Scenario "park": complete park cycles through the server (SPEC section 6, issue 7), every party played by the
// load generator.
//
// Slot k owns four users of one tenant for the whole run: B (called, then parked), A (the caller, who parks B),
// T (the extension B is parked at; its device is told) and R (who retrieves B). With patterns of D domains and E
// extensions, slot k's group g = Engine::user_index_of_slot(k) takes domain g % D and the extensions
// 4 * (g / D) + 0, 1, 2, 3 of the range (B, A, T, R): no two slots share a user, so a slot's retrieve of T never
// takes another slot's call, and consecutive slots sit in different tenants. Hence patterns only (no --users)
// and at most D * (E / 4) slots.
//
// Setup phase: B's and T's devices register (REGISTER, 401, REGISTER with digest, 200 each) with
//   Contact: <sip:<ext>@<bind address>;lg=<k>>
// (no port: the server sends to the flow the REGISTER came from; ";lg=k" brings its requests to slot k).
//
// One cycle (one transaction of the engine):
//   A  INVITE sip:B@dom (offer) -> 407 -> ACK -> INVITE with credentials      B  INVITE -> 180, 200 (answer)
//   A  200 -> ACK, REFER (Refer-To: <sip:*68<T>@dom>)
//      server: 202 to A; NOTIFY sipfrag 100 to A (A: 200); re-INVITE to B with its hold SDP (B: 200 with SDP,
//      the server ACKs); NOTIFY sipfrag 200 to A (200); park-info NOTIFY, state parked, to T's device (200)
//      notify latency: from B's 200 to the hold leaving the load generator (Engine::submit_now) to the park-info
//      NOTIFY's arrival. It is what the cycle records as its latency.
//   once all five have come:  A  BYE -> 200
//   R  INVITE sip:*88<T>@dom (offer) -> 407 -> ACK -> INVITE with credentials
//      server: re-INVITE to B with R's offer (B: 200 with SDP); 200 to R with B's answer (R: ACK); park-info
//      NOTIFY, state retrieved, to T's device (200)
//   once R has its 200 and T its NOTIFY:  R  BYE -> 200; the server's BYE to B (200)
// The cycle completes at the last of those two 200s; Stats::cycle_ns gets its whole duration.
//
// Checked on the way: B's INVITE carries A's offer (the SDP's o= session id is the cycle's transaction id, its
// version says whose offer it is: A 1, B 2 and 3, R 4, B 5), the retrieve re-INVITE R's offer, R's 200 B's
// answer, each park-info body the state expected. A 2xx that lacks its dialog or the expected SDP fails the cycle
// with its status (200); a request the slot does not expect now (a slot in no cycle, a step that does not match)
// is answered (480 to an INVITE, 481 to a re-INVITE, 200 to a NOTIFY or BYE) and counts as stray.
// Nothing is retransmitted: a request unanswered, or a request of the server's that does not come, within
// --timeout-ms loses the cycle. The engine keeps one wait per slot: while a response and requests of the server
// are expected together, the response's entry is the wait; once it came, Engine::await_request waits for the
// rest; Engine::end_wait drops that wait before the slot's next request.
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

constexpr std::string_view allow_line = "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, NOTIFY, REFER\r\n";

// A slot's users, in the order of their extensions within the slot's group of four.
enum Role : uint8_t { role_b = 0, role_a = 1, role_t = 2, role_r = 3, role_count = 4 };

// What a step waits for, one bit each; the step is over when every bit is set.
constexpr uint8_t ev_refer_accepted = 1;  // parking: 202 to the REFER
constexpr uint8_t ev_trying = 2;          //          sipfrag 100
constexpr uint8_t ev_held = 4;            //          B answered the hold re-INVITE
constexpr uint8_t ev_refer_done = 8;      //          sipfrag 200
constexpr uint8_t ev_parked_info = 16;    //          park-info "parked" at T's device
constexpr uint8_t parking_done = 31;
constexpr uint8_t ev_retrieve_answered = 1;  // retrieve: 200 to R's INVITE
constexpr uint8_t ev_parked_reinvited = 2;   //           B answered the re-INVITE with R's offer
constexpr uint8_t ev_retrieved_info = 4;     //           park-info "retrieved" at T's device
constexpr uint8_t retrieve_done = 7;
constexpr uint8_t ev_bye_answered = 1;  // hangup: 200 to R's BYE
constexpr uint8_t ev_parked_bye = 2;    //         the server's BYE reached B
constexpr uint8_t hangup_done = 3;

// SDP versions (o= line): whose offer or answer it is.
constexpr uint32_t sdp_a_offer = 1;
constexpr uint32_t sdp_b_answer = 2;
constexpr uint32_t sdp_b_hold_answer = 3;
constexpr uint32_t sdp_r_offer = 4;
constexpr uint32_t sdp_b_retrieve_answer = 5;

enum class Step : uint8_t { register_b, register_t, invite, parking, bye_a, retrieve, hangup };

class ParkScenario final : public Scenario {
 public:
  std::string_view name() const override { return "park"; }

  uint64_t slot_limit(const UserSource& users, uint32_t threads) const override {
    if (!users.from_patterns() || users.extension_count() < role_count) return UINT64_MAX;  // prepare() says why
    return users.domain_count() * (users.extension_count() / role_count) / threads;
  }

  bool prepare(Engine& engine, uint32_t slot_count, std::string& error) override {
    const UserSource& users = engine.users();
    if (!users.from_patterns()) {
      error = "each slot takes four extensions of one domain from --domains/--extensions; --users is not supported";
      return false;
    }
    if (users.extension_count() < role_count) {
      error = "every domain needs 4 extensions at least (caller, parked party, park target, retriever)";
      return false;
    }
    state_.assign(slot_count, SlotState{});
    const uint64_t domains = users.domain_count();
    for (uint32_t k = 0; k < slot_count; ++k) {
      const uint64_t group = engine.user_index_of_slot(k);
      const uint64_t base = group % domains + role_count * domains * (group / domains);
      for (uint32_t role = 0; role < role_count; ++role) state_[k].user[role] = base + role * domains;
    }
    return true;
  }

  bool has_setup() const override { return true; }

  void on_setup(Engine& engine, Slot& slot) override {
    SlotState& s = state_[slot.index];
    s.step = Step::register_b;
    s.authenticated = false;
    send_register(engine, slot, nullptr);
  }

  void on_start(Engine& engine, Slot& slot) override {
    SlotState& s = state_[slot.index];
    s.step = Step::invite;
    s.authenticated = false;
    s.events = 0;
    s.a_cseq = 1;
    s.r_cseq = 1;
    s.held_ns = 0;
    s.notify_latency_ns = 0;
    s.a_target_size = s.a_tag_size = s.r_target_size = s.r_tag_size = 0;
    s.parked_in_dialog = false;
    s.b_call_id_size = 0;
    send_invite(engine, slot, role_a, nullptr, 0);
  }

  void on_response(Engine& engine, Slot& slot, const sip::MessageView& response) override {
    SlotState& s = state_[slot.index];
    const uint16_t code = response.status_code;
    switch (s.step) {
      case Step::register_b:
      case Step::register_t: {
        if (code < 300) {
          if (s.step == Step::register_t) {
            engine.complete(slot);
            return;
          }
          s.step = Step::register_t;
          s.authenticated = false;
          send_register(engine, slot, nullptr);
          return;
        }
        DigestChallenge challenge;
        if (code != 401 || s.authenticated || !choose_challenge(response, sip::HeaderId::www_authenticate, challenge)) {
          engine.fail(slot, code);
          return;
        }
        s.authenticated = true;
        send_register(engine, slot, &challenge);
        return;
      }
      case Step::invite: on_invite_response(engine, slot, role_a, response); return;
      case Step::parking:  // the REFER's answer
        if (code >= 300) {
          fail_cycle(engine, slot, code);
          return;
        }
        s.events |= ev_refer_accepted;
        progress(engine, slot);
        return;
      case Step::bye_a:
        if (code >= 300) {
          fail_cycle(engine, slot, code);
          return;
        }
        s.step = Step::retrieve;
        s.authenticated = false;
        s.events = 0;
        send_invite(engine, slot, role_r, nullptr, 0);
        return;
      case Step::retrieve: on_invite_response(engine, slot, role_r, response); return;
      case Step::hangup:
        if (code >= 300) {
          fail_cycle(engine, slot, code);
          return;
        }
        s.events |= ev_bye_answered;
        progress(engine, slot);
        return;
    }
  }

  // A wait ran out: the engine ends the cycle as lost right after this.
  void on_timeout(Engine& engine, Slot& slot) override { abandon(engine, slot); }

  void on_request(Engine& engine, Slot* slot, uint32_t socket, const sip::MessageView& request) override {
    switch (request.method) {
      case sip::Method::invite: on_invite(engine, slot, socket, request); return;
      case sip::Method::ack: return;  // the server's ACK of B's 200s
      case sip::Method::notify: on_notify(engine, slot, socket, request); return;
      case sip::Method::bye: on_bye(engine, slot, socket, request); return;
      case sip::Method::cancel: engine.send_response(socket, request, 200, "OK"); return;
      default: Scenario::on_request(engine, slot, socket, request); return;
    }
  }

 private:
  struct SlotState {
    uint64_t user[role_count] = {};  // user indices
    Step step = Step::register_b;
    bool authenticated = false;  // the REGISTER or INVITE in flight carries credentials
    uint8_t events = 0;          // of the current step
    uint32_t a_cseq = 1;         // A's dialog: INVITE (1, 2 with credentials), REFER, BYE
    uint32_t r_cseq = 1;         // R's dialog
    uint64_t invite_branch = 0;  // the INVITE in flight: the ACK of a non-2xx answer reuses its branch
    uint64_t held_ns = 0;        // when B's 200 to the hold left
    uint64_t notify_latency_ns = 0;
    // The remote target and To tag of A's and R's dialogs, for the requests sent after the 2xx's callback.
    uint16_t a_target_size = 0;
    uint16_t a_tag_size = 0;
    uint16_t r_target_size = 0;
    uint16_t r_tag_size = 0;
    char a_target[192];
    char a_tag[64];
    char r_target[192];
    char r_tag[64];
    // B's dialog with the server (B is its UAS), for the park-info's <dialog call-id> and for abandon().
    bool parked_in_dialog = false;  // from B's 200 to the INVITE until the server's BYE reaches B
    uint16_t b_call_id_size = 0;
    uint16_t b_remote_tag_size = 0;
    uint16_t b_remote_uri_size = 0;
    uint16_t b_target_size = 0;
    char b_call_id[128];
    char b_remote_tag[64];
    char b_remote_uri[192];
    char b_target[192];
  };

  // B's To tag in the current cycle ("lgb" and the transaction id in hex); R's From tag and Call-ID.
  static std::string_view parked_tag(const Slot& slot, Writer& w) { return w.put("lgb").put_hex(slot.txn_id).view(); }
  static std::string_view retriever_tag(const Slot& slot, Writer& w) {
    return w.put("lgr").put_hex(slot.txn_id).view();
  }
  static std::string_view retriever_call_id(const Engine& engine, const Slot& slot, Writer& w) {
    return w.put('r').put_hex(slot.txn_id).put('-').put_hex(engine.run_token()).put("@parkd-loadgen").view();
  }
  static std::string_view aor(const UserCreds& user, Writer& w) {
    return w.put("sip:").put(user.ext).put('@').put(user.domain).view();
  }
  // "o=- <call> <version> ", as write_phone_sdp writes it: finds the SDP of this cycle by this party.
  static std::string_view sdp_origin(const Slot& slot, uint32_t version, Writer& w) {
    return w.put("o=- ").put_uint(slot.txn_id).put(' ').put_uint(version).put(' ').view();
  }
  static bool store(std::string_view value, char* out, size_t capacity, uint16_t& size) {
    if (value.size() > capacity) return false;
    value.copy(out, value.size());
    size = static_cast<uint16_t>(value.size());
    return true;
  }

  static uint32_t media_port(const Slot& slot, Role role) { return 20000 + 8 * (slot.index % 5000) + 2 * role; }

  // B's or T's REGISTER (setup), without credentials first.
  void send_register(Engine& engine, Slot& slot, const DigestChallenge* challenge) {
    const SlotState& s = state_[slot.index];
    const bool target = s.step == Step::register_t;
    UserCreds user;
    engine.users().get(s.user[target ? role_t : role_b], user);
    char call_id[80];
    Writer c(call_id, sizeof call_id);
    c.put(target ? "t" : "b").put_hex(slot.txn_id).put('-').put_hex(engine.run_token()).put("@parkd-loadgen");
    if (c.overflow()) {
      engine.lose(slot);
      return;
    }
    send_device_register(hasher_, engine, slot, user, challenge, s.authenticated ? 2 : 1, c.view());
  }

  // A's INVITE to B, or R's INVITE to the retrieve code: without credentials first, then with them for
  // `challenge` (a 401 or 407).
  void send_invite(Engine& engine, Slot& slot, Role role, const DigestChallenge* challenge, uint16_t challenge_code) {
    SlotState& s = state_[slot.index];
    UserCreds caller;
    UserCreds callee;
    engine.users().get(s.user[role], caller);
    engine.users().get(s.user[role == role_a ? role_b : role_t], callee);
    char request_uri[300];
    Writer ru(request_uri, sizeof request_uri);
    ru.put("sip:").put(role == role_r ? retrieve_code : std::string_view{}).put(callee.ext).put('@').put(callee.domain);
    char from[300];
    Writer f(from, sizeof from);
    aor(caller, f);
    char tag[24];
    Writer tg(tag, sizeof tag);
    char call_id[80];
    Writer c(call_id, sizeof call_id);
    if (role == role_r) {
      retriever_tag(slot, tg);
      retriever_call_id(engine, slot, c);
    }
    char headers[1400];
    Writer h(headers, sizeof headers);
    h.put("Contact: <sip:").put(caller.ext).put('@').put(engine.local_hostport(slot)).put(";lg=");
    h.put_uint(slot.index).put(">\r\n").put(allow_line);
    if (challenge != nullptr &&
        !write_credentials(hasher_, engine, caller, "INVITE", ru.view(), *challenge,
                           challenge_code == 407 ? "Proxy-Authorization" : "Authorization", h)) {
      fail_cycle(engine, slot, challenge_code);
      return;
    }
    char body[400];
    Writer b(body, sizeof body);
    write_phone_sdp(b, engine, slot.txn_id, role == role_a ? sdp_a_offer : sdp_r_offer, media_port(slot, role));
    if (ru.overflow() || f.overflow() || tg.overflow() || c.overflow() || h.overflow() || b.overflow()) {
      lose_cycle(engine, slot);
      return;
    }
    OutgoingRequest r;
    r.method = "INVITE";
    r.request_uri = ru.view();
    r.from_uri = f.view();
    r.from_tag = tg.view();
    r.to_uri = ru.view();
    r.call_id = c.view();
    r.cseq = role == role_a ? s.a_cseq : s.r_cseq;
    r.headers = h.view();
    r.content_type = "application/sdp";
    r.body = b.view();
    if (engine.send_request(slot, r)) s.invite_branch = slot.request_id;
  }

  // ACK of a non-2xx final answer to the INVITE: the INVITE's Request-URI, From, Call-ID, CSeq number and branch,
  // the To of the answer (RFC 3261 section 17.1.1.3).
  void ack_failure(Engine& engine, Slot& slot, Role role, const sip::MessageView& response) {
    const SlotState& s = state_[slot.index];
    char request_uri[300];
    Writer ru(request_uri, sizeof request_uri);
    char from[300];
    Writer f(from, sizeof from);
    char tag[24];
    Writer tg(tag, sizeof tag);
    char call_id[80];
    Writer c(call_id, sizeof call_id);
    UserCreds caller;
    UserCreds callee;
    engine.users().get(s.user[role], caller);
    engine.users().get(s.user[role == role_a ? role_b : role_t], callee);
    ru.put("sip:").put(role == role_r ? retrieve_code : std::string_view{}).put(callee.ext).put('@').put(callee.domain);
    aor(caller, f);
    if (role == role_r) {
      retriever_tag(slot, tg);
      retriever_call_id(engine, slot, c);
    }
    if (ru.overflow() || f.overflow() || tg.overflow() || c.overflow()) return;
    OutgoingRequest r;
    r.method = "ACK";
    r.request_uri = ru.view();
    r.from_uri = f.view();
    r.from_tag = tg.view();
    r.to_uri = ru.view();
    r.to_tag = response.to.tag;
    r.call_id = c.view();
    r.cseq = role == role_a ? s.a_cseq : s.r_cseq;
    r.expect_response = false;
    r.branch_id = s.invite_branch;
    engine.send_request(slot, r);
  }

  // A request in A's or R's dialog (RFC 3261 section 12.2.1.1: the 2xx's Contact as Request-URI, its To tag).
  // No route set: the server is a back-to-back user agent and records no route.
  bool send_in_dialog(Engine& engine, Slot& slot, Role role, std::string_view method, uint32_t cseq,
                      std::string_view headers, bool expect_response) {
    const SlotState& s = state_[slot.index];
    UserCreds caller;
    UserCreds callee;
    engine.users().get(s.user[role], caller);
    engine.users().get(s.user[role == role_a ? role_b : role_t], callee);
    char from[300];
    Writer f(from, sizeof from);
    aor(caller, f);
    char to[300];
    Writer t(to, sizeof to);
    t.put("sip:").put(role == role_r ? retrieve_code : std::string_view{}).put(callee.ext).put('@').put(callee.domain);
    char tag[24];
    Writer tg(tag, sizeof tag);
    char call_id[80];
    Writer c(call_id, sizeof call_id);
    if (role == role_r) {
      retriever_tag(slot, tg);
      retriever_call_id(engine, slot, c);
    }
    if (f.overflow() || t.overflow() || tg.overflow() || c.overflow()) {
      lose_cycle(engine, slot);
      return false;
    }
    OutgoingRequest r;
    r.method = method;
    r.request_uri =
        role == role_a ? std::string_view(s.a_target, s.a_target_size) : std::string_view(s.r_target, s.r_target_size);
    r.from_uri = f.view();
    r.from_tag = tg.view();
    r.to_uri = t.view();
    r.to_tag = role == role_a ? std::string_view(s.a_tag, s.a_tag_size) : std::string_view(s.r_tag, s.r_tag_size);
    r.call_id = c.view();
    r.cseq = cseq;
    r.headers = headers;
    r.expect_response = expect_response;
    return engine.send_request(slot, r);
  }

  void on_invite_response(Engine& engine, Slot& slot, Role role, const sip::MessageView& response) {
    SlotState& s = state_[slot.index];
    const uint16_t code = response.status_code;
    uint32_t& cseq = role == role_a ? s.a_cseq : s.r_cseq;
    if (code >= 300) {
      ack_failure(engine, slot, role, response);
      DigestChallenge challenge;
      const sip::HeaderId header = code == 407 ? sip::HeaderId::proxy_authenticate : sip::HeaderId::www_authenticate;
      if ((code != 401 && code != 407) || s.authenticated || !choose_challenge(response, header, challenge)) {
        fail_cycle(engine, slot, code);
        return;
      }
      s.authenticated = true;
      ++cseq;
      send_invite(engine, slot, role, &challenge, code);
      return;
    }
    // 2xx: keep the dialog, ACK it.
    char expected[48];
    Writer e(expected, sizeof expected);
    sdp_origin(slot, sdp_b_retrieve_answer, e);
    const bool stored = role == role_a
                            ? store(response.contact_count > 0 ? response.contacts[0].address.uri : std::string_view{},
                                    s.a_target, sizeof s.a_target, s.a_target_size) &&
                                  store(response.to.tag, s.a_tag, sizeof s.a_tag, s.a_tag_size)
                            : store(response.contact_count > 0 ? response.contacts[0].address.uri : std::string_view{},
                                    s.r_target, sizeof s.r_target, s.r_target_size) &&
                                  store(response.to.tag, s.r_tag, sizeof s.r_tag, s.r_tag_size);
    if (!stored || response.contact_count == 0 || response.to.tag.empty() ||
        (role == role_r && response.body.find(e.view()) == std::string_view::npos)) {
      fail_cycle(engine, slot, code);  // no dialog to continue, or not the parked party's answer: a failure
      return;
    }
    if (!send_in_dialog(engine, slot, role, "ACK", cseq, {}, false)) return;
    if (role == role_r) {
      s.events |= ev_retrieve_answered;
      progress(engine, slot);
      return;
    }
    // A parks B at T.
    UserCreds parker;
    UserCreds target;
    engine.users().get(s.user[role_a], parker);
    engine.users().get(s.user[role_t], target);
    char headers[800];
    Writer h(headers, sizeof headers);
    h.put("Refer-To: <sip:").put(park_code).put(target.ext).put('@').put(target.domain).put(">\r\n");
    h.put("Referred-By: <sip:").put(parker.ext).put('@').put(parker.domain).put(">\r\n");
    h.put("Contact: <sip:").put(parker.ext).put('@').put(engine.local_hostport(slot)).put(";lg=");
    h.put_uint(slot.index).put(">\r\n");
    if (h.overflow()) {
      lose_cycle(engine, slot);
      return;
    }
    s.step = Step::parking;
    s.events = 0;
    send_in_dialog(engine, slot, role_a, "REFER", ++cseq, h.view(), true);
  }

  void fail_cycle(Engine& engine, Slot& slot, uint16_t status) {
    abandon(engine, slot);
    engine.fail(slot, status);
  }
  void lose_cycle(Engine& engine, Slot& slot) {
    abandon(engine, slot);
    engine.lose(slot);
  }

  // A cycle that ends early must not leave B's call in the server: parked at T, the next cycle's `*88<T>` would
  // take it (the oldest) instead of its own, and every later cycle of the slot would fail the same way. So B
  // hangs up (a BYE in its dialog, not tracked: its answer counts as unmatched) and the server forgets the call.
  void abandon(Engine& engine, Slot& slot) {
    SlotState& s = state_[slot.index];
    if (!s.parked_in_dialog) return;
    s.parked_in_dialog = false;
    UserCreds parked;
    engine.users().get(s.user[role_b], parked);
    char from[300];
    Writer f(from, sizeof from);
    aor(parked, f);
    char tag[24];
    Writer tg(tag, sizeof tag);
    parked_tag(slot, tg);
    if (f.overflow() || tg.overflow()) return;
    OutgoingRequest r;
    r.method = "BYE";
    r.request_uri = {s.b_target, s.b_target_size};
    r.from_uri = f.view();
    r.from_tag = tg.view();
    r.to_uri = {s.b_remote_uri, s.b_remote_uri_size};
    r.to_tag = {s.b_remote_tag, s.b_remote_tag_size};
    r.call_id = {s.b_call_id, s.b_call_id_size};
    r.cseq = 1;
    r.expect_response = false;
    engine.send_request(slot, r);
  }

  // The state of the call whose dialog has Call-ID `call_id` in a park-info body: the `state` attribute of the
  // <parked-call> element that holds <dialog call-id="call_id">; empty when the body has no such call.
  static std::string_view park_state_of(std::string_view body, std::string_view call_id) {
    char needle[160];
    Writer n(needle, sizeof needle);
    n.put("call-id=\"").put(call_id).put('"');
    const size_t dialog = n.overflow() || call_id.empty() ? std::string_view::npos : body.find(n.view());
    if (dialog == std::string_view::npos) return {};
    const size_t call = body.rfind("<parked-call ", dialog);
    if (call == std::string_view::npos) return {};
    const size_t state = body.find(" state=\"", call);
    if (state == std::string_view::npos || state > dialog) return {};
    const size_t begin = state + 8;
    const size_t end = body.find('"', begin);
    return end == std::string_view::npos ? std::string_view{} : body.substr(begin, end - begin);
  }

  // Moves on once the current step has everything it waits for; otherwise makes sure something times it out.
  void progress(Engine& engine, Slot& slot) {
    SlotState& s = state_[slot.index];
    uint8_t done = 0;
    switch (s.step) {
      case Step::parking: done = parking_done; break;
      case Step::retrieve: done = retrieve_done; break;
      case Step::hangup: done = hangup_done; break;
      default: return;
    }
    if (s.events != done) {
      if (slot.request_id == 0) engine.await_request(slot);  // only the server's requests are still to come
      return;
    }
    engine.end_wait(slot);
    switch (s.step) {
      case Step::parking:
        s.step = Step::bye_a;
        send_in_dialog(engine, slot, role_a, "BYE", ++s.a_cseq, {}, true);
        return;
      case Step::retrieve:
        s.step = Step::hangup;
        s.events = 0;
        send_in_dialog(engine, slot, role_r, "BYE", ++s.r_cseq, {}, true);
        return;
      default: engine.complete(slot, s.notify_latency_ns, engine.now_ns() - slot.txn_start_ns); return;
    }
  }

  void stray(Engine& engine, uint32_t socket, const sip::MessageView& request, uint16_t status,
             std::string_view reason) {
    engine.count_stray_request();
    engine.send_response(socket, request, status, reason);
  }

  // To B: the server's INVITE (A's offer), the hold re-INVITE (the server's SDP), the retrieve re-INVITE (R's).
  void on_invite(Engine& engine, Slot* slot, uint32_t socket, const sip::MessageView& request) {
    SlotState* s = slot != nullptr ? &state_[slot->index] : nullptr;
    if (s == nullptr) {
      stray(engine, socket, request, 480, "Temporarily Unavailable");
      return;
    }
    char tag[24];
    Writer tg(tag, sizeof tag);
    parked_tag(*slot, tg);
    char expected[48];
    Writer e(expected, sizeof expected);
    uint32_t answer = 0;
    if (request.to.tag.empty()) {
      if (s->step == Step::invite && request.body.find(sdp_origin(*slot, sdp_a_offer, e)) != std::string_view::npos)
        answer = sdp_b_answer;
    } else if (request.to.tag == tg.view()) {
      if (s->step == Step::parking && (s->events & ev_held) == 0) {
        answer = sdp_b_hold_answer;
      } else if (s->step == Step::retrieve && (s->events & ev_parked_reinvited) == 0 &&
                 request.body.find(sdp_origin(*slot, sdp_r_offer, e)) != std::string_view::npos) {
        answer = sdp_b_retrieve_answer;
      }
    }
    if (answer == 0) {
      if (request.to.tag.empty()) {
        stray(engine, socket, request, 480, "Temporarily Unavailable");
      } else {
        stray(engine, socket, request, 481, "Call/Transaction Does Not Exist");
      }
      return;
    }
    UserCreds parked;
    engine.users().get(s->user[role_b], parked);
    char headers[1400];
    Writer h(headers, sizeof headers);
    for (uint32_t i = 0; i < request.record_route_count; ++i)
      h.put("Record-Route: ").put(request.record_routes[i].raw).put("\r\n");
    h.put("Contact: <sip:").put(parked.ext).put('@').put(engine.local_hostport(socket)).put(";lg=");
    h.put_uint(slot->index).put(">\r\n");
    char body[400];
    Writer b(body, sizeof body);
    write_phone_sdp(b, engine, slot->txn_id, answer, media_port(*slot, role_b));
    if (tg.overflow() || h.overflow() || b.overflow()) {
      engine.send_response(socket, request, 500, "Server Internal Error");
      return;
    }
    OutgoingResponse r;
    r.to_tag = tg.view();
    r.headers = h.view();
    if (answer == sdp_b_answer) {
      r.status = 180;
      r.reason = "Ringing";
      engine.send_response(socket, request, r);
    }
    h.put(allow_line);
    r.status = 200;
    r.reason = "OK";
    r.headers = h.view();
    r.content_type = "application/sdp";
    r.body = b.view();
    engine.send_response(socket, request, r);
    if (answer == sdp_b_answer) {
      const std::string_view uri = request.from.uri;
      const std::string_view target = request.contact_count > 0 ? request.contacts[0].address.uri : std::string_view{};
      s->parked_in_dialog = store(request.call_id, s->b_call_id, sizeof s->b_call_id, s->b_call_id_size) &&
                            store(request.from.tag, s->b_remote_tag, sizeof s->b_remote_tag, s->b_remote_tag_size) &&
                            store(uri, s->b_remote_uri, sizeof s->b_remote_uri, s->b_remote_uri_size) &&
                            store(target, s->b_target, sizeof s->b_target, s->b_target_size) && !target.empty();
    } else if (answer == sdp_b_hold_answer) {
      s->held_ns = engine.submit_now();  // the park-info's latency is timed from here
      s->events |= ev_held;
      progress(engine, *slot);
    } else if (answer == sdp_b_retrieve_answer) {
      s->events |= ev_parked_reinvited;
      progress(engine, *slot);
    }
  }

  // To A: the sipfrag NOTIFYs of its REFER (Event: refer). To T's device: park-info.
  void on_notify(Engine& engine, Slot* slot, uint32_t socket, const sip::MessageView& request) {
    engine.send_response(socket, request, 200, "OK");
    SlotState* s = slot != nullptr ? &state_[slot->index] : nullptr;
    const std::string_view event = request.event.substr(0, request.event.find(';'));
    uint8_t bit = 0;
    if (s != nullptr && event == "refer" && s->step == Step::parking) {
      if (request.body.starts_with("SIP/2.0 100 ")) bit = ev_trying;
      if (request.body.starts_with("SIP/2.0 200 ")) bit = ev_refer_done;
    } else if (s != nullptr && event == "park-info") {
      // Only this cycle's call counts (a body lists every call parked at T).
      const std::string_view state = park_state_of(request.body, {s->b_call_id, s->b_call_id_size});
      if (s->step == Step::parking && (s->events & ev_held) != 0 && state == "parked") {
        bit = ev_parked_info;
      } else if (s->step == Step::retrieve && state == "retrieved") {
        bit = ev_retrieved_info;
      }
    }
    if (bit == 0 || (s->events & bit) != 0) {
      engine.count_stray_request();
      return;
    }
    if (bit == ev_parked_info) s->notify_latency_ns = engine.now_ns() - s->held_ns;
    s->events |= bit;
    progress(engine, *slot);
  }

  // To B: the server's BYE once R hung up.
  void on_bye(Engine& engine, Slot* slot, uint32_t socket, const sip::MessageView& request) {
    engine.send_response(socket, request, 200, "OK");
    SlotState* s = slot != nullptr ? &state_[slot->index] : nullptr;
    char tag[24];
    Writer tg(tag, sizeof tag);
    if (s == nullptr || s->step != Step::hangup || (s->events & ev_parked_bye) != 0 ||
        request.to.tag != parked_tag(*slot, tg)) {
      engine.count_stray_request();
      return;
    }
    s->events |= ev_parked_bye;
    s->parked_in_dialog = false;
    progress(engine, *slot);
  }

  static constexpr std::string_view park_code = "*68";  // the tenants file's defaults (SPEC section 2)
  static constexpr std::string_view retrieve_code = "*88";

  std::vector<SlotState> state_;
  DigestHasher hasher_;
};

}  // namespace

std::unique_ptr<Scenario> make_park_scenario() { return std::make_unique<ParkScenario>(); }

}  // namespace parkd::loadgen
