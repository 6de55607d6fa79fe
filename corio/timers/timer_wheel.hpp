// SPDX-License-Identifier: MIT
//
// A hierarchical timing wheel (Varghese & Lauck, "Hashed and Hierarchical
// Timing Wheels", SOSP 1987) with Tokio's layout: 6 levels of 64 slots. The
// wheel counts abstract ticks; the event loop maps its clock onto them (1 ms by
// default), so the resolution is one tick.
//
//   level  slot width  level range   at 1 ms ticks
//     0    1           64            64 ms
//     1    64          4096          4.1 s
//     2    64^2        64^3          4.4 min
//     3    64^3        64^4          4.7 h
//     4    64^4        64^5          12.4 days
//     5    64^5        64^6 = 2^36   2.2 years
//
// A timer lives at the level of the highest bit in which its deadline differs
// from now(), in the slot named by that level's 6 bits of the deadline. When
// time reaches a coarse slot, its timers are cascaded down, so every timer
// fires at its exact tick: never early, at most one tick late (the lateness is
// the loop's, which rounds the clock down to a tick). Linux stopped cascading
// in 4.8 (kernel/time/timer.c, "The timer wheel has LVL_DEPTH array levels"):
// it files a timer once and lets coarse levels fire up to 12.5% late, betting
// that most timeouts are cancelled first. We reject that slack: a sleep(10 s)
// that wakes at 11 s is a bug report, and each timer cascades at most 5 times.
//
// Beyond the top level, timers whose deadline is outside now()'s 2^36-tick
// block (more than 2.2 years away, or just across a block boundary) wait in an
// unsorted overflow list. When time enters the block of the earliest of them,
// the list is walked once and the timers of that block move into the wheel, so
// deadlines up to UINT64_MAX work and a far timer costs nothing until then.
// Timers already due (deadline <= now()) wait in a due list for the next
// advance(); advance() sorts that list by deadline, so even they fire in order.
//
// Re-arming is cheap: insert() on a linked node is an unlink and a link, no
// allocation. I/O deadlines pushed back on every read can go further and be
// lazy, as nginx (NGX_TIMER_LAZY_DELAY) and Tokio ("registered vs true
// timeout") do: keep the true deadline beside the node, let the old one fire,
// and re-insert at the true deadline from the callback.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace corio {

namespace detail {

// The two links of an intrusive circular list; the wheel's slot heads are bare
// hooks, so that 384 list heads cost 16 bytes each instead of a whole node.
struct timer_hook {
  timer_hook* next_ = nullptr;
  timer_hook* prev_ = nullptr;
};

// The list operations of timer_wheel.cpp, the only code that sees a node's links.
struct timer_access;

}  // namespace detail

// One timer, embedded in (or a base of) whatever waits on it; the wheel never
// allocates. Set `fire`, then hand the node to timer_wheel::insert(). The node
// must stay at the same address while linked, hence it is neither copyable nor
// movable; destroying a linked node is a bug (asserted in debug builds).
//
//   struct sleeper : corio::timer_node { std::coroutine_handle<> h; };
//   sleeper s;
//   s.fire = [](corio::timer_node* n) noexcept { static_cast<sleeper*>(n)->h.resume(); };
//   wheel.insert(s, wheel.now() + 250);
struct timer_node : private detail::timer_hook {
  using fire_fn = void (*)(timer_node*) noexcept;

  // Called by advance() once the deadline has passed, after the node has been
  // unlinked: linked() is false inside, and the callback may re-insert it.
  fire_fn fire = nullptr;
  // The absolute tick at which to fire; written by timer_wheel::insert().
  uint64_t deadline = 0;

  timer_node() noexcept = default;
  timer_node(const timer_node&) = delete;
  timer_node& operator=(const timer_node&) = delete;
  ~timer_node() { assert(!linked() && "a timer_node was destroyed while linked"); }

  bool linked() const noexcept { return next_ != nullptr; }

 private:
  friend struct detail::timer_access;
  // Which list holds the node: a wheel slot (level * 64 + slot), the overflow
  // list or the due list. cancel() needs it to keep the bitmaps exact.
  uint16_t where_ = 0;
};

static_assert(sizeof(timer_node) <= 48, "a live timer must cost at most 48 bytes");

