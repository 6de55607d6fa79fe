// SPDX-License-Identifier: MIT
//
// Why: see parser.hpp for the contract. This file is the state machine:
//
//   head -> (interim_done -> head)* -> body_length | body_close
//                                    | chunk_size <-> chunk_data -> chunk_crlf
//                                                 -> trailers -> done
//   any -> failed (sticky)        finish() -> finished
//
// Scanning a block (head or trailers) is line by line: memchr finds the LF,
// the line is checked as soon as it is complete, and only the partial last
// line waits for more bytes. Because a complete line's verdict does not depend
// on how the bytes arrived, the only care needed for "same result at every
// split" is in the checks made on a partial line: each must be one the
// complete line would also fail, in the same order. The comments at those
// checks say why they agree.
//
// Strict on purpose (RFC 9112 11.2 request smuggling): bare CR is always an
// error; bare LF is one unless `allow_bare_lf`; obs-fold and whitespace before
// the colon are errors (RFC 9112 5.1, 5.2); framing follows RFC 9112 6.3 with
// the ambiguous cases rejected rather than resolved.
#include <corio/net/http/parser.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace corio::http {

namespace {

enum : std::uint8_t {
    k_tchar = 1,  // token: ALPHA DIGIT !#$%&'*+-.^_`|~
    k_vchar = 2,  // field-value / reason byte: HTAB SP VCHAR obs-text
    k_target = 4, // request-target byte: VCHAR (0x21..0x7e)
    k_hex = 8,
};

constexpr std::array<std::uint8_t, 256> make_table() {
    std::array<std::uint8_t, 256> t{};
    for (int c = 0x21; c <= 0x7e; ++c) t[c] |= k_vchar | k_target;
    for (int c = 0x80; c <= 0xff; ++c) t[c] |= k_vchar;
    t['\t'] |= k_vchar;
    t[' '] |= k_vchar;
    for (int c = '0'; c <= '9'; ++c) t[c] |= k_tchar | k_hex;
    for (int c = 'a'; c <= 'z'; ++c) t[c] |= k_tchar;
    for (int c = 'A'; c <= 'Z'; ++c) t[c] |= k_tchar;
    for (int c = 'a'; c <= 'f'; ++c) t[c] |= k_hex;
    for (int c = 'A'; c <= 'F'; ++c) t[c] |= k_hex;
    for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] |= k_tchar;
    return t;
}

constexpr auto table = make_table();

inline bool is(char c, std::uint8_t cls) { return (table[static_cast<unsigned char>(c)] & cls) != 0; }
inline bool is_ws(char c) { return c == ' ' || c == '\t'; }
inline char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c | 0x20) : c; }

std::string byte_str(char ch) {
    static constexpr char digits[] = "0123456789abcdef";
    auto c = static_cast<unsigned char>(ch);
    std::string s = "byte 0x";
    s += digits[c >> 4];
    s += digits[c & 15];
    if (c > 0x20 && c < 0x7f) {
        s += " '";
        s += ch;
        s += '\'';
    }
    return s;
}

// At most 64 bytes of `s`, non-printables escaped, for an error message.
std::string quoted(std::string_view s) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out = "\"";
    for (std::size_t i = 0; i < s.size() && i < 64; ++i) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            out += s[i];
        } else {
            out += "\\x";
            out += digits[c >> 4];
            out += digits[c & 15];
        }
    }
    if (s.size() > 64) out += "...";
    out += '"';
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_ws(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_ws(s.back())) s.remove_suffix(1);
    return s;
}

// Calls fn(element) for every non-empty, trimmed element of a comma list
// (RFC 9110 5.6.1: empty elements are ignored); stops when fn returns false.
template <typename Fn>
bool for_each_element(std::string_view list, Fn&& fn) {
    while (!list.empty()) {
        auto comma = list.find(',');
        auto elem = trim(list.substr(0, comma));
        if (!elem.empty() && !fn(elem)) return false;
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
    return true;
}

bool parse_version(std::string_view v, http_version& out) {
    if (v.size() != 8 || !v.starts_with("HTTP/") || v[5] != '1' || v[6] != '.' || v[7] < '0' ||
        v[7] > '9')
        return false;
    out = {1, static_cast<std::uint8_t>(v[7] - '0')};
    return true;
}

} // namespace

