// SPDX-License-Identifier: MIT
//
// event_loop and spawn: task lifecycles, cancellation of tasks suspended on
// I/O and on join, done-callback order, call_soon_threadsafe from several
// threads, run() draining what is left, all_tasks().
#include <corio/core/event_loop.hpp>

#include <corio/core/io.hpp>
#include <corio/core/run.hpp>
#include <doctest/doctest.h>

#include "support.hpp"

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <stdexcept>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

using corio::event_loop;
using corio::join_handle;
using corio::task;

namespace {

using corio_test::pipe_pair;

// Every test ends the same way: nothing left alive on the loop, and every
// frame given back.
struct clean_loop {
  long frames_before = corio::detail::frame_stats().live;
  event_loop loop;
  ~clean_loop() {
    loop.close();
    CHECK(loop.live_tasks() == 0);
  }
};

task<int> value(int v) { co_return v; }

task<void> fail(std::string msg) {
  throw std::runtime_error(msg);
  co_return;
}

task<std::size_t> read_pipe(int fd, std::string* out) {
  std::byte buf[64];
  std::size_t n = co_await corio::io::read(fd, buf);
  out->assign(reinterpret_cast<const char*>(buf), n);
  co_return n;
}


}  // namespace

TEST_SUITE("event_loop") {
  TEST_CASE("spawned tasks run and their handles give their values") {
    clean_loop c;
    auto a = c.loop.spawn(value(1), "a");
    auto b = c.loop.spawn(value(2));
    CHECK_FALSE(a.done());
    CHECK(a.name() == "a");
    c.loop.run_until([&] { return a.done() && b.done(); });
    CHECK(a.result() + b.result() == 3);
    CHECK(a.result() == 1);  // a copyable result may be read again
    CHECK(a.status() == corio::task_status::done);
  }

  TEST_CASE("awaiting a handle gives the value or rethrows the exception") {
    clean_loop c;
    auto main = [](event_loop& l) -> task<std::string> {
      auto ok = l.spawn(value(7));
      auto bad = l.spawn(fail("nope"));
      int v = co_await ok;
      try {
        co_await bad;
      } catch (const std::runtime_error& e) {
        co_return std::to_string(v) + ":" + e.what();
      }
      co_return "not thrown";
    };
    CHECK(c.loop.run_until_complete(main(c.loop)) == "7:nope");
  }

  TEST_CASE("result() of an unfinished task is a logic_error") {
    clean_loop c;
    auto h = c.loop.spawn(value(1));
    CHECK_THROWS_AS(h.result(), std::logic_error);
    c.loop.run_until([&] { return h.done(); });
  }

  TEST_CASE("a task cancelled before it starts never runs its body") {
    clean_loop c;
    int ran = 0;
    auto body = [](int& r) -> task<void> {
      ++r;
      co_return;
    };
    auto h = c.loop.spawn(body(ran));
    CHECK(h.cancel());
    c.loop.run_until([&] { return h.done(); });
    CHECK(ran == 0);
    CHECK(h.cancelled());
    CHECK_THROWS_AS(h.result(), corio::cancelled_error);
    CHECK_FALSE(h.cancel());
  }

  TEST_CASE("cancelling a task suspended on a read removes the read and raises cancelled_error") {
    clean_loop c;
    pipe_pair p;
    std::string got;
    auto h = c.loop.spawn(read_pipe(p.r, &got));
    c.loop.run_until([&] { return h.status() == corio::task_status::suspended; });
    auto all = c.loop.all_tasks();
    REQUIRE(all.size() == 1);
    CHECK(std::string(all[0].waiting_on) == "read");
    h.cancel();
    c.loop.run_until([&] { return h.done(); });
    CHECK(h.cancelled());
    // The read is gone from the backend: bytes written now stay in the pipe
    // for the next reader.
    REQUIRE(::write(p.w, "xy", 2) == 2);
    auto again = c.loop.spawn(read_pipe(p.r, &got));
    c.loop.run_until([&] { return again.done(); });
    CHECK(again.result() == 2);
    CHECK(got == "xy");
  }

  TEST_CASE("a task may catch cancelled_error, clean up asynchronously and finish normally") {
    clean_loop c;
    pipe_pair p;
    auto body = [](int rfd, int wfd) -> task<int> {
      std::byte buf[8];
      bool cancelled = false;
      try {
        co_await corio::io::read(rfd, buf);
      } catch (const corio::cancelled_error&) {
        cancelled = true;
      }
      if (!cancelled) co_return -1;
      // The request was delivered: the next suspensions are not interrupted.
      std::byte one[1] = {std::byte{'z'}};
      co_await corio::io::write(wfd, one);
      std::size_t n = co_await corio::io::read(rfd, buf);
      co_return static_cast<int>(n);
    };
    auto h = c.loop.spawn(body(p.r, p.w));
    c.loop.run_until([&] { return h.status() == corio::task_status::suspended; });
    h.cancel();
    c.loop.run_until([&] { return h.done(); });
    CHECK(h.status() == corio::task_status::done);
    CHECK(h.result() == 1);
  }

  TEST_CASE("cancelling a task waiting on a join cancels the joined task and waits for it") {
    clean_loop c;
    pipe_pair p;
    std::string got;
    join_handle<std::size_t> child;
    auto parent = [](event_loop& l, join_handle<std::size_t>& ch, int fd, std::string* out) -> task<void> {
      ch = l.spawn(read_pipe(fd, out), "child");
      co_await ch;
    };
    auto h = c.loop.spawn(parent(c.loop, child, p.r, &got), "parent");
    c.loop.run_until([&] { return child && child.status() == corio::task_status::suspended; });
    h.cancel();
    c.loop.run_until([&] { return h.done(); });
    CHECK(child.cancelled());
    CHECK(h.cancelled());
  }

  TEST_CASE("done callbacks run in registration order, before the joiner resumes") {
    clean_loop c;
    std::vector<int> order;
    auto h = c.loop.spawn(value(5));
    h.add_done_callback([&] { order.push_back(1); });
    h.add_done_callback([&] { order.push_back(2); });
    auto waiter = [](join_handle<int>& x, std::vector<int>& o) -> task<void> {
      co_await x;
      o.push_back(3);
    };
    auto w = c.loop.spawn(waiter(h, order));
    c.loop.run_until([&] { return w.done(); });
    // A callback added after completion is scheduled with call_soon.
    h.add_done_callback([&] { order.push_back(4); });
    CHECK(order == std::vector<int>{1, 2, 3});
    c.loop.run_until([&] { return order.size() == 4; });
    CHECK(order == std::vector<int>{1, 2, 3, 4});
  }

  TEST_CASE("a shared handle sees the same task, and two concurrent joiners are refused") {
    clean_loop c;
    pipe_pair p;
    std::string got;
    auto h = c.loop.spawn(read_pipe(p.r, &got));
    auto h2 = h.share();
    CHECK(h2.id() == h.id());
    auto joiner = [](join_handle<std::size_t>& x) -> task<std::size_t> { co_return co_await x; };
    auto j1 = c.loop.spawn(joiner(h));
    auto j2 = c.loop.spawn(joiner(h2));
    c.loop.run_until([&] { return j2.done(); });
    CHECK_THROWS_AS(j2.result(), std::logic_error);
    REQUIRE(::write(p.w, "abc", 3) == 3);
    c.loop.run_until([&] { return j1.done(); });
    CHECK(j1.result() == 3);
    CHECK(h2.result() == 3);
  }

  TEST_CASE("call_soon runs callbacks in order on the next iteration") {
    clean_loop c;
    std::vector<int> order;
    for (int i = 0; i < 5; ++i) c.loop.call_soon([&order, i] { order.push_back(i); });
    CHECK(order.empty());
    c.loop.run_until([&] { return !order.empty(); });
    CHECK(order == std::vector<int>{0, 1, 2, 3, 4});
  }

  TEST_CASE("call_soon_threadsafe from 4 threads x 100k calls loses nothing") {
    clean_loop c;
    constexpr int threads = 4, per_thread = 100000;
    std::size_t seen = 0;
    std::vector<long> last(threads, -1);
    bool in_order = true;
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t)
      ts.emplace_back([&, t] {
        for (long i = 0; i < per_thread; ++i)
          c.loop.call_soon_threadsafe([&, t, i] {
            ++seen;
            if (last[t] != i - 1) in_order = false;
            last[t] = i;
          });
      });
    // The loop blocks in poll when idle: the posts must wake it.
    c.loop.run_until([&] { return seen == std::size_t(threads) * per_thread; });
    for (auto& t : ts) t.join();
    CHECK(seen == std::size_t(threads) * per_thread);
    CHECK(in_order);
  }

  TEST_CASE("call_soon_threadsafe wakes a loop blocked in poll") {
    clean_loop c;
    bool ran = false;
    std::thread t([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      c.loop.call_soon_threadsafe([&] { ran = true; });
    });
    c.loop.run_until([&] { return ran; });
    t.join();
    CHECK(ran);
  }

  TEST_CASE("a post racing with the loop going back to sleep always wakes it (50k ping-pongs)") {
    // Each post lands while the loop is on its way from the previous
    // callback back into poll (the race a lost wake-up lives in: a wake
    // that comes after the loop looked for posts and before it sleeps).
    // No timer runs, so a lost wake would sleep forever: the poster gives
    // each post 10 s and aborts with a message instead of hanging.
    clean_loop c;
    constexpr int rounds = 50000;
    std::atomic<int> ran{0};
    std::atomic<bool> lost{false};
    std::thread poster([&] {
      unsigned x = 12345;
      for (int i = 0; i < rounds && !lost; ++i) {
        // A spin of 0 to ~2 us first, so that posts fall at every point of the way.
        x = x * 1103515245 + 12345;
        for (unsigned spin = (x >> 16) % 512; spin > 0; --spin) std::atomic_signal_fence(std::memory_order_seq_cst);
        c.loop.call_soon_threadsafe([&] { ran.fetch_add(1, std::memory_order_release); });
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (ran.load(std::memory_order_acquire) <= i) {
          if (std::chrono::steady_clock::now() > deadline) {
            std::fprintf(stderr, "lost wake-up: post %d of %d not run after 10 s (backend %s)\n", i, rounds,
                         std::string(c.loop.io().name()).c_str());
            std::abort();
          }
          std::this_thread::yield();
        }
      }
    });
    c.loop.run_until([&] { return ran.load(std::memory_order_acquire) == rounds; });
    poster.join();
    CHECK(ran.load() == rounds);
  }

  TEST_CASE("yield_now lets the other ready tasks run first") {
    clean_loop c;
    std::vector<int> order;
    auto body = [](std::vector<int>& o, int id) -> task<void> {
      o.push_back(id);
      co_await corio::yield_now();
      o.push_back(id + 10);
    };
    auto a = c.loop.spawn(body(order, 1));
    auto b = c.loop.spawn(body(order, 2));
    c.loop.run_until([&] { return a.done() && b.done(); });
    CHECK(order == std::vector<int>{1, 2, 11, 12});
  }

  TEST_CASE("stop() ends run_forever") {
    clean_loop c;
    c.loop.call_soon([&] { c.loop.stop(); });
    c.loop.run_forever();
    CHECK_FALSE(c.loop.is_running());
  }

  TEST_CASE("run_until_complete reports a stop before completion") {
    clean_loop c;
    pipe_pair p;
    std::string got;
    c.loop.call_soon([&] { c.loop.stop(); });
    CHECK_THROWS_AS(c.loop.run_until_complete(read_pipe(p.r, &got)), std::logic_error);
  }

  TEST_CASE("close() cancels and drains tasks left suspended") {
    pipe_pair p;
    std::string got;
    long before = corio::detail::frame_stats().live;
    {
      event_loop loop;
      for (int i = 0; i < 10; ++i) loop.spawn(read_pipe(p.r, &got)).detach();
      loop.run_until([&] {
        auto all = loop.all_tasks();
        for (auto& t : all)
          if (t.status != corio::task_status::suspended) return false;
        return true;
      });
      CHECK(loop.live_tasks() == 10);
      loop.close();
      CHECK(loop.live_tasks() == 0);
      CHECK(loop.is_closed());
      CHECK_THROWS_AS(loop.spawn(value(1)).detach(), std::logic_error);
    }
    CHECK(corio::detail::frame_stats().live == before);
  }

  TEST_CASE("using a loop from another thread is a logic_error") {
    clean_loop c;
    std::string what;
    std::thread t([&] {
      try {
        c.loop.spawn(value(1)).detach();
      } catch (const std::logic_error& e) {
        what = e.what();
      }
    });
    t.join();
    CHECK(what.find("thread") != std::string::npos);
  }

  TEST_CASE("awaiting a corio awaitable outside a task is a clear error") {
    CHECK_THROWS_AS(corio::detail::current_task(), std::logic_error);
  }

  TEST_CASE("an unknown backend name is a clear error") {
    CHECK_THROWS_WITH_AS(event_loop(corio::loop_options{"nope"}),
                         doctest::Contains("unknown backend 'nope'"), std::invalid_argument);
  }
}

