// SPDX-License-Identifier: MIT
//
// What every tests/net file needs: run a test body on a fresh loop, then
// check libuv's MAKE_VALGRIND_HAPPY conditions: the loop drained (no task
// left alive) and no file descriptor leaked (the entries of /proc/self/fd
// are the same count before and after).
#pragma once

#include <corio/core/event_loop.hpp>
#include <doctest/doctest.h>

#include <cstddef>
#include <dirent.h>
#include <functional>

namespace corio::test {

// Open fds of this process (the directory stream's own fd not counted).
inline std::size_t open_fds() {
  std::size_t n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (::dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') ++n;
    ::closedir(d);
    return n - 1;
  }
  return 0;
}

// Runs body() to completion on a new loop, drains the loop and checks
// that no task and no fd outlived the test.
inline void run_test(const std::function<task<void>()>& body, loop_options options = {}) {
  std::size_t before = open_fds();
  {
    event_loop loop(std::move(options));
    loop.run_until_complete(body());
    loop.cancel_all_and_drain();
    CHECK(loop.live_tasks() == 0);
    loop.close();
  }
  CHECK(open_fds() == before);
}

}  // namespace corio::test
