// SPDX-License-Identifier: MIT
//
// The timer wheel's mechanics; the design is in timer_wheel.hpp.
//
// Invariants, with `now` = now_ and `block(x)` = x >> 36, between any two calls
// and inside every callback:
//   - a timer in slot s of level l has deadline > now, agrees with now on
//     every bit above level l's six, and has s > now's level-l digit. So each
//     level's occupied bits all lie after its current slot (no wrap-around:
//     Tokio rotates its bitmap because its top level wraps, ours never does),
//     every level-l deadline is earlier than every level-(l+1) deadline, and
//     the earliest timer is in the lowest occupied slot of the lowest level;
//   - a timer in the overflow list has block(deadline) > block(now), and
//     block(overflow_.min) is never past the earliest of them;
//   - a timer in the due list has deadline <= now;
//   - timers with equal deadlines are in the same list, in insertion order.
//     This is what makes ties fire in insertion order without a sequence
//     number: a timer's list is a function of (now, deadline), and a cascade
//     moves a whole slot, in order, before any callback can insert.
// advance() keeps them by visiting, in time order, every tick at which a slot
// or the overflow list must be fired or cascaded, and setting now_ to that
// tick first; it never visits the ticks in between.
#include <corio/timers/timer_wheel.hpp>

#include <bit>

