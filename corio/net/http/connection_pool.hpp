// SPDX-License-Identifier: MIT
//
// connection_pool: the client's keep-alive connections, per origin, with
// limits (aiohttp's TCPConnector: `limit` and `limit_per_host`).
//
//   auto pool = std::make_shared<connection_pool>(pool_options{.limit = 100, .limit_per_host = 8});
//   connection_lease l = co_await pool->acquire(u, deadlines, "GET http://h/");
//   ... use l.conn() for one request/response ...
//   l.release(/*reusable=*/true);              // back to the idle list
//
// Limits count connections *in use* (leased): `limit` over all origins,
// `limit_per_host` per origin ("scheme://host:port"); 0 means none. A caller
// over a limit waits in FIFO order on a corio::semaphore (cancellable, and
// bounded by the request's total deadline). Idle connections also count
// towards `limit` as open sockets: opening one more when `limit` sockets are
// open first closes the oldest idle connection of any origin, so the process
// never holds more than `limit` sockets.
//
// Reuse. An idle connection is taken newest first (the one least likely to
// have been closed by the server's own idle timer). Before reuse it is
// checked without blocking (recv MSG_PEEK|MSG_DONTWAIT): EOF or unexpected
// bytes mean the server closed or broke it, and it is dropped. Connections
// idle longer than `idle_timeout` are dropped too, lazily, when the origin
// is next used (no timer per connection). The race the check cannot see (the
// server closes just as the request goes out) is the session's: it retries an
// idempotent request once on a fresh connection.
//
// Deadlines. One request_deadlines travels with a request: connect (per
// connection attempt, TLS handshake included), read (idle time between two
// reads, or for a write to make progress), total (absolute). Every wait
// below is bounded by the ones that apply, and a timeout_error says which
// passed: "GET http://h/: read timeout (no data for 5 s)".
//
// Lifetime: the pool is held by shared_ptr, by the session and by every
// lease, so a response that outlives its session is still safe to read.
#pragma once

#include <corio/core/clock.hpp>
#include <corio/core/sync.hpp>
#include <corio/core/task.hpp>
#include <corio/net/http/parser.hpp>
#include <corio/net/http/tls_stream.hpp>
#include <corio/net/http/url.hpp>
#include <corio/net/tcp.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <system_error>

namespace corio::http {

struct request_deadlines {
  std::optional<std::chrono::milliseconds> connect;  // each connection attempt + TLS handshake
  std::optional<std::chrono::milliseconds> read;     // idle: between two reads (and for a write to progress)
  std::optional<std::chrono::milliseconds> total;    // the whole request, body included
  std::optional<time_point> total_until;             // now + total, fixed when the request starts
};

// One HTTP/1.1 connection, plain or TLS, with its receive buffer and the
// response parser (parser.hpp's buffer contract: unconsumed() is fed,
// consume() drops what the parser consumed, fill() appends).
class client_connection {
 public:
  client_connection(net::tcp_stream tcp, std::string origin);
  client_connection(tls_stream tls, std::string origin);
  client_connection(const client_connection&) = delete;
  client_connection& operator=(const client_connection&) = delete;

  // Reads more bytes after the unconsumed ones; 0 at EOF. Bounded by the
  // read and total deadlines; `what` ("GET http://h/") names the request in
  // errors.
  task<std::size_t> fill(const request_deadlines& d, const std::string& what);
  // Writes every byte (all buffers in order), bounded likewise.
  task<void> write(std::span<const std::byte> a, std::span<const std::byte> b, const request_deadlines& d,
                   const std::string& what);

  std::string_view unconsumed() const noexcept {
    return {reinterpret_cast<const char*>(buf_.get()) + begin_, end_ - begin_};
  }
  void consume(std::size_t n) noexcept;
  http::parser& parser() noexcept { return parser_; }

  // Non-blocking check that the peer has not closed or sent stray bytes.
  bool looks_alive() const noexcept;
  int fd() const noexcept { return tls_ ? tls_->lower().fd() : tcp_.fd(); }
  const net::address& peer() const noexcept { return tls_ ? tls_->lower().peer_address() : tcp_.peer_address(); }
  void close() noexcept;
  const std::string& origin() const noexcept { return origin_; }

  std::uint64_t requests = 0;  // requests sent on this connection so far
  time_point idle_since{};

