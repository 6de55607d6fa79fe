// SPDX-License-Identifier: MIT
//
// echo_client: a TCP echo load client on corio, the twin of the peers' load
// generator (../shared/peers/loadgen/echoload.cpp): same options, same
// byte stream, same summary line, so that the two can be swapped.
//
//   echo_client --host H --port P --connections N --duration S --size B --pipeline D [--threads T]
//
// Each connection keeps D messages of B bytes in flight (1 = ping-pong) and
// checks every echoed byte: the bytes sent on connection c are a fixed
// pseudo-random stream, byte k = pat[(k + c*7919) % 65521], so nothing is
// kept for checking and a lost, duplicated or reordered byte is caught.
// Latency is measured per message from the time it was queued to the time
// its last byte came back. Prints one line:
//
//   connections= size= duration= msgs= msgs_per_s= p50_us= p99_us= errors=
//   pipeline= threads= p999_us= max_us= mbytes_per_s= client_cpu=
//
// and exits non-zero on a connect failure, an error, or a mismatch.
//
// One task per connection reads and then writes the next messages; that
// cannot deadlock as long as what is in flight (D x B) fits in the socket
// buffers, hence the 1 MiB bound on D x B.
#include <corio/core/run.hpp>
#include <corio/core/time.hpp>
#include <corio/net/tcp.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <sys/resource.h>
#include <thread>
#include <vector>

using corio::task;
using corio::net::tcp_stream;

namespace {

std::uint64_t now_ns() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::uint64_t(ts.tv_sec) * 1'000'000'000ull + std::uint64_t(ts.tv_nsec);
}

constexpr std::size_t period = 65521;  // prime period of the byte pattern
std::vector<std::uint8_t> pat;        // 2 * period bytes: any window <= period is contiguous

const std::uint8_t* pat_at(std::uint32_t id, std::uint64_t off) { return &pat[(off + std::uint64_t(id) * 7919) % period]; }

struct options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 7000;
  int connections = 1;
  double duration = 5;
  std::size_t size = 64;
  int pipeline = 1;
  int threads = 1;
};
options opt;

// Latency histogram: 0.1 us buckets up to 100 ms, plus an overflow bucket.
constexpr std::size_t buckets = 1'000'000;
constexpr std::uint64_t bucket_ns = 100;

struct worker {
  std::vector<std::uint64_t> hist = std::vector<std::uint64_t>(buckets + 1, 0);
  std::uint64_t msgs = 0, errors = 0, max_ns = 0;
};

struct conn_state {
  std::uint32_t id = 0;
  std::uint64_t written = 0;  // stream bytes written
  std::uint64_t recvd = 0;    // stream bytes received and checked
  std::vector<std::uint64_t> t_send;
  std::size_t head = 0, inflight = 0;
};

task<void> send_msgs(tcp_stream& s, conn_state& c, int count, std::uint64_t t) {
  for (int i = 0; i < count; ++i) c.t_send[(c.head + c.inflight++) % c.t_send.size()] = t;
  std::uint64_t end = c.written + std::uint64_t(count) * opt.size;
  while (c.written < end) {
    std::size_t n = std::min<std::uint64_t>(end - c.written, period);
    co_await s.write_all(std::span(reinterpret_cast<const std::byte*>(pat_at(c.id, c.written)), n));
    c.written += n;
  }
}

task<void> run_conn(tcp_stream s, std::uint32_t id, worker& w, std::uint64_t deadline) {
  conn_state c;
  c.id = id;
  c.t_send.resize(static_cast<std::size_t>(opt.pipeline));
  std::vector<std::byte> buf(32768);
  try {
    co_await send_msgs(s, c, opt.pipeline, now_ns());
    for (;;) {
      std::size_t n = co_await s.read_some(buf);
      if (n == 0) throw std::runtime_error("connection closed by server (EOF)");
      if (c.recvd + n > c.written) throw std::runtime_error("received more bytes than were sent");
      for (std::size_t done = 0; done < n;) {
        std::size_t k = std::min(n - done, period);
        const auto* exp = pat_at(c.id, c.recvd + done);
        if (std::memcmp(buf.data() + done, exp, k) != 0) {
          std::size_t i = 0;
          while (buf[done + i] == std::byte{exp[i]}) ++i;
          char msg[160];
          std::snprintf(msg, sizeof msg, "MISMATCH at stream offset %llu: expected 0x%02x got 0x%02x",
                        static_cast<unsigned long long>(c.recvd + done + i), exp[i],
                        static_cast<unsigned>(buf[done + i]));
          throw std::runtime_error(msg);
        }
        done += k;
      }
      std::uint64_t before = c.recvd / opt.size;
      c.recvd += n;
      std::uint64_t completed = c.recvd / opt.size - before;
      if (completed == 0) continue;
      std::uint64_t t = now_ns();
      if (t >= deadline) co_return;
      for (std::uint64_t k = 0; k < completed; ++k) {
        std::uint64_t lat = t - c.t_send[c.head];
        c.head = (c.head + 1) % c.t_send.size();
        --c.inflight;
        ++w.msgs;
        ++w.hist[std::min<std::uint64_t>(lat / bucket_ns, buckets)];
        w.max_ns = std::max(w.max_ns, lat);
      }
      co_await send_msgs(s, c, static_cast<int>(completed), t);
    }
  } catch (const corio::cancelled_error&) {
    throw;  // the deadline watchdog: not an error
  } catch (const std::exception& e) {
    std::fprintf(stderr, "echo_client: ERROR conn=%u: %s (sent=%llu recvd=%llu)\n", c.id, e.what(),
                 static_cast<unsigned long long>(c.written), static_cast<unsigned long long>(c.recvd));
    ++w.errors;
  }
}

double cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// The start line: when every thread has connected, the last one to arrive
// sets a start time 20 ms ahead, which all threads wait for.
struct start_clock {
  std::atomic<std::uint64_t>* start;
  double* cpu0;
  void operator()() noexcept {
    *cpu0 = cpu_seconds();
    start->store(now_ns() + 20'000'000ull);
  }
};
using start_barrier = std::barrier<start_clock>;

task<void> thread_main(int index, worker& w, start_barrier& ready, std::atomic<std::uint64_t>& when) {
  std::vector<tcp_stream> streams;
  std::vector<std::uint32_t> ids;
  for (int i = index; i < opt.connections; i += opt.threads) {
    try {
      streams.push_back(co_await tcp_stream::connect(opt.host, opt.port, std::chrono::seconds(5)));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "echo_client: FATAL %s\n", e.what());
      std::exit(1);
    }
    streams.back().set_nodelay();
    ids.push_back(static_cast<std::uint32_t>(i));
  }
  ready.arrive_and_wait();  // every thread connected: start together
  std::uint64_t start = when.load();
  std::uint64_t deadline = start + std::uint64_t(opt.duration * 1e9);
  while (now_ns() < start) {
  }
  std::vector<corio::join_handle<void>> conns;
  for (std::size_t i = 0; i < streams.size(); ++i) conns.push_back(corio::spawn(run_conn(std::move(streams[i]), ids[i], w, deadline)));
  // A connection stops at its first completion past the deadline; one whose
  // server went quiet is cancelled shortly after.
  co_await corio::sleep(std::chrono::nanoseconds(deadline - now_ns()) + std::chrono::milliseconds(200));
  for (auto& c : conns) c.cancel();
  for (auto& c : conns) {
    try {
      co_await c;
    } catch (const corio::cancelled_error&) {
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"corio TCP echo load client (echoload's twin)"};
  app.add_option("--host", opt.host)->capture_default_str();
  app.add_option("--port", opt.port)->capture_default_str();
  app.add_option("--connections", opt.connections)->capture_default_str()->check(CLI::Range(1, 20000));
  app.add_option("--duration", opt.duration, "seconds")->capture_default_str()->check(CLI::Range(0.01, 600.0));
  app.add_option("--size", opt.size, "bytes per message")->capture_default_str()->check(CLI::Range(1, 16 << 20));
  app.add_option("--pipeline", opt.pipeline, "messages in flight per connection")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  app.add_option("--threads", opt.threads)->capture_default_str()->check(CLI::Range(1, 64));
  CLI11_PARSE(app, argc, argv);
  if (opt.size * std::size_t(opt.pipeline) > (1u << 20)) {
    std::fprintf(stderr, "echo_client: --size x --pipeline must be <= 1 MiB\n");
    return 2;
  }
  opt.threads = std::min(opt.threads, opt.connections);

  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
  pat.resize(2 * period);
  std::uint64_t x = 0x9E3779B97F4A7C15ull;
  for (std::size_t i = 0; i < period; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    pat[i] = pat[i + period] = std::uint8_t(x >> 24);
  }

  std::atomic<std::uint64_t> when{0};
  double cpu0 = 0;
  start_barrier ready(opt.threads, start_clock{&when, &cpu0});
  std::vector<worker> workers(static_cast<std::size_t>(opt.threads));
  std::vector<std::thread> ths;
  for (int i = 0; i < opt.threads; ++i)
    ths.emplace_back([&, i] { corio::run(thread_main(i, workers[static_cast<std::size_t>(i)], ready, when)); });
  for (auto& t : ths) t.join();
  std::uint64_t start = when.load();
  std::uint64_t deadline = start + std::uint64_t(opt.duration * 1e9);
  double elapsed = double(std::min(now_ns(), deadline) - start) / 1e9;
  double cpu_pct = (cpu_seconds() - cpu0) / (double(now_ns() - start + 20'000'000ull) / 1e9) * 100;

  std::uint64_t msgs = 0, errors = 0, max_ns = 0;
  std::vector<std::uint64_t> hist(buckets + 1, 0);
  for (auto& w : workers) {
    msgs += w.msgs;
    errors += w.errors;
    max_ns = std::max(max_ns, w.max_ns);
    for (std::size_t i = 0; i <= buckets; ++i) hist[i] += w.hist[i];
  }
  auto pct = [&](double q) -> double {
    if (msgs == 0) return 0;
    std::uint64_t want = std::max<std::uint64_t>(1, std::uint64_t(q * double(msgs))), acc = 0;
    for (std::size_t i = 0; i < buckets; ++i)
      if ((acc += hist[i]) >= want) return double(i * bucket_ns + bucket_ns / 2) / 1000.0;
    return double(max_ns) / 1000.0;
  };
  std::printf("connections=%d size=%zu duration=%.2f msgs=%llu msgs_per_s=%.0f p50_us=%.1f p99_us=%.1f errors=%llu"
              " pipeline=%d threads=%d p999_us=%.1f max_us=%.1f mbytes_per_s=%.1f client_cpu=%.0f\n",
              opt.connections, opt.size, elapsed, static_cast<unsigned long long>(msgs), double(msgs) / elapsed,
              pct(0.50), pct(0.99), static_cast<unsigned long long>(errors), opt.pipeline, opt.threads, pct(0.999),
              double(max_ns) / 1000.0, double(msgs) * double(opt.size) / elapsed / 1e6, cpu_pct);
  std::fflush(stdout);
  if (errors) {
    std::fprintf(stderr, "echo_client: FAILED with %llu errors\n", static_cast<unsigned long long>(errors));
    return 1;
  }
  if (msgs == 0) {
    std::fprintf(stderr, "echo_client: FAILED: no messages completed\n");
    return 1;
  }
  return 0;
}