bool ascii_iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

bool has_token(std::string_view list, std::string_view token) noexcept {
    bool found = false;
    for_each_element(list, [&](std::string_view elem) {
        found = ascii_iequals(trim(elem.substr(0, elem.find(';'))), token);
        return !found;
    });
    return found;
}

std::optional<std::string_view> headers_view::find(std::string_view name) const noexcept {
    for (const auto& h : fields_)
        if (ascii_iequals(h.name, name)) return h.value;
    return std::nullopt;
}

headers_view::value_range headers_view::find_all(std::string_view name) const noexcept {
    return value_range(fields_, name);
}

parser::parser(message_kind kind, parser_limits limits) : limits_(limits), kind_(kind) {
    // Field offsets are 32-bit; a head over 4 GiB is not a use case.
    limits_.max_header_bytes = std::min<std::size_t>(limits_.max_header_bytes, UINT32_MAX);
    std::size_t n = std::min<std::size_t>(limits_.max_headers, 64);
    raw_.reserve(n);
    headers_.reserve(n);
}

void parser::start_message() noexcept {
    scan_next_ = scan_seen_ = 0;
    scan_have_start_ = false;
    raw_.clear();
    headers_.clear();
    trailers_.clear();
    method_ = target_ = reason_ = {};
    version_ = {};
    status_ = 0;
    content_length_.reset();
    framing_ = body_framing::none;
    keep_alive_ = upgrade_ = interim_ = false;
    remaining_ = body_bytes_ = 0;
}

void parser::reset() noexcept {
    start_message();
    state_ = state::head;
    head_request_ = connect_request_ = awaiting_final_ = false;
    error_ = parse_errc::none;
    error_message_.clear();
}

void parser::set_request_method(std::string_view method) noexcept {
    head_request_ = method == "HEAD";
    connect_request_ = method == "CONNECT";
}

parse_result parser::fail(parse_errc code, std::string message) {
    state_ = state::failed;
    error_ = code;
    error_message_ = std::move(message);
    return {parse_event::error, 0};
}

// Scans `block` (which starts at the head or trailer block) from scan_next_.
// Returns complete with scan_next_ = block length, need_more, or failed.
parser::scan parser::scan_block(std::string_view block, bool trailers) {
    const char* p = block.data();
    for (;;) {
        const std::size_t pos = scan_next_;
        // Bytes [pos, scan_seen_) were searched before and hold no LF.
        std::size_t from = std::max(pos, std::min(scan_seen_, block.size()));
        const void* nl = from < block.size() ? std::memchr(p + from, '\n', block.size() - from) : nullptr;
        const bool start_line = !trailers && !scan_have_start_;
        if (nl == nullptr) {
            // Partial line. Each check here implies the same failure, checked
            // first, once the line completes: its content will be at least
            // (pending - 1) bytes (one trailing CR may be the terminator), and
            // its end offset will exceed block.size().
            const std::size_t pending = block.size() - pos;
            if (start_line) {
                // Only the start-line limit: the complete start line checks it
                // before the block size, so checking the size here could
                // report headers_too_large for a line that is too long. The
                // wait stays bounded: blank lines before it are size-checked.
                if (pending > 1 && pending - 1 > limits_.max_start_line) {
                    fail(parse_errc::start_line_too_long,
                         "start line longer than " + std::to_string(limits_.max_start_line) + " bytes");
                    return scan::failed;
                }
            } else if (block.size() > limits_.max_header_bytes) {
                fail(parse_errc::headers_too_large,
                     std::string(trailers ? "trailer" : "header") + " section larger than " +
                         std::to_string(limits_.max_header_bytes) + " bytes");
                return scan::failed;
            }
            scan_seen_ = block.size();
            return scan::need_more;
        }
        const std::size_t eol = static_cast<std::size_t>(static_cast<const char*>(nl) - p);
        const std::size_t end = eol + 1;
        const bool crlf = eol > pos && p[eol - 1] == '\r';
        const std::size_t content_end = crlf ? eol - 1 : eol;

        if (start_line && content_end - pos > limits_.max_start_line) {
            fail(parse_errc::start_line_too_long,
                 "start line longer than " + std::to_string(limits_.max_start_line) + " bytes");
            return scan::failed;
        }
        if (end > limits_.max_header_bytes) {
            fail(parse_errc::headers_too_large,
                 std::string(trailers ? "trailer" : "header") + " section larger than " +
                     std::to_string(limits_.max_header_bytes) + " bytes");
            return scan::failed;
        }
        if (!crlf && !limits_.allow_bare_lf) {
            fail(parse_errc::bare_lf, "line ends in LF without CR at offset " + std::to_string(eol));
            return scan::failed;
        }
        if (content_end == pos) { // blank line
            scan_next_ = end;
            if (start_line) continue; // RFC 9112 2.2: ignore blank lines before the start line
            return scan::complete;
        }
        if (start_line) {
            if (!parse_start_line(block, pos, content_end)) return scan::failed;
            scan_have_start_ = true;
        } else {
            if (raw_.size() >= limits_.max_headers) {
                fail(parse_errc::too_many_headers,
                     std::string("more than ") + std::to_string(limits_.max_headers) +
                         (trailers ? " trailer fields" : " header fields"));
                return scan::failed;
            }
            if (!parse_field_line(block, pos, content_end)) return scan::failed;
        }
        scan_next_ = end;
    }
}

