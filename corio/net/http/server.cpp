// SPDX-License-Identifier: MIT
//
// The server's connection loop; see server.hpp for the design. This file is
// organised as the life of one connection:
//
//   main ── serve ─┬─ read the head (idle_timeout, then header_timeout)
//                  ├─ prepare the request (target, path, route, Expect)
//                  ├─ read the body (buffered routes) or hand it over (streaming)
//                  ├─ call the handler; finish the response into `out_`
//                  └─ keep-alive? next request : flush, linger if needed, close
//
// Invariants:
//   - `in_[in_begin_, in_end_)` holds the bytes not yet consumed by the
//     parser. It is compacted (moved to the front) only by read_more, and
//     only when full; at that point no view into it is alive (a request with
//     a body has had its head copied out, see own_head).
//   - `out_` holds responses not yet written, in request order. Anything
//     that waits for the client (read_more) flushes it first, so a client
//     never waits for a response that sits in our buffer.
//   - The deadline timer is linked only while the task is suspended in a
//     socket wait; when it fires the task is cancelled and the connection
//     ends.
//   - `keep_` is decided when a response head is written, and the head says
//     so (Connection: close); the connection never closes after a response
//     that promised otherwise, except when the response framing broke.
#include <corio/net/http/server.hpp>

#include <corio/core/event_loop.hpp>
#include <corio/core/io.hpp>
#include <corio/core/log.hpp>
#include <corio/core/time.hpp>
#include <corio/net/http/http_date.hpp>
#include <corio/net/http/url.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <functional>
#include <memory>
#include <sys/sendfile.h>
#include <unistd.h>

namespace corio::http {

namespace {

constexpr std::size_t initial_input = 4096;
// Files up to this size are read into the output buffer (one write with the
// head); larger ones go out with sendfile(2).
constexpr std::size_t inline_file_limit = 64 * 1024;
// Streamed pieces up to this size are copied next to their framing.
constexpr std::size_t inline_write_limit = 16 * 1024;
// Lingering close discards at most this much input.
constexpr std::size_t linger_limit = 1024 * 1024;

bool is_token_char(char c) noexcept {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

void check_field(std::string_view name, std::string_view value) {
    if (name.empty() || !std::all_of(name.begin(), name.end(), is_token_char))
        throw std::invalid_argument("corio: invalid header name \"" + std::string(name) + "\"");
    for (char c : value)
        if (c == '\r' || c == '\n' || c == '\0')
            throw std::invalid_argument("corio: CR, LF or NUL in the value of header " + std::string(name));
    if (ascii_iequals(name, "content-length") || ascii_iequals(name, "transfer-encoding") ||
        ascii_iequals(name, "connection"))
        throw std::invalid_argument("corio: the server sets " + std::string(name) +
                                    " itself (use set_content_length or close_connection)");
}

// 1xx, 204 and 304 responses never have a body (RFC 9110 6.4.1).
bool status_has_body(int status) noexcept { return status >= 200 && status != 204 && status != 304; }

void append_number(std::string& out, std::uint64_t v, int base = 10) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v, base);
    out.append(buf, r.ptr);
}

} // namespace

