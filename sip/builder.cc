#include "sip/builder.h"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "sip/params.h"

namespace parkd::sip {

namespace {

// token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")   (RFC 3261 section 25.1)
constexpr std::array<bool, 256> token_chars = [] {
  std::array<bool, 256> table{};
  for (int c = 'a'; c <= 'z'; ++c) table[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) table[c] = true;
  for (int c = '0'; c <= '9'; ++c) table[c] = true;
  for (char c : std::string_view("-.!%*_+`'~")) table[static_cast<unsigned char>(c)] = true;
  return table;
}();

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!token_chars[static_cast<unsigned char>(c)]) return false;
  return true;
}

// Eight bytes at a time (a byte equal to CR or LF makes its XOR zero; the classic "has a zero byte" test finds
// it exactly). Header values are short: this beats two memchr calls and a byte loop (bench/builder_bench).
bool has_cr_or_lf(std::string_view value) {
  constexpr uint64_t ones = 0x0101010101010101ULL;
  constexpr uint64_t highs = 0x8080808080808080ULL;
  const char* p = value.data();
  size_t n = value.size();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t word;
    std::memcpy(&word, p + i, 8);
    uint64_t cr = word ^ (ones * '\r');
    uint64_t lf = word ^ (ones * '\n');
    if ((((cr - ones) & ~cr) | ((lf - ones) & ~lf)) & highs) return true;
  }
  for (; i < n; ++i)
    if (p[i] == '\r' || p[i] == '\n') return true;
  return false;
}

// A value may hold CR or LF only as a fold: CRLF followed by SP or HT (RFC 3261 section 7.3.1). Anything
// else would end the header early and let the text that follows become a header of its own.
bool is_safe_value(std::string_view value) {
  if (!has_cr_or_lf(value)) return true;
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '\n') return false;  // a bare LF, or one not preceded by the CR handled below
    if (value[i] == '\r') {
      if (i + 2 >= value.size() || value[i + 1] != '\n' || (value[i + 2] != ' ' && value[i + 2] != '\t')) return false;
      i += 2;
    }
  }
  return true;
}

// Text for the start line: no CR, LF (and for the URI, no space).
bool is_line_text(std::string_view s) {
  if (s.empty()) return true;
  return std::memchr(s.data(), '\r', s.size()) == nullptr && std::memchr(s.data(), '\n', s.size()) == nullptr;
}

template <class Visit>
void for_each_header(const MessageView& message, Visit visit) {
  uint32_t count = std::min<uint32_t>(message.header_count, header_count_max);
  for (uint32_t i = 0; i < count; ++i) visit(message.headers[i]);
}

const HeaderView* first_header(const MessageView& message, HeaderId id) {
  uint32_t count = std::min<uint32_t>(message.header_count, header_count_max);
  for (uint32_t i = 0; i < count; ++i)
    if (message.headers[i].id == id) return &message.headers[i];
  return nullptr;
}

bool contains(std::span<const HeaderId> ids, HeaderId id) { return std::find(ids.begin(), ids.end(), id) != ids.end(); }

bool view_inside(std::string_view inner, std::string_view outer) {
  return !inner.empty() && inner.data() >= outer.data() && inner.data() + inner.size() <= outer.data() + outer.size();
}

// The response's top Via (RFC 3261 section 18.2.1, RFC 3581 section 4): `received` when the source address
// differs from the sent-by host or the client asked for rport; `rport` given the source port when asked.
// The first Via header may hold several via-parms: only the first one (vias[0]) changes.
void write_top_via(const HeaderView& header, const ViaView& via, const ResponseSource& source, MessageWriter& writer) {
  std::string_view value = header.value;
  std::string_view raw = via.raw;
  bool add_received = via.has_rport || !iequals(via.host, source.address);
  if (!add_received || !view_inside(raw, value)) {
    writer.header(HeaderId::via, value);
    return;
  }
  size_t semicolon = raw.find(';');
  std::string_view sent = raw.substr(0, semicolon);  // sent-protocol LWS sent-by
  std::string_view params = semicolon == std::string_view::npos ? std::string_view() : raw.substr(semicolon);
  ParamView param;
  ParamCursor check(params);
  while (check.next(param)) {
  }
  if (check.malformed()) {  // the parser accepted it, so this should not happen: leave the Via as it is
    writer.header(HeaderId::via, value);
    return;
  }
  writer.begin_header(HeaderId::via);
  writer.append(value.substr(0, static_cast<size_t>(raw.data() - value.data())));
  writer.append(sent);
  ParamCursor cursor(params);
  while (cursor.next(param)) {
    if (iequals(param.name, "received")) continue;  // ours replaces any
    writer.append(";");
    writer.append(param.name);
    if (iequals(param.name, "rport")) {
      writer.append("=");
      writer.append_int(source.port);
      continue;
    }
    if (!param.has_value) continue;
    writer.append(param.quoted ? "=\"" : "=");
    writer.append(param.value);
    if (param.quoted) writer.append("\"");
  }
  writer.append(";received=");
  writer.append(source.address);
  writer.append(value.substr(static_cast<size_t>(raw.data() + raw.size() - value.data())));
  writer.end_header();
}

