// SPDX-License-Identifier: MIT
//
// The backend: the one place where corio talks to the kernel's poller.
//
// The interface is drawn at the level of operations, not readiness (as
// Seastar's reactor_backend is), so that io_uring can run an operation in the
// kernel while epoll and kqueue emulate completion: they try the syscall, and
// only when it would block wait for readiness and try again. Four calls make
// the interface: submit, cancel, poll and wake. Every backend is one `final`
// class in one .cpp; only backend_factory.cpp names them.
//
// Contract
// - Only poll() may block. Only wake() may be called from another thread
//   (and from a signal handler: it must be async-signal-safe).
// - The caller owns the io_op and the memory it points to (buffer, iovec,
//   sockaddr). Both must stay alive and unmoved from submit() until the op
//   has completed, including after cancel(): under io_uring the kernel may
//   still be writing into the buffer until its completion arrives.
// - An op completes exactly once, through io_op::complete(), called from
//   inside submit's caller's later poll() or from cancel(); never from
//   another thread. complete() runs the op's on_complete hook, which must not
//   resume a coroutine inline (it schedules one on the loop's ready queue).
// - A result travels like an io_uring completion: one int32_t res, >= 0 for
//   a count (0 = EOF), < 0 for -errno; -ECANCELED when cancel() won the race.
//   No exception crosses the backend boundary.
//
// States of an io_op (the lifecycle is the design: io_uring cancellation bugs
// are lifetime bugs):
//
//   idle ──submit──> submitted ──(kernel/readiness)──> completed
//                        │                                 ^
//                        └──cancel──> cancelling ──────────┘
//                                     (kernel still holds the op and its
//                                      buffer until its completion arrives;
//                                      epoll/kqueue complete at once)
//
// An op in `completed` may be reused (set up again, then submitted).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

struct iovec;
struct sockaddr;

namespace corio {

enum class op_kind : std::uint8_t {
  read,        // read(fd, buf, len)
  write,       // write(fd, buf, len)
  readv,       // readv(fd, iov, len = iovcnt)
  writev,      // writev(fd, iov, len = iovcnt)
  recv,        // recv(fd, buf, len, flags)
  send,        // send(fd, buf, len, flags | MSG_NOSIGNAL)
  accept,      // accept4(fd, addr, &addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC); res = new fd
  connect,     // connect(fd, addr, addrlen); res = 0 once connected
  poll_read,   // wait until readable (or hung up / in error); res = 0
  poll_write,  // wait until writable (or in error); res = 0
};

enum class op_state : std::uint8_t { idle, submitted, cancelling, completed };

// Equal buffers owned by the loop's backend, lent to pooled recvs (an
// io_op whose `pool` is set): an idle connection then holds no buffer, only
// the data it has received and not yet consumed does. io_uring hands the
// kernel a ring of them to pick from (provided buffers); readiness pollers
// take one when the fd is readable and give it back at EAGAIN.
class buffer_pool {
 public:
  virtual ~buffer_pool() = default;
  // A free buffer's id, or nullopt when none is free and none can be made.
  virtual std::optional<std::uint32_t> acquire() noexcept = 0;
  // Gives a buffer back (from acquire(), or from a pooled recv's buf_id).
  virtual void release(std::uint32_t id) noexcept = 0;
  virtual std::byte* data(std::uint32_t id) noexcept = 0;
  virtual std::size_t buffer_size() const noexcept = 0;
  // Buffers out of the pool: held by leases, queued results or the kernel's
  // completions not yet seen (what a leak check compares with zero).
  virtual std::size_t in_use() const noexcept = 0;
};

struct io_op {
  using complete_fn = void (*)(io_op&) noexcept;

  op_kind kind = op_kind::read;
  op_state state = op_state::idle;
  // Backend-private progress bits (epoll: "connect already started").
  std::uint8_t backend_flags = 0;
  int fd = -1;
  int flags = 0;  // recv/send flags
  std::uint32_t addrlen = 0;  // socklen_t: in for connect, in/out for accept
  void* buf = nullptr;        // buffer, iovec* (readv/writev) or nullptr
  std::size_t len = 0;        // bytes, or iovec count for readv/writev
  sockaddr* addr = nullptr;   // connect's peer, accept's out-address (may be null)
  std::int32_t res = 0;
  // A pooled recv (kind recv, pool set, buf unused) leaves its data in
  // pool->data(buf_id) when res > 0; the op's owner must then release it.
  std::uint32_t buf_id = 0;
  buffer_pool* pool = nullptr;

