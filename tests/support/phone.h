// A test user agent of one extension, on UDP (default) or TCP loopback: it REGISTERs with digest (401), places
// calls through parkd answering the 407 challenge, answers INVITEs (180, 200 with SDP), and sends ACK, BYE,
// CANCEL, re-INVITE, UPDATE and INFO. Just enough SIP for the integration tests to play both ends of a call;
// every wait is bounded. It never retransmits or answers by itself: a test that wants to play a lost datagram
// simply does not answer (or reads the raw retransmissions with client().receive()).
#pragma once

#include <chrono>
#include <string>

#include "support/sip_client.h"
#include "tools/loadgen/digest.h"

namespace parkd::test {

inline constexpr const char* test_sdp =
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
// The callee's answer in the integration tests.
inline constexpr const char* answer_sdp =
    "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n";

// One dialog as the phone sees it.
struct PhoneDialog {
  std::string call_id;
  std::string local_tag;
  std::string remote_tag;
  std::string local_uri;
  std::string remote_uri;
  std::string remote_target;
  unsigned cseq = 0;
};

class Phone {
 public:
  Phone(const Endpoint& server, std::string number, std::string domain, std::string password,
        Transport transport = Transport::udp);

  // The registrar.
  Parsed send_unauthenticated(const std::string& headers);  // one REGISTER without credentials
  // REGISTER, answering a 401 once with credentials for `algorithm`. `headers`: Contact / Expires lines.
  Parsed register_with(const std::string& headers, const std::string& algorithm = "SHA-256");
  Parsed answer(const Parsed& challenge, const std::string& headers, const std::string& algorithm);
  bool register_device() { return register_with("Contact: " + contact() + "\r\n").view && last_status_ == 200; }

  // Calls as the caller. invite() sends the INVITE, answers the 407 (ACK, then the INVITE again with
  // Proxy-Authorization); false when no 407 came. Read the answers with wait_response("INVITE").
  bool invite(const std::string& number, const std::string& body = test_sdp, const std::string& extra = "");
  void ack(const Parsed& answer);  // the ACK for a 2xx of the phone's INVITE (sets the dialog's remote tag)
  void cancel();                   // CANCEL of the phone's last INVITE
  // The ACK for a non-2xx final answer to one of the phone's INVITEs (RFC 3261 section 17.1.1.3: the INVITE's
  // branch, taken from the answer's Via), the first INVITE of a call or a re-INVITE.
  void ack_failure(const Parsed& answer);

  // Calls as the callee: remember the dialog of `invite` and answer it. Also answers any request received.
  void reply(const Parsed& request, uint16_t code, const std::string& body = "",
             const std::string& content_type = "application/sdp");

  // In the dialog of the last call (either side): BYE, re-INVITE, UPDATE, INFO, REFER; the answer is read with
  // wait_response(). `extra`: more header lines, each ending in CRLF.
  void send_in_dialog(const std::string& method, const std::string& body = "", const std::string& extra = "",
                      const std::string& content_type = "application/sdp");

  // The next request with this method (others are skipped), or the next response to `method` that is not
  // 100 Trying; ok == false on timeout.
  Parsed wait_request(const std::string& method, std::chrono::milliseconds timeout = std::chrono::seconds(5));
  Parsed wait_response(const std::string& method, std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // True when nothing at all arrives within `quiet`.
  bool silent(std::chrono::milliseconds quiet);

  uint16_t port() const { return client_.local_port(); }
  std::string contact() const {
    return "<sip:" + number_ + "@127.0.0.1:" + std::to_string(port()) +
           (transport_ == Transport::tcp ? ";transport=tcp>" : ">");
  }
  std::string aor() const { return "sip:" + number_ + "@" + domain_; }
  SipClient& client() { return client_; }
  PhoneDialog& dialog() { return dialog_; }

 private:
  std::string nc_hex();
  // "Via: SIP/2.0/UDP 127.0.0.1:<port>;branch=<branch>;rport" (TCP for a TCP phone), without CRLF.
  std::string via(const std::string& branch) const;
  std::string next_branch() {
    return "z9hG4bK" + number_ + "-" + std::to_string(port()) + "-" + std::to_string(++branches_);
  }
  std::string request(const std::string& headers, const std::string& authorization);
  std::string authorization(const Parsed& challenge, sip::HeaderId header, const std::string& method,
                            const std::string& uri, const std::string& algorithm);
  std::string invite_request(const std::string& authorization);

  Transport transport_;
  SipClient client_;
  std::string number_;
  std::string domain_;
  std::string password_;
  loadgen::DigestHasher hasher_;
  unsigned nc_ = 0;
  unsigned cseq_ = 0;
  unsigned branches_ = 0;
  uint16_t last_status_ = 0;
  // The phone's last INVITE as a caller.
  std::string invite_uri_;
  std::string invite_branch_;
  std::string invite_body_;
  std::string invite_extra_;
  PhoneDialog dialog_;
};

// `caller` calls `number`; `callee` (a device of that number) registers first and answers 200 with
// answer_sdp. True once both sides are confirmed: the caller ACKed, and parkd's ACK reached the callee.
bool establish_call(Phone& caller, Phone& callee, const std::string& number);

}  // namespace parkd::test