bool creates_dialog(Method method) {
  return method == Method::invite || method == Method::subscribe || method == Method::refer;
}

// Feistel round function: murmur3's 32-bit finalizer over the half block mixed with a round key.
uint32_t round_function(uint32_t half, uint32_t round_key) {
  uint32_t h = half ^ round_key;
  h ^= h >> 16;
  h *= 0x85ebca6bU;
  h ^= h >> 13;
  h *= 0xc2b2ae35U;
  h ^= h >> 16;
  return h;
}

}  // namespace

std::string_view build_error_text(BuildError error) {
  switch (error) {
    case BuildError::none: return "OK";
    case BuildError::overflow: return "Message buffer too small";
    case BuildError::bad_state: return "Message built out of order";
    case BuildError::bad_value: return "Invalid value for a SIP message";
  }
  return "Unknown build error";
}

std::string_view default_reason_phrase(uint16_t code) {
  switch (code) {
    case 100: return "Trying";
    case 180: return "Ringing";
    case 181: return "Call Is Being Forwarded";
    case 182: return "Queued";
    case 183: return "Session Progress";
    case 200: return "OK";
    case 202: return "Accepted";
    case 204: return "No Notification";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Moved Temporarily";
    case 305: return "Use Proxy";
    case 380: return "Alternative Service";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 410: return "Gone";
    case 413: return "Request Entity Too Large";
    case 414: return "Request-URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Unsupported URI Scheme";
    case 420: return "Bad Extension";
    case 421: return "Extension Required";
    case 423: return "Interval Too Brief";
    case 480: return "Temporarily Unavailable";
    case 481: return "Call/Transaction Does Not Exist";
    case 482: return "Loop Detected";
    case 483: return "Too Many Hops";
    case 484: return "Address Incomplete";
    case 485: return "Ambiguous";
    case 486: return "Busy Here";
    case 487: return "Request Terminated";
    case 488: return "Not Acceptable Here";
    case 489: return "Bad Event";
    case 491: return "Request Pending";
    case 493: return "Undecipherable";
    case 500: return "Server Internal Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Server Time-out";
    case 505: return "Version Not Supported";
    case 513: return "Message Too Large";
    case 600: return "Busy Everywhere";
    case 603: return "Decline";
    case 604: return "Does Not Exist Anywhere";
    case 606: return "Not Acceptable";
    default: return "";
  }
}

void MessageWriter::put_int(uint64_t value) {
  char digits[20];
  auto result = std::to_chars(digits, digits + sizeof digits, value);
  put(std::string_view(digits, static_cast<size_t>(result.ptr - digits)));
}

void MessageWriter::put_value(std::string_view value) {
  if (!is_safe_value(value)) return fail(BuildError::bad_value);
  put(value);
}

void MessageWriter::put_content_length(uint64_t length) {
  put("Content-Length: ");
  put_int(length);
  put("\r\n\r\n");
}

bool MessageWriter::expect(State state) {
  if (error_ != BuildError::none) return false;
  if (state_ != state) {
    fail(BuildError::bad_state);
    return false;
  }
  return true;
}

void MessageWriter::start_request(std::string_view method, std::string_view request_uri) {
  if (!expect(State::empty)) return;
  if (!is_token(method) || request_uri.empty() || !is_line_text(request_uri) ||
      request_uri.find(' ') != std::string_view::npos)
    return fail(BuildError::bad_value);
  put(method);
  put(" ");
  put(request_uri);
  put(" SIP/2.0\r\n");
  state_ = State::headers;
}

void MessageWriter::start_response(uint16_t code, std::string_view reason) {
  if (!expect(State::empty)) return;
  if (code < 100 || code > 699 || !is_line_text(reason)) return fail(BuildError::bad_value);
  if (reason.empty()) reason = default_reason_phrase(code);
  put("SIP/2.0 ");
  put_int(code);
  put(" ");
  put(reason);
  put("\r\n");
  state_ = State::headers;
}

void MessageWriter::begin_header(std::string_view name) {
  if (!expect(State::headers)) return;
  if (!is_token(name) || iequals(name, "Content-Length") || iequals(name, "l")) return fail(BuildError::bad_value);
  put(name);
  put(": ");
  state_ = State::in_header;
}

