// SPDX-License-Identifier: MIT
//
// udp_socket: datagrams, addressed per call or connected.
//
//   auto u = udp_socket::bind(address::loopback_v4(0));
//   co_await u.send_to(bytes, peer);
//   auto [n, from] = co_await u.recv_from(buf);
//
//   u.connect(peer);                 // fixes the peer, filters what arrives
//   co_await u.send(bytes);
//   std::size_t n = co_await u.recv(buf);
//
// One call is one datagram. A datagram longer than the buffer is cut to
// it (the rest is lost, as recvfrom(2) does); `truncated` says so.
//
// send/recv (connected) are io_ops like the stream operations. send_to and
// recv_from need the address, which the backend's op kinds do not carry
// (no sendmsg/recvmsg op yet), so they try sendto/recvfrom first and wait
// for readiness only when they would block; on io_uring the wait is a poll
// SQE instead of one SQE for the whole operation, which is the cost until
// the backend grows msg ops.
#pragma once

#include <corio/net/socket.hpp>

#include <cstddef>
#include <span>

namespace corio::net {

struct datagram {
  std::size_t size;  // bytes stored in the buffer
  address from;
  bool truncated;  // the datagram was longer than the buffer
};

struct udp_options {
  bool reuse_address = false;
  bool reuse_port = false;
  bool broadcast = false;
};

class udp_socket {
 public:
  udp_socket() noexcept = default;

  // An unbound socket of `family` (AF_INET or AF_INET6); the first send
  // binds it to an ephemeral port.
  static udp_socket open(int family);
  // Bound to `local` (port 0: any free port, see local_address()).
  static udp_socket bind(const address& local, udp_options options = {});

  // Sends one datagram to `to`; returns its size. Throws std::system_error
  // ("send to 127.0.0.1:9: ...").
  task<std::size_t> send_to(std::span<const std::byte> buf, address to);
  // Receives one datagram and who sent it.
  task<datagram> recv_from(std::span<std::byte> buf);

  // Fixes the peer: send/recv then need no address, and datagrams from
  // anyone else are dropped by the kernel. An ICMP "port unreachable" for
  // an earlier send shows up as ECONNREFUSED on a later call.
  void connect(const address& peer);
  detail::socket_op send(std::span<const std::byte> buf) const noexcept {
    return {sock_.fd(), peer_, "send to", op_kind::send, const_cast<std::byte*>(buf.data()), buf.size()};
  }
  detail::socket_op recv(std::span<std::byte> buf) const noexcept {
    return {sock_.fd(), peer_, "recv from", op_kind::recv, buf.data(), buf.size()};
  }

  address local_address() const { return sock_.local_address(); }
  const address& peer_address() const noexcept { return peer_; }
  int fd() const noexcept { return sock_.fd(); }
  socket& handle() noexcept { return sock_; }
  bool is_open() const noexcept { return sock_.is_open(); }
  void close() noexcept { sock_.close(); }

 private:
  explicit udp_socket(socket s) noexcept : sock_(std::move(s)) {}

  socket sock_;
  address peer_;  // set by connect()
};

}  // namespace corio::net
