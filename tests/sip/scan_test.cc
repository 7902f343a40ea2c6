// Differential tests of the vector scanners in sip/internal/scan.h against one-byte-at-a-time references: at
// every start offset and every end offset of random and adversarial buffers, the fast scanner must return what
// the reference returns. Each buffer is a heap block of exactly its size, so the sanitize preset's ASan also
// catches a vector load that reaches past `end`.
#include "sip/internal/scan.h"
#include "sip/internal/header_id.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace parkd::sip::internal {
namespace {

const char* colon_or_blank_reference(const char* p, const char* end) {
  while (p < end && *p != ':' && *p != ' ' && *p != '\t') ++p;
  return p;
}

using Scanner = const char* (*)(const char*, const char*);

// Every [begin, end) sub-range of `bytes` (up to 80 bytes long, enough to cross several 16- and 32-byte
// blocks), each copied into its own exactly-sized heap block.
void expect_same_everywhere(const std::string& bytes, Scanner fast, Scanner reference) {
  for (size_t begin = 0; begin < bytes.size(); ++begin) {
    for (size_t end = begin; end <= bytes.size() && end - begin <= 80; ++end) {
      std::vector<char> block(bytes.begin() + static_cast<ptrdiff_t>(begin),
                              bytes.begin() + static_cast<ptrdiff_t>(end));
      const char* first = block.data();
      const char* last = first + block.size();
      ASSERT_EQ(fast(first, last) - first, reference(first, last) - first)
          << "range [" << begin << ", " << end << ") of a " << bytes.size() << "-byte input";
    }
  }
}

// Random bytes drawn mostly from `alphabet` (the bytes that matter to the scanner and their neighbours), with
// some fully random ones.
std::string random_bytes(std::mt19937& rng, size_t size, const std::string& alphabet) {
  std::string s(size, '\0');
  for (char& c : s) {
    const uint32_t r = rng();
    c = r % 4 == 0 ? static_cast<char>(r >> 8) : alphabet[(r >> 8) % alphabet.size()];
  }
  return s;
}

TEST(ScanTest, ColonOrBlankMatchesReference) {
  // Adversarial: the target byte at each position of a block, in the last byte before `end`, nowhere at all,
  // and neighbours of the target values (0x3B, 0x1F, 0x21, 0x08, 0x0A) and bytes with the top bit set.
  expect_same_everywhere(std::string(70, 'a'), find_colon_or_blank, colon_or_blank_reference);
  for (char target : {':', ' ', '\t'}) {
    for (size_t at : {0, 1, 15, 16, 17, 31, 32, 47, 63}) {
      std::string s(64, 'x');
      s[at] = target;
      expect_same_everywhere(s, find_colon_or_blank, colon_or_blank_reference);
    }
  }
  expect_same_everywhere(std::string(40, ';') + std::string(20, '\x1F') + std::string(20, '\x80'), find_colon_or_blank,
                         colon_or_blank_reference);

  std::mt19937 rng(20240611);
  for (int round = 0; round < 40; ++round) {
    const std::string s = random_bytes(rng, 90, "abcXYZ-:; \t\r\n\x08\x0A\x1F\x21\x3A\x3B\x7F\x80\xBA\xFF");
    expect_same_everywhere(s, find_colon_or_blank, colon_or_blank_reference);
  }
  // Sparse targets, as in real header lines: long runs of name bytes, then one target.
  for (int round = 0; round < 40; ++round) {
    std::string s = random_bytes(rng, 90, "Content-LengthViaFromAuthorization");
    s[rng() % s.size()] = ":\t "[rng() % 3];
    expect_same_everywhere(s, find_colon_or_blank, colon_or_blank_reference);
  }
}

TEST(ScanTest, StopAndListDelimiterMatchReference) {
  std::mt19937 rng(7);
  for (int round = 0; round < 30; ++round) {
    const std::string s = random_bytes(rng, 90, "abc \t\r\n\x1F\x20\x7E\x7F\x80\"\\<>,;=");
    expect_same_everywhere(s, find_stop_sse2, find_stop_scalar);
    expect_same_everywhere(s, find_stop, find_stop_scalar);
    expect_same_everywhere(s, find_list_delimiter, find_list_delimiter_scalar);
  }
}

TEST(ScanTest, ContainsLwsMatchesReference) {
  auto reference = [](const char* p, const char* end) {
    for (; p < end; ++p)
      if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') return true;
    return false;
  };
  auto check_all_ranges = [&](const std::string& bytes) {
    for (size_t begin = 0; begin < bytes.size(); ++begin) {
      for (size_t end = begin; end <= bytes.size() && end - begin <= 40; ++end) {
        std::vector<char> block(bytes.begin() + static_cast<ptrdiff_t>(begin),
                                bytes.begin() + static_cast<ptrdiff_t>(end));
        const char* first = block.data();
        const char* last = first + block.size();
        ASSERT_EQ(contains_lws(first, last), reference(first, last)) << "range [" << begin << ", " << end << ")";
      }
    }
  };
  // One whitespace byte at each position, bytes just below and above 0x21 that are not whitespace, and bytes
  // with the top bit set (the SWAR borrow must not turn them into false hits or hide a real one).
  for (char ws : {' ', '\t', '\r', '\n'}) {
    for (size_t at = 0; at < 20; ++at) {
      std::string s(20, 'a');
      s[at] = ws;
      check_all_ranges(s);
    }
  }
  check_all_ranges(std::string("\x00\x01\x08\x0B\x0C\x1F\x21\x7F\x80\xA0\xFF!!!!!!!!!!", 21));
  std::mt19937 rng(99);
  for (int round = 0; round < 60; ++round)
    check_all_ranges(random_bytes(rng, 48, "sip:alice@example.com;x=y\x1F\x21\x80\xA0"));
  for (int round = 0; round < 60; ++round) {
    std::string s = random_bytes(rng, 48, "sip:alice@example.com;x=y\x80\xFF");
    for (char& c : s)
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') c = 'x';
    if (round % 2 == 0) s[rng() % s.size()] = " \t\r\n"[rng() % 4];
    check_all_ranges(s);
  }
}

TEST(ScanTest, FindByteMatchesReference) {
  // find_byte(lo, p, end, c) may load a block that starts before p (never before lo): check every lo, p and end
  // of each buffer, each [lo, end) in its own exactly-sized heap block.
  auto check_all = [](const std::string& bytes, char target) {
    for (size_t lo = 0; lo < bytes.size(); ++lo) {
      for (size_t end = lo; end <= bytes.size() && end - lo <= 48; ++end) {
        std::vector<char> block(bytes.begin() + static_cast<ptrdiff_t>(lo),
                                bytes.begin() + static_cast<ptrdiff_t>(end));
        const char* first = block.data();
        const char* last = first + block.size();
        for (const char* p = first; p <= last; ++p) {
          const char* expected = p;
          while (expected < last && *expected != target) ++expected;
          ASSERT_EQ(find_byte(first, p, last, target) - first, expected - first)
              << "lo " << lo << " p " << (p - first) << " end " << end;
        }
      }
    }
  };
  for (size_t at : {0, 1, 15, 16, 17, 31, 32, 40}) {
    std::string s(44, 'x');
    s[at] = '@';
    check_all(s, '@');
  }
  std::mt19937 rng(5954);
  for (int round = 0; round < 20; ++round)
    check_all(random_bytes(rng, 50, std::string("sip:a@b.c;\x40\x00\xC0", 13)), '@');
}

TEST(ScanTest, FindByte2MatchesReference) {
  auto check_all = [](const std::string& bytes) {
    for (size_t lo = 0; lo < bytes.size(); ++lo) {
      for (size_t end = lo; end <= bytes.size() && end - lo <= 48; ++end) {
        std::vector<char> block(bytes.begin() + static_cast<ptrdiff_t>(lo),
                                bytes.begin() + static_cast<ptrdiff_t>(end));
        const char* first = block.data();
        const char* last = first + block.size();
        for (const char* p = first; p <= last; ++p) {
          const char* expected = p;
          while (expected < last && *expected != '"' && *expected != '\\') ++expected;
          ASSERT_EQ(find_byte2(first, p, last, '"', '\\') - first, expected - first)
              << "lo " << lo << " p " << (p - first) << " end " << end;
        }
      }
    }
  };
  for (size_t at : {0, 1, 15, 16, 17, 31, 32, 40}) {
    for (char target : {'"', '\\'}) {
      std::string s(44, 'x');
      s[at] = target;
      check_all(s);
    }
  }
  std::mt19937 rng(8760);
  for (int round = 0; round < 20; ++round)
    check_all(random_bytes(rng, 50, std::string("abc=,\"\\\x22\x5C\xA2\xDC\x00", 12)));
}

TEST(ScanTest, MatchHeaderName16MatchesLookup) {
  // The fused 16-byte name match against find_colon_or_blank() + find_header_id(): every known name (long and
  // compact, in three casings, with each ending), near misses, and random lines.
  auto check = [](const std::string& line) {
    std::vector<char> block(line.begin(), line.end());  // exactly sized: ASan sees a load past the end
    if (block.size() < 16) return;
    const char* p = block.data();
    const char* guess = find_colon_or_blank(p, p + std::min<size_t>(64, block.size()));
    const HeaderId expected = find_header_id(std::string_view(p, static_cast<size_t>(guess - p)));
    HeaderId id = HeaderId::count_;
    const char* fast = match_header_name16(p, id);
    if (guess - p >= 16) {
      ASSERT_EQ(fast, nullptr) << line;
      return;
    }
    ASSERT_EQ(fast, guess) << line;
    ASSERT_EQ(id, expected) << line;
  };
  std::vector<std::string> names;
  for (const Entry& e : entries) {
    names.emplace_back(e.name);
    if (e.compact != 0) names.emplace_back(1, e.compact);
  }
  for (std::string name : names) {
    for (int casing = 0; casing < 3; ++casing) {
      for (char& c : name)
        c = casing == 0 ? c : casing == 1 ? static_cast<char>(std::toupper(c)) : static_cast<char>(std::tolower(c));
      for (const char* ending : {": value of the header\r\n", " : x\r\n0123456789abcdef", "\t:y\r\n0123456789abcdef"}) {
        check(name + ending);
        check(name.substr(0, name.size() - 1) + ending);  // one byte short
        check(name + "x" + ending);                       // one byte long
        std::string changed = name;
        changed[changed.size() / 2] ^= 0x40;  // a letter that is no longer one, or a different byte
        check(changed + ending);
      }
    }
  }
  std::mt19937 rng(3261);
  for (int round = 0; round < 20000; ++round) check(random_bytes(rng, 24, "ViaToFromCall-IDcseq:\t -\xC1\x96"));
}

TEST(ScanTest, ListDelimiterFromMatchesReference) {
  // find_list_delimiter_from(lo, p, end) may load a block starting before p (never before lo).
  auto check_all = [](const std::string& bytes) {
    for (size_t lo = 0; lo < bytes.size(); ++lo) {
      for (size_t end = lo; end <= bytes.size() && end - lo <= 48; ++end) {
        std::vector<char> block(bytes.begin() + static_cast<ptrdiff_t>(lo),
                                bytes.begin() + static_cast<ptrdiff_t>(end));
        const char* first = block.data();
        const char* last = first + block.size();
        for (const char* p = first; p <= last; ++p)
          ASSERT_EQ(find_list_delimiter_from(first, p, last) - first, find_list_delimiter_scalar(p, last) - first)
              << "lo " << lo << " p " << (p - first) << " end " << end;
      }
    }
  };
  for (size_t at : {0, 1, 15, 16, 17, 31, 32, 40})
    for (char target : {'"', '\\', '<', '>', ','}) {
      std::string s(44, 'x');
      s[at] = target;
      check_all(s);
    }
  std::mt19937 rng(7230);
  for (int round = 0; round < 20; ++round)
    check_all(random_bytes(rng, 50, std::string("ab;= \"\\<>,\x00\xA2\xBC\xBE\xAC", 15)));
}

}  // namespace
}  // namespace parkd::sip::internal
