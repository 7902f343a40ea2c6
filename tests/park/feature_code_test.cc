// Feature codes (park/feature_code.h): every form SPEC section 6 names, in Request-URIs and Refer-To values,
// per-tenant codes, the prefix rule for codes that start with a digit, domain checks and ;park-id=.
#include "park/feature_code.h"

#include <gtest/gtest.h>

#include <string>

#include "support/allocation_counter.h"
#include "tenancy/tenants_file.h"

namespace parkd::park {
namespace {

constexpr std::string_view tenants_json = R"({
  "tenants": [
    { "name": "acme", "domain": "acme.example.com",
      "extensions": [ { "number": "101", "password": "a" }, { "number": "103", "password": "a" },
                      { "number": "8103", "password": "a" } ] },
    { "name": "globex", "domain": "globex.example.com",
      "feature_codes": { "park": "*70", "retrieve": "*71#" },
      "extensions": [ { "number": "101", "password": "a" }, { "number": "103", "password": "a" } ] },
    { "name": "digits", "domain": "digits.example.com",
      "feature_codes": { "park": "6", "retrieve": "7" },
      "extensions": [ { "number": "6103", "password": "a" }, { "number": "103", "password": "a" },
                      { "number": "200", "password": "a" } ] },
    { "name": "short", "domain": "short.example.com",
      "feature_codes": { "park": "*6", "retrieve": "*9" },
      "extensions": [ { "number": "8103", "password": "a" }, { "number": "103", "password": "a" } ] }
  ]
})";

class FeatureCodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loaded = tenancy::parse_tenants(tenants_json, "t.json");
    ASSERT_TRUE(loaded.ok()) << loaded.error().to_string();
    config_ = std::move(loaded).value();
  }
  tenancy::TenantView tenant(std::string_view domain) const { return *config_->find_tenant(domain); }
  std::optional<tenancy::ExtensionView> ext(std::string_view domain, std::string_view number) const {
    return tenant(domain).find_extension(number);
  }
  // "park 103", "retrieve 101 own", "none", "error 2", with the park id when there is one.
  std::string uri(std::string_view text, std::string_view domain = "acme.example.com",
                  std::string_view own = "101") const {
    return describe(match_feature_uri(text, tenant(domain), own.empty() ? std::nullopt : ext(domain, own)));
  }
  std::string address(std::string_view text, std::string_view domain = "acme.example.com") const {
    return describe(match_feature_address(text, tenant(domain), ext(domain, "101")));
  }
  static std::string describe(const Result<FeatureMatch, FeatureCodeError>& r) {
    if (!r.ok()) return "error " + std::string(feature_code_error_text(r.error()));
    if (r->kind == FeatureKind::none) return "none";
    std::string s = r->kind == FeatureKind::park ? "park " : "retrieve ";
    s += std::string(r->target->number());
    if (r->own_extension) s += " own";
    if (r->has_park_id) s += " id=" + std::string(r->park_id.view());
    return s;
  }

  tenancy::TenantsConfigPtr config_;
};

TEST_F(FeatureCodeTest, ParkForms) {
  EXPECT_EQ(uri("sip:*68103@acme.example.com"), "park 103");
  EXPECT_EQ(uri("sip:*68@acme.example.com"), "park 101 own");
  EXPECT_EQ(uri("sip:*68#@acme.example.com"), "park 101 own");  // unescaped, as some phones send it
  EXPECT_EQ(uri("sip:*68103#@acme.example.com"), "park 103");
  EXPECT_EQ(uri("sip:*68%23@acme.example.com"), "park 101 own");
  EXPECT_EQ(uri("sip:*68103%23@acme.example.com"), "park 103");
  EXPECT_EQ(uri("sip:%2A68103@acme.example.com"), "park 103");
  EXPECT_EQ(uri("sips:*68103@acme.example.com"), "park 103");
  EXPECT_EQ(uri("sip:*68103@ACME.Example.COM;user=phone"), "park 103");
  EXPECT_EQ(uri("sip:*68103@acme.example.com:5060;transport=tcp?X-Foo=bar"), "park 103");
}

TEST_F(FeatureCodeTest, RetrieveForms) {
  EXPECT_EQ(uri("sip:*88103@acme.example.com"), "retrieve 103");
  EXPECT_EQ(uri("sip:*88@acme.example.com"), "retrieve 101 own");
  EXPECT_EQ(uri("sip:*88%23@acme.example.com"), "retrieve 101 own");
  EXPECT_EQ(uri("sip:*88#@acme.example.com;park-id=p4f2a0"), "retrieve 101 own id=p4f2a0");
  EXPECT_EQ(uri("sip:*88103@acme.example.com;park-id=p4f2a0"), "retrieve 103 id=p4f2a0");
  EXPECT_EQ(uri("sip:*88103@acme.example.com;PARK-ID=P4F2A0"), "retrieve 103 id=p4f2a0");
  EXPECT_EQ(uri("sip:*88@acme.example.com;transport=udp;park-id=pzzzz0"), "retrieve 101 own id=pzzzz0");
  EXPECT_EQ(uri("sip:*88103@acme.example.com;park-id=p4%66%32a0"), "retrieve 103 id=p4f2a0");
  // The id is only read for a retrieve.
  EXPECT_EQ(uri("sip:*68103@acme.example.com;park-id=bogus"), "park 103");
}

