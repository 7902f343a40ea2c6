// The message builder on its hot path: a 200 OK (with SDP) to an INVITE, as parkd answers a call.
// Baseline beside it: the same bytes with std::string concatenation and std::to_string, the way a
// straightforward implementation would build them. Both produce identical text (checked before timing).
//
//   build/release/bench/builder_bench
#include <benchmark/benchmark.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "sip/builder.h"

namespace {

using parkd::sip::HeaderId;
using parkd::sip::HeaderView;
using parkd::sip::MessageView;

constexpr std::string_view invite_text =
    "INVITE sip:102@acme.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKnashds8;rport\r\n"
    "Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bK77ef4c2312983.1\r\n"
    "Max-Forwards: 69\r\n"
    "To: \"Bob\" <sip:102@acme.example.com>\r\n"
    "From: \"Alice\" <sip:101@acme.example.com>;tag=1928301774\r\n"
    "Call-ID: a84b4c76e66710@pc33.acme.example.com\r\n"
    "CSeq: 314159 INVITE\r\n"
    "Contact: <sip:101@192.0.2.10:5060>\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 0\r\n\r\n";

constexpr std::string_view answer_sdp =
    "v=0\r\n"
    "o=parkd 42 7 IN IP4 203.0.113.5\r\n"
    "s=parkd\r\n"
    "c=IN IP4 203.0.113.5\r\n"
    "t=0 0\r\n"
    "m=audio 30000 RTP/AVP 0 8 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-16\r\n"
    "a=sendrecv\r\n";

constexpr std::string_view contact = "<sip:102@203.0.113.5:5060>";
constexpr std::string_view to_tag = "8321234356";

std::string_view part(std::string_view text) {
  size_t at = invite_text.find(text);
  if (at == std::string_view::npos) std::abort();
  return invite_text.substr(at, text.size());
}

// The MessageView parse_message() would produce for invite_text (the parser lives on another branch; the
// fields the builder reads are filled by hand).
std::unique_ptr<MessageView> make_invite() {
  auto m = std::make_unique<MessageView>();
  m->is_request = true;
  m->method = parkd::sip::Method::invite;
  auto add = [&](HeaderId id, std::string_view name, std::string_view value) {
    m->headers[m->header_count++] = HeaderView{id, part(name), part(value)};
  };
  add(HeaderId::via, "Via", "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKnashds8;rport");
  add(HeaderId::via, "Via", "SIP/2.0/UDP proxy.example.com;branch=z9hG4bK77ef4c2312983.1");
  add(HeaderId::max_forwards, "Max-Forwards", "69");
  add(HeaderId::to, "To", "\"Bob\" <sip:102@acme.example.com>");
  add(HeaderId::from, "From", "\"Alice\" <sip:101@acme.example.com>;tag=1928301774");
  add(HeaderId::call_id, "Call-ID", "a84b4c76e66710@pc33.acme.example.com");
  add(HeaderId::cseq, "CSeq", "314159 INVITE");
  add(HeaderId::contact, "Contact", "<sip:101@192.0.2.10:5060>");
  add(HeaderId::content_type, "Content-Type", "application/sdp");
  add(HeaderId::content_length, "Content-Length", "0");
  m->via_count = 2;
  m->vias[0].raw = m->headers[0].value;
  m->vias[0].host = part("192.0.2.10");
  m->vias[0].has_rport = true;
  m->vias[1].raw = m->headers[1].value;
  return m;
}

size_t build_with_writer(const MessageView& invite, std::span<char> buffer) {
  parkd::sip::MessageWriter writer(buffer);
  parkd::sip::build_response(invite, 200, {}, to_tag, writer);
  writer.header(HeaderId::contact, contact);
  writer.body("application/sdp", answer_sdp);
  auto size = writer.finish();
  return size ? *size : 0;
}

const HeaderView* first(const MessageView& m, HeaderId id) {
  for (uint32_t i = 0; i < m.header_count; ++i)
    if (m.headers[i].id == id) return &m.headers[i];
  return nullptr;
}

// Baseline: the same logic, building a std::string.
std::string build_with_string(const MessageView& invite) {
  std::string out = "SIP/2.0 " + std::to_string(200) + " OK\r\n";
  for (uint32_t i = 0; i < invite.header_count; ++i)
    if (invite.headers[i].id == HeaderId::via) out += "Via: " + std::string(invite.headers[i].value) + "\r\n";
  out += "From: " + std::string(first(invite, HeaderId::from)->value) + "\r\n";
  out += "To: " + std::string(first(invite, HeaderId::to)->value);
  if (invite.to.tag.empty()) out += ";tag=" + std::string(to_tag);
  out += "\r\n";
  out += "Call-ID: " + std::string(first(invite, HeaderId::call_id)->value) + "\r\n";
  out += "CSeq: " + std::string(first(invite, HeaderId::cseq)->value) + "\r\n";
  out += "Contact: " + std::string(contact) + "\r\n";
  out += "Content-Type: application/sdp\r\n";
  out += "Content-Length: " + std::to_string(answer_sdp.size()) + "\r\n\r\n";
  out += answer_sdp;
  return out;
}

void check_same_output() {
  static bool checked = false;
  if (checked) return;
  checked = true;
  auto invite = make_invite();
  std::array<char, 2048> buffer{};
  size_t size = build_with_writer(*invite, buffer);
  if (size == 0 || std::string_view(buffer.data(), size) != build_with_string(*invite)) {
    std::fprintf(stderr, "builder_bench: the writer and the baseline disagree\n");
    std::abort();
  }
}

void BM_Response200_MessageWriter(benchmark::State& state) {
  check_same_output();
  auto invite = make_invite();
  std::array<char, 2048> buffer{};
  size_t bytes = 0;
  for (auto _ : state) {
    size_t size = build_with_writer(*invite, buffer);
    benchmark::DoNotOptimize(buffer.data());
    benchmark::ClobberMemory();
    bytes += size;
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_Response200_MessageWriter);

void BM_Response200_StringBaseline(benchmark::State& state) {
  check_same_output();
  auto invite = make_invite();
  size_t bytes = 0;
  for (auto _ : state) {
    std::string out = build_with_string(*invite);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
    bytes += out.size();
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_Response200_StringBaseline);

}  // namespace

BENCHMARK_MAIN();
