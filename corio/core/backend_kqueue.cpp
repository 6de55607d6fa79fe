// SPDX-License-Identifier: MIT
//
// The kqueue backend: completion emulated over readiness (macOS, the BSDs,
// and Linux through the libkqueue emulation library). It is the epoll
// backend's mirror, function for function; where the two differ, the
// difference is kqueue's and is said here.
//
// Each fd is registered once per direction, edge-triggered (a knote,
// EVFILT_READ or EVFILT_WRITE, EV_ADD | EV_CLEAR), the first time an op of
// that direction has to wait. (epoll registers both directions in one
// call; kqueue's knotes are per filter, and one direction may be refused
// where the other is fine: EVFILT_WRITE on a pipe's read end whose writer
// is gone fails with EPIPE, which must not fail a read that would see
// EOF.) Edge-triggered is sound here because an op
// only waits after an attempt that would have blocked: its awaiter's (marked
// op_would_block by perform_io), or submit()'s own when an earlier edge is
// still unused (the per-fd readable/writable flags). Any later readiness is
// a new edge. One registration per fd lifetime instead of an EV_ENABLE per
// wait is one syscall saved per blocked operation; libuv and Tokio make the
// same trade.
//
// Waiting ops sit in two FIFO lists per fd, readers and writers; an event
// runs the head op's syscall again and completes ops until one would block.
// Per-fd state lives in a vector indexed by fd (fds are small and dense).
//
// poll() sleeps in kevent, whose timeout is a timespec: nanoseconds without
// epoll's fallback to whole milliseconds. wake() triggers an EVFILT_USER
// event (no eventfd: kqueue has its own). No EVFILT_TIMER either: the timer
// wheel times, the backend only sleeps until the deadline it is given.
//
// Regular files are not registered: kqueue reports a file readable only up
// to its end (FreeBSD's filt_vfsread), so a read at end of file would never
// complete. They are tried at once instead, as epoll does when epoll_ctl
// answers EPERM for them; so are fds kqueue cannot watch at all (EINVAL,
// ENODEV: some devices on macOS, where Linux's poll says "always ready").
#include <corio/core/backend.hpp>
#include <corio/core/op_list.hpp>

#include <atomic>
#include <cerrno>
#include <fcntl.h>
#include <poll.h>
#include <sys/types.h>
#include <sys/event.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <system_error>
#include <unistd.h>
#include <vector>

namespace corio {

using detail::is_poll;
using detail::is_reader;
using detail::op_list;

namespace {

// `readable`/`writable` remember an edge that no waiting op used up (the
// list was empty when it came, or every op on it completed): an op that
// arrives later must be tried at once, since no new edge will announce
// what is already there. An EAGAIN clears them.
struct fd_state {
  op_list readers;
  op_list writers;
  bool read_registered = false;
  bool write_registered = false;
  bool readable = false;
  bool writable = false;
};

// Marks an op that finished inside submit() and waits in deferred_ for the
// next poll(), so that submit never completes inline.
constexpr std::uint8_t deferred_bit = 0x80;

// The EVFILT_USER event that wake() triggers. Knotes are keyed by
// (ident, filter), so ident 0 cannot collide with fd 0's EVFILT_READ.
constexpr uintptr_t wake_ident = 0;

}  // namespace

class kqueue_backend final : public backend {
 public:
  kqueue_backend() {
    kqfd_ = ::kqueue();
    if (kqfd_ < 0) throw std::system_error(errno, std::system_category(), "kqueue");
    // kqueue() has no CLOEXEC flag everywhere (macOS lacks kqueue1/kqueuex).
    ::fcntl(kqfd_, F_SETFD, FD_CLOEXEC);
    struct kevent ev;
    EV_SET(&ev, wake_ident, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, 0);
    if (::kevent(kqfd_, &ev, 1, nullptr, 0, nullptr) < 0) {
      int err = errno;
      ::close(kqfd_);
      throw std::system_error(err, std::system_category(), "kevent(EVFILT_USER)");
    }
  }

  ~kqueue_backend() override { ::close(kqfd_); }

