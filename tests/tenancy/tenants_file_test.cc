// The tenants file (SPEC section 2, docs/tenants-file.md): every validation rule with its exact message and
// position, the defaults, the credentials, the lookups, the demo file, and a file of a million extensions.
#include "tenancy/tenants_file.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <string>

namespace parkd::tenancy {
namespace {

// --- helpers

std::string hex(const uint8_t* data, size_t size) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < size; ++i) {
    out += digits[data[i] >> 4];
    out += digits[data[i] & 0xF];
  }
  return out;
}

// A digest computed independently of the loader: OpenSSL's one-shot EVP_Digest over the whole string.
std::string digest_hex(const char* algorithm, std::string_view text) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  const EVP_MD* md = std::string_view(algorithm) == "MD5" ? EVP_md5() : EVP_sha256();
  EXPECT_EQ(EVP_Digest(text.data(), text.size(), out, &length, md, nullptr), 1);
  return hex(out, length);
}

TenantsConfigPtr parse_ok(std::string_view json, const LoadOptions& options = {}) {
  auto result = parse_tenants(json, "t.json", options);
  EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().to_string());
  return result.ok() ? std::move(result).value() : nullptr;
}

std::string error_of(std::string_view json) {
  auto result = parse_tenants(json, "t.json");
  if (result.ok()) return "(loaded)";
  return result.error().to_string();
}

// Line 1 opens a tenant, line 2 is the extension under test, line 3 closes: errors are on line 2.
std::string extension_error(std::string_view extension) {
  return error_of(R"({"tenants": [{"name": "acme", "domain": "acme.example.com", "extensions": [)"
                  "\n" +
                  std::string(extension) + "\n]}]}");
}

// Line 1 opens the file, line 2 is the tenant under test, line 3 closes: errors are on line 2.
std::string tenant_error(std::string_view tenant) {
  return error_of("{\"tenants\": [\n" + std::string(tenant) + "\n]}");
}

// --- the demo file

TEST(DemoTenants, IsValidAndHasTwoTenantsOfSevenExtensions) {
  auto config = parse_ok(demo_tenants_json(), {.keep_passwords = true});
  ASSERT_TRUE(config);
  EXPECT_EQ(config->tenant_count(), 2u);
  EXPECT_EQ(config->extension_count(), 7u);
  auto acme = config->find_tenant("acme.example.com");
  ASSERT_TRUE(acme);
  EXPECT_EQ(acme->name(), "acme");
  EXPECT_EQ(acme->extension_count(), 4u);
  EXPECT_EQ(acme->park_code(), "*68");
  EXPECT_EQ(acme->retrieve_code(), "*88");
  auto alice = acme->find_extension("101");
  ASSERT_TRUE(alice);
  EXPECT_EQ(alice->display_name(), "Alice");
  EXPECT_EQ(alice->password(), "acme101-secret");
  auto globex = config->find_tenant("globex.example.com");
  ASSERT_TRUE(globex);
  EXPECT_EQ(globex->extension_count(), 3u);
  EXPECT_EQ(globex->park_code(), "*70");
  EXPECT_EQ(globex->retrieve_code(), "*71");
  // acme's 101 and globex's 101 are different people.
  EXPECT_NE(globex->find_extension("101")->display_name(), "Alice");
  EXPECT_EQ(globex->find_extension("104"), std::nullopt);
}

TEST(DemoTenants, PasswordsAreNotKeptUnlessAsked) {
  auto config = parse_ok(demo_tenants_json());
  ASSERT_TRUE(config);
  EXPECT_EQ(config->extension(0).password(), "");
}

// --- values, defaults, credentials

constexpr std::string_view two_tenants = R"({
  "tenants": [
    { "name": "acme", "domain": "acme.example.com",
      "extensions": [
        { "number": "101", "password": "alice-secret", "display_name": "Alice" },
        { "number": "102", "ha1": "0123456789ABCDEF0123456789abcdef" }
      ] },
    { "name": "globex", "domain": "Globex.Example.COM",
      "feature_codes": { "park": "*70" },
      "park": { "recall_after_s": 90, "max_park_s": 120 },
      "extensions": [ { "number": "101", "password": "other-secret", "display_name": "Zoë Ünïcode" } ] }
  ]
})";

