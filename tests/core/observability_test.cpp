// SPDX-License-Identifier: MIT
//
// event_loop::stats(), dump_tasks() and the stall detector: the counters
// move as tasks come and go, and a task that holds the loop past
// stall_threshold is counted. dump_tasks() has no test yet (see the report).
#include <corio/core/event_loop.hpp>

#include <corio/core/time.hpp>

#include <doctest/doctest.h>


#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

using namespace std::chrono_literals;
using corio::task;

namespace {

task<void> nothing() { co_return; }

task<void> sleeper() { co_await corio::sleep(1h); }

task<void> busy(std::chrono::milliseconds d) {
  auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until) {
  }
  co_return;
}

}  // namespace

TEST_CASE("stats() counts iterations, tasks and timers") {
  corio::event_loop loop;
  CHECK(loop.stats().tasks_created == 0);
  for (int i = 0; i < 3; ++i) loop.spawn(nothing()).detach();
  CHECK(loop.stats().ready_depth == 3);
  auto s = loop.spawn(sleeper(), "sleeper");
  CHECK(loop.stats().ready_depth == 4);
  loop.run_until([&] { return loop.live_tasks() == 1; });
  auto st = loop.stats();
  CHECK(st.tasks_created == 4);
  CHECK(st.tasks_alive == 1);
  CHECK(st.iterations > 0);
  CHECK(st.ready_depth == 0);
  CHECK(st.timers_alive == 1);
  CHECK(st.tasks_cancelled == 0);
  s.cancel();
  loop.run_until([&] { return s.done(); });
  st = loop.stats();
  CHECK(st.tasks_cancelled == 1);
  CHECK(st.tasks_alive == 0);
  CHECK(st.timers_alive == 0);
  CHECK(st.time_running.count() >= 0);
  CHECK(st.time_polling.count() >= 0);
  CHECK(st.time_running + st.time_polling > 0ns);
}

TEST_CASE("a task cancelled before it ran counts as cancelled") {
  corio::event_loop loop;
  auto h = loop.spawn(nothing());
  h.cancel();
  loop.run_until([&] { return h.done(); });
  CHECK(loop.stats().tasks_cancelled == 1);
}

TEST_CASE("the stall detector counts a run over the threshold") {
  corio::loop_options opts;
  opts.stall_threshold = 10ms;
  corio::event_loop loop(opts);
  loop.run_until_complete(nothing());
  CHECK(loop.stats().stalls == 0);
  loop.run_until_complete(busy(30ms));
  CHECK(loop.stats().stalls == 1);
}

TEST_CASE("without a threshold nothing is counted") {
  corio::loop_options opts;
  opts.stall_threshold.reset();
  corio::event_loop loop(opts);
  loop.run_until_complete(busy(15ms));
  CHECK(loop.stats().stalls == 0);
}
