// The state of one call in the pool, shared by the files that implement CallService (call_service.cc for
// ordinary calls, third_party.cc for transfer and park). Not part of the calls library's interface.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "calls/call_service.h"

namespace parkd::calls {
namespace internal {

// user_data of a client transaction: call generation (32 bits) | tag (8 bits) | call index (24 bits).
// Tags below fork_max_limit are branch INVITEs of leg B; the others say what the request was for.
inline constexpr uint32_t tag_hold = 0xF9;     // the re-INVITE that puts a parked party on hold
inline constexpr uint32_t tag_connect = 0xFA;  // the re-INVITE that gives leg A the offer of a new party (3PCC)
inline constexpr uint32_t tag_notify = 0xFB;   // a sipfrag NOTIFY to a referrer (its answer is only counted)
inline constexpr uint32_t tag_feature = 0xFD;  // an out-of-dialog request of the layer above (cookie, no call)
inline constexpr uint32_t tag_relay = 0xFE;    // a request relayed from the other leg (re-INVITE, UPDATE, INFO)
inline constexpr uint32_t tag_bye = 0xFF;      // a BYE parkd sent to end the call
inline constexpr uint32_t call_index_max = (1u << 24) - 1;

// An out-of-dialog request of the layer above carries its cookie (< 2^56) around the tag: the upper 32 bits in
// the generation's place, the lower 24 in the call index's.
inline constexpr uint64_t user_data_of_cookie(uint64_t cookie) {
  return (cookie >> 24) << 32 | uint64_t{tag_feature} << 24 | (cookie & call_index_max);
}
inline constexpr bool is_cookie(uint64_t user_data) { return ((user_data >> 24) & 0xFF) == tag_feature; }
inline constexpr uint64_t cookie_of(uint64_t user_data) {
  return (user_data >> 32) << 24 | (user_data & call_index_max);
}

inline constexpr std::string_view allow_value = "INVITE, ACK, BYE, CANCEL, UPDATE, INFO, REFER, NOTIFY, OPTIONS";

}  // namespace internal

struct CallService::Call {
  uint32_t index = 0;
  uint32_t generation = 1;
  uint32_t next_free = 0;  // index + 1
  CallState state = CallState::free;
  uint32_t tenant = 0;
  Text domain;
  std::array<Leg, 2> legs;
  sip::TransactionId a_invite;
  uint32_t a_invite_cseq = 0;
  std::array<Branch, fork_max_limit> branches;
  uint32_t branch_count = 0;
  uint32_t winner = UINT32_MAX;
  uint16_t best_status = 0;
  CallTimer ring_timer;
  CallTimer retransmit_timer;
  // A 2xx parkd sent on a leg (the answer to A, or a relayed re-INVITE's) and retransmits until its ACK.
  sip::TransactionId ack_wait;
  LegIndex ack_wait_leg = leg_a;
  uint32_t ack_wait_cseq = 0;
  uint32_t retransmit_interval_ms = 0;
  uint64_t ack_deadline_ms = 0;
  // The one request relayed across the bridge at a time (re-INVITE, UPDATE, INFO).
  sip::TransactionId relay_server;
  sip::TransactionId relay_client;
  LegIndex relay_from = leg_a;
  sip::Method relay_method = sip::Method::other;
  uint32_t relay_cseq = 0;
  // Third-party call control (third_party.cc).
  uint64_t feature_handle = 0;  // the FeatureHandler's handle of a parked call; 0: none
  bool hold_pending = false;    // the hold re-INVITE is on its way (parked)
  ConnectKind connect_kind = ConnectKind::transfer;
  CallRef referrer;             // transfer: the referrer's call, told the outcome by sipfrag
  uint32_t connect_branch = 0;  // the branch whose 2xx (an offer) waits for leg A's answer
  uint32_t connect_cseq = 0;    // leg A's re-INVITE carrying that offer
  uint32_t text_used = 0;
  char* text = nullptr;
};

}  // namespace parkd::calls
