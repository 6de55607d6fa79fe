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
// Children's values are discarded: a child reports through what it
// captures, and failures through the group. Built on the completion_counter
// of combinators.hpp (one counter, no order kept).
#pragma once

#include <corio/core/combinators.hpp>

#include <memory>
#include <string>
#include <vector>

namespace corio {

namespace detail {
// What children and their done callbacks share with the group.
struct group_core {
  completion_counter counter{false};
  std::vector<join_handle<void>> children;  // a slot per running child
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

  // Spawns t as a child (starts soon, on the current loop). Its value is
  // discarded. In a failing group the child is cancelled at once.
  template <class T>
  void spawn(task<T> t, std::string name = {}) {
    if constexpr (std::is_void_v<T>)
      adopt(corio::spawn(std::move(t), std::move(name)));
    else
      adopt(corio::spawn(discard(std::move(t)), std::move(name)));
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
  template <class T>
  static task<void> discard(task<T> t) {
    (void)co_await std::move(t);
  }
  void adopt(join_handle<void> h);

  std::shared_ptr<detail::group_core> core_;
};

}  // namespace corio
