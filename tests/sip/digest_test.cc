// Digest authentication and the failure throttle (sip/digest.h, docs/digest.md): the RFC examples, nonces
// (round trip, realm binding, expiry, tampering), nonce-count replay and the full table, the unknown-extension
// path, the challenges, a SIPp-style request through the parser, no allocation, and the throttle.
#include "sip/digest.h"

#include <gtest/gtest.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sip/parser.h"
#include "support/allocation_counter.h"

namespace parkd::sip {
namespace {

// OpenSSL's own allocations do not go through operator new: count them through its hooks, installed before
// OpenSSL allocates anything (a static initializer of this test binary). If something was faster, the
// allocation test says so and checks operator new only.
std::atomic<uint64_t> openssl_allocations{0};
void* counting_malloc(size_t n, const char* /*file*/, int /*line*/) {
  openssl_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n);  // NOLINT(cppcoreguidelines-no-malloc)
}
void* counting_realloc(void* p, size_t n, const char* /*file*/, int /*line*/) {
  openssl_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::realloc(p, n);  // NOLINT(cppcoreguidelines-no-malloc)
}
void counting_free(void* p, const char* /*file*/, int /*line*/) { std::free(p); }  // NOLINT
const bool openssl_hooks_installed = CRYPTO_set_mem_functions(counting_malloc, counting_realloc, counting_free) == 1;

constexpr std::string_view acme = "acme.example.com";
constexpr std::string_view globex = "globex.example.com";
constexpr uint64_t t0_ms = 1'000'000'000;  // any clock; not 0 so that "before" exists

// --- an independent client: one-shot EVP_Digest, hex strings, the RFC formulas written out -------------------

std::string hex(const unsigned char* data, size_t size) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < size; ++i) {
    out += digits[data[i] >> 4];
    out += digits[data[i] & 15];
  }
  return out;
}

std::vector<unsigned char> hash_bytes(bool sha256, std::string_view text) {
  std::vector<unsigned char> out(sha256 ? 32 : 16);
  unsigned int length = 0;
  EXPECT_EQ(EVP_Digest(text.data(), text.size(), out.data(), &length, sha256 ? EVP_sha256() : EVP_md5(), nullptr), 1);
  return out;
}
std::string hash_hex(bool sha256, std::string_view text) {
  auto bytes = hash_bytes(sha256, text);
  return hex(bytes.data(), bytes.size());
}

struct Credentials {
  std::string username = "101";
  std::string realm{acme};
  std::string password = "alice-secret";
  bool sha256 = true;
  std::string algorithm;  // empty: written from sha256 ("SHA-256" / "MD5"); "-" leaves it out
  std::string method = "REGISTER";
  std::string uri = "sip:acme.example.com";
  std::string nonce;
  std::string nc = "00000001";
  std::string cnonce = "0a4f113b";
  std::string qop = "auth";
};

std::string client_response(const Credentials& c) {
  std::string ha1 = hash_hex(c.sha256, c.username + ":" + c.realm + ":" + c.password);
  std::string ha2 = hash_hex(c.sha256, c.method + ":" + c.uri);
  return hash_hex(c.sha256, ha1 + ":" + c.nonce + ":" + c.nc + ":" + c.cnonce + ":" + c.qop + ":" + ha2);
}

// The strings an AuthView points into.
struct Request {
  Credentials c;
  std::string response;
  AuthView view;

  explicit Request(Credentials credentials, std::string response_override = {}) : c(std::move(credentials)) {
    response = response_override.empty() ? client_response(c) : std::move(response_override);
    view.present = true;
    view.scheme = "Digest";
    view.username = c.username;
    view.realm = c.realm;
    view.nonce = c.nonce;
    view.uri = c.uri;
    view.response = response;
    if (c.algorithm.empty()) c.algorithm = c.sha256 ? "SHA-256" : "MD5";
    if (c.algorithm != "-") view.algorithm = c.algorithm;
    view.cnonce = c.cnonce;
    view.qop = c.qop;
    view.nc = c.nc;
  }
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;
};

// One extension's stored H(A1), as tenancy keeps them.
struct Stored {
  std::array<uint8_t, 16> md5{};
  std::array<uint8_t, 32> sha256{};
  StoredHa1 ha1;

  Stored(std::string_view username, std::string_view realm, std::string_view password, bool with_sha256 = true) {
    std::string a1 = std::string(username) + ":" + std::string(realm) + ":" + std::string(password);
    auto m = hash_bytes(false, a1);
    auto s = hash_bytes(true, a1);
    std::copy(m.begin(), m.end(), md5.begin());
    std::copy(s.begin(), s.end(), sha256.begin());
    ha1.md5 = &md5;
    ha1.sha256 = with_sha256 ? &sha256 : nullptr;
  }
  Stored(const Stored&) = delete;
  Stored& operator=(const Stored&) = delete;
};

NonceSecret fixed_secret() {
  NonceSecret s;
  for (size_t i = 0; i < s.key.size(); ++i) s.key[i] = static_cast<uint8_t>(i * 7 + 1);
  return s;
}

class DigestTest : public ::testing::Test {
 protected:
  std::unique_ptr<Authenticator> auth = Authenticator::create(fixed_secret());
  Stored alice{"101", acme, "alice-secret"};

