// The reactor with a toy protocol (messages end with "\n\n"; the handler echoes them), over real sockets on
// 127.0.0.1. Every wait is bounded by socket receive timeouts; nothing sleeps.
#include "core/shard.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <map>
#include <set>
#include <string>

#include "core/node.h"

namespace parkd {
namespace {

class EchoHandler : public Handler {
 public:
  Frame frame(std::string_view stream) override {
    size_t end = stream.find("\n\n");
    if (stream.find("BAD") == 0) return {Frame::error, 0};
    return end == std::string_view::npos ? Frame{Frame::incomplete, 0}
                                         : Frame{Frame::complete, static_cast<uint32_t>(end + 2)};
  }
  void on_message(Shard& shard, const Inbound& in) override {
    messages.fetch_add(1);
    std::string reply = in.oversize ? "TOO BIG" : in.framing_error ? "CANNOT FRAME" : std::string(in.data);
    if (in.truncated) reply = "TRUNCATED";
    if (report_clock) reply = "wheel lag " + std::to_string(shard.now_ms() - shard.timers().now_ms());
    if (report_pressure) reply = std::string(pressure_name(shard.pressure()));
    OutBuffer out = shard.out_buffer();
    ASSERT_NE(out.data, nullptr);
    std::memcpy(out.data, reply.data(), reply.size());
    shard.reply(in, out, static_cast<uint32_t>(reply.size()));
  }
  std::atomic<int> messages{0};
  bool report_clock = false;     // answer how far the timer wheel's time is behind the shard's clock
  bool report_pressure = false;  // answer with the shard's pressure instead of an echo (set before start)
};

struct Running {
  std::unique_ptr<Node> node;
  EchoHandler* handler = nullptr;
  Endpoint at;
};

Running start(const ShardConfig& shard_config, bool start_now = true) {
  Running r;
  NodeConfig config;
  Endpoint local;
  EXPECT_TRUE(parse_endpoint("127.0.0.1:0", local));
  config.listen = {local};
  config.shards = 1;
  config.pin = false;
  config.shard = shard_config;
  auto node = Node::create(config, [&](unsigned) {
    auto h = std::make_unique<EchoHandler>();
    r.handler = h.get();
    return h;
  });
  EXPECT_TRUE(node.ok()) << (node.ok() ? "" : node.error());
  r.node = std::move(node).value();
  r.at = r.node->bound()[0];
  if (start_now) r.node->start();
  return r;
}

int client_socket(int type, const Endpoint& to) {
  int fd = socket(AF_INET, type, 0);
  timeval tv{5, 0};  // every read in these tests is bounded
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_storage sa{};
  socklen_t len = to.to_sockaddr(sa);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&sa), len), 0) << std::strerror(errno);
  if (type == SOCK_STREAM) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  return fd;
}