std::string_view reason_phrase(int status) noexcept {
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

namespace detail {

class connection {
public:
    connection(server& srv, net::tcp_stream stream);
    ~connection() { disarm(); }
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    // The connection's task: serves until the connection ends, never throws,
    // then tells the server (which deletes the connection).
    static task<void> main(connection* c);

    task<std::string_view> read_body_piece();
    task<void> write_streamed(server_response& res, std::string_view data);
    task<void> send_file(server_response& res, int fd, std::uint64_t offset, std::uint64_t length);
    const net::address& peer() const noexcept { return stream_.peer_address(); }

    // The server's list of live connections.
    connection* prev = nullptr;
    connection* next = nullptr;
    join_handle<void> handle;
    // Waiting for a request (idle or mid-head): a graceful stop closes it.
    bool reading_head = true;

private:
    enum class framing : std::uint8_t { none, length, chunked, until_close };
    struct deadline_timer final : timer_node {
        connection* owner = nullptr;
    };

    task<void> serve();
    int prepare_request();
    void own_head(std::size_t head_at, std::size_t head_len);
    task<bool> read_body_fully();
    task<void> call_handler(const handler& h);
    void finish_response();
    void put_head(server_response& res, framing f, std::uint64_t length);
    void reset_response(int status);
    task<void> reply_error(int status);
    task<void> linger();

    std::string_view input() const noexcept { return {in_.get() + in_begin_, in_end_ - in_begin_}; }
    task<std::size_t> read_more(time_point deadline);
    bool flush_now();
    task<void> flush();

    void arm(time_point deadline) noexcept;
    void disarm() noexcept;
    void check_timeout() const;
    static void on_timeout(timer_node* n) noexcept;

    server* srv_;
    event_loop* loop_;
    ::corio::detail::task_state* task_ = nullptr;
    net::tcp_stream stream_;
    parser parser_;
    server_request req_;
    server_response res_;

    std::unique_ptr<char[]> in_;
    std::size_t in_cap_ = 0;
    std::size_t in_max_;
    std::size_t in_begin_ = 0;
    std::size_t in_end_ = 0;
    std::string out_;

    deadline_timer timer_;
    bool try_first_;          // the backend wants the syscall tried before waiting
    bool timed_out_ = false;
    // per request
    bool keep_ = false;       // what the response head said
    bool must_close_ = false; // the request body is not read: close after the response
    bool body_done_ = false;  // the parser reached message_complete
    bool head_request_ = false;
    bool continue_pending_ = false;
};

connection::connection(server& srv, net::tcp_stream stream)
    : srv_(&srv),
      loop_(&current_loop()),
      stream_(std::move(stream)),
      parser_(message_kind::request, [&] {
          parser_limits l = srv.options_.limits;
          l.max_body = srv.options_.max_body;
          return l;
      }()),
      in_max_(std::max<std::size_t>(srv.options_.limits.max_header_bytes + 4096, 8192)),
      try_first_(loop_->io().features().try_before_submit) {
    timer_.owner = this;
    timer_.fire = &on_timeout;
    req_.conn_ = this;
    res_.conn_ = this;
}

// --- timeouts -------------------------------------------------------------------

void connection::arm(time_point deadline) noexcept {
    if (timer_.linked()) loop_->cancel_timer(timer_);
    loop_->add_timer(timer_, deadline);
}

void connection::disarm() noexcept {
    if (timer_.linked()) loop_->cancel_timer(timer_);
}

void connection::check_timeout() const {
    if (timed_out_) throw timeout_error("corio: http connection timed out");
}

void connection::on_timeout(timer_node* n) noexcept {
    connection* c = static_cast<deadline_timer*>(n)->owner;
    c->timed_out_ = true;
    if (c->task_ && !c->task_->cancel_requested()) c->task_->cancel();
}

// --- socket I/O -----------------------------------------------------------------

// Reads what is there into the free end of `in_` (compacting or growing it
// first if it is full), waiting until `deadline`. Returns the count, 0 at EOF.
task<std::size_t> connection::read_more(time_point deadline) {
    if (in_begin_ == in_end_) in_begin_ = in_end_ = 0;
    if (in_end_ == in_cap_) {
        if (in_begin_ > 0) {
            std::memmove(in_.get(), in_.get() + in_begin_, in_end_ - in_begin_);
            in_end_ -= in_begin_;
            in_begin_ = 0;
        } else {
            if (in_cap_ >= in_max_) throw std::length_error("corio: http input buffer full");
            std::size_t cap = in_cap_ == 0 ? initial_input : std::min(in_cap_ * 2, in_max_);
            auto bigger = std::make_unique<char[]>(cap);
            if (in_end_ > 0) std::memcpy(bigger.get(), in_.get(), in_end_);
            in_ = std::move(bigger);
            in_cap_ = cap;
        }
    }
    auto space = std::as_writable_bytes(std::span(in_.get() + in_end_, in_cap_ - in_end_));
    if (!try_first_) {
        arm(deadline);
        std::size_t n = co_await stream_.read_some(space);
        disarm();
        check_timeout();
        in_end_ += n;
        co_return n;
    }
    // A readiness backend: try the read, and arm the timer only when it
    // would block. Skipping the try after a short read (echo_server's trick)
    // is not sound here: a handler may have suspended since, and the epoll
    // backend forgets an edge that arrives while no op waits.
    for (;;) {
        if (auto n = stream_.try_read_some(space)) {
            in_end_ += *n;
            co_return *n;
        }
        arm(deadline);
        co_await stream_.wait_readable();
        disarm();
        check_timeout();
    }
}

// Writes `out_` without waiting; true if all of it went out.
bool connection::flush_now() {
    if (out_.empty()) return true;
    std::size_t n = stream_.try_write(std::as_bytes(std::span(out_.data(), out_.size())));
    if (n == out_.size()) {
        out_.clear();
        return true;
    }
    out_.erase(0, n);
    return false;
}

task<void> connection::flush() {
    if (flush_now()) co_return;
    arm(loop_->now() + srv_->options_.write_timeout);
    co_await stream_.write_all(std::as_bytes(std::span(out_.data(), out_.size())));
    disarm();
    check_timeout();
    out_.clear();
}

// --- the connection loop ----------------------------------------------------------

task<void> connection::main(connection* c) {
    c->task_ = &::corio::detail::current_task();
    try {
        co_await c->serve();
    } catch (const cancelled_error&) {
        // a timeout or a stop
    } catch (const std::exception& e) {
        CORIO_LOG_DEBUG("http: connection from {}: {}", c->peer().to_string(), e.what());
    }
    c->disarm();
    c->stream_.close();
    c->srv_->finished(*c); // deletes c
}

task<void> connection::serve() {
    const server_options& opt = srv_->options_;
    stream_.set_nodelay();
    for (;;) {
        // -- the head: idle_timeout until its first byte, then header_timeout
        reading_head = true;
        keep_ = must_close_ = body_done_ = head_request_ = continue_pending_ = false;
        bool started = in_end_ > in_begin_;
        time_point head_deadline = loop_->now() + opt.header_timeout;
        parse_result r;
        for (;;) {
            r = parser_.feed(input());
            if (r.event != parse_event::need_more) break;
            if (!flush_now()) co_await flush();
            if (in_end_ == in_begin_ && srv_->stopping_) co_return;
            if (!started && in_end_ > in_begin_) {
                started = true;
                head_deadline = loop_->now() + opt.header_timeout;
            }
            time_point deadline = started ? head_deadline : loop_->now() + opt.idle_timeout;
            if (co_await read_more(deadline) == 0) {
                r = parser_.finish();
                break;
            }
            if (!started) {
                started = true;
                head_deadline = loop_->now() + opt.header_timeout;
            }
        }
        reading_head = false;
        if (r.event == parse_event::end_of_stream) co_return;
        if (r.event == parse_event::error) {
            if (parser_.error() == parse_errc::truncated_headers) co_return; // nobody left to answer
            ++srv_->requests_;
            co_await reply_error(status_for(parser_.error()));
            co_return;
        }
        // A graceful stop that raced with the last bytes of this head: the
        // request is complete, so it is served rather than dropped.
        if (srv_->stopping_ && !srv_->hard_stop_ && !timed_out_ && task_->cancel_requested())
            task_->cancel_delivered();

        // -- the request
        ++srv_->requests_;
        const std::size_t head_at = in_begin_;
        in_begin_ += r.consumed;
        int status = prepare_request();
        must_close_ = status != 0; // a target we cannot even parse: do not trust what follows
        router::match m;
        if (status == 0) {
            m = srv_->router_.find(req_.method_, req_.path_);
            status = m.status;
        }
        bool expect_continue = false;
        if (auto expect = req_.header("expect")) {
            if (ascii_iequals(*expect, "100-continue"))
                expect_continue = req_.has_body_ && req_.version_.minor >= 1;
            else if (status == 0)
                status = 417;
        }

        if (status != 0) {
            // Answered without reading the body: the connection cannot be reused.
            must_close_ = must_close_ || req_.has_body_;
            reset_response(status);
            if (status == 405) res_.headers_.append("Allow: ").append(m.allow).append("\r\n");
        } else {
            res_.reset();
            req_.route_prefix_ = m.prefix;
            if (req_.has_body_) {
                own_head(head_at, r.consumed);
                continue_pending_ = expect_continue;
                if (m.options.stream_body) {
                    req_.streaming_ = true;
                } else if (!co_await read_body_fully()) {
                    co_return;
                }
            }
            co_await call_handler(*m.target);
            // A streaming handler that left body unread: say so in the head.
            if (req_.has_body_ && !body_done_) must_close_ = true;
        }
        finish_response();

        // -- the end of the request
        if (!body_done_) {
            if (!req_.has_body_ && parser_.feed(input()).event == parse_event::message_complete)
                body_done_ = true;
            else
                keep_ = false;
        }
        if (!keep_ || srv_->stopping_) {
            if (!flush_now()) co_await flush();
            if (must_close_ || !body_done_ || in_end_ > in_begin_) co_await linger();
            co_return;
        }
        parser_.reset();
        if (out_.size() >= opt.max_output_buffer && !flush_now()) co_await flush();
    }
}

// Fills req_ from the parser. Returns 0, or the status to answer instead.
int connection::prepare_request() {
    server_request& q = req_;
    q.method_ = parser_.method();
    q.target_ = parser_.target();
    q.version_ = parser_.version();
    headers_view hv = parser_.headers();
    q.headers_.assign(hv.begin(), hv.end());
    q.content_length_ = parser_.content_length();
    q.keep_alive_ = parser_.keep_alive();
    q.has_body_ = parser_.framing() != body_framing::none;
    q.streaming_ = q.body_returned_ = false;
    q.body_ = {};
    q.body_storage_.clear();
    q.route_prefix_ = {};
    q.query_ = {};
    head_request_ = q.method_ == "HEAD";

    std::string_view t = q.target_;
    if (t.front() == '/') {
        std::size_t qm = t.find('?');
        q.raw_path_ = t.substr(0, qm);
        if (qm != std::string_view::npos) q.query_ = t.substr(qm + 1);
    } else if (t == "*") {
        if (q.method_ != "OPTIONS") return 400;
        q.raw_path_ = q.path_ = t;
        return 0;
    } else if (q.method_ == "CONNECT") {
        return 501;
    } else {
        // absolute-form (RFC 9112 3.2.2): a proxy's form; the path is what counts.
        try {
            url u = url::parse(t);
            q.target_storage_ = u.path().empty() ? "/" : u.path();
            std::size_t path_len = q.target_storage_.size();
            if (u.has_query()) q.target_storage_.append("?").append(u.query());
            std::string_view s = q.target_storage_;
            q.raw_path_ = s.substr(0, path_len);
            if (u.has_query()) q.query_ = s.substr(path_len + 1);
        } catch (const url_error&) {
            return 400;
        }
    }
    if (q.raw_path_.find('%') == std::string_view::npos) {
        q.path_ = q.raw_path_;
        return 0;
    }
    try {
        q.path_storage_ = percent_decode(q.raw_path_);
    } catch (const url_error&) {
        return 400;
    }
    if (q.path_storage_.find('\0') != std::string::npos) return 400;
    q.path_ = q.path_storage_;
    return 0;
}

// Copies the head out of the read buffer and points the request's views at
// the copy, so that reading the body may move the buffer's bytes.
void connection::own_head(std::size_t head_at, std::size_t head_len) {
    const char* base = in_.get() + head_at;
    req_.head_storage_.assign(base, head_len);
    const char* copy = req_.head_storage_.data();
    std::less_equal<const char*> le;
    auto rebase = [&](std::string_view& v) {
        if (le(base, v.data()) && le(v.data() + v.size(), base + head_len)) v = {copy + (v.data() - base), v.size()};
    };
    for (std::string_view* v : {&req_.method_, &req_.target_, &req_.path_, &req_.raw_path_, &req_.query_}) rebase(*v);
    for (header& h : req_.headers_) {
        rebase(h.name);
        rebase(h.value);
    }
}

// Reads the whole body into the request. False if the connection must end
// (an error was answered, or the client left).
task<bool> connection::read_body_fully() {
    for (;;) {
        int status = 0;
        try {
            std::string_view piece = co_await read_body_piece();
            if (piece.empty()) break;
            req_.body_storage_.append(piece);
            continue;
        } catch (const parse_error& e) {
            status = status_for(e.code());
        }
        if (parser_.error() != parse_errc::truncated_body && parser_.error() != parse_errc::truncated_chunk)
            co_await reply_error(status);
        co_return false;
    }
    req_.body_ = req_.body_storage_;
    co_return true;
}

// The next piece of the body (empty at its end); sends 100 Continue first if
// it is still owed. Throws parse_error for a bad or truncated body.
task<std::string_view> connection::read_body_piece() {
    if (!req_.has_body_ || body_done_) co_return std::string_view{};
    if (continue_pending_) {
        continue_pending_ = false;
        if (!res_.head_sent_) {
            out_ += "HTTP/1.1 100 Continue\r\n\r\n";
            co_await flush();
        }
    }
    for (;;) {
        parse_result r = parser_.feed(input());
        in_begin_ += r.consumed;
        switch (r.event) {
        case parse_event::body:
            if (!r.body.empty()) co_return r.body;
            break;
        case parse_event::message_complete: body_done_ = true; co_return std::string_view{};
        case parse_event::need_more:
            if (co_await read_more(loop_->now() + srv_->options_.read_timeout) == 0) {
                parse_result end = parser_.finish();
                if (end.event == parse_event::message_complete) {
                    body_done_ = true;
                    co_return std::string_view{};
                }
                throw parse_error(parser_.error(), std::string(parser_.error_message()));
            }
            break;
        default: throw parse_error(parser_.error(), std::string(parser_.error_message()));
        }
    }
}

task<void> connection::call_handler(const handler& h) {
    int failure = 0;
    try {
        co_await h(req_, res_);
    } catch (const cancelled_error&) {
        throw;
    } catch (const parse_error& e) {
        failure = status_for(e.code());
    } catch (const std::exception& e) {
        CORIO_LOG_ERROR("http: handler for {} {} failed: {}", req_.method_, req_.path_, e.what());
        failure = 500;
    } catch (...) {
        CORIO_LOG_ERROR("http: handler for {} {} failed", req_.method_, req_.path_);
        failure = 500;
    }
    if (failure == 0) co_return;
    // A response already under way cannot be replaced: the connection ends
    // (its framing is what tells the client that something went wrong).
    if (res_.head_sent_) throw std::runtime_error("corio: handler failed after the response head was sent");
    must_close_ = must_close_ || failure != 500;
    reset_response(failure);
}

void connection::reset_response(int status) {
    res_.reset();
    res_.status_ = status;
    std::string_view reason = reason_phrase(status);
    res_.body_.reserve(reason.size() + 1);
    res_.body_.append(reason).append("\n");
    res_.headers_ = "Content-Type: text/plain; charset=utf-8\r\n";
}

// Appends the status line and headers to out_ and decides keep-alive.
void connection::put_head(server_response& res, framing f, std::uint64_t length) {
    keep_ = req_.keep_alive_ && !res.close_ && !must_close_ && !srv_->stopping_ && f != framing::until_close;
    std::string_view date = http_date_now();
    std::string_view reason = reason_phrase(res.status_);
    const std::string& name = srv_->options_.server_name;
    out_.reserve(out_.size() + 128 + res.headers_.size());
    char code[3] = {char('0' + res.status_ / 100 % 10), char('0' + res.status_ / 10 % 10), char('0' + res.status_ % 10)};
    out_.append("HTTP/1.1 ").append(code, 3).append(" ").append(reason).append("\r\nDate: ").append(date);
    if (!name.empty()) out_.append("\r\nServer: ").append(name);
    out_.append("\r\n").append(res.headers_);
    switch (f) {
    case framing::length:
        out_.append("Content-Length: ");
        append_number(out_, length);
        out_.append("\r\n");
        break;
    case framing::chunked: out_.append("Transfer-Encoding: chunked\r\n"); break;
    case framing::none:
    case framing::until_close: break;
    }
    if (!keep_)
        out_.append("Connection: close\r\n");
    else if (req_.version_.minor == 0)
        out_.append("Connection: keep-alive\r\n");
    out_.append("\r\n");
    res.head_sent_ = true;
}

// After the handler: the buffered response goes into out_, a streamed one
// gets its end.
void connection::finish_response() {
    server_response& res = res_;
    if (!res.head_sent_) {
        bool body = status_has_body(res.status_);
        put_head(res, body ? framing::length : framing::none, res.body_.size());
        if (body && !head_request_) out_.append(res.body_);
        return;
    }
    if (res.chunked_) {
        if (!head_request_) out_.append("0\r\n\r\n");
    } else if (res.content_length_ && res.sent_ != *res.content_length_ && !head_request_ &&
               status_has_body(res.status_)) {
        keep_ = false; // fewer bytes than announced: only closing tells the client
    }
}

task<void> connection::write_streamed(server_response& res, std::string_view data) {
    if (res.file_) throw std::logic_error("corio: server_response::write after send_file");
    bool body = status_has_body(res.status_) && !head_request_;
    if (!res.head_sent_) {
        framing f = framing::none;
        if (!status_has_body(res.status_))
            f = framing::none;
        else if (res.content_length_)
            f = framing::length;
        else if (req_.version_.minor >= 1)
            f = framing::chunked;
        else
            f = framing::until_close;
        res.chunked_ = f == framing::chunked;
        put_head(res, f, res.content_length_.value_or(0));
    }
    if (body && !data.empty()) {
        if (res.content_length_ && data.size() > *res.content_length_ - res.sent_)
            throw std::logic_error("corio: server_response::write beyond the Content-Length that was set");
        if (res.chunked_) {
            append_number(out_, data.size(), 16);
            out_.append("\r\n");
        }
        if (data.size() <= inline_write_limit) {
            out_.append(data);
        } else {
            co_await flush();
            arm(loop_->now() + srv_->options_.write_timeout);
            co_await stream_.write_all(data);
            disarm();
            check_timeout();
        }
        if (res.chunked_) out_.append("\r\n");
        res.sent_ += data.size();
    }
    co_await flush();
}

task<void> connection::send_file(server_response& res, int fd, std::uint64_t offset, std::uint64_t length) {
    if (res.head_sent_) throw std::logic_error("corio: server_response::send_file after the head was sent");
    res.file_ = true;
    res.content_length_ = length;
    bool body = status_has_body(res.status_);
    put_head(res, body ? framing::length : framing::none, length);
    if (!body || head_request_ || length == 0) co_return;
    if (length <= inline_file_limit) {
        // Small: read into out_, to leave with the head (and its pipelined neighbours).
        std::size_t at = out_.size();
        out_.resize(at + length);
        std::size_t got = 0;
        while (got < length) {
            ssize_t n = ::pread(fd, out_.data() + at + got, length - got, static_cast<off_t>(offset + got));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                out_.resize(at);
                keep_ = false;
                if (n < 0) throw_system_error(errno, "pread of a file to send");
                throw std::runtime_error("corio: file shorter than its size while sending");
            }
            got += static_cast<std::size_t>(n);
        }
        res.sent_ = length;
        co_return;
    }
    co_await flush();
    auto off = static_cast<off_t>(offset);
    std::uint64_t left = length;
    while (left > 0) {
        ssize_t n = ::sendfile(stream_.fd(), fd, &off, static_cast<std::size_t>(std::min<std::uint64_t>(left, 1u << 30)));
        if (n > 0) {
            left -= static_cast<std::uint64_t>(n);
            res.sent_ += static_cast<std::uint64_t>(n);
            continue;
        }
        if (n == 0) throw std::runtime_error("corio: file shorter than its size while sending");
        if (errno == EINTR) continue;
        if (errno != EAGAIN) stream_.fail(errno, "sendfile to");
        arm(loop_->now() + srv_->options_.write_timeout);
        co_await io::wait_writable(stream_.fd());
        disarm();
        check_timeout();
    }
}

// Answers a request that cannot be served (a parse error): the response,
// then a lingering close.
task<void> connection::reply_error(int status) {
    must_close_ = true;
    head_request_ = false;
    reset_response(status);
    finish_response();
    co_await flush();
    co_await linger();
}

// Closing a socket with unread input makes the kernel send a reset, which
// can destroy the response before the client has read it. So: half-close,
// then discard input until the client closes or linger_timeout passes
// (nginx's lingering_close).
task<void> connection::linger() {
    try {
        stream_.shutdown_write();
    } catch (const std::system_error&) {
        co_return;
    }
    time_point deadline = loop_->now() + srv_->options_.linger_timeout;
    std::size_t discarded = 0;
    while (discarded < linger_limit) {
        in_begin_ = in_end_ = 0;
        std::size_t n = co_await read_more(deadline);
        if (n == 0) break;
        discarded += n;
    }
}

} // namespace detail

