// SPDX-License-Identifier: MIT
//
// event_loop::stats(), dump_tasks() and the stall detector: the counters
// move as tasks come and go; a suspended task's await chain (each frame's
// function, file and line) is printed by dump_tasks() and listed by
// all_tasks(); a task that holds the loop past stall_threshold is counted
// and named with the co_awaits it ran between.
#include <corio/core/event_loop.hpp>

#include <corio/core/async_generator.hpp>
#include <corio/core/log.hpp>
#include <corio/core/sync.hpp>
#include <corio/core/time.hpp>

#include <doctest/doctest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

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

void spin(std::chrono::milliseconds d) {
  auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until) {
  }
}

// A 3-deep chain: outer awaits middle awaits inner, which waits on an
// event. Each records the line of its co_await.
struct chain_lines {
  unsigned inner = 0, middle = 0, outer = 0;
};

task<int> inner(corio::event& ev, chain_lines& at) {
  at.inner = __LINE__ + 1;
  co_await ev.wait();
  co_return 1;
}

task<int> middle(corio::event& ev, chain_lines& at) {
  at.middle = __LINE__ + 1;
  int v = co_await inner(ev, at);
  co_return v + 1;
}

task<int> outer(corio::event& ev, chain_lines& at) {
  at.outer = __LINE__ + 1;
  int v = co_await middle(ev, at);
  co_return v + 1;
}

// Everything written to `f` since the start.
std::string read_all(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string out;
  char buf[512];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, f)) out.append(buf, n);
  return out;
}

// The lines of a dump that show frames ("  #0 ..."), without the "#N ".
std::vector<std::string> frame_lines(const std::string& dump) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < dump.size()) {
    std::size_t end = dump.find('\n', pos);
    if (end == std::string::npos) end = dump.size();
    std::string line = dump.substr(pos, end - pos);
    if (line.rfind("  #" + std::to_string(out.size()) + " ", 0) == 0) out.push_back(line.substr(line.find(' ', 3) + 1));
    pos = end + 1;
  }
  return out;
}

// "inner at <this file>:<line>", as a frame ends. GCC qualifies the
// function ("{anonymous}::inner"), clang 14 does not.
bool names(const std::string& frame, const std::string& function, unsigned line) {
  std::string tail(function);
  tail.append(" at ").append(__FILE__).append(":").append(std::to_string(line));
  return frame.size() >= tail.size() && frame.compare(frame.size() - tail.size(), tail.size(), tail) == 0;
}

bool ends_with(std::string_view s, std::string_view tail) { return s.ends_with(tail); }

corio::async_generator<int> ticks(corio::event& ev, unsigned& line) {
  co_yield 1;
  line = __LINE__ + 1;
  co_await ev.wait();
  co_yield 2;
}

task<int> consume_ticks(corio::event& ev, unsigned& gen_line, unsigned& line) {
  auto gen = ticks(ev, gen_line);
  int sum = 0;
  for (;;) {
    line = __LINE__ + 1;
    std::optional<int> v = co_await gen.next();
    if (!v) break;
    sum += *v;
  }
  co_return sum;
}

// Captures what corio logs while it lives.
class log_capture {
 public:
  log_capture() : sink_(std::make_shared<spdlog::sinks::ostream_sink_mt>(out_)) {
    sink_->set_pattern("%v");
    corio::detail::logger().sinks().push_back(sink_);
  }
  ~log_capture() {
    auto& sinks = corio::detail::logger().sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
  }
  std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
};

task<void> stalls_between(corio::event& go, corio::event& again, unsigned& from, unsigned& to) {
  from = __LINE__ + 1;
  co_await go.wait();
  spin(40ms);
  to = __LINE__ + 1;
  co_await again.wait();
}

}  // namespace

TEST_CASE("dump_tasks() prints the await chain of a suspended task, innermost first") {
  corio::event_loop loop;
  corio::event ev;
  chain_lines at;
  auto h = loop.spawn(outer(ev, at), "chain");
  loop.run_until([&] { return h.status() == corio::task_status::suspended; });

  std::FILE* f = std::tmpfile();
  REQUIRE(f);
  loop.dump_tasks(f);
  std::string dump = read_all(f);
  std::fclose(f);
  INFO(dump);
  CHECK(dump.find("'chain' suspended") != std::string::npos);
  CHECK(dump.find("waiting on event") != std::string::npos);
  auto frames = frame_lines(dump);
  REQUIRE(frames.size() == 3);
  CHECK(names(frames[0], "inner", at.inner));
  CHECK(names(frames[1], "middle", at.middle));
  CHECK(names(frames[2], "outer", at.outer));

  auto tasks = loop.all_tasks();
  REQUIRE(tasks.size() == 1);
  REQUIRE(tasks[0].awaiting.size() == 3);
  CHECK(ends_with(tasks[0].awaiting[0].function, "inner"));
  CHECK(tasks[0].awaiting[0].line == at.inner);
  CHECK(std::string(tasks[0].awaiting[0].file) == __FILE__);
  CHECK(tasks[0].awaiting[2].line == at.outer);

  ev.set();
  loop.run_until([&] { return h.done(); });
  CHECK(h.result() == 3);
  CHECK(loop.all_tasks().empty());
}

