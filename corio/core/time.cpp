// SPDX-License-Identifier: MIT
//
// call_later/call_at: a callback_timer is a timer node with the callback
// and two references, one for the wheel (dropped when it fires or is
// cancelled) and one for the timer_handle. The node is freed with the last
// reference, so a handle may outlive the callback and cancel() after it ran
// is a harmless no-op. Nodes still armed when the loop closes are freed by
// the loop (loop_timers list), so an abandoned call_later never leaks.
#include <corio/core/time.hpp>
#include <corio/core/log.hpp>

namespace corio {
namespace detail {

struct callback_timer final : timer_node, loop_resource {
  static void* operator new(std::size_t size) { return frame_allocate(size); }
  static void operator delete(void* p, std::size_t size) noexcept { frame_deallocate(p, size); }

  event_loop* loop = nullptr;
  std::function<void()> fn;
  int refs = 2;
  bool armed = true;

  void release() noexcept {
    if (--refs == 0) delete this;
  }
  // Ends the wheel's interest: the node is no longer armed.
  void disarm() noexcept {
    armed = false;
    loop->untrack(*this);
    release();
  }
  void on_loop_close() noexcept override {
    armed = false;
    loop->cancel_timer(*this);
    fn = nullptr;
    release();
  }
  static void on_fire(timer_node* n) noexcept {
    auto* self = static_cast<callback_timer*>(n);
    auto fn = std::move(self->fn);
    self->disarm();
    try {
      fn();
    } catch (const std::exception& e) {
      CORIO_LOG_ERROR("exception in call_later callback: {}", e.what());
    } catch (...) {
      CORIO_LOG_ERROR("exception in call_later callback (non-std exception)");
    }
  }
};

timer_handle schedule_callback(event_loop& loop, time_point when, std::function<void()> fn) {
  auto* t = new callback_timer;
  t->loop = &loop;
  t->fn = std::move(fn);
  t->fire = &callback_timer::on_fire;
  loop.add_timer(*t, when);
  loop.track(*t);
  return timer_handle(t);
}

}  // namespace detail

timer_handle& timer_handle::operator=(timer_handle&& o) noexcept {
  if (this != &o) {
    if (t_) t_->release();
    t_ = std::exchange(o.t_, nullptr);
  }
  return *this;
}

timer_handle::~timer_handle() {
  if (t_) t_->release();
}

bool timer_handle::cancel() noexcept {
  if (!t_ || !t_->armed) return false;
  t_->loop->cancel_timer(*t_);
  t_->fn = nullptr;
  t_->disarm();
  return true;
}

bool timer_handle::pending() const noexcept { return t_ && t_->armed; }

}  // namespace corio
