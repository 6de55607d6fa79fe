// SPDX-License-Identifier: MIT
//
// coroutine<Yield, Send, Return>: Python's generator with send(), the
// "classic coroutine" of the asyncio articles. The caller and the body pass
// values both ways: the body yields a Yield and receives a Send in return,
// and when it finishes it hands back a Return (Python's StopIteration.value).
//
//   struct result { int count; double average; };
//   corio::coroutine<double, double, result> averager() {
//     double total = 0;
//     int count = 0;
//     while (std::optional<double> term = co_yield (count ? total / count : 0.0)) {
//       total += *term;
//       ++count;
//     }
//     co_return result{count, total / count};
//   }
//
//   auto avg = averager();
//   avg.next();                       // primes it: runs to the first co_yield -> 0.0
//   avg.send(10);                     // -> 10.0
//   avg.send(30);                     // -> 20.0
//   avg.send(6.5);                    // -> 15.5
//   result r = avg.finish();          // {3, 15.5}
//
// The value of `co_yield y` inside the body is a std::optional<Send>: the
// value passed to send(), or std::nullopt for next() and finish() (Python's
// send(None); the "end" marker a body tests for, as the averager does).
//
// States:
//   created  --next()-->  suspended at a co_yield  --send/next/throw_into-->  ...
//                                     |
//                                     +--body returns--> finished (result() holds Return)
//                                     +--body throws---> finished (the exception went to the caller)
// Calls resuming a finished coroutine return std::nullopt. send() before the
// first next() is a std::logic_error (Python refuses it too), and so are
// throw_into() and finish() then.
// finish() expects the body to return: if it yields again, std::logic_error
// (Python's "generator ignored GeneratorExit"). close() simply destroys the
// frame, running the destructors of its locals.
//
// It runs synchronously on the caller's stack and cannot co_await. Frames
// come from corio's per-thread recycling allocator.
#pragma once

#include <corio/core/frame_allocator.hpp>

#include <coroutine>
#include <exception>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace corio {

template <class Yield, class Send, class Return = void>
class coroutine;

namespace detail {

template <class Return>
class coroutine_return {
 public:
  template <class U = Return>
    requires std::is_convertible_v<U&&, Return>
  void return_value(U&& v) {
    result_.emplace(std::forward<U>(v));
  }

 protected:
  std::optional<Return> result_;
};

template <>
class coroutine_return<void> {
 public:
  void return_void() noexcept { returned_ = true; }

 protected:
  bool returned_ = false;
};

}  // namespace detail

template <class Yield, class Send, class Return>
class [[nodiscard]] coroutine {
  static_assert(!std::is_void_v<Yield> && !std::is_void_v<Send>, "corio::coroutine: Yield and Send must be values");
  static_assert(!std::is_reference_v<Yield> && !std::is_reference_v<Send>,
                "corio::coroutine: Yield and Send are passed by value");

 public:
  class promise_type : public detail::coroutine_return<Return> {
   public:
    coroutine get_return_object() noexcept {
      return coroutine(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    std::suspend_always final_suspend() const noexcept { return {}; }

    // `co_yield y` evaluates to what the caller sends next.
    template <class U = Yield>
      requires std::is_constructible_v<Yield, U&&>
    auto yield_value(U&& v) {
      yielded_.emplace(std::forward<U>(v));
      struct awaiter {
        promise_type& p;
        bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<>) const noexcept {}
        std::optional<Send> await_resume() const {
          if (p.thrown_in_) std::rethrow_exception(std::exchange(p.thrown_in_, nullptr));
          std::optional<Send> s = std::move(p.sent_);
          p.sent_.reset();
          return s;
        }
      };
      return awaiter{*this};
    }
    void unhandled_exception() noexcept { exception_ = std::current_exception(); }
    template <class U>
    std::suspend_never await_transform(U&&) = delete;  // synchronous: no co_await

    static void* operator new(std::size_t size) { return detail::frame_allocate(size); }
    static void operator delete(void* p, std::size_t size) noexcept { detail::frame_deallocate(p, size); }

   private:
    friend class coroutine;
    std::optional<Yield> yielded_;
    std::optional<Send> sent_;
    std::exception_ptr thrown_in_;
    std::exception_ptr exception_;
  };

