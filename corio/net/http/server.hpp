// SPDX-License-Identifier: MIT
//
// Why: the examples, the client's tests and the load benchmarks need an
// HTTP/1.1 server that is fast on the keep-alive path, strict about framing
// (parser.hpp refuses the ambiguous messages) and safe against the cheap
// attacks: a client that trickles its headers (slowloris), heads and bodies
// that never end, too many connections.
//
// Approach: one task per connection, reading into one buffer that the
// parser views without copying, and writing through one output buffer:
//
//   read ──> [ in: req1 | req2 | req3... ] ──parser──> route ──> handler(server_request&, server_response&)
//                                                                      │
//   write <── [ out: resp1 | resp2 | resp3 ] <── head + body appended ─┘
//
// Pipelined requests that arrive in one read are all answered before the
// next read, and their responses leave in one write (the output buffer is
// flushed only when the parser needs more bytes, when it passes
// `max_output_buffer`, or when a handler streams). A request without a
// body is handed to its handler with its views still pointing into the
// read buffer; a request with a body has its head copied out first, so the
// buffer can be compacted while the body arrives. The per-request cost on
// the `/hello` path is one read, one write, one handler frame from the
// recycling allocator and no other allocation.
//
// Timeouts use one timer node per connection (no allocation), armed only
// around a wait that suspends: `idle_timeout` between requests,
// `header_timeout` from the first byte of a request to its blank line (an
// absolute deadline, so trickling bytes does not extend it),
// `read_timeout`/`write_timeout` per body read or blocked write. When one
// passes, the connection's task is cancelled and the socket closed; the
// others are not affected. A handler's own time is not limited.
//
// Graceful stop (server::stop): the accept loop ends and the listener is
// closed; connections waiting for a request (idle or mid-head) are closed
// at once; a connection in a handler finishes its response, sent with
// `Connection: close`, then closes. serve() returns when every connection
// has ended, or after `stop_timeout`, when the rest are cancelled.
//
// Rejected: a task per request (Go's model is a goroutine per connection
// too) and Asio-style handler callbacks; responses returned by value from
// handlers (aiohttp), which cannot stream without a second API. Rejected
// too: HTTP/1.0 close-delimited request bodies (not valid for requests),
// Upgrade (ignored, as RFC 9110 7.8 allows), CONNECT (501).
//
// Ownership: the server must outlive serve(); serve() does not return while
// a connection task still runs. A request and its response belong to the
// connection and are valid only during the handler call.
#pragma once

#include <corio/core/sync.hpp>
#include <corio/core/task.hpp>
#include <corio/net/address.hpp>
#include <corio/net/http/parser.hpp>
#include <corio/net/http/router.hpp>
#include <corio/net/tcp.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace corio::http {

namespace detail {
class connection;
}

