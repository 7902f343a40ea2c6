// Logging: a level set once at start-up and a printf-style line writer to stderr.
//
// The data plane logs only at debug level or on rare events; a disabled level costs one compare. A line is
// written with one write(2) so lines from different shards do not interleave.
#pragma once

#include <cstdarg>
#include <optional>
#include <string_view>

namespace parkd::log {

enum class Level { error = 0, warn = 1, info = 2, debug = 3 };

std::optional<Level> parse_level(std::string_view name);
std::string_view level_name(Level level);

void set_level(Level level);
Level level();
inline bool enabled(Level l) { return static_cast<int>(l) <= static_cast<int>(level()); }

void write(Level level, const char* format, ...) __attribute__((format(printf, 2, 3)));

}  // namespace parkd::log

#define PARKD_LOG(lvl, ...)                                                                                          \
  do {                                                                                                               \
    if (::parkd::log::enabled(::parkd::log::Level::lvl)) ::parkd::log::write(::parkd::log::Level::lvl, __VA_ARGS__); \
  } while (0)
