// SPDX-License-Identifier: MIT
//
// thread_pool: concurrent.futures' ThreadPoolExecutor, and to_thread():
// asyncio.to_thread. Work that blocks (a file read, getaddrinfo, a C library
// without an async API) or burns CPU must not run on a loop's thread; it goes
// to a pool, and its result comes back as a corio::future, which a plain
// thread can get() and a task can co_await.
//
//   corio::thread_pool pool(4);
//   corio::future<int> f = pool.submit([] { return slow_sum(); });
//   int a = f.get();                                   // from a plain thread
//   int b = co_await pool.submit(...);                 // from a task
//   std::vector<int> r = pool.map(square, inputs);     // in order, blocking
//   std::string s = co_await corio::to_thread([&] { return read_file(p); });
//
// Approach: n workers share one FIFO queue under a mutex and a condition
// variable. A job is a type-erased, move-only callable (it owns a promise)
// allocated once per submit; a lock-free or per-worker-stealing queue was
// rejected as not worth it for work that is, by definition, slow.
//
// Resumption: a task awaiting the future is woken on its own loop through
// call_soon_threadsafe (future.hpp does it), so after `co_await` the task is
// back on its loop's thread, never on a worker.
//
// Cancellation: a thread cannot be interrupted. Cancelling a task that
// awaits a pool's future (or to_thread) ends the wait at once with
// cancelled_error; the function keeps running on its worker to the end, and
// its result (or exception) is dropped with the future's shared state.
//
// Shutdown (Executor.shutdown): no new work is accepted (submit throws
// std::runtime_error); the work already queued still runs. shutdown(true)
// also waits for it and joins the workers; the destructor does that.
// Calling shutdown(true) or destroying the pool from one of its own workers
// is a std::logic_error (it would join itself).
#pragma once

#include <corio/core/future.hpp>
#include <corio/core/task.hpp>

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <ranges>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace corio {

namespace detail {

struct pool_job {
  virtual ~pool_job() = default;
  virtual void run() noexcept = 0;
};

template <class F, class R>
struct pool_job_impl final : pool_job {
  pool_job_impl(F f, promise<R> p) : fn(std::move(f)), pr(std::move(p)) {}
  void run() noexcept override {
    try {
      if constexpr (std::is_void_v<R>) {
        std::invoke(fn);
        pr.set_value();
      } else {
        pr.set_value(std::invoke(fn));
      }
    } catch (...) {
      try {
        pr.set_exception(std::current_exception());
      } catch (...) {
      }
    }
  }
  F fn;
  promise<R> pr;
};

template <class R>
task<std::vector<R>> collect_in_order(std::vector<future<R>> futures) {
  std::vector<R> out;
  out.reserve(futures.size());
  for (auto& f : futures) out.push_back(co_await f);
  co_return out;
}

}  // namespace detail

class thread_pool {
 public:
  // Starts `threads` workers (at least one).
  explicit thread_pool(std::size_t threads = default_size());
  // shutdown(true).
  ~thread_pool();
  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;

  // hardware_concurrency, at least 2.
  static std::size_t default_size() noexcept;

  std::size_t size() const noexcept { return workers_.size(); }

  // Queues fn() and returns the future of its result; an exception thrown
  // by fn is stored in the future. Throws std::runtime_error after shutdown.
  template <class F>
  auto submit(F&& fn) -> future<std::invoke_result_t<std::decay_t<F>&>> {
    using R = std::invoke_result_t<std::decay_t<F>&>;
    promise<R> p;
    future<R> f = p.get_future();
    post(std::make_unique<detail::pool_job_impl<std::decay_t<F>, R>>(std::forward<F>(fn), std::move(p)));
    return f;
  }

  // Executor.map: fn(x) for each x of `inputs`, all submitted at once (each
  // element copied into its job), results returned in input order. Blocks
  // the calling thread; rethrows the first exception in input order (the
  // other calls still run). Never call it from a loop's thread: use
  // `co_await pool.async_map(...)` there.
  template <class F, std::ranges::input_range R>
  auto map(F fn, R&& inputs) {
    auto futures = submit_all(std::move(fn), std::forward<R>(inputs));
    using T = typename decltype(futures)::value_type;
    std::vector<decltype(std::declval<T&>().get())> out;
    out.reserve(futures.size());
    for (auto& f : futures) out.push_back(f.get());
    return out;
  }

  // The awaitable form of map(): submits every call now, and the returned
  // task yields the results in input order. Cancelling the awaiting task
  // stops the wait (cancelled_error); the calls still run to the end.
  //
  //   std::vector<std::size_t> sizes = co_await pool.async_map(file_size, paths);
  template <class F, std::ranges::input_range R>
  auto async_map(F fn, R&& inputs) {
    return detail::collect_in_order(submit_all(std::move(fn), std::forward<R>(inputs)));
  }

  // No new work after this. wait = true: runs what is queued to the end
  // and joins the workers. wait = false: returns at once; the queued work
  // still runs, and the destructor joins. Idempotent.
  void shutdown(bool wait = true);

 private:
  template <class F, class R>
  auto submit_all(F fn, R&& inputs) {
    using Arg = std::ranges::range_value_t<R>;
    using Res = std::invoke_result_t<F&, Arg&>;
    static_assert(!std::is_void_v<Res>, "corio::thread_pool::map: fn must return a value");
    auto shared = std::make_shared<F>(std::move(fn));
    std::vector<future<Res>> futures;
    for (auto&& x : inputs) {
      futures.push_back(submit([shared, arg = Arg(std::forward<decltype(x)>(x))]() mutable -> Res {
        return std::invoke(*shared, arg);
      }));
    }
    return futures;
  }

  void post(std::unique_ptr<detail::pool_job> job);
  void work() noexcept;
  bool on_worker_thread() const noexcept;

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<detail::pool_job>> queue_;  // guarded by mutex_
  bool closed_ = false;                                   // guarded by mutex_
  std::mutex join_mutex_;
  std::vector<std::thread> workers_;
};

// The process-wide pool behind to_thread(): created on first use with
// thread_pool::default_size() workers, shut down (waiting) at exit.
thread_pool& default_thread_pool();

// asyncio.to_thread: runs fn() on the default pool and resumes the awaiting
// task on its own loop with fn's result (or rethrows fn's exception). Lazy:
// fn is submitted when the returned task is awaited (or spawned).
// Cancelling the awaiting task raises cancelled_error in it at once; fn
// cannot be interrupted, runs to its end on the pool, and its result is
// dropped.
//
//   auto text = co_await corio::to_thread([path] { return slurp(path); });
template <class F>
auto to_thread(F fn) -> task<std::invoke_result_t<F&>> {
  co_return co_await default_thread_pool().submit(std::move(fn));
}

}  // namespace corio
