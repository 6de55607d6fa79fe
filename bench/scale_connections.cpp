// SPDX-License-Identifier: MIT
//
// scale_connections: the client half of bench/scale_connections.sh, which
// measures how much user-space memory an echo server spends per idle
// connection. One process opens `--connections` TCP connections to the
// server from one source address (127.0.0.x: each source address has its own
// ephemeral port range, so several processes reach past the 28k ports of one
// address), sends one message on each, checks that it comes back byte for
// byte, and then keeps every connection open and silent:
//
//   scale_connections --port P --connections 4750 --source 127.0.0.2
//   -> ready connections=4750 ok=4750 errors=0 connect_s=0.81
//   (SIGUSR1) -> again connections=4750 ok=4750 errors=0 s=0.20
//   (SIGTERM) closes everything and exits: 0 if every echo was right
//
// The driver reads the server's VmRSS between "ready" and SIGUSR1; the
// second round (SIGUSR1) proves that the connections left idle are still
// served. A connection costs the client one fd and 4 bytes here, so one
// process holds thousands without noticing.
//
// Each message names its process and connection (`s<src> c<index>`), so an
// echo delivered to the wrong connection is caught, not only a lost one.
// Connects run `--concurrency` at a time so that the server's listen
// backlog is not overrun (a full backlog drops SYNs and the retry costs a
// second). Everything is bounded: a connect or an echo that takes longer
// than `--timeout` is an error, and without a signal the process exits after
// `--hold` seconds.
#include <corio/core/run.hpp>
#include <corio/core/signal_set.hpp>
#include <corio/core/time.hpp>
#include <corio/net/socket.hpp>

#include <CLI/CLI.hpp>

#include <array>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <netinet/in.h>
#include <string>
#include <sys/resource.h>
#include <vector>

using corio::task;
using corio::net::address;
using net_socket = corio::net::socket;
using namespace std::chrono_literals;

namespace {

struct options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 7000;
  std::string source = "127.0.0.1";
  int connections = 1000;
  int concurrency = 256;
  double timeout = 10;
  double hold = 300;
  std::string backend = "epoll";
};

constexpr std::size_t msg_size = 32;
using message = std::array<char, msg_size>;

message make_message(const std::string& source, int index, int round) {
  message m{};
  m.fill('.');
  int n = std::snprintf(m.data(), m.size(), "s%s c%d r%d", source.c_str(), index, round);
  if (n > 0 && static_cast<std::size_t>(n) < m.size()) m[static_cast<std::size_t>(n)] = '.';  // no NUL on the wire
  m.back() = '\n';
  return m;
}

struct tally {
  int ok = 0;
  int errors = 0;
  std::string first_error;
  void fail(const std::string& what) {
    if (errors++ == 0) first_error = what;
  }
};

// One echo on `fd`: write the message, read it back whole, compare.
task<void> echo_once(int fd, const message& m) {
  std::size_t sent = 0;
  while (sent < m.size())
    sent += co_await corio::io::send(fd, std::as_bytes(std::span(m)).subspan(sent));
  message got{};
  std::size_t have = 0;
  while (have < got.size()) {
    std::size_t n = co_await corio::io::read(fd, std::as_writable_bytes(std::span(got)).subspan(have));
    if (n == 0) throw std::runtime_error("EOF after " + std::to_string(have) + " of " + std::to_string(m.size()) + " echoed bytes");
    have += n;
  }
  if (got != m) throw std::runtime_error("echoed bytes differ from those sent");
}

task<net_socket> open_one(const address& server, const address& source) {
  net_socket s = net_socket::open(server.family(), SOCK_STREAM);
  // Without this, bind() picks the ephemeral port before it knows the
  // destination, and every source address is limited to one port range in
  // all for every destination instead of one per destination.
  s.set_option(IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1, "IP_BIND_ADDRESS_NO_PORT");
  s.bind(source);
  std::int32_t r = co_await corio::io::connect_res(s.fd(), server.sockaddr_ptr(), server.sockaddr_len());
  if (r < 0) corio::throw_system_error(-r, "connect to " + server.to_string() + " from " + source.to_string());
  co_return s;
}

// Workers take connection indices from a shared counter: `concurrency` of
// them run at once.
struct round_state {
  const options& opt;
  const address& server;
  const address& source;
  std::vector<net_socket>& socks;
  int round;
  int next = 0;
  tally t;
};