TEST(TenantsFile, AppliesDefaults) {
  auto config = parse_ok(two_tenants);
  ASSERT_TRUE(config);
  auto acme = config->tenant(0);
  EXPECT_EQ(acme.park_code(), "*68");
  EXPECT_EQ(acme.retrieve_code(), "*88");
  EXPECT_EQ(acme.park().recall_after_s, 45u);
  EXPECT_EQ(acme.park().recall_ring_s, 30u);
  EXPECT_EQ(acme.park().max_parked_per_extension, 4u);
  EXPECT_EQ(acme.park().max_park_s, 600u);
  EXPECT_EQ(acme.extension(1).display_name(), "");
  // Given values replace only themselves.
  auto globex = config->tenant(1);
  EXPECT_EQ(globex.park_code(), "*70");
  EXPECT_EQ(globex.retrieve_code(), "*88");
  EXPECT_EQ(globex.park().recall_after_s, 90u);
  EXPECT_EQ(globex.park().recall_ring_s, 30u);
  EXPECT_EQ(globex.park().max_park_s, 120u);
  EXPECT_EQ(globex.extension(0).display_name(), "Zoë Ünïcode");
}

TEST(TenantsFile, DigestTestVectorOfRfc2617) {
  // The hashing helper of these tests against the published vector.
  EXPECT_EQ(digest_hex("MD5", "Mufasa:testrealm@host.com:Circle Of Life"), "939e7578ed9e3c518a452acee763bce9");
}

TEST(TenantsFile, PasswordGivesMd5AndSha256Ha1) {
  auto config = parse_ok(two_tenants);
  ASSERT_TRUE(config);
  auto alice = config->tenant(0).extension(0);
  EXPECT_TRUE(alice.can_md5());
  EXPECT_TRUE(alice.can_sha256());
  EXPECT_EQ(hex(alice.ha1_md5().data(), 16), digest_hex("MD5", "101:acme.example.com:alice-secret"));
  EXPECT_EQ(hex(alice.ha1_sha256().data(), 32), digest_hex("SHA256", "101:acme.example.com:alice-secret"));
}

TEST(TenantsFile, RealmIsTheDomainAsWritten) {
  auto config = parse_ok(two_tenants);
  ASSERT_TRUE(config);
  auto globex = config->tenant(1);
  EXPECT_EQ(globex.domain(), "Globex.Example.COM");
  EXPECT_EQ(hex(globex.extension(0).ha1_md5().data(), 16), digest_hex("MD5", "101:Globex.Example.COM:other-secret"));
}

TEST(TenantsFile, Ha1GivesMd5Only) {
  auto config = parse_ok(two_tenants);
  ASSERT_TRUE(config);
  auto bob = config->tenant(0).extension(1);
  EXPECT_TRUE(bob.can_md5());
  EXPECT_FALSE(bob.can_sha256());
  EXPECT_EQ(hex(bob.ha1_md5().data(), 16), "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(hex(bob.ha1_sha256().data(), 32), std::string(64, '0'));
}

TEST(TenantsFile, ExtensionsBeforeDomainAreHashedWithTheDomain) {
  auto config = parse_ok(R"({"tenants": [{"extensions": [{"password": "pw", "number": "7"}],
                                          "domain": "late.example.com", "name": "late"}]})");
  ASSERT_TRUE(config);
  auto extension = config->tenant(0).extension(0);
  EXPECT_EQ(hex(extension.ha1_md5().data(), 16), digest_hex("MD5", "7:late.example.com:pw"));
  EXPECT_EQ(hex(extension.ha1_sha256().data(), 32), digest_hex("SHA256", "7:late.example.com:pw"));
}

TEST(TenantsFile, SameNumberInTwoTenantsIsTwoExtensions) {
  auto config = parse_ok(two_tenants);
  ASSERT_TRUE(config);
  auto acme_101 = config->find_extension(0, "101");
  auto globex_101 = config->find_extension(1, "101");
  ASSERT_TRUE(acme_101);
  ASSERT_TRUE(globex_101);
  EXPECT_NE(acme_101->index(), globex_101->index());
  EXPECT_EQ(acme_101->tenant_index(), 0u);
  EXPECT_EQ(globex_101->tenant_index(), 1u);
  EXPECT_EQ(config->find_extension(1, "102"), std::nullopt);
  EXPECT_EQ(config->find_extension(0, "10"), std::nullopt);
}

