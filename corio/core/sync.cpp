// SPDX-License-Identifier: MIT
//
// The non-template half of the sync primitives (sync.hpp): the waiter
// protocol shared by all of them, mutex, semaphore, event and
// condition_variable. channel<T> is a template and lives in the header.
//
// Every wait goes through enqueue_waiter(): it follows the suspension
// protocol of task_state.hpp (a pending cancel request is delivered without
// suspending; the cancel hook unlinks the waiter and wakes the task), so a
// primitive's code only decides who is granted what.
#include <corio/core/sync.hpp>

#include <stdexcept>

namespace corio {
namespace detail {

namespace {
void on_waiter_cancel(void* p) noexcept {
  auto& w = *static_cast<waiter*>(p);
  if (w.list) w.list->remove(w);
  w.st = waiter::state::cancelled;
  w.task->wake();
}
}  // namespace

bool enqueue_waiter(waiter& w, waiter_list& l, std::coroutine_handle<> h, const char* what) {
  task_state& t = current_task();
  w.task = &t;
  if (t.take_cancel()) {
    w.st = waiter::state::cancelled;
    return false;
  }
  l.push_back(w);
  w.st = waiter::state::queued;
  t.suspend(h, what, &on_waiter_cancel, &w);
  return true;
}

void end_wait(waiter& w, waiter::state s) noexcept {
  w.st = s;
  w.task->wake();
}

void throw_if_cancelled(waiter& w) {
  if (w.st != waiter::state::cancelled) return;
  w.task->cancel_delivered();
  throw cancelled_error();
}

bool cancelled_after_grant(waiter& w) noexcept {
  if (w.st != waiter::state::granted || !w.task->cancel_requested()) return false;
  w.task->cancel_delivered();
  return true;
}

}  // namespace detail

// --- mutex -------------------------------------------------------------------

mutex_guard& mutex_guard::operator=(mutex_guard&& o) noexcept {
  if (this != &o) {
    unlock();
    m_ = std::exchange(o.m_, nullptr);
  }
  return *this;
}

mutex_guard::~mutex_guard() { unlock(); }

void mutex_guard::unlock() noexcept {
  if (mutex* m = std::exchange(m_, nullptr)) m->unlock();
}

bool mutex::try_lock() noexcept {
  if (locked_ || !waiters_.empty()) return false;
  locked_ = true;
  return true;
}

void mutex::unlock() noexcept {
  if (detail::waiter* w = waiters_.pop_front())
    detail::end_wait(*w, detail::waiter::state::granted);  // stays locked: ownership moves
  else
    locked_ = false;
}

void mutex::lock_awaiter::await_resume() {
  if (detail::cancelled_after_grant(*this)) {
    m.unlock();  // the lock we were handed goes to the next waiter
    throw cancelled_error();
  }
  detail::throw_if_cancelled(*this);
}

// --- semaphore ---------------------------------------------------------------

bool semaphore::try_acquire() noexcept {
  if (count_ == 0 || !waiters_.empty()) return false;
  --count_;
  return true;
}

void semaphore::release() {
  if (waiters_.empty() && count_ >= max_)
    throw std::logic_error("corio: bounded_semaphore released more times than it was acquired");
  release_unchecked();
}

void semaphore::release_unchecked() noexcept {
  if (detail::waiter* w = waiters_.pop_front())
    detail::end_wait(*w, detail::waiter::state::granted);
  else
    ++count_;
}

void semaphore::acquire_awaiter::await_resume() {
  if (detail::cancelled_after_grant(*this)) {
    s.release_unchecked();  // the permit we were handed is returned
    throw cancelled_error();
  }
  detail::throw_if_cancelled(*this);
}

// --- event -------------------------------------------------------------------

void event::set() noexcept {
  set_ = true;
  while (detail::waiter* w = waiters_.pop_front()) detail::end_wait(*w, detail::waiter::state::granted);
}

// --- condition_variable --------------------------------------------------------

void condition_variable::notify_one() noexcept {
  if (detail::waiter* w = waiters_.pop_front()) detail::end_wait(*w, detail::waiter::state::granted);
}

void condition_variable::notify_all() noexcept {
  while (detail::waiter* w = waiters_.pop_front()) detail::end_wait(*w, detail::waiter::state::granted);
}

void condition_variable::notified_awaiter::await_resume() {
  if (detail::cancelled_after_grant(*this)) {
    cv.notify_one();  // the notification we were given is not lost
    throw cancelled_error();
  }
  detail::throw_if_cancelled(*this);
}

task<void> condition_variable::wait(mutex_guard& lock) {
  if (!lock.owns_lock()) throw std::logic_error("corio: condition_variable::wait with a guard that owns no mutex");
  return wait(*lock.get_mutex());
}

task<void> condition_variable::wait(mutex& locked) {
  locked.unlock();
  bool cancelled = false;
  try {
    co_await notified_awaiter{*this};
  } catch (const cancelled_error&) {
    cancelled = true;
  }
  // Relock whatever happened: the caller's guard owns the mutex afterwards.
  for (;;) {
    try {
      co_await locked.lock();
      break;
    } catch (const cancelled_error&) {
      cancelled = true;
    }
  }
  if (cancelled) throw cancelled_error();
}

}  // namespace corio
