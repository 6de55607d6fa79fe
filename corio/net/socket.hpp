// SPDX-License-Identifier: MIT
//
// socket and stream_socket: what every corio socket type is made of.
//
// `socket` owns one non-blocking fd. Its one rule is the backend's: the
// backend must forget an fd before the fd is closed (backend.hpp), or a
// number reused by the next accept would inherit the old registration and
// its waiting ops. close() does both, in that order; ops still waiting on the
// fd complete with ECANCELED. Move-only, closed by the destructor.
//
// `stream_socket` is the byte-stream API shared by tcp_stream and
// unix_stream (one implementation, two address families):
//
//   std::size_t n = co_await s.read_some(buf);   // 0 = EOF
//   co_await s.read_exact(buf);                  // incomplete_read_error at EOF
//   co_await s.write_all(bytes);                 // loops over partial writes
//   s.shutdown_write();                          // half-close: the peer reads EOF
//
// Costs. read_some is an io_op in the awaiter (nothing allocated); on epoll
// it tries the syscall before waiting. write_all is one awaiter too, with
// no coroutine frame of its own: on epoll it first writes without
// suspending, which on a socket with room in its send buffer is the whole
// call (one send(2)); what does not fit goes out as send ops from the
// awaiter, one after another, while the awaiting task stays suspended. A
// slow reader thus makes the writer suspend (backpressure) instead of
// growing a buffer, and a write cut into a thousand partial sends costs a
// thousand ops, not a thousand coroutine frames.
//
// Errors are std::system_error naming the operation and the peer:
// "read from 127.0.0.1:5000: Connection reset by peer". Cancellation of the
// awaiting task raises corio::cancelled_error and leaves the stream usable:
// no byte was consumed by the cancelled read, and a cancelled write_all has
// written a prefix (how much is unknown to the caller, as with any write
// that fails midway; close the stream if that matters).
#pragma once

#include <corio/core/error.hpp>
#include <corio/core/io.hpp>
#include <corio/core/task.hpp>
#include <corio/core/time.hpp>
#include <corio/net/address.hpp>

#include <chrono>
#include <cstdint>
#include <cstddef>
#include <optional>
#include <span>
#include <string_view>
#include <sys/uio.h>

namespace corio::net {

// read_exact (and the buffered reader) met EOF before the bytes it needed.
class incomplete_read_error : public corio::error {
 public:
  incomplete_read_error(std::size_t got, std::size_t wanted, const std::string& what);
  std::size_t got() const noexcept { return got_; }
  std::size_t wanted() const noexcept { return wanted_; }

 private:
  std::size_t got_;
  std::size_t wanted_;
};

class socket {
 public:
  socket() noexcept = default;
  explicit socket(int fd) noexcept : fd_(fd) {}
  socket(socket&& o) noexcept : fd_(o.release()) {}
  socket& operator=(socket&& o) noexcept;
  socket(const socket&) = delete;
  socket& operator=(const socket&) = delete;
  ~socket() { close(); }

  // socket(2) with SOCK_NONBLOCK | SOCK_CLOEXEC; throws std::system_error.
  static socket open(int family, int type, int protocol = 0);

  int fd() const noexcept { return fd_; }
  bool is_open() const noexcept { return fd_ >= 0; }
  explicit operator bool() const noexcept { return is_open(); }
  // Gives up ownership; the caller closes (after backend forget()).
  int release() noexcept;
  // Forgets the fd in this thread's loop (if any), then closes it. Idempotent.
  void close() noexcept;

  // setsockopt with an int; throws std::system_error naming `what`.
  void set_option(int level, int name, int value, const char* what);
  int get_option(int level, int name, const char* what) const;
  void bind(const address& a);
  void listen(int backlog);
  address local_address() const;  // getsockname
  address peer_address() const;   // getpeername

 private:
  int fd_ = -1;
};

namespace detail {

// Throws std::system_error(err, "<what> <peer>: <strerror>"); the fd stands
// in for a peer that is not known.
[[noreturn]] void throw_socket_error(int err, const char* what, const address& peer, int fd);

// One operation on a socket: io.hpp's op_awaiter, with a message naming the
// operation and the peer instead of the fd number.
class socket_op : public io::op_awaiter {
 public:
  socket_op(int fd, const address& peer, const char* what, op_kind kind, void* buf, std::size_t len) noexcept;
  std::size_t await_resume();

