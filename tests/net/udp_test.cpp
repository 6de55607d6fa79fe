// SPDX-License-Identifier: MIT
//
// UDP on loopback: datagram round trips addressed and connected, truncation,
// ICMP refusal in connected mode, and cancellation of a pending receive.
#include <corio/net/udp.hpp>

#include "net_test_support.hpp"

#include <corio/core/time.hpp>

#include <cerrno>
#include <string>
#include <string_view>
#include <system_error>

using namespace std::chrono_literals;
using corio::task;
using corio::net::address;
using corio::net::udp_socket;
using corio::test::run_test;

namespace {
std::span<const std::byte> bytes(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }
std::string text(std::span<const std::byte> b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }
}  // namespace

TEST_SUITE("udp") {
  TEST_CASE("a datagram sent with send_to arrives whole with its sender's address") {
    run_test([]() -> task<void> {
      auto a = udp_socket::bind(address::loopback_v4(0));
      auto b = udp_socket::bind(address::loopback_v4(0));
      CHECK(co_await a.send_to(bytes("hello, udp"), b.local_address()) == 10);
      std::byte buf[64];
      auto d = co_await b.recv_from(buf);
      CHECK(text(std::span(buf).first(d.size)) == "hello, udp");
      CHECK(d.from == a.local_address());
      CHECK_FALSE(d.truncated);
      // And back, to the address it came from.
      co_await b.send_to(bytes("pong"), d.from);
      auto r = co_await a.recv_from(buf);
      CHECK(text(std::span(buf).first(r.size)) == "pong");
    });
  }

  TEST_CASE("a receive waits for a datagram that arrives later") {
    run_test([]() -> task<void> {
      auto a = udp_socket::bind(address::loopback_v4(0));
      auto b = udp_socket::bind(address::loopback_v4(0));
      auto sender = [](udp_socket& a, address to) -> task<void> {
        co_await corio::sleep(10ms);
        co_await a.send_to(bytes("late"), to);
      };
      auto h = corio::spawn(sender(a, b.local_address()));
      std::byte buf[16];
      auto d = co_await b.recv_from(buf);
      CHECK(text(std::span(buf).first(d.size)) == "late");
      co_await h;
    });
  }

  TEST_CASE("a datagram longer than the buffer is cut and says so") {
    run_test([]() -> task<void> {
      auto a = udp_socket::bind(address::loopback_v4(0));
      auto b = udp_socket::bind(address::loopback_v4(0));
      co_await a.send_to(bytes("0123456789"), b.local_address());
      std::byte buf[4];
      auto d = co_await b.recv_from(buf);
      CHECK(d.size == 4);
      CHECK(d.truncated);
      CHECK(text(buf) == "0123");
    });
  }

  TEST_CASE("connected sockets use send and recv without addresses") {
    run_test([]() -> task<void> {
      auto a = udp_socket::bind(address::loopback_v4(0));
      auto b = udp_socket::bind(address::loopback_v4(0));
      a.connect(b.local_address());
      b.connect(a.local_address());
      CHECK(a.peer_address() == b.local_address());
      for (int i = 0; i < 100; ++i) {
        std::string msg = "message " + std::to_string(i);
        CHECK(co_await a.send(bytes(msg)) == msg.size());
        std::byte buf[64];
        std::size_t n = co_await b.recv(buf);
        CHECK(text(std::span(buf).first(n)) == msg);
      }
    });
  }

  TEST_CASE("a connected socket reports ECONNREFUSED from a closed port, naming the peer") {
    run_test([]() -> task<void> {
      address closed;
      {
        auto gone = udp_socket::bind(address::loopback_v4(0));
        closed = gone.local_address();
      }
      auto a = udp_socket::open(AF_INET);
      a.connect(closed);
      co_await a.send(bytes("anyone?"));
      std::byte buf[8];
      try {
        co_await corio::timeout(1s, a.recv(buf));
        FAIL("received from a closed port");
      } catch (const std::system_error& e) {
        CHECK(e.code().value() == ECONNREFUSED);
        CHECK(std::string(e.what()).find("recv from " + closed.to_string()) != std::string::npos);
      } catch (const corio::timeout_error&) {
        MESSAGE("this network stack sends no ICMP port unreachable on loopback");
      }
    });
  }

  TEST_CASE("cancelling a pending recv_from raises cancelled_error and the socket still receives") {
    run_test([]() -> task<void> {
      auto a = udp_socket::bind(address::loopback_v4(0));
      auto b = udp_socket::bind(address::loopback_v4(0));
      auto receiver = [](udp_socket& b) -> task<void> {
        std::byte buf[8];
        co_await b.recv_from(buf);
      };
      auto h = corio::spawn(receiver(b));
      co_await corio::sleep(5ms);
      h.cancel();
      CHECK_THROWS_AS(co_await h, corio::cancelled_error);
      co_await a.send_to(bytes("still here"), b.local_address());
      std::byte buf[16];
      auto d = co_await b.recv_from(buf);
      CHECK(text(std::span(buf).first(d.size)) == "still here");
    });
  }

  TEST_CASE("IPv6 loopback datagrams round trip when the machine has IPv6") {
    try {
      udp_socket::bind(address::loopback_v6(0));
    } catch (const std::system_error&) {
      MESSAGE("skipped: no IPv6 loopback");
      return;
    }
    run_test([]() -> task<void> {
      auto a = udp_socket::bind(address::loopback_v6(0));
      auto b = udp_socket::bind(address::loopback_v6(0));
      co_await a.send_to(bytes("v6"), b.local_address());
      std::byte buf[8];
      auto d = co_await b.recv_from(buf);
      CHECK(text(std::span(buf).first(d.size)) == "v6");
      CHECK(d.from == a.local_address());
    });
  }
}