bool parser::parse_start_line(std::string_view block, std::size_t b, std::size_t e) {
    const char* p = block.data();
    auto bad = [&](std::size_t i, parse_errc code, const std::string& what) {
        if (i < e && p[i] == '\r') fail(parse_errc::bare_cr, "CR not followed by LF in the start line");
        else fail(code, what);
        return false;
    };
    auto off = [](std::size_t v) { return static_cast<std::uint32_t>(v); };

    if (kind_ == message_kind::request) {
        // method SP request-target SP HTTP-version
        std::size_t i = b;
        while (i < e && is(p[i], k_tchar)) ++i;
        if (i == b) return bad(i, parse_errc::invalid_method, "request line does not start with a method token");
        if (i == e || p[i] != ' ')
            return bad(i, parse_errc::invalid_method,
                       i == e ? "request line has only a method" : "invalid " + byte_str(p[i]) + " in method");
        sl_[0] = off(b);
        sl_[1] = off(i - b);
        const std::size_t t = ++i;
        while (i < e && is(p[i], k_target)) ++i;
        if (i == t) return bad(i, parse_errc::invalid_target, "empty request-target (two spaces?)");
        if (i == e) return bad(i, parse_errc::invalid_version, "request line has no HTTP version");
        if (p[i] != ' ') return bad(i, parse_errc::invalid_target, "invalid " + byte_str(p[i]) + " in request-target");
        sl_[2] = off(t);
        sl_[3] = off(i - t);
        ++i;
        std::string_view v(p + i, e - i);
        if (!parse_version(v, version_)) {
            auto cr = v.find('\r');
            return bad(cr == std::string_view::npos ? e : i + cr, parse_errc::invalid_version,
                       "unsupported or malformed HTTP version " + quoted(v));
        }
        return true;
    }

    // HTTP-version SP status-code [SP reason-phrase]  (a missing SP before an
    // empty reason is tolerated: common in the wild, and not ambiguous)
    std::string_view v(p + b, std::min<std::size_t>(8, e - b));
    if (!parse_version(v, version_) || (b + 8 < e && p[b + 8] != ' ') || b + 8 >= e) {
        auto line = std::string_view(p + b, e - b);
        auto cr = line.find('\r');
        return bad(cr == std::string_view::npos ? e : b + cr, parse_errc::invalid_version,
                   "status line does not start with \"HTTP/1.x \": " + quoted(line));
    }
    std::size_t i = b + 9;
    if (e - i < 3 || p[i] < '1' || p[i] > '9' || p[i + 1] < '0' || p[i + 1] > '9' || p[i + 2] < '0' ||
        p[i + 2] > '9' || (i + 3 < e && p[i + 3] != ' ')) {
        std::string_view rest(p + i, e - i);
        auto cr = rest.find('\r');
        return bad(cr == std::string_view::npos ? e : i + cr, parse_errc::invalid_status,
                   "status code is not three digits: " + quoted(rest));
    }
    status_ = static_cast<unsigned>((p[i] - '0') * 100 + (p[i + 1] - '0') * 10 + (p[i + 2] - '0'));
    i += 3;
    std::size_t r = i < e ? i + 1 : e;
    for (std::size_t k = r; k < e; ++k)
        if (!is(p[k], k_vchar)) return bad(k, parse_errc::invalid_reason, "invalid " + byte_str(p[k]) + " in reason phrase");
    sl_[4] = off(r);
    sl_[5] = off(e - r);
    return true;
}