// --- request / response ----------------------------------------------------------

const net::address& server_request::peer() const noexcept {
    static const net::address none;
    return conn_ ? conn_->peer() : none;
}

task<std::string_view> server_request::read_some() {
    if (!streaming_) {
        if (body_returned_ || body_.empty()) co_return std::string_view{};
        body_returned_ = true;
        co_return body_;
    }
    co_return co_await conn_->read_body_piece();
}

void server_response::reset() noexcept {
    headers_.clear();
    body_.clear();
    content_length_.reset();
    sent_ = 0;
    status_ = 200;
    head_sent_ = chunked_ = close_ = file_ = false;
}

void server_response::check_not_sent() const {
    if (head_sent_) throw std::logic_error("corio: the response head was already sent");
}

void server_response::set_status(int status) {
    check_not_sent();
    if (status < 100 || status > 999) throw std::invalid_argument("corio: HTTP status out of range: " + std::to_string(status));
    status_ = status;
}

void server_response::set_header(std::string_view name, std::string_view value) {
    check_field(name, value);
    check_not_sent();
    remove_header(name);
    headers_.append(name).append(": ").append(value).append("\r\n");
}

void server_response::add_header(std::string_view name, std::string_view value) {
    check_field(name, value);
    check_not_sent();
    headers_.append(name).append(": ").append(value).append("\r\n");
}

