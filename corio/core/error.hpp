// SPDX-License-Identifier: MIT
//
// corio's exceptions. Inside the loop and the backends results stay int32_t
// (>= 0 for a count, < 0 for -errno, as in an io_uring completion); they turn
// into exceptions only at the user's edge, where an operation that failed
// throws std::system_error naming the operation (and the peer where there is
// one), the way Asio's throw_error(ec, "read_some") and Seastar's
// throw_system_error_on(r == -1, "read") do.
//
// Two outcomes are not failures of the operation but of the wait: a cancelled
// task sees corio::cancelled_error at a suspension point, and a deadline that
// passed raises corio::timeout_error. Both derive from corio::error so that a
// handler can catch "corio gave up on this" in one clause, while
// std::system_error stays the type for what the kernel said.
#pragma once

#include <stdexcept>
#include <string>
#include <system_error>

namespace corio {

// Base of the errors that corio itself raises (not the kernel's).
class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Raised inside a task at its current or next suspension point after
// cancel() was called on it; awaiting a cancelled task raises it too.
// Catching it and carrying on is allowed (asyncio's uncancel), but a task
// that swallows it keeps running as if nothing had been asked.
class cancelled_error : public error {
 public:
  cancelled_error() : error("corio: task cancelled") {}
  using error::error;
};

// Raised when a deadline passes before the awaited operation completed.
// The message says which deadline (connect, read, total...).
class timeout_error : public error {
 public:
  timeout_error() : error("corio: timed out") {}
  using error::error;
};

// Throws std::system_error for -res (a negative result) or for errno.
// `what` names the operation, for example "read" or "connect to 10.0.0.1:80".
[[noreturn]] void throw_system_error(int err, const std::string& what);

// Turns a backend result into a count or a throw: res >= 0 is returned as is,
// res < 0 throws std::system_error(-res, what).
inline size_t check_result(int32_t res, const char* what) {
  if (res < 0) throw_system_error(-res, what);
  return static_cast<size_t>(res);
}

}  // namespace corio