bool parser::parse_field_line(std::string_view block, std::size_t b, std::size_t e) {
    const char* p = block.data();
    if (is_ws(p[b])) {
        fail(parse_errc::obs_fold, raw_.empty() ? "whitespace at the start of the first field line"
                                                : "field line starts with whitespace (obsolete line folding)");
        return false;
    }
    std::size_t i = b;
    while (i < e && is(p[i], k_tchar)) ++i;
    if (i == e) {
        fail(parse_errc::missing_colon, "field line without ':': " + quoted({p + b, e - b}));
        return false;
    }
    if (p[i] != ':') {
        if (p[i] == '\r') {
            fail(parse_errc::bare_cr, "CR not followed by LF in a field name");
        } else if (is_ws(p[i]) && i > b) {
            std::size_t k = i;
            while (k < e && is_ws(p[k])) ++k;
            if (k < e && p[k] == ':')
                fail(parse_errc::whitespace_before_colon,
                     "whitespace between field name " + quoted({p + b, i - b}) + " and ':'");
            else
                fail(parse_errc::invalid_header_name, "whitespace in field name " + quoted({p + b, e - b}));
        } else {
            fail(parse_errc::invalid_header_name, "invalid " + byte_str(p[i]) + " in field name");
        }
        return false;
    }
    if (i == b) {
        fail(parse_errc::invalid_header_name, "empty field name");
        return false;
    }
    const std::size_t name_end = i;
    std::size_t v = i + 1;
    std::size_t ve = e;
    while (v < ve && is_ws(p[v])) ++v;
    while (ve > v && is_ws(p[ve - 1])) --ve;
    for (std::size_t k = v; k < ve; ++k) {
        if (!is(p[k], k_vchar)) {
            if (p[k] == '\r')
                fail(parse_errc::bare_cr, "CR not followed by LF in the value of " + quoted({p + b, name_end - b}));
            else
                fail(parse_errc::invalid_header_value,
                     "invalid " + byte_str(p[k]) + " in the value of " + quoted({p + b, name_end - b}));
            return false;
        }
    }
    raw_.push_back({static_cast<std::uint32_t>(b), static_cast<std::uint32_t>(name_end - b),
                    static_cast<std::uint32_t>(v), static_cast<std::uint32_t>(ve - v)});
    return true;
}

bool parser::apply_head(std::string_view block) {
    const char* p = block.data();
    if (kind_ == message_kind::request) {
        method_ = {p + sl_[0], sl_[1]};
        target_ = {p + sl_[2], sl_[3]};
    } else {
        reason_ = {p + sl_[4], sl_[5]};
    }
    headers_.clear();
    for (const auto& f : raw_) headers_.push_back({{p + f.name_off, f.name_len}, {p + f.value_off, f.value_len}});
    return apply_framing();
}

