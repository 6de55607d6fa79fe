// SPDX-License-Identifier: MIT
//
// Single-loop synchronisation: mutex, semaphore, bounded_semaphore, event,
// condition_variable and channel<T> (asyncio's Lock, Semaphore,
// BoundedSemaphore, Event, Condition and Queue). One loop runs one task at a
// time, so there are no atomics: a primitive is a little state plus an
// intrusive FIFO of waiters.
//
// Waiters (detail::waiter) live in the awaiters, hence in the waiting
// coroutine's frame: a wait allocates nothing. Every waiter is in one state:
//
//   idle ──suspend──> queued ──grant──> granted ──(task runs)──> done
//                       │
//                       ├──cancel hook──> cancelled   (left the queue, holds nothing)
//                       └──close()─────> closed       (channels only)
//
// Rules every primitive follows:
//   - FIFO: waiters are served in arrival order; a newcomer never overtakes
//     a queued waiter (no barging), so 1000 lockers acquire in order.
//   - A grant is a transfer: unlock() hands the lock to the first waiter,
//     release() hands it the permit, notify_one() hands it the signal. The
//     primitive never looks "free" in between.
//   - Cancellation releases what it holds. A queued waiter that is cancelled
//     leaves the queue and never acquires. A waiter granted something and
//     cancelled before it ran passes the grant on (the lock or permit goes to
//     the next waiter, the notification to the next waiter, a received value
//     back to the front of the channel) and throws cancelled_error. The only
//     exception is a send that already delivered its value: a send is never
//     undone, so it returns and the cancel request stays pending for the
//     task's next suspension point (as a completed read does, io.hpp).
//
// Not thread-safe: a primitive belongs to the loop of the tasks using it.
#pragma once

#include <corio/core/error.hpp>
#include <corio/core/event_loop.hpp>
#include <corio/core/task.hpp>
#include <corio/core/task_state.hpp>

#include <coroutine>
#include <cstddef>
#include <deque>
#include <optional>
#include <utility>

namespace corio {

namespace detail {

// One suspended task in a primitive's queue.
struct waiter {
  enum class state : std::uint8_t { idle, queued, granted, cancelled, closed };

  waiter* prev = nullptr;
  waiter* next = nullptr;
  task_state* task = nullptr;
  struct waiter_list* list = nullptr;
  state st = state::idle;
};

// Intrusive FIFO of waiters.
struct waiter_list {
  waiter* head = nullptr;
  waiter* tail = nullptr;

  bool empty() const noexcept { return head == nullptr; }
  void push_back(waiter& w) noexcept {
    w.prev = tail;
    w.next = nullptr;
    w.list = this;
    (tail ? tail->next : head) = &w;
    tail = &w;
  }
  void remove(waiter& w) noexcept {
    (w.prev ? w.prev->next : head) = w.next;
    (w.next ? w.next->prev : tail) = w.prev;
    w.prev = w.next = nullptr;
    w.list = nullptr;
  }
  waiter* pop_front() noexcept {
    waiter* w = head;
    if (w) remove(*w);
    return w;
  }
};

// The suspension protocol (task_state.hpp) for a queue wait. Returns false
// (and marks the waiter cancelled) if a cancel request is pending.
bool enqueue_waiter(waiter& w, waiter_list& l, std::coroutine_handle<> h, const char* what);
// Ends a queued wait with `s` (granted or closed) and wakes its task.
void end_wait(waiter& w, waiter::state s) noexcept;
// If the wait ended by cancellation: consume the request, throw cancelled_error.
void throw_if_cancelled(waiter& w);
// True if the waiter was granted something but its task was cancelled
// before it ran: the grant must be passed on. Consumes the request.
bool cancelled_after_grant(waiter& w) noexcept;

}  // namespace detail

// ---------------------------------------------------------------------------
// mutex
//
// States: unlocked (no waiters) | locked, no waiters | locked, waiters
// queued. unlock() with waiters keeps the mutex locked and makes the first
// waiter the owner. Not recursive; ownership is not checked (asyncio's Lock).
//
//   corio::mutex m;
//   {
//     auto guard = co_await m.scoped_lock();
//     co_await write_record(file);   // nobody else writes meanwhile
//   }                                // unlocked here, even on a throw
class mutex;

// Owns a locked mutex; unlocks it on destruction. Move-only.
class mutex_guard {
 public:
  mutex_guard() noexcept = default;
  explicit mutex_guard(mutex& m) noexcept : m_(&m) {}
  mutex_guard(mutex_guard&& o) noexcept : m_(std::exchange(o.m_, nullptr)) {}
  mutex_guard& operator=(mutex_guard&& o) noexcept;
  mutex_guard(const mutex_guard&) = delete;
  mutex_guard& operator=(const mutex_guard&) = delete;
  ~mutex_guard();

