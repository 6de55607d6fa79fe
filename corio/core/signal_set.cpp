// SPDX-License-Identifier: MIT
//
// signal_set over signalfd (Linux) or a kqueue with EVFILT_SIGNAL knotes
// (macOS, the BSDs). Either way the signals are blocked in the thread's
// mask, so no handler runs and no default action fires, and the set's fd is
// awaited through the loop like any other, so the loop sleeps in its poller
// while no signal is pending.
//
// signalfd: one signalfd_siginfo is read per wait; reading it consumes the
// pending signal.
//
// kqueue: the set owns a kqueue of its own holding one EVFILT_SIGNAL knote
// per signal. A kqueue fd is readable while it holds events, so wait()
// awaits readability, then takes one event with a zero timeout. The kernel
// posts the knote on every attempt to deliver the signal, blocked or not;
// the signal itself stays pending while blocked (kqueue does not consume
// it), which is harmless while it stays blocked, as the set leaves it.
// Unlike signalfd, a knote sees only what is sent after it was added: a
// signal already pending when the set is made is not reported.
// Signals of one number that arrive between two waits count as one, as
// with signalfd.
//
// Which one: signalfd on Linux, unless the loop that creates the set runs
// the kqueue backend (libkqueue), so that the EVFILT_SIGNAL path runs
// under the kqueue test run here too; kqueue elsewhere.
#include <corio/core/signal_set.hpp>

#include <corio/config.hpp>
#include <corio/core/error.hpp>
#include <corio/core/event_loop.hpp>
#include <corio/core/io.hpp>

#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <pthread.h>
#include <string>
#include <unistd.h>
#include <vector>
#ifdef __linux__
#include <sys/signalfd.h>
#endif
#if CORIO_HAS_KQUEUE
#include <sys/types.h>
#include <sys/event.h>
#include <sys/time.h>
#endif

namespace corio {

namespace {

::sigset_t make_set(std::initializer_list<int> signals) {
  ::sigset_t set;
  ::sigemptyset(&set);
  for (int s : signals)
    if (::sigaddset(&set, s) < 0) throw_system_error(errno, "signal_set: signal " + std::to_string(s));
  return set;
}

#ifdef __linux__
int open_signalfd(const ::sigset_t& set) {
  int fd = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) throw_system_error(errno, "signalfd");
  return fd;
}

task<int> wait_signalfd(int fd) {
  ::signalfd_siginfo info{};
  std::size_t n = co_await io::read(fd, std::as_writable_bytes(std::span(&info, 1)));
  if (n != sizeof info) throw_system_error(EIO, "signal_set: short read from signalfd");
  co_return static_cast<int>(info.ssi_signo);
}
#endif

#if CORIO_HAS_KQUEUE
int open_kqueue(std::initializer_list<int> signals) {
  int kq = ::kqueue();
  if (kq < 0) throw_system_error(errno, "signal_set: kqueue");
  ::fcntl(kq, F_SETFD, FD_CLOEXEC);
  std::vector<struct kevent> changes(signals.size());
  std::size_t i = 0;
  for (int s : signals) EV_SET(&changes[i++], static_cast<uintptr_t>(s), EVFILT_SIGNAL, EV_ADD | EV_CLEAR, 0, 0, 0);
  if (::kevent(kq, changes.data(), static_cast<int>(changes.size()), nullptr, 0, nullptr) < 0) {
    int err = errno;
    ::close(kq);
    throw_system_error(err, "signal_set: kevent(EVFILT_SIGNAL)");
  }
  return kq;
}

task<int> wait_kqueue(int kq) {
  for (;;) {
    struct kevent ev;
    timespec zero{};
    int n = ::kevent(kq, nullptr, 0, &ev, 1, &zero);
    if (n < 0 && errno != EINTR) throw_system_error(errno, "signal_set: kevent");
    if (n > 0) co_return static_cast<int>(ev.ident);
    // Nothing yet: the event stays in the kqueue if this wait is cancelled.
    co_await io::wait_readable(kq);
  }
}

// The loop that is creating the set runs the kqueue backend.
[[maybe_unused]] bool loop_runs_kqueue() {
  event_loop* loop = event_loop::current();
  return loop && loop->io().name() == "kqueue";
}
#endif

}  // namespace

void signal_set::block(std::initializer_list<int> signals) {
  ::sigset_t set = make_set(signals);
  if (int err = ::pthread_sigmask(SIG_BLOCK, &set, nullptr)) throw_system_error(err, "pthread_sigmask");
}

#if defined(__linux__) || CORIO_HAS_KQUEUE

signal_set::signal_set(std::initializer_list<int> signals) {
  ::sigset_t set = make_set(signals);
  if (int err = ::pthread_sigmask(SIG_BLOCK, &set, nullptr)) throw_system_error(err, "pthread_sigmask");
#if defined(__linux__) && CORIO_HAS_KQUEUE
  kqueue_ = loop_runs_kqueue();
  fd_ = kqueue_ ? open_kqueue(signals) : open_signalfd(set);
#elif defined(__linux__)
  fd_ = open_signalfd(set);
#else
  kqueue_ = true;
  fd_ = open_kqueue(signals);
#endif
}

signal_set::~signal_set() {
  if (fd_ < 0) return;
  if (event_loop* loop = event_loop::current(); loop && !loop->is_closed()) loop->io().forget(fd_);
  ::close(fd_);
}

task<int> signal_set::wait() {
#if CORIO_HAS_KQUEUE
  if (kqueue_) return wait_kqueue(fd_);
#endif
#ifdef __linux__
  return wait_signalfd(fd_);
#else
  throw_system_error(ENOSYS, "corio::signal_set: no signal source");  // unreachable: kqueue_ is set
#endif
}

#else

signal_set::signal_set(std::initializer_list<int>) {
  throw_system_error(ENOSYS, "corio::signal_set: not implemented on this platform (needs signalfd or kqueue)");
}
signal_set::~signal_set() = default;
task<int> signal_set::wait() {
  throw_system_error(ENOSYS, "corio::signal_set: not implemented on this platform");
  co_return 0;
}

#endif

}  // namespace corio