namespace corio {

namespace detail {

struct timer_access {
  static timer_hook* hook(timer_node& n) noexcept { return &n; }
  static timer_node* node(timer_hook* h) noexcept { return static_cast<timer_node*>(h); }
  static uint16_t& where(timer_node& n) noexcept { return n.where_; }
};

}  // namespace detail

namespace {

using detail::timer_access;
using detail::timer_hook;

void init(timer_hook& head) noexcept { head.next_ = head.prev_ = &head; }
bool is_empty(const timer_hook& head) noexcept { return head.next_ == &head; }

void push_back(timer_hook& head, timer_hook* h) noexcept {
  h->prev_ = head.prev_;
  h->next_ = &head;
  head.prev_->next_ = h;
  head.prev_ = h;
}

void remove(timer_hook* h) noexcept {
  h->prev_->next_ = h->next_;
  h->next_->prev_ = h->prev_;
  h->next_ = h->prev_ = nullptr;
}

// Moves every element of `from` to the empty list `to`, keeping their order.
void splice_all(timer_hook& from, timer_hook& to) noexcept {
  if (is_empty(from)) return init(to);
  to.next_ = from.next_;
  to.prev_ = from.prev_;
  to.next_->prev_ = &to;
  to.prev_->next_ = &to;
  init(from);
}

// Unlinks every element without touching the wheel's bookkeeping.
void drop_all(timer_hook& head) noexcept {
  for (timer_hook* h = head.next_; h != &head;) {
    timer_hook* next = h->next_;
    h->next_ = h->prev_ = nullptr;
    h = next;
  }
  init(head);
}

uint64_t deadline_of(timer_hook* h) noexcept { return timer_access::node(h)->deadline; }

// Merges two null-terminated lists sorted by deadline; on ties `a` goes first.
timer_hook* merge(timer_hook* a, timer_hook* b) noexcept {
  timer_hook first;
  timer_hook* tail = &first;
  while (a && b) {
    if (deadline_of(b) < deadline_of(a)) {
      tail->next_ = b;
      b = b->next_;
    } else {
      tail->next_ = a;
      a = a->next_;
    }
    tail = tail->next_;
  }
  tail->next_ = a ? a : b;
  return first.next_;
}

// Stable sort by deadline of a circular list: the due list is filled in
// insertion order, and stability turns that into the tie order. Bottom-up merge
// sort on bins (bin i holds 2^i nodes, older than those of lower bins), so no
// recursion and no allocation; an already sorted list, the usual case, costs
// one pass.
void sort_by_deadline(timer_hook& head) noexcept {
  bool sorted = true;
  for (timer_hook* h = head.next_; h->next_ != &head; h = h->next_) {
    if (deadline_of(h->next_) < deadline_of(h)) {
      sorted = false;
      break;
    }
  }
  if (sorted) return;
  timer_hook* bins[64] = {};
  head.prev_->next_ = nullptr;
  for (timer_hook* h = head.next_; h;) {
    timer_hook* carry = h;
    h = h->next_;
    carry->next_ = nullptr;
    unsigned i = 0;
    for (; bins[i]; ++i) {
      carry = merge(bins[i], carry);
      bins[i] = nullptr;
    }
    bins[i] = carry;
  }
  timer_hook* sorted_list = nullptr;
  for (timer_hook* bin : bins) {
    if (bin) sorted_list = merge(bin, sorted_list);
  }
  init(head);
  for (timer_hook* h = sorted_list; h;) {
    timer_hook* next = h->next_;
    push_back(head, h);
    h = next;
  }
}

}  // namespace

timer_wheel::timer_wheel(uint64_t now_tick) noexcept : now_(now_tick) {
  for (bucket& b : slots_) init(b.head);
  init(overflow_.head);
  init(due_.head);
}

timer_wheel::~timer_wheel() {
  for (unsigned level = 0; level < kLevels; ++level) {
    for (uint64_t bits = occupied_[level]; bits; bits &= bits - 1) {
      drop_all(slots_[level * kSlots + unsigned(std::countr_zero(bits))].head);
    }
  }
  drop_all(overflow_.head);
  drop_all(due_.head);
}

uint64_t timer_wheel::slot_start(unsigned level, unsigned slot) const noexcept {
  const unsigned shift = level * kLevelBits;
  const uint64_t level_mask = (uint64_t{1} << (shift + kLevelBits)) - 1;
  return (now_ & ~level_mask) + (uint64_t{slot} << shift);
}

// Files a timer whose deadline is later than now_ by the highest bit in which
// the two differ (Tokio's level_for).
void timer_wheel::file(timer_node& n) noexcept {
  const uint64_t d = n.deadline;
  const unsigned level = unsigned(63 - std::countl_zero(now_ ^ d)) / kLevelBits;
  bucket* b;
  if (level >= kLevels) {
    timer_access::where(n) = kOverflow;
    b = &overflow_;
  } else {
    const unsigned slot = unsigned(d >> (level * kLevelBits)) & (kSlots - 1);
    const unsigned idx = level * kSlots + slot;
    timer_access::where(n) = uint16_t(idx);
    occupied_[level] |= uint64_t{1} << slot;
    b = &slots_[idx];
  }
  push_back(b->head, timer_access::hook(n));
  if (d < b->min) b->min = d;
}

void timer_wheel::insert(timer_node& n, uint64_t deadline_tick) noexcept {
  if (n.linked()) cancel(n);
  n.deadline = deadline_tick;
  ++size_;
  if (deadline_tick > now_) return file(n);
  timer_access::where(n) = kDue;
  push_back(due_.head, timer_access::hook(n));
  if (deadline_tick < due_.min) due_.min = deadline_tick;
}

void timer_wheel::cancel(timer_node& n) noexcept {
  if (!n.linked()) return;
  remove(timer_access::hook(n));
  --size_;
  const uint16_t where = timer_access::where(n);
  if (where < kWheelSlots) {
    bucket& b = slots_[where];
    const unsigned level = where / kSlots;
    const uint64_t bit = uint64_t{1} << (where % kSlots);
    if (is_empty(b.head)) {
      occupied_[level] &= ~bit;
      stale_[level] &= ~bit;
      b.min = UINT64_MAX;
    } else if (n.deadline == b.min) {
      stale_[level] |= bit;
    }
  } else if (where == kOverflow || where == kDue) {
    bucket& b = where == kOverflow ? overflow_ : due_;
    bool& stale = where == kOverflow ? overflow_stale_ : due_stale_;
    if (is_empty(b.head)) {
      b.min = UINT64_MAX;
      stale = false;
    } else if (n.deadline == b.min) {
      stale = true;
    }
  }
  // kBatch: the node sits in advance()'s local list, which keeps no summary.
}

std::optional<uint64_t> timer_wheel::next_expiry() const noexcept {
  if (!is_empty(due_.head)) {
    // The due list is drained by every advance(), so this walk is bounded by
    // what became due since the last one.
    if (due_stale_) {
      uint64_t min = UINT64_MAX;
      for (timer_hook* h = due_.head.next_; h != &due_.head; h = h->next_) {
        if (deadline_of(h) < min) min = deadline_of(h);
      }
      due_.min = min;
      due_stale_ = false;
    }
    return due_.min;
  }
  for (unsigned level = 0; level < kLevels; ++level) {
    if (!occupied_[level]) continue;
    const unsigned slot = unsigned(std::countr_zero(occupied_[level]));
    if (stale_[level] >> slot & 1) return slot_start(level, slot);
    return slots_[level * kSlots + slot].min;
  }
  if (is_empty(overflow_.head)) return std::nullopt;
  if (overflow_stale_) return overflow_.min >> kTopBits << kTopBits;
  return overflow_.min;
}

size_t timer_wheel::fire_batch(timer_hook& batch) noexcept {
  size_t fired = 0;
  while (!is_empty(batch)) {
    timer_node* n = timer_access::node(batch.next_);
    remove(batch.next_);
    --size_;
    ++fired;
    n->fire(n);
  }
  return fired;
}

// A level-0 slot holds the timers of exactly one tick, now_. Callbacks cannot
// add to it (a deadline <= now_ goes to the due list, a later one to a later
// slot), so popping until it is empty terminates.
size_t timer_wheel::fire_slot(unsigned slot) noexcept {
  bucket& b = slots_[slot];
  size_t fired = 0;
  while (!is_empty(b.head)) {
    timer_node* n = timer_access::node(b.head.next_);
    cancel(*n);
    ++fired;
    n->fire(n);
  }
  return fired;
}

// now_ has just reached the start of the slot: file its timers again, finer.
// Those due at exactly now_ are collected and fired after the whole slot has
// moved, so that a callback never sees a half-cascaded slot.
size_t timer_wheel::cascade_slot(unsigned level, unsigned slot) noexcept {
  bucket& b = slots_[level * kSlots + slot];
  timer_hook moving;
  splice_all(b.head, moving);
  b.min = UINT64_MAX;
  occupied_[level] &= ~(uint64_t{1} << slot);
  stale_[level] &= ~(uint64_t{1} << slot);
  timer_hook due_now;
  init(due_now);
  while (!is_empty(moving)) {
    timer_hook* h = moving.next_;
    remove(h);
    timer_node& n = *timer_access::node(h);
    if (n.deadline == now_) {
      timer_access::where(n) = kBatch;
      push_back(due_now, h);
    } else {
      file(n);
    }
  }
  return fire_batch(due_now);
}

// now_ has entered the block of overflow_.min: move that block's timers into
// the wheel and recompute the minimum of those that stay. This is the only
// walk of the overflow list, once per block that holds one of its deadlines
// (or per stale minimum).
size_t timer_wheel::cascade_overflow() noexcept {
  timer_hook due_now;
  init(due_now);
  uint64_t min = UINT64_MAX;
  for (timer_hook* h = overflow_.head.next_; h != &overflow_.head;) {
    timer_hook* next = h->next_;
    timer_node& n = *timer_access::node(h);
    if ((n.deadline >> kTopBits) == (now_ >> kTopBits)) {
      remove(h);
      if (n.deadline == now_) {
        timer_access::where(n) = kBatch;
        push_back(due_now, h);
      } else {
        file(n);
      }
    } else if (n.deadline < min) {
      min = n.deadline;
    }
    h = next;
  }
  overflow_.min = min;
  overflow_stale_ = false;
  return fire_batch(due_now);
}

size_t timer_wheel::advance(uint64_t now_tick) noexcept {
  assert(!advancing_ && "advance() called from a timer callback");
  advancing_ = true;
  const uint64_t target = now_tick < now_ ? now_ : now_tick;
  size_t fired = 0;
  if (!is_empty(due_.head)) {
    // Detach first: callbacks that re-arm at now_ refill due_ for the next call.
    timer_hook batch;
    splice_all(due_.head, batch);
    due_.min = UINT64_MAX;
    due_stale_ = false;
    sort_by_deadline(batch);
    for (timer_hook* h = batch.next_; h != &batch; h = h->next_) {
      timer_access::where(*timer_access::node(h)) = kBatch;
    }
    fired += fire_batch(batch);
  }
  for (;;) {
    unsigned level = 0;
    while (level < kLevels && !occupied_[level]) ++level;
    if (level < kLevels) {
      const unsigned slot = unsigned(std::countr_zero(occupied_[level]));
      const uint64_t tick = slot_start(level, slot);
      if (tick > target) break;
      now_ = tick;
      fired += level == 0 ? fire_slot(slot) : cascade_slot(level, slot);
    } else if (!is_empty(overflow_.head)) {
      const uint64_t tick = overflow_.min >> kTopBits << kTopBits;
      if (tick > target) break;
      now_ = tick;
      fired += cascade_overflow();
    } else {
      break;
    }
  }
  now_ = target;
  advancing_ = false;
  return fired;
}

}  // namespace corio
