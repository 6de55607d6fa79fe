// SPDX-License-Identifier: MIT
//
// The wheel is checked two ways. The edge cases pin down the promises one at a
// time: exact ticks at every level boundary, deadlines in the past, at now and
// up to UINT64_MAX, time that never runs backwards, huge jumps, what a fire
// callback may do, and teardown. The property test then runs the wheel in
// lockstep with a model that is obviously right, a std::multimap ordered by
// deadline and then by insertion, for 300k random steps; the model is consulted
// inside every fire callback, so order, re-entrancy and the "due at now fires
// at the next advance()" rule are checked one firing at a time. The seed is
// fixed and printed; CORIO_TEST_SEED overrides it to replay a failure.
//
// Every test leaves its wheel empty (the fixture checks), as libuv's
// MAKE_VALGRIND_HAPPY leaves its loop.
#include <corio/timers/timer_wheel.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

using corio::timer_node;
using corio::timer_wheel;

constexpr uint64_t kBlock = uint64_t{1} << 36;  // the range of the top level

struct fixture;

struct firing {
  int id;
  uint64_t tick;
  bool linked;
  bool operator==(const firing&) const = default;
};

struct probe : timer_node {
  int id = 0;
  fixture* owner = nullptr;
  std::function<void(probe&)> then;  // runs inside the fire callback
};

struct fixture {
  std::vector<firing> log;
  probe p[16];  // declared before the wheel, so they outlive it
  timer_wheel wheel;

  explicit fixture(uint64_t start = 0) : wheel(start) {
    for (int i = 0; i < 16; ++i) {
      p[i].id = i;
      p[i].owner = this;
      p[i].fire = [](timer_node* n) noexcept {
        auto& self = *static_cast<probe*>(n);
        self.owner->log.push_back({self.id, self.owner->wheel.now(), n->linked()});
        if (self.then) self.then(self);
      };
    }
  }
  ~fixture() { CHECK_MESSAGE(wheel.empty(), "the test left timers in the wheel"); }

  std::vector<int> ids() const {
    std::vector<int> out;
    for (const firing& f : log) out.push_back(f.id);
    return out;
  }
};

// Inserts at `deadline`, checks it does not fire one tick early, then that it
// fires alone, exactly at its tick, unlinked.
void check_exact(uint64_t start, uint64_t deadline) {
  CAPTURE(start);
  CAPTURE(deadline);
  fixture f(start);
  f.wheel.insert(f.p[0], deadline);
  CHECK(f.wheel.next_expiry() == deadline);
  CHECK(f.wheel.advance(deadline - 1) == 0);
  CHECK(f.wheel.next_expiry() == deadline);
  CHECK(f.wheel.advance(deadline) == 1);
  CHECK(f.log == std::vector<firing>{{0, deadline, false}});
  CHECK(f.wheel.now() == deadline);
}

}  // namespace

