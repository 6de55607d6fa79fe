// SPDX-License-Identifier: MIT
//
// runtime: n event loops on n threads, thread-per-core (Seastar's shards,
// the answer to asyncio's "use a ProcessPoolExecutor to use all cores").
//
//   corio::runtime rt(4);                          // 4 threads, 4 loops
//   rt.run([](std::size_t i) -> corio::task<void> {
//     // on loop i's thread: open this loop's SO_REUSEPORT listener, serve
//     co_await serve_forever(i);
//   });                                            // returns when every main finished
//
//   rt.stop();                                     // from any thread: cancels every main
//
// Approach: nothing is shared between the loops. Each thread makes its own
// event_loop (own backend, timer wheel, ready queue and frame allocator) and
// keeps it for the runtime's life; a server scales by opening one
// SO_REUSEPORT listener per loop, and the kernel spreads the connections.
// The one way between loops is call_on(i, fn), which is the target loop's
// call_soon_threadsafe. A single shared loop with a thread pool running its
// tasks (Tokio's multi-threaded scheduler) was rejected: corio's tasks,
// primitives and frame allocator are single-threaded by design.
//
// run(factory) calls factory(i) on loop i's thread and runs the task it
// returns as that loop's main, as corio::run() does: when the main returns,
// the loop's other tasks are cancelled and drained. run() returns once every
// loop has finished. If one main fails, the others are stopped (their mains
// cancelled), and after all have finished run() rethrows the failure (the
// lowest loop index first, if several failed).
//
// stop() (any thread, any time): cancels every loop's main task; run() then
// returns normally once they have unwound (their cancelled_error is the
// expected outcome, not a failure). Like asyncio's loop.stop() before
// run_forever(), a stop() while no run() is in progress makes the next run()
// cancel its mains at once; the request is cleared when run() returns.
//
// Pinning (runtime_options::pin, Linux): thread i is bound to the i-th CPU
// of the process's affinity mask (modulo its size), with sched_setaffinity.
// Elsewhere, or if the call fails, the threads float (logged once at warn).
//
// The loops are made on their threads by the constructor and closed by the
// destructor, which must not run on one of them.
#pragma once

#include <corio/core/event_loop.hpp>
#include <corio/core/task.hpp>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

namespace corio {

struct runtime_options {
  // Bind thread i to one CPU (see above).
  bool pin = false;
  // Options of every loop. A clock given here is shared by all loops, so it
  // must be safe to read from several threads (the real clock is).
  loop_options loop{};
};

class runtime {
 public:
  using main_factory = std::function<task<void>(std::size_t index)>;

  // Starts `threads` threads (at least one), each with its own loop, idle
  // until run(). Rethrows the first loop's construction failure.
  explicit runtime(std::size_t threads = default_size(), runtime_options options = {});
  // Stops what runs, closes the loops on their threads and joins them.
  ~runtime();
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  // hardware_concurrency, at least 1.
  static std::size_t default_size() noexcept;
  std::size_t size() const noexcept { return workers_.size(); }

  // Runs factory(i) as the main task of loop i, for every i, in parallel;
  // blocks until all have finished; rethrows a main's failure (see above).
  // factory is called concurrently from the n threads.
  // std::logic_error if called from a runtime thread or while another
  // run() is in progress.
  void run(main_factory factory);

  // Cancels every loop's main task (see above). Any thread; never blocks.
  void stop() noexcept;
  bool stop_requested() const noexcept { return stop_requested_.load(); }

  // Runs fn() on loop i's thread, soon (its call_soon_threadsafe). Valid
  // while the runtime exists, in or out of run(); while no run() is in
  // progress fn waits for the next one (or for the destructor, which runs
  // what is still queued as the loops close).
  template <class F>
  void call_on(std::size_t i, F&& fn) {
    loop(i).call_soon_threadsafe(std::forward<F>(fn));
  }

  // Loop i. Use it from other threads only through call_soon_threadsafe.
  event_loop& loop(std::size_t i) const {
    if (i >= workers_.size()) throw std::out_of_range("corio: runtime::loop index out of range");
    return *workers_[i].loop;
  }

  // The index of the runtime loop running on this thread, or size() when
  // called from a thread that is not one of this runtime's.
  std::size_t current_index() const noexcept;

 private:
  struct worker {
    std::thread thread;
    event_loop* loop = nullptr;  // set once by its thread before the constructor returns
  };

  void worker_main(std::size_t i, std::vector<int> cpus) noexcept;
  std::exception_ptr run_main(event_loop& loop, std::size_t i, const main_factory& factory) noexcept;
  void wake_all() noexcept;

  runtime_options options_;
  std::vector<worker> workers_;
  std::atomic<bool> stop_requested_{false};

  std::mutex mutex_;
  std::condition_variable cv_;
  // All guarded by mutex_.
  std::size_t started_ = 0;
  std::exception_ptr start_error_;
  const main_factory* factory_ = nullptr;
  std::uint64_t generation_ = 0;
  std::size_t remaining_ = 0;
  std::vector<std::exception_ptr> errors_;
  bool running_ = false;
  bool quit_ = false;
};

}  // namespace corio
