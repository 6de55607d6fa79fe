// SPDX-License-Identifier: MIT
//
// TCP end to end on loopback: servers are coroutines on 127.0.0.1:0 in the
// same loop as their clients. Bytes are compared, errors checked for errno
// and message, and every test ends with the loop drained and no fd leaked.
#include <corio/net/tcp.hpp>

#include "net_test_support.hpp"

#include <corio/core/frame_allocator.hpp>
#include <corio/core/time.hpp>
#include <corio/net/resolver.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <system_error>
#include <unistd.h>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using corio::task;
using corio::net::address;
using corio::net::tcp_listener;
using corio::net::tcp_stream;
using corio::test::run_test;

namespace {

std::vector<std::byte> pattern(std::size_t n, unsigned seed) {
  std::vector<std::byte> v(n);
  std::uint32_t x = seed * 2654435761u + 1;
  for (auto& b : v) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b = static_cast<std::byte>(x);
  }
  return v;
}

// Echoes one connection until EOF, then closes.
task<void> echo(tcp_stream s) {
  std::vector<std::byte> buf(16384);
  while (std::size_t n = co_await s.read_some(buf)) co_await s.write_all(std::span(buf).first(n));
}

// The same through recv_pooled: the bytes come in buffers lent by the
// loop's pool and go out before the lease is dropped.
task<void> pooled_echo(tcp_stream s) {
  for (;;) {
    auto b = co_await s.recv_pooled();
    if (b.empty()) break;
    co_await s.write_all(b.bytes());
  }
}

task<void> pooled_echo_server(tcp_listener& l, int count) {
  std::vector<corio::join_handle<void>> conns;
  for (int i = 0; i < count; ++i) conns.push_back(corio::spawn(pooled_echo(co_await l.accept())));
  for (auto& c : conns) co_await c;
}

// Accepts `count` connections, echoing each in its own task.
task<void> echo_server(tcp_listener& l, int count) {
  std::vector<corio::join_handle<void>> conns;
  for (int i = 0; i < count; ++i) conns.push_back(corio::spawn(echo(co_await l.accept())));
  for (auto& c : conns) co_await c;
}

// Writes `data` while reading it back; returns what came back.
task<std::vector<std::byte>> round_trip(tcp_stream& s, const std::vector<std::byte>& data) {
  auto writer = [](tcp_stream& s, const std::vector<std::byte>& data) -> task<void> {
    co_await s.write_all(data);
    s.shutdown_write();
  };
  auto w = corio::spawn(writer(s, data));
  std::vector<std::byte> got;
  std::vector<std::byte> buf(32768);
  while (std::size_t n = co_await s.read_some(buf)) got.insert(got.end(), buf.begin(), buf.begin() + n);
  co_await w;
  co_return got;
}

// HACK(gcc-12): a braced list inside a co_await expression fails to compile
// ("array used as initializer"); build the vector outside it.
std::vector<address> both(address a, address b) {
  std::vector<address> v;
  v.push_back(a);
  v.push_back(b);
  return v;
}

// Lets `h` start and block, cancels it, and checks it ends in cancelled_error.
task<void> cancel_while_blocked(corio::join_handle<void>& h) {
  co_await corio::sleep(5ms);
  CHECK_FALSE(h.done());
  h.cancel();
  CHECK_THROWS_AS(co_await h, corio::cancelled_error);
}

// connect("localhost", port) reaches an echo server listening on `at`.
task<void> localhost_reaches(address at) {
  auto l = tcp_listener::bind(at);
  auto server = corio::spawn(echo_server(l, 1));
  tcp_stream c = co_await tcp_stream::connect("localhost", l.local_address().port());
  CHECK(c.peer_address() == l.local_address());
  CHECK(co_await round_trip(c, pattern(10, 10)) == pattern(10, 10));
  co_await server;
}

// A listener whose backlog is full: the kernel drops further SYNs, so a
// connect to it hangs (on Linux; some stacks answer anyway).
struct black_hole {
  tcp_listener l = tcp_listener::bind(address::loopback_v4(0), {.backlog = 0});
  std::vector<corio::net::socket> fillers;
  black_hole() {
    address at = l.local_address();
    for (int i = 0; i < 4; ++i) {
      fillers.push_back(corio::net::socket::open(AF_INET, SOCK_STREAM));
      ::connect(fillers.back().fd(), at.sockaddr_ptr(), at.sockaddr_len());
    }
  }
};

bool have_ipv6_loopback() {
  try {
    auto l = tcp_listener::bind(address::loopback_v6(0));
    return true;
  } catch (...) {
    return false;
  }
}