  void submit(io_op& op) override {
    op.state = op_state::submitted;
    if (op.fd < 0) {
      defer_completion(op, -EBADF);
      return;
    }
    fd_state& s = state_for(op.fd);
    bool reader = is_reader(op.kind);
    bool& registered = reader ? s.read_registered : s.write_registered;
    if (!registered) {
      if (int err = register_fd(op.fd, reader ? EVFILT_READ : EVFILT_WRITE)) {
        // Regular files and bad fds cannot be polled: complete with the
        // error (EPERM: the file is always ready, so try it right away).
        std::int32_t res = -err;
        if (err == EPERM) res = is_poll(op.kind) ? 0 : detail::perform_io(op);
        defer_completion(op, res);
        return;
      }
      registered = true;
    }
    op_list& waiting = reader ? s.readers : s.writers;
    bool& ready = reader ? s.readable : s.writable;
    if (op.backend_flags & detail::op_would_block) {
      // Tried an instant ago by its awaiter: not ready, and any edge since
      // is queued in the kqueue.
      op.backend_flags &= static_cast<std::uint8_t>(~detail::op_would_block);
      ready = false;
    } else if (ready && waiting.empty()) {
      // The flag may be stale (the caller could have drained the fd with a
      // syscall of its own): a poll op checks for real instead of trusting it.
      std::int32_t res = is_poll(op.kind) ? poll_now(op) : detail::perform_io(op);
      if (res != -EAGAIN) {
        defer_completion(op, res);
        return;
      }
      op.backend_flags &= static_cast<std::uint8_t>(~detail::op_would_block);
      ready = false;
    }
    waiting.push(op);
  }

  void cancel(io_op& op) noexcept override {
    if (op.state != op_state::submitted) return;
    if (op.backend_flags & deferred_bit) {
      // Already finished inside submit(): hand over the real result.
      deferred_.unlink(op);
      op.backend_flags &= static_cast<std::uint8_t>(~deferred_bit);
      op.complete(op.res);
      return;
    }
    fd_state& s = fds_[static_cast<std::size_t>(op.fd)];
    (is_reader(op.kind) ? s.readers : s.writers).unlink(op);
    op.complete(-ECANCELED);
  }

  int poll(std::optional<std::chrono::nanoseconds> timeout) override {
    int completed = flush_deferred();
    if (completed > 0) timeout = std::chrono::nanoseconds::zero();

    struct kevent events[256];
    int n = wait(events, 256, timeout);
    for (int i = 0; i < n; ++i) {
      if (events[i].filter == EVFILT_USER) {
        // EV_CLEAR re-arms the event as it is read: nothing to drain.
        wake_pending_.store(false, std::memory_order_release);
        continue;
      }
      auto fd = static_cast<std::size_t>(events[i].ident);
      if (fd >= fds_.size()) continue;
      fd_state& s = fds_[fd];
      // EV_EOF (peer closed, or an error in fflags) comes on the filter it
      // concerns; the ops' own syscalls then report the end or the error.
      if (events[i].filter == EVFILT_READ) completed += drain(s.readers, s.readable);
      if (events[i].filter == EVFILT_WRITE) completed += drain(s.writers, s.writable);
    }
    return completed;
  }

  void wake() noexcept override {
    // One trigger per sleep is enough; the flag keeps a storm of
    // call_soon_threadsafe from turning into a storm of syscalls. kevent is
    // a plain syscall on the BSDs and macOS; libkqueue's takes a lock, so
    // there a wake from a signal handler is best effort.
    if (wake_pending_.exchange(true, std::memory_order_acq_rel)) return;
    struct kevent ev;
    EV_SET(&ev, wake_ident, EVFILT_USER, 0, NOTE_TRIGGER, 0, 0);
    ::kevent(kqfd_, &ev, 1, nullptr, 0, nullptr);
  }

