#include "tools/loadgen/digest.h"

#include <openssl/evp.h>

#include <algorithm>

#include "sip/params.h"

namespace parkd::loadgen {

bool parse_digest_algorithm(std::string_view text, DigestAlgorithm& algorithm, bool& sess) {
  sess = false;
  constexpr std::string_view suffix = "-sess";
  if (text.size() > suffix.size() && sip::iequals(text.substr(text.size() - suffix.size()), suffix)) {
    sess = true;
    text.remove_suffix(suffix.size());
  }
  if (text.empty() || sip::iequals(text, "MD5")) {
    algorithm = DigestAlgorithm::md5;
    return !(text.empty() && sess);
  }
  if (sip::iequals(text, "SHA-256")) {
    algorithm = DigestAlgorithm::sha256;
    return true;
  }
  if (sip::iequals(text, "SHA-512-256")) {
    algorithm = DigestAlgorithm::sha512_256;
    return true;
  }
  return false;
}

namespace {

void skip_lws(std::string_view& s) {
  while (!s.empty() && sip::is_lws(s.front())) s.remove_prefix(1);
}

bool is_token_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("-.!%*_+`'~").find(c) != std::string_view::npos;
}

std::string_view take_token(std::string_view& s) {
  size_t n = 0;
  while (n < s.size() && is_token_char(s[n])) ++n;
  std::string_view t = s.substr(0, n);
  s.remove_prefix(n);
  return t;
}

}  // namespace

// challenge = "Digest" LWS digest-cln *(COMMA digest-cln)
// digest-cln = realm / domain / nonce / opaque / stale / algorithm / qop-options / auth-param
// auth-param = token EQUAL ( token / quoted-string )
bool parse_digest_challenge(std::string_view value, DigestChallenge& out) {
  out = DigestChallenge{};
  skip_lws(value);
  if (!sip::iequals(take_token(value), "Digest")) return false;
  for (;;) {
    skip_lws(value);
    if (value.empty()) return !out.nonce.empty();
    std::string_view name = take_token(value);
    if (name.empty()) return false;
    skip_lws(value);
    if (value.empty() || value.front() != '=') return false;
    value.remove_prefix(1);
    skip_lws(value);
    std::string_view param;
    if (!value.empty() && value.front() == '"') {
      size_t i = 1;
      while (i < value.size() && value[i] != '"') i += value[i] == '\\' ? 2 : 1;
      if (i >= value.size()) return false;
      param = value.substr(1, i - 1);
      value.remove_prefix(i + 1);
    } else {
      param = take_token(value);
    }
    if (sip::iequals(name, "realm")) out.realm = param;
    if (sip::iequals(name, "nonce")) out.nonce = param;
    if (sip::iequals(name, "opaque")) out.opaque = param;
    if (sip::iequals(name, "algorithm")) out.algorithm = param;
    if (sip::iequals(name, "qop")) out.qop = param;
    skip_lws(value);
    if (value.empty()) continue;
    if (value.front() != ',') return false;
    value.remove_prefix(1);
  }
}

DigestChallenge challenge_from(const sip::AuthView& auth) {
  DigestChallenge c;
  c.realm = auth.realm;
  c.nonce = auth.nonce;
  c.opaque = auth.opaque;
  c.algorithm = auth.algorithm;
  c.qop = auth.qop;
  return c;
}

bool qop_offers_auth(std::string_view qop_options) {
  while (!qop_options.empty()) {
    size_t comma = qop_options.find(',');
    std::string_view item = qop_options.substr(0, comma);
    while (!item.empty() && sip::is_lws(item.front())) item.remove_prefix(1);
    while (!item.empty() && sip::is_lws(item.back())) item.remove_suffix(1);
    if (sip::iequals(item, "auth")) return true;
    if (comma == std::string_view::npos) break;
    qop_options.remove_prefix(comma + 1);
  }
  return false;
}

DigestHasher::DigestHasher() {
  ctx_ = EVP_MD_CTX_new();
  // Fetched once: the implicit fetch inside EVP_md5() & co. costs a lookup on every EVP_DigestInit_ex2.
  md_[0] = EVP_MD_fetch(nullptr, "MD5", nullptr);
  md_[1] = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
  md_[2] = EVP_MD_fetch(nullptr, "SHA2-512/256", nullptr);
  if (md_[0] == nullptr || md_[1] == nullptr || md_[2] == nullptr) {
    EVP_MD_CTX_free(ctx_);
    ctx_ = nullptr;
  }
}

DigestHasher::~DigestHasher() {
  EVP_MD_CTX_free(ctx_);
  for (const EVP_MD* md : md_) EVP_MD_free(const_cast<EVP_MD*>(md));
}

size_t DigestHasher::hash_hex(DigestAlgorithm algorithm, const std::string_view* parts, size_t count, char* out) {
  const EVP_MD* md = md_[static_cast<int>(algorithm)];
  if (ctx_ == nullptr || EVP_DigestInit_ex2(ctx_, md, nullptr) != 1) return 0;
  for (size_t i = 0; i < count; ++i) {
    if (i > 0 && EVP_DigestUpdate(ctx_, ":", 1) != 1) return 0;
    if (EVP_DigestUpdate(ctx_, parts[i].data(), parts[i].size()) != 1) return 0;
  }
  unsigned char raw[EVP_MAX_MD_SIZE];
  unsigned int raw_size = 0;
  if (EVP_DigestFinal_ex(ctx_, raw, &raw_size) != 1 || raw_size * 2 > hex_size_max) return 0;
  constexpr char hex[] = "0123456789abcdef";
  for (unsigned int i = 0; i < raw_size; ++i) {
    out[2 * i] = hex[raw[i] >> 4];
    out[2 * i + 1] = hex[raw[i] & 15];
  }
  return raw_size * 2;
}

std::string_view DigestHasher::response(const DigestInput& in, char* out) {
  char ha1[hex_size_max];
  char ha2[hex_size_max];
  const std::string_view user_parts[] = {in.username, in.realm, in.password};
  size_t ha1_size = hash_hex(in.algorithm, user_parts, 3, ha1);
  if (ha1_size != 0 && in.sess) {
    const std::string_view sess_parts[] = {{ha1, ha1_size}, in.nonce, in.cnonce};
    char sess_ha1[hex_size_max];
    ha1_size = hash_hex(in.algorithm, sess_parts, 3, sess_ha1);
    std::copy(sess_ha1, sess_ha1 + ha1_size, ha1);
  }
  const std::string_view method_parts[] = {in.method, in.uri};
  size_t ha2_size = hash_hex(in.algorithm, method_parts, 2, ha2);
  if (ha1_size == 0 || ha2_size == 0) return {};
  size_t n = 0;
  if (in.qop_auth) {
    const std::string_view parts[] = {{ha1, ha1_size}, in.nonce, in.nc, in.cnonce, "auth", {ha2, ha2_size}};
    n = hash_hex(in.algorithm, parts, 6, out);
  } else {
    const std::string_view parts[] = {{ha1, ha1_size}, in.nonce, {ha2, ha2_size}};
    n = hash_hex(in.algorithm, parts, 3, out);
  }
  return {out, n};
}

}  // namespace parkd::loadgen
