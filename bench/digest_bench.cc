// Digest authentication on its hot path: verify one SHA-256 and one MD5 response (nonce MAC check, H(A2),
// response, constant-time compare, nonce-count table), and make one nonce.
// Baseline beside it: the same computation written the way a careless implementation does it, with a fresh
// EVP_MD_CTX_new/EVP_MD_CTX_free per hash, the legacy EVP_sha256()/EVP_md5() handles (an implicit provider
// fetch inside every EVP_DigestInit_ex) and the one-shot HMAC() for the nonce MAC. Both agree on every answer
// (checked before timing).
//
//   build/release/bench/digest_bench
//
// The parkd verify benchmarks cycle through 4096 precomputed requests with increasing nonce counts; after the
// first pass the answers are replayed_nc, which costs the same hashing and table probe (only the table write
// is skipped), so ns/op is the cost of an accepted request.
#include <benchmark/benchmark.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sip/digest.h"

namespace {

using parkd::sip::Authenticator;
using parkd::sip::AuthResult;
using parkd::sip::AuthView;
using parkd::sip::NonceSecret;
using parkd::sip::StoredHa1;

constexpr std::string_view realm = "acme.example.com";
constexpr std::string_view method = "REGISTER";
constexpr std::string_view uri = "sip:acme.example.com";
constexpr std::string_view cnonce = "6b8b4567";
constexpr uint64_t now_ms = 1'000'000'000;
constexpr size_t ring_size = 4096;

NonceSecret fixed_secret() {
  NonceSecret s;
  for (size_t i = 0; i < s.key.size(); ++i) s.key[i] = static_cast<uint8_t>(i * 13 + 5);
  return s;
}

std::string to_hex(const unsigned char* data, size_t size) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < size; ++i) {
    out += digits[data[i] >> 4];
    out += digits[data[i] & 15];
  }
  return out;
}

// --- the naive baseline ------------------------------------------------------------------------------------------

// One hash the careless way: a new context, an implicit fetch, free.
bool naive_hash(const EVP_MD* md, std::initializer_list<std::string_view> parts, unsigned char* out,
                unsigned int* length) {
  EVP_MD_CTX* c = EVP_MD_CTX_new();
  if (c == nullptr) return false;
  bool ok = EVP_DigestInit_ex(c, md, nullptr) == 1;
  for (std::string_view p : parts) ok = ok && EVP_DigestUpdate(c, p.data(), p.size()) == 1;
  ok = ok && EVP_DigestFinal_ex(c, out, length) == 1;
  EVP_MD_CTX_free(c);
  return ok;
}

unsigned char naive_base64url_value(char c) {
  if (c >= 'A' && c <= 'Z') return static_cast<unsigned char>(c - 'A');
  if (c >= 'a' && c <= 'z') return static_cast<unsigned char>(c - 'a' + 26);
  if (c >= '0' && c <= '9') return static_cast<unsigned char>(c - '0' + 52);
  return c == '-' ? 62 : 63;
}

// The same nonce format as parkd's (timestamp | counter | HMAC-SHA256 truncated to 16 bytes), checked with the
// one-shot HMAC().
bool naive_nonce_ok(const NonceSecret& secret, std::string_view nonce) {
  if (nonce.size() != 32) return false;
  unsigned char raw[24];
  for (size_t i = 0, o = 0; i < 32; i += 4, o += 3) {
    uint32_t v = 0;
    for (size_t k = 0; k < 4; ++k) v = (v << 6) | naive_base64url_value(nonce[i + k]);
    raw[o] = static_cast<unsigned char>(v >> 16);
    raw[o + 1] = static_cast<unsigned char>(v >> 8);
    raw[o + 2] = static_cast<unsigned char>(v);
  }
  unsigned char input[8 + 64];
  std::memcpy(input, raw, 8);
  std::memcpy(input + 8, realm.data(), realm.size());
  unsigned char mac[32];
  unsigned int length = 0;
  if (HMAC(EVP_sha256(), secret.key.data(), static_cast<int>(secret.key.size()), input, 8 + realm.size(), mac,
           &length) == nullptr) {
    return false;
  }
  uint32_t issued_s = (uint32_t{raw[0]} << 24) | (uint32_t{raw[1]} << 16) | (uint32_t{raw[2]} << 8) | raw[3];
  return CRYPTO_memcmp(mac, raw + 8, 16) == 0 && now_ms / 1000 - issued_s <= 300;
}

