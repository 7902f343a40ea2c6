#include "sip/sdp.h"

#include <charconv>
#include <cstring>

namespace parkd::sip {

namespace {

constexpr std::string_view error_texts[] = {
#define PARKD_SDP_TEXT(id, text) text,
    PARKD_SDP_ERRORS(PARKD_SDP_TEXT)
#undef PARKD_SDP_TEXT
};

bool iequals_ascii(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + ('a' - 'A'));
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + ('a' - 'A'));
    if (x != y) return false;
  }
  return true;
}

bool is_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// 1*DIGIT into an unsigned value no larger than `max`; false on anything else (sign, space, overflow).
template <class T>
bool parse_number(std::string_view s, T max, T& out) {
  if (!is_digits(s)) return false;
  T value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr != s.data() + s.size() || value > max) return false;
  out = value;
  return true;
}

// One SDP line. RFC 8866 section 5: "<type>=<value>" where <type> is exactly one case-significant character
// and <value> is a byte-string (any byte but NUL, CR and LF); lines end with CRLF, and parsers "SHOULD" take
// a bare LF too, which we do.
struct Line {
  char type = 0;
  std::string_view value;
  size_t begin = 0;         // offset of the type character
  size_t end = 0;           // offset just past the line ending (or the end of the body)
  bool terminated = false;  // false for a last line without a line ending
  bool crlf = false;
};

enum class Step : uint8_t { line, end, error };

class LineCursor {
 public:
  explicit LineCursor(std::string_view body) : body_(body) {}
  explicit LineCursor(std::string_view body, size_t from) : body_(body), pos_(from) {}

  // Skips blank lines (some stacks end the body with an empty line).
  Step next(Line& out) {
    while (pos_ < body_.size()) {
      size_t begin = pos_;
      const void* nl = std::memchr(body_.data() + begin, '\n', body_.size() - begin);
      size_t stop = nl != nullptr ? static_cast<size_t>(static_cast<const char*>(nl) - body_.data()) : body_.size();
      pos_ = nl != nullptr ? stop + 1 : body_.size();
      size_t content_end = stop;
      bool crlf = false;
      // CR counts only as part of CRLF: a CR at the very end of the body, with no LF, is a stray byte.
      if (nl != nullptr && content_end > begin && body_[content_end - 1] == '\r') {
        --content_end;
        crlf = true;
      }
      if (content_end == begin) continue;  // blank line
      std::string_view content = body_.substr(begin, content_end - begin);
      if (content.size() < 2 || content[1] != '=' || content[0] < 'a' || content[0] > 'z') return Step::error;
      std::string_view value = content.substr(2);
      for (char c : value)
        if (c == '\r' || c == '\0') return Step::error;
      out = Line{content[0], value, begin, pos_, nl != nullptr, crlf};
      return Step::line;
    }
    return Step::end;
  }

 private:
  std::string_view body_;
  size_t pos_ = 0;
};

// Splits a value into fields separated by one or more spaces. RFC 8866 asks for exactly one space; senders
// that put two are common enough to tolerate.
class Fields {
 public:
  explicit Fields(std::string_view value) : rest_(value) {}
  bool next(std::string_view& out) {
    while (!rest_.empty() && rest_.front() == ' ') rest_.remove_prefix(1);
    if (rest_.empty()) return false;
    size_t i = 0;
    while (i < rest_.size() && rest_[i] != ' ' && rest_[i] != '\t') ++i;
    if (i < rest_.size() && rest_[i] == '\t') {  // a tab is not a separator: refuse rather than guess
      rest_ = {};
      bad_ = true;
      return false;
    }
    out = rest_.substr(0, i);
    rest_.remove_prefix(i);
    return true;
  }
  // True when nothing but spaces is left.
  bool done() {
    while (!rest_.empty() && rest_.front() == ' ') rest_.remove_prefix(1);
    return rest_.empty() && !bad_;
  }
  bool bad() const { return bad_; }

 private:
  std::string_view rest_;
  bool bad_ = false;
};

