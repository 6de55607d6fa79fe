// SPDX-License-Identifier: MIT
//
// The server's per-connection state, shared by the files that implement it
// (internal: included by corio/net/http/server*.cpp only; see server.hpp for
// the design):
//
//   server_connection.cpp  the request loop: read the head, prepare the
//                          request, read the body or hand it over, call the
//                          handler, keep-alive or close
//   server_request.cpp     the request: target and path, the head copied
//                          out, the body read whole or piece by piece
//   server_response.cpp    the response: head, buffered, streamed and file
//                          bodies, error answers
//   server_io.cpp          socket reads and writes under the deadline timer
//                          (timeouts), and the lingering close
//   server.cpp             the server: accept loop, connection limit, stop
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
#pragma once

#include <corio/core/event_loop.hpp>
#include <corio/core/task.hpp>
#include <corio/core/time.hpp>
#include <corio/net/http/parser.hpp>
#include <corio/net/http/router.hpp>
#include <corio/net/http/server.hpp>
#include <corio/net/tcp.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace corio::http::detail {

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

} // namespace corio::http::detail
