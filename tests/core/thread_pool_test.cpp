// SPDX-License-Identifier: MIT
//
// thread_pool: submit, map (blocking and awaited), shutdown, exceptions,
// many producers; to_thread: resumes on the loop's thread, carries
// exceptions, cancellation drops the result but lets the function finish.
#include <corio/core/thread_pool.hpp>

#include <corio/core/event_loop.hpp>
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using corio::task;

namespace {

// A one-shot gate a test opens to let a blocked job go on.
struct gate {
  std::mutex m;
  std::condition_variable cv;
  bool open = false;
  void release() {
    {
      std::lock_guard lock(m);
      open = true;
    }
    cv.notify_all();
  }
  void wait() {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return open; });
  }
};

}  // namespace

TEST_SUITE("thread_pool") {
  TEST_CASE("submit runs the function on a worker and returns its value") {
    corio::thread_pool pool(2);
    CHECK(pool.size() == 2);
    auto caller = std::this_thread::get_id();
    auto f = pool.submit([] { return std::this_thread::get_id(); });
    CHECK(f.get() != caller);
    auto g = pool.submit([] { return std::string("done"); });
    CHECK(g.get() == "done");
    std::atomic<int> hits = 0;
    pool.submit([&] { ++hits; }).get();
    CHECK(hits == 1);
  }

  TEST_CASE("an exception thrown by the function is carried by the future") {
    corio::thread_pool pool(1);
    auto f = pool.submit([]() -> int { throw std::runtime_error("worker failed"); });
    CHECK_THROWS_WITH_AS(f.get(), "worker failed", std::runtime_error);
    // The worker survives it.
    CHECK(pool.submit([] { return 5; }).get() == 5);
  }

  TEST_CASE("map returns results in input order") {
    corio::thread_pool pool(4);
    std::vector<int> in(100);
    std::iota(in.begin(), in.end(), 0);
    auto out = pool.map(
        [](int x) {
          if (x % 7 == 0) std::this_thread::sleep_for(1ms);
          return x * x;
        },
        in);
    REQUIRE(out.size() == 100);
    for (int i = 0; i < 100; ++i) CHECK(out[static_cast<std::size_t>(i)] == i * i);
    CHECK(pool.map([](int x) { return x; }, std::vector<int>{}).empty());
  }

  TEST_CASE("map rethrows the first failure in input order") {
    corio::thread_pool pool(3);
    auto run = [&] {
      return pool.map(
          [](int x) {
            if (x == 2) throw std::invalid_argument("two");
            if (x == 4) throw std::runtime_error("four");
            return x;
          },
          std::vector<int>{1, 2, 3, 4});
    };
    CHECK_THROWS_AS(run(), std::invalid_argument);
  }

  TEST_CASE("shutdown waits for queued work and refuses new work") {
    corio::thread_pool pool(1);
    std::atomic<int> done = 0;
    for (int i = 0; i < 20; ++i)
      (void)pool.submit([&] {
        std::this_thread::sleep_for(100us);
        ++done;
      });
    pool.shutdown();
    CHECK(done == 20);
    CHECK_THROWS_AS(pool.submit([] {}), std::runtime_error);
    pool.shutdown();  // idempotent
  }

  TEST_CASE("shutdown without waiting returns at once and the queued work still runs") {
    gate g;
    std::atomic<int> done = 0;
    corio::future<void> last;
    {
      corio::thread_pool pool(1);
      (void)pool.submit([&] {
        g.wait();
        ++done;
      });
      last = pool.submit([&] { ++done; });
      pool.shutdown(false);
      CHECK(done == 0);
      CHECK_THROWS_AS(pool.submit([] {}), std::runtime_error);
      g.release();
    }  // the destructor joins
    CHECK(done == 2);
    CHECK(last.done());
  }

  TEST_CASE("eight producer threads submit concurrently and every job runs once") {
    corio::thread_pool pool(4);
    std::atomic<long> sum = 0;
    std::vector<std::thread> producers;
    for (int p = 0; p < 8; ++p) {
      producers.emplace_back([&, p] {
        std::vector<corio::future<void>> fs;
        for (int i = 0; i < 1000; ++i) fs.push_back(pool.submit([&sum, v = p * 1000 + i] { sum += v; }));
        for (auto& f : fs) f.get();
      });
    }
    for (auto& t : producers) t.join();
    CHECK(sum == 8000L * 7999L / 2);
  }

  TEST_CASE("a task awaits submit and async_map and resumes on its loop thread") {
    corio::event_loop loop;
    corio::thread_pool pool(3);
    auto body = [](corio::thread_pool& p) -> task<int> {
      auto loop_thread = std::this_thread::get_id();
      std::thread::id worker = co_await p.submit([] { return std::this_thread::get_id(); });
      CHECK(worker != loop_thread);
      CHECK(std::this_thread::get_id() == loop_thread);
      // HACK(gcc-12): a braced temporary inside a co_await expression fails with "array used as
      // initializer" (https://gcc.gnu.org/bugzilla/show_bug.cgi?id=100611 family); name it first.
      std::vector<int> inputs{1, 2, 3, 4};
      std::vector<int> squares = co_await p.async_map([](int x) { return x * x; }, inputs);
      CHECK(std::this_thread::get_id() == loop_thread);
      CHECK(squares == std::vector<int>{1, 4, 9, 16});
      co_return squares.back();
    };
    CHECK(loop.run_until_complete(body(pool)) == 16);
  }
}