void MessageWriter::begin_header(HeaderId id) {
  if (!expect(State::headers)) return;
  // Canonical names come from headers.def: tokens by construction, no check needed.
  std::string_view name = header_name(id);
  if (name.empty() || id == HeaderId::content_length) return fail(BuildError::bad_value);
  put(name);
  put(": ");
  state_ = State::in_header;
}

void MessageWriter::append(std::string_view text) {
  if (!expect(State::in_header)) return;
  put_value(text);
}

void MessageWriter::append_int(uint64_t value) {
  if (!expect(State::in_header)) return;
  put_int(value);
}

void MessageWriter::end_header() {
  if (!expect(State::in_header)) return;
  put("\r\n");
  state_ = State::headers;
}

void MessageWriter::header(HeaderId id, std::string_view value) {
  begin_header(id);
  append(value);
  end_header();
}

void MessageWriter::header(std::string_view name, std::string_view value) {
  begin_header(name);
  append(value);
  end_header();
}

void MessageWriter::header_int(HeaderId id, uint64_t value) {
  begin_header(id);
  append_int(value);
  end_header();
}

void MessageWriter::header_int(std::string_view name, uint64_t value) {
  begin_header(name);
  append_int(value);
  end_header();
}

void MessageWriter::body(std::string_view content_type, std::string_view body_text) {
  if (!expect(State::headers)) return;
  if (content_type.empty() && !body_text.empty()) return fail(BuildError::bad_value);
  if (!content_type.empty()) header(HeaderId::content_type, content_type);
  put_content_length(body_text.size());
  put(body_text);
  if (ok()) state_ = State::done;
}

std::span<char> MessageWriter::begin_body(std::string_view content_type) {
  if (!expect(State::headers)) return {};
  if (!content_type.empty()) header(HeaderId::content_type, content_type);
  if (!ok()) return {};
  if (capacity_ - size_ < body_reserve) {
    fail(BuildError::overflow);
    return {};
  }
  state_ = State::body_reserved;
  return {data_ + size_ + body_reserve, capacity_ - size_ - body_reserve};
}

void MessageWriter::end_body(size_t size) {
  if (!expect(State::body_reserved)) return;
  if (size > capacity_ - size_ - body_reserve) return fail(BuildError::bad_value);
  char* body_at = data_ + size_ + body_reserve;
  put_content_length(size);  // shorter than body_reserve: cannot overflow, cannot reach the body
  std::memmove(data_ + size_, body_at, size);
  size_ += size;
  state_ = State::done;
}

Result<size_t, BuildError> MessageWriter::finish() {
  if (error_ == BuildError::none) {
    if (state_ == State::headers) {
      put_content_length(0);
      if (ok()) state_ = State::done;
    } else if (state_ != State::done) {
      fail(BuildError::bad_state);
    }
  }
  if (error_ != BuildError::none) return Unexpected{error_};
  return size_;
}

void build_response(const MessageView& request, uint16_t code, std::string_view reason, std::string_view to_tag,
                    MessageWriter& writer, const ResponseSource& source) {
  writer.start_response(code, reason);
  bool top = true;
  for_each_header(request, [&](const HeaderView& header) {
    if (header.id != HeaderId::via) return;
    if (top && !source.address.empty() && request.via_count > 0) {
      write_top_via(header, request.vias[0], source, writer);
    } else {
      writer.header(HeaderId::via, header.value);
    }
    top = false;
  });
  if (const HeaderView* from = first_header(request, HeaderId::from)) writer.header(HeaderId::from, from->value);
  if (const HeaderView* to = first_header(request, HeaderId::to)) {
    writer.begin_header(HeaderId::to);
    writer.append(to->value);
    if (code > 100 && request.to.tag.empty() && !to_tag.empty()) {
      writer.append(";tag=");
      writer.append(to_tag);
    }
    writer.end_header();
  }
  if (const HeaderView* call_id = first_header(request, HeaderId::call_id))
    writer.header(HeaderId::call_id, call_id->value);
  if (const HeaderView* cseq = first_header(request, HeaderId::cseq)) writer.header(HeaderId::cseq, cseq->value);
  if (code == 100) {
    if (const HeaderView* timestamp = first_header(request, HeaderId::timestamp))
      writer.header(HeaderId::timestamp, timestamp->value);
  }
  if (code > 100 && code < 300 && creates_dialog(request.method)) {
    for_each_header(request, [&](const HeaderView& header) {
      if (header.id == HeaderId::record_route) writer.header(HeaderId::record_route, header.value);
    });
  }
}

