// SPDX-License-Identifier: MIT
//
// Why: the server and the client both read HTTP/1.1 from a byte stream that
// arrives in arbitrary pieces, and both must agree with every other hop on
// where one message ends and the next begins. Disagreement is request
// smuggling (RFC 9112 11.2): a front end that frames by Content-Length and a
// back end that frames by Transfer-Encoding see different requests in the
// same bytes. So this parser refuses every ambiguous framing instead of
// guessing: Content-Length with Transfer-Encoding in a request (RFC 9112 6.1),
// two different Content-Lengths, chunked that is not the last coding, a bad
// chunk size, bare CR, bare LF (by default), obs-fold, whitespace before a
// colon, a request without exactly one Host.
//
// Approach: a push parser over the caller's buffer, with no copies. The head
// (start line + headers) is never consumed in part: `feed` answers
// `need_more` without consuming it until the blank line has arrived, so the
// caller keeps those bytes and feeds them again with more appended. Header
// names and values are then string_views into that buffer. While waiting, the
// parser remembers how far it has validated (as an offset, so the caller may
// move the bytes between calls), so a head that trickles in byte by byte costs
// linear time, and every limit is checked on the partial head as well, so
// memory stays bounded. The body is handed out piecewise as views into the
// input, de-chunked. Each call returns one event.
//
// Rejected: a callback parser in the style of llhttp. Callbacks hand out
// fragments of names and values that the caller must reassemble (a copy), and
// make the limits the callbacks' problem. Rejected too: consuming the head line
// by line into an internal buffer (a copy on the hot path).
//
// Invariants: errors are sticky until `reset()`; a split of the input at any
// byte boundary yields the same events, the same body bytes and the same error
// code (tests/net/http/parser_test.cpp checks every boundary); no allocation
// per header after the first message (the field vectors are reused).
//
// References: RFC 9110 (5.6.1 lists, 7.6.1 Connection, 8.6 Content-Length,
// 9.3.6 CONNECT, 15.2 1xx, 15.3.5 204, 15.4.5 304), RFC 9112 (2.2 line
// endings, 3 request line, 3.2 Host, 4 status line, 5.1-5.2 fields and
// obs-fold, 6.1 and 6.3 body length, 7.1 chunked, 7.1.2 trailers, 11.2
// request smuggling).
#pragma once

