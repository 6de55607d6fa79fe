// SPDX-License-Identifier: MIT
//
// generator<T>: a synchronous coroutine that produces a sequence with
// co_yield, consumed as a range (Python's generator, C++23's std::generator
// without elements_of).
//
//   corio::generator<int> count_to(int n) {
//     for (int i = 1; i <= n; ++i) co_yield i;
//   }
//   for (int i : count_to(3)) std::cout << i;     // 123
//   auto evens = count_to(10) | std::views::filter([](int i) { return i % 2 == 0; });
//
// Approach: the promise keeps a pointer to the yielded object, not a copy.
// The operand of co_yield lives until the coroutine resumes (it is part of
// the full expression that contains the suspension), so dereferencing the
// iterator reads it in place; only a const lvalue of a non-reference T is
// copied (into the yield awaiter, which lives just as long). The rejected
// alternative, storing an optional<T> in the promise, costs a move per
// element and cannot yield references.
//
// Rules:
// - The generator is lazy: nothing runs until begin().
// - It is an input range, one pass: begin() may be called once.
// - An exception thrown by the body is rethrown from begin() or ++it, in
//   the consumer; the generator is then finished.
// - Destroying the generator destroys its frame wherever it stands (locals'
//   destructors run), so breaking out of a range-for is clean.
// - Frames come from corio's per-thread recycling allocator.
// - It runs on the consumer's stack; it cannot co_await (use
//   async_generator for that).
#pragma once

#include <corio/core/frame_allocator.hpp>

#include <coroutine>
#include <exception>
#include <iterator>
#include <memory>
#include <ranges>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace corio {

template <class T>
class [[nodiscard]] generator : public std::ranges::view_base {
 public:
  using value_type = std::remove_cvref_t<T>;
  // generator<int> hands out int&; generator<const X&> hands out const X&.
  using reference = std::conditional_t<std::is_reference_v<T>, T, T&>;

 private:
  using pointee = std::remove_reference_t<reference>;

 public:
  class promise_type {
   public:
    generator get_return_object() noexcept {
      return generator(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    std::suspend_always final_suspend() const noexcept { return {}; }

    std::suspend_always yield_value(pointee& v) noexcept {
      value_ = std::addressof(v);
      return {};
    }
    std::suspend_always yield_value(pointee&& v) noexcept
      requires(!std::is_reference_v<T>)
    {
      value_ = std::addressof(v);
      return {};
    }
    // A const lvalue of a non-reference T: keep a copy for the time of the yield.
    auto yield_value(const value_type& v)
      requires(!std::is_reference_v<T> && std::is_copy_constructible_v<value_type>)
    {
      struct copy_awaiter {
        value_type copy;
        bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<promise_type> h) noexcept {
          h.promise().value_ = std::addressof(copy);
        }
        void await_resume() const noexcept {}
      };
      return copy_awaiter{v};
    }

    void return_void() const noexcept {}
    void unhandled_exception() noexcept { exception_ = std::current_exception(); }
    template <class U>
    std::suspend_never await_transform(U&&) = delete;  // synchronous: no co_await

    static void* operator new(std::size_t size) { return detail::frame_allocate(size); }
    static void operator delete(void* p, std::size_t size) noexcept { detail::frame_deallocate(p, size); }

   private:
    friend class generator;
    void rethrow_if_failed() {
      if (exception_) std::rethrow_exception(std::exchange(exception_, nullptr));
    }
    pointee* value_ = nullptr;
    std::exception_ptr exception_;
  };

  class iterator {
   public:
    using iterator_concept = std::input_iterator_tag;
    using value_type = generator::value_type;
    using difference_type = std::ptrdiff_t;
    using reference = generator::reference;

    iterator() noexcept = default;
    iterator(iterator&& o) noexcept : h_(std::exchange(o.h_, {})) {}
    iterator& operator=(iterator&& o) noexcept {
      h_ = std::exchange(o.h_, {});
      return *this;
    }

    reference operator*() const noexcept { return static_cast<reference>(*h_.promise().value_); }
    iterator& operator++() {
      h_.resume();
      if (h_.done()) h_.promise().rethrow_if_failed();
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept { return !it.h_ || it.h_.done(); }

   private:
    friend class generator;
    explicit iterator(std::coroutine_handle<promise_type> h) noexcept : h_(h) {}
    std::coroutine_handle<promise_type> h_;
  };

  generator() noexcept = default;
  generator(generator&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  generator& operator=(generator&& o) noexcept {
    if (this != &o) {
      if (h_) h_.destroy();
      h_ = std::exchange(o.h_, {});
    }
    return *this;
  }
  ~generator() {
    if (h_) h_.destroy();
  }

  // Runs the body to its first co_yield (or its end). One pass only:
  // std::logic_error on a second call.
  iterator begin() {
    if (!h_) return iterator{};
    if (started_) throw std::logic_error("corio: generator::begin() called twice (generators are one pass)");
    started_ = true;
    h_.resume();
    if (h_.done()) h_.promise().rethrow_if_failed();
    return iterator(h_);
  }
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  explicit generator(std::coroutine_handle<promise_type> h) noexcept : h_(h) {}
  std::coroutine_handle<promise_type> h_;
  bool started_ = false;
};

}  // namespace corio
