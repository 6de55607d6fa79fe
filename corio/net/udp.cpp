// SPDX-License-Identifier: MIT
//
// UDP. sendto/recvfrom are tried first and wait for readiness on EAGAIN
// (see udp.hpp for why they are not io_ops yet).
#include <corio/net/udp.hpp>

#include <corio/core/socket_compat.hpp>

#include <cerrno>
#include <stdexcept>
#include <sys/socket.h>

namespace corio::net {

udp_socket udp_socket::open(int family) {
  if (family != AF_INET && family != AF_INET6) throw std::invalid_argument("udp_socket::open: family must be AF_INET or AF_INET6");
  return udp_socket(socket::open(family, SOCK_DGRAM));
}

udp_socket udp_socket::bind(const address& local, udp_options options) {
  if (!local.is_v4() && !local.is_v6()) throw std::invalid_argument("udp_socket::bind: not an IP address: " + local.to_string());
  socket s = socket::open(local.family(), SOCK_DGRAM);
  if (options.reuse_address) s.set_option(SOL_SOCKET, SO_REUSEADDR, 1, "set SO_REUSEADDR");
#ifdef SO_REUSEPORT
  if (options.reuse_port) s.set_option(SOL_SOCKET, SO_REUSEPORT, 1, "set SO_REUSEPORT");
#endif
  if (options.broadcast) s.set_option(SOL_SOCKET, SO_BROADCAST, 1, "set SO_BROADCAST");
  s.bind(local);
  return udp_socket(std::move(s));
}

void udp_socket::connect(const address& peer) {
  if (::connect(sock_.fd(), peer.sockaddr_ptr(), peer.sockaddr_len()) < 0)
    throw_system_error(errno, "connect to " + peer.to_string());
  peer_ = peer;
}

task<std::size_t> udp_socket::send_to(std::span<const std::byte> buf, address to) {
  for (;;) {
    ssize_t r = ::sendto(sock_.fd(), buf.data(), buf.size(), MSG_NOSIGNAL, to.sockaddr_ptr(), to.sockaddr_len());
    if (r >= 0) co_return static_cast<std::size_t>(r);
    int err = errno;
    if (err == EINTR) continue;
    if (err != EAGAIN && err != EWOULDBLOCK) detail::throw_socket_error(err, "send to", to, sock_.fd());
    co_await io::wait_writable(sock_.fd());
  }
}

task<datagram> udp_socket::recv_from(std::span<std::byte> buf) {
  for (;;) {
    ::sockaddr_storage ss{};
    ::socklen_t len = sizeof ss;
    ssize_t r = ::recvfrom(sock_.fd(), buf.data(), buf.size(), MSG_TRUNC, reinterpret_cast<::sockaddr*>(&ss), &len);
    if (r >= 0) {
      auto n = static_cast<std::size_t>(r);
      co_return datagram{n < buf.size() ? n : buf.size(), address::from_sockaddr(reinterpret_cast<::sockaddr*>(&ss), len),
                         n > buf.size()};
    }
    int err = errno;
    if (err == EINTR) continue;
    if (err != EAGAIN && err != EWOULDBLOCK) detail::throw_socket_error(err, "recv on", local_address(), sock_.fd());
    co_await io::wait_readable(sock_.fd());
  }
}

}  // namespace corio::net