#include <corio/net/http/error.hpp>

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace corio::http {

enum class message_kind : std::uint8_t { request, response };

/// Hard limits; exceeding one is an error with its own code.
struct parser_limits {
    std::size_t max_header_bytes = 64 * 1024; ///< head incl. start line and blank line; also trailers (431)
    std::size_t max_headers = 100;            ///< header fields; separately, trailer fields (431)
    std::size_t max_start_line = 8 * 1024;    ///< start line without CRLF (414 for requests)
    std::uint64_t max_body = UINT64_MAX;      ///< de-chunked body bytes (413)
    std::size_t max_chunk_ext = 4096;         ///< bytes after the chunk size on one chunk line
    /// Accept a lone LF as a line end (RFC 9112 2.2 "MAY"). Off: an
    /// intermediary that disagrees about LF is a smuggling vector.
    bool allow_bare_lf = false;
};

/// "HTTP/1.0" is {1, 0}; "HTTP/1.1" {1, 1}.
struct http_version {
    std::uint8_t major = 1;
    std::uint8_t minor = 1;
    friend bool operator==(http_version, http_version) = default;
};

/// One field line: views into the caller's buffer. The value has no leading
/// or trailing whitespace.
struct header {
    std::string_view name;
    std::string_view value;
};

/// ASCII case-insensitive equality (header names, tokens).
bool ascii_iequals(std::string_view a, std::string_view b) noexcept;

/// True if the comma-separated `list` (a Connection or TE value) contains
/// `token`, compared case-insensitively, ignoring whitespace and parameters.
///
///     has_token("keep-alive, Upgrade", "upgrade"); // true
bool has_token(std::string_view list, std::string_view token) noexcept;

/// A read-only view of header fields with case-insensitive lookup.
///
///     if (auto ct = p.headers().find("content-type")) use(*ct);
///     for (std::string_view v : p.headers().find_all("set-cookie")) add(v);
class headers_view {
public:
    class value_range;

    headers_view() = default;
    explicit headers_view(std::span<const header> fields) noexcept : fields_(fields) {}

    auto begin() const noexcept { return fields_.begin(); }
    auto end() const noexcept { return fields_.end(); }
    std::size_t size() const noexcept { return fields_.size(); }
    bool empty() const noexcept { return fields_.empty(); }
    const header& operator[](std::size_t i) const noexcept { return fields_[i]; }

    /// The value of the first field named `name`, if any.
    std::optional<std::string_view> find(std::string_view name) const noexcept;
    /// True if a field named `name` is present.
    bool contains(std::string_view name) const noexcept { return find(name).has_value(); }
    /// Every value of the fields named `name`, in order; nothing is allocated.
    value_range find_all(std::string_view name) const noexcept;

private:
    std::span<const header> fields_;
};

/// The values of the fields with one name, as a forward range of string_view.
class headers_view::value_range {
public:
    class iterator {
    public:
        using iterator_category = std::forward_iterator_tag;
        using value_type = std::string_view;
        using difference_type = std::ptrdiff_t;
        using pointer = const std::string_view*;
        using reference = std::string_view;

        iterator() = default;
        iterator(const header* at, const header* end, std::string_view name) noexcept
            : at_(at), end_(end), name_(name) { skip(); }
        std::string_view operator*() const noexcept { return at_->value; }
        iterator& operator++() noexcept { ++at_; skip(); return *this; }
        iterator operator++(int) noexcept { auto old = *this; ++*this; return old; }
        friend bool operator==(const iterator& a, const iterator& b) noexcept { return a.at_ == b.at_; }

    private:
        void skip() noexcept { while (at_ != end_ && !ascii_iequals(at_->name, name_)) ++at_; }
        const header* at_ = nullptr;
        const header* end_ = nullptr;
        std::string_view name_;
    };

    value_range(std::span<const header> fields, std::string_view name) noexcept
        : fields_(fields), name_(name) {}
    iterator begin() const noexcept {
        return {fields_.data(), fields_.data() + fields_.size(), name_};
    }
    iterator end() const noexcept {
        auto e = fields_.data() + fields_.size();
        return {e, e, name_};
    }

private:
    std::span<const header> fields_;
    std::string_view name_;
};

/// What one `feed` (or `finish`) call produced.
enum class parse_event : std::uint8_t {
    need_more,        ///< read more bytes, then feed the unconsumed ones again with the new ones appended
    headers_complete, ///< start line and headers are available (views into this call's data)
    body,             ///< `parse_result::body` holds the next piece of de-chunked body
    message_complete, ///< the message (including trailers) is done; `reset()` before the next
    error,            ///< see `parser::error()` and `parser::error_message()`; sticky until `reset()`
    end_of_stream,    ///< from `finish()` only: the peer closed cleanly between messages
};

struct parse_result {
    parse_event event;
    /// Bytes of the input this call consumed, framing included; the caller
    /// drops exactly these from the front of its buffer, whatever the event.
    std::size_t consumed;
    /// For `parse_event::body`: body bytes, a view into the input.
    std::string_view body = {};
};

/// How the body's end is found (RFC 9112 6.3).
enum class body_framing : std::uint8_t {
    none,    ///< no body: request without length, HEAD/1xx/204/304 response, 2xx to CONNECT
    length,  ///< Content-Length bytes
    chunked, ///< chunked transfer coding, then trailers
    close,   ///< response body runs until the peer closes (call `finish()`)
};

/// Incremental, zero-copy HTTP/1.1 parser for one connection direction.
///
/// Driving it:
///
///     parser p(message_kind::request);
///     // buf holds received bytes [begin, end)
///     for (;;) {
///         auto r = p.feed({buf + begin, end - begin});
///         begin += r.consumed;
///         if (r.event == parse_event::need_more) {
///             compact(); // move [begin, end) to the front
///             if (co_await read_more() == 0) r = p.finish(); // eof: see finish()
///             else continue;
///         }
///         switch (r.event) {
///         case parse_event::headers_complete: route(p.method(), p.target(), p.headers()); break;
///         case parse_event::body:             handle(r.body); break;
///         case parse_event::message_complete: respond(p.keep_alive()); p.reset(); break;
///         case parse_event::error:            answer(status_for(p.error())); co_return;
///         default:                            co_return; // end_of_stream
///         }
///     }
///
/// The buffer contract:
///
///     |<- consumed ->|<------------- unconsumed: feed again ------------->|
///     | message head | partial chunk line | ... bytes read later appended |
///
/// - After any call, the caller drops `consumed` bytes and passes the rest,
///   followed by whatever it reads next, to the next call. The bytes may move
///   (compaction) between calls; the parser keeps offsets, not pointers.
/// - The head is consumed only as a whole, by `headers_complete`. The views
///   returned by `method()`, `target()`, `reason()`, `headers()` point into
///   the data of that call and stay valid as long as the caller leaves those
///   bytes where they are. A server that reads the whole request before
///   answering keeps its buffer uncompacted until `message_complete`; a
///   streaming caller copies what it needs before compacting.
/// - `body` views point into the data of that call, likewise; trailers are
///   consumed as a whole by `message_complete` and `trailers()` views them.
///
/// For a response, tell the parser the request's method with
/// `set_request_method` (HEAD responses and 2xx to CONNECT have no body).
/// A 1xx interim response (other than 101) is reported by `headers_complete`
/// with `is_interim()` true; keep feeding and the parser continues with the
/// next response without a `reset()`. After 101, or a 2xx to CONNECT,
/// `upgrade()` is true and the bytes after `message_complete` are not HTTP.
///
/// Bad input never throws. Misuse (feeding after `message_complete` without
/// `reset()`) throws std::logic_error.
class parser {
public:
    explicit parser(message_kind kind, parser_limits limits = {});

    /// Consumes what it can of `data` and reports one event; see the class
    /// comment for the buffer contract.
    /// Throws std::logic_error when called after `message_complete` or
    /// `finish()` without `reset()`.
    parse_result feed(std::string_view data);

    /// Tells the parser the peer closed. Returns `message_complete` if that
    /// ends a close-delimited body (or a body already complete), `error`
    /// (truncated_headers, truncated_body "body shorter than declared",
    /// truncated_chunk "connection closed mid-chunk") if it cuts a message
    /// short, and `end_of_stream` if no message had begun. `consumed` is 0.
    parse_result finish();

    /// Prepares for the next message on the same connection; keeps the limits
    /// and the reserved storage, forgets the request method.
    void reset() noexcept;

    /// For a response parser: the method of the request this response answers.
    void set_request_method(std::string_view method) noexcept;

    // -- available from headers_complete until reset() ------------------------
    message_kind kind() const noexcept { return kind_; }
    std::string_view method() const noexcept { return method_; }  ///< requests
    std::string_view target() const noexcept { return target_; }  ///< requests, as sent
    http_version version() const noexcept { return version_; }
    unsigned status() const noexcept { return status_; }          ///< responses
    std::string_view reason() const noexcept { return reason_; }  ///< responses
    headers_view headers() const noexcept { return headers_view(headers_); }
    /// Trailer fields of a chunked message; available at message_complete.
    headers_view trailers() const noexcept { return headers_view(trailers_); }

    /// HTTP/1.1: true unless "Connection: close"; HTTP/1.0: only with
    /// "Connection: keep-alive". Always false for a close-delimited response.
    bool keep_alive() const noexcept { return keep_alive_; }
    /// Request with "Connection: upgrade" and Upgrade, a CONNECT request, a
    /// 101 response or a 2xx response to CONNECT.
    bool upgrade() const noexcept { return upgrade_; }
    /// The Content-Length header's value, if present (even when ignored, as
    /// in a HEAD response).
    std::optional<std::uint64_t> content_length() const noexcept { return content_length_; }
    bool chunked() const noexcept { return framing_ == body_framing::chunked; }
    body_framing framing() const noexcept { return framing_; }
    /// A 1xx response other than 101.
    bool is_interim() const noexcept { return interim_; }
    /// De-chunked body bytes handed out so far.
    std::uint64_t body_bytes() const noexcept { return body_bytes_; }

    parse_errc error() const noexcept { return error_; }
    std::string_view error_message() const noexcept { return error_message_; }
    const parser_limits& limits() const noexcept { return limits_; }

private:
    enum class state : std::uint8_t {
        head, body_length, body_close, chunk_size, chunk_data, chunk_crlf,
        trailers, interim_done, done, finished, failed,
    };
    // A field line found while scanning a block; offsets from the block start.
    struct raw_field {
        std::uint32_t name_off, name_len, value_off, value_len;
    };
    enum class scan : std::uint8_t { need_more, complete, failed };

    void start_message() noexcept;
    scan scan_block(std::string_view block, bool trailers);
    bool parse_start_line(std::string_view block, std::size_t begin, std::size_t end);
    bool parse_field_line(std::string_view block, std::size_t begin, std::size_t end);
    bool apply_head(std::string_view block);
    bool apply_framing();
    bool check_chunk_line(std::string_view line, bool complete);
    parse_result fail(parse_errc code, std::string message);

    parser_limits limits_;
    message_kind kind_;
    state state_ = state::head;

    // scan progress over the head or trailer block, as offsets
    std::size_t scan_next_ = 0;        // first byte not yet in a complete line
    std::size_t scan_seen_ = 0;        // bytes presented in the last need_more
    bool scan_have_start_ = false;
    std::vector<raw_field> raw_;
    std::uint32_t sl_[6] = {};         // start-line token offsets/lengths

    std::vector<header> headers_;
    std::vector<header> trailers_;
    std::string_view method_, target_, reason_;
    http_version version_;
    unsigned status_ = 0;

    std::optional<std::uint64_t> content_length_;
    body_framing framing_ = body_framing::none;
    bool keep_alive_ = false;
    bool upgrade_ = false;
    bool interim_ = false;
    bool head_request_ = false;
    bool connect_request_ = false;
    bool awaiting_final_ = false;      // a 1xx was seen; the final response is due
    std::uint64_t remaining_ = 0;
    std::uint64_t body_bytes_ = 0;

    parse_errc error_ = parse_errc::none;
    std::string error_message_;
};

} // namespace corio::http