std::string read_some(int fd) {
  char buf[70000];
  ssize_t n = read(fd, buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

std::string read_exactly(int fd, size_t size) {
  std::string out;
  while (out.size() < size) {
    std::string part = read_some(fd);
    if (part.empty()) break;
    out += part;
  }
  return out;
}

TEST(ShardUdp, EchoesDatagramsFromTheirSource) {
  Running r = start({});
  int fd = client_socket(SOCK_DGRAM, r.at);
  for (int i = 0; i < 20; ++i) {
    std::string msg = "ping " + std::to_string(i);
    ASSERT_EQ(send(fd, msg.data(), msg.size(), 0), static_cast<ssize_t>(msg.size()));
    EXPECT_EQ(read_some(fd), msg);
  }
  close(fd);
  r.node->stop();
  EXPECT_EQ(r.node->wait(), "");
  EXPECT_EQ(r.node->shard(0).counters().udp_datagrams_in.get(), 20u);
  EXPECT_EQ(r.node->shard(0).counters().udp_datagrams_out.get(), 20u);
}

// Handlers schedule timers relative to the wheel's time (the SIP transaction layer does): the wheel must be
// at the clock when a turn's messages are handled, or a timer scheduled after the shard slept would start
// out overdue (a retransmission sent at once instead of after T1).
TEST(ShardTimers, HandlersSeeTheWheelAtTheShardsClock) {
  Running r = start({}, /*start_now=*/false);
  r.handler->report_clock = true;
  r.node->start();
  int fd = client_socket(SOCK_DGRAM, r.at);
  for (int i = 0; i < 3; ++i) {
    // The shard sleeps between the datagrams: time passing while it sleeps is the subject of the test (this
    // wait synchronises nothing; every reply is waited for).
    if (i > 0) poll(nullptr, 0, 30);
    ASSERT_EQ(send(fd, "tick", 4, 0), 4);
    EXPECT_EQ(read_some(fd), "wheel lag 0") << "datagram " << i;
  }
  close(fd);
  r.node->stop();
  EXPECT_EQ(r.node->wait(), "");
}

TEST(ShardUdp, BufferRingExhaustionIsSurvivedAndCounted) {
  ShardConfig config;
  config.receive_buffers = 2;  // far fewer buffers than the burst waiting in the socket
  Running r = start(config, /*start_now=*/false);
  int fd = client_socket(SOCK_DGRAM, r.at);
  constexpr int burst = 64;
  for (int i = 0; i < burst; ++i) {
    std::string msg = "burst " + std::to_string(i);
    ASSERT_EQ(send(fd, msg.data(), msg.size(), 0), static_cast<ssize_t>(msg.size()));
  }
  r.node->start();  // the whole burst is queued before the first receive is armed
  int received = 0;
  while (received < burst && !read_some(fd).empty()) ++received;
  EXPECT_EQ(received, burst) << "no datagram may be lost to an empty buffer ring";
  close(fd);
  r.node->stop();
  EXPECT_EQ(r.node->wait(), "");
  EXPECT_GT(r.node->shard(0).counters().udp_no_buffers.get(), 0u);
  EXPECT_GT(r.node->shard(0).counters().udp_rearms.get(), 0u);
}

TEST(ShardUdp, ReceiveQueuePastTheWatermarksRaisesPressureUntilItDrains) {
  ShardConfig config;
  config.receive_buffers = 8;  // the kernel's queue keeps nearly all of the burst at the first sample
  config.overload_high_bytes = 16 * 1024;
  config.overload_low_bytes = 4 * 1024;
  config.overload_critical_bytes = 32 * 1024;
  Running r = start(config, /*start_now=*/false);
  r.handler->report_pressure = true;
  int fd = client_socket(SOCK_DGRAM, r.at);
  int rcvbuf = 1 << 20;  // room for every answer even if this thread reads late
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  constexpr int burst = 200;  // 200 x 300 bytes, well past twice the high watermark in the kernel's count
  const std::string payload(300, 'q');
  for (int i = 0; i < burst; ++i) ASSERT_EQ(send(fd, payload.data(), payload.size(), 0), 300);
  r.node->start();
  std::map<std::string, int> seen;
  for (int i = 0; i < burst; ++i) {
    std::string answer = read_some(fd);
    if (answer.empty()) break;
    ++seen[answer];
  }
  EXPECT_EQ(seen["normal"] + seen["high"] + seen["critical"], burst);
  EXPECT_GT(seen["critical"], 0) << "a queue past the critical mark is critical";
  // The queue is empty now: the next turn samples it (every turn does while under pressure) and finds it
  // below the low watermark.
  ASSERT_EQ(send(fd, "ping", 4, 0), 4);
  EXPECT_EQ(read_some(fd), "normal");
  close(fd);
  r.node->stop();
  EXPECT_EQ(r.node->wait(), "");
  const ShardCounters& c = r.node->shard(0).counters();
  EXPECT_GE(c.overload_high_entered.get(), 1u);
  EXPECT_GE(c.overload_critical_entered.get(), 1u);
  EXPECT_GT(c.overload_turns.get(), 0u);
  EXPECT_GE(c.receive_queue_max_bytes.get(), 32u * 1024);
}

TEST(ShardUdp, TruncatedDatagramIsFlagged) {
  ShardConfig config;
  config.receive_buffer_size = 1024;
  Running r = start(config);
  int fd = client_socket(SOCK_DGRAM, r.at);
  std::string big(4000, 'x');
  ASSERT_EQ(send(fd, big.data(), big.size(), 0), static_cast<ssize_t>(big.size()));
  EXPECT_EQ(read_some(fd), "TRUNCATED");
  close(fd);
}

TEST(ShardTcp, SplitSegmentsAndPipelinedMessages) {
  Running r = start({});
  int fd = client_socket(SOCK_STREAM, r.at);
  for (const char* part : {"hel", "lo\n", "\n"}) ASSERT_GT(write(fd, part, std::strlen(part)), 0);
  EXPECT_EQ(read_exactly(fd, 7), "hello\n\n");
  std::string two = "one\n\ntwo\n\n";
  ASSERT_EQ(write(fd, two.data(), two.size()), static_cast<ssize_t>(two.size()));
  EXPECT_EQ(read_exactly(fd, two.size()), two);
  close(fd);
}

TEST(ShardTcp, DoubleCrlfKeepAliveIsAnsweredWithCrlf) {
  Running r = start({});
  int fd = client_socket(SOCK_STREAM, r.at);
  ASSERT_EQ(write(fd, "\r\n\r\n", 4), 4);
  EXPECT_EQ(read_exactly(fd, 2), "\r\n");
  ASSERT_EQ(write(fd, "after\n\n", 7), 7);
  EXPECT_EQ(read_exactly(fd, 7), "after\n\n");
  close(fd);
}

TEST(ShardTcp, OversizeMessageIsAnsweredThenClosed) {
  ShardConfig config;
  config.tcp_message_size_max = 1024;
  Running r = start(config);
  int fd = client_socket(SOCK_STREAM, r.at);
  std::string big(3000, 'y');
  ASSERT_EQ(write(fd, big.data(), big.size()), static_cast<ssize_t>(big.size()));
  EXPECT_EQ(read_exactly(fd, 7), "TOO BIG");
  EXPECT_EQ(read_some(fd), "") << "the connection is closed after the answer";
  close(fd);
  EXPECT_EQ(r.node->shard(0).counters().tcp_oversize.get(), 1u);
}

TEST(ShardTcp, UnframeableStreamIsAnsweredThenClosed) {
  Running r = start({});
  int fd = client_socket(SOCK_STREAM, r.at);
  ASSERT_EQ(write(fd, "BAD stuff", 9), 9);
  EXPECT_EQ(read_exactly(fd, 12), "CANNOT FRAME");
  EXPECT_EQ(read_some(fd), "");
  close(fd);
}

TEST(ShardTcp, PerSourceConnectionLimit) {
  ShardConfig config;
  config.tcp_connections_per_source_max = 3;
  Running r = start(config);
  int fds[3];
  for (int& fd : fds) {
    fd = client_socket(SOCK_STREAM, r.at);
    ASSERT_EQ(write(fd, "hi\n\n", 4), 4);
    ASSERT_EQ(read_exactly(fd, 4), "hi\n\n");  // accepted and served
  }
  int extra = client_socket(SOCK_STREAM, r.at);
  (void)write(extra, "hi\n\n", 4);
  EXPECT_EQ(read_some(extra), "") << "the connection over the limit is closed unanswered";
  close(extra);
  close(fds[0]);
  // A slot is free again once the server has seen the close: a new connection is then served.
  bool served = false;
  for (int attempt = 0; attempt < 50 && !served; ++attempt) {
    int again = client_socket(SOCK_STREAM, r.at);
    (void)write(again, "hi\n\n", 4);
    served = read_some(again) == "hi\n\n";
    close(again);
  }
  EXPECT_TRUE(served);
  for (int i = 1; i < 3; ++i) close(fds[i]);
  EXPECT_GE(r.node->shard(0).counters().tcp_refused_limit.get(), 1u);
}

TEST(ShardTcp, HalfOpenClientIsClosedWhenIdle) {
  ShardConfig config;
  config.tcp_idle_timeout_ms = 200;
  Running r = start(config);
  int fd = client_socket(SOCK_STREAM, r.at);
  ASSERT_EQ(write(fd, "partial mess", 12), 12);  // never completed
  EXPECT_EQ(read_some(fd), "") << "closed by the idle sweep within the 5 s read timeout";
  close(fd);
  EXPECT_EQ(r.node->shard(0).counters().tcp_idle_closed.get(), 1u);
}

}  // namespace
}  // namespace parkd

