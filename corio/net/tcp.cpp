// SPDX-License-Identifier: MIT
//
// TCP listener and stream, and the Happy Eyeballs race.
//
// The race is a parent task and one child task per attempt, plus a child
// that sleeps the stagger delay. Children report into a `race` that lives in
// the parent's frame and wake the parent through a one-waiter notifier; the
// parent outlives every child because it cancels and awaits all of them
// before it returns or rethrows, so the children's references stay valid.
#include <corio/net/tcp.hpp>

#include <corio/core/event_loop.hpp>
#include <corio/core/time.hpp>
#include <corio/net/resolver.hpp>

#include <cerrno>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <optional>
#include <stdexcept>
#include <sys/socket.h>

namespace corio::net {

namespace {

// Wakes one waiting task; remembers a notify that came while nobody waited.
class notifier {
 public:
  void notify() noexcept {
    notified_ = true;
    if (corio::detail::task_state* w = std::exchange(waiter_, nullptr)) w->wake();
  }

  auto operator co_await() noexcept { return awaiter{this}; }

 private:
  struct awaiter {
    notifier* n;
    bool cancelled = false;

    bool await_ready() const noexcept { return n->notified_; }
    bool await_suspend(std::coroutine_handle<> h) {
      corio::detail::task_state& me = corio::detail::current_task();
      if (me.take_cancel()) {
        cancelled = true;
        return false;
      }
      n->waiter_ = &me;
      me.suspend(h, "connect (happy eyeballs)", &on_cancel, n);
      return true;
    }
    void await_resume() {
      if (cancelled) throw cancelled_error();
      if (!n->notified_) {  // woken by on_cancel
        corio::detail::current_task().cancel_delivered();
        throw cancelled_error();
      }
      n->notified_ = false;
    }
    static void on_cancel(void* self) noexcept {
      auto* n = static_cast<notifier*>(self);
      if (corio::detail::task_state* w = std::exchange(n->waiter_, nullptr)) w->wake();
    }
  };

