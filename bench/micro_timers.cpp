// SPDX-License-Identifier: MIT
//
// Timer cost with 1M live timers, corio's wheel beside Asio and libuv in the
// same binary and the same run, so that the machine, compiler and moment are
// the same for all three. The workload mirrors ../shared/peers/micro
// (asio_timers.cpp, uv_timers.c): deadlines drawn uniformly from 0..10 s at
// 1 ms ticks with mt19937(42), all armed, then all cancelled. That is the
// common life of a timeout: armed around an I/O and cancelled when the I/O
// completes. BM_insert_fire covers the other life, where every timer expires.
//
//   BM_insert_cancel       corio: insert 1M, cancel 1M
//   BM_insert_fire         corio: insert 1M, advance 10 s firing all 1M
//   BM_asio_insert_cancel  steady_timer expires_after + async_wait, cancel,
//                          then run the 1M aborted handlers (Asio has to)
//   BM_uv_insert_cancel    uv_timer_start, uv_timer_stop
//   BM_sleep_tasks         100k corio tasks each `co_await sleep(d)`, d in
//                          0..9 ms on the real clock, run until all woke
//   BM_asio_sleep_tasks    the same with co_spawn + steady_timer::async_wait
//                          (use_awaitable)
//   BM_uv_sleep_timers     the same sleeps as libuv timer callbacks (libuv
//                          has no tasks: its cheapest equivalent)
//
// The sleep benchmarks run on the real clock with short deadlines so that
// every runtime is measured the same way; per_task includes the ~10 ms the
// last sleeper waits (0.1 us per task at 100k), the same for all three.
//
// Counters: per_timer is the time of one iteration divided by the 1M timers
// (one insert plus one cancel or fire each); bytes_per_timer is what a live timer
// costs corio (the node plus its share of the wheel); handle_bytes is the size
// of a peer's timer handle, a lower bound (Asio also allocates each wait
// operation). Run with --benchmark_repetitions=5
// --benchmark_report_aggregates_only=true and read the medians.
#include <corio/timers/timer_wheel.hpp>

#include <corio/core/event_loop.hpp>
#include <corio/core/time.hpp>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#if __has_include(<asio.hpp>)
#include <asio.hpp>
#define CORIO_BENCH_ASIO 1
#endif
#if __has_include(<uv.h>)
#include <uv.h>
#define CORIO_BENCH_UV 1
#endif

