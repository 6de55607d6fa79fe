// SPDX-License-Identifier: MIT
//
// Why: see url.hpp. This file is the RFC 3986 grammar as code: one character
// class table, one pass over the input that splits it the way the regex of
// RFC 3986 appendix B does, then a check of each component against the class
// its grammar rule allows. The first offending byte decides the message, so a
// user sees "space in path at offset 12" rather than "bad URL".
//
// IPv4 literals: a host made only of digits and three dots must be a valid
// dotted quad without leading zeros. RFC 3986 would call "1.2.3.0256" a
// reg-name, but resolvers read it as octal or as an address, which is how
// SSRF filters get bypassed, so it is rejected instead.
//
// Rejected: decoding while parsing. Keeping escapes makes `to_string()` exact
// and leaves the decision (and its security checks) to whoever consumes the
// component.
#include <corio/net/http/url.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <string>

namespace corio::http {

namespace {

enum char_class : std::uint8_t {
    c_unreserved = 1, // ALPHA DIGIT - . _ ~
    c_sub_delim = 2,  // ! $ & ' ( ) * + , ; =
    c_scheme = 4,     // ALPHA DIGIT + - .
    c_hex = 8,
};

constexpr std::array<std::uint8_t, 256> make_classes() {
    std::array<std::uint8_t, 256> t{};
    for (int c = 'a'; c <= 'z'; ++c) t[c] |= c_unreserved | c_scheme;
    for (int c = 'A'; c <= 'Z'; ++c) t[c] |= c_unreserved | c_scheme;
    for (int c = '0'; c <= '9'; ++c) t[c] |= c_unreserved | c_scheme | c_hex;
    for (int c = 'a'; c <= 'f'; ++c) t[c] |= c_hex;
    for (int c = 'A'; c <= 'F'; ++c) t[c] |= c_hex;
    for (char c : std::string_view("-._~")) t[static_cast<unsigned char>(c)] |= c_unreserved;
    for (char c : std::string_view("!$&'()*+,;=")) t[static_cast<unsigned char>(c)] |= c_sub_delim;
    for (char c : std::string_view("+-.")) t[static_cast<unsigned char>(c)] |= c_scheme;
    return t;
}

constexpr auto classes = make_classes();

bool has(char c, std::uint8_t cls) { return (classes[static_cast<unsigned char>(c)] & cls) != 0; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
char to_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Quotes `s` for an error message: printable ASCII as is, the rest as \xNN,
// cut at 200 bytes so a hostile URL cannot make the message huge.
std::string quote(std::string_view s) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out = "\"";
    std::size_t n = 0;
    for (char ch : s) {
        if (++n > 200) {
            out += "...";
            break;
        }
        auto c = static_cast<unsigned char>(ch);
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            out += ch;
        } else {
            out += "\\x";
            out += digits[c >> 4];
            out += digits[c & 15];
        }
    }
    out += '"';
    return out;
}

[[noreturn]] void fail(std::string_view input, const std::string& what) {
    throw url_error("invalid URL " + quote(input) + ": " + what);
}

std::string describe_byte(char ch) {
    static constexpr char digits[] = "0123456789abcdef";
    auto c = static_cast<unsigned char>(ch);
    std::string s;
    if (c == ' ') return "space";
    if (c < 0x20 || c == 0x7f) s = "control character 0x";
    else if (c >= 0x80) s = "non-ASCII byte 0x";
    else return std::string("invalid character '") + ch + "'";
    s += digits[c >> 4];
    s += digits[c & 15];
    return s;
}

// Checks that every byte of input[begin, end) is in `allowed` (or one of
// `extra`) or a valid %XX escape.
void check_component(std::string_view input, std::size_t begin, std::size_t end,
                     std::uint8_t allowed, std::string_view extra, const char* name) {
    for (std::size_t i = begin; i < end; ++i) {
        char c = input[i];
        if (has(c, allowed) || extra.find(c) != std::string_view::npos) continue;
        if (c == '%') {
            if (i + 2 < end && has(input[i + 1], c_hex) && has(input[i + 2], c_hex)) {
                i += 2;
                continue;
            }
            fail(input, std::string("bad percent escape in ") + name + " at offset " +
                            std::to_string(i));
        }
        fail(input, describe_byte(c) + " in " + name + " at offset " + std::to_string(i));
    }
}

// dec-octet without leading zeros; returns false if `s` is not one.
bool dec_octet(std::string_view s) {
    if (s.empty() || s.size() > 3) return false;
    if (s.size() > 1 && s[0] == '0') return false;
    int v = 0;
    for (char c : s) {
        if (!is_digit(c)) return false;
        v = v * 10 + (c - '0');
    }
    return v <= 255;
}

bool valid_ipv4(std::string_view s) {
    for (int part = 0; part < 4; ++part) {
        auto dot = s.find('.');
        if (part < 3 && dot == std::string_view::npos) return false;
        if (part == 3 && dot != std::string_view::npos) return false;
        if (!dec_octet(s.substr(0, dot))) return false;
        s = part < 3 ? s.substr(dot + 1) : std::string_view();
    }
    return true;
}

// RFC 3986 IPv6address: up to eight h16 groups, at most one "::", an optional
// trailing IPv4 that counts as two groups.
bool valid_ipv6(std::string_view s) {
    int groups = 0;
    bool elided = false;
    std::size_t i = 0;
    if (s.starts_with("::")) {
        elided = true;
        i = 2;
        if (i == s.size()) return true;
    } else if (s.starts_with(":")) {
        return false;
    }
    while (i < s.size()) {
        std::size_t j = i;
        while (j < s.size() && has(s[j], c_hex) && j - i < 5) ++j;
        if (j < s.size() && s[j] == '.') {
            if (!valid_ipv4(s.substr(i))) return false;
            groups += 2;
            i = s.size();
            break;
        }
        if (j == i || j - i > 4) return false;
        ++groups;
        if (j == s.size()) {
            i = j;
            break;
        }
        if (s[j] != ':') return false;
        if (j + 1 < s.size() && s[j + 1] == ':') {
            if (elided) return false;
            elided = true;
            i = j + 2;
            if (i == s.size()) break;
        } else {
            i = j + 1;
            if (i == s.size()) return false; // trailing single ':'
        }
    }
    return elided ? groups <= 7 : groups == 8;
}

bool is_http_like(const std::string& scheme) {
    return scheme == "http" || scheme == "https" || scheme == "ws" || scheme == "wss";
}

std::uint16_t default_port(const std::string& scheme) noexcept {
    if (scheme == "http" || scheme == "ws") return 80;
    if (scheme == "https" || scheme == "wss") return 443;
    return 0;
}

// RFC 3986 5.2.3.
std::string merge(const url& base, const std::string& ref_path) {
    if (base.has_authority() && base.path().empty()) return "/" + ref_path;
    auto slash = base.path().rfind('/');
    if (slash == std::string::npos) return ref_path;
    return base.path().substr(0, slash + 1) + ref_path;
}

} // namespace

