// Parse faults as values. Each names what is wrong; its text is the reason phrase of the 400 response.
#pragma once

#include <cstdint>
#include <string_view>

namespace parkd::sip {

enum class ParseError : uint8_t {
#define PARKD_SIP_ERROR(id, text) id,
#include "sip/errors.def"
#undef PARKD_SIP_ERROR
};

// "Missing Call-ID" for ParseError::missing_call_id.
std::string_view reason_phrase(ParseError error);

}  // namespace parkd::sip
