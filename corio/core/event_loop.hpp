// SPDX-License-Identifier: MIT
//
// event_loop: asyncio's loop for one thread. It schedules; the backend does
// the I/O (backend.hpp) and, from the timers issue on, the wheel keeps time.
//
// One iteration (run_once):
//   1. move callbacks posted from other threads onto the ready queue;
//   2. run what was ready when the iteration began (what those runs make
//      ready waits for the next iteration, so a task that yields in a loop
//      cannot starve I/O: asyncio's rule);
//   3. poll the backend: without blocking if something is ready, else until
//      a completion, a wake() or the next timer.
// While tasks keep each other busy, step 3 runs only every
// `io_poll_interval` iterations (Tokio's event_interval), so that a ping-pong
// between two tasks does not pay one epoll_wait per hop.
//
// Threads: a loop belongs to the thread that made it. call_soon_threadsafe()
// (and wake()) are the only ways in from another thread; other calls from a
// foreign thread throw std::logic_error in debug builds. current() is the
// loop of the calling thread.
//
// Observability: stats() is a handful of plain counters kept as the loop
// runs. Time is split at phase boundaries with one read of the real steady
// clock per phase (at the start of each run of the ready tasks and before
// each backend poll), never per task: the interval from one mark to the
// next is charged to the phase that began at the first. The stall detector times each
// resume or callback with two clock reads, only when stall_threshold is set
// (the default in debug builds only), so a release loop pays nothing.
#pragma once

#include <corio/core/backend.hpp>
#include <corio/core/clock.hpp>
#include <corio/core/join_handle.hpp>
#include <corio/core/ready_queue.hpp>
#include <corio/core/task.hpp>
#include <corio/core/task_state.hpp>
#include <corio/timers/timer_wheel.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace corio {

struct loop_options {
  // "auto", "epoll", "uring", "kqueue"; empty = CORIO_BACKEND, else auto.
  std::string backend{};
  // Where the loop reads time; nullptr = the real steady clock. Must
  // outlive the loop. See clock.hpp for manual and auto-jumping clocks.
  clock_source* clock = nullptr;
  // The timer wheel's resolution: timers fire at most one tick late.
  clock_duration tick = std::chrono::milliseconds(1);
  // When set, one resume or callback running longer than this logs a
  // warning (naming the task, the co_await it resumed from and the one it
  // suspended at next) and counts in stats().stalls. Measured with the
  // real steady clock.
#ifdef NDEBUG
  std::optional<clock_duration> stall_threshold{};
#else
  std::optional<clock_duration> stall_threshold{std::chrono::milliseconds(100)};
#endif
};

// event_loop::stats(): cheap counters, read at any time on the loop's thread.
struct loop_stats {
  std::uint64_t iterations = 0;       // runs of the ready tasks
  std::size_t tasks_alive = 0;        // spawned and not finished
  std::uint64_t tasks_created = 0;    // spawned since the loop was made
  std::uint64_t tasks_cancelled = 0;  // finished as cancelled
  std::size_t ready_depth = 0;        // nodes on the ready queue now
  std::size_t timers_alive = 0;       // armed timers (the wheel's size)
  std::uint64_t stalls = 0;           // runs over stall_threshold
  std::chrono::nanoseconds time_polling{0};  // in the backend's poll (and timer firing after it)
  std::chrono::nanoseconds time_running{0};  // running ready tasks and callbacks
};

namespace detail {
// Something the loop must release when it closes (a call_later node still
// armed, for instance). Registered with event_loop::track().
struct loop_resource {
  virtual void on_loop_close() noexcept = 0;
  loop_resource* prev_resource = nullptr;
  loop_resource* next_resource = nullptr;

 protected:
  ~loop_resource() = default;
};
}  // namespace detail

class event_loop {
 public:
  explicit event_loop(loop_options options = {});
  ~event_loop();
  event_loop(const event_loop&) = delete;
  event_loop& operator=(const event_loop&) = delete;

  // The loop made on this thread (the innermost if several), or nullptr.
  static event_loop* current() noexcept;

  // Starts `t` soon on this loop and returns its handle (asyncio's
  // create_task). The name shows in all_tasks() and in error logs.
  template <class T>
  join_handle<T> spawn(task<T> t, std::string name = {});

