#include "support/phone.h"

#include <gtest/gtest.h>

#include <cstdio>

namespace parkd::test {

using namespace std::chrono_literals;

Phone::Phone(const Endpoint& server, std::string number, std::string domain, std::string password, Transport transport)
    : transport_(transport),
      client_(transport, server),
      number_(std::move(number)),
      domain_(std::move(domain)),
      password_(std::move(password)) {}

std::string Phone::via(const std::string& branch) const {
  return std::string("Via: SIP/2.0/") + (transport_ == Transport::tcp ? "TCP" : "UDP") +
         " 127.0.0.1:" + std::to_string(port()) + ";branch=" + branch + ";rport";
}

std::string Phone::nc_hex() {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", ++nc_);
  return buf;
}

Parsed Phone::send_unauthenticated(const std::string& headers) {
  EXPECT_TRUE(client_.send(request(headers, "")));
  Parsed p = wait_response("REGISTER");
  last_status_ = p.ok ? p->status_code : 0;
  return p;
}

Parsed Phone::register_with(const std::string& headers, const std::string& algorithm) {
  Parsed challenge = send_unauthenticated(headers);
  if (!challenge.ok || challenge->status_code != 401) return challenge;
  return answer(challenge, headers, algorithm);
}

std::string Phone::authorization(const Parsed& challenge, sip::HeaderId header, const std::string& method,
                                 const std::string& uri, const std::string& algorithm) {
  loadgen::DigestChallenge c;
  for (uint32_t i = 0; i < challenge->header_count; ++i) {
    const auto& h = challenge->headers[i];
    if (h.id != header) continue;
    loadgen::DigestChallenge candidate;
    if (loadgen::parse_digest_challenge(h.value, candidate) && candidate.algorithm == algorithm) c = candidate;
  }
  EXPECT_FALSE(c.nonce.empty()) << "no " << algorithm << " challenge in:\n" << challenge.bytes;
  loadgen::DigestInput in;
  in.algorithm = algorithm == "MD5" ? loadgen::DigestAlgorithm::md5 : loadgen::DigestAlgorithm::sha256;
  in.username = number_;
  in.realm = c.realm;
  in.password = password_;
  in.method = method;
  in.uri = uri;
  in.nonce = c.nonce;
  std::string nc = nc_hex();
  in.nc = nc;
  in.cnonce = "0a4f113b";
  char response[loadgen::DigestHasher::hex_size_max + 1];
  std::string_view r = hasher_.response(in, response);
  return std::string(header == sip::HeaderId::www_authenticate ? "Authorization" : "Proxy-Authorization") +
         ": Digest username=\"" + number_ + "\", realm=\"" + std::string(c.realm) + "\", nonce=\"" +
         std::string(c.nonce) + "\", uri=\"" + uri + "\", response=\"" + std::string(r) + "\", algorithm=" + algorithm +
         ", qop=auth, nc=" + nc + ", cnonce=\"0a4f113b\"\r\n";
}

Parsed Phone::answer(const Parsed& challenge, const std::string& headers, const std::string& algorithm) {
  std::string auth = authorization(challenge, sip::HeaderId::www_authenticate, "REGISTER", "sip:" + domain_, algorithm);
  EXPECT_TRUE(client_.send(request(headers, auth)));
  Parsed p = wait_response("REGISTER");
  last_status_ = p.ok ? p->status_code : 0;
  return p;
}

std::string Phone::request(const std::string& headers, const std::string& authorization) {
  ++cseq_;
  return "REGISTER sip:" + domain_ + " SIP/2.0\r\n" + via(next_branch()) + "\r\n" + "Max-Forwards: 70\r\n" +
         "From: <sip:" + number_ + "@" + domain_ + ">;tag=" + number_ + "\r\n" + "To: <sip:" + number_ + "@" + domain_ +
         ">\r\n" + "Call-ID: reg-" + number_ + "-" + domain_ + "-" + std::to_string(port()) + "\r\n" +
         "CSeq: " + std::to_string(cseq_) + " REGISTER\r\n" + headers + authorization + "Content-Length: 0\r\n\r\n";
}

std::string Phone::invite_request(const std::string& authorization) {
  std::string body_headers = invite_body_.empty() ? "" : "Content-Type: application/sdp\r\n";
  return "INVITE " + invite_uri_ + " SIP/2.0\r\n" + via(invite_branch_) + "\r\nMax-Forwards: 70\r\nFrom: \"Phone " +
         number_ + "\" <" + aor() + ">;tag=" + dialog_.local_tag + "\r\nTo: <" + invite_uri_ +
         ">\r\nCall-ID: " + dialog_.call_id + "\r\nCSeq: " + std::to_string(dialog_.cseq) +
         " INVITE\r\nContact: " + contact() + "\r\n" + invite_extra_ + authorization + body_headers +
         "Content-Length: " + std::to_string(invite_body_.size()) + "\r\n\r\n" + invite_body_;
}

bool Phone::invite(const std::string& number, const std::string& body, const std::string& extra) {
  dialog_ = {};
  dialog_.call_id = "call-" + number_ + "-" + std::to_string(port()) + "-" + std::to_string(++branches_);
  dialog_.local_tag = "t" + number_ + std::to_string(branches_);
  dialog_.local_uri = aor();
  dialog_.cseq = 1;
  // "*88103;park-id=p4f2a": the URI parameters follow the host.
  const size_t semicolon = number.find(';');
  invite_uri_ = semicolon == std::string::npos
                    ? "sip:" + number + "@" + domain_
                    : "sip:" + number.substr(0, semicolon) + "@" + domain_ + number.substr(semicolon);
  dialog_.remote_uri = invite_uri_;
  invite_body_ = body;
  invite_extra_ = extra;
  invite_branch_ = next_branch();
  EXPECT_TRUE(client_.send(invite_request("")));
  Parsed challenge = wait_response("INVITE");
  EXPECT_TRUE(challenge.ok && challenge->status_code == 407) << challenge.bytes;
  if (!challenge.ok || challenge->status_code != 407) return false;
  ack_failure(challenge);
  std::string auth = authorization(challenge, sip::HeaderId::proxy_authenticate, "INVITE", invite_uri_, "SHA-256");
  dialog_.cseq = 2;
  invite_branch_ = next_branch();
  return client_.send(invite_request(auth));
}

void Phone::ack(const Parsed& answer) {
  dialog_.remote_tag = std::string(answer->to.tag);
  dialog_.remote_target = answer->contact_count > 0 ? std::string(answer->contacts[0].address.uri) : invite_uri_;
  EXPECT_TRUE(client_.send("ACK " + dialog_.remote_target + " SIP/2.0\r\n" + via(next_branch()) +
                           "\r\nMax-Forwards: 70\r\nFrom: <" + dialog_.local_uri + ">;tag=" + dialog_.local_tag +
                           "\r\nTo: <" + dialog_.remote_uri + ">;tag=" + dialog_.remote_tag +
                           "\r\nCall-ID: " + dialog_.call_id + "\r\nCSeq: " + std::to_string(answer->cseq.number) +
                           " ACK\r\nContent-Length: 0\r\n\r\n"));
}

void Phone::cancel() {
  EXPECT_TRUE(client_.send("CANCEL " + invite_uri_ + " SIP/2.0\r\n" + via(invite_branch_) +
                           "\r\nMax-Forwards: 70\r\nFrom: <" + aor() + ">;tag=" + dialog_.local_tag + "\r\nTo: <" +
                           invite_uri_ + ">\r\nCall-ID: " + dialog_.call_id +
                           "\r\nCSeq: " + std::to_string(dialog_.cseq) + " CANCEL\r\nContent-Length: 0\r\n\r\n"));
}

void Phone::ack_failure(const Parsed& answer) {
  // RFC 3261 section 17.1.1.3: the INVITE's Request-URI, top Via (its branch), From, Call-ID and CSeq number,
  // and the answer's To. Before a dialog exists the INVITE went to invite_uri_, in a dialog to its target.
  const std::string& uri = dialog_.remote_tag.empty() ? invite_uri_ : dialog_.remote_target;
  EXPECT_TRUE(client_.send("ACK " + uri + " SIP/2.0\r\nVia: " + std::string(answer->vias[0].raw) +
                           "\r\nMax-Forwards: 70\r\nFrom: " + std::string(answer->from.raw) +
                           "\r\nTo: " + std::string(answer->to.raw) + "\r\nCall-ID: " + std::string(answer->call_id) +
                           "\r\nCSeq: " + std::to_string(answer->cseq.number) + " ACK\r\nContent-Length: 0\r\n\r\n"));
}

void Phone::reply(const Parsed& request, uint16_t code, const std::string& body, const std::string& content_type) {
  if (request->method == sip::Method::invite && request->to.tag.empty()) {
    dialog_ = {};
    dialog_.call_id = std::string(request->call_id);
    dialog_.local_tag = "d" + number_ + "-" + std::to_string(port());
    dialog_.remote_tag = std::string(request->from.tag);
    dialog_.local_uri = std::string(request->to.uri);
    dialog_.remote_uri = std::string(request->from.uri);
    dialog_.remote_target = request->contact_count > 0 ? std::string(request->contacts[0].address.uri) : "";
    dialog_.cseq = 100;
  }
  std::string out = "SIP/2.0 " + std::to_string(code) + " " + (code == 200 ? "OK" : "Status") + "\r\n";
  for (uint32_t i = 0; i < request->via_count; ++i) out += "Via: " + std::string(request->vias[i].raw) + "\r\n";
  out += "From: " + std::string(request->from.raw) + "\r\n";
  out += "To: " + std::string(request->to.raw);
  if (request->to.tag.empty() && code > 100) out += ";tag=" + dialog_.local_tag;
  out += "\r\nCall-ID: " + std::string(request->call_id) + "\r\nCSeq: " + std::to_string(request->cseq.number) + " " +
         std::string(request->cseq.method_text) + "\r\n";
  if (request->method == sip::Method::invite && code < 300) out += "Contact: " + contact() + "\r\n";
  if (!body.empty()) out += "Content-Type: " + content_type + "\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  EXPECT_TRUE(client_.send(out));
}

void Phone::send_in_dialog(const std::string& method, const std::string& body, const std::string& extra,
                           const std::string& content_type) {
  ++dialog_.cseq;
  std::string out = method + " " + dialog_.remote_target + " SIP/2.0\r\n" + via(next_branch()) +
                    "\r\nMax-Forwards: 70\r\nFrom: <" + dialog_.local_uri + ">;tag=" + dialog_.local_tag + "\r\nTo: <" +
                    dialog_.remote_uri + ">;tag=" + dialog_.remote_tag + "\r\nCall-ID: " + dialog_.call_id +
                    "\r\nCSeq: " + std::to_string(dialog_.cseq) + " " + method + "\r\n";
  if (method == "INVITE" || method == "REFER") out += "Contact: " + contact() + "\r\n";
  out += extra;
  if (!body.empty()) out += "Content-Type: " + content_type + "\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  EXPECT_TRUE(client_.send(out));
}

Parsed Phone::wait_request(const std::string& method, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return Parsed{};
    auto bytes = client_.receive(left);
    if (!bytes) return Parsed{};
    Parsed p = parse(std::move(*bytes));
    if (p.ok && p->is_request && p->method_text == method) return p;
  }
}

Parsed Phone::wait_response(const std::string& method, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return Parsed{};
    auto bytes = client_.receive(left);
    if (!bytes) return Parsed{};
    Parsed p = parse(std::move(*bytes));
    if (p.ok && !p->is_request && p->cseq.method_text == method && p->status_code != 100) return p;
  }
}

bool Phone::silent(std::chrono::milliseconds quiet) { return !client_.receive(quiet).has_value(); }

bool establish_call(Phone& caller, Phone& callee, const std::string& number) {
  if (!callee.register_device() || !caller.invite(number)) return false;
  Parsed invite = callee.wait_request("INVITE");
  if (!invite.ok) return false;
  callee.reply(invite, 200, answer_sdp);
  Parsed ok = caller.wait_response("INVITE");
  if (!ok.ok || ok->status_code != 200) return false;
  caller.ack(ok);
  return callee.wait_request("ACK").ok;
}

}  // namespace parkd::test
