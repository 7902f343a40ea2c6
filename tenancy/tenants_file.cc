#include "tenancy/tenants_file.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <simdjson.h>
#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

namespace parkd::tenancy {
namespace {

namespace od = simdjson::ondemand;

// --- values ------------------------------------------------------------------------------------------------

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
char to_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A host name (RFC 1123 section 2.1): dot-separated labels of 1-63 letters, digits and '-', a label neither
// starting nor ending with '-', 253 characters at most, no trailing dot. An IPv4 address passes too; IPv6
// literals do not (docs/DECISIONS.md).
bool valid_domain(std::string_view domain) {
  if (domain.empty() || domain.size() > domain_length_max) return false;
  size_t label_start = 0;
  for (size_t i = 0; i <= domain.size(); ++i) {
    if (i == domain.size() || domain[i] == '.') {
      size_t length = i - label_start;
      if (length == 0 || length > 63) return false;
      if (domain[label_start] == '-' || domain[i - 1] == '-') return false;
      label_start = i + 1;
    } else if (!is_alpha(domain[i]) && !is_digit(domain[i]) && domain[i] != '-') {
      return false;
    }
  }
  return true;
}

// feature-code = ( "*" / DIGIT ) *7( "*" / "#" / DIGIT ): what a phone keypad dials, and not '#' first because
// many phones send '#' as "dial now".
bool valid_feature_code(std::string_view code) {
  if (code.empty() || code.size() > feature_code_length_max) return false;
  if (code[0] != '*' && !is_digit(code[0])) return false;
  return std::all_of(code.begin(), code.end(), [](char c) { return is_digit(c) || c == '*' || c == '#'; });
}

bool valid_number(std::string_view number) {
  return !number.empty() && number.size() <= extension_number_length_max &&
         std::all_of(number.begin(), number.end(), is_digit);
}

// Control characters would let a display name or tenant name break a SIP header line or a log line.
bool has_control_character(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    auto byte = static_cast<unsigned char>(c);
    return byte < 0x20 || byte == 0x7f;
  });
}

// Text from the file inside an error message: quoted, control bytes escaped (the message goes to a terminal
// and a log), cut at 64 bytes on a UTF-8 character boundary.
std::string quote(std::string_view text) {
  constexpr size_t shown_max = 64;
  bool cut = text.size() > shown_max;
  if (cut) {
    size_t end = shown_max;
    while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
    text = text.substr(0, end);
  }
  std::string out = "'";
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      constexpr std::string_view hex = "0123456789abcdef";
      out += "\\x";
      out += hex[byte >> 4];
      out += hex[byte & 0xF];
    } else {
      out += c;
    }
  }
  if (cut) out += "...";
  out += "'";
  return out;
}

// Offset of the first byte that is not well-formed UTF-8 (RFC 3629), or text.size().
size_t first_invalid_utf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    auto b0 = static_cast<unsigned char>(text[i]);
    if (b0 < 0x80) {
      ++i;
      continue;
    }
    size_t length = 0;
    unsigned char low = 0x80;
    unsigned char high = 0xBF;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      length = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      length = 3;
      if (b0 == 0xE0) low = 0xA0;
      if (b0 == 0xED) high = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      length = 4;
      if (b0 == 0xF0) low = 0x90;
      if (b0 == 0xF4) high = 0x8F;
    } else {
      return i;
    }
    if (i + length > text.size()) return i;
    for (size_t k = 1; k < length; ++k) {
      auto b = static_cast<unsigned char>(text[i + k]);
      if (b < (k == 1 ? low : 0x80) || b > (k == 1 ? high : 0xBF)) return i;
    }
    i += length;
  }
  return text.size();
}

// Where an unclosed string opens, or where a raw control character sits inside a string: stage 1 of simdjson
// reports these for the whole document without a position, so find it with a plain scan (error path only).
size_t locate_string_fault(std::string_view text, simdjson::error_code code) {
  bool in_string = false;
  size_t string_start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (!in_string) {
      if (c == '"') {
        in_string = true;
        string_start = i;
      }
    } else if (c == '\\') {
      ++i;
    } else if (c == '"') {
      in_string = false;
    } else if (code == simdjson::UNESCAPED_CHARS && static_cast<unsigned char>(c) < 0x20) {
      return i;
    }
  }
  return in_string ? string_start : text.size();
}