TEST_SUITE("to_thread") {
  TEST_CASE("to_thread runs off the loop and resumes the task on the loop thread") {
    corio::event_loop loop;
    auto loop_thread = std::this_thread::get_id();
    auto body = [](std::thread::id expected) -> task<std::thread::id> {
      auto ran_on = co_await corio::to_thread([] {
        std::this_thread::sleep_for(2ms);
        return std::this_thread::get_id();
      });
      CHECK(std::this_thread::get_id() == expected);
      co_await corio::to_thread([] {});
      CHECK(std::this_thread::get_id() == expected);
      co_return ran_on;
    };
    auto worker = loop.run_until_complete(body(loop_thread));
    CHECK(worker != loop_thread);
    CHECK(std::this_thread::get_id() == loop_thread);
  }

  TEST_CASE("to_thread rethrows the function's exception in the task") {
    corio::event_loop loop;
    auto body = []() -> task<int> {
      co_return co_await corio::to_thread([]() -> int { throw std::out_of_range("oor"); });
    };
    CHECK_THROWS_WITH_AS(loop.run_until_complete(body()), "oor", std::out_of_range);
  }

  TEST_CASE("cancelling a task in to_thread raises cancelled_error at once and the function still completes") {
    corio::event_loop loop;
    gate g;
    std::atomic<bool> started = false, finished = false;
    auto body = [](gate& gt, std::atomic<bool>& s, std::atomic<bool>& f) -> task<int> {
      co_return co_await corio::to_thread([&] {
        s = true;
        gt.wait();
        f = true;
        return 1;
      });
    };
    auto h = loop.spawn(body(g, started, finished));
    loop.run_until([&] { return h.status() == corio::task_status::suspended; });
    // The loop must not poll now (nothing would wake it): wait here for the worker.
    while (!started) std::this_thread::yield();
    h.cancel();
    loop.run_until([&] { return h.done(); });
    CHECK(h.cancelled());
    CHECK_FALSE(finished.load());
    g.release();
    // The function runs to its end on the pool; its result goes nowhere.
    corio::default_thread_pool().submit([] {}).get();
    for (int i = 0; i < 1000 && !finished; ++i) std::this_thread::sleep_for(1ms);
    CHECK(finished.load());
    CHECK(loop.live_tasks() == 0);
  }

  TEST_CASE("the default pool has at least two workers") {
    CHECK(corio::default_thread_pool().size() >= 2);
    CHECK(corio::thread_pool::default_size() >= 2);
  }
}