TEST_SUITE("run") {
  TEST_CASE("run() returns main's value and drains tasks main left behind") {
    static int cleaned = 0;
    cleaned = 0;
    auto amain = []() -> task<int> {
      static pipe_pair p;
      auto leftover = [](int fd) -> task<void> {
        std::byte buf[4];
        try {
          co_await corio::io::read(fd, buf);
        } catch (const corio::cancelled_error&) {
          ++cleaned;
          throw;
        }
      };
      for (int i = 0; i < 3; ++i) corio::spawn(leftover(p.r)).detach();
      co_await corio::yield_now();  // let them start and suspend on the read
      co_return 42;
    };
    CHECK(corio::run(amain()) == 42);
    CHECK(cleaned == 3);
  }

  TEST_CASE("run() rethrows main's exception") {
    CHECK_THROWS_WITH_AS(corio::run(fail("main failed")), "main failed", std::runtime_error);
  }

  TEST_CASE("SIGINT during run() cancels main, which unwinds cleanly") {
    static bool unwound = false;
    unwound = false;
    auto amain = []() -> task<void> {
      static pipe_pair p;
      std::byte buf[4];
      ::raise(SIGINT);
      try {
        co_await corio::io::read(p.r, buf);
      } catch (const corio::cancelled_error&) {
        unwound = true;
        throw;
      }
    };
    // doctest traps SIGINT for its crash report; run() only takes SIGINT
    // over from the default disposition, as asyncio.run does.
    auto* previous = std::signal(SIGINT, SIG_DFL);
    CHECK_THROWS_AS(corio::run(amain()), corio::interrupted);
    std::signal(SIGINT, previous);
    CHECK(unwound);
  }
}