task<void> worker(round_state& st) {
  auto limit = std::chrono::duration_cast<corio::clock_duration>(std::chrono::duration<double>(st.opt.timeout));
  while (st.next < st.opt.connections) {
    int i = st.next++;
    auto idx = static_cast<std::size_t>(i);
    std::string stage = "connect";
    try {
      if (st.round == 0) st.socks[idx] = co_await corio::timeout(limit, open_one(st.server, st.source), "connect");
      if (!st.socks[idx]) throw std::runtime_error("connection closed after an earlier error");
      stage = "echo";
      message m = make_message(st.opt.source, i, st.round);
      co_await corio::timeout(limit, echo_once(st.socks[idx].fd(), m), "echo");
      ++st.t.ok;
    } catch (const corio::cancelled_error&) {
      throw;
    } catch (const std::exception& e) {
      st.t.fail(stage + " #" + std::to_string(i) + ": " + e.what());
      st.socks[idx].close();
    }
  }
}

task<tally> run_round(const options& opt, const address& server, const address& source, std::vector<net_socket>& socks,
                      int round) {
  round_state st{opt, server, source, socks, round, 0, {}};
  std::vector<corio::join_handle<void>> ws;
  for (int w = 0; w < opt.concurrency && w < opt.connections; ++w) ws.push_back(corio::spawn(worker(st), "worker"));
  for (auto& w : ws) co_await w;
  co_return st.t;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void report(const char* label, const options& opt, const tally& t, double secs) {
  std::printf("%s connections=%d ok=%d errors=%d s=%.2f", label, opt.connections, t.ok, t.errors, secs);
  if (t.errors) std::printf(" first_error=\"%s\"", t.first_error.c_str());
  std::printf("\n");
  std::fflush(stdout);
}

task<int> amain(const options& opt, corio::signal_set& sigs) {
  auto server = address::from_host(opt.host, opt.port);
  auto source = address::from_host(opt.source, 0);
  if (!server || !source) throw std::invalid_argument("--host and --source must be numeric addresses");
  std::vector<net_socket> socks(static_cast<std::size_t>(opt.connections));

  auto t0 = std::chrono::steady_clock::now();
  tally first = co_await run_round(opt, *server, *source, socks, 0);
  report("ready", opt, first, seconds_since(t0));
  bool clean = first.errors == 0;

  auto hold = std::chrono::duration_cast<corio::clock_duration>(std::chrono::duration<double>(opt.hold));
  auto deadline = corio::current_loop().now() + hold;
  for (int round = 1;; ++round) {
    int sig = 0;
    try {
      sig = co_await corio::timeout_at(deadline, sigs.wait());
    } catch (const corio::timeout_error&) {
      std::fprintf(stderr, "scale_connections: no signal within --hold %.0f s, closing\n", opt.hold);
      break;
    }
    if (sig != SIGUSR1) break;
    t0 = std::chrono::steady_clock::now();
    tally again = co_await run_round(opt, *server, *source, socks, round);
    report("again", opt, again, seconds_since(t0));
    clean = clean && again.errors == 0;
  }
  co_return clean ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"open N idle echo connections from one source address (client of scale_connections.sh)"};
  options opt;
  app.add_option("--host", opt.host, "server address")->capture_default_str();
  app.add_option("--port", opt.port, "server port")->required();
  app.add_option("--source", opt.source, "local address to connect from (127.0.0.x)")->capture_default_str();
  app.add_option("--connections", opt.connections, "connections to open")
      ->capture_default_str()
      ->check(CLI::Range(1, 1'000'000));
  app.add_option("--concurrency", opt.concurrency, "connects and echoes in flight")
      ->capture_default_str()
      ->check(CLI::Range(1, 100'000));
  app.add_option("--timeout", opt.timeout, "seconds allowed for one connect or one echo")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 600.0));
  app.add_option("--hold", opt.hold, "seconds to keep the connections without a signal")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 3600.0));
  app.add_option("--backend", opt.backend, "I/O backend of this client")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "epoll", "uring", "kqueue"}));
  CLI11_PARSE(app, argc, argv);

  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < static_cast<rlim_t>(opt.connections) + 16) {
    std::fprintf(stderr, "scale_connections: the open-file limit (%llu) is below --connections %d plus a few\n",
                 static_cast<unsigned long long>(rl.rlim_cur), opt.connections);
    return 2;
  }
  try {
    corio::signal_set sigs{SIGUSR1, SIGTERM, SIGINT};
    return corio::run(amain(opt, sigs), corio::loop_options{.backend = opt.backend});
  } catch (const std::exception& e) {
    std::fprintf(stderr, "scale_connections: %s\n", e.what());
    return 1;
  }
}
