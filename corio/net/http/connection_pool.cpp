// SPDX-License-Identifier: MIT
//
// The pool's bookkeeping: `open_` counts sockets (leased + idle), the
// semaphores count leases. A lease's destructor and release() are the only
// places that give permits back, so a task cancelled anywhere between
// acquire and release cannot leak one.
#include <corio/net/http/connection_pool.hpp>

#include <corio/core/time.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sys/socket.h>
#include <sys/uio.h>

namespace corio::http {

namespace {

std::string describe(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + " s";
  return std::to_string(d.count()) + " ms";
}

template <class T>
task<T> bounded(task<T> t, const request_deadlines& d, const char* phase, const std::string& what) {
  time_point now = current_loop().now();
  bool connect = std::strcmp(phase, "connect") == 0;
  std::optional<std::chrono::milliseconds> own = connect ? d.connect : d.read;
  std::optional<time_point> until;
  if (own) until = now + *own;
  bool total = false;
  if (d.total_until && (!until || *d.total_until <= *until)) {
    until = d.total_until;
    total = true;
  }
  if (!until) co_return co_await std::move(t);
  bool expired = false;
  try {
    co_return co_await timeout_at(*until, std::move(t));
  } catch (const timeout_error&) {
    expired = true;
  }
  std::string why;
  if (total)
    why = "total timeout (" + describe(d.total.value_or(std::chrono::milliseconds{0})) + ")";
  else if (connect)
    why = "connect timeout (" + describe(*own) + ")";
  else
    why = "read timeout (no data for " + describe(*own) + ")";
  if (expired) throw timeout_error(what + ": " + why);
  throw std::logic_error("unreachable");
}

}  // namespace

namespace detail {
std::system_error with_context(const std::system_error& e, const std::string& what) {
  std::string m = e.what();
  std::string suffix = ": " + e.code().message();
  if (m.size() >= suffix.size() && m.compare(m.size() - suffix.size(), suffix.size(), suffix) == 0)
    m.resize(m.size() - suffix.size());
  return std::system_error(e.code(), what + ": " + m);
}
}  // namespace detail

// --- client_connection ----------------------------------------------------------

client_connection::client_connection(net::tcp_stream tcp, std::string origin)
    : tcp_(std::move(tcp)), origin_(std::move(origin)) {}

client_connection::client_connection(tls_stream tls, std::string origin)
    : tls_(std::make_unique<tls_stream>(std::move(tls))), origin_(std::move(origin)) {}

task<std::size_t> client_connection::read_some(std::span<std::byte> buf) {
  if (tls_) co_return co_await tls_->read_some(buf);
  co_return co_await tcp_.read_some(buf);
}

task<std::size_t> client_connection::fill(const request_deadlines& d, const std::string& what) {
  if (!buf_) buf_ = std::make_unique<std::byte[]>(buffer_size);
  if (end_ == buffer_size) {
    // Compact: the parser keeps offsets, so the unconsumed bytes may move.
    std::memmove(buf_.get(), buf_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (end_ == buffer_size) throw std::logic_error("client_connection: receive buffer full");
  std::span<std::byte> space(buf_.get() + end_, buffer_size - end_);
  std::size_t n;
  if (!d.read && !d.total_until)
    n = co_await read_some(space);
  else
    n = co_await bounded<std::size_t>(read_some(space), d, "read", what);
  end_ += n;
  co_return n;
}

void client_connection::consume(std::size_t n) noexcept {
  begin_ += n;
  if (begin_ == end_) begin_ = end_ = 0;
}

task<void> client_connection::write(std::span<const std::byte> a, std::span<const std::byte> b,
                                    const request_deadlines& d, const std::string& what) {
  auto send = [](client_connection& c, std::span<const std::byte> a, std::span<const std::byte> b) -> task<void> {
    if (c.tls_) {
      co_await c.tls_->write_all(a);
      if (!b.empty()) co_await c.tls_->write_all(b);
    } else if (b.empty()) {
      co_await c.tcp_.write_all(a);
    } else {
      ::iovec v[2] = {{const_cast<std::byte*>(a.data()), a.size()}, {const_cast<std::byte*>(b.data()), b.size()}};
      co_await c.tcp_.writev(std::span<const ::iovec>(v));
    }
  };
  if (!d.read && !d.total_until)
    co_await send(*this, a, b);
  else
    co_await bounded<void>(send(*this, a, b), d, "read", what);
}

bool client_connection::looks_alive() const noexcept {
  if (tls_ && tls_->has_pending()) return false;
  char c;
  ssize_t r = ::recv(fd(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

void client_connection::close() noexcept {
  if (tls_) tls_->close();
  tcp_.close();
}

// --- connection_lease -----------------------------------------------------------

connection_lease::connection_lease(connection_lease&& o) noexcept
    : pool_(std::move(o.pool_)),
      conn_(std::move(o.conn_)),
      origin_(std::move(o.origin_)),
      reused_(o.reused_),
      host_permit_(std::exchange(o.host_permit_, false)),
      total_permit_(std::exchange(o.total_permit_, false)) {}

connection_lease& connection_lease::operator=(connection_lease&& o) noexcept {
  if (this != &o) {
    release(false);
    pool_ = std::move(o.pool_);
    conn_ = std::move(o.conn_);
    origin_ = std::move(o.origin_);
    reused_ = o.reused_;
    host_permit_ = std::exchange(o.host_permit_, false);
    total_permit_ = std::exchange(o.total_permit_, false);
  }
  return *this;
}

connection_lease::~connection_lease() { release(false); }

void connection_lease::release(bool reusable) noexcept {
  if (!pool_) return;
  if (conn_) {
    if (reusable)
      pool_->put_back(std::move(conn_));
    else
      pool_->discard(std::move(conn_));
  }
  pool_->give_permits(origin_, std::exchange(host_permit_, false), std::exchange(total_permit_, false));
  pool_.reset();
}

// --- connection_pool ------------------------------------------------------------

connection_pool::connection_pool(pool_options options) : options_(std::move(options)) {
  if (options_.limit > 0) total_ = std::make_unique<semaphore>(options_.limit);
}

connection_pool::~connection_pool() { close_idle(); }

connection_pool::host_state& connection_pool::host(const std::string& origin) {
  auto it = hosts_.find(origin);
  if (it == hosts_.end()) {
    it = hosts_.emplace(origin, host_state{}).first;
    if (options_.limit_per_host > 0) it->second.permits = std::make_unique<semaphore>(options_.limit_per_host);
  }
  return it->second;
}

std::size_t connection_pool::idle_count() const noexcept {
  std::size_t n = 0;
  for (auto& [_, h] : hosts_) n += h.idle.size();
  return n;
}

void connection_pool::close_idle() noexcept {
  for (auto& [_, h] : hosts_) {
    for (auto& c : h.idle) c->close();
    open_ -= h.idle.size();
    h.idle.clear();
  }
}

void connection_pool::discard(std::unique_ptr<client_connection> c) noexcept {
  c->close();
  --open_;
}

void connection_pool::put_back(std::unique_ptr<client_connection> c) noexcept {
  host_state* h;
  try {
    h = &host(c->origin());
  } catch (...) {
    discard(std::move(c));
    return;
  }
  c->idle_since = current_loop().now();
  c->parser().reset();
  h->idle.push_back(std::move(c));
  if (h->idle.size() > options_.max_idle_per_host) {
    discard(std::move(h->idle.front()));
    h->idle.pop_front();
  }
}

void connection_pool::give_permits(const std::string& origin, bool host_permit, bool total_permit) noexcept {
  if (host_permit) {
    auto it = hosts_.find(origin);
    if (it != hosts_.end() && it->second.permits) it->second.permits->release();
  }
  if (total_permit && total_) total_->release();
}

void connection_pool::evict_one_idle() noexcept {
  host_state* oldest = nullptr;
  for (auto& [_, h] : hosts_)
    if (!h.idle.empty() && (!oldest || h.idle.front()->idle_since < oldest->idle.front()->idle_since)) oldest = &h;
  if (!oldest) return;
  discard(std::move(oldest->idle.front()));
  oldest->idle.pop_front();
}

task<connection_lease> connection_pool::acquire(const url& u, const request_deadlines& d, const std::string& what,
                                                bool fresh) {
  std::string origin = u.origin();
  connection_lease lease;
  lease.pool_ = shared_from_this();
  lease.origin_ = origin;
  // Waiting for a permit counts against the total deadline only.
  request_deadlines wait_only{std::nullopt, std::nullopt, d.total, d.total_until};
  if (semaphore* hs = host(origin).permits.get()) {
    if (!hs->try_acquire()) co_await bounded<void>([](semaphore& s) -> task<void> { co_await s.acquire(); }(*hs),
                                                   wait_only, "read", what);
    lease.host_permit_ = true;
  }
  if (total_) {
    if (!total_->try_acquire())
      co_await bounded<void>([](semaphore& s) -> task<void> { co_await s.acquire(); }(*total_), wait_only, "read",
                             what);
    lease.total_permit_ = true;
  }
  host_state& h = host(origin);
  if (!fresh) {
    time_point now = current_loop().now();
    while (!h.idle.empty()) {
      std::unique_ptr<client_connection> c = std::move(h.idle.back());
      h.idle.pop_back();
      if (now - c->idle_since <= options_.idle_timeout && c->looks_alive()) {
        lease.conn_ = std::move(c);
        lease.reused_ = true;
        co_return lease;
      }
      discard(std::move(c));
    }
  }
  if (options_.limit > 0 && open_ >= options_.limit) evict_one_idle();
  lease.conn_ = co_await open(u, d, what);
  co_return lease;
}

task<std::unique_ptr<client_connection>> connection_pool::open(const url& u,
                                                               const request_deadlines& d, const std::string& what) {
  bool https = u.scheme() == "https";
  if (!https && u.scheme() != "http") throw std::invalid_argument(what + ": unsupported URL scheme '" + u.scheme() + "'");
  if (https && !tls_available())
    throw tls_error(what + ": https needs TLS, and corio was built without it (meson feature 'tls')");
  if (https && !tls_) tls_ = tls_context::client(options_.tls);
  auto connect = [](const url& u, bool https, std::shared_ptr<tls_context> ctx,
                    std::size_t rcvbuf) -> task<std::unique_ptr<client_connection>> {
    net::tcp_stream tcp = co_await net::tcp_stream::connect(u.host(), u.port_or_default());
    tcp.set_nodelay();
    if (rcvbuf > 0)
      tcp.handle().set_option(SOL_SOCKET, SO_RCVBUF, static_cast<int>(std::min<std::size_t>(rcvbuf, 1u << 30)),
                              "set SO_RCVBUF");
    if (!https) co_return std::make_unique<client_connection>(std::move(tcp), u.origin());
    tls_stream tls = co_await tls_stream::connect(std::move(tcp), std::move(ctx), u.host());
    co_return std::make_unique<client_connection>(std::move(tls), u.origin());
  };
  std::unique_ptr<client_connection> c;
  try {
    if (!d.connect && !d.total_until)
      c = co_await connect(u, https, tls_, options_.receive_buffer);
    else
      c = co_await bounded<std::unique_ptr<client_connection>>(connect(u, https, tls_, options_.receive_buffer), d,
                                                               "connect", what);
  } catch (const std::system_error& e) {
    throw detail::with_context(e, what);
  } catch (const tls_error& e) {
    throw tls_error(what + ": " + e.what());
  }
  ++open_;
  ++connects_;
  co_return c;
}

}  // namespace corio::http