  corio::detail::task_state* waiter_ = nullptr;
  bool notified_ = false;
};

struct race {
  notifier wake;
  std::optional<tcp_stream> winner;
  std::size_t running = 0;
  bool start_next = false;  // the stagger delay passed, or an attempt failed
  int last_error = 0;
};

task<void> attempt(race& r, address a) {
  struct done_guard {
    race& r;
    ~done_guard() {
      --r.running;
      r.wake.notify();
    }
  } guard{r};
  try {
    tcp_stream s = co_await tcp_stream::connect(a);
    if (!r.winner) r.winner = std::move(s);  // a late loser's stream closes here
  } catch (const std::system_error& e) {
    r.last_error = e.code().value();
    r.start_next = true;
  }
}

task<void> stagger(race& r) {
  co_await corio::sleep(tcp_stream::attempt_delay);
  r.start_next = true;
  r.wake.notify();
}

std::string join_addresses(const std::vector<address>& addrs) {
  std::string s;
  for (const address& a : addrs) {
    if (!s.empty()) s += ", ";
    s += a.to_string();
  }
  return s;
}

}  // namespace

// --- tcp_stream ---------------------------------------------------------------

task<tcp_stream> tcp_stream::connect(address peer) {
  socket s = socket::open(peer.family(), SOCK_STREAM);
  std::int32_t r = co_await io::connect_res(s.fd(), peer.sockaddr_ptr(), peer.sockaddr_len());
  if (r < 0) throw_system_error(-r, "connect to " + peer.to_string());
  co_return tcp_stream(std::move(s), peer);
}

task<tcp_stream> tcp_stream::connect(std::string host, std::uint16_t port) {
  std::vector<address> addrs = co_await resolve(host, port);
  std::string name = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  co_return co_await connect_any(interleave_families(addrs), name + ":" + std::to_string(port));
}

task<tcp_stream> tcp_stream::connect(std::string host, std::uint16_t port, std::chrono::milliseconds limit) {
  std::string what = "connect to " + host + ":" + std::to_string(port);
  co_return co_await corio::timeout(limit, connect(std::move(host), port), std::move(what));
}

task<tcp_stream> tcp_stream::connect_any(std::vector<address> candidates, std::string name) {
  if (candidates.empty()) throw std::invalid_argument("tcp_stream::connect_any: no address to connect to");
  if (candidates.size() == 1) co_return co_await connect(candidates.front());

  race r;
  std::vector<join_handle<void>> attempts;
  join_handle<void> timer;
  std::size_t next = 0;
  std::exception_ptr failure;
  try {
    for (;;) {
      if (next < candidates.size() && (r.running == 0 || r.start_next)) {
        r.start_next = false;
        ++r.running;
        attempts.push_back(spawn(attempt(r, candidates[next++]), "happy eyeballs attempt"));
        if (timer) timer.cancel();
        if (next < candidates.size()) timer = spawn(stagger(r), "happy eyeballs delay");
      }
      if (r.winner || (r.running == 0 && next == candidates.size())) break;
      co_await r.wake;
    }
  } catch (...) {
    failure = std::current_exception();  // our own cancellation
  }
  // Losers and the delay are cancelled, and awaited so that no child
  // outlives `r`. An attempt that connected meanwhile closes its stream.
  for (auto& a : attempts) a.cancel();
  if (timer) timer.cancel();
  for (auto& a : attempts) {
    try {
      co_await a;
    } catch (const cancelled_error&) {
    }
  }
  if (timer) {
    try {
      co_await timer;
    } catch (const cancelled_error&) {
    }
  }
  if (failure) std::rethrow_exception(failure);
  if (r.winner) co_return std::move(*r.winner);
  if (name.empty()) name = candidates.front().to_string();
  throw_system_error(r.last_error ? r.last_error : ECONNREFUSED,
                     "connect to " + name + " (tried " + join_addresses(candidates) + ")");
}

void tcp_stream::set_nodelay(bool on) { handle().set_option(IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0, "set TCP_NODELAY"); }

void tcp_stream::set_keepalive(bool on, std::chrono::seconds idle) {
  handle().set_option(SOL_SOCKET, SO_KEEPALIVE, on ? 1 : 0, "set SO_KEEPALIVE");
#ifdef TCP_KEEPIDLE
  if (on && idle.count() > 0)
    handle().set_option(IPPROTO_TCP, TCP_KEEPIDLE, static_cast<int>(idle.count()), "set TCP_KEEPIDLE");
#else
  (void)idle;
#endif
}

// --- tcp_listener -------------------------------------------------------------

tcp_listener tcp_listener::bind(const address& local, listen_options options) {
  if (!local.is_v4() && !local.is_v6())
    throw std::invalid_argument("tcp_listener::bind: not an IP address: " + local.to_string());
  socket s = socket::open(local.family(), SOCK_STREAM);
  if (options.reuse_address) s.set_option(SOL_SOCKET, SO_REUSEADDR, 1, "set SO_REUSEADDR");
#ifdef SO_REUSEPORT
  if (options.reuse_port) s.set_option(SOL_SOCKET, SO_REUSEPORT, 1, "set SO_REUSEPORT");
#endif
  if (local.is_v6()) s.set_option(IPPROTO_IPV6, IPV6_V6ONLY, options.v6_only ? 1 : 0, "set IPV6_V6ONLY");
  s.bind(local);
  s.listen(options.backlog);
  return tcp_listener(std::move(s));
}

task<tcp_stream> tcp_listener::accept() {
  accepted a = co_await accept_socket();
  co_return tcp_stream(std::move(a.sock), a.peer);
}

std::vector<address> interleave_families(std::span<const address> addrs) {
  std::vector<address> first, other;
  for (const address& a : addrs) (a.family() == addrs.front().family() ? first : other).push_back(a);
  std::vector<address> out;
  out.reserve(addrs.size());
  for (std::size_t i = 0; i < first.size() || i < other.size(); ++i) {
    if (i < first.size()) out.push_back(first[i]);
    if (i < other.size()) out.push_back(other[i]);
  }
  return out;
}

}  // namespace corio::net
