#include "park/park_info.h"

#include <algorithm>
#include <cstring>

namespace parkd::park {
namespace {

constexpr std::string_view replacement = "\xEF\xBF\xBD";  // U+FFFD in UTF-8
constexpr size_t escape_factor = 6;                       // "&quot;" for one byte; U+FFFD is 3 for 1

// Appends into a fixed buffer; once something does not fit it stays failed and writes nothing more.
class Out {
 public:
  explicit Out(std::span<char> out) : p_(out.data()), end_(out.data() + out.size()) {}

  void raw(std::string_view s) {
    if (failed_ || static_cast<size_t>(end_ - p_) < s.size()) {
      failed_ = true;
      return;
    }
    if (!s.empty()) std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }
  void number(uint64_t v) {
    char digits[20];
    size_t n = 0;
    do {
      digits[n++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    char text[20];
    for (size_t i = 0; i < n; ++i) text[i] = digits[n - 1 - i];
    raw({text, n});
  }

  // XML character data or an attribute value (attribute: also quotes and whitespace other than space escaped).
  void escaped(std::string_view s, bool attribute) {
    size_t i = 0;
    while (i < s.size()) {
      const auto c = static_cast<unsigned char>(s[i]);
      if (c < 0x80) {
        switch (c) {
          case '&': raw("&amp;"); break;
          case '<': raw("&lt;"); break;
          case '>': raw("&gt;"); break;
          case '"': raw(attribute ? "&quot;" : "\""); break;
          case '\'': raw(attribute ? "&apos;" : "'"); break;
          case '\t': raw(attribute ? "&#9;" : "\t"); break;
          case '\n': raw(attribute ? "&#10;" : "\n"); break;
          case '\r': raw("&#13;"); break;  // a raw CR would be normalised away by the reader
          default: raw(c < 0x20 ? replacement : std::string_view(&s[i], 1));
        }
        ++i;
        continue;
      }
      const size_t n = utf8_sequence(s, i);
      raw(n == 0 ? replacement : s.substr(i, n));
      i += n == 0 ? 1 : n;
    }
  }

  bool failed() const { return failed_; }
  char* position() const { return p_; }

 private:
  // The length of a valid UTF-8 sequence at s[i] (a lead byte >= 0x80) that XML 1.0 allows, or 0.
  static size_t utf8_sequence(std::string_view s, size_t i) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    uint32_t min = 0;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      n = 2, cp = b0 & 0x1FU, min = 0x80;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      n = 3, cp = b0 & 0x0FU, min = 0x800;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      n = 4, cp = b0 & 0x07U, min = 0x10000;
    } else {
      return 0;
    }
    if (s.size() - i < n) return 0;
    for (size_t k = 1; k < n; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0U) != 0x80U) return 0;
      cp = (cp << 6) | (b & 0x3FU);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF) return 0;
    return n;
  }

  char* p_;
  char* end_;
  bool failed_ = false;
};

// A feature code in a URI user part: '*' and digits are unreserved there, '#' is not (RFC 3261 section 25.1).
void code_in_uri(Out& o, std::string_view code) {
  for (const char c : code) o.raw(c == '#' ? std::string_view("%23") : std::string_view(&c, 1));
}

void party(Out& o, std::string_view element, std::string_view display, std::string_view uri) {
  o.raw("    <");
  o.raw(element);
  o.raw(" display=\"");
  o.escaped(display, true);
  o.raw("\"><uri>");
  o.escaped(uri, false);
  o.raw("</uri></");
  o.raw(element);
  o.raw(">\n");
}

// Days since 1970-01-01 to a civil date (proleptic Gregorian), by 400-year eras of 146,097 days.
void civil_from_days(int64_t days, int64_t& year, unsigned& month, unsigned& day) {
  days += 719468;  // from 0000-03-01, so that the leap day is the last day of a year
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const auto day_of_era = static_cast<unsigned>(days - era * 146097);
  const unsigned year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  const unsigned day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const unsigned month_from_march = (5 * day_of_year + 2) / 153;
  day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
  month = month_from_march < 10 ? month_from_march + 3 : month_from_march - 9;
  year = static_cast<int64_t>(year_of_era) + era * 400 + (month <= 2 ? 1 : 0);
}

}  // namespace