 private:
  const address* peer_;
};

}  // namespace detail

// Waits until `fd` is readable, for a caller that has just drained it
// itself: its last read came back short or with EAGAIN, and it has not
// suspended since. A readiness backend remembers an edge that no op used
// up, and a plain wait_readable must check that memory with a syscall
// (the caller may have read the data meanwhile); this wait tells the
// backend that the fd was empty an instant ago, so that any later arrival
// is a fresh edge already queued in the poller (epoll: one poll(2) less
// per wait). io_uring ignores the hint. Like io::wait_readable otherwise:
// completes on data, EOF or an error; cancellation raises cancelled_error.
//
//   if (n < buf.size()) co_await net::wait_readable_after_drain(fd);
class drained_wait : public io::count_awaiter {
 public:
  explicit drained_wait(int fd) noexcept : io::count_awaiter(io::wait_readable(fd)) {}
  // Never tries first: there is nothing to try (the caller just did).
  bool await_ready() noexcept {
    op_.backend_flags |= corio::detail::op_would_block;
    return false;
  }
};
inline drained_wait wait_readable_after_drain(int fd) noexcept { return drained_wait(fd); }

class stream_socket {
 public:
  stream_socket() noexcept = default;
  stream_socket(stream_socket&&) noexcept = default;
  stream_socket& operator=(stream_socket&&) noexcept = default;

  // Reads what is there, at most buf.size() bytes, waiting until at least
  // one byte (or EOF) arrives. Returns 0 at EOF (and for an empty buf).
  detail::socket_op read_some(std::span<std::byte> buf) const noexcept {
    return {fd(), peer_, "read from", op_kind::read, buf.data(), buf.size()};
  }
  // read_some with a deadline: corio::timeout_error ("read from PEER timed
  // out") once it passes, with the read removed from the backend first, so
  // no byte is lost and the stream stays usable. _until takes a time point
  // on the loop's clock, _for a duration from now.
  task<std::size_t> read_some_until(std::span<std::byte> buf, time_point deadline) const;
  task<std::size_t> read_some_for(std::span<std::byte> buf, clock_duration d) const;
  // Reads exactly buf.size() bytes; incomplete_read_error at an early EOF.
  task<void> read_exact(std::span<std::byte> buf) const;
  // A read that never suspends: the count (0 = EOF), or nullopt if no byte
  // is there yet. Throws std::system_error like read_some.
  std::optional<std::size_t> try_read_some(std::span<std::byte> buf) const;
  // Reads what is there into a buffer lent by the loop's pool and resumes
  // with the lease (empty at EOF; the buffer goes back when it dies). A
  // stream waiting here holds no buffer of its own: under io_uring the
  // kernel picks one when data arrives. Throws std::system_error like
  // read_some; cancellable like every op. Once a stream has used it, read
  // the stream only with recv_pooled: under io_uring the connection goes
  // on receiving ahead into pool buffers, which only recv_pooled hands out.
  io::pooled_recv_awaiter recv_pooled() const { return io::recv_pooled(fd()); }
  // Waits until a read would not block (data, EOF or an error is there).
  io::count_awaiter wait_readable() const noexcept { return io::wait_readable(sock_.fd()); }
  // The same after this caller's own read came back short or with EAGAIN
  // (see drained_wait above): no readiness check on epoll.
  drained_wait wait_readable_after_drain() const noexcept { return drained_wait(sock_.fd()); }

  // One write(2): may write less than asked. Waits while nothing fits.
  detail::socket_op write_some(std::span<const std::byte> buf) const noexcept {
    return {fd(), peer_, "write to", op_kind::send, const_cast<std::byte*>(buf.data()), buf.size()};
  }
  // Writes everything; suspends while the peer's window and the send buffer
  // are full. The buffer must stay alive until the await completes.
  class write_all_awaiter;
  write_all_awaiter write_all(std::span<const std::byte> buf) const noexcept;
  write_all_awaiter write_all(std::string_view text) const noexcept;
  // write_all with a deadline (timeout_error once it passes). What was
  // written before the deadline stays written: the peer may have received
  // a prefix, so a timed-out stream should be closed, not written to again.
  task<void> write_all_until(std::span<const std::byte> buf, time_point deadline) const;
  task<void> write_all_for(std::span<const std::byte> buf, clock_duration d) const;
  // A write that never suspends: the count written (0 if nothing fits).
  std::size_t try_write(std::span<const std::byte> buf) const;
  // Writes every byte of every buffer (gather write; loops over partial
  // writes like write_all). The iovecs and what they point to must stay
  // alive until the await completes.
  task<void> writev(std::span<const ::iovec> bufs) const;

  // Half-close: the peer reads EOF; reading here goes on.
  void shutdown_write();
  // Closes now; ops waiting on the stream complete with ECANCELED.
  void close() noexcept { sock_.close(); }
  bool is_open() const noexcept { return sock_.is_open(); }
  int fd() const noexcept { return sock_.fd(); }
  socket& handle() noexcept { return sock_; }

  address local_address() const { return sock_.local_address(); }
  // The peer, as known when the stream was made (still known after a reset).
  const address& peer_address() const noexcept { return peer_; }

