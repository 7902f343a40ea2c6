// libFuzzer target: parse_message() on arbitrary bytes, as UDP and as TCP, and check the contract of
// sip/parser.h on every result: no read outside the input (ASan: the input buffer is exactly `size` bytes), every
// view of a complete MessageView lies inside the input, the counts stay within their arrays, `consumed` never
// exceeds the input, TCP `incomplete` asks for at least one byte, and every error has a reason phrase.
//
// Built as a libFuzzer executable by the fuzz preset, and everywhere as a replay test over corpus/message/.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "sip/parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

using namespace parkd::sip;

[[noreturn]] void fail(const char* what, const char* field) {
  std::fprintf(stderr, "message_fuzz: invariant broken: %s (%s)\n", what, field);
  std::abort();
}

struct Bounds {
  const char* begin;
  const char* end;

  void inside(std::string_view v, const char* field) const {
    if (v.empty()) return;  // an empty view may be default-constructed
    if (v.data() < begin || v.data() > end || v.size() > static_cast<size_t>(end - v.data()))
      fail("view outside the input", field);
  }
  void name_addr(const NameAddrView& a, const char* field) const {
    inside(a.display_name, field);
    inside(a.uri, field);
    inside(a.params, field);
    inside(a.tag, field);
    inside(a.raw, field);
  }
  void auth(const AuthView& a, const char* field) const {
    if (!a.present) return;
    for (std::string_view v : {a.scheme, a.username, a.realm, a.nonce, a.uri, a.response, a.algorithm, a.cnonce,
                               a.opaque, a.qop, a.nc, a.stale, a.domain, a.raw})
      inside(v, field);
  }
};

void check_complete(const MessageView& m, const ParseResult& r, std::string_view in) {
  if (r.consumed > in.size()) fail("consumed > size", "consumed");
  if (r.consumed == 0) fail("complete message of 0 bytes", "consumed");
  const Bounds b{in.data(), in.data() + r.consumed};  // a message lies within its own framed bytes
  b.inside(m.method_text, "method_text");
  b.inside(m.request_uri, "request_uri");
  b.inside(m.reason_phrase, "reason_phrase");
  if (m.is_request && (m.method_text.empty() || m.request_uri.empty())) fail("request without method/URI", "start");
  if (!m.is_request && (m.status_code < 100 || m.status_code > 999)) fail("status code out of range", "status");
  if (m.header_count > header_count_max) fail("count", "header_count");
  for (uint32_t i = 0; i < m.header_count; ++i) {
    b.inside(m.headers[i].name, "header name");
    b.inside(m.headers[i].value, "header value");
    if (m.headers[i].name.empty()) fail("empty header name", "header name");
  }
  if (m.via_count == 0 || m.via_count > via_count_max) fail("count", "via_count");
  for (uint32_t i = 0; i < m.via_count; ++i) {
    const ViaView& v = m.vias[i];
    for (std::string_view s : {v.transport, v.host, v.rport, v.branch, v.received, v.maddr, v.ttl, v.params, v.raw})
      b.inside(s, "via");
    if (v.transport.empty() || v.host.empty()) fail("via without transport/host", "via");
  }
  b.name_addr(m.from, "from");
  b.name_addr(m.to, "to");
  if (m.from.uri.empty() || m.to.uri.empty()) fail("From/To without URI", "from/to");
  b.inside(m.call_id, "call_id");
  if (m.call_id.empty()) fail("empty Call-ID", "call_id");
  b.inside(m.cseq.method_text, "cseq");
  if (m.contact_count > contact_count_max) fail("count", "contact_count");
  for (uint32_t i = 0; i < m.contact_count; ++i) {
    const ContactView& c = m.contacts[i];
    b.name_addr(c.address, "contact");
    b.inside(c.q, "contact q");
    b.inside(c.instance, "contact instance");
    b.inside(c.reg_id, "contact reg-id");
  }
  b.inside(m.content_type, "content_type");
  b.inside(m.event, "event");
  b.inside(m.subscription_state, "subscription_state");
  b.name_addr(m.refer_to, "refer_to");
  b.inside(m.refer_to_replaces, "refer_to_replaces");
  for (std::string_view s : {m.replaces.call_id, m.replaces.to_tag, m.replaces.from_tag, m.replaces.raw})
    b.inside(s, "replaces");
  b.auth(m.authorization, "authorization");
  b.auth(m.proxy_authorization, "proxy_authorization");
  b.auth(m.www_authenticate, "www_authenticate");
  b.auth(m.proxy_authenticate, "proxy_authenticate");
  if (m.route_count > route_count_max || m.record_route_count > route_count_max) fail("count", "routes");
  for (uint32_t i = 0; i < m.route_count; ++i) b.name_addr(m.routes[i], "route");
  for (uint32_t i = 0; i < m.record_route_count; ++i) b.name_addr(m.record_routes[i], "record_route");
  b.inside(m.body, "body");
  if (m.has_content_length && m.body.size() != m.content_length) fail("body size != Content-Length", "body");
  if (!m.body.empty() && m.body.data() + m.body.size() != in.data() + r.consumed)
    fail("body does not end the message", "body");
  // The query helpers walk header values again; they must stay inside too (ASan checks the reads).
  (void)m.has_option_tag(HeaderId::require, "100rel");
  (void)m.first_unsupported(HeaderId::require, {"replaces"});
  char buf[256];
  (void)unquote(m.from.display_name, buf, sizeof buf);
}

void run(std::string_view in, Transport transport) {
  static MessageView m;  // large (fixed arrays): not on the stack
  const ParseResult r = parse_message(in, transport, m);
  switch (r.status) {
    case ParseStatus::complete: check_complete(m, r, in); break;
    case ParseStatus::incomplete:
      if (transport != Transport::tcp) fail("incomplete on UDP", "status");
      if (r.bytes_needed < 1) fail("incomplete needs 0 bytes", "bytes_needed");
      if (in.size() + r.bytes_needed > 2u * message_size_max)
        fail("asks for more than a message can hold", "bytes_needed");
      break;
    case ParseStatus::error:
      if (r.error == ParseError::none) fail("error without a fault", "error");
      if (reason_phrase(r.error).empty()) fail("error without a reason phrase", "error");
      break;
    default: fail("unknown status", "status");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  run(in, Transport::udp);
  run(in, Transport::tcp);
  return 0;
}