TEST_F(FeatureCodeTest, TheUserPartAlone) {
  const auto acme = tenant("acme.example.com");
  EXPECT_EQ(describe(match_feature_user("*68#", acme, ext("acme.example.com", "103"))), "park 103 own");
  EXPECT_EQ(describe(match_feature_user("*88103", acme, std::nullopt)), "retrieve 103");
  EXPECT_EQ(describe(match_feature_user("*6", acme, std::nullopt)), "none");
  EXPECT_EQ(describe(match_feature_user("", acme, std::nullopt)), "none");
}

TEST_F(FeatureCodeTest, BadParkIdsAreErrors) {
  for (const char* bad :
       {"sip:*88103@acme.example.com;park-id", "sip:*88103@acme.example.com;park-id=p4f2a",
        "sip:*88103@acme.example.com;park-id=p4f2a00", "sip:*88103@acme.example.com;park-id=x4f2a0",
        "sip:*88103@acme.example.com;park-id=p4f2i0", "sip:*88103@acme.example.com;park-id=p4f2a%30%30"})
    EXPECT_EQ(uri(bad), "error malformed park-id") << bad;
  // Not even a URI (an empty parameter value, a broken escape): not a feature code at all.
  EXPECT_EQ(uri("sip:*88103@acme.example.com;park-id="), "none");
  EXPECT_EQ(uri("sip:*88103@acme.example.com;park-id=p4f%2"), "none");
}

TEST_F(FeatureCodeTest, UnknownTargetsAndMissingOwnExtension) {
  EXPECT_EQ(uri("sip:*68999@acme.example.com"), "error unknown extension after feature code");
  EXPECT_EQ(uri("sip:*6810a@acme.example.com"), "error unknown extension after feature code");
  EXPECT_EQ(uri("sip:*68103%23%23@acme.example.com"), "error unknown extension after feature code");
  EXPECT_EQ(uri("sip:*68*88103@acme.example.com"), "error unknown extension after feature code");
  EXPECT_EQ(uri("sip:*68@acme.example.com", "acme.example.com", ""),
            "error feature code without extension from a non-extension");
}

TEST_F(FeatureCodeTest, NotFeatureCodes) {
  EXPECT_EQ(uri("sip:103@acme.example.com"), "none");
  EXPECT_EQ(uri("sip:*6@acme.example.com"), "none");
  EXPECT_EQ(uri("sip:68103@acme.example.com"), "none");
  EXPECT_EQ(uri("sip:acme.example.com"), "none");
  EXPECT_EQ(uri("tel:*68103"), "none");
  EXPECT_EQ(uri("mailto:*68103@acme.example.com"), "none");
  EXPECT_EQ(uri("sip:*68%2@acme.example.com"), "none");  // an escape that does not decode
  EXPECT_EQ(uri("not a uri"), "none");
  EXPECT_EQ(uri(""), "none");
  EXPECT_EQ(uri("sip:*68" + std::string(100, '1') + "@acme.example.com"), "none");
  // A raw '#' is rewritten only in a URI of bounded length, and only in the user part.
  EXPECT_EQ(uri("sip:*68#@acme.example.com;x=" + std::string(600, 'a')), "none");
  EXPECT_EQ(uri("sip:*68@acme.example.com;x=#"), "none");
}

TEST_F(FeatureCodeTest, AnotherTenantsCodesMeanNothing) {
  // globex parks with *70 and retrieves with *71#: acme's codes are not codes there, and the other way round.
  EXPECT_EQ(uri("sip:*68103@globex.example.com", "globex.example.com"), "none");
  EXPECT_EQ(uri("sip:*88103@globex.example.com", "globex.example.com"), "none");
  EXPECT_EQ(uri("sip:*70103@globex.example.com", "globex.example.com"), "park 103");
  EXPECT_EQ(uri("sip:*70@globex.example.com", "globex.example.com"), "park 101 own");
  EXPECT_EQ(uri("sip:*71%23103@globex.example.com", "globex.example.com"), "retrieve 103");
  EXPECT_EQ(uri("sip:*71%23@globex.example.com", "globex.example.com"), "retrieve 101 own");
  EXPECT_EQ(uri("sip:*71%23%23@globex.example.com", "globex.example.com"), "retrieve 101 own");
  EXPECT_EQ(uri("sip:*70103@acme.example.com"), "none");
}

TEST_F(FeatureCodeTest, ACodeForAnotherDomainNeverCrossesTheTenant) {
  // An acme phone referring to acme's code at globex's domain: neither tenant's park.
  EXPECT_EQ(uri("sip:*68103@globex.example.com"), "error feature code for another domain");
  EXPECT_EQ(uri("sip:*88103@192.0.2.1"), "error feature code for another domain");
  // Not a code at all: left to the caller (an ordinary target of another domain).
  EXPECT_EQ(uri("sip:103@globex.example.com"), "none");
}