TEST(TenantsFile, DomainLookupIgnoresCase) {
  auto config = parse_ok(two_tenants);
  ASSERT_TRUE(config);
  for (std::string_view domain : {"globex.example.com", "GLOBEX.EXAMPLE.COM", "Globex.Example.COM"}) {
    auto tenant = config->find_tenant(domain);
    ASSERT_TRUE(tenant) << domain;
    EXPECT_EQ(tenant->name(), "globex");
  }
  EXPECT_EQ(config->find_tenant("ACME.example.com")->name(), "acme");
  EXPECT_EQ(config->find_tenant("example.com"), std::nullopt);
  EXPECT_EQ(config->find_tenant(""), std::nullopt);
  EXPECT_EQ(config->find_tenant(std::string(300, 'a')), std::nullopt);
}

TEST(TenantsFile, EmptyTenantListIsValid) {
  auto config = parse_ok(R"({"tenants": []})");
  ASSERT_TRUE(config);
  EXPECT_EQ(config->tenant_count(), 0u);
}

TEST(TenantsFile, EscapedKeysAndValuesAreUnescaped) {
  auto config = parse_ok(R"({"tenants": [{"n\u0061me": "a\"b", "domain": "x.example", "extensions": [
                              {"number": "1", "password": "p", "display_name": "\u00e9\ud83d\ude00"}]}]})");
  ASSERT_TRUE(config);
  EXPECT_EQ(config->tenant(0).name(), "a\"b");
  EXPECT_EQ(config->extension(0).display_name(), "\xc3\xa9\xf0\x9f\x98\x80");
}

// --- structure

TEST(TenantsFileErrors, TopLevel) {
  EXPECT_EQ(error_of("[]"), "t.json:1:1: expected an object at the top level");
  EXPECT_EQ(error_of("  42"), "t.json:1:3: expected an object at the top level");
  EXPECT_EQ(error_of("{}"), "t.json:1:1: missing 'tenants' at the top level");
  EXPECT_EQ(error_of(R"({"tenants": [], "tenant": []})"), "t.json:1:17: unknown key 'tenant' at the top level");
  EXPECT_EQ(error_of(R"({"tenants": [], "tenants": []})"), "t.json:1:17: duplicate key 'tenants' at the top level");
  EXPECT_EQ(error_of(R"({"tenants": {}})"), "t.json:1:13: expected an array for 'tenants'");
  EXPECT_EQ(error_of(R"({"tenants": [1]})"), "t.json:1:14: expected an object in 'tenants'");
}

TEST(TenantsFileErrors, TenantKeys) {
  EXPECT_EQ(tenant_error(R"({"name": "a", "domain": "a.example", "extensions": [], "parking": {}})"),
            "t.json:2:56: unknown key 'parking' in tenant");
  EXPECT_EQ(tenant_error(R"({"name": "a", "name": "b", "domain": "a.example", "extensions": []})"),
            "t.json:2:15: duplicate key 'name' in tenant");
  EXPECT_EQ(tenant_error(R"({"domain": "a.example", "extensions": []})"), "t.json:2:1: missing 'name' in tenant");
  EXPECT_EQ(tenant_error(R"({"name": "a", "extensions": []})"), "t.json:2:1: missing 'domain' in tenant");
  EXPECT_EQ(tenant_error(R"({"name": "a", "domain": "a.example"})"), "t.json:2:1: missing 'extensions' in tenant");
  EXPECT_EQ(tenant_error(R"({"name": "a", "domain": "a.example", "extensions": {}})"),
            "t.json:2:52: expected an array for 'extensions'");
  EXPECT_EQ(tenant_error(R"({"name": "a", "domain": "a.example", "extensions": ["101"]})"),
            "t.json:2:53: expected an object in 'extensions'");
}

TEST(TenantsFileErrors, Name) {
  EXPECT_EQ(tenant_error(R"({"name": "", "domain": "a.example", "extensions": []})"),
            "t.json:2:10: 'name' must not be empty");
  EXPECT_EQ(tenant_error(R"({"name": 7, "domain": "a.example", "extensions": []})"),
            "t.json:2:10: expected a string for 'name'");
  EXPECT_EQ(tenant_error(R"({"name": null, "domain": "a.example", "extensions": []})"),
            "t.json:2:10: expected a string for 'name'");
  EXPECT_EQ(tenant_error(R"({"name": "a\nb", "domain": "a.example", "extensions": []})"),
            "t.json:2:10: 'name' must not contain control characters");
  EXPECT_EQ(tenant_error(R"({"name": ")" + std::string(129, 'n') + R"(", "domain": "a.example", "extensions": []})"),
            "t.json:2:10: 'name' must be at most 128 bytes");
}

