// SPDX-License-Identifier: MIT
//
// TCP: tcp_listener and tcp_stream.
//
//   auto l = tcp_listener::bind(address::loopback_v4(0));   // port 0: any free port
//   tcp_stream s = co_await l.accept();
//   std::size_t n = co_await s.read_some(buf);               // 0 = EOF
//   co_await s.write_all(std::span(buf).first(n));
//
//   tcp_stream c = co_await tcp_stream::connect("example.com", 80);
//
// The stream API (read_some, read_exact, write_all, writev, shutdown_write,
// close...) is stream_socket's (socket.hpp), shared with unix streams; this
// file adds what is TCP's own: binding and connecting by IP, Happy Eyeballs,
// TCP_NODELAY and keep-alive.
//
// Happy Eyeballs (RFC 8305). connect(host, port) resolves the name, orders
// the addresses by alternating families (the resolver's first family first,
// per RFC 6724's order), and starts one attempt; while it is pending, the
// next starts after 250 ms, or at once when an attempt fails. The first
// attempt to connect wins; the others are cancelled and their sockets
// closed before connect returns. When every attempt fails, the error is the
// last one's errno, with a message naming the host and every address tried.
// Rejected: racing all addresses at once (RFC 8305 §5 asks for a stagger so
// that a dual-stack host does not open two connections per request).
#pragma once

#include <corio/net/socket.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace corio::net {

class tcp_stream : public stream_socket {
 public:
  tcp_stream() noexcept = default;

  // Connects to one address. Throws std::system_error
  // ("connect to 127.0.0.1:1: Connection refused").
  static task<tcp_stream> connect(address peer);
  // Resolves host (resolver.hpp; numeric hosts need no lookup) and races
  // the addresses with Happy Eyeballs. Throws std::system_error for a name
  // that does not resolve or when every attempt fails.
  static task<tcp_stream> connect(std::string host, std::uint16_t port);
  // The same within `limit` (resolution included): corio::timeout_error
  // ("connect to host:port timed out") when it passes, every attempt
  // cancelled and closed.
  static task<tcp_stream> connect(std::string host, std::uint16_t port, std::chrono::milliseconds limit);
  // Happy Eyeballs over addresses already known, tried in the given order
  // (interleave them with interleave_families() first if they come from a
  // resolver). std::invalid_argument if `candidates` is empty.
  static task<tcp_stream> connect_any(std::vector<address> candidates, std::string name = {});

  // The delay between the start of two connection attempts (RFC 8305 §8).
  static constexpr std::chrono::milliseconds attempt_delay{250};

  // TCP_NODELAY: send small writes at once instead of coalescing (Nagle).
  void set_nodelay(bool on = true);
  // SO_KEEPALIVE; with idle > 0 also the idle time before the first probe.
  void set_keepalive(bool on = true, std::chrono::seconds idle = std::chrono::seconds{0});

 private:
  friend class tcp_listener;
  tcp_stream(socket s, address peer) noexcept : stream_socket(std::move(s), peer) {}
};

struct listen_options {
  int backlog = 4096;        // clamped by the kernel to net.core.somaxconn
  bool reuse_address = true;  // SO_REUSEADDR: rebind while old connections linger in TIME_WAIT
  bool reuse_port = false;    // SO_REUSEPORT: several listeners (threads) share the port
  bool v6_only = true;        // IPV6_V6ONLY for [::]: do not also take IPv4
};

class tcp_listener : public stream_listener {
 public:
  tcp_listener() noexcept = default;

  // socket, options, bind, listen. Throws std::system_error
  // ("bind to 127.0.0.1:80: Permission denied").
  static tcp_listener bind(const address& local, listen_options options = {});

  // The next connection, with its peer address. Never gives up on EMFILE
  // and friends (see stream_listener); cancellation raises cancelled_error
  // and the listener stays usable.
  task<tcp_stream> accept();

 private:
  explicit tcp_listener(socket s) : stream_listener(std::move(s)) {}
};

// Reorders addresses so that families alternate, starting with the family
// of the first (RFC 8305 §4); the order within a family is kept.
std::vector<address> interleave_families(std::span<const address> addrs);

}  // namespace corio::net
