// The tenants configuration in memory (SPEC section 2): every tenant, its feature codes and park settings, and
// every extension with its digest credentials.
//
// Contract:
// - Built once by the loader (tenancy/tenants_file.h), then read-only: shards share one instance through a
//   std::shared_ptr<const TenantsConfig> and a reload swaps the pointer. It is neither copyable nor movable
//   because its hash indexes hold a pointer back to it.
// - Compact because 1,000,000 extensions per node are normal: no std::string per extension. Every string lives
//   in one arena per configuration and records refer to it by offset and length; an extension is one 64-byte
//   record in a flat vector. Lookups are hash sets of record indices that hash the arena bytes, so nothing
//   points into memory that moves (absl::flat_hash_set moves its slots on rehash; the arena moves when it grows).
// - No plaintext password is kept (except in a demo configuration, to print the demo credentials): only
//   H(A1) = MD5("number:domain:password") (RFC 2617/3261) and, when the password was given,
//   H(A1) = SHA-256("number:domain:password") (RFC 7616/8760). The realm in both is the domain as written in
//   the file. An extension given only `ha1` can use MD5 only.
// - Domains compare case-insensitively (RFC 3261 section 19.1.4); the lookup key is the lowercased domain.
#pragma once

#include <absl/base/attributes.h>
#include <absl/container/flat_hash_set.h>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace parkd::tenancy {

inline constexpr std::string_view default_park_code = "*68";
inline constexpr std::string_view default_retrieve_code = "*88";

// Limits of the tenants file (docs/tenants-file.md); the loader enforces them, the records rely on them.
inline constexpr size_t feature_code_length_max = 8;
inline constexpr size_t extension_number_length_max = 32;
inline constexpr size_t display_name_length_max = 128;  // bytes
inline constexpr size_t password_length_max = 128;      // bytes
inline constexpr size_t tenant_name_length_max = 128;   // bytes
inline constexpr size_t domain_length_max = 253;        // RFC 1035 host name

struct ParkSettings {
  uint32_t recall_after_s = 45;  // a parked call rings back the parker after this long
  uint32_t recall_ring_s = 30;   // how long the recall rings before the call goes back to park
  uint32_t max_park_s = 600;     // a parked call is dropped after this long in total
  uint32_t max_parked_per_extension = 4;
};

// A string in the arena.
struct ArenaRef {
  uint32_t offset = 0;
  uint32_t length = 0;
};

// A feature code is at most 8 characters of [0-9*#]: kept inline.
struct FeatureCode {
  std::array<char, feature_code_length_max> text{};
  uint8_t length = 0;

  std::string_view view() const ABSL_ATTRIBUTE_LIFETIME_BOUND { return {text.data(), length}; }
  static FeatureCode from(std::string_view code);  // code.size() <= feature_code_length_max
};

struct Tenant {
  ArenaRef name;
  ArenaRef domain;      // as written in the file: the digest realm
  ArenaRef domain_key;  // lowercased: the lookup key
  FeatureCode park_code;
  FeatureCode retrieve_code;
  ParkSettings park;
  uint32_t first_extension = 0;  // this tenant's extensions are [first_extension, first_extension + count)
  uint32_t extension_count = 0;
};

// Which digest algorithms an extension can answer.
enum DigestAlgorithm : uint8_t { digest_md5 = 1, digest_sha256 = 2 };

using Md5Ha1 = std::array<uint8_t, 16>;
using Sha256Ha1 = std::array<uint8_t, 32>;

// One extension. sizeof == 64 (one cache line; static_assert in tenants_config.cc): 16 + 32 bytes of H(A1),
// three 4-byte indices/offsets, two 1-byte lengths (number <= 32, display name <= 128), the algorithm flags.
struct Extension {
  Md5Ha1 ha1_md5{};
  Sha256Ha1 ha1_sha256{};  // all zero unless algorithms & digest_sha256
  uint32_t tenant = 0;
  uint32_t number_offset = 0;
  uint32_t display_name_offset = 0;
  uint8_t number_length = 0;
  uint8_t display_name_length = 0;
  uint8_t algorithms = 0;  // DigestAlgorithm bits
  uint8_t reserved = 0;
};

class TenantsConfig;

// Borrowing views: valid while the configuration lives.
class ExtensionView {
 public:
  ExtensionView(const TenantsConfig& config, uint32_t index) : config_(&config), index_(index) {}
  uint32_t index() const { return index_; }
  uint32_t tenant_index() const;
  std::string_view number() const;
  std::string_view display_name() const;
  bool can_md5() const;
  bool can_sha256() const;
  const Md5Ha1& ha1_md5() const;
  const Sha256Ha1& ha1_sha256() const;  // all zero unless can_sha256()
  // The plaintext password; empty unless the configuration was loaded with keep_passwords (the demo).
  std::string_view password() const;