  static constexpr std::size_t buffer_size = 128 * 1024;

 private:
  task<std::size_t> read_some(std::span<std::byte> buf);

  net::tcp_stream tcp_;
  std::unique_ptr<tls_stream> tls_;  // when set, it owns the socket and tcp_ is empty
  std::string origin_;
  http::parser parser_{message_kind::response};
  std::unique_ptr<std::byte[]> buf_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

struct pool_options {
  std::size_t limit = 100;          // connections in use, all origins (0: no limit)
  std::size_t limit_per_host = 0;   // connections in use per origin (0: no limit)
  std::chrono::milliseconds idle_timeout{15000};
  std::size_t max_idle_per_host = 32;
  // SO_RCVBUF of each connection in bytes; 0 leaves the kernel's autotuning.
  // A bulk downloader wants it large (1 MiB): with autotuning the window
  // starts near 64 KiB and a 256 KiB response must reopen it several times;
  // on loopback a reopened window was often not announced until the
  // server's tail-loss probe fired (>= 10 ms later), so a download's last
  // bytes came late. See examples/downloader.cpp.
  std::size_t receive_buffer = 0;
  tls_options tls;                  // for https origins
};

class connection_pool;

// A connection taken from the pool with its permits. Destroying a lease
// that still holds its connection closes the connection (its state is
// unknown); release(true) returns it for reuse.
class connection_lease {
 public:
  connection_lease() noexcept = default;
  connection_lease(connection_lease&& o) noexcept;
  connection_lease& operator=(connection_lease&& o) noexcept;
  ~connection_lease();

  client_connection& conn() noexcept { return *conn_; }
  bool has_connection() const noexcept { return conn_ != nullptr; }
  // True if the connection had served a request before this lease.
  bool reused() const noexcept { return reused_; }
  // Gives the connection back (idle, if `reusable`) and the permits.
  void release(bool reusable) noexcept;

 private:
  friend class connection_pool;
  std::shared_ptr<connection_pool> pool_;
  std::unique_ptr<client_connection> conn_;
  std::string origin_;
  bool reused_ = false;
  bool host_permit_ = false;
  bool total_permit_ = false;
};

class connection_pool : public std::enable_shared_from_this<connection_pool> {
 public:
  explicit connection_pool(pool_options options = {});
  ~connection_pool();
  connection_pool(const connection_pool&) = delete;
  connection_pool& operator=(const connection_pool&) = delete;

  // Waits for the permits, then takes an idle connection to u's origin
  // (unless `fresh`) or opens one (TLS for https). Throws std::system_error
  // (connect), tls_error, timeout_error, cancelled_error.
  task<connection_lease> acquire(const url& u, const request_deadlines& d, const std::string& what, bool fresh);

  // Closes every idle connection.
  void close_idle() noexcept;

  std::size_t idle_count() const noexcept;
  std::size_t open_count() const noexcept { return open_; }
  // Connections opened since the start (tests, metrics).
  std::uint64_t connects() const noexcept { return connects_; }
  const pool_options& options() const noexcept { return options_; }

 private:
  friend class connection_lease;
  struct host_state {
    std::unique_ptr<semaphore> permits;  // null when limit_per_host == 0
    std::deque<std::unique_ptr<client_connection>> idle;  // oldest first
  };

  host_state& host(const std::string& origin);
  task<std::unique_ptr<client_connection>> open(const url& u, const request_deadlines& d, const std::string& what);
  void put_back(std::unique_ptr<client_connection> c) noexcept;
  void discard(std::unique_ptr<client_connection> c) noexcept;
  void give_permits(const std::string& origin, bool host_permit, bool total_permit) noexcept;
  void evict_one_idle() noexcept;

  pool_options options_;
  std::unique_ptr<semaphore> total_;  // null when limit == 0
  std::map<std::string, host_state, std::less<>> hosts_;
  std::shared_ptr<tls_context> tls_;  // made on the first https origin
  std::size_t open_ = 0;
  std::uint64_t connects_ = 0;
};

namespace detail {
// `e` again, its message prefixed with `what` ("GET http://h/: connect to
// 10.0.0.1:80: Connection refused"), without repeating the errno text.
std::system_error with_context(const std::system_error& e, const std::string& what);
}  // namespace detail

}  // namespace corio::http
