#include "tools/loadgen/client_auth.h"

#include "sip/params.h"
#include "tools/loadgen/engine.h"

namespace parkd::loadgen {

bool choose_challenge(const sip::MessageView& response, sip::HeaderId header, DigestChallenge& out) {
  DigestAlgorithm algorithm;
  bool sess = false;
  const sip::AuthView& first =
      header == sip::HeaderId::proxy_authenticate ? response.proxy_authenticate : response.www_authenticate;
  if (first.present) {
    out = challenge_from(first);
    if (sip::iequals(first.scheme, "Digest") && !out.nonce.empty() &&
        parse_digest_algorithm(out.algorithm, algorithm, sess))
      return true;
  }
  for (uint32_t i = 0; i < response.header_count; ++i) {
    if (response.headers[i].id != header) continue;
    if (parse_digest_challenge(response.headers[i].value, out) &&
        parse_digest_algorithm(out.algorithm, algorithm, sess))
      return true;
  }
  return false;
}

bool write_credentials(DigestHasher& hasher, Engine& engine, const UserCreds& user, std::string_view method,
                       std::string_view uri, const DigestChallenge& c, std::string_view header_name, Writer& h) {
  DigestInput in;
  if (!parse_digest_algorithm(c.algorithm, in.algorithm, in.sess)) return false;
  char cnonce[20];
  Writer cn(cnonce, sizeof cnonce);
  cn.put_hex(engine.unique_counter(), 8);
  in.username = user.ext;
  in.realm = c.realm;
  in.password = user.password;
  in.method = method;
  in.uri = uri;
  in.nonce = c.nonce;
  in.qop_auth = qop_offers_auth(c.qop);
  in.nc = "00000001";
  in.cnonce = cn.view();
  char response[DigestHasher::hex_size_max];
  std::string_view digest = hasher.response(in, response);
  if (digest.empty()) return false;
  h.put(header_name).put(": Digest username=\"").put(user.ext).put("\", realm=\"").put(c.realm);
  h.put("\", nonce=\"").put(c.nonce).put("\", uri=\"").put(uri).put("\", response=\"").put(digest).put('"');
  if (!c.algorithm.empty()) h.put(", algorithm=").put(c.algorithm);
  if (!c.opaque.empty()) h.put(", opaque=\"").put(c.opaque).put('"');
  if (in.qop_auth) h.put(", qop=auth, nc=").put(in.nc).put(", cnonce=\"").put(in.cnonce).put('"');
  h.put("\r\n");
  return true;
}

std::string_view write_phone_sdp(Writer& w, const Engine& engine, uint64_t session, uint32_t version, uint32_t port) {
  const std::string_view host = engine.media_host();
  const std::string_view type = engine.media_address_type();
  w.put("v=0\r\no=- ").put_uint(session).put(' ').put_uint(version).put(" IN ").put(type).put(' ').put(host);
  w.put("\r\ns=parkd-loadgen\r\nc=IN ").put(type).put(' ').put(host).put("\r\nt=0 0\r\nm=audio ").put_uint(port);
  w.put(" RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n");
  w.put("a=fmtp:101 0-16\r\na=sendrecv\r\n");
  return w.view();
}

void send_device_register(DigestHasher& hasher, Engine& engine, Slot& slot, const UserCreds& user,
                          const DigestChallenge* challenge, uint32_t cseq, std::string_view call_id) {
  send_register(hasher, engine, slot, user, challenge, cseq, call_id, engine.local_host(), true);
}

void send_register(DigestHasher& hasher, Engine& engine, Slot& slot, const UserCreds& user,
                   const DigestChallenge* challenge, uint32_t cseq, std::string_view call_id,
                   std::string_view contact_host, bool slot_in_contact) {
  char request_uri[300];
  Writer ru(request_uri, sizeof request_uri);
  ru.put("sip:").put(user.domain);
  char aor[400];
  Writer a(aor, sizeof aor);
  a.put("sip:").put(user.ext).put('@').put(user.domain);
  char headers[1400];
  Writer h(headers, sizeof headers);
  h.put("Contact: <sip:").put(user.ext).put('@').put(contact_host);
  if (slot_in_contact) h.put(";lg=").put_uint(slot.index);
  h.put(">\r\nExpires: ").put_uint(engine.config().expires_s).put("\r\n");
  if (challenge != nullptr &&
      !write_credentials(hasher, engine, user, "REGISTER", ru.view(), *challenge, "Authorization", h)) {
    engine.fail(slot, 401);
    return;
  }
  if (ru.overflow() || a.overflow() || h.overflow()) {
    engine.lose(slot);
    return;
  }
  OutgoingRequest r;
  r.method = "REGISTER";
  r.request_uri = ru.view();
  r.from_uri = a.view();
  r.to_uri = a.view();
  r.call_id = call_id;
  r.cseq = cseq;
  r.headers = h.view();
  engine.send_request(slot, r);
}

}  // namespace parkd::loadgen
