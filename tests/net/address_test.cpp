// SPDX-License-Identifier: MIT
//
// address: parsing and formatting as exact inverses, sockaddr round trips,
// the loopback and unspecified predicates, and clear errors for bad text.
#include <corio/net/address.hpp>

#include <doctest/doctest.h>

#include <netinet/in.h>
#include <stdexcept>
#include <string>
#include <sys/un.h>

using corio::net::address;

TEST_SUITE("address") {
  TEST_CASE("IPv4, IPv6 and unix text parses and formats back to the same text") {
    for (const char* text : {"127.0.0.1:80", "0.0.0.0:0", "255.255.255.255:65535", "[::1]:443", "[::]:0",
                             "[2001:db8::1]:8080", "[::ffff:10.0.0.1]:53", "[fe80::1%1]:22", "unix:/tmp/corio.sock",
                             "unix:@abstract-name"}) {
      CAPTURE(text);
      auto a = address::parse(text);
      CHECK(a.to_string() == text);
      CHECK(address::parse(a.to_string()) == a);
    }
  }

  TEST_CASE("the parts of an address are what the text says") {
    auto v4 = address::parse("10.1.2.3:5000");
    CHECK(v4.is_v4());
    CHECK(v4.family() == AF_INET);
    CHECK(v4.port() == 5000);
    CHECK(v4.host() == "10.1.2.3");
    CHECK(v4.sockaddr_len() == sizeof(sockaddr_in));

    auto v6 = address::parse("[2001:db8::5]:1");
    CHECK(v6.is_v6());
    CHECK(v6.port() == 1);
    CHECK(v6.host() == "2001:db8::5");
    CHECK(v6.sockaddr_len() == sizeof(sockaddr_in6));

    auto u = address::parse("unix:/run/x.sock");
    CHECK(u.is_unix());
    CHECK(u.path() == "/run/x.sock");
    CHECK(u.port() == 0);
    CHECK_FALSE(u.is_abstract());
    CHECK(address::parse("unix:@x").is_abstract());
  }

  TEST_CASE("invalid text is rejected with a message that quotes it") {
    for (const char* text : {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:8x",
                             "127.1:80", "256.0.0.1:80", "::1:80", "[::1]", "[::1]80", "[::1:80", "[zz::1]:80",
                             "localhost:80", "unix:", "[fe80::1%no-such-if0]:1"}) {
      CAPTURE(text);
      CHECK_FALSE(address::try_parse(text).has_value());
      try {
        (void)address::parse(text);
        FAIL("parse accepted bad text");
      } catch (const std::invalid_argument& e) {
        CHECK(std::string(e.what()).find("'" + std::string(text) + "'") != std::string::npos);
      }
    }
  }

  TEST_CASE("a unix path longer than sun_path is refused") {
    std::string long_path(sizeof(sockaddr_un{}.sun_path), 'x');
    CHECK_THROWS_AS(address::unix_path(long_path), std::invalid_argument);
    CHECK_FALSE(address::try_parse("unix:" + long_path).has_value());
    CHECK_NOTHROW(address::unix_path(long_path.substr(1)));
  }

  TEST_CASE("from_host takes numeric hosts with or without brackets") {
    CHECK(address::from_host("127.0.0.1", 9)->to_string() == "127.0.0.1:9");
    CHECK(address::from_host("::1", 9)->to_string() == "[::1]:9");
    CHECK(address::from_host("[::1]", 9)->to_string() == "[::1]:9");
    CHECK_FALSE(address::from_host("example.com", 9).has_value());
    CHECK_FALSE(address::from_host("", 9).has_value());
  }

  TEST_CASE("sockaddr round trips keep the address and canonical length") {
    auto a = address::parse("[::1]:7000");
    auto b = address::from_sockaddr(a.sockaddr_ptr(), sizeof(sockaddr_storage));
    CHECK(b == a);
    CHECK(b.sockaddr_len() == sizeof(sockaddr_in6));
    auto u = address::unix_path("/tmp/a");
    CHECK(address::from_sockaddr(u.sockaddr_ptr(), u.sockaddr_len()) == u);
    CHECK(address::from_sockaddr(nullptr, 0).empty());
    // An unnamed unix peer (what accept returns for a client that did not bind).
    sockaddr_un unnamed{};
    unnamed.sun_family = AF_UNIX;
    auto un = address::from_sockaddr(reinterpret_cast<sockaddr*>(&unnamed), sizeof(sa_family_t));
    CHECK(un.is_unix());
    CHECK(un.path().empty());
  }

  TEST_CASE("loopback, any and the predicates agree") {
    CHECK(address::loopback_v4(1).to_string() == "127.0.0.1:1");
    CHECK(address::loopback_v6(1).to_string() == "[::1]:1");
    CHECK(address::any_v4().to_string() == "0.0.0.0:0");
    CHECK(address::any_v6().to_string() == "[::]:0");
    CHECK(address::loopback_v4().is_loopback());
    CHECK(address::parse("127.9.9.9:1").is_loopback());
    CHECK(address::loopback_v6().is_loopback());
    CHECK(address::parse("[::ffff:127.0.0.1]:1").is_loopback());
    CHECK_FALSE(address::parse("10.0.0.1:1").is_loopback());
    CHECK_FALSE(address::unix_path("/x").is_loopback());
    CHECK(address::any_v4().is_unspecified());
    CHECK(address::any_v6().is_unspecified());
    CHECK_FALSE(address::loopback_v4().is_unspecified());
  }

  TEST_CASE("equality compares family, host, port and scope") {
    CHECK(address::parse("127.0.0.1:1") == address::loopback_v4(1));
    CHECK(address::parse("127.0.0.1:1") != address::loopback_v4(2));
    CHECK(address::parse("[fe80::1%1]:1") != address::parse("[fe80::1%2]:1"));
    CHECK(address::loopback_v4(1).with_port(2) == address::loopback_v4(2));
    CHECK(address() == address());
    CHECK(address().to_string().empty());
  }
}
