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

}  // namespace parkd::loadgen
