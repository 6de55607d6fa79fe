// SPDX-License-Identifier: MIT
//
// coroutines_vs_threads: 10,000 concurrent sleepers, as coroutines on one
// event loop and as one thread each, with the wall time and the peak memory
// of each. The Python original:
//
//   async def sleeper():
//       await asyncio.sleep(1)
//   asyncio.run(asyncio.gather(*(sleeper() for _ in range(10_000))))
//
//   threads = [threading.Thread(target=time.sleep, args=(1,)) for _ in range(10_000)]
//   for t in threads: t.start()
//   for t in threads: t.join()
//
// Both take about a second, but a sleeping coroutine is its frame (a few
// hundred bytes) and a sleeping thread is a kernel task plus a stack (8 MiB
// reserved, a few pages touched), and starting 10,000 threads takes time.
// Each variant runs in a child process, so that its peak RSS
// (getrusage's ru_maxrss, read with wait4) is its own; the baseline is a
// child that does nothing. A system that limits threads (ulimit -u, a
// container's pids.max) stops the thread variant early; it then says how
// many threads it could start.
//
//   coroutines_vs_threads [--count 10000] [--seconds 1]
#include <corio/corio.hpp>

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <system_error>
#include <thread>
#include <vector>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

using seconds = std::chrono::duration<double>;

// What a child reports to its parent through a pipe.
struct report {
  double wall = 0;
  std::size_t started = 0;
};

corio::task<void> sleeper(seconds d) { co_await corio::sleep(d); }

report with_coroutines(std::size_t count, seconds d) {
  auto start = std::chrono::steady_clock::now();
  std::vector<corio::task<void>> sleepers;
  sleepers.reserve(count);
  for (std::size_t i = 0; i < count; ++i) sleepers.push_back(sleeper(d));
  corio::run(corio::gather(std::move(sleepers)));
  return {seconds(std::chrono::steady_clock::now() - start).count(), count};
}

report with_threads(std::size_t count, seconds d) {
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  threads.reserve(count);
  try {
    for (std::size_t i = 0; i < count; ++i) threads.emplace_back([d] { std::this_thread::sleep_for(d); });
  } catch (const std::system_error&) {
    // EAGAIN: out of threads. Measure the ones that started.
  }
  for (auto& t : threads) t.join();
  return {seconds(std::chrono::steady_clock::now() - start).count(), threads.size()};
}

report nothing(std::size_t, seconds) { return {}; }

// Runs fn(count, d) in a child process; prints one line with its wall time
// and the child's peak RSS. Returns that peak in KiB.
double in_child(const char* label, report (*fn)(std::size_t, seconds), std::size_t count, seconds d,
                double baseline_kib) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
  std::fflush(stdout);
  pid_t pid = ::fork();
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
  if (pid == 0) {
    ::close(fds[0]);
    report r = fn(count, d);
    ssize_t n = ::write(fds[1], &r, sizeof r);
    ::_exit(n == static_cast<ssize_t>(sizeof r) ? 0 : 1);
  }
  ::close(fds[1]);
  report r;
  bool got = ::read(fds[0], &r, sizeof r) == static_cast<ssize_t>(sizeof r);
  ::close(fds[0]);
  int status = 0;
  struct rusage ru {};
  ::wait4(pid, &status, 0, &ru);
  if (!got || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::printf("%-11s failed\n", label);
    std::exit(1);
  }
#ifdef __APPLE__
  double kib = static_cast<double>(ru.ru_maxrss) / 1024;  // bytes there, KiB on Linux and the BSDs
#else
  double kib = static_cast<double>(ru.ru_maxrss);
#endif
  if (baseline_kib == 0) {
    std::printf("%-11s %11s %9.1f MiB\n", label, "", kib / 1024);
    return kib;
  }
  double per = r.started ? (kib - baseline_kib) / static_cast<double>(r.started) : 0;
  std::printf("%-11s %9.3f s %9.1f MiB %9.2f KiB", label, r.wall, kib / 1024, per);
  if (r.started < count) std::printf("   (only %zu threads could start)", r.started);
  std::printf("\n");
  return kib;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t count = 10'000;
  double secs = 1.0;
  CLI::App app{"N concurrent sleepers: coroutines vs threads"};
  app.add_option("--count", count, "how many sleepers")->check(CLI::PositiveNumber);
  app.add_option("--seconds", secs, "how long each sleeps")->check(CLI::NonNegativeNumber);
  CLI11_PARSE(app, argc, argv);

  seconds d(secs);
  std::printf("%zu sleepers of %.2f s each\n", count, secs);
  std::printf("%-11s %11s %13s %13s\n", "", "wall", "peak RSS", "per sleeper");
  double base = in_child("baseline", nothing, count, d, 0);
  in_child("coroutines", with_coroutines, count, d, base);
  in_child("threads", with_threads, count, d, base);
}
