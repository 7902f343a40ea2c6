// A SIP test client for integration tests: UDP or TCP on loopback, every read bounded by a timeout, answers
// parsed with parkd's own parser (the parser has its own tests; here it only reads what parkd sent).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "core/endpoint.h"
#include "sip/message.h"

namespace parkd::test {

class SipClient {
 public:
  SipClient(Transport transport, const Endpoint& server);
  ~SipClient();
  SipClient(const SipClient&) = delete;
  SipClient& operator=(const SipClient&) = delete;

  bool send(const std::string& bytes);
  // The next message (a whole datagram, or one framed TCP message); nullopt on timeout or close.
  std::optional<std::string> receive(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // True when the server closed the TCP connection (read returned 0) within the timeout.
  bool closed_by_peer(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  uint16_t local_port() const { return local_port_; }
  int fd() const { return fd_; }

 private:
  Transport transport_;
  int fd_ = -1;
  uint16_t local_port_ = 0;
  std::string pending_;  // TCP bytes read past the last framed message
};

// A parsed copy of a message (owns its bytes).
struct Parsed {
  std::string bytes;
  std::unique_ptr<sip::MessageView> view;
  bool ok = false;
  const sip::MessageView* operator->() const { return view.get(); }
  std::string header(std::string_view name) const;  // value of the first header with that name, or ""
};
Parsed parse(std::string bytes);

// An OPTIONS request to the server itself, with the given extra headers; `branch` makes it unique.
std::string options_request(const std::string& branch, uint16_t local_port, const std::string& extra = "",
                            Transport transport = Transport::udp);

}  // namespace parkd::test