namespace parkd {
namespace {

// Each shard hands every datagram it receives to the other shard, which answers it: the answer must arrive,
// and the receive buffers must come back to their owner (more datagrams than buffers pass through).
class ForwardingHandler : public Handler {
 public:
  Frame frame(std::string_view) override { return {Frame::error, 0}; }
  void on_message(Shard& shard, const Inbound& in) override {
    if (in.forwarded_from < 0) {
      if (shard.forward(1 - shard.index(), in)) return;
      not_forwarded.fetch_add(1);
    } else {
      forwarded.fetch_add(1);
    }
    std::string reply = "from shard " + std::to_string(shard.index()) + ": " + std::string(in.data);
    OutBuffer out = shard.out_buffer();
    std::memcpy(out.data, reply.data(), reply.size());
    shard.reply(in, out, static_cast<uint32_t>(reply.size()));
  }
  static std::atomic<int> forwarded;
  static std::atomic<int> not_forwarded;
};
std::atomic<int> ForwardingHandler::forwarded{0};
std::atomic<int> ForwardingHandler::not_forwarded{0};

TEST(ShardMailbox, DatagramsHandedToTheOtherShardWithoutCopyAndBuffersReturn) {
  NodeConfig config;
  Endpoint local;
  ASSERT_TRUE(parse_endpoint("127.0.0.1:0", local));
  config.listen = {local};
  config.shards = 2;
  config.pin = false;
  config.shard.receive_buffers = 8;  // 200 datagrams must recycle every buffer many times
  auto node = Node::create(config, [](unsigned) { return std::make_unique<ForwardingHandler>(); });
  ASSERT_TRUE(node.ok()) << node.error();
  (*node)->start();
  constexpr int count = 200;
  int answered = 0;
  std::set<std::string> answering_shards;
  for (int i = 0; i < count; ++i) {
    int fd = client_socket(SOCK_DGRAM, (*node)->bound()[0]);  // new source port: either shard may receive
    std::string msg = "m" + std::to_string(i);
    ASSERT_EQ(send(fd, msg.data(), msg.size(), 0), static_cast<ssize_t>(msg.size()));
    std::string reply = read_some(fd);
    close(fd);
    if (reply.size() > msg.size() && reply.substr(reply.size() - msg.size()) == msg) ++answered;
    answering_shards.insert(reply.substr(0, 12));
  }
  (*node)->stop();
  EXPECT_EQ((*node)->wait(), "");
  EXPECT_EQ(answered, count);
  EXPECT_EQ(ForwardingHandler::forwarded.load(), count);
  EXPECT_EQ(ForwardingHandler::not_forwarded.load(), 0);
  EXPECT_EQ(answering_shards.size(), 2u) << "both shards received some and forwarded them to the other";
  EXPECT_EQ((*node)->shard(0).counters().udp_no_buffers.get() + (*node)->shard(1).counters().udp_no_buffers.get(), 0u)
      << "every forwarded buffer came back to its ring";
}

}  // namespace
}  // namespace parkd

