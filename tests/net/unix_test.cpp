// SPDX-License-Identifier: MIT
//
// Unix stream sockets: the same stream API as TCP over paths; the socket
// file is removed when the listener closes (only if it is still ours),
// stale files are replaced, live ones are not, abstract names leave nothing.
#include <corio/net/unix.hpp>

#include "net_test_support.hpp"

#include <corio/core/time.hpp>

#include <cerrno>
#include <string>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>
#include <vector>

using corio::task;
using corio::net::address;
using corio::net::unix_listener;
using corio::net::unix_stream;
using corio::test::run_test;

namespace {

std::string temp_path(const char* name) {
  return "/tmp/corio-unix-test-" + std::to_string(::getpid()) + "-" + name + ".sock";
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

task<void> echo_one(unix_listener& l) {
  unix_stream s = co_await l.accept();
  std::vector<std::byte> buf(8192);
  while (std::size_t n = co_await s.read_some(buf)) co_await s.write_all(std::span(buf).first(n));
}

task<void> check_echo(unix_stream& c, std::size_t size) {
  std::vector<std::byte> data(size);
  for (std::size_t i = 0; i < size; ++i) data[i] = static_cast<std::byte>(i * 131 + 7);
  auto writer = [](unix_stream& c, const std::vector<std::byte>& d) -> task<void> {
    co_await c.write_all(d);
    c.shutdown_write();
  };
  auto w = corio::spawn(writer(c, data));
  std::vector<std::byte> got(size);
  co_await c.read_exact(got);
  std::byte b[1];
  CHECK(co_await c.read_some(b) == 0);
  co_await w;
  CHECK(got == data);
}

}  // namespace

TEST_SUITE("unix") {
  TEST_CASE("bytes round trip through a unix socket path, and the file is removed on close") {
    std::string path = temp_path("roundtrip");
    run_test([&]() -> task<void> {
      {
        auto l = unix_listener::bind(path);
        CHECK(exists(path));
        CHECK(l.local_address().to_string() == "unix:" + path);
        auto server = corio::spawn(echo_one(l));
        unix_stream c = co_await unix_stream::connect(path);
        co_await check_echo(c, 1 << 20);
        co_await server;
      }
      CHECK_FALSE(exists(path));
    });
  }

  TEST_CASE("a connect to a missing path names it in the error") {
    run_test([]() -> task<void> {
      std::string path = temp_path("missing");
      try {
        co_await unix_stream::connect(path);
        FAIL("connected");
      } catch (const std::system_error& e) {
        CHECK(e.code().value() == ENOENT);
        CHECK(std::string(e.what()).find("connect to unix:" + path) != std::string::npos);
      }
    });
  }

  TEST_CASE("a stale socket file is replaced, a live one is refused") {
    std::string path = temp_path("stale");
    run_test([&]() -> task<void> {
      {
        // A socket file nobody listens on, as a crashed server leaves it.
        corio::net::socket s = corio::net::socket::open(AF_UNIX, SOCK_STREAM);
        s.bind(address::unix_path(path));
      }
      REQUIRE(exists(path));
      auto l = unix_listener::bind(path);
      try {
        auto second = unix_listener::bind(path);
        FAIL("bound over a live socket");
      } catch (const std::system_error& e) {
        CHECK(e.code().value() == EADDRINUSE);
      }
      CHECK(exists(path));  // the failed bind did not remove the live file
      {
        // The probe that found it alive was a connection, closed at once.
        unix_stream probe = co_await l.accept();
        std::byte b[1];
        CHECK(co_await probe.read_some(b) == 0);
      }
      auto server = corio::spawn(echo_one(l));
      unix_stream c = co_await unix_stream::connect(path);
      co_await check_echo(c, 100);
      co_await server;
      l.close();
      CHECK_FALSE(exists(path));
    });
  }

  TEST_CASE("a listener leaves alone a file that replaced its own") {
    std::string path = temp_path("replaced");
    run_test([&]() -> task<void> {
      auto old_server = unix_listener::bind(path);
      ::unlink(path.c_str());
      auto new_server = unix_listener::bind(path);
      old_server.close();
      CHECK(exists(path));
      new_server.close();
      CHECK_FALSE(exists(path));
      co_return;
    });
  }

  TEST_CASE("abstract names need no file") {
    std::string name = "@corio-test-" + std::to_string(::getpid());
    run_test([&]() -> task<void> {
      auto l = unix_listener::bind(name);
      CHECK(l.local_address().is_abstract());
      auto server = corio::spawn(echo_one(l));
      unix_stream c = co_await unix_stream::connect(name);
      co_await check_echo(c, 5000);
      co_await server;
    });
  }

  TEST_CASE("errors on an accepted stream name the listener's path") {
    std::string path = temp_path("errors");
    run_test([&]() -> task<void> {
      auto l = unix_listener::bind(path);
      auto accepting = corio::spawn(l.accept());
      unix_stream c = co_await unix_stream::connect(path);
      unix_stream s = co_await accepting;
      c.close();
      try {
        // Writing to a closed peer: EPIPE, possibly after one write that fits.
        for (int i = 0; i < 4; ++i) co_await s.write_all(std::string_view("x"));
        FAIL("write to a closed peer succeeded");
      } catch (const std::system_error& e) {
        CHECK(e.code().value() == EPIPE);
        CHECK(std::string(e.what()).find("write to unix:" + path) != std::string::npos);
      }
    });
  }

  TEST_CASE("a socketpair is a connected pair of streams") {
    run_test([]() -> task<void> {
      auto [a, b] = unix_stream::pair();
      co_await a.write_all(std::string_view("ping"));
      char buf[4];
      co_await b.read_exact(std::as_writable_bytes(std::span(buf)));
      CHECK(std::string_view(buf, 4) == "ping");
      b.shutdown_write();
      std::byte x[1];
      CHECK(co_await a.read_some(x) == 0);
    });
  }
}
