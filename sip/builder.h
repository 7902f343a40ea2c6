// The SIP message builder: requests and responses written straight into a caller-provided buffer (a send
// buffer of the shard), as RFC 3261 section 7 lays them out.
//
// Contract: nothing here allocates or throws. MessageWriter never writes at or past `capacity`; the first
// fault (overflow, a call out of order, a value that would break the framing) sticks, every later call is a
// no-op, and finish() reports it; the buffer contents are then unspecified. Content-Length is always written
// by the writer itself, from the body it actually wrote (0 when there is none), so a caller cannot get it
// wrong; copying helpers never copy a Content-Length.
//
// Values are written as given. The writer refuses (bad_value) a CR or LF in a value unless it is a header
// fold (CRLF followed by SP or HT, which the parser keeps as written), so text taken from one message
// cannot inject headers into another. It does not check the grammar of values beyond that.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

#include "absl/base/attributes.h"
#include "core/result.h"
#include "sip/header_id.h"
#include "sip/message.h"

namespace parkd::sip {

enum class BuildError : uint8_t {
  none,
  overflow,   // the buffer is too small
  bad_state,  // a call out of order: a header before the start line, a header after the body, ...
  bad_value,  // a CR/LF that is not a fold, an empty or non-token header name, a status code outside 100-699
};
std::string_view build_error_text(BuildError error);

// "OK" for 200, "Not Found" for 404, ... (RFC 3261 section 21 and the extensions parkd answers with);
// "" for a code it does not know.
std::string_view default_reason_phrase(uint16_t code);

class MessageWriter {
 public:
  MessageWriter(char* buffer, size_t capacity) : data_(buffer), capacity_(buffer == nullptr ? 0 : capacity) {}
  explicit MessageWriter(std::span<char> buffer) : MessageWriter(buffer.data(), buffer.size()) {}
  MessageWriter(const MessageWriter&) = delete;
  MessageWriter& operator=(const MessageWriter&) = delete;

  // Request-Line = Method SP Request-URI SP SIP-Version CRLF
  void start_request(std::string_view method, std::string_view request_uri);
  void start_request(Method method, std::string_view request_uri) { start_request(method_name(method), request_uri); }
  // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase CRLF; an empty reason takes
  // default_reason_phrase(code).
  void start_response(uint16_t code, std::string_view reason = {});

  // One header line. `id` gives the canonical long name (header_name()); HeaderId::other is bad_value.
  // Content-Length is refused (bad_value): the writer writes it.
  void header(HeaderId id, std::string_view value);
  void header(std::string_view name, std::string_view value);
  void header_int(HeaderId id, uint64_t value);
  void header_int(std::string_view name, uint64_t value);

  // One header line written in pieces: begin_header, any number of append / append_int, end_header.
  void begin_header(HeaderId id);
  void begin_header(std::string_view name);
  void append(std::string_view text);
  void append_int(uint64_t value);
  void end_header();

  // Content-Type (when not empty), Content-Length and the body; the message then takes no more headers.
  // A non-empty body needs a content type (bad_value otherwise).
  void body(std::string_view content_type, std::string_view body);
  // The same with the body written in place by the caller (e.g. write_hold_sdp()): begin_body returns the
  // space the body may use (empty after a fault); end_body(size) says how much of it was written. A caller
  // whose own writer failed calls fail(BuildError::overflow) instead of end_body.
  std::span<char> begin_body(std::string_view content_type);
  void end_body(size_t size);

  // Ends the message (writes "Content-Length: 0" and the blank line when there was no body) and returns
  // its size, or the first fault.
  Result<size_t, BuildError> finish();

  void fail(BuildError error) {
    if (error_ == BuildError::none) error_ = error;
  }
  BuildError error() const { return error_; }
  bool ok() const { return error_ == BuildError::none; }
  size_t size() const { return size_; }  // bytes written so far
  // The bytes written so far; valid while the buffer is.
  std::string_view text() const ABSL_ATTRIBUTE_LIFETIME_BOUND { return {data_, size_}; }

 private:
  enum class State : uint8_t { empty, headers, in_header, body_reserved, done };
  // Content-Length: 20 digits CRLF CRLF, reserved before a body written in place.
  static constexpr size_t body_reserve = sizeof("Content-Length: ") - 1 + 20 + 4;

  // Inline so that the many short constant pieces (": ", "\r\n") become plain stores.
  void put(std::string_view text) {
    if (error_ != BuildError::none || text.empty()) return;
    if (text.size() > capacity_ - size_) {
      error_ = BuildError::overflow;
      return;
    }
    std::memcpy(data_ + size_, text.data(), text.size());
    size_ += text.size();
  }
  void put_int(uint64_t value);
  void put_value(std::string_view value);
  void put_content_length(uint64_t length);
  bool expect(State state);