TEST_SUITE("timer_wheel") {

TEST_CASE("a timer fires at its exact tick at every level boundary") {
  for (uint64_t start : {uint64_t{0}, uint64_t{37}, uint64_t{4095}, kBlock - 70, 5 * kBlock + 123456}) {
    for (unsigned level = 0; level <= 6; ++level) {
      const uint64_t width = uint64_t{1} << (6 * level);
      for (uint64_t d : {width - 1, width, width + 1, 2 * width, 63 * width + 1}) {
        if (d > 0) check_exact(start, start + d);
      }
    }
  }
}

TEST_CASE("a timer fires at its exact tick when time moves in small random steps") {
  fixture f;
  std::mt19937_64 rng(7);
  for (int i = 0; i < 16; ++i) f.wheel.insert(f.p[i], 1 + rng() % 300000);
  while (!f.wheel.empty()) f.wheel.advance(f.wheel.now() + 1 + rng() % 3);
  REQUIRE(f.log.size() == 16);
  for (const firing& x : f.log) CHECK(x.tick == f.p[x.id].deadline);
}

TEST_CASE("a deadline in the past fires at the next advance, in deadline order") {
  fixture f(1000);
  f.wheel.insert(f.p[0], 900);
  f.wheel.insert(f.p[1], 10);
  f.wheel.insert(f.p[2], 900);
  f.wheel.insert(f.p[3], 0);
  f.wheel.insert(f.p[4], 1000);
  CHECK(f.log.empty());
  CHECK(f.wheel.next_expiry() == 0);
  CHECK(f.wheel.advance(1000) == 5);
  CHECK(f.ids() == std::vector<int>{3, 1, 0, 2, 4});
  CHECK(f.wheel.now() == 1000);
}

TEST_CASE("a deadline at exactly now fires at the next advance, not inside insert") {
  fixture f(50);
  f.wheel.insert(f.p[0], 50);
  CHECK(f.log.empty());
  CHECK(f.wheel.next_expiry() == 50);
  CHECK(f.wheel.advance(50) == 1);
  CHECK(f.log == std::vector<firing>{{0, 50, false}});
}

TEST_CASE("cancel before expiry never fires") {
  fixture f;
  f.wheel.cancel(f.p[1]);  // never inserted: a no-op
  f.wheel.insert(f.p[0], 100);
  f.wheel.insert(f.p[1], 100);
  f.wheel.insert(f.p[2], kBlock * 3);
  f.wheel.cancel(f.p[0]);
  f.wheel.cancel(f.p[0]);  // twice: a no-op
  f.wheel.cancel(f.p[2]);
  CHECK_FALSE(f.p[0].linked());
  CHECK(f.wheel.size() == 1);
  CHECK(f.wheel.advance(UINT64_MAX) == 1);
  CHECK(f.ids() == std::vector<int>{1});
}

TEST_CASE("re-inserting a linked timer moves it instead of adding a second entry") {
  fixture f;
  f.wheel.insert(f.p[0], 10);
  f.wheel.insert(f.p[0], 20);
  CHECK(f.wheel.size() == 1);
  CHECK(f.wheel.advance(15) == 0);
  CHECK(f.wheel.advance(25) == 1);
  CHECK(f.log == std::vector<firing>{{0, 20, false}});
}

TEST_CASE("advancing backwards is treated as advancing to now") {
  fixture f;
  f.wheel.advance(100);
  CHECK(f.wheel.advance(50) == 0);
  CHECK(f.wheel.now() == 100);
  f.wheel.insert(f.p[0], 60);
  CHECK(f.wheel.advance(0) == 1);
  CHECK(f.log == std::vector<firing>{{0, 100, false}});
  CHECK(f.wheel.now() == 100);
}

TEST_CASE("far-future deadlines beyond the top level fire exactly on time") {
  const uint64_t three_years_ms = uint64_t{3} * 365 * 24 * 3600 * 1000;
  for (uint64_t d : {kBlock - 1, kBlock, kBlock + 1, three_years_ms, (uint64_t{1} << 40) + 12345,
                     UINT64_MAX - kBlock, UINT64_MAX - 1, UINT64_MAX}) {
    check_exact(0, d);
  }
  check_exact(kBlock - 3, kBlock + 2);  // one tick ahead, but across the top level's boundary
  check_exact(UINT64_MAX - 5, UINT64_MAX);
}

TEST_CASE("a huge jump fires everything in deadline order without walking the ticks") {
  constexpr int n = 20000;
  std::vector<firing> log;
  struct rec : timer_node {
    int id = 0;
    std::vector<firing>* log = nullptr;
    timer_wheel* wheel = nullptr;
  };
  auto nodes = std::make_unique<rec[]>(n);
  timer_wheel wheel;
  std::mt19937_64 rng(11);
  std::multimap<uint64_t, int> expected;
  for (int i = 0; i < n; ++i) {
    rec& r = nodes[i];
    r.id = i;
    r.log = &log;
    r.wheel = &wheel;
    r.fire = [](timer_node* x) noexcept {
      auto& self = *static_cast<rec*>(x);
      self.log->push_back({self.id, self.wheel->now(), false});
    };
    const uint64_t d = i % 10 == 9 ? UINT64_MAX - rng() % 1000 : rng() % 1000000000;
    wheel.insert(r, d);
    expected.emplace(d, i);
  }
  const auto t0 = std::chrono::steady_clock::now();
  const size_t first = wheel.advance(1000000000);
  const size_t second = wheel.advance(UINT64_MAX);
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  CHECK(first == size_t(n - n / 10));
  CHECK(second == size_t(n / 10));
  REQUIRE(log.size() == expected.size());
  size_t i = 0;
  for (const auto& [d, id] : expected) {
    CHECK(log[i].id == id);
    CHECK(log[i].tick == d);
    ++i;
  }
  CHECK(wheel.empty());
  // Walking 10^9 ticks one by one would take seconds; skipping them takes ms.
  CHECK(elapsed < std::chrono::milliseconds(500));

  fixture f;
  CHECK(f.wheel.advance(UINT64_MAX) == 0);
  CHECK(f.wheel.now() == UINT64_MAX);
}

TEST_CASE("a timer is unlinked inside its callback") {
  fixture f;
  f.wheel.insert(f.p[0], 5);
  f.wheel.advance(5);
  REQUIRE(f.log.size() == 1);
  CHECK_FALSE(f.log[0].linked);
}

TEST_CASE("a callback re-arming itself at now fires again at the next advance, not in this one") {
  fixture f;
  int rearms = 0;
  f.p[0].then = [&](probe& self) {
    if (++rearms <= 2) f.wheel.insert(self, f.wheel.now());
  };
  f.wheel.insert(f.p[0], 10);
  CHECK(f.wheel.advance(100) == 1);
  CHECK(f.wheel.next_expiry() == 10);  // due, and still carrying its deadline
  CHECK(f.wheel.advance(100) == 1);
  CHECK(f.wheel.advance(100) == 1);
  CHECK(f.wheel.advance(100) == 0);
  CHECK(f.log == std::vector<firing>{{0, 10, false}, {0, 100, false}, {0, 100, false}});
}

TEST_CASE("a callback may insert timers that fire later in the same advance") {
  fixture f;
  f.p[0].then = [&](probe& self) {
    if (f.wheel.now() < 100) f.wheel.insert(self, f.wheel.now() + 10);  // periodic
  };
  f.p[1].then = [&](probe&) {
    f.wheel.insert(f.p[2], f.wheel.now() + 1);
    f.wheel.insert(f.p[3], f.wheel.now() - 1);  // in the past: next advance
  };
  f.wheel.insert(f.p[0], 10);
  f.wheel.insert(f.p[1], 63);  // the next tick is in another level-0 block
  CHECK(f.wheel.advance(100) == 12);
  std::vector<firing> want;
  for (uint64_t t = 10; t <= 100; t += 10) {
    want.push_back({0, t, false});
    if (t == 60) want.push_back({1, 63, false}), want.push_back({2, 64, false});
  }
  CHECK(f.log == want);
  CHECK(f.wheel.advance(100) == 1);
  CHECK(f.log.back() == firing{3, 100, false});
}

TEST_CASE("a callback may cancel timers due at the same tick or later") {
  fixture f;
  f.p[0].then = [&](probe&) {
    f.wheel.cancel(f.p[1]);  // same tick, next in line
    f.wheel.cancel(f.p[2]);  // later tick
    f.wheel.cancel(f.p[0]);  // itself, already unlinked: a no-op
  };
  f.wheel.insert(f.p[0], 4096);
  f.wheel.insert(f.p[1], 4096);
  f.wheel.insert(f.p[3], 4096);
  f.wheel.insert(f.p[2], 5000);
  CHECK(f.wheel.advance(10000) == 2);
  CHECK(f.ids() == std::vector<int>{0, 3});
}

TEST_CASE("a callback may cancel timers of the due batch being fired") {
  fixture f(100);
  f.p[0].then = [&](probe&) { f.wheel.cancel(f.p[1]); };
  f.wheel.insert(f.p[0], 1);
  f.wheel.insert(f.p[1], 2);
  f.wheel.insert(f.p[2], 3);
  CHECK(f.wheel.advance(100) == 2);
  CHECK(f.ids() == std::vector<int>{0, 2});
}

TEST_CASE("timers with equal deadlines fire in insertion order across levels") {
  fixture f;
  f.wheel.insert(f.p[0], 5000);  // level 2 from now = 0
  f.wheel.advance(4100);
  f.wheel.insert(f.p[1], 5000);  // level 1
  f.wheel.insert(f.p[2], 4999);
  f.wheel.advance(4990);
  f.wheel.insert(f.p[3], 5000);  // level 0
  f.wheel.insert(f.p[4], 5000);
  f.wheel.insert(f.p[4], 5000);  // re-inserted: now the last
  f.wheel.insert(f.p[5], kBlock + 5);  // in the overflow list from now = 4990
  f.wheel.advance(5000);
  CHECK(f.ids() == std::vector<int>{2, 0, 1, 3, 4});
  f.wheel.advance(kBlock + 1);
  f.wheel.insert(f.p[6], kBlock + 5);
  f.wheel.advance(kBlock + 5);
  CHECK(f.log.size() == 7);
  CHECK(f.log[5] == firing{5, kBlock + 5, false});
  CHECK(f.log[6] == firing{6, kBlock + 5, false});
}

TEST_CASE("next_expiry is exact unless the earliest timer of a coarse slot was cancelled") {
  fixture f;
  CHECK_FALSE(f.wheel.next_expiry());
  f.wheel.insert(f.p[0], 100);  // both in level 1, slot 1 (ticks 64..127)
  f.wheel.insert(f.p[1], 120);
  f.wheel.insert(f.p[2], 3 * kBlock + 7);
  CHECK(f.wheel.next_expiry() == 100);
  f.wheel.cancel(f.p[0]);
  CHECK(f.wheel.next_expiry() == 64);  // the slot's cascade tick, conservative
  CHECK(f.wheel.advance(64) == 0);
  CHECK(f.wheel.next_expiry() == 120);  // cascaded, exact again
  CHECK(f.wheel.advance(120) == 1);
  CHECK(f.wheel.next_expiry() == 3 * kBlock + 7);  // overflow: exact too
  f.wheel.insert(f.p[3], 3 * kBlock + 9);
  f.wheel.cancel(f.p[2]);
  CHECK(f.wheel.next_expiry() == 3 * kBlock);  // the overflow's cascade tick
  f.wheel.advance(3 * kBlock);
  CHECK(f.wheel.next_expiry() == 3 * kBlock + 9);
  f.wheel.insert(f.p[4], 7);  // due: the smallest due deadline, exact
  f.wheel.insert(f.p[5], 3);
  f.wheel.cancel(f.p[5]);
  CHECK(f.wheel.next_expiry() == 7);
  f.wheel.advance(UINT64_MAX);
  CHECK_FALSE(f.wheel.next_expiry());
}

TEST_CASE("size and empty count linked timers") {
  fixture f;
  CHECK(f.wheel.empty());
  CHECK(f.wheel.size() == 0);
  f.wheel.insert(f.p[0], 0);  // due
  f.wheel.insert(f.p[1], 10);
  f.wheel.insert(f.p[2], UINT64_MAX);
  f.wheel.insert(f.p[2], UINT64_MAX - 1);
  CHECK(f.wheel.size() == 3);
  CHECK_FALSE(f.wheel.empty());
  f.wheel.cancel(f.p[2]);
  CHECK(f.wheel.size() == 2);
  f.p[0].then = [&](probe&) { CHECK(f.wheel.size() == 1); };
  f.wheel.advance(10);
  CHECK(f.wheel.size() == 0);
  CHECK(f.wheel.empty());
}

TEST_CASE("destroying the wheel unlinks its timers without firing them") {
  timer_node a, b, c, d;
  for (timer_node* n : {&a, &b, &c, &d}) n->fire = [](timer_node*) noexcept { std::abort(); };
  {
    timer_wheel wheel(1000);
    wheel.insert(a, 5);           // due
    wheel.insert(b, 1010);        // level 0
    wheel.insert(c, 900000);      // level 3
    wheel.insert(d, 9 * kBlock);  // overflow
    CHECK(wheel.size() == 4);
  }
  for (timer_node* n : {&a, &b, &c, &d}) CHECK_FALSE(n->linked());
}

TEST_CASE("a timer node costs at most 48 bytes") {
  CHECK(sizeof(timer_node) <= 48);
}

}  // TEST_SUITE