void set_recv_timeout(int fd, std::chrono::milliseconds t) {
  timeval tv{static_cast<time_t>(t.count() / 1000), static_cast<suseconds_t>(t.count() % 1000 * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

// The child half of the EMFILE test below: an echo server on its own loop
// whose process may hold only `room` accepted sockets at once. It serves
// `total` connections one after the other as earlier ones close, then
// exits 0 if accept had to back off on the way (the limit was really met)
// and 1 otherwise; 2 if anything threw.
int emfile_child(tcp_listener& l, int room, int total) {
  try {
    corio::event_loop loop;
    // The limit bounds fd numbers, not their count: leave exactly `room`
    // free numbers below it.
    int fd = -1;
    for (int free_found = 0; free_found < room;)
      if (::fcntl(++fd, F_GETFD) < 0) ++free_found;
    rlimit low{};
    ::getrlimit(RLIMIT_NOFILE, &low);
    low.rlim_cur = static_cast<rlim_t>(fd) + 1;
    if (::setrlimit(RLIMIT_NOFILE, &low) != 0) return 2;
    auto serve = [](tcp_listener& l, int total) -> task<void> {
      std::vector<corio::join_handle<void>> conns;
      // Each connection closes its socket when it ends: a finished task's
      // frame, and the stream in it, lives as long as its join_handle.
      auto one = [](tcp_stream s) -> task<void> {
        std::array<std::byte, 256> buf;
        while (std::size_t n = co_await s.read_some(buf)) co_await s.write_all(std::span(buf).first(n));
        s.close();
      };
      for (int i = 0; i < total; ++i) conns.push_back(corio::spawn(one(co_await l.accept())));
      for (auto& c : conns) co_await c;
    };
    loop.run_until_complete(corio::timeout(10s, serve(l, total)));
    loop.cancel_all_and_drain();
    loop.close();
    return l.backoffs() > 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "emfile child: %s\n", e.what());
    return 2;
  }
}

// A connected pair on loopback: the client's end and the server's.
task<std::pair<tcp_stream, tcp_stream>> connected_pair() {
  auto l = tcp_listener::bind(address::loopback_v4(0));
  auto accepting = corio::spawn(l.accept());
  tcp_stream c = co_await tcp_stream::connect(l.local_address());
  tcp_stream s = co_await accepting;
  co_return std::pair(std::move(c), std::move(s));
}

task<void> write_everything(tcp_stream& c, const std::vector<std::byte>& data) { co_await c.write_all(data); }

// Reads what `fd` holds now (never waits) and appends it to `got`.
void read_all_queued(int fd, std::vector<std::byte>& got) {
  std::vector<std::byte> buf(256 * 1024);
  for (;;) {
    ssize_t n = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
    if (n <= 0) return;
    got.insert(got.end(), buf.begin(), buf.begin() + n);
  }
}

// got is a proper prefix of data, byte for byte.
bool proper_prefix(const std::vector<std::byte>& got, const std::vector<std::byte>& data) {
  return got.size() < data.size() && std::equal(got.begin(), got.end(), data.begin());
}

// A blocking client socket connected to `at`, with a receive timeout.
int blocking_client(const address& at, std::chrono::milliseconds recv_timeout) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  REQUIRE(::connect(fd, at.sockaddr_ptr(), at.sockaddr_len()) == 0);
  set_recv_timeout(fd, recv_timeout);
  return fd;
}
}  // namespace