std::string_view trim_trailing_spaces(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// o=<username> SP <sess-id> SP <sess-version> SP <nettype> SP <addrtype> SP <unicast-address>
//   sess-id = 1*DIGIT    sess-version = 1*DIGIT    (RFC 8866 section 9)
bool parse_origin(std::string_view value, SdpOrigin& out) {
  Fields fields(value);
  SdpOrigin origin;
  origin.raw = value;
  if (!fields.next(origin.username) || !fields.next(origin.session_id) || !fields.next(origin.session_version_text) ||
      !fields.next(origin.net_type) || !fields.next(origin.addr_type) || !fields.next(origin.address) || !fields.done())
    return false;
  if (!is_digits(origin.session_id)) return false;
  if (!parse_number<uint64_t>(origin.session_version_text, UINT64_MAX, origin.session_version)) return false;
  out = origin;
  return true;
}

// c=<nettype> SP <addrtype> SP <connection-address>
//   connection-address = multicast-address / unicast-address; IP4 multicast carries "/ttl[/count]", IP6
//   multicast "/count": the suffix is dropped from `address`.
bool parse_connection(std::string_view value, SdpConnection& out) {
  Fields fields(value);
  SdpConnection connection;
  connection.raw = value;
  std::string_view address;
  if (!fields.next(connection.net_type) || !fields.next(connection.addr_type) || !fields.next(address) ||
      !fields.done())
    return false;
  if (connection.net_type != "IN") return false;
  if (connection.addr_type == "IP6") {
    connection.ipv6 = true;
  } else if (connection.addr_type != "IP4") {
    return false;
  }
  size_t slash = address.find('/');
  connection.address = address.substr(0, slash);
  if (connection.address.empty()) return false;
  connection.present = true;
  out = connection;
  return true;
}

bool parse_direction(std::string_view attribute, SdpDirection& out) {
  attribute = trim_trailing_spaces(attribute);
  if (attribute == "sendrecv") {
    out = SdpDirection::sendrecv;
  } else if (attribute == "sendonly") {
    out = SdpDirection::sendonly;
  } else if (attribute == "recvonly") {
    out = SdpDirection::recvonly;
  } else if (attribute == "inactive") {
    out = SdpDirection::inactive;
  } else {
    return false;
  }
  return true;
}

// m=<media> SP <port> ["/" <number of ports>] SP <proto> 1*(SP <fmt>)
// For an RTP profile (proto contains "RTP/") every fmt is a payload type number, 0-127 (RFC 3551).
bool parse_media(std::string_view value, SdpMedia& out, bool keep_formats) {
  Fields fields(value);
  SdpMedia media;
  std::string_view port;
  if (!fields.next(media.media) || !fields.next(port) || !fields.next(media.proto)) return false;
  size_t slash = port.find('/');
  if (!parse_number<uint16_t>(port.substr(0, slash), UINT16_MAX, media.port)) return false;
  if (slash != std::string_view::npos) {
    if (!parse_number<uint16_t>(port.substr(slash + 1), UINT16_MAX, media.port_count) || media.port_count == 0)
      return false;
  }
  bool rtp = media.proto.find("RTP/") != std::string_view::npos;
  std::string_view format;
  uint32_t seen = 0;
  while (fields.next(format)) {
    ++seen;
    if (!keep_formats || !rtp) continue;
    uint8_t payload_type = 0;
    if (!parse_number<uint8_t>(format, 127, payload_type)) return false;
    if (media.format_count < sdp_format_count_max) {
      media.formats[media.format_count++] = payload_type;
    } else {
      media.formats_truncated = true;
    }
  }
  if (fields.bad() || seen == 0) return false;
  out = media;
  return true;
}

// Output into a caller buffer: never past `capacity`; the first overflow sticks.
class Out {
 public:
  explicit Out(std::span<char> buffer) : data_(buffer.data()), capacity_(buffer.size()) {}
  void put(std::string_view s) {
    if (overflow_ || s.empty()) return;
    if (s.size() > capacity_ - size_) {
      overflow_ = true;
      return;
    }
    std::memcpy(data_ + size_, s.data(), s.size());
    size_ += s.size();
  }
  void put_u64(uint64_t value) {
    char digits[20];
    auto result = std::to_chars(digits, digits + sizeof digits, value);
    put(std::string_view(digits, static_cast<size_t>(result.ptr - digits)));
  }
  Result<size_t, SdpError> result() const {
    if (overflow_) return Unexpected{SdpError::output_too_small};
    return size_;
  }

 private:
  char* data_;
  size_t capacity_;
  size_t size_ = 0;
  bool overflow_ = false;
};

}  // namespace