TEST(TenantsFileErrors, Domain) {
  const std::string suffix = R"(", "extensions": []})";
  auto domain_error = [&](std::string_view domain) {
    return tenant_error(R"({"name": "a", "domain": ")" + std::string(domain) + suffix);
  };
  EXPECT_EQ(domain_error("acme example.com"),
            "t.json:2:25: 'acme example.com' is not a valid domain (a host name: letters, digits, '-' and '.')");
  for (std::string_view bad : {"", ".acme.com", "acme.com.", "acme..com", "-acme.com", "acme-.com", "acme_x.com",
                               "acme.com:5060", "[::1]", "ac\\u00e9me.com"}) {
    EXPECT_NE(domain_error(bad).find("is not a valid domain"), std::string::npos) << bad;
  }
  EXPECT_NE(domain_error(std::string(64, 'a') + ".com").find("is not a valid domain"), std::string::npos);
  std::string longest = std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') + "." +
                        std::string(61, 'd');  // 253 characters
  EXPECT_EQ(domain_error(longest), "(loaded)");
  EXPECT_NE(domain_error(longest + "d").find("is not a valid domain"), std::string::npos);
  for (std::string_view good : {"a", "192.0.2.1", "xn--bcher-kva.example", "A-1.example.COM"}) {
    EXPECT_EQ(domain_error(good), "(loaded)") << good;
  }
}

TEST(TenantsFileErrors, DuplicateDomainIgnoresCase) {
  EXPECT_EQ(error_of(R"({"tenants": [
{"name": "acme", "domain": "acme.example.com", "extensions": []},
{"name": "acme2", "domain": "ACME.Example.com", "extensions": []}
]})"),
            "t.json:3:29: domain 'ACME.Example.com' is already used by tenant 'acme'");
}