std::string remove_dot_segments(std::string_view in) {
    // RFC 3986 5.2.4, with the output as a string whose last segment is
    // removed by cutting at its last '/'.
    std::string out;
    out.reserve(in.size());
    while (!in.empty()) {
        if (in.starts_with("../")) {
            in.remove_prefix(3);
        } else if (in.starts_with("./")) {
            in.remove_prefix(2);
        } else if (in.starts_with("/./")) {
            in.remove_prefix(2);
        } else if (in == "/.") {
            in = "/";
        } else if (in.starts_with("/../") || in == "/..") {
            if (in == "/..") in = "/";
            else in.remove_prefix(3);
            auto slash = out.rfind('/');
            out.erase(slash == std::string::npos ? 0 : slash);
        } else if (in == "." || in == "..") {
            in = {};
        } else {
            std::size_t start = in[0] == '/' ? 1 : 0;
            auto next = in.find('/', start);
            if (next == std::string_view::npos) next = in.size();
            out.append(in.substr(0, next));
            in.remove_prefix(next);
        }
    }
    return out;
}

url url::parse(std::string_view text) { return parse_impl(text, true); }

url url::parse_reference(std::string_view text) { return parse_impl(text, false); }

url url::parse_impl(std::string_view in, bool need_scheme) {
    url u;
    std::size_t i = 0;

    // scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":"
    if (!in.empty() && is_alpha(in[0])) {
        std::size_t j = 1;
        while (j < in.size() && has(in[j], c_scheme)) ++j;
        if (j < in.size() && in[j] == ':') {
            u.scheme_.reserve(j);
            for (std::size_t k = 0; k < j; ++k) u.scheme_ += to_lower(in[k]);
            i = j + 1;
        }
    }
    if (need_scheme && u.scheme_.empty()) {
        if (in.empty()) fail(in, "empty");
        fail(in, "missing scheme (expected something like \"http://\")");
    }

    // authority: "//" userinfo@ host :port, up to the first / ? #
    if (in.substr(i).starts_with("//")) {
        u.has_authority_ = true;
        i += 2;
        std::size_t end = in.find_first_of("/?#", i);
        if (end == std::string_view::npos) end = in.size();
        std::size_t at = in.find('@', i);
        std::size_t host_begin = i;
        if (at != std::string_view::npos && at < end) {
            check_component(in, i, at, c_unreserved | c_sub_delim, ":", "userinfo");
            u.userinfo_ = std::string(in.substr(i, at - i));
            u.has_userinfo_ = true;
            host_begin = at + 1;
        }
        std::size_t host_end;
        std::size_t port_begin = std::string_view::npos;
        if (host_begin < end && in[host_begin] == '[') {
            auto close = in.find(']', host_begin);
            if (close == std::string_view::npos || close > end)
                fail(in, "unterminated '[' in host");
            std::string_view lit = in.substr(host_begin + 1, close - host_begin - 1);
            if (!lit.empty() && (lit[0] == 'v' || lit[0] == 'V'))
                fail(in, "IPvFuture addresses are not supported");
            if (lit.find('%') != std::string_view::npos)
                fail(in, "IPv6 zone identifiers are not supported");
            if (!valid_ipv6(lit)) fail(in, "invalid IPv6 address [" + std::string(lit) + "]");
            u.host_.reserve(lit.size());
            for (char c : lit) u.host_ += to_lower(c);
            u.host_kind_ = host_kind::ipv6;
            host_end = close + 1;
            if (host_end < end) {
                if (in[host_end] != ':') fail(in, "unexpected " + describe_byte(in[host_end]) + " after ']'");
                port_begin = host_end + 1;
            }
        } else {
            auto colon = in.find(':', host_begin);
            host_end = (colon != std::string_view::npos && colon < end) ? colon : end;
            if (host_end < end) port_begin = host_end + 1;
            check_component(in, host_begin, host_end, c_unreserved | c_sub_delim, "", "host");
            std::string_view h = in.substr(host_begin, host_end - host_begin);
            u.host_.reserve(h.size());
            for (std::size_t k = 0; k < h.size(); ++k) {
                if (h[k] == '%') { // keep the escape's hex digits as written
                    u.host_.append(h.substr(k, 3));
                    k += 2;
                } else {
                    u.host_ += to_lower(h[k]);
                }
            }
            if (!h.empty() && h.find_first_not_of("0123456789.") == std::string_view::npos &&
                std::count(h.begin(), h.end(), '.') == 3) {
                if (!valid_ipv4(h)) fail(in, "invalid IPv4 address " + quote(h));
                u.host_kind_ = host_kind::ipv4;
            }
        }
        if (port_begin != std::string_view::npos && port_begin < end) {
            std::uint32_t port = 0;
            for (std::size_t k = port_begin; k < end; ++k) {
                if (!is_digit(in[k]))
                    fail(in, "port is not a number (" + describe_byte(in[k]) + " at offset " +
                                 std::to_string(k) + ")");
                port = port * 10 + static_cast<std::uint32_t>(in[k] - '0');
                if (port > 65535) fail(in, "port out of range (max 65535)");
            }
            u.port_ = static_cast<std::uint16_t>(port);
        }
        if (need_scheme && u.host_.empty() && is_http_like(u.scheme_)) fail(in, "missing host");
        i = end;
    } else if (need_scheme && is_http_like(u.scheme_)) {
        // A reference may be "http:g" (RFC 3986 5.4.2); a URL to fetch may not.
        fail(in, "missing \"//\" and host after \"" + u.scheme_ + ":\"");
    }

    // path, query, fragment
    std::size_t path_end = in.find_first_of("?#", i);
    if (path_end == std::string_view::npos) path_end = in.size();
    check_component(in, i, path_end, c_unreserved | c_sub_delim, ":@/", "path");
    u.path_ = std::string(in.substr(i, path_end - i));
    i = path_end;
    if (i < in.size() && in[i] == '?') {
        std::size_t q_end = in.find('#', i + 1);
        if (q_end == std::string_view::npos) q_end = in.size();
        check_component(in, i + 1, q_end, c_unreserved | c_sub_delim, ":@/?", "query");
        u.query_ = std::string(in.substr(i + 1, q_end - i - 1));
        u.has_query_ = true;
        i = q_end;
    }
    if (i < in.size() && in[i] == '#') {
        check_component(in, i + 1, in.size(), c_unreserved | c_sub_delim, ":@/?", "fragment");
        u.fragment_ = std::string(in.substr(i + 1));
        u.has_fragment_ = true;
    }
    return u;
}

