// Endpoint: an IPv4 or IPv6 address and port, small and trivially copyable (it travels in mailboxes and is
// kept per registration as the device's flow).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace parkd {

enum class Transport : uint8_t { udp, tcp };

struct Endpoint {
  // IPv4 is stored as an IPv4-mapped IPv6 address, so one 16-byte field serves both.
  uint8_t address[16] = {};
  uint16_t port = 0;  // host byte order
  bool ipv6 = false;  // false: IPv4 (address is ::ffff:a.b.c.d)

  static Endpoint from_sockaddr(const sockaddr* sa, socklen_t len);
  // Writes a sockaddr for this endpoint; returns its length.
  socklen_t to_sockaddr(sockaddr_storage& out) const;
  // "192.0.2.1:5060", "[2001:db8::1]:5060"
  std::string to_string() const;
  // Writes the numeric host (no brackets, no port) into out; returns its length (at most 45).
  size_t host_text(char* out, size_t size) const;

  friend bool operator==(const Endpoint& a, const Endpoint& b) {
    return a.port == b.port && a.ipv6 == b.ipv6 && std::memcmp(a.address, b.address, 16) == 0;
  }
};

// Parses a numeric "ADDR:PORT" / "[ADDR]:PORT"; false when malformed.
bool parse_endpoint(std::string_view text, Endpoint& out);

}  // namespace parkd
