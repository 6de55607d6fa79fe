// SPDX-License-Identifier: MIT
//
// cpu_parallel: the same CPU-bound jobs run sequentially, on a thread_pool
// and on a runtime (one event loop per core), with the wall time of each.
// The Python original (Real Python's "Speed Up Your Python Program With
// Concurrency"):
//
//   def cpu_bound(number):
//       return sum(i * i for i in range(number))
//
//   numbers = [5_000_000 + x for x in range(20)]
//   for number in numbers: cpu_bound(number)                  # sequential
//   with ThreadPoolExecutor() as ex: ex.map(cpu_bound, numbers)   # no faster: the GIL
//   with ProcessPoolExecutor() as ex: ex.map(cpu_bound, numbers)  # faster: one process per core
//
// In Python the thread pool is no faster than the plain loop, because the
// GIL lets one thread run Python code at a time; only processes use the
// other cores. C++ has no GIL: the thread pool alone runs the jobs in
// parallel, so corio needs no process pool.
//
// What a runtime (thread-per-core) adds is not speed for this kind of work:
// each loop gets a fixed share of the jobs, as a pool's workers would. It
// adds an event loop on every core that owns its timers, sockets and memory
// and shares nothing, which is how a server uses all the cores (see
// echo_server --threads). Blocking a loop with CPU work, as the mains below
// do, is fine only because those loops have nothing else to do.
//
// The default size is ten times Python's: C++ sums Python's 5,000,000
// squares in a few milliseconds, too little to time.
//
//   cpu_parallel [--jobs 20] [--size 50000000] [--threads N (default: one per core)]
#include <corio/core/runtime.hpp>
#include <corio/core/thread_pool.hpp>

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <vector>

namespace {

// sum(i * i for i in range(number)), modulo 2^64. The empty asm keeps the
// compiler from replacing the loop by its closed form.
std::uint64_t cpu_bound(std::uint64_t number) {
  std::uint64_t sum = 0;
  for (std::uint64_t i = 0; i < number; ++i) {
    sum += i * i;
    asm volatile("" : "+r"(sum));
  }
  return sum;
}

// Runs fn(), prints its wall time (and the speed-up over `baseline`), and
// returns the seconds it took.
template <class F>
double timed(const char* label, double baseline, F fn) {
  auto start = std::chrono::steady_clock::now();
  fn();
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (baseline > 0)
    std::printf("%-12s %.3f s  (%.1fx)\n", label, s, baseline / s);
  else
    std::printf("%-12s %.3f s\n", label, s);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t jobs = 20;
  std::uint64_t size = 50'000'000;
  std::size_t threads = corio::runtime::default_size();
  CLI::App app{"CPU-bound jobs: sequential, thread_pool, runtime"};
  app.add_option("--jobs", jobs, "how many jobs");
  app.add_option("--size", size, "the first job's size (job i sums size + i squares)");
  app.add_option("--threads", threads, "pool threads and runtime loops")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  std::vector<std::uint64_t> numbers;
  for (std::size_t x = 0; x < jobs; ++x) numbers.push_back(size + x);
  std::printf("%zu jobs, %zu threads\n", jobs, threads);

  std::vector<std::uint64_t> sequential, pooled, per_core(jobs);

  double base = timed("sequential", 0, [&] {
    for (std::uint64_t n : numbers) sequential.push_back(cpu_bound(n));
  });

  timed("thread_pool", base, [&] {
    corio::thread_pool pool(threads);
    pooled = pool.map(cpu_bound, numbers);
  });

  // Loop i takes jobs i, i + n, i + 2n...: a static share, nothing shared.
  // Each writes its own elements of per_core; run() returning orders those
  // writes before the reads below.
  timed("runtime", base, [&] {
    corio::runtime rt(threads);
    rt.run([&](std::size_t i) -> corio::task<void> {
      for (std::size_t j = i; j < numbers.size(); j += rt.size()) per_core[j] = cpu_bound(numbers[j]);
      co_return;
    });
  });

  bool agree = sequential == pooled && sequential == per_core;
  std::printf("results agree: %s\n", agree ? "yes" : "NO");
  return agree ? 0 : 1;
}
