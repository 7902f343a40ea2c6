// The call layer of one shard: parkd as a back-to-back user agent (SPEC section 5). Every call between two
// extensions of a tenant is two dialogs that parkd bridges: leg A (the caller and parkd, parkd is the UAS)
// and leg B (parkd and the callee's device that answered, parkd is the UAC). docs/calls.md draws the model.
//
// Contract:
// - One CallService per shard, behind the registrar in the shard's handler chain (sip::Server -> Registrar
//   -> CallService). It takes INVITE, ACK, BYE, CANCEL, UPDATE and INFO and every response; the registrar
//   keeps REGISTER.
// - A message belongs to the tenant whose domain is the host of its From URI (SPEC section 3); for the
//   requests and responses of leg B, whose From is the caller's address-of-record, that is the same tenant.
//   A message that arrives on another shard is forwarded to the tenant's owner (Shard::forward), so a call
//   and all of its transactions live on one shard and are touched by one thread: no locks.
// - Bounded and allocation-free after on_start(): a fixed pool of calls (CallsConfig::calls_max_per_shard),
//   each with a fixed text area for its dialog state, a Call-ID table reserved for the pool, and the shard's
//   sip::TransactionLayer with its own fixed pools. At every limit the request gets a precise answer (503 with
//   Retry-After for capacity, 500 naming the state that did not fit).
// - SDP passes through unchanged in both directions; parkd never looks into it.
// - Third-party call control (RFC 3725) for transfer and park: a REFER splits a call in two. The referrer's
//   leg goes into a call of its own that only reports progress (sipfrag NOTIFYs) and waits for its BYE; the
//   other party's leg goes into a fresh call where parkd, not a phone, decides what it is connected to: a new
//   party rung with a delayed-offer INVITE (blind transfer, recall), nothing (parked, on hold with parkd's
//   SDP), or a caller of its own (retrieve). The park service (park/, a layer above) drives the parked calls
//   through FeatureHandler and the public functions below. docs/calls.md draws the flows.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "core/counters.h"
#include "core/endpoint.h"
#include "core/timer_wheel.h"
#include "sip/server.h"
#include "sip/transaction.h"
#include "sip/uri.h"
#include "tenancy/registrar.h"

