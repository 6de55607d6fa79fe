// SPDX-License-Identifier: MIT
//
// Combinators: gather (fail fast and return_exceptions, empty inputs,
// cancellation of the caller), wait/when_any, as_completed, shield and
// map_bounded (limit never exceeded, input pulled lazily).
#include <corio/core/combinators.hpp>

#include <corio/core/time.hpp>
#include <doctest/doctest.h>

#include "support.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using corio::join_handle;
using corio::task;
using corio::task_status;

namespace {

using corio_test::clean_loop;

task<int> after(corio::clock_duration d, int v) {
  co_await corio::sleep(d);
  co_return v;
}

task<void> nothing_after(corio::clock_duration d) { co_await corio::sleep(d); }

task<int> fail_after(corio::clock_duration d, std::string msg) {
  co_await corio::sleep(d);
  throw std::runtime_error(msg);
}

// Sleeps d; logs how it ended.
task<int> logged(std::vector<std::string>& log, std::string name, corio::clock_duration d) {
  try {
    co_await corio::sleep(d);
  } catch (const corio::cancelled_error&) {
    log.push_back(name + " cancelled");
    throw;
  }
  log.push_back(name + " done");
  co_return 0;
}

// 0..n-1, read lazily; counts the items read.
struct counted_input {
  int n;
  int* pulls;
  struct iterator {
    int i;
    int* pulls;
    int operator*() const {
      ++*pulls;
      return i;
    }
    iterator& operator++() {
      ++i;
      return *this;
    }
    bool operator==(const iterator& o) const { return i == o.i; }
  };
  iterator begin() const { return {0, pulls}; }
  iterator end() const { return {n, pulls}; }
};

}  // namespace