  std::string nonce(std::string_view realm = acme, uint64_t now_ms = t0_ms) {
    char buffer[nonce_size];
    return std::string(auth->make_nonce(realm, now_ms, buffer));
  }
  AuthResult check(const Request& r, const StoredHa1* stored, uint64_t now_ms = t0_ms, std::string_view realm = acme) {
    return auth->verify(r.view, r.c.method, realm, stored, now_ms);
  }
  Credentials with_nonce(bool sha256 = true) {
    Credentials c;
    c.sha256 = sha256;
    c.nonce = nonce();
    return c;
  }
};

// --- the RFC examples ------------------------------------------------------------------------------------------
// Their nonces are not ours, so the best verify() can say is "right digest, foreign nonce": stale_nonce. A wrong
// digest for the same nonce is bad_nonce: the difference proves the response computation.

TEST_F(DigestTest, Rfc2617Section3_5Md5Example) {
  Credentials c;
  c.username = "Mufasa";
  c.realm = "testrealm@host.com";
  c.password = "Circle Of Life";
  c.sha256 = false;
  c.method = "GET";
  c.uri = "/dir/index.html";
  c.nonce = "dcd98b7102dd2f0e8b11d0f600bfb0c093";
  c.cnonce = "0a4f113b";
  EXPECT_EQ(client_response(c), "6629fae49393a05397450978507c4ef1");  // the test's own client agrees with the RFC
  Stored mufasa("Mufasa", c.realm, c.password, false);
  Request right(c, "6629fae49393a05397450978507c4ef1");
  EXPECT_EQ(check(right, &mufasa.ha1, t0_ms, c.realm), AuthResult::stale_nonce);
  Request upper(c, "6629FAE49393A05397450978507C4EF1");
  EXPECT_EQ(check(upper, &mufasa.ha1, t0_ms, c.realm), AuthResult::stale_nonce);
  Request wrong(c, "6629fae49393a05397450978507c4ef2");
  EXPECT_EQ(check(wrong, &mufasa.ha1, t0_ms, c.realm), AuthResult::bad_nonce);
}

TEST_F(DigestTest, Rfc7616Section3_9_1Sha256Example) {
  Credentials c;
  c.username = "Mufasa";
  c.realm = "http-auth@example.org";
  c.password = "Circle of Life";
  c.sha256 = true;
  c.method = "GET";
  c.uri = "/dir/index.html";
  c.nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
  c.cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
  const std::string expected = "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1";
  EXPECT_EQ(client_response(c), expected);
  Stored mufasa("Mufasa", c.realm, c.password);
  Request right(c, expected);
  EXPECT_EQ(check(right, &mufasa.ha1, t0_ms, c.realm), AuthResult::stale_nonce);
  std::string off = expected;
  off[10] = off[10] == '0' ? '1' : '0';
  Request wrong(c, off);
  EXPECT_EQ(check(wrong, &mufasa.ha1, t0_ms, c.realm), AuthResult::bad_nonce);
}

// --- nonces ------------------------------------------------------------------------------------------------------

TEST_F(DigestTest, NonceRoundTripBothAlgorithms) {
  std::string n = nonce();
  ASSERT_EQ(n.size(), nonce_size);
  EXPECT_EQ(n.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), std::string::npos);
  EXPECT_NE(nonce(), nonce());  // the counter makes every nonce different, even within one second
  Request sha(with_nonce(true));
  EXPECT_EQ(check(sha, &alice.ha1), AuthResult::ok);
  Request md5(with_nonce(false));
  EXPECT_EQ(check(md5, &alice.ha1), AuthResult::ok);
  Credentials c = with_nonce(false);
  c.algorithm = "-";  // algorithm absent means MD5 (RFC 7616 section 3.3)
  Request absent(c);
  EXPECT_EQ(check(absent, &alice.ha1), AuthResult::ok);
  char small[nonce_size - 1];
  EXPECT_TRUE(auth->make_nonce(acme, t0_ms, small).empty());
}

TEST_F(DigestTest, NonceFromAnotherProcessIsNotOurs) {
  NonceSecret other_secret = fixed_secret();
  other_secret.key[0] ^= 1;
  auto other = Authenticator::create(other_secret);
  char buffer[nonce_size];
  Credentials c;
  c.nonce = std::string(other->make_nonce(acme, t0_ms, buffer));
  Request wrong(c, std::string(64, '0'));
  EXPECT_EQ(check(wrong, &alice.ha1), AuthResult::bad_nonce);
  Request right(c);  // right password, a nonce from before a restart: a fresh nonce, no failure
  EXPECT_EQ(check(right, &alice.ha1), AuthResult::stale_nonce);
  EXPECT_FALSE(auth_counts_as_failure(AuthResult::stale_nonce));
}

TEST_F(DigestTest, NonceOfAnotherRealmIsRefused) {
  Stored globex_alice("101", globex, "alice-secret");
  Credentials c;
  c.realm = globex;
  c.nonce = nonce(acme);  // issued in acme, presented in globex
  Request wrong(c, std::string(64, 'a'));
  EXPECT_EQ(check(wrong, &globex_alice.ha1, t0_ms, globex), AuthResult::bad_nonce);
  Request right(c);  // even with globex's right password it is never accepted: a fresh globex nonce
  EXPECT_EQ(check(right, &globex_alice.ha1, t0_ms, globex), AuthResult::stale_nonce);
  c.nonce = nonce(globex);
  Request fresh(c);
  EXPECT_EQ(check(fresh, &globex_alice.ha1, t0_ms, globex), AuthResult::ok);
}

