// The SIP message parser: bytes in, MessageView out (RFC 3261 section 25 grammar, as a PBX needs it).
//
// Contract, for any byte sequence: never writes to its input, never reads past in.size(), needs no NUL
// terminator, allocates nothing, throws nothing. On success the MessageView holds views into `in`.
//
// Framing: on UDP one datagram is one message; without Content-Length the body is the rest of the
// datagram. On TCP Content-Length is required and the parser reports `incomplete` with the number of bytes
// still needed (at least 1 while the header block has not ended), so the transport can read more and call
// again with the longer buffer; `consumed` is the size of the framed message (bytes after it belong to the
// next message).
#pragma once

#include <cstdint>
#include <string_view>

#include "sip/message.h"

namespace parkd::sip {

enum class ParseStatus : uint8_t { complete, incomplete, error };

struct ParseResult {
  ParseStatus status = ParseStatus::error;
  ParseError error = ParseError::none;  // when status == error
  uint32_t consumed = 0;                // when complete: bytes of this message (headers and body)
  uint32_t bytes_needed = 0;            // when incomplete: at least this many more bytes
};

ParseResult parse_message(std::string_view in, Transport transport, MessageView& out);

// Removes the backslash escapes of a quoted-string body (quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)),
// writing into `out`; returns the unescaped text, or an empty view if `out` is too small.
std::string_view unquote(std::string_view quoted_body, char* out, size_t out_size);

}  // namespace parkd::sip
