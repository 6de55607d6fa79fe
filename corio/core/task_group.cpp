// SPDX-License-Identifier: MIT
//
// task_group (task_group.hpp): the group's core is shared by the group and
// by each child's done callback, so a group destroyed early leaves no
// dangling callback. A child's slot holds a reference to its state until
// it finished; the done callback looks at how it ended, marks its failure
// seen (the group reports it, so the loop must not log it again) and frees
// the slot. The caller may hold another reference (the child_handle).
#include <corio/core/task_group.hpp>
#include <corio/core/log.hpp>

namespace corio {
namespace detail {

void group_core::child_done(std::size_t slot) noexcept {
  any_task_ref child = std::move(children[slot]);
  free_slots.push_back(slot);
  task_state& s = *child.get();
  if (s.status() == task_status::failed) {
    s.mark_retrieved();
    std::exception_ptr e = s.exception();
    if (abandoned) report_abandoned(e);
    fail(std::move(e));
  }
  counter.arrive(slot);
}

// Nobody will wait() for this group any more: the loop must not lose the failure.
void group_core::report_abandoned(std::exception_ptr e) noexcept {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    CORIO_LOG_ERROR("a child of a task_group destroyed without wait() failed: {}", ex.what());
  } catch (...) {
    CORIO_LOG_ERROR("a child of a task_group destroyed without wait() failed (non-std exception)");
  }
}

void group_core::fail(std::exception_ptr e) noexcept {
  if (!first_failure) first_failure = std::move(e);
  cancel_all();
}

void group_core::cancel_all() noexcept {
  failing = true;
  for (auto& c : children)
    if (c) c.get()->cancel();
}

}  // namespace detail

task_group::task_group() : core_(std::make_shared<detail::group_core>()) {}

task_group::~task_group() {
  core_->abandoned = true;
  if (core_->counter.pending() > 0) core_->cancel_all();
}

void task_group::adopt(detail::task_state* child) {
  detail::group_core& c = *core_;
  std::size_t slot = c.children.size();
  if (!c.free_slots.empty()) {
    slot = c.free_slots.back();
    c.free_slots.pop_back();
  } else {
    c.children.emplace_back();
  }
  if (c.failing) child->cancel();
  c.counter.add();
  child->add_done_callback([core = core_, slot] { core->child_done(slot); });
  c.children[slot] = detail::any_task_ref(child);
}

task<void> task_group::wait() {
  std::shared_ptr<detail::group_core> core = core_;
  bool cancelled = false;
  while (core->counter.pending() > 0) {
    bool got_cancel = false;
    try {
      co_await core->counter.all("task_group");
    } catch (const cancelled_error&) {
      got_cancel = true;
    }
    if (got_cancel) {
      cancelled = true;
      core->cancel_all();
    }
  }
  core->failing = false;
  if (std::exception_ptr e = std::exchange(core->first_failure, nullptr)) std::rethrow_exception(e);
  if (cancelled) throw cancelled_error();
}

}  // namespace corio