namespace parkd::calls {

inline constexpr uint32_t fork_max_limit = 16;     // branches of one call (devices rung in parallel)
inline constexpr uint32_t call_text_bytes = 6144;  // dialog state text of one call (both legs)
inline constexpr uint32_t calls_per_shard_max = 1u << 20;

struct CallsConfig {
  uint32_t calls_max_per_shard = 1024;  // the pool; the node limit divided over the shards
  uint32_t calls_max_per_tenant = 0;    // 0: only the pool limits a tenant
  uint32_t ring_timeout_ms = 60'000;    // no 2xx by then: CANCEL every branch, 480 to the caller
  uint32_t fork_max = 10;               // bindings rung per call (the registrar's default binding limit)
  sip::TransactionConfig transactions;  // token_counter_base is set per shard
};

// What every shard's CallService shares, read-only once the shards run.
struct CallsShared {
  unsigned shard_count = 1;
  CallsConfig config;
  // parkd's address for each listen socket (Via sent-by and Contact of what parkd sends): the bound address,
  // or for a wildcard one the address the host routes from. Filled after the node bound its sockets.
  std::vector<Endpoint> local;
};

// clang-format off
#define PARKD_CALLS_COUNTERS(X)                                                                        \
  X(invites) X(forwarded) X(forward_failed) X(unknown_domain) X(challenged) X(auth_failures)            \
  X(not_found) X(unavailable) X(limit_reached) X(calls_started) X(calls_answered) X(calls_failed)        \
  X(calls_cancelled) X(ring_timeouts) X(calls_ended) X(calls_live) X(branches_started) X(stray_2xx)     \
  X(relayed_requests) X(glare) X(leg_timeouts) X(ack_timeouts) X(no_dialog) X(transaction_errors)       \
  X(refers) X(refers_refused) X(transfers) X(transfers_failed) X(parks) X(retrieves) X(retrieves_failed)  \
  X(recalls) X(recalls_answered) X(holds_refused) X(out_of_dialog) X(feature_requests) X(stateless_byes)
// clang-format on

struct CallsCounters {
  PARKD_COUNTERS(PARKD_CALLS_COUNTERS)
  std::string to_string() const { return counters_text(*this); }
};

class CallService;

// A call of this shard's pool, as the layer above holds it: stale once the call is freed (generation).
struct CallRef {
  uint32_t index = UINT32_MAX;
  uint32_t generation = 0;
  bool valid() const { return generation != 0; }
  friend bool operator==(const CallRef&, const CallRef&) = default;
};

// What happens to a parked call, reported to the FeatureHandler with the handle it gave.
enum class ParkedEvent : uint8_t {
  parked,             // the call was split; `call` is the parked party's call (hold re-INVITE on its way)
  park_failed,        // the split could not be made (pool full): nothing is parked
  held,               // the parked party answered the hold re-INVITE (2xx, or a refusal it survives)
  gone,               // the parked party hung up or stopped answering: the call is freed
  retrieved,          // a retrieve connected; the call is an ordinary bridged call now
  retrieve_failed,    // a retrieve did not connect; the call is parked again (`status` says why)
  recall_answered,    // a device of the parker answered the recall; bridged
  recall_unanswered,  // nobody answered the recall in time; the call is parked again
};

// The identity and dialog of a parked party (views into the call's state: valid until the call changes).
struct PartyView {
  std::string_view display;
  std::string_view number;  // the extension number, empty when the party is not one of the tenant's
  std::string_view uri;     // sip:<number>@<domain>, or the party's own URI
  std::string_view call_id;
  std::string_view local_tag;
  std::string_view remote_tag;
};

struct ReferContext {
  uint32_t tenant = 0;
  std::string_view domain;
  std::string_view referrer_number;  // the extension that sent the REFER (its leg's party)
  const sip::UriView* refer_to = nullptr;
  std::string_view refer_to_user;  // unescaped user part of the Refer-To URI
  PartyView other;                 // the party that would be parked (views valid during on_refer)
};

struct InviteContext {
  uint32_t tenant = 0;
  std::string_view domain;
  std::string_view caller_number;  // the authenticated caller
  const sip::UriView* target = nullptr;
  sip::TransactionId id;
  const sip::MessageView* invite = nullptr;
  const sip::Flow* from = nullptr;
};

// Feature codes (park, retrieve) plugged into the call layer by a layer above. Called on the shard's thread.
class FeatureHandler {
 public:
  virtual ~FeatureHandler() = default;
  // An in-dialog REFER whose Refer-To user is not an extension of the tenant. Returns 0 when it is no feature
  // (the REFER gets 404), a final status (>= 300) to refuse it with the call untouched, or 202 with `handle`
  // set: the call layer then parks the other party and reports ParkedEvent::parked / park_failed.
  virtual uint16_t on_refer(CallService& calls, const ReferContext& refer, uint64_t& handle) = 0;
  // An authenticated out-of-dialog INVITE whose Request-URI user is not an extension of the tenant. Returns 0
  // when it is no feature (404), 1 when the handler took it (it called CallService::retrieve, which answers),
  // or a final status that the call layer sends.
  virtual uint16_t on_invite(CallService& calls, const InviteContext& invite) = 0;
  virtual void on_parked_event(CallService& calls, uint64_t handle, ParkedEvent event, CallRef call,
                               uint16_t status) = 0;
  // The final answer to a request sent with send_out_of_dialog (0: timeout or transport error).
  virtual void on_out_of_dialog_answer(CallService& calls, uint64_t cookie, uint16_t status) = 0;
};

class CallService final : public sip::RequestHandler, private sip::TransactionUser {
 public:
  // `registrar` is the shard's registrar (bindings, configuration, digest); it and `shared` outlive this.
  CallService(unsigned shard_index, const CallsShared& shared, tenancy::Registrar& registrar);
  ~CallService() override;
  CallService(const CallService&) = delete;
  CallService& operator=(const CallService&) = delete;

  bool on_request(sip::Server& server, const sip::Incoming& request) override;
  void on_response(sip::Server& server, const sip::Incoming& response) override;
  void on_start(Shard& shard) override;
  void on_turn_end(Shard& shard) override;

  const CallsCounters& counters() const { return counters_; }
  const sip::TransactionLayer* transactions() const { return layer_.get(); }