  bool owns_lock() const noexcept { return m_ != nullptr; }
  mutex* get_mutex() const noexcept { return m_; }
  // Unlocks now; the guard becomes empty.
  void unlock() noexcept;

 private:
  mutex* m_ = nullptr;
};

class mutex {
  struct lock_awaiter;
  struct scoped_lock_awaiter;

 public:
  mutex() = default;
  mutex(const mutex&) = delete;
  mutex& operator=(const mutex&) = delete;

  // Suspends until the mutex is this task's. Throws cancelled_error if the
  // task is cancelled first (then it never owns the mutex).
  lock_awaiter lock() noexcept { return lock_awaiter{*this}; }
  // lock(), then a guard that unlocks in its destructor.
  scoped_lock_awaiter scoped_lock() noexcept { return scoped_lock_awaiter{*this}; }
  // Takes the mutex if it is free and nobody queues for it; never suspends.
  bool try_lock() noexcept;
  // Hands the mutex to the first waiter, or frees it.
  void unlock() noexcept;
  bool is_locked() const noexcept { return locked_; }

 private:
  struct lock_awaiter : detail::waiter {
    explicit lock_awaiter(mutex& m) noexcept : m(m) {}
    lock_awaiter(const lock_awaiter& o) noexcept : waiter(), m(o.m) {}
    mutex& m;
    bool await_ready() noexcept { return m.try_lock(); }
    bool await_suspend(std::coroutine_handle<> h) { return detail::enqueue_waiter(*this, m.waiters_, h, "lock"); }
    void await_resume();
  };
  struct scoped_lock_awaiter : lock_awaiter {
    using lock_awaiter::lock_awaiter;
    mutex_guard await_resume() {
      lock_awaiter::await_resume();
      return mutex_guard(m);
    }
  };

  detail::waiter_list waiters_;
  bool locked_ = false;
};

// ---------------------------------------------------------------------------
// semaphore
//
// States: count > 0, no waiters | count == 0, waiters queued (or none).
// release() with waiters hands the permit to the first one, so the count
// stays 0 and a newcomer cannot barge in.
class semaphore {
  struct acquire_awaiter;

 public:
  explicit semaphore(std::size_t initial) noexcept : count_(initial) {}
  semaphore(const semaphore&) = delete;
  semaphore& operator=(const semaphore&) = delete;

  // Suspends until a permit is this task's; cancelled_error otherwise.
  acquire_awaiter acquire() noexcept { return acquire_awaiter{*this}; }
  bool try_acquire() noexcept;
  // Returns a permit (to the first waiter if there is one).
  // bounded_semaphore: std::logic_error beyond the initial count.
  void release();
  std::size_t available() const noexcept { return count_; }

 protected:
  semaphore(std::size_t initial, std::size_t max) noexcept : count_(initial), max_(max) {}

 private:
  void release_unchecked() noexcept;
  struct acquire_awaiter : detail::waiter {
    explicit acquire_awaiter(semaphore& s) noexcept : s(s) {}
    acquire_awaiter(const acquire_awaiter& o) noexcept : waiter(), s(o.s) {}
    semaphore& s;
    bool await_ready() noexcept { return s.try_acquire(); }
    bool await_suspend(std::coroutine_handle<> h) { return detail::enqueue_waiter(*this, s.waiters_, h, "acquire"); }
    void await_resume();
  };

