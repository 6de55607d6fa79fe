// SPDX-License-Identifier: MIT
//
// join_handle<T>: what spawn() returns, asyncio's Task seen from outside.
//
//   auto h = spawn(fetch(url));     // starts soon, on this loop
//   ...
//   std::string body = co_await h;  // its value, or its exception
//
// The handle shares ownership of the task's state with the loop. Dropping
// it detaches the task: the loop still runs it to the end (and run() cancels
// and drains what is left when main returns), and a failure nobody can see
// any more is logged at error level rather than lost.
//
// Awaiting a handle from a task that gets cancelled cancels the awaited task
// too and keeps waiting for it to finish (asyncio's semantics, so that the
// child's cleanup is never cut off); use shield() to keep a child running.
// A handle is move-only and may be awaited once at a time.
#pragma once

#include <corio/core/error.hpp>
#include <corio/core/task_state.hpp>

#include <stdexcept>
#include <utility>

namespace corio {

template <class T>
class [[nodiscard]] join_handle {
 public:
  join_handle() noexcept = default;
  explicit join_handle(detail::task_state* s) noexcept : s_(s) {}
  join_handle(join_handle&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  join_handle& operator=(join_handle&& o) noexcept {
    if (this != &o) {
      detach();
      s_ = std::exchange(o.s_, nullptr);
    }
    return *this;
  }
  join_handle(const join_handle&) = delete;
  join_handle& operator=(const join_handle&) = delete;
  ~join_handle() { detach(); }

  explicit operator bool() const noexcept { return s_ != nullptr; }

  // Finished, one way or another.
  bool done() const { return state().finished(); }
  // Finished by cancellation.
  bool cancelled() const { return state().status() == task_status::cancelled; }
  task_status status() const { return state().status(); }

  // Requests cancellation: the task sees cancelled_error at its current or
  // next suspension point. Returns false if it had already finished.
  bool cancel() noexcept { return s_ && s_->cancel(); }

  // Calls fn once the task finished (in registration order); if it already
  // has, fn is scheduled with call_soon.
  void add_done_callback(std::function<void()> fn) { state().add_done_callback(std::move(fn)); }

  const std::string& name() const { return state().name(); }
  void set_name(std::string name) { state().set_name(std::move(name)); }
  std::uint64_t id() const { return state().id(); }

  // Another handle to the same task (for a container that keeps one while
  // the caller keeps the other). Only one of them may be awaited at a time.
  join_handle share() const {
    state().add_ref();
    return join_handle(s_);
  }

  // Lets go of the task; it keeps running. The handle becomes empty.
  void detach() noexcept {
    if (auto* s = std::exchange(s_, nullptr)) {
      s->detach();
      s->release();
    }
  }

  // The result of a finished task: its value, or rethrows its exception
  // (cancelled_error if it was cancelled). std::logic_error if not finished.
  // A copyable value is copied, so result() may be read again (as Python's
  // Task.result()); a move-only one is moved out, once. co_await moves.
  T result() {
    if (!done()) throw std::logic_error("corio: result() of a task that has not finished");
    if constexpr (std::is_void_v<T> || std::is_reference_v<T> || !std::is_copy_constructible_v<T>)
      return take();
    else
      return peek();
  }

  auto operator co_await() noexcept { return awaiter{this}; }

  // For corio's own containers of tasks (task_group): the shared state.
  detail::task_state* raw_state() const noexcept { return s_; }

 private:
  struct awaiter {
    join_handle* self;
    bool await_ready() const { return self->state().finished(); }
    bool await_suspend(std::coroutine_handle<> h) {
      detail::task_state& me = detail::current_task();
      if (me.take_cancel()) {
        cancelled_ = true;
        return false;
      }
      if (!self->s_->set_joiner(&me))
        throw std::logic_error("corio: a task awaited by two tasks at once (one join_handle each)");
      me.suspend(h, "join", &on_cancel, self->s_);
      return true;
    }
    T await_resume() {
      if (cancelled_) throw cancelled_error();
      // The child's cancellation is also the answer to ours, if we had one.
      if (self->s_->status() == task_status::cancelled) detail::current_task().cancel_delivered();
      return self->take();
    }
    // The joiner was cancelled: pass it on and keep waiting for the child.
    static void on_cancel(void* child) noexcept { static_cast<detail::task_state*>(child)->cancel(); }
    bool cancelled_ = false;
  };

  detail::task_state& state() const {
    if (!s_) throw std::logic_error("corio: use of an empty join_handle");
    return *s_;
  }

  T take() {
    detail::task_state& s = state();
    s.mark_retrieved();
    if (s.status() == task_status::cancelled) throw cancelled_error();
    auto h = std::coroutine_handle<detail::task_promise<T>>::from_address(s.body().address());
    if constexpr (std::is_void_v<T>)
      h.promise().result();
    else
      return std::move(h.promise()).result();
  }

  T peek() {
    detail::task_state& s = state();
    s.mark_retrieved();
    if (s.status() == task_status::cancelled) throw cancelled_error();
    return std::coroutine_handle<detail::task_promise<T>>::from_address(s.body().address()).promise().result();
  }

  detail::task_state* s_ = nullptr;
};

}  // namespace corio
