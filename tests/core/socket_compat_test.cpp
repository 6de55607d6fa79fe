// SPDX-License-Identifier: MIT
//
// socket_compat.hpp: the portable forms of Linux's one-call socket set-up
// and of sendfile. Sockets made and accepted through it are non-blocking and
// close-on-exec on every platform; send_file and the copying fallback that
// macOS and the BSDs use (tested here on Linux too) move a file over a
// socket whole and in order, stop with EAGAIN when the socket is full
// without losing a byte, and return 0 at the file's end.
#include <corio/core/socket_compat.hpp>

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <fcntl.h>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

namespace {

bool nonblocking_cloexec(int fd) {
  return (::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0 && (::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0;
}

// A temporary file holding `size` pseudo-random bytes; removed at scope exit.
struct temp_file {
  int fd = -1;
  std::vector<char> bytes;
  explicit temp_file(std::size_t size) : bytes(size) {
    char name[] = "/tmp/corio-socket-compat-XXXXXX";
    fd = ::mkstemp(name);
    REQUIRE(fd >= 0);
    ::unlink(name);
    std::uint32_t x = 12345;
    for (char& c : bytes) {
      x = x * 1103515245 + 12345;
      c = static_cast<char>(x >> 24);
    }
    REQUIRE(::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
  }
  ~temp_file() { ::close(fd); }
};

// Sends the whole file with `send` over a socketpair whose writer is
// non-blocking, draining the reader whenever the writer is full, and
// returns what arrived. Counts the EAGAINs seen.
template <class Send>
std::vector<char> pump(const temp_file& f, Send send, int& eagains) {
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  REQUIRE(::fcntl(sv[0], F_SETFL, ::fcntl(sv[0], F_GETFL) | O_NONBLOCK) == 0);
  REQUIRE(::fcntl(sv[1], F_SETFL, ::fcntl(sv[1], F_GETFL) | O_NONBLOCK) == 0);
  std::vector<char> got;
  ::off_t off = 0;
  auto drain = [&] {
    char buf[16384];
    ssize_t n;
    while ((n = ::read(sv[1], buf, sizeof buf)) > 0) got.insert(got.end(), buf, buf + n);
  };
  for (int rounds = 0; rounds < 100000; ++rounds) {
    auto left = static_cast<std::size_t>(static_cast<::off_t>(f.bytes.size()) - off);
    ::off_t before = off;
    ssize_t n = send(sv[0], f.fd, &off, left == 0 ? 1 : left);
    if (n == 0) break;  // end of file
    if (n < 0) {
      REQUIRE(errno == EAGAIN);
      CHECK(off == before);  // a full socket loses nothing
      ++eagains;
      drain();
      continue;
    }
    CHECK(off == before + n);
  }
  drain();
  ::close(sv[0]);
  ::close(sv[1]);
  return got;
}

}  // namespace

TEST_SUITE("socket_compat") {
  TEST_CASE("a socket made with sock_nonblock_cloexec and setup_socket is non-blocking and close-on-exec") {
    int fd = ::socket(AF_INET, SOCK_STREAM | corio::detail::sock_nonblock_cloexec, 0);
    REQUIRE(fd >= 0);
    CHECK(corio::detail::setup_socket(fd) == 0);
    CHECK(nonblocking_cloexec(fd));
    ::close(fd);
  }

  TEST_CASE("accept_nonblocking gives a non-blocking, close-on-exec connection") {
    int l = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(l >= 0);
    ::sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(l, reinterpret_cast<::sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(l, 1) == 0);
    ::socklen_t len = sizeof a;
    REQUIRE(::getsockname(l, reinterpret_cast<::sockaddr*>(&a), &len) == 0);
    int c = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(::connect(c, reinterpret_cast<::sockaddr*>(&a), sizeof a) == 0);
    ::sockaddr_in peer{};
    len = sizeof peer;
    int s = corio::detail::accept_nonblocking(l, reinterpret_cast<::sockaddr*>(&peer), &len);
    REQUIRE(s >= 0);
    CHECK(nonblocking_cloexec(s));
    CHECK(peer.sin_addr.s_addr == htonl(INADDR_LOOPBACK));
    ::close(s);
    ::close(c);
    ::close(l);
  }

  TEST_CASE("send_file and its copying fallback move a file whole, losing nothing to EAGAIN") {
    temp_file f(3 * 1024 * 1024 + 17);  // larger than a socketpair's buffers: EAGAIN happens
    SUBCASE("send_file") {
      int eagains = 0;
      CHECK(pump(f, corio::detail::send_file, eagains) == f.bytes);
      CHECK(eagains > 0);
    }
    SUBCASE("send_file_by_copy (macOS, the BSDs)") {
      int eagains = 0;
      CHECK(pump(f, corio::detail::send_file_by_copy, eagains) == f.bytes);
      CHECK(eagains > 0);
    }
  }
}
