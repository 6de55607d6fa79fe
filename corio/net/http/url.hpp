// SPDX-License-Identifier: MIT
//
// Why: the HTTP client needs to split a URL into what goes on the wire (the
// request-target, the Host header), what keys the connection pool (scheme,
// host, port) and what never leaves the process (the fragment); redirects need
// a Location resolved against the URL that was asked for. A wrong split is a
// security bug (SSRF through "http://evil@good/" or "1.2.3.0256"), so parsing
// is strict and every rejection quotes the URL and says what is wrong.
//
// Approach: RFC 3986 grammar, checked byte by byte, without regexes or a
// WHATWG-style "fix it up" pass. Components are stored as given (percent
// escapes are validated but kept), so `to_string()` round-trips and nothing is
// decoded twice; `percent_decode` is a separate, explicit step. Only the
// scheme and a reg-name host are case-normalised (RFC 3986 6.2.2.1).
// `resolve` implements RFC 3986 5.2 (strict: a reference with a scheme is
// taken as is) with remove_dot_segments (5.2.4), tested with every example of
// section 5.4.
//
// Rejected: the WHATWG URL standard. It accepts and repairs input (backslashes,
// spaces, tabs, numbers as IPv4) that an HTTP/1.1 stack should refuse, and it
// needs IDNA tables. Non-ASCII hosts must be given in punycode here.
//
// Invariants: a `url` value always holds a syntactically valid URI reference;
// `scheme()` is lowercase; `host()` has no brackets; `port()` is empty when the
// URL has none (use `port_or_default()`).
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace corio::http {

/// Thrown for a malformed URL or percent-escape. The message quotes the input
/// and says what is wrong, e.g. `invalid URL "http://h:99999/": port out of range`.
class url_error : public std::invalid_argument {
public:
    explicit url_error(const std::string& message) : std::invalid_argument(message) {}
};

/// What a host is, as written in the URL.
enum class host_kind : std::uint8_t { name, ipv4, ipv6 };

/// Which URL component a string is encoded for by `percent_encode`; each keeps
/// the characters RFC 3986 allows in that place and escapes the rest.
enum class url_component : std::uint8_t {
    userinfo,     ///< unreserved, sub-delims, ':'
    path,         ///< a whole path: pchar and '/'
    path_segment, ///< one segment: pchar ('/' is escaped)
    query,        ///< a whole query: pchar, '/', '?'
    query_value,  ///< one key or value: only unreserved chars stay ('&', '=', '+' escaped)
    fragment,     ///< pchar, '/', '?'
    form,         ///< application/x-www-form-urlencoded: unreserved stays, ' ' -> '+'
};

/// A parsed URI reference (RFC 3986).
///
///     auto u = url::parse("https://user@Example.COM:8443/a%20b?q=1#top");
///     u.scheme();          // "https"
///     u.host();            // "example.com"
///     u.port_or_default(); // 8443
///     u.target();          // "/a%20b?q=1"   (request line; no fragment)
///     u.origin();          // "https://example.com:8443"
class url {
public:
    /// Parses an absolute URL (a scheme is required; http and https also need
    /// a non-empty host).
    /// Throws url_error on a missing scheme, a bad port (non-digit, > 65535),
    /// a space or control character, a non-ASCII byte, a bad percent escape,
    /// an unterminated '[' or an invalid IPv4/IPv6 literal.
    static url parse(std::string_view text);

    /// Parses a URI reference, which may be relative ("../x?y", "//host/p").
    /// Throws url_error like `parse`, except that no scheme is needed.
    static url parse_reference(std::string_view text);

    /// Resolves `reference` against the absolute `base` (RFC 3986 5.2), as a
    /// client does with a Location header.
    /// Throws url_error if `base` has no scheme or `reference` is malformed.
    ///
    ///     url::resolve(url::parse("http://a/b/c/d;p?q"), "../g").to_string(); // "http://a/b/g"
    static url resolve(const url& base, const url& reference);
    static url resolve(const url& base, std::string_view reference);

    /// Lowercase scheme; empty for a relative reference.
    const std::string& scheme() const noexcept { return scheme_; }
    /// Userinfo as given (percent-encoded), without the '@'.
    const std::string& userinfo() const noexcept { return userinfo_; }
    /// Host: a lowercased reg-name, an IPv4 literal or an IPv6 literal without brackets.
    const std::string& host() const noexcept { return host_; }
    host_kind kind() const noexcept { return host_kind_; }
    bool is_ipv6() const noexcept { return host_kind_ == host_kind::ipv6; }
    /// The explicit port, if the URL has one.
    std::optional<std::uint16_t> port() const noexcept { return port_; }
    /// The explicit port, else 80 for http/ws, 443 for https/wss, else 0.
    std::uint16_t port_or_default() const noexcept;
    /// Path as given (percent-encoded); may be empty.
    const std::string& path() const noexcept { return path_; }
    /// Query without the '?'; `has_query()` tells "" from absent.
    const std::string& query() const noexcept { return query_; }
    /// Fragment without the '#'.
    const std::string& fragment() const noexcept { return fragment_; }

    bool has_authority() const noexcept { return has_authority_; }
    bool has_userinfo() const noexcept { return has_userinfo_; }
    bool has_query() const noexcept { return has_query_; }
    bool has_fragment() const noexcept { return has_fragment_; }
    bool is_absolute() const noexcept { return !scheme_.empty(); }

    /// The request-target for the request line: path ("/" when empty) plus
    /// "?query". Never contains the fragment.
    std::string target() const;
    /// "scheme://host:port" with the effective port always present and IPv6
    /// in brackets: a stable key for a connection pool.
    std::string origin() const;
    /// The Host header value: host, brackets for IPv6, ":port" only when the
    /// port differs from the scheme's default.
    std::string host_header() const;
    /// Recomposes the URL (RFC 3986 5.3).
    std::string to_string() const;

    friend bool operator==(const url&, const url&) = default;

private:
    static url parse_impl(std::string_view text, bool need_scheme);

    std::string scheme_;
    std::string userinfo_;
    std::string host_;
    std::string path_;
    std::string query_;
    std::string fragment_;
    std::optional<std::uint16_t> port_;
    host_kind host_kind_ = host_kind::name;
    bool has_authority_ = false;
    bool has_userinfo_ = false;
    bool has_query_ = false;
    bool has_fragment_ = false;
};

/// Decodes %XX escapes (and '+' as space when `plus_is_space`, for form data).
/// The result may contain any byte, including NUL and '/': a caller that maps
/// it to a file name must check it.
/// Throws url_error on '%' not followed by two hex digits.
///
///     percent_decode("a%20b%2Fc");   // "a b/c"
std::string percent_decode(std::string_view text, bool plus_is_space = false);

/// Escapes every byte that `component` does not allow as %XX (uppercase hex).
///
///     percent_encode("a b&c", url_component::query_value); // "a%20b%26c"
///     percent_encode("a b/c", url_component::path);        // "a%20b/c"
std::string percent_encode(std::string_view text, url_component component);

/// RFC 3986 5.2.4: removes "." and ".." segments from a path.
///
///     remove_dot_segments("/a/b/c/./../../g"); // "/a/g"
std::string remove_dot_segments(std::string_view path);

} // namespace corio::http
