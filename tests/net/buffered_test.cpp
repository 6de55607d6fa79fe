// SPDX-License-Identifier: MIT
//
// buffered_reader / buffered_writer over real streams (a socketpair) and
// over a scripted stream that hands out bytes in chosen pieces, so that
// delimiters split across reads are covered; limits and backpressure.
#include <corio/net/buffered.hpp>

#include "net_test_support.hpp"

#include <corio/core/time.hpp>
#include <corio/net/unix.hpp>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

using namespace std::chrono_literals;
using corio::task;
using corio::net::buffer_limit_error;
using corio::net::buffered_reader;
using corio::net::buffered_writer;
using corio::net::incomplete_read_error;
using corio::net::unix_stream;
using corio::test::run_test;

namespace {

// Serves `data` in pieces of `piece` bytes, then EOF.
struct scripted_stream {
  std::string data;
  std::size_t piece = 1;
  std::size_t pos = 0;
  int reads = 0;
  task<std::size_t> read_some(std::span<std::byte> out) {
    ++reads;
    std::size_t n = std::min({piece, out.size(), data.size() - pos});
    std::copy_n(reinterpret_cast<const std::byte*>(data.data() + pos), n, out.begin());
    pos += n;
    co_return n;
  }
};

}  // namespace

TEST_SUITE("buffered") {
  TEST_CASE("read_line splits lines at any read boundary and strips CR LF") {
    for (std::size_t piece : {1u, 2u, 3u, 7u, 4096u}) {
      CAPTURE(piece);
      run_test([piece]() -> task<void> {
        scripted_stream s{"alpha\r\nbeta\n\ngamma without newline", piece};
        buffered_reader in(s);
        std::vector<std::string> lines;
        while (auto l = co_await in.read_line()) lines.emplace_back(*l);
        CHECK(lines == std::vector<std::string>{"alpha", "beta", "", "gamma without newline"});
        CHECK_FALSE((co_await in.read_line()).has_value());
      });
    }
  }

  TEST_CASE("read_until finds multi-byte delimiters split across reads") {
    run_test([]() -> task<void> {
      scripted_stream s{"GET / HTTP/1.1\r\nHost: x\r\n\r\nBODY", 3};
      buffered_reader in(s);
      auto head = co_await in.read_until("\r\n\r\n");
      REQUIRE(head.has_value());
      CHECK(*head == "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
      char body[4];
      co_await in.read_exact(std::as_writable_bytes(std::span(body)));
      CHECK(std::string_view(body, 4) == "BODY");
      CHECK_FALSE((co_await in.read_until("\n")).has_value());
    });
  }

  TEST_CASE("EOF in the middle of an item is an incomplete read") {
    run_test([]() -> task<void> {
      scripted_stream s{"no delimiter here", 5};
      buffered_reader in(s);
      CHECK_THROWS_AS(co_await in.read_until(";"), incomplete_read_error);
      scripted_stream s2{"abc", 2};
      buffered_reader in2(s2);
      std::byte out[5];
      try {
        co_await in2.read_exact(out);
        FAIL("read_exact returned");
      } catch (const incomplete_read_error& e) {
        CHECK(e.got() == 3);
        CHECK(e.wanted() == 5);
      }
    });
  }

  TEST_CASE("a line longer than the limit throws instead of growing the buffer") {
    run_test([]() -> task<void> {
      scripted_stream s{std::string(10000, 'x') + "\n", 512};
      buffered_reader in(s, 1024);
      try {
        co_await in.read_line();
        FAIL("read a line longer than the limit");
      } catch (const buffer_limit_error& e) {
        CHECK(std::string(e.what()).find("1024") != std::string::npos);
      }
      CHECK(s.pos <= 1024 + 512);  // it stopped reading at the limit
    });
  }

  TEST_CASE("a line exactly at the limit is accepted") {
    run_test([]() -> task<void> {
      scripted_stream s{std::string(1023, 'y') + "\nnext\n", 100};
      buffered_reader in(s, 1024);
      auto l = co_await in.read_line();
      CHECK(l->size() == 1023);
      CHECK(*(co_await in.read_line()) == "next");
    });
  }

  TEST_CASE("read_some hands out buffered bytes before reading the stream again") {
    run_test([]() -> task<void> {
      scripted_stream s{"line\nrest of the data", 100};
      buffered_reader in(s);
      CHECK(*(co_await in.read_line()) == "line");
      int reads = s.reads;
      std::byte out[4];
      CHECK(co_await in.read_some(out) == 4);
      CHECK(s.reads == reads);
      CHECK(std::string_view(reinterpret_cast<char*>(out), 4) == "rest");
    });
  }

  TEST_CASE("lines written through a buffered writer arrive through a buffered reader over a socket") {
    run_test([]() -> task<void> {
      auto [a, b] = unix_stream::pair();
      auto producer = [](unix_stream& a) -> task<void> {
        buffered_writer out(a, 4096);
        for (int i = 0; i < 20000; ++i) co_await out.write("line " + std::to_string(i) + "\n");
        co_await out.flush();
        a.shutdown_write();
      };
      auto p = corio::spawn(producer(a));
      buffered_reader in(b);
      int i = 0;
      while (auto l = co_await in.read_line()) {
        REQUIRE(*l == "line " + std::to_string(i));
        ++i;
      }
      CHECK(i == 20000);
      co_await p;
    });
  }

  TEST_CASE("small writes cost no syscall until the buffer fills or is flushed") {
    run_test([]() -> task<void> {
      auto [a, b] = unix_stream::pair();
      buffered_writer out(a, 100);
      co_await out.write("0123456789");
      CHECK(out.buffered() == 10);
      std::byte tmp[200];
      CHECK_FALSE(b.try_read_some(tmp).has_value());  // nothing sent yet
      co_await out.write(std::string(95, 'z'));         // does not fit: flush, then buffer
      CHECK(out.buffered() == 95);
      CHECK(b.try_read_some(tmp).value() == 10);
      co_await out.write(std::string(300, 'w'));  // larger than the buffer: gathered with it
      CHECK(out.buffered() == 0);
      std::size_t total = 0;
      while (auto n = b.try_read_some(tmp)) total += *n;
      CHECK(total == 395);
    });
  }

  TEST_CASE("a writer to a reader that does not read suspends with its memory bounded") {
    run_test([]() -> task<void> {
      auto [a, b] = unix_stream::pair();
      std::size_t written = 0;
      auto producer = [](unix_stream& a, std::size_t& written) -> task<void> {
        buffered_writer out(a, 8192);
        std::string chunk(1000, 'q');
        for (int i = 0; i < 16 * 1024; ++i) {  // 16 MB
          co_await out.write(chunk);
          written += chunk.size();
          REQUIRE(out.buffered() <= out.capacity());
        }
        co_await out.flush();
        a.shutdown_write();
      };
      auto p = corio::spawn(producer(a, written));
      co_await corio::sleep(30ms);
      CHECK_FALSE(p.done());
      std::size_t stalled_at = written;
      co_await corio::sleep(30ms);
      CHECK(written == stalled_at);  // suspended, not buffering
      CHECK(written < (8u << 20));
      std::vector<std::byte> buf(65536);
      std::size_t total = 0;
      while (std::size_t n = co_await b.read_some(buf)) total += n;
      CHECK(total == 16u * 1024 * 1000);
      co_await p;
    });
  }
}
