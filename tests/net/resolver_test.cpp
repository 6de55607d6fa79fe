// SPDX-License-Identifier: MIT
//
// The resolver: numeric hosts without a thread, localhost without a lookup,
// names from /etc/hosts through getaddrinfo off the loop, the cache, errors
// that name the host, and cancellation of a pending lookup.
#include <corio/net/resolver.hpp>

#include "net_test_support.hpp"

#include <corio/core/time.hpp>

#include <netdb.h>
#include <string>
#include <system_error>

using corio::task;
using corio::net::address;
using corio::net::resolve;
using corio::test::run_test;

namespace {
std::vector<address> one(address a) {
  std::vector<address> v;
  v.push_back(a);
  return v;
}
std::vector<address> two(address a, address b) {
  std::vector<address> v = one(a);
  v.push_back(b);
  return v;
}
}  // namespace

TEST_SUITE("resolver") {
  TEST_CASE("numeric hosts resolve in place without a lookup") {
    run_test([]() -> task<void> {
      auto before = corio::net::resolver_lookups();
      auto v4 = co_await resolve("127.0.0.1", 80);
      auto v6 = co_await resolve("::1", 443);
      auto v6b = co_await resolve("[::1]", 443);
      // HACK(gcc-12): an initializer_list inside a co_await expression fails
      // to compile ("array used as initializer"); compare outside it.
      CHECK(v4 == one(address::parse("127.0.0.1:80")));
      CHECK(v6 == one(address::parse("[::1]:443")));
      CHECK(v6b == v6);
      CHECK(corio::net::resolver_lookups() == before);
    });
  }

  TEST_CASE("localhost is both loopbacks, IPv6 first, without a lookup") {
    run_test([]() -> task<void> {
      auto before = corio::net::resolver_lookups();
      auto addrs = co_await resolve("localhost", 8080);
      CHECK(addrs == two(address::loopback_v6(8080), address::loopback_v4(8080)));
      auto sub = co_await resolve("app.LOCALHOST", 1);
      CHECK(sub == two(address::loopback_v6(1), address::loopback_v4(1)));
      auto only4 = co_await resolve("localhost", 1, {.family = AF_INET});
      CHECK(only4 == one(address::loopback_v4(1)));
      CHECK(corio::net::resolver_lookups() == before);
    });
  }

  TEST_CASE("a name from /etc/hosts resolves off the loop and is then cached") {
    char host[256] = {};
    REQUIRE(::gethostname(host, sizeof host - 1) == 0);
    std::string name = host;
    run_test([name]() -> task<void> {
      corio::net::clear_resolve_cache();
      auto before = corio::net::resolver_lookups();
      auto first = co_await resolve(name, 22);
      REQUIRE_FALSE(first.empty());
      for (const auto& a : first) CHECK(a.port() == 22);
      CHECK(corio::net::resolver_lookups() == before + 1);
      auto second = co_await resolve(name, 23);  // the cache keeps addresses, not ports
      CHECK(corio::net::resolver_lookups() == before + 1);
      REQUIRE(second.size() == first.size());
      CHECK(second.front() == first.front().with_port(23));
      co_await resolve(name, 23, {.use_cache = false});
      CHECK(corio::net::resolver_lookups() == before + 2);
    });
  }

  TEST_CASE("a name that does not resolve raises an error naming it") {
    run_test([]() -> task<void> {
      try {
        co_await resolve("no-such-host.invalid", 80);
        FAIL("resolved");
      } catch (const std::system_error& e) {
        CHECK(std::string(e.what()).find("resolve 'no-such-host.invalid'") != std::string::npos);
        CHECK(e.code().category() == corio::net::resolve_category());
      }
    });
  }

  TEST_CASE("an empty host and a family mismatch are errors") {
    run_test([]() -> task<void> {
      CHECK_THROWS_AS(co_await resolve("", 80), std::system_error);
      CHECK_THROWS_AS(co_await resolve("127.0.0.1", 80, {.family = AF_INET6}), std::system_error);
    });
  }

  TEST_CASE("cancelling a pending lookup raises cancelled_error at once") {
    run_test([]() -> task<void> {
      corio::net::clear_resolve_cache();
      auto h = corio::spawn(resolve("no-such-host-for-cancel.invalid", 80));
      co_await corio::sleep(std::chrono::milliseconds(0));  // let it start and wait
      h.cancel();
      CHECK_THROWS_AS(co_await h, corio::cancelled_error);
      // The lookup goes on in its thread (its DNS socket open) until
      // getaddrinfo returns; give it time before run_test counts fds.
      co_await corio::sleep(std::chrono::milliseconds(500));
    });
  }
}