TEST_CASE("the chain is gone while a task runs, and follows it to its next co_await") {
  corio::event_loop loop;
  corio::event first, second;
  std::vector<corio::source_site> seen_running;
  unsigned second_line = 0;
  // A named lambda: the coroutine reads its captures through it.
  auto body = [&]() -> task<void> {
    co_await first.wait();
    seen_running = corio::event_loop::current()->all_tasks()[0].awaiting;
    second_line = __LINE__ + 1;
    co_await second.wait();
  };
  auto h = loop.spawn(body());
  loop.run_until([&] { return h.status() == corio::task_status::suspended; });
  first.set();
  loop.run_until([&] { return second_line != 0 && h.status() == corio::task_status::suspended; });
  CHECK(seen_running.empty());
  auto chain = loop.all_tasks()[0].awaiting;
  REQUIRE(chain.size() == 1);
  CHECK(chain[0].line == second_line);
  second.set();
  loop.run_until([&] { return h.done(); });
}

TEST_CASE("the chain goes through an async_generator's body") {
  corio::event_loop loop;
  corio::event ev;
  unsigned gen_line = 0, consumer_line = 0;
  auto h = loop.spawn(consume_ticks(ev, gen_line, consumer_line));
  loop.run_until([&] { return h.status() == corio::task_status::suspended; });
  auto chain = loop.all_tasks()[0].awaiting;
  REQUIRE(chain.size() == 2);
  CHECK(ends_with(chain[0].function, "ticks"));
  CHECK(chain[0].line == gen_line);
  CHECK(ends_with(chain[1].function, "consume_ticks"));
  CHECK(chain[1].line == consumer_line);
  ev.set();
  loop.run_until([&] { return h.done(); });
  CHECK(h.result() == 3);
}

TEST_CASE("the stall detector names the co_awaits a stalling task ran between") {
  corio::loop_options opts;
  opts.stall_threshold = 20ms;
  corio::event_loop loop(opts);
  corio::event go, again;
  unsigned from = 0, to = 0;
  log_capture log;
  auto h = loop.spawn(stalls_between(go, again, from, to), "staller");
  loop.run_until([&] { return h.status() == corio::task_status::suspended; });
  go.set();
  loop.run_until([&] { return to != 0 && h.status() == corio::task_status::suspended; });
  std::string text = log.text();
  INFO(text);
  CHECK(loop.stats().stalls >= 1);
  std::string file = __FILE__;
  CHECK(text.find("stall: task " + std::to_string(h.id()) + " 'staller' held the loop for") != std::string::npos);
  std::string from_site = "from the co_await at " + file + ":" + std::to_string(from) + " in ";
  std::string to_site = " to the co_await at " + file + ":" + std::to_string(to) + " in ";
  auto f = text.find(from_site);
  auto t = text.find(to_site);
  REQUIRE(f != std::string::npos);
  REQUIRE(t != std::string::npos);
  CHECK(text.substr(f + from_site.size(), t - f - from_site.size()).ends_with("stalls_between"));
  CHECK(text.find("stalls_between", t) != std::string::npos);
  again.set();
  loop.run_until([&] { return h.done(); });
}

TEST_CASE("task creation and cancellation are logged at debug level, and only then") {
  auto& logger = corio::detail::logger();
  auto level = logger.level();
  log_capture log;
  {
    corio::event_loop loop;
    logger.set_level(spdlog::level::info);
    auto quiet = loop.spawn(sleeper(), "quiet");
    quiet.cancel();
    loop.run_until([&] { return quiet.done(); });
    logger.set_level(spdlog::level::debug);
    auto h = loop.spawn(sleeper(), "logged");
    loop.run_until([&] { return h.status() == corio::task_status::suspended; });
    h.cancel();
    loop.run_until([&] { return h.done(); });
    logger.set_level(level);
    std::string text = log.text();
    INFO(text);
    std::string id = std::to_string(h.id());
    CHECK(text.find("task " + id + " 'logged' created") != std::string::npos);
    CHECK(text.find("task " + id + " 'logged': cancellation requested (suspended)") != std::string::npos);
    CHECK(text.find("task " + id + " 'logged' cancelled") != std::string::npos);
    CHECK(text.find("quiet") == std::string::npos);
  }
  logger.set_level(level);
}

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