  coroutine() noexcept = default;
  coroutine(coroutine&& o) noexcept : h_(std::exchange(o.h_, {})), started_(o.started_) {}
  coroutine& operator=(coroutine&& o) noexcept {
    if (this != &o) {
      close();
      h_ = std::exchange(o.h_, {});
      started_ = o.started_;
    }
    return *this;
  }
  ~coroutine() { close(); }

  explicit operator bool() const noexcept { return static_cast<bool>(h_); }
  // The body has returned or thrown (or the coroutine was closed).
  bool done() const noexcept { return !h_ || h_.done(); }

  // Starts the body and runs it to its first co_yield, or, once started,
  // resumes it with std::nullopt (Python's next(), i.e. send(None)).
  // Returns the next yielded value, std::nullopt when the body finished.
  // Rethrows what the body throws.
  std::optional<Yield> next() { return resume(std::nullopt, nullptr); }

  // Resumes the body with `v` as the value of its pending co_yield; returns
  // the next yielded value, std::nullopt when the body finished.
  // std::logic_error before the first next().
  std::optional<Yield> send(Send v) {
    if (!started_) throw std::logic_error("corio: coroutine::send() before next() primed it");
    return resume(std::optional<Send>(std::move(v)), nullptr);
  }

  // Python's throw(): raises `e` at the pending co_yield. Returns what the
  // body yields next (std::nullopt if it finished), or rethrows what escapes.
  std::optional<Yield> throw_into(std::exception_ptr e) {
    if (!e) throw std::invalid_argument("corio: coroutine::throw_into(nullptr)");
    if (!started_) throw std::logic_error("corio: coroutine::throw_into() before next() primed it");
    return resume(std::nullopt, e);
  }

  // Resumes the body with std::nullopt (the end marker) and expects it to
  // return; hands back its Return value. std::logic_error if the body
  // yields again instead; rethrows what the body throws.
  Return finish() {
    if (!started_ && h_) throw std::logic_error("corio: coroutine::finish() before next() primed it");
    if (!done()) {
      if (resume(std::nullopt, nullptr)) {
        throw std::logic_error("corio: coroutine yielded after finish()");
      }
    }
    return result();
  }

  // The value the body returned (StopIteration.value). std::logic_error if
  // it has not finished by returning.
  Return result() {
    if (!h_ || !h_.done()) throw std::logic_error("corio: coroutine::result() before the coroutine returned");
    auto& p = h_.promise();
    if constexpr (std::is_void_v<Return>) {
      if (!p.returned_) throw std::logic_error("corio: coroutine::result() of a coroutine that threw");
    } else {
      if (!p.result_) throw std::logic_error("corio: coroutine::result() of a coroutine that threw");
      return std::move(*p.result_);
    }
  }

  // Destroys the frame where it stands; locals' destructors run. No Return.
  void close() noexcept {
    if (h_) std::exchange(h_, {}).destroy();
  }

 private:
  explicit coroutine(std::coroutine_handle<promise_type> h) noexcept : h_(h) {}

  std::optional<Yield> resume(std::optional<Send> v, std::exception_ptr e) {
    if (done()) return std::nullopt;
    auto& p = h_.promise();
    if (started_) {
      p.sent_ = std::move(v);
      p.thrown_in_ = e;
    } else if (e) {
      throw std::logic_error("corio: exception thrown into a coroutine that has not started");
    }
    started_ = true;
    p.yielded_.reset();
    h_.resume();
    if (h_.done()) {
      if (p.exception_) std::rethrow_exception(std::exchange(p.exception_, nullptr));
      return std::nullopt;
    }
    return std::move(p.yielded_);
  }

  std::coroutine_handle<promise_type> h_;
  bool started_ = false;
};

}  // namespace corio