// ---------------------------------------------------------------------------
// The property test.

namespace {

struct model {
  using map = std::multimap<uint64_t, int>;
  map live;      // fires in (deadline, insertion) order
  map deferred;  // inserted during advance() at or before the tick being fired
  std::vector<map::iterator> pos;
  std::vector<uint8_t> in;  // 0: not linked, 1: live, 2: deferred

  explicit model(size_t n) : pos(n), in(n, 0) {}
  void erase(int id) {
    if (in[id] == 1) live.erase(pos[id]);
    if (in[id] == 2) deferred.erase(pos[id]);
    in[id] = 0;
  }
  void insert(int id, uint64_t d, bool defer) {
    erase(id);
    pos[id] = (defer ? deferred : live).emplace(d, id);  // equal keys go last
    in[id] = defer ? 2 : 1;
  }
  size_t size() const { return live.size() + deferred.size(); }
};

struct lockstep;

struct prop_node : timer_node {
  int id = 0;
  lockstep* run = nullptr;
};

struct lockstep {
  std::mt19937_64 rng;
  std::unique_ptr<prop_node[]> nodes;
  timer_wheel wheel;
  model m;
  int n;
  bool advancing = false;
  bool reentrant = true;
  uint64_t target = 0, old_now = 0;
  size_t callbacks = 0, fired_total = 0, exact = 0, conservative = 0, errors = 0;
  std::string first_error;