bool naive_verify(const NonceSecret& secret, bool sha256, const std::string& ha1_hex, const AuthView& a) {
  if (!naive_nonce_ok(secret, a.nonce)) return false;
  const EVP_MD* md = sha256 ? EVP_sha256() : EVP_md5();
  unsigned char hash[32];
  unsigned int length = 0;
  if (!naive_hash(md, {method, ":", a.uri}, hash, &length)) return false;
  std::string ha2 = to_hex(hash, length);
  if (!naive_hash(md, {ha1_hex, ":", a.nonce, ":", a.nc, ":", a.cnonce, ":", a.qop, ":", ha2}, hash, &length)) {
    return false;
  }
  std::string expected = to_hex(hash, length);
  return a.response.size() == expected.size() && CRYPTO_memcmp(a.response.data(), expected.data(), length * 2) == 0;
}

// --- requests -------------------------------------------------------------------------------------------------------

struct Credentials {
  std::array<uint8_t, 16> md5{};
  std::array<uint8_t, 32> sha256{};
  std::string md5_hex;
  std::string sha256_hex;
  StoredHa1 stored;

  Credentials() {
    std::string a1 = "101:" + std::string(realm) + ":alice-secret";
    unsigned int length = 0;
    EVP_Digest(a1.data(), a1.size(), md5.data(), &length, EVP_md5(), nullptr);
    EVP_Digest(a1.data(), a1.size(), sha256.data(), &length, EVP_sha256(), nullptr);
    md5_hex = to_hex(md5.data(), md5.size());
    sha256_hex = to_hex(sha256.data(), sha256.size());
    stored.md5 = &md5;
    stored.sha256 = &sha256;
  }
};

// ring_size requests for one nonce with nonce counts 1, 2, ...; the strings the AuthViews point into.
struct Ring {
  std::string nonce;
  std::vector<std::string> ncs;
  std::vector<std::string> responses;
  std::vector<AuthView> views;

  Ring(const std::string& nonce_text, bool sha256, const Credentials& creds) : nonce(nonce_text) {
    ncs.resize(ring_size);
    responses.resize(ring_size);
    views.resize(ring_size);
    const EVP_MD* md = sha256 ? EVP_sha256() : EVP_md5();
    unsigned char hash[32];
    unsigned int length = 0;
    naive_hash(md, {method, ":", uri}, hash, &length);
    std::string ha2 = to_hex(hash, length);
    for (size_t i = 0; i < ring_size; ++i) {
      char nc[9];
      std::snprintf(nc, sizeof nc, "%08zx", i + 1);
      ncs[i] = nc;
      naive_hash(
          md, {sha256 ? creds.sha256_hex : creds.md5_hex, ":", nonce, ":", ncs[i], ":", cnonce, ":", "auth", ":", ha2},
          hash, &length);
      responses[i] = to_hex(hash, length);
    }
    for (size_t i = 0; i < ring_size; ++i) {
      AuthView& a = views[i];
      a.present = true;
      a.scheme = "Digest";
      a.username = "101";
      a.realm = realm;
      a.nonce = nonce;
      a.uri = uri;
      a.response = responses[i];
      a.algorithm = sha256 ? "SHA-256" : "MD5";
      a.cnonce = cnonce;
      a.qop = "auth";
      a.nc = ncs[i];
    }
  }
};

std::unique_ptr<Authenticator> make_authenticator() {
  auto auth = Authenticator::create(fixed_secret());
  if (auth == nullptr) std::abort();
  return auth;
}

