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
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

namespace corio::detail {

namespace {

std::int32_t result(ssize_t r) noexcept {
  if (r >= 0) return static_cast<std::int32_t>(r);
  return errno == EWOULDBLOCK ? -EAGAIN : -errno;
}

// Counts above INT32_MAX cannot travel in res; clamp the request instead.
std::size_t clamp(std::size_t len) noexcept { return len > 0x7ffff000 ? 0x7ffff000 : len; }

int iov_count(std::size_t n) noexcept { return n > 1024 ? 1024 : static_cast<int>(n); }

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
