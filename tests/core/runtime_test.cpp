// SPDX-License-Identifier: MIT
//
// runtime: n loops on n distinct threads running in parallel, stop() from
// another thread, failure propagation (and the others stopped), call_on
// between loops, several runs on one runtime, pinning; stop() at every
// moment of a run, with the loops idle or busy, many times over.
#include <corio/core/runtime.hpp>

#include <corio/core/future.hpp>
#include <corio/core/time.hpp>
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using corio::task;

namespace {

// Aborts the test binary with a message if it is still armed `limit` after
// it was made: a lost wake-up hangs forever, and a test that hangs says
// nothing about where.
class watchdog {
 public:
  watchdog(std::chrono::seconds limit, const char* what) : thread_([this, limit, what] {
    std::unique_lock lock(m_);
    if (!cv_.wait_for(lock, limit, [this] { return done_; })) {
      std::fprintf(stderr, "watchdog: %s still running after %llds\n", what, static_cast<long long>(limit.count()));
      std::abort();
    }
  }) {}
  ~watchdog() {
    {
      std::lock_guard lock(m_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace

TEST_SUITE("runtime") {
  TEST_CASE("n loops run their mains in parallel on distinct threads") {
    constexpr std::size_t n = 4;
    corio::runtime rt(n);
    CHECK(rt.size() == n);
    std::mutex m;
    std::set<std::thread::id> threads;
    std::set<corio::event_loop*> loops;
    std::atomic<std::size_t> arrived = 0;
    std::vector<std::size_t> seen_index(n, n);
    rt.run([&](std::size_t i) -> task<void> {
      {
        std::lock_guard lock(m);
        threads.insert(std::this_thread::get_id());
        loops.insert(corio::event_loop::current());
      }
      seen_index[i] = rt.current_index();
      // A barrier that only passes if all n mains run at the same time.
      ++arrived;
      while (arrived.load() < n) co_await corio::sleep(1ms);
    });
    CHECK(threads.size() == n);
    CHECK(threads.count(std::this_thread::get_id()) == 0);
    CHECK(loops.size() == n);
    for (std::size_t i = 0; i < n; ++i) CHECK(seen_index[i] == i);
    CHECK(rt.current_index() == n);
  }

  TEST_CASE("stop from another thread cancels every main and run returns normally") {
    corio::runtime rt(3);
    std::atomic<int> started = 0, unwound = 0;
    std::thread stopper([&] {
      while (started.load() < 3) std::this_thread::sleep_for(1ms);
      rt.stop();
    });
    rt.run([&](std::size_t) -> task<void> {
      struct on_exit {
        std::atomic<int>& n;
        ~on_exit() { ++n; }
      } guard{unwound};
      ++started;
      for (;;) co_await corio::sleep(1h);
    });
    stopper.join();
    CHECK(unwound == 3);
    CHECK_FALSE(rt.stop_requested());
  }

  TEST_CASE("a failing main stops the others and its exception is rethrown by run") {
    corio::runtime rt(3);
    std::atomic<int> cancelled = 0, waiting = 0;
    auto body = [&](std::size_t i) -> task<void> {
      if (i == 1) {
        // Fail once the others wait (a main cancelled before it started would never run).
        while (waiting.load() < 2) co_await corio::sleep(1ms);
        throw std::runtime_error("loop 1 failed");
      }
      try {
        ++waiting;
        for (;;) co_await corio::sleep(1h);
      } catch (const corio::cancelled_error&) {
        ++cancelled;
        throw;
      }
    };
    CHECK_THROWS_WITH_AS(rt.run(body), "loop 1 failed", std::runtime_error);
    CHECK(cancelled == 2);
  }

  TEST_CASE("a factory that throws is reported like a failing main") {
    corio::runtime rt(2);
    auto factory = [](std::size_t i) -> task<void> {
      if (i == 0) throw std::invalid_argument("no main for loop 0");
      return [](std::size_t) -> task<void> { co_return; }(i);
    };
    CHECK_THROWS_AS(rt.run(factory), std::invalid_argument);
  }

  TEST_CASE("tasks left behind by a main are cancelled and drained") {
    corio::runtime rt(2);
    std::atomic<int> drained = 0;
    rt.run([&](std::size_t) -> task<void> {
      auto orphan = [](std::atomic<int>& d) -> task<void> {
        try {
          co_await corio::sleep(1h);
        } catch (const corio::cancelled_error&) {
          ++d;
          throw;
        }
      };
      corio::spawn(orphan(drained)).detach();
      co_await corio::yield_now();
    });
    CHECK(drained == 2);
  }

  TEST_CASE("loops pass messages to each other with call_on and one runtime runs twice (1M messages each)") {
    constexpr int messages = 1'000'000;
    corio::runtime rt(2);
    for (int round = 0; round < 2; ++round) {
      std::atomic<int> received = 0, misdelivered = 0;
      corio::promise<void> all_received;
      auto all = all_received.get_future();
      rt.run([&](std::size_t i) -> task<void> {
        if (i == 0) {
          for (int k = 0; k < messages; ++k) {
            rt.call_on(1, [&] {
              if (rt.current_index() != 1) ++misdelivered;
              if (++received == messages) all_received.set_value();
            });
            if (k % 1024 == 0) co_await corio::yield_now();
          }
        } else {
          co_await all;
        }
      });
      CHECK(received == messages);
      CHECK(misdelivered == 0);
    }
  }

  TEST_CASE("stop() at any moment of a run ends it, loops idle or busy (4 loops x 300 runs)") {
    // Each run is stopped from another thread after a random delay: before
    // the mains start, while they start, while every loop sleeps in poll
    // (idle: a 1 h sleep) or while every loop is busy posting to the next
    // one with call_on, so that stop()'s wake-ups race with loops going to
    // sleep and with wake-ups already in flight. A lost wake-up leaves
    // run() waiting for a loop that never looks at the flag: the watchdog
    // turns that into an abort with a message.
    constexpr std::size_t n = 4;
    constexpr int runs = 300;
    // Outlives the runtime: posts still queued when a run ends run later.
    std::atomic<std::uint64_t> posts = 0;
    corio::runtime rt(n);
    watchdog dog(60s, "the stop() stress test");
    unsigned x = 2463534242u;
    int busy_runs = 0;
    for (int r = 0; r < runs; ++r) {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      const bool busy = r % 2 == 1;
      const auto delay = std::chrono::microseconds(x % 3000);
      std::atomic<int> started = 0, unwound = 0;
      const std::uint64_t posts_before = posts.load();
      std::thread stopper([&] {
        std::this_thread::sleep_for(delay);
        rt.stop();
      });
      rt.run([&](std::size_t i) -> task<void> {
        struct on_exit {
          std::atomic<int>& n;
          ~on_exit() { ++n; }
        } guard{unwound};
        ++started;
        if (!busy)
          for (;;) co_await corio::sleep(1h);
        for (;;) {
          rt.call_on((i + 1) % n, [&] { ++posts; });
          co_await corio::yield_now();
        }
      });
      stopper.join();
      // A main that had not started when stop() came never runs its body.
      CHECK(unwound.load() == started.load());
      CHECK_FALSE(rt.stop_requested());
      if (busy && posts.load() > posts_before) ++busy_runs;
    }
    MESSAGE(runs << " runs stopped, " << busy_runs << " of them with the loops busy posting to each other");
    // The runtime still runs after all that.
    std::atomic<int> ran = 0;
    rt.run([&](std::size_t) -> task<void> {
      ++ran;
      co_return;
    });
    CHECK(ran == int(n));
  }

  TEST_CASE("pinned loops still run") {
    corio::runtime rt(2, {.pin = true});
    std::atomic<int> ran = 0;
    rt.run([&](std::size_t) -> task<void> {
      ++ran;
      co_return;
    });
    CHECK(ran == 2);
  }

  TEST_CASE("run from one of the runtime's own loops is a logic_error") {
    corio::runtime rt(1);
    bool refused = false;
    rt.run([&](std::size_t) -> task<void> {
      try {
        rt.run([](std::size_t) -> task<void> { co_return; });
      } catch (const std::logic_error&) {
        refused = true;
      }
      co_return;
    });
    CHECK(refused);
  }
}
