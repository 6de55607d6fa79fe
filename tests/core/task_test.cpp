// SPDX-License-Identifier: MIT
//
// task<T>: laziness, results of every kind (T, T&, void, move-only),
// exception propagation through co_await chains, frame lifetime.
#include <corio/core/task.hpp>

#include <corio/core/event_loop.hpp>
#include <doctest/doctest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using corio::task;

namespace {

struct counted {
  static inline int alive = 0;
  counted() { ++alive; }
  counted(const counted&) { ++alive; }
  ~counted() { --alive; }
};

task<int> answer() { co_return 42; }
task<std::string> text() { co_return std::string(100, 'x'); }
task<std::unique_ptr<int>> boxed() { co_return std::make_unique<int>(7); }
task<int&> ref_to(int& x) { co_return x; }
task<void> nothing(int& hits) {
  ++hits;
  co_return;
}
task<int> thrower() {
  throw std::runtime_error("boom");
  co_return 0;
}
task<int> add_children() {
  int a = co_await answer();
  int b = co_await answer();
  co_return a + b;
}
task<int> rethrow_through_chain() {
  int v = co_await thrower();
  co_return v + 1;
}
task<int> depth(int n) {
  if (n == 0) co_return 0;
  co_return 1 + co_await depth(n - 1);
}
task<void> holds(int& started) {
  counted c;
  ++started;
  co_return;
}

}  // namespace

TEST_SUITE("task") {
  TEST_CASE("a task does not start until it is awaited or spawned") {
    int hits = 0;
    {
      auto t = nothing(hits);
      CHECK(t);
      CHECK_FALSE(t.done());
    }
    CHECK(hits == 0);
  }

  TEST_CASE("destroying a task that never ran destroys its frame and locals") {
    int started = 0;
    { auto t = holds(started); }
    CHECK(started == 0);
    CHECK(counted::alive == 0);
  }

  TEST_CASE("values, references, void and move-only results travel through co_await") {
    corio::event_loop loop;
    CHECK(loop.run_until_complete(answer()) == 42);
    CHECK(loop.run_until_complete(text()) == std::string(100, 'x'));
    CHECK(*loop.run_until_complete(boxed()) == 7);
    int x = 5;
    int& r = loop.run_until_complete(ref_to(x));
    CHECK(&r == &x);
    int hits = 0;
    loop.run_until_complete(nothing(hits));
    CHECK(hits == 1);
    CHECK(loop.run_until_complete(add_children()) == 84);
  }

  TEST_CASE("an exception propagates through a chain of awaits") {
    corio::event_loop loop;
    CHECK_THROWS_WITH_AS(loop.run_until_complete(rethrow_through_chain()), "boom", std::runtime_error);
  }

  TEST_CASE("deep await chains use symmetric transfer and do not grow the stack") {
    // HACK(gcc-12): GCC turns the symmetric-transfer resume into a tail
    // call only when optimizing (clang always does, with musttail); an -O0
    // or sanitizer build would overflow the stack on a 100k-deep chain.
#if defined(__OPTIMIZE__) && !defined(__SANITIZE_ADDRESS__)
    constexpr int n = 100000;
#else
    constexpr int n = 1000;
#endif
    corio::event_loop loop;
    CHECK(loop.run_until_complete(depth(n)) == n);
  }

  TEST_CASE("a moved task owns the frame exactly once") {
    corio::event_loop loop;
    auto a = answer();
    auto b = std::move(a);
    CHECK_FALSE(a);
    CHECK(loop.run_until_complete(std::move(b)) == 42);
  }

  TEST_CASE("a trivial task's frame is at most 256 bytes") {
    struct probe {
      static task<void> trivial() { co_return; }
    };
    // Kept in a vector so that the frame escapes: clang would otherwise
    // elide the allocation (HALO) and there would be nothing to measure.
    std::vector<task<void>> keep;
    auto before = corio::detail::frame_stats();
    keep.push_back(probe::trivial());
    auto after = corio::detail::frame_stats();
    CHECK(after.live == before.live + 1);
    MESSAGE("trivial task frame: " << after.last_size << " bytes");
    CHECK(after.last_size <= 256);
  }

  TEST_CASE("every frame is given back") {
    auto before = corio::detail::frame_stats().live;
    {
      corio::event_loop loop;
      CHECK(loop.run_until_complete(depth(1000)) == 1000);
    }
    CHECK(corio::detail::frame_stats().live == before);
  }
}
