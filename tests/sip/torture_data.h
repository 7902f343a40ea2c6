// The RFC 4475 torture messages in tests/data/rfc4475/<name>.sip, read as bytes.
#pragma once

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace parkd::sip::testing {

inline std::filesystem::path rfc4475_dir() { return std::filesystem::path(PARKD_TEST_DATA) / "rfc4475"; }

// The whole file; empty when it cannot be read (the callers assert on the size).
inline std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline std::string rfc4475_message(const std::string& name) { return read_bytes(rfc4475_dir() / (name + ".sip")); }

// Every message name (file stem), sorted.
inline std::vector<std::string> rfc4475_names() {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(rfc4475_dir()))
    if (entry.path().extension() == ".sip") names.push_back(entry.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace parkd::sip::testing
