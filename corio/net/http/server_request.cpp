// SPDX-License-Identifier: MIT
//
// The request side of a connection: the request-target split into path and
// query (absolute-form too) and percent-decoded, the head copied out of the
// read buffer when a body follows, and the body read whole (buffered routes)
// or piece by piece (streaming routes, server_request::read_some).
#include <corio/net/http/server_connection.hpp>

#include <corio/net/http/url.hpp>

#include <functional>

namespace corio::http {

namespace detail {

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

} // namespace detail

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

} // namespace corio::http