std::string json_error_reason(simdjson::error_code code) {
  switch (code) {
    case simdjson::TAPE_ERROR: return "invalid JSON (a missing or extra ',', ':', bracket or brace)";
    case simdjson::INCOMPLETE_ARRAY_OR_OBJECT: return "unexpected end of file: an array or object is not closed";
    case simdjson::STRING_ERROR: return "invalid escape in a string";
    case simdjson::T_ATOM_ERROR:
    case simdjson::F_ATOM_ERROR:
    case simdjson::N_ATOM_ERROR: return "invalid literal (the bare words are true, false and null)";
    case simdjson::NUMBER_ERROR: return "invalid number";
    case simdjson::NUMBER_OUT_OF_RANGE: return "number out of range";
    case simdjson::UNESCAPED_CHARS: return "control character in a string (write it as an escape)";
    case simdjson::UNCLOSED_STRING: return "string is not closed";
    case simdjson::UTF8_ERROR: return "invalid UTF-8";
    case simdjson::DEPTH_ERROR: return "nested too deeply";
    case simdjson::TRAILING_CONTENT: return "unexpected content after the top-level object";
    case simdjson::CAPACITY: return "file too large";
    case simdjson::MEMALLOC: return "out of memory";
    case simdjson::EMPTY: return "file is empty";
    default: return std::string("invalid JSON (") + simdjson::error_message(code) + ")";
  }
}

// --- H(A1) -------------------------------------------------------------------------------------------------

// H(A1) = H("number:realm:password") for MD5 (RFC 2617 section 3.2.2.2) and SHA-256 (RFC 7616 section 3.4.2).
// The digests are fetched once and one context is reused: a million extensions take two million hashes.
class Ha1Hasher {
 public:
  Ha1Hasher()
      : md5_(EVP_MD_fetch(nullptr, "MD5", nullptr)),
        sha256_(EVP_MD_fetch(nullptr, "SHA2-256", nullptr)),
        context_(EVP_MD_CTX_new()) {}
  ~Ha1Hasher() {
    EVP_MD_CTX_free(context_);
    EVP_MD_free(sha256_);
    EVP_MD_free(md5_);
  }
  Ha1Hasher(const Ha1Hasher&) = delete;
  Ha1Hasher& operator=(const Ha1Hasher&) = delete;

  bool ok() const { return md5_ != nullptr && sha256_ != nullptr && context_ != nullptr; }

  bool md5(std::string_view number, std::string_view realm, std::string_view password, Md5Ha1& out) {
    return digest(md5_, number, realm, password, out.data(), out.size());
  }
  bool sha256(std::string_view number, std::string_view realm, std::string_view password, Sha256Ha1& out) {
    return digest(sha256_, number, realm, password, out.data(), out.size());
  }

 private:
  bool digest(EVP_MD* md, std::string_view number, std::string_view realm, std::string_view password, uint8_t* out,
              size_t out_size) {
    unsigned int length = 0;
    bool ok = EVP_DigestInit_ex2(context_, md, nullptr) == 1 &&
              EVP_DigestUpdate(context_, number.data(), number.size()) == 1 &&
              EVP_DigestUpdate(context_, ":", 1) == 1 && EVP_DigestUpdate(context_, realm.data(), realm.size()) == 1 &&
              EVP_DigestUpdate(context_, ":", 1) == 1 &&
              EVP_DigestUpdate(context_, password.data(), password.size()) == 1 &&
              EVP_DigestFinal_ex(context_, out, &length) == 1;
    return ok && length == out_size;
  }

  EVP_MD* md5_;
  EVP_MD* sha256_;
  EVP_MD_CTX* context_;
};

// --- the loader --------------------------------------------------------------------------------------------

// Keys of each object, in one place; the position in the list is the key's bit in a "seen" mask.
constexpr std::array<std::string_view, 1> root_keys = {"tenants"};
constexpr std::array<std::string_view, 5> tenant_keys = {"name", "domain", "feature_codes", "park", "extensions"};
enum TenantKey { tenant_name, tenant_domain, tenant_feature_codes, tenant_park, tenant_extensions };
constexpr std::array<std::string_view, 2> feature_code_keys = {"park", "retrieve"};
constexpr std::array<std::string_view, 4> park_keys = {"recall_after_s", "recall_ring_s", "max_park_s",
                                                       "max_parked_per_extension"};