TEST_SUITE("tcp") {
  TEST_CASE("bytes written by a client come back unchanged from an echo server") {
    run_test([]() -> task<void> {
      auto l = tcp_listener::bind(address::loopback_v4(0));
      CHECK(l.local_address().port() != 0);
      auto server = corio::spawn(echo_server(l, 1));
      tcp_stream c = co_await tcp_stream::connect(l.local_address());
      CHECK(c.peer_address() == l.local_address());
      CHECK(c.local_address().is_loopback());
      auto data = pattern(1 << 20, 1);
      auto got = co_await round_trip(c, data);
      CHECK(got.size() == data.size());
      CHECK(got == data);
      co_await server;
    });
  }

  TEST_CASE("a read with a deadline times out cleanly and leaves the stream usable") {
    static corio::virtual_clock clk;
    run_test(
        []() -> task<void> {
          auto l = tcp_listener::bind(address::loopback_v4(0));
          auto accepted = corio::spawn(l.accept());
          tcp_stream c = co_await tcp_stream::connect(l.local_address());
          tcp_stream peer = co_await accepted;
          std::array<std::byte, 16> buf{};
          auto start = clk.now();
          std::string what;
          try {
            co_await c.read_some_for(buf, std::chrono::seconds(30));
          } catch (const corio::timeout_error& e) {
            what = e.what();
          }
          CHECK(what.find("read from 127.0.0.1:") != std::string::npos);
          CHECK(clk.now() - start >= std::chrono::seconds(30));
          // The timed-out read took nothing: the next one gets every byte.
          co_await peer.write_all(std::string_view("late"));
          std::size_t n = co_await c.read_some_for(buf, std::chrono::seconds(30));
          CHECK(std::string_view(reinterpret_cast<const char*>(buf.data()), n) == "late");
        },
        {.clock = &clk});
  }

  // `clients` concurrent connections to `at`, each sending its own
  // pattern of `size` bytes and checking every byte that comes back.
  task<void> echo_clients(address at, int clients, std::size_t size) {
    auto client = [](address at, std::size_t size, unsigned id) -> task<void> {
      tcp_stream c = co_await tcp_stream::connect(at);
      auto data = pattern(size, id);
      auto got = co_await round_trip(c, data);
      REQUIRE(got == data);
    };
    std::vector<corio::join_handle<void>> hs;
    for (unsigned i = 0; i < static_cast<unsigned>(clients); ++i) hs.push_back(corio::spawn(client(at, size, i)));
    for (auto& h : hs) co_await h;
  }

  TEST_CASE("1000 concurrent clients each echo 64 KiB with every byte checked") {
    run_test([]() -> task<void> {
      constexpr int clients = 1000;
      auto l = tcp_listener::bind(address::loopback_v4(0));
      auto server = corio::spawn(echo_server(l, clients));
      co_await echo_clients(l.local_address(), clients, 64 * 1024);
      co_await server;
    });
  }

  TEST_CASE("200 clients each echo 256 KiB through recv_pooled with every byte checked, no buffer kept") {
    run_test([]() -> task<void> {
      constexpr int clients = 200;
      auto l = tcp_listener::bind(address::loopback_v4(0));
      auto server = corio::spawn(pooled_echo_server(l, clients));
      co_await echo_clients(l.local_address(), clients, 256 * 1024);
      co_await server;
      CHECK(corio::current_loop().io().buffers().in_use() == 0);
    });
  }

  TEST_CASE("writev sends every buffer in order") {
    run_test([]() -> task<void> {
      auto l = tcp_listener::bind(address::loopback_v4(0));
      auto server = corio::spawn(echo_server(l, 1));
      tcp_stream c = co_await tcp_stream::connect(l.local_address());
      auto a = pattern(100, 1), b = pattern(3 << 20, 2), d = pattern(7, 3);
      ::iovec iov[3] = {{a.data(), a.size()}, {b.data(), b.size()}, {d.data(), d.size()}};
      auto reader = [](tcp_stream& c, std::size_t n) -> task<std::vector<std::byte>> {
        std::vector<std::byte> got(n);
        co_await c.read_exact(got);
        co_return got;
      };
      auto r = corio::spawn(reader(c, a.size() + b.size() + d.size()));
      co_await c.writev(iov);
      auto got = co_await r;
      std::vector<std::byte> want = a;
      want.insert(want.end(), b.begin(), b.end());
      want.insert(want.end(), d.begin(), d.end());
      CHECK(got == want);
      c.close();
      co_await server;
    });
  }

  TEST_CASE("a refused connect throws ECONNREFUSED naming the address") {
    run_test([]() -> task<void> {
      address closed;
      {
        auto l = tcp_listener::bind(address::loopback_v4(0));
        closed = l.local_address();
      }
      try {
        co_await tcp_stream::connect(closed);
        FAIL("connected to a closed port");
      } catch (const std::system_error& e) {
        CHECK(e.code().value() == ECONNREFUSED);
        CHECK(std::string(e.what()).find("connect to " + closed.to_string()) != std::string::npos);
      }
    });
  }

  TEST_CASE("a peer that resets mid-stream makes the read throw ECONNRESET naming the peer") {
    run_test([]() -> task<void> {
      auto l = tcp_listener::bind(address::loopback_v4(0));
      auto resetter = [](tcp_listener& l) -> task<void> {
        tcp_stream s = co_await l.accept();
        std::byte b[4];
        co_await s.read_exact(b);
        ::linger lg{1, 0};  // close with RST instead of FIN
        REQUIRE(::setsockopt(s.fd(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
        s.close();
      };
      auto server = corio::spawn(resetter(l));
      tcp_stream c = co_await tcp_stream::connect(l.local_address());
      co_await c.write_all(std::string_view("ping"));
      co_await server;
      std::byte buf[16];
      try {
        co_await c.read_some(buf);
        FAIL("read after a reset succeeded");
      } catch (const std::system_error& e) {
        CHECK(e.code().value() == ECONNRESET);
        CHECK(std::string(e.what()).find("read from " + l.local_address().to_string()) != std::string::npos);
      }
      // The loop is fine: another connection still works.
      auto again = corio::spawn(echo_server(l, 1));
      tcp_stream c2 = co_await tcp_stream::connect(l.local_address());
      auto got = co_await round_trip(c2, pattern(1000, 9));
      CHECK(got == pattern(1000, 9));
      co_await again;
    });
  }

  TEST_CASE("a read already waiting when the peer resets throws ECONNRESET and the loop goes on") {
    run_test([]() -> task<void> {
      auto l = tcp_listener::bind(address::loopback_v4(0));
      auto accepting = corio::spawn(l.accept());
      tcp_stream c = co_await tcp_stream::connect(l.local_address());
      tcp_stream s = co_await accepting;
      auto reader = [](tcp_stream& c) -> task<int> {
        std::byte buf[16];
        try {
          co_await c.read_some(buf);
        } catch (const std::system_error& e) {
          co_return e.code().value();
        }
        co_return 0;
      };
      auto h = corio::spawn(reader(c));
      co_await corio::sleep(10ms);
      REQUIRE_FALSE(h.done());  // suspended in the read
      ::linger lg{1, 0};
      REQUIRE(::setsockopt(s.fd(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
      s.close();
      CHECK(co_await corio::wait_for(h, 2s) == ECONNRESET);
      auto again = corio::spawn(echo_server(l, 1));
      tcp_stream c2 = co_await tcp_stream::connect(l.local_address());
      CHECK(co_await round_trip(c2, pattern(1000, 11)) == pattern(1000, 11));
      co_await again;
    });
  }

  TEST_CASE("after shutdown_write the peer reads EOF and can still answer") {
    run_test([]() -> task<void> {
      auto l = tcp_listener::bind(address::loopback_v4(0));
      auto server = [](tcp_listener& l) -> task<void> {
        tcp_stream s = co_await l.accept();
        std::vector<std::byte> all(64);
        std::size_t got = 0;
        while (std::size_t n = co_await s.read_some(std::span(all).subspan(got))) got += n;
        CHECK(got == 5);  // then EOF, while our side is still open
        co_await s.write_all(std::string_view("reply after EOF"));
      };
      auto h = corio::spawn(server(l));
      tcp_stream c = co_await tcp_stream::connect(l.local_address());
      co_await c.write_all(std::string_view("hello"));
      c.shutdown_write();
      std::string reply(15, '\0');
      co_await c.read_exact(std::as_writable_bytes(std::span(reply)));
      CHECK(reply == "reply after EOF");
      std::byte b[1];
      CHECK(co_await c.read_some(b) == 0);
      co_await h;
    });
  }

  TEST_CASE("read_exact throws incomplete_read_error at an early EOF") {
    run_test([]() -> task<void> {
      auto l = tcp_listener::bind(address::loopback_v4(0));
      auto server = [](tcp_listener& l) -> task<void> {
        tcp_stream s = co_await l.accept();
        co_await s.write_all(std::string_view("abc"));
      };
      auto h = corio::spawn(server(l));
      tcp_stream c = co_await tcp_stream::connect(l.local_address());
      std::byte buf[10];
      try {
        co_await c.read_exact(buf);
        FAIL("read_exact returned");
      } catch (const corio::net::incomplete_read_error& e) {
        CHECK(e.got() == 3);
        CHECK(e.wanted() == 10);
        CHECK(std::string(e.what()).find(l.local_address().to_string()) != std::string::npos);
      }
      co_await h;
    });
  }

  TEST_CASE("cancelling a pending accept raises cancelled_error and the listener still accepts") {
    run_test([]() -> task<void> {
      auto l = tcp_listener::bind(address::loopback_v4(0));
      auto acceptor = [](tcp_listener& l) -> task<void> { (void)co_await l.accept(); };
      auto h = corio::spawn(acceptor(l));
      co_await cancel_while_blocked(h);
      auto server = corio::spawn(echo_server(l, 1));
      tcp_stream c = co_await tcp_stream::connect(l.local_address());
      CHECK(co_await round_trip(c, pattern(100, 4)) == pattern(100, 4));
      co_await server;
    });
  }

  TEST_CASE("cancelling a pending read raises cancelled_error and the stream still reads") {
    run_test([]() -> task<void> {
      auto l = tcp_listener::bind(address::loopback_v4(0));
      auto server = corio::spawn(echo_server(l, 1));
      tcp_stream c = co_await tcp_stream::connect(l.local_address());
      auto reader = [](tcp_stream& c) -> task<void> {
        std::byte b[8];
        co_await c.read_some(b);
      };
      auto h = corio::spawn(reader(c));
      co_await cancel_while_blocked(h);
      CHECK(co_await round_trip(c, pattern(5000, 5)) == pattern(5000, 5));
      co_await server;
    });
  }

  TEST_CASE("a read that times out raises timeout_error and leaves the stream usable") {
    run_test([]() -> task<void> {
      auto l = tcp_listener::bind(address::loopback_v4(0));
      auto server = corio::spawn(echo_server(l, 1));
      tcp_stream c = co_await tcp_stream::connect(l.local_address());
      std::byte b[8];
      CHECK_THROWS_AS(co_await corio::timeout(20ms, c.read_some(b)), corio::timeout_error);
      CHECK(co_await round_trip(c, pattern(10, 6)) == pattern(10, 6));
      co_await server;
    });
  }

  TEST_CASE("a writer to a reader that does not read suspends, with memory bounded by the socket buffers") {
    run_test([]() -> task<void> {
      auto [c, s] = co_await connected_pair();
      auto data = pattern(16 << 20, 7);
      auto w = corio::spawn(write_everything(c, data));
      co_await corio::sleep(50ms);
      CHECK_FALSE(w.done());  // suspended: the peer's window and our send buffer are full
      int queued = 0;
      REQUIRE(::ioctl(c.fd(), TIOCOUTQ, &queued) == 0);
      MESSAGE("bytes queued in the kernel while suspended: " << queued);
      CHECK(queued < (8 << 20));
      // Now read slowly: the first 4 MiB in 64 KiB bites with a pause after
      // each (the writer keeps up, so the kernel's queue stays full but no
      // larger), then the rest at full speed; every byte is checked.
      std::vector<std::byte> got;
      got.reserve(data.size());
      std::vector<std::byte> buf(256 * 1024);
      int max_queued = 0;
      while (got.size() < data.size()) {
        bool slow = got.size() < (4u << 20);
        std::size_t n = co_await s.read_some(slow ? std::span(buf).first(64 * 1024) : std::span(buf));
        REQUIRE(n > 0);
        got.insert(got.end(), buf.begin(), buf.begin() + n);
        if (slow) {
          co_await corio::sleep(1ms);
          REQUIRE(::ioctl(c.fd(), TIOCOUTQ, &queued) == 0);
          max_queued = std::max(max_queued, queued);
        }
      }
      MESSAGE("most bytes queued in the kernel while read slowly: " << max_queued);
      CHECK(max_queued < (8 << 20));
      co_await w;
      CHECK(got == data);
    });
  }

  TEST_CASE("cancelling a write blocked on a full peer raises cancelled_error") {
    run_test([]() -> task<void> {
      auto [c, s] = co_await connected_pair();
      auto data = pattern(16 << 20, 8);
      auto w = corio::spawn(write_everything(c, data));
      co_await corio::sleep(20ms);
      REQUIRE_FALSE(w.done());
      w.cancel();
      CHECK_THROWS_AS(co_await w, corio::cancelled_error);
      // The stream is still open and writable once the peer reads.
      auto drain = [](tcp_stream& s) -> task<std::size_t> {
        std::vector<std::byte> buf(65536);
        std::size_t total = 0;
        while (std::size_t n = co_await s.read_some(buf)) total += n;
        co_return total;
      };
      auto d = corio::spawn(drain(s));
      co_await c.write_all(std::string_view("tail"));
      c.close();
      CHECK(co_await d > 4);
    });
  }

  TEST_CASE("write_all to a slow reader loops in its awaiter: no coroutine frame of its own, every byte exact") {
    run_test([]() -> task<void> {
      auto [c, s] = co_await connected_pair();
      auto data = pattern(8 << 20, 11);
      // Two tasks of one shape: one suspended in write_all, one in a read
      // (an op in its awaiter, no frame). They must cost as many frames.
      auto reader = [](tcp_stream& c, std::vector<std::byte>& buf) -> task<void> { co_await c.read_some(buf); };
      long before = corio::detail::frame_stats().live;
      auto w = corio::spawn(write_everything(c, data));
      co_await corio::sleep(20ms);
      REQUIRE_FALSE(w.done());  // the first write did not fit
      long with_writer = corio::detail::frame_stats().live;
      std::vector<std::byte> nothing(16);
      auto r = corio::spawn(reader(c, nothing));  // nobody writes to c
      co_await corio::sleep(20ms);
      long with_reader = corio::detail::frame_stats().live;
      CHECK(with_writer - before == with_reader - with_writer);
      // Read in 16 KiB bites: each makes room for one more partial write,
      // and none of them may allocate a frame that outlives it.
      std::vector<std::byte> got;
      got.reserve(data.size());
      std::vector<std::byte> buf(16 * 1024);
      long most = with_reader, least = with_reader;
      std::size_t reads = 0;
      while (got.size() < data.size()) {
        std::size_t n = co_await s.read_some(buf);
        REQUIRE(n > 0);
        got.insert(got.end(), buf.begin(), buf.begin() + n);
        ++reads;
        long live = corio::detail::frame_stats().live;
        most = std::max(most, live);
        least = std::min(least, live);
      }
      co_await w;
      CHECK(got == data);
      CHECK(reads > 1);
      CHECK(most == with_reader);
      CHECK(least == with_reader);
      r.cancel();
      CHECK_THROWS_AS(co_await r, corio::cancelled_error);
    });
  }

  TEST_CASE("write_all_for to a reader that does not read times out, and the peer got an exact prefix") {
    run_test([]() -> task<void> {
      auto [c, s] = co_await connected_pair();
      auto data = pattern(16 << 20, 12);
      std::string expected = "write to " + s.local_address().to_string() + " timed out";
      CHECK_THROWS_WITH_AS(co_await c.write_all_for(data, 50ms), doctest::Contains(expected.c_str()),
                           corio::timeout_error);
      c.shutdown_write();
      std::vector<std::byte> got;
      std::vector<std::byte> buf(256 * 1024);
      while (std::size_t n = co_await s.read_some(buf)) got.insert(got.end(), buf.begin(), buf.begin() + n);
      MESSAGE("bytes through before the deadline: " << got.size());
      CHECK(got.size() > 0);
      CHECK(proper_prefix(got, data));
    });
  }

  TEST_CASE("a cancel between two partial writes of write_all (no send in flight) raises cancelled_error") {
    std::size_t fds_before = corio::test::open_fds();
    {
      corio::event_loop loop;
      auto [c, s] = loop.run_until_complete(connected_pair());
      auto data = pattern(16 << 20, 13);
      auto w = loop.spawn(write_everything(c, data));
      loop.run_until([&] { return w.status() == corio::task_status::suspended; });
      // Make room, then step the loop until the send in flight has completed
      // (partially: 16 MiB never fits) and the next one waits in the ready
      // queue: the task is still suspended, and no op is in the backend.
      std::vector<std::byte> got;
      read_all_queued(s.fd(), got);
      for (int i = 0; i < 1000 && loop.stats().ready_depth == 0; ++i) loop.run_once();
      REQUIRE(loop.stats().ready_depth == 1);
      REQUIRE(w.status() == corio::task_status::suspended);
      w.cancel();
      loop.run_until([&] { return w.done(); });
      CHECK_THROWS_AS(w.result(), corio::cancelled_error);
      // Nothing was sent after the cancel: what the peer holds is a prefix.
      read_all_queued(s.fd(), got);
      CHECK(proper_prefix(got, data));
      loop.cancel_all_and_drain();
      CHECK(loop.live_tasks() == 0);
    }
    CHECK(corio::test::open_fds() == fds_before);
  }

  TEST_CASE("EMFILE at accept: the listener backs off without spinning and serves once fds free up") {
    rlimit saved{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
    run_test([&]() -> task<void> {
      auto l = tcp_listener::bind(address::loopback_v4(0));
      constexpr int clients = 4;
      // The clients' sockets exist before the limit drops; connecting them
      // needs no new fd.
      std::vector<corio::net::socket> cs;
      for (int i = 0; i < clients; ++i) cs.push_back(corio::net::socket::open(AF_INET, SOCK_STREAM));
      rlimit low = saved;
      low.rlim_cur = corio::test::open_fds() + 1;  // room for exactly one accepted fd
      REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);

      std::vector<tcp_stream> accepted;
      auto server = [](tcp_listener& l, std::vector<tcp_stream>& out) -> task<void> {
        for (int i = 0; i < clients; ++i) out.push_back(co_await l.accept());
      };
      auto h = corio::spawn(server(l, accepted));
      for (auto& c : cs) {
        address at = l.local_address();
        CHECK(co_await corio::io::connect_res(c.fd(), at.sockaddr_ptr(), at.sockaddr_len()) == 0);
      }
      co_await corio::sleep(350ms);
      CHECK(accepted.size() < clients);
      CHECK_FALSE(h.done());
      // Backing off every 100 ms, not spinning: about 3 attempts in 350 ms.
      CHECK(l.backoffs() >= 2);
      CHECK(l.backoffs() <= 6);
      REQUIRE(::setrlimit(RLIMIT_NOFILE, &saved) == 0);
      co_await h;
      CHECK(accepted.size() == clients);
    });
    ::setrlimit(RLIMIT_NOFILE, &saved);
  }

  TEST_CASE("wait_readable_after_drain sleeps through a used-up edge and wakes on the next byte or on EOF") {
    run_test([]() -> task<void> {
      auto l = tcp_listener::bind(address::loopback_v4(0));
      auto accepting = corio::spawn(l.accept());
      tcp_stream c = co_await tcp_stream::connect(l.local_address());
      tcp_stream s = co_await accepting;
      std::array<std::byte, 64> buf{};
      auto waiter = [](tcp_stream& s) -> task<void> { co_await s.wait_readable_after_drain(); };

      co_await c.write_all(std::string_view("one"));
      co_await s.wait_readable();  // an edge that a poll op used up
      auto n = s.try_read_some(buf);  // the caller drains the socket itself
      REQUIRE(n);
      CHECK(*n == 3);
      auto h = corio::spawn(waiter(s));
      co_await corio::sleep(20ms);
      CHECK_FALSE(h.done());  // nothing new arrived: no wake-up
      co_await c.write_all(std::string_view("two!"));
      co_await corio::wait_for(h, 2s);
      n = s.try_read_some(buf);
      REQUIRE(n);
      REQUIRE(*n == 4);
      CHECK(std::memcmp(buf.data(), "two!", 4) == 0);

      // A cancelled wait consumes nothing; EOF wakes the next one.
      auto h2 = corio::spawn(waiter(s));
      co_await cancel_while_blocked(h2);
      auto h3 = corio::spawn(waiter(s));
      c.shutdown_write();
      co_await corio::wait_for(h3, 2s);
      n = s.try_read_some(buf);
      REQUIRE(n);
      CHECK(*n == 0);
    });
  }

  TEST_CASE("EMFILE at accept in a child process with a small ulimit -n: the server survives and serves again") {
    // The child may hold 2 accepted sockets; 6 clients connect at once
    // (the kernel completes their handshakes into the backlog). The first
    // two are echoed, the others wait; as the parent closes the served
    // ones, the child's accept recovers and serves the next, and so on.
    constexpr int room = 2;
    constexpr int clients = 6;
    std::size_t fds_before = corio::test::open_fds();
    auto l = tcp_listener::bind(address::loopback_v4(0));
    address at = l.local_address();
    std::fflush(nullptr);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) ::_exit(emfile_child(l, room, clients));
    l.close();

    std::vector<int> fds;
    for (int i = 0; i < clients; ++i) fds.push_back(blocking_client(at, 300ms));
    auto ask = [](int fd, int i) {
      std::string msg = "ping " + std::to_string(i);
      REQUIRE(::send(fd, msg.data(), msg.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(msg.size()));
    };
    auto answered = [](int fd, int i) {
      std::string msg = "ping " + std::to_string(i);
      std::string got(msg.size(), '\0');
      std::size_t have = 0;
      while (have < got.size()) {
        ssize_t r = ::recv(fd, got.data() + have, got.size() - have, 0);
        if (r <= 0) return false;  // timed out (EAGAIN), EOF or error
        have += static_cast<std::size_t>(r);
      }
      CHECK(got == msg);
      return got == msg;
    };
    for (int i = 0; i < clients; ++i) ask(fds[static_cast<std::size_t>(i)], i);
    for (int i = 0; i < room; ++i) CHECK(answered(fds[static_cast<std::size_t>(i)], i));  // accepted at once
    CHECK_FALSE(answered(fds[room], room));  // no fd left for it in the child: it waits in the backlog
    for (int i = 0; i < room; ++i) ::close(fds[static_cast<std::size_t>(i)]);  // frees the child's fds
    for (int i = room; i < clients; ++i) {
      int fd = fds[static_cast<std::size_t>(i)];
      set_recv_timeout(fd, 5s);
      CHECK(answered(fd, i));  // served once an earlier one closed
      ::close(fd);
    }

    int status = 0;
    pid_t done = 0;
    for (int tries = 0; tries < 150 && done == 0; ++tries) {
      done = ::waitpid(pid, &status, WNOHANG);
      if (done == 0) ::usleep(100'000);
    }
    if (done == 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      FAIL("the child server did not finish within 15 s");
    }
    REQUIRE(WIFEXITED(status));
    CHECK_MESSAGE(WEXITSTATUS(status) == 0, "child exit status 1: accept never backed off; 2: the server failed");
    CHECK(corio::test::open_fds() == fds_before);
  }

  TEST_CASE("connect by name: localhost reaches a server on 127.0.0.1 after ::1 is refused") {
    run_test([] { return localhost_reaches(address::loopback_v4(0)); });
  }

  TEST_CASE("connect by name: localhost reaches a server on ::1 first") {
    if (!have_ipv6_loopback()) {
      MESSAGE("skipped: no IPv6 loopback here");
      return;
    }
    run_test([] { return localhost_reaches(address::loopback_v6(0)); });
  }

  TEST_CASE("happy eyeballs fails with every address named when all attempts are refused") {
    run_test([]() -> task<void> {
      address a, b;
      {
        auto l1 = tcp_listener::bind(address::loopback_v4(0));
        auto l2 = tcp_listener::bind(address::loopback_v4(0));
        a = l1.local_address();
        b = l2.local_address();
      }
      try {
        co_await tcp_stream::connect_any(both(a, b), "two-dead-ports");
        FAIL("connected");
      } catch (const std::system_error& e) {
        CHECK(e.code().value() == ECONNREFUSED);
        std::string what = e.what();
        CHECK(what.find("two-dead-ports") != std::string::npos);
        CHECK(what.find(a.to_string()) != std::string::npos);
        CHECK(what.find(b.to_string()) != std::string::npos);
      }
    });
  }

  TEST_CASE("happy eyeballs starts the next attempt after 250 ms while the first hangs, and cancels the loser") {
    run_test([]() -> task<void> {
      black_hole full;
      co_await corio::sleep(20ms);
      // Does it hang here? Some network stacks answer anyway.
      bool hangs = false;
      try {
        co_await corio::timeout(100ms, tcp_stream::connect(full.l.local_address()));
      } catch (const corio::timeout_error&) {
        hangs = true;
      }
      if (!hangs) {
        MESSAGE("skipped: this network stack does not drop SYNs on a full backlog");
        co_return;
      }
      auto good = tcp_listener::bind(address::loopback_v4(0));
      auto server = corio::spawn(echo_server(good, 1));
      auto t0 = std::chrono::steady_clock::now();
      tcp_stream c = co_await tcp_stream::connect_any(both(full.l.local_address(), good.local_address()));
      auto took = std::chrono::steady_clock::now() - t0;
      CHECK(c.peer_address() == good.local_address());
      CHECK(took >= 240ms);
      CHECK(took < 900ms);
      CHECK(co_await round_trip(c, pattern(10, 12)) == pattern(10, 12));
      co_await server;
    });
  }

  TEST_CASE("a connect with a time limit raises timeout_error naming the host") {
    run_test([]() -> task<void> {
      black_hole full;
      co_await corio::sleep(20ms);
      try {
        co_await tcp_stream::connect("127.0.0.1", full.l.local_address().port(), 100ms);
        MESSAGE("this network stack accepted on a full backlog; nothing to time out");
      } catch (const corio::timeout_error& e) {
        CHECK(std::string(e.what()).find("connect to 127.0.0.1:") != std::string::npos);
      }
    });
  }

  TEST_CASE("an unresolvable host raises an error that names it") {
    run_test([]() -> task<void> {
      try {
        co_await tcp_stream::connect("no-such-host.invalid", 80);
        FAIL("resolved");
      } catch (const std::system_error& e) {
        CHECK(std::string(e.what()).find("no-such-host.invalid") != std::string::npos);
      }
    });
  }

  TEST_CASE("set_nodelay and set_keepalive set the socket options") {
    run_test([]() -> task<void> {
      auto l = tcp_listener::bind(address::loopback_v4(0));
      auto accepting = corio::spawn(l.accept());
      tcp_stream c = co_await tcp_stream::connect(l.local_address());
      tcp_stream s = co_await accepting;
      c.set_nodelay();
      c.set_keepalive(true, std::chrono::seconds(30));
      CHECK(c.handle().get_option(IPPROTO_TCP, TCP_NODELAY, "get") != 0);
      CHECK(c.handle().get_option(SOL_SOCKET, SO_KEEPALIVE, "get") != 0);
      CHECK(c.handle().get_option(IPPROTO_TCP, TCP_KEEPIDLE, "get") == 30);
      c.set_nodelay(false);
      CHECK(c.handle().get_option(IPPROTO_TCP, TCP_NODELAY, "get") == 0);
      CHECK(s.peer_address() == c.local_address());
    });
  }

  TEST_CASE("two listeners share a port with reuse_port") {
    run_test([]() -> task<void> {
      auto a = tcp_listener::bind(address::loopback_v4(0), {.reuse_port = true});
      auto b = tcp_listener::bind(a.local_address(), {.reuse_port = true});
      CHECK(b.local_address() == a.local_address());
      try {
        auto c = tcp_listener::bind(a.local_address());
        FAIL("bound a taken port");
      } catch (const std::system_error& e) {
        CHECK(e.code().value() == EADDRINUSE);
        CHECK(std::string(e.what()).find("bind to " + a.local_address().to_string()) != std::string::npos);
      }
      co_return;
    });
  }

  // Accepting (multishot on io_uring, one accept4 per connection on epoll).

  TEST_CASE("300 connections accepted in a row each echo their own bytes, with the peer address right") {
    run_test([]() -> task<void> {
      auto l = tcp_listener::bind(address::loopback_v4(0));
      constexpr int n = 300;
      auto server = [](tcp_listener& l) -> task<void> {
        std::vector<corio::join_handle<void>> conns;
        for (int i = 0; i < n; ++i) {
          tcp_stream s = co_await l.accept();
          CHECK(s.peer_address().is_v4());
          CHECK(s.peer_address().port() != 0);
          conns.push_back(corio::spawn(echo(std::move(s))));
        }
        for (auto& c : conns) co_await c;
      };
      auto client = [](address at, unsigned i) -> task<void> {
        tcp_stream c = co_await tcp_stream::connect(at);
        CHECK(co_await round_trip(c, pattern(64 + i, i)) == pattern(64 + i, i));
      };
      auto h = corio::spawn(server(l));
      std::vector<corio::join_handle<void>> clients;
      for (unsigned i = 0; i < n; ++i) clients.push_back(corio::spawn(client(l.local_address(), i)));
      for (auto& c : clients) co_await c;
      co_await h;
    });
  }

  TEST_CASE("connections that arrive while nobody accepts are served later, beyond any queue limit") {
    run_test([]() -> task<void> {
      auto l = tcp_listener::bind(address::loopback_v4(0));
      // One accept first, so that a multishot accept is armed (io_uring).
      auto first = corio::spawn(l.accept());
      tcp_stream c0 = co_await tcp_stream::connect(l.local_address());
      tcp_stream s0 = co_await first;
      // 150 connect and write while nobody accepts: more than the backend
      // queues ahead (64), the rest wait in the kernel's backlog.
      constexpr unsigned n = 150;
      std::vector<tcp_stream> clients;
      for (unsigned i = 0; i < n; ++i) {
        clients.push_back(co_await tcp_stream::connect(l.local_address()));
        co_await clients.back().write_all(pattern(32, i));
      }
      co_await corio::sleep(20ms);
      // Served in arrival order: each accepted stream carries its client's bytes.
      for (unsigned i = 0; i < n; ++i) {
        tcp_stream s = co_await l.accept();
        std::vector<std::byte> got(32);
        co_await s.read_exact(got);
        CHECK(got == pattern(32, i));
        co_await s.write_all(got);
        std::vector<std::byte> back(32);
        co_await clients[i].read_exact(back);
        CHECK(back == pattern(32, i));
      }
    });
  }

  TEST_CASE("closing a listener with connections queued closes them all: clients see EOF or a reset") {
    run_test([]() -> task<void> {
      auto l = tcp_listener::bind(address::loopback_v4(0));
      auto first = corio::spawn(l.accept());
      tcp_stream c0 = co_await tcp_stream::connect(l.local_address());
      tcp_stream s0 = co_await first;
      std::vector<tcp_stream> clients;
      for (int i = 0; i < 20; ++i) clients.push_back(co_await tcp_stream::connect(l.local_address()));
      co_await corio::sleep(20ms);  // let the backend take them in
      l.close();
      for (auto& c : clients) {
        std::array<std::byte, 16> buf;
        int got = 0;
        try {
          got = static_cast<int>(co_await c.read_some(buf));
        } catch (const std::system_error& e) {
          got = -e.code().value();
        }
        CHECK((got == 0 || got == -ECONNRESET));
      }
      // The connection accepted before still works.
      co_await c0.write_all(std::string_view("still here"));
      std::array<std::byte, 10> got;
      co_await s0.read_exact(got);
      CHECK(std::string_view(reinterpret_cast<const char*>(got.data()), got.size()) == "still here");
    });
  }

  TEST_CASE("closing a listener fails a pending accept with ECANCELED naming the listener") {
    run_test([]() -> task<void> {
      auto l = tcp_listener::bind(address::loopback_v4(0));
      std::string where = l.local_address().to_string();
      auto h = corio::spawn(l.accept());
      co_await corio::sleep(5ms);
      l.close();
      try {
        (void)co_await h;
        FAIL("accept on a closed listener returned");
      } catch (const std::system_error& e) {
        CHECK(e.code().value() == ECANCELED);
        CHECK(std::string(e.what()).find("accept on " + where) != std::string::npos);
      }
    });
  }

  TEST_CASE("of two pending accepts, cancelling the first leaves the connection to the second") {
    run_test([]() -> task<void> {
      auto l = tcp_listener::bind(address::loopback_v4(0));
      auto a = corio::spawn(l.accept());
      auto b = corio::spawn(l.accept());
      co_await corio::sleep(5ms);
      a.cancel();
      CHECK_THROWS_AS(co_await a, corio::cancelled_error);
      tcp_stream c = co_await tcp_stream::connect(l.local_address());
      tcp_stream s = co_await b;
      co_await c.write_all(std::string_view("to b"));
      std::array<std::byte, 4> got;
      co_await s.read_exact(got);
      CHECK(std::string_view(reinterpret_cast<const char*>(got.data()), 4) == "to b");
    });
  }

  TEST_CASE("a listener closed and reopened on the same fd number accepts afresh") {
    run_test([]() -> task<void> {
      for (int round = 0; round < 3; ++round) {
        auto l = tcp_listener::bind(address::loopback_v4(0));
        auto server = corio::spawn(echo_server(l, 1));
        tcp_stream c = co_await tcp_stream::connect(l.local_address());
        // A second client is queued (io_uring) or in the backlog when l closes.
        tcp_stream extra = co_await tcp_stream::connect(l.local_address());
        CHECK(co_await round_trip(c, pattern(50, static_cast<unsigned>(round))) ==
              pattern(50, static_cast<unsigned>(round)));
        co_await server;
      }
    });
  }
}