 private:
  const TenantsConfig* config_;
  uint32_t index_;
};

class TenantView {
 public:
  TenantView(const TenantsConfig& config, uint32_t index) : config_(&config), index_(index) {}
  uint32_t index() const { return index_; }
  std::string_view name() const;
  std::string_view domain() const;  // as written in the file; the digest realm
  std::string_view park_code() const;
  std::string_view retrieve_code() const;
  const ParkSettings& park() const;
  uint32_t extension_count() const;
  ExtensionView extension(uint32_t i) const;  // i < extension_count(), in file order
  std::optional<ExtensionView> find_extension(std::string_view number) const;

 private:
  const TenantsConfig* config_;
  uint32_t index_;
};

class TenantsConfig {
 public:
  TenantsConfig();
  TenantsConfig(const TenantsConfig&) = delete;
  TenantsConfig& operator=(const TenantsConfig&) = delete;
  TenantsConfig(TenantsConfig&&) = delete;
  TenantsConfig& operator=(TenantsConfig&&) = delete;
  ~TenantsConfig();

  size_t tenant_count() const { return tenants_.size(); }
  size_t extension_count() const { return extensions_.size(); }
  TenantView tenant(uint32_t index) const { return {*this, index}; }
  ExtensionView extension(uint32_t index) const { return {*this, index}; }

  // Case-insensitive; no allocation.
  std::optional<TenantView> find_tenant(std::string_view domain) const;
  std::optional<ExtensionView> find_extension(uint32_t tenant, std::string_view number) const;

  // Bytes held (records, arena, indexes): for the start-up summary and memory tests.
  size_t memory_bytes() const;

  // --- Building (the loader). Each add returns false when the entry's key is taken, and adds nothing then.
  ArenaRef store(std::string_view text);
  // Starts a tenant with defaults; its extensions follow. Returns its index.
  uint32_t begin_tenant();
  Tenant& last_tenant() { return tenants_.back(); }
  // Sets the last tenant's domain; false (nothing set) when another tenant has it. `key` is lowercase.
  bool claim_domain(ArenaRef domain, ArenaRef key);
  // Adds an extension of the last tenant; false (nothing added) when its number is taken in that tenant.
  bool add_extension(const Extension& extension, std::string_view password_to_keep);
  Extension& extension_record(uint32_t index) { return extensions_[index]; }
  std::string_view text_at(uint32_t offset, uint32_t length) const { return text(offset, length); }
  void keep_passwords() { keep_passwords_ = true; }
  // Fits the vectors to their contents once loading is done.
  void finish();
  // Whether another string of `length` bytes still fits in the arena (offsets are 32-bit).
  bool arena_has_room(size_t length) const { return arena_.size() + length <= UINT32_MAX; }

 private:
  friend class TenantView;
  friend class ExtensionView;

  std::string_view text(ArenaRef ref) const { return {arena_.data() + ref.offset, ref.length}; }
  std::string_view text(uint32_t offset, uint32_t length) const { return {arena_.data() + offset, length}; }

  // Hash sets of record indices; the hasher reads the key out of the arena through the configuration, and a
  // lookup key (a string, or a tenant and a number) hashes the same way (heterogeneous lookup).
  struct DomainHash {
    using is_transparent = void;
    const TenantsConfig* config;
    size_t operator()(uint32_t tenant) const;
    size_t operator()(std::string_view lowercase_domain) const;
  };
  struct DomainEq {
    using is_transparent = void;
    const TenantsConfig* config;
    // Two indices are equal when their keys are: that is how a second tenant with a taken domain is refused.
    bool operator()(uint32_t a, uint32_t b) const;
    bool operator()(uint32_t a, std::string_view b) const;
    bool operator()(std::string_view a, uint32_t b) const { return (*this)(b, a); }
  };
  struct ExtensionKey {
    uint32_t tenant;
    std::string_view number;
  };
  struct ExtensionHash {
    using is_transparent = void;
    const TenantsConfig* config;
    size_t operator()(uint32_t extension) const;
    size_t operator()(const ExtensionKey& key) const;
  };
  struct ExtensionEq {
    using is_transparent = void;
    const TenantsConfig* config;
    bool operator()(uint32_t a, uint32_t b) const;
    bool operator()(uint32_t a, const ExtensionKey& b) const;
    bool operator()(const ExtensionKey& a, uint32_t b) const { return (*this)(b, a); }
  };

  std::string arena_;
  std::vector<Tenant> tenants_;
  std::vector<Extension> extensions_;
  std::vector<ArenaRef> passwords_;  // parallel to extensions_ only when keep_passwords_
  bool keep_passwords_ = false;
  absl::flat_hash_set<uint32_t, DomainHash, DomainEq> domains_;
  absl::flat_hash_set<uint32_t, ExtensionHash, ExtensionEq> numbers_;
};

}  // namespace parkd::tenancy
