// HeaderId: every header name parkd knows, generated from sip/headers.def (the one list).
#pragma once

#include <cstdint>
#include <string_view>

namespace parkd::sip {

enum class HeaderId : uint8_t {
  other = 0,  // a header parkd does not know: kept verbatim
#define PARKD_SIP_HEADER(id, name, compact) id,
#include "sip/headers.def"
#undef PARKD_SIP_HEADER
  count_,
};

// The header's id from its name as written (long or compact form, any case). `name` must be a token (the
// parser checks that first); other for unknown names.
HeaderId header_id(std::string_view name);

// Canonical long name ("Call-ID"); "" for other.
std::string_view header_name(HeaderId id);

// Compact form ('i' for Call-ID), or 0.
char header_compact_form(HeaderId id);

}  // namespace parkd::sip
