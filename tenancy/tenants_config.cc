#include "tenancy/tenants_config.h"

#include <absl/hash/hash.h>

#include <algorithm>
#include <cassert>
#include <cstring>
#include <utility>

namespace parkd::tenancy {

// One cache line per extension: 1,000,000 extensions are 64 MB of records.
static_assert(sizeof(Extension) == 64, "keep the extension record at 64 bytes");
static_assert(sizeof(Tenant) == 68, "a tenant record is 68 bytes");

namespace {

// Lowercases an ASCII domain into `out`; false when it is too long to be a domain at all.
bool lowercase_domain(std::string_view domain, std::array<char, domain_length_max>& out, std::string_view& view) {
  if (domain.size() > out.size()) return false;
  for (size_t i = 0; i < domain.size(); ++i) {
    char c = domain[i];
    out[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  view = {out.data(), domain.size()};
  return true;
}

}  // namespace

FeatureCode FeatureCode::from(std::string_view code) {
  assert(code.size() <= feature_code_length_max);
  FeatureCode out;
  std::memcpy(out.text.data(), code.data(), std::min(code.size(), feature_code_length_max));
  out.length = static_cast<uint8_t>(std::min(code.size(), feature_code_length_max));
  return out;
}

// --- views

uint32_t ExtensionView::tenant_index() const { return config_->extensions_[index_].tenant; }
std::string_view ExtensionView::number() const {
  const Extension& e = config_->extensions_[index_];
  return config_->text(e.number_offset, e.number_length);
}
std::string_view ExtensionView::display_name() const {
  const Extension& e = config_->extensions_[index_];
  return config_->text(e.display_name_offset, e.display_name_length);
}
bool ExtensionView::can_md5() const { return (config_->extensions_[index_].algorithms & digest_md5) != 0; }
bool ExtensionView::can_sha256() const { return (config_->extensions_[index_].algorithms & digest_sha256) != 0; }
const Md5Ha1& ExtensionView::ha1_md5() const { return config_->extensions_[index_].ha1_md5; }
const Sha256Ha1& ExtensionView::ha1_sha256() const { return config_->extensions_[index_].ha1_sha256; }
std::string_view ExtensionView::password() const {
  if (!config_->keep_passwords_) return {};
  return config_->text(config_->passwords_[index_]);
}

std::string_view TenantView::name() const { return config_->text(config_->tenants_[index_].name); }
std::string_view TenantView::domain() const { return config_->text(config_->tenants_[index_].domain); }
std::string_view TenantView::park_code() const { return config_->tenants_[index_].park_code.view(); }
std::string_view TenantView::retrieve_code() const { return config_->tenants_[index_].retrieve_code.view(); }
const ParkSettings& TenantView::park() const { return config_->tenants_[index_].park; }
uint32_t TenantView::extension_count() const { return config_->tenants_[index_].extension_count; }
ExtensionView TenantView::extension(uint32_t i) const {
  assert(i < extension_count());
  return {*config_, config_->tenants_[index_].first_extension + i};
}
std::optional<ExtensionView> TenantView::find_extension(std::string_view number) const {
  return config_->find_extension(index_, number);
}

// --- hashing

size_t TenantsConfig::DomainHash::operator()(uint32_t tenant) const {
  return (*this)(config->text(config->tenants_[tenant].domain_key));
}
size_t TenantsConfig::DomainHash::operator()(std::string_view lowercase_domain) const {
  return absl::Hash<std::string_view>{}(lowercase_domain);
}
bool TenantsConfig::DomainEq::operator()(uint32_t a, uint32_t b) const {
  return (*this)(a, config->text(config->tenants_[b].domain_key));
}
bool TenantsConfig::DomainEq::operator()(uint32_t a, std::string_view b) const {
  return config->text(config->tenants_[a].domain_key) == b;
}

size_t TenantsConfig::ExtensionHash::operator()(uint32_t extension) const {
  const Extension& e = config->extensions_[extension];
  return (*this)(ExtensionKey{e.tenant, config->text(e.number_offset, e.number_length)});
}
size_t TenantsConfig::ExtensionHash::operator()(const ExtensionKey& key) const {
  return absl::HashOf(key.tenant, key.number);
}
bool TenantsConfig::ExtensionEq::operator()(uint32_t a, uint32_t b) const {
  const Extension& e = config->extensions_[b];
  return (*this)(a, ExtensionKey{e.tenant, config->text(e.number_offset, e.number_length)});
}
bool TenantsConfig::ExtensionEq::operator()(uint32_t a, const ExtensionKey& b) const {
  const Extension& e = config->extensions_[a];
  return e.tenant == b.tenant && config->text(e.number_offset, e.number_length) == b.number;
}

// --- the configuration

TenantsConfig::TenantsConfig()
    : domains_(0, DomainHash{this}, DomainEq{this}), numbers_(0, ExtensionHash{this}, ExtensionEq{this}) {}

TenantsConfig::~TenantsConfig() = default;

std::optional<TenantView> TenantsConfig::find_tenant(std::string_view domain) const {
  std::array<char, domain_length_max> buffer;
  std::string_view key;
  if (!lowercase_domain(domain, buffer, key)) return std::nullopt;
  auto it = domains_.find(key);
  if (it == domains_.end()) return std::nullopt;
  return TenantView(*this, *it);
}

std::optional<ExtensionView> TenantsConfig::find_extension(uint32_t tenant, std::string_view number) const {
  auto it = numbers_.find(ExtensionKey{tenant, number});
  if (it == numbers_.end()) return std::nullopt;
  return ExtensionView(*this, *it);
}

size_t TenantsConfig::memory_bytes() const {
  // A flat_hash_set slot is the 4-byte index plus one control byte.
  return sizeof(*this) + arena_.capacity() + tenants_.capacity() * sizeof(Tenant) +
         extensions_.capacity() * sizeof(Extension) + passwords_.capacity() * sizeof(ArenaRef) +
         (domains_.capacity() + numbers_.capacity()) * (sizeof(uint32_t) + 1);
}

ArenaRef TenantsConfig::store(std::string_view text) {
  assert(arena_has_room(text.size()));
  ArenaRef ref{static_cast<uint32_t>(arena_.size()), static_cast<uint32_t>(text.size())};
  arena_.append(text);
  return ref;
}

uint32_t TenantsConfig::begin_tenant() {
  Tenant tenant;
  tenant.first_extension = static_cast<uint32_t>(extensions_.size());
  tenants_.push_back(tenant);
  return static_cast<uint32_t>(tenants_.size() - 1);
}

bool TenantsConfig::claim_domain(ArenaRef domain, ArenaRef key) {
  Tenant& tenant = tenants_.back();
  ArenaRef old_domain = tenant.domain;
  ArenaRef old_key = tenant.domain_key;
  tenant.domain = domain;
  tenant.domain_key = key;
  if (!domains_.insert(static_cast<uint32_t>(tenants_.size() - 1)).second) {
    tenant.domain = old_domain;
    tenant.domain_key = old_key;
    return false;
  }
  return true;
}

bool TenantsConfig::add_extension(const Extension& extension, std::string_view password_to_keep) {
  assert(!tenants_.empty() && extension.tenant == tenants_.size() - 1);
  auto index = static_cast<uint32_t>(extensions_.size());
  extensions_.push_back(extension);
  if (!numbers_.insert(index).second) {
    extensions_.pop_back();
    return false;
  }
  if (keep_passwords_) passwords_.push_back(store(password_to_keep));
  ++tenants_.back().extension_count;
  return true;
}

void TenantsConfig::finish() {
  arena_.shrink_to_fit();
  tenants_.shrink_to_fit();
  extensions_.shrink_to_fit();
  passwords_.shrink_to_fit();
}

}  // namespace parkd::tenancy
