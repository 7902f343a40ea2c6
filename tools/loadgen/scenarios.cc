// The scenarios: options, register, register-noauth (see scenario.h for the callbacks); calls is in calls.cc,
// park in park.cc.
#include <vector>

#include "sip/parser.h"
#include "tools/loadgen/client_auth.h"
#include "tools/loadgen/digest.h"
#include "tools/loadgen/engine.h"
#include "tools/loadgen/scenario.h"
#include "tools/loadgen/writer.h"

namespace parkd::loadgen {

void Scenario::on_request(Engine& engine, Slot* slot, uint32_t socket, const sip::MessageView& request) {
  (void)slot;
  switch (request.method) {
    case sip::Method::ack: return;
    case sip::Method::options:
    case sip::Method::notify: engine.send_response(socket, request, 200, "OK"); return;
    default: engine.send_response(socket, request, 481, "Call/Transaction Does Not Exist"); return;
  }
}

namespace {

// OPTIONS sip:<target> (no user part: addressed to the server itself), expecting 200.
class OptionsScenario final : public Scenario {
 public:
  std::string_view name() const override { return "options"; }

  void on_start(Engine& engine, Slot& slot) override {
    char uri[80];
    Writer u(uri, sizeof uri);
    u.put("sip:").put(engine.target_hostport());
    char from[80];
    Writer f(from, sizeof from);
    f.put("sip:loadgen@").put(engine.local_hostport(slot));
    OutgoingRequest r;
    r.method = "OPTIONS";
    r.request_uri = u.view();
    r.from_uri = f.view();
    r.to_uri = u.view();
    r.headers = "Accept: application/sdp\r\n";
    engine.send_request(slot, r);
  }

  void on_response(Engine& engine, Slot& slot, const sip::MessageView& response) override {
    if (response.status_code < 300) {
      engine.complete(slot);
    } else {
      engine.fail(slot, response.status_code);
    }
  }
};

// REGISTER for <ext>@<domain>; with authentication: 401 challenge, then the REGISTER with the digest
// response (the same Call-ID, CSeq 2), expecting 200. A registration counts once, when it completes.
class RegisterScenario final : public Scenario {
 public:
  explicit RegisterScenario(bool authenticate) : authenticate_(authenticate) {}

  std::string_view name() const override { return authenticate_ ? "register" : "register-noauth"; }

  bool prepare(Engine& /*engine*/, uint32_t slot_count, std::string& /*error*/) override {
    state_.assign(slot_count, SlotState{});
    return true;
  }

  void on_start(Engine& engine, Slot& slot) override {
    SlotState& s = state_[slot.index];
    s.user = engine.next_user_index();
    s.step = 0;
    send_register(engine, slot, nullptr);
  }

  void on_response(Engine& engine, Slot& slot, const sip::MessageView& response) override {
    SlotState& s = state_[slot.index];
    uint16_t code = response.status_code;
    if (code < 300) {
      engine.complete(slot);
      return;
    }
    if (code != 401 || !authenticate_ || s.step != 0) {
      engine.fail(slot, code);
      return;
    }
    DigestChallenge challenge;
    if (!choose_challenge(response, sip::HeaderId::www_authenticate, challenge)) {
      engine.fail(slot, code);
      return;
    }
    s.step = 1;
    send_register(engine, slot, &challenge);
  }

 private:
  struct SlotState {
    uint64_t user = 0;
    uint8_t step = 0;  // 0: first REGISTER sent; 1: the authenticated one
  };

  void send_register(Engine& engine, Slot& slot, const DigestChallenge* challenge) {
    const SlotState& s = state_[slot.index];
    UserCreds user;
    engine.users().get(s.user, user);
    // --fixed-contact: one binding per extension; otherwise one per slot (its socket and ;lg=).
    const bool fixed = engine.config().fixed_contact;
    loadgen::send_register(hasher_, engine, slot, user, challenge, s.step + 1u, {},
                           fixed ? engine.local_host() : engine.local_hostport(slot), !fixed);
  }

  bool authenticate_;
  std::vector<SlotState> state_;
  DigestHasher hasher_;
};

}  // namespace

std::unique_ptr<Scenario> make_scenario(std::string_view name) {
  if (name == "options") return std::make_unique<OptionsScenario>();
  if (name == "register") return std::make_unique<RegisterScenario>(true);
  if (name == "register-noauth") return std::make_unique<RegisterScenario>(false);
  if (name == "calls") return make_calls_scenario();
  if (name == "park") return make_park_scenario();
  return nullptr;
}

}  // namespace parkd::loadgen
