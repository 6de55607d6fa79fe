// SPDX-License-Identifier: MIT
//
// The loop reads time through a clock it is given, so that tests can make
// time pass without sleeping (DESIGN.md, "Timers").
//
// - steady_clock_source: the real monotonic clock (the default).
// - manual_clock: time moves only when the test says so (set/advance). The
//   loop never sleeps for a timer on it: a timer that is not due yet does
//   not bound the poll, a due one makes the poll non-blocking.
// - virtual_clock (Trio's MockClock with autojump): when every task is
//   waiting and no I/O is ready, the loop jumps the clock straight to the
//   next timer. A test of a 30 s timeout or of retries with backoff runs in
//   microseconds, deterministically.
//
// A clock is shared by reference: it must outlive the loops that use it.
#pragma once

#include <chrono>

namespace corio {

using clock_duration = std::chrono::nanoseconds;
using time_point = std::chrono::time_point<std::chrono::steady_clock, clock_duration>;

class clock_source {
 public:
  enum class kind { real, manual, autojump };

  virtual ~clock_source() = default;
  virtual time_point now() const noexcept = 0;
  virtual kind type() const noexcept { return kind::real; }
  // Moves a manual or virtual clock to t (never backwards). Real clocks ignore it.
  virtual void jump_to(time_point) noexcept {}
};

class steady_clock_source final : public clock_source {
 public:
  time_point now() const noexcept override {
    return std::chrono::time_point_cast<clock_duration>(std::chrono::steady_clock::now());
  }
  static steady_clock_source& instance() noexcept {
    static steady_clock_source c;
    return c;
  }
};

class manual_clock : public clock_source {
 public:
  // Starts at an arbitrary fixed point, far from zero so that deadlines
  // computed as "now - x" stay meaningful.
  explicit manual_clock(time_point start = time_point(std::chrono::hours(24))) noexcept : now_(start) {}
  time_point now() const noexcept override { return now_; }
  kind type() const noexcept override { return kind::manual; }
  void jump_to(time_point t) noexcept override {
    if (t > now_) now_ = t;
  }
  void advance(clock_duration d) noexcept { jump_to(now_ + d); }

 private:
  time_point now_;
};

class virtual_clock final : public manual_clock {
 public:
  using manual_clock::manual_clock;
  kind type() const noexcept override { return kind::autojump; }
};

}  // namespace corio
