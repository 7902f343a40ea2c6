// Digest authentication (RFC 3261 section 22, RFC 7616, RFC 8760: MD5 and SHA-256 with qop=auth) and the
// per-source failure throttle. The design, the numbers and what happens at every limit: docs/digest.md.
//
// Contract:
// - One Authenticator and one FailureThrottle per shard: not thread-safe, no locks. Everything they need is
//   allocated by create() / the constructor; verify(), write_challenges(), make_nonce() and the throttle
//   calls allocate nothing themselves and throw nothing (the OpenSSL digest contexts are made once and
//   re-initialised with EVP_DigestInit_ex2 for every hash; the digests are fetched once). One caveat outside
//   our control: OpenSSL 3.0 (Debian 12) frees and re-allocates its provider's ~100-byte digest state inside
//   every EVP_DigestInit_ex2 (fixed in 3.1, openssl/openssl#18105), so there a verify() costs four small
//   malloc/free pairs inside libcrypto and a challenge two (docs/digest.md).
// - Time is passed in (milliseconds, any clock as long as one process uses the same one everywhere; the
//   shard's loop time); nothing here reads a clock, so tests are deterministic.
// - Nonces are stateless: a timestamp, a counter and a MAC (HMAC-SHA256 under a per-process secret) over
//   both and the realm. A nonce verifies only in the realm it was issued for, only in the process that made
//   it, and only for nonce_lifetime_s. The only per-nonce state is the nonce-count table (replay refusal).
// - qop=auth is required (SPEC section 3): the RFC 2069 form without qop, qop=auth-int and the -sess
//   algorithms are refused (unsupported_qop, unsupported_algorithm).
// - An unknown extension and a wrong password look the same from outside (SPEC section 3): verify() with
//   no stored H(A1) hashes against a random dummy H(A1) exactly as it would against a real one, and answers
//   bad_response (or bad_nonce) like a wrong password; the caller challenges an unknown extension with
//   every algorithm (digest_algorithms_all), as it does an extension that has a password.
// - What the caller answers: ok proceeds (and record_success); stale_nonce gets a new challenge with
//   stale=true; every other result gets a new challenge (401 / 407), and those for which
//   auth_counts_as_failure() is true go to FailureThrottle::record_failure(); a blocked source gets 403
//   before any of this runs.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "absl/base/attributes.h"
#include "core/endpoint.h"
#include "sip/builder.h"
#include "sip/header_id.h"
#include "sip/message.h"

using EVP_MD = struct evp_md_st;
using EVP_MD_CTX = struct evp_md_ctx_st;

namespace parkd::sip {

// Which algorithms a challenge offers / an extension can answer. The bit values are those of
// tenancy::DigestAlgorithm, so an Extension's `algorithms` byte can be passed as it is.
enum DigestAlgorithmBits : uint8_t { digest_algorithm_md5 = 1, digest_algorithm_sha256 = 2 };
inline constexpr uint8_t digest_algorithms_all = digest_algorithm_md5 | digest_algorithm_sha256;

#define PARKD_AUTH_RESULTS(X)                                                                                 \
  X(ok)                    /* the response is right, the nonce fresh, the nonce count new */                  \
  X(missing_credentials)   /* no Authorization / Proxy-Authorization: the first request of a client */        \
  X(malformed)             /* not Digest, a required parameter missing, nc not 8 hex digits, ... */           \
  X(unsupported_algorithm) /* not MD5 or SHA-256 (the -sess variants included) */                             \
  X(unsupported_qop)       /* qop absent (RFC 2069) or not "auth" */                                          \
  X(wrong_realm)           /* realm is not the tenant's */                                                    \
  X(bad_nonce)             /* not a nonce of ours for this realm (and the response is not right for it) */    \
  X(stale_nonce)           /* the response is right but the nonce expired (or was forgotten): stale=true */   \
  X(replayed_nc)           /* a nonce count this nonce has already been accepted with, or a lower one */      \
  X(bad_response)          /* wrong password, unknown extension, or an expired nonce with a wrong response */ \
  X(internal_error)        /* OpenSSL failed: refuse, but it is not the client's fault */

enum class AuthResult : uint8_t {
#define PARKD_AUTH_RESULT_ENUM(name) name,
  PARKD_AUTH_RESULTS(PARKD_AUTH_RESULT_ENUM)
#undef PARKD_AUTH_RESULT_ENUM
};
std::string_view auth_result_name(AuthResult result);  // "bad_response", for logs and counters

// True for the results a password guesser or a replayer produces: they feed the failure throttle. Not for
// ok, missing_credentials (every client's first request), stale_nonce (a client with a good password and an
// old nonce) or internal_error.
bool auth_counts_as_failure(AuthResult result);

// The per-process nonce MAC key: random at start-up, then shared read-only by every shard.
struct NonceSecret {
  std::array<uint8_t, 32> key{};
};
// Fills `out` from getrandom(2); false when the kernel gives no randomness (control plane: start-up fails).
bool make_nonce_secret(NonceSecret& out);

struct DigestSettings {
  uint32_t nonce_lifetime_s = 300;  // older nonces are stale
  uint32_t nonce_clock_skew_s = 2;  // a nonce at most this far in the future is accepted
  // Nonce-count entries per shard (24 bytes each); rounded up to a power of two >= 16. 2^17 holds five
  // minutes of nonces at ~440 new ones a second (a million phones re-registering hourly need ~280); at a
  // higher rate the oldest are evicted, which only makes nonces issued before them stale.
  uint32_t nc_table_capacity = 131072;
  // Challenge order. RFC 8760 puts the stronger algorithm first and clients take the first they support, but
  // clients that read only the first challenge and know only MD5 (SIPp 3.6, many older phones) then fail:
  // md5_first serves them (parkd --digest-prefer md5).
  bool md5_first = false;
};

// The stored credentials of one extension: binary H(A1) as tenancy::Extension keeps them.
struct StoredHa1 {
  const std::array<uint8_t, 16>* md5 = nullptr;     // required for a known extension
  const std::array<uint8_t, 32>* sha256 = nullptr;  // nullptr: the extension can answer MD5 only
};

// A nonce is 24 bytes (timestamp_s:32 | counter:32 | HMAC-SHA256 truncated to 128 bits) in base64url.
inline constexpr size_t nonce_size = 32;

class Authenticator {
 public:
  // Control plane. nullptr when OpenSSL cannot provide MD5 or SHA-256 (a FIPS-only provider, say) or the
  // kernel no randomness (the dummy H(A1) and the counter start are random).
  static std::unique_ptr<Authenticator> create(const NonceSecret& secret, const DigestSettings& settings = {});
  ~Authenticator();
  Authenticator(const Authenticator&) = delete;
  Authenticator& operator=(const Authenticator&) = delete;

