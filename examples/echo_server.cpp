// SPDX-License-Identifier: MIT
//
// echo_server: a TCP echo server on corio, one task per connection.
//
//   echo_server [--host 127.0.0.1] [--port 7000] [--threads N] [--backend auto|epoll|uring|kqueue]
//               [--recv auto|pooled|ready] [--stats]
//
// Port 0 picks a free port; the server prints `listening on HOST:PORT` once
// its listeners accept. With --threads N, N threads each run their own
// event_loop and their own SO_REUSEPORT listener on the same port (the
// kernel spreads connections; each thread keeps its own counters). SIGINT
// or SIGTERM stops accepting, closes every connection, prints
// `connections=<n> bytes=<n>` (and with --stats each loop's counters) and
// exits 0. SIGQUIT prints the task dump and the counters of loop 0 and
// goes on serving.
//
// Memory per idle connection is the point of this file's shape: an idle
// connection holds no buffer, only its task (bench/scale_connections.sh
// measures about 600 bytes of user space per idle connection, where Tokio's
// and Go's echo servers spend 8 to 16 KiB).
// - The echo loop waits for readability without a buffer, then reads into
//   one buffer per thread and writes the reply from it at once. That is
//   safe because the bytes leave the buffer before the task suspends.
// - Only when the reply does not fit (a peer that reads slowly) is the rest
//   copied into a buffer of the connection's own, in a coroutine frame of
//   its own, and the connection reads nothing more until it is out
//   (backpressure: memory per slow peer is bounded by one read).
// - The task keeps the socket, not a tcp_stream: a tcp_stream carries the
//   peer's address (a 128-byte sockaddr_storage) for its error messages,
//   and this loop reports no error. The frame is about 300 bytes.
//
// Per message that is one read and one write; the read that would fail with
// EAGAIN is skipped when the previous read came back short (the socket was
// drained) and the task has not suspended since, which is when the poller
// is certain to report the next arrival (Tokio's "a short read clears
// readiness").
//
// With provided buffers (io_uring, 6.0; --recv auto picks it there, or
// --recv pooled anywhere) the loop is recv_pooled + send instead: the kernel
// picks a pool buffer when data arrives (one multishot recv per connection,
// no SQE per read) and the reply goes out as an SQE in the same batch, so a
// message costs a fraction of a syscall. An idle connection holds no buffer
// there either, and a slow reader holds the one lease it is writing from
// (it reads nothing more until that is out). Measured at 1000 connections
// x 64 B (bench/syscalls_per_message.sh): 0.06 syscalls per message under
// io_uring against 2.05 for the readiness path; under epoll recv_pooled
// costs 2.59 (its recv cannot skip the EAGAIN the way "drained" above
// does), so epoll keeps the readiness path. Idle, the pooled path costs
// about what the readiness path does: 620 bytes per connection at 19,000
// connections against 624 (bench/scale_connections.sh; about 590 between
// 9,500 and 19,000). That is the echo frame (the 320-byte class, because the
// sends run in a child coroutine: see echo_pooled), the task's state (192),
// the backend's 48 bytes per fd, and the part of the buffer ring that the
// kernel has written to (the ring starts at 64 buffers and grows on demand).
//
// Signals come through corio::signal_set (signalfd), blocked in every
// thread: main blocks them before starting the workers, which inherit the
// mask.
#include <corio/core/diagnostics.hpp>
#include <corio/core/future.hpp>
#include <corio/core/io.hpp>
#include <corio/core/run.hpp>
#include <corio/core/signal_set.hpp>
#include <corio/net/tcp.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <string>
#include <sys/resource.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

using corio::task;
using corio::net::address;
using corio::net::tcp_listener;
using corio::net::tcp_stream;

