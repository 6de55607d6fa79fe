// SPDX-License-Identifier: MIT
//
// Awaitable I/O on file descriptors: the bottom of the path of one read
// (DESIGN.md). Each call builds an io_op inside the awaiter, which lives in
// the awaiting coroutine's frame, so an operation allocates nothing.
//
//   std::array<std::byte, 4096> buf;
//   std::size_t n = co_await io::read(fd, buf);   // 0 = EOF
//
// The awaiter tries the syscall first when the backend asks for that
// (epoll: a read that finds data never touches epoll), submits the op
// otherwise, and on resumption turns the result into a value or a throw:
// std::system_error naming the operation, or cancelled_error when the task
// was cancelled while it waited (the op is then removed from the backend
// before the task runs again). If the op completed before the cancellation
// reached it, its result is returned and the request stays pending for the
// next suspension point, so that no bytes are lost to a cancel.
//
// These are the raw, fd-level operations; net/ builds streams on them.
// The `_res` forms return the backend's int32_t (>= 0, or -errno) instead of
// throwing, for callers on hot failure paths (accept under EMFILE).
#pragma once

#include <corio/core/backend.hpp>
#include <corio/core/error.hpp>
#include <corio/core/event_loop.hpp>

#include <cerrno>
#include <cstddef>
#include <span>
#include <string>
#include <sys/socket.h>
#include <sys/uio.h>

namespace corio::io {

class op_awaiter {
 public:
  explicit op_awaiter(const char* what) noexcept : what_(what) {}
  op_awaiter(const op_awaiter&) = delete;
  op_awaiter& operator=(const op_awaiter&) = delete;
  // Moving is allowed only before the first co_await (factories return it).
  op_awaiter(op_awaiter&&) noexcept = default;

  bool await_ready() noexcept {
    event_loop* loop = event_loop::current();
    if (!loop) return false;  // await_suspend reports the misuse
    if (loop->io().features().try_before_submit) {
      std::int32_t r = detail::perform_io(op_);
      if (r != -EAGAIN) {
        op_.res = r;
        return true;
      }
    }
    return false;
  }

  bool await_suspend(std::coroutine_handle<> h) {
    detail::task_state& t = detail::current_task();
    if (t.take_cancel()) {
      cancelled_ = true;
      return false;
    }
    task_ = &t;
    op_.on_complete = &on_complete;
    op_.user = &t;
    t.loop().io().submit(op_);
    t.suspend(h, what_, &on_cancel, this);
    return true;
  }

  // The raw result: >= 0, or -errno. Throws cancelled_error only.
  std::int32_t result() {
    if (cancelled_) throw cancelled_error();
    if (op_.res == -ECANCELED && task_ && task_->cancel_requested()) {
      task_->cancel_delivered();
      throw cancelled_error();
    }
    return op_.res;
  }

  io_op& op() noexcept { return op_; }

 protected:
  io_op op_;
  const char* what_;

 private:
  static void on_complete(io_op& op) noexcept { static_cast<detail::task_state*>(op.user)->wake(); }
  static void on_cancel(void* self) noexcept {
    auto* a = static_cast<op_awaiter*>(self);
    a->task_->loop().io().cancel(a->op_);
  }

  detail::task_state* task_ = nullptr;
  bool cancelled_ = false;
};

// Resumes with the count (or 0); throws std::system_error on failure.
class count_awaiter : public op_awaiter {
 public:
  using op_awaiter::op_awaiter;
  std::size_t await_resume() {
    std::int32_t r = result();
    if (r < 0) throw_system_error(-r, std::string(what_) + " on fd " + std::to_string(op_.fd));
    return static_cast<std::size_t>(r);
  }
};

// A buffer lent by the loop's pool, holding what one pooled recv received;
// empty at EOF. Goes back to the pool when destroyed (or reset), so keep it
// no longer than the bytes are needed: every lease held is a buffer that
// the other connections cannot use.
class pooled_buffer {
 public:
  pooled_buffer() noexcept = default;
  pooled_buffer(buffer_pool* pool, std::uint32_t id, std::size_t len) noexcept : pool_(pool), id_(id), len_(len) {}
  pooled_buffer(pooled_buffer&& o) noexcept : pool_(o.pool_), id_(o.id_), len_(o.len_) { o.pool_ = nullptr; }
  pooled_buffer& operator=(pooled_buffer&& o) noexcept {
    if (this != &o) {
      reset();
      pool_ = o.pool_;
      id_ = o.id_;
      len_ = o.len_;
      o.pool_ = nullptr;
    }
    return *this;
  }
  ~pooled_buffer() { reset(); }

  std::span<const std::byte> bytes() const noexcept {
    return pool_ ? std::span<const std::byte>(pool_->data(id_), len_) : std::span<const std::byte>();
  }
  std::size_t size() const noexcept { return pool_ ? len_ : 0; }
  bool empty() const noexcept { return size() == 0; }
  void reset() noexcept {
    if (pool_) pool_->release(id_);
    pool_ = nullptr;
  }

