// What a scenario needs to answer a digest challenge (401 WWW-Authenticate, 407 Proxy-Authenticate): pick the
// challenge and write the credentials header. Shared by register and calls.
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

// The first challenge in `header` (www_authenticate or proxy_authenticate) whose algorithm we support (a server
// offering SHA-256 and MD5 lists its preference first, RFC 8760 section 2.4). False when there is none.
bool choose_challenge(const sip::MessageView& response, sip::HeaderId header, DigestChallenge& out);

// Appends "<header_name>: Digest username=..., realm=..., nonce=..., uri=..., response=..., algorithm=...,
// opaque=..., qop=auth, nc=00000001, cnonce=...\r\n" for `user` sending `method` to `uri`. False when the
// algorithm is unsupported or hashing failed.
bool write_credentials(DigestHasher& hasher, Engine& engine, const UserCreds& user, std::string_view method,
                       std::string_view uri, const DigestChallenge& challenge, std::string_view header_name,
                       Writer& out);

}  // namespace parkd::loadgen