namespace {

// One thread's counters, written only by that thread and read by main
// after the threads are joined; a cache line each, so that threads do not
// share one.
struct alignas(64) loop_totals {
  std::uint64_t connections = 0;
  std::uint64_t bytes = 0;
  corio::loop_stats stats{};
};

constexpr std::size_t buffer_size = 64 * 1024;

// One buffer per thread, shared by its connections (see the top of the
// file). Thread storage outlives every task of the thread's loop.
thread_local std::byte echo_buffer[buffer_size];

// One non-blocking read(2) or send(2): the count (0 = EOF for a read),
// `again` when the socket is not ready, or `over` when it failed (reset by
// the peer and the like: the connection is over).
constexpr ssize_t again = -1;
constexpr ssize_t over = -2;

ssize_t outcome(ssize_t r) noexcept {
  if (r >= 0) return r;
  return errno == EAGAIN || errno == EWOULDBLOCK ? again : over;
}
ssize_t read_now(int fd, std::byte* p, std::size_t n) noexcept {
  ssize_t r;
  do r = ::read(fd, p, n);
  while (r < 0 && errno == EINTR);
  return outcome(r);
}
ssize_t send_now(int fd, const std::byte* p, std::size_t n) noexcept {
  ssize_t r;
  do r = ::send(fd, p, n, MSG_NOSIGNAL);
  while (r < 0 && errno == EINTR);
  return outcome(r);
}

// The slow path: copy what did not fit (the shared buffer is reused as
// soon as this suspends) and write it out. False if the connection failed.
task<bool> write_backlog(int fd, std::span<const std::byte> rest) {
  std::vector<std::byte> own(rest.begin(), rest.end());
  std::span<const std::byte> todo = own;
  try {
    while (!todo.empty()) todo = todo.subspan(co_await corio::io::send(fd, todo));
  } catch (const std::system_error&) {
    co_return false;
  }
  co_return true;
}

task<void> echo(corio::net::socket sock, loop_totals& totals) {
  const int fd = sock.fd();
  bool drained = false;  // the last read was short and we have not suspended since
  try {
    for (;;) {
      // A poll op, not a read: nothing to read into while we wait. It
      // completes on data, EOF and errors alike; the read says which.
      if (drained) co_await corio::net::wait_readable_after_drain(fd);
      ssize_t n = read_now(fd, echo_buffer, buffer_size);
      if (n == again) {
        drained = true;
        continue;
      }
      if (n <= 0) break;  // EOF, or the connection failed
      totals.bytes += static_cast<std::size_t>(n);
      drained = static_cast<std::size_t>(n) < buffer_size;
      ssize_t w = send_now(fd, echo_buffer, static_cast<std::size_t>(n));
      if (w == over) break;
      if (w < n) {
        auto sent = static_cast<std::size_t>(std::max<ssize_t>(w, 0));
        if (!co_await write_backlog(fd, std::span(echo_buffer + sent, static_cast<std::size_t>(n) - sent))) break;
        drained = false;
      }
    }
  } catch (const std::system_error&) {
    // The poll itself failed: this connection is over.
  }
}

// The provided-buffer path (see the top of the file). The sends live in a
// coroutine of their own, so that an idle connection's frame holds only the
// recv's awaiter: GCC gives every co_await of a coroutine its own slot in
// the frame, and a send's io_op beside the recv's put this frame in the
// 448-byte size class instead of 320 (the child frame is recycled per
// message by the frame allocator, and exists only while a reply is out).
task<bool> send_all(int fd, std::span<const std::byte> todo) {
  try {
    while (!todo.empty()) todo = todo.subspan(co_await corio::io::send(fd, todo));
  } catch (const std::system_error&) {
    co_return false;  // reset by the peer and the like: this connection is over
  }
  co_return true;
}

task<void> echo_pooled(corio::net::socket sock, loop_totals& totals) {
  const int fd = sock.fd();
  try {
    for (;;) {
      corio::io::pooled_buffer b = co_await corio::io::recv_pooled(fd);
      if (b.empty()) break;  // EOF
      totals.bytes += b.size();
      if (!co_await send_all(fd, b.bytes())) break;
    }
  } catch (const std::system_error&) {
    // Reset by the peer and the like: this connection is over.
  }
}

task<void> accept_loop(tcp_listener& l, loop_totals& totals, bool pooled) {
  for (;;) {
    tcp_stream s = co_await l.accept();
    ++totals.connections;
    s.set_nodelay();
    if (pooled)
      corio::spawn(echo_pooled(std::move(s.handle()), totals), "echo").detach();
    else
      corio::spawn(echo(std::move(s.handle()), totals), "echo").detach();
  }
}

// One thread's server: accept until `stop` is set, then stop accepting.
// The connections are cancelled by run() once this returns (it cancels and
// drains every task left); each closes its socket as it unwinds.
task<void> serve(tcp_listener l, corio::future<void> stop, loop_totals& totals, const std::string& recv) {
  const bool pooled =
      recv == "pooled" || (recv == "auto" && corio::current_loop().io().features().provided_buffers);
  auto acceptor = corio::spawn(accept_loop(l, totals, pooled), "accept");
  co_await stop;
  acceptor.cancel();
  try {
    co_await acceptor;
  } catch (const corio::cancelled_error&) {
  }
  l.close();
  totals.stats = corio::current_loop().stats();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"corio TCP echo server"};
  std::string host = "127.0.0.1";
  int port = 7000;
  int threads = 1;
  std::string backend = "auto";
  bool stats = false;
  std::string recv = "auto";
  app.add_option("--host", host, "address to listen on")->capture_default_str();
  app.add_option("--port", port, "port (0 = any free port)")->capture_default_str()->check(CLI::Range(0, 65535));
  app.add_option("--threads", threads, "event loops, one per thread, SO_REUSEPORT listeners")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--backend", backend, "I/O backend")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "epoll", "uring", "kqueue"}));
  app.add_option("--recv", recv, "read path: pooled (recv_pooled), ready (wait, then read), auto (pooled where the "
                 "backend has provided buffers)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "pooled", "ready"}));
  app.add_flag("--stats", stats, "print each loop's counters on exit");
  CLI11_PARSE(app, argc, argv);

  try {
    // Before any thread starts, so that every thread inherits the mask and
    // the signals reach only the signalfds.
    corio::signal_set sigs{SIGINT, SIGTERM};
    corio::sigquit_dumper dumper;

    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
      rl.rlim_cur = rl.rlim_max;
      ::setrlimit(RLIMIT_NOFILE, &rl);
    }

    auto at = address::from_host(host, static_cast<std::uint16_t>(port));
    if (!at) {
      std::fprintf(stderr, "echo_server: --host must be a numeric IPv4 or IPv6 address: %s\n", host.c_str());
      return 2;
    }
    corio::net::listen_options lo;
    lo.reuse_port = threads > 1;
    std::vector<tcp_listener> listeners;
    listeners.push_back(tcp_listener::bind(*at, lo));
    for (int i = 1; i < threads; ++i) listeners.push_back(tcp_listener::bind(listeners.front().local_address(), lo));
    std::printf("listening on %s\n", listeners.front().local_address().to_string().c_str());
    std::fflush(stdout);

    const auto n = static_cast<std::size_t>(threads);
    std::vector<loop_totals> totals(n);
    std::vector<corio::promise<void>> stops(n);
    corio::loop_options options{.backend = backend};
    std::vector<std::thread> workers;
    for (std::size_t i = 1; i < n; ++i) {
      workers.emplace_back([&, i, l = std::move(listeners[i]), stop = stops[i].get_future()]() mutable {
        corio::run(serve(std::move(l), std::move(stop), totals[i], recv), options);
      });
    }

    auto main_task = [&]() -> task<void> {
      auto own = corio::spawn(serve(std::move(listeners.front()), stops.front().get_future(), totals.front(), recv),
                              "serve");
      auto watch = corio::spawn(dumper.watch(), "sigquit");
      int signo = co_await sigs.wait();
      std::fprintf(stderr, "echo_server: %s, shutting down\n", signo == SIGINT ? "SIGINT" : "SIGTERM");
      for (auto& p : stops) p.set_value();
      co_await own;
      watch.cancel();
    };
    corio::run(main_task(), options);
    for (auto& w : workers) w.join();

    std::uint64_t connections = 0, bytes = 0;
    for (const auto& t : totals) {
      connections += t.connections;
      bytes += t.bytes;
    }
    std::printf("connections=%llu bytes=%llu\n", static_cast<unsigned long long>(connections),
                static_cast<unsigned long long>(bytes));
    if (stats)
      for (std::size_t i = 0; i < n; ++i) corio::print_stats(stdout, totals[i].stats, "loop " + std::to_string(i));
    std::fflush(stdout);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "echo_server: %s\n", e.what());
    return 1;
  }
}
