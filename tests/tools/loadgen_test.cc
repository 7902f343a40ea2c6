// Tests of the load generator (tools/loadgen): its histogram, digest, in-flight table, user patterns and
// command line, and whole runs against a small fake SIP server on 127.0.0.1:0 in a thread of the test.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "sip/parser.h"
#include "tools/loadgen/config.h"
#include "tools/loadgen/digest.h"
#include "tools/loadgen/histogram.h"
#include "tools/loadgen/inflight.h"
#include "tools/loadgen/run.h"
#include "tools/loadgen/users.h"
#include "tools/loadgen/writer.h"

namespace parkd::loadgen {
namespace {

// --- histogram

TEST(LoadgenHistogram, PercentilesMatchASortedReference) {
  std::mt19937_64 random(42);
  std::lognormal_distribution<double> latency(11.0, 1.5);  // ns: a median near 60 us, a long tail
  std::vector<uint64_t> values;
  LatencyHistogram h;
  for (int i = 0; i < 200000; ++i) {
    auto v = static_cast<uint64_t>(latency(random));
    if (i % 1000 == 0) v = static_cast<uint64_t>(i % 100);  // exact small values too
    values.push_back(v);
    h.record(v);
  }
  std::sort(values.begin(), values.end());
  EXPECT_EQ(h.count(), values.size());
  EXPECT_EQ(h.max(), values.back());
  EXPECT_EQ(h.min(), values.front());
  for (double p : {0.0, 1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
    size_t rank = std::max<size_t>(1, static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size()))));
    uint64_t exact = values[rank - 1];
    uint64_t reported = h.percentile(p);
    EXPECT_GE(reported, exact) << "p" << p;
    EXPECT_LE(reported, exact + exact / 64 + 1) << "p" << p;
  }
}

TEST(LoadgenHistogram, BucketsAreContiguousAndNarrow) {
  for (uint32_t i = 1; i < LatencyHistogram::bucket_count; ++i) {
    ASSERT_EQ(LatencyHistogram::lowest_equivalent(i), LatencyHistogram::highest_equivalent(i - 1) + 1) << i;
    uint64_t low = LatencyHistogram::lowest_equivalent(i);
    EXPECT_LE(LatencyHistogram::highest_equivalent(i) - low, std::max<uint64_t>(low / 64, 0)) << i;
  }
  for (uint64_t v : std::initializer_list<uint64_t>{0, 127, 128, 129, 1000, 123456789, LatencyHistogram::value_max}) {
    uint32_t i = LatencyHistogram::index_of(v);
    ASSERT_LT(i, LatencyHistogram::bucket_count);
    EXPECT_LE(LatencyHistogram::lowest_equivalent(i), v);
    EXPECT_GE(LatencyHistogram::highest_equivalent(i), v);
  }
}

TEST(LoadgenHistogram, EmptyMergeAndClamp) {
  LatencyHistogram a;
  EXPECT_EQ(a.percentile(50), 0u);
  EXPECT_EQ(a.min(), 0u);
  LatencyHistogram b;
  a.record(10);
  b.record(20);
  b.record(UINT64_MAX);
  a.merge(b);
  EXPECT_EQ(a.count(), 3u);
  EXPECT_EQ(a.percentile(0), 10u);
  EXPECT_EQ(a.max(), LatencyHistogram::value_max);
}

// --- digest

TEST(LoadgenDigest, Rfc2617Example) {
  DigestHasher hasher;
  ASSERT_TRUE(hasher.ok());
  DigestInput in;
  in.username = "Mufasa";
  in.realm = "testrealm@host.com";
  in.password = "Circle Of Life";
  in.method = "GET";
  in.uri = "/dir/index.html";
  in.nonce = "dcd98b7102dd2f0e8b11d0f600bfb0c093";
  in.nc = "00000001";
  in.cnonce = "0a4f113b";
  char out[DigestHasher::hex_size_max];
  EXPECT_EQ(hasher.response(in, out), "6629fae49393a05397450978507c4ef1");
}

