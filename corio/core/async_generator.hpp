// SPDX-License-Identifier: MIT
//
// async_generator<T>: a coroutine that co_yields values and also co_awaits
// (sleep, I/O, other tasks): Python's async generator and `async for`.
//
//   corio::async_generator<int> ticks(int n) {
//     for (int i = 0; i < n; ++i) {
//       co_await corio::sleep(100ms);
//       co_yield i;
//     }
//   }
//   auto gen = ticks(3);
//   while (std::optional<int> v = co_await gen.next()) use(*v);
//
// Approach: the body is not a task of its own. `co_await gen.next()`
// transfers control to the body symmetrically, and `co_yield` (or the end of
// the body) transfers straight back to the consumer, so one element costs
// two coroutine switches and no trip through the ready queue. While the body
// runs it is part of the consumer's task: an awaiter inside the body finds
// the consumer's task_state through current_task() and follows the
// suspension protocol (task_state.hpp) on its behalf, with the body's handle
// as the place to resume. Hence:
// - cancelling the consuming task while the body waits (on a sleep, a read)
//   raises cancelled_error inside the body; unless the body catches it, it
//   ends the body and surfaces from `co_await gen.next()` in the consumer;
// - an exception thrown by the body surfaces the same way, and the generator
//   is finished afterwards (next() then yields std::nullopt);
// - destroying the generator destroys its frame where it stands (between
//   two next() calls: the body is suspended at a co_yield), running the
//   destructors of its locals. The rejected alternative, spawning the body
//   as a separate task fed through a channel, costs a task, a queue and two
//   scheduler hops per element, and loses the locality of cancellation.
//
// The generator must be consumed from a corio task (or a coroutine a task
// awaits), one next() at a time (std::logic_error otherwise). The yielded
// value is moved into next()'s optional. Frames come from corio's
// per-thread recycling allocator.
#pragma once

#include <corio/core/await_trace.hpp>
#include <corio/core/frame_allocator.hpp>

#include <coroutine>
#include <exception>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace corio {

template <class T>
class [[nodiscard]] async_generator {
  static_assert(!std::is_reference_v<T> && !std::is_void_v<T>, "corio::async_generator<T>: T is a value type");

 public:
  using value_type = T;

  // Its co_awaits are traced (await_trace.hpp), so that a task suspended
  // inside the body shows the body's frame in its await chain.
  class promise_type : public detail::traced_promise {
   public:
    async_generator get_return_object() noexcept {
      return async_generator(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    std::suspend_always initial_suspend() const noexcept { return {}; }

    // Back to the consumer, on yield and at the end alike.
    struct to_consumer {
      bool await_ready() const noexcept { return false; }
      std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> h) const noexcept {
        return std::exchange(h.promise().consumer_, {});
      }
      void await_resume() const noexcept {}
    };
    to_consumer final_suspend() const noexcept { return {}; }

    template <class U = T>
      requires std::is_constructible_v<T, U&&>
    to_consumer yield_value(U&& v) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
      value_.emplace(std::forward<U>(v));
      return {};
    }
    void return_void() const noexcept {}
    void unhandled_exception() noexcept { exception_ = std::current_exception(); }

    static void* operator new(std::size_t size) { return detail::frame_allocate(size); }
    static void operator delete(void* p, std::size_t size) noexcept { detail::frame_deallocate(p, size); }

   private:
    friend class async_generator;
    std::coroutine_handle<> consumer_;
    std::optional<T> value_;
    std::exception_ptr exception_;
  };

  async_generator() noexcept = default;
  async_generator(async_generator&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  async_generator& operator=(async_generator&& o) noexcept {
    if (this != &o) {
      reset();
      h_ = std::exchange(o.h_, {});
    }
    return *this;
  }
  ~async_generator() { reset(); }

  explicit operator bool() const noexcept { return static_cast<bool>(h_); }
  bool done() const noexcept { return !h_ || h_.done(); }

  // Awaitable: runs the body to its next co_yield and returns the value, or
  // std::nullopt once the body returned. Rethrows what the body throws
  // (cancelled_error when the consuming task was cancelled while the body
  // waited). Not a cancellation point by itself: only the body's own waits
  // are.
  auto next() noexcept { return next_awaiter{h_}; }

 private:
  struct next_awaiter {
    std::coroutine_handle<promise_type> h;
    const detail::await_frame* traced_frame() const noexcept { return h ? &h.promise().frame() : nullptr; }
    bool await_ready() const noexcept { return !h || h.done(); }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<> consumer) {
      auto& p = h.promise();
      if (p.consumer_) throw std::logic_error("corio: async_generator::next() awaited twice at once");
      p.consumer_ = consumer;
      p.value_.reset();
      return h;
    }
    std::optional<T> await_resume() {
      if (!h) return std::nullopt;
      auto& p = h.promise();
      if (h.done()) {
        if (p.exception_) std::rethrow_exception(std::exchange(p.exception_, nullptr));
        return std::nullopt;
      }
      std::optional<T> v = std::move(p.value_);
      p.value_.reset();
      return v;
    }
  };

  explicit async_generator(std::coroutine_handle<promise_type> h) noexcept : h_(h) {}
  void reset() noexcept {
    if (h_) std::exchange(h_, {}).destroy();
  }

  std::coroutine_handle<promise_type> h_;
};

}  // namespace corio
