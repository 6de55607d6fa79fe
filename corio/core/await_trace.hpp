// SPDX-License-Identifier: MIT
//
// The await chain of a task: for a suspended task, which coroutine awaits
// which, and where each one is suspended. event_loop::dump_tasks() prints it
// as a backtrace (innermost first), and the stall detector names the await a
// stalling task resumed from.
//
// How it is recorded: every co_await in a corio coroutine (task<T>,
// async_generator<T>) goes through its promise's await_transform, whose
// defaulted argument captures the source site of the co_await itself, and
// which stores it in the promise's await_frame along with a pointer to the
// awaited coroutine's own await_frame when the awaited thing is a corio
// coroutine (anything with a traced_frame() member). That is four plain
// stores into a frame already in cache, no allocation and no branch at run
// time; bench/micro_tasks measures it (BM_await_child).
//
//   root task's frame          child's frame              grandchild's frame
//   site: main.cpp:40   ──>    site: fetch.cpp:12   ──>   site: fetch.cpp:30 (read)
//   inner ─────────────┘       inner ──────────────┘      inner: nullptr
//
// The chain is only read while the task is not running: then every frame on
// it is suspended at the co_await its site names, and each inner pointer
// names a live frame (a child frame is destroyed only after its parent
// resumed, and the parent's next co_await overwrites its inner pointer
// before it can suspend again). A running task's innermost frame may still
// point at a child that has finished, so the chain of a running task is
// never walked.
//
// The site. std::source_location where the compiler has
// __builtin_source_location (GCC 11+, clang 15+): it is one pointer to a
// static record per site, so a co_await costs one store for it (and GCC
// materialises await_transform's argument in the frame: one more).
// HACK(clang-14): with libstdc++ 12, clang 14 has no std::source_location
// (libstdc++ builds it on that builtin), so there the site is the three
// words that __builtin_FILE/FUNCTION/LINE give. BM_await_child measured 3
// words at +1.7 ns per co_await on GCC 12 and one word at about +0.5 ns.
//
// The awaitable that await_transform returns is a traced_awaiter: it holds
// the awaiter by reference when the operand is itself an awaiter (the
// temporary lives until the end of the full expression, hence across the
// suspension) and by value when the operand has an operator co_await.
// Returning the operand by reference would be shorter, but GCC 12 copies an
// awaiter that await_transform returns by reference, and corio's waiters
// must not move while queued.
#pragma once

#include <coroutine>
#include <string_view>
#include <utility>

#if defined(__has_builtin)
#if __has_builtin(__builtin_source_location)
#define CORIO_SITE_IS_SOURCE_LOCATION 1
#include <bit>
#include <source_location>
#endif
#endif

namespace corio {

// A place in the source: a co_await in an await chain. Its strings are
// static (made by the compiler): a site may be copied and kept anywhere.
// `function` is the qualified name where the compiler gives one
// ("{anonymous}::fetch", "server::serve"), else the bare name.
struct source_site {
  const char* file = nullptr;
  std::string_view function;
  unsigned line = 0;

  explicit operator bool() const noexcept { return file != nullptr; }
};

namespace detail {

// The compact form of a site, as await_transform captures it (a default
// argument, evaluated at the co_await).
#ifdef CORIO_SITE_IS_SOURCE_LOCATION
struct site_ref {
  const void* loc;  // a std::source_location, which is one pointer

  source_site get() const noexcept;  // await_trace.cpp
};
static_assert(sizeof(std::source_location) == sizeof(const void*));
#else
struct site_ref {
  const char* file;
  const char* function;
  unsigned line;

  static constexpr site_ref here(const char* file = __builtin_FILE(), const char* function = __builtin_FUNCTION(),
                                 unsigned line = __builtin_LINE()) noexcept {
    return {file, function, line};
  }
  source_site get() const noexcept { return {file, function, line}; }
};
#endif

// One link of an await chain; lives in a coroutine's promise. Left
// uninitialised until the coroutine's first co_await: a frame is read only
// once its coroutine suspended in a co_await (see the top of this file),
// and initialising it costs stores on every coroutine created.
struct await_frame {
  site_ref site;             // the latest co_await
  const await_frame* inner;  // the corio coroutine awaited there, if any
};

template <class Awaiter>
struct traced_awaiter {
  Awaiter a;  // a reference or a value; see the top of this file

  decltype(auto) await_ready() { return a.await_ready(); }
  template <class Promise>
  decltype(auto) await_suspend(std::coroutine_handle<Promise> h) {
    return a.await_suspend(h);
  }
  decltype(auto) await_resume() { return a.await_resume(); }
};

template <class A>
auto make_traced_awaiter(A&& a) {
  if constexpr (requires { static_cast<A&&>(a).operator co_await(); }) {
    using awaiter = decltype(static_cast<A&&>(a).operator co_await());
    return traced_awaiter<awaiter>{static_cast<A&&>(a).operator co_await()};
  } else if constexpr (requires { operator co_await(static_cast<A&&>(a)); }) {
    using awaiter = decltype(operator co_await(static_cast<A&&>(a)));
    return traced_awaiter<awaiter>{operator co_await(static_cast<A&&>(a))};
  } else {
    return traced_awaiter<A&&>{static_cast<A&&>(a)};
  }
}

// Base of the promises of corio's coroutines that may co_await: records the
// chain on every co_await.
class traced_promise {
 public:
  template <class A>
#ifdef CORIO_SITE_IS_SOURCE_LOCATION
  auto await_transform(A&& a, std::source_location here = std::source_location::current()) {
    frame_.site.loc = std::bit_cast<const void*>(here);
#else
  auto await_transform(A&& a, site_ref here = site_ref::here()) {
    frame_.site = here;
#endif
    if constexpr (requires { a.traced_frame(); })
      frame_.inner = a.traced_frame();
    else
      frame_.inner = nullptr;
    return make_traced_awaiter(static_cast<A&&>(a));
  }

  const await_frame& frame() const noexcept { return frame_; }

 private:
  await_frame frame_;  // not value-initialised on purpose (see await_frame)
};

}  // namespace detail
}  // namespace corio