TEST_F(DigestTest, ExpiredNonceIsStaleOnlyWithTheRightResponse) {
  Request at_limit(with_nonce());
  EXPECT_EQ(check(at_limit, &alice.ha1, t0_ms + 300'000), AuthResult::ok);
  Request expired(with_nonce());
  EXPECT_EQ(check(expired, &alice.ha1, t0_ms + 301'000), AuthResult::stale_nonce);
  Credentials c = with_nonce();
  c.password = "guess";
  Request guess(c);
  EXPECT_EQ(check(guess, &alice.ha1, t0_ms + 301'000), AuthResult::bad_response);
}

TEST_F(DigestTest, NonceFromTheFutureIsRefused) {
  Credentials c;
  c.nonce = nonce(acme, t0_ms + 2'000);  // within the skew
  Request near(c);
  EXPECT_EQ(check(near, &alice.ha1), AuthResult::ok);
  c.nonce = nonce(acme, t0_ms + 10'000);
  Request far(c);
  EXPECT_EQ(check(far, &alice.ha1), AuthResult::stale_nonce);
  Request far_wrong(c, std::string(64, 'b'));
  EXPECT_EQ(check(far_wrong, &alice.ha1), AuthResult::bad_nonce);
}

TEST_F(DigestTest, TamperedNonceIsRefused) {
  std::string n = nonce();
  for (size_t at : {size_t{0}, size_t{5}, size_t{10}, nonce_size - 1}) {  // timestamp, counter, MAC
    Credentials c;
    c.nonce = n;
    c.nonce[at] = c.nonce[at] == 'A' ? 'B' : 'A';
    Request r(c);  // the client hashes the tampered nonce with the right password: still not accepted
    EXPECT_EQ(check(r, &alice.ha1), AuthResult::stale_nonce) << at;
    Request wrong(c, std::string(64, 'c'));
    EXPECT_EQ(check(wrong, &alice.ha1), AuthResult::bad_nonce) << at;
  }
  for (const std::string& bad : {n.substr(1), n + "A", std::string(nonce_size, '='), std::string()}) {
    Credentials c;
    c.nonce = bad;
    Request r(c);
    EXPECT_NE(check(r, &alice.ha1), AuthResult::ok) << bad;
  }
}

// --- nonce counts --------------------------------------------------------------------------------------------------

TEST_F(DigestTest, NonceCountMustIncrease) {
  Credentials c = with_nonce();
  auto at = [&](const char* nc) {
    c.nc = nc;
    Request r(c);
    return check(r, &alice.ha1);
  };
  EXPECT_EQ(at("00000001"), AuthResult::ok);
  EXPECT_EQ(at("00000001"), AuthResult::replayed_nc);
  EXPECT_EQ(at("00000002"), AuthResult::ok);
  EXPECT_EQ(at("00000002"), AuthResult::replayed_nc);
  EXPECT_EQ(at("00000001"), AuthResult::replayed_nc);
  EXPECT_EQ(at("0000000a"), AuthResult::ok);  // gaps are fine (a lost request)
  EXPECT_EQ(at("00000009"), AuthResult::replayed_nc);
  EXPECT_EQ(at("0000000B"), AuthResult::ok);  // hex in upper case, hashed as written
  EXPECT_TRUE(auth_counts_as_failure(AuthResult::replayed_nc));
  // A wrong response never touches the table: it cannot burn a legitimate client's counts.
  c.nc = "ffffffff";
  Request burn(c, std::string(64, 'd'));
  EXPECT_EQ(check(burn, &alice.ha1), AuthResult::bad_response);
  EXPECT_EQ(at("0000000c"), AuthResult::ok);
  // Another nonce has its own count.
  c.nonce = nonce();
  EXPECT_EQ(at("00000001"), AuthResult::ok);
  EXPECT_EQ(auth->nc_entries(), 2U);
}

TEST(DigestNcTable, FullTableNeverAcceptsAReplay) {
  DigestSettings settings;
  settings.nc_table_capacity = 16;  // the minimum: the probe window is the whole table
  auto auth = Authenticator::create(fixed_secret(), settings);
  Stored alice("101", acme, "alice-secret");
  std::vector<std::string> nonces;
  for (uint64_t i = 0; i < 18; ++i) {  // one nonce per second: ts t0, t0+1, ..., t0+17
    char buffer[nonce_size];
    nonces.emplace_back(auth->make_nonce(acme, t0_ms + i * 1000, buffer));
  }
  const uint64_t now = t0_ms + 20'000;
  auto use = [&](size_t i, const char* nc) {
    Credentials c;
    c.nonce = nonces[i];
    c.nc = nc;
    Request r(c);
    return auth->verify(r.view, c.method, acme, &alice.ha1, now);
  };
  for (size_t i = 0; i < 16; ++i) EXPECT_EQ(use(i, "00000001"), AuthResult::ok) << i;
  EXPECT_EQ(auth->nc_entries(), 16U);
  EXPECT_EQ(auth->nc_evictions(), 0U);
  EXPECT_EQ(use(16, "00000001"), AuthResult::ok);  // full: the oldest (nonce 0) is evicted
  EXPECT_EQ(auth->nc_evictions(), 1U);
  EXPECT_EQ(auth->nc_entries(), 16U);
  // Nonce 0 is forgotten, but its replay is not accepted: issued at or before the newest evicted nonce, it is
  // answered stale (a fresh nonce), whatever its count.
  EXPECT_EQ(use(0, "00000001"), AuthResult::stale_nonce);
  EXPECT_EQ(use(0, "00000002"), AuthResult::stale_nonce);
  EXPECT_EQ(use(1, "00000001"), AuthResult::replayed_nc);  // still in the table
  EXPECT_EQ(use(1, "00000002"), AuthResult::ok);
  EXPECT_EQ(use(17, "00000001"), AuthResult::ok);  // newer than the watermark: evicts nonce 1
  EXPECT_EQ(use(1, "00000003"), AuthResult::stale_nonce);
  // Entries of expired nonces are free again and the watermark no longer matters for new nonces.
  char buffer[nonce_size];
  Credentials c;
  c.nonce = std::string(auth->make_nonce(acme, now + 400'000, buffer));
  Request late(c);
  EXPECT_EQ(auth->verify(late.view, c.method, acme, &alice.ha1, now + 400'000), AuthResult::ok);
}

// Under load thousands of nonces share a second. Each used at once through a table far smaller than their
// number: evictions must only ever make nonces issued before the evicted one stale, never the fresh ones of
// the same second (the bench found 401 stale=true answers to right credentials above ~25k registrations/s).
TEST(DigestNcTable, ManyNoncesInOneSecondEachUsedAtOnceAreAllAccepted) {
  DigestSettings settings;
  settings.nc_table_capacity = 16;
  auto auth = Authenticator::create(fixed_secret(), settings);
  Stored alice("101", acme, "alice-secret");
  for (int i = 0; i < 2000; ++i) {
    char buffer[nonce_size];
    Credentials c;
    c.nonce = std::string(auth->make_nonce(acme, t0_ms + 500, buffer));  // all within one second
    Request r(c);
    ASSERT_EQ(auth->verify(r.view, c.method, acme, &alice.ha1, t0_ms + 600), AuthResult::ok) << "nonce " << i;
  }
  EXPECT_GT(auth->nc_evictions(), 1000U);
}

// --- wrong password, unknown extension -------------------------------------------------------------------------

TEST_F(DigestTest, WrongPasswordIsBadResponse) {
  Credentials c = with_nonce();
  c.password = "alice-secreT";
  Request r(c);
  EXPECT_EQ(check(r, &alice.ha1), AuthResult::bad_response);
  EXPECT_TRUE(auth_counts_as_failure(AuthResult::bad_response));
  Request short_response(with_nonce(), "abc");
  EXPECT_EQ(check(short_response, &alice.ha1), AuthResult::bad_response);
}

TEST_F(DigestTest, UnknownExtensionLooksLikeAWrongPassword) {
  for (bool sha256 : {true, false}) {
    for (uint64_t when : {t0_ms, t0_ms + 400'000}) {  // fresh and expired nonce
      Credentials c = with_nonce(sha256);
      c.password = "guess";
      Request wrong_password(c);
      c.username = "999";
      Request unknown(c);
      AuthResult a = check(wrong_password, &alice.ha1, when);
      AuthResult b = check(unknown, nullptr, when);
      EXPECT_EQ(a, b) << sha256 << " " << when;
      EXPECT_NE(a, AuthResult::ok);
    }
  }
  // Even the right H(A1) of someone else cannot pass the dummy path.
  Request someone(with_nonce());
  EXPECT_EQ(check(someone, nullptr), AuthResult::bad_response);
  // An MD5-only extension answering with SHA-256 goes through the dummy too.
  Stored md5_only("102", acme, "bob-secret", false);
  Credentials c = with_nonce(true);
  c.username = "102";
  c.password = "bob-secret";
  Request sha(c);
  EXPECT_EQ(check(sha, &md5_only.ha1), AuthResult::bad_response);
  c.sha256 = false;
  Request md5(c);
  EXPECT_EQ(check(md5, &md5_only.ha1), AuthResult::ok);
}

// --- what is refused before any hashing ---------------------------------------------------------------------------

TEST_F(DigestTest, RefusedCredentials) {
  AuthView none;
  EXPECT_EQ(auth->verify(none, "REGISTER", acme, &alice.ha1, t0_ms), AuthResult::missing_credentials);
  EXPECT_FALSE(auth_counts_as_failure(AuthResult::missing_credentials));
  struct Case {
    const char* what;
    void (*change)(Credentials&);
    AuthResult expected;
  };
  const Case cases[] = {
      {"qop absent (RFC 2069)", [](Credentials& c) { c.qop = ""; }, AuthResult::unsupported_qop},
      {"auth-int", [](Credentials& c) { c.qop = "auth-int"; }, AuthResult::unsupported_qop},
      {"MD5-sess", [](Credentials& c) { c.algorithm = "MD5-sess"; }, AuthResult::unsupported_algorithm},
      {"SHA-256-sess", [](Credentials& c) { c.algorithm = "SHA-256-sess"; }, AuthResult::unsupported_algorithm},
      {"SHA-512-256", [](Credentials& c) { c.algorithm = "SHA-512-256"; }, AuthResult::unsupported_algorithm},
      {"nc short", [](Credentials& c) { c.nc = "1"; }, AuthResult::malformed},
      {"nc not hex", [](Credentials& c) { c.nc = "0000000g"; }, AuthResult::malformed},
      {"nc zero", [](Credentials& c) { c.nc = "00000000"; }, AuthResult::malformed},
      {"no cnonce", [](Credentials& c) { c.cnonce = ""; }, AuthResult::malformed},
      {"no uri", [](Credentials& c) { c.uri = ""; }, AuthResult::malformed},
      {"no username", [](Credentials& c) { c.username = ""; }, AuthResult::malformed},
      {"realm", [](Credentials& c) { c.realm = "ACME.example.com"; }, AuthResult::wrong_realm},
  };
  for (const Case& k : cases) {
    Credentials c = with_nonce();
    k.change(c);
    Request r(c);
    EXPECT_EQ(check(r, &alice.ha1), k.expected) << k.what;
  }
  Request basic(with_nonce());
  basic.view.scheme = "Basic";
  EXPECT_EQ(check(basic, &alice.ha1), AuthResult::malformed);
  Credentials lower = with_nonce();
  lower.algorithm = "sha-256";  // algorithm and qop are tokens: case-insensitive
  lower.qop = "AUTH";
  Request r(lower);
  EXPECT_EQ(check(r, &alice.ha1), AuthResult::ok);
}

// --- challenges ----------------------------------------------------------------------------------------------------

struct Built {
  std::array<char, 2048> buffer{};
  std::string text;
  std::unique_ptr<MessageView> view = std::make_unique<MessageView>();
  std::vector<std::string> challenges;
};

std::unique_ptr<Built> challenge_response(Authenticator& auth, uint8_t algorithms, bool stale,
                                          std::string_view opaque = {}) {
  auto b = std::make_unique<Built>();
  MessageWriter w(b->buffer.data(), b->buffer.size());
  w.start_response(401);
  w.header(HeaderId::via, "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1");
  w.header(HeaderId::from, "<sip:101@acme.example.com>;tag=1");
  w.header(HeaderId::to, "<sip:101@acme.example.com>;tag=2");
  w.header(HeaderId::call_id, "c1");
  w.header(HeaderId::cseq, "1 REGISTER");
  auth.write_challenges(w, HeaderId::www_authenticate, acme, algorithms, stale, t0_ms, opaque);
  auto size = w.finish();
  EXPECT_TRUE(size.ok());
  if (!size.ok()) return b;
  b->text.assign(b->buffer.data(), *size);
  ParseResult p = parse_message(b->text, Transport::udp, *b->view);
  EXPECT_EQ(p.status, ParseStatus::complete) << reason_phrase(p.error);
  for (uint32_t i = 0; i < b->view->header_count; ++i) {
    if (b->view->headers[i].id == HeaderId::www_authenticate) b->challenges.emplace_back(b->view->headers[i].value);
  }
  return b;
}

// A challenge with its nonce replaced by N: the shape an observer compares.
std::string shape(std::string challenge) {
  size_t at = challenge.find("nonce=\"") + 7;
  challenge.replace(at, challenge.find('"', at) - at, "N");
  return challenge;
}

TEST_F(DigestTest, ChallengesOfferSha256FirstThenMd5) {
  auto b = challenge_response(*auth, digest_algorithms_all, false);
  ASSERT_EQ(b->challenges.size(), 2U) << b->text;
  EXPECT_EQ(shape(b->challenges[0]), "Digest realm=\"acme.example.com\", nonce=\"N\", qop=\"auth\", algorithm=SHA-256");
  EXPECT_EQ(shape(b->challenges[1]), "Digest realm=\"acme.example.com\", nonce=\"N\", qop=\"auth\", algorithm=MD5");
  const AuthView& parsed = b->view->www_authenticate;  // the first one, as a client reads it
  EXPECT_EQ(parsed.realm, acme);
  EXPECT_EQ(parsed.algorithm, "SHA-256");
  EXPECT_EQ(parsed.qop, "auth");
  // A client answering the parsed challenge is accepted.
  Credentials c;
  c.nonce = std::string(parsed.nonce);
  Request r(c);
  EXPECT_EQ(check(r, &alice.ha1), AuthResult::ok);
}

TEST_F(DigestTest, Md5OnlyExtensionIsChallengedWithMd5Only) {
  auto b = challenge_response(*auth, digest_algorithm_md5, false);
  ASSERT_EQ(b->challenges.size(), 1U);
  EXPECT_EQ(b->view->www_authenticate.algorithm, "MD5");
}

TEST_F(DigestTest, StaleAndOpaque) {
  auto b = challenge_response(*auth, digest_algorithms_all, true, "5ccc069c403ebaf9f0171e9517f40e41");
  ASSERT_EQ(b->challenges.size(), 2U);
  EXPECT_EQ(b->view->www_authenticate.stale, "true");
  EXPECT_EQ(b->view->www_authenticate.opaque, "5ccc069c403ebaf9f0171e9517f40e41");
  EXPECT_NE(b->challenges[1].find(", stale=true, opaque=\""), std::string::npos);
}

TEST_F(DigestTest, UnknownExtensionGetsTheSameChallengeShape) {
  // The caller offers every algorithm to an unknown extension, as to one with a password; the challenges then
  // differ only in their (fresh) nonces.
  auto known = challenge_response(*auth, digest_algorithms_all, false);
  auto unknown = challenge_response(*auth, digest_algorithms_all, false);
  ASSERT_EQ(known->challenges.size(), unknown->challenges.size());
  for (size_t i = 0; i < known->challenges.size(); ++i) {
    EXPECT_EQ(shape(known->challenges[i]), shape(unknown->challenges[i]));
    EXPECT_NE(known->challenges[i], unknown->challenges[i]);
  }
  EXPECT_EQ(known->text.size(), unknown->text.size());
}

TEST_F(DigestTest, ChallengeRefusesWhatWouldBreakTheHeader) {
  std::array<char, 512> buffer{};
  for (std::string_view realm : {std::string_view("ac\"me"), std::string_view("ac\\me"), std::string_view("a\r\nb")}) {
    MessageWriter w(buffer.data(), buffer.size());
    w.start_response(401);
    auth->write_challenges(w, HeaderId::www_authenticate, realm, digest_algorithms_all, false, t0_ms);
    EXPECT_EQ(w.error(), BuildError::bad_value);
  }
  MessageWriter none(buffer.data(), buffer.size());
  none.start_response(401);
  auth->write_challenges(none, HeaderId::www_authenticate, acme, 0, false, t0_ms);
  EXPECT_EQ(none.error(), BuildError::bad_value);
  MessageWriter wrong_header(buffer.data(), buffer.size());
  wrong_header.start_response(401);
  auth->write_challenges(wrong_header, HeaderId::authorization, acme, digest_algorithms_all, false, t0_ms);
  EXPECT_EQ(wrong_header.error(), BuildError::bad_value);
  MessageWriter small(buffer.data(), 40);
  small.start_response(401);
  auth->write_challenges(small, HeaderId::www_authenticate, acme, digest_algorithms_all, false, t0_ms);
  EXPECT_EQ(small.error(), BuildError::overflow);
}

TEST_F(DigestTest, FormatChallengeIntoABuffer) {
  std::string n = nonce();
  std::array<char, 256> buffer{};
  EXPECT_EQ(
      Authenticator::format_challenge(buffer, acme, n, digest_algorithm_md5, true, "op"),
      "Digest realm=\"acme.example.com\", nonce=\"" + n + "\", qop=\"auth\", algorithm=MD5, stale=true, opaque=\"op\"");
  EXPECT_TRUE(Authenticator::format_challenge(std::span<char>(buffer.data(), 50), acme, n, digest_algorithm_md5, false)
                  .empty());
  EXPECT_TRUE(Authenticator::format_challenge(buffer, acme, n, digest_algorithms_all, false).empty());
}

// --- end to end through the parser -------------------------------------------------------------------------------

// The way SIPp's [authentication] keyword writes credentials: no spaces after the commas, nc and qop unquoted.
std::string sipp_register(const std::string& nonce, const std::string& response, const std::string& algorithm) {
  return "REGISTER sip:acme.example.com SIP/2.0\r\n"
         "Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-4242-1-2\r\n"
         "From: <sip:101@acme.example.com>;tag=4242SIPpTag001\r\n"
         "To: <sip:101@acme.example.com>\r\n"
         "Call-ID: 1-4242@127.0.0.1\r\n"
         "CSeq: 2 REGISTER\r\n"
         "Contact: sip:101@127.0.0.1:5061\r\n"
         "Max-Forwards: 70\r\n"
         "Expires: 3600\r\n"
         "Authorization: Digest username=\"101\",realm=\"acme.example.com\",cnonce=\"6b8b4567\",nc=00000001,"
         "qop=auth,uri=\"sip:acme.example.com\",nonce=\"" +
         nonce + "\",response=\"" + response + "\",algorithm=" + algorithm +
         "\r\n"
         "Content-Length: 0\r\n\r\n";
}

TEST_F(DigestTest, SippStyleRegisterThroughTheParser) {
  for (bool sha256 : {false, true}) {
    Credentials c = with_nonce(sha256);
    c.cnonce = "6b8b4567";
    std::string text = sipp_register(c.nonce, client_response(c), sha256 ? "SHA-256" : "MD5");
    auto view = std::make_unique<MessageView>();
    ParseResult p = parse_message(text, Transport::udp, *view);
    ASSERT_EQ(p.status, ParseStatus::complete) << reason_phrase(p.error);
    ASSERT_TRUE(view->authorization.present);
    EXPECT_EQ(auth->verify(view->authorization, view->method_text, acme, &alice.ha1, t0_ms), AuthResult::ok);
    // The same datagram again (a replay, not a retransmission: those are absorbed by the transaction layer).
    EXPECT_EQ(auth->verify(view->authorization, view->method_text, acme, &alice.ha1, t0_ms), AuthResult::replayed_nc);
  }
}

TEST_F(DigestTest, ProxyAuthorizationOnInviteThroughTheParser) {
  Credentials c = with_nonce(true);
  c.method = "INVITE";
  c.uri = "sip:102@acme.example.com";
  c.cnonce = "a\\\"b";  // a quoted-pair in the cnonce: hashed unescaped (a"b)
  Credentials hashed = c;
  hashed.cnonce = "a\"b";
  std::string text =
      "INVITE sip:102@acme.example.com SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK77\r\n"
      "From: \"Alice\" <sip:101@acme.example.com>;tag=9\r\n"
      "To: <sip:102@acme.example.com>\r\n"
      "Call-ID: inv-1\r\n"
      "CSeq: 2 INVITE\r\n"
      "Max-Forwards: 70\r\n"
      "Proxy-Authorization: Digest username=\"101\", realm=\"acme.example.com\", nonce=\"" +
      c.nonce + "\", uri=\"sip:102@acme.example.com\", response=\"" + client_response(hashed) +
      "\", algorithm=SHA-256, cnonce=\"a\\\"b\", qop=auth, nc=00000001\r\n"
      "Content-Length: 0\r\n\r\n";
  auto view = std::make_unique<MessageView>();
  ParseResult p = parse_message(text, Transport::udp, *view);
  ASSERT_EQ(p.status, ParseStatus::complete) << reason_phrase(p.error);
  EXPECT_EQ(auth->verify(view->proxy_authorization, view->method_text, acme, &alice.ha1, t0_ms), AuthResult::ok);
}

// --- no allocation on the data plane ----------------------------------------------------------------------------

TEST_F(DigestTest, VerifyAndChallengeDoNotAllocate) {
  Request sha(with_nonce(true));
  Request md5(with_nonce(false));
  Request unknown(with_nonce(true));
  std::array<char, 1024> buffer{};
  auto run = [&](uint32_t nc) {
    char nc_text[9];
    std::snprintf(nc_text, sizeof nc_text, "%08x", nc);
    sha.view.nc = nc_text;  // the response no longer matches: the full hashing runs, then bad_response
    EXPECT_NE(check(sha, &alice.ha1), AuthResult::internal_error);
    EXPECT_NE(check(md5, &alice.ha1), AuthResult::internal_error);
    EXPECT_NE(check(unknown, nullptr), AuthResult::internal_error);
    MessageWriter w(buffer.data(), buffer.size());
    w.start_response(401);
    auth->write_challenges(w, HeaderId::www_authenticate, acme, digest_algorithms_all, true, t0_ms);
    EXPECT_TRUE(w.ok());
  };
  EXPECT_EQ(check(sha, &alice.ha1), AuthResult::ok);
  EXPECT_EQ(check(md5, &alice.ha1), AuthResult::ok);
  run(1);  // warm
  uint64_t heap_before = test::allocation_count();
  uint64_t openssl_before = openssl_allocations.load();
  for (uint32_t i = 2; i < 100; ++i) run(i);
  EXPECT_EQ(test::allocation_count(), heap_before);
  if (!openssl_hooks_installed) GTEST_SKIP() << "OpenSSL allocated before its hooks could be installed";
  uint64_t openssl_delta = openssl_allocations.load() - openssl_before;
  if (OpenSSL_version_num() >= 0x30100000L) {
    EXPECT_EQ(openssl_delta, 0U);
  } else {
    // OpenSSL 3.0 re-allocates the provider's digest state in every EVP_DigestInit_ex2 (openssl/openssl#18105,
    // fixed in 3.1): at most one allocation per hash, never more. Per run: three verifies of four hashes each
    // (two for the nonce MAC, H(A2), the response) and one challenge (one nonce MAC: two hashes).
    EXPECT_LE(openssl_delta, 98U * (3 * 4 + 2));
  }
}

// --- the failure throttle -----------------------------------------------------------------------------------------

Endpoint at(const char* text) {
  Endpoint e;
  EXPECT_TRUE(parse_endpoint(text, e)) << text;
  return e;
}

TEST(FailureThrottle, BlocksAfterTheLimitOtherSourcesUnaffected) {
  FailureThrottle t;  // 20 failures in 60 s block for 120 s
  Endpoint guesser = at("192.0.2.7:5060");
  Endpoint phone = at("192.0.2.8:5060");
  uint64_t now = t0_ms;
  for (int i = 0; i < 19; ++i) {
    t.record_failure(guesser, now);
    now += 1000;
  }
  EXPECT_FALSE(t.blocked(guesser, now));
  t.record_failure(at("192.0.2.7:40000"), now);  // the port does not matter
  EXPECT_TRUE(t.blocked(guesser, now));
  EXPECT_EQ(t.blocked_for_ms(guesser, now), 120'000U);
  EXPECT_EQ(t.blocks(), 1U);
  EXPECT_FALSE(t.blocked(phone, now));
  t.record_failure(phone, now);
  EXPECT_FALSE(t.blocked(phone, now));
  // Failures while blocked neither extend the block nor count towards the next one.
  t.record_failure(guesser, now + 60'000);
  EXPECT_TRUE(t.blocked(guesser, now + 119'999));
  EXPECT_FALSE(t.blocked(guesser, now + 120'000));
  EXPECT_EQ(t.blocked_for_ms(guesser, now + 120'000), 0U);
  t.record_failure(guesser, now + 120'000);
  EXPECT_FALSE(t.blocked(guesser, now + 120'000));
}

TEST(FailureThrottle, SlidingWindow) {
  ThrottleSettings s;  // 20 per 60 s
  FailureThrottle t(s);
  Endpoint a = at("198.51.100.1:1");
  // 10 at 30 s, 10 at 70 s: within 60 s of each other, in one fixed window that began at the first failure.
  for (int i = 0; i < 10; ++i) t.record_failure(a, t0_ms + 30'000);
  for (int i = 0; i < 9; ++i) t.record_failure(a, t0_ms + 70'000);
  EXPECT_FALSE(t.blocked(a, t0_ms + 70'000));
  t.record_failure(a, t0_ms + 70'000);
  EXPECT_TRUE(t.blocked(a, t0_ms + 70'000));

  // 19 failures, then one a window later: the old ones weigh (60-1)/60, 18 + 1 < 20.
  Endpoint b = at("198.51.100.2:1");
  for (int i = 0; i < 19; ++i) t.record_failure(b, t0_ms);
  t.record_failure(b, t0_ms + 61'000);
  EXPECT_FALSE(t.blocked(b, t0_ms + 61'000));
  // A slow guesser (one every 4 s: 15 per window) is never blocked.
  Endpoint slow = at("198.51.100.3:1");
  for (int i = 0; i < 200; ++i) t.record_failure(slow, t0_ms + static_cast<uint64_t>(i) * 4'000);
  EXPECT_FALSE(t.blocked(slow, t0_ms + 800'000));
  // One every 2 s (30 per window) is.
  Endpoint fast = at("198.51.100.4:1");
  int until_blocked = 0;
  while (!t.blocked(fast, t0_ms + static_cast<uint64_t>(until_blocked) * 2'000) && until_blocked < 100) {
    t.record_failure(fast, t0_ms + static_cast<uint64_t>(until_blocked) * 2'000);
    ++until_blocked;
  }
  EXPECT_LE(until_blocked, 20);
}

TEST(FailureThrottle, SuccessForgetsFailures) {
  FailureThrottle t;
  Endpoint a = at("203.0.113.9:5060");
  for (int i = 0; i < 19; ++i) t.record_failure(a, t0_ms);
  t.record_success(a);
  t.record_failure(a, t0_ms);
  EXPECT_FALSE(t.blocked(a, t0_ms));
}

TEST(FailureThrottle, Ipv6SourcesAreGroupedBySlash64) {
  FailureThrottle t;
  for (int i = 0; i < 20; ++i) {
    std::string text = "[2001:db8:1:2::" + std::to_string(i + 1) + "]:5060";
    t.record_failure(at(text.c_str()), t0_ms);
  }
  EXPECT_TRUE(t.blocked(at("[2001:db8:1:2:ffff::1]:5060"), t0_ms));
  EXPECT_FALSE(t.blocked(at("[2001:db8:1:3::1]:5060"), t0_ms));
  EXPECT_EQ(t.entries(), 1U);
}

TEST(FailureThrottle, FullTableForgetsLeastRecentUnblockedSources) {
  ThrottleSettings s;
  s.capacity = 16;  // the minimum: one probe window covers the table
  FailureThrottle t(s);
  Endpoint blocked_source = at("192.0.2.1:1");
  Endpoint partial = at("192.0.2.2:1");
  for (int i = 0; i < 20; ++i) t.record_failure(blocked_source, t0_ms);
  for (int i = 0; i < 19; ++i) t.record_failure(partial, t0_ms + 1);
  ASSERT_TRUE(t.blocked(blocked_source, t0_ms + 2));
  // A flood from 1,000 other addresses, one failure each.
  for (uint32_t i = 0; i < 1000; ++i) {
    Endpoint e;
    e.address[10] = 0xff;
    e.address[11] = 0xff;
    e.address[12] = 10;
    e.address[13] = static_cast<uint8_t>(i >> 16);
    e.address[14] = static_cast<uint8_t>(i >> 8);
    e.address[15] = static_cast<uint8_t>(i);
    t.record_failure(e, t0_ms + 10 + i);
  }
  EXPECT_EQ(t.entries(), 16U);
  EXPECT_GE(t.evictions(), 1000U - 14U);
  // The block survives the flood; the partial count did not (the documented price of a bounded table).
  EXPECT_TRUE(t.blocked(blocked_source, t0_ms + 2000));
  t.record_failure(partial, t0_ms + 2000);
  EXPECT_FALSE(t.blocked(partial, t0_ms + 2000));
}

TEST(FailureThrottle, DoesNotAllocateAfterConstruction) {
  FailureThrottle t;
  uint64_t before = test::allocation_count();
  for (uint32_t i = 0; i < 100'000; ++i) {
    Endpoint e;
    std::memcpy(e.address + 12, &i, 4);
    t.record_failure(e, t0_ms + i);
    (void)t.blocked(e, t0_ms + i);
    if (i % 3 == 0) t.record_success(e);
  }
  EXPECT_EQ(test::allocation_count(), before);
  EXPECT_LE(t.entries(), 16384U);
}

}  // namespace
}  // namespace parkd::sip
