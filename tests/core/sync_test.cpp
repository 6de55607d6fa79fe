// SPDX-License-Identifier: MIT
//
// Sync primitives: mutex fairness and handoff, semaphores, event,
// condition_variable, channel close semantics, and the cancellation path of
// every wait (a cancelled waiter leaves its queue, and what it was granted
// goes to the next one).
#include <corio/core/sync.hpp>

#include <corio/core/time.hpp>
#include <doctest/doctest.h>

#include "support.hpp"

#include <algorithm>
#include <numeric>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using corio::task;
using corio::task_status;

namespace {

using corio_test::clean_loop;

}  // namespace

TEST_SUITE("sync") {
  TEST_CASE("a mutex is taken, refused to try_lock and released by its guard") {
    clean_loop c;
    corio::mutex m;
    auto body = [](corio::mutex& m) -> task<void> {
      {
        auto g = co_await m.scoped_lock();
        CHECK(g.owns_lock());
        CHECK(m.is_locked());
        CHECK_FALSE(m.try_lock());
      }
      CHECK_FALSE(m.is_locked());
      co_await m.lock();
      m.unlock();
      CHECK(m.try_lock());
      m.unlock();
    };
    c.loop.run_until_complete(body(m));
  }

  TEST_CASE("a mutex serves 1000 waiters in arrival order") {
    clean_loop c;
    corio::mutex m;
    std::vector<int> order;
    auto locker = [](corio::mutex& m, std::vector<int>& order, int i) -> task<void> {
      auto g = co_await m.scoped_lock();
      order.push_back(i);
      co_await corio::yield_now();  // hold it across a suspension
    };
    auto main = [&]() -> task<void> {
      co_await m.lock();
      std::vector<corio::join_handle<void>> hs;
      for (int i = 0; i < 1000; ++i) hs.push_back(corio::spawn(locker(m, order, i)));
      co_await corio::sleep(1ms);  // all of them queue
      m.unlock();
      for (auto& h : hs) co_await h;
    };
    c.loop.run_until_complete(main());
    std::vector<int> expected(1000);
    std::iota(expected.begin(), expected.end(), 0);
    CHECK(order == expected);
    CHECK_FALSE(m.is_locked());
  }

  TEST_CASE("a cancelled lock waiter leaves the queue and never acquires") {
    clean_loop c;
    corio::mutex m;
    int acquired = 0;
    auto locker = [](corio::mutex& m, int& acquired) -> task<void> {
      auto g = co_await m.scoped_lock();
      ++acquired;
    };
    REQUIRE(m.try_lock());
    auto a = c.loop.spawn(locker(m, acquired));
    auto b = c.loop.spawn(locker(m, acquired));
    c.settle(a, b);
    a.cancel();
    c.loop.run_until([&] { return a.done(); });
    CHECK(a.cancelled());
    CHECK(acquired == 0);
    m.unlock();
    c.loop.run_until([&] { return b.done(); });
    CHECK(b.status() == task_status::done);
    CHECK(acquired == 1);
    CHECK_FALSE(m.is_locked());
  }

  TEST_CASE("a lock handed to a waiter cancelled before it runs passes to the next waiter") {
    clean_loop c;
    corio::mutex m;
    std::vector<std::string> log;
    auto locker = [](corio::mutex& m, std::vector<std::string>& log, std::string name) -> task<void> {
      try {
        auto g = co_await m.scoped_lock();
        log.push_back(name + " acquired");
      } catch (const corio::cancelled_error&) {
        log.push_back(name + " cancelled");
        throw;
      }
    };
    REQUIRE(m.try_lock());
    auto b = c.loop.spawn(locker(m, log, "b"));
    auto d = c.loop.spawn(locker(m, log, "d"));
    c.settle(b, d);
    m.unlock();  // b owns it now, but has not run yet
    CHECK(m.is_locked());
    b.cancel();
    c.loop.run_until([&] { return b.done() && d.done(); });
    CHECK(b.cancelled());
    CHECK(d.status() == task_status::done);
    CHECK(log == std::vector<std::string>{"b cancelled", "d acquired"});
    CHECK_FALSE(m.is_locked());
  }

  TEST_CASE("a lock wait under timeout() gives up cleanly and leaves the mutex to others") {
    clean_loop c;
    corio::mutex m;
    auto main = [&]() -> task<std::string> {
      co_await m.lock();
      std::string what;
      try {
        co_await corio::timeout(5ms, m.lock(), "lock");
      } catch (const corio::timeout_error& e) {
        what = e.what();
      }
      m.unlock();
      CHECK_FALSE(m.is_locked());  // the timed-out waiter left the queue
      auto g = co_await m.scoped_lock();
      co_return what;
    };
    CHECK(c.loop.run_until_complete(main()) == "corio: lock timed out");
  }

  TEST_CASE("a released permit goes to the first waiter, not to a newcomer") {
    clean_loop c;
    corio::semaphore s(1);
    std::vector<int> order;
    auto worker = [](corio::semaphore& s, std::vector<int>& order, int i) -> task<void> {
      co_await s.acquire();
      order.push_back(i);
      s.release();
    };
    REQUIRE(s.try_acquire());
    auto a = c.loop.spawn(worker(s, order, 1));
    auto b = c.loop.spawn(worker(s, order, 2));
    c.settle(a, b);
    s.release();
    CHECK_FALSE(s.try_acquire());  // handed to the first waiter already
    c.loop.run_until([&] { return a.done() && b.done(); });
    CHECK(order == std::vector<int>{1, 2});
    CHECK(s.available() == 1);
  }

  TEST_CASE("a semaphore bounds concurrency and a permit granted to a cancelled waiter is returned") {
    clean_loop c;
    corio::semaphore s(2);
    int inside = 0, max_inside = 0;
    auto worker = [](corio::semaphore& s, int& inside, int& max_inside) -> task<void> {
      co_await s.acquire();
      ++inside;
      max_inside = std::max(max_inside, inside);
      co_await corio::sleep(10ms);
      --inside;
      s.release();
    };
    std::vector<corio::join_handle<void>> hs;
    for (int i = 0; i < 10; ++i) hs.push_back(c.loop.spawn(worker(s, inside, max_inside)));
    c.loop.run_until([&] { return std::all_of(hs.begin(), hs.end(), [](auto& h) { return h.done(); }); });
    CHECK(max_inside == 2);
    CHECK(s.available() == 2);

    // Handoff to a waiter that is then cancelled before it runs.
    REQUIRE(s.try_acquire());
    REQUIRE(s.try_acquire());
    auto acq = [](corio::semaphore& s) -> task<void> { co_await s.acquire(); };
    auto w = c.loop.spawn(acq(s));
    c.settle(w);
    s.release();  // granted to w
    CHECK(s.available() == 0);
    w.cancel();
    c.loop.run_until([&] { return w.done(); });
    CHECK(w.cancelled());
    CHECK(s.available() == 1);  // returned, not lost
    s.release();
    CHECK(s.available() == 2);
  }

  TEST_CASE("a bounded_semaphore throws when released more than acquired") {
    corio::bounded_semaphore s(1);
    CHECK_THROWS_AS(s.release(), std::logic_error);
    REQUIRE(s.try_acquire());
    CHECK_FALSE(s.try_acquire());
    s.release();
    CHECK_THROWS_AS(s.release(), std::logic_error);
    CHECK(s.available() == 1);
  }

  TEST_CASE("setting an event wakes every waiter; a set event does not suspend") {
    clean_loop c;
    corio::event e;
    int woke = 0;
    auto waiter = [](corio::event& e, int& woke) -> task<void> {
      co_await e.wait();
      ++woke;
    };
    auto a = c.loop.spawn(waiter(e, woke));
    auto b = c.loop.spawn(waiter(e, woke));
    auto x = c.loop.spawn(waiter(e, woke));
    c.settle(a, b, x);
    CHECK(woke == 0);
    x.cancel();
    c.loop.run_until([&] { return x.done(); });
    CHECK(x.cancelled());
    e.set();
    CHECK(e.is_set());
    c.loop.run_until([&] { return a.done() && b.done(); });
    CHECK(woke == 2);
    auto late = c.loop.spawn(waiter(e, woke));
    c.loop.run_until([&] { return late.done(); });
    CHECK(woke == 3);
    e.clear();
    CHECK_FALSE(e.is_set());
  }

  TEST_CASE("a condition_variable wakes a waiter whose predicate then holds") {
    clean_loop c;
    corio::mutex m;
    corio::condition_variable cv;
    std::vector<int> queue, got;
    auto consumer = [&]() -> task<void> {
      for (int n = 0; n < 5; ++n) {
        auto lk = co_await m.scoped_lock();
        co_await cv.wait(lk, [&] { return !queue.empty(); });
        CHECK(m.is_locked());
        got.push_back(queue.front());
        queue.erase(queue.begin());
      }
    };
    auto producer = [&]() -> task<void> {
      for (int i = 0; i < 5; ++i) {
        co_await corio::sleep(1ms);
        auto lk = co_await m.scoped_lock();
        queue.push_back(i);
        cv.notify_one();
      }
    };
    auto a = c.loop.spawn(consumer());
    auto b = c.loop.spawn(producer());
    c.loop.run_until([&] { return a.done() && b.done(); });
    CHECK(a.status() == task_status::done);
    CHECK(got == std::vector<int>{0, 1, 2, 3, 4});
  }

  TEST_CASE("a cancelled condition wait relocks, and its notification goes to the next waiter") {
    clean_loop c;
    corio::mutex m;
    corio::condition_variable cv;
    std::vector<std::string> log;
    auto waiter = [&](std::string name) -> task<void> {
      auto lk = co_await m.scoped_lock();
      try {
        co_await cv.wait(lk);
        log.push_back(name + " notified");
      } catch (const corio::cancelled_error&) {
        log.push_back(name + (m.is_locked() && lk.owns_lock() ? " cancelled, relocked" : " cancelled, unlocked"));
        throw;
      }
    };
    auto a = c.loop.spawn(waiter("a"));
    auto b = c.loop.spawn(waiter("b"));
    c.settle(a, b);
    CHECK_FALSE(m.is_locked());
    cv.notify_one();  // given to a, which is cancelled before it runs
    a.cancel();
    c.loop.run_until([&] { return a.done() && b.done(); });
    CHECK(a.cancelled());
    CHECK(b.status() == task_status::done);
    CHECK(log == std::vector<std::string>{"a cancelled, relocked", "b notified"});
    CHECK_FALSE(m.is_locked());
  }

  TEST_CASE("a channel is FIFO and a send suspends while it is full") {
    clean_loop c;
    corio::channel<int> ch(2);
    std::vector<int> got;
    auto producer = [](corio::channel<int>& ch) -> task<void> {
      for (int i = 0; i < 5; ++i) co_await ch.send(i);
      ch.close();
    };
    auto p = c.loop.spawn(producer(ch));
    c.settle(p);
    CHECK(ch.size() == 2);
    CHECK(p.status() == task_status::suspended);
    auto consumer = [](corio::channel<int>& ch, std::vector<int>& got) -> task<void> {
      while (auto v = co_await ch.receive()) got.push_back(*v);
    };
    auto q = c.loop.spawn(consumer(ch, got));
    c.loop.run_until([&] { return p.done() && q.done(); });
    CHECK(got == std::vector<int>{0, 1, 2, 3, 4});
  }

  TEST_CASE("a channel of capacity 0 is a rendezvous") {
    clean_loop c;
    corio::channel<std::string> ch(0);
    CHECK_FALSE(ch.try_send("x"));
    bool sent = false;
    auto sender = [](corio::channel<std::string>& ch, bool& sent) -> task<void> {
      co_await ch.send("hello");
      sent = true;
    };
    auto s = c.loop.spawn(sender(ch, sent));
    c.settle(s);
    CHECK_FALSE(sent);
    CHECK(ch.size() == 0);
    auto v = ch.try_receive();
    REQUIRE(v);
    CHECK(*v == "hello");
    c.loop.run_until([&] { return s.done(); });
    CHECK(sent);
    CHECK_FALSE(ch.try_receive());
  }

  TEST_CASE("closing a channel fails blocked senders and lets receivers drain, then nullopt") {
    clean_loop c;
    corio::channel<int> ch(1);
    REQUIRE(ch.try_send(1));
    auto sender = [](corio::channel<int>& ch) -> task<std::string> {
      try {
        co_await ch.send(2);
      } catch (const corio::channel_closed&) {
        co_return "closed";
      }
      co_return "sent";
    };
    auto s = c.loop.spawn(sender(ch));
    c.settle(s);
    ch.close();
    c.loop.run_until([&] { return s.done(); });
    CHECK(s.result() == "closed");
    CHECK_THROWS_AS(ch.try_send(3), corio::channel_closed);
    auto drain = [](corio::channel<int>& ch) -> task<std::vector<int>> {
      std::vector<int> out;
      while (auto v = co_await ch.receive()) out.push_back(*v);
      co_return out;
    };
    CHECK(c.loop.run_until_complete(drain(ch)) == std::vector<int>{1});  // 2 was never enqueued

    corio::channel<int> empty(4);
    auto r1 = c.loop.spawn(drain(empty));
    auto r2 = c.loop.spawn(drain(empty));
    c.settle(r1, r2);
    empty.close();
    c.loop.run_until([&] { return r1.done() && r2.done(); });
    CHECK(r1.result().empty());
    CHECK(r2.result().empty());
  }

  TEST_CASE("a cancelled sender's value is not enqueued and a cancelled receiver loses no value") {
    clean_loop c;
    corio::channel<int> ch(1);
    REQUIRE(ch.try_send(1));
    auto sender = [](corio::channel<int>& ch, int v) -> task<void> { co_await ch.send(v); };
    auto s = c.loop.spawn(sender(ch, 2));
    c.settle(s);
    s.cancel();
    c.loop.run_until([&] { return s.done(); });
    CHECK(s.cancelled());
    CHECK(ch.try_receive() == 1);
    CHECK_FALSE(ch.try_receive());  // 2 never got in

    auto receiver = [](corio::channel<int>& ch) -> task<int> { co_return *co_await ch.receive(); };
    auto r1 = c.loop.spawn(receiver(ch));
    auto r2 = c.loop.spawn(receiver(ch));
    c.settle(r1, r2);
    REQUIRE(ch.try_send(7));  // handed to r1...
    r1.cancel();              // ...which is cancelled before it runs
    c.loop.run_until([&] { return r1.done() && r2.done(); });
    CHECK(r1.cancelled());
    CHECK(r2.result() == 7);
  }

  TEST_CASE("3 producers and 3 consumers pass 30000 items, each received exactly once") {
    clean_loop c;
    corio::channel<int> ch(64);
    constexpr int per_producer = 10000;
    std::vector<int> seen(3 * per_producer, 0);
    auto producer = [](corio::channel<int>& ch, int base) -> task<void> {
      for (int i = 0; i < per_producer; ++i) co_await ch.send(base + i);
    };
    auto consumer = [](corio::channel<int>& ch, std::vector<int>& seen) -> task<void> {
      while (auto v = co_await ch.receive()) {
        ++seen[static_cast<std::size_t>(*v)];
        if (*v % 97 == 0) co_await corio::yield_now();
      }
    };
    auto main = [&]() -> task<void> {
      std::vector<corio::join_handle<void>> producers, consumers;
      for (int i = 0; i < 3; ++i) consumers.push_back(corio::spawn(consumer(ch, seen)));
      for (int i = 0; i < 3; ++i) producers.push_back(corio::spawn(producer(ch, i * per_producer)));
      for (auto& p : producers) co_await p;
      ch.close();
      for (auto& q : consumers) co_await q;
    };
    c.loop.run_until_complete(main());
    CHECK(std::all_of(seen.begin(), seen.end(), [](int n) { return n == 1; }));
  }
}
