// SPDX-License-Identifier: MIT
//
// One non-blocking attempt at an io_op's syscall. Readiness backends (epoll,
// kqueue) call it when the fd becomes ready, and awaiters call it before
// submitting when the backend says try_before_submit, so that a read that
// finds data costs exactly one syscall.
//
// connect is the odd one: the first attempt calls connect(), which answers
// EINPROGRESS on a non-blocking socket; the op remembers that it started
// (backend_flags) and later attempts read SO_ERROR once the socket is
// writable, instead of calling connect() again.
#include <corio/core/backend.hpp>
#include <corio/core/op_list.hpp>
#include <corio/core/socket_compat.hpp>

#include <cerrno>
#include <memory>
#include <new>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <vector>

namespace corio::detail {

namespace {

std::int32_t result(ssize_t r) noexcept {
  if (r >= 0) return static_cast<std::int32_t>(r);
  return errno == EWOULDBLOCK ? -EAGAIN : -errno;
}

// Counts above INT32_MAX cannot travel in res; clamp the request instead.
std::size_t clamp(std::size_t len) noexcept { return len > 0x7ffff000 ? 0x7ffff000 : len; }

int iov_count(std::size_t n) noexcept { return n > 1024 ? 1024 : static_cast<int>(n); }

// A pooled recv on a readiness poller: the fd is (probably) readable, so a
// buffer is taken now and given back unless bytes landed in it.
std::int32_t pooled_recv(io_op& op) noexcept {
  std::optional<std::uint32_t> id = op.pool->acquire();
  if (!id) return -ENOBUFS;
  ssize_t r;
  do r = ::recv(op.fd, op.pool->data(*id), op.pool->buffer_size(), op.flags);
  while (r < 0 && errno == EINTR);
  if (r > 0) {
    op.buf_id = *id;
    return static_cast<std::int32_t>(r);
  }
  const std::int32_t res = result(r);  // before release() can touch errno
  op.pool->release(*id);
  return res;
}

std::int32_t attempt(io_op& op) noexcept {
  for (;;) {
    ssize_t r = 0;
    switch (op.kind) {
      case op_kind::read:
        r = ::read(op.fd, op.buf, clamp(op.len));
        break;
      case op_kind::write:
        r = ::write(op.fd, op.buf, clamp(op.len));
        break;
      case op_kind::readv:
        r = ::readv(op.fd, static_cast<const iovec*>(op.buf), iov_count(op.len));
        break;
      case op_kind::writev:
        r = ::writev(op.fd, static_cast<const iovec*>(op.buf), iov_count(op.len));
        break;
      case op_kind::recv:
        if (op.pool) return pooled_recv(op);
        r = ::recv(op.fd, op.buf, clamp(op.len), op.flags);
        break;
      case op_kind::send:
        r = ::send(op.fd, op.buf, clamp(op.len), op.flags | MSG_NOSIGNAL);
        break;
      case op_kind::accept: {
        socklen_t len = op.addrlen;
        r = accept_nonblocking(op.fd, op.addr, op.addr ? &len : nullptr);  // accept4 where it exists
        if (r >= 0) op.addrlen = len;
        break;
      }
      case op_kind::connect: {
        if (op.backend_flags & op_connect_started) {
          int err = 0;
          socklen_t len = sizeof err;
          if (::getsockopt(op.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return -errno;
          // Called only once the socket is writable: SO_ERROR is the outcome.
          return err == 0 ? 0 : -err;
        }
        r = ::connect(op.fd, op.addr, op.addrlen);
        if (r < 0 && (errno == EINPROGRESS || errno == EAGAIN)) {
          op.backend_flags |= op_connect_started;
          return -EAGAIN;
        }
        break;
      }
      case op_kind::poll_read:
      case op_kind::poll_write:
        // Readiness is the result; the backend completes these without a syscall.
        return -EAGAIN;
    }
    if (r < 0 && errno == EINTR) continue;
    return result(r);
  }
}

// The readiness pollers' pool: chunks of buffers allocated as demand peaks
// (one per connection that is between its read and its write), kept for
// reuse, never returned to the allocator before the backend goes.
class heap_pool final : public buffer_pool {
 public:
  std::optional<std::uint32_t> acquire() noexcept override {
    if (free_.empty()) {
      try {
        free_.reserve((chunks_.size() + 1) * per_chunk);
        chunks_.push_back(std::make_unique_for_overwrite<std::byte[]>(per_chunk * size));
      } catch (const std::bad_alloc&) {
        return std::nullopt;
      }
      const auto base = static_cast<std::uint32_t>((chunks_.size() - 1) * per_chunk);
      for (std::uint32_t i = per_chunk; i-- > 0;) free_.push_back(base + i);
    }
    std::uint32_t id = free_.back();
    free_.pop_back();
    return id;
  }
  void release(std::uint32_t id) noexcept override { free_.push_back(id); }  // capacity reserved by acquire
  std::size_t in_use() const noexcept override { return chunks_.size() * per_chunk - free_.size(); }
  std::byte* data(std::uint32_t id) noexcept override { return chunks_[id / per_chunk].get() + (id % per_chunk) * size; }
  std::size_t buffer_size() const noexcept override { return size; }

 private:
  static constexpr std::size_t size = 4096;
  static constexpr std::uint32_t per_chunk = 16;
  std::vector<std::unique_ptr<std::byte[]>> chunks_;
  std::vector<std::uint32_t> free_;
};

}  // namespace

std::int32_t perform_io(io_op& op) noexcept {
  std::int32_t r = attempt(op);
  // A poll op's "attempt" looks at nothing: it says nothing about readiness.
  if (r == -EAGAIN && !is_poll(op.kind))
    op.backend_flags |= op_would_block;
  else
    op.backend_flags &= static_cast<std::uint8_t>(~op_would_block);
  return r;
}

}  // namespace corio::detail

namespace corio {

buffer_pool& backend::buffers() {
  if (!heap_pool_) heap_pool_ = std::make_unique<detail::heap_pool>();
  return *heap_pool_;
}

}  // namespace corio
