// SPDX-License-Identifier: MIT
//
// future<T> / promise<T>: a value that arrives later, set once.
//
// The bridge between corio and code that is not a corio task: a plain
// thread can wait for a result with get(), a task can co_await it, and
// either side may be the one that sets it. The shared state is therefore
// guarded by a mutex (the loop's own primitives in the toolkit need none).
//
//   corio::promise<int> p;
//   auto f = p.get_future();
//   std::thread([p = std::move(p)]() mutable { p.set_value(42); }).detach();
//   int v = co_await f;                 // or f.get() from a plain thread
//
// A task awaiting a future is woken on its own loop: directly when the
// value is set on that loop's thread, through call_soon_threadsafe when it
// is set elsewhere. Cancelling the awaiting task stops the wait (the future
// stays valid). The value is retrieved once (get() or co_await moves it
// out, so move-only types work). Setting twice throws std::logic_error; a promise destroyed
// without a value leaves broken_promise in its future. Done callbacks run on
// the thread that sets the value, in registration order (at once if the
// value is already there).
#pragma once

#include <corio/core/error.hpp>
#include <corio/core/event_loop.hpp>

#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <vector>

namespace corio {

// The promise was destroyed without a value.
class broken_promise : public error {
 public:
  broken_promise() : error("corio: promise destroyed without a value") {}
};

namespace detail {

template <class T>
struct future_state {
  using stored = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

  std::mutex mutex;
  std::condition_variable cv;
  std::optional<stored> value;
  std::exception_ptr error;
  bool ready = false;
  bool retrieved = false;
  task_state* waiter = nullptr;  // a suspended task, woken on its loop
  std::vector<std::function<void()>> callbacks;

  template <class... A>
  void complete(std::exception_ptr e, A&&... v) {
    task_state* w;
    std::vector<std::function<void()>> cbs;
    {
      std::lock_guard lock(mutex);
      if (ready) throw std::logic_error("corio: promise already satisfied");
      if (e)
        error = std::move(e);
      else
        value.emplace(std::forward<A>(v)...);
      ready = true;
      w = std::exchange(waiter, nullptr);
      cbs = std::move(callbacks);
    }
    cv.notify_all();
    if (w) {
      event_loop& loop = w->loop();
      if (event_loop::current() == &loop)
        w->wake();
      else
        loop.call_soon_threadsafe([w] { w->wake(); });
    }
    for (auto& cb : cbs) cb();
  }
};

}  // namespace detail

template <class T>
class future {
 public:
  future() = default;
  explicit future(std::shared_ptr<detail::future_state<T>> s) : s_(std::move(s)) {}

  bool valid() const noexcept { return s_ != nullptr; }
  bool done() const {
    std::lock_guard lock(state().mutex);
    return s_->ready;
  }

  // Blocks the calling thread until the value is set; returns or rethrows.
  // Never call it from a loop's thread for a value that loop must produce.
  T get() {
    auto& s = state();
    std::unique_lock lock(s.mutex);
    s.cv.wait(lock, [&] { return s.ready; });
    return take(lock);
  }

  void add_done_callback(std::function<void()> fn) {
    auto& s = state();
    {
      std::lock_guard lock(s.mutex);
      if (!s.ready) {
        s.callbacks.push_back(std::move(fn));
        return;
      }
    }
    fn();
  }

  auto operator co_await() noexcept { return awaiter{this}; }

 private:
  struct awaiter {
    future* self;
    bool cancelled_ = false;

    bool await_ready() const { return self->done(); }
    bool await_suspend(std::coroutine_handle<> h) {
      detail::task_state& me = detail::current_task();
      if (me.take_cancel()) {
        cancelled_ = true;
        return false;
      }
      auto& s = self->state();
      std::lock_guard lock(s.mutex);
      if (s.ready) return false;
      if (s.waiter) throw std::logic_error("corio: a future awaited by two tasks at once");
      s.waiter = &me;
      me.suspend(h, "future", &on_cancel, this);
      return true;
    }
    T await_resume() {
      if (cancelled_) throw cancelled_error();
      auto& s = self->state();
      std::unique_lock lock(s.mutex);
      if (!s.ready) {
        // Woken by on_cancel: the value has not come.
        detail::current_task().cancel_delivered();
        throw cancelled_error();
      }
      return self->take(lock);
    }
    static void on_cancel(void* p) noexcept {
      auto* a = static_cast<awaiter*>(p);
      auto& s = *a->self->s_;
      detail::task_state* w;
      {
        std::lock_guard lock(s.mutex);
        // Already taken by the setter: its wake is on the way.
        w = std::exchange(s.waiter, nullptr);
      }
      if (w) w->wake();
    }
  };

  detail::future_state<T>& state() const {
    if (!s_) throw std::logic_error("corio: use of an invalid future");
    return *s_;
  }

  // The value is moved out (so move-only types travel), hence retrieved
  // once, as with std::future; an exception may be rethrown any number of times.
  T take(std::unique_lock<std::mutex>&) {
    if (s_->error) std::rethrow_exception(s_->error);
    if (s_->retrieved) throw std::logic_error("corio: future value already retrieved");
    s_->retrieved = true;
    if constexpr (!std::is_void_v<T>) return std::move(*s_->value);
  }

  std::shared_ptr<detail::future_state<T>> s_;
};

template <class T>
class promise {
 public:
  promise() : s_(std::make_shared<detail::future_state<T>>()) {}
  promise(promise&&) noexcept = default;
  promise& operator=(promise&& o) noexcept {
    if (this != &o) {
      abandon();
      s_ = std::move(o.s_);
    }
    return *this;
  }
  ~promise() { abandon(); }

  // The future for this promise; may be called more than once (each
  // future shares the state, but only one task may await at a time).
  future<T> get_future() const { return future<T>(s_); }

  template <class... A>
    requires std::is_constructible_v<typename detail::future_state<T>::stored, A&&...>
  void set_value(A&&... v) {
    state().complete(nullptr, std::forward<A>(v)...);
  }
  void set_exception(std::exception_ptr e) {
    if (!e) throw std::invalid_argument("corio: set_exception(nullptr)");
    state().complete(std::move(e));
  }

 private:
  detail::future_state<T>& state() const {
    if (!s_) throw std::logic_error("corio: use of a moved-from promise");
    return *s_;
  }
  void abandon() noexcept {
    if (!s_) return;
    bool ready;
    {
      std::lock_guard lock(s_->mutex);
      ready = s_->ready;
    }
    if (!ready) {
      try {
        s_->complete(std::make_exception_ptr(broken_promise()));
      } catch (...) {
      }
    }
    s_.reset();
  }

  std::shared_ptr<detail::future_state<T>> s_;
};

}  // namespace corio
