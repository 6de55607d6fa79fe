// SPDX-License-Identifier: MIT
//
// The conformance suite every backend must pass. It runs under whatever
// backend CORIO_BACKEND selects (scripts/test reruns it once per backend), at
// two levels:
//   - the raw contract of backend.hpp, with hand-made io_ops whose hook
//     counts completions: submit never completes inline, exactly one
//     completion per submit, cancel -> -ECANCELED or the real result,
//     forget(fd), wake() from another thread, poll's timeout;
//   - the awaiters of io.hpp driven by an event_loop: bytes through pipes,
//     socketpairs and TCP on 127.0.0.1, errors as std::system_error naming
//     the operation, cancellation of a task blocked in a read, a thousand
//     reads in flight, and an 8 MiB write split by the kernel.
// Cases that hold for one backend only carry its name and skip elsewhere.
// Every case leaves nothing behind: no op in the backend, no live task, no
// open fd (forget() before close(), as the contract asks).
#include <corio/core/backend.hpp>

#include <corio/config.hpp>
#include <corio/core/error.hpp>
#include <corio/core/log.hpp>
#include <corio/core/event_loop.hpp>
#include <corio/core/io.hpp>
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <sys/uio.h>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using corio::backend;
using corio::event_loop;
using corio::io_op;
using corio::op_kind;
using corio::op_state;
using corio::task;
namespace io = corio::io;

namespace {

using steady = std::chrono::steady_clock;

// --- fds ----------------------------------------------------------------------

// Closes its fds at scope exit, telling the backend first (forget), as every
// owner of an fd must.
class fd_closer {
 public:
  explicit fd_closer(backend& b) : b_(b) {}
  fd_closer(const fd_closer&) = delete;
  fd_closer& operator=(const fd_closer&) = delete;
  ~fd_closer() {
    for (int fd : fds_) close_fd(fd);
  }
  int keep(int fd) {
    REQUIRE(fd >= 0);
    fds_.push_back(fd);
    return fd;
  }
  // Closes one now (it is not closed again at scope exit).
  void close(int fd) {
    for (int& f : fds_)
      if (f == fd) f = -1;
    close_fd(fd);
  }

