// SPDX-License-Identifier: MIT
//
// The logger is built on first use (a function-local static, so that it is
// safe from other static initialisers) and never registered globally, so
// that an application's own spdlog setup is left alone.
#include <corio/core/log.hpp>

#include <cstdlib>
#include <memory>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <string_view>

namespace corio::detail {

namespace {
spdlog::level::level_enum level_from_env() {
  const char* v = std::getenv("CORIO_LOG");
  if (!v || !*v) return spdlog::level::warn;
  std::string_view s(v);
  if (s == "trace") return spdlog::level::trace;
  if (s == "debug") return spdlog::level::debug;
  if (s == "info") return spdlog::level::info;
  if (s == "warn" || s == "warning") return spdlog::level::warn;
  if (s == "error") return spdlog::level::err;
  if (s == "off") return spdlog::level::off;
  return spdlog::level::warn;
}
}  // namespace

spdlog::logger& logger() {
  static std::shared_ptr<spdlog::logger> log = [] {
    auto l = std::make_shared<spdlog::logger>("corio", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    l->set_level(level_from_env());
    l->set_pattern("[%H:%M:%S.%e] [corio] [%l] %v");
    return l;
  }();
  return *log;
}

}  // namespace corio::detail