bool parser::apply_framing() {
    const bool request = kind_ == message_kind::request;
    int hosts = 0;
    bool te = false, chunked_seen = false, chunked_last = false, other_coding = false;
    bool conn_close = false, conn_keep_alive = false, conn_upgrade = false, upgrade_field = false;

    for (const auto& h : headers_) {
        const auto& n = h.name;
        if (n.size() == 14 && ascii_iequals(n, "content-length")) {
            // RFC 9110 8.6: a list of identical values may be folded into one.
            bool any = false;
            bool ok = for_each_element(h.value, [&](std::string_view elem) {
                any = true;
                std::uint64_t v = 0;
                for (char c : elem) {
                    if (c < '0' || c > '9') {
                        fail(parse_errc::invalid_content_length, "Content-Length " + quoted(h.value) + " is not a number");
                        return false;
                    }
                    auto d = static_cast<std::uint64_t>(c - '0');
                    if (v > (UINT64_MAX - d) / 10) {
                        fail(parse_errc::invalid_content_length, "Content-Length " + quoted(h.value) + " overflows 64 bits");
                        return false;
                    }
                    v = v * 10 + d;
                }
                if (content_length_ && *content_length_ != v) {
                    fail(parse_errc::conflicting_content_length,
                         "two different Content-Length values: " + std::to_string(*content_length_) + " and " +
                             std::to_string(v));
                    return false;
                }
                content_length_ = v;
                return true;
            });
            if (!ok) return false;
            if (!any) {
                fail(parse_errc::invalid_content_length, "empty Content-Length");
                return false;
            }
        } else if (n.size() == 17 && ascii_iequals(n, "transfer-encoding")) {
            te = true;
            bool ok = for_each_element(h.value, [&](std::string_view elem) {
                auto coding = trim(elem.substr(0, elem.find(';')));
                if (coding.empty() || !std::all_of(coding.begin(), coding.end(), [](char c) { return is(c, k_tchar); })) {
                    fail(parse_errc::invalid_transfer_encoding, "invalid transfer coding " + quoted(elem));
                    return false;
                }
                if (ascii_iequals(coding, "chunked")) {
                    if (chunked_seen) {
                        fail(parse_errc::invalid_transfer_encoding, "chunked applied more than once");
                        return false;
                    }
                    chunked_seen = chunked_last = true;
                } else {
                    if (chunked_seen && request) {
                        fail(parse_errc::invalid_transfer_encoding,
                             "chunked is not the last transfer coding in " + quoted(h.value));
                        return false;
                    }
                    other_coding = true;
                    chunked_last = false;
                }
                return true;
            });
            if (!ok) return false;
        } else if (n.size() == 10 && ascii_iequals(n, "connection")) {
            for_each_element(h.value, [&](std::string_view t) {
                if (ascii_iequals(t, "close")) conn_close = true;
                else if (ascii_iequals(t, "keep-alive")) conn_keep_alive = true;
                else if (ascii_iequals(t, "upgrade")) conn_upgrade = true;
                return true;
            });
        } else if (n.size() == 7 && ascii_iequals(n, "upgrade")) {
            upgrade_field = true;
        } else if (n.size() == 4 && ascii_iequals(n, "host")) {
            ++hosts;
        }
    }

    if (te) {
        if (!chunked_seen && !other_coding) {
            fail(parse_errc::invalid_transfer_encoding, "empty Transfer-Encoding");
            return false;
        }
        if (version_.minor == 0) { // RFC 9112 6.1: faulty framing
            fail(parse_errc::invalid_transfer_encoding, "Transfer-Encoding in an HTTP/1.0 message");
            return false;
        }
        if (request) {
            if (content_length_) {
                fail(parse_errc::content_length_with_transfer_encoding,
                     "request has both Content-Length and Transfer-Encoding");
                return false;
            }
            if (!chunked_last) {
                fail(parse_errc::invalid_transfer_encoding, "the last transfer coding of a request must be chunked");
                return false;
            }
            if (other_coding) {
                fail(parse_errc::unsupported_transfer_encoding, "transfer codings other than chunked are not supported");
                return false;
            }
        }
    }
    if (request && (hosts > 1 || (hosts == 0 && version_.minor >= 1))) {
        fail(parse_errc::invalid_host, hosts == 0 ? "HTTP/1.1 request without Host" : "more than one Host field");
        return false;
    }

    keep_alive_ = version_.minor >= 1 ? !conn_close : (conn_keep_alive && !conn_close);

    if (request) {
        upgrade_ = (conn_upgrade && upgrade_field) || method_ == "CONNECT";
        framing_ = te ? body_framing::chunked : content_length_ ? body_framing::length : body_framing::none;
    } else if (status_ < 200) {
        framing_ = body_framing::none;
        if (status_ == 101) upgrade_ = true;
        else interim_ = true;
    } else if (head_request_ || status_ == 204 || status_ == 304) {
        framing_ = body_framing::none;
    } else if (connect_request_ && status_ < 300) {
        framing_ = body_framing::none;
        upgrade_ = true;
    } else if (te) {
        // RFC 9112 6.3: Transfer-Encoding overrides Content-Length; such a
        // response must not be followed by another on this connection.
        framing_ = chunked_last ? body_framing::chunked : body_framing::close;
        if (content_length_) keep_alive_ = false;
    } else {
        framing_ = content_length_ ? body_framing::length : body_framing::close;
    }
    if (framing_ == body_framing::close) keep_alive_ = false;

    if (framing_ == body_framing::length && *content_length_ > limits_.max_body) {
        fail(parse_errc::body_too_large, "Content-Length " + std::to_string(*content_length_) +
                                             " exceeds the limit of " + std::to_string(limits_.max_body) + " bytes");
        return false;
    }
    switch (framing_) {
    case body_framing::none: state_ = interim_ ? state::interim_done : state::body_length; remaining_ = 0; break;
    case body_framing::length: state_ = state::body_length; remaining_ = *content_length_; break;
    case body_framing::chunked: state_ = state::chunk_size; break;
    case body_framing::close: state_ = state::body_close; break;
    }
    return true;
}