url url::resolve(const url& base, std::string_view reference) {
    return resolve(base, parse_reference(reference));
}

url url::resolve(const url& base, const url& r) {
    if (!base.is_absolute())
        throw url_error("cannot resolve against " + quote(base.to_string()) +
                        ": base URL is not absolute");
    // RFC 3986 5.2.2, strict parser.
    url t;
    auto take_authority = [&t](const url& from) {
        t.has_authority_ = from.has_authority_;
        t.userinfo_ = from.userinfo_;
        t.has_userinfo_ = from.has_userinfo_;
        t.host_ = from.host_;
        t.host_kind_ = from.host_kind_;
        t.port_ = from.port_;
    };
    auto take_query = [&t](const url& from) {
        t.query_ = from.query_;
        t.has_query_ = from.has_query_;
    };
    if (!r.scheme_.empty()) {
        t.scheme_ = r.scheme_;
        take_authority(r);
        t.path_ = remove_dot_segments(r.path_);
        take_query(r);
    } else {
        if (r.has_authority_) {
            take_authority(r);
            t.path_ = remove_dot_segments(r.path_);
            take_query(r);
        } else {
            if (r.path_.empty()) {
                t.path_ = base.path_;
                take_query(r.has_query_ ? r : base);
            } else {
                if (r.path_[0] == '/') t.path_ = remove_dot_segments(r.path_);
                else t.path_ = remove_dot_segments(merge(base, r.path_));
                take_query(r);
            }
            take_authority(base);
        }
        t.scheme_ = base.scheme_;
    }
    t.fragment_ = r.fragment_;
    t.has_fragment_ = r.has_fragment_;
    return t;
}