 private:
  void close_fd(int fd) {
    if (fd < 0) return;
    b_.forget(fd);
    ::close(fd);
  }
  backend& b_;
  std::vector<int> fds_;
};

struct fd_pair {
  int a;
  int b;
};

fd_pair make_pipe(fd_closer& c) {
  int fds[2];
  REQUIRE(::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0);
  return {c.keep(fds[0]), c.keep(fds[1])};
}

fd_pair make_socketpair(fd_closer& c) {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
  return {c.keep(fds[0]), c.keep(fds[1])};
}

// A TCP listener on 127.0.0.1 with a port the kernel chose.
int make_listener(fd_closer& c, sockaddr_in& addr) {
  int fd = c.keep(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(fd, 16) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  return fd;
}

int make_tcp_socket(fd_closer& c) { return c.keep(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)); }

void put(int fd, std::string_view s) { REQUIRE(::write(fd, s.data(), s.size()) == static_cast<ssize_t>(s.size())); }

// Reads what is there now (non-blocking), as a string.
std::string take(int fd) {
  std::string out;
  char buf[256];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

// --- raw ops --------------------------------------------------------------------

// An io_op whose hook counts completions, so that "exactly once" is checked.
struct recorded_op : io_op {
  int completions = 0;
  char data[64] = {};

  recorded_op() { on_complete = &hook; }
  recorded_op(op_kind k, int f) : recorded_op() { set(k, f); }
  void set(op_kind k, int f) {
    kind = k;
    fd = f;
    buf = data;
    len = sizeof data;
  }
  std::string_view bytes() const { return {data, res > 0 ? static_cast<std::size_t>(res) : 0}; }
  static void hook(io_op& op) noexcept { ++static_cast<recorded_op&>(op).completions; }
};

// Polls (at most 5 s) until done() holds.
template <class Pred>
bool poll_until(backend& b, Pred done) {
  auto deadline = steady::now() + 5s;
  while (!done()) {
    if (steady::now() > deadline) return false;
    b.poll(10ms);
  }
  return true;
}

bool completed(const recorded_op& op) { return op.completions > 0; }

// --- loop fixture ---------------------------------------------------------------

// Every loop-level case ends like libuv's MAKE_VALGRIND_HAPPY: fds forgotten
// and closed, then the loop drained with no task left.
struct loop_fixture {
  event_loop loop;
  fd_closer fds{loop.io()};

  ~loop_fixture() {
    CHECK(loop.live_tasks() == 0);
  }
};

// run_until with a bound: a backend that loses a completion fails the case
// instead of hanging the suite (a watchdog thread wakes the loop at 5 s).
template <class Pred>
bool run_bounded(event_loop& loop, Pred done) {
  std::atomic<bool> expired{false}, finished{false};
  std::thread watchdog([&] {
    auto deadline = steady::now() + 5s;
    while (!finished.load() && steady::now() < deadline) std::this_thread::sleep_for(5ms);
    expired = true;
    loop.call_soon_threadsafe([] {});
  });
  loop.run_until([&] { return done() || expired.load(); });
  finished = true;
  watchdog.join();
  loop.run_until([] { return true; });  // runs the watchdog's no-op
  return done();
}

task<std::string> read_exact(int fd, std::size_t n) {
  std::string out(n, '\0');
  std::size_t got = 0;
  while (got < n) {
    std::size_t r = co_await io::read(fd, std::as_writable_bytes(std::span(out.data() + got, n - got)));
    if (r == 0) break;
    got += r;
  }
  out.resize(got);
  co_return out;
}

task<void> write_all(int fd, std::string s) {
  std::size_t done = 0;
  while (done < s.size())
    done += co_await io::write(fd, std::as_bytes(std::span(s.data() + done, s.size() - done)));
}

std::span<const std::byte> bytes_of(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }

}  // namespace

TEST_SUITE("backend") {

// ============================================================================
// The raw contract of backend.hpp
// ============================================================================

TEST_CASE("the backend is the one CORIO_BACKEND names") {
  auto b = corio::make_backend();
  const char* env = std::getenv("CORIO_BACKEND");
  std::string want = env && *env ? env : "auto";
  if (want == "io_uring") want = "uring";
  if (want == "auto")
    CHECK((b->name() == "uring" || b->name() == "epoll" || b->name() == "kqueue"));
  else
    CHECK(b->name() == want);
  MESSAGE("backend under test: " << b->name());
}

TEST_CASE("submit never completes inline and poll delivers the result exactly once") {
  auto b = corio::make_backend();
  fd_closer fds(*b);
  auto [r, w] = make_pipe(fds);
  put(w, "hello");

  recorded_op op(op_kind::read, r);
  b->submit(op);
  CHECK(op.completions == 0);
  CHECK(op.state == op_state::submitted);
  REQUIRE(poll_until(*b, [&] { return completed(op); }));
  CHECK(op.state == op_state::completed);
  CHECK(op.res == 5);
  CHECK(op.bytes() == "hello");
  b->poll(std::chrono::nanoseconds::zero());
  b->poll(1ms);
  CHECK(op.completions == 1);
}

TEST_CASE("a read on an empty pipe waits until data arrives") {
  auto b = corio::make_backend();
  fd_closer fds(*b);
  auto [r, w] = make_pipe(fds);

  recorded_op op(op_kind::read, r);
  b->submit(op);
  b->poll(std::chrono::nanoseconds::zero());
  b->poll(5ms);
  CHECK(op.completions == 0);
  put(w, "late");
  REQUIRE(poll_until(*b, [&] { return completed(op); }));
  CHECK(op.bytes() == "late");
  CHECK(op.completions == 1);
}

TEST_CASE("every op kind completes with its syscall's result") {
  auto b = corio::make_backend();
  fd_closer fds(*b);

  SUBCASE("poll_write, send, poll_read, recv") {
    auto [x, y] = make_socketpair(fds);
    recorded_op wr(op_kind::poll_write, x);
    b->submit(wr);
    REQUIRE(poll_until(*b, [&] { return completed(wr); }));
    CHECK(wr.res == 0);

    recorded_op rd(op_kind::poll_read, y);
    b->submit(rd);
    b->poll(std::chrono::nanoseconds::zero());
    CHECK(rd.completions == 0);
    put(x, "ping");
    REQUIRE(poll_until(*b, [&] { return completed(rd); }));
    CHECK(rd.res == 0);

    auto [p, q] = make_socketpair(fds);
    recorded_op send(op_kind::send, p);
    std::memcpy(send.data, "pong", 4);
    send.len = 4;
    b->submit(send);
    recorded_op recv(op_kind::recv, q);
    b->submit(recv);
    REQUIRE(poll_until(*b, [&] { return completed(send) && completed(recv); }));
    CHECK(send.res == 4);
    CHECK(recv.bytes() == "pong");
  }

  SUBCASE("writev, readv, write") {
    auto [x, y] = make_socketpair(fds);
    char a[3] = {'a', 'b', 'c'}, d[4] = {'d', 'e', 'f', 'g'};
    iovec out[2] = {{a, sizeof a}, {d, sizeof d}};
    recorded_op wv(op_kind::writev, y);
    wv.buf = out;
    wv.len = 2;
    b->submit(wv);
    char p[2], q[8];
    iovec in[2] = {{p, sizeof p}, {q, sizeof q}};
    recorded_op rv(op_kind::readv, x);
    rv.buf = in;
    rv.len = 2;
    b->submit(rv);
    REQUIRE(poll_until(*b, [&] { return completed(wv) && completed(rv); }));
    CHECK(wv.res == 7);
    CHECK(rv.res == 7);
    CHECK(std::string_view(p, 2) == "ab");
    CHECK(std::string_view(q, 5) == "cdefg");

    auto [s, t] = make_socketpair(fds);
    recorded_op w(op_kind::write, s);
    std::memcpy(w.data, "xyz", 3);
    w.len = 3;
    b->submit(w);
    REQUIRE(poll_until(*b, [&] { return completed(w); }));
    CHECK(w.res == 3);
    CHECK(take(t) == "xyz");
  }
}

// Readiness backends must not depend on a fresh edge: an op may be handed
// to submit() without a try first (poll kinds never are tried, raw callers
// need not try), on an fd that has been ready for a while.
TEST_CASE("an op submitted on an fd that is already ready completes") {
  auto b = corio::make_backend();
  fd_closer fds(*b);
  auto [x, y] = make_socketpair(fds);
  recorded_op first(op_kind::poll_write, x);
  b->submit(first);
  REQUIRE(poll_until(*b, [&] { return completed(first); }));

  recorded_op again(op_kind::poll_write, x);
  b->submit(again);
  CHECK(poll_until(*b, [&] { return completed(again); }));
  recorded_op send(op_kind::send, x);
  std::memcpy(send.data, "ready", 5);
  send.len = 5;
  b->submit(send);
  CHECK(poll_until(*b, [&] { return completed(send); }));
  // Leave nothing behind if the backend failed the checks above.
  b->cancel(again);
  b->cancel(send);
  poll_until(*b, [&] { return completed(again) && completed(send); });
  (void)y;
}

TEST_CASE("an op on a bad fd completes with EBADF, not inline") {
  auto b = corio::make_backend();
  recorded_op op(op_kind::read, -1);
  b->submit(op);
  CHECK(op.completions == 0);
  REQUIRE(poll_until(*b, [&] { return completed(op); }));
  CHECK(op.res == -EBADF);
  CHECK(op.completions == 1);
}

TEST_CASE("a read of a regular file completes with its bytes") {
  auto b = corio::make_backend();
  fd_closer fds(*b);
  char path[] = "/tmp/corio-backend-test-XXXXXX";
  int fd = fds.keep(::mkostemp(path, O_CLOEXEC));
  ::unlink(path);
  put(fd, "file bytes");
  REQUIRE(::lseek(fd, 0, SEEK_SET) == 0);

  recorded_op op(op_kind::read, fd);
  b->submit(op);
  REQUIRE(poll_until(*b, [&] { return completed(op); }));
  CHECK(op.bytes() == "file bytes");
  CHECK(op.completions == 1);
}

TEST_CASE("a completed op can be submitted again") {
  auto b = corio::make_backend();
  fd_closer fds(*b);
  auto [r, w] = make_pipe(fds);
  recorded_op op(op_kind::read, r);
  for (int i = 0; i < 3; ++i) {
    std::string msg = "round " + std::to_string(i);
    put(w, msg);
    op.buf = op.data;
    op.len = sizeof op.data;
    b->submit(op);
    REQUIRE(poll_until(*b, [&] { return op.completions == i + 1; }));
    CHECK(op.bytes() == msg);
  }
}

TEST_CASE("cancel of a pending read completes it once with ECANCELED and leaves the data") {
  auto b = corio::make_backend();
  fd_closer fds(*b);
  auto [r, w] = make_pipe(fds);

  recorded_op op(op_kind::read, r);
  b->submit(op);
  b->poll(std::chrono::nanoseconds::zero());
  REQUIRE(op.completions == 0);
  b->cancel(op);
  // epoll completes at once; io_uring once the kernel has let go (cancelling).
  CHECK((op.state == op_state::completed || op.state == op_state::cancelling));
  REQUIRE(poll_until(*b, [&] { return completed(op); }));
  CHECK(op.res == -ECANCELED);
  b->cancel(op);  // completed: a no-op
  b->poll(1ms);
  CHECK(op.completions == 1);

  put(w, "after");
  recorded_op again(op_kind::read, r);
  b->submit(again);
  REQUIRE(poll_until(*b, [&] { return completed(again); }));
  CHECK(again.bytes() == "after");
}

TEST_CASE("cancel right after submit, before any poll, still completes exactly once") {
  auto b = corio::make_backend();
  fd_closer fds(*b);
  auto [r, w] = make_pipe(fds);

  recorded_op op(op_kind::read, r);
  b->submit(op);
  b->cancel(op);
  REQUIRE(poll_until(*b, [&] { return completed(op); }));
  CHECK(op.res == -ECANCELED);
  b->poll(1ms);
  CHECK(op.completions == 1);
  put(w, "kept");
  CHECK(take(r) == "kept");
}

TEST_CASE("cancel racing with completion loses no bytes") {
  auto b = corio::make_backend();
  fd_closer fds(*b);
  auto [r, w] = make_pipe(fds);

  int won = 0, cancelled = 0;
  for (int i = 0; i < 200; ++i) {
    std::string msg = "race " + std::to_string(i);
    recorded_op op(op_kind::read, r);
    b->submit(op);
    if (i % 2) b->poll(std::chrono::nanoseconds::zero());
    put(w, msg);
    b->cancel(op);
    REQUIRE(poll_until(*b, [&] { return completed(op); }));
    CHECK(op.completions == 1);
    if (op.res >= 0) {
      ++won;
      CHECK(op.bytes() == msg);
      CHECK(take(r).empty());
    } else {
      ++cancelled;
      CHECK(op.res == -ECANCELED);
      CHECK(take(r) == msg);
    }
  }
  MESSAGE(b->name() << ": the read won " << won << " times, the cancel " << cancelled);
}

TEST_CASE("forget completes every op still submitted on the fd with ECANCELED") {
  auto b = corio::make_backend();
  fd_closer fds(*b);
  auto [r, w] = make_pipe(fds);
  auto [other_r, other_w] = make_pipe(fds);

  recorded_op r1(op_kind::read, r), r2(op_kind::read, r), p(op_kind::poll_read, r);
  recorded_op bystander(op_kind::read, other_r);
  for (recorded_op* op : {&r1, &r2, &p, &bystander}) b->submit(*op);
  b->poll(std::chrono::nanoseconds::zero());
  fds.close(r);
  REQUIRE(poll_until(*b, [&] { return completed(r1) && completed(r2) && completed(p); }));
  for (recorded_op* op : {&r1, &r2, &p}) {
    CHECK(op->res == -ECANCELED);
    CHECK(op->completions == 1);
  }
  CHECK(bystander.completions == 0);

  put(other_w, "still here");
  REQUIRE(poll_until(*b, [&] { return completed(bystander); }));
  CHECK(bystander.bytes() == "still here");
  (void)w;
}

TEST_CASE("forget then close then reuse of the fd number leaves the new fd alone") {
  auto b = corio::make_backend();
  fd_closer fds(*b);
  auto [r, w] = make_pipe(fds);
  recorded_op old(op_kind::read, r);
  b->submit(old);
  fds.close(r);
  fds.close(w);
  auto [r2, w2] = make_pipe(fds);  // most likely the same numbers
  recorded_op fresh(op_kind::read, r2);
  b->submit(fresh);
  REQUIRE(poll_until(*b, [&] { return completed(old); }));
  CHECK(old.res == -ECANCELED);
  b->poll(1ms);
  CHECK(fresh.completions == 0);
  put(w2, "new");
  REQUIRE(poll_until(*b, [&] { return completed(fresh); }));
  CHECK(fresh.bytes() == "new");
}

TEST_CASE("a connect begun by one syscall is finished by the backend") {
  auto b = corio::make_backend();
  fd_closer fds(*b);
  sockaddr_in addr;
  int listener = make_listener(fds, addr);
  int s = make_tcp_socket(fds);

  recorded_op op(op_kind::connect, s);
  op.addr = reinterpret_cast<sockaddr*>(&addr);
  op.addrlen = sizeof addr;
  std::int32_t first = corio::detail::perform_io(op);
  if (first == -EAGAIN) {
    b->submit(op);
    REQUIRE(poll_until(*b, [&] { return completed(op); }));
    CHECK(op.res == 0);
  } else {
    CHECK(first == 0);
  }
  int peer = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  CHECK(peer >= 0);
  if (peer >= 0) ::close(peer);
}

TEST_CASE("wake from another thread unblocks a poll without timeout") {
  auto b = corio::make_backend();
  auto start = steady::now();
  std::thread t([&] {
    std::this_thread::sleep_for(30ms);
    b->wake();
  });
  b->poll(std::nullopt);
  t.join();
  CHECK(steady::now() - start < 10s);
}

TEST_CASE("wakes before poll make it return at once, and many wakes coalesce") {
  auto b = corio::make_backend();
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&] {
      for (int j = 0; j < 1000; ++j) b->wake();
    });
  for (auto& t : threads) t.join();
  b->poll(std::nullopt);  // returns: the wakes are pending
  // All of them were one wake: the next poll sleeps its full timeout.
  auto start = steady::now();
  b->poll(20ms);
  CHECK(steady::now() - start >= 20ms);
}

