#include "sip/header_id.h"

#include <array>
#include <cstring>

#include "sip/errors.h"
#include "sip/internal/header_id.h"
#include "sip/message.h"

namespace parkd::sip {

HeaderId header_id(std::string_view name) { return internal::find_header_id(name); }

std::string_view reason_phrase(ParseError error) {
  static constexpr std::string_view texts[] = {
#define PARKD_SIP_ERROR(id, text) text,
#include "sip/errors.def"
#undef PARKD_SIP_ERROR
  };
  auto i = static_cast<size_t>(error);
  return i < std::size(texts) ? texts[i] : "Bad Request";
}

Method method_from_token(std::string_view t) {
  switch (t.size()) {
    case 3:
      if (t == "ACK") return Method::ack;
      if (t == "BYE") return Method::bye;
      break;
    case 4:
      if (t == "INFO") return Method::info;
      break;
    case 5:
      if (t == "PRACK") return Method::prack;
      if (t == "REFER") return Method::refer;
      break;
    case 6:
      if (t == "INVITE") return Method::invite;
      if (t == "CANCEL") return Method::cancel;
      if (t == "UPDATE") return Method::update;
      if (t == "NOTIFY") return Method::notify;
      break;
    case 7:
      if (t == "OPTIONS") return Method::options;
      if (t == "MESSAGE") return Method::message;
      if (t == "PUBLISH") return Method::publish;
      break;
    case 8:
      if (t == "REGISTER") return Method::register_;
      break;
    case 9:
      if (t == "SUBSCRIBE") return Method::subscribe;
      break;
    default: break;
  }
  return Method::other;
}

}  // namespace parkd::sip
