// SPDX-License-Identifier: MIT
//
// What a program built on corio prints when asked how it is doing: the task
// dump on SIGQUIT (Ctrl-\ in a terminal, `kill -QUIT PID` elsewhere) and the
// loop's counters on exit (the examples' --stats).
//
//   int main() {
//     corio::sigquit_dumper dumper;           // in main, before any thread
//     corio::run([&]() -> task<void> {
//       auto watch = corio::spawn(dumper.watch(), "sigquit");
//       ...
//     }());
//   }
//
// SIGQUIT's default action kills the process with a core dump; a server that
// is merely slow should not die because someone asked what it is doing, so
// the dumper takes the signal over (blocks it and reads it from a signalfd,
// see signal_set.hpp) for as long as it lives.
#pragma once

#include <corio/core/event_loop.hpp>
#include <corio/core/signal_set.hpp>
#include <corio/core/task.hpp>

#include <cstdio>
#include <string_view>

namespace corio {

class sigquit_dumper {
 public:
  // Blocks SIGQUIT in this thread's mask: construct it in main before
  // starting threads, so that they inherit the mask.
  sigquit_dumper();

  // Runs until cancelled: each SIGQUIT prints the current loop's task dump
  // and stats to `out`. With several loops (runtime, --threads) it dumps the
  // loop it runs on.
  task<void> watch(std::FILE* out = stderr);

 private:
  signal_set sigs_;
};

// One line of counters, prefixed by `label` (e.g. "loop 0"), then a newline.
void print_stats(std::FILE* out, const loop_stats& s, std::string_view label = "loop");

}  // namespace corio