// Checks a chunk-size line: complete (without its LF) or the partial bytes so
// far. On a partial line only checks whose verdict the rest of the line cannot
// change are made, in the order the complete line makes them.
bool parser::check_chunk_line(std::string_view line, bool complete) {
    std::string_view s = line;
    const bool crlf = !s.empty() && s.back() == '\r';
    if (crlf) s.remove_suffix(1); // for a partial line this CR may be the terminator
    std::size_t d = 0;
    while (d < s.size() && is(s[d], k_hex)) ++d;
    if (d > 16) {
        fail(parse_errc::invalid_chunk_size, "chunk size has more than 16 hex digits");
        return false;
    }
    if (d < s.size()) {
        const char c = s[d];
        if (c == '\r') {
            fail(parse_errc::bare_cr, "CR not followed by LF in a chunk line");
            return false;
        }
        if (d == 0) {
            fail(parse_errc::invalid_chunk_size, "chunk size is not hex: " + quoted(s));
            return false;
        }
        if (c != ';' && !is_ws(c)) {
            fail(parse_errc::invalid_chunk_size, "invalid " + byte_str(c) + " after chunk size");
            return false;
        }
        if (s.size() - d > limits_.max_chunk_ext) {
            fail(parse_errc::chunk_extension_too_large,
                 "chunk extensions longer than " + std::to_string(limits_.max_chunk_ext) + " bytes");
            return false;
        }
    }
    if (!complete) return true;
    if (d == 0) {
        fail(parse_errc::invalid_chunk_size, "empty chunk size");
        return false;
    }
    if (!crlf && !limits_.allow_bare_lf) {
        fail(parse_errc::bare_lf, "chunk line ends in LF without CR");
        return false;
    }
    // chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ), RFC 9112 7.1.1
    auto bad_ext = [&](std::size_t i) {
        if (i < s.size() && s[i] == '\r') fail(parse_errc::bare_cr, "CR not followed by LF in a chunk extension");
        else fail(parse_errc::invalid_chunk_extension, "malformed chunk extension " + quoted(s.substr(d)));
        return false;
    };
    std::size_t i = d;
    auto skip_ws = [&] { while (i < s.size() && is_ws(s[i])) ++i; };
    while (i < s.size()) {
        skip_ws();
        if (i == s.size() || s[i] != ';') return bad_ext(i);
        ++i;
        skip_ws();
        std::size_t n = i;
        while (i < s.size() && is(s[i], k_tchar)) ++i;
        if (i == n) return bad_ext(i);
        skip_ws();
        if (i < s.size() && s[i] == '=') {
            ++i;
            skip_ws();
            if (i < s.size() && s[i] == '"') {
                ++i;
                for (;;) {
                    if (i == s.size()) return bad_ext(i);
                    char c = s[i];
                    if (c == '"') break;
                    if (c == '\\') {
                        if (++i == s.size() || !is(s[i], k_vchar)) return bad_ext(i);
                    } else if (!is(c, k_vchar)) {
                        return bad_ext(i);
                    }
                    ++i;
                }
                ++i;
            } else {
                std::size_t vb = i;
                while (i < s.size() && is(s[i], k_tchar)) ++i;
                if (i == vb) return bad_ext(i);
            }
        }
    }
    std::uint64_t size = 0;
    for (std::size_t k = 0; k < d; ++k) {
        char c = s[k];
        unsigned v = c <= '9' ? unsigned(c - '0') : unsigned(lower(c) - 'a' + 10);
        size = (size << 4) | v;
    }
    remaining_ = size;
    return true;
}