  detail::waiter_list waiters_;
  std::size_t count_;
  std::size_t max_ = static_cast<std::size_t>(-1);
};

// A semaphore whose release() beyond the initial count throws
// std::logic_error (asyncio's BoundedSemaphore: it catches double releases).
class bounded_semaphore final : public semaphore {
 public:
  explicit bounded_semaphore(std::size_t initial) noexcept : semaphore(initial, initial) {}
};

// ---------------------------------------------------------------------------
// event
//
// States: clear (waiters may be queued) | set (no waiters). set() wakes
// every waiter; wait() on a set event returns at once; clear() re-arms.
class event {
  struct wait_awaiter;

 public:
  event() = default;
  event(const event&) = delete;
  event& operator=(const event&) = delete;

  void set() noexcept;
  void clear() noexcept { set_ = false; }
  bool is_set() const noexcept { return set_; }
  // Suspends until set(); cancelled_error if cancelled first.
  wait_awaiter wait() noexcept { return wait_awaiter{*this}; }

 private:
  struct wait_awaiter : detail::waiter {
    explicit wait_awaiter(event& e) noexcept : e(e) {}
    wait_awaiter(const wait_awaiter& o) noexcept : waiter(), e(o.e) {}
    event& e;
    bool await_ready() const noexcept { return e.set_; }
    bool await_suspend(std::coroutine_handle<> h) { return detail::enqueue_waiter(*this, e.waiters_, h, "event"); }
    void await_resume() { detail::throw_if_cancelled(*this); }
  };

  detail::waiter_list waiters_;
  bool set_ = false;
};

// ---------------------------------------------------------------------------
// condition_variable
//
// States: no waiters | waiters queued. wait(lock) unlocks, queues, and
// relocks before it returns or throws (even when cancelled: the caller's
// guard always owns the mutex afterwards). A notification given to a waiter
// that is cancelled before it runs goes to the next waiter.
//
//   auto lk = co_await m.scoped_lock();
//   co_await cv.wait(lk, [&] { return !queue.empty(); });
class condition_variable {
  struct notified_awaiter;

 public:
  condition_variable() = default;
  condition_variable(const condition_variable&) = delete;
  condition_variable& operator=(const condition_variable&) = delete;

  task<void> wait(mutex_guard& lock);
  task<void> wait(mutex& locked);
  template <class Pred>
  task<void> wait(mutex_guard& lock, Pred pred) {
    while (!pred()) co_await wait(lock);
  }
  void notify_one() noexcept;
  void notify_all() noexcept;

 private:
  struct notified_awaiter : detail::waiter {
    explicit notified_awaiter(condition_variable& cv) noexcept : cv(cv) {}
    condition_variable& cv;
    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> h) { return detail::enqueue_waiter(*this, cv.waiters_, h, "condition"); }
    void await_resume();
  };

  detail::waiter_list waiters_;
};

// ---------------------------------------------------------------------------
// channel<T>
//
// A bounded FIFO between tasks (asyncio.Queue + close, Go's channel).
// capacity 0 is a rendezvous: a send completes when a receiver takes it.
//
// States:
//   open, buffer has room           send() completes at once
//   open, full                      senders queue, each holding its value
//   open, empty                     receivers queue
//   closed                          send() throws channel_closed; receive()
//                                   drains the buffer, then returns nullopt
// Invariants: receivers queue only while the buffer is empty and no sender
// waits; senders queue only while the buffer is full and no receiver waits.
// close() wakes every waiter: senders throw channel_closed (their values are
// not enqueued), receivers get nullopt.
//
//   corio::channel<int> ch(16);
//   co_await ch.send(1);
//   while (auto v = co_await ch.receive()) use(*v);   // ends once closed and drained
class channel_closed : public error {
 public:
  channel_closed() : error("corio: send on a closed channel") {}
};

template <class T>
class channel {
  struct send_awaiter;
  struct receive_awaiter;

 public:
  explicit channel(std::size_t capacity) : capacity_(capacity) {}
  channel(const channel&) = delete;
  channel& operator=(const channel&) = delete;

  // Suspends while the channel is full. Throws channel_closed if the
  // channel is (or gets) closed first, cancelled_error if the task is
  // cancelled first; in both cases the value was not enqueued.
  send_awaiter send(T v) { return send_awaiter{*this, std::move(v)}; }
  // Suspends while the channel is empty; nullopt once closed and drained.
  // Throws cancelled_error if cancelled first (no value is lost).
  receive_awaiter receive() noexcept { return receive_awaiter{*this}; }