namespace {

constexpr size_t kTimers = 1000000;

const std::vector<uint32_t>& delays_ms() {
  static const std::vector<uint32_t> delays = [] {
    std::mt19937 rng(42);
    std::uniform_int_distribution<uint32_t> ms(0, 9999);
    std::vector<uint32_t> v(kTimers);
    for (auto& d : v) d = ms(rng);
    return v;
  }();
  return delays;
}

void per_timer_counters(benchmark::State& state) {
  state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(kTimers));
  // Seconds per timer; the console shows it with an SI prefix, e.g. "17.3ns".
  state.counters["per_timer"] = benchmark::Counter(
      double(kTimers), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

void corio_bytes_counter(benchmark::State& state) {
  state.counters["bytes_per_timer"] =
      double(sizeof(corio::timer_node)) + double(sizeof(corio::timer_wheel)) / double(kTimers);
}

size_t g_fired = 0;

void BM_insert_cancel(benchmark::State& state) {
  const auto& delays = delays_ms();
  auto nodes = std::make_unique<corio::timer_node[]>(kTimers);
  for (size_t i = 0; i < kTimers; ++i) nodes[i].fire = [](corio::timer_node*) noexcept { ++g_fired; };
  corio::timer_wheel wheel;
  for (auto _ : state) {
    const uint64_t base = wheel.now();
    for (size_t i = 0; i < kTimers; ++i) wheel.insert(nodes[i], base + delays[i]);
    for (size_t i = 0; i < kTimers; ++i) wheel.cancel(nodes[i]);
    benchmark::ClobberMemory();
  }
  if (!wheel.empty()) state.SkipWithError("timers left in the wheel");
  per_timer_counters(state);
  corio_bytes_counter(state);
}
BENCHMARK(BM_insert_cancel)->Unit(benchmark::kMillisecond);

void BM_insert_fire(benchmark::State& state) {
  const auto& delays = delays_ms();
  auto nodes = std::make_unique<corio::timer_node[]>(kTimers);
  for (size_t i = 0; i < kTimers; ++i) nodes[i].fire = [](corio::timer_node*) noexcept { ++g_fired; };
  corio::timer_wheel wheel;
  for (auto _ : state) {
    const uint64_t base = wheel.now();
    g_fired = 0;
    for (size_t i = 0; i < kTimers; ++i) wheel.insert(nodes[i], base + delays[i]);
    wheel.advance(base + 10000);
    if (g_fired != kTimers) state.SkipWithError("not every timer fired");
  }
  per_timer_counters(state);
  corio_bytes_counter(state);
}
BENCHMARK(BM_insert_fire)->Unit(benchmark::kMillisecond);

#ifdef CORIO_BENCH_ASIO
void BM_asio_insert_cancel(benchmark::State& state) {
  const auto& delays = delays_ms();
  asio::io_context ctx(1);
  std::vector<asio::steady_timer> timers;
  timers.reserve(kTimers);
  for (size_t i = 0; i < kTimers; ++i) timers.emplace_back(ctx);
  size_t aborted = 0;
  for (auto _ : state) {
    aborted = 0;
    for (size_t i = 0; i < kTimers; ++i) {
      timers[i].expires_after(std::chrono::milliseconds(delays[i]));
      timers[i].async_wait([&](const asio::error_code& ec) { aborted += ec == asio::error::operation_aborted; });
    }
    for (auto& t : timers) t.cancel();
    ctx.restart();
    ctx.run();
    if (aborted != kTimers) state.SkipWithError("not every handler was aborted");
  }
  per_timer_counters(state);
  state.counters["handle_bytes"] = double(sizeof(asio::steady_timer));
}
BENCHMARK(BM_asio_insert_cancel)->Unit(benchmark::kMillisecond);
#endif

#ifdef CORIO_BENCH_UV
void BM_uv_insert_cancel(benchmark::State& state) {
  const auto& delays = delays_ms();
  uv_loop_t loop;
  uv_loop_init(&loop);
  auto timers = std::make_unique<uv_timer_t[]>(kTimers);
  for (size_t i = 0; i < kTimers; ++i) uv_timer_init(&loop, &timers[i]);
  for (auto _ : state) {
    for (size_t i = 0; i < kTimers; ++i) {
      uv_timer_start(&timers[i], [](uv_timer_t*) { ++g_fired; }, delays[i], 0);
    }
    for (size_t i = 0; i < kTimers; ++i) uv_timer_stop(&timers[i]);
    benchmark::ClobberMemory();
  }
  per_timer_counters(state);
  state.counters["handle_bytes"] = double(sizeof(uv_timer_t));
  for (size_t i = 0; i < kTimers; ++i) uv_close(reinterpret_cast<uv_handle_t*>(&timers[i]), nullptr);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
}
BENCHMARK(BM_uv_insert_cancel)->Unit(benchmark::kMillisecond);
#endif

constexpr size_t kSleepers = 100000;

const std::vector<uint32_t>& sleep_us() {
  static const std::vector<uint32_t> delays = [] {
    std::mt19937 rng(7);
    std::uniform_int_distribution<uint32_t> us(0, 9999);
    std::vector<uint32_t> v(kSleepers);
    for (auto& d : v) d = us(rng);
    return v;
  }();
  return delays;
}

void per_task_counters(benchmark::State& state) {
  state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(kSleepers));
  state.counters["per_task"] = benchmark::Counter(
      double(kSleepers), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

corio::task<void> corio_sleeper(uint32_t us, size_t& woke) {
  co_await corio::sleep(std::chrono::microseconds(us));
  ++woke;
}

void BM_sleep_tasks(benchmark::State& state) {
  const auto& delays = sleep_us();
  corio::event_loop loop;
  for (auto _ : state) {
    size_t woke = 0;
    for (size_t i = 0; i < kSleepers; ++i) loop.spawn(corio_sleeper(delays[i], woke)).detach();
    loop.run_until([&] { return woke == kSleepers; });
  }
  per_task_counters(state);
}
BENCHMARK(BM_sleep_tasks)->Unit(benchmark::kMillisecond);

// Asio's coroutine support is off under clang 14 with libstdc++.
#if defined(CORIO_BENCH_ASIO) && defined(ASIO_HAS_CO_AWAIT)
asio::awaitable<void> asio_sleeper(uint32_t us, size_t& woke) {
  asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::microseconds(us));
  co_await t.async_wait(asio::use_awaitable);
  ++woke;
}

void BM_asio_sleep_tasks(benchmark::State& state) {
  const auto& delays = sleep_us();
  asio::io_context ctx(1);
  for (auto _ : state) {
    size_t woke = 0;
    for (size_t i = 0; i < kSleepers; ++i) asio::co_spawn(ctx, asio_sleeper(delays[i], woke), asio::detached);
    ctx.restart();
    ctx.run();
    if (woke != kSleepers) state.SkipWithError("not every sleeper woke");
  }
  per_task_counters(state);
}
BENCHMARK(BM_asio_sleep_tasks)->Unit(benchmark::kMillisecond);
#endif

#ifdef CORIO_BENCH_UV
void BM_uv_sleep_timers(benchmark::State& state) {
  const auto& delays = sleep_us();
  uv_loop_t loop;
  uv_loop_init(&loop);
  auto timers = std::make_unique<uv_timer_t[]>(kSleepers);
  for (size_t i = 0; i < kSleepers; ++i) uv_timer_init(&loop, &timers[i]);
  for (auto _ : state) {
    g_fired = 0;
    uv_update_time(&loop);
    // libuv timers have millisecond resolution: round the same delays up.
    for (size_t i = 0; i < kSleepers; ++i)
      uv_timer_start(&timers[i], [](uv_timer_t*) { ++g_fired; }, (delays[i] + 999) / 1000, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (g_fired != kSleepers) state.SkipWithError("not every timer fired");
  }
  per_task_counters(state);
  for (size_t i = 0; i < kSleepers; ++i) uv_close(reinterpret_cast<uv_handle_t*>(&timers[i]), nullptr);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
}
BENCHMARK(BM_uv_sleep_timers)->Unit(benchmark::kMillisecond);
#endif

}  // namespace

BENCHMARK_MAIN();
