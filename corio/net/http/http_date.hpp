// SPDX-License-Identifier: MIT
//
// Why: a server stamps every response with Date (RFC 9110 6.6.1) and every
// file with Last-Modified, and reads If-Modified-Since. All three use the
// IMF-fixdate form, "Sun, 06 Nov 1994 08:49:37 GMT": fixed width, always
// GMT, English day and month names.
//
// Approach: formatting uses its own name tables and gmtime_r, never
// strftime, whose %a and %b follow the process locale. The Date of "now" is
// formatted at most once per second per thread (nginx's ngx_cached_http_time)
// because a busy server answers many thousands of requests within the same
// second; time(2) is a vDSO call, so checking the second costs nothing.
//
// Rejected: accepting the two obsolete forms (RFC 850 and asctime) when
// parsing. RFC 9110 says a recipient MUST accept them, but only for
// If-Modified-Since and If-Range, where an unparsed date just means "send the
// whole file", which is always correct.
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace corio::http {

/// The IMF-fixdate for `t`, e.g. "Sun, 06 Nov 1994 08:49:37 GMT" (29 bytes).
std::string format_http_date(std::time_t t);

/// Parses an IMF-fixdate; nullopt for anything else (obsolete forms too).
///
///     parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"); // 784111777
std::optional<std::time_t> parse_http_date(std::string_view text) noexcept;

/// The current time as an IMF-fixdate, cached per thread and per second.
/// The view stays valid until the next call on the same thread.
std::string_view http_date_now() noexcept;

} // namespace corio::http
