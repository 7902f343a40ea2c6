// The park-info body (SPEC section 6, docs/park-info.md): the full state of one extension's park as
// `application/park-info+xml`, the body of the out-of-dialog NOTIFY (`Event: park-info`) that every registered
// device of the extension gets on every change.
//
//   <?xml version="1.0" encoding="UTF-8"?>
//   <park-info xmlns="urn:parkd:params:xml:ns:park-info" version="7" entity="sip:103@acme.example.com">
//     <parked-call id="p4f2a" state="parked" parked-at="2026-11-26T10:15:02Z" recall-in="45">
//       <parked display="Bob"><uri>sip:102@acme.example.com</uri></parked>
//       <parker display="Alice"><uri>sip:101@acme.example.com</uri></parker>
//       <retrieve uri="sip:*88103@acme.example.com;park-id=p4f2a"/>
//       <dialog call-id="..." local-tag="..." remote-tag="..."/>
//     </parked-call>
//   </park-info>
//
// One <parked-call> per call of the extension: live calls oldest first, then the calls that left the park since
// the last report, each once, in its final state. `recall-in` (whole seconds, rounded up) only while `parked`;
// <retrieve> only while the call can be retrieved (`parked`: a call being recalled is the parker's for the
// ring time, docs/DECISIONS.md); <retriever display><uri></retriever>
// (an extension to SPEC's example) after <parker> for a `retrieved` call whose retriever is known. `display`
// attributes are always present, empty when unknown.
//
// Contract: writes into the caller's buffer, allocates nothing, throws nothing. Text is escaped for XML 1.0
// (& < > " ' as entities; tab, CR, LF in attributes as character references); bytes that are not valid UTF-8
// and characters XML 1.0 forbids (C0 controls other than tab, CR, LF; U+FFFE, U+FFFF) become U+FFFD, so the
// body is always well-formed whatever a phone put in its display name.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "core/result.h"
#include "park/park_table.h"

namespace parkd::park {

inline constexpr std::string_view park_info_event = "park-info";
inline constexpr std::string_view park_info_content_type = "application/park-info+xml";
inline constexpr std::string_view park_info_namespace = "urn:parkd:params:xml:ns:park-info";

enum class ParkInfoError : uint8_t {
  buffer_too_small,  // the body does not fit in `out`; nothing useful was written
};

// The body for `extension` (ParkTable::extension() / find_extension()). `retrieve_code` is the tenant's
// (TenantView::retrieve_code()); `now_ms` is on the clock of ParkRequest::recall_at_ms. Returns the size written.
Result<size_t, ParkInfoError> write_park_info(const ExtensionParkView& extension, std::string_view retrieve_code,
                                              uint64_t now_ms, std::span<char> out);

// Upper bound of the body for `extension`, to size a buffer: every text escaped at its worst (6 bytes per byte).
size_t park_info_size_max(const ExtensionParkView& extension, std::string_view retrieve_code);

// "2026-11-26T10:15:02Z" for a Unix time (clamped to years 1970 to 9999); writes 20 bytes.
void write_utc_timestamp(int64_t unix_s, char (&out)[20]);

}  // namespace parkd::park
