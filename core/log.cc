#include "core/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>

namespace parkd::log {
namespace {
std::atomic<int> current_level{static_cast<int>(Level::info)};
}  // namespace

std::optional<Level> parse_level(std::string_view name) {
  if (name == "error") return Level::error;
  if (name == "warn") return Level::warn;
  if (name == "info") return Level::info;
  if (name == "debug") return Level::debug;
  return std::nullopt;
}

std::string_view level_name(Level level) {
  switch (level) {
    case Level::error: return "error";
    case Level::warn: return "warn";
    case Level::info: return "info";
    case Level::debug: return "debug";
  }
  return "?";
}

void set_level(Level level) { current_level.store(static_cast<int>(level), std::memory_order_relaxed); }
Level level() { return static_cast<Level>(current_level.load(std::memory_order_relaxed)); }

void write(Level lvl, const char* format, ...) {
  // Room for the longest line parkd writes: a shard's counters (SIGUSR1 and at exit), about 1,300 bytes with
  // every layer's counters and growing with each layer; longer is cut.
  char line[4096];
  int n = std::snprintf(line, sizeof line, "parkd %s: ", level_name(lvl).data());
  va_list args;
  va_start(args, format);
  int m = std::vsnprintf(line + n, sizeof line - static_cast<size_t>(n) - 1, format, args);
  va_end(args);
  size_t len = static_cast<size_t>(n) + (m < 0 ? 0 : static_cast<size_t>(m));
  if (len > sizeof line - 2) len = sizeof line - 2;
  line[len++] = '\n';
  ssize_t ignored = ::write(STDERR_FILENO, line, len);
  (void)ignored;
}

}  // namespace parkd::log
