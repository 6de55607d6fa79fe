// SPDX-License-Identifier: MIT
//
// What synchronisation between tasks on one loop costs (corio/core/sync.hpp),
// and what a sleeping coroutine costs beside a sleeping thread. Asio's
// experimental channel does the ping-pong in the same binary and the same
// run, so that machine, compiler and moment are the same for both.
//
//   BM_channel_ping_pong       corio: two tasks on one event_loop, one
//                              channel<int>(1) each way; the pinger sends i
//                              and waits for the ponger's reply, 1000 round
//                              trips (2000 messages) per iteration
//   BM_asio_channel_ping_pong  Asio: the same with
//                              experimental::channel<void(error_code, int)>
//                              and use_awaitable (left out without it)
//   BM_mutex_uncontended       corio: inside one task, 1000 x
//                              `co_await m.lock(); m.unlock();`
//   BM_mutex_scoped_lock       corio: the same with
//                              `auto g = co_await m.scoped_lock();`
//   BM_sleepers_coroutines     100k tasks each `co_await corio::sleep(10ms)`:
//                              spawn all, run the loop until all have woken
//                              and finished
//   BM_sleepers_threads        10k std::threads each sleeping 10 ms: create
//                              all, join all
//
// Counters: per_message / per_lock are the time of one iteration divided by
// the messages (2 per round trip) or lock/unlock pairs; per_sleeper likewise
// for the sleepers (it includes the 10 ms the last sleeper waits: 0.1 us per
// coroutine at 100k, 1 us per thread at 10k). The sleepers run on the real
// clock and are timed in wall time. rss_growth is VmRSS (/proc/self/status)
// once every sleeper has started and none has woken, minus VmRSS before the
// spawn (after malloc_trim, so that memory the previous iteration freed does
// not hide this one's; VmHWM cannot be reset); bytes_per_sleeper is that
// growth divided by the sleepers. For coroutines it is a lower bound: the
// frame allocator keeps up to 4096 freed blocks per size class resident
// (frame_allocator.hpp). For threads it counts the touched stack pages and
// the kernel-side cost is not in RSS at all.
//
// Run with --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
// and read the medians (README.md, "Benchmarks").
#include <corio/core/event_loop.hpp>
#include <corio/core/join_handle.hpp>
#include <corio/core/sync.hpp>
#include <corio/core/task.hpp>
#include <corio/core/time.hpp>

#include <benchmark/benchmark.h>

#include <malloc.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

// Asio's coroutines need its C++20 detection to agree (clang 14 with
// libstdc++ 12 does not get asio::awaitable); without them the peer is left out.
#if __has_include(<asio.hpp>) && __has_include(<asio/experimental/channel.hpp>)
#include <asio.hpp>
#if defined(ASIO_HAS_CO_AWAIT)
#include <asio/experimental/channel.hpp>
#define CORIO_BENCH_ASIO 1
#endif
#endif

namespace {

using namespace std::chrono_literals;

constexpr int kRoundTrips = 1000;
constexpr std::size_t kLocks = 1000;
constexpr std::size_t kCoroutineSleepers = 100'000;
constexpr std::size_t kThreadSleepers = 10'000;
constexpr auto kSleep = 10ms;

void per_item_counters(benchmark::State& state, const char* name, std::size_t per_iteration) {
  state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(per_iteration));
  state.counters[name] = benchmark::Counter(double(per_iteration),
                                            benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

// VmRSS of this process in bytes (0 if /proc is not there).
std::size_t rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::size_t(std::stoull(line.substr(6))) * 1024;
  }
  return 0;
}

// --- channel ping-pong ---------------------------------------------------------

corio::task<void> ponger(corio::channel<int>& in, corio::channel<int>& out, int n) {
  for (int i = 0; i < n; ++i) {
    auto v = co_await in.receive();
    co_await out.send(*v + 1);
  }
}

corio::task<long> pinger(corio::channel<int>& out, corio::channel<int>& in, int n) {
  long sum = 0;
  for (int i = 0; i < n; ++i) {
    co_await out.send(i);
    sum += *co_await in.receive();
  }
  co_return sum;
}

void BM_channel_ping_pong(benchmark::State& state) {
  corio::event_loop loop;
  corio::channel<int> ping(1);
  corio::channel<int> pong(1);
  long sum = 0;
  for (auto _ : state) {
    loop.spawn(ponger(ping, pong, kRoundTrips)).detach();
    sum += loop.run_until_complete(pinger(ping, pong, kRoundTrips));
  }
  const long expected = long(kRoundTrips) * (kRoundTrips + 1) / 2;
  if (sum != expected * long(state.iterations())) state.SkipWithError("wrong replies");
  per_item_counters(state, "per_message", 2 * kRoundTrips);
}
BENCHMARK(BM_channel_ping_pong);

#ifdef CORIO_BENCH_ASIO
using asio_channel = asio::experimental::channel<void(asio::error_code, int)>;

