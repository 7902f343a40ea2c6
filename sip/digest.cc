#include "sip/digest.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "sip/params.h"
#include "sip/parser.h"

namespace parkd::sip {
namespace {

constexpr std::string_view base64url_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr size_t nonce_bytes = 24;  // timestamp 4 | counter 4 | MAC 16
constexpr size_t nonce_mac_bytes = 16;
static_assert(nonce_bytes * 4 / 3 == nonce_size);
constexpr size_t nc_probe = 16;  // slots a nonce-count lookup scans: 4 cache lines
constexpr size_t unquote_size_max = 512;

bool fill_random(void* out, size_t size) {
  auto* bytes = static_cast<uint8_t*>(out);
  size_t got = 0;
  while (got < size) {
    ssize_t n = getrandom(bytes + got, size - got, 0);
    if (n > 0) {
      got += static_cast<size_t>(n);
    } else if (n < 0 && errno != EINTR) {
      return false;
    }
  }
  return true;
}

uint32_t round_up_power_of_two(uint32_t n, uint32_t minimum) {
  uint32_t size = minimum;
  while (size < n && size < (1U << 30)) size <<= 1;
  return size;
}

void put_be32(uint8_t* out, uint32_t v) {
  out[0] = static_cast<uint8_t>(v >> 24);
  out[1] = static_cast<uint8_t>(v >> 16);
  out[2] = static_cast<uint8_t>(v >> 8);
  out[3] = static_cast<uint8_t>(v);
}
uint32_t get_be32(const uint8_t* in) {
  return (uint32_t{in[0]} << 24) | (uint32_t{in[1]} << 16) | (uint32_t{in[2]} << 8) | uint32_t{in[3]};
}

// 24 bytes -> 32 characters, no padding (RFC 4648 section 5).
void base64url_encode(const uint8_t* in, char* out) {
  for (size_t i = 0, o = 0; i < nonce_bytes; i += 3, o += 4) {
    uint32_t v = (uint32_t{in[i]} << 16) | (uint32_t{in[i + 1]} << 8) | uint32_t{in[i + 2]};
    out[o] = base64url_alphabet[(v >> 18) & 63];
    out[o + 1] = base64url_alphabet[(v >> 12) & 63];
    out[o + 2] = base64url_alphabet[(v >> 6) & 63];
    out[o + 3] = base64url_alphabet[v & 63];
  }
}

int base64url_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

bool base64url_decode(std::string_view in, uint8_t* out) {
  if (in.size() != nonce_size) return false;
  for (size_t i = 0, o = 0; i < nonce_size; i += 4, o += 3) {
    uint32_t v = 0;
    for (size_t k = 0; k < 4; ++k) {
      int d = base64url_value(in[i + k]);
      if (d < 0) return false;
      v = (v << 6) | static_cast<uint32_t>(d);
    }
    out[o] = static_cast<uint8_t>(v >> 16);
    out[o + 1] = static_cast<uint8_t>(v >> 8);
    out[o + 2] = static_cast<uint8_t>(v);
  }
  return true;
}

void hex_encode(const uint8_t* in, size_t size, char* out) {
  constexpr std::string_view digits = "0123456789abcdef";
  for (size_t i = 0; i < size; ++i) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
}

// nc-value = 8LHEX (RFC 7616 section 3.4); upper case is taken too, since the value is hashed as written.
bool parse_nc(std::string_view text, uint32_t& out) {
  if (text.size() != 8) return false;
  uint32_t v = 0;
  for (char c : text) {
    uint32_t d = 0;
    if (c >= '0' && c <= '9') {
      d = static_cast<uint32_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      d = static_cast<uint32_t>(c - 'a' + 10);
    } else if (c >= 'A' && c <= 'F') {
      d = static_cast<uint32_t>(c - 'A' + 10);
    } else {
      return false;
    }
    v = (v << 4) | d;
  }
  out = v;
  return true;
}

// The parser gives quoted values without their quotes but with their escapes; the hashes are over the
// unescaped text (RFC 7616 section 3.4: "the unquoted value"). Escapes are rare: only then is a copy made.
bool unescaped(std::string_view value, char* buffer, std::string_view& out) {
  if (value.find('\\') == std::string_view::npos) {
    out = value;
    return true;
  }
  out = unquote(value, buffer, unquote_size_max);
  return !out.empty();
}

// A value written between quotes in a challenge: no quote, backslash or control character (a realm is a
// host name, an opaque is ours), so no escaping is needed and nothing can break out of the quotes.
bool quotable(std::string_view value) {
  return std::none_of(value.begin(), value.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return c == '"' || c == '\\' || u < 0x20 || u == 0x7f;
  });
}

uint64_t mix64(uint64_t x) {  // MurmurHash3 fmix64
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

bool digest_update(EVP_MD_CTX* context, std::string_view text) {
  return EVP_DigestUpdate(context, text.data(), text.size()) == 1;
}

}  // namespace

std::string_view auth_result_name(AuthResult result) {
  switch (result) {
#define PARKD_AUTH_RESULT_NAME(name) \
  case AuthResult::name: return #name;
    PARKD_AUTH_RESULTS(PARKD_AUTH_RESULT_NAME)
#undef PARKD_AUTH_RESULT_NAME
  }
  return "unknown";
}

bool auth_counts_as_failure(AuthResult result) {
  switch (result) {
    case AuthResult::ok:
    case AuthResult::missing_credentials:
    case AuthResult::stale_nonce:
    case AuthResult::internal_error: return false;
    default: return true;
  }
}

bool make_nonce_secret(NonceSecret& out) { return fill_random(out.key.data(), out.key.size()); }

// --- Authenticator ---------------------------------------------------------------------------------------------

std::unique_ptr<Authenticator> Authenticator::create(const NonceSecret& secret, const DigestSettings& settings) {
  std::unique_ptr<Authenticator> a(new Authenticator(secret, settings));
  if (a->md5_ == nullptr || a->sha256_ == nullptr || a->md5_context_ == nullptr || a->sha256_context_ == nullptr) {
    return nullptr;
  }
  if (!fill_random(a->dummy_md5_.data(), a->dummy_md5_.size()) ||
      !fill_random(a->dummy_sha256_.data(), a->dummy_sha256_.size()) ||
      !fill_random(&a->nonce_counter_, sizeof a->nonce_counter_)) {
    return nullptr;
  }
  // The first EVP_DigestInit_ex2 of a context allocates the provider's state; do it now, not on a request.
  uint8_t scratch[32];
  if (!a->mac(0, 0, "", scratch) || EVP_DigestInit_ex2(a->md5_context_, a->md5_, nullptr) != 1) return nullptr;
  return a;
}

Authenticator::Authenticator(const NonceSecret& secret, const DigestSettings& settings)
    : settings_(settings),
      md5_(EVP_MD_fetch(nullptr, "MD5", nullptr)),
      sha256_(EVP_MD_fetch(nullptr, "SHA2-256", nullptr)),
      md5_context_(EVP_MD_CTX_new()),
      sha256_context_(EVP_MD_CTX_new()) {
  // HMAC (RFC 2104) by hand over the reused SHA-256 context: the 32-byte key is shorter than the block, so it
  // is zero-padded; the two padded keys never change.
  for (size_t i = 0; i < 64; ++i) {
    uint8_t k = i < secret.key.size() ? secret.key[i] : 0;
    hmac_inner_pad_[i] = k ^ 0x36;
    hmac_outer_pad_[i] = k ^ 0x5c;
  }
  uint32_t capacity = round_up_power_of_two(settings.nc_table_capacity, nc_probe);
  nc_table_ = std::make_unique<NcEntry[]>(capacity);
  nc_mask_ = capacity - 1;
}

Authenticator::~Authenticator() {
  EVP_MD_CTX_free(sha256_context_);
  EVP_MD_CTX_free(md5_context_);
  EVP_MD_free(sha256_);
  EVP_MD_free(md5_);
}

// MAC = HMAC-SHA256(secret, timestamp_s | counter | realm), big-endian integers.
bool Authenticator::mac(uint32_t timestamp_s, uint32_t counter, std::string_view realm, uint8_t (&out)[32]) {
  uint8_t head[8];
  put_be32(head, timestamp_s);
  put_be32(head + 4, counter);
  uint8_t inner[32];
  unsigned int length = 0;
  EVP_MD_CTX* c = sha256_context_;
  bool ok = EVP_DigestInit_ex2(c, sha256_, nullptr) == 1 &&
            EVP_DigestUpdate(c, hmac_inner_pad_.data(), hmac_inner_pad_.size()) == 1 &&
            EVP_DigestUpdate(c, head, sizeof head) == 1 && digest_update(c, realm) &&
            EVP_DigestFinal_ex(c, inner, &length) == 1 && length == 32 &&
            EVP_DigestInit_ex2(c, sha256_, nullptr) == 1 &&
            EVP_DigestUpdate(c, hmac_outer_pad_.data(), hmac_outer_pad_.size()) == 1 &&
            EVP_DigestUpdate(c, inner, sizeof inner) == 1 && EVP_DigestFinal_ex(c, out, &length) == 1 && length == 32;
  return ok;
}

std::string_view Authenticator::make_nonce(std::string_view realm, uint64_t now_ms, std::span<char> out) {
  if (out.size() < nonce_size) return {};
  uint8_t raw[nonce_bytes];
  auto timestamp_s = static_cast<uint32_t>(now_ms / 1000);
  uint32_t counter = nonce_counter_++;
  uint8_t full[32];
  if (!mac(timestamp_s, counter, realm, full)) return {};
  put_be32(raw, timestamp_s);
  put_be32(raw + 4, counter);
  std::memcpy(raw + 8, full, nonce_mac_bytes);
  base64url_encode(raw, out.data());
  return {out.data(), nonce_size};
}

Authenticator::NonceCheck Authenticator::check_nonce(std::string_view nonce, std::string_view realm, uint64_t now_ms,
                                                     uint64_t& issued_seq, uint64_t& key) {
  uint8_t raw[nonce_bytes];
  if (!base64url_decode(nonce, raw)) return NonceCheck::invalid;
  const uint32_t issued_s = get_be32(raw);
  const uint32_t counter = get_be32(raw + 4);
  issued_seq = (uint64_t{issued_s} << 32) | counter;
  uint8_t full[32];
  if (!mac(issued_s, counter, realm, full)) return NonceCheck::invalid;
  if (CRYPTO_memcmp(full, raw + 8, nonce_mac_bytes) != 0) return NonceCheck::invalid;
  std::memcpy(&key, raw + 8, sizeof key);
  if (key == 0) key = 1;  // 0 marks an empty slot
  uint64_t now_s = now_ms / 1000;
  if (issued_s > now_s + settings_.nonce_clock_skew_s) return NonceCheck::invalid;
  if (now_s > issued_s && now_s - issued_s > settings_.nonce_lifetime_s) return NonceCheck::expired;
  return NonceCheck::fresh;
}

// response = H( H(A1) ":" nonce ":" nc ":" cnonce ":" qop ":" H(A2) ),  A2 = Method ":" digest-uri-value
// (RFC 7616 section 3.4.1, RFC 2617 section 3.2.2.1), every H() as lower-case hex.
bool Authenticator::expected_response(bool sha256, std::span<const uint8_t> ha1, std::string_view method,
                                      std::string_view uri, std::string_view nonce, std::string_view nc,
                                      std::string_view cnonce, std::string_view qop, char* hex) {
  EVP_MD_CTX* c = sha256 ? sha256_context_ : md5_context_;
  EVP_MD* md = sha256 ? sha256_ : md5_;
  size_t size = sha256 ? 32 : 16;
  char ha1_hex[64];
  char ha2_hex[64];
  uint8_t hash[32];
  unsigned int length = 0;
  hex_encode(ha1.data(), ha1.size(), ha1_hex);
  bool ok = EVP_DigestInit_ex2(c, md, nullptr) == 1 && digest_update(c, method) && digest_update(c, ":") &&
            digest_update(c, uri) && EVP_DigestFinal_ex(c, hash, &length) == 1 && length == size;
  if (!ok) return false;
  hex_encode(hash, size, ha2_hex);
  ok = EVP_DigestInit_ex2(c, md, nullptr) == 1 && EVP_DigestUpdate(c, ha1_hex, 2 * size) == 1 &&
       digest_update(c, ":") && digest_update(c, nonce) && digest_update(c, ":") && digest_update(c, nc) &&
       digest_update(c, ":") && digest_update(c, cnonce) && digest_update(c, ":") && digest_update(c, qop) &&
       digest_update(c, ":") && EVP_DigestUpdate(c, ha2_hex, 2 * size) == 1 &&
       EVP_DigestFinal_ex(c, hash, &length) == 1 && length == size;
  if (!ok) return false;
  hex_encode(hash, size, hex);
  return true;
}

AuthResult Authenticator::accept_nonce_count(uint64_t key, uint64_t issued_seq, uint32_t nc, uint32_t now_s) {
  auto live = [&](const NcEntry& e) {
    return e.key != 0 && (now_s <= e.issued_s() || now_s - e.issued_s() <= settings_.nonce_lifetime_s);
  };
  size_t home = static_cast<size_t>(key) & nc_mask_;
  NcEntry* free_slot = nullptr;
  NcEntry* oldest = nullptr;
  for (size_t i = 0; i < nc_probe; ++i) {
    NcEntry& e = nc_table_[(home + i) & nc_mask_];
    if (e.key == key && live(e)) {
      if (nc <= e.highest_nc) return AuthResult::replayed_nc;
      e.highest_nc = nc;
      return AuthResult::ok;
    }
    if (!live(e)) {
      if (free_slot == nullptr) free_slot = &e;
    } else if (oldest == nullptr || e.issued_seq < oldest->issued_seq) {
      oldest = &e;
    }
  }
  // Not in the table: never accepted before, unless it was evicted. Every nonce issued at or before the
  // newest evicted one may have been, so it is not trusted: the client gets a fresh nonce (stale=true).
  if (issued_seq <= nc_evicted_through_seq_) return AuthResult::stale_nonce;
  NcEntry* slot = free_slot;
  if (slot == nullptr) {
    // Full window: evict its oldest nonce and raise the watermark to it. When even that one is not older than
    // this nonce, evicting it would put this nonce under the watermark anyway: refuse this one instead.
    if (oldest->issued_seq >= issued_seq) return AuthResult::stale_nonce;
    slot = oldest;
    nc_evicted_through_seq_ = std::max(nc_evicted_through_seq_, slot->issued_seq);
    ++nc_evictions_;
  }
  *slot = NcEntry{key, issued_seq, nc};
  return AuthResult::ok;
}

size_t Authenticator::nc_entries() const {
  size_t n = 0;
  for (size_t i = 0; i <= nc_mask_; ++i) n += nc_table_[i].key != 0 ? 1 : 0;
  return n;
}

AuthResult Authenticator::verify(const AuthView& credentials, std::string_view method, std::string_view realm,
                                 const StoredHa1* stored, uint64_t now_ms) {
  const AuthView& a = credentials;
  if (!a.present) return AuthResult::missing_credentials;
  if (!iequals(a.scheme, "Digest") || a.username.empty() || a.nonce.empty() || a.uri.empty() || a.response.empty() ||
      method.empty()) {
    return AuthResult::malformed;
  }
  // algorithm absent means MD5 (RFC 7616 section 3.3). The -sess variants would need a per-session H(A1)
  // computed from the cnonce: refused, SPEC section 3 asks for MD5 and SHA-256 only.
  bool sha256 = false;
  if (a.algorithm.empty() || iequals(a.algorithm, "MD5")) {
    sha256 = false;
  } else if (iequals(a.algorithm, "SHA-256")) {
    sha256 = true;
  } else {
    return AuthResult::unsupported_algorithm;
  }
  if (!iequals(a.qop, "auth")) return AuthResult::unsupported_qop;
  uint32_t nc = 0;
  if (a.cnonce.empty() || !parse_nc(a.nc, nc) || nc == 0) return AuthResult::malformed;
  if (a.realm != realm) return AuthResult::wrong_realm;

  char uri_buffer[unquote_size_max];
  char cnonce_buffer[unquote_size_max];
  std::string_view uri;
  std::string_view cnonce;
  if (!unescaped(a.uri, uri_buffer, uri) || !unescaped(a.cnonce, cnonce_buffer, cnonce)) {
    return AuthResult::malformed;
  }

  uint64_t issued_seq = 0;
  uint64_t key = 0;
  NonceCheck nonce = check_nonce(a.nonce, realm, now_ms, issued_seq, key);

  // An unknown extension, and an extension without a SHA-256 H(A1) answering with SHA-256, hash against the
  // dummy: the same work, and the same bad_response, as a wrong password.
  std::span<const uint8_t> ha1;
  bool real = false;
  if (sha256) {
    real = stored != nullptr && stored->sha256 != nullptr;
    ha1 = real ? std::span<const uint8_t>(*stored->sha256) : std::span<const uint8_t>(dummy_sha256_);
  } else {
    real = stored != nullptr && stored->md5 != nullptr;
    ha1 = real ? std::span<const uint8_t>(*stored->md5) : std::span<const uint8_t>(dummy_md5_);
  }
  char expected[64];
  if (!expected_response(sha256, ha1, method, uri, a.nonce, a.nc, cnonce, a.qop, expected)) {
    return AuthResult::internal_error;
  }
  size_t size = sha256 ? 64 : 32;
  // LHEX is lower case; a client writing upper case is forgiven (lowered into a copy).
  char given[64] = {};
  bool right = false;
  if (a.response.size() == size) {
    for (size_t i = 0; i < size; ++i) {
      char ch = a.response[i];
      given[i] = (ch >= 'A' && ch <= 'F') ? static_cast<char>(ch - 'A' + 'a') : ch;
    }
    right = CRYPTO_memcmp(given, expected, size) == 0;
  }
  right = right && real;

  // RFC 2617 section 3.2.1: stale only when the digest is right for the nonce it came with; an old or
  // foreign nonce with a wrong digest is a failure like any other.
  switch (nonce) {
    case NonceCheck::invalid: return right ? AuthResult::stale_nonce : AuthResult::bad_nonce;
    case NonceCheck::expired: return right ? AuthResult::stale_nonce : AuthResult::bad_response;
    case NonceCheck::fresh: break;
  }
  if (!right) return AuthResult::bad_response;
  return accept_nonce_count(key, issued_seq, nc, static_cast<uint32_t>(now_ms / 1000));
}

std::string_view Authenticator::format_challenge(std::span<char> out, std::string_view realm, std::string_view nonce,
                                                 uint8_t algorithm, bool stale, std::string_view opaque) {
  if (!quotable(realm) || !quotable(opaque) || !quotable(nonce)) return {};
  if (algorithm != digest_algorithm_md5 && algorithm != digest_algorithm_sha256) return {};
  size_t size = 0;
  bool fits = true;
  auto put = [&](std::string_view text) {
    if (!fits || text.size() > out.size() - size) {
      fits = false;
      return;
    }
    std::memcpy(out.data() + size, text.data(), text.size());
    size += text.size();
  };
  put("Digest realm=\"");
  put(realm);
  put("\", nonce=\"");
  put(nonce);
  put("\", qop=\"auth\", algorithm=");
  put(algorithm == digest_algorithm_sha256 ? "SHA-256" : "MD5");
  if (stale) put(", stale=true");
  if (!opaque.empty()) {
    put(", opaque=\"");
    put(opaque);
    put("\"");
  }
  return fits ? std::string_view(out.data(), size) : std::string_view();
}

void Authenticator::write_challenges(MessageWriter& writer, HeaderId header, std::string_view realm, uint8_t algorithms,
                                     bool stale, uint64_t now_ms, std::string_view opaque) {
  if ((algorithms & digest_algorithms_all) == 0 || !quotable(realm) || !quotable(opaque) ||
      (header != HeaderId::www_authenticate && header != HeaderId::proxy_authenticate)) {
    writer.fail(BuildError::bad_value);
    return;
  }
  char nonce_buffer[nonce_size];
  std::string_view nonce = make_nonce(realm, now_ms, nonce_buffer);
  if (nonce.empty()) {
    writer.fail(BuildError::bad_value);
    return;
  }
  // RFC 8760 section 2.4: the client uses the first challenge whose algorithm it supports, so the stronger
  // one comes first, unless the operator asked for MD5 first (DigestSettings::md5_first).
  const uint8_t first = settings_.md5_first ? digest_algorithm_md5 : digest_algorithm_sha256;
  const uint8_t second = settings_.md5_first ? digest_algorithm_sha256 : digest_algorithm_md5;
  for (uint8_t algorithm : {first, second}) {
    if ((algorithms & algorithm) == 0) continue;
    writer.begin_header(header);
    writer.append("Digest realm=\"");
    writer.append(realm);
    writer.append("\", nonce=\"");
    writer.append(nonce);
    writer.append("\", qop=\"auth\", algorithm=");
    writer.append(algorithm == digest_algorithm_sha256 ? "SHA-256" : "MD5");
    if (stale) writer.append(", stale=true");
    if (!opaque.empty()) {
      writer.append(", opaque=\"");
      writer.append(opaque);
      writer.append("\"");
    }
    writer.end_header();
  }
}

// --- FailureThrottle -------------------------------------------------------------------------------------------

FailureThrottle::FailureThrottle(const ThrottleSettings& settings) : settings_(settings) {
  uint32_t capacity = round_up_power_of_two(settings.capacity, 16);
  table_ = std::make_unique<Entry[]>(capacity);
  mask_ = capacity - 1;
  probe_ = std::min<uint32_t>(capacity, 16);
  if (settings_.window_ms == 0) settings_.window_ms = 1;
  if (settings_.failures_max == 0) settings_.failures_max = 1;
  // Keyed so that a sender cannot choose addresses that all land in one probe window and evict one another
  // (or a blocked source) on purpose. Without randomness the table still works, only predictably.
  if (!fill_random(hash_key_, sizeof hash_key_)) {
    hash_key_[0] = 0x9e3779b97f4a7c15ULL;
    hash_key_[1] = 0xbf58476d1ce4e5b9ULL;
  }
}

FailureThrottle::Key FailureThrottle::key_of(const Endpoint& source) const {
  uint8_t bytes[16];
  std::memcpy(bytes, source.address, 16);
  if (source.ipv6 && settings_.ipv6_prefix_bits < 128) {
    uint32_t bits = settings_.ipv6_prefix_bits;
    for (uint32_t i = 0; i < 16; ++i) {
      uint32_t keep = bits >= 8 * (i + 1) ? 8 : (bits > 8 * i ? bits - 8 * i : 0);
      bytes[i] &= static_cast<uint8_t>(0xff00U >> keep);
    }
  }
  Key key{};
  std::memcpy(&key.high, bytes, 8);
  std::memcpy(&key.low, bytes + 8, 8);
  return key;
}

size_t FailureThrottle::home(const Key& key) const {
  return static_cast<size_t>(mix64(mix64(key.high ^ hash_key_[0]) ^ key.low ^ hash_key_[1])) & mask_;
}

FailureThrottle::Entry* FailureThrottle::find(const Key& key) {
  size_t start = home(key);
  for (size_t i = 0; i < probe_; ++i) {
    Entry& e = table_[(start + i) & mask_];
    if (e.used && e.key_high == key.high && e.key_low == key.low) return &e;
  }
  return nullptr;
}

uint64_t FailureThrottle::blocked_for_ms(const Endpoint& source, uint64_t now_ms) {
  Entry* e = find(key_of(source));
  if (e == nullptr || e->blocked_until_ms <= now_ms) return 0;
  e->last_ms = std::max(e->last_ms, now_ms);
  return e->blocked_until_ms - now_ms;
}

void FailureThrottle::record_failure(const Endpoint& source, uint64_t now_ms) {
  Key key = key_of(source);
  Entry* e = find(key);
  if (e == nullptr) {
    // Take an empty slot, else forget the least recently active source, unblocked ones before blocked ones:
    // a flood of new addresses then wipes partial counts, not the blocks already earned.
    size_t start = home(key);
    for (size_t i = 0; i < probe_; ++i) {
      Entry& candidate = table_[(start + i) & mask_];
      if (!candidate.used) {
        e = &candidate;
        break;
      }
      bool candidate_blocked = candidate.blocked_until_ms > now_ms;
      if (e == nullptr) {
        e = &candidate;
        continue;
      }
      bool e_blocked = e->blocked_until_ms > now_ms;
      if (candidate_blocked != e_blocked ? !candidate_blocked : candidate.last_ms < e->last_ms) e = &candidate;
    }
    if (e->used) ++evictions_;
    *e = Entry{};
    e->used = true;
    e->key_high = key.high;
    e->key_low = key.low;
    e->window_start_ms = now_ms;
  }
  e->last_ms = std::max(e->last_ms, now_ms);
  if (e->blocked_until_ms > now_ms) return;  // already blocked: nothing to count

  // Sliding-window counter: roll the fixed windows forward, then weigh the previous window by the part of it
  // that still lies within window_ms of now.
  uint64_t window = settings_.window_ms;
  if (now_ms >= e->window_start_ms + window) {
    uint64_t elapsed = now_ms - e->window_start_ms;
    e->previous_failures = elapsed < 2 * window ? e->current_failures : 0;
    e->current_failures = 0;
    e->window_start_ms += elapsed / window * window;
  }
  if (e->current_failures < UINT16_MAX) ++e->current_failures;
  uint64_t into_window = now_ms - std::min(now_ms, e->window_start_ms);
  uint64_t weighted = uint64_t{e->previous_failures} * (window - std::min(window, into_window)) / window;
  if (weighted + e->current_failures >= settings_.failures_max) {
    e->blocked_until_ms = now_ms + settings_.block_ms;
    e->current_failures = 0;
    e->previous_failures = 0;
    e->window_start_ms = now_ms;
    ++blocks_;
  }
}

void FailureThrottle::record_success(const Endpoint& source) {
  Entry* e = find(key_of(source));
  if (e == nullptr) return;
  e->current_failures = 0;
  e->previous_failures = 0;
}

size_t FailureThrottle::entries() const {
  size_t n = 0;
  for (size_t i = 0; i <= mask_; ++i) n += table_[i].used ? 1 : 0;
  return n;
}

}  // namespace parkd::sip
