// SPDX-License-Identifier: MIT
//
// The time API, built on the loop's timer wheel (corio/timers):
//
//   co_await corio::sleep(250ms);                 // asyncio.sleep
//   co_await corio::sleep_until(deadline);
//   auto h = corio::call_later(1s, [] { ... });   // loop.call_later; h.cancel()
//   auto n = co_await corio::timeout(2s, stream.read(buf));   // asyncio.wait_for
//   auto v = co_await corio::wait_for(handle, 5s);
//
// Every wait here is a cancellation point and allocates nothing but what
// its caller's frame already holds (the timer node lives in the awaiter);
// call_later allocates one node from the frame allocator.
//
// timeout() is asyncio.timeout's design: when the deadline passes, the
// timer cancels the *current task*; the awaited operation unwinds the way
// any cancellation does (an I/O op is removed from the backend, a joined
// task is cancelled and waited for), and timeout() turns the resulting
// cancelled_error into timeout_error. So a timed-out read is never
// half-done: either it completed (and its bytes are returned) or it never
// took any. If the deadline passes while the task is not suspended and the
// operation completes anyway, the pending request is withdrawn when the
// scope exits, so it cannot hit a later, unrelated await.
#pragma once

#include <corio/core/error.hpp>
#include <corio/core/event_loop.hpp>
#include <corio/core/task.hpp>

#include <chrono>
#include <concepts>
#include <string>
#include <utility>

namespace corio {

// --- sleep -------------------------------------------------------------------

class sleep_awaiter : private timer_node {
 public:
  explicit sleep_awaiter(time_point deadline) noexcept : deadline_(deadline) {}
  sleep_awaiter(const sleep_awaiter& o) noexcept : timer_node(), deadline_(o.deadline_) {}

  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) {
    detail::task_state& t = detail::current_task();
    if (t.take_cancel()) {
      cancelled_ = true;
      return false;
    }
    task_ = &t;
    fire = &on_fire;
    if (deadline_ <= t.loop().now()) {
      // Already due: one trip through the ready queue (asyncio's sleep(0)).
      t.suspend(h, "sleep");
      t.wake();
      return true;
    }
    t.loop().add_timer(*this, deadline_);
    t.suspend(h, "sleep", &on_cancel, this);
    return true;
  }
  void await_resume() const {
    if (cancelled_) {
      if (task_) task_->cancel_delivered();
      throw cancelled_error();
    }
  }

 private:
  static void on_fire(timer_node* n) noexcept { static_cast<sleep_awaiter*>(n)->task_->wake(); }
  static void on_cancel(void* p) noexcept {
    auto* self = static_cast<sleep_awaiter*>(p);
    self->task_->loop().cancel_timer(*self);
    self->cancelled_ = true;
    self->task_->wake();
  }

  time_point deadline_;
  detail::task_state* task_ = nullptr;
  bool cancelled_ = false;
};

// Suspends the task until `deadline` (never earlier; at most one timer tick
// later when the loop is not busy). A deadline in the past yields once.
// Throws cancelled_error if the task is cancelled meanwhile.
inline sleep_awaiter sleep_until(time_point deadline) { return sleep_awaiter(deadline); }

// Suspends the task for `d` on the loop's clock. sleep(0) yields once.
template <class Rep, class Period>
sleep_awaiter sleep(std::chrono::duration<Rep, Period> d) {
  event_loop& loop = current_loop();
  return sleep_awaiter(loop.now() + std::chrono::duration_cast<clock_duration>(d));
}

// --- call_later ----------------------------------------------------------------

namespace detail {
struct callback_timer;
}

// The handle of a call_later/call_at callback (asyncio's TimerHandle).
// Dropping it does not cancel the callback.
class timer_handle {
 public:
  timer_handle() noexcept = default;
  explicit timer_handle(detail::callback_timer* t) noexcept : t_(t) {}
  timer_handle(timer_handle&& o) noexcept : t_(std::exchange(o.t_, nullptr)) {}
  timer_handle& operator=(timer_handle&& o) noexcept;
  ~timer_handle();

  // Stops the callback from running; false if it already ran or was cancelled.
  bool cancel() noexcept;
  // True while the callback is still due to run.
  bool pending() const noexcept;

 private:
  detail::callback_timer* t_ = nullptr;
};

namespace detail {
timer_handle schedule_callback(event_loop& loop, time_point when, std::function<void()> fn);
}

