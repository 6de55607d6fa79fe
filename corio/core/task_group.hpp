// SPDX-License-Identifier: MIT
//
// task_group: structured concurrency (asyncio.TaskGroup, Trio's nursery).
// Children spawned into a group are waited for by the scope that owns it;
// the first child to fail cancels the others, and the group rethrows that
// failure once every child has finished. Nothing outlives the scope.
//
// The recommended shape is the async scope, which cannot forget to wait:
//
//   co_await corio::task_group::run([&](corio::task_group& g) -> corio::task<void> {
//     for (auto& url : urls) g.spawn(fetch(url));
//     co_await announce(urls.size());                 // the body may await too
//   });                                             // all children finished here
//
// The object form is for groups whose life is not one block:
//
//   corio::task_group g;
//   g.spawn(a());
//   g.spawn(b());
//   co_await g.wait();
//
// States of a group:
//   open        children run; spawn() adds more
//   failing     a child failed (or the scope body threw): every child is
//               cancelled, children spawned now are cancelled at once;
//               wait() waits for all, then rethrows the first failure
//   idle        no child running; wait() returns at once
// After wait() returns or throws, the group is open and empty again.
//
// Cancellation: a child that ends with cancelled_error is not a failure.
// Cancelling the task that awaits wait() (or run()) cancels every child,
// waits for them, then throws cancelled_error (a child failure wins over it).
// Destroying a group whose children still run cancels them without waiting
// (a destructor cannot suspend); the loop finishes them, and they hold the
// group's shared core, so nothing dangles. Prefer run() or wait().
//
// spawn() returns the child's handle (a child_handle<T>, which is a
// join_handle<T>): keep it to read the child's value once the group
// finished (h.result()), or drop it, which is the common case and not a
// mistake (unlike a dropped spawn() handle, the group still owns the
// child, hence a type that is not [[nodiscard]]). Failures travel through
// the group, whether or not the handle is kept. Built on the
// completion_counter of combinators.hpp (one counter, no order kept).
//
//   corio::child_handle<int> size;
//   co_await corio::task_group::run([&](corio::task_group& g) -> corio::task<void> {
//     size = g.spawn(fetch_size(url));
//     g.spawn(log_visit(url));
//   });
//   use(size.result());
#pragma once

#include <corio/core/combinators.hpp>

#include <memory>
#include <string>
#include <vector>

namespace corio {

// What task_group::spawn returns: a join_handle<T> in all but the
// [[nodiscard]] (see the top of this file).
template <class T>
class child_handle : public join_handle<T> {
 public:
  child_handle() noexcept = default;
  explicit child_handle(join_handle<T>&& h) noexcept : join_handle<T>(std::move(h)) {}
};

namespace detail {
// A counted reference to a task of any result type: the group needs its
// state, never its value.
class any_task_ref {
 public:
  any_task_ref() noexcept = default;
  explicit any_task_ref(task_state* s) noexcept : s_(s) { s_->add_ref(); }
  any_task_ref(any_task_ref&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  any_task_ref& operator=(any_task_ref&& o) noexcept {
    if (this != &o) {
      reset();
      s_ = std::exchange(o.s_, nullptr);
    }
    return *this;
  }
  ~any_task_ref() { reset(); }
  void reset() noexcept {
    if (task_state* s = std::exchange(s_, nullptr)) s->release();
  }
  task_state* get() const noexcept { return s_; }
  explicit operator bool() const noexcept { return s_ != nullptr; }

 private:
  task_state* s_ = nullptr;
};

// What children and their done callbacks share with the group.
struct group_core {
  completion_counter counter{false};
  std::vector<any_task_ref> children;  // a slot per running child
  std::vector<std::size_t> free_slots;
  std::exception_ptr first_failure;
  bool failing = false;
  bool abandoned = false;  // the task_group was destroyed: failures are logged

  void child_done(std::size_t slot) noexcept;
  void fail(std::exception_ptr e) noexcept;
  static void report_abandoned(std::exception_ptr e) noexcept;
  void cancel_all() noexcept;
};
}  // namespace detail

class task_group {
 public:
  task_group();
  task_group(const task_group&) = delete;
  task_group& operator=(const task_group&) = delete;
  // Cancels the children still running; does not wait for them.
  ~task_group();

  // Spawns t as a child (starts soon, on the current loop) and returns its
  // handle, which may be dropped. In a failing group the child is
  // cancelled at once.
  template <class T>
  child_handle<T> spawn(task<T> t, std::string name = {}) {
    join_handle<T> h = corio::spawn(std::move(t), std::move(name));
    adopt(h.raw_state());
    return child_handle<T>(std::move(h));
  }

  // Waits until every child finished (see the top of this file): returns,
  // or rethrows the first child failure, or throws cancelled_error.
  task<void> wait();

  // Cancels every running child; wait() then returns normally unless a
  // child failed (Trio's cancel_scope.cancel()).
  void cancel() noexcept { core_->cancel_all(); }

  // Children not finished yet.
  std::size_t size() const noexcept { return core_->counter.pending(); }

  // The async scope: runs body(group), then waits for every child. If the
  // body throws, the children are cancelled and, once they finished, the
  // first failure (child or body) is rethrown.
  template <class F>
  static task<void> run(F body) {
    task_group g;
    std::exception_ptr body_error;
    try {
      co_await body(g);
    } catch (const cancelled_error&) {
      body_error = std::current_exception();
      g.cancel();
    } catch (...) {
      body_error = std::current_exception();
      g.core_->fail(body_error);
    }
    co_await g.wait();  // rethrows a failure if there was one
    if (body_error) std::rethrow_exception(body_error);
  }

 private:
  void adopt(detail::task_state* child);

  std::shared_ptr<detail::group_core> core_;
};

}  // namespace corio
