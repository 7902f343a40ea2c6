// The reference URI parser: the straightforward one-rule-at-a-time implementation of the grammar in
// sip/uri.h. parse_uri() tries a one-pass fast path for the common sip/sips shapes first and hands every
// other input (tel, other schemes, IPv6 hosts, escapes, URI headers, and every error) to this one, so the
// reference defines what is accepted and which UriError is reported. The differential test
// (tests/sip/uri_diff_test.cc) and the URI fuzzer check that both give identical UriViews.
#pragma once

#include <string_view>

#include "sip/uri.h"

namespace parkd::sip::internal {

UriError parse_uri_reference(std::string_view text, UriView& out);

// parse_uri(text, ...) == UriError::none, without filling a UriView: the parser validates every Request-URI
// and address URI but keeps only the text.
bool uri_is_valid(std::string_view text);

}  // namespace parkd::sip::internal
