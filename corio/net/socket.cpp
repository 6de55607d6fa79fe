// SPDX-License-Identifier: MIT
//
// The fd owner and the stream operations shared by TCP and unix streams.
// Everything here that fails turns -errno into std::system_error at the
// edge; the fast paths (write_now, try_read_some) are plain syscalls.
#include <corio/net/socket.hpp>

#include <corio/core/event_loop.hpp>
#include <corio/core/log.hpp>
#include <corio/core/socket_compat.hpp>
#include <corio/core/time.hpp>

#include <cerrno>
#include <cstring>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

namespace corio::net {

incomplete_read_error::incomplete_read_error(std::size_t got, std::size_t wanted, const std::string& what)
    : error(what + ": unexpected EOF after " + std::to_string(got) + " of " + std::to_string(wanted) + " bytes"),
      got_(got),
      wanted_(wanted) {}

// --- socket -----------------------------------------------------------------

socket& socket::operator=(socket&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = o.release();
  }
  return *this;
}

socket socket::open(int family, int type, int protocol) {
  int fd = ::socket(family, type | corio::detail::sock_nonblock_cloexec, protocol);
  if (fd < 0) throw_system_error(errno, "socket");
  if (int err = corio::detail::setup_socket(fd)) {  // macOS: no SOCK_NONBLOCK, no MSG_NOSIGNAL
    ::close(fd);
    throw_system_error(err, "socket");
  }
  return socket(fd);
}