TEST(TenantsFileErrors, FeatureCodes) {
  auto codes_error = [](std::string_view codes) {
    return tenant_error(R"({"name": "a", "domain": "a.example", "feature_codes": )" + std::string(codes) +
                        R"(, "extensions": []})");
  };
  // The object starts at column 55 of line 2.
  EXPECT_EQ(codes_error(R"({"park": "*6a"})"),
            "t.json:2:64: feature code '*6a' is not valid (1 to 8 of 0-9 * #, starting with * or a digit)");
  EXPECT_EQ(codes_error(R"({"park": ""})"),
            "t.json:2:64: feature code '' is not valid (1 to 8 of 0-9 * #, starting with * or a digit)");
  EXPECT_EQ(codes_error(R"({"park": "#68"})"),
            "t.json:2:64: feature code '#68' is not valid (1 to 8 of 0-9 * #, starting with * or a digit)");
  EXPECT_EQ(codes_error(R"({"park": "*12345678"})"),
            "t.json:2:64: feature code '*12345678' is not valid (1 to 8 of 0-9 * #, starting with * or a digit)");
  EXPECT_EQ(codes_error(R"({"park": "*1234567"})"), "(loaded)");
  EXPECT_EQ(codes_error(R"({"park": "9#", "retrieve": "*9*"})"), "(loaded)");
  EXPECT_EQ(codes_error(R"({"park": 68})"), "t.json:2:64: expected a string for 'park'");
  EXPECT_EQ(codes_error(R"({"park": "*7", "retrieve": "*7"})"),
            "t.json:2:82: park and retrieve feature codes are both '*7'");
  EXPECT_EQ(codes_error(R"({"retrieve": "*7", "park": "*7"})"),
            "t.json:2:82: park and retrieve feature codes are both '*7'");
  EXPECT_EQ(codes_error(R"({"park": "*7", "retrieve": "*70"})"),
            "t.json:2:82: park code '*7' is a prefix of retrieve code '*70'");
  // Against a default: park "*8" is a prefix of the default retrieve code "*88".
  EXPECT_EQ(codes_error(R"({"park": "*8"})"), "t.json:2:64: park code '*8' is a prefix of retrieve code '*88'");
  EXPECT_EQ(codes_error(R"({"retrieve": "*6"})"), "t.json:2:68: retrieve code '*6' is a prefix of park code '*68'");
  EXPECT_EQ(codes_error(R"({"park": "*70", "pickup": "*8"})"), "t.json:2:71: unknown key 'pickup' in 'feature_codes'");
  EXPECT_EQ(codes_error(R"({"park": "*70", "park": "*71"})"), "t.json:2:71: duplicate key 'park' in 'feature_codes'");
  EXPECT_EQ(codes_error(R"(["*70"])"), "t.json:2:55: expected an object for 'feature_codes'");
}

TEST(TenantsFileErrors, Park) {
  auto park_error = [](std::string_view park) {
    return tenant_error(R"({"name": "a", "domain": "a.example", "park": )" + std::string(park) +
                        R"(, "extensions": []})");
  };
  // The object starts at column 46 of line 2; a first value at column 65.
  EXPECT_EQ(park_error(R"({"recall_after_s": 0})"), "t.json:2:65: 'recall_after_s' must be an integer from 1 to 86400");
  EXPECT_EQ(park_error(R"({"recall_after_s": 86401})"),
            "t.json:2:65: 'recall_after_s' must be an integer from 1 to 86400");
  EXPECT_EQ(park_error(R"({"recall_after_s": -5})"),
            "t.json:2:65: 'recall_after_s' must be an integer from 1 to 86400");
  EXPECT_EQ(park_error(R"({"recall_after_s": 18446744073709551615})"),
            "t.json:2:65: 'recall_after_s' must be an integer from 1 to 86400");
  EXPECT_EQ(park_error(R"({"recall_after_s": 45.0})"), "t.json:2:65: expected an integer for 'recall_after_s'");
  EXPECT_EQ(park_error(R"({"recall_after_s": 4e1})"), "t.json:2:65: expected an integer for 'recall_after_s'");
  EXPECT_EQ(park_error(R"({"recall_after_s": "45"})"), "t.json:2:65: expected an integer for 'recall_after_s'");
  EXPECT_EQ(park_error(R"({"recall_ring_s": 601})"), "t.json:2:64: 'recall_ring_s' must be an integer from 1 to 600");
  EXPECT_EQ(park_error(R"({"recall_ring_s": 600, "max_parked_per_extension": 100})"), "(loaded)");
  EXPECT_EQ(park_error(R"({"max_parked_per_extension": 101})"),
            "t.json:2:75: 'max_parked_per_extension' must be an integer from 1 to 100");
  EXPECT_EQ(park_error(R"({"max_park_s": 86401})"), "t.json:2:61: 'max_park_s' must be an integer from 1 to 86400");
  // max_park_s must be at least recall_after_s: pointed at max_park_s when given, else at recall_after_s.
  EXPECT_EQ(park_error(R"({"max_park_s": 30})"),
            "t.json:2:61: 'max_park_s' (30) must be at least 'recall_after_s' (45)");
  EXPECT_EQ(park_error(R"({"recall_after_s": 700})"),
            "t.json:2:65: 'max_park_s' (600) must be at least 'recall_after_s' (700)");
  EXPECT_EQ(park_error(R"({"recall_after_s": 60, "max_park_s": 60})"), "(loaded)");
  EXPECT_EQ(park_error(R"({"recall_after": 60})"), "t.json:2:47: unknown key 'recall_after' in 'park'");
  EXPECT_EQ(park_error(R"({"max_park_s": 60, "max_park_s": 60})"), "t.json:2:65: duplicate key 'max_park_s' in 'park'");
  EXPECT_EQ(park_error("45"), "t.json:2:46: expected an object for 'park'");
}

TEST(TenantsFileErrors, ExtensionKeys) {
  EXPECT_EQ(extension_error(R"({"number": "101", "pasword": "x"})"), "t.json:2:19: unknown key 'pasword' in extension");
  EXPECT_EQ(extension_error(R"({"number": "101", "number": "102", "password": "x"})"),
            "t.json:2:19: duplicate key 'number' in extension");
  EXPECT_EQ(extension_error(R"({"password": "x"})"), "t.json:2:1: missing 'number' in extension");
  EXPECT_EQ(extension_error(R"({"number": "101"})"), "t.json:2:1: extension needs 'password' or 'ha1'");
  EXPECT_EQ(extension_error(R"({"number": "101", "display_name": "A"})"),
            "t.json:2:1: extension needs 'password' or 'ha1'");
  EXPECT_EQ(extension_error(R"({"number": "101", "password": "x", "ha1": "0123456789abcdef0123456789abcdef"})"),
            "t.json:2:36: extension has both 'password' and 'ha1': give one");
  EXPECT_EQ(extension_error(R"({"ha1": "0123456789abcdef0123456789abcdef", "password": "x", "number": "101"})"),
            "t.json:2:45: extension has both 'password' and 'ha1': give one");
}

TEST(TenantsFileErrors, ExtensionNumber) {
  EXPECT_EQ(extension_error(R"({"number": 101, "password": "x"})"), "t.json:2:12: expected a string for 'number'");
  EXPECT_EQ(extension_error(R"({"number": "", "password": "x"})"),
            "t.json:2:12: extension number '' is not 1 to 32 digits");
  EXPECT_EQ(extension_error(R"({"number": "10a", "password": "x"})"),
            "t.json:2:12: extension number '10a' is not 1 to 32 digits");
  EXPECT_EQ(extension_error(R"({"number": "+101", "password": "x"})"),
            "t.json:2:12: extension number '+101' is not 1 to 32 digits");
  EXPECT_EQ(extension_error(R"({"number": ")" + std::string(32, '9') + R"(", "password": "x"})"), "(loaded)");
  EXPECT_EQ(extension_error(R"({"number": ")" + std::string(33, '9') + R"(", "password": "x"})"),
            "t.json:2:12: extension number '" + std::string(33, '9') + "' is not 1 to 32 digits");
  EXPECT_EQ(error_of(R"({"tenants": [{"name": "acme", "domain": "acme.example.com", "extensions": [
{"number": "101", "password": "x"},
{"number": "101", "password": "y"}
]}]})"),
            "t.json:3:12: duplicate extension number '101' in this tenant");
}

