#include "core/node.h"

#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace parkd {
namespace {

// Creates and binds one socket; -errno on failure.
int bind_socket(const Endpoint& at, int type, int receive_buffer_bytes) {
  int family = at.ipv6 ? AF_INET6 : AF_INET;
  int fd = socket(family, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (at.ipv6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (type == SOCK_DGRAM && receive_buffer_bytes > 0) {
    // SO_RCVBUFFORCE passes net.core.rmem_max when privileged; otherwise the capped SO_RCVBUF applies.
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &receive_buffer_bytes, sizeof receive_buffer_bytes) != 0)
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer_bytes, sizeof receive_buffer_bytes);
  }
  sockaddr_storage sa{};
  socklen_t len = at.to_sockaddr(sa);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), len) != 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  if (type == SOCK_STREAM && listen(fd, 1024) != 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

uint16_t bound_port(int fd) {
  sockaddr_storage sa{};
  socklen_t len = sizeof sa;
  getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  return Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&sa), len).port;
}

std::vector<int> allowed_cpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0)
    for (int i = 0; i < CPU_SETSIZE; ++i)
      if (CPU_ISSET(i, &set)) cpus.push_back(i);
  return cpus;
}

}  // namespace

Result<std::unique_ptr<Node>, std::string> Node::create(const NodeConfig& config, const HandlerFactory& make_handler) {
  std::unique_ptr<Node> node(new Node());
  const unsigned n = config.shards;
  std::vector<std::vector<int>> udp(n);
  std::vector<std::vector<int>> tcp(n);
  auto close_all = [&] {
    for (auto& v : udp)
      for (int fd : v) close(fd);
    for (auto& v : tcp)
      for (int fd : v) close(fd);
  };
  for (const Endpoint& requested : config.listen) {
    // Port 0: the kernel picks the UDP port; TCP must get the same one, which can be taken: retry a few times.
    Endpoint at = requested;
    std::string failure;
    for (int attempt = 0; attempt < 16; ++attempt) {
      at = requested;
      std::vector<int> opened;
      failure.clear();
      for (unsigned s = 0; s < n && failure.empty(); ++s) {
        int u = bind_socket(at, SOCK_DGRAM, config.udp_receive_buffer_bytes);
        if (u < 0) {
          failure = "cannot bind udp " + at.to_string() + ": " + std::strerror(-u);
          break;
        }
        opened.push_back(u);
        if (at.port == 0) at.port = bound_port(u);
        int t = bind_socket(at, SOCK_STREAM, 0);
        if (t < 0) {
          failure = "cannot bind tcp " + at.to_string() + ": " + std::strerror(-t);
          break;
        }
        opened.push_back(t);
      }
      if (failure.empty()) {
        for (unsigned s = 0; s < n; ++s) {
          udp[s].push_back(opened[2 * s]);
          tcp[s].push_back(opened[2 * s + 1]);
        }
        break;
      }
      for (int fd : opened) close(fd);
      if (requested.port != 0) break;  // a fixed port that is taken stays taken
    }
    if (!failure.empty()) {
      close_all();
      return Unexpected{failure};
    }
    node->bound_.push_back(at);
  }

  auto mesh = MailboxMesh<Mail>::create(n, config.mailbox_capacity);
  if (!mesh) {
    close_all();
    return Unexpected{std::string("cannot create the shards' mailboxes: eventfd: ") + std::strerror(mesh.error())};
  }
  node->mailboxes_ = std::move(mesh).value();
  std::vector<int> cpus = allowed_cpus();
  for (unsigned s = 0; s < n; ++s) {
    ShardConfig sc = config.shard;
    sc.index = s;
    sc.cpu = config.pin && !cpus.empty() ? cpus[s % cpus.size()] : -1;
    sc.udp_fds = udp[s];
    sc.tcp_listen_fds = tcp[s];
    sc.mailboxes = node->mailboxes_.get();
    node->handlers_.push_back(make_handler(s));
    node->shards_.push_back(std::make_unique<Shard>(std::move(sc), *node->handlers_.back()));
  }
  node->errors_.resize(n);
  return node;
}

Node::~Node() {
  stop();
  wait();
}

void Node::start(const std::function<void()>& on_failure) {
  for (unsigned s = 0; s < shards_.size(); ++s)
    threads_.emplace_back([this, s, on_failure] {
      if (!shards_[s]->run(&errors_[s])) {
        stop();
        if (on_failure) on_failure();
      }
    });
}

void Node::stop() {
  for (auto& shard : shards_) shard->stop();
}

std::string Node::wait() {
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
  for (const auto& e : errors_)
    if (!e.empty()) return e;
  return {};
}

}  // namespace parkd