TEST_F(FeatureCodeTest, CodesThatStartWithADigit) {
  const std::string_view d = "digits.example.com";
  // Rule 1: a configured number is a call, even though it starts with the park code "6".
  EXPECT_EQ(uri("sip:6103@digits.example.com", d, "200"), "none");
  // Rule 3: code "6", rest "103", a configured extension.
  EXPECT_EQ(uri("sip:66103@digits.example.com", d, "200"), "park 6103");
  EXPECT_EQ(uri("sip:7103@digits.example.com", d, "200"), "retrieve 103");
  EXPECT_EQ(uri("sip:6@digits.example.com", d, "200"), "park 200 own");
  EXPECT_EQ(uri("sip:7%23@digits.example.com", d, "200"), "retrieve 200 own");
  EXPECT_EQ(uri("sip:200@digits.example.com", d, "200"), "none");
  // Neither an extension nor a code followed by one.
  EXPECT_EQ(uri("sip:6999@digits.example.com", d, "200"), "error unknown extension after feature code");
  EXPECT_EQ(uri("sip:999@digits.example.com", d, "200"), "none");
}

TEST_F(FeatureCodeTest, AShortCodeBeforeANumberThatLooksLikeALongerCode) {
  // short: park "*6", extensions 8103 and 103. "*68103" is park at 8103 (not acme's "*68" + 103).
  const std::string_view s = "short.example.com";
  EXPECT_EQ(uri("sip:*68103@short.example.com", s, "103"), "park 8103");
  EXPECT_EQ(uri("sip:*6103@short.example.com", s, "103"), "park 103");
  EXPECT_EQ(uri("sip:*68@short.example.com", s, "103"), "error unknown extension after feature code");
  EXPECT_EQ(uri("sip:*9@short.example.com", s, "103"), "retrieve 103 own");
  // And acme, with "*68" and an extension 8103: "*688103" parks at 8103, "*68103" at 103.
  EXPECT_EQ(uri("sip:*688103@acme.example.com"), "park 8103");
}

TEST_F(FeatureCodeTest, ReferToValues) {
  EXPECT_EQ(address("<sip:*68103@acme.example.com>"), "park 103");
  EXPECT_EQ(address("  <sip:*68103@acme.example.com>  "), "park 103");
  EXPECT_EQ(address("sip:*68103@acme.example.com"), "park 103");
  EXPECT_EQ(address("sip:*68@acme.example.com;x=y"), "park 101 own");
  EXPECT_EQ(address("\"Park <it>\" <sip:*68%23@acme.example.com>;p=1"), "park 101 own");
  EXPECT_EQ(address("\"a \\\" quote\" <sip:*68103@acme.example.com>"), "park 103");
  EXPECT_EQ(address("Park Spot <sip:*68103@acme.example.com;user=phone?Replaces=abc%3Bto-tag%3D1>"), "park 103");
  EXPECT_EQ(address("<sip:*88103@acme.example.com;park-id=p4f2a0>"), "retrieve 103 id=p4f2a0");
  EXPECT_EQ(address("<sip:*68#@acme.example.com>"), "park 101 own");
  // The addr-spec form ends the URI at ';': a park-id there is a header parameter, not the URI's.
  EXPECT_EQ(address("sip:*88103@acme.example.com;park-id=p4f2a0"), "retrieve 103");
  EXPECT_EQ(address("<sip:*68103@globex.example.com>"), "error feature code for another domain");
  for (const char* bad : {"", "   ", "<sip:*68103@acme.example.com", "\"unterminated <sip:*68@acme.example.com>",
                          "\"x\" sip:*68@acme.example.com", "<>"})
    EXPECT_EQ(address(bad), "none") << bad;
}

TEST_F(FeatureCodeTest, AddressUri) {
  std::string_view u;
  ASSERT_TRUE(address_uri("\"A\" <sip:x@y;a=b?c=d>;tag=1", u));
  EXPECT_EQ(u, "sip:x@y;a=b?c=d");
  ASSERT_TRUE(address_uri("sip:x@y;tag=1", u));
  EXPECT_EQ(u, "sip:x@y");
  EXPECT_FALSE(address_uri("\"A\"", u));
}

TEST_F(FeatureCodeTest, MatchingAllocatesNothing) {
  const auto acme = tenant("acme.example.com");
  const auto own = ext("acme.example.com", "101");
  const uint64_t before = test::allocation_count();
  int found = 0;
  for (int i = 0; i < 100; ++i) {
    found += match_feature_uri("sip:*88103@acme.example.com;park-id=p4f2a0", acme, own).ok();
    found += match_feature_address("\"P\" <sip:*68%23@acme.example.com>", acme, own).ok();
  }
  EXPECT_EQ(test::allocation_count(), before);
  EXPECT_EQ(found, 200);
}

}  // namespace
}  // namespace parkd::park
