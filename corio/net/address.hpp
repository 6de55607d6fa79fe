// SPDX-License-Identifier: MIT
//
// address: one socket address, IPv4, IPv6 or a unix path, as a value.
//
// The problem: the C API spreads one idea over sockaddr_in, sockaddr_in6,
// sockaddr_un and their lengths, and every caller repeats the casts and the
// inet_ntop/inet_pton dance. corio keeps a sockaddr_storage plus its length,
// so that an address goes to bind/connect/sendto without conversion and
// comes back from accept/recvfrom/getpeername the same way.
//
// The text form is the one users type and logs print, and parse() and
// to_string() are exact inverses:
//
//   127.0.0.1:80        IPv4 and port
//   [::1]:80            IPv6 in brackets (RFC 3986), [fe80::1%2]:80 with a scope
//   unix:/run/app.sock  a unix socket path
//   unix:@name          a Linux abstract socket (no file, nothing to clean up)
//
// parse() accepts only numeric hosts: turning a name into addresses takes
// the resolver (resolver.hpp), which may block and so runs off the loop.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <sys/socket.h>

namespace corio::net {

class address {
 public:
  // An empty address (family() == AF_UNSPEC).
  address() noexcept;

  // Parses the forms above; throws std::invalid_argument naming the text.
  static address parse(std::string_view text);
  static std::optional<address> try_parse(std::string_view text) noexcept;
  // A numeric host alone ("127.0.0.1", "::1", "[::1]") and a port.
  static std::optional<address> from_host(std::string_view host, std::uint16_t port) noexcept;

  static address ipv4(std::uint32_t host_order, std::uint16_t port) noexcept;
  static address ipv6(const std::uint8_t (&bytes)[16], std::uint16_t port, std::uint32_t scope_id = 0) noexcept;
  // `path` as is; a leading '@' names an abstract socket (Linux). Throws
  // std::invalid_argument if it does not fit in sun_path.
  static address unix_path(std::string_view path);

  static address loopback_v4(std::uint16_t port = 0) noexcept;  // 127.0.0.1
  static address loopback_v6(std::uint16_t port = 0) noexcept;  // ::1
  static address any_v4(std::uint16_t port = 0) noexcept;       // 0.0.0.0
  static address any_v6(std::uint16_t port = 0) noexcept;       // ::

  // Copies `len` bytes of a kernel-filled address. An unnamed unix socket
  // (len == sizeof(sa_family_t)) gives unix_path("").
  static address from_sockaddr(const ::sockaddr* sa, ::socklen_t len) noexcept;

  int family() const noexcept { return storage_.ss_family; }
  bool is_v4() const noexcept { return family() == AF_INET; }
  bool is_v6() const noexcept { return family() == AF_INET6; }
  bool is_unix() const noexcept { return family() == AF_UNIX; }
  bool empty() const noexcept { return family() == AF_UNSPEC; }

  // The port of an IP address, 0 for others.
  std::uint16_t port() const noexcept;
  address with_port(std::uint16_t port) const noexcept;
  // "127.0.0.1", "::1" (no brackets), or the unix path ("@name" if abstract).
  std::string host() const;
  // The unix path; empty for IP addresses and unnamed unix sockets.
  std::string path() const;
  bool is_abstract() const noexcept;

  bool is_loopback() const noexcept;     // 127.0.0.0/8, ::1, ::ffff:127.x
  bool is_unspecified() const noexcept;  // 0.0.0.0, ::

  // The parse() form; "" for an empty address.
  std::string to_string() const;

  const ::sockaddr* sockaddr_ptr() const noexcept { return reinterpret_cast<const ::sockaddr*>(&storage_); }
  ::socklen_t sockaddr_len() const noexcept { return len_; }
  const ::sockaddr_storage& storage() const noexcept { return storage_; }

  friend bool operator==(const address& a, const address& b) noexcept;

 private:
  ::sockaddr_storage storage_;
  ::socklen_t len_ = 0;
};

}  // namespace corio::net
