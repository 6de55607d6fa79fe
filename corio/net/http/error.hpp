// SPDX-License-Identifier: MIT
//
// Why: the HTTP/1.1 parser reports every way a message can be wrong with its
// own code, because the server answers differently (400, 413, 414, 431, 501,
// 505) and because the smuggling-relevant failures (Content-Length with
// Transfer-Encoding, two Content-Lengths, a bad chunk size, bare CR, obs-fold;
// RFC 9112 sections 6.1, 6.3, 7.1 and 11.2) must be distinguishable in tests
// and in logs.
//
// Approach: the parser itself never throws on bad input. It returns a
// `parse_errc` and keeps a message that says what was wrong; a hot server loop
// that rejects garbage does no exception unwinding. `parse_error` exists for the
// layers above (client session, server) that turn a parse failure into an
// exception at the user's edge. It is a std::runtime_error, self-contained, and
// carries the code so a catch site can still map it to a status.
//
// Rejected: a std::error_category. It buys interop with std::error_code that no
// caller here needs, and it costs a global object and a virtual call to get a
// message; the enum + `to_string` + `status_for` trio is all the callers use.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace corio::http {

/// Why a message was rejected by `corio::http::parser`.
///
/// `none` means no error. Every other value names one failure; the parser's
/// `error_message()` adds the detail (which header, which byte).
enum class parse_errc : std::uint8_t {
    none = 0,
    // start line
    invalid_method,        ///< empty method or a byte that is not a token char
    invalid_target,        ///< empty request-target, or a space/control/non-ASCII byte in it
    invalid_version,       ///< not "HTTP/1.x" (the server answers 505)
    invalid_status,        ///< status code is not three digits 100..999
    invalid_reason,        ///< control character in the reason phrase
    start_line_too_long,   ///< start line over `max_start_line` (414 for requests)
    // line endings
    bare_cr,               ///< a CR not followed by LF
    bare_lf,               ///< an LF not preceded by CR (unless `allow_bare_lf`)
    // header fields
    obs_fold,              ///< a line starting with whitespace (obsolete line folding)
    whitespace_before_colon, ///< "Name : value"
    missing_colon,         ///< a header line without ':'
    invalid_header_name,   ///< empty name or a byte that is not a token char
    invalid_header_value,  ///< a control character in a value
    headers_too_large,     ///< header (or trailer) block over `max_header_bytes` (431)
    too_many_headers,      ///< more than `max_headers` fields (431)
    invalid_host,          ///< HTTP/1.1 request without exactly one Host
    // framing
    invalid_content_length,      ///< not a decimal number, or it overflows 64 bits
    conflicting_content_length,  ///< two different Content-Length values
    content_length_with_transfer_encoding, ///< both in a request (RFC 9112 6.1)
    invalid_transfer_encoding,   ///< chunked not last in a request, chunked twice, bad token, or HTTP/1.0
    unsupported_transfer_encoding, ///< a request coding other than chunked (501)
    invalid_chunk_size,          ///< not hex, more than 16 digits, or junk after the digits
    invalid_chunk_extension,     ///< chunk extension that is not `;name[=value]`
    chunk_extension_too_large,   ///< extensions over `max_chunk_ext`
    missing_chunk_crlf,          ///< chunk data not followed by CRLF
    body_too_large,              ///< body over `max_body` (413)
    // end of stream
    truncated_headers,  ///< the peer closed inside the start line or headers
    truncated_body,     ///< the peer closed before Content-Length bytes arrived
    truncated_chunk,    ///< the peer closed inside a chunked body
};

/// The enumerator's name, e.g. "bare_cr"; "unknown" for an out-of-range value.
constexpr std::string_view to_string(parse_errc code) noexcept {
    switch (code) {
    case parse_errc::none: return "none";
    case parse_errc::invalid_method: return "invalid_method";
    case parse_errc::invalid_target: return "invalid_target";
    case parse_errc::invalid_version: return "invalid_version";
    case parse_errc::invalid_status: return "invalid_status";
    case parse_errc::invalid_reason: return "invalid_reason";
    case parse_errc::start_line_too_long: return "start_line_too_long";
    case parse_errc::bare_cr: return "bare_cr";
    case parse_errc::bare_lf: return "bare_lf";
    case parse_errc::obs_fold: return "obs_fold";
    case parse_errc::whitespace_before_colon: return "whitespace_before_colon";
    case parse_errc::missing_colon: return "missing_colon";
    case parse_errc::invalid_header_name: return "invalid_header_name";
    case parse_errc::invalid_header_value: return "invalid_header_value";
    case parse_errc::headers_too_large: return "headers_too_large";
    case parse_errc::too_many_headers: return "too_many_headers";
    case parse_errc::invalid_host: return "invalid_host";
    case parse_errc::invalid_content_length: return "invalid_content_length";
    case parse_errc::conflicting_content_length: return "conflicting_content_length";
    case parse_errc::content_length_with_transfer_encoding: return "content_length_with_transfer_encoding";
    case parse_errc::invalid_transfer_encoding: return "invalid_transfer_encoding";
    case parse_errc::unsupported_transfer_encoding: return "unsupported_transfer_encoding";
    case parse_errc::invalid_chunk_size: return "invalid_chunk_size";
    case parse_errc::invalid_chunk_extension: return "invalid_chunk_extension";
    case parse_errc::chunk_extension_too_large: return "chunk_extension_too_large";
    case parse_errc::missing_chunk_crlf: return "missing_chunk_crlf";
    case parse_errc::body_too_large: return "body_too_large";
    case parse_errc::truncated_headers: return "truncated_headers";
    case parse_errc::truncated_body: return "truncated_body";
    case parse_errc::truncated_chunk: return "truncated_chunk";
    }
    return "unknown";
}

/// The status a server should answer a request that failed with `code`:
/// 431 (headers_too_large, too_many_headers), 413 (body_too_large),
/// 414 (start_line_too_long), 501 (unsupported_transfer_encoding),
/// 505 (invalid_version), 400 for everything else, 0 for `none`.
///
///     if (r.event == parse_event::error) send_error(status_for(p.error()));
constexpr int status_for(parse_errc code) noexcept {
    switch (code) {
    case parse_errc::none: return 0;
    case parse_errc::headers_too_large:
    case parse_errc::too_many_headers: return 431;
    case parse_errc::body_too_large: return 413;
    case parse_errc::start_line_too_long: return 414;
    case parse_errc::unsupported_transfer_encoding: return 501;
    case parse_errc::invalid_version: return 505;
    default: return 400;
    }
}

/// Thrown by the layers above the parser (never by the parser itself) when a
/// message is rejected. `what()` is the parser's message; `code()` the reason.
///
///     if (r.event == parse_event::error)
///         throw parse_error(p.error(), std::string(p.error_message()));
class parse_error : public std::runtime_error {
public:
    parse_error(parse_errc code, const std::string& message)
        : std::runtime_error(message), code_(code) {}

    /// The failure's code.
    parse_errc code() const noexcept { return code_; }

private:
    parse_errc code_;
};

} // namespace corio::http
