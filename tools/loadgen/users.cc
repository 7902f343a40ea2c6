#include "tools/loadgen/users.h"

#include <charconv>
#include <fstream>
#include <unordered_map>

#include "tools/loadgen/writer.h"

namespace parkd::loadgen {
namespace {

bool parse_number(std::string_view s, uint64_t& v) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && end == s.data() + s.size();
}

// "A..B" or "N": first, count and the zero-padded width ("0100" -> 4; "100" -> 0).
bool parse_range(std::string_view s, uint64_t& first, uint64_t& count, size_t& width) {
  size_t dots = s.find("..");
  std::string_view lo = s.substr(0, dots);
  std::string_view hi = dots == std::string_view::npos ? lo : s.substr(dots + 2);
  uint64_t a = 0;
  uint64_t b = 0;
  if (!parse_number(lo, a) || !parse_number(hi, b) || b < a) return false;
  first = a;
  count = b - a + 1;
  width = lo.size() > 1 && lo.front() == '0' ? lo.size() : 0;
  return true;
}

void put_padded(Writer& w, uint64_t v, size_t width) {
  char digits[20];
  Writer d(digits, sizeof digits);
  d.put_uint(v);
  for (size_t i = d.size(); i < width; ++i) w.put('0');
  w.put(d.view());
}

}  // namespace

bool UserSource::set_patterns(std::string_view domains, std::string_view extensions, std::string_view password_pattern,
                              std::string& error) {
  rows_.clear();
  size_t open = domains.find('{');
  if (open == std::string_view::npos) {
    domain_prefix_ = domains;
    domain_ranged_ = false;
    domain_count_ = 1;
  } else {
    size_t close = domains.find('}', open);
    if (close == std::string_view::npos ||
        !parse_range(domains.substr(open + 1, close - open - 1), domain_first_, domain_count_, domain_width_)) {
      error = "--domains: expected NAME or PREFIX{A..B}SUFFIX, got '" + std::string(domains) + "'";
      return false;
    }
    domain_prefix_ = domains.substr(0, open);
    domain_suffix_ = domains.substr(close + 1);
    domain_ranged_ = true;
  }
  if (domains.empty() || domain_prefix_.size() + domain_suffix_.size() > 200) {
    error = "--domains: empty or longer than 200 characters";
    return false;
  }
  if (!parse_range(extensions, ext_first_, ext_count_, ext_width_)) {
    error = "--extensions: expected N or A..B, got '" + std::string(extensions) + "'";
    return false;
  }
  if (password_pattern.size() > 200) {
    error = "--password-pattern: longer than 200 characters";
    return false;
  }
  password_pattern_ = password_pattern;
  return true;
}

bool UserSource::load_csv(const std::string& path, std::string& error) {
  std::ifstream in(path);
  if (!in) {
    error = "--users: cannot open '" + path + "'";
    return false;
  }
  rows_.clear();
  std::string line;
  size_t line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.front() == '#') continue;
    size_t a = line.find(',');
    size_t b = a == std::string::npos ? a : line.find(',', a + 1);
    if (b == std::string::npos || a == 0 || b == a + 1 || a > 200 || b - a > 60 || line.size() - b > 200) {
      error = path + ":" + std::to_string(line_number) + ": expected domain,ext,password";
      return false;
    }
    rows_.push_back({line.substr(0, a), line.substr(a + 1, b - a - 1), line.substr(b + 1)});
  }
  if (rows_.empty()) {
    error = path + ": no users";
    return false;
  }
  // Each row's partner: the next row of its domain, the last one wrapping to the first.
  partner_.assign(rows_.size(), 0);
  std::unordered_map<std::string, std::pair<uint64_t, uint64_t>> first_last;  // domain -> (first, last) row
  for (uint64_t i = 0; i < rows_.size(); ++i) {
    auto [it, inserted] = first_last.try_emplace(rows_[i].domain, i, i);
    if (!inserted) {
      partner_[it->second.second] = i;
      it->second.second = i;
    }
  }
  for (const auto& [domain, ends] : first_last) partner_[ends.second] = ends.first;
  return true;
}

uint64_t UserSource::same_domain_partner(uint64_t index) const {
  if (!rows_.empty()) return partner_[index % rows_.size()];
  index %= size();
  return (index + domain_count_) % size();  // domain index % domains is unchanged, the extension is the next
}

uint64_t UserSource::size() const { return rows_.empty() ? domain_count_ * ext_count_ : rows_.size(); }

void UserSource::get(uint64_t index, UserCreds& out) const {
  if (!rows_.empty()) {
    const Row& row = rows_[index % rows_.size()];
    out.domain = row.domain;
    out.ext = row.ext;
    out.password = row.password;
    return;
  }
  index %= size();
  Writer w(out.storage, sizeof out.storage);
  w.put(domain_prefix_);
  if (domain_ranged_) put_padded(w, domain_first_ + index % domain_count_, domain_width_);
  w.put(domain_suffix_);
  size_t domain_end = w.size();
  put_padded(w, ext_first_ + index / domain_count_ % ext_count_, ext_width_);
  size_t ext_end = w.size();
  out.domain = std::string_view(out.storage, domain_end);
  out.ext = std::string_view(out.storage + domain_end, ext_end - domain_end);
  std::string_view rest = password_pattern_;
  while (!rest.empty()) {
    if (rest.substr(0, 5) == "{ext}") {
      w.put(out.ext);
      rest.remove_prefix(5);
    } else if (rest.substr(0, 8) == "{domain}") {
      w.put(out.domain);
      rest.remove_prefix(8);
    } else {
      w.put(rest.front());
      rest.remove_prefix(1);
    }
  }
  out.password = std::string_view(out.storage + ext_end, w.size() - ext_end);
}

}  // namespace parkd::loadgen
