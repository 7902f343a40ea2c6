// The park service of one shard (SPEC section 6): call park without park spots.
//
// - Park: a REFER whose Refer-To is the tenant's park code (`*68103`, `*68`, `*68#`) reaches on_refer() from
//   the call layer. The target is checked first (no such extension 404, full 486: the call untouched); then the
//   call is filed in the ParkTable and the call layer splits it, holds the parked party with parkd's SDP and
//   tells the parker (sipfrag 100/200). When the parked party answers the hold, every registered device of the
//   target extension gets a park-info NOTIFY.
// - park-info: on every change of an extension's park (parked, recalling, back to parked, retrieved, recalled,
//   abandoned, expired) the full state of that extension goes to each of its registered devices in an
//   out-of-dialog NOTIFY (docs/park-info.md), over the device's flow, as a client transaction (retransmitted
//   over UDP until answered, given up after 64*T1). Answers are counted; nothing is retried after a final answer.
//   A device that registers while calls are parked at its extension gets the current state at once.
// - Retrieve: an INVITE to `*88<ext>` (`*88`, `*88#`: one's own; `;park-id=` for exactly one call) claims the
//   oldest unclaimed call (the table's claim is atomic on the shard's thread: of two racing retrievers one wins,
//   the other gets 404) and the call layer connects the retriever.
// - Recall: after recall_after_s the parker's devices ring with the parked party as caller for recall_ring_s;
//   unanswered, the call is parked again and the recall repeats; after max_park_s the call is ended (expired).
//   While a call is being recalled it is claimed: *88 takes the next one.
// - Bounded: the table (capacity = the node's limit divided over the shards) and one timer per record, all
//   allocated by the constructor; a park at any limit gets 486. No allocation, no lock, no exception after that.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "calls/call_service.h"
#include "core/counters.h"
#include "core/timer_wheel.h"
#include "park/park_table.h"
#include "sip/builder.h"
#include "tenancy/registrar.h"

namespace parkd::park {

struct ParkConfig {
  uint32_t parked_max_per_shard = 1024;  // the node's limit divided over the shards
  uint32_t parked_max_per_tenant = 0;    // 0: no ceiling beyond the shard's
};

// clang-format off
#define PARKD_PARK_COUNTERS(X)                                                                            \
  X(parks) X(parks_refused) X(parks_full) X(retrieves) X(retrieves_refused) X(recalls) X(recalls_postponed)   \
  X(recalls_answered) X(recalls_unanswered) X(abandoned) X(expired) X(notifies) X(notify_ok) X(notify_rejected) \
  X(notify_failed) X(notify_timeouts) X(notify_unsent) X(parked_live)
// clang-format on

struct ParkCounters {
  PARKD_COUNTERS(PARKD_PARK_COUNTERS)
  std::string to_string() const { return counters_text(*this); }
};

class ParkService final : public calls::FeatureHandler, public tenancy::RegistrationObserver {
 public:
  // `calls` and `registrar` are the shard's; they outlive this. Allocates everything (control plane).
  ParkService(unsigned shard_index, const ParkConfig& config, calls::CallService& calls,
              const tenancy::Registrar& registrar);
  ~ParkService() override;
  ParkService(const ParkService&) = delete;
  ParkService& operator=(const ParkService&) = delete;

  uint16_t on_refer(calls::CallService& calls, const calls::ReferContext& refer, uint64_t& handle) override;
  uint16_t on_invite(calls::CallService& calls, const calls::InviteContext& invite) override;
  void on_parked_event(calls::CallService& calls, uint64_t handle, calls::ParkedEvent event, calls::CallRef call,
                       uint16_t status) override;
  void on_out_of_dialog_answer(calls::CallService& calls, uint64_t cookie, uint16_t status) override;
  void on_registered(uint32_t tenant, uint32_t extension, const Endpoint& source) override;

  const ParkCounters& counters() const { return counters_; }
  const ParkTable& table() const { return table_; }

 private:
  struct RecordTimer : TimerEntry {
    ParkService* service = nullptr;
    uint32_t index = 0;
    uint32_t generation = 0;  // of the record it was armed for
  };
  // A handle for the call layer, never 0 (its "no handle"): the record index + 1 and its generation.
  static uint64_t pack(CallRef ref) { return (static_cast<uint64_t>(ref.generation) << 32) | (ref.index + 1); }
  static CallRef unpack(uint64_t handle) {
    return {static_cast<uint32_t>(handle & 0xFFFFFFFF) - 1, static_cast<uint32_t>(handle >> 32)};
  }
  uint64_t now_ms() const;
  void arm(CallRef ref);
  static void on_timer(TimerEntry& entry);
  void expire(CallRef ref);
  void start_recall(CallRef ref);
  void finish(CallRef ref, ParkState state);
  // Sends the park-info of every extension changed since its last report, then forgets what was reported.
  void flush();
  // park-info of `extension` to its devices (only those registered from `only_from`, when given).
  void send_park_info(const ExtensionParkView& extension, const Endpoint* only_from);

  unsigned shard_index_;
  ParkConfig config_;
  calls::CallService& calls_;
  const tenancy::Registrar& registrar_;
  ParkTable table_;
  std::unique_ptr<RecordTimer[]> timers_;
  std::vector<calls::CallRef> call_of_;  // per record: the call layer's call
  std::vector<uint32_t> retriever_of_;   // per record: the retriever's extension (config index)
  std::unique_ptr<char[]> message_;      // the NOTIFY being built
  sip::TokenKey token_key_;
  uint64_t token_counter_ = 0;
  ParkCounters counters_;
};

}  // namespace parkd::park
