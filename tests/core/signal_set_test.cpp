// SPDX-License-Identifier: MIT
//
// signal_set: a signal sent to the process comes out of wait() as its
// number, whether it arrives while a task waits or was already pending; two
// signals of the set both come out; a cancelled wait loses no signal; a bad
// signal number is refused with a clear error. Runs under every backend:
// under kqueue the set reads EVFILT_SIGNAL knotes instead of a signalfd
// (signal_set.cpp), so both paths are covered by the backend runs. The
// signals (SIGUSR1, SIGUSR2) stay blocked in the test's thread, which is the
// process's only thread, so kill() leaves them pending for the set.
#include <corio/core/signal_set.hpp>

#include <corio/core/error.hpp>
#include <corio/core/event_loop.hpp>
#include <corio/core/time.hpp>
#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <set>
#include <string>
#include <system_error>
#include <unistd.h>

using namespace std::chrono_literals;
using corio::event_loop;
using corio::task;

namespace {

struct clean_loop {
  event_loop loop;
  ~clean_loop() {
    loop.close();
    CHECK(loop.live_tasks() == 0);
  }
};

void send(int sig) { REQUIRE(::kill(::getpid(), sig) == 0); }

// The next signal of the set, or a timeout_error after 5 s.
task<int> next(corio::signal_set& sigs) { co_return co_await corio::timeout(5s, sigs.wait(), "signal wait"); }

task<int> send_later(corio::signal_set& sigs, int sig) {
  corio::call_later(20ms, [sig] { send(sig); });
  co_return co_await next(sigs);
}

}  // namespace

TEST_SUITE("signal_set") {
  TEST_CASE("a signal that arrives while a task waits is its number") {
    clean_loop c;
    corio::signal_set sigs{SIGUSR1};
    CHECK(c.loop.run_until_complete(send_later(sigs, SIGUSR1)) == SIGUSR1);
  }

  TEST_CASE("a signal already pending is returned at once") {
    clean_loop c;
    corio::signal_set sigs{SIGUSR1};
    send(SIGUSR1);
    CHECK(c.loop.run_until_complete(next(sigs)) == SIGUSR1);
  }

  TEST_CASE("two signals of the set both come out") {
    clean_loop c;
    corio::signal_set sigs{SIGUSR1, SIGUSR2};
    send(SIGUSR2);
    send(SIGUSR1);
    auto both = [](corio::signal_set& s) -> task<std::set<int>> {
      std::set<int> got;
      got.insert(co_await next(s));
      got.insert(co_await next(s));
      co_return got;
    };
    CHECK(c.loop.run_until_complete(both(sigs)) == std::set<int>{SIGUSR1, SIGUSR2});
  }

  TEST_CASE("a cancelled wait loses no signal") {
    clean_loop c;
    corio::signal_set sigs{SIGUSR1};
    auto h = c.loop.spawn(sigs.wait());
    c.loop.run_until([&] { return h.status() == corio::task_status::suspended; });
    h.cancel();
    c.loop.run_until([&] { return h.done(); });
    CHECK(h.cancelled());
    send(SIGUSR1);
    CHECK(c.loop.run_until_complete(next(sigs)) == SIGUSR1);
  }

  TEST_CASE("a bad signal number is refused naming it") {
    clean_loop c;
    try {
      corio::signal_set sigs{SIGUSR1, 100000};
      FAIL("no exception");
    } catch (const std::system_error& e) {
      CHECK(std::string(e.what()).find("signal 100000") != std::string::npos);
    }
  }
}
