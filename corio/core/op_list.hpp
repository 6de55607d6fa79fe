// SPDX-License-Identifier: MIT
//
// What the backends share about ops they hold: an intrusive FIFO of io_op
// (through the op's own next/prev hook, so holding an op never allocates)
// and the two questions every backend asks of an op's kind, which direction
// of the fd it waits on and whether it is a bare readiness wait. Kept here
// so that the epoll and io_uring files stay mirrors of each other without
// being copies.
#pragma once

#include <corio/core/backend.hpp>

namespace corio::detail {

struct op_list {
  io_op* head = nullptr;
  io_op* tail = nullptr;

  bool empty() const noexcept { return head == nullptr; }
  void push(io_op& op) noexcept {
    op.next = nullptr;
    op.prev = tail;
    if (tail)
      tail->next = &op;
    else
      head = &op;
    tail = &op;
  }
  void unlink(io_op& op) noexcept {
    if (op.prev)
      op.prev->next = op.next;
    else
      head = op.next;
    if (op.next)
      op.next->prev = op.prev;
    else
      tail = op.prev;
    op.next = op.prev = nullptr;
  }
};

// True for kinds that wait for the fd to be readable (or accept a peer).
constexpr bool is_reader(op_kind k) noexcept {
  switch (k) {
    case op_kind::read:
    case op_kind::readv:
    case op_kind::recv:
    case op_kind::accept:
    case op_kind::poll_read:
      return true;
    default:
      return false;
  }
}

// True for bare readiness waits (no syscall of their own).
constexpr bool is_poll(op_kind k) noexcept { return k == op_kind::poll_read || k == op_kind::poll_write; }

}  // namespace corio::detail
