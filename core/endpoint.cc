#include "core/endpoint.h"

#include <arpa/inet.h>

#include <charconv>

namespace parkd {

Endpoint Endpoint::from_sockaddr(const sockaddr* sa, socklen_t len) {
  Endpoint e;
  if (sa->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    e.address[10] = 0xff;
    e.address[11] = 0xff;
    std::memcpy(e.address + 12, &in->sin_addr, 4);
    e.port = ntohs(in->sin_port);
  } else if (sa->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    std::memcpy(e.address, &in6->sin6_addr, 16);
    e.port = ntohs(in6->sin6_port);
    e.ipv6 = true;
  }
  return e;
}

socklen_t Endpoint::to_sockaddr(sockaddr_storage& out) const {
  std::memset(&out, 0, sizeof out);
  if (!ipv6) {
    auto* in = reinterpret_cast<sockaddr_in*>(&out);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    std::memcpy(&in->sin_addr, address + 12, 4);
    return sizeof(sockaddr_in);
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&out);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(port);
  std::memcpy(&in6->sin6_addr, address, 16);
  return sizeof(sockaddr_in6);
}

size_t Endpoint::host_text(char* out, size_t size) const {
  char buf[INET6_ADDRSTRLEN] = {};
  size_t n = 0;
  if (!ipv6) {
    // Every response's Via gets received= from this: dotted quads by hand, since inet_ntop formats with
    // sprintf (1.5% of an OPTIONS answer in the transport benchmark's profile).
    for (int i = 12; i < 16; ++i) {
      unsigned v = address[i];
      if (v >= 100) buf[n++] = static_cast<char>('0' + v / 100);
      if (v >= 10) buf[n++] = static_cast<char>('0' + v / 10 % 10);
      buf[n++] = static_cast<char>('0' + v % 10);
      if (i != 15) buf[n++] = '.';
    }
  } else {
    inet_ntop(AF_INET6, address, buf, sizeof buf);
    n = std::strlen(buf);
  }
  if (n > size) n = size;
  std::memcpy(out, buf, n);
  return n;
}

std::string Endpoint::to_string() const {
  char host[INET6_ADDRSTRLEN];
  size_t n = host_text(host, sizeof host);
  std::string h(host, n);
  return (ipv6 ? "[" + h + "]" : h) + ":" + std::to_string(port);
}

bool parse_endpoint(std::string_view text, Endpoint& out) {
  std::string host;
  std::string_view port;
  bool v6 = false;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return false;
    host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
    v6 = true;
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return false;
    host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
  }
  unsigned p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc{} || end != port.data() + port.size() || p > 65535 || port.empty()) return false;
  Endpoint e;
  if (v6) {
    if (inet_pton(AF_INET6, host.c_str(), e.address) != 1) return false;
    e.ipv6 = true;
  } else {
    e.address[10] = 0xff;
    e.address[11] = 0xff;
    if (inet_pton(AF_INET, host.c_str(), e.address + 12) != 1) return false;
  }
  e.port = static_cast<uint16_t>(p);
  out = e;
  return true;
}

}  // namespace parkd
