// SPDX-License-Identifier: MIT
//
// corio::run(main()): asyncio.run for C++. Makes a loop on this thread,
// runs `main` to the end, then cancels and drains every task still alive
// (so nothing leaks and every cleanup runs), closes the loop and returns
// main's value or rethrows its exception.
//
//   corio::task<int> amain() { ... co_return 0; }
//   int main() { return corio::run(amain()); }
//
// Ctrl-C: while run() runs on the main thread and SIGINT has its default
// action, the first SIGINT cancels the main task (asyncio's
// KeyboardInterrupt, delivered as cancelled_error so that every task
// unwinds cleanly), and run() then throws corio::interrupted. A second
// SIGINT gets the default action back and kills the process, for a program
// that does not stop.
#pragma once

#include <corio/core/error.hpp>
#include <corio/core/event_loop.hpp>

namespace corio {

// Thrown by run() when SIGINT cancelled the main task.
class interrupted : public error {
 public:
  interrupted() : error("corio: interrupted (SIGINT)") {}
};

namespace detail {
// Installs the SIGINT handler for the duration of run() when it is safe to
// (main thread, default disposition); restores it in the destructor.
class sigint_scope {
 public:
  explicit sigint_scope(event_loop& loop);
  ~sigint_scope();
  sigint_scope(const sigint_scope&) = delete;
  sigint_scope& operator=(const sigint_scope&) = delete;
  // True once after each SIGINT.
  bool take() noexcept;

 private:
  bool installed_ = false;
};
}  // namespace detail

template <class T>
T run(task<T> main, loop_options options = {}) {
  event_loop loop(std::move(options));
  join_handle<T> h = loop.spawn(std::move(main), "main");
  bool interrupted_by_signal = false;
  {
    detail::sigint_scope sigint(loop);
    loop.run_until([&] {
      if (sigint.take()) {
        interrupted_by_signal = true;
        h.cancel();
      }
      return h.done();
    });
  }
  loop.cancel_all_and_drain();
  loop.close();
  if (interrupted_by_signal && h.cancelled()) throw interrupted();
  return h.result();
}

}  // namespace corio
