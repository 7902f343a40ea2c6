// parser_bench: parkd's SIP parser against libosip2 on the same bytes, with a bare newline scan as the floor.
//
// For every message in bench/messages/ (the order of BASELINES.md's table) three benchmarks read one buffer:
//   parkd/<message>  parkd::sip::parse_message into one MessageView reused across iterations, as a shard
//                    reuses one view for every datagram it reads.
//   osip2/<message>  osip_message_init + osip_message_parse + osip_message_free: what a server built on
//                    libosip2 pays per message. The free belongs in it: osip allocates 77-210 times per
//                    message and only the free gives that memory back.
//   scan/<message>   memchr for every '\n' and nothing else. No parser that looks at every line can beat it;
//                    a parkd time close to it means the parser is bound by reading the bytes.
// Before anything is timed, every message is checked (header block ends in an empty line, Content-Length
// matches the body) and both parsers must accept it; otherwise the run stops with exit 1 and says which.
// Times are CPU time in ns; bytes/s and items/s (messages/s) come from SetBytesProcessed/SetItemsProcessed.
// bench/run parser builds, pins and runs this, and prints the comparison (bench/README.md).
#include <benchmark/benchmark.h>
#include <osipparser2/osip_parser.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sip/parser.h"

namespace {

// File stems in bench/messages/, in the order of BASELINES.md's table; also the benchmarks' last name part.
constexpr std::array<const char*, 6> message_names = {
    "register_auth", "invite_sdp", "ok_sdp", "notify_park_info", "bye", "unauthorized_401",
};

struct Message {
  std::string name;
  std::string path;
  std::string bytes;
};

[[noreturn]] void fail(const Message& message, const std::string& why) {
  std::fprintf(stderr, "parser_bench: %s (%s): %s\n", message.name.c_str(), message.path.c_str(), why.c_str());
  std::exit(1);
}

std::string_view error_text(parkd::sip::ParseError error) {
  switch (error) {
#define PARKD_SIP_ERROR(id, text)  \
  case parkd::sip::ParseError::id: \
    return text;
#include "sip/errors.def"
#undef PARKD_SIP_ERROR
  }
  return "unknown ParseError";
}

std::string_view status_text(parkd::sip::ParseStatus status) {
  switch (status) {
    case parkd::sip::ParseStatus::complete: return "complete";
    case parkd::sip::ParseStatus::incomplete: return "incomplete";
    case parkd::sip::ParseStatus::error: return "error";
  }
  return "unknown ParseStatus";
}

Message load(const std::string& directory, const char* name) {
  Message message{name, directory + "/" + name + ".sip", {}};
  std::ifstream file(message.path, std::ios::binary);
  if (!file) fail(message, "cannot open the file (the benchmark reads bench/messages/ of the source tree)");
  message.bytes.assign(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
  if (message.bytes.empty()) fail(message, "the file is empty");
  return message;
}

// The message itself, before any parser sees it: a header block ending in CRLF CRLF and a Content-Length that
// counts the body exactly, so both parsers are given a well-formed message.
void check_framing(const Message& message) {
  const std::string_view bytes = message.bytes;
  const size_t header_end = bytes.find("\r\n\r\n");
  if (header_end == std::string_view::npos) fail(message, "no empty line (CRLF CRLF) ends the header block");
  const std::string_view headers = bytes.substr(0, header_end + 2);
  const size_t body_size = bytes.size() - header_end - 4;
  constexpr std::string_view content_length = "\r\nContent-Length:";
  const size_t at = headers.find(content_length);
  if (at == std::string_view::npos) fail(message, "no Content-Length header");
  const unsigned long declared = std::strtoul(headers.data() + at + content_length.size(), nullptr, 10);
  if (declared != body_size) {
    fail(message, "Content-Length " + std::to_string(declared) + " but the body is " + std::to_string(body_size) +
                      " bytes (line endings converted to LF? see .gitattributes)");
  }
}

void check_parkd(const Message& message, parkd::sip::MessageView& view) {
  const parkd::sip::ParseResult result = parkd::sip::parse_message(message.bytes, parkd::sip::Transport::udp, view);
  if (result.status != parkd::sip::ParseStatus::complete) {
    std::string why = "parkd's parse_message refused it: status " + std::string(status_text(result.status));
    if (result.status == parkd::sip::ParseStatus::error) why += ", \"" + std::string(error_text(result.error)) + "\"";
    fail(message, why);
  }
  if (result.consumed != message.bytes.size()) {
    fail(message, "parkd's parse_message consumed " + std::to_string(result.consumed) + " of " +
                      std::to_string(message.bytes.size()) + " bytes");
  }
}

void check_osip(const Message& message) {
  osip_message_t* sip = nullptr;
  if (osip_message_init(&sip) != 0) fail(message, "osip_message_init failed");
  const int rc = osip_message_parse(sip, message.bytes.data(), message.bytes.size());
  osip_message_free(sip);
  if (rc != 0) fail(message, "libosip2's osip_message_parse refused it: returned " + std::to_string(rc));
}

void set_counters(benchmark::State& state, const Message& message) {
  const auto size = static_cast<int64_t>(message.bytes.size());
  state.SetBytesProcessed(state.iterations() * size);
  state.SetItemsProcessed(state.iterations());
  state.counters["message_bytes"] = static_cast<double>(size);
}

void bench_parkd(benchmark::State& state, const Message* message) {
  // A MessageView is several KiB of fixed arrays: allocated once, reused for every parse.
  auto view = std::make_unique<parkd::sip::MessageView>();
  const std::string_view bytes = message->bytes;
  for (auto _ : state) {
    parkd::sip::ParseResult result = parkd::sip::parse_message(bytes, parkd::sip::Transport::udp, *view);
    benchmark::DoNotOptimize(result);
    benchmark::ClobberMemory();  // the view's contents count as used
  }
  set_counters(state, *message);
}

void bench_osip(benchmark::State& state, const Message* message) {
  const char* const data = message->bytes.data();
  const size_t size = message->bytes.size();
  for (auto _ : state) {
    osip_message_t* sip = nullptr;
    osip_message_init(&sip);
    int rc = osip_message_parse(sip, data, size);
    benchmark::DoNotOptimize(rc);
    osip_message_free(sip);
  }
  set_counters(state, *message);
}

size_t count_newlines(std::string_view bytes) {
  size_t newlines = 0;
  const char* p = bytes.data();
  const char* const end = p + bytes.size();
  while ((p = static_cast<const char*>(std::memchr(p, '\n', end - p))) != nullptr) {
    ++newlines;
    ++p;
  }
  return newlines;
}

void bench_scan(benchmark::State& state, const Message* message) {
  std::string_view bytes = message->bytes;
  for (auto _ : state) {
    benchmark::DoNotOptimize(bytes);  // the compiler must not know the bytes, or it could fold the count
    size_t newlines = count_newlines(bytes);
    benchmark::DoNotOptimize(newlines);
  }
  set_counters(state, *message);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  if (parser_init() != 0) {
    std::fprintf(stderr, "parser_bench: libosip2's parser_init() failed\n");
    return 1;
  }

  // Loaded once and never moved: the benchmarks keep pointers to the elements.
  std::vector<Message> messages;
  messages.reserve(message_names.size());
  for (const char* name : message_names) messages.push_back(load(PARKD_BENCH_MESSAGES_DIR, name));

  auto view = std::make_unique<parkd::sip::MessageView>();
  for (const Message& message : messages) {
    check_framing(message);
    check_parkd(message, *view);
    check_osip(message);
  }

  for (const Message& message : messages) {
    benchmark::RegisterBenchmark(("parkd/" + message.name).c_str(), bench_parkd, &message)
        ->Unit(benchmark::kNanosecond);
    benchmark::RegisterBenchmark(("osip2/" + message.name).c_str(), bench_osip, &message)->Unit(benchmark::kNanosecond);
    benchmark::RegisterBenchmark(("scan/" + message.name).c_str(), bench_scan, &message)->Unit(benchmark::kNanosecond);
  }
  benchmark::AddCustomContext("parkd_parser", "sip/parser.cc");
  benchmark::AddCustomContext("messages_dir", PARKD_BENCH_MESSAGES_DIR);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
