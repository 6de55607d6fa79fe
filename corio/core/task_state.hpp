// SPDX-License-Identifier: MIT
//
// task_state: what the loop knows about one spawned (root) task, asyncio's
// Task object. A task<T> is just a coroutine; spawn() wraps it in a
// task_state, which is what the ready queue holds, what cancel() reaches and
// what join_handle points to.
//
// States (a task moves only forward):
//
//   scheduled ──run──> running ──suspend──> suspended ──wake──> scheduled
//                         │
//                         └──body returns/throws──> done | failed | cancelled
//
// A task is woken exactly once per suspension. Every awaiter that suspends
// follows the same protocol (suspend_point.hpp):
//   1. if a cancel request is pending, do not suspend: deliver it (throw
//      cancelled_error from await_resume);
//   2. otherwise record where to resume and, if the wait can be cancelled, a
//      cancel hook; the hook must end the wait and wake the task;
//   3. whoever ends the wait calls wake().
// The cancel hook belongs to the suspension, not to the task: it is cleared
// when the task runs again, so that an I/O op is never cancelled after it
// completed.
//
// Ownership: the loop holds one reference until the body finished, each
// join_handle holds one; the last release destroys the frame and the state.
// All of this is single-threaded (one loop per thread), so counts are plain.
#pragma once

#include <corio/core/ready_queue.hpp>
#include <corio/core/task.hpp>

#include <coroutine>
#include <cstdint>
#include <exception>
#include <functional>
#include <string>
#include <vector>

namespace corio {

class event_loop;

enum class task_status : std::uint8_t { scheduled, running, suspended, done, failed, cancelled };

// One line of event_loop::all_tasks(): a snapshot, safe to keep.
struct task_info {
  std::uint64_t id;
  std::string name;
  task_status status;
  const char* waiting_on;  // what a suspended task waits for ("read", "join", "sleep"...)
  // Where it is suspended: its await chain, innermost co_await first (the
  // one that names waiting_on), the task's own body last. Empty while it
  // runs and before it first ran.
  std::vector<source_site> awaiting;
};

const char* to_string(task_status s) noexcept;

namespace detail {

class task_state final : public ready_node {
 public:
  using cancel_hook = void (*)(void* ctx) noexcept;
  using exception_fn = std::exception_ptr (*)(std::coroutine_handle<>) noexcept;

  task_state(event_loop& loop, std::coroutine_handle<> body, promise_base& promise, exception_fn exc,
             std::uint64_t id, std::uint64_t spawn_iteration) noexcept;
  task_state(const task_state&) = delete;
  task_state& operator=(const task_state&) = delete;

  static void* operator new(std::size_t size) { return frame_allocate(size); }
  static void operator delete(void* p, std::size_t size) noexcept { frame_deallocate(p, size); }

  // --- used by awaiters (the suspension protocol above) ---

  // True (and the request consumed) if a cancel request is pending: the
  // awaiter must not suspend and must throw cancelled_error.
  bool take_cancel() noexcept {
    if (!cancel_requested_) return false;
    cancel_requested_ = false;
    return true;
  }
  bool cancel_requested() const noexcept { return cancel_requested_; }
  bool cancel_ever_requested() const noexcept { return cancel_ever_requested_; }
  // Consumes the pending cancel request after a wait ended because of it.
  void cancel_delivered() noexcept { cancel_requested_ = false; }

  void suspend(std::coroutine_handle<> resume_at, const char* waiting_on, cancel_hook hook = nullptr,
               void* ctx = nullptr) noexcept {
    resume_ = resume_at;
    waiting_on_ = waiting_on;
    hook_ = hook;
    hook_ctx_ = ctx;
    status_ = task_status::suspended;
  }

  // Makes a suspended task runnable (pushes it on its loop's ready queue).
  void wake() noexcept;

  // --- used by join_handle ---

  // asyncio's Task.cancel(): false if the task already finished.
  bool cancel() noexcept;
  bool finished() const noexcept { return status_ >= task_status::done; }
  task_status status() const noexcept { return status_; }
  const std::string& name() const noexcept { return name_; }
  void set_name(std::string name) { name_ = std::move(name); }
  std::uint64_t id() const noexcept { return id_; }
  const char* waiting_on() const noexcept { return waiting_on_; }
  std::coroutine_handle<> body() const noexcept { return body_; }
  // The body's link of the await chain (await_trace.hpp). Walk it only
  // while the task is not running.
  const await_frame& root_frame() const noexcept { return *root_frame_; }
  // The chain as sites, innermost first; empty while running or not started.
  std::vector<source_site> await_chain() const;
  // The innermost co_await of the chain (where the task will resume), or an
  // empty site. Walks the chain: cheap, but not free.
  source_site resume_site() const noexcept;
  event_loop& loop() const noexcept { return loop_; }
  // The loop iteration (event_loop::stats().iterations) it was spawned in.
  std::uint64_t spawn_iteration() const noexcept { return spawn_iteration_; }
  // Is `n` a task (rather than a callback)?
  static bool is_task(const ready_node* n) noexcept { return n->run == &run_fn; }

  // Runs after the task finished (at once if it already has, through
  // call_soon then, as asyncio does).
  void add_done_callback(std::function<void()> fn);
  // The task waiting in `co_await handle`; woken when this one finishes.
  // False if another task already waits.
  bool set_joiner(task_state* joiner) noexcept {
    if (joiner_) return false;
    joiner_ = joiner;
    return true;
  }

  void add_ref() noexcept { ++refs_; }
  void release() noexcept;
  // The handle was dropped: a later failure is logged instead of kept.
  void detach() noexcept;
  // The failure was seen by someone (awaited or result() called).
  void mark_retrieved() noexcept { retrieved_ = true; }
  // The exception the body ended with (nullptr if none, or not finished).
  std::exception_ptr exception() const noexcept { return finished() ? exception_of_(body_) : nullptr; }

  // Intrusive list of the loop's live tasks (all_tasks()).
  task_state* prev_live = nullptr;
  task_state* next_live = nullptr;

 private:
  friend void on_root_done(task_state*) noexcept;
  static void run_fn(ready_node* n) noexcept;
  void finish() noexcept;
  void report_unretrieved() noexcept;

  event_loop& loop_;
  std::coroutine_handle<> body_;
  std::coroutine_handle<> resume_;
  exception_fn exception_of_;
  const await_frame* root_frame_;
  cancel_hook hook_ = nullptr;
  void* hook_ctx_ = nullptr;
  task_state* joiner_ = nullptr;
  const char* waiting_on_ = nullptr;
  std::vector<std::function<void()>> callbacks_;
  std::string name_;
  std::uint64_t id_;
  std::uint64_t spawn_iteration_;
  std::uint32_t refs_ = 1;
  task_status status_ = task_status::scheduled;
  bool cancel_requested_ = false;
  bool cancel_ever_requested_ = false;
  bool started_ = false;
  bool detached_ = false;
  bool retrieved_ = false;
};

// The task the current thread's loop is running; throws std::logic_error
// when called outside a corio task (awaiting a corio awaitable from a
// coroutine that no event_loop runs).
task_state& current_task();

}  // namespace detail
}  // namespace corio
