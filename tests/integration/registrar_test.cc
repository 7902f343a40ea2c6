// The registrar of the real parkd (issue 5, SPEC sections 3 and 4): REGISTER with digest over UDP, its answers,
// tenant isolation, reload, and bindings that survive a clean restart and a kill -9 with --data-dir.
#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <string>

#include "support/parkd.h"
#include "support/phone.h"
#include "support/process.h"

namespace parkd::test {
namespace {

using namespace std::chrono_literals;

int count_headers(const Parsed& p, sip::HeaderId id) {
  int n = 0;
  for (uint32_t i = 0; i < p->header_count; ++i) n += p->headers[i].id == id ? 1 : 0;
  return n;
}

TEST(Registrar, ChallengeThenSha256Then200WithTheBinding) {
  Parkd parkd({"--shards", "2"});
  ASSERT_TRUE(parkd.ready());
  Phone phone(parkd.at(), "101", "acme.example.com", "acme101-secret");
  std::string headers = "Contact: " + phone.contact() + "\r\nExpires: 600\r\n";
  Parsed challenge = phone.send_unauthenticated(headers);
  ASSERT_EQ(challenge->status_code, 401) << challenge.bytes;
  ASSERT_EQ(count_headers(challenge, sip::HeaderId::www_authenticate), 2) << challenge.bytes;
  EXPECT_EQ(challenge->www_authenticate.algorithm, "SHA-256") << "RFC 8760: the stronger algorithm first";
  EXPECT_EQ(challenge->www_authenticate.realm, "acme.example.com");
  Parsed ok = phone.answer(challenge, headers, "SHA-256");
  ASSERT_EQ(ok->status_code, 200) << ok.bytes;
  ASSERT_EQ(ok->contact_count, 1u) << ok.bytes;
  EXPECT_EQ(ok->contacts[0].address.uri, "sip:101@127.0.0.1:" + std::to_string(phone.port()));
  EXPECT_EQ(ok->contacts[0].expires, 600);
  // MD5 works too, and a REGISTER without Contact fetches the bindings.
  Parsed fetched = phone.register_with("", "MD5");
  ASSERT_EQ(fetched->status_code, 200) << fetched.bytes;
  EXPECT_EQ(fetched->contact_count, 1u);
}

TEST(Registrar, WrongPasswordAndUnknownExtensionLookTheSame) {
  Parkd parkd({"--shards", "1"});
  ASSERT_TRUE(parkd.ready());
  Phone wrong(parkd.at(), "101", "acme.example.com", "not-the-password");
  Phone unknown(parkd.at(), "999", "acme.example.com", "whatever");
  std::string headers = "Contact: <sip:x@127.0.0.1:9>\r\n";
  Parsed a = wrong.register_with(headers);
  Parsed b = unknown.register_with(headers);
  ASSERT_TRUE(a.ok && b.ok);
  EXPECT_EQ(a->status_code, 401);
  EXPECT_EQ(b->status_code, 401);
  EXPECT_EQ(a->reason_phrase, b->reason_phrase);
  EXPECT_EQ(count_headers(a, sip::HeaderId::www_authenticate), count_headers(b, sip::HeaderId::www_authenticate));
  // Header for header the same, and the same challenges but for their nonces.
  ASSERT_EQ(a->header_count, b->header_count) << a.bytes << "\n" << b.bytes;
  for (uint32_t i = 0; i < a->header_count; ++i) {
    EXPECT_EQ(a->headers[i].name, b->headers[i].name);
    if (a->headers[i].id != sip::HeaderId::www_authenticate) continue;
    auto without_nonce = [](std::string_view v) {
      std::string s(v);
      size_t at = s.find("nonce=\"");
      return at == std::string::npos ? s : s.erase(at, s.find('"', at + 7) + 1 - at);
    };
    EXPECT_EQ(without_nonce(a->headers[i].value), without_nonce(b->headers[i].value));
  }
}

TEST(Registrar, ARetransmittedRegisterGetsTheSameToTagInIts401) {
  // RFC 3261 section 8.2.7: parkd answers REGISTER statelessly, so the same request must get the same To tag.
  Parkd parkd({"--shards", "1"});
  ASSERT_TRUE(parkd.ready());
  Phone phone(parkd.at(), "101", "acme.example.com", "acme101-secret");
  const std::string request =
      "REGISTER sip:acme.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:" + std::to_string(phone.port()) +
      ";branch=z9hG4bK-same-request;rport\r\nMax-Forwards: 70\r\n"
      "From: <sip:101@acme.example.com>;tag=f1\r\nTo: <sip:101@acme.example.com>\r\n"
      "Call-ID: retransmitted-register\r\nCSeq: 1 REGISTER\r\n"
      "Contact: <sip:101@127.0.0.1:9>\r\nContent-Length: 0\r\n\r\n";
  std::string tags[2];
  for (std::string& tag : tags) {
    ASSERT_TRUE(phone.client().send(request));
    auto bytes = phone.client().receive();
    ASSERT_TRUE(bytes);
    Parsed answer = parse(std::move(*bytes));
    ASSERT_TRUE(answer.ok);
    EXPECT_EQ(answer->status_code, 401);
    tag = std::string(answer->to.tag);
  }
  EXPECT_FALSE(tags[0].empty());
  EXPECT_EQ(tags[0], tags[1]);
  // Another request (a new branch) gets another tag.
  std::string other = request;
  other.replace(other.find("same-request"), 12, "next-request");
  ASSERT_TRUE(phone.client().send(other));
  auto bytes = phone.client().receive();
  ASSERT_TRUE(bytes);
  Parsed answer = parse(std::move(*bytes));
  ASSERT_TRUE(answer.ok);
  EXPECT_NE(std::string(answer->to.tag), tags[0]);
}

TEST(Registrar, UnknownDomainIsForbidden) {
  Parkd parkd({"--shards", "1"});
  ASSERT_TRUE(parkd.ready());
  Phone phone(parkd.at(), "101", "initech.example.com", "x");
  Parsed r = phone.send_unauthenticated("Contact: <sip:101@127.0.0.1:9>\r\n");
  EXPECT_EQ(r->status_code, 403) << r.bytes;
}

TEST(Registrar, ExpiresRulesContactStarAndTenantIsolation) {
  Parkd parkd({"--shards", "2"});
  ASSERT_TRUE(parkd.ready());
  Phone acme(parkd.at(), "101", "acme.example.com", "acme101-secret");
  Phone globex(parkd.at(), "101", "globex.example.com", "globex101-secret");
  Parsed too_short = acme.register_with("Contact: " + acme.contact() + "\r\nExpires: 30\r\n");
  ASSERT_EQ(too_short->status_code, 423) << too_short.bytes;
  EXPECT_EQ(too_short.header("Min-Expires"), "60");
  Parsed capped = acme.register_with("Contact: " + acme.contact() + "\r\nExpires: 99999\r\n");
  ASSERT_EQ(capped->status_code, 200) << capped.bytes;
  EXPECT_EQ(capped->contacts[0].expires, 3600) << "capped at 3600";
  ASSERT_EQ(globex.register_with("Contact: " + globex.contact() + "\r\n")->status_code, 200);
  // Same number, two tenants: each sees only its own device.
  Parsed acme_view = acme.register_with("");
  ASSERT_EQ(acme_view->contact_count, 1u);
  EXPECT_NE(acme_view->contacts[0].address.uri.find(std::to_string(acme.port())), std::string_view::npos);
  Parsed removed = acme.register_with("Contact: *\r\nExpires: 0\r\n");
  ASSERT_EQ(removed->status_code, 200) << removed.bytes;
  EXPECT_EQ(removed->contact_count, 0u);
  EXPECT_EQ(globex.register_with("")->contact_count, 1u) << "globex's 101 is another person";
}

TEST(Registrar, RepeatedFailuresFromOneSourceAreThrottled) {
  Parkd parkd({"--shards", "1"});
  ASSERT_TRUE(parkd.ready());
  Phone guesser(parkd.at(), "101", "acme.example.com", "guess");
  int forbidden_after = -1;
  for (int attempt = 0; attempt < 30 && forbidden_after < 0; ++attempt) {
    Parsed r = guesser.register_with("Contact: <sip:101@127.0.0.1:9>\r\n");
    if (r->status_code == 403) forbidden_after = attempt;
  }
  EXPECT_EQ(forbidden_after, 20) << "20 failures in the window, then 403";
}

std::string temp_dir() {
  char pattern[] = "/tmp/parkd-registrar-XXXXXX";
  return mkdtemp(pattern);
}

TEST(Registrar, BindingsSurviveACleanRestartAndKill9) {
  std::string dir = temp_dir();
  Endpoint first_at;
  uint16_t phone_port = 0;
  {
    Parkd parkd({"--shards", "2", "--data-dir", dir});
    ASSERT_TRUE(parkd.ready());
    Phone phone(parkd.at(), "102", "acme.example.com", "acme102-secret");
    phone_port = phone.port();
    ASSERT_EQ(phone.register_with("Contact: " + phone.contact() + "\r\n")->status_code, 200);
    parkd.process().send_signal(SIGTERM);
    ASSERT_EQ(parkd.process().wait_exit(10s), 0);
  }
  {
    // Another shard count: tenants move, bindings follow.
    Parkd parkd({"--shards", "1", "--data-dir", dir, "--log-level", "debug"});
    ASSERT_TRUE(parkd.ready());
    Phone phone(parkd.at(), "102", "acme.example.com", "acme102-secret");
    Parsed fetched = phone.register_with("");
    ASSERT_EQ(fetched->contact_count, 1u) << fetched.bytes;
    EXPECT_EQ(fetched->contacts[0].address.uri, "sip:102@127.0.0.1:" + std::to_string(phone_port));
    // A new binding, then kill -9 once the writer committed it.
    Phone other(parkd.at(), "103", "acme.example.com", "acme103-secret");
    ASSERT_EQ(other.register_with("Contact: " + other.contact() + "\r\n")->status_code, 200);
    ASSERT_TRUE(parkd.wait_persisted());
    parkd.process().send_signal(SIGKILL);
    parkd.process().wait_exit(10s);
  }
  {
    Parkd parkd({"--shards", "2", "--data-dir", dir});
    ASSERT_TRUE(parkd.ready());
    Phone phone(parkd.at(), "103", "acme.example.com", "acme103-secret");
    EXPECT_EQ(phone.register_with("")->contact_count, 1u) << "the binding committed before kill -9 is back";
  }
  std::string command = "rm -rf " + dir;
  EXPECT_EQ(std::system(command.c_str()), 0);
}

TEST(Registrar, ReloadKeepsRegistrationsOfUnchangedExtensions) {
  std::string dir = temp_dir();
  std::string file = dir + "/tenants.json";
  auto write = [&](const std::string& extra_tenant) {
    std::ofstream(file) << R"({"tenants": [{"name": "acme", "domain": "acme.example.com", "extensions": [
      {"number": "101", "password": "p101"}, {"number": "102", "password": "p102"}]})" +
                               extra_tenant + "]}";
  };
  write("");
  Parkd parkd({"--tenants", file, "--shards", "2"});
  ASSERT_TRUE(parkd.ready());
  Phone phone(parkd.at(), "101", "acme.example.com", "p101");
  ASSERT_EQ(phone.register_with("Contact: " + phone.contact() + "\r\n")->status_code, 200);
  write(R"(, {"name": "globex", "domain": "globex.example.com", "extensions": [{"number": "101", "password": "g"}]})");
  parkd.process().send_signal(SIGHUP);
  ASSERT_TRUE(parkd.process().wait_for_error_line("reloaded", 10s));
  Phone globex(parkd.at(), "101", "globex.example.com", "g");
  // The shards take the new configuration within a loop turn (at most a second): the new tenant answers 200.
  int status = 0;
  for (int attempt = 0; attempt < 30 && status != 200; ++attempt)
    status = globex.register_with("Contact: " + globex.contact() + "\r\n")->status_code;
  EXPECT_EQ(status, 200);
  EXPECT_EQ(phone.register_with("")->contact_count, 1u) << "acme's 101 is unchanged: its binding is kept";
  std::string command = "rm -rf " + dir;
  EXPECT_EQ(std::system(command.c_str()), 0);
}

}  // namespace
}  // namespace parkd::test