asio::awaitable<void> asio_ponger(asio_channel& in, asio_channel& out, int n) {
  for (int i = 0; i < n; ++i) {
    int v = co_await in.async_receive(asio::use_awaitable);
    co_await out.async_send(asio::error_code{}, v + 1, asio::use_awaitable);
  }
}

asio::awaitable<void> asio_pinger(asio_channel& out, asio_channel& in, int n, long& sum) {
  for (int i = 0; i < n; ++i) {
    co_await out.async_send(asio::error_code{}, i, asio::use_awaitable);
    sum += co_await in.async_receive(asio::use_awaitable);
  }
}

void BM_asio_channel_ping_pong(benchmark::State& state) {
  asio::io_context ctx(1);
  asio_channel ping(ctx, 1);
  asio_channel pong(ctx, 1);
  long sum = 0;
  for (auto _ : state) {
    asio::co_spawn(ctx, asio_ponger(ping, pong, kRoundTrips), asio::detached);
    asio::co_spawn(ctx, asio_pinger(ping, pong, kRoundTrips, sum), asio::detached);
    ctx.run();
    ctx.restart();
  }
  const long expected = long(kRoundTrips) * (kRoundTrips + 1) / 2;
  if (sum != expected * long(state.iterations())) state.SkipWithError("wrong replies");
  per_item_counters(state, "per_message", 2 * kRoundTrips);
}
BENCHMARK(BM_asio_channel_ping_pong);
#endif

// --- mutex -----------------------------------------------------------------------

corio::task<void> lock_unlock(corio::mutex& m, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    co_await m.lock();
    m.unlock();
  }
}

corio::task<void> scoped_lock(corio::mutex& m, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    auto guard = co_await m.scoped_lock();
    benchmark::DoNotOptimize(guard);
  }
}

void BM_mutex_uncontended(benchmark::State& state) {
  corio::event_loop loop;
  corio::mutex m;
  for (auto _ : state) loop.run_until_complete(lock_unlock(m, kLocks));
  if (m.is_locked()) state.SkipWithError("mutex left locked");
  per_item_counters(state, "per_lock", kLocks);
}
BENCHMARK(BM_mutex_uncontended);

void BM_mutex_scoped_lock(benchmark::State& state) {
  corio::event_loop loop;
  corio::mutex m;
  for (auto _ : state) loop.run_until_complete(scoped_lock(m, kLocks));
  if (m.is_locked()) state.SkipWithError("mutex left locked");
  per_item_counters(state, "per_lock", kLocks);
}
BENCHMARK(BM_mutex_scoped_lock);

// --- coroutines vs threads ---------------------------------------------------------

void sleeper_counters(benchmark::State& state, std::size_t sleepers, double growth_sum) {
  per_item_counters(state, "per_sleeper", sleepers);
  const double growth = growth_sum / double(state.iterations());
  state.counters["rss_growth"] = benchmark::Counter(growth, benchmark::Counter::kDefaults, benchmark::Counter::kIs1024);
  state.counters["bytes_per_sleeper"] = growth / double(sleepers);
}

corio::task<void> sleeper(std::size_t& started, std::size_t& woke) {
  ++started;
  co_await corio::sleep(kSleep);
  ++woke;
}

void BM_sleepers_coroutines(benchmark::State& state) {
  corio::event_loop loop;
  double growth_sum = 0;
  for (auto _ : state) {
    state.PauseTiming();
    malloc_trim(0);
    const std::size_t before = rss_bytes();
    state.ResumeTiming();

    std::size_t started = 0;
    std::size_t woke = 0;
    for (std::size_t i = 0; i < kCoroutineSleepers; ++i) loop.spawn(sleeper(started, woke)).detach();
    // Every sleeper has armed its timer; none has woken (run_until does not
    // poll once the predicate holds, and the deadline is 10 ms away).
    loop.run_until([&] { return started == kCoroutineSleepers; });

    state.PauseTiming();
    growth_sum += double(rss_bytes()) - double(before);
    if (woke != 0) state.SkipWithError("a sleeper woke before all had started");
    state.ResumeTiming();

    loop.run_until([&] { return loop.live_tasks() == 0; });
    if (woke != kCoroutineSleepers) state.SkipWithError("not every sleeper woke");
  }
  sleeper_counters(state, kCoroutineSleepers, growth_sum);
}
BENCHMARK(BM_sleepers_coroutines)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_sleepers_threads(benchmark::State& state) {
  std::vector<std::thread> threads;
  threads.reserve(kThreadSleepers);
  double growth_sum = 0;
  for (auto _ : state) {
    state.PauseTiming();
    malloc_trim(0);
    const std::size_t before = rss_bytes();
    state.ResumeTiming();

    for (std::size_t i = 0; i < kThreadSleepers; ++i) threads.emplace_back([] { std::this_thread::sleep_for(kSleep); });
    // Threads that have already woken keep their stacks until joined.
    state.PauseTiming();
    growth_sum += double(rss_bytes()) - double(before);
    state.ResumeTiming();

    for (auto& t : threads) t.join();
    threads.clear();
  }
  sleeper_counters(state, kThreadSleepers, growth_sum);
}
BENCHMARK(BM_sleepers_threads)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