  // What to do when the op completes; `user` is for the hook's owner.
  complete_fn on_complete = nullptr;
  void* user = nullptr;

  // Intrusive hook, owned by the backend while the op is submitted.
  io_op* next = nullptr;
  io_op* prev = nullptr;

  // Called by backends only.
  void complete(std::int32_t result) noexcept {
    res = result;
    state = op_state::completed;
    on_complete(*this);
  }
};

// What differs between pollers, asked as capabilities rather than #ifdefs.
struct backend_features {
  // Try the syscall before submitting (readiness pollers: a read that finds
  // data costs one syscall and no registration).
  bool try_before_submit = false;
  bool multishot_accept = false;
  // Pooled recvs take their buffer in the kernel (io_uring's buffer ring with
  // a multishot recv per connection) rather than after readiness.
  bool provided_buffers = false;
};

class backend {
 public:
  virtual ~backend() = default;

  // Starts `op` (state idle or completed -> submitted). Never completes it
  // inline: the completion arrives from a later poll().
  virtual void submit(io_op& op) = 0;

  // Asks for a submitted op to stop. The op still completes exactly once:
  // with -ECANCELED, or with its real result if it had already finished.
  // A no-op for ops that are not submitted.
  virtual void cancel(io_op& op) noexcept = 0;

  // Waits for completions (nullopt = no time limit, zero = do not block),
  // completes them, and returns how many completed. Returns early after
  // wake(). Interrupted waits (EINTR) return 0.
  virtual int poll(std::optional<std::chrono::nanoseconds> timeout) = 0;

  // Makes a blocked (or the next) poll() return soon. Thread-safe and
  // async-signal-safe.
  virtual void wake() noexcept = 0;

  // The fd is about to be closed: drop what the backend keeps for it. Ops
  // still submitted on it complete with -ECANCELED.
  virtual void forget(int fd) noexcept = 0;

  virtual std::string_view name() const noexcept = 0;
  virtual backend_features features() const noexcept = 0;

  // Hands the kernel what submit() queued, without waiting and without
  // completing anything. The loop calls it once per iteration in which it
  // does not poll (tasks still ready), so that a busy loop's submissions do
  // not wait io_poll_interval iterations to start. Must be cheap when nothing
  // is queued. Backends that act in submit() (epoll, kqueue) need nothing.
  virtual void flush() noexcept {}

  // The pool that pooled recvs on this backend borrow from. The default is a
  // heap pool that grows with demand (readiness pollers); io_uring overrides
  // it with its registered buffer ring. Lives as long as the backend.
  virtual buffer_pool& buffers();

 private:
  std::unique_ptr<buffer_pool> heap_pool_;
};

// Creates the backend named `name` ("auto", "epoll", "uring", "kqueue").
// Empty means: the CORIO_BACKEND environment variable, else "auto". "auto"
// picks io_uring where it works, else the platform's poller. Throws
// std::invalid_argument for an unknown name, and std::system_error when the
// named backend cannot be set up here (not built, or refused by the kernel).
std::unique_ptr<backend> make_backend(std::string_view name = {});

namespace detail {
// backend_flags bits that perform_io() sets (the others are the backends'):
// connect() already started (later attempts read SO_ERROR), and "the last
// attempt would have blocked", which tells a readiness backend that the
// fd was not ready an instant ago, so it need not try again in submit().
inline constexpr std::uint8_t op_connect_started = 0x01;
inline constexpr std::uint8_t op_would_block = 0x02;

// Runs the op's syscall once, without blocking; returns the result or
// -errno (-EAGAIN when it would block). Used by readiness backends and by
// awaiters that try before submitting.
std::int32_t perform_io(io_op& op) noexcept;
}  // namespace detail

}  // namespace corio