TEST_CASE("poll with a timeout returns no sooner than the timeout") {
  auto b = corio::make_backend();
  for (auto timeout : {1ms, 15ms, 30ms}) {
    auto start = steady::now();
    CHECK(b->poll(timeout) == 0);
    CHECK(steady::now() - start >= timeout);
  }
  auto start = steady::now();
  CHECK(b->poll(std::chrono::nanoseconds::zero()) == 0);
  CHECK(steady::now() - start < 1s);
}

TEST_CASE("epoll: asks awaiters to try the syscall before submitting") {
  auto b = corio::make_backend();
  if (b->name() != "epoll") {
    MESSAGE("skipped: the backend under test is " << b->name() << ", not epoll");
    return;
  }
  CHECK(b->features().try_before_submit);
}

TEST_CASE("uring: submits without trying first; multishot accept (5.19) and provided buffers (6.0) where the kernel has them") {
  auto b = corio::make_backend();
  if (b->name() != "uring") {
    MESSAGE("skipped: the backend under test is " << b->name() << ", not uring");
    return;
  }
  CHECK_FALSE(b->features().try_before_submit);
  utsname u{};
  REQUIRE(::uname(&u) == 0);
  int major = 0, minor = 0;
  std::sscanf(u.release, "%d.%d", &major, &minor);
  if (major > 5 || (major == 5 && minor >= 19)) CHECK(b->features().multishot_accept);
  MESSAGE("multishot accept: " << b->features().multishot_accept << " on Linux " << u.release);
  if (major >= 6) CHECK(b->features().provided_buffers);
  MESSAGE("provided buffers: " << b->features().provided_buffers);
}

TEST_CASE("accepts on one listener: each op gets its own connection, queued ones complete at a later poll") {
  auto b = corio::make_backend();
  fd_closer fds(*b);
  sockaddr_in addr{};
  int l = make_listener(fds, addr);
  // Three connections already wait; four accepts ask for them.
  std::vector<int> clients;
  for (int i = 0; i < 3; ++i) {
    int c = make_tcp_socket(fds);
    int r = ::connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    REQUIRE((r == 0 || errno == EINPROGRESS));
    clients.push_back(c);
  }
  std::vector<recorded_op> ops(4);
  std::vector<sockaddr_in> peers(4);
  for (std::size_t i = 0; i < ops.size(); ++i) {
    ops[i].set(op_kind::accept, l);
    ops[i].buf = nullptr;
    ops[i].len = 0;
    ops[i].addr = reinterpret_cast<sockaddr*>(&peers[i]);
    ops[i].addrlen = sizeof peers[i];
    b->submit(ops[i]);
    CHECK(ops[i].completions == 0);
  }
  auto three = [&] { return ops[0].completions + ops[1].completions + ops[2].completions + ops[3].completions == 3; };
  REQUIRE(poll_until(*b, three));
  b->poll(20ms);
  int accepted = 0;
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(ops[i].completions == 1);  // oldest first
    REQUIRE(ops[i].res >= 0);
    fds.keep(ops[i].res);
    ++accepted;
    CHECK(ops[i].addrlen == sizeof(sockaddr_in));
    CHECK(peers[i].sin_family == AF_INET);
    CHECK(peers[i].sin_addr.s_addr == htonl(INADDR_LOOPBACK));
  }
  CHECK(accepted == 3);
  // The fourth waits; a cancel finishes it with ECANCELED, exactly once.
  CHECK(ops[3].completions == 0);
  b->cancel(ops[3]);
  REQUIRE(poll_until(*b, [&] { return completed(ops[3]); }));
  CHECK(ops[3].res == -ECANCELED);
  b->poll(std::chrono::nanoseconds::zero());
  CHECK(ops[3].completions == 1);
  // Resubmitted after the cancel, it takes the next connection.
  int c = make_tcp_socket(fds);
  int r = ::connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  REQUIRE((r == 0 || errno == EINPROGRESS));
  ops[3].addrlen = sizeof peers[3];
  b->submit(ops[3]);
  REQUIRE(poll_until(*b, [&] { return ops[3].completions == 2; }));
  REQUIRE(ops[3].res >= 0);
  fds.keep(ops[3].res);
}