  // Checks `credentials` (the request's Authorization or Proxy-Authorization) for a request with method
  // `method` (as written in the request line) to the tenant whose realm is `realm`. `stored` is the H(A1)
  // of the extension named by credentials.username in that tenant, or nullptr when there is none: the
  // dummy H(A1) is used then, with the same work and the same answer as a wrong password.
  // On ok the nonce count is recorded; nothing else changes the nonce-count table.
  AuthResult verify(const AuthView& credentials, std::string_view method, std::string_view realm,
                    const StoredHa1* stored, uint64_t now_ms);

  // Writes one challenge header per offered algorithm, SHA-256 first (RFC 8760 section 2.4: the client takes
  // the first one it supports), all with one fresh nonce:
  //   <header>: Digest realm="acme.example.com", nonce="...", qop="auth", algorithm=SHA-256[, stale=true]
  //             [, opaque="..."]
  // `header` is HeaderId::www_authenticate (401) or HeaderId::proxy_authenticate (407). A realm or opaque
  // with a quote, backslash or control character, or no algorithm offered, fails the writer (bad_value).
  void write_challenges(MessageWriter& writer, HeaderId header, std::string_view realm, uint8_t algorithms, bool stale,
                        uint64_t now_ms, std::string_view opaque = {});

  // One challenge value (without the header name) into `out`; empty when it does not fit. For callers that
  // do not use a MessageWriter; `nonce` is one make_nonce() made.
  static std::string_view format_challenge(std::span<char> out, std::string_view realm, std::string_view nonce,
                                           uint8_t algorithm, bool stale, std::string_view opaque = {});

  // A fresh nonce for `realm` into out[0, nonce_size); empty when `out` is smaller or OpenSSL failed.
  std::string_view make_nonce(std::string_view realm, uint64_t now_ms, std::span<char> out);

  // Nonce-count table occupancy and the live entries it had to drop (docs/digest.md).
  size_t nc_entries() const;
  uint64_t nc_evictions() const { return nc_evictions_; }

 private:
  struct NcEntry {
    uint64_t key = 0;  // 64 bits of the nonce's MAC; 0: empty
    // The nonce's issue order: timestamp_s << 32 | counter. Ordering by the counter too (not only by the
    // second) matters under load: thousands of nonces share a second, and an eviction must not make every
    // unused nonce of its second stale. (The counter starts at a random value and wraps once per 2^32 nonces;
    // around the wrap the order within one second can be wrong, which costs at most a stale retry.)
    uint64_t issued_seq = 0;
    uint32_t highest_nc = 0;
    uint32_t issued_s() const { return static_cast<uint32_t>(issued_seq >> 32); }
  };
  enum class NonceCheck : uint8_t { fresh, expired, invalid };

