// SPDX-License-Identifier: MIT
//
// IMF-fixdate formatting and parsing; see http_date.hpp.
#include <corio/net/http/http_date.hpp>

#include <array>
#include <cstring>

namespace corio::http {

namespace {

constexpr std::array<const char*, 7> day_names{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<const char*, 12> month_names{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

constexpr std::size_t date_length = 29;

void put2(char* p, int v) noexcept {
    p[0] = static_cast<char>('0' + v / 10 % 10);
    p[1] = static_cast<char>('0' + v % 10);
}

void format_into(std::time_t t, char* out) noexcept {
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    std::memcpy(out, day_names[static_cast<std::size_t>(tm.tm_wday) % 7], 3);
    out[3] = ',';
    out[4] = ' ';
    put2(out + 5, tm.tm_mday);
    out[7] = ' ';
    std::memcpy(out + 8, month_names[static_cast<std::size_t>(tm.tm_mon) % 12], 3);
    out[11] = ' ';
    int year = tm.tm_year + 1900;
    put2(out + 12, year / 100);
    put2(out + 14, year % 100);
    out[16] = ' ';
    put2(out + 17, tm.tm_hour);
    out[19] = ':';
    put2(out + 20, tm.tm_min);
    out[22] = ':';
    put2(out + 23, tm.tm_sec);
    std::memcpy(out + 25, " GMT", 4);
}

bool digits(std::string_view s, std::size_t at, std::size_t n, int& out) noexcept {
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    out = v;
    return true;
}

} // namespace

std::string format_http_date(std::time_t t) {
    std::string s(date_length, ' ');
    format_into(t, s.data());
    return s;
}

std::optional<std::time_t> parse_http_date(std::string_view s) noexcept {
    // "Sun, 06 Nov 1994 08:49:37 GMT"
    //  0123456789012345678901234567
    if (s.size() != date_length || s.substr(3, 2) != ", " || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
        s[19] != ':' || s[22] != ':' || s.substr(25) != " GMT")
        return std::nullopt;
    std::tm tm{};
    int year = 0;
    if (!digits(s, 5, 2, tm.tm_mday) || !digits(s, 12, 4, year) || !digits(s, 17, 2, tm.tm_hour) ||
        !digits(s, 20, 2, tm.tm_min) || !digits(s, 23, 2, tm.tm_sec))
        return std::nullopt;
    tm.tm_mon = -1;
    for (std::size_t i = 0; i < month_names.size(); ++i)
        if (s.substr(8, 3) == month_names[i]) tm.tm_mon = static_cast<int>(i);
    if (tm.tm_mon < 0 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
        return std::nullopt;
    tm.tm_year = year - 1900;
    std::time_t t = ::timegm(&tm);
    if (t == static_cast<std::time_t>(-1)) return std::nullopt;
    return t;
}

std::string_view http_date_now() noexcept {
    thread_local std::time_t cached_second = -1;
    thread_local char cached[date_length];
    std::time_t now = std::time(nullptr);
    if (now != cached_second) {
        format_into(now, cached);
        cached_second = now;
    }
    return {cached, date_length};
}

} // namespace corio::http
