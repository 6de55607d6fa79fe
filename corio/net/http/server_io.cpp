// SPDX-License-Identifier: MIT
//
// The connection's socket I/O: reads into the input buffer and writes of the
// output buffer, each under the connection's one deadline timer (the
// timeouts of server_options), and the lingering close after an error.
#include <corio/net/http/server_connection.hpp>

#include <corio/core/error.hpp>

#include <algorithm>
#include <cstring>
#include <memory>
#include <span>

namespace corio::http::detail {

namespace {

constexpr std::size_t initial_input = 4096;
// Lingering close discards at most this much input.
constexpr std::size_t linger_limit = 1024 * 1024;

} // namespace

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

} // namespace corio::http::detail
