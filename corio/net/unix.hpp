// SPDX-License-Identifier: MIT
//
// Unix stream sockets: unix_listener and unix_stream, with the same stream
// API as TCP (stream_socket, socket.hpp).
//
//   auto l = unix_listener::bind("/run/app.sock");
//   unix_stream c = co_await unix_stream::connect("/run/app.sock");
//   unix_stream s = co_await l.accept();
//
// Paths. A listener removes the socket file it created when it closes, but
// only if the file is still the one it created (same device and inode), so
// that a newer server's socket at the same path survives an older one's
// shutdown. A stale file left by a crashed server (a socket nobody listens
// on) is replaced at bind; a live one makes bind fail with EADDRINUSE (the
// probe that tells them apart is a connect, so the live server sees one
// connection that closes at once).
// Paths starting with '@' are Linux abstract sockets: no file at all.
//
// Accepted streams have no peer name (clients rarely bind), so their errors
// name the listener's path instead: "read from unix:/run/app.sock: ...".
#pragma once

#include <corio/net/socket.hpp>

#include <string_view>
#include <sys/types.h>
#include <utility>

namespace corio::net {

class unix_stream : public stream_socket {
 public:
  unix_stream() noexcept = default;

  // Connects to a listening socket. Throws std::system_error
  // ("connect to unix:/tmp/x.sock: No such file or directory").
  static task<unix_stream> connect(std::string_view path);
  static task<unix_stream> connect(address peer);
  // A connected pair (socketpair(2)): tests, and talking to a child process.
  static std::pair<unix_stream, unix_stream> pair();

 private:
  friend class unix_listener;
  unix_stream(socket s, address peer) noexcept : stream_socket(std::move(s), peer) {}
};

class unix_listener : public stream_listener {
 public:
  unix_listener() noexcept = default;
  unix_listener(unix_listener&& o) noexcept;
  unix_listener& operator=(unix_listener&& o) noexcept;
  ~unix_listener() { close(); }

  static unix_listener bind(std::string_view path, int backlog = 4096);
  static unix_listener bind(const address& local, int backlog = 4096);

  task<unix_stream> accept();
  // Stops listening and removes the socket file (see above).
  void close() noexcept;

 private:
  explicit unix_listener(socket s) : stream_listener(std::move(s)) {}

  ::dev_t dev_ = 0;
  ::ino_t ino_ = 0;
  bool owns_path_ = false;
};

}  // namespace corio::net
