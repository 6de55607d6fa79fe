// SPDX-License-Identifier: MIT
//
// signal_set over signalfd (Linux). One signalfd_siginfo is read per wait;
// the fd is non-blocking and read through io::read, so the loop sleeps in
// its poller while no signal is pending.
#include <corio/core/signal_set.hpp>

#include <corio/core/error.hpp>
#include <corio/core/event_loop.hpp>
#include <corio/core/io.hpp>

#include <cerrno>
#include <csignal>
#include <pthread.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/signalfd.h>
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
}  // namespace

void signal_set::block(std::initializer_list<int> signals) {
  ::sigset_t set = make_set(signals);
  if (int err = ::pthread_sigmask(SIG_BLOCK, &set, nullptr)) throw_system_error(err, "pthread_sigmask");
}

#ifdef __linux__

signal_set::signal_set(std::initializer_list<int> signals) {
  ::sigset_t set = make_set(signals);
  if (int err = ::pthread_sigmask(SIG_BLOCK, &set, nullptr)) throw_system_error(err, "pthread_sigmask");
  fd_ = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd_ < 0) throw_system_error(errno, "signalfd");
}

signal_set::~signal_set() {
  if (fd_ < 0) return;
  if (event_loop* loop = event_loop::current(); loop && !loop->is_closed()) loop->io().forget(fd_);
  ::close(fd_);
}

task<int> signal_set::wait() {
  ::signalfd_siginfo info{};
  std::size_t n = co_await io::read(fd_, std::as_writable_bytes(std::span(&info, 1)));
  if (n != sizeof info) throw_system_error(EIO, "signal_set: short read from signalfd");
  co_return static_cast<int>(info.ssi_signo);
}

#else

signal_set::signal_set(std::initializer_list<int>) {
  throw_system_error(ENOSYS, "corio::signal_set: not implemented on this platform yet (Linux signalfd only)");
}
signal_set::~signal_set() = default;
task<int> signal_set::wait() {
  throw_system_error(ENOSYS, "corio::signal_set: not implemented on this platform yet");
  co_return 0;
}

#endif

}  // namespace corio
