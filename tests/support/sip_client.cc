#include "support/sip_client.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sip/params.h"
#include "sip/parser.h"

namespace parkd::test {

SipClient::SipClient(Transport transport, const Endpoint& server) : transport_(transport) {
  fd_ = socket(server.ipv6 ? AF_INET6 : AF_INET, (transport == Transport::udp ? SOCK_DGRAM : SOCK_STREAM), 0);
  sockaddr_storage sa{};
  socklen_t len = server.to_sockaddr(sa);
  if (connect(fd_, reinterpret_cast<sockaddr*>(&sa), len) != 0) {
    close(fd_);
    fd_ = -1;
    return;
  }
  if (transport == Transport::tcp) {
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  sockaddr_storage local{};
  socklen_t local_len = sizeof local;
  getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &local_len);
  local_port_ = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&local), local_len).port;
}

SipClient::~SipClient() {
  if (fd_ >= 0) close(fd_);
}

bool SipClient::send(const std::string& bytes) {
  if (fd_ < 0) return false;
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

namespace {
bool wait_readable(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, static_cast<int>(timeout.count())) > 0;
}
}  // namespace

std::optional<std::string> SipClient::receive(std::chrono::milliseconds timeout) {
  if (fd_ < 0) return std::nullopt;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[70000];
  for (;;) {
    if (transport_ == Transport::tcp && !pending_.empty()) {
      if (pending_.rfind("\r\n", 0) == 0 && pending_.size() == 2) {  // a keep-alive pong
        pending_.clear();
        return std::string("\r\n");
      }
      sip::MessageView view;
      auto r = sip::parse_message(pending_, Transport::tcp, view);
      if (r.status == sip::ParseStatus::complete) {
        std::string message = pending_.substr(0, r.consumed);
        pending_.erase(0, r.consumed);
        return message;
      }
      if (r.status == sip::ParseStatus::error) {
        std::string all;
        all.swap(pending_);
        return all;
      }
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !wait_readable(fd_, left)) return std::nullopt;
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return std::nullopt;
    if (transport_ == Transport::udp) return std::string(buf, static_cast<size_t>(n));
    pending_.append(buf, static_cast<size_t>(n));
  }
}

bool SipClient::closed_by_peer(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !wait_readable(fd_, left)) return false;
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n == 0 || (n < 0 && errno == ECONNRESET)) return true;
    if (n < 0) return false;
  }
}

Parsed parse(std::string bytes) {
  Parsed p;
  p.bytes = std::move(bytes);
  p.view = std::make_unique<sip::MessageView>();
  p.ok = sip::parse_message(p.bytes, Transport::udp, *p.view).status == sip::ParseStatus::complete;
  return p;
}

std::string Parsed::header(std::string_view name) const {
  for (uint32_t i = 0; i < view->header_count; ++i)
    if (sip::iequals(view->headers[i].name, name)) return std::string(view->headers[i].value);
  return {};
}

std::string options_request(const std::string& branch, uint16_t local_port, const std::string& extra,
                            Transport transport) {
  std::string t = transport == Transport::udp ? "UDP" : "TCP";
  return "OPTIONS sip:127.0.0.1 SIP/2.0\r\n"
         "Via: SIP/2.0/" +
         t + " 127.0.0.1:" + std::to_string(local_port) + ";branch=z9hG4bK" + branch +
         ";rport\r\n"
         "Max-Forwards: 70\r\n"
         "From: <sip:monitor@127.0.0.1>;tag=" +
         branch +
         "\r\n"
         "To: <sip:127.0.0.1>\r\n"
         "Call-ID: " +
         branch +
         "@test\r\n"
         "CSeq: 1 OPTIONS\r\n" +
         extra + "Content-Length: 0\r\n\r\n";
}

}  // namespace parkd::test
