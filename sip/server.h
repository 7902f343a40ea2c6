// The SIP front of a shard: frames TCP streams, parses every message once, answers what needs no state
// (SPEC section 7, OPTIONS to parkd itself) and hands the rest to the RequestHandler of the layers above
// (registrar, calls, park).
//
// Answers, in the order RFC 3261 section 8.2 inspects a request:
//   unparseable          400 with the fault as reason phrase (505 for a SIP version, 513 for a size);
//                        nothing at all when there is no Via to answer along, or for a response
//   Max-Forwards: 0      483 (OPTIONS to parkd itself is answered 200 regardless)
//   unknown method       501 with Allow
//   Require: unknown     420 with Unsupported
//   OPTIONS, no user     200 with Allow, Accept, Allow-Events
//   shard overloaded     503 with Retry-After (1 to 4 s, spread), to a new out-of-dialog request (no To tag;
//                        not ACK, CANCEL or BYE): at Pressure::high only to one without credentials
//                        (Authorization / Proxy-Authorization), at Pressure::critical to every one. Responses,
//                        ACK, CANCEL, BYE and in-dialog requests always go on: calls in progress survive
//                        (docs/limits.md, "Overload")
//   not taken above      405 with Allow
// ACK is never answered. Responses go to the source of the request (rport, RFC 3581) over the socket or
// connection it came in on.
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "core/counters.h"
#include "core/shard.h"
#include "sip/builder.h"
#include "sip/message.h"

namespace parkd::sip {

class Server;

// What a request arrived with, for answering it.
struct Incoming {
  Shard& shard;
  const Inbound& inbound;
  const MessageView& message;
};

class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  // True when the handler took the request (it answers it, now or later); false gets 405.
  virtual bool on_request(Server& server, const Incoming& request) = 0;
  virtual void on_response(Server& /*server*/, const Incoming& /*response*/) {}
  virtual void on_start(Shard& /*shard*/) {}
  virtual void on_turn_end(Shard& /*shard*/) {}
  virtual void on_mail(Shard& /*shard*/, const Mail& /*mail*/) {}
};

// clang-format off
#define PARKD_SIP_SERVER_COUNTERS(X)                                                                      \
  X(requests_in)                                                                                          \
  X(responses_in)                                                                                         \
  X(parse_errors)                                                                                         \
  X(unanswerable_dropped) X(answered_400) X(answered_405) X(answered_420) X(answered_483) X(answered_501) \
      X(answered_513) X(options_answered) X(shed_503) X(shed_503_with_credentials)
// clang-format on

struct ServerCounters {
  PARKD_COUNTERS(PARKD_SIP_SERVER_COUNTERS)
  std::string to_string() const { return counters_text(*this); }
};

// The methods parkd answers without a layer above (Allow); the daemon passes the full list to the Server.
inline constexpr std::string_view allowed_methods = "OPTIONS";

class Server final : public parkd::Handler {
 public:
  // `allow`: the Allow header value (the methods parkd serves with `next`); it must outlive the Server.
  explicit Server(RequestHandler* next = nullptr, std::string_view allow = allowed_methods);

  Frame frame(std::string_view stream) override;
  void on_message(Shard& shard, const Inbound& in) override;
  void on_start(Shard& shard) override {
    if (next_ != nullptr) next_->on_start(shard);
  }
  void on_turn_end(Shard& shard) override {
    if (next_ != nullptr) next_->on_turn_end(shard);
  }
  void on_mail(Shard& shard, const Mail& mail) override {
    if (next_ != nullptr) next_->on_mail(shard, mail);
  }

  // Answers `request` with `code` (reason "" takes the standard phrase); `extra` adds headers and may end
  // with a body. A To tag is added to a tag-less To for codes above 100. Returns false when no send buffer
  // was free or the answer did not fit (both counted by the shard or here).
  bool respond(const Incoming& request, uint16_t code, std::string_view reason,
               absl::FunctionRef<void(MessageWriter&)> extra);
  bool respond(const Incoming& request, uint16_t code, std::string_view reason = {});

  const ServerCounters& counters() const { return counters_; }

 private:
  void answer_unparseable(Shard& shard, const Inbound& in, ParseError error);
  void shed(const Incoming& request, bool with_credentials);

  RequestHandler* next_;
  std::string_view allow_;
  MessageView view_;  // reused for every message: no allocation per message
  TokenKey token_key_;
  ServerCounters counters_;
};

}  // namespace parkd::sip
