// UserSource: the identities a registration scenario registers, as an indexed sequence.
//
// Two sources: patterns (`--domains acme{0..9999}.example.com --extensions 100..199 --password-pattern
// '{ext}-secret'`), computed on demand so a million users cost nothing; or a CSV file of domain,ext,password
// lines, loaded at start-up. With patterns, index i is domain (i % domains) and extension
// (i / domains % extensions): consecutive registrations go to different tenants, so a server that shards by
// tenant sees them spread over its shards.
//
// get() writes into the caller's UserCreds and allocates nothing.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace parkd::loadgen {

struct UserCreds {
  std::string_view domain;
  std::string_view ext;
  std::string_view password;
  char storage[640];  // pattern-made values live here
};

class UserSource {
 public:
  // `domains`: "name" or "prefix{A..B}suffix"; `extensions`: "N" or "A..B" (leading zeros set a width, as in
  // "0100..0199"); `password_pattern`: text where {ext} and {domain} are replaced. False with `error` set.
  bool set_patterns(std::string_view domains, std::string_view extensions, std::string_view password_pattern,
                    std::string& error);
  // Lines "domain,ext,password"; empty lines and lines starting with '#' are skipped.
  bool load_csv(const std::string& path, std::string& error);

  uint64_t size() const;
  void get(uint64_t index, UserCreds& out) const;
  // Another user of the same domain (the next extension, cyclically): calls pairs a caller with its callee
  // this way. The index itself when the domain has one user only.
  uint64_t same_domain_partner(uint64_t index) const;

 private:
  struct Row {
    std::string domain;
    std::string ext;
    std::string password;
  };
  std::vector<Row> rows_;          // CSV
  std::vector<uint64_t> partner_;  // CSV: the next row of the same domain, cyclically
  std::string domain_prefix_;
  std::string domain_suffix_;
  uint64_t domain_first_ = 0;
  uint64_t domain_count_ = 1;
  bool domain_ranged_ = false;
  size_t domain_width_ = 0;
  uint64_t ext_first_ = 0;
  uint64_t ext_count_ = 1;
  size_t ext_width_ = 0;
  std::string password_pattern_;
};

}  // namespace parkd::loadgen
