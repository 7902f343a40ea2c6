// FAKE PARSER: a stand-in for sip/parser.cc so the parser benchmark can be built and tried before the real
// parser lands. Compiled into parser_bench only with -DPARKD_BENCH_FAKE_PARSER=ON, and the benchmark then
// prints "FAKE PARSER" on every line. Its numbers mean nothing about parkd. Delete this file (and the option
// in bench/CMakeLists.txt) when sip/parser.cc is merged.
//
// It only walks the lines: memchr for each '\n' until the empty line that ends the header block, counts the
// lines as headers, and takes the rest of the datagram as the body (UDP framing). No grammar is checked.
#include <cstring>

#include "sip/parser.h"

namespace parkd::sip {

ParseResult parse_message(std::string_view in, Transport /*transport*/, MessageView& out) {
  ParseResult result;
  const char* const begin = in.data();
  const char* const end = begin + in.size();
  const char* line = begin;
  uint32_t lines = 0;
  while (line < end) {
    const auto* newline = static_cast<const char*>(std::memchr(line, '\n', end - line));
    if (newline == nullptr) break;
    const bool empty_line = newline == line || (newline == line + 1 && *line == '\r');
    line = newline + 1;
    if (empty_line) {
      out.header_count = lines > 0 ? lines - 1 : 0;  // the start line is not a header
      out.body = std::string_view(line, end - line);
      result.status = ParseStatus::complete;
      result.consumed = static_cast<uint32_t>(in.size());
      return result;
    }
    ++lines;
  }
  result.status = ParseStatus::incomplete;
  result.bytes_needed = 1;
  return result;
}

}  // namespace parkd::sip