parse_result parser::feed(std::string_view data) {
    std::size_t pos = 0;
    for (;;) {
        switch (state_) {
        case state::failed: return {parse_event::error, 0};
        case state::done:
            throw std::logic_error("corio::http::parser::feed after message_complete; call reset() first");
        case state::finished:
            throw std::logic_error("corio::http::parser::feed after finish(); call reset() first");

        case state::interim_done: // the final response follows a 1xx
            start_message();
            awaiting_final_ = true;
            state_ = state::head;
            continue;

        case state::head: {
            auto block = data.substr(pos);
            switch (scan_block(block, false)) {
            case scan::need_more: return {parse_event::need_more, pos};
            case scan::failed: return {parse_event::error, pos};
            case scan::complete: break;
            }
            const std::size_t len = scan_next_;
            scan_seen_ = 0; // from here it counts the bytes of a chunk line
            if (!apply_head(block.substr(0, len))) return {parse_event::error, pos};
            return {parse_event::headers_complete, pos + len};
        }

        case state::body_length: {
            if (remaining_ == 0) {
                state_ = state::done;
                return {parse_event::message_complete, pos};
            }
            if (pos == data.size()) return {parse_event::need_more, pos};
            auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, data.size() - pos));
            remaining_ -= n;
            body_bytes_ += n;
            return {parse_event::body, pos + n, data.substr(pos, n)};
        }

        case state::body_close: {
            if (pos == data.size()) return {parse_event::need_more, pos};
            // Hand out bytes up to the limit first, so the error comes at the
            // same body offset however the input was split.
            std::uint64_t room = limits_.max_body - body_bytes_;
            if (room == 0)
                return fail(parse_errc::body_too_large,
                            "body exceeds the limit of " + std::to_string(limits_.max_body) + " bytes");
            auto n = static_cast<std::size_t>(std::min<std::uint64_t>(room, data.size() - pos));
            body_bytes_ += n;
            return {parse_event::body, pos + n, data.substr(pos, n)};
        }

        case state::chunk_size: {
            // scan_seen_: bytes of this line already searched for LF.
            std::size_t from = pos + std::min(scan_seen_, data.size() - pos);
            const void* nl = from < data.size() ? std::memchr(data.data() + from, '\n', data.size() - from) : nullptr;
            if (nl == nullptr) {
                if (!check_chunk_line(data.substr(pos), false)) return {parse_event::error, pos};
                scan_seen_ = data.size() - pos;
                return {parse_event::need_more, pos};
            }
            auto eol = static_cast<std::size_t>(static_cast<const char*>(nl) - data.data());
            if (!check_chunk_line(data.substr(pos, eol - pos), true)) return {parse_event::error, pos};
            pos = eol + 1;
            scan_seen_ = 0;
            if (remaining_ == 0) { // last-chunk: trailers follow
                state_ = state::trailers;
                scan_next_ = 0;
                raw_.clear();
                continue;
            }
            if (remaining_ > limits_.max_body - body_bytes_)
                return fail(parse_errc::body_too_large,
                            "chunked body exceeds the limit of " + std::to_string(limits_.max_body) + " bytes");
            state_ = state::chunk_data;
            continue;
        }

        case state::chunk_data: {
            if (pos == data.size()) return {parse_event::need_more, pos};
            auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, data.size() - pos));
            remaining_ -= n;
            body_bytes_ += n;
            if (remaining_ == 0) state_ = state::chunk_crlf;
            return {parse_event::body, pos + n, data.substr(pos, n)};
        }

        case state::chunk_crlf: {
            if (pos == data.size()) return {parse_event::need_more, pos};
            if (data[pos] == '\n') {
                if (!limits_.allow_bare_lf) return fail(parse_errc::bare_lf, "chunk data ends in LF without CR");
                pos += 1;
            } else if (data[pos] == '\r') {
                if (pos + 1 == data.size()) return {parse_event::need_more, pos};
                if (data[pos + 1] != '\n') return fail(parse_errc::missing_chunk_crlf, "chunk data not followed by CRLF");
                pos += 2;
            } else {
                return fail(parse_errc::missing_chunk_crlf,
                            "chunk data not followed by CRLF (" + byte_str(data[pos]) + "; chunk size too small?)");
            }
            state_ = state::chunk_size;
            continue;
        }

        case state::trailers: {
            auto block = data.substr(pos);
            switch (scan_block(block, true)) {
            case scan::need_more: return {parse_event::need_more, pos};
            case scan::failed: return {parse_event::error, pos};
            case scan::complete: break;
            }
            const char* p = block.data();
            trailers_.clear();
            for (const auto& f : raw_)
                trailers_.push_back({{p + f.name_off, f.name_len}, {p + f.value_off, f.value_len}});
            state_ = state::done;
            return {parse_event::message_complete, pos + scan_next_};
        }
        }
    }
}