TEST(LoadgenDigest, Rfc7616Examples) {
  DigestHasher hasher;
  DigestInput in;
  in.username = "Mufasa";
  in.realm = "http-auth@example.org";
  in.password = "Circle of Life";
  in.method = "GET";
  in.uri = "/dir/index.html";
  in.nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
  in.nc = "00000001";
  in.cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
  char out[DigestHasher::hex_size_max];
  in.algorithm = DigestAlgorithm::sha256;
  EXPECT_EQ(hasher.response(in, out), "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
  in.algorithm = DigestAlgorithm::md5;
  EXPECT_EQ(hasher.response(in, out), "8ca523f5e9506fed4657c9700eebdbec");
}

TEST(LoadgenDigest, AlgorithmsAndChallenges) {
  DigestAlgorithm a;
  bool sess = true;
  EXPECT_TRUE(parse_digest_algorithm("", a, sess));
  EXPECT_EQ(a, DigestAlgorithm::md5);
  EXPECT_FALSE(sess);
  EXPECT_TRUE(parse_digest_algorithm("sha-256-SESS", a, sess));
  EXPECT_EQ(a, DigestAlgorithm::sha256);
  EXPECT_TRUE(sess);
  EXPECT_TRUE(parse_digest_algorithm("SHA-512-256", a, sess));
  EXPECT_EQ(a, DigestAlgorithm::sha512_256);
  EXPECT_FALSE(parse_digest_algorithm("SHA-1", a, sess));

  DigestChallenge c;
  ASSERT_TRUE(parse_digest_challenge(
      R"(Digest realm="acme.example.com", nonce="abc\"d", opaque=xyz,algorithm=SHA-256 , qop="auth,auth-int")", c));
  EXPECT_EQ(c.realm, "acme.example.com");
  EXPECT_EQ(c.nonce, R"(abc\"d)");
  EXPECT_EQ(c.opaque, "xyz");
  EXPECT_EQ(c.algorithm, "SHA-256");
  EXPECT_TRUE(qop_offers_auth(c.qop));
  EXPECT_FALSE(qop_offers_auth("auth-int"));
  EXPECT_FALSE(parse_digest_challenge(R"(Basic realm="x")", c));
  EXPECT_FALSE(parse_digest_challenge(R"(Digest realm="x", nonce="unterminated)", c));
}

// --- in-flight table

TEST(LoadgenInflight, InsertFindEraseAndLimit) {
  InflightTable t(4);  // 8 entries
  EXPECT_EQ(t.capacity(), 8u);
  uint64_t a = t.insert(1, 100);
  uint64_t b = t.insert(2, 100);
  ASSERT_NE(a, 0u);
  ASSERT_NE(b, a);
  ASSERT_NE(t.find(a), nullptr);
  EXPECT_EQ(t.find(a)->slot, 1u);
  EXPECT_EQ(t.find(b)->slot, 2u);
  EXPECT_EQ(t.find(0), nullptr);
  EXPECT_EQ(t.find(a + 8), nullptr);  // same home, another id
  t.insert(3, 100);
  t.insert(4, 100);
  EXPECT_EQ(t.insert(5, 100), 0u);  // limit
  t.erase(*t.find(b));
  EXPECT_EQ(t.find(b), nullptr);
  EXPECT_EQ(t.size(), 3u);
}

TEST(LoadgenInflight, IdsSkipHomesStillInFlight) {
  InflightTable t(4);
  uint64_t first = t.insert(0, 0);  // id 1, home 1: stays in flight
  std::vector<uint64_t> ids;
  for (int round = 0; round < 20; ++round) {
    uint64_t id = t.insert(1, 0);
    ASSERT_NE(id & 7, first & 7);
    ids.push_back(id);
    t.erase(*t.find(id));
  }
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  EXPECT_NE(t.find(first), nullptr);
}

TEST(LoadgenInflight, ExpireOldestFirstStopsAtYounger) {
  InflightTable t(16);
  uint64_t a = t.insert(0, 10);
  uint64_t b = t.insert(1, 20);
  uint64_t c = t.insert(2, 30);
  uint64_t d = t.insert(3, 40);
  t.erase(*t.find(b));
  std::vector<uint32_t> expired;
  t.expire(35, [&](const InflightEntry& e) { expired.push_back(e.slot); });
  EXPECT_EQ(expired, (std::vector<uint32_t>{0, 2}));
  EXPECT_EQ(t.find(a), nullptr);
  EXPECT_EQ(t.find(c), nullptr);
  EXPECT_NE(t.find(d), nullptr);
  expired.clear();
  t.expire(35, [&](const InflightEntry& e) { expired.push_back(e.slot); });
  EXPECT_TRUE(expired.empty());
  t.expire(41, [&](const InflightEntry& e) { expired.push_back(e.slot); });
  EXPECT_EQ(expired, (std::vector<uint32_t>{3}));
  EXPECT_EQ(t.size(), 0u);
}

// --- users, writer, command line

TEST(LoadgenUsers, PatternsInterleaveDomains) {
  UserSource users;
  std::string error;
  ASSERT_TRUE(users.set_patterns("acme{0..2}.example.com", "0100..0101", "{ext}@{domain}!", error)) << error;
  EXPECT_EQ(users.size(), 6u);
  UserCreds u;
  users.get(0, u);
  EXPECT_EQ(u.domain, "acme0.example.com");
  EXPECT_EQ(u.ext, "0100");
  EXPECT_EQ(u.password, "0100@acme0.example.com!");
  users.get(4, u);
  EXPECT_EQ(u.domain, "acme1.example.com");
  EXPECT_EQ(u.ext, "0101");
  users.get(6, u);  // wraps
  EXPECT_EQ(u.domain, "acme0.example.com");
  EXPECT_FALSE(users.set_patterns("acme{5..1}", "100", "x", error));
  EXPECT_FALSE(users.set_patterns("acme", "1x", "x", error));
}

TEST(LoadgenUsers, CsvFile) {
  std::string path = ::testing::TempDir() + "/loadgen_users.csv";
  std::ofstream(path) << "# domain,ext,password\nacme.example.com,101,alice-secret\r\n\nglobex.example.com,7,pw\n";
  UserSource users;
  std::string error;
  ASSERT_TRUE(users.load_csv(path, error)) << error;
  EXPECT_EQ(users.size(), 2u);
  UserCreds u;
  users.get(1, u);
  EXPECT_EQ(u.domain, "globex.example.com");
  EXPECT_EQ(u.ext, "7");
  EXPECT_EQ(u.password, "pw");
  std::ofstream(path) << "acme.example.com;101\n";
  EXPECT_FALSE(users.load_csv(path, error));
  EXPECT_NE(error.find(":1:"), std::string::npos) << error;
}

TEST(LoadgenUsers, SameDomainPartnerIsTheNextExtension) {
  UserSource users;
  std::string error;
  ASSERT_TRUE(users.set_patterns("acme{0..2}.example.com", "100..101", "{ext}", error)) << error;
  UserCreds a;
  UserCreds b;
  for (uint64_t i = 0; i < users.size(); ++i) {
    users.get(i, a);
    users.get(users.same_domain_partner(i), b);
    EXPECT_EQ(a.domain, b.domain) << i;
    EXPECT_NE(a.ext, b.ext) << i;
  }
  ASSERT_TRUE(users.set_patterns("acme", "100", "{ext}", error));
  EXPECT_EQ(users.same_domain_partner(0), 0u);  // alone in its domain

  std::string path = ::testing::TempDir() + "/loadgen_partner_users.csv";
  std::ofstream(path) << "a.example.com,1,x\nb.example.com,1,y\na.example.com,2,x\nb.example.com,2,y\n"
                         "a.example.com,3,x\nc.example.com,1,z\n";
  ASSERT_TRUE(users.load_csv(path, error)) << error;
  EXPECT_EQ(users.same_domain_partner(0), 2u);
  EXPECT_EQ(users.same_domain_partner(2), 4u);
  EXPECT_EQ(users.same_domain_partner(4), 0u);  // wraps to the domain's first row
  EXPECT_EQ(users.same_domain_partner(1), 3u);
  EXPECT_EQ(users.same_domain_partner(3), 1u);
  EXPECT_EQ(users.same_domain_partner(5), 5u);
}

TEST(LoadgenWriter, HexDecimalAndOverflow) {
  char buffer[8];
  Writer w(buffer, sizeof buffer);
  w.put_uint(0).put(' ').put_hex(255).put(' ').put_hex(1, 3);
  EXPECT_EQ(w.view(), "0 ff 001");
  EXPECT_FALSE(w.overflow());
  w.put("toolong");
  EXPECT_TRUE(w.overflow());
  EXPECT_EQ(w.size(), 8u);
}

int parse(std::vector<const char*> args, Config& config, std::string& error) {
  args.insert(args.begin(), "parkd-loadgen");
  return parse_command_line(static_cast<int>(args.size()), args.data(), config, error);
}

TEST(LoadgenCommandLine, DefaultsAndFlags) {
  Config c;
  std::string error;
  ASSERT_EQ(parse({}, c, error), 0) << error;
  EXPECT_EQ(format_address(c.target), "127.0.0.1:5060");
  EXPECT_EQ(c.concurrency, 64u);
  EXPECT_EQ(c.duration_s, 10);
  EXPECT_EQ(c.bind_host, "127.0.0.1");
  Config d;
  ASSERT_EQ(parse({"--target", "[::1]:5070", "--rate=5000", "--count", "100", "--scenario", "register"}, d, error), 0)
      << error;
  EXPECT_EQ(format_address(d.target), "[::1]:5070");
  EXPECT_EQ(d.bind_host, "::1");
  EXPECT_EQ(d.rate, 5000);
  EXPECT_EQ(d.concurrency, 0u);
  EXPECT_EQ(d.duration_s, 0);
  Config e;
  EXPECT_EQ(parse({"--rate", "10", "--concurrency", "5"}, e, error), 2);
  EXPECT_EQ(parse({"--scenario", "invite"}, e, error), 2);
  EXPECT_EQ(parse({"--sockets"}, e, error), 2);
  EXPECT_EQ(parse({"--bogus", "1"}, e, error), 2);
  Config f;
  ASSERT_EQ(parse({"--scenario", "register", "--fixed-contact"}, f, error), 0) << error;
  EXPECT_TRUE(f.fixed_contact);
  EXPECT_FALSE(d.fixed_contact);
  EXPECT_EQ(parse({"--target", "[::1]:5060", "--bind", "127.0.0.1"}, e, error), 2);
}

TEST(LoadgenCommandLine, ScheduleAndTimeline) {
  Config c;
  std::string error;
  ASSERT_EQ(parse({"--schedule", "100000:30,25000:10.5", "--timeline", "t.csv", "--timeline-ms", "50"}, c, error), 0)
      << error;
  ASSERT_EQ(c.schedule.size(), 2u);
  EXPECT_EQ(c.schedule[0].rate, 100000);
  EXPECT_EQ(c.schedule[1].seconds, 10.5);
  EXPECT_EQ(c.rate, 100000) << "open loop, sized for the highest rate";
  EXPECT_EQ(c.duration_s, 40.5);
  EXPECT_EQ(c.concurrency, 0u);
  EXPECT_EQ(c.timeline_path, "t.csv");
  EXPECT_EQ(c.timeline_ms, 50u);
  for (const char* bad : {"", "100", "100:", ":5", "100:0", "0:5", "100:5,", "100:5,,10:1", "x:1"}) {
    Config d;
    EXPECT_EQ(parse({"--schedule", bad}, d, error), 2) << bad;
  }
  Config d;
  EXPECT_EQ(parse({"--schedule", "10:1", "--rate", "10"}, d, error), 2);
  Config e;
  EXPECT_EQ(parse({"--schedule", "10:1", "--duration", "3"}, e, error), 2);
  Config f;
  EXPECT_EQ(parse({"--count", "10", "--timeline", "t.csv"}, f, error), 2) << "a timeline needs a known length";
}

// --- whole runs against a fake server

// Answers OPTIONS with 200 and REGISTER with 401 (Digest, `algorithm`, qop=auth), then 200 when the digest
// of the password "<ext>-secret" is right (403 otherwise). Drops every drop_every-th request when non-zero.
// Stops on a datagram "STOP".
class FakeServer {
 public:
  // busy_every: answer every busy_every-th request 503, every other one of those with Retry-After.
  explicit FakeServer(std::string algorithm = "MD5", uint32_t drop_every = 0, uint32_t busy_every = 0)
      : algorithm_(std::move(algorithm)), drop_every_(drop_every), busy_every_(busy_every) {
    fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    int size = 4 << 20;
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeServer() {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port_);
    sendto(s, "STOP", 4, 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
    close(s);
    thread_.join();
    close(fd_);
  }
  uint16_t port() const { return port_; }
  uint64_t requests() const { return requests_.load(); }
  // Every distinct Contact header value the server has seen.
  std::set<std::string> contacts() const {
    std::lock_guard lock(mutex_);
    return contacts_;
  }

 private:
  void serve() {
    auto message = std::make_unique<sip::MessageView>();
    char in[4096];
    for (;;) {
      sockaddr_storage from{};
      socklen_t from_size = sizeof from;
      ssize_t n = recvfrom(fd_, in, sizeof in, 0, reinterpret_cast<sockaddr*>(&from), &from_size);
      if (n < 0) continue;
      std::string_view data(in, static_cast<size_t>(n));
      if (data == "STOP") return;
      uint64_t count = ++requests_;
      if (drop_every_ != 0 && count % drop_every_ == 0) continue;
      if (size_t at = data.find("\r\nContact: "); at != std::string_view::npos) {
        std::string_view value = data.substr(at + 11);
        std::lock_guard lock(mutex_);
        contacts_.emplace(value.substr(0, value.find("\r\n")));
      }
      if (sip::parse_message(data, sip::Transport::udp, *message).status != sip::ParseStatus::complete) continue;
      std::string response = answer(*message, count);
      sendto(fd_, response.data(), response.size(), 0, reinterpret_cast<sockaddr*>(&from), from_size);
    }
  }

  std::string answer(const sip::MessageView& m, uint64_t count) {
    std::string status = "200 OK";
    std::string extra;
    if (busy_every_ != 0 && count % busy_every_ == 0) {
      status = "503 Service Unavailable";
      if (count / busy_every_ % 2 == 0) extra = "Retry-After: 3\r\n";
    } else if (m.method == sip::Method::register_) {
      std::string_view domain = m.to.uri.substr(m.to.uri.find('@') + 1);
      if (!m.authorization.present) {
        status = "401 Unauthorized";
        extra = "WWW-Authenticate: Digest realm=\"" + std::string(domain) + "\", nonce=\"n" +
                std::to_string(requests_.load()) + "\", opaque=\"op\", algorithm=" + algorithm_ + ", qop=\"auth\"\r\n";
      } else if (!digest_ok(m.authorization)) {
        status = "403 Forbidden";
      }
    }
    std::string r = "SIP/2.0 " + status + "\r\n";
    for (uint32_t i = 0; i < m.via_count; ++i) r += "Via: " + std::string(m.vias[i].raw) + "\r\n";
    r += "From: " + std::string(m.from.raw) + "\r\nTo: " + std::string(m.to.raw) + ";tag=fake\r\n";
    r += "Call-ID: " + std::string(m.call_id) + "\r\nCSeq: " + std::to_string(m.cseq.number) + " " +
         std::string(m.cseq.method_text) + "\r\n" + extra + "Content-Length: 0\r\n\r\n";
    return r;
  }

  bool digest_ok(const sip::AuthView& auth) {
    DigestInput in;
    if (!parse_digest_algorithm(auth.algorithm, in.algorithm, in.sess) || auth.opaque != "op" || auth.qop != "auth" ||
        auth.nc != "00000001")
      return false;
    std::string password = std::string(auth.username) + "-secret";
    in.username = auth.username;
    in.realm = auth.realm;
    in.password = password;
    in.method = "REGISTER";
    in.uri = auth.uri;
    in.nonce = auth.nonce;
    in.nc = auth.nc;
    in.cnonce = auth.cnonce;
    char expected[DigestHasher::hex_size_max];
    return hasher_.response(in, expected) == auth.response;
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  std::string algorithm_;
  uint32_t drop_every_;
  uint32_t busy_every_;
  std::atomic<uint64_t> requests_{0};
  mutable std::mutex mutex_;
  std::set<std::string> contacts_;
  DigestHasher hasher_;
  std::thread thread_;
};

Config config_for(const FakeServer& server, const std::string& scenario) {
  Config c;
  std::string error;
  std::string target = "127.0.0.1:" + std::to_string(server.port());
  EXPECT_EQ(parse({"--target", target.c_str(), "--scenario", scenario.c_str(), "--sockets", "4", "--count", "2000",
                   "--concurrency", "16", "--domains", "acme{0..9}.example.com"},
                  c, error),
            0)
      << error;
  return c;
}

RunResult run(const Config& c) {
  std::atomic<bool> stop{false};
  return run_load(c, stop);
}

// Runs `config` into a RunResult `r`; skips the test where io_uring is unavailable.
#define RUN_OR_SKIP(config)                                            \
  RunResult r = run(config);                                           \
  if (r.io_uring_unavailable) GTEST_SKIP() << "io_uring: " << r.error; \
  ASSERT_TRUE(r.ok) << r.error

TEST(LoadgenRun, OptionsClosedLoop) {
  FakeServer server;
  RUN_OR_SKIP(config_for(server, "options"));
  const Stats& s = r.report.stats;
  EXPECT_EQ(s.started, 2000u);
  EXPECT_EQ(s.completed, 2000u);
  EXPECT_EQ(s.lost, 0u);
  EXPECT_EQ(s.failed, 0u);
  EXPECT_EQ(s.requests_sent, 2000u);
  EXPECT_EQ(s.unmatched + s.parse_errors + s.send_errors, 0u);
  EXPECT_EQ(s.latency_ns.count(), 2000u);
  EXPECT_EQ(server.requests(), 2000u);
  EXPECT_NE(r.report.final_line().find("loadgen: scenario=options sent=2000 completed=2000 lost=0 failed=0 rate="),
            std::string::npos)
      << r.report.final_line();
}

TEST(LoadgenRun, OptionsOpenLoop) {
  FakeServer server;
  Config c = config_for(server, "options");
  c.concurrency = 0;
  c.rate = 40000;  // 2000 in 50 ms
  RUN_OR_SKIP(c);
  EXPECT_EQ(r.report.stats.completed, 2000u);
  EXPECT_EQ(r.report.stats.lost, 0u);
  EXPECT_GE(r.report.elapsed_s, 0.045);
}

TEST(LoadgenRun, RegisterWithDigestMd5) {
  FakeServer server("MD5");
  RUN_OR_SKIP(config_for(server, "register"));
  const Stats& s = r.report.stats;
  EXPECT_EQ(s.completed, 2000u);
  EXPECT_EQ(s.lost, 0u);
  EXPECT_EQ(s.failed, 0u) << r.report.summary();
  EXPECT_EQ(s.requests_sent, 4000u);
}

TEST(LoadgenRun, FixedContactIsOnePerUser) {
  // 2000 registrations of 1000 users (10 domains x extensions 100..199): each user's Contact is the same
  // every time, without a port, so the 100 extension numbers give 100 distinct Contacts.
  FakeServer server("MD5");
  Config c = config_for(server, "register");
  c.fixed_contact = true;
  RUN_OR_SKIP(c);
  EXPECT_EQ(r.report.stats.completed, 2000u) << r.report.summary();
  std::set<std::string> contacts = server.contacts();
  EXPECT_EQ(contacts.size(), 100u);
  EXPECT_EQ(contacts.count("<sip:100@127.0.0.1>"), 1u);
  // Without it, the Contact names the slot's socket and the slot: more than one per extension.
  FakeServer other("MD5");
  RunResult r2 = run(config_for(other, "register"));
  ASSERT_TRUE(r2.ok) << r2.error;
  EXPECT_GT(other.contacts().size(), 100u);
}

TEST(LoadgenRun, RegisterWithDigestSha256) {
  FakeServer server("SHA-256");
  RUN_OR_SKIP(config_for(server, "register"));
  EXPECT_EQ(r.report.stats.completed, 2000u);
  EXPECT_EQ(r.report.stats.failed, 0u) << r.report.summary();
}

TEST(LoadgenRun, WrongPasswordFailsWith403) {
  FakeServer server;
  Config c = config_for(server, "register");
  c.password_pattern = "{ext}-wrong";
  RUN_OR_SKIP(c);
  EXPECT_EQ(r.report.stats.completed, 0u);
  EXPECT_EQ(r.report.stats.failed, 2000u);
  EXPECT_EQ(r.report.stats.failed_by_status[403], 2000u);
}

TEST(LoadgenRun, RegisterWithoutAuthCountsTheChallengeAsFailure) {
  FakeServer server;
  RUN_OR_SKIP(config_for(server, "register-noauth"));
  EXPECT_EQ(r.report.stats.failed_by_status[401], 2000u);
  EXPECT_EQ(r.report.stats.requests_sent, 2000u);
}

TEST(LoadgenRun, CallsRefuseMoreSlotsThanCallees) {
  // calls gives every slot a callee of its own: 100 users (1 domain x 100 extensions) serve 100 slots.
  FakeServer server;
  Config c = config_for(server, "calls");
  c.domains = "example.com";
  c.concurrency = 101;
  RunResult r = run(c);
  if (r.io_uring_unavailable) GTEST_SKIP() << "io_uring: " << r.error;
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("101 slots per thread, but it can serve only 100"), std::string::npos) << r.error;
  EXPECT_EQ(server.requests(), 0u);
  c.extensions = "100";  // one user per domain: no caller for the callee
  c.concurrency = 1;
  r = run(c);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("two users"), std::string::npos) << r.error;
  Config d;
  std::string error;
  EXPECT_EQ(parse({"--scenario", "calls"}, d, error), 0) << error;
  EXPECT_EQ(d.scenario, "calls");
}

TEST(LoadgenRun, UnansweredRequestsAreLostNotRetransmitted) {
  FakeServer server("MD5", 10);  // drops requests 10, 20, ...
  Config c = config_for(server, "options");
  c.timeout_ms = 50;
  RUN_OR_SKIP(c);
  const Stats& s = r.report.stats;
  EXPECT_EQ(s.started, 2000u);
  EXPECT_EQ(s.lost, 200u);
  EXPECT_EQ(s.completed, 1800u);
  EXPECT_EQ(s.requests_sent, 2000u);  // nothing sent twice
  EXPECT_EQ(server.requests(), 2000u);
}

TEST(LoadgenRun, ScheduleTimelineAnd503s) {
  FakeServer server("MD5", 0, 4);  // every 4th request 503, every 8th with Retry-After
  Config c;
  std::string error;
  std::string target = "127.0.0.1:" + std::to_string(server.port());
  ASSERT_EQ(parse({"--target", target.c_str(), "--sockets", "4", "--schedule", "20000:0.1,5000:0.1", "--timeline",
                   "unused.csv", "--timeline-ms", "50"},
                  c, error),
            0)
      << error;
  RUN_OR_SKIP(c);
  const Stats& s = r.report.stats;
  // 2000 starts due in the first 100 ms, 500 in the next; the last tick may fall past the end.
  EXPECT_LE(s.started, 2500u);
  EXPECT_GE(s.started, 2400u);
  EXPECT_EQ(s.lost, 0u);
  EXPECT_EQ(s.failed_by_status[503], s.started / 4);
  EXPECT_EQ(s.responses_503, s.started / 4);
  EXPECT_EQ(s.responses_503_retry_after, s.started / 8);
  ASSERT_EQ(s.timeline.size(), 6u) << "200 ms in 50 ms buckets, and room for the last tick";
  TimelineBucket sum;
  for (const TimelineBucket& b : s.timeline) {
    sum.started += b.started;
    sum.completed += b.completed;
    sum.failed_503 += b.failed_503;
    sum.failed_other += b.failed_other;
    sum.lost += b.lost;
    if (b.completed > 0) {
      EXPECT_GT(b.latency_ns_sum, 0u);
    }
  }
  EXPECT_EQ(sum.started, s.started);
  EXPECT_EQ(sum.completed, s.completed);
  EXPECT_EQ(sum.failed_503, s.failed_by_status[503]);
  EXPECT_EQ(sum.failed_other, 0u);
  EXPECT_EQ(sum.lost, 0u);
  const uint64_t fast = s.timeline[0].started + s.timeline[1].started;
  const uint64_t slow = s.timeline[2].started + s.timeline[3].started;
  EXPECT_GT(fast, 2 * slow) << "the rate drops from 20000/s to 5000/s at 100 ms";
  const std::string csv = r.report.timeline_csv(50);
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "t_s,started,completed,failed_503,failed_other,lost,mean_latency_us");
  EXPECT_NE(csv.find("\n0.050,"), std::string::npos) << csv;
  EXPECT_NE(r.report.final_line().find(" failed_503="), std::string::npos) << r.report.final_line();
}

}  // namespace
}  // namespace parkd::loadgen
