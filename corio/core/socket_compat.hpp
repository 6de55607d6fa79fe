// SPDX-License-Identifier: MIT
//
// Linux (and FreeBSD, NetBSD, OpenBSD) make a socket non-blocking and
// close-on-exec in the call that creates it (SOCK_NONBLOCK | SOCK_CLOEXEC,
// accept4) and keep send() from raising SIGPIPE with a flag (MSG_NOSIGNAL).
// macOS has none of the three: there a new socket gets O_NONBLOCK and
// FD_CLOEXEC by fcntl, and SO_NOSIGPIPE once, right after it is made. The
// gap between socket() and fcntl() can leak the fd into a child that
// another thread forks and execs at that instant; libuv and Tokio accept the
// same race there.
//
// Where the one-call forms exist nothing changes: the flags are the same
// constants, and setup_socket() compiles to `return 0`.
//
// sendfile(2) is Linux's shape here (out, in, &offset, count); macOS and
// FreeBSD have calls of other shapes and meanings, so elsewhere send_file()
// copies one bounded chunk through a buffer (pread, then send) with the
// same contract.
#pragma once

#include <cerrno>
#include <cstddef>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/sendfile.h>
#endif

// Send flags stay written as MSG_NOSIGNAL; where it is missing it is 0 and
// SO_NOSIGPIPE (set by setup_socket) does its job.
#ifdef MSG_NOSIGNAL
#define CORIO_HAS_MSG_NOSIGNAL 1
#else
#define CORIO_HAS_MSG_NOSIGNAL 0
#define MSG_NOSIGNAL 0
#endif

namespace corio::detail {

#if defined(SOCK_NONBLOCK) && defined(SOCK_CLOEXEC)
inline constexpr int sock_nonblock_cloexec = SOCK_NONBLOCK | SOCK_CLOEXEC;
#else
inline constexpr int sock_nonblock_cloexec = 0;
#endif

// Does for a socket made with `sock_nonblock_cloexec` what that and
// MSG_NOSIGNAL could not do on this platform. Returns 0 or an errno; the
// caller closes the fd on failure.
inline int setup_socket([[maybe_unused]] int fd) noexcept {
  if constexpr (sock_nonblock_cloexec == 0) {
    int fl = ::fcntl(fd, F_GETFL);
    if (fl < 0 || ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || ::fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) return errno;
  }
#if !CORIO_HAS_MSG_NOSIGNAL && defined(SO_NOSIGPIPE)
  int one = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one) < 0) return errno;
#endif
  return 0;
}

// accept4(fd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC), or accept() then
// setup_socket() where there is no accept4. Returns the fd, or -1 and errno.
inline int accept_nonblocking(int fd, ::sockaddr* addr, ::socklen_t* len) noexcept {
#if defined(SOCK_NONBLOCK) && defined(SOCK_CLOEXEC)
  return ::accept4(fd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
  int s = ::accept(fd, addr, len);
  if (s < 0) return -1;
  if (int err = setup_socket(s)) {
    ::close(s);
    errno = err;
    return -1;
  }
  return s;
#endif
}

// One chunk of the file `in` from *off to the socket `out`: the bytes sent
// (*off moved by as many), 0 at the file's end, or -1 and errno (EAGAIN
// when the socket is full; nothing is lost, the offset stays).
inline ssize_t send_file_by_copy(int out, int in, ::off_t* off, std::size_t count) noexcept {
  char buf[64 * 1024];
  ssize_t n = ::pread(in, buf, count < sizeof buf ? count : sizeof buf, *off);
  if (n <= 0) return n;
  ssize_t sent = ::send(out, buf, static_cast<std::size_t>(n), MSG_NOSIGNAL);
  if (sent > 0) *off += sent;
  return sent;
}

inline ssize_t send_file(int out, int in, ::off_t* off, std::size_t count) noexcept {
#ifdef __linux__
  return ::sendfile(out, in, off, count);
#else
  return send_file_by_copy(out, in, off, count);
#endif
}

}  // namespace corio::detail
