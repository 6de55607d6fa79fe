// SPDX-License-Identifier: MIT
//
// task_group: the scope waits for every child, the first failure cancels
// the siblings and is rethrown once all finished, cancelling the parent
// cancels the children, and a group dropped without waiting cancels them.
#include <corio/core/task_group.hpp>

#include <corio/core/time.hpp>
#include <doctest/doctest.h>

#include "support.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using corio::task;
using corio::task_group;
using corio::task_status;

namespace {

using corio_test::clean_loop;

// Sleeps `d`, then records `name`; records "<name> cancelled" if cancelled.
task<void> sleeper(std::vector<std::string>& log, std::string name, corio::clock_duration d) {
  try {
    co_await corio::sleep(d);
  } catch (const corio::cancelled_error&) {
    log.push_back(name + " cancelled");
    throw;
  }
  log.push_back(name);
}

task<int> value_after(corio::clock_duration d, int v) {
  co_await corio::sleep(d);
  co_return v;
}

task<std::string> text_after(corio::clock_duration d, std::string v) {
  co_await corio::sleep(d);
  co_return v;
}

task<int> failing_after(corio::clock_duration d, std::string msg) {
  co_await corio::sleep(d);
  throw std::runtime_error(msg);
}

}  // namespace

TEST_SUITE("task_group") {
  TEST_CASE("the scope waits for every child before it returns") {
    clean_loop c;
    std::vector<std::string> log;
    auto main = [&]() -> task<void> {
      co_await task_group::run([&](task_group& g) -> task<void> {
        g.spawn(sleeper(log, "slow", 30ms));
        g.spawn(sleeper(log, "fast", 10ms));
        CHECK(g.size() == 2);
        co_return;
      });
      log.push_back("scope done");
    };
    c.loop.run_until_complete(main());
    CHECK(log == std::vector<std::string>{"fast", "slow", "scope done"});
  }

  TEST_CASE("an empty group completes at once") {
    clean_loop c;
    auto main = []() -> task<void> {
      task_group g;
      co_await g.wait();
      co_await task_group::run([](task_group&) -> task<void> { co_return; });
    };
    c.loop.run_until_complete(main());
  }

  TEST_CASE("a group runs 10000 children whose handles are dropped") {
    clean_loop c;
    int finished = 0;
    auto child = [](int& finished, int i) -> task<int> {
      co_await corio::sleep(std::chrono::milliseconds(i % 7));
      ++finished;
      co_return i;
    };
    auto main = [&]() -> task<void> {
      co_await task_group::run([&](task_group& g) -> task<void> {
        for (int i = 0; i < 10000; ++i) {
          g.spawn(child(finished, i));
          if (i % 1000 == 0) co_await corio::sleep(1ms);  // slots are reused meanwhile
        }
      });
    };
    c.loop.run_until_complete(main());
    CHECK(finished == 10000);
  }

  TEST_CASE("the first child failure cancels the siblings and is rethrown after they finished") {
    clean_loop c;
    std::vector<std::string> log;
    auto main = [&]() -> task<std::string> {
      try {
        co_await task_group::run([&](task_group& g) -> task<void> {
          g.spawn(sleeper(log, "a", 1s));
          g.spawn(failing_after(10ms, "boom"));
          g.spawn(sleeper(log, "b", 2s));
          co_return;
        });
      } catch (const std::runtime_error& e) {
        log.push_back(std::string("caught ") + e.what());
      }
      co_return "ok";
    };
    auto t0 = c.clk.now();
    c.loop.run_until_complete(main());
    REQUIRE(log.size() == 3);
    CHECK(log[2] == "caught boom");
    CHECK(std::count(log.begin(), log.end(), "a cancelled") == 1);
    CHECK(std::count(log.begin(), log.end(), "b cancelled") == 1);
    CHECK(c.clk.now() - t0 < 1s);
  }

  TEST_CASE("the object form rethrows the failure from wait() and can be reused") {
    clean_loop c;
    std::vector<std::string> log;
    auto main = [&]() -> task<void> {
      task_group g;
      g.spawn(sleeper(log, "a", 1s));
      g.spawn(failing_after(1ms, "first"));
      g.spawn(failing_after(2ms, "second"));
      std::string what;
      try {
        co_await g.wait();
      } catch (const std::runtime_error& e) {
        what = e.what();
      }
      CHECK(what == "first");
      CHECK(g.size() == 0);
      g.spawn(sleeper(log, "again", 1ms));
      co_await g.wait();
    };
    c.loop.run_until_complete(main());
    CHECK(log == std::vector<std::string>{"a cancelled", "again"});
  }

  TEST_CASE("cancelling the parent cancels the children and waits for them") {
    clean_loop c;
    std::vector<std::string> log;
    auto parent = [&]() -> task<void> {
      co_await task_group::run([&](task_group& g) -> task<void> {
        g.spawn(sleeper(log, "a", 1s));
        g.spawn(sleeper(log, "b", 1s));
        co_await corio::sleep(1h);  // the body itself is suspended
      });
      log.push_back("not reached");
    };
    auto h = c.loop.spawn(parent());
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

  TEST_CASE("cancelling a task waiting in wait() cancels the children") {
    clean_loop c;
    std::vector<std::string> log;
    auto parent = [&]() -> task<void> {
      task_group g;
      g.spawn(sleeper(log, "a", 1s));
      co_await g.wait();
    };
    auto h = c.loop.spawn(parent());
    c.loop.run_until([&] { return h.status() == task_status::suspended; });
    h.cancel();
    c.loop.run_until([&] { return h.done(); });
    CHECK(h.cancelled());
    CHECK(log == std::vector<std::string>{"a cancelled"});
  }

  TEST_CASE("a failure of the scope body cancels the children and is rethrown") {
    clean_loop c;
    std::vector<std::string> log;
    auto main = [&]() -> task<std::string> {
      try {
        co_await task_group::run([&](task_group& g) -> task<void> {
          g.spawn(sleeper(log, "a", 1s));
          co_await corio::sleep(1ms);
          throw std::logic_error("body");
        });
      } catch (const std::logic_error& e) {
        co_return e.what();
      }
      co_return "none";
    };
    CHECK(c.loop.run_until_complete(main()) == "body");
    CHECK(log == std::vector<std::string>{"a cancelled"});
  }

  TEST_CASE("a child spawned into a failing group is cancelled at once") {
    clean_loop c;
    std::vector<std::string> log;
    auto main = [&]() -> task<void> {
      task_group g;
      g.spawn(failing_after(1ms, "x"));
      co_await corio::sleep(5ms);
      g.spawn(sleeper(log, "late", 1ms));
      bool threw = false;
      try {
        co_await g.wait();
      } catch (const std::runtime_error&) {
        threw = true;
      }
      CHECK(threw);
    };
    c.loop.run_until_complete(main());
    CHECK(log.empty());  // cancelled before it started: its body never ran
  }

  TEST_CASE("a child cancelled from outside is not a failure of the group") {
    clean_loop c;
    std::vector<std::string> log;
    auto main = [&]() -> task<void> {
      task_group g;
      g.spawn(sleeper(log, "a", 10ms));
      g.spawn(sleeper(log, "b", 20ms));
      co_await corio::sleep(1ms);
      g.cancel();
      co_await g.wait();  // returns normally
    };
    c.loop.run_until_complete(main());
    CHECK(log.size() == 2);
  }

  TEST_CASE("destroying a group with running children cancels them without leaking") {
    clean_loop c;
    std::vector<std::string> log;
    auto main = [&]() -> task<void> {
      {
        task_group g;
        g.spawn(sleeper(log, "a", 1s));
        g.spawn(failing_after(1s, "never seen"));
        co_await corio::sleep(1ms);
      }  // dropped without wait()
      co_await corio::sleep(10ms);
    };
    c.loop.run_until_complete(main());
    CHECK(log == std::vector<std::string>{"a cancelled"});
    CHECK(c.loop.live_tasks() == 0);
  }

  TEST_CASE("spawn returns the child's handle: its value is read after the group finished") {
    clean_loop c;
    auto main = []() -> task<std::string> {
      corio::child_handle<int> number;
      corio::child_handle<std::string> text;
      int awaited = 0;
      co_await task_group::run([&](task_group& g) -> task<void> {
        number = g.spawn(value_after(20ms, 42));
        text = g.spawn(text_after(10ms, "hello"));
        auto quick = g.spawn(value_after(1ms, 7));
        awaited = co_await quick;  // a child may be awaited inside the scope
        g.spawn(value_after(5ms, 0));  // and its handle dropped
      });
      CHECK(awaited == 7);
      CHECK(number.done());
      CHECK(number.result() == 42);
      CHECK(number.result() == 42);  // a copyable value may be read again
      corio::join_handle<std::string> plain = std::move(text);  // a child_handle is a join_handle
      co_return plain.result();
    };
    CHECK(c.loop.run_until_complete(main()) == "hello");
  }

  TEST_CASE("the handles of a failing group tell which child failed and which were cancelled") {
    clean_loop c;
    auto main = []() -> task<void> {
      task_group g;
      auto ok = g.spawn(value_after(1ms, 1));
      auto bad = g.spawn(failing_after(5ms, "boom"));
      auto slow = g.spawn(value_after(1h, 2));
      std::string error;
      try {
        co_await g.wait();
      } catch (const std::runtime_error& e) {
        error = e.what();
      }
      CHECK(error == "boom");
      CHECK(ok.status() == task_status::done);
      CHECK(ok.result() == 1);
      CHECK(bad.status() == task_status::failed);
      CHECK_THROWS_AS(bad.result(), std::runtime_error);
      CHECK(slow.cancelled());
      CHECK_THROWS_AS(slow.result(), corio::cancelled_error);
    };
    c.loop.run_until_complete(main());
  }
}