  // Third-party call control for the layer above (shard thread only). Before on_start.
  void set_feature_handler(FeatureHandler* handler) { features_ = handler; }
  Shard* shard() const { return shard_; }
  const tenancy::Registrar& registrar() const { return registrar_; }
  // The parked party of a parked (or parked-and-ringing) call; nullopt when `call` is stale.
  std::optional<PartyView> party(CallRef call) const;
  // Connects the parked call to the retriever's INVITE (the one on_invite was given): re-INVITE to the parked
  // party with the retriever's SDP, its answer to the retriever. False when the call is not parked now
  // (being recalled, or stale): the caller answers the INVITE.
  bool retrieve(CallRef call, const InviteContext& invite, uint64_t handle);
  // Rings every device of `extension` (the parker) with the parked party as caller, for `ring_ms`.
  bool recall(CallRef call, uint32_t extension, uint32_t ring_ms);
  // Ends a parked call (BYE to the parked party) without reporting it.
  void hang_up(CallRef call);
  // Sends an out-of-dialog request parkd built (a NOTIFY) as a client transaction; the answer is reported
  // with on_out_of_dialog_answer(cookie). cookie < 2^56.
  bool send_out_of_dialog(std::string_view request, const sip::Flow& to, uint64_t cookie);
  // parkd's address for Via and Contact on a flow.
  std::string_view local_host(const sip::Flow& flow, uint16_t& port) const;
  std::string_view contact_of(const sip::Flow& flow) const;  // parkd's Contact for that flow

 private:
  // A piece of a call's text area.
  struct Text {
    uint16_t offset = 0;
    uint16_t size = 0;
  };
  // One dialog, as parkd sees it (RFC 3261 section 12): what it needs to send requests on it.
  struct Leg {
    Text call_id;
    Text local_tag;
    Text remote_tag;
    Text local_uri;      // our side's name-addr (From of our requests), without tag
    Text remote_uri;     // the peer's name-addr (To of our requests), without tag
    Text remote_target;  // the peer's Contact URI
    std::array<Text, sip::route_count_max> routes;
    uint32_t route_count = 0;
    uint32_t local_cseq = 0;  // the last CSeq parkd used on this leg
    sip::Flow flow;
  };
  struct Branch {
    sip::TransactionId invite;
    sip::Flow flow;
    uint16_t final_status = 0;  // 0 while it may still answer
  };
  // ringing -> confirmed: an ordinary call. referrer: only the leg that sent a REFER, waiting for its BYE.
  // parked: only the parked party's leg (leg A). connecting: leg A bridged to branches ringing on leg B
  // (transfer target, recall). retrieving: leg A re-INVITEd with the retriever's offer, leg B the retriever.
  enum class CallState : uint8_t { free, ringing, confirmed, referrer, parked, connecting, retrieving };
  enum class ConnectKind : uint8_t { transfer, recall };
  enum LegIndex : uint8_t { leg_a = 0, leg_b = 1 };
  struct Call;
  struct CallTimer : TimerEntry {
    CallService* service = nullptr;
    uint32_t index = 0;
  };

  // Helpers on the text area.
  std::string_view text(const Call& call, Text t) const;
  bool keep(Call& call, Text& out, std::string_view value);
  bool keep_name_addr(Call& call, Text& out, std::string_view display, std::string_view uri);

  // TransactionUser.
  void on_request(sip::TransactionId id, const sip::MessageView& request, const sip::Flow& from) override;
  void on_response(sip::TransactionId id, const sip::MessageView& response, const sip::Flow& from) override;
  void on_cancel(sip::TransactionId invite, const sip::MessageView& cancel) override;
  void on_timeout(sip::TransactionId id) override;
  void on_transport_error(sip::TransactionId id) override;
  void on_terminated(sip::TransactionId id) override;

  // Routing: the tenant of a message and its owner shard. False when the message was dealt with here
  // (forwarded, or answered because it cannot be).
  bool take_here(sip::Server& server, const sip::Incoming& incoming);
  void receive(sip::Server& server, const sip::Incoming& incoming);

  void new_call(sip::TransactionId id, const sip::MessageView& invite, const sip::Flow& from);
  void in_dialog(sip::TransactionId id, const sip::MessageView& request, const sip::Flow& from);
  void dialog_ack(const sip::MessageView& ack);
  bool start_branch(Call& call, uint32_t index, const tenancy::BindingView& binding, const sip::MessageView* invite);

  // Responses on leg B.
  void branch_response(Call& call, uint32_t branch, const sip::MessageView& response);
  void branch_failed(Call& call, uint32_t branch, uint16_t code);
  void answer(Call& call, uint32_t branch, const sip::MessageView& response);
  void relay_response(Call& call, sip::TransactionId id, const sip::MessageView& response);

  // A request parkd originates in a dialog, into scratch_ (headers other than the dialog's and the body copied
  // from `copy_from`, when given); its size, 0 when it did not fit.
  // `extra`: headers and a body of parkd's own instead (sipfrag NOTIFY, hold SDP, an ACK's answer).
  struct Extra {
    std::string_view event;
    std::string_view subscription_state;
    std::string_view content_type;
    std::string_view body;
  };
  size_t build_in_dialog(Call& call, LegIndex leg, sip::Method method, uint32_t cseq, const sip::MessageView* copy_from,
                         const Extra* extra = nullptr);
  // The same with the leg's next CSeq, sent as a client transaction.
  bool send_in_dialog(Call& call, LegIndex leg, sip::Method method, const sip::MessageView* copy_from,
                      uint64_t user_data, const Extra* extra = nullptr);
  void send_ack(Call& call, LegIndex leg, uint32_t cseq, const Extra* extra = nullptr);
  // ACK and BYE for a 2xx that no call wants (a second branch answering, or one that answered after the
  // call ended): RFC 3261 section 13.2.2.4.
  void hang_up_stray(const sip::MessageView& response, const sip::Flow& from);