  Authenticator(const NonceSecret& secret, const DigestSettings& settings);
  bool mac(uint32_t timestamp_s, uint32_t counter, std::string_view realm, uint8_t (&out)[32]);
  NonceCheck check_nonce(std::string_view nonce, std::string_view realm, uint64_t now_ms, uint64_t& issued_seq,
                         uint64_t& key);
  // Fills `hex` with the expected response; false when OpenSSL failed.
  bool expected_response(bool sha256, std::span<const uint8_t> ha1, std::string_view method, std::string_view uri,
                         std::string_view nonce, std::string_view nc, std::string_view cnonce, std::string_view qop,
                         char* hex);
  // The nonce-count check and, when accepted, the record. ok, replayed_nc or stale_nonce.
  AuthResult accept_nonce_count(uint64_t key, uint64_t issued_seq, uint32_t nc, uint32_t now_s);

  DigestSettings settings_;
  std::array<uint8_t, 64> hmac_inner_pad_{};  // secret ^ 0x36, secret ^ 0x5c (RFC 2104), computed once
  std::array<uint8_t, 64> hmac_outer_pad_{};
  std::array<uint8_t, 16> dummy_md5_{};
  std::array<uint8_t, 32> dummy_sha256_{};
  uint32_t nonce_counter_ = 0;
  EVP_MD* md5_ = nullptr;
  EVP_MD* sha256_ = nullptr;
  EVP_MD_CTX* md5_context_ = nullptr;
  EVP_MD_CTX* sha256_context_ = nullptr;
  std::unique_ptr<NcEntry[]> nc_table_;
  uint32_t nc_mask_ = 0;
  // Issue time of the newest live entry ever evicted; -1: none. A nonce issued at or before it and not in
  // the table may have been used already, so it is answered stale instead of being trusted (docs/digest.md).
  uint64_t nc_evicted_through_seq_ = 0;  // 0: nothing evicted yet (a real sequence has a non-zero timestamp)
  uint64_t nc_evictions_ = 0;
};

// Repeated authentication failures from one source are counted; failures_max of them within window_ms (a
// sliding-window counter: the current fixed window plus the previous one weighted by its overlap) block the
// source for block_ms. Sources are IP addresses without the port; IPv6 sources are grouped by their first
// ipv6_prefix_bits bits (a /64 is one subscriber). At capacity the least recently active unblocked source is
// forgotten (docs/digest.md says what that gives an attacker with many addresses).
struct ThrottleSettings {
  uint32_t failures_max = 20;
  uint32_t window_ms = 60'000;
  uint32_t block_ms = 120'000;
  uint32_t capacity = 16384;  // sources per shard; rounded up to a power of two >= 16
  uint32_t ipv6_prefix_bits = 64;
};

class FailureThrottle {
 public:
  explicit FailureThrottle(const ThrottleSettings& settings = {});
  FailureThrottle(const FailureThrottle&) = delete;
  FailureThrottle& operator=(const FailureThrottle&) = delete;

  // Whether `source` is blocked at now_ms (asking keeps a blocked source's entry recent).
  bool blocked(const Endpoint& source, uint64_t now_ms) { return blocked_for_ms(source, now_ms) > 0; }
  // How much longer `source` stays blocked; 0 when it is not (for a Retry-After).
  uint64_t blocked_for_ms(const Endpoint& source, uint64_t now_ms);
  void record_failure(const Endpoint& source, uint64_t now_ms);
  // Forgets the source's failures (a block in force stays in force).
  void record_success(const Endpoint& source);

  size_t entries() const;
  uint64_t evictions() const { return evictions_; }
  uint64_t blocks() const { return blocks_; }

 private:
  struct Entry {
    uint64_t key_high = 0;
    uint64_t key_low = 0;
    uint64_t window_start_ms = 0;
    uint64_t last_ms = 0;  // last failure or blocked() of this source: the LRU order
    uint64_t blocked_until_ms = 0;
    uint16_t current_failures = 0;
    uint16_t previous_failures = 0;
    bool used = false;
  };
  struct Key {
    uint64_t high;
    uint64_t low;
  };

  Key key_of(const Endpoint& source) const;
  size_t home(const Key& key) const;
  Entry* find(const Key& key);

  ThrottleSettings settings_;
  std::unique_ptr<Entry[]> table_;
  uint32_t mask_ = 0;
  uint32_t probe_ = 0;
  uint64_t hash_key_[2] = {};
  uint64_t evictions_ = 0;
  uint64_t blocks_ = 0;
};

}  // namespace parkd::sip
