// MessageView: one parsed SIP message, as views into the bytes it was parsed from.
//
// Contract: a MessageView borrows its input. Every std::string_view in it points into the buffer given to
// parse_message() and dangles once that buffer is reused; copy what must outlive it. Parsing fills the view
// without allocating: the arrays below are fixed, and a message that needs more entries than they hold is
// refused with a precise error (too_many_headers, too_many_vias, ...).
//
// Two tiers (see docs/ARCHITECTURE.md): the headers that routing, transactions, the registrar and park need
// are indexed and their parameters parsed on every parse (the fields below); every header, indexed or not,
// is also kept in `headers` in order, so rarely used ones are found and parsed on demand.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string_view>

#include "core/endpoint.h"
#include "sip/errors.h"
#include "sip/header_id.h"

namespace parkd::sip {

inline constexpr uint32_t message_size_max = 65535;  // SPEC section 7: larger gets 513
inline constexpr uint32_t header_count_max = 128;
inline constexpr uint32_t header_line_length_max = 16384;  // one header, folded lines included
inline constexpr uint32_t via_count_max = 16;
inline constexpr uint32_t contact_count_max = 16;
inline constexpr uint32_t route_count_max = 16;

using Transport = ::parkd::Transport;

// Methods parkd knows by name; any other token is `other` and keeps its text in method_text.
enum class Method : uint8_t {
  other,
  invite,
  ack,
  bye,
  cancel,
  register_,
  options,
  info,
  update,
  prack,
  subscribe,
  notify,
  refer,
  message,
  publish,
};
std::string_view method_name(Method m);            // "INVITE"; "" for other
Method method_from_token(std::string_view token);  // case-sensitive, as RFC 3261 section 7.1 says

struct HeaderView {
  HeaderId id = HeaderId::other;
  std::string_view name;   // as written (compact or long, any case)
  std::string_view value;  // leading and trailing whitespace removed; folded lines kept as written
};

// A generic parameter list ";a=b;c;d=\"q\"" as written, without the leading ';'. See sip/params.h.
using ParamsView = std::string_view;

// via-parm = sent-protocol LWS sent-by *( SEMI via-params )
struct ViaView {
  std::string_view transport;  // "UDP", "TCP", ... (the third part of sent-protocol)
  std::string_view host;       // IPv6 without brackets
  uint16_t port = 0;           // 0: absent
  bool host_is_ipv6 = false;
  bool has_rport = false;  // ";rport" with or without a value
  std::string_view rport;  // the value, empty when ";rport" alone
  std::string_view branch;
  std::string_view received;
  std::string_view maddr;
  std::string_view ttl;
  ParamsView params;     // every parameter as written
  std::string_view raw;  // the whole via-parm
};

// name-addr / addr-spec, as in From, To, Contact, Route, Refer-To.
struct NameAddrView {
  std::string_view display_name;  // quoted: the text between the quotes, escapes kept (see unquote());
                                  // token form: the tokens as written; empty when absent
  bool display_name_quoted = false;
  std::string_view uri;  // without the angle brackets
  ParamsView params;     // header parameters after the URI (tag, expires, q, ...)
  std::string_view tag;  // From/To only
  std::string_view raw;
};

struct ContactView {
  NameAddrView address;
  int64_t expires = -1;       // ";expires=", -1 when absent
  std::string_view q;         // as written
  std::string_view instance;  // "+sip.instance" value, with its quotes and angle brackets removed
  std::string_view reg_id;
};

struct CSeqView {
  uint32_t number = 0;
  Method method = Method::other;
  std::string_view method_text;
};

// Replaces: callid *(SEMI replaces-param) (RFC 3891); also used for the ?Replaces= in a Refer-To URI, where
// the caller unescapes first.
struct ReplacesView {
  std::string_view call_id;
  std::string_view to_tag;
  std::string_view from_tag;
  bool early_only = false;
  std::string_view raw;
};

// credentials / challenge = auth-scheme LWS auth-param *(COMMA auth-param). Quoted values are given without
// their quotes (escapes kept: digest values never contain them in practice; see unquote()).
struct AuthView {
  std::string_view scheme;  // "Digest"
  std::string_view username;
  std::string_view realm;
  std::string_view nonce;
  std::string_view uri;
  std::string_view response;
  std::string_view algorithm;
  std::string_view cnonce;
  std::string_view opaque;
  std::string_view qop;
  std::string_view nc;
  std::string_view stale;
  std::string_view domain;
  std::string_view raw;
  bool present = false;
};

struct MessageView {
  // Start line.
  bool is_request = false;
  Method method = Method::other;   // requests
  std::string_view method_text;    // requests
  std::string_view request_uri;    // requests, as written
  uint16_t status_code = 0;        // responses
  std::string_view reason_phrase;  // responses

  // Every header in order.
  std::array<HeaderView, header_count_max> headers;
  uint32_t header_count = 0;

  // Indexed headers. A header that may appear once appears once (a second one is an error).
  std::array<ViaView, via_count_max> vias;  // in order: vias[0] is the topmost
  uint32_t via_count = 0;
  NameAddrView from;
  NameAddrView to;
  std::string_view call_id;
  CSeqView cseq;
  int32_t max_forwards = -1;  // -1: absent
  std::array<ContactView, contact_count_max> contacts;
  uint32_t contact_count = 0;
  bool contact_star = false;  // "Contact: *"
  int64_t expires = -1;       // Expires header, -1: absent
  bool has_content_length = false;
  uint32_t content_length = 0;
  std::string_view content_type;  // media type with parameters, as written
  std::string_view event;         // event-type with parameters (";id=")
  std::string_view subscription_state;
  NameAddrView refer_to;               // present when !refer_to.raw.empty()
  std::string_view refer_to_replaces;  // the escaped value of "?Replaces=" in the Refer-To URI, if any
  ReplacesView replaces;               // Replaces header; present when !replaces.raw.empty()
  AuthView authorization;
  AuthView proxy_authorization;
  AuthView www_authenticate;    // the first one
  AuthView proxy_authenticate;  // the first one
  // Route and Record-Route entries, each one name-addr, in order over all headers of that name.
  std::array<NameAddrView, route_count_max> routes;
  uint32_t route_count = 0;
  std::array<NameAddrView, route_count_max> record_routes;
  uint32_t record_route_count = 0;
  // Require, Supported, Proxy-Require: option-tag lists. Use has_option_tag() to query over every header.

  std::string_view body;

  // The first header with this id, or nullptr.
  const HeaderView* find(HeaderId id) const;
  // True when any header with this id lists `tag` (comma-separated, case-insensitive), e.g. Require: 100rel.
  bool has_option_tag(HeaderId id, std::string_view tag) const;
  // The first option-tag of `id` headers that is not in `supported` (a list of tags); "" when all are.
  std::string_view first_unsupported(HeaderId id, std::initializer_list<std::string_view> supported) const;
};

}  // namespace parkd::sip