TEST(TenantsFileErrors, ExtensionCredentials) {
  EXPECT_EQ(extension_error(R"({"number": "1", "password": ""})"), "t.json:2:29: 'password' must be 1 to 128 bytes");
  EXPECT_EQ(extension_error(R"({"number": "1", "password": ")" + std::string(129, 'p') + R"("})"),
            "t.json:2:29: 'password' must be 1 to 128 bytes");
  EXPECT_EQ(extension_error(R"({"number": "1", "password": ")" + std::string(128, 'p') + R"("})"), "(loaded)");
  EXPECT_EQ(extension_error(R"({"number": "1", "password": true})"), "t.json:2:29: expected a string for 'password'");
  EXPECT_EQ(extension_error(R"({"number": "1", "ha1": "0123456789abcdef0123456789abcde"})"),
            "t.json:2:24: 'ha1' must be 32 hex digits (MD5 of number:domain:password)");
  EXPECT_EQ(extension_error(R"({"number": "1", "ha1": "0123456789abcdef0123456789abcdeg"})"),
            "t.json:2:24: 'ha1' must be 32 hex digits (MD5 of number:domain:password)");
  EXPECT_EQ(extension_error(R"({"number": "1", "ha1": "0123456789abcdef0123456789abcdef0"})"),
            "t.json:2:24: 'ha1' must be 32 hex digits (MD5 of number:domain:password)");
}

TEST(TenantsFileErrors, DisplayName) {
  EXPECT_EQ(extension_error(R"({"number": "1", "password": "x", "display_name": ")" + std::string(128, 'd') + R"("})"),
            "(loaded)");
  EXPECT_EQ(extension_error(R"({"number": "1", "password": "x", "display_name": ")" + std::string(129, 'd') + R"("})"),
            "t.json:2:50: 'display_name' must be at most 128 bytes");
  EXPECT_EQ(extension_error(R"({"number": "1", "password": "x", "display_name": "A\r\nVia: evil"})"),
            "t.json:2:50: 'display_name' must not contain control characters");
  EXPECT_EQ(extension_error(R"({"number": "1", "password": "x", "display_name": ["A"]})"),
            "t.json:2:50: expected a string for 'display_name'");
}

TEST(TenantsFileErrors, ColumnsCountCharactersNotBytes) {
  // "Zoë" has one two-byte character: the unknown key after it is at character 40, byte 41.
  EXPECT_EQ(extension_error(R"({"number": "1", "display_name": "Zoë", "pass": "x"})"),
            "t.json:2:40: unknown key 'pass' in extension");
}

