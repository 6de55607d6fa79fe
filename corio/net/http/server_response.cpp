// SPDX-License-Identifier: MIT
//
// The response side of a connection: the status line and headers (and the
// keep-alive decision they announce), buffered bodies, streamed bodies
// (chunked or with a set length), files (inline or sendfile(2)), error
// answers, and the server_response API handlers use.
#include <corio/net/http/server_connection.hpp>

#include <corio/core/error.hpp>
#include <corio/core/io.hpp>
#include <corio/net/http/http_date.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <corio/core/socket_compat.hpp>
#include <unistd.h>

namespace corio::http {

namespace {

// Files up to this size are read into the output buffer (one write with the
// head); larger ones go out with sendfile(2).
constexpr std::size_t inline_file_limit = 64 * 1024;
// Streamed pieces up to this size are copied next to their framing.
constexpr std::size_t inline_write_limit = 16 * 1024;

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
        ssize_t n = corio::detail::send_file(stream_.fd(), fd, &off, static_cast<std::size_t>(std::min<std::uint64_t>(left, 1u << 30)));
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

} // namespace detail

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

} // namespace corio::http