int socket::release() noexcept {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

void socket::close() noexcept {
  if (fd_ < 0) return;
  if (event_loop* loop = event_loop::current(); loop && !loop->is_closed()) loop->io().forget(fd_);
  ::close(fd_);
  fd_ = -1;
}

void socket::set_option(int level, int name, int value, const char* what) {
  if (::setsockopt(fd_, level, name, &value, sizeof value) < 0) throw_system_error(errno, what);
}

int socket::get_option(int level, int name, const char* what) const {
  int value = 0;
  ::socklen_t len = sizeof value;
  if (::getsockopt(fd_, level, name, &value, &len) < 0) throw_system_error(errno, what);
  return value;
}

void socket::bind(const address& a) {
  if (::bind(fd_, a.sockaddr_ptr(), a.sockaddr_len()) < 0) throw_system_error(errno, "bind to " + a.to_string());
}

void socket::listen(int backlog) {
  if (::listen(fd_, backlog) < 0) throw_system_error(errno, "listen");
}

address socket::local_address() const {
  ::sockaddr_storage ss{};
  ::socklen_t len = sizeof ss;
  if (::getsockname(fd_, reinterpret_cast<::sockaddr*>(&ss), &len) < 0) throw_system_error(errno, "getsockname");
  return address::from_sockaddr(reinterpret_cast<::sockaddr*>(&ss), len);
}

address socket::peer_address() const {
  ::sockaddr_storage ss{};
  ::socklen_t len = sizeof ss;
  if (::getpeername(fd_, reinterpret_cast<::sockaddr*>(&ss), &len) < 0) throw_system_error(errno, "getpeername");
  return address::from_sockaddr(reinterpret_cast<::sockaddr*>(&ss), len);
}

// --- stream operations ------------------------------------------------------

namespace detail {

void throw_socket_error(int err, const char* what, const address& peer, int fd) {
  std::string msg = what;
  msg += ' ';
  msg += peer.empty() ? "fd " + std::to_string(fd) : peer.to_string();
  throw_system_error(err, msg);
}

socket_op::socket_op(int fd, const address& peer, const char* what, op_kind kind, void* buf, std::size_t len) noexcept
    : op_awaiter(what), peer_(&peer) {
  op_.kind = kind;
  op_.fd = fd;
  op_.buf = buf;
  op_.len = len;
}

std::size_t socket_op::await_resume() {
  std::int32_t r = result();
  if (r < 0) throw_socket_error(-r, what_, *peer_, op_.fd);
  return static_cast<std::size_t>(r);
}

}  // namespace detail

task<void> stream_socket::read_exact(std::span<std::byte> buf) const {
  std::size_t got = 0;
  while (got < buf.size()) {
    std::size_t n = co_await read_some(buf.subspan(got));
    if (n == 0) throw incomplete_read_error(got, buf.size(), "read_exact from " + peer_.to_string());
    got += n;
  }
}

std::optional<std::size_t> stream_socket::try_read_some(std::span<std::byte> buf) const {
  for (;;) {
    ssize_t r = ::read(fd(), buf.data(), buf.size());
    if (r >= 0) return static_cast<std::size_t>(r);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return std::nullopt;
    fail(errno, "read from");
  }
}

int stream_socket::write_now(std::span<const std::byte>& buf) const noexcept {
  while (!buf.empty()) {
    ssize_t r = ::send(fd(), buf.data(), buf.size(), MSG_NOSIGNAL);
    if (r < 0) {
      if (errno == EINTR) continue;
      return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    }
    buf = buf.subspan(static_cast<std::size_t>(r));
  }
  return 0;
}

std::size_t stream_socket::try_write(std::span<const std::byte> buf) const {
  std::span<const std::byte> rest = buf;
  int r = write_now(rest);
  if (r < 0 && r != -EAGAIN) fail(-r, "write to");
  return buf.size() - rest.size();
}

// --- write_all (the loop is described above the awaiter, socket.hpp) ---

bool stream_socket::write_all_awaiter::try_now() noexcept {
  int r = s_->write_now(buf_);
  if (r == -EAGAIN) {
    // Not writable an instant ago: epoll need not check again before waiting.
    op_.backend_flags |= corio::detail::op_would_block;
    return false;
  }
  err_ = r;
  return true;
}

bool stream_socket::write_all_awaiter::await_ready() noexcept {
  if (buf_.empty()) return true;
  // Try without suspending only where the backend wants syscalls tried first
  // (epoll); io_uring gets the write as an SQE straight away.
  event_loop* loop = event_loop::current();
  return loop && loop->io().features().try_before_submit && try_now();
}

void stream_socket::write_all_awaiter::submit_rest() {
  op_.kind = op_kind::send;
  op_.fd = s_->fd();
  op_.buf = const_cast<std::byte*>(buf_.data());
  op_.len = buf_.size();
  op_.on_complete = &on_complete;
  op_.user = this;
  task_->loop().io().submit(op_);
}

bool stream_socket::write_all_awaiter::await_suspend(std::coroutine_handle<> h) {
  corio::detail::task_state& t = corio::detail::current_task();
  if (t.take_cancel()) {
    cancelled_ = true;
    return false;
  }
  task_ = &t;
  submit_rest();
  t.suspend(h, "write to", &on_cancel, this);
  return true;
}

void stream_socket::write_all_awaiter::on_complete(io_op& op) noexcept {
  auto* self = static_cast<write_all_awaiter*>(op.user);
  if (op.res < 0) {
    self->err_ = op.res;
  } else {
    self->buf_ = self->buf_.subspan(static_cast<std::size_t>(op.res));
    if (!self->buf_.empty() && !self->task_->cancel_requested()) {
      self->task_->loop().schedule(*self);  // run_next, outside the backend
      return;
    }
  }
  self->task_->wake();
}

void stream_socket::write_all_awaiter::run_next(corio::detail::ready_node* n) noexcept {
  auto* self = static_cast<write_all_awaiter*>(n);
  corio::detail::task_state& t = *self->task_;
  // A cancel that came while this waited in the ready queue found no op to
  // cancel: it is seen here.
  if (t.cancel_requested() || (t.loop().io().features().try_before_submit && self->try_now())) {
    t.wake();
    return;
  }
  try {
    self->submit_rest();
  } catch (...) {  // the backend could not grow its tables
    self->err_ = -ENOMEM;
    t.wake();
  }
}

void stream_socket::write_all_awaiter::on_cancel(void* p) noexcept {
  auto* self = static_cast<write_all_awaiter*>(p);
  // In flight: cancel it (its completion wakes the task). Otherwise this
  // awaiter is in the ready queue, and run_next sees the request.
  if (self->op_.state == op_state::submitted) self->task_->loop().io().cancel(self->op_);
}

void stream_socket::write_all_awaiter::await_resume() {
  if (cancelled_) throw cancelled_error();
  if (err_ == -ECANCELED && task_ && task_->cancel_requested()) {
    task_->cancel_delivered();
    throw cancelled_error();
  }
  if (err_ < 0) s_->fail(-err_, "write to");
  if (!buf_.empty()) {  // stopped early: only a cancel request does that
    task_->cancel_delivered();
    throw cancelled_error();
  }
}

task<void> stream_socket::writev(std::span<const ::iovec> bufs) const {
  // The common case is one writev that takes everything; only a partial
  // write copies the iovec array (once), to advance it in place.
  std::vector<::iovec> rest;
  std::span<const ::iovec> todo = bufs;
  for (;;) {
    std::size_t n = co_await detail::socket_op(fd(), peer_, "writev to", op_kind::writev,
                                               const_cast<::iovec*>(todo.data()), todo.size());
    while (!todo.empty() && n >= todo.front().iov_len) {
      n -= todo.front().iov_len;
      todo = todo.subspan(1);
    }
    if (todo.empty()) co_return;
    if (rest.empty()) {
      rest.assign(todo.begin(), todo.end());
      todo = rest;
    }
    auto& first = const_cast<::iovec&>(todo.front());  // points into `rest`
    first.iov_base = static_cast<char*>(first.iov_base) + n;
    first.iov_len -= n;
  }
}

void stream_socket::shutdown_write() {
  if (::shutdown(fd(), SHUT_WR) < 0) fail(errno, "shutdown of");
}

// --- listeners --------------------------------------------------------------

namespace {
bool out_of_resources(int err) noexcept { return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM; }

// Failures that concern one connection, not the listener (accept(2) says to
// treat the network errors like EAGAIN and retry).
bool transient(int err) noexcept {
  switch (err) {
    case ECONNABORTED: case EPROTO: case EPERM: case EINTR: case ENETDOWN: case ENOPROTOOPT:
    case EHOSTDOWN: case ENONET: case EHOSTUNREACH: case EOPNOTSUPP: case ENETUNREACH: case ETIMEDOUT:
      return true;
    default:
      return false;
  }
}
}  // namespace

task<stream_listener::accepted> stream_listener::accept_socket() {
  for (;;) {
    ::sockaddr_storage ss{};
    auto op = io::accept_res(sock_.fd(), reinterpret_cast<::sockaddr*>(&ss), sizeof ss);
    std::int32_t r = co_await op;
    if (r >= 0) {
      if (backing_off_) {
        backing_off_ = false;
        CORIO_LOG_INFO("accept on {}: serving again after {} back-off(s)", local_.to_string(), backoffs_);
      }
      co_return accepted{socket(r), address::from_sockaddr(reinterpret_cast<::sockaddr*>(&ss), op.op().addrlen)};
    }
    int err = -r;
    if (transient(err)) continue;
    if (!out_of_resources(err)) throw_system_error(err, "accept on " + local_.to_string());
    ++backoffs_;
    if (!backing_off_) {
      backing_off_ = true;
      CORIO_LOG_WARN("accept on {}: {}; backing off {} ms and retrying until resources free up",
                     local_.to_string(), std::strerror(err), accept_backoff.count());
    }
    co_await corio::sleep(accept_backoff);
  }
}

// --- deadlines ------------------------------------------------------------

task<std::size_t> stream_socket::read_some_until(std::span<std::byte> buf, time_point deadline) const {
  co_return co_await corio::timeout_at(deadline, read_some(buf), "read from " + peer_.to_string());
}

task<std::size_t> stream_socket::read_some_for(std::span<std::byte> buf, clock_duration d) const {
  co_return co_await read_some_until(buf, current_loop().now() + d);
}

task<void> stream_socket::write_all_until(std::span<const std::byte> buf, time_point deadline) const {
  co_await corio::timeout_at(deadline, write_all(buf), "write to " + peer_.to_string());
}

task<void> stream_socket::write_all_for(std::span<const std::byte> buf, clock_duration d) const {
  co_await write_all_until(buf, current_loop().now() + d);
}

}  // namespace corio::net
