// SPDX-License-Identifier: MIT
#include <corio/core/diagnostics.hpp>

#include <csignal>

namespace corio {

sigquit_dumper::sigquit_dumper() : sigs_{SIGQUIT} {}

task<void> sigquit_dumper::watch(std::FILE* out) {
  for (;;) {
    co_await sigs_.wait();
    event_loop* loop = event_loop::current();
    if (!loop) continue;
    loop->dump_tasks(out);
    print_stats(out, loop->stats());
  }
}

void print_stats(std::FILE* out, const loop_stats& s, std::string_view label) {
  using ms = std::chrono::duration<double, std::milli>;
  std::fprintf(out,
               "%.*s: iterations=%llu tasks_alive=%zu tasks_created=%llu tasks_cancelled=%llu ready_depth=%zu "
               "timers_alive=%zu stalls=%llu polling_ms=%.1f running_ms=%.1f\n",
               static_cast<int>(label.size()), label.data(), static_cast<unsigned long long>(s.iterations),
               s.tasks_alive, static_cast<unsigned long long>(s.tasks_created),
               static_cast<unsigned long long>(s.tasks_cancelled), s.ready_depth, s.timers_alive,
               static_cast<unsigned long long>(s.stalls), ms(s.time_polling).count(), ms(s.time_running).count());
  std::fflush(out);
}

}  // namespace corio