// The wheel. Single-threaded, like the loop that owns it. insert() and cancel()
// are O(1). advance() skips empty slots with one countr_zero per level, so it
// costs what it fires and cascades, not the number of ticks it crosses: a jump
// of 10^9 ticks over an empty wheel is as cheap as a jump of 1.
//
// Order: advance(t) fires every timer with deadline <= t in nondecreasing
// deadline order, ties in insertion order (re-inserting counts as inserting).
//
// Re-entrancy: callbacks may insert, re-insert and cancel any timer. Inside a
// callback now() is the tick being fired (max of the old now() and the node's
// deadline). A timer inserted there with a deadline <= now() is due, and fires
// at the next advance(), never in the current one: a callback that re-arms
// itself at now() cannot keep advance() spinning. A timer inserted with a
// later deadline <= t fires in the same advance(). A cancelled timer that had
// not fired yet never fires.
//
// Destroying the wheel unlinks its timers without firing them.
class timer_wheel {
 public:
  explicit timer_wheel(uint64_t now_tick = 0) noexcept;
  timer_wheel(const timer_wheel&) = delete;
  timer_wheel& operator=(const timer_wheel&) = delete;
  ~timer_wheel();

  // Links `n` to fire at `deadline_tick`, first cancelling it if linked. A
  // deadline <= now() is due at the next advance(). O(1), no allocation.
  void insert(timer_node& n, uint64_t deadline_tick) noexcept;

  // Unlinks `n` so that it never fires; a no-op if it is not linked. O(1).
  void cancel(timer_node& n) noexcept;

  // The earliest tick at which advance() has work, or nullopt if the wheel is
  // empty; the loop sleeps until then. A value <= now() means "due now".
  //
  // It is the exact earliest deadline, with one exception: when the earliest
  // timers sit in a coarse slot (level >= 1) or in the overflow list, and that
  // slot's or list's earliest timer has been cancelled since it was filed,
  // the wheel does not search the rest of it (that search is what an I/O
  // deadline re-armed on every read would pay on every loop iteration).
  // It then returns the tick at which the slot or list is cascaded, which is
  // later than now() and earlier than every deadline it holds; advance() to
  // that tick files them finer, so the next answer is closer or exact.
  // O(levels), no scan of slots.
  std::optional<uint64_t> next_expiry() const noexcept;

  // Moves time to `now_tick` (a smaller value counts as now(): time never runs
  // backwards) and fires every due timer as described above. Returns how many
  // callbacks ran. Not to be called from a callback (asserted in debug builds).
  //
  //   auto next = wheel.next_expiry();  // the loop, once per iteration
  //   backend.poll(next ? ticks_to_timeout(*next) : no_timeout);
  //   wheel.advance(clock_ticks());
  size_t advance(uint64_t now_tick) noexcept;

  uint64_t now() const noexcept { return now_; }
  size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

 private:
  static constexpr unsigned kLevelBits = 6;
  static constexpr unsigned kSlots = 1u << kLevelBits;
  static constexpr unsigned kLevels = 6;
  static constexpr unsigned kTopBits = kLevelBits * kLevels;  // 36
  static constexpr uint16_t kWheelSlots = kSlots * kLevels;   // 384
  static constexpr uint16_t kOverflow = kWheelSlots;
  static constexpr uint16_t kDue = kWheelSlots + 1;
  static constexpr uint16_t kBatch = kWheelSlots + 2;  // detached while firing

  // A list of timers plus the smallest deadline filed in it since it was
  // last empty or walked. Cancelling the node that holds that minimum makes
  // it stale (too small, never too large): `stale` is then set.
  struct bucket {
    detail::timer_hook head;
    uint64_t min = UINT64_MAX;
  };

  void file(timer_node& n) noexcept;
  size_t fire_batch(detail::timer_hook& batch) noexcept;
  size_t fire_slot(unsigned slot) noexcept;
  size_t cascade_slot(unsigned level, unsigned slot) noexcept;
  size_t cascade_overflow() noexcept;
  uint64_t slot_start(unsigned level, unsigned slot) const noexcept;

  uint64_t now_;
  size_t size_ = 0;
  uint64_t occupied_[kLevels] = {};  // bit s of word l: slot s of level l holds timers
  uint64_t stale_[kLevels] = {};     // bit s of word l: that slot's min is stale
  bool overflow_stale_ = false;
  mutable bool due_stale_ = false;  // next_expiry() recomputes due_.min
  bool advancing_ = false;          // advance() must not be re-entered
  bucket slots_[kWheelSlots];
  bucket overflow_;
  mutable bucket due_;
};

}  // namespace corio