  void forget(int fd) noexcept override {
    if (fd < 0 || static_cast<std::size_t>(fd) >= fds_.size()) return;
    fd_state& s = fds_[static_cast<std::size_t>(fd)];
    if (s.read_registered || s.write_registered) {
      // The kernel drops an fd's knotes at close() (they hang on the
      // descriptor, not on the open file as epoll's do), but emulations
      // such as libkqueue keep them keyed by number: deleted now, so that
      // a reused number registers afresh.
      struct kevent changes[2];
      int n = 0;
      if (s.read_registered) EV_SET(&changes[n++], static_cast<uintptr_t>(fd), EVFILT_READ, EV_DELETE, 0, 0, 0);
      if (s.write_registered) EV_SET(&changes[n++], static_cast<uintptr_t>(fd), EVFILT_WRITE, EV_DELETE, 0, 0, 0);
      ::kevent(kqfd_, changes, n, nullptr, 0, nullptr);
      s.read_registered = s.write_registered = false;
    }
    s.readable = s.writable = false;
    for (op_list* l : {&s.readers, &s.writers}) {
      while (io_op* op = l->head) {
        l->unlink(*op);
        op->complete(-ECANCELED);
      }
    }
  }

  std::string_view name() const noexcept override { return "kqueue"; }

  backend_features features() const noexcept override {
    backend_features f;
    f.try_before_submit = true;
    return f;
  }

 private:
  fd_state& state_for(int fd) {
    auto i = static_cast<std::size_t>(fd);
    if (i >= fds_.size()) fds_.resize(i < 64 ? 64 : i * 2);
    return fds_[i];
  }

  // Adds the fd's knote for `filter`; returns 0, or an errno (EPERM for
  // what is never registered and is tried at once instead: see the top).
  int register_fd(int fd, short filter) noexcept {
    struct stat st;
    if (::fstat(fd, &st) < 0) return errno;
    if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) return EPERM;
    struct kevent change;
    EV_SET(&change, static_cast<uintptr_t>(fd), filter, EV_ADD | EV_CLEAR, 0, 0, 0);
    // With no room for events, a change that fails fails the call.
    if (::kevent(kqfd_, &change, 1, nullptr, 0, nullptr) == 0) return 0;
    return errno == EINVAL || errno == ENODEV ? EPERM : errno;
  }

  // Completes waiting ops in order until one would block again; what is
  // left of the edge is remembered in `ready`.
  int drain(op_list& l, bool& ready) noexcept {
    int completed = 0;
    ready = true;
    while (io_op* op = l.head) {
      std::int32_t res = is_poll(op->kind) ? 0 : detail::perform_io(*op);
      if (res == -EAGAIN) {
        op->backend_flags &= static_cast<std::uint8_t>(~detail::op_would_block);
        ready = false;
        break;
      }
      l.unlink(*op);
      op->complete(res);
      ++completed;
    }
    return completed;
  }

  // A readiness check that does not block: 0 if ready, else -EAGAIN.
  // (No POLLRDHUP outside Linux; a hung-up peer shows as POLLHUP or POLLIN.)
  static std::int32_t poll_now(const io_op& op) noexcept {
    pollfd p{op.fd, static_cast<short>(op.kind == op_kind::poll_read ? POLLIN : POLLOUT), 0};
    int n = ::poll(&p, 1, 0);
    if (n < 0) return -errno;
    return n > 0 ? 0 : -EAGAIN;
  }

  void defer_completion(io_op& op, std::int32_t res) noexcept {
    op.res = res;
    op.backend_flags |= deferred_bit;
    deferred_.push(op);
  }

  int flush_deferred() noexcept {
    int completed = 0;
    while (io_op* op = deferred_.head) {
      deferred_.unlink(*op);
      op->backend_flags &= static_cast<std::uint8_t>(~deferred_bit);
      op->complete(op->res);
      ++completed;
    }
    return completed;
  }

  int wait(struct kevent* events, int max, std::optional<std::chrono::nanoseconds> timeout) {
    timespec ts{};
    timespec* tsp = nullptr;
    if (timeout) {
      auto ns = timeout->count() < 0 ? 0 : timeout->count();
      ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
      ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
      tsp = &ts;
    }
    int n = ::kevent(kqfd_, nullptr, 0, events, max, tsp);
    return n < 0 ? 0 : n;
  }

  int kqfd_ = -1;
  std::atomic<bool> wake_pending_{false};
  std::vector<fd_state> fds_;
  op_list deferred_;
};

std::unique_ptr<backend> make_kqueue_backend() { return std::make_unique<kqueue_backend>(); }

}  // namespace corio
