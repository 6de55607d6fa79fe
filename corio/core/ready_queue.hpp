// SPDX-License-Identifier: MIT
//
// The loop's run queue: an intrusive FIFO of ready_node. Anything that can be
// made runnable (a task to resume, a call_soon callback) embeds a ready_node,
// so that scheduling a resume is two pointer writes and never allocates, and
// the queue holds no std::function (DESIGN.md, "Performance rules").
//
// A node is in at most one queue at a time; the owner of the node guarantees
// that (a task is woken once per suspension, see spawn.hpp).
#pragma once

namespace corio::detail {

struct ready_node {
  // Runs the node. The node may be destroyed by the call.
  using run_fn = void (*)(ready_node*) noexcept;

  explicit ready_node(run_fn fn) noexcept : run(fn) {}

  ready_node* next_ready = nullptr;
  run_fn run;
};

class ready_queue {
 public:
  bool empty() const noexcept { return head_ == nullptr; }

  void push(ready_node* n) noexcept {
    n->next_ready = nullptr;
    if (tail_)
      tail_->next_ready = n;
    else
      head_ = n;
    tail_ = n;
  }

  ready_node* pop() noexcept {
    ready_node* n = head_;
    if (n) {
      head_ = n->next_ready;
      if (!head_) tail_ = nullptr;
    }
    return n;
  }

  // Moves every node of `other` to the back of this queue.
  void splice(ready_queue& other) noexcept {
    if (other.empty()) return;
    if (tail_)
      tail_->next_ready = other.head_;
    else
      head_ = other.head_;
    tail_ = other.tail_;
    other.head_ = other.tail_ = nullptr;
  }

 private:
  ready_node* head_ = nullptr;
  ready_node* tail_ = nullptr;
};

}  // namespace corio::detail