TEST(TenantsFileErrors, TextFromTheFileIsEscapedAndCut) {
  EXPECT_EQ(extension_error(R"({"number": "1", "\u001b[31mred": "x"})"),
            "t.json:2:17: unknown key '\\x1b[31mred' in extension");
  EXPECT_EQ(extension_error(R"({"number": "1", ")" + std::string(100, 'k') + R"(": "x"})"),
            "t.json:2:17: unknown key '" + std::string(64, 'k') + "...' in extension");
}

// --- syntax

TEST(TenantsFileSyntax, TruncatedJson) {
  std::string error = error_of(R"({"tenants": [{"name": "acme", "domain": "acme.example.com", "extensions": [)");
  // The position is the end of the input.
  EXPECT_EQ(error, "t.json:1:76: unexpected end of file: an array or object is not closed");
  EXPECT_EQ(error_of("{\"tenants\": [\n"), "t.json:2:1: unexpected end of file: an array or object is not closed");
  EXPECT_EQ(error_of(R"({"tenants": [{"name": )"),
            "t.json:1:23: unexpected end of file: an array or object is not closed");
}

TEST(TenantsFileSyntax, Errors) {
  EXPECT_EQ(error_of(R"({"tenants": [],})"),
            "t.json:1:16: invalid JSON (a missing or extra ',', ':', bracket or brace)");
  EXPECT_EQ(error_of(R"({"tenants" []})"), "t.json:1:12: invalid JSON (a missing or extra ',', ':', bracket or brace)");
  EXPECT_EQ(error_of("{\"tenants\": [\n{\"name\": \"a\" \"domain\": \"b\"}]}"),
            "t.json:2:14: invalid JSON (a missing or extra ',', ':', bracket or brace)");
  EXPECT_EQ(error_of(R"({"tenants": []} {})"), "t.json:1:17: unexpected content after the top-level object");
  EXPECT_EQ(error_of("{\"tenants\": [\n{\"name\": \"acme}]}"), "t.json:2:10: string is not closed");
  EXPECT_EQ(error_of("{\"tenants\": [\n{\"name\": \"a\tb\"}]}"),
            "t.json:2:12: control character in a string (write it as an escape)");
  EXPECT_EQ(error_of("{\"tenants\": [\n{\"name\": \"a\xff\"}]}"), "t.json: byte 25: invalid UTF-8");
  EXPECT_EQ(error_of(R"({"tenants": [{"name": "a\q"}]})"), "t.json:1:23: invalid escape in a string");
  EXPECT_EQ(error_of(R"({"tenants": [{"name": "a", "park": {"recall_after_s": 01}}]})"), "t.json:1:55: invalid number");
  EXPECT_EQ(error_of(R"({"tenants": [{"name": nul}]})"),
            "t.json:1:23: invalid literal (the bare words are true, false and null)");
  EXPECT_EQ(error_of(R"({"tenants": [{"name": tru}]})"),
            "t.json:1:23: invalid literal (the bare words are true, false and null)");
  EXPECT_EQ(error_of(R"({"tenants": [{"name": -x}]})"), "t.json:1:23: invalid number");
}

TEST(TenantsFileSyntax, EmptyInput) {
  EXPECT_EQ(error_of(""), "t.json: file is empty");
  EXPECT_EQ(error_of(" \n\t "), "t.json: file is empty");
}

TEST(TenantsFileSyntax, EveryPrefixOfTheDemoFileIsRefusedWithoutCrashing) {
  std::string_view demo = demo_tenants_json();
  size_t end = demo.find_last_of('}');
  for (size_t length = 0; length < end; ++length) {
    auto result = parse_tenants(demo.substr(0, length), "demo");
    EXPECT_FALSE(result.ok()) << length;
  }
}

TEST(TenantsFileSyntax, EveryByteFlipOfTheDemoFileIsHandled) {
  // Not a fuzzer, but every single-byte change must load or be refused: no crash, no exception.
  std::string demo(demo_tenants_json());
  for (size_t i = 0; i < demo.size(); ++i) {
    for (char replacement : {'\0', '"', '{', ']', ',', '\\', '\x80', '9'}) {
      std::string mutated = demo;
      mutated[i] = replacement;
      auto result = parse_tenants(mutated, "demo");
      if (!result.ok()) {
        EXPECT_FALSE(result.error().reason.empty());
      }
    }
  }
}

// --- files

class TempDir {
 public:
  TempDir() {
    std::string pattern = ::testing::TempDir() + "parkd-tenants-XXXXXX";
    path_ = mkdtemp(pattern.data()) != nullptr ? pattern : "";
  }
  ~TempDir() {
    if (!path_.empty()) std::system(("rm -rf '" + path_ + "'").c_str());  // NOLINT(cert-env33-c)
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string write(const std::string& name, std::string_view content) const {
    std::string file = path_ + "/" + name;
    std::ofstream(file, std::ios::binary) << content;
    return file;
  }

 private:
  std::string path_;
};

TEST(TenantsFileLoad, FileThatDoesNotExist) {
  auto result = load_tenants_file("/nonexistent/tenants.json");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().to_string(), "/nonexistent/tenants.json: cannot open: No such file or directory");
}

TEST(TenantsFileLoad, EmptyFile) {
  TempDir dir;
  std::string file = dir.write("empty.json", "");
  auto result = load_tenants_file(file);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().to_string(), file + ": file is empty");
}