enum ParkKey { park_recall_after_s, park_recall_ring_s, park_max_park_s, park_max_parked_per_extension };
constexpr std::array<std::string_view, 4> extension_keys = {"number", "password", "ha1", "display_name"};
enum ExtensionKey { extension_number, extension_password, extension_ha1, extension_display_name };

class Loader {
 public:
  Loader(std::string_view file_name, std::string_view input, TenantsConfig& config)
      : file_name_(file_name), input_(input), config_(config) {}

  bool load(simdjson::padded_string_view padded);
  LoadError take_error() { return std::move(error_); }

 private:
  // --- errors: each returns false so a caller can `return fail(...)`.
  bool fail(const char* at, std::string reason) {
    error_.reason = std::move(reason);
    size_t offset = at == nullptr ? input_.size() : static_cast<size_t>(at - input_.data());
    offset = std::min(offset, input_.size());
    error_.line = 1;
    size_t line_start = 0;
    for (size_t i = 0; i < offset; ++i) {
      if (input_[i] == '\n') {
        ++error_.line;
        line_start = i + 1;
      }
    }
    error_.column = 1;
    for (size_t i = line_start; i < offset; ++i) {
      if ((static_cast<unsigned char>(input_[i]) & 0xC0) != 0x80) ++error_.column;
    }
    return false;
  }
  bool fail_at_byte(size_t offset, std::string reason) {
    error_.reason = std::move(reason);
    error_.byte = offset;
    error_.has_byte = true;
    return false;
  }
  bool fail_without_position(std::string reason) {
    error_.reason = std::move(reason);
    return false;
  }
  // `at` is nullptr, or at the end of the input, when the input ran out.
  bool fail_json(simdjson::error_code code, const char* at) {
    if (code == simdjson::UTF8_ERROR) return fail_at_byte(first_invalid_utf8(input_), json_error_reason(code));
    bool at_end = at == nullptr || at >= input_.data() + input_.size();
    if (at_end && code == simdjson::TAPE_ERROR) code = simdjson::INCOMPLETE_ARRAY_OR_OBJECT;
    return fail(at, json_error_reason(code));
  }
  // Where the iterator stopped: the position of a syntax error found while iterating; the end of the input
  // when the input ran out.
  const char* current() {
    const char* at = nullptr;
    if (document_ == nullptr || document_->current_location().get(at) != simdjson::SUCCESS) return nullptr;
    return at;
  }

  // --- typed values: each checks the JSON type first so a wrong type is named, not a generic JSON error.
  static const char* position(od::value& value) { return value.raw_json_token().data(); }

  // The message, built only on failure (this runs for every value of a million-extension file), is
  // "expected <expected> '<key>'", or "expected <expected>" when key is empty.
  bool expect_type(od::value& value, od::json_type wanted, std::string_view expected, std::string_view key) {
    od::json_type type{};
    if (auto error = value.type().get(type)) return fail_json(error, position(value));
    if (type == wanted) return true;
    // A malformed literal or number is a syntax error, which says more than "expected a string".
    const char* at = position(value);
    if (type == od::json_type::boolean) {
      bool ignored = false;
      if (value.get_bool().get(ignored) != simdjson::SUCCESS) return fail_json(simdjson::T_ATOM_ERROR, at);
    } else if (type == od::json_type::null) {
      bool is_null = false;
      if (value.is_null().get(is_null) != simdjson::SUCCESS || !is_null) return fail_json(simdjson::N_ATOM_ERROR, at);
    } else if (type == od::json_type::number) {
      od::number_type ignored{};
      if (auto error = value.get_number_type().get(ignored)) return fail_json(error, at);
    }
    return fail(at, "expected " + std::string(expected) + (key.empty() ? "" : " " + quote(key)));
  }

  bool string_value(od::value& value, std::string_view key, std::string_view& out) {
    if (!expect_type(value, od::json_type::string, "a string for", key)) return false;
    if (auto error = value.get_string().get(out)) return fail_json(error, position(value));
    return true;
  }