  void cancel_branches(Call& call, uint32_t except);
  void refuse_too_many_calls(sip::TransactionId id);  // 503 Too Many Calls, Retry-After: 5
  void respond_a(Call& call, uint16_t code, std::string_view reason, const sip::MessageView* body_from);
  // Ends a confirmed call: BYE to every leg in `legs` (bit per leg), then frees it.
  void end_call(Call& call, uint8_t legs);
  void await_ack(Call& call, LegIndex leg, sip::TransactionId id, uint32_t cseq);

  Call* allocate(uint32_t tenant, bool tenant_limit = true);
  void free_call(Call& call);
  Call* from_user_data(uint64_t user_data, uint32_t& tag);
  static uint64_t user_data_of(const Call& call, uint32_t tag);
  Call* find_dialog(std::string_view call_id, LegIndex& leg);

  static void on_ring_timer(TimerEntry& entry);
  static void on_retransmit_timer(TimerEntry& entry);

  void remap_tenants();

  // Third-party call control (third_party.cc).
  void refer(sip::TransactionId id, Call& call, LegIndex leg, const sip::MessageView& request);
  // Moves each leg of `call` into a call of its own (leg A of each): the referrer's and the other party's.
  bool split(Call& call, LegIndex referrer, Call*& referrer_call, Call*& party_call);
  bool copy_leg(const Call& from, LegIndex from_leg, Call& to, LegIndex to_leg);
  void sipfrag(Call& referrer_call, uint16_t status, bool final);
  bool connect(Call& call, uint32_t tenant, uint32_t extension, uint32_t ring_ms);
  void connect_response(Call& call, uint32_t branch, const sip::MessageView& response);
  void connect_failed(Call& call, uint16_t status);
  void connect_leg_a_answer(Call& call, const sip::MessageView& response);
  void hold(Call& call);
  void hold_response(Call& call, const sip::MessageView& response);
  void feature_in_dialog(sip::TransactionId id, Call& call, LegIndex leg, const sip::MessageView& request);
  void retrieve_answer(Call& call, sip::TransactionId id, const sip::MessageView& response);
  void report(Call& call, ParkedEvent event, uint16_t status);
  void back_to_park(Call& call);
  void reset_leg_b(Call& call);
  void party_gone(Call& call);
  static CallRef ref_of(const Call& call);
  Call* from_ref(CallRef ref) const;
  size_t build_hold_sdp(const sip::Flow& flow, char* out, size_t capacity) const;
  std::optional<tenancy::ExtensionView> leg_extension(const Call& call, LegIndex leg) const;
  PartyView party_of(const Call& call, LegIndex leg) const;

  unsigned shard_index_;
  const CallsShared& shared_;
  CallsConfig config_;
  tenancy::Registrar& registrar_;
  Shard* shard_ = nullptr;
  const tenancy::TenantsConfig* seen_config_ = nullptr;
  std::unique_ptr<sip::ShardTransportSink> sink_;
  std::unique_ptr<sip::TransactionLayer> layer_;
  std::unique_ptr<Call[]> calls_;
  std::unique_ptr<char[]> text_;
  uint32_t free_head_ = 0;  // index + 1
  uint32_t live_ = 0;
  std::vector<std::string> local_hosts_;  // per listen socket (control plane, from shared_.local)
  std::vector<uint16_t> local_ports_;
  std::vector<std::string> contact_udp_;
  std::vector<std::string> contact_tcp_;
  absl::flat_hash_map<std::string_view, uint32_t> dialogs_;  // Call-ID -> call index << 1 | leg
  std::vector<uint32_t> tenant_calls_;
  std::unique_ptr<char[]> scratch_;  // requests parkd builds (then handed to the layer, which copies them)
  uint32_t scratch_size_ = 0;
  sip::TokenKey token_key_;
  uint64_t token_counter_ = 0;
  FeatureHandler* features_ = nullptr;
  // The tenant of the message being handled (set by take_here), for the TransactionUser callbacks.
  uint32_t current_tenant_ = 0;
  CallsCounters counters_;
};

}  // namespace parkd::calls
