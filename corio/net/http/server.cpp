// SPDX-License-Identifier: MIT
//
// The server itself: routes, the accept loop under the connection limit,
// the list of live connections, and the graceful stop; see server.hpp for
// the design and server_connection.hpp for the connections' side.
#include <corio/net/http/server_connection.hpp>

#include <corio/core/log.hpp>
#include <corio/core/time.hpp>

#include <algorithm>

namespace corio::http {

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
