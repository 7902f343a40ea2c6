// What a scenario needs to answer a digest challenge (401 WWW-Authenticate, 407 Proxy-Authenticate): pick the
// challenge and write the credentials header. Shared by register, calls and park; the last two also share a
// pseudo device's REGISTER and its SDP.
//
// Contract: no allocation; the header is appended to the caller's Writer; views into the response dangle once
// the scenario callback returns, so use the challenge before that.
#pragma once

#include <string_view>

#include "sip/header_id.h"
#include "sip/message.h"
#include "tools/loadgen/digest.h"
#include "tools/loadgen/users.h"
#include "tools/loadgen/writer.h"

namespace parkd::loadgen {

class Engine;

class Slot;

// The first challenge in `header` (www_authenticate or proxy_authenticate) whose algorithm we support (a server
// offering SHA-256 and MD5 lists its preference first, RFC 8760 section 2.4). False when there is none.
bool choose_challenge(const sip::MessageView& response, sip::HeaderId header, DigestChallenge& out);

// Appends "<header_name>: Digest username=..., realm=..., nonce=..., uri=..., response=..., algorithm=...,
// opaque=..., qop=auth, nc=00000001, cnonce=...\r\n" for `user` sending `method` to `uri`. False when the
// algorithm is unsupported or hashing failed.
bool write_credentials(DigestHasher& hasher, Engine& engine, const UserCreds& user, std::string_view method,
                       std::string_view uri, const DigestChallenge& challenge, std::string_view header_name,
                       Writer& out);

// REGISTER of `user`'s pseudo device for `slot` (Contact <sip:EXT@HOST;lg=SLOT>, the run's Expires), with
// credentials for `challenge` when given; `cseq` and `call_id` as the scenario keeps them (empty: the
// engine's Call-ID). A slot whose credentials cannot be written fails with 401; one that overflows is lost.
// Shared by the calls and park scenarios (the register scenario writes other Contacts).
// A phone's offer or answer with three codecs (about 240 bytes): o=- <session> <version>, the engine's address,
// audio on `port`. Appended to `w`; returns w.view().
std::string_view write_phone_sdp(Writer& w, const Engine& engine, uint64_t session, uint32_t version, uint32_t port);

// Sends a REGISTER of `user` from `slot`: Contact <sip:EXT@contact_host>, with ;lg=SLOT when
// `slot_in_contact`, Expires from the configuration, and credentials for `challenge` when given (the slot
// fails with 401 when they cannot be written). An empty `call_id` is the engine's own for the slot.
void send_register(DigestHasher& hasher, Engine& engine, Slot& slot, const UserCreds& user,
                   const DigestChallenge* challenge, uint32_t cseq, std::string_view call_id,
                   std::string_view contact_host, bool slot_in_contact);

// A pseudo device's REGISTER (the calls and park scenarios): Contact at the local host, ;lg=SLOT.
void send_device_register(DigestHasher& hasher, Engine& engine, Slot& slot, const UserCreds& user,
                          const DigestChallenge* challenge, uint32_t cseq, std::string_view call_id = {});

}  // namespace parkd::loadgen
