// SPDX-License-Identifier: MIT
//
// thread_pool_map: concurrent.futures' two ways of running a CPU-bound
// function over a list of parameters on a pool of threads. The Python
// original:
//
//   def to_do(info):
//       for i in range(100000000):
//           pass
//       return info[0]
//
//   MAX_WORKERS = 10
//   param_list = [('text%s' % i, 'info%s' % i) for i in range(5)]
//   workers = min(MAX_WORKERS, len(param_list))
//
//   start = time.time()
//   with ThreadPoolExecutor(workers) as executor:      # 1. map: results in order
//       for result in executor.map(to_do, param_list):
//           print(result)
//   print(time.time() - start)
//
//   start = time.time()
//   executor = ThreadPoolExecutor(workers)             # 2. submit, shutdown, result
//   futures = [executor.submit(to_do, p) for p in param_list]
//   executor.shutdown(wait=True)
//   for future in futures:
//       print(future.result())
//   print(time.time() - start)
//
// Both print text0 .. text4, then the elapsed seconds. In Python the GIL
// runs the five loops one at a time whatever the pool's size; in C++ they
// run on the pool's threads in parallel (cpu_parallel measures that).
//
//   thread_pool_map [--iterations N]      (default 100000000, Python's range)
#include <corio/core/thread_pool.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace {

using info = std::pair<std::string, std::string>;

std::uint64_t iterations = 100'000'000;

// `for i in range(n): pass`, which an optimising compiler would delete: the
// empty asm tells it the counter is used.
std::string to_do(const info& i) {
  for (std::uint64_t n = 0; n < iterations; ++n) asm volatile("" : : "r"(n));
  return i.first;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"concurrent.futures' map and submit on a corio::thread_pool"};
  app.add_option("--iterations", iterations, "busy-loop length of each call");
  CLI11_PARSE(app, argc, argv);

  constexpr std::size_t max_workers = 10;
  std::vector<info> param_list;
  for (int i = 0; i < 5; ++i) param_list.emplace_back("text" + std::to_string(i), "info" + std::to_string(i));
  const std::size_t workers = std::min(max_workers, param_list.size());

  // 1. map: every call submitted at once, the results come back in input
  //    order; the pool's destructor is the `with` block's shutdown(wait=True).
  auto start = std::chrono::steady_clock::now();
  {
    corio::thread_pool executor(workers);
    for (const std::string& result : executor.map(to_do, param_list)) std::printf("%s\n", result.c_str());
  }
  std::printf("%f\n", seconds_since(start));

  // 2. submit each call, wait for them all, then read the futures (get() is
  //    Future.result(); it rethrows what the call threw).
  start = std::chrono::steady_clock::now();
  corio::thread_pool executor(workers);
  std::vector<corio::future<std::string>> futures;
  for (const info& p : param_list) futures.push_back(executor.submit([p] { return to_do(p); }));
  executor.shutdown(/*wait=*/true);
  for (auto& future : futures) std::printf("%s\n", future.get().c_str());
  std::printf("%f\n", seconds_since(start));
}