std::uint16_t url::port_or_default() const noexcept {
    return port_ ? *port_ : default_port(scheme_);
}

std::string url::target() const {
    std::string t = path_.empty() ? std::string("/") : path_;
    if (has_query_) {
        t += '?';
        t += query_;
    }
    return t;
}

std::string url::host_header() const {
    std::string h = is_ipv6() ? "[" + host_ + "]" : host_;
    if (port_) {
        if (*port_ != default_port(scheme_)) {
            h += ':';
            h += std::to_string(*port_);
        }
    }
    return h;
}

std::string url::origin() const {
    std::string o = scheme_;
    o += "://";
    o += is_ipv6() ? "[" + host_ + "]" : host_;
    o += ':';
    o += std::to_string(port_or_default());
    return o;
}

std::string url::to_string() const {
    std::string s;
    if (!scheme_.empty()) {
        s += scheme_;
        s += ':';
    }
    if (has_authority_) {
        s += "//";
        if (has_userinfo_) {
            s += userinfo_;
            s += '@';
        }
        s += is_ipv6() ? "[" + host_ + "]" : host_;
        if (port_) {
            s += ':';
            s += std::to_string(*port_);
        }
    } else if (path_.starts_with("//")) {
        // Resolution can leave "//" at the start of a path without authority
        // ("tp:/.//x" -> path "//x"); printed as is it would read back as an
        // authority. "/." keeps the meaning (RFC 3986 5.2.4 removes it).
        s += "/.";
    }
    s += path_;
    if (has_query_) {
        s += '?';
        s += query_;
    }
    if (has_fragment_) {
        s += '#';
        s += fragment_;
    }
    return s;
}

std::string percent_decode(std::string_view text, bool plus_is_space) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '%') {
            int hi = i + 1 < text.size() ? hex_value(text[i + 1]) : -1;
            int lo = i + 2 < text.size() ? hex_value(text[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                throw url_error("bad percent escape in " + quote(text) + " at offset " +
                                std::to_string(i));
            out += static_cast<char>(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out += ' ';
        } else {
            out += c;
        }
    }
    return out;
}

std::string percent_encode(std::string_view text, url_component component) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::uint8_t allowed = c_unreserved;
    std::string_view extra;
    switch (component) {
    case url_component::userinfo: allowed |= c_sub_delim; extra = ":"; break;
    case url_component::path: allowed |= c_sub_delim; extra = ":@/"; break;
    case url_component::path_segment: allowed |= c_sub_delim; extra = ":@"; break;
    case url_component::query:
    case url_component::fragment: allowed |= c_sub_delim; extra = ":@/?"; break;
    case url_component::query_value:
    case url_component::form: break;
    }
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        if (has(c, allowed) || extra.find(c) != std::string_view::npos) {
            out += c;
        } else if (c == ' ' && component == url_component::form) {
            out += '+';
        } else {
            auto b = static_cast<unsigned char>(c);
            out += '%';
            out += digits[b >> 4];
            out += digits[b & 15];
        }
    }
    return out;
}

} // namespace corio::http
