// The real parkd binary over UDP and TCP on 127.0.0.1 (issue 4): OPTIONS, the SPEC section 7 answers,
// TCP framing (split segments, pipelining, oversize, keep-alive), connection limits and idle close.
#include <gtest/gtest.h>

#include <csignal>
#include <set>

#include "support/process.h"
#include "support/sip_client.h"

namespace parkd::test {
namespace {

using namespace std::chrono_literals;

class Parkd {
 public:
  explicit Parkd(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--demo", "--listen", "127.0.0.1:0", "--shards", "2"};
    args.insert(args.end(), extra.begin(), extra.end());
    process_ = std::make_unique<Process>(PARKD_BINARY, args);
    auto line = process_->wait_for_line("listening udp+tcp 127.0.0.1:", 10s);
    if (!line) return;
    std::string port = line->substr(line->rfind(':') + 1);
    parse_endpoint("127.0.0.1:" + port, at_);
    ready_ = process_->wait_for_line("ready", 10s).has_value();
  }
  bool ready() const { return ready_; }
  const Endpoint& at() const { return at_; }
  Process& process() { return *process_; }

 private:
  std::unique_ptr<Process> process_;
  Endpoint at_;
  bool ready_ = false;
};

Parsed ask(SipClient& client, const std::string& request) {
  EXPECT_TRUE(client.send(request));
  auto reply = client.receive();
  EXPECT_TRUE(reply.has_value()) << "no answer to:\n" << request;
  return parse(reply.value_or(""));
}

TEST(Transport, OptionsOverUdpAnswered200WithRport) {
  Parkd parkd;
  ASSERT_TRUE(parkd.ready()) << parkd.process().stderr_text();
  SipClient client(Transport::udp, parkd.at());
  Parsed r = ask(client, options_request("u1", client.local_port()));
  ASSERT_TRUE(r.ok) << r.bytes;
  EXPECT_EQ(r->status_code, 200);
  EXPECT_NE(r.header("Allow").find("OPTIONS"), std::string::npos);
  EXPECT_EQ(r.header("Accept"), "application/sdp");
  EXPECT_EQ(r->call_id, "u1@test");
  EXPECT_FALSE(r->to.tag.empty()) << "a final response carries a To tag";
  ASSERT_EQ(r->via_count, 1u);
  EXPECT_EQ(r->vias[0].rport, std::to_string(client.local_port())) << r.bytes;
  EXPECT_EQ(r->vias[0].branch, "z9hG4bKu1");
}

TEST(Transport, OptionsOverTcpAndPipelinedAndSplit) {
  Parkd parkd;
  ASSERT_TRUE(parkd.ready());
  SipClient client(Transport::tcp, parkd.at());
  std::string a = options_request("t1", client.local_port(), "", Transport::tcp);
  std::string b = options_request("t2", client.local_port(), "", Transport::tcp);
  ASSERT_TRUE(client.send(a + b));  // two messages in one segment
  auto first = client.receive();
  auto second = client.receive();
  ASSERT_TRUE(first && second);
  EXPECT_EQ(parse(*first)->call_id, "t1@test");
  EXPECT_EQ(parse(*second)->call_id, "t2@test");
  // One message in three pieces: the header block, split mid-line, then the rest.
  std::string c = options_request("t3", client.local_port(), "", Transport::tcp);
  ASSERT_TRUE(client.send(c.substr(0, 10)));
  ASSERT_TRUE(client.send(c.substr(10, 50)));
  ASSERT_TRUE(client.send(c.substr(60)));
  auto third = client.receive();
  ASSERT_TRUE(third);
  EXPECT_EQ(parse(*third)->status_code, 200);
  EXPECT_EQ(parse(*third)->call_id, "t3@test");
}

TEST(Transport, TcpKeepAlivePing) {
  Parkd parkd;
  ASSERT_TRUE(parkd.ready());
  SipClient client(Transport::tcp, parkd.at());
  ASSERT_TRUE(client.send("\r\n\r\n"));
  EXPECT_EQ(client.receive(), "\r\n");
}

// Replaces the first occurrence of `from` in `text` (which must be there).
std::string replaced(std::string text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return at == std::string::npos ? text : text.replace(at, from.size(), to);
}

TEST(Transport, BadInputGetsTheSpecAnswers) {
  Parkd parkd;
  ASSERT_TRUE(parkd.ready());
  SipClient client(Transport::udp, parkd.at());
  struct Case {
    const char* name;
    std::string (*edit)(const std::string& request);
    int code;
    const char* reason;  // "" when only the code is checked
  };
  const Case cases[] = {
      {"missing Call-ID", [](const std::string& r) { return replaced(r, "Call-ID: ", "X-Was-Call-ID: "); }, 400,
       "Missing Call-ID"},
      {"CSeq mismatch", [](const std::string& r) { return replaced(r, "CSeq: 1 OPTIONS", "CSeq: 1 INVITE"); }, 400,
       "CSeq method does not match"},
      {"bad version",
       [](const std::string& r) { return replaced(r, "sip:127.0.0.1 SIP/2.0", "sip:127.0.0.1 SIP/3.0"); }, 505, ""},
      {"unknown method",
       [](const std::string& r) { return replaced(replaced(r, "OPTIONS sip:", "FROB sip:"), "1 OPTIONS", "1 FROB"); },
       501, ""},
      {"max-forwards 0",
       [](const std::string& r) {
         return replaced(replaced(r, "Max-Forwards: 70", "Max-Forwards: 0"), "OPTIONS sip:127", "OPTIONS sip:101@127");
       },
       483, ""},
      {"max-forwards 0, OPTIONS to parkd itself",
       [](const std::string& r) { return replaced(r, "Max-Forwards: 70", "Max-Forwards: 0"); }, 200, ""},
      {"require unknown", [](const std::string& r) { return replaced(r, "CSeq:", "Require: frobnication\r\nCSeq:"); },
       420, ""},
      {"known method not served",
       [](const std::string& r) {
         return replaced(replaced(r, "OPTIONS sip:", "MESSAGE sip:101@"), "1 OPTIONS", "1 MESSAGE");
       },
       405, ""},
  };
  int n = 0;
  for (const Case& c : cases) {
    std::string branch = "b" + std::to_string(++n);
    Parsed r = ask(client, c.edit(options_request(branch, client.local_port())));
    // The answer to a message without a Call-ID has no Call-ID either, so the status line and the Via are
    // read as text rather than by parsing the answer.
    std::string status = "SIP/2.0 " + std::to_string(c.code) + " ";
    EXPECT_EQ(r.bytes.substr(0, status.size()), status) << c.name << ":\n" << r.bytes;
    if (*c.reason != '\0') {
      EXPECT_EQ(r.bytes.substr(0, r.bytes.find("\r\n")), status + c.reason) << c.name;
    }
    EXPECT_NE(r.bytes.find(";branch=z9hG4bK" + branch + ";"), std::string::npos) << c.name << ": Via copied";
    if (c.code == 501 || c.code == 405) {
      EXPECT_FALSE(r.header("Allow").empty()) << c.name;
    }
    if (c.code == 420) {
      EXPECT_EQ(r.header("Unsupported"), "frobnication");
    }
  }
}

TEST(Transport, GarbageWithoutViaGetsNothing) {
  Parkd parkd;
  ASSERT_TRUE(parkd.ready());
  SipClient client(Transport::udp, parkd.at());
  ASSERT_TRUE(client.send("this is not SIP at all\r\n\r\n"));
  ASSERT_TRUE(client.send(std::string("\x00\x01\x02garbage", 10)));
  ASSERT_TRUE(client.send("INVITE sip:x@y SIP/2.0\r\nCall-ID: c\r\n\r\n"));
  // The next datagram to arrive must be the answer to this OPTIONS: nothing came back for the garbage.
  Parsed r = ask(client, options_request("after-garbage", client.local_port()));
  EXPECT_EQ(r->call_id, "after-garbage@test");
  EXPECT_FALSE(client.receive(200ms).has_value());
}

TEST(Transport, TcpMessageOver64KiBGets513AndClose) {
  Parkd parkd;
  ASSERT_TRUE(parkd.ready());
  SipClient client(Transport::tcp, parkd.at());
  std::string request = options_request("big", client.local_port(), "", Transport::tcp);
  std::string body(70000, 'x');
  request.replace(request.find("Content-Length: 0"), 17, "Content-Type: text/plain\r\nContent-Length: 70000");
  ASSERT_TRUE(client.send(request + body));
  auto reply = client.receive();
  ASSERT_TRUE(reply);
  EXPECT_EQ(parse(*reply)->status_code, 513) << *reply;
  EXPECT_TRUE(client.closed_by_peer());
}

TEST(Transport, TwoShardsBothServeUdp) {
  Parkd parkd;
  ASSERT_TRUE(parkd.ready());
  // Many source ports: SO_REUSEPORT spreads them over both shards.
  for (int i = 0; i < 32; ++i) {
    SipClient client(Transport::udp, parkd.at());
    Parsed r = ask(client, options_request("s" + std::to_string(i), client.local_port()));
    ASSERT_EQ(r->status_code, 200);
  }
  parkd.process().send_signal(SIGTERM);
  ASSERT_EQ(parkd.process().wait_exit(10s), 0);
  std::string err = parkd.process().stderr_text();
  std::set<std::string> shards_with_traffic;
  for (std::string shard : {"shard 0:", "shard 1:"}) {
    size_t at = err.find(shard);
    ASSERT_NE(at, std::string::npos) << err;
    size_t in = err.find("udp_datagrams_in=", at);
    if (err.substr(in, 19) != "udp_datagrams_in=0 ") shards_with_traffic.insert(shard);
  }
  EXPECT_EQ(shards_with_traffic.size(), 2u) << err;
}

TEST(Transport, TcpConnectionFloodUpToTheLimit) {
  Parkd parkd({"--tcp-max-per-source", "4", "--shards", "1"});
  ASSERT_TRUE(parkd.ready());
  std::vector<std::unique_ptr<SipClient>> clients;
  for (int i = 0; i < 4; ++i) {
    clients.push_back(std::make_unique<SipClient>(Transport::tcp, parkd.at()));
    Parsed r = ask(*clients.back(),
                   options_request("f" + std::to_string(i), clients.back()->local_port(), "", Transport::tcp));
    ASSERT_EQ(r->status_code, 200);
  }
  SipClient over(Transport::tcp, parkd.at());
  over.send(options_request("over", over.local_port(), "", Transport::tcp));
  EXPECT_TRUE(over.closed_by_peer()) << "the fifth connection from one source is refused";
  Parsed still = ask(*clients[0], options_request("still", clients[0]->local_port(), "", Transport::tcp));
  EXPECT_EQ(still->status_code, 200) << "connections within the limit keep working";
}

TEST(Transport, HalfOpenTcpClientIsClosedAfterIdleTimeout) {
  Parkd parkd({"--tcp-idle-timeout-s", "1"});
  ASSERT_TRUE(parkd.ready());
  SipClient client(Transport::tcp, parkd.at());
  ASSERT_TRUE(client.send("OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1"));  // and then nothing
  EXPECT_TRUE(client.closed_by_peer(5s));
}

}  // namespace
}  // namespace parkd::test