std::string_view sdp_error_text(SdpError error) {
  auto index = static_cast<size_t>(error);
  return index < std::size(error_texts) ? error_texts[index] : "Unknown SDP error";
}

std::string_view sdp_direction_name(SdpDirection direction) {
  switch (direction) {
    case SdpDirection::sendrecv: return "sendrecv";
    case SdpDirection::sendonly: return "sendonly";
    case SdpDirection::recvonly: return "recvonly";
    case SdpDirection::inactive: return "inactive";
  }
  return "sendrecv";
}

SdpError parse_sdp(std::string_view body, SdpView& out) {
  out = SdpView{};
  LineCursor cursor(body);
  Line line;
  Step step = cursor.next(line);
  if (step == Step::end) return SdpError::empty;
  if (step == Step::error) return SdpError::bad_line;
  // v=0 must come first (RFC 8866 section 5.1): it is how a body is recognised as SDP at all.
  if (line.type != 'v') return SdpError::missing_version;
  if (trim_trailing_spaces(line.value) != "0") return SdpError::bad_version;

  bool has_origin = false;
  bool in_media = false;  // past the first m= line
  bool in_audio = false;  // inside the section of the audio stream we report
  bool has_audio = false;
  size_t audio_begin = 0;
  size_t audio_end = 0;
  while ((step = cursor.next(line)) == Step::line) {
    switch (line.type) {
      case 'v': return SdpError::bad_line;
      case 'o':
        if (has_origin) return SdpError::duplicate_origin;
        if (in_media) return SdpError::bad_line;
        if (!parse_origin(line.value, out.origin)) return SdpError::bad_origin;
        has_origin = true;
        break;
      case 's':
        if (!in_media) out.session_name = line.value;
        break;
      case 'c': {
        SdpConnection connection;
        if (!parse_connection(line.value, connection)) return SdpError::bad_connection;
        if (!in_media) {
          if (out.session_connection.present) return SdpError::duplicate_connection;
          out.session_connection = connection;
        } else if (in_audio) {
          if (out.audio.connection.present) return SdpError::duplicate_connection;
          out.audio.connection = connection;
        }
        break;
      }
      case 'm': {
        if (in_audio) audio_end = line.begin;
        in_audio = false;
        in_media = true;
        ++out.media_count;
        SdpMedia media;
        // Formats are checked only for the stream we report; other streams (video, BFCP, T.38) pass as is.
        if (!parse_media(line.value, media, false)) return SdpError::bad_media;
        if (!has_audio && iequals_ascii(media.media, "audio")) {
          if (!parse_media(line.value, media, true)) return SdpError::bad_media;
          media.index = out.media_count - 1;
          out.audio = media;
          has_audio = true;
          in_audio = true;
          audio_begin = line.begin;
          audio_end = body.size();
        }
        break;
      }
      case 'a': {
        SdpDirection direction;
        if (!parse_direction(line.value, direction)) break;
        if (!in_media) {
          if (!out.has_session_direction) {
            out.has_session_direction = true;
            out.session_direction = direction;
          }
        } else if (in_audio && !out.audio.has_direction) {
          out.audio.has_direction = true;
          out.audio.direction = direction;
        }
        break;
      }
      default: break;
    }
  }
  if (step == Step::error) return SdpError::bad_line;
  if (!has_origin) return SdpError::missing_origin;
  if (!has_audio) return SdpError::no_audio;
  out.audio.section = body.substr(audio_begin, audio_end - audio_begin);
  if (!out.audio_connection().present) return SdpError::missing_connection;
  return SdpError::none;
}

