// SPDX-License-Identifier: MIT
//
// The connection's request loop:
//
//   main ── serve ─┬─ read the head (idle_timeout, then header_timeout)
//                  ├─ prepare the request (target, path, route, Expect)
//                  ├─ read the body (buffered routes) or hand it over (streaming)
//                  ├─ call the handler; finish the response into `out_`
//                  └─ keep-alive? next request : flush, linger if needed, close
//
// See server_connection.hpp for the invariants and where the other steps live.
#include <corio/net/http/server_connection.hpp>

#include <corio/core/log.hpp>

#include <algorithm>

namespace corio::http::detail {

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

} // namespace corio::http::detail