void write_utc_timestamp(int64_t unix_s, char (&out)[20]) {
  constexpr int64_t last = 253402300799;  // 9999-12-31T23:59:59Z
  unix_s = std::clamp<int64_t>(unix_s, 0, last);
  int64_t year = 0;
  unsigned month = 0;
  unsigned day = 0;
  civil_from_days(unix_s / 86400, year, month, day);
  const auto seconds_of_day = static_cast<unsigned>(unix_s % 86400);
  auto two = [&](size_t at, unsigned v) {
    out[at] = static_cast<char>('0' + v / 10);
    out[at + 1] = static_cast<char>('0' + v % 10);
  };
  two(0, static_cast<unsigned>(year / 100));
  two(2, static_cast<unsigned>(year % 100));
  out[4] = '-';
  two(5, month);
  out[7] = '-';
  two(8, day);
  out[10] = 'T';
  two(11, seconds_of_day / 3600);
  out[13] = ':';
  two(14, seconds_of_day / 60 % 60);
  out[16] = ':';
  two(17, seconds_of_day % 60);
  out[19] = 'Z';
}

Result<size_t, ParkInfoError> write_park_info(const ExtensionParkView& extension, std::string_view retrieve_code,
                                              uint64_t now_ms, std::span<char> out) {
  Out o(out);
  const std::string_view domain = extension.domain();
  const std::string_view number = extension.extension();
  o.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<park-info xmlns=\"");
  o.raw(park_info_namespace);
  o.raw("\" version=\"");
  o.number(extension.version());
  o.raw("\" entity=\"sip:");
  o.escaped(number, true);
  o.raw("@");
  o.escaped(domain, true);
  o.raw("\">\n");
  for (const ParkedCallView call : extension) {
    const ParkState state = call.state();
    o.raw("  <parked-call id=\"");
    o.raw(call.id().view());
    o.raw("\" state=\"");
    o.raw(park_state_name(state));
    o.raw("\" parked-at=\"");
    char timestamp[20];
    write_utc_timestamp(call.parked_at_unix_s(), timestamp);
    o.raw({timestamp, sizeof timestamp});
    o.raw("\"");
    if (state == ParkState::parked) {
      const uint64_t left_ms = call.recall_at_ms() > now_ms ? call.recall_at_ms() - now_ms : 0;
      o.raw(" recall-in=\"");
      o.number((left_ms + 999) / 1000);
      o.raw("\"");
    }
    o.raw(">\n");
    party(o, "parked", call.parked_display(), call.parked_uri());
    party(o, "parker", call.parker_display(), call.parker_uri());
    if (state == ParkState::retrieved && !call.retriever_extension().empty()) {
      o.raw("    <retriever display=\"");
      o.escaped(call.retriever_display(), true);
      o.raw("\"><uri>sip:");
      o.escaped(call.retriever_extension(), false);
      o.raw("@");
      o.escaped(domain, false);
      o.raw("</uri></retriever>\n");
    }
    if (state == ParkState::parked) {
      o.raw("    <retrieve uri=\"sip:");
      code_in_uri(o, retrieve_code);
      o.escaped(number, true);
      o.raw("@");
      o.escaped(domain, true);
      o.raw(";park-id=");
      o.raw(call.id().view());
      o.raw("\"/>\n");
    }
    o.raw("    <dialog call-id=\"");
    o.escaped(call.call_id(), true);
    o.raw("\" local-tag=\"");
    o.escaped(call.local_tag(), true);
    o.raw("\" remote-tag=\"");
    o.escaped(call.remote_tag(), true);
    o.raw("\"/>\n  </parked-call>\n");
  }
  o.raw("</park-info>\n");
  if (o.failed()) return Unexpected{ParkInfoError::buffer_too_small};
  return static_cast<size_t>(o.position() - out.data());
}

size_t park_info_size_max(const ExtensionParkView& extension, std::string_view retrieve_code) {
  // Fixed markup of the document and of one call, measured generously from the literals above.
  constexpr size_t document = 160;
  constexpr size_t call_markup = 400;
  const size_t key = (extension.domain().size() + extension.extension().size()) * escape_factor;
  size_t size = document + key;
  for (const ParkedCallView call : extension) {
    const size_t texts = call.parked_display().size() + call.parked_uri().size() + call.parker_display().size() +
                         call.parker_uri().size() + call.call_id().size() + call.local_tag().size() +
                         call.remote_tag().size() + call.retriever_display().size() + call.retriever_extension().size();
    size += call_markup + 2 * key + 3 * retrieve_code.size() + texts * escape_factor;
  }
  return size;
}

}  // namespace parkd::park