void server_response::remove_header(std::string_view name) noexcept {
    std::size_t at = 0;
    while (at < headers_.size()) {
        std::size_t end = headers_.find("\r\n", at) + 2;
        std::string_view line(headers_.data() + at, end - at);
        std::size_t colon = line.find(':');
        if (ascii_iequals(line.substr(0, colon), name))
            headers_.erase(at, end - at);
        else
            at = end;
    }
}

std::optional<std::string_view> server_response::header(std::string_view name) const noexcept {
    std::string_view all = headers_;
    while (!all.empty()) {
        std::size_t end = all.find("\r\n");
        std::string_view line = all.substr(0, end);
        all.remove_prefix(end + 2);
        std::size_t colon = line.find(':');
        if (ascii_iequals(line.substr(0, colon), name)) return line.substr(colon + 2);
    }
    return std::nullopt;
}

void server_response::set_body(std::string_view body) {
    check_not_sent();
    body_.assign(body);
}

void server_response::set_body(std::string_view body, std::string_view content_type) {
    set_header("Content-Type", content_type);
    body_.assign(body);
}

void server_response::set_content_length(std::uint64_t length) {
    check_not_sent();
    content_length_ = length;
}

task<void> server_response::write(std::string_view data) {
    if (!conn_) throw std::logic_error("corio: server_response::write outside a handler");
    co_await conn_->write_streamed(*this, data);
}

