// Canonical spellings, generated from the one list (sip/headers.def) and the Method enum: the names the
// builder writes. Only header_name(), header_compact_form() and method_name() live here; the name-to-id
// lookups (header_id(), method_from_token()) belong to the parser.
#include <array>
#include <cstddef>
#include <string_view>

#include "sip/header_id.h"
#include "sip/message.h"

namespace parkd::sip {

namespace {

struct HeaderSpelling {
  std::string_view name;
  char compact;
};

constexpr std::array<HeaderSpelling, static_cast<size_t>(HeaderId::count_)> header_spellings = {{
    {"", 0},  // other
#define PARKD_SIP_HEADER(id, name, compact) {name, compact},
#include "sip/headers.def"
#undef PARKD_SIP_HEADER
}};

}  // namespace

std::string_view header_name(HeaderId id) {
  auto index = static_cast<size_t>(id);
  return index < header_spellings.size() ? header_spellings[index].name : std::string_view();
}

char header_compact_form(HeaderId id) {
  auto index = static_cast<size_t>(id);
  return index < header_spellings.size() ? header_spellings[index].compact : '\0';
}

std::string_view method_name(Method m) {
  switch (m) {
    case Method::other: return "";
    case Method::invite: return "INVITE";
    case Method::ack: return "ACK";
    case Method::bye: return "BYE";
    case Method::cancel: return "CANCEL";
    case Method::register_: return "REGISTER";
    case Method::options: return "OPTIONS";
    case Method::info: return "INFO";
    case Method::update: return "UPDATE";
    case Method::prack: return "PRACK";
    case Method::subscribe: return "SUBSCRIBE";
    case Method::notify: return "NOTIFY";
    case Method::refer: return "REFER";
    case Method::message: return "MESSAGE";
    case Method::publish: return "PUBLISH";
  }
  return "";
}

}  // namespace parkd::sip
