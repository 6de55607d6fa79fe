// SPDX-License-Identifier: MIT
//
// What a task costs: spawning one and running it to completion, and one
// `co_await` of a child task. Asio's C++20 coroutines do the same work in the
// same binary and the same run, so that machine, compiler and moment are the
// same for both. The spawn workload mirrors ../shared/peers/micro/asio_spawn.cpp:
// spawn a batch of 1000 trivial coroutines on one loop, run the loop until
// all have finished, repeat (batches keep memory small and hot, as a server's
// steady state does).
//
//   BM_spawn_complete     corio: loop.spawn(trivial()), handle dropped (detached)
//   BM_spawn_join         corio: the same, handles kept until the batch is done
//   BM_asio_co_spawn      Asio: co_spawn(ctx, trivial(), detached); ctx.run(); restart()
//   BM_await_child        corio: inside one task, 1000 x `sum += co_await child()`
//   BM_asio_await_child   Asio: the same with asio::awaitable<int>
//
// Counters: per_task / per_await are the time of one iteration divided by the
// 1000 spawns or awaits (the console shows seconds with an SI prefix, e.g.
// "24.1n" = 24.1 ns); frame_bytes is the size the compiler asked for a
// trivial task's coroutine frame (corio::detail::frame_stats().last_size);
// state_bytes is the task_state that spawn() adds to each root task (the
// second allocation of a spawn, from the same recycling allocator).
//
// Run with --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
// and read the medians (README.md, "Benchmarks").
#include <corio/core/event_loop.hpp>
#include <corio/core/frame_allocator.hpp>
#include <corio/core/join_handle.hpp>
#include <corio/core/task.hpp>
#include <corio/core/task_state.hpp>

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <vector>

// Asio's coroutines need its C++20 detection to agree (clang 14 with
// libstdc++ 12 does not get asio::awaitable); without them the peers are left out.
#if __has_include(<asio.hpp>)
#include <asio.hpp>
#if defined(ASIO_HAS_CO_AWAIT)
#define CORIO_BENCH_ASIO 1
#endif
#endif

namespace {

constexpr std::size_t kBatch = 1000;

void per_item_counters(benchmark::State& state, const char* name) {
  state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(kBatch));
  state.counters[name] =
      benchmark::Counter(double(kBatch), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

corio::task<void> trivial(std::size_t& done) {
  ++done;
  co_return;
}

corio::task<int> child(int i) { co_return i; }

// The frame size of a coroutine: creating the task allocates the frame (it
// is lazy, so the body does not run) and the allocator records the size.
// The task escapes through DoNotOptimize, else clang may elide the
// allocation (HALO) and there would be nothing to measure; -1 says so.
template <class MakeTask>
double frame_bytes_of(MakeTask make) {
  const auto before = corio::detail::frame_stats();
  auto t = make();
  benchmark::DoNotOptimize(t);
  const auto after = corio::detail::frame_stats();
  return after.live == before.live + 1 ? double(after.last_size) : -1.0;
}

double trivial_frame_bytes() {
  std::size_t done = 0;
  return frame_bytes_of([&] { return trivial(done); });
}

double child_frame_bytes() {
  return frame_bytes_of([] { return child(1); });
}

void BM_spawn_complete(benchmark::State& state) {
  corio::event_loop loop;
  std::size_t done = 0;
  for (auto _ : state) {
    for (std::size_t i = 0; i < kBatch; ++i) loop.spawn(trivial(done)).detach();
    loop.run_until([&] { return loop.live_tasks() == 0; });
  }
  if (done != std::size_t(state.iterations()) * kBatch) state.SkipWithError("not every task completed");
  per_item_counters(state, "per_task");
  state.counters["frame_bytes"] = trivial_frame_bytes();
  state.counters["state_bytes"] = double(sizeof(corio::detail::task_state));
}
BENCHMARK(BM_spawn_complete);

void BM_spawn_join(benchmark::State& state) {
  corio::event_loop loop;
  std::size_t done = 0;
  std::vector<corio::join_handle<void>> handles;
  handles.reserve(kBatch);
  for (auto _ : state) {
    for (std::size_t i = 0; i < kBatch; ++i) handles.push_back(loop.spawn(trivial(done)));
    loop.run_until([&] { return loop.live_tasks() == 0; });
    handles.clear();  // releases the last reference: frame and state freed here
  }
  if (done != std::size_t(state.iterations()) * kBatch) state.SkipWithError("not every task completed");
  per_item_counters(state, "per_task");
  state.counters["frame_bytes"] = trivial_frame_bytes();
  state.counters["state_bytes"] = double(sizeof(corio::detail::task_state));
}
BENCHMARK(BM_spawn_join);

corio::task<void> await_children(int n, long& sum) {
  for (int i = 0; i < n; ++i) sum += co_await child(i);
}

void BM_await_child(benchmark::State& state) {
  corio::event_loop loop;
  long sum = 0;
  for (auto _ : state) {
    loop.run_until_complete(await_children(int(kBatch), sum));
  }
  benchmark::DoNotOptimize(sum);
  per_item_counters(state, "per_await");
  state.counters["frame_bytes"] = child_frame_bytes();
}
BENCHMARK(BM_await_child);

#ifdef CORIO_BENCH_ASIO
asio::awaitable<void> asio_trivial(std::size_t& done) {
  ++done;
  co_return;
}

asio::awaitable<int> asio_child(int i) { co_return i; }

asio::awaitable<void> asio_await_children(int n, long& sum) {
  for (int i = 0; i < n; ++i) sum += co_await asio_child(i);
}

void BM_asio_co_spawn(benchmark::State& state) {
  asio::io_context ctx(1);
  std::size_t done = 0;
  for (auto _ : state) {
    for (std::size_t i = 0; i < kBatch; ++i) asio::co_spawn(ctx, asio_trivial(done), asio::detached);
    ctx.run();
    ctx.restart();
  }
  if (done != std::size_t(state.iterations()) * kBatch) state.SkipWithError("not every coroutine completed");
  per_item_counters(state, "per_task");
}
BENCHMARK(BM_asio_co_spawn);

void BM_asio_await_child(benchmark::State& state) {
  asio::io_context ctx(1);
  long sum = 0;
  for (auto _ : state) {
    asio::co_spawn(ctx, asio_await_children(int(kBatch), sum), asio::detached);
    ctx.run();
    ctx.restart();
  }
  benchmark::DoNotOptimize(sum);
  per_item_counters(state, "per_await");
}
BENCHMARK(BM_asio_await_child);
#endif

}  // namespace

BENCHMARK_MAIN();