// Runs fn on the current loop once `when` has passed.
inline timer_handle call_at(time_point when, std::function<void()> fn) {
  return detail::schedule_callback(current_loop(), when, std::move(fn));
}
// Runs fn on the current loop after `d`.
template <class Rep, class Period>
timer_handle call_later(std::chrono::duration<Rep, Period> d, std::function<void()> fn) {
  event_loop& loop = current_loop();
  return detail::schedule_callback(loop, loop.now() + std::chrono::duration_cast<clock_duration>(d), std::move(fn));
}

// --- timeout -------------------------------------------------------------------

namespace detail {

template <class A>
decltype(auto) get_awaiter(A&& a) {
  if constexpr (requires { static_cast<A&&>(a).operator co_await(); })
    return static_cast<A&&>(a).operator co_await();
  else
    return static_cast<A&&>(a);
}

template <class A>
using await_result_t = decltype(get_awaiter(std::declval<A>()).await_resume());

// Arms a timer that cancels `task` at `deadline`; withdraws what it did on
// destruction. Lives in timeout()'s frame.
class deadline_guard : private timer_node {
 public:
  deadline_guard(task_state& task, time_point deadline) noexcept : task_(task) {
    fire = &on_fire;
    task.loop().add_timer(*this, deadline);
  }
  deadline_guard(const deadline_guard&) = delete;
  deadline_guard& operator=(const deadline_guard&) = delete;
  ~deadline_guard() {
    if (linked()) task_.loop().cancel_timer(*this);
    // Fired but the operation finished first: the request we made is not
    // for whatever the task awaits next.
    if (fired_ && !delivered_ && !external_) task_.cancel_delivered();
  }
  bool fired() const noexcept { return fired_; }
  // Called when our cancellation surfaced as cancelled_error.
  void mark_delivered() noexcept { delivered_ = true; }
  bool external() const noexcept { return external_; }

 private:
  static void on_fire(timer_node* n) noexcept {
    auto* self = static_cast<deadline_guard*>(n);
    self->fired_ = true;
    // Someone else already asked: theirs wins, we do not own that request.
    self->external_ = self->task_.cancel_requested();
    if (!self->external_) self->task_.cancel();
  }

  task_state& task_;
  bool fired_ = false;
  bool delivered_ = false;
  bool external_ = false;
};

template <class A>
task<await_result_t<A>> timeout_at_impl(time_point deadline, A aw, std::string what) {
  deadline_guard guard(current_task(), deadline);
  bool timed_out = false;
  try {
    co_return co_await static_cast<A&&>(aw);
  } catch (const cancelled_error&) {
    if (!guard.fired() || guard.external()) throw;
    guard.mark_delivered();
    timed_out = true;
  }
  // Outside the handler: the frame may not co_await or co_return from inside it in
  // every compiler, and the exception object is gone by now.
  if (timed_out) throw timeout_error(what.empty() ? "corio: timed out" : "corio: " + what + " timed out");
  throw std::logic_error("corio: unreachable");
}

}  // namespace detail

// Awaits `aw` (a task, a join_handle, an I/O operation...) for at most `d`.
// On expiry the operation is cancelled cleanly and timeout_error is thrown;
// `what` names it in the message ("read", "connect to example.com:80").
// Cancelling the task while it waits raises cancelled_error as usual.
//
//   std::size_t n = co_await corio::timeout(5s, corio::io::read(fd, buf), "read");
template <class A, class Rep, class Period>
auto timeout(std::chrono::duration<Rep, Period> d, A&& aw, std::string what = {}) {
  event_loop& loop = current_loop();
  return detail::timeout_at_impl<A>(loop.now() + std::chrono::duration_cast<clock_duration>(d), std::forward<A>(aw),
                                    std::move(what));
}
template <class A>
auto timeout_at(time_point deadline, A&& aw, std::string what = {}) {
  return detail::timeout_at_impl<A>(deadline, std::forward<A>(aw), std::move(what));
}

// asyncio.wait_for(task, d): waits for a spawned task for at most d; on
// expiry cancels it, waits for it to finish unwinding, throws timeout_error.
template <class T, class Rep, class Period>
auto wait_for(join_handle<T>& h, std::chrono::duration<Rep, Period> d) {
  return timeout(d, h, "wait_for");
}

}  // namespace corio