  // Runs fn on the loop soon, in order with other call_soon calls.
  template <class F>
  void call_soon(F&& fn);
  // The same, from any thread; wakes the loop if it sleeps in poll.
  template <class F>
  void call_soon_threadsafe(F&& fn);

  // Runs `t` to completion and returns its value or rethrows its exception.
  // Other tasks run meanwhile and are left as they are when it finishes.
  // Throws std::logic_error if stop() ends the loop first.
  template <class T>
  T run_until_complete(task<T> t);
  // Runs until stop().
  void run_forever();
  // Makes run_forever / run_until_complete return after this iteration.
  void stop() noexcept { stop_requested_ = true; }
  // Runs until done() is true (checked between running the ready tasks and
  // polling, so the loop never sleeps once done() holds) or stop().
  template <class Pred>
  void run_until(Pred done);
  // One iteration; see the top of this file.
  void run_once();
  // Cancels every live task and runs the loop until all have finished.
  void cancel_all_and_drain();
  // Drains what is left (cancel_all_and_drain), then releases the backend.
  // The loop cannot run again. Idempotent; the destructor calls it.
  void close();

  bool is_running() const noexcept { return running_; }
  bool is_closed() const noexcept { return closed_; }

  std::vector<task_info> all_tasks() const;
  std::size_t live_tasks() const noexcept { return live_count_; }
  loop_stats stats() const noexcept;
  // Prints each live task: id, name, state, age (in loop iterations since
  // it was spawned), what it waits on, and its await chain (innermost
  // co_await first, as a debugger's backtrace; await_trace.hpp):
  //
  //   task 7 'fetch' suspended, age 12 iteration(s), waiting on read
  //     #0 read_some at corio/net/tcp.cpp:210
  //     #1 fetch at downloader.cpp:48
  //     #2 amain at downloader.cpp:97
  //
  // The running task (when called from inside one) shows no chain.
  void dump_tasks(std::FILE* out = stderr) const;

  corio::backend& io() noexcept { return *backend_; }

  // The loop's idea of now (its clock's).
  time_point now() const noexcept { return clock_->now(); }
  clock_source& clock() const noexcept { return *clock_; }
  // Timers (time.hpp builds sleep, call_later and timeouts on these):
  // arms `n` to fire once `deadline` has passed, never earlier.
  void add_timer(timer_node& n, time_point deadline) noexcept { wheel_.insert(n, tick_for(deadline)); }
  void cancel_timer(timer_node& n) noexcept { wheel_.cancel(n); }
  std::size_t live_timers() const noexcept { return wheel_.size(); }
  void track(detail::loop_resource& r) noexcept;
  void untrack(detail::loop_resource& r) noexcept;
  // Not for users: the suspension protocol (task_state.hpp) and wakers.
  void schedule(detail::ready_node& n) noexcept {
    ready_.push(&n);
    ++ready_depth_;
  }
  detail::task_state* running_task() const noexcept { return running_task_; }

  static constexpr int io_poll_interval = 61;

 private:
  friend class detail::task_state;

  template <class F>
  struct callback_node final : detail::ready_node {
    template <class G>
    explicit callback_node(G&& g) : ready_node(&run), fn(std::forward<G>(g)) {}
    static void run(ready_node* n) noexcept {
      auto* self = static_cast<callback_node*>(n);
      invoke_guarded(self->fn);
      delete self;
    }
    static void* operator new(std::size_t size) { return detail::frame_allocate(size); }
    static void operator delete(void* p, std::size_t size) noexcept { detail::frame_deallocate(p, size); }
    F fn;
  };

  template <class F>
  static void invoke_guarded(F& fn) noexcept {
    try {
      fn();
    } catch (...) {
      report_callback_error(std::current_exception());
    }
  }
  static void report_callback_error(std::exception_ptr e) noexcept;

  detail::task_state* adopt(std::coroutine_handle<> body, detail::promise_base& p,
                            detail::task_state::exception_fn exc, std::string name);
  void link_live(detail::task_state& t) noexcept;
  void unlink_live(detail::task_state& t) noexcept;
  void check_thread(const char* what) const;
  void post_threadsafe(detail::ready_node* n);
  void take_threadsafe() noexcept;
  void run_ready() noexcept;
  void run_batch_timed(detail::ready_queue& batch) noexcept;
  void report_stall(std::uint64_t id, source_site from, clock_duration took) const noexcept;
  void mark_phase(bool polling) noexcept;
  void end_phases() noexcept;
  void poll_io();
  std::optional<clock_duration> timer_timeout() const noexcept;
  void fire_timers() noexcept;
  std::uint64_t tick_for(time_point deadline) const noexcept;