TEST(TenantsFileLoad, Directory) {
  TempDir dir;
  auto result = load_tenants_file(dir.path());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().to_string(), dir.path() + ": not a regular file");
}

TEST(TenantsFileLoad, ErrorNamesTheFile) {
  TempDir dir;
  std::string file = dir.write("bad.json", "{\"tenants\": [\n  {\"nam\": \"x\"}\n]}\n");
  auto result = load_tenants_file(file);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().to_string(), file + ":2:4: unknown key 'nam' in tenant");
}

void append(std::string& out, std::initializer_list<std::string_view> parts) {
  for (std::string_view part : parts) out += part;
}

TEST(TenantsFileLoad, TenThousandTenantsOfOneHundredExtensions) {
  constexpr int tenants = 10'000;
  constexpr int extensions_per_tenant = 100;
  std::string json = "{\"tenants\": [\n";
  json.reserve(110'000'000);
  for (int t = 0; t < tenants; ++t) {
    std::string tenant = std::to_string(t);
    append(json,
           {"{\"name\": \"tenant ", tenant, "\", \"domain\": \"t", tenant, ".example.com\", \"extensions\": [\n"});
    for (int e = 0; e < extensions_per_tenant; ++e) {
      std::string number = std::to_string(1000 + e);
      append(json, {"  {\"number\": \"", number, "\", \"password\": \"secret-", tenant, "-", number,
                    "\", \"display_name\": \"User ", number, " of ", tenant, "\"}"});
      json += e + 1 < extensions_per_tenant ? ",\n" : "\n";
    }
    json += t + 1 < tenants ? "]},\n" : "]}\n";
  }
  json += "]}\n";
  TempDir dir;
  std::string file = dir.write("big.json", json);

  // Wall time and this process's CPU time: on a busy machine the two differ a lot.
  auto start = std::chrono::steady_clock::now();
  std::clock_t cpu_start = std::clock();
  auto result = load_tenants_file(file);
  std::clock_t cpu_end = std::clock();
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(result.ok()) << result.error().to_string();
  const TenantsConfig& config = **result;
  EXPECT_EQ(config.tenant_count(), static_cast<size_t>(tenants));
  EXPECT_EQ(config.extension_count(), static_cast<size_t>(tenants) * extensions_per_tenant);
  std::cout << "loaded " << config.tenant_count() << " tenants, " << config.extension_count() << " extensions ("
            << json.size() / 1'000'000 << " MB of JSON) in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count() << " ms ("
            << (cpu_end - cpu_start) * 1000 / CLOCKS_PER_SEC << " ms of CPU); "
            << config.memory_bytes() / config.extension_count() << " bytes per extension in memory\n";

  auto tenant = config.find_tenant("T9999.EXAMPLE.com");
  ASSERT_TRUE(tenant);
  EXPECT_EQ(tenant->name(), "tenant 9999");
  auto extension = tenant->find_extension("1099");
  ASSERT_TRUE(extension);
  EXPECT_EQ(extension->display_name(), "User 1099 of 9999");
  EXPECT_EQ(hex(extension->ha1_md5().data(), 16), digest_hex("MD5", "1099:t9999.example.com:secret-9999-1099"));
  EXPECT_EQ(tenant->find_extension("1100"), std::nullopt);
  EXPECT_LT(config.memory_bytes() / config.extension_count(), 120u);
}

}  // namespace
}  // namespace parkd::tenancy
