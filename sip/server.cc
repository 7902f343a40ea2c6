#include "sip/server.h"

#include "core/log.h"
#include "sip/parser.h"
#include "sip/uri.h"

namespace parkd::sip {
namespace {

// Every option tag in Require / Proxy-Require must be one parkd supports; it supports none yet (the layers
// that implement an extension add its tag here and to Supported).
bool require_supported(const MessageView& m, std::string_view& unsupported) {
  for (HeaderId id : {HeaderId::require, HeaderId::proxy_require}) {
    std::string_view tag = m.first_unsupported(id, {});
    if (!tag.empty()) {
      unsupported = tag;
      return false;
    }
  }
  return true;
}

// OPTIONS addressed to parkd itself: a Request-URI without a user part (SPEC section 3).
bool addressed_to_server(const MessageView& m) {
  UriView uri;
  return parse_uri(m.request_uri, uri) == UriError::none && uri.user.empty() && uri.scheme != UriScheme::tel;
}

// A request that starts something new: not in a dialog (no To tag) and not one that ends or completes
// something (ACK, CANCEL, BYE). These are what an overloaded shard refuses.
bool starts_something(const MessageView& m) {
  return m.to.tag.empty() && m.method != Method::ack && m.method != Method::cancel && m.method != Method::bye;
}

// Retry-After values cycle through 1..retry_after_spread seconds, so that the clients refused together do
// not all come back in the same second.
constexpr uint64_t retry_after_spread = 4;

}  // namespace

Server::Server(RequestHandler* next, std::string_view allow)
    : next_(next), allow_(allow), token_key_(random_token_key()) {}

Frame Server::frame(std::string_view stream) {
  ParseResult r = parse_message(stream, Transport::tcp, view_);
  switch (r.status) {
    case ParseStatus::complete: return {Frame::complete, r.consumed};
    case ParseStatus::incomplete: return {Frame::incomplete, 0};
    case ParseStatus::error: break;
  }
  // A fault cannot be framed past: the stream is answered (400, or 513 when the Content-Length or the
  // header block is beyond the limit) and closed. Errors are only reported on a complete header block or past
  // the 64 KiB limit, so this never cuts a message that is still arriving.
  return {Frame::error, 0};
}

bool Server::respond(const Incoming& request, uint16_t code, std::string_view reason,
                     absl::FunctionRef<void(MessageWriter&)> extra) {
  OutBuffer out = request.shard.out_buffer();
  if (out.data == nullptr) return false;
  MessageWriter writer(out.data, out.capacity);
  char host[64];
  size_t host_size = request.inbound.peer.host_text(host, sizeof host);
  ResponseSource source{std::string_view(host, host_size), request.inbound.peer.port};
  char tag[token_size];
  std::string_view to_tag;
  if (code > 100 && request.message.to.tag.empty()) {
    // RFC 3261 section 8.2.7: a stateless answer to a retransmitted request carries the same To tag, so the
    // tag is derived from what identifies the request (FNV-1a of branch, Call-ID, From tag, CSeq), keyed.
    const MessageView& m = request.message;
    uint64_t h = 14695981039346656037ull;
    auto mix = [&h](std::string_view bytes) {
      for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;
    };
    if (m.via_count > 0) mix(m.vias[0].branch);
    mix(m.call_id);
    mix(m.from.tag);
    h ^= m.cseq.number;
    to_tag = write_token(h, token_key_, tag);
  }
  build_response(request.message, code, reason, to_tag, writer, source);
  extra(writer);
  auto size = writer.finish();
  if (!size) {
    PARKD_LOG(warn, "response %u does not fit a send buffer: %s", code, build_error_text(size.error()).data());
    request.shard.release(out);
    return false;
  }
  request.shard.reply(request.inbound, out, static_cast<uint32_t>(*size));
  return true;
}

bool Server::respond(const Incoming& request, uint16_t code, std::string_view reason) {
  return respond(request, code, reason, [](MessageWriter&) {});
}

void Server::answer_unparseable(Shard& shard, const Inbound& in, ParseError error) {
  counters_.parse_errors.add();
  // Only a request with at least one Via can be answered (RFC 3261 section 8.2.6.2 needs its Vias, From,
  // To, Call-ID and CSeq; the parser keeps indexing after a header-level fault so the view holds what the
  // message had). A response is never answered.
  if (!view_.is_request || view_.via_count == 0 || view_.method == Method::ack) {
    counters_.unanswerable_dropped.add();
    return;
  }
  uint16_t code = 400;
  if (error == ParseError::bad_sip_version) code = 505;
  if (error == ParseError::message_too_large) code = 513;
  (code == 513 ? counters_.answered_513 : counters_.answered_400).add();
  respond(Incoming{shard, in, view_}, code, code == 400 ? reason_phrase(error) : std::string_view{});
}

void Server::shed(const Incoming& request, bool with_credentials) {
  counters_.shed_503.add();
  if (with_credentials) counters_.shed_503_with_credentials.add();
  const uint64_t retry_after = 1 + counters_.shed_503.get() % retry_after_spread;
  respond(request, 503, {}, [retry_after](MessageWriter& w) { w.header_int(HeaderId::retry_after, retry_after); });
}

void Server::on_message(Shard& shard, const Inbound& in) {
  if (in.truncated || in.oversize) {
    // Too large to take: answer 513 when enough of it parsed to answer at all (RFC 3261 section 18.1.1). Only
    // the first message_size_max bytes are read, so that the headers in them are indexed.
    (void)parse_message(in.data.substr(0, message_size_max), Transport::udp, view_);
    answer_unparseable(shard, in, ParseError::message_too_large);
    return;
  }
  ParseResult r = parse_message(in.data, in.transport, view_);
  if (r.status != ParseStatus::complete) {
    answer_unparseable(shard, in, r.status == ParseStatus::error ? r.error : ParseError::unterminated_headers);
    return;
  }
  const MessageView& m = view_;
  Incoming incoming{shard, in, m};
  if (!m.is_request) {
    counters_.responses_in.add();
    if (next_ != nullptr) next_->on_response(*this, incoming);
    return;
  }
  counters_.requests_in.add();
  if (m.method == Method::ack) {
    if (next_ != nullptr) next_->on_request(*this, incoming);
    return;
  }
  const bool options_to_server = m.method == Method::options && addressed_to_server(m);
  if (m.max_forwards == 0 && !options_to_server) {
    counters_.answered_483.add();
    respond(incoming, 483);
    return;
  }
  if (m.method == Method::other) {
    counters_.answered_501.add();
    respond(incoming, 501, {}, [this](MessageWriter& w) { w.header(HeaderId::allow, allow_); });
    return;
  }
  std::string_view unsupported;
  if (m.method != Method::cancel && !require_supported(m, unsupported)) {
    counters_.answered_420.add();
    respond(incoming, 420, {}, [&](MessageWriter& w) { w.header(HeaderId::unsupported, unsupported); });
    return;
  }
  if (options_to_server) {
    counters_.options_answered.add();
    respond(incoming, 200, {}, [this](MessageWriter& w) {
      w.header(HeaderId::allow, allow_);
      w.header(HeaderId::accept, "application/sdp");
      w.header(HeaderId::allow_events, "park-info, refer");
    });
    return;
  }
  if (shard.pressure() != Pressure::normal && starts_something(m)) {
    const bool credentials = m.authorization.present || m.proxy_authorization.present;
    if (!credentials || shard.pressure() == Pressure::critical) {
      shed(incoming, credentials);
      return;
    }
  }
  if (next_ != nullptr && next_->on_request(*this, incoming)) return;
  counters_.answered_405.add();
  respond(incoming, 405, {}, [this](MessageWriter& w) { w.header(HeaderId::allow, allow_); });
}

}  // namespace parkd::sip