  lockstep(uint64_t seed, uint64_t start, int ids)
      : rng(seed), nodes(std::make_unique<prop_node[]>(size_t(ids))), wheel(start), m(size_t(ids)), n(ids) {
    for (int i = 0; i < n; ++i) {
      nodes[i].id = i;
      nodes[i].run = this;
      nodes[i].fire = [](timer_node* x) noexcept {
        auto& self = *static_cast<prop_node*>(x);
        self.run->on_fire(self);
      };
    }
  }

  void fail(const std::string& what) {
    if (errors++ == 0) first_error = what;
  }

  static uint64_t add_sat(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

  uint64_t pick_deadline(uint64_t base) {
    const unsigned r = unsigned(rng() % 100);
    if (r < 10) return base - std::min<uint64_t>(base, rng() % 1000);  // in the past
    if (r < 15) return base;                                             // exactly now
    if (r < 45) return add_sat(base, rng() % 200);                       // small
    if (r < 70) return add_sat(base, rng() % 100000);                    // medium
    if (r < 95) return add_sat(base, rng() % 1000000000);                // huge
    if (r < 98) return add_sat((base | (kBlock - 1)), rng() % 200);      // across a top-level boundary
    return UINT64_MAX - rng() % 3;                                        // as far as it goes
  }

  // The wheel and the model take the same step; inside advance() a deadline at
  // or before the tick being fired is deferred to the next advance().
  void insert(int id, uint64_t tick_now) {
    const uint64_t d = pick_deadline(tick_now);
    wheel.insert(nodes[id], d);
    m.insert(id, d, advancing && d <= tick_now);
  }
  void cancel(int id) {
    wheel.cancel(nodes[id]);
    m.erase(id);
  }

  void on_fire(prop_node& self) {
    ++callbacks;
    if (self.linked()) fail("linked inside its callback");
    if (m.live.empty() || m.live.begin()->first > target) {
      fail("fired " + std::to_string(self.id) + " but the model has nothing due");
      return;
    }
    const auto [d, id] = *m.live.begin();
    if (id != self.id) {
      fail("fired " + std::to_string(self.id) + " but the model expected " + std::to_string(id) +
           " (deadline " + std::to_string(d) + ")");
    }
    const uint64_t tick = std::max(old_now, d);
    if (wheel.now() != tick) fail("now() " + std::to_string(wheel.now()) + " != " + std::to_string(tick));
    m.erase(id);
    if (!reentrant || rng() % 10 != 0) return;
    switch (rng() % 4) {
      case 0: insert(int(rng() % unsigned(n)), tick); break;
      case 1: cancel(int(rng() % unsigned(n))); break;
      case 2: insert(self.id, tick); break;  // re-arm itself
      default: insert(self.id, tick), insert(int(rng() % unsigned(n)), tick); break;
    }
  }

  size_t advance(uint64_t to) {
    old_now = wheel.now();
    target = std::max(to, old_now);
    advancing = true;
    callbacks = 0;
    const size_t fired = wheel.advance(to);
    advancing = false;
    if (fired != callbacks) fail("advance() returned " + std::to_string(fired) + " for " + std::to_string(callbacks));
    if (!m.live.empty() && m.live.begin()->first <= target) {
      fail("advance(" + std::to_string(target) + ") left deadline " + std::to_string(m.live.begin()->first));
    }
    if (wheel.now() != target) fail("now() after advance");
    for (const auto& [d, id] : m.deferred) m.pos[id] = m.live.emplace(d, id), m.in[id] = 1;
    m.deferred.clear();
    fired_total += fired;
    return fired;
  }

  void check_summary() {
    if (wheel.size() != m.size()) fail("size() " + std::to_string(wheel.size()) + " != " + std::to_string(m.size()));
    const auto nx = wheel.next_expiry();
    if (m.live.empty()) {
      if (nx) fail("next_expiry() on an empty wheel");
      return;
    }
    const uint64_t want = m.live.begin()->first;
    if (!nx) return fail("next_expiry() is empty");
    if (*nx == want) {
      ++exact;
    } else {
      // The documented exception: a cascade tick, after now, before the deadline.
      ++conservative;
      if (!(*nx < want && *nx > wheel.now() && *nx % 64 == 0)) {
        fail("next_expiry() " + std::to_string(*nx) + " for deadline " + std::to_string(want) + " at now " +
             std::to_string(wheel.now()));
      }
    }
  }

  void step() {
    const unsigned r = unsigned(rng() % 100);
    const int id = int(rng() % unsigned(n));
    const uint64_t now = wheel.now();
    if (r < 45) return insert(id, now);
    if (r < 55) return cancel(id);
    if (r < 60) {
      // Cancel or push back the earliest timer, as an I/O deadline is when its
      // read completes: this is what makes next_expiry() conservative.
      if (m.live.empty()) return;
      const int first = m.live.begin()->second;
      return rng() % 2 ? cancel(first) : insert(first, now);
    }
    if (r < 85) {
      const unsigned k = unsigned(rng() % 100);
      uint64_t to = 0;
      if (k < 5) to = now - std::min<uint64_t>(now, rng() % 1000);  // backwards
      else if (k < 10) to = now;
      else if (k < 40) to = add_sat(now, rng() % 64);
      else if (k < 65) to = add_sat(now, rng() % 5000);
      else if (k < 85) to = add_sat(now, rng() % 1000000);
      else to = add_sat(now, rng() % 1000000000);
      advance(to);
      return;
    }
    // What the loop does: sleep until next_expiry(), then advance to it.
    // Jumps to the end of time are left to drain(), so that the run stays in
    // the range where deadlines do not saturate.
    const auto nx = wheel.next_expiry();
    if (!nx || *nx - std::min(*nx, now) > 2000000000) return;
    const size_t fired = advance(*nx);
    const auto after = wheel.next_expiry();
    if (fired == 0 && after && *after <= *nx) fail("advance(next_expiry()) made no progress");
  }

  void drain() {
    reentrant = false;
    while (m.size() > 0 && errors == 0) advance(UINT64_MAX);
    if (!wheel.empty()) fail("the wheel is not empty after draining");
  }
};

uint64_t test_seed() {
  if (const char* s = std::getenv("CORIO_TEST_SEED")) return std::strtoull(s, nullptr, 0);
  return 0x5eed'c0110;
}

}  // namespace

TEST_SUITE("timer_wheel") {

TEST_CASE("the wheel fires exactly what a sorted multimap model fires, in the same order") {
  const uint64_t seed = test_seed();
  MESSAGE("timer_wheel property seed = ", seed, " (set CORIO_TEST_SEED to replay)");
  struct config {
    uint64_t start;
    int steps;
  };
  for (const config c : {config{0, 200000}, config{kBlock - 5000, 50000}, config{UINT64_MAX - 4 * kBlock, 50000}}) {
    CAPTURE(c.start);
    lockstep run(seed ^ c.start, c.start, 2000);
    for (int i = 0; i < c.steps && run.errors == 0; ++i) {
      run.step();
      run.check_summary();
      if (run.errors) MESSAGE("failed at step ", i);
    }
    const uint64_t reached = run.wheel.now();
    run.drain();
    CHECK_MESSAGE(run.errors == 0, run.first_error);
    MESSAGE("start ", c.start, ", reached ", reached, " (", (reached >> 36) - (c.start >> 36),
            " top-level blocks): fired ", run.fired_total, ", next_expiry exact ", run.exact, ", conservative ",
            run.conservative);
    CHECK(run.fired_total > size_t(c.steps) / 10);
  }
}

}  // TEST_SUITE
