// SPDX-License-Identifier: MIT
//
// Unix stream sockets. The stream operations are stream_socket's; this file
// is about paths: binding over a stale socket file, and removing our own
// file (and only ours) when the listener closes.
#include <corio/net/unix.hpp>

#include <corio/core/socket_compat.hpp>

#include <cerrno>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

namespace corio::net {

namespace {

// True if `a` names a socket file that nobody listens on: a non-blocking
// connect to it is refused at once (a live one answers, or EAGAIN when its
// backlog is full).
bool is_stale(const address& a) {
  struct ::stat st {};
  std::string path = a.path();
  if (::lstat(path.c_str(), &st) < 0 || !S_ISSOCK(st.st_mode)) return false;
  socket probe = socket::open(AF_UNIX, SOCK_STREAM);
  return ::connect(probe.fd(), a.sockaddr_ptr(), a.sockaddr_len()) < 0 && errno == ECONNREFUSED;
}

}  // namespace

// --- unix_stream ----------------------------------------------------------------

task<unix_stream> unix_stream::connect(std::string_view path) { return connect(address::unix_path(path)); }

task<unix_stream> unix_stream::connect(address peer) {
  if (!peer.is_unix()) throw std::invalid_argument("unix_stream::connect: not a unix address: " + peer.to_string());
  socket s = socket::open(AF_UNIX, SOCK_STREAM);
  std::int32_t r = co_await io::connect_res(s.fd(), peer.sockaddr_ptr(), peer.sockaddr_len());
  if (r < 0) throw_system_error(-r, "connect to " + peer.to_string());
  co_return unix_stream(std::move(s), peer);
}

std::pair<unix_stream, unix_stream> unix_stream::pair() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | corio::detail::sock_nonblock_cloexec, 0, fds) < 0) throw_system_error(errno, "socketpair");
  for (int fd : fds)
    if (int err = corio::detail::setup_socket(fd)) {  // macOS: no SOCK_NONBLOCK, no MSG_NOSIGNAL
      ::close(fds[0]);
      ::close(fds[1]);
      throw_system_error(err, "socketpair");
    }
  address name = address::unix_path("@socketpair");
  return {unix_stream(socket(fds[0]), name), unix_stream(socket(fds[1]), name)};
}

// --- unix_listener --------------------------------------------------------------

unix_listener::unix_listener(unix_listener&& o) noexcept
    : stream_listener(std::move(o)), dev_(o.dev_), ino_(o.ino_), owns_path_(std::exchange(o.owns_path_, false)) {}

unix_listener& unix_listener::operator=(unix_listener&& o) noexcept {
  if (this != &o) {
    close();
    stream_listener::operator=(std::move(o));
    dev_ = o.dev_;
    ino_ = o.ino_;
    owns_path_ = std::exchange(o.owns_path_, false);
  }
  return *this;
}

unix_listener unix_listener::bind(std::string_view path, int backlog) { return bind(address::unix_path(path), backlog); }

unix_listener unix_listener::bind(const address& local, int backlog) {
  if (!local.is_unix() || local.path().empty())
    throw std::invalid_argument("unix_listener::bind: not a unix path: " + local.to_string());
  socket s = socket::open(AF_UNIX, SOCK_STREAM);
  if (::bind(s.fd(), local.sockaddr_ptr(), local.sockaddr_len()) < 0) {
    int err = errno;
    if (err != EADDRINUSE || local.is_abstract() || !is_stale(local)) throw_system_error(err, "bind to " + local.to_string());
    ::unlink(local.path().c_str());
    s.bind(local);
  }
  s.listen(backlog);
  unix_listener l(std::move(s));
  if (!local.is_abstract()) {
    struct ::stat st {};
    if (::stat(local.path().c_str(), &st) == 0) {
      l.dev_ = st.st_dev;
      l.ino_ = st.st_ino;
      l.owns_path_ = true;
    }
  }
  // getsockname may shorten nothing but loses nothing either; keep the
  // name the caller gave, which is what errors and logs should show.
  l.local_ = local;
  return l;
}

task<unix_stream> unix_listener::accept() {
  accepted a = co_await accept_socket();
  co_return unix_stream(std::move(a.sock), local_);
}

void unix_listener::close() noexcept {
  if (owns_path_) {
    owns_path_ = false;
    std::string path = local_.path();
    struct ::stat st {};
    if (::stat(path.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) ::unlink(path.c_str());
  }
  stream_listener::close();
}

}  // namespace corio::net