parse_result parser::finish() {
    switch (state_) {
    case state::failed: return {parse_event::error, 0};
    case state::head:
        // scan_seen_ counts the bytes shown in the last need_more; all of them
        // complete blank lines means nothing of a message was received.
        if (!scan_have_start_ && scan_seen_ <= scan_next_ && !awaiting_final_) {
            state_ = state::finished;
            return {parse_event::end_of_stream, 0};
        }
        return fail(parse_errc::truncated_headers, awaiting_final_
                                                       ? "connection closed after a 1xx response, before the final one"
                                                       : "connection closed in the middle of the message head");
    case state::interim_done: // a 1xx was reported; the final response never came
        return fail(parse_errc::truncated_headers, "connection closed after a 1xx response, before the final one");
    case state::body_length:
        if (remaining_ == 0) {
            state_ = state::finished;
            return {parse_event::message_complete, 0};
        }
        return fail(parse_errc::truncated_body, "body shorter than declared: got " + std::to_string(body_bytes_) +
                                                    " of " + std::to_string(body_bytes_ + remaining_) + " bytes");
    case state::body_close:
        state_ = state::finished;
        return {parse_event::message_complete, 0};
    case state::chunk_size:
    case state::chunk_data:
    case state::chunk_crlf:
    case state::trailers:
        return fail(parse_errc::truncated_chunk, "connection closed mid-chunk after " + std::to_string(body_bytes_) +
                                                     " body bytes");
    case state::done:
    case state::finished: state_ = state::finished; return {parse_event::end_of_stream, 0};
    }
    return {parse_event::end_of_stream, 0};
}

} // namespace corio::http