TEST_CASE("forget on a listener with connections accepted ahead closes them and fails the waiting accept") {
  auto b = corio::make_backend();
  std::size_t fds_before = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) (void)e, ++fds_before;
  {
    fd_closer fds(*b);
    sockaddr_in addr{};
    int l = make_listener(fds, addr);
    recorded_op first(op_kind::accept, l);
    first.buf = nullptr;
    first.len = 0;
    b->submit(first);
    std::vector<int> clients;
    for (int i = 0; i < 6; ++i) {
      int c = make_tcp_socket(fds);
      int r = ::connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
      REQUIRE((r == 0 || errno == EINPROGRESS));
      clients.push_back(c);
    }
    REQUIRE(poll_until(*b, [&] { return completed(first); }));
    REQUIRE(first.res >= 0);
    fds.keep(first.res);
    b->poll(20ms);  // io_uring takes the other five in ahead of demand
    recorded_op waiting(op_kind::accept, l);
    waiting.buf = nullptr;
    waiting.len = 0;
    b->submit(waiting);  // takes one queued connection (io_uring) or accepts one (epoll)
    REQUIRE(poll_until(*b, [&] { return completed(waiting); }));
    REQUIRE(waiting.res >= 0);
    fds.keep(waiting.res);
    recorded_op pending(op_kind::accept, l);
    pending.buf = nullptr;
    pending.len = 0;
    b->submit(pending);
    // The rest of the clients have been served by the loop; forget + close
    // the listener while some may still be queued.
    fds.close(l);
    REQUIRE(poll_until(*b, [&] { return completed(pending); }));
    CHECK(pending.completions == 1);
    if (pending.res >= 0)
      fds.close(fds.keep(pending.res));  // epoll may have accepted before the forget
    else
      CHECK(pending.res == -ECANCELED);
    // With the accepted ones closed too, every client reads EOF or a reset:
    // nothing the backend took in ahead is left open.
    fds.close(first.res);
    fds.close(waiting.res);
    for (std::size_t i = 0; i < clients.size(); ++i) {
      pollfd p{clients[i], POLLIN, 0};
      REQUIRE(::poll(&p, 1, 2000) == 1);
      char ch;
      ssize_t n = ::read(clients[i], &ch, 1);
      CHECK((n == 0 || (n < 0 && errno == ECONNRESET)));
    }
    for (int i = 0; i < 3; ++i) b->poll(5ms);  // the dying multishot's last CQE
  }
  std::size_t fds_after = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) (void)e, ++fds_after;
  CHECK(fds_after == fds_before);
}

TEST_CASE_FIXTURE(loop_fixture, "a busy loop hands its submissions to the kernel within an iteration (flush)") {
  // A write submitted while another task keeps the loop busy must reach the
  // pipe long before the loop's next poll (io_poll_interval iterations).
  auto [r, w] = make_pipe(fds);
  int iterations = -1;
  auto spinner = [](int r, int& iterations) -> task<void> {
    for (int i = 0; i < 1000; ++i) {
      char c;
      if (::read(r, &c, 1) == 1) {
        iterations = i;
        co_return;
      }
      co_await corio::yield_now();
    }
  };
  auto writer = [](int w) -> task<void> { co_await io::write(w, bytes_of("x")); };
  auto s = corio::spawn(spinner(r, iterations));
  auto wr = corio::spawn(writer(w));
  REQUIRE(run_bounded(loop, [&] { return s.done() && wr.done(); }));
  MESSAGE("the write reached the pipe after " << iterations << " iteration(s) of the spinner");
  CHECK(iterations >= 0);
  CHECK(iterations <= 3);
}

TEST_CASE("io_uring refused by the kernel (seccomp): auto falls back to epoll saying so once, uring fails clearly") {
  for (int err : {EPERM, ENOSYS}) {
    int out[2];
    REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::dup2(out[1], 2);
      sock_filter filter[] = {
          BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
          BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
          BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (static_cast<unsigned>(err) & SECCOMP_RET_DATA)),
          BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      };
      sock_fprog prog{static_cast<unsigned short>(std::size(filter)), filter};
      if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
        ::_exit(77);
      corio::detail::logger().set_level(spdlog::level::info);
      int code = 0;
      for (int i = 0; i < 2; ++i) {
        auto b = corio::make_backend("auto");
        if (b->name() != "epoll") code = 10;
      }
      try {
        corio::make_backend("uring");
        code = 11;
      } catch (const std::system_error& e) {
        std::fprintf(stderr, "uring: %s\n", e.what());
        if (e.code().value() != err) code = 12;
      } catch (...) {
        code = 13;
      }
      corio::detail::logger().flush();
      ::_exit(code);
    }
    ::close(out[1]);
    std::string log;
    char buf[512];
    for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) log.append(buf, static_cast<std::size_t>(n));
    ::close(out[0]);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77) {
      MESSAGE("skipped: seccomp filters are not allowed here");
      return;
    }
    INFO("errno " << err << ", child's stderr:\n" << log);
    CHECK(WEXITSTATUS(status) == 0);
#if CORIO_HAS_IO_URING
    std::size_t said = 0;
    for (std::size_t at = 0; (at = log.find("io_uring unavailable", at)) != std::string::npos; ++at) ++said;
    CHECK(said == 1);
    CHECK(log.find("using epoll") != std::string::npos);
    CHECK(log.find("uring: io_uring: io_uring_queue_init") != std::string::npos);
#endif
  }
}

TEST_CASE("uring: more ops than the submission queue holds are all submitted") {
  auto b = corio::make_backend();
  if (b->name() != "uring") {
    MESSAGE("skipped: the backend under test is " << b->name() << ", not uring");
    return;
  }
  fd_closer fds(*b);
  auto [r, w] = make_pipe(fds);
  std::vector<recorded_op> ops(2000);
  for (auto& op : ops) {
    op.set(op_kind::poll_read, r);
    b->submit(op);
  }
  b->poll(std::chrono::nanoseconds::zero());
  put(w, "!");
  auto all = [&] {
    for (auto& op : ops)
      if (op.completions != 1) return false;
    return true;
  };
  REQUIRE(poll_until(*b, all));
  for (auto& op : ops) CHECK(op.res == 0);
}

// ============================================================================
// Through an event_loop and the awaiters of io.hpp
// ============================================================================