  bool integer_value(od::value& value, std::string_view key, int64_t min, int64_t max, uint32_t& out) {
    const char* at = position(value);
    auto range = [&] {
      return quote(key) + " must be an integer from " + std::to_string(min) + " to " + std::to_string(max);
    };
    if (!expect_type(value, od::json_type::number, "an integer for", key)) return false;
    od::number_type number_type{};
    if (auto error = value.get_number_type().get(number_type)) return fail_json(error, at);
    if (number_type == od::number_type::floating_point_number) return fail(at, "expected an integer for " + quote(key));
    if (number_type == od::number_type::unsigned_integer) return fail(at, range());
    int64_t number = 0;
    if (auto error = value.get_int64().get(number)) return fail_json(error, at);
    if (number < min || number > max) return fail(at, range());
    out = static_cast<uint32_t>(number);
    return true;
  }

  // Calls on_field(key index, key position, value) for each field of an object, after refusing unknown and
  // repeated keys.
  template <size_t N, class OnField>
  bool fields(od::value& value, std::string_view expected, std::string_view expected_key, std::string_view where,
              const std::array<std::string_view, N>& keys, OnField&& on_field) {
    if (!expect_type(value, od::json_type::object, expected, expected_key)) return false;
    od::object object;
    if (auto error = value.get_object().get(object)) return fail_json(error, position(value));
    uint32_t seen = 0;
    for (auto field_result : object) {
      od::field field;
      if (auto error = std::move(field_result).get(field)) return fail_json(error, current());
      const char* key_at = field.key().raw() - 1;  // the opening quote
      std::string_view key;
      if (auto error = field.unescaped_key().get(key)) return fail_json(error, key_at);
      size_t id = static_cast<size_t>(std::find(keys.begin(), keys.end(), key) - keys.begin());
      if (id == N) return fail(key_at, "unknown key " + quote(key) + " " + std::string(where));
      if ((seen & (1U << id)) != 0) return fail(key_at, "duplicate key " + quote(key) + " " + std::string(where));
      seen |= 1U << id;
      if (!on_field(id, key_at, field.value())) return false;
    }
    return true;
  }

  template <class OnElement>
  bool elements(od::value& value, std::string_view key, OnElement&& on_element) {
    if (!expect_type(value, od::json_type::array, "an array for", key)) return false;
    od::array array;
    if (auto error = value.get_array().get(array)) return fail_json(error, position(value));
    for (auto element_result : array) {
      od::value element;
      if (auto error = element_result.get(element)) return fail_json(error, current());
      if (!on_element(element)) return false;
    }
    return true;
  }

  bool store(const char* at, std::string_view text, ArenaRef& out) {
    if (!config_.arena_has_room(text.size())) return fail(at, "tenants file too large (over 4 GiB of text)");
    out = config_.store(text);
    return true;
  }

  bool tenant(od::value& value);
  bool feature_codes(od::value& value, Tenant& tenant);
  bool park(od::value& value, ParkSettings& park);
  bool extension(od::value& value, uint32_t tenant_index, bool realm_known);

  std::string_view file_name_;
  std::string_view input_;
  TenantsConfig& config_;
  od::document* document_ = nullptr;
  LoadError error_;
  Ha1Hasher hasher_;
  // Passwords of the current tenant's extensions seen before its domain (the realm), hashed at its end.
  std::vector<std::pair<uint32_t, std::string>> pending_passwords_;
};

bool Loader::load(simdjson::padded_string_view padded) {
  if (!hasher_.ok()) return fail_without_position("OpenSSL offers no MD5 or SHA-256 digest (FIPS mode?)");
  od::parser parser;
  od::document document;
  if (auto error = parser.iterate(padded).get(document)) {
    switch (error) {
      case simdjson::EMPTY: return fail_without_position("file is empty");
      case simdjson::UTF8_ERROR: return fail_json(error, nullptr);
      case simdjson::UNCLOSED_STRING:
      case simdjson::UNESCAPED_CHARS:
        return fail(input_.data() + locate_string_fault(input_, error), json_error_reason(error));
      default: return fail(nullptr, json_error_reason(error));
    }
  }
  document_ = &document;
  const char* root_at = current();
  od::value root;
  if (auto error = document.get_value().get(root)) {
    if (error == simdjson::SCALAR_DOCUMENT_AS_VALUE) return fail(root_at, "expected an object at the top level");
    return fail_json(error, root_at);
  }
  bool has_tenants = false;
  bool ok = fields(root, "an object at the top level", "", "at the top level", root_keys,
                   [&](size_t, const char*, od::value& tenants) {
                     has_tenants = true;
                     return elements(tenants, "tenants", [&](od::value& element) { return tenant(element); });
                   });
  if (!ok) return false;
  if (!has_tenants) return fail(root_at, "missing 'tenants' at the top level");
  const char* trailing = nullptr;
  if (document.current_location().get(trailing) == simdjson::SUCCESS) {
    return fail(trailing, json_error_reason(simdjson::TRAILING_CONTENT));
  }
  config_.finish();
  return true;
}