Result<size_t, SdpError> sdp_with_audio_direction(std::string_view body, SdpDirection direction,
                                                  std::span<char> out_buffer) {
  SdpView view;
  if (SdpError error = parse_sdp(body, view); error != SdpError::none) return Unexpected{error};
  auto section_begin = static_cast<size_t>(view.audio.section.data() - body.data());
  size_t section_end = section_begin + view.audio.section.size();

  Out out(out_buffer);
  out.put(body.substr(0, section_begin));
  // The section's own line ending style, taken from its m= line.
  LineCursor cursor(body.substr(0, section_end), section_begin);
  Line line;
  std::string_view eol = "\r\n";
  bool written = false;
  size_t copied_to = section_begin;  // body[section_begin, copied_to) is already out
  Line last{};
  bool first = true;
  while (cursor.next(line) == Step::line) {
    if (first) {
      eol = line.crlf || !line.terminated ? "\r\n" : "\n";
      first = false;
    }
    SdpDirection ignored;
    if (line.type == 'a' && parse_direction(line.value, ignored)) {
      out.put(body.substr(copied_to, line.begin - copied_to));
      if (!written) {
        out.put("a=");
        out.put(sdp_direction_name(direction));
        out.put(line.terminated ? eol : std::string_view());
        written = true;
      }
      copied_to = line.end;
    }
    last = line;
  }
  if (!written) {
    // After the section's last line (blank lines after it stay where they are, after ours).
    size_t insert_at = last.end;
    out.put(body.substr(copied_to, insert_at - copied_to));
    copied_to = insert_at;
    if (!first && !last.terminated) out.put(eol);
    out.put("a=");
    out.put(sdp_direction_name(direction));
    out.put(eol);
  }
  out.put(body.substr(copied_to));
  return out.result();
}

Result<size_t, SdpError> sdp_with_version_bump(std::string_view body, std::span<char> out_buffer) {
  SdpView view;
  if (SdpError error = parse_sdp(body, view); error != SdpError::none) return Unexpected{error};
  if (view.origin.session_version == UINT64_MAX) return Unexpected{SdpError::version_overflow};
  auto at = static_cast<size_t>(view.origin.session_version_text.data() - body.data());
  Out out(out_buffer);
  out.put(body.substr(0, at));
  out.put_u64(view.origin.session_version + 1);
  out.put(body.substr(at + view.origin.session_version_text.size()));
  return out.result();
}

Result<size_t, SdpError> write_hold_sdp(const HoldSdpParams& params, std::span<char> out_buffer) {
  // The address goes into o= and c= as one field: it must be a non-empty run of visible characters.
  if (params.address.empty()) return Unexpected{SdpError::bad_argument};
  for (char c : params.address)
    if (c <= ' ' || c > '~') return Unexpected{SdpError::bad_argument};
  std::string_view addr_type = params.address.find(':') != std::string_view::npos ? "IP6" : "IP4";
  Out out(out_buffer);
  out.put("v=0\r\no=parkd ");
  out.put_u64(params.session_id);
  out.put(" ");
  out.put_u64(params.session_version);
  out.put(" IN ");
  out.put(addr_type);
  out.put(" ");
  out.put(params.address);
  out.put("\r\ns=parkd\r\nc=IN ");
  out.put(addr_type);
  out.put(" ");
  out.put(params.address);
  out.put("\r\nt=0 0\r\nm=audio ");
  out.put_u64(params.port);
  out.put(
      " RTP/AVP 0 8 101\r\n"
      "a=rtpmap:0 PCMU/8000\r\n"
      "a=rtpmap:8 PCMA/8000\r\n"
      "a=rtpmap:101 telephone-event/8000\r\n"
      "a=fmtp:101 0-16\r\n"
      "a=ptime:20\r\n"
      "a=");
  out.put(sdp_direction_name(params.direction));
  out.put("\r\n");
  return out.result();
}

}  // namespace parkd::sip
