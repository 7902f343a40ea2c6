// Scenario: what one pseudo device does in one transaction, as a state machine driven by the engine.
//
// The engine owns slots (one per transaction that can be outstanding) and calls:
//   slot_limit(users, n)    at start-up: how many slots per thread the scenario can serve (calls: one callee
//                           per slot); the open loop takes at most that many, a larger closed loop is refused
//   prepare(engine, n)      at start-up, with the slot count: size per-slot state; false refuses to run
//   on_setup(slot)          has_setup() scenarios only: once per slot, before the measured run (calls: register
//                           the slot's callee); ends like a transaction, counted apart
//   on_start(slot)          the slot begins a transaction: send its first request (Engine::send_request)
//   on_response(slot, msg)  a final response (>= 200) to a request of that slot; send the next request, or
//                           end the transaction with Engine::complete / Engine::fail
//   on_request(slot, msg)   a request from the server addressed to a pseudo device (its Request-URI carries
//                           the slot as ";lg=N", which every Contact the engine writes includes); answer it
//                           with Engine::send_response. slot is nullptr when no active slot matches.
//   on_timeout(slot)        a request of the slot went unanswered for --timeout-ms; the engine then ends the
//                           transaction as lost (requests are never retransmitted)
// A scenario keeps per-slot state in its own array sized by prepare(). Callbacks run on the engine's thread,
// must not allocate or throw, and see a MessageView that dangles once they return.
//
// calls (calls.cc) is the state machine of a whole call, both ends of it; park cycles will be another.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "sip/message.h"

namespace parkd::loadgen {

class Engine;
class UserSource;
struct Slot;

class Scenario {
 public:
  virtual ~Scenario() = default;
  virtual std::string_view name() const = 0;
  virtual uint64_t slot_limit(const UserSource& users, uint32_t threads) const {
    (void)users;
    (void)threads;
    return UINT64_MAX;
  }
  // Control plane: may allocate. `error` says why it cannot run.
  virtual bool prepare(Engine& engine, uint32_t slot_count, std::string& error) {
    (void)engine;
    (void)slot_count;
    (void)error;
    return true;
  }
  virtual bool has_setup() const { return false; }
  virtual void on_setup(Engine& engine, Slot& slot) {
    (void)engine;
    (void)slot;
  }
  virtual void on_start(Engine& engine, Slot& slot) = 0;
  virtual void on_response(Engine& engine, Slot& slot, const sip::MessageView& response) = 0;
  // Default: 200 to OPTIONS and NOTIFY, nothing to ACK, 481 to anything else.
  virtual void on_request(Engine& engine, Slot* slot, uint32_t socket, const sip::MessageView& request);
  virtual void on_timeout(Engine& engine, Slot& slot) {
    (void)engine;
    (void)slot;
  }
};

// "options", "register", "register-noauth" or "calls"; nullptr for another name.
std::unique_ptr<Scenario> make_scenario(std::string_view name);
std::unique_ptr<Scenario> make_calls_scenario();  // calls.cc

}  // namespace parkd::loadgen
