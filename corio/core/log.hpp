// SPDX-License-Identifier: MIT
//
// corio's logger: one spdlog logger named "corio" writing to stderr, its
// level read once from CORIO_LOG (trace|debug|info|warn|error|off; default
// warn, so that a library embedded in someone's server stays quiet).
// corio logs at boundaries and state changes (a backend fallback, a listener
// backing off under EMFILE), never once per operation at info.
#pragma once

#include <spdlog/logger.h>

namespace corio::detail {
spdlog::logger& logger();
}  // namespace corio::detail

#define CORIO_LOG_TRACE(...) ::corio::detail::logger().trace(__VA_ARGS__)
#define CORIO_LOG_DEBUG(...) ::corio::detail::logger().debug(__VA_ARGS__)
#define CORIO_LOG_INFO(...) ::corio::detail::logger().info(__VA_ARGS__)
#define CORIO_LOG_WARN(...) ::corio::detail::logger().warn(__VA_ARGS__)
#define CORIO_LOG_ERROR(...) ::corio::detail::logger().error(__VA_ARGS__)