  [[noreturn]] void fail(int err, const char* what) const { detail::throw_socket_error(err, what, peer_, fd()); }

 protected:
  stream_socket(socket s, address peer) noexcept : sock_(std::move(s)), peer_(peer) {}

 private:
  // Writes from `buf` until done or EAGAIN, advancing `buf`. 0 when all is
  // written, -EAGAIN when the rest must wait, -errno on failure.
  int write_now(std::span<const std::byte>& buf) const noexcept;

  socket sock_;
  address peer_;
};

// write_all's loop over partial writes, run by the awaiter itself:
//
//   await_ready   epoll: send(2) until done or EAGAIN (done: no suspension)
//   await_suspend submit a send op for what is left
//   on_complete   advance; all written, failed or cancel requested: wake the
//                 task; else queue this awaiter on the loop's ready queue
//   run_next      (from the ready queue) epoll: send(2) again first; then
//                 submit a send op for what is left
//
// The next op goes through the ready queue rather than straight from
// on_complete because on_complete runs inside the backend's poll (or its
// cancel), where the backend may be walking the very list a submit would
// join. Cancellation: while an op is in flight the cancel hook cancels it;
// while this awaiter waits in the ready queue there is nothing to cancel
// and run_next sees the request. Either way the task resumes with
// cancelled_error if bytes are left unwritten (the request is consumed),
// and normally if the last op completed everything first (the request
// stays pending for the next suspension point, as with any op).
class stream_socket::write_all_awaiter : private corio::detail::ready_node {
 public:
  write_all_awaiter(const stream_socket& s, std::span<const std::byte> buf) noexcept
      : ready_node(&run_next), s_(&s), buf_(buf) {}
  write_all_awaiter(const write_all_awaiter&) = delete;
  write_all_awaiter& operator=(const write_all_awaiter&) = delete;
  // Moving is allowed only before the first co_await (timeout_at takes it by value).
  write_all_awaiter(write_all_awaiter&&) noexcept = default;

  bool await_ready() noexcept;
  bool await_suspend(std::coroutine_handle<> h);
  void await_resume();

 private:
  // Sends on epoll's kind of backend first; true when that finished the
  // write (err_ set: 0, or the failure).
  bool try_now() noexcept;
  void submit_rest();
  static void on_complete(io_op& op) noexcept;
  static void on_cancel(void* self) noexcept;
  static void run_next(corio::detail::ready_node* n) noexcept;

  const stream_socket* s_;
  std::span<const std::byte> buf_;  // what is left to write
  io_op op_;
  corio::detail::task_state* task_ = nullptr;
  int err_ = 0;  // -errno once a send failed
  bool cancelled_ = false;  // a cancel request met before the first suspension
};

inline stream_socket::write_all_awaiter stream_socket::write_all(std::span<const std::byte> buf) const noexcept {
  return {*this, buf};
}
inline stream_socket::write_all_awaiter stream_socket::write_all(std::string_view text) const noexcept {
  return {*this, std::as_bytes(std::span(text.data(), text.size()))};
}

// What tcp_listener and unix_listener share: the listening socket and an
// accept loop that keeps serving through the failures a busy server meets.
//
// - ECONNABORTED, EPROTO, EPERM (a firewall), ENETDOWN and the like concern
//   one connection that died in the backlog: retried silently.
// - EMFILE, ENFILE, ENOBUFS, ENOMEM: the process or the system is out of
//   descriptors or memory. Retrying at once would spin (the pending
//   connection keeps the listener readable), so accept logs once at warn
//   level per episode, sleeps `accept_backoff` and tries again, until fds
//   are freed; connections wait in the kernel's backlog meanwhile.
class stream_listener {
 public:
  static constexpr std::chrono::milliseconds accept_backoff{100};

  stream_listener() noexcept = default;
  stream_listener(stream_listener&&) noexcept = default;
  stream_listener& operator=(stream_listener&&) noexcept = default;

  // The bound address (the real port when bound to port 0).
  const address& local_address() const noexcept { return local_; }
  int fd() const noexcept { return sock_.fd(); }
  bool is_open() const noexcept { return sock_.is_open(); }
  // Stops listening; a pending accept completes with ECANCELED.
  void close() noexcept { sock_.close(); }
  // How many times accept backed off for lack of fds or memory (tests, metrics).
  std::uint64_t backoffs() const noexcept { return backoffs_; }

 protected:
  explicit stream_listener(socket s) : sock_(std::move(s)), local_(sock_.local_address()) {}

  struct accepted {
    socket sock;
    address peer;
  };
  // The accept loop described above; throws std::system_error for the rest.
  task<accepted> accept_socket();

  socket sock_;
  address local_;

 private:
  std::uint64_t backoffs_ = 0;
  bool backing_off_ = false;
};

}  // namespace corio::net