std::string make_nonce(Authenticator& auth) {
  char buffer[parkd::sip::nonce_size];
  return std::string(auth.make_nonce(realm, now_ms, buffer));
}

void parkd_verify(benchmark::State& state, bool sha256) {
  auto auth = make_authenticator();
  Credentials creds;
  Ring ring(make_nonce(*auth), sha256, creds);
  for (size_t i = 0; i < ring_size; ++i) {  // the first pass is all accepted; every answer agrees with the naive one
    if (auth->verify(ring.views[i], method, realm, &creds.stored, now_ms) != AuthResult::ok ||
        !naive_verify(fixed_secret(), sha256, sha256 ? creds.sha256_hex : creds.md5_hex, ring.views[i])) {
      state.SkipWithError("precomputed request not accepted");
      return;
    }
  }
  size_t i = 0;
  for (auto _ : state) {
    AuthResult r = auth->verify(ring.views[i], method, realm, &creds.stored, now_ms);
    benchmark::DoNotOptimize(r);
    i = (i + 1) & (ring_size - 1);
  }
}

void naive_verify_bench(benchmark::State& state, bool sha256) {
  auto auth = make_authenticator();
  Credentials creds;
  Ring ring(make_nonce(*auth), sha256, creds);
  NonceSecret secret = fixed_secret();
  const std::string& ha1 = sha256 ? creds.sha256_hex : creds.md5_hex;
  size_t i = 0;
  for (auto _ : state) {
    bool ok = naive_verify(secret, sha256, ha1, ring.views[i]);
    benchmark::DoNotOptimize(ok);
    i = (i + 1) & (ring_size - 1);
  }
}

void BM_VerifySha256(benchmark::State& state) { parkd_verify(state, true); }
void BM_VerifySha256_Naive(benchmark::State& state) { naive_verify_bench(state, true); }
void BM_VerifyMd5(benchmark::State& state) { parkd_verify(state, false); }
void BM_VerifyMd5_Naive(benchmark::State& state) { naive_verify_bench(state, false); }

void BM_MakeNonce(benchmark::State& state) {
  auto auth = make_authenticator();
  char buffer[parkd::sip::nonce_size];
  uint64_t now = now_ms;
  for (auto _ : state) {
    benchmark::DoNotOptimize(auth->make_nonce(realm, now, buffer));
    ++now;
  }
}

void BM_MakeNonce_Naive(benchmark::State& state) {
  NonceSecret secret = fixed_secret();
  uint32_t counter = 0;
  for (auto _ : state) {
    unsigned char input[8 + 64];
    uint32_t ts = now_ms / 1000;
    std::memcpy(input, &ts, 4);
    std::memcpy(input + 4, &counter, 4);
    ++counter;
    std::memcpy(input + 8, realm.data(), realm.size());
    unsigned char mac[32];
    unsigned int length = 0;
    HMAC(EVP_sha256(), secret.key.data(), static_cast<int>(secret.key.size()), input, 8 + realm.size(), mac, &length);
    benchmark::DoNotOptimize(mac);
  }
}

void BM_WriteChallenges(benchmark::State& state) {
  auto auth = make_authenticator();
  std::array<char, 1024> buffer{};
  for (auto _ : state) {
    parkd::sip::MessageWriter w(buffer.data(), buffer.size());
    auth->write_challenges(w, parkd::sip::HeaderId::www_authenticate, realm, parkd::sip::digest_algorithms_all, false,
                           now_ms);
    benchmark::DoNotOptimize(w.size());
  }
}

BENCHMARK(BM_VerifySha256);
BENCHMARK(BM_VerifySha256_Naive);
BENCHMARK(BM_VerifyMd5);
BENCHMARK(BM_VerifyMd5_Naive);
BENCHMARK(BM_MakeNonce);
BENCHMARK(BM_MakeNonce_Naive);
BENCHMARK(BM_WriteChallenges);

}  // namespace

BENCHMARK_MAIN();