/// Limits and timeouts; the defaults suit a public server.
struct server_options {
    /// Head limits: 431 past max_header_bytes or max_headers, 414 past
    /// max_start_line. `max_body` here is ignored (see below).
    parser_limits limits{};
    /// The largest request body accepted, buffered or streamed (413 beyond).
    std::uint64_t max_body = 1024 * 1024;
    /// Between requests on a keep-alive connection (and before the first).
    std::chrono::milliseconds idle_timeout{60'000};
    /// From the first byte of a request head to its end (slowloris).
    std::chrono::milliseconds header_timeout{10'000};
    /// Each read of a request body that has to wait.
    std::chrono::milliseconds read_timeout{30'000};
    /// Each write that has to wait for the peer to read.
    std::chrono::milliseconds write_timeout{30'000};
    /// After an error response: how long unread input is drained before the
    /// socket is closed, so the client reads the response instead of a reset.
    std::chrono::milliseconds linger_timeout{1'000};
    /// How long stop() lets handlers finish before cancelling them.
    std::chrono::milliseconds stop_timeout{30'000};
    /// Connections served at once; further clients wait in the backlog.
    std::size_t max_connections = 10'000;
    /// Pipelined responses are flushed once this many bytes are pending.
    std::size_t max_output_buffer = 64 * 1024;
    /// The Server header; empty for none.
    std::string server_name = "corio";
};

/// The reason phrase for `status` ("Not Found"); "Unknown" if none.
std::string_view reason_phrase(int status) noexcept;

/// One request, as its handler sees it. Views stay valid during the call.
class server_request {
public:
    std::string_view method() const noexcept { return method_; }
    /// The request-target as sent ("/a%20b?x=1").
    std::string_view target() const noexcept { return target_; }
    /// The path, percent-decoded ("/a b"); "*" for `OPTIONS *`.
    std::string_view path() const noexcept { return path_; }
    /// The path as sent, still encoded.
    std::string_view raw_path() const noexcept { return raw_path_; }
    /// The query without '?', still encoded; empty if none.
    std::string_view query() const noexcept { return query_; }
    http_version version() const noexcept { return version_; }
    headers_view headers() const noexcept { return headers_view(headers_); }
    /// The first header named `name` (case-insensitive), if any.
    std::optional<std::string_view> header(std::string_view name) const noexcept { return headers().find(name); }
    /// The client asked to keep the connection open.
    bool keep_alive() const noexcept { return keep_alive_; }
    /// The request has a body (Content-Length or chunked).
    bool has_body() const noexcept { return has_body_; }
    std::optional<std::uint64_t> content_length() const noexcept { return content_length_; }
    /// The prefix of the prefix route that matched ("/static/"); empty for
    /// an exact route. path().substr(route_prefix().size()) is the rest.
    std::string_view route_prefix() const noexcept { return route_prefix_; }
    const net::address& peer() const noexcept;

    /// The whole body, read before the handler ran (routes without
    /// `stream_body`). Empty for a streaming route.
    std::string_view body() const noexcept { return body_; }

    /// The next piece of the body, de-chunked; empty at its end. Valid until
    /// the next call. On a streaming route it reads from the socket (sending
    /// `100 Continue` first if the client asked for it); otherwise it returns
    /// body() once. Throws parse_error for a malformed or too large body
    /// (the handler may let it escape: the server answers 400 or 413),
    /// std::system_error for a socket error, cancelled_error on timeout.
    ///
    ///     std::uint64_t total = 0;
    ///     while (auto piece = co_await req.read_some(); !piece.empty()) total += piece.size();
    task<std::string_view> read_some();

private:
    friend class detail::connection;

    detail::connection* conn_ = nullptr;
    std::string_view method_, target_, path_, raw_path_, query_, route_prefix_;
    http_version version_{};
    std::vector<http::header> headers_;
    std::optional<std::uint64_t> content_length_;
    bool keep_alive_ = false;
    bool has_body_ = false;
    bool streaming_ = false;
    bool body_returned_ = false;
    std::string_view body_;
    std::string body_storage_;   // buffered body
    std::string head_storage_;   // the head, when it must outlive the read buffer's layout
    std::string path_storage_;   // a decoded path
    std::string target_storage_; // path and query of an absolute-form target
};

/// The response a handler fills in. Either set a body (sent with
/// Content-Length when the handler returns), or stream it with write()
/// (sent as it comes: chunked, or with the length given beforehand), or
/// send a file. For HEAD the server drops the body and keeps the headers.
///
///     res.set_body("Hello, World!", "text/plain");      // buffered
///
///     res.set_header("Content-Type", "text/event-stream");
///     co_await res.write("data: 1\n\n");                  // streamed, chunked
///
/// The server adds Date, Server, Content-Length or Transfer-Encoding and
/// Connection; setting those three framing headers yourself throws
/// std::invalid_argument (use set_content_length and close_connection).
class server_response {
public:
    int status() const noexcept { return status_; }
    /// 100..999; std::invalid_argument otherwise, std::logic_error once sent.
    void set_status(int status);
    /// Replaces every header named `name`. std::invalid_argument for a bad
    /// name, CR/LF/NUL in the value, or a framing header (see above).
    void set_header(std::string_view name, std::string_view value);
    /// Adds a header, keeping others of that name (Set-Cookie).
    void add_header(std::string_view name, std::string_view value);
    void remove_header(std::string_view name) noexcept;
    std::optional<std::string_view> header(std::string_view name) const noexcept;

    /// The buffered body (copied); replaces what was set before.
    void set_body(std::string_view body);
    /// The same, with a Content-Type.
    void set_body(std::string_view body, std::string_view content_type);
    std::string_view body() const noexcept { return body_; }

    /// For a streamed body whose size is known: sent as Content-Length
    /// instead of chunked. Writing more (or, at the end, less) than this
    /// closes the connection after the response.
    void set_content_length(std::uint64_t length);
    /// Closes the connection after this response (Connection: close).
    void close_connection() noexcept { close_ = true; }

    /// Sends the status and headers if not yet sent, then `data`, and
    /// returns once it is handed to the kernel (it waits while the client
    /// does not read; write_timeout applies). An empty `data` just sends the
    /// head. Throws std::system_error if the connection fails.
    task<void> write(std::string_view data);

    /// Sends `length` bytes of the open file `fd` from `offset` as the body
    /// (with Content-Length), via sendfile(2) for large files. The caller
    /// keeps ownership of `fd`. std::logic_error if something was sent.
    task<void> send_file(int fd, std::uint64_t offset, std::uint64_t length);

    /// The status line and headers have gone out; the status and headers
    /// can no longer change.
    bool head_sent() const noexcept { return head_sent_; }

private:
    friend class detail::connection;
    void check_not_sent() const;
    void reset() noexcept; // for the next request, keeping the capacity

    detail::connection* conn_ = nullptr;
    std::string headers_; // "Name: value\r\n"...
    std::string body_;
    std::optional<std::uint64_t> content_length_;
    std::uint64_t sent_ = 0;
    int status_ = 200;
    bool head_sent_ = false;
    bool chunked_ = false;
    bool close_ = false;
    bool file_ = false;
};

/// The server: routes, then serve(listener) until stop().
///
///     corio::http::server srv;
///     srv.route("GET", "/hello", [](server_request&, server_response& res) -> task<void> {
///         res.set_body("Hello, World!", "text/plain");
///         co_return;
///     });
///     auto l = corio::net::tcp_listener::bind(corio::net::address::loopback_v4(8080));
///     co_await srv.serve(std::move(l));   // until srv.stop() is called
///
/// One server belongs to one loop. For several threads, make one server per
/// loop, each with its own SO_REUSEPORT listener (examples/http_server.cpp).
class server {
public:
    explicit server(server_options options = {});
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    /// Adds an exact route (router::add). Not while serving.
    server& route(std::string_view methods, std::string path, handler h, route_options options = {});
    /// Adds a prefix route (router::add_prefix). Not while serving.
    server& route_prefix(std::string_view methods, std::string prefix, handler h, route_options options = {});

    /// Accepts and serves connections until stop() (then stops gracefully,
    /// see the top of this file) and closes the listener. If the awaiting
    /// task is cancelled, every connection is cancelled, waited for, and
    /// cancelled_error is rethrown. std::logic_error if already serving.
    task<void> serve(net::tcp_listener listener);

    /// Starts the graceful stop; serve() returns once it is done. Callable
    /// from any task of the server's loop (a handler too), any number of times.
    void stop() noexcept;
    bool stopping() const noexcept { return stopping_; }

    /// Connections open now.
    std::size_t connections() const noexcept { return count_; }
    /// Requests answered since construction (error responses included).
    std::uint64_t requests() const noexcept { return requests_; }
    const server_options& options() const noexcept { return options_; }

private:
    friend class detail::connection;

    task<void> accept_loop(net::tcp_listener& listener);
    void start(net::tcp_stream stream);
    void finished(detail::connection& c) noexcept;
    void cancel_connections(bool idle_only) noexcept;

    server_options options_;
    router router_;
    detail::connection* head_ = nullptr; // intrusive list of live connections
    std::size_t count_ = 0;
    std::uint64_t requests_ = 0;
    semaphore permits_;
    event stop_event_;
    event drained_;
    bool serving_ = false;
    bool stopping_ = false;
    bool hard_stop_ = false;
};

} // namespace corio::http