 private:
  buffer_pool* pool_ = nullptr;
  std::uint32_t id_ = 0;
  std::size_t len_ = 0;
};

// A recv into a buffer of the loop's pool: resumes with the lease (empty at
// EOF); std::system_error naming `what` on failure. Under io_uring the
// kernel picks the buffer when data arrives (a multishot recv per
// connection), so a connection waiting for data holds no memory of its own.
// That multishot receives ahead (a few results, queued for the next
// recv_pooled), so an fd read with recv_pooled must not be read otherwise.
class pooled_recv_awaiter : public op_awaiter {
 public:
  using op_awaiter::op_awaiter;
  pooled_recv_awaiter(pooled_recv_awaiter&&) noexcept = default;
  // A completion that the coroutine never took (its frame destroyed while
  // suspended) still owns a buffer.
  ~pooled_recv_awaiter() {
    if (!taken_ && op_.state == op_state::completed && op_.res > 0 && op_.pool) op_.pool->release(op_.buf_id);
  }

  // Not noexcept: the first pooled recv of a loop may allocate its pool.
  bool await_ready() {
    event_loop* loop = event_loop::current();
    if (!loop) return false;
    op_.pool = &loop->io().buffers();
    if (!op_awaiter::await_ready()) return false;
    op_.state = op_state::completed;  // tried first and done: the destructor's view
    return true;
  }
  pooled_buffer await_resume() {
    taken_ = true;
    std::int32_t r = result();
    if (r < 0) throw_system_error(-r, std::string(what_) + " on fd " + std::to_string(op_.fd));
    if (r == 0) return {};
    return {op_.pool, op_.buf_id, static_cast<std::size_t>(r)};
  }

 private:
  bool taken_ = false;
};

// Resumes with the raw result (>= 0 or -errno); never throws system_error.
class result_awaiter : public op_awaiter {
 public:
  using op_awaiter::op_awaiter;
  std::int32_t await_resume() { return result(); }
};

namespace detail {
template <class Awaiter>
Awaiter make(const char* what, op_kind kind, int fd, void* buf, std::size_t len, int flags = 0) {
  Awaiter a(what);
  io_op& op = a.op();
  op.kind = kind;
  op.fd = fd;
  op.buf = buf;
  op.len = len;
  op.flags = flags;
  return a;
}
}  // namespace detail

inline count_awaiter read(int fd, std::span<std::byte> buf) {
  return detail::make<count_awaiter>("read", op_kind::read, fd, buf.data(), buf.size());
}
inline count_awaiter write(int fd, std::span<const std::byte> buf) {
  return detail::make<count_awaiter>("write", op_kind::write, fd, const_cast<std::byte*>(buf.data()), buf.size());
}
inline count_awaiter readv(int fd, std::span<const ::iovec> iov) {
  return detail::make<count_awaiter>("readv", op_kind::readv, fd, const_cast<::iovec*>(iov.data()), iov.size());
}
inline count_awaiter writev(int fd, std::span<const ::iovec> iov) {
  return detail::make<count_awaiter>("writev", op_kind::writev, fd, const_cast<::iovec*>(iov.data()), iov.size());
}
inline count_awaiter recv(int fd, std::span<std::byte> buf, int flags = 0) {
  return detail::make<count_awaiter>("recv", op_kind::recv, fd, buf.data(), buf.size(), flags);
}
inline count_awaiter send(int fd, std::span<const std::byte> buf, int flags = 0) {
  return detail::make<count_awaiter>("send", op_kind::send, fd, const_cast<std::byte*>(buf.data()), buf.size(),
                                     flags);
}
// Receives into a pool buffer (see pooled_recv_awaiter): an idle socket
// waiting here holds no buffer.
inline pooled_recv_awaiter recv_pooled(int fd, int flags = 0) {
  return detail::make<pooled_recv_awaiter>("recv_pooled", op_kind::recv, fd, nullptr, 0, flags);
}
// Waits until fd is readable / writable (or hung up, or in error).
inline count_awaiter wait_readable(int fd) {
  return detail::make<count_awaiter>("wait_readable", op_kind::poll_read, fd, nullptr, 0);
}
inline count_awaiter wait_writable(int fd) {
  return detail::make<count_awaiter>("wait_writable", op_kind::poll_write, fd, nullptr, 0);
}
// accept4 with SOCK_NONBLOCK | SOCK_CLOEXEC; `addr` may be null. The new fd,
// or -errno (EMFILE and friends are routine for a listener: no throw).
inline result_awaiter accept_res(int fd, ::sockaddr* addr = nullptr, std::uint32_t addrlen = 0) {
  auto a = detail::make<result_awaiter>("accept", op_kind::accept, fd, nullptr, 0);
  a.op().addr = addr;
  a.op().addrlen = addrlen;
  return a;
}
// connect on a non-blocking socket; 0 or -errno.
inline result_awaiter connect_res(int fd, const ::sockaddr* addr, std::uint32_t addrlen) {
  auto a = detail::make<result_awaiter>("connect", op_kind::connect, fd, nullptr, 0);
  a.op().addr = const_cast<::sockaddr*>(addr);
  a.op().addrlen = addrlen;
  return a;
}

}  // namespace corio::io