namespace {

task<void> pipe_round_trip(int r, int w) {
  co_await write_all(w, "through the pipe");
  std::string got = co_await read_exact(r, 16);
  CHECK(got == "through the pipe");
}

task<std::string> reader(int fd, std::size_t n) { co_return co_await read_exact(fd, n); }

task<void> late_writer(int fd, std::string s) { co_await write_all(fd, std::move(s)); }

task<void> read_then_write_later(int r, int w) {
  auto h = corio::spawn(reader(r, 11));
  co_await corio::yield_now();
  CHECK(h.status() == corio::task_status::suspended);
  auto wr = corio::spawn(late_writer(w, "written later"));
  CHECK(co_await h == "written lat");
  co_await wr;
  CHECK(co_await read_exact(r, 2) == "er");
}

task<std::size_t> read_some(int fd) {
  std::array<std::byte, 32> buf;
  co_return co_await io::read(fd, buf);
}

}  // namespace

TEST_CASE_FIXTURE(loop_fixture, "a task reads from a pipe what it wrote") {
  auto [r, w] = make_pipe(fds);
  loop.run_until_complete(pipe_round_trip(r, w));
}

TEST_CASE_FIXTURE(loop_fixture, "a read waits for data another task writes later") {
  auto [r, w] = make_pipe(fds);
  loop.run_until_complete(read_then_write_later(r, w));
}

TEST_CASE_FIXTURE(loop_fixture, "a read at end of file returns 0") {
  auto [r, w] = make_pipe(fds);
  put(w, "last");
  fds.close(w);
  CHECK(loop.run_until_complete(read_some(r)) == 4);
  CHECK(loop.run_until_complete(read_some(r)) == 0);

  auto [x, y] = make_socketpair(fds);
  auto h = loop.spawn(read_some(x));
  loop.run_until([&] { return h.status() == corio::task_status::suspended; });
  fds.close(y);
  loop.run_until([&] { return h.done(); });
  CHECK(h.result() == 0);
}

namespace {

task<void> write_to_closed_pipe(int w) {
  try {
    co_await io::write(w, bytes_of("nobody reads"));
    FAIL("write to a pipe without reader succeeded");
  } catch (const std::system_error& e) {
    CHECK(e.code().value() == EPIPE);
    CHECK(std::string(e.what()).find("write") != std::string::npos);
  }
}

task<void> send_to_closed_socket(int s) {
  try {
    co_await io::send(s, bytes_of("nobody reads"));
    FAIL("send to a closed peer succeeded");
  } catch (const std::system_error& e) {
    CHECK(e.code().value() == EPIPE);
    CHECK(std::string(e.what()).find("send") != std::string::npos);
  }
}

}  // namespace

TEST_CASE_FIXTURE(loop_fixture, "writing where nobody reads throws EPIPE naming the operation") {
  auto [r, w] = make_pipe(fds);
  fds.close(r);
  loop.run_until_complete(write_to_closed_pipe(w));

  auto [x, y] = make_socketpair(fds);
  fds.close(y);
  loop.run_until_complete(send_to_closed_socket(x));
}

namespace {

task<void> socketpair_exchange(int x, int y) {
  CHECK(co_await io::send(x, bytes_of("request")) == 7);
  std::array<std::byte, 16> buf;
  std::size_t n = co_await io::recv(y, buf);
  CHECK(std::string_view(reinterpret_cast<const char*>(buf.data()), n) == "request");
  CHECK(co_await io::write(y, bytes_of("response")) == 8);
  CHECK(co_await read_exact(x, 8) == "response");
}

task<void> scatter_gather(int x, int y) {
  std::string head = "scatter/", body = "gather over ", tail = "iovecs";
  std::array<iovec, 3> out = {iovec{head.data(), head.size()}, iovec{body.data(), body.size()},
                              iovec{tail.data(), tail.size()}};
  std::size_t total = head.size() + body.size() + tail.size();
  CHECK(co_await io::writev(x, out) == total);

  char a[5], b[7], c[64];
  std::array<iovec, 3> in = {iovec{a, sizeof a}, iovec{b, sizeof b}, iovec{c, sizeof c}};
  std::size_t got = 0;
  std::string joined;
  while (got < total) {
    std::size_t n = co_await io::readv(y, in);
    REQUIRE(n > 0);
    // Rebuild what this call delivered from the three pieces, in order.
    std::size_t left = n;
    for (auto& v : in) {
      std::size_t k = left < v.iov_len ? left : v.iov_len;
      joined.append(static_cast<const char*>(v.iov_base), k);
      left -= k;
    }
    got += n;
  }
  CHECK(joined == "scatter/gather over iovecs");
}

}  // namespace

TEST_CASE_FIXTURE(loop_fixture, "recv and send move bytes over a socketpair") {
  auto [x, y] = make_socketpair(fds);
  loop.run_until_complete(socketpair_exchange(x, y));
}

TEST_CASE_FIXTURE(loop_fixture, "readv and writev scatter and gather") {
  auto [x, y] = make_socketpair(fds);
  loop.run_until_complete(scatter_gather(x, y));
}