  std::unique_ptr<corio::backend> backend_;
  clock_source* clock_;
  clock_duration tick_;
  time_point epoch_;
  timer_wheel wheel_;
  detail::ready_queue ready_;
  detail::task_state* running_task_ = nullptr;
  detail::task_state* live_head_ = nullptr;
  detail::loop_resource* resources_ = nullptr;
  std::size_t live_count_ = 0;
  std::uint64_t next_task_id_ = 1;
  int iterations_since_poll_ = 0;
  // stats()
  std::uint64_t iterations_ = 0;
  std::uint64_t tasks_cancelled_ = 0;
  std::uint64_t stalls_ = 0;
  std::size_t ready_depth_ = 0;
  std::size_t remote_depth_ = 0;  // guarded by remote_mutex_
  std::chrono::steady_clock::time_point phase_mark_{};  // epoch = no phase open
  bool phase_polling_ = false;
  std::chrono::nanoseconds time_polling_{0};
  std::chrono::nanoseconds time_running_{0};
  std::optional<clock_duration> stall_threshold_;
  bool running_ = false;
  bool stop_requested_ = false;
  bool closed_ = false;
  std::thread::id owner_;
  event_loop* previous_ = nullptr;

  std::mutex remote_mutex_;
  detail::ready_queue remote_;  // guarded by remote_mutex_
};

// The loop of this thread; throws std::logic_error if there is none.
event_loop& current_loop();

// spawn() on the current thread's loop.
template <class T>
join_handle<T> spawn(task<T> t, std::string name = {}) {
  return current_loop().spawn(std::move(t), std::move(name));
}

// co_await yield_now(): lets every other ready task run once, then resumes
// (asyncio's `await asyncio.sleep(0)`). A cancellation point.
struct yield_now {
  bool cancelled_ = false;
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) {
    detail::task_state& t = detail::current_task();
    if (t.take_cancel()) {
      cancelled_ = true;
      return false;
    }
    t.suspend(h, "yield");
    t.wake();
    return true;
  }
  void await_resume() const {
    if (cancelled_) throw cancelled_error();
  }
};

// ---------------------------------------------------------------------------

template <class T>
join_handle<T> event_loop::spawn(task<T> t, std::string name) {
  if (!t) throw std::invalid_argument("corio: spawn() of an empty task");
  check_thread("spawn");
  auto h = t.handle();
  auto exc = [](std::coroutine_handle<> body) noexcept {
    return std::coroutine_handle<detail::task_promise<T>>::from_address(body.address()).promise().exception();
  };
  detail::task_state* s = adopt(h, h.promise(), exc, std::move(name));
  t.release();
  return join_handle<T>(s);
}

template <class F>
void event_loop::call_soon(F&& fn) {
#ifndef NDEBUG
  check_thread("call_soon");
#endif
  ready_.push(new callback_node<std::decay_t<F>>(std::forward<F>(fn)));
  ++ready_depth_;
}

template <class F>
void event_loop::call_soon_threadsafe(F&& fn) {
  post_threadsafe(new callback_node<std::decay_t<F>>(std::forward<F>(fn)));
}

template <class Pred>
void event_loop::run_until(Pred done) {
  check_thread("run");
  if (closed_) throw std::logic_error("corio: the event loop is closed");
  if (running_) throw std::logic_error("corio: the event loop is already running");
  running_ = true;
  stop_requested_ = false;
  struct reset {
    event_loop* l;
    ~reset() {
      l->running_ = false;
      l->end_phases();
    }
  } guard{this};
  while (!done() && !stop_requested_) {
    run_ready();
    if (done() || stop_requested_) break;
    poll_io();
  }
}

template <class T>
T event_loop::run_until_complete(task<T> t) {
  join_handle<T> h = spawn(std::move(t), "main");
  run_until([&] { return h.done(); });
  if (!h.done()) throw std::logic_error("corio: event loop stopped before the task completed");
  return h.result();
}

}  // namespace corio