bool Loader::tenant(od::value& value) {
  const char* at = position(value);
  uint32_t index = config_.begin_tenant();
  Tenant& record = config_.last_tenant();
  record.park_code = FeatureCode::from(default_park_code);
  record.retrieve_code = FeatureCode::from(default_retrieve_code);
  pending_passwords_.clear();
  uint32_t seen = 0;
  bool ok = fields(
      value, "an object in", "tenants", "in tenant", tenant_keys, [&](size_t key, const char*, od::value& field) {
        seen |= 1U << key;
        const char* value_at = position(field);
        std::string_view text;
        switch (key) {
          case tenant_name:
            if (!string_value(field, "name", text)) return false;
            if (text.empty()) return fail(value_at, "'name' must not be empty");
            if (text.size() > tenant_name_length_max) return fail(value_at, "'name' must be at most 128 bytes");
            if (has_control_character(text)) return fail(value_at, "'name' must not contain control characters");
            return store(value_at, text, config_.last_tenant().name);
          case tenant_domain: {
            if (!string_value(field, "domain", text)) return false;
            if (!valid_domain(text))
              return fail(value_at, quote(text) +
                                        " is not a valid domain (a host name: letters, digits, "
                                        "'-' and '.')");
            if (auto other = config_.find_tenant(text))
              return fail(value_at, "domain " + quote(text) + " is already used by tenant " + quote(other->name()));
            std::string lowercase(text);
            std::transform(lowercase.begin(), lowercase.end(), lowercase.begin(), to_lower);
            ArenaRef domain;
            ArenaRef key_ref;
            if (!store(value_at, text, domain) || !store(value_at, lowercase, key_ref)) return false;
            if (!config_.claim_domain(domain, key_ref))
              return fail(value_at, "domain " + quote(text) + " is already used");
            return true;
          }
          case tenant_feature_codes: return feature_codes(field, config_.last_tenant());
          case tenant_park: return park(field, config_.last_tenant().park);
          case tenant_extensions:
            return elements(field, "extensions", [&](od::value& element) {
              return extension(element, index, (seen & (1U << tenant_domain)) != 0);
            });
          default: return false;
        }
      });
  if (!ok) return false;
  if ((seen & (1U << tenant_name)) == 0) return fail(at, "missing 'name' in tenant");
  if ((seen & (1U << tenant_domain)) == 0) return fail(at, "missing 'domain' in tenant");
  if ((seen & (1U << tenant_extensions)) == 0) return fail(at, "missing 'extensions' in tenant");
  std::string_view final_realm = config_.tenant(index).domain();
  for (auto& [extension_index, password] : pending_passwords_) {
    Extension& record_to_hash = config_.extension_record(extension_index);
    std::string_view number = config_.extension(extension_index).number();
    if (!hasher_.md5(number, final_realm, password, record_to_hash.ha1_md5) ||
        !hasher_.sha256(number, final_realm, password, record_to_hash.ha1_sha256))
      return fail(at, "OpenSSL failed to hash a password");
  }
  pending_passwords_.clear();
  return true;
}

