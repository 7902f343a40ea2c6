// HTTP digest authentication as a SIP client computes it: RFC 2617 (MD5, qop=auth), RFC 7616 (SHA-256,
// SHA-512/256, -sess variants) and RFC 8760 (their use in SIP).
//
//   HA1      = H(username ":" realm ":" password)            [-sess: H(H(u:r:p) ":" nonce ":" cnonce)]
//   HA2      = H(method ":" digest-uri)                      (qop=auth; auth-int is not offered)
//   response = H(HA1 ":" nonce ":" nc ":" cnonce ":" qop ":" HA2)   with qop
//            = H(HA1 ":" nonce ":" HA2)                             without qop (RFC 2069)
//
// Contract: DigestHasher owns one EVP_MD_CTX and the fetched EVP_MDs (allocated once, in the constructor);
// response() writes lowercase hex into the caller's buffer and allocates nothing of its own. One hasher
// per thread. Known exception: OpenSSL 3.0 (Debian 12) frees and allocates a ~100-byte provider context
// inside every EVP_DigestInit_ex2, even on a reused EVP_MD_CTX with the same digest (3 per registration);
// no EVP call avoids it before OpenSSL 3.x's copyctx, and it costs well under 1 % of a registration.
#pragma once

#include <cstdint>
#include <string_view>

#include "sip/message.h"

struct evp_md_ctx_st;
struct evp_md_st;

namespace parkd::loadgen {

enum class DigestAlgorithm : uint8_t { md5, sha256, sha512_256 };

// "MD5", "MD5-sess", "SHA-256", ... (case-insensitive). Absent (empty) means MD5. False when unknown.
bool parse_digest_algorithm(std::string_view text, DigestAlgorithm& algorithm, bool& sess);

// The challenge fields a client needs, as views into the response that carried them.
struct DigestChallenge {
  std::string_view realm;
  std::string_view nonce;
  std::string_view opaque;
  std::string_view algorithm;  // as written; empty = MD5
  std::string_view qop;        // the qop-options list as written ("auth,auth-int"); empty = none
};

// Parses a WWW-Authenticate / Proxy-Authenticate value ("Digest realm=\"x\", nonce=..."). False when the
// scheme is not Digest or the list is malformed.
bool parse_digest_challenge(std::string_view value, DigestChallenge& out);
DigestChallenge challenge_from(const sip::AuthView& auth);

// True when the comma-separated qop-options list contains "auth".
bool qop_offers_auth(std::string_view qop_options);

struct DigestInput {
  DigestAlgorithm algorithm = DigestAlgorithm::md5;
  bool sess = false;
  std::string_view username;
  std::string_view realm;
  std::string_view password;
  std::string_view method;
  std::string_view uri;
  std::string_view nonce;
  bool qop_auth = true;  // false: RFC 2069 form, nc and cnonce unused
  std::string_view nc;   // 8 hex digits, "00000001"
  std::string_view cnonce;
};

class DigestHasher {
 public:
  static constexpr size_t hex_size_max = 64;  // SHA-256 and SHA-512/256

  DigestHasher();
  ~DigestHasher();
  DigestHasher(const DigestHasher&) = delete;
  DigestHasher& operator=(const DigestHasher&) = delete;

  bool ok() const { return ctx_ != nullptr; }

  // Writes the response's lowercase hex to out[0, hex_size_max) and returns a view of it; empty on an
  // OpenSSL failure.
  std::string_view response(const DigestInput& in, char* out);

 private:
  // H(parts[0] ":" parts[1] ":" ...) as lowercase hex into out; returns its length (0 on failure).
  size_t hash_hex(DigestAlgorithm algorithm, const std::string_view* parts, size_t count, char* out);

  evp_md_ctx_st* ctx_ = nullptr;
  const evp_md_st* md_[3] = {};
};

}  // namespace parkd::loadgen
