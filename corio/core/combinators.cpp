// SPDX-License-Identifier: MIT
//
// The non-template half of the combinators (combinators.hpp): the
// completion_counter every combinator and task_group waits on, and the
// type-erased core of gather (children are task<void> wrappers that write
// their value into a slot of the caller's frame, so one core serves the
// variadic and the vector forms).
#include <corio/core/combinators.hpp>

namespace corio::detail {

// --- completion_counter ------------------------------------------------------

void completion_counter::arrive(std::size_t index) {
  --pending_;
  if (record_) arrived_.push_back(index);
  if (waiter_ && (pending_ == 0 || !waiter_wants_all_)) std::exchange(waiter_, nullptr)->wake();
}

std::optional<std::size_t> completion_counter::pop() noexcept {
  if (arrived_.empty()) return std::nullopt;
  std::size_t i = arrived_.front();
  arrived_.pop_front();
  return i;
}

bool completion_counter::awaiter::await_suspend(std::coroutine_handle<> h) {
  task = &current_task();
  if (task->take_cancel()) {
    cancelled = true;
    return false;
  }
  c.waiter_ = task;
  c.waiter_wants_all_ = all;
  task->suspend(h, what, &on_cancel, this);
  return true;
}

void completion_counter::awaiter::await_resume() const {
  if (!cancelled) return;
  task->cancel_delivered();
  throw cancelled_error();
}

void completion_counter::awaiter::on_cancel(void* self) noexcept {
  auto* a = static_cast<awaiter*>(self);
  a->c.waiter_ = nullptr;
  a->cancelled = true;
  a->task->wake();
}

// --- gather --------------------------------------------------------------------

task<std::vector<std::exception_ptr>> gather_core(std::vector<task<void>> children, bool fail_fast) {
  const std::size_t n = children.size();
  std::vector<join_handle<void>> handles;
  handles.reserve(n);
  for (auto& t : children) handles.push_back(spawn(std::move(t)));
  auto c = std::make_shared<completion_counter>();
  for (std::size_t i = 0; i < n; ++i) watch(handles[i], c, i);

  auto cancel_all = [&] {
    for (auto& h : handles) h.cancel();
  };
  bool cancelled = false;
  std::exception_ptr first;
  while (c->pending() > 0) {
    bool got_cancel = false;
    try {
      co_await c->next("gather");
    } catch (const cancelled_error&) {
      got_cancel = true;
    }
    if (got_cancel) {
      // Our caller is cancelled: so are the children, and we still wait
      // for them (a cancel request arriving again only repeats this).
      cancelled = true;
      cancel_all();
      continue;
    }
    while (auto i = c->pop()) {
      if (fail_fast && !first && handles[*i].status() != task_status::done) {
        first = error_of(handles[*i]);
        cancel_all();
      }
    }
  }
  std::vector<std::exception_ptr> errors(n);
  for (std::size_t i = 0; i < n; ++i) errors[i] = error_of(handles[i]);
  if (cancelled) throw cancelled_error();
  if (first) std::rethrow_exception(first);
  co_return errors;
}

}  // namespace corio::detail
