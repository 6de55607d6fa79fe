// SPDX-License-Identifier: MIT
//
// Fixtures shared by the tests of corio/core (one copy, so that the clean
// teardown every test relies on is the same everywhere):
//   clean_loop  a loop on a virtual clock whose teardown closes it (running
//               it dry, cancelling what is left) and checks that no task is
//               left alive: libuv's MAKE_VALGRIND_HAPPY for corio;
//   pipe_pair   a non-blocking pipe, closed (and forgotten by the current
//               loop's backend, which may still watch it) at scope exit.
#pragma once

#include <corio/core/clock.hpp>
#include <corio/core/event_loop.hpp>
#include <corio/core/task_state.hpp>

#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

namespace corio_test {

struct clean_loop {
  corio::virtual_clock clk;
  corio::event_loop loop{{.clock = &clk}};
  ~clean_loop() {
    loop.close();
    CHECK(loop.live_tasks() == 0);
  }
  // Runs the loop until each task is suspended or finished.
  template <class... H>
  void settle(H&... h) {
    loop.run_until([&] { return ((h.status() == corio::task_status::suspended || h.done()) && ...); });
  }
};

struct pipe_pair {
  int r = -1, w = -1;
  pipe_pair() {
    int fds[2];
    REQUIRE(::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0);
    r = fds[0];
    w = fds[1];
  }
  pipe_pair(const pipe_pair&) = delete;
  pipe_pair& operator=(const pipe_pair&) = delete;
  ~pipe_pair() {
    if (auto* l = corio::event_loop::current()) {
      l->io().forget(r);
      l->io().forget(w);
    }
    ::close(r);
    ::close(w);
  }
};

}  // namespace corio_test