  // Never suspends. False when full (v is then left as it was); throws
  // channel_closed when closed.
  bool try_send(T&& v) { return try_send_impl(v); }
  bool try_send(const T& v) {
    T copy(v);
    return try_send_impl(copy);
  }
  // Never suspends. nullopt when empty (or closed and drained).
  std::optional<T> try_receive() {
    if (!buffer_.empty()) {
      std::optional<T> v(std::move(buffer_.front()));
      buffer_.pop_front();
      refill_from_sender();
      return v;
    }
    if (auto* s = static_cast<send_awaiter*>(senders_.pop_front())) {  // rendezvous
      std::optional<T> v(std::move(s->value));
      detail::end_wait(*s, detail::waiter::state::granted);
      return v;
    }
    return std::nullopt;
  }

  // Wakes every waiter (see above). Idempotent.
  void close() noexcept {
    closed_ = true;
    while (auto* w = senders_.pop_front()) detail::end_wait(*w, detail::waiter::state::closed);
    while (auto* w = receivers_.pop_front()) detail::end_wait(*w, detail::waiter::state::closed);
  }
  bool is_closed() const noexcept { return closed_; }
  std::size_t size() const noexcept { return buffer_.size(); }
  std::size_t capacity() const noexcept { return capacity_; }
  bool empty() const noexcept { return buffer_.empty(); }

 private:
  struct send_awaiter : detail::waiter {
    send_awaiter(channel& c, T v) : c(c), value(std::move(v)) {}
    send_awaiter(send_awaiter&& o) noexcept(std::is_nothrow_move_constructible_v<T>)
        : waiter(), c(o.c), value(std::move(o.value)) {}
    channel& c;
    T value;
    bool await_ready() { return c.try_send_impl(value); }
    bool await_suspend(std::coroutine_handle<> h) { return detail::enqueue_waiter(*this, c.senders_, h, "send"); }
    void await_resume() {
      if (st == state::closed) throw channel_closed();
      detail::throw_if_cancelled(*this);
    }
  };

  struct receive_awaiter : detail::waiter {
    explicit receive_awaiter(channel& c) noexcept : c(c) {}
    receive_awaiter(const receive_awaiter& o) noexcept : waiter(), c(o.c) {}
    channel& c;
    std::optional<T> value;
    bool await_ready() {
      value = c.try_receive();
      return value.has_value() || c.closed_;
    }
    bool await_suspend(std::coroutine_handle<> h) { return detail::enqueue_waiter(*this, c.receivers_, h, "receive"); }
    std::optional<T> await_resume() {
      if (detail::cancelled_after_grant(*this)) {
        c.unreceive(std::move(*value));
        throw cancelled_error();
      }
      detail::throw_if_cancelled(*this);
      return std::move(value);  // nullopt when woken by close()
    }
  };

  bool try_send_impl(T& v) {
    if (closed_) throw channel_closed();
    if (auto* r = static_cast<receive_awaiter*>(receivers_.pop_front())) {
      r->value.emplace(std::move(v));
      detail::end_wait(*r, detail::waiter::state::granted);
      return true;
    }
    if (buffer_.size() >= capacity_) return false;
    buffer_.push_back(std::move(v));
    return true;
  }
  // A slot freed in the buffer: the first queued sender's value moves in.
  void refill_from_sender() {
    if (buffer_.size() >= capacity_) return;
    if (auto* s = static_cast<send_awaiter*>(senders_.pop_front())) {
      buffer_.push_back(std::move(s->value));
      detail::end_wait(*s, detail::waiter::state::granted);
    }
  }
  // A receiver was cancelled after a value was handed to it: the value goes
  // to the next receiver, or back to the front of the buffer (which may then
  // hold one more than its capacity until it is read: no value is dropped).
  void unreceive(T v) {
    if (auto* r = static_cast<receive_awaiter*>(receivers_.pop_front())) {
      r->value.emplace(std::move(v));
      detail::end_wait(*r, detail::waiter::state::granted);
      return;
    }
    buffer_.push_front(std::move(v));
  }

  std::deque<T> buffer_;
  detail::waiter_list senders_;
  detail::waiter_list receivers_;
  std::size_t capacity_;
  bool closed_ = false;
};

}  // namespace corio
