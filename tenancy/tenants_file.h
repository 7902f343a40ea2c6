// Loading the tenants file (SPEC section 2; every rule in docs/tenants-file.md).
//
// Contract:
// - Strict: unknown keys, duplicate keys, wrong types, values out of range and syntax errors are refused with
//   the first fault found, as one line: `FILE:LINE:COLUMN: reason` (1-based; the column counts UTF-8
//   characters), `FILE: byte N: reason` when the line cannot be told (the text is not UTF-8), or
//   `FILE: reason` (cannot be read, empty).
// - Never throws and never crashes, whatever the input (simdjson's error-code API; no exception escapes).
// - Control plane: it allocates freely. 1,000,000 extensions load in about a second (tests/tenancy).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/result.h"
#include "tenancy/tenants_config.h"

namespace parkd::tenancy {

struct LoadError {
  std::string file;
  uint32_t line = 0;    // 1-based; 0 when unknown
  uint32_t column = 0;  // 1-based, in UTF-8 characters
  uint64_t byte = 0;    // 0-based offset; meaningful when has_byte
  bool has_byte = false;
  std::string reason;

  // "FILE:LINE:COLUMN: reason", "FILE: byte N: reason" or "FILE: reason".
  std::string to_string() const;
};

struct LoadOptions {
  // Keep the plaintext passwords (ExtensionView::password()): only for the demo, which prints them.
  bool keep_passwords = false;
};

using TenantsConfigPtr = std::shared_ptr<const TenantsConfig>;

Result<TenantsConfigPtr, LoadError> load_tenants_file(const std::string& path, const LoadOptions& options = {});
Result<TenantsConfigPtr, LoadError> parse_tenants(std::string_view json, std::string_view file_name,
                                                  const LoadOptions& options = {});

// The demo tenants (tenancy/demo_tenants.json), embedded at build time.
std::string_view demo_tenants_json();
inline constexpr std::string_view demo_tenants_name = "demo_tenants.json";

}  // namespace parkd::tenancy
