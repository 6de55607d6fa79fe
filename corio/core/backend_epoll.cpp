// SPDX-License-Identifier: MIT
//
// The epoll backend: completion emulated over readiness.
//
// Each fd is registered once, edge-triggered, for both directions
// (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET), the first time an op on it has
// to wait. Edge-triggered is sound here because an op only waits after an
// attempt that would have blocked: its awaiter's (marked op_would_block by
// perform_io), or submit()'s own when an earlier edge is still unused (the
// per-fd readable/writable flags). Any later readiness is a new edge. One registration per fd lifetime instead of an
// EPOLL_CTL_MOD per wait is one syscall saved per blocked operation;
// libuv and Tokio make the same trade.
//
// Waiting ops sit in two FIFO lists per fd, readers and writers; an event
// runs the head op's syscall again and completes ops until one would block.
// Per-fd state lives in a vector indexed by fd (fds are small and dense).
//
// poll() sleeps in epoll_pwait2 (nanosecond timeout, Linux 5.11) and falls
// back to epoll_wait with the timeout rounded up to whole milliseconds, so
// the loop never wakes before a timer is due. wake() writes an eventfd.
#include <corio/core/backend.hpp>
#include <corio/core/log.hpp>
#include <corio/core/op_list.hpp>

#include <atomic>
#include <cerrno>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
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
  bool registered = false;
  bool readable = false;
  bool writable = false;
};

// Marks an op that finished inside submit() and waits in deferred_ for the
// next poll(), so that submit never completes inline.
constexpr std::uint8_t deferred_bit = 0x80;

}  // namespace

class epoll_backend final : public backend {
 public:
  epoll_backend() {
    epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) throw std::system_error(errno, std::system_category(), "epoll_create1");
    wakefd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wakefd_ < 0) {
      int err = errno;
      ::close(epfd_);
      throw std::system_error(err, std::system_category(), "eventfd");
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = wakefd_;
    ::epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev);
  }

  ~epoll_backend() override {
    ::close(wakefd_);
    ::close(epfd_);
  }

  void submit(io_op& op) override {
    op.state = op_state::submitted;
    if (op.fd < 0) {
      defer_completion(op, -EBADF);
      return;
    }
    fd_state& s = state_for(op.fd);
    if (!s.registered) {
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
      ev.data.fd = op.fd;
      if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, op.fd, &ev) < 0) {
        // Regular files and bad fds cannot be polled: complete with the
        // error (EPERM: the file is always ready, so try it right away).
        int err = errno;
        std::int32_t res = -err;
        if (err == EPERM) res = is_poll(op.kind) ? 0 : detail::perform_io(op);
        defer_completion(op, res);
        return;
      }
      s.registered = true;
    }
    bool reader = is_reader(op.kind);
    op_list& waiting = reader ? s.readers : s.writers;
    bool& ready = reader ? s.readable : s.writable;
    if (op.backend_flags & detail::op_would_block) {
      // Tried an instant ago by its awaiter: not ready, and any edge since
      // is queued in epoll.
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

    epoll_event events[256];
    int n = wait(events, 256, timeout);
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == wakefd_) {
        std::uint64_t v;
        [[maybe_unused]] auto r = ::read(wakefd_, &v, sizeof v);
        wake_pending_.store(false, std::memory_order_release);
        continue;
      }
      if (static_cast<std::size_t>(fd) >= fds_.size()) continue;
      fd_state& s = fds_[static_cast<std::size_t>(fd)];
      std::uint32_t e = events[i].events;
      if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) completed += drain(s.readers, s.readable);
      if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR)) completed += drain(s.writers, s.writable);
    }
    return completed;
  }

  void wake() noexcept override {
    // One eventfd write per sleep is enough; the flag keeps a storm of
    // call_soon_threadsafe from turning into a storm of syscalls.
    if (wake_pending_.exchange(true, std::memory_order_acq_rel)) return;
    std::uint64_t one = 1;
    [[maybe_unused]] auto r = ::write(wakefd_, &one, sizeof one);
  }

  void forget(int fd) noexcept override {
    if (fd < 0 || static_cast<std::size_t>(fd) >= fds_.size()) return;
    fd_state& s = fds_[static_cast<std::size_t>(fd)];
    if (s.registered) {
      // Deleted now rather than left to close(): if the fd was dup'ed, the
      // registration would outlive it and report events for a reused number.
      ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
      s.registered = false;
    }
    s.readable = s.writable = false;
    for (op_list* l : {&s.readers, &s.writers}) {
      while (io_op* op = l->head) {
        l->unlink(*op);
        op->complete(-ECANCELED);
      }
    }
  }

  std::string_view name() const noexcept override { return "epoll"; }

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
  static std::int32_t poll_now(const io_op& op) noexcept {
    pollfd p{op.fd, static_cast<short>(op.kind == op_kind::poll_read ? POLLIN | POLLRDHUP : POLLOUT), 0};
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

  int wait(epoll_event* events, int max, std::optional<std::chrono::nanoseconds> timeout) {
    int n;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
    if (has_pwait2_) {
      timespec ts{};
      timespec* tsp = nullptr;
      if (timeout) {
        auto ns = timeout->count() < 0 ? 0 : timeout->count();
        ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
        ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
        tsp = &ts;
      }
      n = ::epoll_pwait2(epfd_, events, max, tsp, nullptr);
      if (n >= 0 || errno != ENOSYS) return n < 0 ? 0 : n;
      // Kernel older than 5.11: fall back for good, and say so once.
      has_pwait2_ = false;
      CORIO_LOG_INFO("epoll: epoll_pwait2 unavailable (kernel < 5.11), timeouts rounded up to 1 ms");
    }
#endif
    int ms = -1;
    if (timeout) {
      auto ns = timeout->count() < 0 ? 0 : timeout->count();
      // Rounded up: never wake before the deadline the caller asked for.
      auto up = (ns + 999'999) / 1'000'000;
      ms = up > 0x7fffffff ? 0x7fffffff : static_cast<int>(up);
    }
    n = ::epoll_wait(epfd_, events, max, ms);
    return n < 0 ? 0 : n;
  }

  int epfd_ = -1;
  int wakefd_ = -1;
  std::atomic<bool> wake_pending_{false};
  bool has_pwait2_ = true;
  std::vector<fd_state> fds_;
  op_list deferred_;
};

std::unique_ptr<backend> make_epoll_backend() { return std::make_unique<epoll_backend>(); }

}  // namespace corio
