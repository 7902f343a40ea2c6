// Feature codes (SPEC section 6): recognising a tenant's park and retrieve codes in a Request-URI (retrieve:
// INVITE sip:*88103@acme.example.com) or a Refer-To (park: REFER with Refer-To: <sip:*68103@acme.example.com>).
//
// Forms, with the default codes *68 (park) and *88 (retrieve); each tenant may have its own (tenants file
// `feature_codes`), and another tenant's codes mean nothing here:
//   *68103   park at extension 103            *88103                  retrieve the oldest call parked at 103
//   *68      park at one's own extension      *88103;park-id=p4f2a    retrieve exactly that call
//   *68#     the same (# is "dial now")       *88, *88#               retrieve at one's own extension
//   *68%23   the same, # escaped as phones send it; any other escape (%2A68103) is decoded the same way
//   *68103#  park at 103 (a trailing # after the number is dropped too)
//
// The rule when a code could be a prefix of a number (codes may start with a digit, e.g. park "6"):
//   1. A user part that is itself a configured extension of the tenant is a call to it, never a code: a tenant's
//      numbering plan is never shadowed by a feature code (with park "6", dialling 6103 calls extension 6103).
//   2. Otherwise the longest code that is a prefix of the user part wins (the tenants file forbids one code being
//      a prefix of the other, so at most one matches; the rule is stated for completeness).
//   3. The rest, after dropping one trailing '#', must be empty (own extension) or a configured extension;
//      anything else is `unknown_extension` (the service answers 404).
// A code is recognised only in a sip: or sips: URI whose host is the tenant's domain (case-insensitive); a
// code of this tenant with another host is `other_domain`, so a park or retrieve never crosses a tenant.
//
// Contract: pure functions; no allocation, no exception, never read outside the input. The extension in a match
// is a view into the tenants configuration (valid while it lives), never into the input.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "core/result.h"
#include "park/park_id.h"
#include "tenancy/tenants_config.h"

namespace parkd::park {

enum class FeatureKind : uint8_t { none, park, retrieve };

struct FeatureMatch {
  FeatureKind kind = FeatureKind::none;          // none: not a feature code; handle the URI as an ordinary target
  bool own_extension = false;                    // the code alone (or with '#'): the target is the requester's own
  std::optional<tenancy::ExtensionView> target;  // set whenever kind != none
  bool has_park_id = false;                      // retrieve only: the URI carried ;park-id=
  ParkId park_id;
};

enum class FeatureCodeError : uint8_t {
  unknown_extension,  // a code followed by something that is no extension of the tenant: 404
  no_own_extension,   // the code alone, but the requester is not an extension of the tenant: 404
  other_domain,       // the tenant's code with a host that is not the tenant's domain: 404
  bad_park_id,        // ;park-id= whose value cannot be a park id: 404 (nothing is parked under it)
};
std::string_view feature_code_error_text(FeatureCodeError error);

// The decoded user part alone: "*68103", "*68#". `own` is the requester's extension (the referrer of a REFER,
// the caller of an INVITE), when it is one. No domain or park-id checks.
Result<FeatureMatch, FeatureCodeError> match_feature_user(std::string_view decoded_user,
                                                          const tenancy::TenantView& tenant,
                                                          std::optional<tenancy::ExtensionView> own);

// A URI without angle brackets: a Request-URI, or NameAddrView::uri of a parsed Refer-To. A URI that does not
// parse, is not sip:/sips:, has no user part or an escape that does not decode is not a feature code (none).
Result<FeatureMatch, FeatureCodeError> match_feature_uri(std::string_view uri, const tenancy::TenantView& tenant,
                                                         std::optional<tenancy::ExtensionView> own);

// A Refer-To header value, name-addr or addr-spec: `<sip:*68103@acme.example.com>`,
// `"Park" <sip:*68@acme.example.com;user=phone?X-A=b>;x=y`, `sip:*68103@acme.example.com`. In the addr-spec
// form the URI ends at the first ';' (what follows are header parameters, RFC 3261 section 20.10).
Result<FeatureMatch, FeatureCodeError> match_feature_address(std::string_view refer_to,
                                                             const tenancy::TenantView& tenant,
                                                             std::optional<tenancy::ExtensionView> own);

// The URI inside a name-addr or addr-spec (see match_feature_address); false when it is not one.
bool address_uri(std::string_view name_addr, std::string_view& uri);

}  // namespace parkd::park