bool Loader::feature_codes(od::value& value, Tenant& tenant) {
  // Positions of the codes given, to point at the later one when the pair clashes.
  const char* park_at = nullptr;
  const char* retrieve_at = nullptr;
  bool ok = fields(value, "an object for", "feature_codes", "in 'feature_codes'", feature_code_keys,
                   [&](size_t key, const char*, od::value& field) {
                     const char* at = position(field);
                     std::string_view code;
                     if (!string_value(field, feature_code_keys[key], code)) return false;
                     if (!valid_feature_code(code))
                       return fail(at, "feature code " + quote(code) +
                                           " is not valid (1 to 8 of 0-9 * #, starting with * or a digit)");
                     (key == 0 ? tenant.park_code : tenant.retrieve_code) = FeatureCode::from(code);
                     (key == 0 ? park_at : retrieve_at) = at;
                     return true;
                   });
  if (!ok) return false;
  if (park_at == nullptr && retrieve_at == nullptr) return true;  // the defaults do not clash
  const char* at = park_at == nullptr ? retrieve_at : retrieve_at == nullptr ? park_at : std::max(park_at, retrieve_at);
  std::string_view park_code = tenant.park_code.view();
  std::string_view retrieve_code = tenant.retrieve_code.view();
  if (park_code == retrieve_code) return fail(at, "park and retrieve feature codes are both " + quote(park_code));
  if (retrieve_code.starts_with(park_code))
    return fail(at, "park code " + quote(park_code) + " is a prefix of retrieve code " + quote(retrieve_code));
  if (park_code.starts_with(retrieve_code))
    return fail(at, "retrieve code " + quote(retrieve_code) + " is a prefix of park code " + quote(park_code));
  return true;
}

bool Loader::park(od::value& value, ParkSettings& park) {
  const char* recall_after_at = nullptr;
  const char* max_park_at = nullptr;
  bool ok =
      fields(value, "an object for", "park", "in 'park'", park_keys, [&](size_t key, const char*, od::value& field) {
        const char* at = position(field);
        switch (key) {
          case park_recall_after_s:
            recall_after_at = at;
            return integer_value(field, park_keys[key], 1, 86400, park.recall_after_s);
          case park_recall_ring_s: return integer_value(field, park_keys[key], 1, 600, park.recall_ring_s);
          case park_max_park_s:
            max_park_at = at;
            return integer_value(field, park_keys[key], 1, 86400, park.max_park_s);
          case park_max_parked_per_extension:
            return integer_value(field, park_keys[key], 1, 100, park.max_parked_per_extension);
          default: return false;
        }
      });
  if (!ok) return false;
  if (park.max_park_s < park.recall_after_s) {
    return fail(max_park_at != nullptr ? max_park_at : recall_after_at,
                "'max_park_s' (" + std::to_string(park.max_park_s) + ") must be at least 'recall_after_s' (" +
                    std::to_string(park.recall_after_s) + ")");
  }
  return true;
}