namespace parkd {
namespace {

// TCP: each message is handed to the other shard, whose answer travels back to the shard that owns the
// connection; pipelined messages keep their order, and the connection can be closed from the other shard.
class TcpForwardingHandler : public EchoHandler {
 public:
  void on_message(Shard& shard, const Inbound& in) override {
    if (in.forwarded_from < 0 && shard.forward(1 - shard.index(), in)) return;
    std::string reply = "shard " + std::to_string(shard.index()) + " got " + std::string(in.data);
    OutBuffer out = shard.out_buffer();
    std::memcpy(out.data, reply.data(), reply.size());
    shard.reply(in, out, static_cast<uint32_t>(reply.size()));
    if (in.data.find("bye") != std::string_view::npos) shard.close_connection_after_send(in.socket);
  }
};

TEST(ShardMailbox, TcpMessagesAnsweredByTheOtherShardOverTheOwnersConnection) {
  NodeConfig config;
  Endpoint local;
  ASSERT_TRUE(parse_endpoint("127.0.0.1:0", local));
  config.listen = {local};
  config.shards = 2;
  config.pin = false;
  auto node = Node::create(config, [](unsigned) { return std::make_unique<TcpForwardingHandler>(); });
  ASSERT_TRUE(node.ok()) << node.error();
  (*node)->start();
  for (int c = 0; c < 8; ++c) {  // several connections: either shard may accept each
    int fd = client_socket(SOCK_STREAM, (*node)->bound()[0]);
    std::string burst = "one\n\ntwo\n\n";
    ASSERT_EQ(write(fd, burst.data(), burst.size()), static_cast<ssize_t>(burst.size()));
    std::string a = "shard x got one\n\n";
    std::string b = "shard x got two\n\n";
    std::string got = read_exactly(fd, a.size() + b.size());
    ASSERT_EQ(got.size(), a.size() + b.size()) << got;
    EXPECT_EQ(got.substr(12, 5), "one\n\n") << got;
    EXPECT_EQ(got.substr(a.size() + 12, 5), "two\n\n") << got;
    EXPECT_EQ(got[6], got[a.size() + 6]) << "both answered by the same (other) shard";
    ASSERT_EQ(write(fd, "bye\n\n", 5), 5);
    EXPECT_EQ(read_exactly(fd, 17).substr(7), " got bye\n\n");
    EXPECT_EQ(read_some(fd), "") << "closed from the other shard";
    close(fd);
  }
  (*node)->stop();
  EXPECT_EQ((*node)->wait(), "");
}

}  // namespace
}  // namespace parkd