namespace {

task<int> accept_one(int listener, sockaddr_in* peer) {
  int fd = co_await io::accept_res(listener, reinterpret_cast<sockaddr*>(peer), sizeof *peer);
  co_return fd;
}

// A TCP connection to `listener` through the backend: {client, server},
// both owned by `fds`.
task<std::pair<int, int>> connected_tcp(fd_closer& fds, int listener, sockaddr_in addr) {
  auto acc = corio::spawn(accept_one(listener, nullptr));
  int client = make_tcp_socket(fds);
  REQUIRE(co_await io::connect_res(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  int server = co_await acc;
  REQUIRE(server >= 0);
  fds.keep(server);
  co_return std::pair{client, server};
}

task<void> tcp_meet(fd_closer& fds, int listener, sockaddr_in addr) {
  sockaddr_in peer{};
  auto acc = corio::spawn(accept_one(listener, &peer));
  int client = make_tcp_socket(fds);
  int rc = co_await io::connect_res(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  REQUIRE(rc == 0);
  int server = co_await acc;
  REQUIRE(server >= 0);
  fds.keep(server);
  CHECK((::fcntl(server, F_GETFL) & O_NONBLOCK) != 0);
  CHECK((::fcntl(server, F_GETFD) & FD_CLOEXEC) != 0);

  sockaddr_in local{};
  socklen_t len = sizeof local;
  ::getsockname(client, reinterpret_cast<sockaddr*>(&local), &len);
  CHECK(peer.sin_family == AF_INET);
  CHECK(peer.sin_port == local.sin_port);

  co_await write_all(client, "over tcp");
  CHECK(co_await read_exact(server, 8) == "over tcp");
  co_await write_all(server, "and back");
  CHECK(co_await read_exact(client, 8) == "and back");
}

task<int> connect_to(int s, sockaddr_in addr) {
  co_return co_await io::connect_res(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
}

// Resets the connection under `waiting`, a read pending on the other end of
// `server` (SO_LINGER 0: close() sends a reset instead of a FIN), and checks
// that the read fails with ECONNRESET naming `op`.
template <class T>
task<void> reset_under(fd_closer& fds, int server, corio::join_handle<T> waiting, const char* op) {
  co_await corio::yield_now();
  linger lg{1, 0};
  REQUIRE(::setsockopt(server, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
  fds.close(server);
  try {
    co_await waiting;
    FAIL(op << " after a reset succeeded");
  } catch (const std::system_error& e) {
    CHECK(e.code().value() == ECONNRESET);
    CHECK(std::string(e.what()).find(op) != std::string::npos);
  }
}

task<void> recv_after_reset(fd_closer& fds, int listener, sockaddr_in addr) {
  auto [client, server] = co_await connected_tcp(fds, listener, addr);
  co_await reset_under(fds, server, corio::spawn(read_some(client)), "read");
}

}  // namespace

TEST_CASE_FIXTURE(loop_fixture, "accept and connect meet on 127.0.0.1 and exchange bytes") {
  sockaddr_in addr;
  int listener = make_listener(fds, addr);
  loop.run_until_complete(tcp_meet(fds, listener, addr));
}

TEST_CASE_FIXTURE(loop_fixture, "connect to a closed port returns ECONNREFUSED") {
  sockaddr_in addr;
  int listener = make_listener(fds, addr);
  fds.close(listener);  // the port is now closed
  int s = make_tcp_socket(fds);
  CHECK(loop.run_until_complete(connect_to(s, addr)) == -ECONNREFUSED);
}

TEST_CASE_FIXTURE(loop_fixture, "a read after the peer reset the connection throws ECONNRESET naming read") {
  sockaddr_in addr;
  int listener = make_listener(fds, addr);
  loop.run_until_complete(recv_after_reset(fds, listener, addr));
}

namespace {

task<std::size_t> read_noting_cancel(int fd, bool* saw_cancel) {
  std::array<std::byte, 32> buf;
  try {
    co_return co_await io::read(fd, buf);
  } catch (const corio::cancelled_error&) {
    *saw_cancel = true;
    throw;
  }
}

}  // namespace

TEST_CASE_FIXTURE(loop_fixture, "cancelling a task blocked in read throws cancelled_error and removes the op") {
  auto [r, w] = make_pipe(fds);
  bool saw_cancel = false;
  auto h = loop.spawn(read_noting_cancel(r, &saw_cancel));
  loop.run_until([&] { return h.status() == corio::task_status::suspended; });
  CHECK(h.cancel());
  loop.run_until([&] { return h.done(); });
  CHECK(h.cancelled());
  CHECK(saw_cancel);
  CHECK_THROWS_AS(h.result(), corio::cancelled_error);

  // The op is really gone: the next bytes go to the next read.
  put(w, "for the next one");
  CHECK(loop.run_until_complete(read_exact(r, 16)) == "for the next one");
}

TEST_CASE_FIXTURE(loop_fixture, "cancel racing with a completed read returns the bytes or leaves them") {
  auto [r, w] = make_pipe(fds);
  int won = 0, cancelled = 0;
  for (int i = 0; i < 100; ++i) {
    std::string msg = "payload " + std::to_string(i);
    bool saw_cancel = false;
    auto h = loop.spawn(read_noting_cancel(r, &saw_cancel));
    loop.run_until([&] { return h.status() == corio::task_status::suspended; });
    put(w, msg);
    if (i % 2) {
      // Let the backend deliver the completion first: the result must win.
      for (int k = 0; k < 100 && h.status() == corio::task_status::suspended; ++k) loop.io().poll(1ms);
      CHECK(h.status() == corio::task_status::scheduled);
    }
    h.cancel();
    loop.run_until([&] { return h.done(); });
    if (h.cancelled()) {
      ++cancelled;
      CHECK(i % 2 == 0);
      CHECK(saw_cancel);
      CHECK(take(r) == msg);
    } else {
      ++won;
      CHECK(h.result() == msg.size());
      CHECK(take(r).empty());
    }
  }
  MESSAGE(loop.io().name() << ": the read won " << won << " times, the cancel " << cancelled);
}

namespace {

task<std::size_t> read_expecting_ecanceled(int fd) {
  std::array<std::byte, 8> buf;
  try {
    co_await io::read(fd, buf);
    FAIL("read on a forgotten fd succeeded");
  } catch (const std::system_error& e) {
    CHECK(e.code().value() == ECANCELED);
  }
  co_return 0;
}

}  // namespace

TEST_CASE_FIXTURE(loop_fixture, "closing an fd through forget fails its pending read with ECANCELED") {
  auto [r, w] = make_pipe(fds);
  auto h = loop.spawn(read_expecting_ecanceled(r));
  loop.run_until([&] { return h.status() == corio::task_status::suspended; });
  fds.close(r);
  loop.run_until([&] { return h.done(); });
  CHECK(h.result() == 0);
  (void)w;
}

namespace {

task<void> wait_for_readiness(int x, int y) {
  CHECK(co_await io::wait_writable(x) == 0);
  auto h = corio::spawn([](int fd) -> task<std::size_t> { co_return co_await io::wait_readable(fd); }(y));
  co_await corio::yield_now();
  CHECK(h.status() == corio::task_status::suspended);
  co_await write_all(x, "ready");
  CHECK(co_await h == 0);
  CHECK(co_await read_exact(y, 5) == "ready");
}

}  // namespace

TEST_CASE_FIXTURE(loop_fixture, "wait_readable and wait_writable complete when the fd is ready") {
  auto [x, y] = make_socketpair(fds);
  loop.run_until_complete(wait_for_readiness(x, y));
}

namespace {

task<std::size_t> wait_writable_task(int fd) { co_return co_await io::wait_writable(fd); }

}  // namespace

TEST_CASE_FIXTURE(loop_fixture, "waiting twice for a socket that stays writable completes both times") {
  auto [x, y] = make_socketpair(fds);
  for (int i = 0; i < 2; ++i) {
    auto h = loop.spawn(wait_writable_task(x));
    bool ok = run_bounded(loop, [&] { return h.done(); });
    CHECK_MESSAGE(ok, "wait_writable #" << i + 1 << " never completed");
    if (!ok) {
      h.cancel();
      loop.run_until([&] { return h.done(); });
    }
  }
  (void)y;
}

TEST_CASE_FIXTURE(loop_fixture, "call_soon_threadsafe from another thread wakes a loop blocked in poll") {
  auto [r, w] = make_pipe(fds);
  auto h = loop.spawn(read_some(r));
  loop.run_until([&] { return h.status() == corio::task_status::suspended; });
  int wfd = w;
  std::thread t([&] {
    std::this_thread::sleep_for(20ms);
    loop.call_soon_threadsafe([wfd] { put(wfd, "from afar"); });
  });
  loop.run_until([&] { return h.done(); });
  t.join();
  CHECK(h.result() == 9);
}

namespace {

// "a>000042": 8 bytes naming the pair and the direction.
std::string tag(char dir, int i) {
  char s[] = "?>000000";
  s[0] = dir;
  for (int k = 7; k >= 2; --k, i /= 10) s[k] = static_cast<char>('0' + i % 10);
  return std::string(s, 8);
}

task<void> thousand_reads(fd_closer& fds, int pairs) {
  std::vector<fd_pair> socks;
  for (int i = 0; i < pairs; ++i) socks.push_back(make_socketpair(fds));
  std::vector<corio::join_handle<std::string>> readers;
  for (auto& s : socks) {
    readers.push_back(corio::spawn(read_exact(s.a, 8)));
    readers.push_back(corio::spawn(read_exact(s.b, 8)));
  }
  co_await corio::yield_now();
  int suspended = 0;
  for (auto& h : readers) suspended += h.status() == corio::task_status::suspended;
  CHECK(suspended == 2 * pairs);
  for (int i = 0; i < pairs; ++i) {
    put(socks[static_cast<std::size_t>(i)].b, tag('a', i));  // read at .a
    put(socks[static_cast<std::size_t>(i)].a, tag('b', i));  // read at .b
  }
  for (int i = 0; i < pairs; ++i) {
    CHECK(co_await readers[static_cast<std::size_t>(2 * i)] == tag('a', i));
    CHECK(co_await readers[static_cast<std::size_t>(2 * i + 1)] == tag('b', i));
  }
}

}  // namespace

TEST_CASE_FIXTURE(loop_fixture, "a thousand reads pending at once all complete") {
  loop.run_until_complete(thousand_reads(fds, 500));
}

namespace {

constexpr std::size_t big = 8 << 20;

std::uint8_t pattern(std::size_t i) { return static_cast<std::uint8_t>(i * 131 + (i >> 13)); }

std::uint64_t fnv1a(std::uint64_t h, const std::uint8_t* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

task<std::size_t> big_writer(fd_closer& fds, int fd, const std::vector<std::uint8_t>& data) {
  std::size_t off = 0, calls = 0;
  while (off < data.size()) {
    std::size_t chunk = data.size() - off < (1u << 20) ? data.size() - off : (1u << 20);
    off += co_await io::write(fd, std::as_bytes(std::span(data.data() + off, chunk)));
    ++calls;
  }
  fds.close(fd);  // EOF for the reader
  co_return calls;
}

task<std::uint64_t> big_reader(int fd, std::size_t* total) {
  std::vector<std::uint8_t> buf(64 << 10);
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (;;) {
    std::size_t n = co_await io::recv(fd, std::as_writable_bytes(std::span(buf)));
    if (n == 0) break;
    h = fnv1a(h, buf.data(), n);
    *total += n;
  }
  co_return h;
}

task<void> big_transfer(fd_closer& fds, int x, int y) {
  std::vector<std::uint8_t> data(big);
  for (std::size_t i = 0; i < big; ++i) data[i] = pattern(i);
  std::uint64_t want = fnv1a(0xcbf29ce484222325ull, data.data(), big);
  std::size_t total = 0;
  auto rd = corio::spawn(big_reader(y, &total));
  auto wr = corio::spawn(big_writer(fds, x, data));
  std::size_t calls = co_await wr;
  CHECK(co_await rd == want);
  CHECK(total == big);
  CHECK(calls > 8);  // 1 MiB per call into a socket buffer far smaller: split
}

}  // namespace

TEST_CASE_FIXTURE(loop_fixture, "an 8 MiB write through a socketpair arrives whole and in order") {
  auto [x, y] = make_socketpair(fds);
  loop.run_until_complete(big_transfer(fds, x, y));
}

// ============================================================================
// Pooled recvs (io::recv_pooled): the same behaviour on every backend, with
// the buffer chosen by the kernel under io_uring (provided buffers) and after
// readiness elsewhere. Every case ends with every buffer back in the pool.
// ============================================================================

namespace {

std::string text_of(const io::pooled_buffer& b) {
  auto s = b.bytes();
  return {reinterpret_cast<const char*>(s.data()), s.size()};
}

// Reads with recv_pooled until `n` bytes (or EOF) have come.
task<std::string> pooled_read_exact(int fd, std::size_t n) {
  std::string out;
  while (out.size() < n) {
    io::pooled_buffer b = co_await io::recv_pooled(fd);
    if (b.empty()) break;
    out += text_of(b);
  }
  co_return out;
}

task<void> pooled_queued_then_eof(fd_closer& fds, event_loop& loop, int x, int y) {
  // Written before any reader: the first recv finds it.
  put(x, "early");
  CHECK(co_await pooled_read_exact(y, 5) == "early");
  // Arriving while nobody reads (io_uring: queued on the connection, each
  // in its own buffer), then read in order.
  for (std::string_view part : {"one,", "two,", "three"}) {
    put(x, part);
    for (int i = 0; i < 3; ++i) loop.io().poll(1ms);
  }
  CHECK(co_await pooled_read_exact(y, 13) == "one,two,three");
  fds.close(x);
  io::pooled_buffer end = co_await io::recv_pooled(y);
  CHECK(end.empty());
  CHECK(end.bytes().empty());
}

}  // namespace

TEST_CASE_FIXTURE(loop_fixture, "recv_pooled: data sent before and between reads arrives in order, then EOF") {
  auto [x, y] = make_socketpair(fds);
  loop.run_until_complete(pooled_queued_then_eof(fds, loop, x, y));
  CHECK(loop.io().buffers().in_use() == 0);
}

namespace {

task<void> pooled_recv_after_reset(fd_closer& fds, int listener, sockaddr_in addr) {
  auto [client, server] = co_await connected_tcp(fds, listener, addr);
  put(server, "before the reset");
  CHECK(co_await pooled_read_exact(client, 16) == "before the reset");
  auto pooled_read = [](int fd) -> task<std::size_t> { co_return (co_await io::recv_pooled(fd)).size(); };
  co_await reset_under(fds, server, corio::spawn(pooled_read(client)), "recv_pooled");
}

}  // namespace

TEST_CASE_FIXTURE(loop_fixture, "recv_pooled: a reset raises ECONNRESET naming the operation") {
  sockaddr_in addr;
  int listener = make_listener(fds, addr);
  loop.run_until_complete(pooled_recv_after_reset(fds, listener, addr));
  CHECK(loop.io().buffers().in_use() == 0);
}

TEST_CASE_FIXTURE(loop_fixture, "recv_pooled: cancel and close with completions queued lose no buffer") {
  auto [x, y] = make_socketpair(fds);
  // One read arms the connection (io_uring), then data piles up unread.
  put(x, "arm");
  CHECK(loop.run_until_complete(pooled_read_exact(y, 3)) == "arm");
  std::string sent;
  for (int k = 0; k < 5; ++k) {
    std::string part = "queued " + std::to_string(k) + ";";
    put(x, part);
    sent += part;
    for (int i = 0; i < 3; ++i) loop.io().poll(1ms);
  }
  // A reader cancelled before it runs: the bytes it was handed (if any) are
  // returned with it, or stay for the next reader; none is lost.
  std::string got;
  auto h = loop.spawn([](int fd, std::string* out) -> task<void> {
    io::pooled_buffer b = co_await io::recv_pooled(fd);
    *out += text_of(b);
  }(y, &got));
  h.cancel();
  loop.run_until([&] { return h.done(); });
  got += loop.run_until_complete(pooled_read_exact(y, sent.size() - got.size()));
  CHECK(got == sent);
  CHECK(loop.io().buffers().in_use() == 0);
  // A reader waiting with nothing there, cancelled: no buffer moves.
  auto w = loop.spawn([](int fd) -> task<std::size_t> { co_return (co_await io::recv_pooled(fd)).size(); }(x));
  loop.run_until([&] { return w.status() == corio::task_status::suspended; });
  w.cancel();
  loop.run_until([&] { return w.done(); });
  CHECK(w.cancelled());
  // Close with results still queued (io_uring: one buffer each): they go back.
  for (int k = 0; k < 4; ++k) {
    put(x, "left " + std::to_string(k));
    for (int i = 0; i < 3; ++i) loop.io().poll(1ms);
  }
  if (loop.io().features().provided_buffers) CHECK(loop.io().buffers().in_use() == 4);
  fds.close(y);
  CHECK(poll_until(loop.io(), [&] { return loop.io().buffers().in_use() == 0; }));
}

namespace {

// n connections, each sent `size` bytes; every reader keeps every lease
// until all have read everything, so the pool must lend n * size bytes at
// once (more than io_uring's ring holds: the rest read through readiness).
task<void> many_hold_buffers(fd_closer& fds, std::size_t n, std::size_t size) {
  std::vector<fd_pair> pairs;
  for (std::size_t i = 0; i < n; ++i) pairs.push_back(make_socketpair(fds));
  std::vector<std::vector<io::pooled_buffer>> held(n);
  std::vector<std::string> got(n);
  std::vector<corio::join_handle<void>> readers;
  for (std::size_t i = 0; i < n; ++i)
    readers.push_back(corio::spawn([](int fd, std::size_t want, std::vector<io::pooled_buffer>* keep,
                                      std::string* out) -> task<void> {
      while (out->size() < want) {
        io::pooled_buffer b = co_await io::recv_pooled(fd);
        if (b.empty()) break;
        *out += text_of(b);
        keep->push_back(std::move(b));  // held until the case ends
      }
    }(pairs[i].b, size, &held[i], &got[i])));
  for (std::size_t i = 0; i < n; ++i) {
    std::string msg(size, static_cast<char>('a' + i % 26));
    msg.replace(0, std::to_string(i).size(), std::to_string(i));
    std::size_t off = 0;
    while (off < msg.size()) {
      ssize_t w = ::write(pairs[i].a, msg.data() + off, msg.size() - off);
      REQUIRE(w > 0);
      off += static_cast<std::size_t>(w);
    }
  }
  for (auto& r : readers) co_await r;
  for (std::size_t i = 0; i < n; ++i) {
    std::string msg(size, static_cast<char>('a' + i % 26));
    msg.replace(0, std::to_string(i).size(), std::to_string(i));
    CHECK(got[i] == msg);
  }
  std::size_t leases = 0;
  for (auto& h : held) leases += h.size();
  MESSAGE("pooled recvs: " << n << " connections held " << leases << " buffers at once");
  held.clear();
}

}  // namespace

TEST_CASE_FIXTURE(loop_fixture, "recv_pooled: many connections share the pool, past its exhaustion") {
  rlimit rl{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &rl) == 0);
  rl.rlim_cur = rl.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &rl);
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &rl) == 0);
  std::size_t n = rl.rlim_cur > 1400 ? 600 : (rl.rlim_cur - 200) / 2;
  loop.run_until_complete(many_hold_buffers(fds, n, 3000));
  CHECK(loop.io().buffers().in_use() == 0);
}

TEST_CASE_FIXTURE(loop_fixture, "recv_pooled: a new connection on a closed one's fd number reads only its own bytes") {
  auto [x, y] = make_socketpair(fds);
  put(x, "old");
  CHECK(loop.run_until_complete(pooled_read_exact(y, 3)) == "old");
  // More arrives for the old connection (io_uring: its multishot receives
  // it ahead), then it is closed with its multishot still armed, and a new
  // connection takes the same fd number before the old one's last CQE.
  put(x, "stale bytes");
  for (int i = 0; i < 3; ++i) loop.io().poll(1ms);
  const int number = y;
  fds.close(y);
  auto [a, b] = make_socketpair(fds);
  int reader = b == number ? b : a == number ? a : -1;
  int writer = reader == a ? b : a;
  if (reader < 0) {  // a lower fd was free: put the reader on the number
    REQUIRE(::dup2(b, number) == number);
    fds.keep(number);
    fds.close(b);
    reader = number;
  }
  put(writer, "new");
  CHECK(loop.run_until_complete(pooled_read_exact(reader, 3)) == "new");
  fds.close(writer);
  CHECK(loop.run_until_complete([](int fd) -> task<bool> { co_return (co_await io::recv_pooled(fd)).empty(); }(reader)));
  CHECK(poll_until(loop.io(), [&] { return loop.io().buffers().in_use() == 0; }));
}

namespace {

// Which buffer of the pool a lease is (its offset in the ring's slab).
std::size_t buffer_index(corio::buffer_pool& pool, const io::pooled_buffer& b) {
  auto off = b.bytes().data() - pool.data(0);
  return static_cast<std::size_t>(off) / pool.buffer_size();
}

}  // namespace

TEST_CASE_FIXTURE(loop_fixture, "recv_pooled (uring): the ring hands the kernel buffers as they are needed") {
  if (!loop.io().features().provided_buffers) {
    MESSAGE("skipped: this backend has no provided-buffer ring");
    return;
  }
  corio::buffer_pool& pool = loop.io().buffers();
  // One message at a time, each lease dropped before the next read: the
  // kernel cycles through the ring's first 64 buffers, and the rest of the
  // slab is never written (never resident).
  auto [x, y] = make_socketpair(fds);
  std::size_t highest = 0;
  for (int k = 0; k < 300; ++k) {
    std::string msg = "message " + std::to_string(k);
    put(x, msg);
    std::size_t at = 0;
    CHECK(loop.run_until_complete([](int fd, corio::buffer_pool& p, std::size_t* where) -> task<std::string> {
            io::pooled_buffer b = co_await io::recv_pooled(fd);
            *where = buffer_index(p, b);
            co_return text_of(b);
          }(y, pool, &at)) == msg);
    highest = std::max(highest, at);
  }
  CHECK(highest < 64);
  CHECK(pool.in_use() == 0);
  // 300 connections holding their leases, two messages each: the first
  // round empties the 64 buffers (those that found the ring dry read
  // through readiness) and the ring grows; in the second the re-armed
  // connections receive into buffers past the first 64. Every byte arrives.
  constexpr std::size_t n = 300;
  std::vector<fd_pair> pairs;
  for (std::size_t i = 0; i < n; ++i) pairs.push_back(make_socketpair(fds));
  std::vector<io::pooled_buffer> held;
  highest = 0;
  for (int round = 0; round < 2; ++round) {
    for (std::size_t i = 0; i < n; ++i) put(pairs[i].a, "conn " + std::to_string(i) + " round " + std::to_string(round));
    std::vector<io::pooled_buffer> got(n);
    std::vector<corio::join_handle<void>> readers;
    for (std::size_t i = 0; i < n; ++i)
      readers.push_back(loop.spawn([](int fd, io::pooled_buffer* keep) -> task<void> {
        *keep = co_await io::recv_pooled(fd);
      }(pairs[i].b, &got[i])));
    loop.run_until([&] { return std::all_of(readers.begin(), readers.end(), [](auto& r) { return r.done(); }); });
    std::size_t in_ring = 0;
    for (std::size_t i = 0; i < n; ++i) {
      CHECK(text_of(got[i]) == "conn " + std::to_string(i) + " round " + std::to_string(round));
      // The ring's slab holds at most 1024 buffers; a readiness read's
      // lease is a heap buffer outside it.
      auto p = reinterpret_cast<std::uintptr_t>(got[i].bytes().data());
      auto slab = reinterpret_cast<std::uintptr_t>(pool.data(0));
      if (p >= slab && p < slab + 1024 * pool.buffer_size()) {
        ++in_ring;
        highest = std::max(highest, buffer_index(pool, got[i]));
      }
      held.push_back(std::move(got[i]));
    }
    MESSAGE("round " << round << ": " << in_ring << " of " << n << " leases from the ring, highest index " << highest);
  }
  CHECK(highest >= 64);
  held.clear();
  CHECK(pool.in_use() == 0);
}

}  // TEST_SUITE("backend")