bool Loader::extension(od::value& value, uint32_t tenant_index, bool realm_known) {
  const char* at = position(value);
  Extension record;
  record.tenant = tenant_index;
  uint32_t seen = 0;
  const char* number_at = nullptr;
  std::string_view number;
  std::string password;
  bool ok = fields(value, "an object in", "extensions", "in extension", extension_keys,
                   [&](size_t key, const char* key_at, od::value& field) {
                     if ((key == extension_password && (seen & (1U << extension_ha1)) != 0) ||
                         (key == extension_ha1 && (seen & (1U << extension_password)) != 0))
                       return fail(key_at, "extension has both 'password' and 'ha1': give one");
                     seen |= 1U << key;
                     const char* value_at = position(field);
                     std::string_view text;
                     if (!string_value(field, extension_keys[key], text)) return false;
                     switch (key) {
                       case extension_number: {
                         if (!valid_number(text))
                           return fail(value_at, "extension number " + quote(text) + " is not 1 to 32 digits");
                         number_at = value_at;
                         ArenaRef ref;
                         if (!store(value_at, text, ref)) return false;
                         record.number_offset = ref.offset;
                         record.number_length = static_cast<uint8_t>(ref.length);
                         return true;
                       }
                       case extension_password:
                         if (text.empty() || text.size() > password_length_max)
                           return fail(value_at, "'password' must be 1 to 128 bytes");
                         password = text;
                         return true;
                       case extension_ha1:
                         if (text.size() != record.ha1_md5.size() * 2 ||
                             !std::all_of(text.begin(), text.end(), [](char c) { return hex_value(c) >= 0; }))
                           return fail(value_at, "'ha1' must be 32 hex digits (MD5 of number:domain:password)");
                         for (size_t i = 0; i < record.ha1_md5.size(); ++i)
                           record.ha1_md5[i] =
                               static_cast<uint8_t>(hex_value(text[2 * i]) * 16 + hex_value(text[2 * i + 1]));
                         return true;
                       case extension_display_name: {
                         if (text.size() > display_name_length_max)
                           return fail(value_at, "'display_name' must be at most 128 bytes");
                         if (has_control_character(text))
                           return fail(value_at, "'display_name' must not contain control characters");
                         ArenaRef ref;
                         if (!store(value_at, text, ref)) return false;
                         record.display_name_offset = ref.offset;
                         record.display_name_length = static_cast<uint8_t>(ref.length);
                         return true;
                       }
                       default: return false;
                     }
                   });
  if (!ok) return false;
  if (number_at == nullptr) return fail(at, "missing 'number' in extension");
  bool has_password = (seen & (1U << extension_password)) != 0;
  if (!has_password && (seen & (1U << extension_ha1)) == 0) return fail(at, "extension needs 'password' or 'ha1'");
  record.algorithms = has_password ? (digest_md5 | digest_sha256) : digest_md5;
  // Views into the arena, taken after the last store of this extension: the arena moves when it grows.
  number = config_.text_at(record.number_offset, record.number_length);
  std::string_view realm = config_.tenant(tenant_index).domain();
  if (has_password && realm_known) {
    if (!hasher_.md5(number, realm, password, record.ha1_md5) ||
        !hasher_.sha256(number, realm, password, record.ha1_sha256))
      return fail(at, "OpenSSL failed to hash a password");
  }
  auto index = static_cast<uint32_t>(config_.extension_count());
  if (!config_.add_extension(record, password))
    return fail(number_at, "duplicate extension number " + quote(number) + " in this tenant");
  if (has_password && !realm_known) pending_passwords_.emplace_back(index, std::move(password));
  return true;
}

Result<TenantsConfigPtr, LoadError> parse_padded(simdjson::padded_string_view padded, std::string_view file_name,
                                                 const LoadOptions& options) {
  auto config = std::make_shared<TenantsConfig>();
  if (options.keep_passwords) config->keep_passwords();
  Loader loader(file_name, std::string_view(padded.data(), padded.length()), *config);
  if (!loader.load(padded)) {
    LoadError error = loader.take_error();
    error.file = std::string(file_name);
    return Unexpected{std::move(error)};
  }
  return TenantsConfigPtr(std::move(config));
}

}  // namespace

std::string LoadError::to_string() const {
  if (line > 0) return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + reason;
  if (has_byte) return file + ": byte " + std::to_string(byte) + ": " + reason;
  return file + ": " + reason;
}

Result<TenantsConfigPtr, LoadError> parse_tenants(std::string_view json, std::string_view file_name,
                                                  const LoadOptions& options) {
  simdjson::padded_string padded(json);
  if (padded.data() == nullptr && !json.empty()) {
    return Unexpected{LoadError{.file = std::string(file_name), .reason = "out of memory"}};
  }
  return parse_padded(padded, file_name, options);
}

Result<TenantsConfigPtr, LoadError> load_tenants_file(const std::string& path, const LoadOptions& options) {
  auto fail = [&](std::string reason) { return Unexpected{LoadError{.file = path, .reason = std::move(reason)}}; };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(std::string("cannot open: ") + std::strerror(errno));
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  struct stat info {};
  if (::fstat(fd, &info) != 0) return fail(std::string("cannot read: ") + std::strerror(errno));
  if (!S_ISREG(info.st_mode)) return fail("not a regular file");
  auto size = static_cast<uint64_t>(info.st_size);
  if (size == 0) return fail("file is empty");
  if (size > simdjson::SIMDJSON_MAXSIZE_BYTES) return fail("file too large (4 GiB at most)");
  simdjson::padded_string padded(static_cast<size_t>(size));
  if (padded.data() == nullptr) return fail("out of memory");
  size_t filled = 0;
  while (filled < size) {
    ssize_t n = ::read(fd, padded.data() + filled, size - filled);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(std::string("cannot read: ") + std::strerror(errno));
    if (n == 0) return fail("file shrank while being read");
    filled += static_cast<size_t>(n);
  }
  return parse_padded(padded, path, options);
}

}  // namespace parkd::tenancy