task<void> server_response::send_file(int fd, std::uint64_t offset, std::uint64_t length) {
    if (!conn_) throw std::logic_error("corio: server_response::send_file outside a handler");
    co_await conn_->send_file(*this, fd, offset, length);
}

// --- server ------------------------------------------------------------------------

server::server(server_options options)
    : options_(std::move(options)), permits_(std::max<std::size_t>(options_.max_connections, 1)) {
    drained_.set();
}

server::~server() {
    if (count_ != 0) CORIO_LOG_ERROR("http: server destroyed with {} connections still open", count_);
}

server& server::route(std::string_view methods, std::string path, handler h, route_options options) {
    router_.add(methods, std::move(path), std::move(h), options);
    return *this;
}

server& server::route_prefix(std::string_view methods, std::string prefix, handler h, route_options options) {
    router_.add_prefix(methods, std::move(prefix), std::move(h), options);
    return *this;
}

void server::stop() noexcept {
    stopping_ = true;
    stop_event_.set();
    cancel_connections(true);
}

void server::cancel_connections(bool idle_only) noexcept {
    for (detail::connection* c = head_; c; c = c->next)
        if (!idle_only || c->reading_head) c->handle.cancel();
}

task<void> server::serve(net::tcp_listener listener) {
    if (serving_) throw std::logic_error("corio: http::server::serve called while already serving");
    serving_ = true;
    auto acceptor = corio::spawn(accept_loop(listener), "http accept");
    bool cancelled = false;
    try {
        co_await stop_event_.wait();
    } catch (const cancelled_error&) {
        cancelled = true;
    }
    stopping_ = true;
    acceptor.cancel();
    try {
        co_await acceptor;
    } catch (const std::exception&) {
    }
    listener.close();
    if (cancelled) {
        hard_stop_ = true;
        cancel_connections(false);
    } else {
        cancel_connections(true);
        bool late = false;
        try {
            co_await corio::timeout(options_.stop_timeout, drained_.wait(), "http graceful stop");
        } catch (const timeout_error&) {
            late = true;
        } catch (const cancelled_error&) {
            late = cancelled = true;
        }
        if (late) {
            hard_stop_ = true;
            cancel_connections(false);
        }
    }
    while (count_ != 0) {
        try {
            co_await drained_.wait();
        } catch (const cancelled_error&) {
            cancelled = true;
            cancel_connections(false);
        }
    }
    serving_ = stopping_ = hard_stop_ = false;
    stop_event_.clear();
    if (cancelled) throw cancelled_error();
}

task<void> server::accept_loop(net::tcp_listener& listener) {
    for (;;) {
        co_await permits_.acquire();
        bool failed = false;
        try {
            start(co_await listener.accept());
            continue;
        } catch (const std::system_error& e) {
            CORIO_LOG_WARN("http: accept on {}: {}", listener.local_address().to_string(), e.what());
            failed = true;
        } catch (...) {
            permits_.release();
            throw;
        }
        permits_.release();
        if (failed) co_await corio::sleep(std::chrono::milliseconds(100));
    }
}

void server::start(net::tcp_stream stream) {
    auto* c = new detail::connection(*this, std::move(stream));
    c->next = head_;
    if (head_) head_->prev = c;
    head_ = c;
    ++count_;
    drained_.clear();
    c->handle = corio::spawn(detail::connection::main(c), "http connection");
}

void server::finished(detail::connection& c) noexcept {
    (c.prev ? c.prev->next : head_) = c.next;
    if (c.next) c.next->prev = c.prev;
    --count_;
    permits_.release();
    if (count_ == 0) drained_.set();
    delete &c;
}

} // namespace corio::http
