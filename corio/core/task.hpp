// SPDX-License-Identifier: MIT
//
// task<T>: the coroutine type of corio, asyncio's `async def`.
//
// A task is lazy: calling a coroutine function allocates its frame and
// returns a task that has not started. It starts when awaited
// (`co_await child()`, which transfers control to it symmetrically, so a
// chain of awaits uses no stack and no scheduler round trip) or when handed to
// spawn() (spawn.hpp), which makes it a root task that the loop runs.
//
// States of a task's promise, as kept in `result_` (cppcoro's way):
//   monostate      not finished (or never started)
//   T / T* / -     finished with a value (T& is stored as a pointer)
//   exception_ptr  finished by throwing; rethrown by the awaiter
//
// The frame belongs to the task object: moving the task moves ownership,
// destroying it destroys the frame (whether or not the body ran). Frames come
// from the per-thread recycling allocator (frame_allocator.hpp).
//
// When the body finishes, final_suspend transfers to the awaiting coroutine
// (the continuation), or, for a root task, tells its task_state that the body
// is done; a root has no continuation.
//
// Every co_await in a task records its source site and the awaited task's
// frame (await_trace.hpp), so that a suspended task's chain of awaits can be
// printed (event_loop::dump_tasks()).
#pragma once

#include <corio/core/await_trace.hpp>
#include <corio/core/frame_allocator.hpp>

#include <coroutine>
#include <exception>
#include <type_traits>
#include <utility>
#include <variant>

namespace corio {

template <class T = void>
class task;

namespace detail {

class task_state;
void on_root_done(task_state* root) noexcept;

class promise_base : public traced_promise {
 public:
  struct final_awaiter {
    bool await_ready() const noexcept { return false; }
    template <class Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> h) noexcept {
      promise_base& p = h.promise();
      if (p.continuation_) return p.continuation_;
      if (p.root_) on_root_done(p.root_);
      return std::noop_coroutine();
    }
    void await_resume() const noexcept {}
  };

  std::suspend_always initial_suspend() const noexcept { return {}; }
  final_awaiter final_suspend() const noexcept { return {}; }

  static void* operator new(std::size_t size) { return frame_allocate(size); }
  static void operator delete(void* p, std::size_t size) noexcept { frame_deallocate(p, size); }

  void set_continuation(std::coroutine_handle<> h) noexcept { continuation_ = h; }
  void set_root(task_state* root) noexcept { root_ = root; }

 private:
  std::coroutine_handle<> continuation_;
  task_state* root_ = nullptr;
};

template <class T>
class task_promise final : public promise_base {
  using stored = std::conditional_t<std::is_reference_v<T>, std::remove_reference_t<T>*, T>;

 public:
  task<T> get_return_object() noexcept;

  template <class U = T>
    requires std::is_convertible_v<U&&, T>
  void return_value(U&& v) noexcept(std::is_nothrow_constructible_v<stored, U&&>) {
    if constexpr (std::is_reference_v<T>) {
      T ref = static_cast<U&&>(v);
      result_.template emplace<1>(std::addressof(ref));
    } else {
      result_.template emplace<1>(std::forward<U>(v));
    }
  }
  void unhandled_exception() noexcept { result_.template emplace<2>(std::current_exception()); }

  bool has_exception() const noexcept { return result_.index() == 2; }
  std::exception_ptr exception() const noexcept {
    return result_.index() == 2 ? std::get<2>(result_) : nullptr;
  }

  // Returns the value or rethrows; an rvalue result moves the value out.
  T result() & {
    rethrow_if_failed();
    if constexpr (std::is_reference_v<T>)
      return static_cast<T>(*std::get<1>(result_));
    else
      return std::get<1>(result_);
  }
  T result() && {
    rethrow_if_failed();
    if constexpr (std::is_reference_v<T>)
      return static_cast<T>(*std::get<1>(result_));
    else
      return std::move(std::get<1>(result_));
  }

 private:
  void rethrow_if_failed() const {
    if (result_.index() == 2) std::rethrow_exception(std::get<2>(result_));
  }

  std::variant<std::monostate, stored, std::exception_ptr> result_;
};

template <>
class task_promise<void> final : public promise_base {
 public:
  task<void> get_return_object() noexcept;
  void return_void() const noexcept {}
  void unhandled_exception() noexcept { exception_ = std::current_exception(); }

  bool has_exception() const noexcept { return exception_ != nullptr; }
  std::exception_ptr exception() const noexcept { return exception_; }
  void result() const {
    if (exception_) std::rethrow_exception(exception_);
  }

 private:
  std::exception_ptr exception_;
};

}  // namespace detail

template <class T>
class [[nodiscard]] task {
 public:
  using promise_type = detail::task_promise<T>;
  using handle_type = std::coroutine_handle<promise_type>;
  using value_type = T;

  task() noexcept = default;
  explicit task(handle_type h) noexcept : h_(h) {}
  task(task&& other) noexcept : h_(std::exchange(other.h_, {})) {}
  task& operator=(task&& other) noexcept {
    if (this != &other) {
      if (h_) h_.destroy();
      h_ = std::exchange(other.h_, {});
    }
    return *this;
  }
  task(const task&) = delete;
  task& operator=(const task&) = delete;
  ~task() {
    if (h_) h_.destroy();
  }

  // True if the task holds a coroutine (a default-constructed or moved-from
  // task does not).
  explicit operator bool() const noexcept { return static_cast<bool>(h_); }
  bool done() const noexcept { return !h_ || h_.done(); }

  // Starts the task (or resumes nothing if it already finished) and
  // suspends the caller until it finishes; yields its value or rethrows.
  auto operator co_await() & noexcept { return awaiter<false>{h_}; }
  auto operator co_await() && noexcept { return awaiter<true>{h_}; }

  // For runtimes and tests: the underlying handle, ownership kept.
  handle_type handle() const noexcept { return h_; }
  // Gives up ownership of the frame.
  handle_type release() noexcept { return std::exchange(h_, {}); }
  // Where this task is suspended, for the await chain of whoever awaits it.
  const detail::await_frame* traced_frame() const noexcept { return h_ ? &h_.promise().frame() : nullptr; }

 private:
  template <bool Move>
  struct awaiter {
    handle_type h;
    bool await_ready() const noexcept { return !h || h.done(); }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<> caller) noexcept {
      h.promise().set_continuation(caller);
      return h;
    }
    T await_resume() {
      if constexpr (Move)
        return std::move(h.promise()).result();
      else
        return h.promise().result();
    }
  };

  handle_type h_;
};

namespace detail {
template <class T>
task<T> task_promise<T>::get_return_object() noexcept {
  return task<T>{std::coroutine_handle<task_promise<T>>::from_promise(*this)};
}
inline task<void> task_promise<void>::get_return_object() noexcept {
  return task<void>{std::coroutine_handle<task_promise<void>>::from_promise(*this)};
}
}  // namespace detail

}  // namespace corio