  char* data_;
  size_t capacity_;
  size_t size_ = 0;
  State state_ = State::empty;
  BuildError error_ = BuildError::none;
};

// Where a request came from, for the response's top Via (RFC 3261 section 18.2.1, RFC 3581). `address`
// numeric, IPv6 without brackets; empty: the Via is copied unchanged.
struct ResponseSource {
  std::string_view address;
  uint16_t port = 0;
};

// Starts a response to `request` per RFC 3261 section 8.2.6.2: the status line, then every Via in order with
// its value as written (the top one given `received` when `source.address` differs from its sent-by host
// or when it asked for `rport`, and `rport` filled with `source.port` when it asked: RFC 3581 section 4),
// From, To (";tag=" + to_tag appended when the request's To has no tag, the code is above 100 and to_tag is
// not empty), Call-ID, CSeq; Timestamp for a 100 (section 8.2.6.1), and the Record-Route headers for a
// 101-299 answer to a dialog-creating request (INVITE, SUBSCRIBE, REFER: section 12.1.1). The caller then adds
// its own headers and a body, and calls writer.finish().
void build_response(const MessageView& request, uint16_t code, std::string_view reason, std::string_view to_tag,
                    MessageWriter& writer, const ResponseSource& source = {});

// A request that parkd originates on one leg of a bridged call (RFC 3261 section 12.2.1.1), or out of
// dialog (a park-info NOTIFY: no to_tag, no route set). Loose routing only: the route set is written as
// given, the Request-URI is the remote target.
struct RequestParams {
  std::string_view method;       // "INVITE"; see method_name()
  std::string_view request_uri;  // the remote target
  std::string_view via_transport = "UDP";
  std::string_view via_host;       // parkd's address; an IPv6 address is bracketed if it is not already
  uint16_t via_port = 0;           // 0: no port in sent-by
  std::string_view branch_suffix;  // the branch is "z9hG4bK" + this; see write_token()
  bool via_rport = true;           // ask for RFC 3581 symmetric responses
  std::string_view from;           // name-addr or addr-spec, without the tag
  std::string_view from_tag;       // required
  std::string_view to;
  std::string_view to_tag;  // empty: none
  std::string_view call_id;
  uint32_t cseq = 1;
  std::span<const std::string_view> route_set;  // each one name-addr ("<sip:p1.example.com;lr>"), in order
  std::string_view contact;                     // empty: no Contact (BYE, CANCEL)
  uint32_t max_forwards = 70;
};

// Writes the start line, Via, Max-Forwards, From, To, Call-ID, CSeq, one Route header per route set entry
// and Contact. The caller adds other headers and the body, then finish(). An empty method, request URI,
// via host, branch suffix, from tag or Call-ID is bad_value.
void build_request(const RequestParams& params, MessageWriter& writer);

// The headers that belong to one leg's dialog or transaction, or that the writer computes; a B2BUA copying
// headers from one leg to the other skips these (copy_headers(from, dialog_headers, writer)).
inline constexpr std::array<HeaderId, 16> dialog_headers = {
    HeaderId::via,
    HeaderId::from,
    HeaderId::to,
    HeaderId::call_id,
    HeaderId::cseq,
    HeaderId::max_forwards,
    HeaderId::contact,
    HeaderId::route,
    HeaderId::record_route,
    HeaderId::content_length,
    HeaderId::content_type,
    HeaderId::authorization,
    HeaderId::proxy_authorization,
    HeaderId::www_authenticate,
    HeaderId::proxy_authenticate,
    HeaderId::authentication_info,
};

// Copies the headers of `from`, in order, except those whose id is in `skip` and unknown ones whose name
// (as written, case-insensitive) is in `skip_names`. Content-Length and Content-Type are never copied (the
// writer computes the one; copy_body copies the other with the body). Known headers get their canonical
// name, unknown ones keep theirs; values are copied as written.
void copy_headers(const MessageView& from, std::span<const HeaderId> skip, MessageWriter& writer,
                  std::span<const std::string_view> skip_names = {});
// Copies only the headers of `from` whose id is in `ids`, in their order in `from`.
void copy_headers_with_id(const MessageView& from, std::span<const HeaderId> ids, MessageWriter& writer);
// Copies Content-Type and the body of `from` (ends the headers, see MessageWriter::body()).
void copy_body(const MessageView& from, MessageWriter& writer);

// Branches, tags and other unique tokens.
//
// A token is the 16 lower-case hex digits of a keyed 64-bit permutation (a 4-round Feistel network) of a
// counter. Uniqueness: for one key, distinct counters give distinct tokens, always (it is a bijection). So a
// process must never reuse a counter value under one key: give each shard its own counter range (for example
// shard << 56 | n) or its own key. Across processes and restarts, uniqueness rests on the key being random
// (random_token_key() at start-up): two processes' tokens collide with probability about n*m/2^64. The
// tokens look random but the permutation is not a proven cipher: they are not secrets, and nothing may rely
// on them being unguessable for authentication (parkd's digest nonces are MACs, made elsewhere).
struct TokenKey {
  uint64_t k0 = 0;
  uint64_t k1 = 0;
};
TokenKey random_token_key();  // from getrandom(2); control plane (start-up)

inline constexpr size_t token_size = 16;
inline constexpr std::string_view branch_magic_cookie = "z9hG4bK";  // RFC 3261 section 8.1.1.7
inline constexpr size_t branch_size = 7 + token_size;

// Writes the token into out[0, token_size) and returns a view of it; empty (nothing written) when `out` is
// smaller than token_size.
std::string_view write_token(uint64_t counter, const TokenKey& key, std::span<char> out);
// "z9hG4bK" + token, branch_size characters; empty when `out` is smaller.
std::string_view write_branch(uint64_t counter, const TokenKey& key, std::span<char> out);

// "sip:<user>@<host>" (an extension's address-of-record) into `out`; empty (nothing useful written) when it
// does not fit.
std::string_view write_sip_uri(std::string_view user, std::string_view host, std::span<char> out);

}  // namespace parkd::sip
