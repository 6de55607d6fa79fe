// SPDX-License-Identifier: MIT
//
// signal_set: POSIX signals as something a task awaits (asyncio's
// add_signal_handler, Asio's signal_set).
//
//   corio::signal_set sigs{SIGINT, SIGTERM};
//   int signo = co_await sigs.wait();        // a task, not a handler
//
// A signal handler may do almost nothing (async-signal-safe calls only), so
// corio does not run user code in one. On Linux the signals are blocked in
// the thread's mask and read from a signalfd through the loop, like any fd:
// no handler runs at all, and the wait is cancellable. Blocked signals stay
// pending for the process until some signalfd reads them, so a program with
// several threads must block them in every thread: construct the set (or
// call signal_set::block) in main before starting threads, which inherit
// the mask. The destructor leaves the mask as it is (other sets, or the
// program's shutdown, may still rely on it).
//
// corio::run() installs its own SIGINT handler only when SIGINT has its
// default action; a signal_set that blocks SIGINT takes over Ctrl-C.
//
// On macOS and the BSDs the same blocked signals are read from a kqueue of
// EVFILT_SIGNAL knotes instead (signal_set.cpp); on Linux too when the loop
// creating the set runs the kqueue backend (libkqueue). Where neither
// exists the constructor throws std::system_error(ENOSYS) with a clear
// message.
#pragma once

#include <corio/core/task.hpp>

#include <initializer_list>

namespace corio {

class signal_set {
 public:
  // Blocks `signals` in this thread's mask and opens the signalfd (or the
  // kqueue). Throws std::system_error.
  signal_set(std::initializer_list<int> signals);
  ~signal_set();
  signal_set(const signal_set&) = delete;
  signal_set& operator=(const signal_set&) = delete;

  // The next signal of the set that arrives (or is already pending).
  // Cancellation raises cancelled_error; no signal is lost to it.
  task<int> wait();

  // Blocks `signals` in the calling thread's mask (pthread_sigmask).
  static void block(std::initializer_list<int> signals);

 private:
  int fd_ = -1;
  bool kqueue_ = false;  // fd_ is a kqueue of EVFILT_SIGNAL knotes, not a signalfd
};

}  // namespace corio
