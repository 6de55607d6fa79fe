// SPDX-License-Identifier: MIT
//
// echo_server: a TCP echo server on corio, one task per connection.
//
//   echo_server [--host 127.0.0.1] [--port 7000] [--threads N] [--backend auto|epoll|uring|kqueue]
//
// Port 0 picks a free port; the server prints `listening on HOST:PORT` once
// its listeners accept. With --threads N, N threads each run their own
// event_loop and their own SO_REUSEPORT listener on the same port (the
// kernel spreads connections; nothing is shared but two counters). SIGINT
// or SIGTERM stops accepting, closes every connection, prints
// `connections=<n> bytes=<n>` and exits 0.
//
// The echo loop reads into one buffer per thread, not one per connection:
// an idle connection holds no buffer, only its task frame. That is safe
// because the bytes leave the buffer before the task suspends: the reply is
// written at once, and only the part that does not fit is copied out to
// wait for room. Per message that is one read and one write; the read that
// would fail with EAGAIN is skipped when the previous read came back short
// (the socket was drained) and the task has not suspended since, which is
// when the poller is certain to report the next arrival (Tokio's "a short
// read clears readiness").
//
// Signals come through corio::signal_set (signalfd), blocked in every
// thread: main blocks them before starting the workers, which inherit the
// mask.
#include <corio/core/future.hpp>
#include <corio/core/run.hpp>
#include <corio/core/signal_set.hpp>
#include <corio/net/tcp.hpp>

#include <CLI/CLI.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <sys/resource.h>
#include <thread>
#include <vector>

using corio::task;
using corio::net::address;
using corio::net::tcp_listener;
using corio::net::tcp_stream;

namespace {

struct counters {
  std::atomic<std::uint64_t> connections{0};
  std::atomic<std::uint64_t> bytes{0};
};

constexpr std::size_t buffer_size = 64 * 1024;

task<void> echo(tcp_stream s, std::span<std::byte> buf, counters& total) {
  std::uint64_t bytes = 0;
  struct report {  // runs however the task ends: EOF, reset or cancellation
    counters& total;
    std::uint64_t& bytes;
    ~report() { total.bytes.fetch_add(bytes, std::memory_order_relaxed); }
  } on_exit{total, bytes};
  s.set_nodelay();
  bool drained = false;  // the last read was short and we have not suspended since
  try {
    for (;;) {
      if (drained) co_await s.wait_readable();
      std::optional<std::size_t> n = s.try_read_some(buf);
      if (!n) {
        drained = true;
        continue;
      }
      if (*n == 0) break;
      bytes += *n;
      drained = *n < buf.size();
      std::size_t written = s.try_write(buf.first(*n));
      if (written < *n) {
        // No room for all of it: keep the rest (the shared buffer will be
        // reused while we wait) and stop reading until it is out.
        std::vector<std::byte> rest(buf.begin() + static_cast<std::ptrdiff_t>(written),
                                    buf.begin() + static_cast<std::ptrdiff_t>(*n));
        co_await s.write_all(rest);
        drained = false;
      }
    }
  } catch (const std::system_error&) {
    // Reset by the peer, or similar: this connection is over.
  }
}

// One buffer per thread, shared by its connections (see the top of the
// file). Thread storage outlives every task of the thread's loop.
thread_local std::byte echo_buffer[buffer_size];

task<void> accept_loop(tcp_listener& l, counters& total) {
  for (;;) {
    tcp_stream s = co_await l.accept();
    total.connections.fetch_add(1, std::memory_order_relaxed);
    corio::spawn(echo(std::move(s), echo_buffer, total), "echo").detach();
  }
}

// One thread's server: accept until `stop` is set, then stop accepting.
// The connections are cancelled by run() once this returns (it cancels and
// drains every task left); each closes its socket as it unwinds.
task<void> serve(tcp_listener l, corio::future<void> stop, counters& total) {
  auto acceptor = corio::spawn(accept_loop(l, total), "accept");
  co_await stop;
  acceptor.cancel();
  try {
    co_await acceptor;
  } catch (const corio::cancelled_error&) {
  }
  l.close();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"corio TCP echo server"};
  std::string host = "127.0.0.1";
  int port = 7000;
  int threads = 1;
  std::string backend = "auto";
  app.add_option("--host", host, "address to listen on")->capture_default_str();
  app.add_option("--port", port, "port (0 = any free port)")->capture_default_str()->check(CLI::Range(0, 65535));
  app.add_option("--threads", threads, "event loops, one per thread, SO_REUSEPORT listeners")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--backend", backend, "I/O backend")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "epoll", "uring", "kqueue"}));
  CLI11_PARSE(app, argc, argv);

  try {
    // Before any thread starts, so that every thread inherits the mask and
    // the signals reach only the signalfd.
    corio::signal_set sigs{SIGINT, SIGTERM};

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

    counters total;
    std::vector<corio::promise<void>> stops(static_cast<std::size_t>(threads));
    corio::loop_options options{.backend = backend};
    std::vector<std::thread> workers;
    for (int i = 1; i < threads; ++i) {
      auto idx = static_cast<std::size_t>(i);
      workers.emplace_back([&, l = std::move(listeners[idx]), stop = stops[idx].get_future()]() mutable {
        corio::run(serve(std::move(l), std::move(stop), total), options);
      });
    }

    auto main_task = [&]() -> task<void> {
      auto own = corio::spawn(serve(std::move(listeners.front()), stops.front().get_future(), total), "serve");
      int signo = co_await sigs.wait();
      std::fprintf(stderr, "echo_server: %s, shutting down\n", signo == SIGINT ? "SIGINT" : "SIGTERM");
      for (auto& p : stops) p.set_value();
      co_await own;
    };
    corio::run(main_task(), options);
    for (auto& w : workers) w.join();

    std::printf("connections=%llu bytes=%llu\n", static_cast<unsigned long long>(total.connections.load()),
                static_cast<unsigned long long>(total.bytes.load()));
    std::fflush(stdout);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "echo_server: %s\n", e.what());
    return 1;
  }
}