void build_request(const RequestParams& params, MessageWriter& writer) {
  if (params.via_host.empty() || params.branch_suffix.empty() || params.from_tag.empty() || params.call_id.empty() ||
      !is_token(params.via_transport))
    return writer.fail(BuildError::bad_value);
  writer.start_request(params.method, params.request_uri);

  // Via: SIP/2.0/UDP host[:port];branch=z9hG4bK...[;rport]
  writer.begin_header(HeaderId::via);
  writer.append("SIP/2.0/");
  writer.append(params.via_transport);
  writer.append(" ");
  bool bracket = params.via_host.find(':') != std::string_view::npos && params.via_host.front() != '[';
  if (bracket) writer.append("[");
  writer.append(params.via_host);
  if (bracket) writer.append("]");
  if (params.via_port != 0) {
    writer.append(":");
    writer.append_int(params.via_port);
  }
  writer.append(";branch=");
  writer.append(branch_magic_cookie);
  writer.append(params.branch_suffix);
  if (params.via_rport) writer.append(";rport");
  writer.end_header();

  writer.header_int(HeaderId::max_forwards, params.max_forwards);
  writer.begin_header(HeaderId::from);
  writer.append(params.from);
  writer.append(";tag=");
  writer.append(params.from_tag);
  writer.end_header();
  writer.begin_header(HeaderId::to);
  writer.append(params.to);
  if (!params.to_tag.empty()) {
    writer.append(";tag=");
    writer.append(params.to_tag);
  }
  writer.end_header();
  writer.header(HeaderId::call_id, params.call_id);
  writer.begin_header(HeaderId::cseq);
  writer.append_int(params.cseq);
  writer.append(" ");
  writer.append(params.method);
  writer.end_header();
  for (std::string_view route : params.route_set) writer.header(HeaderId::route, route);
  if (!params.contact.empty()) writer.header(HeaderId::contact, params.contact);
}

void copy_headers(const MessageView& from, std::span<const HeaderId> skip, MessageWriter& writer,
                  std::span<const std::string_view> skip_names) {
  for_each_header(from, [&](const HeaderView& header) {
    if (header.id == HeaderId::content_length || header.id == HeaderId::content_type || contains(skip, header.id))
      return;
    if (header.id == HeaderId::other) {
      for (std::string_view name : skip_names)
        if (iequals(name, header.name)) return;
      writer.header(header.name, header.value);
    } else {
      writer.header(header.id, header.value);
    }
  });
}

void copy_headers_with_id(const MessageView& from, std::span<const HeaderId> ids, MessageWriter& writer) {
  for_each_header(from, [&](const HeaderView& header) {
    if (header.id == HeaderId::content_length || header.id == HeaderId::other || !contains(ids, header.id)) return;
    writer.header(header.id, header.value);
  });
}

void copy_body(const MessageView& from, MessageWriter& writer) { writer.body(from.content_type, from.body); }

TokenKey random_token_key() {
  uint64_t words[2] = {0, 0};
  auto* bytes = reinterpret_cast<char*>(words);
  size_t got = 0;
  while (got < sizeof words) {
    ssize_t n = getrandom(bytes + got, sizeof words - got, 0);
    if (n > 0) {
      got += static_cast<size_t>(n);
    } else if (n < 0 && errno != EINTR) {
      break;  // no entropy source: keep what we have; uniqueness within the process still holds
    }
  }
  return TokenKey{words[0], words[1]};
}

std::string_view write_sip_uri(std::string_view user, std::string_view host, std::span<char> out) {
  constexpr std::string_view scheme = "sip:";
  const size_t size = scheme.size() + user.size() + 1 + host.size();
  if (size > out.size()) return {};
  char* p = out.data();
  p = std::copy(scheme.begin(), scheme.end(), p);
  p = std::copy(user.begin(), user.end(), p);
  *p++ = '@';
  std::copy(host.begin(), host.end(), p);
  return {out.data(), size};
}

std::string_view write_token(uint64_t counter, const TokenKey& key, std::span<char> out) {
  if (out.size() < token_size) return {};
  auto left = static_cast<uint32_t>(counter >> 32);
  auto right = static_cast<uint32_t>(counter);
  const uint32_t round_keys[4] = {static_cast<uint32_t>(key.k0), static_cast<uint32_t>(key.k0 >> 32),
                                  static_cast<uint32_t>(key.k1), static_cast<uint32_t>(key.k1 >> 32)};
  for (uint32_t round_key : round_keys) {
    uint32_t next = left ^ round_function(right, round_key);
    left = right;
    right = next;
  }
  uint64_t mixed = (static_cast<uint64_t>(left) << 32) | right;
  static constexpr char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < token_size; ++i) out[i] = hex[(mixed >> (60 - 4 * i)) & 0xf];
  return {out.data(), token_size};
}

std::string_view write_branch(uint64_t counter, const TokenKey& key, std::span<char> out) {
  if (out.size() < branch_size) return {};
  std::memcpy(out.data(), branch_magic_cookie.data(), branch_magic_cookie.size());
  write_token(counter, key, out.subspan(branch_magic_cookie.size()));
  return {out.data(), branch_size};
}

}  // namespace parkd::sip
