// SDP (RFC 8866, formerly RFC 4566) as a PBX needs it: where the audio goes, which codecs, which direction,
// and the origin version that every changed offer must bump (RFC 3264 section 8).
//
//   session-description = version-field origin-field session-name-field ... *media-description
//   each line:  <type>=<value> CRLF      (type is one lower-case letter; bare LF accepted too)
//
// Contract: parse_sdp() reads only inside the view it is given (no NUL terminator needed), never writes to
// it, allocates nothing and throws nothing; the SdpView it fills borrows the input (every string_view points
// into it). The writers (sdp_with_audio_direction, sdp_with_version_bump, write_hold_sdp) write into a
// caller-provided buffer and never past its end; when it is too small they return output_too_small and the
// buffer contents are unspecified.
//
// What is and is not checked: the line syntax of every line, v=0 first, exactly one o= in the session part
// with its six fields, every c= line, every m= line's shape, and the audio stream's payload types (RTP
// numbers 0-127). Other lines (s=, t=, b=, k=, unknown attributes) pass unchecked: parkd passes SDP through
// end to end and only needs to understand the audio stream. A missing s= or t= is tolerated (broken phones
// omit them and nothing here depends on them); a blank line is skipped (some stacks end the body with one).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "core/result.h"

namespace parkd::sip {

// PARKD_SDP_ERROR(id, "text"): the one list of SDP faults; the text reads well after "488 " or in a log.
#define PARKD_SDP_ERRORS(PARKD_SDP_ERROR)                                    \
  PARKD_SDP_ERROR(none, "OK")                                                \
  PARKD_SDP_ERROR(empty, "Empty SDP")                                        \
  PARKD_SDP_ERROR(bad_line, "Malformed SDP line")                            \
  PARKD_SDP_ERROR(missing_version, "SDP does not start with v=")             \
  PARKD_SDP_ERROR(bad_version, "Unsupported SDP version")                    \
  PARKD_SDP_ERROR(missing_origin, "Missing SDP o= line")                     \
  PARKD_SDP_ERROR(duplicate_origin, "Duplicate SDP o= line")                 \
  PARKD_SDP_ERROR(bad_origin, "Malformed SDP o= line")                       \
  PARKD_SDP_ERROR(bad_connection, "Malformed SDP c= line")                   \
  PARKD_SDP_ERROR(duplicate_connection, "Duplicate SDP c= line")             \
  PARKD_SDP_ERROR(missing_connection, "No SDP c= line for the audio stream") \
  PARKD_SDP_ERROR(bad_media, "Malformed SDP m= line")                        \
  PARKD_SDP_ERROR(no_audio, "No audio stream in SDP")                        \
  PARKD_SDP_ERROR(version_overflow, "SDP origin version cannot be bumped")   \
  PARKD_SDP_ERROR(bad_argument, "Invalid SDP writer argument")               \
  PARKD_SDP_ERROR(output_too_small, "SDP output buffer too small")

enum class SdpError : uint8_t {
#define PARKD_SDP_ENUM(id, text) id,
  PARKD_SDP_ERRORS(PARKD_SDP_ENUM)
#undef PARKD_SDP_ENUM
};

// "Malformed SDP m= line" for SdpError::bad_media.
std::string_view sdp_error_text(SdpError error);

// The four direction attributes of RFC 8866 section 6.7 (RFC 3264 section 5.1).
enum class SdpDirection : uint8_t { sendrecv, sendonly, recvonly, inactive };
std::string_view sdp_direction_name(SdpDirection direction);  // "sendonly"

// c=<nettype> <addrtype> <connection-address>
struct SdpConnection {
  bool present = false;
  std::string_view net_type;   // "IN"
  std::string_view addr_type;  // "IP4" or "IP6" (other values are refused: bad_connection)
  bool ipv6 = false;
  std::string_view address;  // without a multicast "/ttl[/count]" suffix
  std::string_view raw;      // the whole value after "c="
};

// o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>
struct SdpOrigin {
  std::string_view username;
  std::string_view session_id;  // 1*DIGIT as written (phones use up to 20+ digits: kept as text)
  uint64_t session_version = 0;
  std::string_view session_version_text;  // the digits; sdp_with_version_bump() replaces exactly these
  std::string_view net_type;
  std::string_view addr_type;
  std::string_view address;
  std::string_view raw;
};

// At most this many payload types of the audio stream are kept. More is not an error: the first
// sdp_format_count_max are kept, in order, and `formats_truncated` is set (an offer listing 40 codecs is
// still usable; parkd only looks for a handful).
inline constexpr uint32_t sdp_format_count_max = 32;

// m=<media> <port>[/<number of ports>] <proto> <fmt> ...   (the first m=audio of the body)
struct SdpMedia {
  std::string_view media;  // "audio"
  uint16_t port = 0;       // 0: the stream is rejected or disabled (RFC 3264 section 6)
  uint16_t port_count = 1;
  std::string_view proto;  // "RTP/AVP", "RTP/SAVP", "UDP/TLS/RTP/SAVPF", ...
  std::array<uint8_t, sdp_format_count_max> formats{};
  uint32_t format_count = 0;
  bool formats_truncated = false;
  SdpConnection connection;  // media-level c=, present only when the section has one
  bool has_direction = false;
  SdpDirection direction = SdpDirection::sendrecv;  // media-level attribute, when has_direction
  uint32_t index = 0;                               // 0 for the first m= line of the body
  std::string_view section;  // from the "m=" to the end of the media section (its last line ending included)
};

struct SdpView {
  SdpOrigin origin;
  std::string_view session_name;
  SdpConnection session_connection;
  bool has_session_direction = false;
  SdpDirection session_direction = SdpDirection::sendrecv;
  uint32_t media_count = 0;  // m= lines of any kind
  SdpMedia audio;            // the first m=audio line

