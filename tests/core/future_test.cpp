// SPDX-License-Identifier: MIT
//
// future/promise: set once, awaited from a task, get() from a plain thread,
// set from another thread, broken promises, callbacks, cancellation.
#include <corio/core/future.hpp>

#include <corio/core/event_loop.hpp>
#include <doctest/doctest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

using corio::task;

TEST_SUITE("future") {
  TEST_CASE("a value set on the loop reaches the awaiting task") {
    corio::event_loop loop;
    corio::promise<std::string> p;
    auto f = p.get_future();
    auto waiter = [](corio::future<std::string> fut) -> task<std::string> { co_return co_await fut; };
    auto h = loop.spawn(waiter(f));
    loop.call_soon([&] { p.set_value("hello"); });
    loop.run_until([&] { return h.done(); });
    CHECK(h.result() == "hello");
  }

  TEST_CASE("a value set from another thread wakes the awaiting task") {
    corio::event_loop loop;
    corio::promise<int> p;
    auto waiter = [](corio::future<int> fut) -> task<int> { co_return co_await fut; };
    auto h = loop.spawn(waiter(p.get_future()));
    std::thread t([p = std::move(p)]() mutable {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      p.set_value(42);
    });
    loop.run_until([&] { return h.done(); });
    t.join();
    CHECK(h.result() == 42);
  }

  TEST_CASE("get() blocks a plain thread until a task sets the value") {
    corio::event_loop loop;
    corio::promise<int> p;
    auto f = p.get_future();
    int got = 0;
    std::thread t([&] { got = f.get(); });
    auto setter = [](corio::promise<int>& pr) -> task<void> {
      pr.set_value(7);
      co_return;
    };
    loop.run_until_complete(setter(p));
    t.join();
    CHECK(got == 7);
  }

  TEST_CASE("a move-only value travels through the future, once") {
    corio::promise<std::unique_ptr<int>> p;
    auto f = p.get_future();
    p.set_value(std::make_unique<int>(9));
    auto v = f.get();
    CHECK(*v == 9);
    CHECK_THROWS_AS(f.get(), std::logic_error);
  }

  TEST_CASE("setting twice is a logic_error") {
    corio::promise<void> p;
    p.set_value();
    CHECK_THROWS_AS(p.set_value(), std::logic_error);
    CHECK_THROWS_AS(p.set_exception(std::make_exception_ptr(std::runtime_error("x"))), std::logic_error);
  }

  TEST_CASE("an exception set in the promise is rethrown by get and by co_await") {
    corio::event_loop loop;
    corio::promise<int> p;
    auto f = p.get_future();
    p.set_exception(std::make_exception_ptr(std::runtime_error("bad")));
    CHECK_THROWS_WITH_AS(f.get(), "bad", std::runtime_error);
    auto waiter = [](corio::future<int> fut) -> task<int> { co_return co_await fut; };
    CHECK_THROWS_WITH_AS(loop.run_until_complete(waiter(f)), "bad", std::runtime_error);
  }

  TEST_CASE("a promise destroyed without a value breaks its future") {
    corio::future<int> f;
    {
      corio::promise<int> p;
      f = p.get_future();
    }
    CHECK(f.done());
    CHECK_THROWS_AS(f.get(), corio::broken_promise);
  }

  TEST_CASE("done callbacks run in order when the value is set, and at once after") {
    corio::promise<int> p;
    auto f = p.get_future();
    std::string order;
    f.add_done_callback([&] { order += "a"; });
    f.add_done_callback([&] { order += "b"; });
    CHECK(order.empty());
    p.set_value(1);
    CHECK(order == "ab");
    f.add_done_callback([&] { order += "c"; });
    CHECK(order == "abc");
  }

  TEST_CASE("cancelling a task awaiting a future stops the wait and leaves the future usable") {
    corio::event_loop loop;
    corio::promise<int> p;
    auto f = p.get_future();
    auto waiter = [](corio::future<int> fut) -> task<int> { co_return co_await fut; };
    auto h = loop.spawn(waiter(f));
    loop.run_until([&] { return h.status() == corio::task_status::suspended; });
    h.cancel();
    loop.run_until([&] { return h.done(); });
    CHECK(h.cancelled());
    p.set_value(3);
    CHECK(f.get() == 3);
  }
}