TEST_SUITE("combinators") {
  TEST_CASE("gather returns values in argument order, void as monostate") {
    clean_loop c;
    auto main = []() -> task<void> {
      auto [a, b, v] = co_await corio::gather(after(30ms, 1), after(10ms, 2), nothing_after(20ms));
      CHECK(a == 1);
      CHECK(b == 2);
      CHECK(v == std::monostate{});
      std::vector<task<int>> ts;
      for (int i = 0; i < 5; ++i) ts.push_back(after(std::chrono::milliseconds(10 - i), i));
      auto vs = co_await corio::gather(std::move(ts));
      CHECK(vs == std::vector<int>{0, 1, 2, 3, 4});
    };
    auto t0 = c.clk.now();
    c.loop.run_until_complete(main());
    CHECK(c.clk.now() - t0 < 45ms);  // concurrent: 30 + 10, not 30 + 10 + 20 + ...
  }

  TEST_CASE("gather of nothing completes at once") {
    clean_loop c;
    auto main = []() -> task<std::size_t> {
      auto t = co_await corio::gather();
      static_assert(std::tuple_size_v<decltype(t)> == 0);
      auto v = co_await corio::gather(std::vector<task<int>>{});
      auto o = co_await corio::gather(corio::return_exceptions, std::vector<task<int>>{});
      co_return v.size() + o.size();
    };
    CHECK(c.loop.run_until_complete(main()) == 0);
  }

  TEST_CASE("the first failure in gather cancels the siblings and is rethrown after they finished") {
    clean_loop c;
    std::vector<std::string> log;
    auto main = [&]() -> task<void> {
      try {
        co_await corio::gather(logged(log, "a", 1s), fail_after(10ms, "boom"), logged(log, "b", 2s));
      } catch (const std::runtime_error& e) {
        // Both siblings saw cancelled_error and finished before this.
        log.push_back(std::string("caught ") + e.what());
      }
    };
    auto t0 = c.clk.now();
    c.loop.run_until_complete(main());
    REQUIRE(log.size() == 3);
    CHECK(log[2] == "caught boom");
    CHECK(std::count(log.begin(), log.end(), "a cancelled") == 1);
    CHECK(std::count(log.begin(), log.end(), "b cancelled") == 1);
    CHECK(c.clk.now() - t0 < 1s);
  }

  TEST_CASE("gather with return_exceptions collects every value and every failure") {
    clean_loop c;
    auto main = []() -> task<void> {
      auto [a, b, d] = co_await corio::gather(corio::return_exceptions, after(10ms, 1), fail_after(5ms, "x"),
                                              nothing_after(1ms));
      CHECK(a.has_value());
      CHECK(a.value() == 1);
      CHECK_FALSE(b.has_value());
      CHECK_THROWS_WITH_AS(b.value(), "x", std::runtime_error);
      CHECK(d.has_value());
      std::vector<task<int>> ts;
      ts.push_back(fail_after(1ms, "1"));
      ts.push_back(after(2ms, 2));
      ts.push_back(fail_after(3ms, "3"));
      auto all = co_await corio::gather(corio::return_exceptions, std::move(ts));
      REQUIRE(all.size() == 3);
      CHECK(all[0].error() != nullptr);
      CHECK(all[1].value() == 2);
      CHECK(all[2].error() != nullptr);
    };
    c.loop.run_until_complete(main());
  }

  TEST_CASE("cancelling a task in gather cancels every child and waits for them") {
    clean_loop c;
    std::vector<std::string> log;
    auto main = [&]() -> task<void> {
      co_await corio::gather(logged(log, "a", 1s), logged(log, "b", 1s));
      log.push_back("not reached");
    };
    auto h = c.loop.spawn(main());
    c.loop.run_until([&] {
      auto all = c.loop.all_tasks();
      return all.size() == 3 &&
             std::all_of(all.begin(), all.end(), [](auto& t) { return t.status == task_status::suspended; });
    });
    h.cancel();
    c.loop.run_until([&] { return h.done(); });
    CHECK(h.cancelled());
    CHECK(log.size() == 2);
    CHECK(std::count(log.begin(), log.end(), "a cancelled") == 1);
    CHECK(std::count(log.begin(), log.end(), "b cancelled") == 1);
    CHECK(c.loop.live_tasks() == 0);
  }

  TEST_CASE("wait with first_completed returns the done and the pending indices") {
    clean_loop c;
    auto main = []() -> task<void> {
      std::vector<join_handle<int>> hs;
      hs.push_back(corio::spawn(after(30ms, 0)));
      hs.push_back(corio::spawn(after(10ms, 1)));
      hs.push_back(corio::spawn(after(20ms, 2)));
      auto r = co_await corio::wait(hs, corio::return_when::first_completed);
      CHECK(r.done == std::vector<std::size_t>{1});
      CHECK(r.pending == std::vector<std::size_t>{0, 2});
      CHECK(hs[0].status() != task_status::cancelled);  // wait cancels nothing
      auto all = co_await corio::wait(hs);
      CHECK(all.done.size() == 3);
      CHECK(all.pending.empty());
      CHECK(hs[0].result() == 0);
    };
    c.loop.run_until_complete(main());
  }

  TEST_CASE("wait with first_exception stops at a failure, or when all finished") {
    clean_loop c;
    auto main = []() -> task<void> {
      std::vector<join_handle<int>> hs;
      hs.push_back(corio::spawn(after(5ms, 0)));
      hs.push_back(corio::spawn(fail_after(10ms, "x")));
      hs.push_back(corio::spawn(after(1s, 2)));
      auto r = co_await corio::wait(hs, corio::return_when::first_exception);
      CHECK(r.done == std::vector<std::size_t>{0, 1});
      CHECK(r.pending == std::vector<std::size_t>{2});
      CHECK_THROWS_AS(hs[1].result(), std::runtime_error);
      hs[2].cancel();
      co_await corio::wait(hs);
      std::vector<join_handle<int>> ok;
      ok.push_back(corio::spawn(after(1ms, 0)));
      auto r2 = co_await corio::wait(ok, corio::return_when::first_exception);
      CHECK(r2.done.size() == 1);
    };
    c.loop.run_until_complete(main());
  }

  TEST_CASE("wait and when_any of nothing are an invalid_argument that says so") {
    clean_loop c;
    auto main = []() -> task<std::string> {
      std::vector<join_handle<int>> none;
      std::string msgs;
      try {
        co_await corio::wait(none);
      } catch (const std::invalid_argument& e) {
        msgs += e.what();
      }
      try {
        co_await corio::when_any(none);
      } catch (const std::invalid_argument& e) {
        msgs += e.what();
      }
      co_return msgs;
    };
    auto m = c.loop.run_until_complete(main());
    CHECK(m.find("wait() of no tasks") != std::string::npos);
    CHECK(m.find("when_any() of no tasks") != std::string::npos);
  }

  TEST_CASE("when_any gives the index of the first to finish") {
    clean_loop c;
    auto main = []() -> task<std::size_t> {
      std::vector<join_handle<int>> hs;
      hs.push_back(corio::spawn(after(30ms, 0)));
      hs.push_back(corio::spawn(after(10ms, 1)));
      std::size_t i = co_await corio::when_any(hs);
      for (auto& h : hs) h.cancel();
      co_await corio::wait(hs);
      co_return i;
    };
    CHECK(c.loop.run_until_complete(main()) == 1);
  }

  TEST_CASE("a cancelled wait leaves the tasks running") {
    clean_loop c;
    std::vector<join_handle<int>> hs;
    auto waiter = [](std::vector<join_handle<int>>& hs) -> task<void> { co_await corio::wait(hs); };
    auto main = [&]() -> task<int> {
      hs.push_back(corio::spawn(after(20ms, 5)));
      auto w = corio::spawn(waiter(hs));
      co_await corio::sleep(1ms);
      w.cancel();
      try {
        co_await w;
      } catch (const corio::cancelled_error&) {
      }
      CHECK_FALSE(hs[0].done());
      co_return co_await hs[0];
    };
    CHECK(c.loop.run_until_complete(main()) == 5);
  }

  TEST_CASE("a completion_queue yields results in completion order and rethrows failures, staying usable") {
    clean_loop c;
    auto main = []() -> task<std::vector<int>> {
      std::vector<task<int>> ts;
      ts.push_back(after(30ms, 30));
      ts.push_back(after(10ms, 10));
      ts.push_back(fail_after(15ms, "x"));
      ts.push_back(after(20ms, 20));
      corio::completion_queue<int> q(std::move(ts));
      std::vector<int> out;
      for (;;) {
        try {
          auto v = co_await q.next();
          if (!v) break;
          out.push_back(*v);
        } catch (const std::runtime_error&) {
          out.push_back(-1);
        }
      }
      CHECK(q.remaining() == 0);
      corio::completion_queue<int> empty(std::vector<task<int>>{});
      auto none = co_await empty.next();
      CHECK_FALSE(none.has_value());
      co_return out;
    };
    CHECK(c.loop.run_until_complete(main()) == std::vector<int>{10, -1, 20, 30});
  }

  TEST_CASE("as_completed is an async generator of values in completion order") {
    clean_loop c;
    auto main = []() -> task<std::vector<int>> {
      std::vector<task<int>> ts;
      ts.push_back(after(30ms, 30));
      ts.push_back(after(10ms, 10));
      ts.push_back(after(20ms, 20));
      auto results = corio::as_completed(std::move(ts));
      std::vector<int> out;
      while (auto r = co_await results.next()) out.push_back(*r);
      CHECK_FALSE((co_await results.next()).has_value());
      auto empty = corio::as_completed(std::vector<task<int>>{});
      CHECK_FALSE((co_await empty.next()).has_value());
      co_return out;
    };
    CHECK(c.loop.run_until_complete(main()) == std::vector<int>{10, 20, 30});
  }

  TEST_CASE("as_completed ends at the first failure, rethrows it and cancels the children still running") {
    clean_loop c;
    std::vector<std::string> log;
    auto main = [&]() -> task<void> {
      std::vector<task<int>> ts;
      ts.push_back(after(10ms, 10));
      ts.push_back(fail_after(15ms, "boom"));
      ts.push_back(logged(log, "slow", 1h));
      auto results = corio::as_completed(std::move(ts));
      auto first = co_await results.next();
      REQUIRE(first.has_value());
      CHECK(*first == 10);
      std::string error;
      try {
        co_await results.next();
      } catch (const std::runtime_error& e) {
        error = e.what();
      }
      CHECK(error == "boom");
      CHECK_FALSE((co_await results.next()).has_value());
      co_await corio::sleep(1ms);
      CHECK(log == std::vector<std::string>{"slow cancelled"});
    };
    c.loop.run_until_complete(main());
  }

  TEST_CASE("as_completed with return_exceptions reports every child, failures as outcomes") {
    clean_loop c;
    auto main = []() -> task<std::vector<std::string>> {
      std::vector<task<int>> ts;
      ts.push_back(after(30ms, 30));
      ts.push_back(fail_after(10ms, "x"));
      ts.push_back(after(20ms, 20));
      auto results = corio::as_completed(corio::return_exceptions, std::move(ts));
      std::vector<std::string> out;
      while (auto r = co_await results.next()) {
        if (r->has_value()) {
          out.push_back(std::to_string(r->value()));
        } else {
          try {
            std::rethrow_exception(r->error());
          } catch (const std::runtime_error& e) {
            out.push_back(std::string("error ") + e.what());
          }
        }
      }
      co_return out;
    };
    CHECK(c.loop.run_until_complete(main()) == std::vector<std::string>{"error x", "20", "30"});
  }

  TEST_CASE("as_completed over the caller's handles leaves them usable and running") {
    clean_loop c;
    auto main = []() -> task<void> {
      std::vector<join_handle<int>> hs;
      hs.push_back(corio::spawn(after(20ms, 2)));
      hs.push_back(corio::spawn(after(10ms, 1)));
      hs.push_back(corio::spawn(after(1h, 3)));
      {
        auto results = corio::as_completed(hs);
        auto a = co_await results.next();
        auto b = co_await results.next();
        REQUIRE(a.has_value());
        REQUIRE(b.has_value());
        CHECK(*a == 1);
        CHECK(*b == 2);
      }  // dropped early: the third keeps running, the caller owns it
      co_await corio::sleep(1ms);
      CHECK_FALSE(hs[2].done());
      CHECK(hs[0].result() == 2);
      CHECK(hs[1].result() == 1);
      hs[2].cancel();
      co_await corio::sleep(1ms);
      CHECK(hs[2].cancelled());
    };
    c.loop.run_until_complete(main());
  }

  TEST_CASE("a dropped as_completed generator cancels the children still running") {
    clean_loop c;
    std::vector<std::string> log;
    auto main = [&]() -> task<void> {
      {
        std::vector<task<int>> ts;
        ts.push_back(logged(log, "fast", 1ms));
        ts.push_back(logged(log, "slow", 1h));
        auto results = corio::as_completed(std::move(ts));
        co_await results.next();
      }
      co_await corio::sleep(1ms);
    };
    c.loop.run_until_complete(main());
    CHECK(log == std::vector<std::string>{"fast done", "slow cancelled"});
  }

  TEST_CASE("shield keeps the child running when the awaiting task is cancelled") {
    clean_loop c;
    std::vector<std::string> log;
    auto outer = [&](join_handle<int>& child) -> task<int> { co_return co_await corio::shield(child); };
    auto main = [&]() -> task<void> {
      auto child = corio::spawn(logged(log, "child", 50ms));
      auto o = corio::spawn(outer(child));
      co_await corio::sleep(1ms);
      o.cancel();
      bool outer_cancelled = false;
      try {
        co_await o;
      } catch (const corio::cancelled_error&) {
        outer_cancelled = true;
      }
      CHECK(outer_cancelled);
      CHECK_FALSE(child.done());
      int cv = co_await child;
      CHECK(cv == 0);
      // shield(task): the detached child still finishes.
      auto o2 = corio::spawn(corio::shield(logged(log, "inner", 10ms)));
      co_await corio::sleep(1ms);
      o2.cancel();
      co_await corio::sleep(20ms);
      CHECK(o2.cancelled());
      // Nothing cancelled: the value comes through.
      int nine = co_await corio::shield(after(1ms, 9));
      CHECK(nine == 9);
    };
    c.loop.run_until_complete(main());
    CHECK(log == std::vector<std::string>{"child done", "inner done"});
  }

  TEST_CASE("map_bounded never exceeds its limit and pulls input lazily") {
    clean_loop c;
    int in_flight = 0, max_in_flight = 0, pulls = 0;
    auto main = [&]() -> task<std::vector<int>> {
      counted_input input{100, &pulls};
      auto m = corio::map_bounded(input, 4, [&](int i) -> task<int> {
        ++in_flight;
        max_in_flight = std::max(max_in_flight, in_flight);
        co_await corio::sleep(std::chrono::milliseconds(1 + (i * 7) % 5));
        --in_flight;
        co_return i * 2;
      });
      CHECK(pulls == 0);  // nothing read before the first next()
      std::vector<int> out;
      auto first = co_await m.next();
      REQUIRE(first);
      out.push_back(*first);
      CHECK(pulls == 5);  // 4 to start, 1 for the slot the first result freed
      while (auto v = co_await m.next()) {
        CHECK(pulls <= static_cast<int>(out.size()) + 5);
        out.push_back(*v);
      }
      co_return out;
    };
    auto out = c.loop.run_until_complete(main());
    CHECK(max_in_flight == 4);
    CHECK(pulls == 100);
    std::sort(out.begin(), out.end());
    REQUIRE(out.size() == 100);
    for (int i = 0; i < 100; ++i) CHECK(out[static_cast<std::size_t>(i)] == i * 2);
  }

  TEST_CASE("map_bounded steps its input past an item only when it wants the next one") {
    // An input that counts how often it is stepped: over a generator that
    // reads a pipe, a step taken early would wait for a line nobody needs.
    struct stepped_input {
      int n;
      int* steps;
      struct iterator {
        int i;
        int* steps;
        int operator*() const { return i; }
        iterator& operator++() {
          ++i;
          ++*steps;
          return *this;
        }
        bool operator==(const iterator& o) const { return i == o.i; }
      };
      iterator begin() const { return {0, steps}; }
      iterator end() const { return {n, steps}; }
    };
    clean_loop c;
    int steps = 0;
    auto main = [&]() -> task<void> {
      stepped_input input{3, &steps};
      auto m = corio::map_bounded(input, 1, [](int i) { return after(1ms, i); });
      auto first = co_await m.next();
      REQUIRE(first);
      CHECK(*first == 0);
      // Item 1 was wanted for the freed slot: one step, not two.
      CHECK(steps == 1);
      int count = 1;
      while (co_await m.next()) ++count;
      CHECK(count == 3);
      CHECK(steps == 3);
    };
    c.loop.run_until_complete(main());
  }

  TEST_CASE("map_bounded of an empty input completes at once and a failed call is rethrown") {
    clean_loop c;
    auto main = []() -> task<std::string> {
      std::vector<int> none;
      auto m = corio::map_bounded(none, 3, [](int i) { return after(1ms, i); });
      auto nothing = co_await m.next();
      CHECK_FALSE(nothing.has_value());
      auto f = corio::map_bounded(std::vector<int>{1, 2, 3}, 2, [](const int& i) -> task<int> {
        if (i == 2) throw std::runtime_error("two");
        co_await corio::sleep(std::chrono::milliseconds(i));
        co_return i;
      });
      std::string got;
      for (;;) {
        try {
          auto v = co_await f.next();
          if (!v) break;
          got += std::to_string(*v);
        } catch (const std::runtime_error& e) {
          got += e.what();
        }
      }
      co_return got;
    };
    CHECK(c.loop.run_until_complete(main()) == "two13");
  }

  TEST_CASE("dropping a bounded_map cancels the calls in flight") {
    clean_loop c;
    std::vector<std::string> log;
    auto main = [&]() -> task<void> {
      {
        auto m = corio::map_bounded(std::vector<int>{1, 2, 3}, 2,
                                    [&](int i) { return logged(log, std::to_string(i), std::chrono::hours(i)); });
        CHECK(m.in_flight() == 0);
        co_await corio::sleep(1ms);
      }
      co_await corio::sleep(1ms);
      auto m2 = corio::map_bounded(std::vector<int>{5}, 2, [&](int i) { return logged(log, std::to_string(i), 1h); });
      (void)co_await m2.next();
      {
        auto m3 = corio::map_bounded(std::vector<int>{7, 8}, 2, [&](int i) { return logged(log, std::to_string(i), 1h); });
        auto nx = m3.next();  // never awaited: starts nothing
      }
    };
    c.loop.run_until_complete(main());
    CHECK(log == std::vector<std::string>{"5 done"});
  }
}