  // Where the audio goes: the media-level c= when there is one, else the session-level one.
  const SdpConnection& audio_connection() const {
    return audio.connection.present ? audio.connection : session_connection;
  }
  // The media-level direction, else the session-level one, else sendrecv (RFC 8866 section 6.7).
  SdpDirection audio_direction() const {
    if (audio.has_direction) return audio.direction;
    return has_session_direction ? session_direction : SdpDirection::sendrecv;
  }
};

// Parses `body` and fills `out` (views into `body`). Fails with no_audio when there is no m=audio line, and
// with missing_connection when neither the audio section nor the session has a c= line.
SdpError parse_sdp(std::string_view body, SdpView& out);

// Writes `body` with the audio stream's direction set to `direction` (for hold: sendonly or inactive; for
// resume: sendrecv): the audio section's direction attributes are replaced by one `a=<direction>` line where
// the first one was, or one is added at the end of the audio section. Everything else is copied unchanged;
// the new line ends like the m= line does (CRLF or LF). A session-level direction is left alone (the
// media-level one overrides it). Returns the size written. Parses `body` first: its errors are returned.
// Remember RFC 3264 section 8: a changed offer also needs sdp_with_version_bump().
Result<size_t, SdpError> sdp_with_audio_direction(std::string_view body, SdpDirection direction, std::span<char> out);

// Writes `body` with the o= sess-version increased by one, everything else unchanged. version_overflow when
// it is already 2^64-1.
Result<size_t, SdpError> sdp_with_version_bump(std::string_view body, std::span<char> out);

// parkd's own SDP, used while parkd holds the media side of a parked call:
//   v=0 / o=parkd <id> <version> IN IP4|IP6 <address> / s=parkd / c=IN IP4|IP6 <address> / t=0 0 /
//   m=audio <port> RTP/AVP 0 8 101 / rtpmap PCMU, PCMA, telephone-event / a=fmtp:101 0-16 / a=ptime:20 /
//   a=<direction>
// with CRLF line endings. The address type is IP6 when `address` contains ':' (give it without brackets).
struct HoldSdpParams {
  uint64_t session_id = 0;
  uint64_t session_version = 0;
  std::string_view address;  // parkd's media address, numeric
  uint16_t port = 0;         // parkd's RTP port for this call
  SdpDirection direction = SdpDirection::sendonly;
};
Result<size_t, SdpError> write_hold_sdp(const HoldSdpParams& params, std::span<char> out);

}  // namespace parkd::sip
