// SPDX-License-Identifier: MIT
//
// A TCP echo server whose reads and writes are backend ops (read_some and
// write_all), for bench/syscalls_per_message.sh: under io_uring every recv
// and send is an SQE, batched into one io_uring_enter per loop iteration,
// where examples/echo_server reads and writes with plain syscalls after a
// readiness wait (so that idle connections hold no buffer). The difference
// in syscalls per message between the two is what the ring can save.
//
//   echo_ops [--port 7000] [--backend auto|epoll|uring] [--buffer 4096]
//
// One loop, one buffer per connection (in the connection's task); exits on
// SIGINT or SIGTERM.
#include <corio/core/event_loop.hpp>
#include <corio/core/run.hpp>
#include <corio/core/signal_set.hpp>
#include <corio/net/tcp.hpp>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <sys/resource.h>
#include <vector>

using corio::task;
using corio::net::address;
using corio::net::tcp_listener;
using corio::net::tcp_stream;

namespace {

task<void> echo(tcp_stream s, std::size_t size) {
  s.set_nodelay();
  std::vector<std::byte> buf(size);
  try {
    while (std::size_t n = co_await s.read_some(buf)) co_await s.write_all(std::span(buf).first(n));
  } catch (const std::system_error&) {
    // reset by the peer: this connection is over
  }
}

task<void> accept_loop(tcp_listener& l, std::size_t size) {
  for (;;) corio::spawn(echo(co_await l.accept(), size), "echo").detach();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"corio echo server over backend ops (benchmark)"};
  int port = 7000;
  std::string backend = "auto";
  std::size_t size = 4096;
  app.add_option("--port", port, "port on 127.0.0.1")->check(CLI::Range(0, 65535));
  app.add_option("--backend", backend, "I/O backend")->check(CLI::IsMember({"auto", "epoll", "uring"}));
  app.add_option("--buffer", size, "bytes of buffer per connection")->check(CLI::Range(1, 1 << 20));
  CLI11_PARSE(app, argc, argv);
  try {
    corio::signal_set sigs{SIGINT, SIGTERM};
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
      rl.rlim_cur = rl.rlim_max;
      ::setrlimit(RLIMIT_NOFILE, &rl);
    }
    auto main_task = [&]() -> task<void> {
      auto l = tcp_listener::bind(address::loopback_v4(static_cast<std::uint16_t>(port)));
      std::printf("listening on %s (%s)\n", l.local_address().to_string().c_str(),
                  std::string(corio::event_loop::current()->io().name()).c_str());
      std::fflush(stdout);
      auto acceptor = corio::spawn(accept_loop(l, size), "accept");
      co_await sigs.wait();
      acceptor.cancel();
      try {
        co_await acceptor;
      } catch (const corio::cancelled_error&) {
      }
    };
    corio::run(main_task(), corio::loop_options{.backend = backend});
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "echo_ops: %s\n", e.what());
    return 1;
  }
}
